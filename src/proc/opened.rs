//! The process a thread has just read the stats of (`info`), kept open for its marks (`marks`),
//! so that a query reading both for one worker (`run_verdicts`: `proc_stats`, then
//! `proc_marks` of the same pid) opens `/proc/<pid>` and parses its `stat` once, not twice.
//! Knows nothing of SQLite.
//!
//! The reading is kept while its holder keeps it (the `proc_stats` row that read it: until the
//! query moves to the next row or ends) and for at most [`FRESH`]; the thread holds only a
//! weak reference. The marks taken from it describe the process its handle was opened on:
//! every file they read beyond `stat` is read through that handle, which fails once that
//! process is gone, whatever now has its pid.

use std::cell::RefCell;
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use procfs::process::{Process, Stat};

/// A process's handle, and the `stat` read through it.
pub(crate) struct Opened {
    pub(crate) process: Process,
    pub(crate) stat: Stat,
    at: Instant,
}

/// How old a kept reading may be when its marks are read: a query reads a worker's marks
/// right after its stats (microseconds); a reading older than this is read again (a statement
/// of the extension's user left unfinished, say, and the marks asked by another later).
pub(crate) const FRESH: Duration = Duration::from_secs(1);

thread_local! {
    static LAST: RefCell<Weak<Opened>> = const { RefCell::new(Weak::new()) };
}

/// Keep `process`, with the `stat` just read through it, as this thread's last reading. The
/// caller holds what is returned for as long as the reading may be taken.
pub(crate) fn keep(process: Process, stat: Stat) -> Arc<Opened> {
    let opened = Arc::new(Opened {
        process,
        stat,
        at: Instant::now(),
    });
    LAST.with(|last| *last.borrow_mut() = Arc::downgrade(&opened));
    opened
}

/// This thread's last reading, when it is of `pid`, still held, and fresh; taken once.
pub(crate) fn take(pid: i32) -> Option<Arc<Opened>> {
    let opened = LAST
        .with(|last| std::mem::take(&mut *last.borrow_mut()))
        .upgrade()?;
    (opened.process.pid() == pid && opened.at.elapsed() <= FRESH).then_some(opened)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    fn mine() -> (Process, Stat) {
        let me = Process::myself().unwrap();
        let stat = me.stat().unwrap();
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
        let held2 = keep(process, stat);
        assert!(Arc::ptr_eq(&take(pid).unwrap(), &held2));
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
}
