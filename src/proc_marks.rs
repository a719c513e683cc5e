//! `proc_marks(pid)`: an eponymous table-valued function over [`crate::marks`]: how a process
//! was started (session, group, parent, real uid, namespace init, kernel thread, the owner's
//! `HERMES_KANBAN_*` spawn environment, where its stdout goes). One row for a live process
//! (zombies included), no row for NULL or a pid that is gone, an SQL error naming the
//! function for anything that is not an integer pid. Only the files the query's columns need
//! are read (`environ` and `fd/1` need the process's uid or root). Every callback is guarded.

use std::borrow::Cow;
use std::ffi::{CStr, CString, c_int};
use std::marker::PhantomData;

use rusqlite::types::{Value, ValueRef};
use rusqlite::vtab::{
    Context, Filters, IndexInfo, Module, VTab, VTabConfig, VTabConnection, VTabCursor,
};
use rusqlite::{Connection, Error, Result, ffi};

use crate::marks::{self, Marks, WantMarks};
use crate::proc_stats::{argument_constraint, guarded_named, parse_pid_for};

pub const NAME: &str = "proc_marks";

/// `(name, SQL type, meaning)` of each visible column, in order; the argument is the hidden
/// column `query_pid`. The single source for the declaration and the docs check.
pub const COLUMNS: &[(&str, &str, &str)] = &[
    ("pid", "INTEGER", "the argument"),
    (
        "start_ticks",
        "INTEGER",
        "process start in clock ticks after boot: the row is of the process with these",
    ),
    ("ppid", "INTEGER", "parent pid"),
    (
        "session",
        "INTEGER",
        "session id (the pid of the session's leader)",
    ),
    ("pgrp", "INTEGER", "process group id"),
    ("uid", "INTEGER", "real uid (from status)"),
    (
        "namespace_init",
        "INTEGER",
        "1 when the process is pid 1 of a pid namespace (a container's init; NSpid in status)",
    ),
    ("kernel_thread", "INTEGER", "1 for a kernel thread"),
    (
        "env_run_id",
        "TEXT",
        "HERMES_KANBAN_RUN_ID of its environment",
    ),
    (
        "env_task_id",
        "TEXT",
        "HERMES_KANBAN_TASK of its environment",
    ),
    (
        "env_board",
        "TEXT",
        "HERMES_KANBAN_DB of its environment: the board file",
    ),
    (
        "env_claim_lock",
        "TEXT",
        "HERMES_KANBAN_CLAIM_LOCK of its environment",
    ),
    (
        "stdout",
        "TEXT",
        "where fd 1 points: a path, or pipe:[inode], socket:[inode]",
    ),
    (
        "error",
        "TEXT",
        "the first file that could not be read (access denied: another user's environ)",
    ),
];

const COL_QUERY_PID: c_int = COLUMNS.len() as c_int;
const IDX_ARG: c_int = 1;
const IDX_STATUS: c_int = 2;
const IDX_ENVIRON: c_int = 4;
const IDX_STDOUT: c_int = 8;

fn position(name: &str) -> usize {
    COLUMNS.iter().position(|c| c.0 == name).unwrap_or(63)
}

/// Which files the columns in SQLite's usage mask need.
fn plan_bits(col_used: u64) -> c_int {
    let used = |name: &str| col_used & (1u64 << position(name).min(63)) != 0;
    if used("error") {
        return IDX_STATUS | IDX_ENVIRON | IDX_STDOUT;
    }
    let mut bits = 0;
    if used("uid") || used("namespace_init") {
        bits |= IDX_STATUS;
    }
    if ["env_run_id", "env_task_id", "env_board", "env_claim_lock"]
        .iter()
        .any(|c| used(c))
    {
        bits |= IDX_ENVIRON;
    }
    if used("stdout") {
        bits |= IDX_STDOUT;
    }
    bits
}

fn guarded<T>(what: &str, f: impl FnOnce() -> Result<T>) -> Result<T> {
    guarded_named(NAME, what, f)
}

pub fn register(conn: &Connection) -> Result<()> {
    const MODULE: Module<ProcMarksTab> = Module::eponymous_only_module();
    conn.create_module(c"proc_marks", &MODULE, None)
}

#[repr(C)]
struct ProcMarksTab {
    /// Base class. Must be first.
    base: ffi::sqlite3_vtab,
}

// SAFETY: `ProcMarksTab` is `repr(C)` with `sqlite3_vtab` as its first field, as rusqlite's
// `VTab` requires; it holds no pointers into SQLite.
unsafe impl<'vtab> VTab<'vtab> for ProcMarksTab {
    type Aux = ();
    type Cursor = ProcMarksCursor<'vtab>;

    fn connect(
        db: &mut VTabConnection,
        _aux: Option<&()>,
        _module_name: &[u8],
        _database_name: &[u8],
        _table_name: &[u8],
        _args: &[&[u8]],
    ) -> Result<(Cow<'static, CStr>, Self)> {
        guarded("connect", || {
            // As proc_stats: direct SQL and the user's TEMP views only.
            db.config(VTabConfig::DirectOnly)?;
            let mut sql = String::from("CREATE TABLE x(");
            for (name, sql_type, _) in COLUMNS {
                sql.push_str(&format!("{name} {sql_type}, "));
            }
            sql.push_str("query_pid HIDDEN)");
            let decl = CString::new(sql).map_err(|e| Error::ModuleError(format!("{NAME}: {e}")))?;
            Ok((
                Cow::Owned(decl),
                ProcMarksTab {
                    base: ffi::sqlite3_vtab::default(),
                },
            ))
        })
    }

    fn best_index(&self, info: &mut IndexInfo) -> Result<bool> {
        guarded("best_index", || {
            let (chosen, unusable) =
                argument_constraint(info, |col| col == COL_QUERY_PID || col == 0);
            match chosen {
                Some(i) => {
                    let mut usage = info.constraint_usage(i);
                    usage.set_argv_index(1);
                    usage.set_omit(true);
                    let bits = plan_bits(info.col_used());
                    info.set_idx_num(IDX_ARG | bits);
                    info.set_estimated_cost(1.0);
                    info.set_estimated_rows(1);
                    Ok(true)
                }
                None if unusable => Ok(false),
                None => {
                    info.set_idx_num(0);
                    info.set_estimated_cost(1e12);
                    Ok(true)
                }
            }
        })
    }

    fn open(&'vtab mut self) -> Result<ProcMarksCursor<'vtab>> {
        Ok(ProcMarksCursor {
            base: ffi::sqlite3_vtab_cursor::default(),
            row: None,
            phantom: PhantomData,
        })
    }
}

#[repr(C)]
struct ProcMarksCursor<'vtab> {
    /// Base class. Must be first.
    base: ffi::sqlite3_vtab_cursor,
    row: Option<Marks>,
    phantom: PhantomData<&'vtab ProcMarksTab>,
}

impl ProcMarksCursor<'_> {
    fn load(&mut self, idx_num: c_int, args: &Filters<'_>) -> Result<()> {
        self.row = None;
        if idx_num & IDX_ARG == 0 || args.is_empty() {
            return Err(Error::ModuleError(format!(
                "{NAME}: a pid argument is required, as in SELECT * FROM {NAME}(1234)"
            )));
        }
        let value: Value = args.get(0)?;
        let pid = match parse_pid_for(NAME, ValueRef::from(&value)) {
            Ok(Some(pid)) => pid,
            Ok(None) => return Ok(()),
            Err(message) => return Err(Error::ModuleError(message)),
        };
        let want = WantMarks {
            status: idx_num & IDX_STATUS != 0,
            environ: idx_num & IDX_ENVIRON != 0,
            stdout: idx_num & IDX_STDOUT != 0,
        };
        self.row = marks::read(pid, want);
        Ok(())
    }

    fn value(&self, col: c_int) -> Value {
        let Some(m) = &self.row else {
            return Value::Null;
        };
        let text = |s: &Option<String>| s.clone().map_or(Value::Null, Value::Text);
        let env = |f: fn(&marks::SpawnEnv) -> &Option<String>| {
            m.env.as_ref().map_or(Value::Null, |e| text(f(e)))
        };
        let name = usize::try_from(col)
            .ok()
            .and_then(|i| COLUMNS.get(i))
            .map_or("", |c| c.0);
        match name {
            "pid" => Value::Integer(m.pid.into()),
            "start_ticks" => Value::Integer(i64::try_from(m.start_ticks).unwrap_or(i64::MAX)),
            "ppid" => Value::Integer(m.ppid.into()),
            "session" => Value::Integer(m.session.into()),
            "pgrp" => Value::Integer(m.pgrp.into()),
            "uid" => m.ruid.map_or(Value::Null, |u| Value::Integer(u.into())),
            "namespace_init" => m
                .namespace_init
                .map_or(Value::Null, |b| Value::Integer(b.into())),
            "kernel_thread" => Value::Integer(m.kernel_thread.into()),
            "env_run_id" => env(|e| &e.run_id),
            "env_task_id" => env(|e| &e.task_id),
            "env_board" => env(|e| &e.board),
            "env_claim_lock" => env(|e| &e.claim_lock),
            "stdout" => text(&m.stdout),
            "error" => text(&m.error),
            _ if col == COL_QUERY_PID => Value::Integer(m.pid.into()),
            _ => Value::Null,
        }
    }
}

// SAFETY: `ProcMarksCursor` is `repr(C)` with `sqlite3_vtab_cursor` as its first field, as
// rusqlite's `VTabCursor` requires.
unsafe impl VTabCursor for ProcMarksCursor<'_> {
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
        Ok(self.row.as_ref().map_or(0, |r| r.pid.into()))
    }
}
