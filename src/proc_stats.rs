//! `proc_stats(pid)`: an eponymous table-valued function over [`crate::procinfo`], its row
//! described in [`crate::process_row`].
//!
//! One row for a pid >= 1 (alive, zombie or gone), no row for NULL, an SQL error naming the
//! function for anything else. Usable as `proc_stats(?)`, as `proc_stats WHERE pid = ?`
//! (also `pid IN (...)`), and in joins: `... LEFT JOIN proc_stats(w.worker_pid) p`.
//! Every callback is guarded: a panic becomes an SQL error, never an abort of the host.

use std::borrow::Cow;
use std::ffi::{CStr, CString, c_int};
use std::marker::PhantomData;
use std::sync::Arc;

use rusqlite::types::Value;
use rusqlite::vtab::{
    Context, Filters, IndexInfo, Module, VTab, VTabConfig, VTabConnection, VTabCursor,
};
use rusqlite::{Connection, Result, ffi};

use crate::cpu::CpuSampler;
use crate::process_row::{COLUMNS, Col, Row, plan_bits, position, want_from_plan};
use crate::vtab;

pub const NAME: &str = "proc_stats";

/// Index of the hidden argument column, after the visible ones.
const COL_QUERY_PID: c_int = COLUMNS.len() as c_int;

fn guarded<T>(what: &str, f: impl FnOnce() -> Result<T>) -> Result<T> {
    vtab::guarded(NAME, what, f)
}

/// Register `proc_stats` on `conn`; CPU samples are kept in `sampler`.
pub fn register(conn: &Connection, sampler: Arc<CpuSampler>) -> Result<()> {
    const MODULE: Module<ProcStatsTab> = Module::eponymous_only_module();
    conn.create_module(c"proc_stats", &MODULE, Some(sampler))
}

fn declaration() -> Result<CString> {
    vtab::declaration(NAME, COLUMNS, "", "query_pid")
}

#[repr(C)]
struct ProcStatsTab {
    /// Base class. Must be first.
    base: ffi::sqlite3_vtab,
    sampler: Arc<CpuSampler>,
}

// SAFETY: `ProcStatsTab` is `repr(C)` with `sqlite3_vtab` as its first field, as rusqlite's
// `VTab` requires; it holds no pointers into SQLite.
unsafe impl<'vtab> VTab<'vtab> for ProcStatsTab {
    type Aux = Arc<CpuSampler>;
    type Cursor = ProcStatsCursor<'vtab>;

    fn connect(
        db: &mut VTabConnection,
        aux: Option<&Arc<CpuSampler>>,
        _module_name: &[u8],
        _database_name: &[u8],
        _table_name: &[u8],
        _args: &[&[u8]],
    ) -> Result<(Cow<'static, CStr>, Self)> {
        guarded("connect", || {
            // Direct use only: a view or trigger stored in a database file (someone else's
            // schema) cannot call proc_stats behind the user's back, even with
            // trusted_schema on. TEMP views and triggers, which only the user can make, can.
            db.config(VTabConfig::DirectOnly)?;
            let tab = ProcStatsTab {
                base: ffi::sqlite3_vtab::default(),
                sampler: aux.cloned().unwrap_or_default(),
            };
            Ok((Cow::Owned(declaration()?), tab))
        })
    }

    fn best_index(&self, info: &mut IndexInfo) -> Result<bool> {
        guarded("best_index", || {
            Ok(vtab::one_pid_plan(
                info,
                |col| col == COL_QUERY_PID || usize::try_from(col).ok() == position(Col::Pid),
                plan_bits,
            ))
        })
    }

    fn open(&'vtab mut self) -> Result<ProcStatsCursor<'vtab>> {
        Ok(ProcStatsCursor {
            base: ffi::sqlite3_vtab_cursor::default(),
            sampler: Arc::clone(&self.sampler),
            row: None,
            phantom: PhantomData,
        })
    }
}

#[repr(C)]
struct ProcStatsCursor<'vtab> {
    /// Base class. Must be first.
    base: ffi::sqlite3_vtab_cursor,
    sampler: Arc<CpuSampler>,
    row: Option<Row>,
    phantom: PhantomData<&'vtab ProcStatsTab>,
}

impl ProcStatsCursor<'_> {
    fn load(&mut self, idx_num: c_int, args: &Filters<'_>) -> Result<()> {
        self.row = None;
        if let Some(pid) = vtab::pid_argument(NAME, idx_num, args)? {
            self.row = Some(Row::read(&self.sampler, pid, want_from_plan(idx_num)));
        }
        Ok(())
    }

    fn value(&self, col: c_int) -> Value {
        let Some(row) = &self.row else {
            return Value::Null;
        };
        match usize::try_from(col).ok().and_then(|i| COLUMNS.get(i)) {
            Some(column) => column.id.value(row),
            None if col == COL_QUERY_PID => Value::Integer(row.pid),
            None => Value::Null,
        }
    }
}

// SAFETY: `ProcStatsCursor` is `repr(C)` with `sqlite3_vtab_cursor` as its first field, as
// rusqlite's `VTabCursor` requires.
unsafe impl VTabCursor for ProcStatsCursor<'_> {
    fn filter(&mut self, idx_num: c_int, _idx_str: Option<&str>, args: &Filters<'_>) -> Result<()> {
        guarded("filter", || self.load(idx_num, args))
    }

    fn next(&mut self) -> Result<()> {
        self.row = None;
        Ok(())
    }

    fn eof(&self) -> bool {
        self.row.is_none()
    }

    fn column(&self, ctx: &mut Context, i: c_int) -> Result<()> {
        guarded("column", || ctx.set_result(&self.value(i)))
    }

    fn rowid(&self) -> Result<i64> {
        Ok(self.row.as_ref().map_or(0, |r| r.pid))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn declaration_lists_every_column_then_the_hidden_argument() {
        let decl = declaration()
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
        assert_eq!(COL_QUERY_PID as usize, COLUMNS.len());
    }
}
