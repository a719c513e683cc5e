//! `GET /tasks/{task_id}/log`: the owner's route (its `get_task_log`), on the board's logs
//! folder opened safely (`board::logs`).

use rusqlite::{Connection, OptionalExtension};
use serde::ser::{Serialize, SerializeMap as _, Serializer};

use crate::shim::ApiError;
use crate::shim::board::logs::{self, LogsDir};
use crate::shim::board::pool::query_error;

static TASK_LOG_SQL: std::sync::LazyLock<String> = super::sql::sql_file!("route_task_log.sql");

/// The most a log's `content` may take in one answer, as served: its JSON text, each escape
/// counted (a NUL byte is six, `\u0000`; an invalid byte three, U+FFFD). A log past it, asked
/// for without `tail`, is a 507 saying to ask with `tail`, decided from the file's size before
/// it is read and from its escaped size before the answer is written. A `tail` (at most
/// 2,000,000 bytes) always fits: at most 12 MB served. So one answer holds at most three times
/// this while it is made (the bytes, the text, the JSON), and a sparse file of NULs costs the
/// shim no more than a log of letters.
pub const MAX_LOG_BYTES: u64 = 16 * 1024 * 1024;

/// The bytes `bytes` take as a JSON string's contents once decoded with replacement (no more
/// than serde_json writes: `\n`-style escapes 2, other control characters 6, an invalid
/// sequence 3; a `\r` that universal newlines drop is still counted).
pub fn served_len(bytes: &[u8]) -> u64 {
    bytes
        .utf8_chunks()
        .map(|chunk| {
            let valid: u64 = chunk
                .valid()
                .bytes()
                .map(|b| match b {
                    b'"' | b'\\' | b'\n' | b'\r' | b'\t' | 0x08 | 0x0c => 2,
                    0..=0x1f => 6,
                    _ => 1,
                })
                .sum();
            valid + if chunk.invalid().is_empty() { 0 } else { 3 }
        })
        .sum()
}

/// The 507 of a log too large to serve whole.
fn too_large(task_id: &str, what: &str) -> ApiError {
    ApiError::new(
        507,
        format!(
            "the log of task {task_id} is {what} over the {} MiB an answer may hold: ask with \
             ?tail=N",
            MAX_LOG_BYTES >> 20
        ),
    )
}

/// The log's bytes as the owner's text: UTF-8, invalid bytes replaced; read whole (no `tail`),
/// the owner reads it in Python's text mode, whose universal newlines turn `\r\n` and a lone
/// `\r` into `\n` (a tail is decoded from bytes, as they are).
fn owner_text(bytes: &[u8], universal_newlines: bool) -> String {
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
        .prepare_cached(&TASK_LOG_SQL)
        .and_then(|mut s| s.query_row([task_id], |r| r.get(0)).optional())
        .map_err(|e| query_error(conn, &e))?;
    if found.is_none() {
        return Err(ApiError::new(404, format!("task {task_id} not found")));
    }
    let tail = tail.map(u64::from);
    let file = dir
        .open()
        .and_then(|d| dir.open_log(&d, &logs::file_name(task_id)?));
    let size_now = |f: &std::fs::File| f.metadata().map_or(0, |m| m.len());
    // Bounded before the work: the window read, then what it takes served.
    if let Some(f) = &file {
        if tail.is_none() && size_now(f) > MAX_LOG_BYTES {
            return Err(too_large(task_id, "in size"));
        }
    }
    let read = match &file {
        Some(f) => match logs::read_tail(f, tail, MAX_LOG_BYTES) {
            Ok((bytes, _)) if served_len(&bytes) > MAX_LOG_BYTES => {
                return Err(too_large(task_id, "as JSON"));
            }
            Ok((bytes, _)) => Some((bytes, size_now(f))),
            Err(_) if size_now(f) > MAX_LOG_BYTES => return Err(too_large(task_id, "in size")),
            Err(_) => None,
        },
        None => None,
    };
    let (exists, size, content) = match read {
        Some((bytes, size)) => (true, size, owner_text(&bytes, tail.is_none())),
        None => (false, 0, String::new()),
    };
    let path = dir.path_of(task_id);
    let answer = TaskLog {
        task_id,
        path: &path.to_string_lossy(),
        exists,
        size_bytes: size,
        content: &content,
        truncated: tail.is_some_and(|t| size > t),
    };
    super::json::write(&answer, content.len() + 256, None)
}

/// The log route's answer, in the owner's order.
struct TaskLog<'a> {
    task_id: &'a str,
    path: &'a str,
    exists: bool,
    size_bytes: u64,
    content: &'a str,
    truncated: bool,
}

impl Serialize for TaskLog<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(Some(6))?;
        map.serialize_entry("task_id", self.task_id)?;
        map.serialize_entry("path", self.path)?;
        map.serialize_entry("exists", &self.exists)?;
        map.serialize_entry("size_bytes", &self.size_bytes)?;
        map.serialize_entry("content", self.content)?;
        map.serialize_entry("truncated", &self.truncated)?;
        map.end()
    }
}

/// The last line a worker of the newer releases (0.20-0.21.x) writes to its task's log as it
/// exits: `[kanban-worker-exit] rc=<N>` (the owner's `KANBAN_WORKER_EXIT_TRAILER`).
const EXIT_TRAILER: &[u8] = b"[kanban-worker-exit] rc=";

/// The bytes at the end of a log that the trailer is looked for in (the owner's dispatcher
/// reads its last 4,000 bytes for it).
const TRAILER_WINDOW: u64 = 4000;

/// The exit trailer of the task's log, as `(code, the log's modification time in epoch
/// seconds)`, when the log's last line is one: `[kanban-worker-exit] rc=<digits>`, white space
/// after it allowed, as the owner's dispatcher matches it. Only the last line counts: a line
/// written after the trailer (a process the worker left behind writing on) means the trailer
/// is not where this run ended. The log is opened as the log route opens it (beneath the
/// checked logs folder, no link followed, a regular file of the board's owner); anything
/// else, or no trailer, is `None`.
pub fn exit_trailer(dir: &LogsDir, task_id: &str) -> Option<(i64, f64)> {
    let opened = dir.open()?;
    let file = dir.open_log(&opened, &logs::file_name(task_id)?)?;
    let modified = file.metadata().ok()?.modified().ok()?;
    let mtime = modified
        .duration_since(std::time::UNIX_EPOCH)
        .ok()?
        .as_secs_f64();
    let (bytes, _) = logs::read_tail(&file, Some(TRAILER_WINDOW), TRAILER_WINDOW).ok()?;
    Some((trailer_code(&bytes)?, mtime))
}

/// The code of the trailer that is the last non-empty line of `bytes`.
fn trailer_code(bytes: &[u8]) -> Option<i64> {
    let text = bytes.trim_ascii_end();
    let line = match text.iter().rposition(|&b| b == b'\n') {
        Some(at) => &text[at + 1..],
        None => text,
    };
    let digits = line.strip_prefix(EXIT_TRAILER)?;
    // An exit status is at most 255; more digits than an i64 holds are no exit status.
    if digits.is_empty() || digits.len() > 18 || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(digits).ok()?.parse().ok()
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    /// What serde_json writes between the quotes of the decoded text.
    fn written(bytes: &[u8]) -> u64 {
        serde_json::to_vec(&owner_text(bytes, false)).unwrap().len() as u64 - 2
    }

    #[test]
    fn the_served_length_is_what_serde_json_writes() {
        for case in [
            &b""[..],
            b"plain text\n",
            b"\0\0\0",
            b"quote \" backslash \\ tab \t bell \x07 del \x7f",
            "é€😀".as_bytes(),
            b"bad \xff\xfe and cut \xe2\x82",
            b"\x08\x0c\x1f",
        ] {
            assert_eq!(served_len(case), written(case), "{case:?}");
        }
        // A carriage return is counted even where universal newlines drop it.
        assert_eq!(served_len(b"a\r\nb"), 6);
        assert_eq!(served_len(&[0u8; 1024]), 6 * 1024);
    }

    /// The trailer counts only as the log's last line, with the owner's form.
    #[test]
    fn the_exit_trailer_is_the_last_line_only() {
        let cases: [(&[u8], Option<i64>); 9] = [
            (b"working\n\n[kanban-worker-exit] rc=75\n", Some(75)),
            (b"[kanban-worker-exit] rc=0", Some(0)),
            (b"out\n[kanban-worker-exit] rc=3 \r\n\n", Some(3)),
            (b"[kanban-worker-exit] rc=75\nwritten after\n", None),
            (b"x [kanban-worker-exit] rc=75\n", None),
            (b"[kanban-worker-exit] rc=\n", None),
            (b"[kanban-worker-exit] rc=-1\n", None),
            (b"[kanban-worker-exit] rc=99999999999999999999\n", None),
            (b"", None),
        ];
        for (bytes, code) in cases {
            assert_eq!(
                trailer_code(bytes),
                code,
                "{:?}",
                String::from_utf8_lossy(bytes)
            );
        }
    }
}
