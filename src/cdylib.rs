//! The loadable SQLite extension: `libkanban_workers.so`, entry point
//! `sqlite3_kanbanworkers_init` (the name SQLite derives from the file name).
//!
//! Built by `make ext` from the same library as everything else, with rusqlite's
//! `loadable_extension` feature: every SQLite call goes through the host's API routines, so
//! the host's SQLite (>= 3.34.1) is the one that runs.

use std::ffi::{c_char, c_int};
use std::panic::catch_unwind;

use rusqlite::{Connection, Result, ffi};

/// # Safety
/// Called by SQLite's extension loader with a valid connection and API routines.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sqlite3_kanbanworkers_init(
    db: *mut ffi::sqlite3,
    pz_err_msg: *mut *mut c_char,
    p_api: *mut ffi::sqlite3_api_routines,
) -> c_int {
    // A panic must never unwind into the host's C code: it would abort the host process.
    // SAFETY: the pointers are SQLite's own, passed through unchanged from its loader.
    catch_unwind(|| unsafe { Connection::extension_init2(db, pz_err_msg, p_api, init) })
        .unwrap_or(ffi::SQLITE_ERROR)
}

fn init(conn: Connection) -> Result<bool> {
    kanban_workers::register(&conn)?;
    // false: an ordinary (not persistent) extension, loaded per connection.
    Ok(false)
}
