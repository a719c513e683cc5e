//! `GET /runs/endings?since=<epoch>` (issue 39 §4): the runs that ended since, newest first,
//! each with how it ended in words (`sql/route_runs_endings.sql` over the `run_endings` view),
//! and how many ended by each ending. An ended run's exit code and kind are /inspect's: the
//! metadata's, else its task log's exit trailer ([`super::log::exit_trailer`]) where
//! `run_exits` says to read it, read for at most [`MAX_TRAILERS`] runs of the answer; the OOM
//! kills this shim saw in a run's scope while it ran are the board's history's.

use rusqlite::Connection;
use rusqlite::types::{Value, ValueRef};

use super::json::{self, Cell, Kind};
use super::now_secs;
use crate::shim::ApiError;
use crate::shim::board::logs::LogsDir;
use crate::shim::sample::history::History;
use crate::shim::sample::{Rows, query_rows_with};

static ENDINGS_SQL: std::sync::LazyLock<String> = super::sql::sql_file!("route_runs_endings.sql");

/// The window when `since` is not given: the last six hours.
pub const DEFAULT_WINDOW_S: i64 = 6 * 3600;
/// The most runs one answer lists (the newest); `total` counts the whole window.
pub const MAX_ENDINGS: i64 = 500;
/// The most task logs one answer reads for an exit trailer (the newest runs first).
pub const MAX_TRAILERS: usize = 200;

/// Columns the query gives for the handler, not answered per run.
const INTERNAL: &[&str] = &["exit_log", "total", "by_ending"];

/// `{"endings": [...], "count", "total", "left_out", "since", "by_ending": [{"ending",
/// "count", "last_ended_at", "words"}], "checked_at"}`.
pub fn endings(
    conn: &Connection,
    since: Option<i64>,
    logs: Option<&LogsDir>,
    history: &History,
) -> Result<Vec<u8>, ApiError> {
    let now = now_secs();
    let since = since.unwrap_or(now - DEFAULT_WINDOW_S);
    let seen = history.oom_seen_json();
    let mut rows = read(conn, since, "{}", &seen)?;
    if let Some(dir) = logs {
        let trailers = trailers(&rows, dir);
        if trailers != "{}" {
            rows = read(conn, since, &trailers, &seen)?;
        }
    }
    write(&rows, since, now)
}

/// What `/metrics` counts (`kanban_run_endings`): the window of the last hour.
pub const METRICS_WINDOW_S: i64 = 3600;

/// `(ending, runs)` of the runs that ended in the last [`METRICS_WINDOW_S`], by ending, as
/// `GET /runs/endings` classes them (the same query: its `by_ending`).
pub fn last_hour(conn: &Connection, history: &History) -> Result<Vec<(String, i64)>, ApiError> {
    let since = now_secs() - METRICS_WINDOW_S;
    let rows = query_rows_with(
        conn,
        &ENDINGS_SQL,
        rusqlite::params![since, "{}", history.oom_seen_json(), 1],
    )?;
    let by_ending = match rows
        .column("by_ending")
        .and_then(|i| rows.rows.first().map(|r| &r[i]))
    {
        Some(Value::Text(json)) => serde_json::from_str(json).unwrap_or(serde_json::Value::Null),
        _ => serde_json::Value::Null,
    };
    Ok(by_ending
        .as_array()
        .map(|all| {
            all.iter()
                .filter_map(|b| Some((b["ending"].as_str()?.to_owned(), b["count"].as_i64()?)))
                .collect()
        })
        .unwrap_or_default())
}

fn read(conn: &Connection, since: i64, trailers: &str, seen: &str) -> Result<Rows, ApiError> {
    query_rows_with(
        conn,
        &ENDINGS_SQL,
        rusqlite::params![since, trailers, seen, MAX_ENDINGS],
    )
}

/// `{"<run_id>": [code, mtime]}` of the trailers of the logs the rows name (`exit_log`), the
/// first [`MAX_TRAILERS`] of them.
fn trailers(rows: &Rows, dir: &LogsDir) -> String {
    let (Some(run), Some(log)) = (rows.column("run_id"), rows.column("exit_log")) else {
        return "{}".to_owned();
    };
    let mut found = serde_json::Map::new();
    let named = rows.rows.iter().filter_map(|r| match (&r[run], &r[log]) {
        (Value::Integer(id), Value::Text(task)) => Some((*id, task)),
        _ => None,
    });
    for (id, task) in named.take(MAX_TRAILERS) {
        if let Some((code, mtime)) = super::log::exit_trailer(dir, task) {
            found.insert(id.to_string(), serde_json::json!([code, mtime]));
        }
    }
    serde_json::Value::Object(found).to_string()
}

/// The answer from the query's rows.
fn write(rows: &Rows, since: i64, now: i64) -> Result<Vec<u8>, ApiError> {
    let first = |name: &str| {
        rows.column(name)
            .and_then(|i| rows.rows.first().map(|r| &r[i]))
    };
    let total = match first("total") {
        Some(Value::Integer(n)) => *n,
        _ => 0,
    };
    let by_ending = match first("by_ending") {
        Some(Value::Text(json)) => json.as_str(),
        _ => "[]",
    };
    let listed = json::Sampled(vec![json::Sample {
        board: None,
        keys: json::keys_but(&rows.columns, INTERNAL),
        rows: &rows.rows,
    }]);
    let count = i64::try_from(rows.rows.len()).unwrap_or(i64::MAX);
    let answer = json::List {
        before: &[],
        name: "endings",
        rows: &listed,
        after: &[
            ("total", Cell::int(total)),
            ("left_out", Cell::int((total - count).max(0))),
            ("since", Cell::int(since)),
            (
                "by_ending",
                Cell(Kind::Json, ValueRef::Text(by_ending.as_bytes())),
            ),
            ("checked_at", Cell::int(now)),
        ],
    };
    json::write(&answer, 256 + 320 * rows.rows.len(), None)
}
