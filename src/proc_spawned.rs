//! `proc_spawned(uid)`: an eponymous table-valued function listing the live processes of real
//! user `uid` (the board owner's) that carry the owner's spawn marks ([`crate::marks`]): a
//! `HERMES_KANBAN_*` environment, or stdout on a task's log file. One pass over `/proc`; of a
//! process of another user nothing but the owner of its `/proc/<pid>` is looked at (one
//! `fstat`), so its environment and fds are never read (SECURITY.md). Zombies are left out.
//! NULL gives no rows; anything that is not a uid is an SQL error naming the function. Every
//! callback is guarded.

use std::borrow::Cow;
use std::ffi::{CStr, c_int};
use std::marker::PhantomData;

use rusqlite::types::{Value, ValueRef};
use rusqlite::vtab::{
    Context, Filters, IndexInfo, Module, VTab, VTabConfig, VTabConnection, VTabCursor,
};
use rusqlite::{Connection, Error, Result, ffi};

use crate::marks::{self, Marks};
use crate::vtab::{self, Column};

pub const NAME: &str = "proc_spawned";

/// The values a `proc_spawned` row holds: each column of [`COLUMNS`] names one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SpawnedCol {
    Pid,
    StartTicks,
    Ppid,
    Session,
    Pgrp,
    EnvRunId,
    EnvTaskId,
    EnvBoard,
    EnvClaimLock,
    Stdout,
}

/// The visible columns, in order, each with its meaning as `docs/sql.md` gives it; the
/// argument is the hidden column `query_uid`.
pub const COLUMNS: &[Column<SpawnedCol>] = &[
    Column {
        id: SpawnedCol::Pid,
        name: "pid",
        sql_type: "INTEGER",
        doc: "a process of the argument's uid that carries spawn marks",
    },
    Column {
        id: SpawnedCol::StartTicks,
        name: "start_ticks",
        sql_type: "INTEGER",
        doc: "its start in clock ticks after boot: the row is of the process with these",
    },
    Column {
        id: SpawnedCol::Ppid,
        name: "ppid",
        sql_type: "INTEGER",
        doc: "its parent pid",
    },
    Column {
        id: SpawnedCol::Session,
        name: "session",
        sql_type: "INTEGER",
        doc: "its session id",
    },
    Column {
        id: SpawnedCol::Pgrp,
        name: "pgrp",
        sql_type: "INTEGER",
        doc: "its process group id",
    },
    Column {
        id: SpawnedCol::EnvRunId,
        name: "env_run_id",
        sql_type: "TEXT",
        doc: "HERMES_KANBAN_RUN_ID of its environment (NULL when unset)",
    },
    Column {
        id: SpawnedCol::EnvTaskId,
        name: "env_task_id",
        sql_type: "TEXT",
        doc: "HERMES_KANBAN_TASK of its environment",
    },
    Column {
        id: SpawnedCol::EnvBoard,
        name: "env_board",
        sql_type: "TEXT",
        doc: "HERMES_KANBAN_DB of its environment: the board it belongs to",
    },
    Column {
        id: SpawnedCol::EnvClaimLock,
        name: "env_claim_lock",
        sql_type: "TEXT",
        doc: "HERMES_KANBAN_CLAIM_LOCK of its environment",
    },
    Column {
        id: SpawnedCol::Stdout,
        name: "stdout",
        sql_type: "TEXT",
        doc: "the file its fd 1 points to (NULL for a pipe, a socket or none)",
    },
];

const COL_QUERY_UID: c_int = COLUMNS.len() as c_int;

fn guarded<T>(what: &str, f: impl FnOnce() -> Result<T>) -> Result<T> {
    vtab::guarded(NAME, what, f)
}

pub fn register(conn: &Connection) -> Result<()> {
    const MODULE: Module<ProcSpawnedTab> = Module::eponymous_only_module();
    conn.create_module(c"proc_spawned", &MODULE, None)
}

/// Validate the uid argument: `Ok(None)` for NULL (no rows), an error for anything but an
/// integer from 0 to 2^32 - 2 (`(uid_t) -1` is no one's).
pub fn parse_uid(value: ValueRef<'_>) -> std::result::Result<Option<u32>, String> {
    match value {
        ValueRef::Null => Ok(None),
        ValueRef::Integer(i) => u32::try_from(i)
            .ok()
            .filter(|u| *u != u32::MAX)
            .map(Some)
            .ok_or_else(|| format!("{NAME}: uid {i} is out of range (0 to 4294967294)")),
        ValueRef::Real(r) => Err(format!("{NAME}: uid must be an integer, got real {r}")),
        ValueRef::Text(_) => Err(format!("{NAME}: uid must be an integer, got text")),
        ValueRef::Blob(_) => Err(format!("{NAME}: uid must be an integer, got a blob")),
    }
}

/// The processes of `uid` that carry spawn marks, by pid.
pub fn scan(uid: u32) -> Vec<Marks> {
    let Ok(all) = procfs::process::all_processes() else {
        return Vec::new();
    };
    let mut out = Vec::new();
    let mut buf = Vec::with_capacity(16 * 1024);
    for process in all.flatten() {
        // The owner of /proc/<pid> (one fstat of the handle): nothing else of another user's
        // process is read.
        if process.uid().ok() != Some(uid) {
            continue;
        }
        if let Some(m) = marks::read_spawned(&process, &mut buf) {
            out.push(m);
        }
    }
    out
}

#[repr(C)]
struct ProcSpawnedTab {
    /// Base class. Must be first.
    base: ffi::sqlite3_vtab,
}

// SAFETY: `ProcSpawnedTab` is `repr(C)` with `sqlite3_vtab` as its first field, as rusqlite's
// `VTab` requires; it holds no pointers into SQLite.
unsafe impl<'vtab> VTab<'vtab> for ProcSpawnedTab {
    type Aux = ();
    type Cursor = ProcSpawnedCursor<'vtab>;

    fn connect(
        db: &mut VTabConnection,
        _aux: Option<&()>,
        _module_name: &[u8],
        _database_name: &[u8],
        _table_name: &[u8],
        _args: &[&[u8]],
    ) -> Result<(Cow<'static, CStr>, Self)> {
        guarded("connect", || {
            // It reads other processes' environments: direct SQL and TEMP views only.
            db.config(VTabConfig::DirectOnly)?;
            let decl = vtab::declaration(NAME, COLUMNS, "", "query_uid")?;
            Ok((
                Cow::Owned(decl),
                ProcSpawnedTab {
                    base: ffi::sqlite3_vtab::default(),
                },
            ))
        })
    }

    fn best_index(&self, info: &mut IndexInfo) -> Result<bool> {
        guarded("best_index", || {
            let (chosen, unusable) = vtab::argument_constraint(info, |c| c == COL_QUERY_UID);
            match chosen {
                Some(i) => {
                    let mut usage = info.constraint_usage(i);
                    usage.set_argv_index(1);
                    usage.set_omit(true);
                    info.set_idx_num(vtab::IDX_ARG);
                    // A pass over /proc: costly, but the same whatever the order.
                    info.set_estimated_cost(1e4);
                    info.set_estimated_rows(20);
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

    fn open(&'vtab mut self) -> Result<ProcSpawnedCursor<'vtab>> {
        Ok(ProcSpawnedCursor {
            base: ffi::sqlite3_vtab_cursor::default(),
            rows: Vec::new(),
            at: 0,
            phantom: PhantomData,
        })
    }
}

#[repr(C)]
struct ProcSpawnedCursor<'vtab> {
    /// Base class. Must be first.
    base: ffi::sqlite3_vtab_cursor,
    rows: Vec<Marks>,
    at: usize,
    phantom: PhantomData<&'vtab ProcSpawnedTab>,
}

impl ProcSpawnedCursor<'_> {
    fn load(&mut self, idx_num: c_int, args: &Filters<'_>) -> Result<()> {
        self.rows.clear();
        self.at = 0;
        if idx_num & vtab::IDX_ARG == 0 || args.is_empty() {
            return Err(Error::ModuleError(format!(
                "{NAME}: a uid argument is required, as in SELECT * FROM {NAME}(1000)"
            )));
        }
        let value: Value = args.get(0)?;
        let Some(uid) = parse_uid(ValueRef::from(&value)).map_err(Error::ModuleError)? else {
            return Ok(());
        };
        self.rows = scan(uid);
        Ok(())
    }

    fn value(&self, col: c_int) -> Value {
        let Some(m) = self.rows.get(self.at) else {
            return Value::Null;
        };
        let text = |s: &Option<String>| s.clone().map_or(Value::Null, Value::Text);
        let env = |f: fn(&marks::SpawnEnv) -> &Option<String>| {
            m.env.as_ref().map_or(Value::Null, |e| text(f(e)))
        };
        let Some(column) = usize::try_from(col).ok().and_then(|i| COLUMNS.get(i)) else {
            return Value::Null;
        };
        match column.id {
            SpawnedCol::Pid => Value::Integer(m.pid.into()),
            SpawnedCol::StartTicks => {
                Value::Integer(i64::try_from(m.start_ticks).unwrap_or(i64::MAX))
            }
            SpawnedCol::Ppid => Value::Integer(m.ppid.into()),
            SpawnedCol::Session => Value::Integer(m.session.into()),
            SpawnedCol::Pgrp => Value::Integer(m.pgrp.into()),
            SpawnedCol::EnvRunId => env(|e| &e.run_id),
            SpawnedCol::EnvTaskId => env(|e| &e.task_id),
            SpawnedCol::EnvBoard => env(|e| &e.board),
            SpawnedCol::EnvClaimLock => env(|e| &e.claim_lock),
            SpawnedCol::Stdout => text(&m.stdout),
        }
    }
}

// SAFETY: `ProcSpawnedCursor` is `repr(C)` with `sqlite3_vtab_cursor` as its first field, as
// rusqlite's `VTabCursor` requires.
unsafe impl VTabCursor for ProcSpawnedCursor<'_> {
    fn filter(&mut self, idx_num: c_int, _idx_str: Option<&str>, args: &Filters<'_>) -> Result<()> {
        guarded("filter", || self.load(idx_num, args))
    }

    fn next(&mut self) -> Result<()> {
        self.at += 1;
        Ok(())
    }

    fn eof(&self) -> bool {
        self.at >= self.rows.len()
    }

    fn column(&self, ctx: &mut Context, i: c_int) -> Result<()> {
        guarded("column", || ctx.set_result(&self.value(i)))
    }

    fn rowid(&self) -> Result<i64> {
        Ok(self.rows.get(self.at).map_or(0, |r| r.pid.into()))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn every_column_names_its_own_value() {
        vtab::assert_each_id_is_its_name(COLUMNS);
        assert_eq!(COL_QUERY_UID as usize, COLUMNS.len());
    }

    #[test]
    fn uids_are_checked() {
        assert_eq!(parse_uid(ValueRef::Null), Ok(None));
        assert_eq!(parse_uid(ValueRef::Integer(0)), Ok(Some(0)));
        assert_eq!(parse_uid(ValueRef::Integer(65534)), Ok(Some(65534)));
        for bad in [
            ValueRef::Integer(-1),
            ValueRef::Integer(4_294_967_295),
            ValueRef::Real(1.5),
            ValueRef::Text(b"0"),
            ValueRef::Blob(b"\x00"),
        ] {
            assert!(parse_uid(bad).unwrap_err().starts_with("proc_spawned: "));
        }
    }
}
