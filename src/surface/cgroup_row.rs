//! A cgroup's row as `proc_cgroup` and `proc_scope` give it: the values either holds (one enum,
//! so a value is found by what it is), the meter columns both have (a process's own cgroup's,
//! or the run's scope's), which files the query's columns need, and each column's value.

use std::ffi::c_int;

use rusqlite::types::Value;

use crate::proc::cgroup::files::{Limit, Pressure, Stall};
use crate::proc::cgroup::{Meters, WantMeters};
use crate::surface::vtab::{self, Column};

/// The values a `proc_cgroup` or `proc_scope` row holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CgroupCol {
    Pid,
    Evidence,
    Refused,
    Scope,
    Cgroup,
    ScopeUid,
    Members,
    CpuUserS,
    CpuSystemS,
    CpuSomeAvg10,
    CpuSomeTotalUs,
    CpuFullAvg10,
    CpuFullTotalUs,
    MemorySomeAvg10,
    MemorySomeTotalUs,
    MemoryFullAvg10,
    MemoryFullTotalUs,
    IoSomeAvg10,
    IoSomeTotalUs,
    IoFullAvg10,
    IoFullTotalUs,
    Processes,
    MemoryCurrent,
    MemoryPeak,
    MemoryMax,
    OomKills,
    Frozen,
    Populated,
    Error,
}

/// One column: `(id, name, type, doc, the files it reads)`, written as a [`Column`] (used by
/// [`with_meters`], and by each function for its own columns, which read no meter file).
macro_rules! meter {
    ($id:ident, $name:literal, $ty:literal, $doc:literal, $reads:expr) => {
        Column {
            id: CgroupCol::$id,
            name: $name,
            sql_type: $ty,
            doc: $doc,
            reads: $reads,
        }
    };
    // A column of the function's own, read from no meter file.
    ($id:ident, $name:literal, $ty:literal, $doc:literal $(,)?) => {
        meter!($id, $name, $ty, $doc, MeterFiles::empty())
    };
}

/// A function's columns: its own first, then the meters, then `error`.
macro_rules! with_meters {
    ($($head:expr),* $(,)?) => {
        &[
            $($head,)*
            meter!(CpuUserS, "cpu_user_s", "REAL", "CPU seconds in user mode of the cgroup's processes and its sub-cgroups', those that ended included (`cpu.stat` user_usec)", MeterFiles::CPU),
            meter!(CpuSystemS, "cpu_system_s", "REAL", "CPU seconds in kernel mode, the same way (`cpu.stat` system_usec)", MeterFiles::CPU),
            meter!(CpuSomeAvg10, "cpu_some_avg10", "REAL", "percent of the last 10 s in which some of its processes waited for a CPU (`cpu.pressure`)", MeterFiles::CPU_PSI),
            meter!(CpuSomeTotalUs, "cpu_some_total_us", "INTEGER", "microseconds in which some of its processes waited for a CPU, in all", MeterFiles::CPU_PSI),
            meter!(CpuFullAvg10, "cpu_full_avg10", "REAL", "percent of the last 10 s in which all of its runnable processes waited for a CPU", MeterFiles::CPU_PSI),
            meter!(CpuFullTotalUs, "cpu_full_total_us", "INTEGER", "microseconds in which all of them waited, in all", MeterFiles::CPU_PSI),
            meter!(MemorySomeAvg10, "memory_some_avg10", "REAL", "percent of the last 10 s in which some of its processes stalled on memory (reclaim, swap-in: `memory.pressure`)", MeterFiles::MEMORY_PSI),
            meter!(MemorySomeTotalUs, "memory_some_total_us", "INTEGER", "microseconds in which some stalled on memory, in all", MeterFiles::MEMORY_PSI),
            meter!(MemoryFullAvg10, "memory_full_avg10", "REAL", "percent of the last 10 s in which all of them stalled on memory (thrashing)", MeterFiles::MEMORY_PSI),
            meter!(MemoryFullTotalUs, "memory_full_total_us", "INTEGER", "microseconds in which all stalled on memory, in all", MeterFiles::MEMORY_PSI),
            meter!(IoSomeAvg10, "io_some_avg10", "REAL", "percent of the last 10 s in which some of its processes waited for I/O (`io.pressure`)", MeterFiles::IO_PSI),
            meter!(IoSomeTotalUs, "io_some_total_us", "INTEGER", "microseconds in which some waited for I/O, in all", MeterFiles::IO_PSI),
            meter!(IoFullAvg10, "io_full_avg10", "REAL", "percent of the last 10 s in which all of them waited for I/O", MeterFiles::IO_PSI),
            meter!(IoFullTotalUs, "io_full_total_us", "INTEGER", "microseconds in which all waited for I/O, in all", MeterFiles::IO_PSI),
            meter!(Processes, "processes", "INTEGER", "live processes in the cgroup and its sub-cgroups (zombies are not counted)", MeterFiles::PROCESSES),
            meter!(MemoryCurrent, "memory_current", "INTEGER", "bytes of memory in use by the cgroup and its sub-cgroups (`memory.current`); NULL without the memory controller", MeterFiles::MEMORY),
            meter!(MemoryPeak, "memory_peak", "INTEGER", "the most bytes ever in use (`memory.peak`, kernel 5.19 on); NULL without the memory controller", MeterFiles::MEMORY),
            meter!(MemoryMax, "memory_max", "INTEGER", "its memory limit in bytes (`memory.max`); NULL when unlimited (`max`) or without the memory controller (then `memory_current` is NULL too)", MeterFiles::MEMORY),
            meter!(OomKills, "oom_kills", "INTEGER", "processes of the cgroup and its sub-cgroups the kernel's OOM killer killed (`memory.events` oom_kill); NULL without the memory controller", MeterFiles::MEMORY),
            meter!(Frozen, "frozen", "INTEGER", "1 when the cgroup is frozen (`cgroup.events`; `cgroup.freeze` asked it and the kernel has stopped every process), else 0; NULL for the root cgroup", MeterFiles::EVENTS),
            meter!(Populated, "populated", "INTEGER", "1 when the cgroup or a sub-cgroup has a live process (`cgroup.events`), else 0; NULL for the root cgroup", MeterFiles::EVENTS),
            meter!(Error, "error", "TEXT", "the first file that could not be read or parsed, with why (a file missing because a controller is not enabled is not an error: its columns are NULL); NULL otherwise", MeterFiles::all()),
        ]
    };
}
pub(crate) use {meter, with_meters};

/// A row of either function.
#[derive(Debug, Clone, Default)]
pub struct CgroupRow {
    pub pid: i64,
    pub evidence: Option<&'static str>,
    pub refused: Option<String>,
    pub scope: Option<String>,
    pub cgroup: Option<String>,
    pub scope_uid: Option<u32>,
    /// The members' pids, as a JSON array.
    pub members: Option<String>,
    pub meters: Meters,
    pub error: Option<String>,
}

bitflags::bitflags! {
    /// The files of a cgroup's meters, each read only when a column the query uses names it.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub struct MeterFiles: u32 {
        /// `cpu.stat`.
        const CPU = 1;
        const CPU_PSI = 1 << 1;
        const MEMORY_PSI = 1 << 2;
        const IO_PSI = 1 << 3;
        /// `cgroup.procs`, its own and its sub-cgroups'.
        const PROCESSES = 1 << 4;
        /// `memory.current`, `memory.peak`, `memory.max`, `memory.events`.
        const MEMORY = 1 << 5;
        /// `cgroup.events`.
        const EVENTS = 1 << 6;
    }
}

/// Which files the columns in SQLite's usage mask read, for a function with `columns`.
pub(crate) fn plan_bits(columns: &[Column<CgroupCol, MeterFiles>], col_used: u64) -> c_int {
    vtab::files_plan(columns, col_used)
}

/// The files a plan's `idx_num` asks for.
pub(crate) fn want_from_plan(idx_num: c_int) -> WantMeters {
    let files: MeterFiles = vtab::files_of(idx_num);
    let has = |f: MeterFiles| files.contains(f);
    WantMeters {
        cpu: has(MeterFiles::CPU),
        cpu_pressure: has(MeterFiles::CPU_PSI),
        memory_pressure: has(MeterFiles::MEMORY_PSI),
        io_pressure: has(MeterFiles::IO_PSI),
        processes: has(MeterFiles::PROCESSES),
        memory: has(MeterFiles::MEMORY),
        events: has(MeterFiles::EVENTS),
    }
}

fn int(v: Option<u64>) -> Value {
    v.map_or(Value::Null, |n| {
        Value::Integer(i64::try_from(n).unwrap_or(i64::MAX))
    })
}

fn real(v: Option<f64>) -> Value {
    v.map_or(Value::Null, Value::Real)
}

fn text(v: &Option<String>) -> Value {
    v.clone().map_or(Value::Null, Value::Text)
}

fn seconds(usec: Option<u64>) -> Value {
    real(usec.map(|u| u as f64 / 1e6))
}

/// A pressure file's `some` (or `full`) line.
fn stall(p: &Option<Pressure>, full: bool) -> Option<Stall> {
    p.as_ref()
        .and_then(|p| if full { p.full } else { Some(p.some) })
}

impl CgroupCol {
    /// This column's value in `row`.
    pub fn value(self, row: &CgroupRow) -> Value {
        use CgroupCol as C;
        let m = &row.meters;
        let memory = m.memory.as_ref();
        let events = m.events.as_ref();
        let psi = |p: &Option<Pressure>, full: bool, total: bool| {
            let s = stall(p, full);
            if total {
                int(s.map(|s| s.total_us))
            } else {
                real(s.map(|s| s.avg10))
            }
        };
        match self {
            C::Pid => Value::Integer(row.pid),
            C::Evidence => row.evidence.map_or(Value::Null, |e| Value::Text(e.into())),
            C::Refused => text(&row.refused),
            C::Scope => text(&row.scope),
            C::Cgroup => text(&row.cgroup),
            C::ScopeUid => int(row.scope_uid.map(u64::from)),
            C::Members => text(&row.members),
            C::CpuUserS => seconds(m.cpu.map(|c| c.user_usec)),
            C::CpuSystemS => seconds(m.cpu.map(|c| c.system_usec)),
            C::CpuSomeAvg10 => psi(&m.cpu_pressure, false, false),
            C::CpuSomeTotalUs => psi(&m.cpu_pressure, false, true),
            C::CpuFullAvg10 => psi(&m.cpu_pressure, true, false),
            C::CpuFullTotalUs => psi(&m.cpu_pressure, true, true),
            C::MemorySomeAvg10 => psi(&m.memory_pressure, false, false),
            C::MemorySomeTotalUs => psi(&m.memory_pressure, false, true),
            C::MemoryFullAvg10 => psi(&m.memory_pressure, true, false),
            C::MemoryFullTotalUs => psi(&m.memory_pressure, true, true),
            C::IoSomeAvg10 => psi(&m.io_pressure, false, false),
            C::IoSomeTotalUs => psi(&m.io_pressure, false, true),
            C::IoFullAvg10 => psi(&m.io_pressure, true, false),
            C::IoFullTotalUs => psi(&m.io_pressure, true, true),
            C::Processes => int(m.processes),
            C::MemoryCurrent => int(memory.map(|x| x.current)),
            C::MemoryPeak => int(memory.and_then(|x| x.peak)),
            C::MemoryMax => int(memory.and_then(|x| match x.max {
                Some(Limit::Value(v)) => Some(v),
                _ => None,
            })),
            C::OomKills => int(memory.and_then(|x| x.events).and_then(|e| e.oom_kill)),
            C::Frozen => int(events.and_then(|e| e.frozen).map(u64::from)),
            C::Populated => int(events.map(|e| u64::from(e.populated))),
            C::Error => text(&row.error),
        }
    }
}
