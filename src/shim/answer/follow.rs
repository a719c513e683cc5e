//! `GET /runs/{run_id}/log?follow=1`: a run's task log as Server-Sent Events. The tail first,
//! then what is appended as it is written, across the owner's rotation (the file renamed to
//! `.log.1` and a new one started), until the run has ended and the file stops growing.
//!
//! Polled, not watched: every [`POLL`] the open file's size is read (`fstat`) and the name's
//! inode (`fstatat`, no link followed) compared with it; every [`RUN_CHECK_TICKS`] polls the run's
//! `ended_at` is read (one indexed query). An idle stream costs those syscalls and one query a
//! second (BENCHMARKS.md). inotify would save the polls of the file, not the run's query, and
//! needs a watch on a path a board writer controls; polling keeps one code path for both.
//!
//! Bounded: at most `--log-streams` streams at once (503 past it, see `http::stream`); an event
//! holds at most [`BYTES_PER_EVENT`] bytes of the log; at most [`QUEUED_EVENTS`] events wait
//! for the client, and one that accepts none for the send timeout (the header timeout) is
//! dropped, not buffered; a stream that sees no new byte for `--log-idle-timeout` ends.
//!
//! Events: `start` (`{"run_id", "task_id", "path", "exists"}`), `log` (a JSON string: log text,
//! UTF-8 with invalid bytes replaced, never split inside a character), `rotated` (`{"path"}`:
//! the new file is followed from its start), `end` (`{"reason"}`), and `: keepalive` comments.

use std::fs::File;
use std::os::unix::fs::FileExt;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use hyper::body::Bytes;
use rusqlite::types::ValueRef;
use rusqlite::{Connection, OptionalExtension};
use serde_json::json;
use tokio::sync::mpsc::Sender;

use crate::shim::ApiError;
use crate::shim::beneath::Dir;
use crate::shim::board::logs::{self, LogsDir};
use crate::shim::board::pool::query_error;
use crate::shim::sample::Board;

static RUN_LOG_SQL: std::sync::LazyLock<String> = super::sql::sql_file!("route_run_log.sql");

/// How often the file is looked at.
pub const POLL: Duration = Duration::from_millis(250);
/// The run's end is read every this many polls (1 s).
pub const RUN_CHECK_TICKS: u32 = 4;
/// The most log bytes one event carries.
pub const BYTES_PER_EVENT: usize = 64 * 1024;
/// The most events read in one poll (a writer faster than that is caught up without waiting).
const EVENTS_PER_POLL: usize = 16;
/// Events waiting for a client: past them, the stream waits (at most the send timeout).
pub const QUEUED_EVENTS: usize = 4;
/// A log that does not exist for this long (from the stream's start) ends the stream, whatever
/// `--log-idle-timeout` says: the owner creates a run's log when it spawns the worker, so a
/// log still missing by then will most likely never come, and a stream waiting for it would
/// hold a place among `--log-streams` for nothing.
pub const MISSING_LOG: Duration = Duration::from_secs(30);
/// A comment sent when nothing else was for this long, so that proxies keep the stream.
const KEEPALIVE: Duration = Duration::from_secs(15);

/// How a reason for the end says the client was dropped.
const DROPPED: &str = "(dropped)";

/// How a stream is bounded in time.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// No new log byte for this long: the stream ends (`--log-idle-timeout`).
    pub idle: Duration,
    /// A client that takes no event for this long is dropped (the header timeout).
    pub send: Duration,
}

/// The run's task and whether the run has ended (its `ended_at` set, whatever its type: the
/// owner's newer releases take ISO-8601 text too); 404 for an unknown run. A task id that is
/// not UTF-8 (or a BLOB) is read as the owner reads it, each invalid sequence one U+FFFD.
pub fn run_task(conn: &Connection, run_id: i64) -> Result<(String, bool), ApiError> {
    conn.prepare_cached(&RUN_LOG_SQL)
        .and_then(|mut s| {
            s.query_row([run_id], |r| {
                let task = match r.get_ref(0)? {
                    ValueRef::Text(t) | ValueRef::Blob(t) => {
                        String::from_utf8_lossy(t).into_owned()
                    }
                    other => other.as_i64().map(|i| i.to_string()).unwrap_or_default(),
                };
                Ok((task, r.get_ref(1)? != ValueRef::Null))
            })
            .optional()
        })
        .map_err(|e| query_error(conn, &e))?
        .ok_or_else(|| ApiError::new(404, format!("run {run_id} not found")))
}

/// What one stream follows.
pub struct Follow {
    pub board: Arc<Board>,
    pub run_id: i64,
    pub task_id: String,
    pub dir: LogsDir,
    /// Bytes of the tail sent first.
    pub tail: u32,
    pub limits: Limits,
    /// Set when the shim stops: the stream ends.
    pub stopping: Arc<AtomicBool>,
}

/// Follow until the run ends, the stream idles, the client leaves or stops reading, or the shim
/// stops; each event into `tx`. A client dropped for not reading has `dropped` set, so that its
/// body ends in an error (the connection is closed, not ended cleanly). The stream's place
/// (`permit`) is given back before the last byte reaches the client.
pub async fn stream(
    follow: Follow,
    tx: Sender<Bytes>,
    permit: impl Send + 'static,
    dropped: Arc<AtomicBool>,
) {
    let reason = run(&follow, &tx).await;
    if reason.ends_with(DROPPED) {
        dropped.store(true, Ordering::Relaxed);
    }
    crate::log!(
        "kanban-workers: log stream of run {} closed: {reason}",
        follow.run_id
    );
    drop(permit);
    drop(tx);
}

/// Why the stream ended.
async fn run(follow: &Follow, tx: &Sender<Bytes>) -> String {
    let mut reader = Some(Reader::new(follow));
    let (mut ticks, mut ended) = (0u32, false);
    let (mut active, mut sent) = (Instant::now(), Instant::now());
    let finish = |reason: &str| event("end", &json!({ "reason": reason }));
    loop {
        if follow.stopping.load(Ordering::Relaxed) {
            let reason = "the shim is stopping";
            let _ = tx.try_send(finish(reason));
            return reason.to_owned();
        }
        // Read before the step: a step that finds nothing new after the run was seen ended
        // has read everything the worker wrote.
        if !ended && ticks % RUN_CHECK_TICKS == 0 {
            ended = run_ended(follow).await;
        }
        ticks = ticks.wrapping_add(1);
        let Some(mut r) = reader.take() else {
            return "internal error".to_owned();
        };
        let Ok((r, step)) = tokio::task::spawn_blocking(move || {
            let step = r.step();
            (r, step)
        })
        .await
        else {
            return "internal error while reading the log".to_owned();
        };
        reader = Some(r);
        let quiet = step.events.is_empty();
        for bytes in step.events {
            if let Err(why) = send(tx, bytes, follow.limits.send).await {
                return why;
            }
            sent = Instant::now();
        }
        if step.grew {
            active = Instant::now();
        }
        if ended && !step.grew && !step.more {
            let reason = "the run has ended";
            let _ = send(tx, finish(reason), follow.limits.send).await;
            return reason.to_owned();
        }
        if !step.found && active.elapsed() >= MISSING_LOG.min(follow.limits.idle) {
            let reason = format!("no log for {}s", active.elapsed().as_secs());
            let _ = send(tx, finish(&reason), follow.limits.send).await;
            return reason;
        }
        if active.elapsed() >= follow.limits.idle {
            let reason = format!("no new output for {}s", follow.limits.idle.as_secs());
            let _ = send(tx, finish(&reason), follow.limits.send).await;
            return reason;
        }
        if quiet && sent.elapsed() >= KEEPALIVE {
            if let Err(why) = send(
                tx,
                Bytes::from_static(b": keepalive\n\n"),
                follow.limits.send,
            )
            .await
            {
                return why;
            }
            sent = Instant::now();
        }
        if !step.more {
            tokio::select! {
                () = tokio::time::sleep(POLL) => {}
                () = tx.closed() => return "the client left".to_owned(),
            }
        }
    }
}

/// One event to the client, waited for at most `timeout`.
async fn send(tx: &Sender<Bytes>, bytes: Bytes, timeout: Duration) -> Result<(), String> {
    match tokio::time::timeout(timeout, tx.send(bytes)).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(_)) => Err("the client left".to_owned()),
        Err(_) => Err(format!(
            "the client did not read for {}s {DROPPED}",
            timeout.as_secs_f64()
        )),
    }
}

/// Whether the run has ended (or is gone); a board that cannot be read now says not yet.
async fn run_ended(follow: &Follow) -> bool {
    let (board, id) = (Arc::clone(&follow.board), follow.run_id);
    let budget = board.busy_timeout();
    let task = tokio::task::spawn_blocking(move || {
        board.with_conn(Instant::now() + budget, |c| run_task(c, id))
    });
    match task.await {
        Ok(Ok((_, ended))) => ended,
        Ok(Err(e)) => e.status == 404,
        Err(_) => false,
    }
}

/// An SSE event of `kind` with JSON `data` (one line: JSON escapes line breaks).
fn event(kind: &str, data: &impl serde::Serialize) -> Bytes {
    let mut out = format!("event: {kind}\ndata: ").into_bytes();
    // A string or a JSON value written to a `Vec`: nothing can fail.
    if serde_json::to_writer(&mut out, data).is_err() {
        out.extend_from_slice(b"null");
    }
    out.extend_from_slice(b"\n\n");
    Bytes::from(out)
}

/// What one poll found.
struct Step {
    events: Vec<Bytes>,
    /// A log file has been found (now or before).
    found: bool,
    /// New log bytes were read.
    grew: bool,
    /// More is there to read now (do not wait).
    more: bool,
}

/// The followed file, and what of it has been sent.
struct Open {
    file: File,
    id: Option<(u64, u64)>,
    offset: u64,
}

/// The stream's state, moved to a blocking thread for each poll.
struct Reader {
    dir: LogsDir,
    name: Option<String>,
    fd: Option<Dir>,
    open: Option<Open>,
    /// The start of a character split by a read, kept for the next one.
    carry: Vec<u8>,
    started: bool,
    /// A file was followed before (the next one is a rotation's).
    followed: bool,
    tail: u64,
    run_id: i64,
    task_id: String,
}

impl Reader {
    fn new(follow: &Follow) -> Reader {
        Reader {
            dir: follow.dir.clone(),
            name: logs::file_name(&follow.task_id),
            fd: None,
            open: None,
            carry: Vec::new(),
            started: false,
            followed: false,
            tail: u64::from(follow.tail),
            run_id: follow.run_id,
            task_id: follow.task_id.clone(),
        }
    }

    fn path(&self) -> String {
        self.dir
            .path_of(&self.task_id)
            .to_string_lossy()
            .into_owned()
    }

    /// The log at the name now, when it may be shown.
    fn open_now(&mut self) -> Option<File> {
        let name = self.name.as_deref()?;
        if self.fd.is_none() {
            self.fd = self.dir.open();
        }
        self.dir.open_log(self.fd.as_ref()?, name)
    }

    fn step(&mut self) -> Step {
        let mut step = Step {
            events: Vec::new(),
            found: false,
            grew: false,
            more: false,
        };
        self.attach(&mut step);
        if !self.started {
            self.started = true;
            step.events.insert(
                0,
                event(
                    "start",
                    &json!({
                        "run_id": self.run_id,
                        "task_id": self.task_id,
                        "path": self.path(),
                        "exists": self.open.is_some(),
                    }),
                ),
            );
        }
        step.more = self.read(&mut step);
        if !step.more && self.rotated() {
            // Drained: what was written to the old file before the rename has been sent.
            self.flush(&mut step);
            self.open = None;
            self.attach(&mut step);
            step.more = self.open.is_some();
        }
        step.found = self.followed;
        step
    }

    /// Open the log when none is followed and it is there: from the tail's start on the first
    /// poll, from its start after (a file created since, or the new file of a rotation).
    fn attach(&mut self, step: &mut Step) {
        if self.open.is_some() {
            return;
        }
        let Some(file) = self.open_now() else {
            return;
        };
        let id = logs::id_of(&file);
        let offset = if self.started {
            0
        } else {
            let size = file.metadata().map_or(0, |m| m.len());
            self.first_line_start(&file, size)
        };
        if self.followed {
            step.events
                .push(event("rotated", &json!({ "path": self.path() })));
        }
        self.followed = true;
        self.open = Some(Open { file, id, offset });
    }

    /// Where the tail starts in a file of `size`: the owner's window (the last `tail` bytes,
    /// its partial first line dropped unless it holds no newline).
    fn first_line_start(&self, file: &File, size: u64) -> u64 {
        if size <= self.tail {
            return 0;
        }
        let start = size - self.tail;
        let mut window = vec![0u8; self.tail as usize];
        let got = file.read_at(&mut window, start).unwrap_or(0);
        match window[..got].iter().position(|&b| b == b'\n') {
            Some(newline) => start + newline as u64 + 1,
            None => start,
        }
    }

    /// Read what was appended (at most [`EVENTS_PER_POLL`] events); true when more is there.
    fn read(&mut self, step: &mut Step) -> bool {
        let Some(open) = self.open.as_mut() else {
            return false;
        };
        let size = open.file.metadata().map_or(open.offset, |m| m.len());
        if size < open.offset {
            // Truncated in place: follow it from its start.
            open.offset = 0;
        }
        let mut buf = vec![0u8; BYTES_PER_EVENT];
        for _ in 0..EVENTS_PER_POLL {
            let got = match open.file.read_at(&mut buf, open.offset) {
                Ok(0) | Err(_) => return false,
                Ok(n) => n,
            };
            open.offset += got as u64;
            step.grew = true;
            let text = decode(&mut self.carry, &buf[..got]);
            if !text.is_empty() {
                step.events.push(event("log", &text));
            }
        }
        true
    }

    /// The name now holds another file than the one followed (or none).
    fn rotated(&self) -> bool {
        let (Some(open), Some(fd), Some(name)) = (&self.open, &self.fd, &self.name) else {
            return false;
        };
        fd.id_at(name) != open.id
    }

    /// What is left of a split character, replaced.
    fn flush(&mut self, step: &mut Step) {
        if !self.carry.is_empty() {
            let text = String::from_utf8_lossy(&self.carry).into_owned();
            self.carry.clear();
            step.events.push(event("log", &text));
        }
    }
}

/// `chunk` after `carry` as text, invalid bytes replaced; a character cut at the end is kept in
/// `carry` for the next chunk.
fn decode(carry: &mut Vec<u8>, chunk: &[u8]) -> String {
    carry.extend_from_slice(chunk);
    let cut = incomplete_tail(carry);
    let whole = carry.len() - cut;
    let text = String::from_utf8_lossy(&carry[..whole]).into_owned();
    carry.drain(..whole);
    text
}

/// How many bytes at the end of `bytes` begin a character not yet complete (0 to 3).
fn incomplete_tail(bytes: &[u8]) -> usize {
    let len = bytes.len();
    for back in 1..=3.min(len) {
        let b = bytes[len - back];
        if b & 0xC0 == 0x80 {
            continue; // a continuation byte: look further back for its lead
        }
        let needed = match b {
            0xC2..=0xDF => 2,
            0xE0..=0xEF => 3,
            0xF0..=0xF4 => 4,
            _ => return 0,
        };
        return if back < needed { back } else { 0 };
    }
    0
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn characters_split_across_reads_are_joined() {
        let mut carry = Vec::new();
        let text = "aé€😀z".as_bytes();
        let mut out = String::new();
        for chunk in text.chunks(1) {
            out.push_str(&decode(&mut carry, chunk));
        }
        assert_eq!(out, "aé€😀z");
        assert!(carry.is_empty());
        // Invalid bytes are replaced, not held.
        assert_eq!(decode(&mut carry, b"a\xffb"), "a\u{fffd}b");
        assert_eq!(decode(&mut carry, b"x\xe2\x82"), "x");
        assert_eq!(carry, b"\xe2\x82");
        assert_eq!(decode(&mut carry, b"\xac"), "€");
    }
}
