//! One process's row as `proc_stats` and `proc_tree` give it: the columns, which optional files
//! the query's columns need, the reading, and each column's value. Shared by the two
//! functions, so a `proc_tree` member is read exactly as `proc_stats` reads one process.

use std::ffi::c_int;

use rusqlite::types::Value;

use crate::proc::cpu::CpuSampler;
use crate::proc::info::{self as procinfo, ProcInfo, Reading, Want};
use crate::surface::vtab::{self, Column};

/// The values a process's row holds: each column of [`COLUMNS`] names one, so a value is found
/// by what it is, never by its position.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Col {
    Pid,
    Alive,
    Reason,
    Error,
    State,
    Ppid,
    Uid,
    NumThreads,
    RssBytes,
    VmsBytes,
    CpuUserS,
    CpuSystemS,
    CpuPercent,
    StartTime,
    NumFds,
    Cmdline,
    StartTicks,
    Fingerprint,
}

/// The visible columns, in order, each with its meaning as `docs/sql.md` gives it.
pub const COLUMNS: &[Column<Col, ProcFiles>] = &[
    Column {
        id: Col::Pid,
        name: "pid",
        sql_type: "INTEGER",
        doc: "the argument",
        reads: ProcFiles::empty(),
    },
    Column {
        id: Col::Alive,
        name: "alive",
        sql_type: "INTEGER",
        doc: "1 if the process exists and is not a zombie, else 0",
        reads: ProcFiles::empty(),
    },
    Column {
        id: Col::Reason,
        name: "reason",
        sql_type: "TEXT",
        doc: "why not alive: `no such process` or `zombie`; NULL when alive",
        reads: ProcFiles::empty(),
    },
    Column {
        id: Col::Error,
        name: "error",
        sql_type: "TEXT",
        doc: "a field could not be read: `access denied` for another user's fds (then `num_fds` is NULL), or the file that failed; NULL otherwise",
        reads: ProcFiles::all(),
    },
    Column {
        id: Col::State,
        name: "state",
        sql_type: "TEXT",
        doc: "psutil's status word: running, sleeping, disk-sleep, stopped, tracing-stop, zombie, dead, wake-kill, waking, parked, idle",
        reads: ProcFiles::empty(),
    },
    Column {
        id: Col::Ppid,
        name: "ppid",
        sql_type: "INTEGER",
        doc: "parent pid",
        reads: ProcFiles::empty(),
    },
    Column {
        id: Col::Uid,
        name: "uid",
        sql_type: "INTEGER",
        doc: "owner of `/proc/<pid>`: the effective uid (equal to the real uid except for set-uid programs; reading the real uid needs `status`, which would double the cost)",
        reads: ProcFiles::UID,
    },
    Column {
        id: Col::NumThreads,
        name: "num_threads",
        sql_type: "INTEGER",
        doc: "number of threads",
        reads: ProcFiles::empty(),
    },
    Column {
        id: Col::RssBytes,
        name: "rss_bytes",
        sql_type: "INTEGER",
        doc: "resident set size in bytes (`statm`, as psutil)",
        reads: ProcFiles::MEMORY,
    },
    Column {
        id: Col::VmsBytes,
        name: "vms_bytes",
        sql_type: "INTEGER",
        doc: "virtual memory size in bytes (`statm`)",
        reads: ProcFiles::MEMORY,
    },
    Column {
        id: Col::CpuUserS,
        name: "cpu_user_s",
        sql_type: "REAL",
        doc: "cumulative user CPU seconds",
        reads: ProcFiles::empty(),
    },
    Column {
        id: Col::CpuSystemS,
        name: "cpu_system_s",
        sql_type: "REAL",
        doc: "cumulative system CPU seconds",
        reads: ProcFiles::empty(),
    },
    Column {
        id: Col::CpuPercent,
        name: "cpu_percent",
        sql_type: "REAL",
        doc: "CPU use (100 = one core) since this connection's previous sample of the same process (pid + start time); on the first sample, the lifetime average (as `ps`); within 200 ms of the previous sample, that sample's figure again",
        reads: ProcFiles::empty(),
    },
    Column {
        id: Col::StartTime,
        name: "start_time",
        sql_type: "REAL",
        doc: "process start, Unix epoch seconds (psutil's `create_time`): boot time + start ticks, computed in integers (10 ms resolution; boot time is whole seconds)",
        reads: ProcFiles::empty(),
    },
    Column {
        id: Col::NumFds,
        name: "num_fds",
        sql_type: "INTEGER",
        doc: "open file descriptors; NULL (with `error`) when not readable, and NULL for a zombie",
        reads: ProcFiles::FDS,
    },
    Column {
        id: Col::Cmdline,
        name: "cmdline",
        sql_type: "TEXT",
        doc: "JSON array of the argv strings, split as psutil splits them (a trailing empty argument is kept; an argv rewritten with spaces is split on spaces); bytes that are not UTF-8 become U+FFFD, one per invalid sequence; `[]` for kernel threads and zombies",
        reads: ProcFiles::CMDLINE,
    },
    Column {
        id: Col::StartTicks,
        name: "start_ticks",
        sql_type: "INTEGER",
        doc: "process start in clock ticks after boot (field 22 of `stat`): with the pid, the process's identity",
        reads: ProcFiles::empty(),
    },
    Column {
        id: Col::Fingerprint,
        name: "fingerprint",
        sql_type: "TEXT",
        doc: r#"the board owner's fingerprint of this process, `"<boot_id>:<start ticks of pid 1>|<start_ticks>"`, computed exactly as the owner computes the `worker_started_at` it records (either part of the epoch empty when unreadable)"#,
        reads: ProcFiles::empty(),
    },
];

bitflags::bitflags! {
    /// The optional files of a `proc_stats` (`proc_tree`) row, each read only when a column
    /// the query uses names it (so `SELECT alive FROM proc_stats(?)` reads `stat` alone).
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub struct ProcFiles: u32 {
        /// `statm`: rss and vms.
        const MEMORY = 1;
        const CMDLINE = 1 << 1;
        /// `fd/`: the descriptor count.
        const FDS = 1 << 2;
        /// The owner of `/proc/<pid>`.
        const UID = 1 << 3;
    }
}

/// Which optional files the columns in SQLite's usage mask read, as `idx_num` bits.
pub(crate) fn plan_bits(col_used: u64) -> c_int {
    vtab::files_plan(COLUMNS, col_used)
}

/// What the reader is asked for, from a plan's `idx_num`.
pub(crate) fn want_from_plan(idx_num: c_int) -> Want {
    let files: ProcFiles = vtab::files_of(idx_num);
    Want {
        memory: files.contains(ProcFiles::MEMORY),
        cmdline: files.contains(ProcFiles::CMDLINE),
        fds: files.contains(ProcFiles::FDS),
        uid: files.contains(ProcFiles::UID),
    }
}

/// One process's row.
pub(crate) struct Row {
    pub(crate) pid: i64,
    /// `None`: no such process.
    pub(crate) info: Option<ProcInfo>,
    pub(crate) cpu_percent: Option<f64>,
    /// The process's handle and `stat`, kept while this row is (`proc::opened`): the marks of
    /// the same process, read next in the same query, take them.
    pub(crate) _kept: Option<crate::proc::opened::Kept>,
}

impl Row {
    /// Read `pid` (the files in `want`), with its CPU percentage from `sampler`.
    pub(crate) fn read(sampler: &CpuSampler, pid: i32, want: Want) -> Row {
        Row::from_reading(sampler, pid, procinfo::read_some(pid, want))
    }

    /// As [`Row::read`], the process kept for its marks (`proc_stats`).
    pub(crate) fn read_kept(sampler: &CpuSampler, pid: i32, want: Want) -> Row {
        let (reading, kept) = procinfo::read_kept(pid, want);
        Row {
            _kept: kept,
            ..Row::from_reading(sampler, pid, reading)
        }
    }

    pub(crate) fn from_reading(sampler: &CpuSampler, pid: i32, reading: Reading) -> Row {
        match reading {
            Reading::Gone => Row {
                pid: pid.into(),
                info: None,
                cpu_percent: None,
                _kept: None,
            },
            Reading::Found(info) => {
                let cpu_percent = match (info.start_ticks, info.cpu_ticks()) {
                    (Some(start), Some(cpu)) => {
                        Some(sampler.percent(pid, start, cpu, info.start_time_ms()))
                    }
                    _ => None,
                };
                Row {
                    pid: pid.into(),
                    info: Some(info),
                    cpu_percent,
                    _kept: None,
                }
            }
        }
    }
}

impl Col {
    /// This value of one row.
    pub(crate) fn value(self, row: &Row) -> Value {
        let Some(info) = &row.info else {
            return match self {
                Col::Pid => Value::Integer(row.pid),
                Col::Alive => Value::Integer(0),
                Col::Reason => text_value("no such process"),
                _ => Value::Null,
            };
        };
        let hz = procinfo::host().ticks_per_second as f64;
        let int = |v: Option<u64>| {
            v.map_or(Value::Null, |n| {
                Value::Integer(n.min(i64::MAX as u64) as i64)
            })
        };
        let seconds =
            |ticks: Option<u64>| ticks.map_or(Value::Null, |t| Value::Real(t as f64 / hz));
        match self {
            Col::Pid => Value::Integer(row.pid),
            Col::Alive => Value::Integer(if info.is_zombie() { 0 } else { 1 }),
            Col::Reason => {
                if info.is_zombie() {
                    text_value("zombie")
                } else {
                    Value::Null
                }
            }
            Col::Error => info.error.as_deref().map_or(Value::Null, text_value),
            Col::State => info
                .state
                .map_or(Value::Null, |s| text_value(procinfo::state_word(s))),
            Col::Ppid => info.ppid.map_or(Value::Null, |p| Value::Integer(p.into())),
            Col::Uid => info.uid.map_or(Value::Null, |u| Value::Integer(u.into())),
            Col::NumThreads => info.num_threads.map_or(Value::Null, Value::Integer),
            Col::RssBytes => int(info.rss_bytes),
            Col::VmsBytes => int(info.vms_bytes),
            Col::CpuUserS => seconds(info.utime_ticks),
            Col::CpuSystemS => seconds(info.stime_ticks),
            Col::CpuPercent => row.cpu_percent.map_or(Value::Null, Value::Real),
            Col::StartTime => info
                .start_time_ms()
                .map_or(Value::Null, |ms| Value::Real(ms as f64 / 1000.0)),
            Col::NumFds => int(info.num_fds),
            Col::Cmdline => info.cmdline.as_ref().map_or(Value::Null, |argv| {
                serde_json::to_string(argv).map_or(Value::Null, Value::Text)
            }),
            Col::StartTicks => int(info.start_ticks),
            Col::Fingerprint => info
                .start_ticks
                .map_or(Value::Null, |t| Value::Text(procinfo::fingerprint(t))),
        }
    }
}

fn text_value(s: &str) -> Value {
    Value::Text(s.to_owned())
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn every_column_names_its_own_value() {
        vtab::assert_each_id_is_its_name(COLUMNS);
    }

    #[test]
    fn column_usage_decides_which_files_are_read() {
        let bit = |name: &str| 1u64 << COLUMNS.iter().position(|c| c.name == name).unwrap_or(63);
        let want = |cols: &[&str]| {
            want_from_plan(plan_bits(cols.iter().map(|c| bit(c)).fold(0, |a, b| a | b)))
        };
        let none = Want {
            memory: false,
            cmdline: false,
            fds: false,
            uid: false,
        };
        assert_eq!(
            want(&[
                "pid",
                "alive",
                "reason",
                "state",
                "cpu_percent",
                "start_time"
            ]),
            none
        );
        assert_eq!(
            want(&["rss_bytes"]),
            Want {
                memory: true,
                ..none
            }
        );
        assert_eq!(
            want(&["cmdline", "num_fds"]),
            Want {
                cmdline: true,
                fds: true,
                ..none
            }
        );
        assert_eq!(want(&["uid"]), Want { uid: true, ..none });
        assert_eq!(want(&["error"]), Want::ALL);
        assert_eq!(want_from_plan(plan_bits(u64::MAX)), Want::ALL);
    }
}
