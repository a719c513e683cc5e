//! `proc_stats(pid)`: an eponymous table-valued function over [`crate::procinfo`].
//!
//! One row for a pid >= 1 (alive, zombie or gone), no row for NULL, an SQL error naming the
//! function for anything else. Usable as `proc_stats(?)`, as `proc_stats WHERE pid = ?`
//! (also `pid IN (...)`), and in joins: `... LEFT JOIN proc_stats(w.worker_pid) p`.
//! Every callback is guarded: a panic becomes an SQL error, never an abort of the host.

use std::borrow::Cow;
use std::ffi::{CStr, CString, c_int};
use std::marker::PhantomData;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;

use rusqlite::types::{Value, ValueRef};
use rusqlite::vtab::{
    Context, Filters, IndexConstraintOp, IndexInfo, Module, VTab, VTabConfig, VTabConnection,
    VTabCursor,
};
use rusqlite::{Connection, Error, Result, ffi};

use crate::cpu::CpuSampler;
use crate::procinfo::{self, PID_MAX_LIMIT, ProcInfo, Reading, Want};

pub const NAME: &str = "proc_stats";

/// The values `proc_stats` can give: each column of [`COLUMNS`] names one, so a value is found
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

/// One column of `proc_stats`: which value, name, SQL type, meaning. The single source for the
/// table's declaration, for which value each column position holds, and for the docs check
/// (`tests/docs.rs`).
pub struct Column {
    pub id: Col,
    pub name: &'static str,
    pub sql_type: &'static str,
    pub doc: &'static str,
}

/// The visible columns, in order. The argument is the hidden column `query_pid`.
pub const COLUMNS: &[Column] = &[
    Column {
        id: Col::Pid,
        name: "pid",
        sql_type: "INTEGER",
        doc: "the argument",
    },
    Column {
        id: Col::Alive,
        name: "alive",
        sql_type: "INTEGER",
        doc: "1 if the process exists and is not a zombie, else 0",
    },
    Column {
        id: Col::Reason,
        name: "reason",
        sql_type: "TEXT",
        doc: "why not alive: 'no such process' or 'zombie'; NULL when alive",
    },
    Column {
        id: Col::Error,
        name: "error",
        sql_type: "TEXT",
        doc: "a field could not be read ('access denied' for another user's fds); NULL otherwise",
    },
    Column {
        id: Col::State,
        name: "state",
        sql_type: "TEXT",
        doc: "psutil's status word: running, sleeping, disk-sleep, stopped, tracing-stop, zombie, dead, idle, ...",
    },
    Column {
        id: Col::Ppid,
        name: "ppid",
        sql_type: "INTEGER",
        doc: "parent pid",
    },
    Column {
        id: Col::Uid,
        name: "uid",
        sql_type: "INTEGER",
        doc: "owner of /proc/<pid> (the effective uid)",
    },
    Column {
        id: Col::NumThreads,
        name: "num_threads",
        sql_type: "INTEGER",
        doc: "number of threads",
    },
    Column {
        id: Col::RssBytes,
        name: "rss_bytes",
        sql_type: "INTEGER",
        doc: "resident set size, bytes (statm)",
    },
    Column {
        id: Col::VmsBytes,
        name: "vms_bytes",
        sql_type: "INTEGER",
        doc: "virtual memory size, bytes (statm)",
    },
    Column {
        id: Col::CpuUserS,
        name: "cpu_user_s",
        sql_type: "REAL",
        doc: "cumulative user CPU seconds",
    },
    Column {
        id: Col::CpuSystemS,
        name: "cpu_system_s",
        sql_type: "REAL",
        doc: "cumulative system CPU seconds",
    },
    Column {
        id: Col::CpuPercent,
        name: "cpu_percent",
        sql_type: "REAL",
        doc: "CPU use since this connection's previous sample of the process, or the lifetime average on the first",
    },
    Column {
        id: Col::StartTime,
        name: "start_time",
        sql_type: "REAL",
        doc: "process start, Unix epoch seconds (psutil's create_time)",
    },
    Column {
        id: Col::NumFds,
        name: "num_fds",
        sql_type: "INTEGER",
        doc: "open file descriptors; NULL (with error) when not readable, and for zombies",
    },
    Column {
        id: Col::Cmdline,
        name: "cmdline",
        sql_type: "TEXT",
        doc: "JSON array of the argv strings, split as psutil does; invalid UTF-8 becomes U+FFFD",
    },
    Column {
        id: Col::StartTicks,
        name: "start_ticks",
        sql_type: "INTEGER",
        doc: "process start in clock ticks after boot (field 22 of stat): with the pid, the process's identity",
    },
    Column {
        id: Col::Fingerprint,
        name: "fingerprint",
        sql_type: "TEXT",
        doc: "the board owner's fingerprint of this process, '<boot_id>:<pid 1 start ticks>|<start_ticks>'",
    },
];

/// Index of the hidden argument column, after the visible ones.
const COL_QUERY_PID: c_int = COLUMNS.len() as c_int;

/// `idx_num` bits: the argument is present, and which optional files the query's columns need
/// (from SQLite's column usage mask, so `SELECT alive FROM proc_stats(?)` reads `stat` alone).
pub(crate) const IDX_ARG: c_int = 1;
const IDX_MEMORY: c_int = 2;
const IDX_CMDLINE: c_int = 4;
const IDX_FDS: c_int = 8;
const IDX_UID: c_int = 16;

/// The position of a column in [`COLUMNS`] (and in the table's declaration).
fn position(id: Col) -> Option<usize> {
    COLUMNS.iter().position(|c| c.id == id)
}

/// Which optional files the columns in SQLite's usage mask need (`IDX_*` bits).
pub(crate) fn plan_bits(col_used: u64) -> c_int {
    let used = |id: Col| position(id).is_some_and(|i| col_used & (1u64 << i.min(63)) != 0);
    // `error` may describe any file, and bit 63 stands for every column from 63 on: read all.
    if used(Col::Error) || col_used & (1u64 << 63) != 0 {
        return IDX_MEMORY | IDX_CMDLINE | IDX_FDS | IDX_UID;
    }
    let mut bits = 0;
    if used(Col::RssBytes) || used(Col::VmsBytes) {
        bits |= IDX_MEMORY;
    }
    if used(Col::Cmdline) {
        bits |= IDX_CMDLINE;
    }
    if used(Col::NumFds) {
        bits |= IDX_FDS;
    }
    if used(Col::Uid) {
        bits |= IDX_UID;
    }
    bits
}

pub(crate) fn want_from_plan(idx_num: c_int) -> Want {
    Want {
        memory: idx_num & IDX_MEMORY != 0,
        cmdline: idx_num & IDX_CMDLINE != 0,
        fds: idx_num & IDX_FDS != 0,
        uid: idx_num & IDX_UID != 0,
    }
}

/// Register `proc_stats` on `conn`; CPU samples are kept in `sampler`.
pub fn register(conn: &Connection, sampler: Arc<CpuSampler>) -> Result<()> {
    const MODULE: Module<ProcStatsTab> = Module::eponymous_only_module();
    conn.create_module(c"proc_stats", &MODULE, Some(sampler))
}

fn declaration() -> Result<CString> {
    declaration_with(NAME, "", "query_pid")
}

/// `CREATE TABLE x(<COLUMNS>, <extra>, <hidden> HIDDEN)` for function `name`.
pub(crate) fn declaration_with(name: &str, extra: &str, hidden: &str) -> Result<CString> {
    let mut sql = String::from("CREATE TABLE x(");
    for c in COLUMNS {
        sql.push_str(c.name);
        sql.push(' ');
        sql.push_str(c.sql_type);
        sql.push_str(", ");
    }
    sql.push_str(extra);
    sql.push_str(hidden);
    sql.push_str(" HIDDEN)");
    CString::new(sql).map_err(|e| Error::ModuleError(format!("{name}: {e}")))
}

/// The constraint that gives a function its argument: the first usable `=` on a column for
/// which `is_argument` holds; and whether such a constraint exists but is not usable yet (the
/// value comes from a table not yet scanned: SQLite must try another order).
pub(crate) fn argument_constraint(
    info: &IndexInfo,
    is_argument: impl Fn(c_int) -> bool,
) -> (Option<usize>, bool) {
    let mut chosen = None;
    let mut unusable = false;
    for (i, c) in info.constraints().enumerate() {
        if !is_argument(c.column()) || c.operator() != IndexConstraintOp::SQLITE_INDEX_CONSTRAINT_EQ
        {
            continue;
        }
        if !c.is_usable() {
            unusable = true;
        } else if chosen.is_none() {
            chosen = Some(i);
        }
    }
    (chosen, unusable)
}

/// Run a callback, turning a panic into an SQL error.
fn guarded<T>(what: &str, f: impl FnOnce() -> Result<T>) -> Result<T> {
    guarded_named(NAME, what, f)
}

/// As [`guarded`], for function `name`.
pub(crate) fn guarded_named<T>(name: &str, what: &str, f: impl FnOnce() -> Result<T>) -> Result<T> {
    catch_unwind(AssertUnwindSafe(f)).unwrap_or_else(|_| {
        Err(Error::ModuleError(format!(
            "{name}: internal error in {what}"
        )))
    })
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
            let (chosen, unusable) = argument_constraint(info, |col| {
                col == COL_QUERY_PID || usize::try_from(col).ok() == position(Col::Pid)
            });
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
                // The pid comes from a table not yet scanned: ask SQLite for another order.
                None if unusable => Ok(false),
                None => {
                    info.set_idx_num(0);
                    info.set_estimated_cost(1e12);
                    Ok(true)
                }
            }
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

/// One process's row.
pub(crate) struct Row {
    pub(crate) pid: i64,
    /// `None`: no such process.
    pub(crate) info: Option<ProcInfo>,
    pub(crate) cpu_percent: Option<f64>,
}

impl Row {
    /// Read `pid` (the files in `want`), with its CPU percentage from `sampler`.
    pub(crate) fn read(sampler: &CpuSampler, pid: i32, want: Want) -> Row {
        Row::from_reading(sampler, pid, procinfo::read_some(pid, want))
    }

    pub(crate) fn from_reading(sampler: &CpuSampler, pid: i32, reading: Reading) -> Row {
        match reading {
            Reading::Gone => Row {
                pid: pid.into(),
                info: None,
                cpu_percent: None,
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
                }
            }
        }
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

/// Validate the argument: `Ok(None)` for NULL (no row), an error naming the function for
/// anything that is not an integer in 1..=PID_MAX_LIMIT.
pub fn parse_pid(value: ValueRef<'_>) -> std::result::Result<Option<i32>, String> {
    parse_pid_for(NAME, value)
}

/// As [`parse_pid`], the errors naming function `name`.
pub fn parse_pid_for(name: &str, value: ValueRef<'_>) -> std::result::Result<Option<i32>, String> {
    let n = match value {
        ValueRef::Null => return Ok(None),
        ValueRef::Integer(i) => i,
        ValueRef::Text(t) => {
            let text = String::from_utf8_lossy(t);
            match text.trim().parse::<i64>() {
                Ok(i) => i,
                Err(_) => {
                    let shown: String = text.chars().take(40).collect();
                    return Err(format!(
                        "{name}: pid must be an integer, got text '{shown}'"
                    ));
                }
            }
        }
        ValueRef::Real(r) => return Err(format!("{name}: pid must be an integer, got real {r}")),
        ValueRef::Blob(_) => return Err(format!("{name}: pid must be an integer, got a blob")),
    };
    if !(1..=PID_MAX_LIMIT).contains(&n) {
        return Err(format!(
            "{name}: pid {n} is out of range (1 to {PID_MAX_LIMIT})"
        ));
    }
    // In range, so it fits in an i32.
    i32::try_from(n)
        .map(Some)
        .map_err(|_| format!("{name}: pid {n} is out of range"))
}

impl ProcStatsCursor<'_> {
    fn load(&mut self, args: &Filters<'_>, want: Want) -> Result<()> {
        self.row = None;
        if args.is_empty() {
            return Err(Error::ModuleError(format!(
                "{NAME}: a pid argument is required, as in SELECT * FROM {NAME}(1234)"
            )));
        }
        let value: Value = args.get(0)?;
        let pid = match parse_pid(ValueRef::from(&value)) {
            Ok(Some(pid)) => pid,
            Ok(None) => return Ok(()),
            Err(message) => return Err(Error::ModuleError(message)),
        };
        let row = Row::read(&self.sampler, pid, want);
        self.row = Some(row);
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

impl Col {
    /// This value of one row.
    pub(crate) fn value(self, row: &Row) -> Value {
        let Some(info) = &row.info else {
            return match self {
                Col::Pid => Value::Integer(row.pid),
                Col::Alive => Value::Integer(0),
                Col::Reason => text("no such process"),
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
                    text("zombie")
                } else {
                    Value::Null
                }
            }
            Col::Error => info.error.as_deref().map_or(Value::Null, text),
            Col::State => info
                .state
                .map_or(Value::Null, |s| text(procinfo::state_word(s))),
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

fn text(s: &str) -> Value {
    Value::Text(s.to_owned())
}

// SAFETY: `ProcStatsCursor` is `repr(C)` with `sqlite3_vtab_cursor` as its first field, as
// rusqlite's `VTabCursor` requires.
unsafe impl VTabCursor for ProcStatsCursor<'_> {
    fn filter(&mut self, idx_num: c_int, _idx_str: Option<&str>, args: &Filters<'_>) -> Result<()> {
        guarded("filter", || self.load(args, want_from_plan(idx_num)))
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

    #[test]
    fn every_column_names_its_own_value() {
        for (i, c) in COLUMNS.iter().enumerate() {
            assert_eq!(position(c.id), Some(i), "{} is declared twice", c.name);
            // The variant's name is the column's name in CamelCase.
            let camel: String = c
                .name
                .split('_')
                .map(|w| w[..1].to_uppercase() + &w[1..])
                .collect();
            assert_eq!(format!("{:?}", c.id), camel);
        }
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

    #[test]
    fn parse_pid_accepts_integers_in_range_and_names_the_problem_otherwise() {
        assert_eq!(parse_pid(ValueRef::Null), Ok(None));
        assert_eq!(parse_pid(ValueRef::Integer(1)), Ok(Some(1)));
        assert_eq!(parse_pid(ValueRef::Text(b" 42 ")), Ok(Some(42)));
        assert_eq!(
            parse_pid(ValueRef::Integer(PID_MAX_LIMIT)),
            Ok(Some(4_194_304))
        );
        for (v, needle) in [
            (ValueRef::Integer(0), "out of range"),
            (ValueRef::Integer(-1), "out of range"),
            (ValueRef::Integer(PID_MAX_LIMIT + 1), "out of range"),
            (ValueRef::Integer(i64::MAX), "out of range"),
            (ValueRef::Text(b"abc"), "got text 'abc'"),
            (ValueRef::Real(1.5), "got real 1.5"),
            (ValueRef::Blob(b"\x01"), "got a blob"),
        ] {
            let err = parse_pid(v).err().unwrap_or_default();
            assert!(
                err.starts_with("proc_stats: ") && err.contains(needle),
                "{err}"
            );
        }
    }
}
