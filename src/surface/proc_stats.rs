//! `proc_stats(pid)`: an eponymous table-valued function over [`crate::proc::info`], its row
//! described in [`crate::surface::process_row`].
//!
//! One row for a pid >= 1 (alive, zombie or gone), no row for NULL, an SQL error naming the
//! function for anything else. Usable as `proc_stats(?)`, as `proc_stats WHERE pid = ?`
//! (also `pid IN (...)`), and in joins: `... LEFT JOIN proc_stats(w.worker_pid) p`.
//! Every callback is guarded: a panic becomes an SQL error, never an abort of the host.

use std::ffi::{CStr, c_int};
use std::sync::Arc;

use rusqlite::types::Value;
use rusqlite::vtab::{Filters, IndexInfo};
use rusqlite::{Connection, Result};

use crate::proc::cpu::CpuSampler;
use crate::surface::process_row::{COLUMNS, Col, ProcFiles, Row, plan_bits, want_from_plan};
use crate::surface::vtab::{self, Column, Slot, TableFunction};

pub const NAME: &str = ProcStats::TEXT_NAME;

/// Register `proc_stats` on `conn`; CPU samples are kept in `sampler`.
pub fn register(conn: &Connection, sampler: Arc<CpuSampler>) -> Result<()> {
    vtab::register::<ProcStats>(conn, sampler)
}

/// `proc_stats`, as the shell in [`crate::surface::vtab`] runs it.
struct ProcStats;

impl TableFunction for ProcStats {
    const NAME: &'static CStr = c"proc_stats";
    type Col = Col;
    type Files = ProcFiles;
    const COLUMNS: &'static [Column<Col, ProcFiles>] = COLUMNS;
    const ARGUMENT: &'static str = "query_pid";
    const COST: f64 = 1.0;
    const ROWS: i64 = 1;
    type Aux = Arc<CpuSampler>;
    type Row = Row;
    type Rows = Option<Row>;

    fn is_argument(column: Slot<Col>) -> bool {
        // `pid = ?` gives it too.
        matches!(column, Slot::Argument | Slot::Column(Col::Pid))
    }

    fn idx_bits(info: &mut IndexInfo) -> c_int {
        plan_bits(info.col_used())
    }

    fn filter(
        sampler: &Arc<CpuSampler>,
        row: &mut Option<Row>,
        idx_num: c_int,
        args: &Filters<'_>,
    ) -> Result<()> {
        if let Some(pid) = vtab::pid_argument(NAME, idx_num, args)? {
            *row = Some(Row::read_kept(sampler, pid, want_from_plan(idx_num)));
        }
        Ok(())
    }

    fn value(row: &Row, column: Slot<Col>) -> Value {
        match column {
            Slot::Column(id) => id.value(row),
            Slot::Argument => Value::Integer(row.pid),
            Slot::Extra(_) => Value::Null,
        }
    }

    fn rowid(row: &Row) -> i64 {
        row.pid
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn declaration_lists_every_column_then_the_hidden_argument() {
        let decl = vtab::declare::<ProcStats>()
            .map(|c| c.into_string().unwrap_or_default())
            .unwrap_or_default();
        assert!(
            decl.starts_with("CREATE TABLE x(pid INTEGER, alive INTEGER,"),
            "{decl}"
        );
        assert!(
            decl.ends_with("fingerprint TEXT, query_pid HIDDEN)"),
            "{decl}"
        );
        assert_eq!(
            vtab::slot::<ProcStats>(COLUMNS.len() as c_int),
            Some(Slot::Argument)
        );
    }
}
