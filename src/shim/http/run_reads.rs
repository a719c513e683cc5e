//! The reads of one run's processes under way, by board and read, shared by the requests
//! asking for the same one at once (see [`RunReads`]).

use std::collections::HashMap;
use std::sync::{Arc, Weak};
use std::time::Duration;

use hyper::body::Bytes;
use tokio::sync::Semaphore;

use crate::shim::http::routes::Read;
use crate::shim::sample::Shared;

/// The reads of one run's processes (`/runs/{id}/inspect`, `/runs/{id}/processes`) under way,
/// by board asked for (`?board=` as checked) and read. Requests asking for the same read at
/// once share it, as the lists share their samples (`shim::sample::Shared`, no gap): a request
/// gets the answer of a read that began at or after it arrived, never an older one than a read
/// of its own would give, and at most one read of each runs at a time. Eight dashboards
/// polling one run's detail cost one walk of its processes, not eight.
///
/// A read runs on a task of its own, so that it ends and is shared even when the request that
/// began it leaves. Such tasks are bounded as requests are: each holds one of `tasks` (as many
/// as `--max-connections`), taken by the request that began it within its budget, and the read
/// keeps that request's deadline; clients that ask and hang up at once cannot queue reads
/// beyond that.
pub(crate) struct RunReads {
    /// Held weakly: a read's slot lives while a request waits on it or its read runs.
    slots: std::sync::Mutex<Slots>,
    pub(crate) tasks: Arc<Semaphore>,
}

struct Slots {
    by_key: HashMap<RunReadKey, Weak<RunRead>>,
    /// The size at which slots no one holds are next dropped (twice the live ones, at least
    /// [`RUN_READ_SLOTS`]): each new key does not scan them all.
    prune_at: usize,
}

/// Which read: the board asked for (`?board=` as checked) and the read.
type RunReadKey = (Option<String>, Read);

/// One read's slot: its answer, status and bytes, shared.
type RunRead = Shared<(u16, Bytes)>;

/// Slots kept before those no request holds are dropped.
const RUN_READ_SLOTS: usize = 64;

impl RunReads {
    /// `tasks`: the reads under way at most (`--max-connections`).
    pub(crate) fn new(tasks: usize) -> RunReads {
        RunReads {
            slots: std::sync::Mutex::new(Slots {
                by_key: HashMap::new(),
                prune_at: RUN_READ_SLOTS,
            }),
            tasks: Arc::new(Semaphore::new(tasks.max(1))),
        }
    }

    /// The slot of `read` on the board asked for, made when no request holds one.
    pub(crate) fn slot(&self, board: &Option<String>, read: &Read) -> Arc<RunRead> {
        let mut slots = self.slots.lock().unwrap_or_else(|p| p.into_inner());
        let key = (board.clone(), read.clone());
        if let Some(held) = slots.by_key.get(&key).and_then(Weak::upgrade) {
            return held;
        }
        if slots.by_key.len() >= slots.prune_at {
            slots.by_key.retain(|_, slot| slot.strong_count() > 0);
            slots.prune_at = (slots.by_key.len() * 2).max(RUN_READ_SLOTS);
        }
        let slot = Arc::new(Shared::new(Duration::ZERO));
        slots.by_key.insert(key, Arc::downgrade(&slot));
        slot
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    /// One slot a read while a request holds it: the same board and read share it; another
    /// run, route or board has its own; once no one holds it, the next request gets a new one.
    #[test]
    fn a_slot_is_one_read_of_one_board_while_held() {
        let reads = RunReads::new(4);
        let default = None;
        let other = Some("other".to_owned());
        let a = reads.slot(&default, &Read::Inspect(1));
        assert!(Arc::ptr_eq(&a, &reads.slot(&default, &Read::Inspect(1))));
        for (board, read) in [
            (&default, Read::Inspect(2)),
            (&default, Read::Processes(1)),
            (&other, Read::Inspect(1)),
        ] {
            assert!(
                !Arc::ptr_eq(&a, &reads.slot(board, &read)),
                "{board:?} {read:?}"
            );
        }
        let weak = Arc::downgrade(&a);
        drop(a);
        assert!(weak.upgrade().is_none());
        let again = reads.slot(&default, &Read::Inspect(1));
        assert_eq!(Arc::strong_count(&again), 1);
    }

    /// Slots no one holds are dropped as keys come and go: the map stays near the slots held.
    #[test]
    fn slots_no_one_holds_are_dropped() {
        let reads = RunReads::new(4);
        let held: Vec<_> = (0..10)
            .map(|i| reads.slot(&None, &Read::Inspect(i)))
            .collect();
        for i in 10..10_000 {
            drop(reads.slot(&None, &Read::Inspect(i)));
        }
        let slots = reads.slots.lock().unwrap();
        assert!(
            slots.by_key.len() <= RUN_READ_SLOTS,
            "{}",
            slots.by_key.len()
        );
        assert_eq!(held.len(), 10);
    }
}
