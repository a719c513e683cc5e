//! The shim's log lines on stderr. Logging never takes the server down or holds it up:
//! - a line that cannot be written (stderr closed by its reader, a full disk) is dropped, and
//!   after the first failure logging stops, so a request or a shutdown never depends on stderr
//!   (`eprintln!` would panic there instead: Rust ignores SIGPIPE, so the write fails with
//!   EPIPE, and `eprintln!` panics on any failed write);
//! - while the server runs ([`in_background`]), lines are written by a thread of their own
//!   through a bounded queue: a reader that stops reading (a parent that pipes stderr and never
//!   reads it, a stalled journal) fills the pipe and blocks that thread only. Lines that find
//!   the queue full are dropped, and how many is said once stderr moves again.

use std::fmt;
use std::io::Write;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, TrySendError, sync_channel};
use std::time::{Duration, Instant};

/// Lines waiting for the writer thread; more are dropped.
const QUEUED_LINES: usize = 4096;

static BROKEN: AtomicBool = AtomicBool::new(false);
static QUEUE: OnceLock<SyncSender<String>> = OnceLock::new();
/// Lines queued, and lines the writer is done with (written or failed).
static QUEUED: AtomicU64 = AtomicU64::new(0);
static DONE: AtomicU64 = AtomicU64::new(0);
static DROPPED: AtomicU64 = AtomicU64::new(0);

/// Write one line to stderr, or nothing if stderr has failed before. In the background mode
/// the line is queued (dropped when the queue is full); otherwise it is written now.
pub fn line(args: fmt::Arguments<'_>) {
    if BROKEN.load(Ordering::Relaxed) {
        return;
    }
    let Some(queue) = QUEUE.get() else {
        write_line(&args.to_string());
        return;
    };
    QUEUED.fetch_add(1, Ordering::SeqCst);
    match queue.try_send(args.to_string()) {
        Ok(()) => {}
        Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) => {
            QUEUED.fetch_sub(1, Ordering::SeqCst);
            DROPPED.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// From now on, lines are written by a thread of their own (see the module's docs). If the
/// thread cannot start, lines stay synchronous.
pub fn in_background() {
    if QUEUE.get().is_some() {
        return;
    }
    let (tx, rx) = sync_channel(QUEUED_LINES);
    let started = std::thread::Builder::new()
        .name("log".into())
        .spawn(move || writer(rx));
    if started.is_ok() {
        let _ = QUEUE.set(tx);
    }
}

/// Wait until the queued lines are written (at shutdown), giving up once the writer has made
/// no progress for `stall` (stderr is not being read).
pub fn flush(stall: Duration) {
    let mut done = DONE.load(Ordering::SeqCst);
    let mut moved = Instant::now();
    while done < QUEUED.load(Ordering::SeqCst) && moved.elapsed() < stall {
        std::thread::sleep(Duration::from_millis(1));
        let now = DONE.load(Ordering::SeqCst);
        if now != done {
            (done, moved) = (now, Instant::now());
        }
    }
}

fn writer(rx: Receiver<String>) {
    for text in rx {
        let dropped = DROPPED.swap(0, Ordering::Relaxed);
        if dropped > 0 {
            write_line(&format!(
                "kanban-workers: {dropped} log lines dropped: stderr was not being read"
            ));
        }
        write_line(&text);
        DONE.fetch_add(1, Ordering::SeqCst);
    }
}

fn write_line(text: &str) {
    if BROKEN.load(Ordering::Relaxed) {
        return;
    }
    let mut err = std::io::stderr().lock();
    if err
        .write_all(text.as_bytes())
        .and_then(|()| err.write_all(b"\n"))
        .is_err()
    {
        BROKEN.store(true, Ordering::Relaxed);
    }
}

/// `log!("...", args)`: one line on stderr, as [`line`] writes it.
#[macro_export]
#[doc(hidden)]
macro_rules! log {
    ($($arg:tt)*) => {
        $crate::shim::log::line(format_args!($($arg)*))
    };
}
