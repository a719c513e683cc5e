//! `GET /tasks/{task_id}/log`: the owner's route (its `get_task_log`), on the board's logs
//! folder opened safely (`board::logs`).

use rusqlite::{Connection, OptionalExtension};
use serde_json::json;

use crate::shim::ApiError;
use crate::shim::board::logs::{self, LogsDir};
use crate::shim::board::pool::query_error;

const TASK_LOG_SQL: &str = include_str!("../../../sql/route_task_log.sql");

/// The most of a log read into one answer: the whole budget of answers being sent (a log asked
/// for without `tail` and larger than this is a 507 saying to ask with `tail`).
pub const MAX_LOG_BYTES: u64 = 64 * 1024 * 1024;

/// The log's bytes as the owner's text: UTF-8, invalid bytes replaced; read whole (no `tail`),
/// the owner reads it in Python's text mode, whose universal newlines turn `\r\n` and a lone
/// `\r` into `\n` (a tail is decoded from bytes, as they are).
fn text(bytes: &[u8], universal_newlines: bool) -> String {
    let text = String::from_utf8_lossy(bytes);
    if universal_newlines && text.contains('\r') {
        text.replace("\r\n", "\n").replace('\r', "\n")
    } else {
        text.into_owned()
    }
}

/// The task's log: `{"task_id", "path", "exists", "size_bytes", "content", "truncated"}`, as
/// the owner answers it; 404 for an unknown task. A log that is missing, not a regular file,
/// behind a link, of another uid than the board's owner, or unreadable is answered as missing.
pub fn task_log(
    conn: &Connection,
    task_id: &str,
    tail: Option<u32>,
    dir: &LogsDir,
) -> Result<Vec<u8>, ApiError> {
    let found: Option<String> = conn
        .prepare_cached(TASK_LOG_SQL)
        .and_then(|mut s| s.query_row([task_id], |r| r.get(0)).optional())
        .map_err(|e| query_error(conn, &e))?;
    if found.is_none() {
        return Err(ApiError::new(404, format!("task {task_id} not found")));
    }
    let tail = tail.map(u64::from);
    let file = dir
        .open()
        .and_then(|fd| dir.open_log(&fd, &logs::file_name(task_id)?));
    let read = match &file {
        Some(f) => match logs::read_tail(f, tail, MAX_LOG_BYTES) {
            Ok((bytes, _)) => Some((bytes, f.metadata().map_or(0, |m| m.len()))),
            Err(_) if f.metadata().is_ok_and(|m| m.len() > MAX_LOG_BYTES) => {
                return Err(ApiError::new(
                    507,
                    format!(
                        "the log of task {task_id} is over {} MiB: ask with ?tail=N",
                        MAX_LOG_BYTES >> 20
                    ),
                ));
            }
            Err(_) => None,
        },
        None => None,
    };
    let (exists, size, content) = match read {
        Some((bytes, size)) => (true, size, text(&bytes, tail.is_none())),
        None => (false, 0, String::new()),
    };
    Ok(super::to_bytes(&json!({
        "task_id": task_id,
        "path": dir.path_of(task_id).to_string_lossy(),
        "exists": exists,
        "size_bytes": size,
        "content": content,
        "truncated": tail.is_some_and(|t| size > t),
    })))
}
