//! `kanban_workers_same_file(a, b)`: 1 when the two paths name one file (same device and
//! inode, links followed), 0 when both exist and differ, NULL when either cannot be looked at
//! or is not text. The identity verdict asks it whether a worker's `HERMES_KANBAN_DB` names
//! the board being read, however either path was spelled.

use std::os::unix::fs::MetadataExt;

use rusqlite::functions::FunctionFlags;
use rusqlite::types::ValueRef;
use rusqlite::{Connection, Result};

pub const NAME: &str = "kanban_workers_same_file";

fn id(value: ValueRef<'_>) -> Option<(u64, u64)> {
    let ValueRef::Text(path) = value else {
        return None;
    };
    let path = std::str::from_utf8(path).ok().filter(|p| !p.is_empty())?;
    let meta = std::fs::metadata(path).ok()?;
    Some((meta.dev(), meta.ino()))
}

pub fn register(conn: &Connection) -> Result<()> {
    // It looks at files: direct SQL and the user's TEMP views only, never a database's schema.
    conn.create_scalar_function(
        NAME,
        2,
        FunctionFlags::SQLITE_UTF8 | FunctionFlags::SQLITE_DIRECTONLY,
        |ctx| {
            // The second path is looked at only when the first could be (a worker with no
            // HERMES_KANBAN_DB costs no stat of the board: BENCHMARKS.md, 5,000 workers).
            Ok(id(ctx.get_raw(0)).and_then(|a| id(ctx.get_raw(1)).map(|b| i64::from(a == b))))
        },
    )
}
