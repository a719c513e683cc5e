//! `kanban_workers_board_file()`: the main database's file, as `pragma_database_list` names it
//! (`''` for an in-memory or temporary database; NULL when the name is not UTF-8). A
//! connection's main database never changes file, so the name is taken once, when the library
//! is registered on the connection, and the views read it once a query without preparing the
//! pragma's statement each time (`pragma_database_list` prepares `PRAGMA database_list` at
//! every read: BENCHMARKS.md, issue 29).

use rusqlite::functions::FunctionFlags;
use rusqlite::{Connection, Result};

pub const NAME: &str = "kanban_workers_board_file";

pub fn register(conn: &Connection) -> Result<()> {
    // Shared, no String made at each call (SQLite copies the text it is given).
    let file: Option<std::sync::Arc<str>> = conn.path().map(std::sync::Arc::from);
    // A path on this machine: direct SQL and the user's TEMP views only, never a database's
    // schema. Deterministic: computed once a statement.
    conn.create_scalar_function(
        NAME,
        0,
        FunctionFlags::SQLITE_UTF8
            | FunctionFlags::SQLITE_DETERMINISTIC
            | FunctionFlags::SQLITE_DIRECTONLY,
        move |_| Ok(file.clone()),
    )
}
