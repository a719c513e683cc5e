//! `proc_spawned(uid)`: an eponymous table-valued function listing the live processes of user
//! `uid` (the board owner's) that carry the owner's spawn marks (`crate::proc::marks`): a
//! `HERMES_KANBAN_*` environment, or stdout on a task's log file. One pass over `/proc`; of a
//! process whose `/proc/<pid>` is another user's nothing but that owner is looked at (one
//! `fstat`), so its environment and fds are never read (SECURITY.md). That owner is the
//! effective uid (root for a set-uid program, whoever ran it), so a marked process is listed
//! only when its real and effective uids are both `uid` (its `status`, read for marked
//! processes only): another user's `su` kept waiting with a run's environment is not root's
//! spawn (`Marks::not_spawned_by`). Zombies are left out.
//! NULL gives no rows; anything that is not a uid is an SQL error naming the function. Every
//! callback is guarded.

use std::ffi::{CStr, c_int};

use rusqlite::types::{Value, ValueRef};
use rusqlite::vtab::Filters;
use rusqlite::{Connection, Error, Result};

use crate::proc::marks::{self, Marks};
use crate::surface::vtab::{self, Column, Many, NoFiles, Slot, TableFunction};

pub const NAME: &str = ProcSpawned::TEXT_NAME;

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
    EnvMachineId,
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
        reads: NoFiles::empty(),
    },
    Column {
        id: SpawnedCol::StartTicks,
        name: "start_ticks",
        sql_type: "INTEGER",
        doc: "its start in clock ticks after boot: the row is of the process with these",
        reads: NoFiles::empty(),
    },
    Column {
        id: SpawnedCol::Ppid,
        name: "ppid",
        sql_type: "INTEGER",
        doc: "its parent pid",
        reads: NoFiles::empty(),
    },
    Column {
        id: SpawnedCol::Session,
        name: "session",
        sql_type: "INTEGER",
        doc: "its session id",
        reads: NoFiles::empty(),
    },
    Column {
        id: SpawnedCol::Pgrp,
        name: "pgrp",
        sql_type: "INTEGER",
        doc: "its process group id",
        reads: NoFiles::empty(),
    },
    Column {
        id: SpawnedCol::EnvRunId,
        name: "env_run_id",
        sql_type: "TEXT",
        doc: "HERMES_KANBAN_RUN_ID of its environment (NULL when unset)",
        reads: NoFiles::empty(),
    },
    Column {
        id: SpawnedCol::EnvTaskId,
        name: "env_task_id",
        sql_type: "TEXT",
        doc: "HERMES_KANBAN_TASK of its environment",
        reads: NoFiles::empty(),
    },
    Column {
        id: SpawnedCol::EnvBoard,
        name: "env_board",
        sql_type: "TEXT",
        doc: "HERMES_KANBAN_DB of its environment: the board it belongs to",
        reads: NoFiles::empty(),
    },
    Column {
        id: SpawnedCol::EnvClaimLock,
        name: "env_claim_lock",
        sql_type: "TEXT",
        doc: "HERMES_KANBAN_CLAIM_LOCK of its environment",
        reads: NoFiles::empty(),
    },
    Column {
        id: SpawnedCol::EnvMachineId,
        name: "env_machine_id",
        sql_type: "TEXT",
        doc: "HERMES_MACHINE_ID of its environment: the Hermes machine id of the host that spawned it",
        reads: NoFiles::empty(),
    },
    Column {
        id: SpawnedCol::Stdout,
        name: "stdout",
        sql_type: "TEXT",
        doc: "the file its fd 1 points to (NULL for a pipe, a socket or none)",
        reads: NoFiles::empty(),
    },
];

pub fn register(conn: &Connection) -> Result<()> {
    vtab::register::<ProcSpawned>(conn, ())
}

/// Validate the uid argument: `Ok(None)` for NULL (no rows), an error for anything but an
/// integer from 0 to 2^32 - 2 (`(uid_t) -1` is no one's).
pub(crate) fn parse_uid(value: ValueRef<'_>) -> std::result::Result<Option<u32>, String> {
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

/// The processes of `uid` (real and effective) that carry spawn marks, by pid.
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
            if m.not_spawned_by(uid).is_none() {
                out.push(m);
            }
        }
    }
    out
}

/// `proc_spawned`, as the shell in [`crate::surface::vtab`] runs it.
struct ProcSpawned;

impl TableFunction for ProcSpawned {
    const NAME: &'static CStr = c"proc_spawned";
    type Col = SpawnedCol;
    type Files = NoFiles;
    const COLUMNS: &'static [Column<SpawnedCol>] = COLUMNS;
    const ARGUMENT: &'static str = "query_uid";
    /// A pass over /proc: costly, but the same whatever the order.
    const COST: f64 = 1e4;
    const ROWS: i64 = 20;
    type Aux = ();
    type Row = Marks;
    type Rows = Many<Marks>;

    fn filter(_: &(), rows: &mut Many<Marks>, idx_num: c_int, args: &Filters<'_>) -> Result<()> {
        if idx_num & vtab::IDX_ARG == 0 || args.is_empty() {
            return Err(Error::ModuleError(format!(
                "{NAME}: a uid argument is required, as in SELECT * FROM {NAME}(1000)"
            )));
        }
        let value: Value = args.get(0)?;
        let Some(uid) = parse_uid(ValueRef::from(&value)).map_err(Error::ModuleError)? else {
            return Ok(());
        };
        rows.set(scan(uid));
        Ok(())
    }

    fn value(m: &Marks, column: Slot<SpawnedCol>) -> Value {
        let text = |s: &Option<String>| s.clone().map_or(Value::Null, Value::Text);
        let env = |f: fn(&marks::SpawnEnv) -> &Option<String>| {
            m.env.as_ref().map_or(Value::Null, |e| text(f(e)))
        };
        // The argument column gives NULL.
        let Slot::Column(id) = column else {
            return Value::Null;
        };
        match id {
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
            SpawnedCol::EnvMachineId => env(|e| &e.machine_id),
            SpawnedCol::Stdout => text(&m.stdout),
        }
    }

    fn rowid(m: &Marks) -> i64 {
        m.pid.into()
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
            vtab::slot::<ProcSpawned>(COLUMNS.len() as c_int),
            Some(Slot::Argument)
        );
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
