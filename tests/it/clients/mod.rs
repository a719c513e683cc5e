//! The `.so` through rusqlite (`extension`), the `sqlite3` shell and Python (`shells`).

mod extension;
mod shells;
