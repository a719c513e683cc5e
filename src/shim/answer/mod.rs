//! One function per route: run the route's one query (SQL in `sql/`), shape the JSON.

pub(crate) mod boards;
pub(crate) mod endings;
pub(crate) mod follow;
pub(crate) mod json;
pub(crate) mod log;
pub mod metrics;
pub(crate) mod sql;

use std::sync::atomic::AtomicUsize;
use std::sync::atomic::Ordering::Relaxed;

use rusqlite::Connection;
use rusqlite::types::ValueRef;
use serde::ser::{SerializeMap as _, SerializeSeq as _};
use serde::{Serialize, Serializer};
use serde_json::Value;

use self::json::{Cell, Kind};
use crate::shim::ApiError;
use crate::shim::board::logs::LogsDir;
use crate::shim::board::pool::query_error;
use crate::shim::sample::Rows;
use crate::shim::sample::history::{History, Point};

/// The plain list's query (`/workers/active`).
pub(crate) static WORKERS_ACTIVE_SQL: std::sync::LazyLock<String> =
    sql::sql_file!("route_workers_active.sql");
/// The live sample's query (`?live=1`, `/metrics`, the history).
pub static WORKERS_LIVE_SQL: std::sync::LazyLock<String> = sql::sql_file!("route_workers_live.sql");
/// The live sample's query of a shim with no board (`serve --no-board`): its user's processes
/// that carry a run's marks, in the rows of [`WORKERS_LIVE_SQL`].
pub(crate) static WORKERS_MARKED_SQL: std::sync::LazyLock<String> =
    sql::sql_file!("route_workers_marked.sql");
/// The lingering sample's query (`/workers/lingering`, `/metrics`).
pub(crate) static LINGERING_SQL: std::sync::LazyLock<String> =
    sql::sql_file!("route_workers_lingering.sql");
static PROCESSES_SQL: std::sync::LazyLock<String> = sql::sql_file!("route_run_processes.sql");
static HISTORY_SQL: std::sync::LazyLock<String> = sql::sql_file!("route_run_history.sql");
static WORKERS_HISTORY_SQL: std::sync::LazyLock<String> =
    sql::sql_file!("route_workers_history.sql");
/// The live page, one file, no external assets, no build step: `page.html` with the control room's logic (`control.js`, shared with the
/// Hermes Workers tab) inlined where it says so.
pub static PAGE: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    include_str!("page.html").replacen("/* kanban-workers: control.js */", CONTROL_JS, 1)
});

/// The control room's logic, one source for the page and the Workers tab.
pub(crate) const CONTROL_JS: &str = include_str!("control.js");
static RUN_SQL: std::sync::LazyLock<String> = sql::sql_file!("route_run.sql");
static INSPECT_SQL: std::sync::LazyLock<String> = sql::sql_file!("route_inspect.sql");

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
pub(crate) fn handle(
    conn: &Connection,
    read: &Read,
    logs: &dyn Fn() -> Option<LogsDir>,
    history: &History,
) -> Result<Vec<u8>, ApiError> {
    match read {
        Read::WorkersActive => workers_active(conn),
        Read::Run(id) => run(conn, *id),
        Read::Inspect(id) => inspect(conn, *id, logs, history),
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

pub(crate) fn to_bytes(v: &Value) -> Vec<u8> {
    serde_json::to_vec(v).unwrap_or_else(|_| b"{\"detail\":\"serialization failed\"}".to_vec())
}

use crate::proc::clock::unix_secs as now_secs;

fn not_found(id: i64) -> ApiError {
    ApiError::new(404, format!("run {id} not found"))
}

/// `GET /workers/active`.
pub fn workers_active(conn: &Connection) -> Result<Vec<u8>, ApiError> {
    workers(conn, &WORKERS_ACTIVE_SQL)
}

/// `{"workers": [...], "count": N, "checked_at": epoch_s}` from `sql` (the plain list or the
/// live one), written from the rows as they are stepped through: the route whose size grows
/// with the board.
pub fn workers(conn: &Connection, sql: &str) -> Result<Vec<u8>, ApiError> {
    let err = |e: rusqlite::Error| query_error(conn, &e);
    let mut stmt = conn.prepare_cached(sql).map_err(err)?;
    let keys = json::keys(stmt.column_names(), 0);
    let failed = json::Failed::default();
    let rows = json::Streamed::new(stmt.query([]).map_err(err)?, &keys, &err, &failed);
    let answer = json::List {
        before: &[],
        name: "workers",
        rows: &rows,
        after: &[("checked_at", Cell::int(now_secs()))],
    };
    // Room for the last answer's size: a board's list is about as long as it was a moment
    // ago, and growing the buffer copies it each time it doubles (1% of the route).
    static LAST_SIZE: AtomicUsize = AtomicUsize::new(4096);
    let out = json::write(&answer, LAST_SIZE.load(Relaxed), Some(&failed))?;
    LAST_SIZE.store(out.len().clamp(4096, 1 << 20), Relaxed);
    Ok(out)
}

/// The same answer from a sample's rows (taken at `checked_at`), the list named `list`; 507
/// past `json::MAX_ANSWER_BYTES`.
pub fn rows_json(list: &[u8], rows: &Rows, checked_at: i64) -> Result<Vec<u8>, ApiError> {
    let sampled = json::Sampled(vec![json::Sample {
        board: None,
        keys: json::keys(rows.columns.iter().map(String::as_str), 0),
        rows: &rows.rows,
    }]);
    let answer = json::List {
        before: &[],
        name: &String::from_utf8_lossy(list),
        rows: &sampled,
        after: &[("checked_at", Cell::int(checked_at))],
    };
    json::write(&answer, 256 + 320 * rows.rows.len(), None)
}

/// `{"run": {the owner's Run fields, then worker_started_at}}` (`owner_runs`: never another
/// column), `metadata` decoded as the owner decodes it, written from the row.
pub fn run(conn: &Connection, id: i64) -> Result<Vec<u8>, ApiError> {
    let err = |e: rusqlite::Error| query_error(conn, &e);
    let mut stmt = conn.prepare_cached(&RUN_SQL).map_err(err)?;
    let mut rows = stmt.query([id]).map_err(err)?;
    let row = rows.next().map_err(err)?.ok_or_else(|| not_found(id))?;
    // Names after the step: a schema change since the statement was cached (the owner added a
    // column) is seen by SQLite during the step, which prepares the statement again.
    let stmt: &rusqlite::Statement<'_> = row.as_ref();
    let mut fields = Vec::with_capacity(stmt.column_count());
    for i in 0..stmt.column_count() {
        let name = stmt.column_name(i).map_err(err)?;
        let kind = match name {
            "metadata" => Kind::OwnerJson,
            _ => Kind::Plain,
        };
        fields.push((name, Cell(kind, row.get_ref(i).map_err(err)?)));
    }
    json::write(&json::Named("run", json::Fields(&fields)), 512, None)
}

/// The live stats of the run's worker, or why there are none: the verdict is the query's
/// (`run_verdicts`, in SQL), the body the reference's shape plus what we know better, written
/// from the row. An ended run's answer adds how its worker exited where that is known: from
/// its metadata, else (`logs`: the board's logs folder) from the exit trailer of its task's
/// log, which the query says when to read (`exit_log`) and then judges.
pub fn inspect(
    conn: &Connection,
    id: i64,
    logs: &dyn Fn() -> Option<LogsDir>,
    history: &History,
) -> Result<Vec<u8>, ApiError> {
    // The OOM kills this shim saw in the run's scope (an ended run's answer says them).
    let oom = history.oom_kills(id).filter(|n| *n > 0);
    let (out, exit_log) = inspect_with(conn, id, None, oom)?;
    // The logs folder is found only when the query names a log to read (resolving it costs a
    // walk of the kanban root).
    let trailer = match exit_log {
        Some(task_id) => logs().and_then(|dir| log::exit_trailer(&dir, &task_id)),
        None => None,
    };
    match trailer {
        Some(trailer) => Ok(inspect_with(conn, id, Some(trailer), oom)?.0),
        None => Ok(out),
    }
}

/// A row's column by name, or the query's error.
type Get<'g, 'r> = dyn Fn(&str) -> Result<ValueRef<'r>, ApiError> + 'g;

/// An answer's fields, in order.
type Fields<'r> = Vec<(&'static str, Cell<'r>)>;

/// The answer from the query with the log's trailer (code, modification time) as read, and
/// the task whose log may still tell how the worker exited (`exit_log`); `oom`: the OOM
/// kills seen in the run's scope.
fn inspect_with(
    conn: &Connection,
    id: i64,
    trailer: Option<(i64, f64)>,
    oom: Option<i64>,
) -> Result<(Vec<u8>, Option<String>), ApiError> {
    let err = |e: rusqlite::Error| query_error(conn, &e);
    let mut stmt = conn.prepare_cached(&INSPECT_SQL).map_err(err)?;
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
    // Looked for from the column after the last one found: a live worker's fields are asked
    // in the query's order, so each is found at the first look.
    let next = std::cell::Cell::new(0);
    let get = |name: &str| {
        let n = columns.len();
        let from = next.get().min(n);
        let found = (from..n).chain(0..from).find(|&i| columns[i] == name);
        match found {
            Some(i) => {
                next.set(i + 1);
                row.get_ref(i).map_err(err)
            }
            None => Err(err(rusqlite::Error::InvalidColumnName(name.to_owned()))),
        }
    };
    let mut fields: Fields<'_> = Vec::with_capacity(ALIVE_FIELDS.len() + 5);
    fields.push(("run_id", Cell::int(id)));
    match get("reason")? {
        ValueRef::Text(reason) => not_alive_fields(&mut fields, reason, &get, oom)?,
        _ => alive_fields(&mut fields, &get)?,
    }
    let out = json::write(&json::Fields(&fields), 768, None)?;
    let exit_log = match get("exit_log")? {
        ValueRef::Text(task) => Some(String::from_utf8_lossy(task).into_owned()),
        _ => None,
    };
    Ok((out, exit_log))
}

/// Why the worker is not answered alive, after `run_id`: the reference's keys, and what we
/// know better.
fn not_alive_fields<'r>(
    fields: &mut Fields<'r>,
    reason: &'r [u8],
    get: &Get<'_, 'r>,
    oom: Option<i64>,
) -> Result<(), ApiError> {
    let column =
        |name: &'static str| Ok::<_, ApiError>((name, Cell(json::kind_of(name), get(name)?)));
    match reason {
        // The reference's answers, as they are (an ended run's exit added where known): the
        // run is over, or never had a pid.
        b"run already ended" | b"no worker_pid recorded" => {
            fields.push(("alive", Cell::boolean(false)));
            for name in ["exit_code", "exit_kind"] {
                if let value @ (ValueRef::Integer(_) | ValueRef::Text(_)) = get(name)? {
                    fields.push((name, Cell::plain(value)));
                }
            }
            // The kernel's OOM killer ended processes of its scope while it ran.
            if let Some(n) = oom {
                fields.push(("oom_kills", Cell::int(n)));
            }
        }
        // Another host's worker: nothing was read here.
        _ if get("local")? == ValueRef::Integer(0) => {
            fields.push(("alive", Cell::plain(ValueRef::Null)));
            fields.extend([column("local")?, column("worker_host")?]);
        }
        _ => {
            fields.push(("alive", Cell::boolean(false)));
            fields.push(("pid", Cell::plain(get("worker_pid")?)));
            // A zombie has exited but is not reaped yet: say so.
            if matches!(get("status")?, ValueRef::Text(b"zombie")) {
                fields.push(("status", Cell::text("zombie")));
            }
            if reason == b"pid reused" {
                fields.extend([column("local")?, column("worker_host")?]);
            }
        }
    }
    fields.push(("reason", Cell::plain(ValueRef::Text(reason))));
    Ok(())
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

/// An alive worker's fields after `run_id`, `get` reading the row's columns by name.
fn alive_fields<'r>(fields: &mut Fields<'r>, get: &Get<'_, 'r>) -> Result<(), ApiError> {
    fields.push(("alive", Cell::boolean(true)));
    fields.push(("pid", Cell::plain(get("worker_pid")?)));
    for name in ALIVE_FIELDS {
        fields.push((name, Cell(json::kind_of(name), get(name)?)));
    }
    if let error @ ValueRef::Text(_) = get("error")? {
        fields.push(("error", Cell::plain(error)));
    }
    // A note on the claim's host (renamed since, or the run's machine id says otherwise).
    if let note @ ValueRef::Text(_) = get("host_note")? {
        fields.push(("host_note", Cell::plain(note)));
    }
    Ok(())
}

/// `GET /runs/{id}/processes`: the run's processes now (its worker's tree, then what escaped
/// it), one query; the board owner's only, the others neither listed nor counted; 404 for an
/// unknown run.
pub fn processes(conn: &Connection, id: i64) -> Result<Vec<u8>, ApiError> {
    let err = |e: rusqlite::Error| query_error(conn, &e);
    let mut stmt = conn.prepare_cached(&PROCESSES_SQL).map_err(err)?;
    // The first column is the run's id (a row with a null pid: a run with no process shown).
    let keys = json::keys(stmt.column_names().into_iter().skip(1), 1);
    let failed = json::Failed::default();
    let mut rows = json::Streamed::new(stmt.query([id]).map_err(err)?, &keys, &err, &failed);
    rows.skip_null = true;
    let answer = json::List {
        before: &[("run_id", Cell::int(id))],
        name: "processes",
        rows: &rows,
        after: &[("checked_at", Cell::int(now_secs()))],
    };
    let out = json::write(&answer, 1024, Some(&failed))?;
    if !rows.found.get() {
        return Err(not_found(id));
    }
    Ok(out)
}

/// The columns of a history point, as answered.
const POINT_COLUMNS: [&str; 4] = ["t", "cpu_percent", "rss_bytes", "processes"];

/// A run's points: `[[t, cpu_percent, rss_bytes, processes], ...]` (the CPU to two decimals).
struct Points<'a>(&'a [Point]);

impl Serialize for Points<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.0.iter().map(|p| {
            let cpu = (f64::from(p.cpu_percent) * 100.0).round() / 100.0;
            (p.t, cpu, u64::from(p.rss_kib) * 1024, p.processes)
        }))
    }
}

/// `{"run_id", "points"}` of each run.
struct RunsPoints<'a>(&'a [(i64, Vec<Point>)]);

impl Serialize for RunsPoints<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut seq = s.serialize_seq(Some(self.0.len()))?;
        for (id, points) in self.0 {
            seq.serialize_element(&RunPoints(*id, points))?;
        }
        seq.end()
    }
}

struct RunPoints<'a>(i64, &'a [Point]);

impl Serialize for RunPoints<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(Some(2))?;
        map.serialize_entry("run_id", &self.0)?;
        map.serialize_entry("points", &Points(self.1))?;
        map.end()
    }
}

/// A history answer: `{["run_id",] "interval_s", "window_s", "columns", "points" (one run's)
/// or "runs" (each run's), "count"}`.
struct HistoryJson<'a> {
    run_id: Option<i64>,
    history: &'a History,
    points: Result<&'a [Point], &'a [(i64, Vec<Point>)]>,
}

impl Serialize for HistoryJson<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(None)?;
        if let Some(id) = self.run_id {
            map.serialize_entry("run_id", &id)?;
            // The OOM kills seen in the run's scope (null: none seen).
            map.serialize_entry("oom_kills", &self.history.oom_kills(id))?;
        }
        map.serialize_entry("interval_s", &self.history.interval().as_secs())?;
        map.serialize_entry("window_s", &self.history.window().as_secs())?;
        map.serialize_entry("columns", &POINT_COLUMNS)?;
        let count = match self.points {
            Ok(points) => {
                map.serialize_entry("points", &Points(points))?;
                points.len()
            }
            Err(runs) => {
                map.serialize_entry("runs", &RunsPoints(runs))?;
                runs.len()
            }
        };
        map.serialize_entry("count", &count)?;
        map.end()
    }
}

/// `GET /runs/{id}/history`: the run's points, oldest first; 404 for an unknown run.
pub fn run_history(conn: &Connection, id: i64, history: &History) -> Result<Vec<u8>, ApiError> {
    let err = |e: rusqlite::Error| query_error(conn, &e);
    let mut stmt = conn.prepare_cached(&HISTORY_SQL).map_err(err)?;
    if !stmt.exists([id]).map_err(err)? {
        return Err(not_found(id));
    }
    let points = history.of(id);
    let answer = HistoryJson {
        run_id: Some(id),
        history,
        points: Ok(&points),
    };
    json::write(&answer, 128 + 40 * points.len(), None)
}

/// The most points a run has in `GET /workers/history` (a card's chart is 300 units wide; at
/// 5,000 workers the answer stays near 20 MB rather than 50). `/runs/{id}/history` has all.
pub(crate) const BULK_POINTS: usize = 150;

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
pub(crate) fn workers_history(conn: &Connection, history: &History) -> Result<Vec<u8>, ApiError> {
    let err = |e: rusqlite::Error| query_error(conn, &e);
    let mut stmt = conn.prepare_cached(&WORKERS_HISTORY_SQL).map_err(err)?;
    let runs = stmt
        .query_map([], |row| row.get::<_, i64>(0))
        .and_then(|ids| {
            ids.map(|id| id.map(|id| (id, thinned(history.of(id), BULK_POINTS))))
                .collect::<Result<Vec<_>, _>>()
        })
        .map_err(err)?;
    let answer = HistoryJson {
        run_id: None,
        history,
        points: Err(&runs),
    };
    let points: usize = runs.iter().map(|(_, p)| p.len()).sum();
    json::write(&answer, 128 + 40 * points + 32 * runs.len(), None)
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

    /// An ended run's inspection and history say the OOM kills seen in its scope (as the
    /// samples record them, `History::saw_oom_kills`), and a run without any says none.
    #[test]
    fn an_ended_runs_answers_say_the_oom_kills_seen_in_its_scope() {
        use rusqlite::types::Value as V;
        let dir = tempfile::tempdir().unwrap();
        let conn = Connection::open(dir.path().join("kanban.db")).unwrap();
        conn.execute_batch(include_str!("../../../sql/kanban_schema.sql"))
            .unwrap();
        conn.execute_batch(
            "INSERT INTO tasks (id, title, status, created_at) VALUES ('t_1', 'one', 'done', 1);
             INSERT INTO task_runs (id, task_id, status, started_at, ended_at, outcome)
               VALUES (1, 't_1', 'crashed', 1, 2, 'crashed'), (2, 't_1', 'done', 3, 4, 'completed');",
        )
        .unwrap();
        crate::register(&conn).unwrap();
        let history = History::new(std::time::Duration::from_secs(2), std::time::Duration::ZERO);
        history.saw_oom_kills(
            &crate::shim::sample::Rows {
                columns: vec!["run_id".into(), "scope_oom_kills".into()],
                rows: vec![vec![V::Integer(1), V::Integer(3)]],
            },
            crate::proc::clock::unix_secs(),
        );
        let json = |b: Vec<u8>| serde_json::from_slice::<Value>(&b).unwrap();
        let inspect = |id| json(inspect(&conn, id, &|| None, &history).unwrap());
        assert_eq!(inspect(1)["oom_kills"], 3, "{}", inspect(1));
        assert_eq!(inspect(1)["reason"], "run already ended");
        assert!(inspect(2).get("oom_kills").is_none(), "{}", inspect(2));
        let history_of = |id| json(run_history(&conn, id, &history).unwrap());
        assert_eq!(history_of(1)["oom_kills"], 3);
        assert_eq!(history_of(2)["oom_kills"], Value::Null);
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
