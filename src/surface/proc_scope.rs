//! `proc_scope(pid, start_ticks, task_id, run_id, owner_uid)`: an eponymous table-valued
//! function over `crate::proc::cgroup::scope`: whether the cgroup of the run's verified
//! worker (the pid with those start ticks) is the run's systemd scope by the scope rule (the
//! owner's name for the task and run, the worker inside, the board owner's part of the tree),
//! and if so its members and meters; if not, why. One row when every argument is given (no row
//! when one is NULL, so a `LEFT JOIN` on a run without a live worker gives NULLs); an SQL error
//! naming the function and the argument for a value of the wrong type. Meter files are read
//! only when the query's columns need them. Every callback is guarded.

use std::ffi::{CStr, c_int};

use rusqlite::types::{Value, ValueRef};
use rusqlite::vtab::{Filters, IndexInfo};
use rusqlite::{Connection, Error, Result};

use crate::proc::cgroup::scope::{self, EVIDENCE, NoScope, RunWorker};
use crate::proc::cgroup::{Meters, WantMeters};
use crate::surface::cgroup_row::{
    CgroupCol, CgroupRow, MeterFiles, meter, plan_bits, want_from_plan, with_meters,
};
use crate::surface::vtab::{self, Column, Slot, TableFunction};

pub const NAME: &str = ProcScope::TEXT_NAME;

/// The visible columns, in order, each with its meaning as `docs/sql.md` gives it; the
/// arguments are the hidden columns `query_pid`, `query_start_ticks`, `query_task_id`,
/// `query_run_id` and `query_owner_uid`.
pub const COLUMNS: &[Column<CgroupCol, MeterFiles>] = with_meters![
    meter!(
        Pid,
        "pid",
        "INTEGER",
        "the worker's pid (the first argument)"
    ),
    meter!(
        Evidence,
        "evidence",
        "TEXT",
        "`scope` when the worker's cgroup is the run's scope by the rule above; NULL otherwise"
    ),
    meter!(
        Refused,
        "refused",
        "TEXT",
        "why not, when `evidence` is NULL: the task id cannot be a unit name, the worker is gone or is another process, its cgroup has another name, the scope does not list it, or the scope is another user's or outside the board owner's part of the tree"
    ),
    meter!(
        Scope,
        "scope",
        "TEXT",
        "the owner's name for the run's scope, `hermes-worker-kanban-<task_id>-run-<run_id>.scope`; NULL when the task id cannot be one"
    ),
    meter!(
        Cgroup,
        "cgroup",
        "TEXT",
        "the scope's path in the v2 hierarchy, when proven"
    ),
    meter!(
        ScopeUid,
        "scope_uid",
        "INTEGER",
        "the owner of the scope's directory, when proven: the board owner, or root"
    ),
    meter!(
        Members,
        "members",
        "TEXT",
        "when proven, a JSON array of the pids of the live processes of the scope and its sub-cgroups, the worker among them: the run's process set"
    ),
];

/// The further arguments, after `query_pid`.
const MORE: [&str; 4] = [
    "query_start_ticks",
    "query_task_id",
    "query_run_id",
    "query_owner_uid",
];

/// Register `proc_scope` on `conn`.
pub fn register(conn: &Connection) -> Result<()> {
    vtab::register::<ProcScope>(conn, ())
}

/// `proc_scope`, as the shell in [`crate::surface::vtab`] runs it.
struct ProcScope;

/// A row, and the further arguments it answers.
struct ScopeRow {
    row: CgroupRow,
    args: Vec<Value>,
}

impl TableFunction for ProcScope {
    const NAME: &'static CStr = c"proc_scope";
    type Col = CgroupCol;
    type Files = MeterFiles;
    const COLUMNS: &'static [Column<CgroupCol, MeterFiles>] = COLUMNS;
    const ARGUMENT: &'static str = "query_pid";
    const MORE_ARGUMENTS: &'static [&'static str] = &MORE;
    const COST: f64 = 5.0;
    const ROWS: i64 = 1;
    type Aux = ();
    type Row = ScopeRow;
    type Rows = Option<ScopeRow>;

    fn idx_bits(info: &mut IndexInfo) -> c_int {
        plan_bits(COLUMNS, info.col_used())
    }

    fn filter(
        _aux: &(),
        row: &mut Option<ScopeRow>,
        idx_num: c_int,
        args: &Filters<'_>,
    ) -> Result<()> {
        let Some(pid) = vtab::pid_argument(NAME, idx_num, args)? else {
            return Ok(());
        };
        if args.len() < 1 + MORE.len() {
            return Err(Error::ModuleError(format!(
                "{NAME}: five arguments are required, as in SELECT * FROM \
                 {NAME}(pid, start_ticks, task_id, run_id, owner_uid)"
            )));
        }
        let more: Vec<Value> = (1..=MORE.len())
            .map(|i| args.get::<Value>(i))
            .collect::<Result<_>>()?;
        let Some(worker) = arguments(pid, &more)? else {
            return Ok(());
        };
        let want = want_from_plan(idx_num);
        let run = RunWorker {
            task_id: &worker.task_id,
            ..worker.run
        };
        *row = Some(ScopeRow {
            row: read(&run, want),
            args: more,
        });
        Ok(())
    }

    fn value(r: &ScopeRow, column: Slot<CgroupCol>) -> Value {
        match column {
            Slot::Column(id) => id.value(&r.row),
            Slot::Argument => Value::Integer(r.row.pid),
            Slot::Extra(_) => Value::Null,
        }
    }

    fn more_argument(r: &ScopeRow, k: usize) -> Value {
        r.args.get(k).cloned().unwrap_or(Value::Null)
    }

    fn rowid(r: &ScopeRow) -> i64 {
        r.row.pid
    }
}

/// The arguments, checked: the task id owned, the rest in a [`RunWorker`] whose `task_id` is
/// to be pointed at it.
struct Arguments {
    task_id: String,
    run: RunWorker<'static>,
}

/// The further arguments (`start_ticks`, `task_id`, `run_id`, `owner_uid`): `Ok(None)` when one
/// is NULL, an error naming the function and the argument for a wrong type or range.
fn arguments(pid: i32, more: &[Value]) -> Result<Option<Arguments>> {
    if more.contains(&Value::Null) {
        return Ok(None);
    }
    let bad = |what: &str, v: &Value| {
        let got = match ValueRef::from(v) {
            ValueRef::Text(t) => {
                let shown: String = String::from_utf8_lossy(t).chars().take(40).collect();
                format!("text '{shown}'")
            }
            ValueRef::Real(r) => format!("real {r}"),
            ValueRef::Blob(_) => "a blob".into(),
            ValueRef::Integer(i) => format!("{i}"),
            ValueRef::Null => "NULL".into(),
        };
        Error::ModuleError(format!("{NAME}: {what}, got {got}"))
    };
    let integer = |v: &Value| match v {
        Value::Integer(i) => Some(*i),
        Value::Text(t) => t.trim().parse().ok(),
        _ => None,
    };
    let start_ticks = integer(&more[0])
        .and_then(|i| u64::try_from(i).ok())
        .ok_or_else(|| bad("start_ticks must be an integer >= 0", &more[0]))?;
    let task_id = match &more[1] {
        Value::Text(t) => t.clone(),
        Value::Integer(i) => i.to_string(),
        v => return Err(bad("task_id must be text", v)),
    };
    let run_id = integer(&more[2]).ok_or_else(|| bad("run_id must be an integer", &more[2]))?;
    let owner_uid = integer(&more[3])
        .and_then(|i| u32::try_from(i).ok())
        .filter(|u| *u != u32::MAX)
        .ok_or_else(|| bad("owner_uid must be a uid (0 to 4294967294)", &more[3]))?;
    Ok(Some(Arguments {
        task_id,
        run: RunWorker {
            pid,
            start_ticks,
            task_id: "",
            run_id,
            owner_uid,
        },
    }))
}

/// The row for `run`: the scope proven, with its members and the meters `want` asks for, or
/// why not.
fn read(run: &RunWorker<'_>, want: WantMeters) -> CgroupRow {
    let mut row = CgroupRow {
        pid: run.pid.into(),
        scope: scope::unit_name(run.task_id, run.run_id).ok(),
        ..CgroupRow::default()
    };
    match scope::scope_of_run(run) {
        Ok(s) => {
            let pids: Vec<i32> = s.proven_members().iter().map(|m| m.pid).collect();
            row.evidence = Some(EVIDENCE);
            row.cgroup = Some(s.path().to_owned());
            row.scope_uid = Some(s.uid());
            row.members = serde_json::to_string(&pids).ok();
            row.meters = Meters::read(s.dir(), want, Some(s.proven_members()));
            row.error = row.meters.error.clone();
        }
        Err(NoScope::Refused(why)) => row.refused = Some(why),
        Err(NoScope::Unreadable(e)) => {
            row.refused = Some(format!("not decided: {e}"));
            row.error = Some(e.to_string());
        }
    }
    row
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn every_column_names_its_own_value_and_the_arguments_are_declared_in_order() {
        vtab::assert_each_id_is_its_name(COLUMNS);
        let decl = vtab::declare::<ProcScope>().unwrap().into_string().unwrap();
        assert!(
            decl.ends_with(
                "error TEXT, query_pid HIDDEN, query_start_ticks HIDDEN, query_task_id HIDDEN, \
                 query_run_id HIDDEN, query_owner_uid HIDDEN)"
            ),
            "{decl}"
        );
    }

    #[test]
    fn arguments_are_checked_and_a_refusal_says_why() {
        let conn = Connection::open_in_memory().unwrap();
        register(&conn).unwrap();
        let me = std::process::id();
        let ask = |sql: &str| {
            conn.query_row(sql, [me], |r| {
                Ok((
                    r.get::<_, Option<String>>(0)?,
                    r.get::<_, Option<String>>(1)?,
                ))
            })
        };
        let (evidence, refused) =
            ask("SELECT evidence, refused FROM proc_scope(?1, 1, 't_x', 7, 0)").unwrap();
        assert_eq!(evidence, None);
        // This test's process, with other start ticks: in a scope, its identity is refused;
        // in none (a scope is read first), the scope is.
        let refused = refused.unwrap();
        if crate::proc::cgroup::process::this_process_in_a_scope() {
            assert!(refused.contains("is not the worker"), "{refused}");
        } else {
            assert!(refused.contains("is not the run's scope"), "{refused}");
        }
        for (sql, needle) in [
            (
                "SELECT evidence, refused FROM proc_scope(?1, 1.5, 't', 7, 0)",
                "start_ticks must be an integer >= 0, got real 1.5",
            ),
            (
                "SELECT evidence, refused FROM proc_scope(?1, 1, x'00', 7, 0)",
                "task_id must be text, got a blob",
            ),
            (
                "SELECT evidence, refused FROM proc_scope(?1, 1, 't', 'r', 0)",
                "run_id must be an integer, got text 'r'",
            ),
            (
                "SELECT evidence, refused FROM proc_scope(?1, 1, 't', 7, -1)",
                "owner_uid must be a uid",
            ),
            (
                "SELECT evidence, refused FROM proc_scope(?1, 1, 't')",
                "five arguments are required",
            ),
        ] {
            let err = ask(sql).unwrap_err().to_string();
            assert!(
                err.contains(&format!("proc_scope: {needle}")),
                "{sql}: {err}"
            );
        }
        let n: i64 = conn
            .query_row(
                "SELECT count(*) FROM proc_scope(?1, NULL, 't', 7, 0)",
                [me],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(n, 0, "an argument NULL: no row");
    }
}
