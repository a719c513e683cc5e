//! One function per route: run the route's one query (SQL in `sql/`), shape the JSON.

use std::time::{SystemTime, UNIX_EPOCH};

use rusqlite::Connection;
use rusqlite::types::ValueRef;
use serde_json::Value;

use super::ApiError;
use super::db::db_error;
use super::routes::Route;

const WORKERS_ACTIVE_SQL: &str = include_str!("../../sql/route_workers_active.sql");
const RUN_SQL: &str = include_str!("../../sql/route_run.sql");
const INSPECT_SQL: &str = include_str!("../../sql/route_inspect.sql");

/// The route's JSON body, serialized.
pub fn handle(conn: &Connection, route: Route) -> Result<Vec<u8>, ApiError> {
    match route {
        Route::WorkersActive => workers_active(conn),
        Route::Run(id) => run(conn, id),
        Route::Inspect(id) => inspect(conn, id),
    }
}

pub fn to_bytes(v: &Value) -> Vec<u8> {
    serde_json::to_vec(v).unwrap_or_else(|_| b"{\"detail\":\"serialization failed\"}".to_vec())
}

fn path_of(conn: &Connection) -> std::path::PathBuf {
    conn.path()
        .map(std::path::PathBuf::from)
        .unwrap_or_default()
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

fn now_secs() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

fn not_found(id: i64) -> ApiError {
    ApiError::new(404, format!("run {id} not found"))
}

/// `{"workers": [...], "count": N, "checked_at": epoch_s}`, written straight from the rows:
/// the one route whose size grows with the board, so no intermediate JSON tree (the benchmark
/// showed building and freeing one cost several times the query).
pub fn workers_active(conn: &Connection) -> Result<Vec<u8>, ApiError> {
    let err = |e: rusqlite::Error| db_error(&path_of(conn), &e);
    let mut stmt = conn.prepare_cached(WORKERS_ACTIVE_SQL).map_err(err)?;
    let keys: Vec<Vec<u8>> = stmt
        .column_names()
        .iter()
        .map(|name| {
            let mut key = to_bytes(&Value::from(*name));
            key.push(b':');
            key
        })
        .collect();
    let mut out = Vec::with_capacity(256 + 320 * 64);
    out.extend_from_slice(b"{\"workers\":[");
    let mut rows = stmt.query([]).map_err(err)?;
    let mut count = 0usize;
    while let Some(row) = rows.next().map_err(err)? {
        out.extend_from_slice(if count == 0 { b"{" } else { b",{" });
        for (i, key) in keys.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            out.extend_from_slice(key);
            write_value(&mut out, row.get_ref(i).map_err(err)?);
        }
        out.push(b'}');
        count += 1;
    }
    out.extend_from_slice(
        format!("],\"count\":{count},\"checked_at\":{}}}", now_secs()).as_bytes(),
    );
    Ok(out)
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

/// `{"run": {every task_runs column}}` with `metadata` decoded from JSON text, written straight
/// from the row (numbers as serde_json's `arbitrary_precision` holds them would cost an
/// allocation each in a JSON tree).
pub fn run(conn: &Connection, id: i64) -> Result<Vec<u8>, ApiError> {
    let err = |e: rusqlite::Error| db_error(&path_of(conn), &e);
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
/// (`not_alive`, in `sql/route_inspect.sql`), the body the reference's shape, written straight
/// from the row.
pub fn inspect(conn: &Connection, id: i64) -> Result<Vec<u8>, ApiError> {
    let err = |e: rusqlite::Error| db_error(&path_of(conn), &e);
    let mut stmt = conn.prepare_cached(INSPECT_SQL).map_err(err)?;
    let mut rows = stmt.query([id]).map_err(err)?;
    let row = rows.next().map_err(err)?.ok_or_else(|| not_found(id))?;
    let get = |name: &str| row.get_ref(name).map_err(err);
    let mut out = Vec::with_capacity(512);
    out.extend_from_slice(format!("{{\"run_id\":{id},").as_bytes());
    if let ValueRef::Text(reason) = get("not_alive")? {
        out.extend_from_slice(b"\"alive\":false,");
        if reason == b"process not found" || reason == b"invalid worker_pid" {
            field(&mut out, "pid", get("worker_pid")?);
        }
        // A zombie has exited but is not reaped yet: say so.
        if matches!(get("proc_reason")?, ValueRef::Text(b"zombie")) {
            out.extend_from_slice(b"\"status\":\"zombie\",");
        }
        out.extend_from_slice(b"\"reason\":");
        write_value(&mut out, ValueRef::Text(reason));
        out.push(b'}');
        return Ok(out);
    }
    out.extend_from_slice(b"\"alive\":true,");
    field(&mut out, "pid", get("worker_pid")?);
    for name in [
        "cpu_percent",
        "memory_rss_bytes",
        "memory_vms_bytes",
        "num_threads",
        "num_fds",
        "status",
        "create_time",
    ] {
        field(&mut out, name, get(name)?);
    }
    // proc_stats writes cmdline as a JSON array of strings (serde_json): copied as it is.
    out.extend_from_slice(b"\"cmdline\":");
    match get("cmdline")? {
        ValueRef::Text(json) => out.extend_from_slice(json),
        _ => out.extend_from_slice(b"null"),
    }
    if let error @ ValueRef::Text(_) = get("error")? {
        out.push(b',');
        out.extend_from_slice(b"\"error\":");
        write_value(&mut out, error);
    }
    out.push(b'}');
    Ok(out)
}

/// `"name":value,` (names are ours: plain ASCII, nothing to escape).
fn field(out: &mut Vec<u8>, name: &str, value: ValueRef<'_>) {
    out.push(b'"');
    out.extend_from_slice(name.as_bytes());
    out.extend_from_slice(b"\":");
    write_value(out, value);
    out.push(b',');
}
