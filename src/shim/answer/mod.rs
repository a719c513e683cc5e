//! One function per route: run the route's one query (SQL in `sql/`), shape the JSON.

pub mod boards;
pub mod endings;
pub mod follow;
pub mod log;
pub mod metrics;

use std::io::Write as _;

use rusqlite::Connection;
use rusqlite::types::ValueRef;
use serde_json::Value;

use crate::shim::ApiError;
use crate::shim::board::logs::LogsDir;
use crate::shim::board::pool::query_error;
use crate::shim::sample::Rows;
use crate::shim::sample::history::{History, Point};

/// The plain list's query (`/workers/active`).
pub const WORKERS_ACTIVE_SQL: &str = include_str!("../../../sql/route_workers_active.sql");
/// The live sample's query (`?live=1`, `/metrics`, the history).
pub const WORKERS_LIVE_SQL: &str = include_str!("../../../sql/route_workers_live.sql");
/// The live sample's query of a shim with no board (`serve --no-board`): its user's processes
/// that carry a run's marks, in the rows of [`WORKERS_LIVE_SQL`].
pub const WORKERS_MARKED_SQL: &str = include_str!("../../../sql/route_workers_marked.sql");
/// The lingering sample's query (`/workers/lingering`, `/metrics`).
pub const LINGERING_SQL: &str = include_str!("../../../sql/route_workers_lingering.sql");
const PROCESSES_SQL: &str = include_str!("../../../sql/route_run_processes.sql");
const HISTORY_SQL: &str = include_str!("../../../sql/route_run_history.sql");
const WORKERS_HISTORY_SQL: &str = include_str!("../../../sql/route_workers_history.sql");
/// The live page, one file, no external assets, no build step: `page.html` with the control room's logic (`control.js`, shared with the
/// Hermes Workers tab) inlined where it says so.
pub static PAGE: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    include_str!("page.html").replacen("/* kanban-workers: control.js */", CONTROL_JS, 1)
});

/// The control room's logic, one source for the page and the Workers tab.
pub const CONTROL_JS: &str = include_str!("control.js");
const RUN_SQL: &str = include_str!("../../../sql/route_run.sql");
const INSPECT_SQL: &str = include_str!("../../../sql/route_inspect.sql");

/// The routes that answer with one query over a board.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Read {
    WorkersActive,
    Run(i64),
    Inspect(i64),
    /// `GET /runs/{id}/processes`: the run's processes now (tree, then escaped members).
    Processes(i64),
    /// `GET /runs/{id}/history`: the run's CPU and memory over the history's window.
    History(i64),
    /// `GET /workers/history`: every active worker's history.
    WorkersHistory,
    /// `GET /tasks/{task_id}/log?tail=N`: the owner's log route (the task looked up, then its
    /// log file read).
    TaskLog {
        task_id: String,
        tail: Option<u32>,
    },
    /// `GET /runs/endings?since=<epoch>`: how runs ended, recently (`since` absent: the last
    /// six hours).
    Endings {
        since: Option<i64>,
    },
}

/// The read's answer (JSON, or Prometheus text for `/metrics`), serialized. `logs`: the
/// board's logs folder, for the log route (and `/inspect`, which reads an ended run's exit
/// trailer there when given it); `history`: the board's. The shim answers
/// `?live=1`, `/metrics` and `/workers/lingering` from shared samples instead (see
/// `shim::sample`); here they are taken on `conn` alone.
pub fn handle(
    conn: &Connection,
    read: &Read,
    logs: &dyn Fn() -> Option<LogsDir>,
    history: &History,
) -> Result<Vec<u8>, ApiError> {
    match read {
        Read::WorkersActive => workers_active(conn),
        Read::Run(id) => run(conn, *id),
        Read::Inspect(id) => inspect(conn, *id, logs),
        Read::Processes(id) => processes(conn, *id),
        Read::History(id) => run_history(conn, *id, history),
        Read::WorkersHistory => workers_history(conn, history),
        Read::TaskLog { task_id, tail } => match logs() {
            Some(dir) => log::task_log(conn, task_id, *tail, &dir),
            None => Err(ApiError::new(500, "no logs folder for the board")),
        },
        Read::Endings { since } => endings::endings(conn, *since, logs().as_ref(), history),
    }
}

pub fn to_bytes(v: &Value) -> Vec<u8> {
    serde_json::to_vec(v).unwrap_or_else(|_| b"{\"detail\":\"serialization failed\"}".to_vec())
}

fn json_value(v: ValueRef<'_>) -> Value {
    match v {
        ValueRef::Null => Value::Null,
        ValueRef::Integer(i) => Value::from(i),
        ValueRef::Real(r) => serde_json::Number::from_f64(r).map_or(Value::Null, Value::Number),
        ValueRef::Text(t) | ValueRef::Blob(t) => {
            Value::String(String::from_utf8_lossy(t).into_owned())
        }
    }
}

/// A column holding JSON text (`metadata`, `proc_stats.cmdline`) as JSON; null when empty,
/// not text, or not JSON. Numbers come back as the board's owner (Python's `json`) gives
/// them: integers with all their digits, however many (serde_json's `arbitrary_precision`
/// keeps the text), and other numbers as 64-bit floats.
fn decode_json_text(v: Value) -> Value {
    match v {
        Value::String(text) => match serde_json::from_str(&text) {
            Ok(mut value) => {
                python_numbers(&mut value);
                value
            }
            Err(_) => Value::Null,
        },
        _ => Value::Null,
    }
}

/// Numbers as Python's `json` reads and writes them back: an integer keeps its digits (`-0` is
/// `0`), anything with a fraction or an exponent is a 64-bit float (null beyond its range).
fn python_numbers(v: &mut Value) {
    match v {
        Value::Number(n) => {
            let text = n.as_str();
            if text == "-0" {
                *v = Value::from(0);
            } else if text.bytes().any(|b| matches!(b, b'.' | b'e' | b'E')) {
                *v = n
                    .as_f64()
                    .and_then(serde_json::Number::from_f64)
                    .map_or(Value::Null, Value::Number);
            }
        }
        Value::Array(items) => items.iter_mut().for_each(python_numbers),
        Value::Object(map) => map.values_mut().for_each(python_numbers),
        _ => {}
    }
}

use crate::proc::clock::unix_secs as now_secs;

fn not_found(id: i64) -> ApiError {
    ApiError::new(404, format!("run {id} not found"))
}

/// `GET /workers/active`.
pub fn workers_active(conn: &Connection) -> Result<Vec<u8>, ApiError> {
    workers(conn, WORKERS_ACTIVE_SQL)
}

/// `GET /workers/active?live=1`.
pub fn workers_live(conn: &Connection) -> Result<Vec<u8>, ApiError> {
    workers(conn, WORKERS_LIVE_SQL)
}

/// Columns answered as JSON booleans (0/1 in SQL, null stays null).
const BOOLEANS: &[&str] = &[
    "local",
    "alive",
    "wedged",
    "signalable",
    "may_signal",
    "ended_but_alive",
    "infrastructure",
    "claimer_alive",
];
/// Columns holding JSON text the library wrote (serde_json): copied into the answer as JSON.
const JSON_TEXT: &[&str] = &["cmdline"];

/// How one column is written.
#[derive(Clone, Copy)]
enum Kind {
    Plain,
    Boolean,
    Json,
}

fn kind_of(name: &str) -> Kind {
    if BOOLEANS.contains(&name) {
        Kind::Boolean
    } else if JSON_TEXT.contains(&name) {
        Kind::Json
    } else {
        Kind::Plain
    }
}

/// One value as its column's kind says.
fn write_as(out: &mut Vec<u8>, kind: Kind, v: ValueRef<'_>) {
    match (kind, v) {
        (Kind::Boolean, ValueRef::Integer(i)) => {
            out.extend_from_slice(if i != 0 { b"true" } else { b"false" })
        }
        (Kind::Json, ValueRef::Text(json)) => out.extend_from_slice(json),
        (_, v) => write_value(out, v),
    }
}

/// `{"workers": [...], "count": N, "checked_at": epoch_s}` from `sql` (the plain list or the
/// live one), written straight from the rows: the route whose size grows with the board, so no
/// intermediate JSON tree (the benchmark showed building and freeing one cost several times
/// the query).
pub fn workers(conn: &Connection, sql: &str) -> Result<Vec<u8>, ApiError> {
    rows(conn, sql, b"workers")
}

/// The keys of `names` as written before their values (`"name":`), and how each is written.
fn keys<'a>(names: impl IntoIterator<Item = &'a str>) -> Vec<(Vec<u8>, Kind)> {
    names
        .into_iter()
        .map(|name| {
            let mut key = to_bytes(&Value::from(name));
            key.push(b':');
            (key, kind_of(name))
        })
        .collect()
}

/// One row as an object, `value(i)` its i-th column.
fn write_object<'v>(
    out: &mut Vec<u8>,
    keys: &[(Vec<u8>, Kind)],
    mut value: impl FnMut(usize) -> Result<ValueRef<'v>, ApiError>,
) -> Result<(), ApiError> {
    out.push(b'{');
    for (i, (key, kind)) in keys.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        out.extend_from_slice(key);
        write_as(out, *kind, value(i)?);
    }
    out.push(b'}');
    Ok(())
}

/// The most an answer written from a board's rows may hold, as served (its JSON bytes, each
/// escape counted): a board writer's rows of control characters grow six times when escaped,
/// so the bound is on what is written, checked as it is written (507 past it). The answers
/// being sent share 64 MiB besides (`http::app`).
pub const MAX_ANSWER_BYTES: usize = 64 * 1024 * 1024;

/// The 507 an answer past [`MAX_ANSWER_BYTES`] gets, checked after each row.
fn within_bound(out: &[u8]) -> Result<(), ApiError> {
    if out.len() > MAX_ANSWER_BYTES {
        return Err(ApiError::new(
            507,
            format!(
                "the answer is over {} MiB as JSON; ask for less (one run: /runs/{{id}})",
                MAX_ANSWER_BYTES >> 20
            ),
        ));
    }
    Ok(())
}

/// `{"<list>": [...], "count": N, "checked_at": epoch_s}`: each row of `sql` an object.
fn rows(conn: &Connection, sql: &str, list: &[u8]) -> Result<Vec<u8>, ApiError> {
    let err = |e: rusqlite::Error| query_error(conn, &e);
    let mut stmt = conn.prepare_cached(sql).map_err(err)?;
    let keys = keys(stmt.column_names());
    let mut out = list_head(list, 64);
    let mut rows = stmt.query([]).map_err(err)?;
    let mut count = 0usize;
    while let Some(row) = rows.next().map_err(err)? {
        if count > 0 {
            out.push(b',');
        }
        write_object(&mut out, &keys, |i| row.get_ref(i).map_err(err))?;
        within_bound(&out)?;
        count += 1;
    }
    list_tail(&mut out, count, now_secs());
    Ok(out)
}

/// The same answer from a sample's rows (taken at `checked_at`); 507 past
/// [`MAX_ANSWER_BYTES`].
pub fn rows_json(list: &[u8], rows: &Rows, checked_at: i64) -> Result<Vec<u8>, ApiError> {
    let keys = keys(rows.columns.iter().map(String::as_str));
    let mut out = list_head(list, rows.rows.len());
    for (n, row) in rows.rows.iter().enumerate() {
        if n > 0 {
            out.push(b',');
        }
        let _ = write_object(&mut out, &keys, |i| {
            Ok(row.get(i).map_or(ValueRef::Null, ValueRef::from))
        });
        within_bound(&out)?;
    }
    list_tail(&mut out, rows.rows.len(), checked_at);
    Ok(out)
}

fn list_head(list: &[u8], rows: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(256 + 320 * rows.max(1));
    out.extend_from_slice(b"{\"");
    out.extend_from_slice(list);
    out.extend_from_slice(b"\":[");
    out
}

fn list_tail(out: &mut Vec<u8>, count: usize, checked_at: i64) {
    out.extend_from_slice(format!("],\"count\":{count},\"checked_at\":{checked_at}}}").as_bytes());
}

/// One SQLite value as JSON (writing to a `Vec` cannot fail).
fn write_value(out: &mut Vec<u8>, v: ValueRef<'_>) {
    let _ = match v {
        ValueRef::Null => {
            out.extend_from_slice(b"null");
            Ok(())
        }
        ValueRef::Integer(i) => serde_json::to_writer(&mut *out, &i),
        // serde_json writes a non-finite float as null.
        ValueRef::Real(r) => serde_json::to_writer(&mut *out, &r),
        ValueRef::Text(t) | ValueRef::Blob(t) => {
            serde_json::to_writer(&mut *out, &String::from_utf8_lossy(t))
        }
    };
}

/// `{"run": {the owner's Run fields, then worker_started_at}}` (`owner_runs`: never another
/// column) with `metadata` decoded from JSON text, written straight from the row (numbers as serde_json's `arbitrary_precision` holds them would cost an
/// allocation each in a JSON tree).
pub fn run(conn: &Connection, id: i64) -> Result<Vec<u8>, ApiError> {
    let err = |e: rusqlite::Error| query_error(conn, &e);
    let mut stmt = conn.prepare_cached(RUN_SQL).map_err(err)?;
    let mut rows = stmt.query([id]).map_err(err)?;
    let row = rows.next().map_err(err)?.ok_or_else(|| not_found(id))?;
    // Names after the step: a schema change since the statement was cached (the owner added a
    // column) is seen by SQLite during the step, which prepares the statement again.
    let stmt: &rusqlite::Statement<'_> = row.as_ref();
    let mut out = Vec::with_capacity(512);
    out.extend_from_slice(b"{\"run\":{");
    for i in 0..stmt.column_count() {
        let name = stmt.column_name(i).map_err(err)?;
        if i > 0 {
            out.push(b',');
        }
        write_value(&mut out, ValueRef::Text(name.as_bytes()));
        out.push(b':');
        let value = row.get_ref(i).map_err(err)?;
        if name == "metadata" {
            let decoded = decode_json_text(json_value(value));
            let _ = serde_json::to_writer(&mut out, &decoded);
        } else {
            write_value(&mut out, value);
        }
    }
    out.extend_from_slice(b"}}");
    Ok(out)
}

/// The live stats of the run's worker, or why there are none: the verdict is the query's
/// (`run_verdicts`, in SQL), the body the reference's shape plus what we know better, written
/// straight from the row. An ended run's answer adds how its worker exited where that is
/// known: from its metadata, else (`logs`: the board's logs folder) from the exit trailer of
/// its task's log, which the query says when to read (`exit_log`) and then judges.
pub fn inspect(
    conn: &Connection,
    id: i64,
    logs: &dyn Fn() -> Option<LogsDir>,
) -> Result<Vec<u8>, ApiError> {
    let (out, exit_log) = inspect_with(conn, id, None)?;
    // The logs folder is found only when the query names a log to read (resolving it costs a
    // walk of the kanban root).
    let trailer = match exit_log {
        Some(task_id) => logs().and_then(|dir| log::exit_trailer(&dir, &task_id)),
        None => None,
    };
    match trailer {
        Some(trailer) => Ok(inspect_with(conn, id, Some(trailer))?.0),
        None => Ok(out),
    }
}

/// The answer from the query with the log's trailer (code, modification time) as read, and
/// the task whose log may still tell how the worker exited (`exit_log`).
fn inspect_with(
    conn: &Connection,
    id: i64,
    trailer: Option<(i64, f64)>,
) -> Result<(Vec<u8>, Option<String>), ApiError> {
    let err = |e: rusqlite::Error| query_error(conn, &e);
    let mut stmt = conn.prepare_cached(INSPECT_SQL).map_err(err)?;
    // The query's columns by name, listed once: rusqlite's lookup by name compares the name
    // with every column's, case-insensitively, each time (7% of the handler, BENCHMARKS.md).
    static COLUMNS: std::sync::OnceLock<Vec<String>> = std::sync::OnceLock::new();
    let columns =
        COLUMNS.get_or_init(|| stmt.column_names().into_iter().map(str::to_owned).collect());
    let (code, mtime) = (trailer.map(|t| t.0), trailer.map(|t| t.1));
    let mut rows = stmt
        .query(rusqlite::params![id, code, mtime])
        .map_err(err)?;
    let row = rows.next().map_err(err)?.ok_or_else(|| not_found(id))?;
    let get = |name: &str| match columns.iter().position(|c| c == name) {
        Some(i) => row.get_ref(i).map_err(err),
        None => Err(err(rusqlite::Error::InvalidColumnName(name.to_owned()))),
    };
    let put = |out: &mut Vec<u8>, name: &str| -> Result<(), ApiError> {
        field(out, name, kind_of(name), get(name)?);
        Ok(())
    };
    let mut out = Vec::with_capacity(768);
    out.extend_from_slice(format!("{{\"run_id\":{id},").as_bytes());
    let reason = match get("reason")? {
        ValueRef::Text(reason) => Some(reason),
        _ => None,
    };
    match reason {
        // The reference's answers, as they are (an ended run's exit added where known): the
        // run is over, or never had a pid.
        Some(reason @ (b"run already ended" | b"no worker_pid recorded")) => {
            out.extend_from_slice(b"\"alive\":false,");
            for name in ["exit_code", "exit_kind"] {
                if let value @ (ValueRef::Integer(_) | ValueRef::Text(_)) = get(name)? {
                    field(&mut out, name, Kind::Plain, value);
                }
            }
            finish_reason(&mut out, reason);
        }
        // Another host's worker: nothing was read here.
        Some(reason) if get("local")? == ValueRef::Integer(0) => {
            out.extend_from_slice(b"\"alive\":null,");
            put(&mut out, "local")?;
            put(&mut out, "worker_host")?;
            finish_reason(&mut out, reason);
        }
        Some(reason) => {
            out.extend_from_slice(b"\"alive\":false,");
            field(&mut out, "pid", Kind::Plain, get("worker_pid")?);
            // A zombie has exited but is not reaped yet: say so.
            if matches!(get("status")?, ValueRef::Text(b"zombie")) {
                out.extend_from_slice(b"\"status\":\"zombie\",");
            }
            if reason == b"pid reused" {
                put(&mut out, "local")?;
                put(&mut out, "worker_host")?;
            }
            finish_reason(&mut out, reason);
        }
        None => write_alive(&mut out, &get)?,
    }
    let exit_log = match get("exit_log")? {
        ValueRef::Text(task) => Some(String::from_utf8_lossy(task).into_owned()),
        _ => None,
    };
    Ok((out, exit_log))
}

/// What `/inspect` says of an alive worker after its pid, in this order.
const ALIVE_FIELDS: &[&str] = &[
    "cpu_percent",
    "memory_rss_bytes",
    "memory_vms_bytes",
    "num_threads",
    "num_fds",
    "status",
    "create_time",
    "cmdline",
    "identity",
    "evidence",
    "signalable",
    "local",
    "worker_host",
    "tree_processes",
    "tree_rss_bytes",
    "tree_cpu_percent",
    "heartbeat_age_s",
    "wedged",
    "wedged_reason",
];

/// An alive worker's answer from `"alive":true` on, `get` reading the row's columns by name;
/// the object closed.
fn write_alive<'r>(
    out: &mut Vec<u8>,
    get: &dyn Fn(&str) -> Result<ValueRef<'r>, ApiError>,
) -> Result<(), ApiError> {
    out.extend_from_slice(b"\"alive\":true,");
    field(out, "pid", Kind::Plain, get("worker_pid")?);
    for name in ALIVE_FIELDS {
        field(out, name, kind_of(name), get(name)?);
    }
    if let error @ ValueRef::Text(_) = get("error")? {
        field(out, "error", Kind::Plain, error);
    }
    // A note on the claim's host (renamed since, or the run's machine id says otherwise).
    if let note @ ValueRef::Text(_) = get("host_note")? {
        field(out, "host_note", Kind::Plain, note);
    }
    out.pop();
    out.push(b'}');
    Ok(())
}

/// `"reason":"..."}`: the last key of a not-alive answer.
fn finish_reason(out: &mut Vec<u8>, reason: &[u8]) {
    out.extend_from_slice(b"\"reason\":");
    write_value(out, ValueRef::Text(reason));
    out.push(b'}');
}

/// `"name":value,` (names are ours: plain ASCII, nothing to escape).
fn field(out: &mut Vec<u8>, name: &str, kind: Kind, value: ValueRef<'_>) {
    out.push(b'"');
    out.extend_from_slice(name.as_bytes());
    out.extend_from_slice(b"\":");
    write_as(out, kind, value);
    out.push(b',');
}

/// `GET /runs/{id}/processes`: the run's processes now (its worker's tree, then what escaped
/// it), one query; the board owner's only, the others neither listed nor counted; 404 for an
/// unknown run.
pub fn processes(conn: &Connection, id: i64) -> Result<Vec<u8>, ApiError> {
    let err = |e: rusqlite::Error| query_error(conn, &e);
    let mut stmt = conn.prepare_cached(PROCESSES_SQL).map_err(err)?;
    // The first column is the run's id (a row with a null pid: a run with no process shown).
    let keys = keys(stmt.column_names().into_iter().skip(1));
    let mut rows = stmt.query([id]).map_err(err)?;
    let mut out = format!("{{\"run_id\":{id},\"processes\":[").into_bytes();
    let (mut found, mut count) = (false, 0usize);
    while let Some(row) = rows.next().map_err(err)? {
        found = true;
        if row.get_ref(1).map_err(err)? == ValueRef::Null {
            continue;
        }
        if count > 0 {
            out.push(b',');
        }
        write_object(&mut out, &keys, |i| row.get_ref(i + 1).map_err(err))?;
        within_bound(&out)?;
        count += 1;
    }
    if !found {
        return Err(not_found(id));
    }
    list_tail(&mut out, count, now_secs());
    Ok(out)
}

/// The columns of a history point, as answered.
const POINT_COLUMNS: &str = r#"["t","cpu_percent","rss_bytes","processes"]"#;

fn history_head(out: &mut Vec<u8>, history: &History) {
    out.extend_from_slice(
        format!(
            "\"interval_s\":{},\"window_s\":{},\"columns\":{POINT_COLUMNS},",
            history.interval().as_secs(),
            history.window().as_secs()
        )
        .as_bytes(),
    );
}

/// `[[t, cpu_percent, rss_bytes, processes], ...]`.
fn write_points(out: &mut Vec<u8>, points: &[Point]) {
    out.push(b'[');
    for (i, p) in points.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        let cpu = (f64::from(p.cpu_percent) * 100.0).round() / 100.0;
        let _ = write!(
            out,
            "[{},{},{},{}]",
            p.t,
            serde_json::Value::from(cpu),
            u64::from(p.rss_kib) * 1024,
            p.processes
        );
    }
    out.push(b']');
}

/// `GET /runs/{id}/history`: the run's points, oldest first; 404 for an unknown run.
pub fn run_history(conn: &Connection, id: i64, history: &History) -> Result<Vec<u8>, ApiError> {
    let err = |e: rusqlite::Error| query_error(conn, &e);
    let mut stmt = conn.prepare_cached(HISTORY_SQL).map_err(err)?;
    if !stmt.exists([id]).map_err(err)? {
        return Err(not_found(id));
    }
    let points = history.of(id);
    let mut out = format!("{{\"run_id\":{id},").into_bytes();
    history_head(&mut out, history);
    out.extend_from_slice(b"\"points\":");
    write_points(&mut out, &points);
    out.extend_from_slice(format!(",\"count\":{}}}", points.len()).as_bytes());
    Ok(out)
}

/// The most points a run has in `GET /workers/history` (a card's chart is 300 units wide; at
/// 5,000 workers the answer stays near 20 MB rather than 50). `/runs/{id}/history` has all.
pub const BULK_POINTS: usize = 150;

/// At most `max` of `points`, evenly spaced, the latest always among them.
fn thinned(points: Vec<Point>, max: usize) -> Vec<Point> {
    let step = points.len().div_ceil(max.max(1)).max(1);
    if step == 1 {
        return points;
    }
    let last = points.len() - 1;
    points
        .into_iter()
        .enumerate()
        .filter(|(i, _)| (last - i) % step == 0)
        .map(|(_, p)| p)
        .collect()
}

/// `GET /workers/history`: every active worker's points (at most [`BULK_POINTS`] each,
/// evenly spaced), in the order of the list.
pub fn workers_history(conn: &Connection, history: &History) -> Result<Vec<u8>, ApiError> {
    let err = |e: rusqlite::Error| query_error(conn, &e);
    let mut stmt = conn.prepare_cached(WORKERS_HISTORY_SQL).map_err(err)?;
    let mut rows = stmt.query([]).map_err(err)?;
    let mut out = b"{".to_vec();
    history_head(&mut out, history);
    out.extend_from_slice(b"\"runs\":[");
    let mut count = 0usize;
    while let Some(row) = rows.next().map_err(err)? {
        let id: i64 = row.get(0).map_err(err)?;
        if count > 0 {
            out.push(b',');
        }
        let _ = write!(out, "{{\"run_id\":{id},\"points\":");
        write_points(&mut out, &thinned(history.of(id), BULK_POINTS));
        out.push(b'}');
        count += 1;
    }
    out.extend_from_slice(format!("],\"count\":{count}}}").as_bytes());
    Ok(out)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    /// The control room's logic has one source: the page carries it whole, where its marker
    /// was, and the Workers tab's installed script begins with it.
    #[test]
    fn the_page_and_the_tab_share_one_control_js() {
        assert!(PAGE.contains(CONTROL_JS));
        assert!(!PAGE.contains("/* kanban-workers: control.js */"));
        let tab = crate::shim::hermes::FILES
            .iter()
            .find(|(name, _)| *name == "dashboard/dist/index.js")
            .map(|(_, text)| *text)
            .unwrap_or_default();
        assert!(
            tab.starts_with(CONTROL_JS),
            "the tab's script does not start with control.js"
        );
        for uses in [
            "KWControl.offer",
            "KWControl.verdict",
            "KWControl.sseEvent",
            "KWControl.stopOffer",
            "KWControl.endedButAlive",
        ] {
            assert!(PAGE.contains(uses), "the page does not use {uses}");
        }
        for uses in [
            "C.offer(",
            "C.verdict(",
            "C.sseEvent(",
            "C.polyline(",
            "C.stopOffer(",
            "C.endedButAlive(",
        ] {
            assert!(tab.contains(uses), "the tab does not use {uses}");
        }
    }

    #[test]
    fn thinned_keeps_at_most_max_evenly_with_the_latest() {
        let point = |t| Point {
            t,
            cpu_percent: 0.0,
            rss_kib: 0,
            processes: 1,
        };
        let all: Vec<Point> = (0..450).map(point).collect();
        let few = thinned(all.clone(), 150);
        assert_eq!(few.len(), 150);
        assert_eq!(few.last().map(|p| p.t), Some(449));
        assert!(few.windows(2).all(|w| w[1].t - w[0].t == 3));
        assert_eq!(thinned(all[..100].to_vec(), 150).len(), 100);
        assert_eq!(thinned(all[..151].to_vec(), 150).len(), 76);
        assert!(thinned(Vec::new(), 150).is_empty());
    }
}
