//! `proc_cgroup(pid)`: an eponymous table-valued function over `crate::proc::cgroup::process`:
//! the process's own cgroup (v2) and its meters (CPU, pressure, processes, memory, frozen),
//! a meter with no claim about any run (the run's scope, with its evidence, is `proc_scope`).
//! One row for a process that exists (zombies included), no row for NULL or a pid that is
//! gone, an SQL error naming the function for anything that is not an integer pid. Only the
//! files the query's columns need are read. Every callback is guarded.

use std::ffi::{CStr, c_int};

use rusqlite::types::Value;
use rusqlite::vtab::{Filters, IndexInfo};
use rusqlite::{Connection, Result};

use crate::proc::cgroup::process;
use crate::surface::cgroup_row::{
    CgroupCol, CgroupRow, MeterFiles, meter, plan_bits, want_from_plan, with_meters,
};
use crate::surface::vtab::{self, Column, Slot, TableFunction};

pub const NAME: &str = ProcCgroup::TEXT_NAME;

/// The visible columns, in order, each with its meaning as `docs/sql.md` gives it; the
/// argument is the hidden column `query_pid`.
pub const COLUMNS: &[Column<CgroupCol, MeterFiles>] = with_meters![
    meter!(Pid, "pid", "INTEGER", "the argument"),
    meter!(
        Cgroup,
        "cgroup",
        "TEXT",
        "its cgroup's path in the v2 hierarchy (the `0::` line of `/proc/<pid>/cgroup`); NULL when it is in none"
    ),
    meter!(
        Scope,
        "scope",
        "TEXT",
        "the deepest component of that path that names a systemd scope (`*.scope`): a name, not evidence that the process is a run's (that is `proc_scope`)"
    ),
];

/// Register `proc_cgroup` on `conn`.
pub fn register(conn: &Connection) -> Result<()> {
    vtab::register::<ProcCgroup>(conn, ())
}

/// `proc_cgroup`, as the shell in [`crate::surface::vtab`] runs it.
struct ProcCgroup;

impl TableFunction for ProcCgroup {
    const NAME: &'static CStr = c"proc_cgroup";
    type Col = CgroupCol;
    type Files = MeterFiles;
    const COLUMNS: &'static [Column<CgroupCol, MeterFiles>] = COLUMNS;
    const ARGUMENT: &'static str = "query_pid";
    const COST: f64 = 2.0;
    const ROWS: i64 = 1;
    type Aux = ();
    type Row = CgroupRow;
    type Rows = Option<CgroupRow>;

    fn is_argument(column: Slot<CgroupCol>) -> bool {
        // `pid = ?` gives it too.
        matches!(column, Slot::Argument | Slot::Column(CgroupCol::Pid))
    }

    fn idx_bits(info: &mut IndexInfo) -> c_int {
        plan_bits(COLUMNS, info.col_used())
    }

    fn filter(
        _aux: &(),
        row: &mut Option<CgroupRow>,
        idx_num: c_int,
        args: &Filters<'_>,
    ) -> Result<()> {
        let Some(pid) = vtab::pid_argument(NAME, idx_num, args)? else {
            return Ok(());
        };
        *row = process::read(pid, want_from_plan(idx_num)).map(|r| CgroupRow {
            pid: pid.into(),
            scope: r
                .cgroup
                .as_deref()
                .and_then(process::scope_name)
                .map(str::to_owned),
            cgroup: r.cgroup,
            meters: r.meters,
            error: r.error,
            ..CgroupRow::default()
        });
        Ok(())
    }

    fn value(row: &CgroupRow, column: Slot<CgroupCol>) -> Value {
        match column {
            Slot::Column(id) => id.value(row),
            Slot::Argument => Value::Integer(row.pid),
            Slot::Extra(_) => Value::Null,
        }
    }

    fn rowid(row: &CgroupRow) -> i64 {
        row.pid
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn every_column_names_its_own_value() {
        vtab::assert_each_id_is_its_name(COLUMNS);
        assert_eq!(
            vtab::slot::<ProcCgroup>(COLUMNS.len() as c_int),
            Some(Slot::Argument)
        );
    }

    #[test]
    fn reads_this_processs_cgroup_and_only_the_files_asked_for() {
        let conn = Connection::open_in_memory().unwrap();
        register(&conn).unwrap();
        let me = std::process::id();
        let (pid, cgroup, user): (i64, Option<String>, Option<f64>) = conn
            .query_row(
                "SELECT pid, cgroup, cpu_user_s FROM proc_cgroup(?1)",
                [me],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .unwrap();
        assert_eq!(pid, i64::from(me));
        if cgroup.is_some() {
            assert!(user.is_some());
        }
        let n: i64 = conn
            .query_row("SELECT count(*) FROM proc_cgroup(NULL)", [], |r| r.get(0))
            .unwrap();
        assert_eq!(n, 0);
        let err = conn
            .query_row("SELECT * FROM proc_cgroup('x')", [], |_| Ok(()))
            .unwrap_err();
        assert!(
            err.to_string()
                .contains("proc_cgroup: pid must be an integer"),
            "{err}"
        );
        assert_eq!(
            plan_bits(COLUMNS, 1 << 1),
            0,
            "the cgroup's path needs no meter"
        );
    }
}
