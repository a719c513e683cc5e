//! kanban-workers: what the workers of a SQLite kanban board are doing, from inside SQL.
//!
//! [`register`] adds, on one connection (every column and argument in docs/sql.md):
//! - table-valued functions over Linux procfs: `proc_stats(pid)` (one process's live stats),
//!   `proc_tree(pid)` (a process and its descendants), `proc_marks(pid)` (how a process was
//!   started), `proc_spawned(uid)` (a user's processes that carry the owner's spawn marks),
//!   `proc_cgroup(pid)` (a process's cgroup and its meters), `proc_scope(pid, start_ticks,
//!   task_id, run_id, owner_uid)` (the run's systemd scope, when it is evidence);
//! - TEMP views (SQL in `sql/`): `run_claims`, `active_workers` (the open runs of
//!   running tasks), `run_verdicts` (the truth about each run's worker), `live_workers`,
//!   `run_processes` (every live process a run of the board's spawned) and
//!   `lingering_workers` (those that outlived their run), `exit_code_kinds`, `run_exits` and
//!   `run_endings` (how ended runs ended, in words), `run_claimers` (each open claim's
//!   dispatcher, alive or gone);
//! - scalar functions: `kanban_workers_version()`, `kanban_workers_hostname()`,
//!   `kanban_workers_spawn_window()`, `kanban_workers_epoch()`, `kanban_workers_same_file(a,
//!   b)`, `kanban_workers_file_owner(path)`, `kanban_workers_board_file()`,
//!   `kanban_workers_claim_host(claim_lock)`, `kanban_workers_fingerprint_epoch(fingerprint)`.
//!
//! The same code is the loadable extension (`libkanban_workers.so`, see `src/cdylib.rs`) and
//! what the HTTP shim registers in-process: one implementation of each thing.
//!
//! The API is what this page shows: [`register`], [`register_with`], [`FUNCTIONS`],
//! [`Settings`], [`CpuSampler`] and the [`rusqlite`] they take.

// The modules are public for the workspace's other crates only: the binary (server/ runs the
// shim), the benches and the integration tests (tests/it), which reach the /proc readers, the
// functions' columns and the shim's parts directly. They are not an API, so they are hidden
// from the docs; what nothing outside needs is `pub(crate)` inside them.
#[doc(hidden)]
pub mod proc;
#[cfg(feature = "server")]
#[doc(hidden)]
pub mod shim;
#[doc(hidden)]
pub mod surface;

use surface::{
    board_file, claim_host, file_owner, fingerprint_epoch, proc_cgroup, proc_marks, proc_scope,
    proc_spawned, proc_stats, proc_tree, same_file, settings, version, views,
};

use std::sync::Arc;

pub use proc::cpu::CpuSampler;
/// The rusqlite this library is built with (pinned, see docs/design.md): open connections with
/// it, so that they are of the type [`register`] takes.
pub use rusqlite;
use rusqlite::{Connection, Result};
pub use surface::settings::Settings;

/// Every SQL function this library registers (table-valued and scalar).
pub const FUNCTIONS: &[&str] = &[
    proc_stats::NAME,
    proc_tree::NAME,
    proc_marks::NAME,
    proc_spawned::NAME,
    proc_cgroup::NAME,
    proc_scope::NAME,
    file_owner::NAME,
    board_file::NAME,
    same_file::NAME,
    claim_host::NAME,
    fingerprint_epoch::NAME,
    version::NAME,
    settings::HOSTNAME,
    settings::SPAWN_WINDOW,
    settings::EPOCH,
    settings::MACHINE_ID,
    settings::MACHINE_ID_OF,
];

/// Register every function and install the TEMP views on `conn`, with CPU samples private to
/// this connection and the settings from the system and the environment.
///
/// ```
/// use kanban_workers::rusqlite::Connection;
///
/// let conn = Connection::open_in_memory()?;
/// kanban_workers::register(&conn)?;
/// let alive: i64 = conn.query_row(
///     "SELECT alive FROM proc_stats(?1)",
///     [std::process::id()],
///     |row| row.get(0),
/// )?;
/// assert_eq!(alive, 1);
/// # Ok::<(), kanban_workers::rusqlite::Error>(())
/// ```
pub fn register(conn: &Connection) -> Result<()> {
    register_with(conn, Arc::new(CpuSampler::new()), &Settings::from_env())
}

/// As [`register`], with CPU samples shared with other connections that got the same
/// `sampler` (a pool serving one dashboard, so `cpu_percent` follows the previous request
/// whichever connection served it), and the given settings.
pub fn register_with(
    conn: &Connection,
    sampler: Arc<CpuSampler>,
    settings: &Settings,
) -> Result<()> {
    version::register(conn)?;
    settings::register(conn, settings)?;
    proc_stats::register(conn, Arc::clone(&sampler))?;
    proc_tree::register(conn, sampler)?;
    proc_marks::register(conn)?;
    proc_spawned::register(conn)?;
    proc_cgroup::register(conn)?;
    proc_scope::register(conn)?;
    file_owner::register(conn)?;
    board_file::register(conn)?;
    same_file::register(conn)?;
    claim_host::register(conn)?;
    fingerprint_epoch::register(conn)?;
    views::install(conn)
}
