//! `kanban_workers_version()`: the version of the library that was loaded.

use rusqlite::functions::FunctionFlags;
use rusqlite::{Connection, Result};

pub const NAME: &str = "kanban_workers_version";
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

pub fn register(conn: &Connection) -> Result<()> {
    let flags = FunctionFlags::SQLITE_UTF8
        | FunctionFlags::SQLITE_DETERMINISTIC
        | FunctionFlags::SQLITE_INNOCUOUS;
    conn.create_scalar_function(NAME, 0, flags, |_| Ok(VERSION))
}
