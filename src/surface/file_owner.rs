//! `kanban_workers_file_owner(path)`: the uid that owns the regular file at `path`, read
//! without following links (`lstat`); NULL when it is a link, not a regular file, cannot be
//! looked at, or is not text. The views ask it for the board's owner, the main database
//! file's: `proc_spawned` then lists that user's processes only, and `lingering_workers`
//! says which of them the signal rules allow (SECURITY.md). The same rule as the shim's
//! `shim::terminate::signal::Policy` (a link swapped in for the board names no owner).

use std::os::unix::fs::MetadataExt;

use rusqlite::functions::FunctionFlags;
use rusqlite::types::ValueRef;
use rusqlite::{Connection, Result};

pub const NAME: &str = "kanban_workers_file_owner";

/// The owner of the regular file at `path`, links not followed.
pub fn owner(path: &str) -> Option<u32> {
    if path.is_empty() {
        return None;
    }
    let meta = std::fs::symlink_metadata(path).ok()?;
    meta.file_type().is_file().then(|| meta.uid())
}

/// Register the function with the owner of one file already known: a host that checked the
/// main database's owner when it resolved the board (the shim) answers that owner for that
/// path, so that a link swapped into the path's folders later cannot name another owner;
/// any other path is looked at as [`owner`] does.
pub fn register_known(conn: &Connection, path: String, uid: u32) -> Result<()> {
    conn.create_scalar_function(
        NAME,
        1,
        FunctionFlags::SQLITE_UTF8
            | FunctionFlags::SQLITE_DETERMINISTIC
            | FunctionFlags::SQLITE_DIRECTONLY,
        move |ctx| {
            Ok(match ctx.get_raw(0) {
                ValueRef::Text(t) if t == path.as_bytes() => Some(i64::from(uid)),
                ValueRef::Text(t) => std::str::from_utf8(t).ok().and_then(owner).map(i64::from),
                _ => None,
            })
        },
    )
}

pub fn register(conn: &Connection) -> Result<()> {
    // It looks at files: direct SQL and the user's TEMP views only, never a database's schema.
    conn.create_scalar_function(
        NAME,
        1,
        FunctionFlags::SQLITE_UTF8
            | FunctionFlags::SQLITE_DETERMINISTIC
            | FunctionFlags::SQLITE_DIRECTONLY,
        |ctx| {
            Ok(match ctx.get_raw(0) {
                ValueRef::Text(t) => std::str::from_utf8(t).ok().and_then(owner).map(i64::from),
                _ => None,
            })
        },
    )
}
