//! The TEMP views installed at load time. Their SQL lives in `sql/`.
//!
//! TEMP views live in the connection's temp schema: loading writes nothing to the database
//! file, works on read-only connections, and works before the kanban tables exist (querying
//! a view then fails with SQLite's own "no such table" error).
//!
//! `run_verdicts` reads `task_runs.worker_started_at` where the board has that column and
//! NULL where it does not (older boards), `owner_runs` answers it only where the board has it,
//! and `run_claims` reads `task_runs.machine_id` the same way:
//! the view is written for the schema it is installed on. [`install`] again (the shim does when the board's schema changes; a `sqlite3` user
//! loads the extension again) picks up a column the owner added since.

use rusqlite::{Connection, Result};

/// `(name, SQL)` of every view, in installation order.
pub const VIEWS: &[(&str, &str)] = &[
    ("run_claims", include_str!("../../sql/run_claims.sql")),
    ("owner_runs", include_str!("../../sql/owner_runs.sql")),
    (
        "active_workers",
        include_str!("../../sql/active_workers.sql"),
    ),
    ("run_verdicts", include_str!("../../sql/run_verdicts.sql")),
    ("run_processes", include_str!("../../sql/run_processes.sql")),
    ("kept_workers", include_str!("../../sql/kept_workers.sql")),
    ("live_workers", include_str!("../../sql/live_workers.sql")),
    (
        "lingering_workers",
        include_str!("../../sql/lingering_workers.sql"),
    ),
    (
        "exit_code_kinds",
        include_str!("../../sql/exit_code_kinds.sql"),
    ),
    ("run_exits", include_str!("../../sql/run_exits.sql")),
    ("run_endings", include_str!("../../sql/run_endings.sql")),
    ("run_claimers", include_str!("../../sql/run_claimers.sql")),
];

/// `3.34.1` as SQLite's own number, 3034001.
fn version_number(text: &str) -> i64 {
    let mut parts = text.split('.').map(|p| p.parse::<i64>().unwrap_or(0));
    let (a, b, c) = (
        parts.next().unwrap_or(0),
        parts.next().unwrap_or(0),
        parts.next().unwrap_or(0),
    );
    a * 1_000_000 + b * 1000 + c
}

/// Install (or replace) every view, written for the board's schema as it is now.
pub fn install(conn: &Connection) -> Result<()> {
    // `AS MATERIALIZED` (a CTE computed once) is SQLite 3.35's; the views must install on the
    // 3.34.1 the README claims, where the CTE is computed as the planner sees fit.
    let version: String = conn.query_row("SELECT sqlite_version()", [], |r| r.get(0))?;
    let version = version_number(&version);
    let materialized = if version >= 3_035_000 {
        "MATERIALIZED"
    } else {
        ""
    };
    let has_fingerprint = has_column(conn, "worker_started_at")?;
    let fingerprint = if has_fingerprint {
        "r.worker_started_at"
    } else {
        "NULL"
    };
    // `owner_runs` answers the column only where the board has it (a 0.19.0 board: the
    // owner's 16 keys exactly).
    let fingerprint_column = if has_fingerprint {
        ", r.worker_started_at AS worker_started_at"
    } else {
        ""
    };
    // `task_runs.machine_id`, where the owner's distributed workers stamp it.
    let machine_id = if has_column(conn, "machine_id")? {
        "kanban_workers_machine_id_of(r.machine_id)"
    } else {
        "NULL"
    };
    for (name, sql) in VIEWS {
        conn.execute_batch(&format!("DROP VIEW IF EXISTS temp.{name}"))?;
        let sql = sql
            .replace("{worker_started_at_column}", fingerprint_column)
            .replace("{worker_started_at}", fingerprint)
            .replace("{machine_id}", machine_id)
            .replace("{materialized}", materialized);
        conn.execute_batch(&sql)?;
    }
    Ok(())
}

/// Whether the board's `task_runs` has the column `name` now.
fn has_column(conn: &Connection, name: &str) -> Result<bool> {
    conn.query_row(
        "SELECT count(*) > 0 FROM pragma_table_info('task_runs') WHERE name = ?1",
        [name],
        |r| r.get(0),
    )
}
