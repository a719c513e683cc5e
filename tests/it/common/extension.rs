//! The built loadable extension, loaded through rusqlite's `load_extension`.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use rusqlite::Connection;

use super::MANIFEST_DIR;

/// Path of the built `libkanban_workers.so`. `make test` builds it and passes it in
/// `KANBAN_WORKERS_SO`; a bare `cargo test` builds it here (once per test binary) so a stale
/// `.so` is never tested.
pub fn so_path() -> &'static Path {
    static SO: OnceLock<PathBuf> = OnceLock::new();
    SO.get_or_init(|| {
        super::given_or_built("KANBAN_WORKERS_SO", || {
            super::make("ext");
            PathBuf::from(MANIFEST_DIR).join("target/release/libkanban_workers.so")
        })
    })
}

/// The `.so` path without its suffix, as users write it in `.load`.
pub fn so_stem() -> String {
    so_path().with_extension("").display().to_string()
}

pub fn open_with_extension(path: &Path) -> Connection {
    let conn = Connection::open(path).expect("open db");
    load_extension(&conn);
    conn
}

pub fn load_extension(conn: &Connection) {
    // SAFETY: loading our own freshly built extension.
    unsafe {
        conn.load_extension_enable()
            .expect("enable extension loading");
        conn.load_extension(so_path(), None::<&str>)
            .expect("load libkanban_workers.so");
    }
    conn.load_extension_disable()
        .expect("disable extension loading");
}
