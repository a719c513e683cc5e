//! The process a thread has just read the stats of (`info`), kept open for its marks (`marks`),
//! so that a query reading both for one worker (`run_verdicts`: `proc_stats`, then
//! `proc_marks` of the same pid) opens `/proc/<pid>` and parses its `stat` once, not twice.
//! Knows nothing of SQLite.
//!
//! The reading is kept while its holder keeps it (the `proc_stats` row that read it: until the
//! query moves to the next row or ends) and for at most [`FRESH`]. The thread keeps it, the
//! holder a token ([`Kept`]) that lets it go when dropped; no allocation (an `Arc` of it had
//! cost `proc_stats` about 350 instructions of its 25,000, callgrind). The marks taken from it
//! describe the process its handle was opened on: every file they read beyond `stat` is read
//! through that handle, which fails once that process is gone, whatever now has its pid.

use std::cell::RefCell;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use procfs::process::{Process, Stat};

/// A process's handle, and what its marks read of the `stat` read through it.
pub(crate) struct Opened {
    pub(crate) process: Process,
    pub(crate) stat: StatMarks,
    at: Instant,
}

/// What a process's marks read of its `stat` (`marks`), kept in place of the crate's whole
/// `Stat`: a few hundred bytes and a `String`, copied at each move, had made `proc_stats` 4%
/// dearer than before its reading was kept (callgrind).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct StatMarks {
    pub(crate) starttime: u64,
    pub(crate) state: char,
    pub(crate) ppid: i32,
    pub(crate) session: i32,
    pub(crate) pgrp: i32,
    pub(crate) flags: u32,
    /// Where its exec put its text, arguments and environment: `startcode`, `endcode`,
    /// `arg_start`, `arg_end`, `env_start`, `env_end` (the last four since Linux 3.5).
    pub(crate) layout: Option<[u64; 6]>,
}

impl StatMarks {
    pub(crate) fn of(stat: &Stat) -> StatMarks {
        StatMarks {
            starttime: stat.starttime,
            state: stat.state,
            ppid: stat.ppid,
            session: stat.session,
            pgrp: stat.pgrp,
            flags: stat.flags,
            layout: (|| {
                Some([
                    stat.startcode,
                    stat.endcode,
                    stat.arg_start?,
                    stat.arg_end?,
                    stat.env_start?,
                    stat.env_end?,
                ])
            })(),
        }
    }
}

/// How old a kept reading may be when its marks are read: a query reads a worker's marks
/// right after its stats (microseconds); a reading older than this is read again (a statement
/// of the extension's user left unfinished, say, and the marks asked by another later).
pub(crate) const FRESH: Duration = Duration::from_secs(1);

thread_local! {
    /// This thread's last reading, and the token of its holder.
    static LAST: RefCell<Option<(u64, Opened)>> = const { RefCell::new(None) };
}

/// The tokens, unique in the process: a holder dropped on another thread than the one that
/// kept its reading lets nothing go there (the reading is replaced at that thread's next).
static TOKENS: AtomicU64 = AtomicU64::new(0);

/// A holder's claim on the reading it kept: dropped, it lets the reading go, unless taken or
/// replaced by then.
#[derive(Debug)]
pub(crate) struct Kept(u64);

impl Drop for Kept {
    fn drop(&mut self) {
        // Not during the thread's end (the slot may be gone): nothing to let go then.
        let _ = LAST.try_with(|last| {
            if let Ok(mut last) = last.try_borrow_mut() {
                if last.as_ref().is_some_and(|(token, _)| *token == self.0) {
                    *last = None;
                }
            }
        });
    }
}

/// Keep `process`, with what its marks read of the `stat` just read through it, as this
/// thread's last reading. The caller holds what is returned for as long as the reading may
/// be taken.
pub(crate) fn keep(process: Process, stat: StatMarks) -> Kept {
    let token = TOKENS.fetch_add(1, Ordering::Relaxed);
    let opened = Opened {
        process,
        stat,
        at: Instant::now(),
    };
    LAST.with(|last| *last.borrow_mut() = Some((token, opened)));
    Kept(token)
}

/// This thread's last reading, when it is of `pid`, still held, and fresh; taken once.
pub(crate) fn take(pid: i32) -> Option<Opened> {
    let (_, opened) = LAST.with(|last| last.borrow_mut().take())?;
    (opened.process.pid() == pid && opened.at.elapsed() <= FRESH).then_some(opened)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    fn mine() -> (Process, StatMarks) {
        let me = Process::myself().unwrap();
        let stat = StatMarks::of(&me.stat().unwrap());
        (me, stat)
    }

    #[test]
    fn a_reading_is_taken_once_and_only_for_its_pid() {
        let (process, stat) = mine();
        let pid = process.pid();
        let held = keep(process, stat);
        assert!(take(pid + 1).is_none(), "another pid");
        // The wrong pid took it from the thread: it is not there for a second look.
        assert!(take(pid).is_none());
        let (process, stat) = mine();
        let _held2 = keep(process, stat);
        assert_eq!(take(pid).map(|o| o.stat), Some(stat));
        assert!(take(pid).is_none(), "taken once");
        drop(held);
    }

    #[test]
    fn a_reading_no_longer_held_is_not_taken() {
        let (process, stat) = mine();
        let pid = process.pid();
        drop(keep(process, stat));
        assert!(take(pid).is_none());
    }

    #[test]
    fn another_threads_reading_is_not_taken() {
        let (process, stat) = mine();
        let pid = process.pid();
        let _held = keep(process, stat);
        let other = std::thread::spawn(move || take(pid).is_none());
        assert!(other.join().unwrap());
        assert!(take(pid).is_some());
    }

    /// A holder lets go only the reading it kept: not one kept after it, and not one kept on
    /// another thread than the one it is dropped on.
    #[test]
    fn a_holder_lets_go_only_its_own_reading() {
        let (process, stat) = mine();
        let pid = process.pid();
        let first = keep(process, stat);
        let (process, stat) = mine();
        let second = keep(process, stat);
        drop(first);
        assert!(
            take(pid).is_some(),
            "the second let go by the first's holder"
        );
        drop(second);
        let (process, stat) = mine();
        let third = keep(process, stat);
        std::thread::spawn(move || drop(third)).join().unwrap();
        assert!(take(pid).is_some(), "let go from another thread");
    }
}
