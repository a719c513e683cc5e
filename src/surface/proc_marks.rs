//! `proc_marks(pid)`: an eponymous table-valued function over `crate::proc::marks`: how a process
//! was started (session, group, parent, real uid, namespace init, kernel thread, the owner's
//! `HERMES_KANBAN_*` spawn environment, where its stdout goes). One row for a live process
//! (zombies included), no row for NULL or a pid that is gone, an SQL error naming the
//! function for anything that is not an integer pid. Only the files the query's columns need
//! are read (`environ` and `fd/1` need the process's uid or root). A process's spawn
//! environment is read once per connection and exec (`marks::EnvCache`): a dashboard asking
//! about the same worker every few seconds reads its `environ` once. Every callback is guarded.

use std::ffi::{CStr, c_int};
use std::sync::Arc;

use rusqlite::types::Value;
use rusqlite::vtab::{Filters, IndexInfo};
use rusqlite::{Connection, Result};

use crate::proc::marks::{self, EnvCache, Marks, WantMarks};
use crate::surface::vtab::{self, Column, Slot, TableFunction};

pub const NAME: &str = ProcMarks::TEXT_NAME;

/// The values a `proc_marks` row holds: each column of [`COLUMNS`] names one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MarkCol {
    Pid,
    StartTicks,
    Ppid,
    Session,
    Pgrp,
    Uid,
    NamespaceInit,
    KernelThread,
    EnvRunId,
    EnvTaskId,
    EnvBoard,
    EnvClaimLock,
    Stdout,
    Error,
}

/// The visible columns, in order, each with its meaning as `docs/sql.md` gives it; the
/// argument is the hidden column `query_pid`.
pub const COLUMNS: &[Column<MarkCol, MarkFiles>] = &[
    Column {
        id: MarkCol::Pid,
        name: "pid",
        sql_type: "INTEGER",
        doc: "the argument",
        reads: MarkFiles::empty(),
    },
    Column {
        id: MarkCol::StartTicks,
        name: "start_ticks",
        sql_type: "INTEGER",
        doc: "process start in clock ticks after boot: the row is of the process with these",
        reads: MarkFiles::empty(),
    },
    Column {
        id: MarkCol::Ppid,
        name: "ppid",
        sql_type: "INTEGER",
        doc: "parent pid",
        reads: MarkFiles::empty(),
    },
    Column {
        id: MarkCol::Session,
        name: "session",
        sql_type: "INTEGER",
        doc: "session id (the pid of the session's leader)",
        reads: MarkFiles::empty(),
    },
    Column {
        id: MarkCol::Pgrp,
        name: "pgrp",
        sql_type: "INTEGER",
        doc: "process group id",
        reads: MarkFiles::empty(),
    },
    Column {
        id: MarkCol::Uid,
        name: "uid",
        sql_type: "INTEGER",
        doc: "real uid (from status)",
        reads: MarkFiles::STATUS,
    },
    Column {
        id: MarkCol::NamespaceInit,
        name: "namespace_init",
        sql_type: "INTEGER",
        doc: "1 when the process is pid 1 of a pid namespace (a container's init; NSpid in status)",
        reads: MarkFiles::STATUS,
    },
    Column {
        id: MarkCol::KernelThread,
        name: "kernel_thread",
        sql_type: "INTEGER",
        doc: "1 for a kernel thread",
        reads: MarkFiles::empty(),
    },
    Column {
        id: MarkCol::EnvRunId,
        name: "env_run_id",
        sql_type: "TEXT",
        doc: "HERMES_KANBAN_RUN_ID of its environment",
        reads: MarkFiles::ENVIRON,
    },
    Column {
        id: MarkCol::EnvTaskId,
        name: "env_task_id",
        sql_type: "TEXT",
        doc: "HERMES_KANBAN_TASK of its environment",
        reads: MarkFiles::ENVIRON,
    },
    Column {
        id: MarkCol::EnvBoard,
        name: "env_board",
        sql_type: "TEXT",
        doc: "HERMES_KANBAN_DB of its environment: the board file",
        reads: MarkFiles::ENVIRON,
    },
    Column {
        id: MarkCol::EnvClaimLock,
        name: "env_claim_lock",
        sql_type: "TEXT",
        doc: "HERMES_KANBAN_CLAIM_LOCK of its environment",
        reads: MarkFiles::ENVIRON,
    },
    Column {
        id: MarkCol::Stdout,
        name: "stdout",
        sql_type: "TEXT",
        doc: "where fd 1 points: a path, or pipe:[inode], socket:[inode]",
        reads: MarkFiles::STDOUT,
    },
    Column {
        id: MarkCol::Error,
        name: "error",
        sql_type: "TEXT",
        doc: "the first file that could not be read (access denied: another user's environ)",
        reads: MarkFiles::all(),
    },
];

bitflags::bitflags! {
    /// The files of a `proc_marks` row, each read only when a column the query uses names it.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub struct MarkFiles: u32 {
        /// `status`: the real uid and `NSpid`.
        const STATUS = 1;
        const ENVIRON = 1 << 1;
        /// The `fd/1` link.
        const STDOUT = 1 << 2;
    }
}

/// Register `proc_marks` on `conn`, with a spawn-environment cache of its own.
pub fn register(conn: &Connection) -> Result<()> {
    vtab::register::<ProcMarks>(conn, Arc::new(EnvCache::new()))
}

/// `proc_marks`, as the shell in [`crate::surface::vtab`] runs it.
struct ProcMarks;

impl TableFunction for ProcMarks {
    const NAME: &'static CStr = c"proc_marks";
    type Col = MarkCol;
    type Files = MarkFiles;
    const COLUMNS: &'static [Column<MarkCol, MarkFiles>] = COLUMNS;
    const ARGUMENT: &'static str = "query_pid";
    const COST: f64 = 1.0;
    const ROWS: i64 = 1;
    type Aux = Arc<EnvCache>;
    type Row = Marks;
    type Rows = Option<Marks>;

    fn is_argument(column: Slot<MarkCol>) -> bool {
        // `pid = ?` gives it too.
        matches!(column, Slot::Argument | Slot::Column(MarkCol::Pid))
    }

    fn idx_bits(info: &mut IndexInfo) -> c_int {
        vtab::files_plan(COLUMNS, info.col_used())
    }

    fn filter(
        cache: &Arc<EnvCache>,
        row: &mut Option<Marks>,
        idx_num: c_int,
        args: &Filters<'_>,
    ) -> Result<()> {
        let Some(pid) = vtab::pid_argument(NAME, idx_num, args)? else {
            return Ok(());
        };
        let files: MarkFiles = vtab::files_of(idx_num);
        let want = WantMarks {
            status: files.contains(MarkFiles::STATUS),
            environ: files.contains(MarkFiles::ENVIRON),
            stdout: files.contains(MarkFiles::STDOUT),
        };
        *row = marks::read_with(pid, want, Some(cache));
        Ok(())
    }

    fn value(m: &Marks, column: Slot<MarkCol>) -> Value {
        let text = |s: &Option<String>| s.clone().map_or(Value::Null, Value::Text);
        let env = |f: fn(&marks::SpawnEnv) -> &Option<String>| {
            m.env.as_ref().map_or(Value::Null, |e| text(f(e)))
        };
        let id = match column {
            Slot::Column(id) => id,
            Slot::Argument => return Value::Integer(m.pid.into()),
            Slot::Extra(_) => return Value::Null,
        };
        match id {
            MarkCol::Pid => Value::Integer(m.pid.into()),
            MarkCol::StartTicks => Value::Integer(i64::try_from(m.start_ticks).unwrap_or(i64::MAX)),
            MarkCol::Ppid => Value::Integer(m.ppid.into()),
            MarkCol::Session => Value::Integer(m.session.into()),
            MarkCol::Pgrp => Value::Integer(m.pgrp.into()),
            MarkCol::Uid => m.ruid.map_or(Value::Null, |u| Value::Integer(u.into())),
            MarkCol::NamespaceInit => m
                .namespace_init
                .map_or(Value::Null, |b| Value::Integer(b.into())),
            MarkCol::KernelThread => Value::Integer(m.kernel_thread.into()),
            MarkCol::EnvRunId => env(|e| &e.run_id),
            MarkCol::EnvTaskId => env(|e| &e.task_id),
            MarkCol::EnvBoard => env(|e| &e.board),
            MarkCol::EnvClaimLock => env(|e| &e.claim_lock),
            MarkCol::Stdout => text(&m.stdout),
            MarkCol::Error => text(&m.error),
        }
    }

    fn rowid(m: &Marks) -> i64 {
        m.pid.into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_column_names_its_own_value() {
        vtab::assert_each_id_is_its_name(COLUMNS);
        assert_eq!(
            vtab::slot::<ProcMarks>(COLUMNS.len() as c_int),
            Some(Slot::Argument)
        );
    }
}
