//! kanban-workers: what the workers of a SQLite kanban board are doing, from inside SQL.
//!
//! [`register`] adds, on one connection:
//! - `proc_stats(pid)`, a table-valued function reading Linux procfs ([`proc_stats`]);
//! - `active_workers`, a TEMP view of the open runs of running tasks ([`views`]);
//! - `kanban_workers_version()`.
//!
//! The same code is the loadable extension (`libkanban_workers.so`, see `src/cdylib.rs`) and
//! what the HTTP shim registers in-process: one implementation of each thing.

pub mod cpu;
pub mod proc_stats;
pub mod procinfo;
#[cfg(feature = "server")]
pub mod shim;
pub mod version;
pub mod views;

use std::sync::Arc;

pub use cpu::CpuSampler;
use rusqlite::{Connection, Result};

/// Every SQL function this library registers (table-valued and scalar).
pub const FUNCTIONS: &[&str] = &[proc_stats::NAME, version::NAME];

/// Register every function and install the TEMP views on `conn`, with CPU samples private to
/// this connection.
pub fn register(conn: &Connection) -> Result<()> {
    register_with_sampler(conn, Arc::new(CpuSampler::new()))
}

/// As [`register`], with CPU samples shared with other connections that got the same
/// `sampler` (a pool serving one dashboard, so `cpu_percent` follows the previous request
/// whichever connection served it).
pub fn register_with_sampler(conn: &Connection, sampler: Arc<CpuSampler>) -> Result<()> {
    version::register(conn)?;
    proc_stats::register(conn, sampler)?;
    views::install(conn)
}
