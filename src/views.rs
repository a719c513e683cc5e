//! The TEMP views installed at load time. Their SQL lives in `sql/`.
//!
//! TEMP views live in the connection's temp schema: loading writes nothing to the database
//! file, works on read-only connections, and works before the kanban tables exist (querying
//! the view then fails with SQLite's own "no such table" error).

use rusqlite::{Connection, Result};

/// `(name, SQL)` of every view, in installation order.
pub const VIEWS: &[(&str, &str)] = &[("active_workers", include_str!("../sql/active_workers.sql"))];

pub fn install(conn: &Connection) -> Result<()> {
    for (_, sql) in VIEWS {
        conn.execute_batch(sql)?;
    }
    Ok(())
}
