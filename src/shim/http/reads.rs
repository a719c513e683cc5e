//! A read on a reader thread within the request's budget: which threads it may use, the
//! board found, its one query, and the answer's share of the bytes in flight.

use std::collections::HashMap;
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use hyper::body::Bytes;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::shim::ApiError;
use crate::shim::answer as handlers;
use crate::shim::board::file;
use crate::shim::board::pool::OVERRUN;
use crate::shim::http::routes::Read;
use crate::shim::sample::{Asker, Board, Shared};

use super::app::State;
use super::respond::*;

/// Of those, the threads kept for the one-run routes (`/runs/{id}`, `/inspect`).
pub(super) const RUN_READERS: usize = 4;

/// The threads a read's query may use.
pub(super) fn readers_for<'a>(state: &'a State, read: &Read) -> &'a Arc<Semaphore> {
    match read {
        Read::WorkersActive | Read::WorkersHistory => &state.list_readers,
        Read::Run(_)
        | Read::Inspect(_)
        | Read::TaskLog { .. }
        | Read::Processes(_)
        | Read::History(_) => &state.run_readers,
    }
}

/// The answers built and not yet sent, all connections together, in KiB. An answer waits for
/// its share within the request's budget (503 past it); one larger than the whole budget takes
/// all of it. With clients that do not read, memory stays bounded by this, not by their number.
pub(super) const ANSWER_BUDGET_KIB: usize = 64 * 1024;
/// Answers smaller than this are outside the budget.
pub(super) const UNBUDGETED_BYTES: usize = 64 * 1024;

/// Find the board and run the route's query on a blocking thread (the async worker does no
/// file or database I/O), within the request's budget (`--busy-timeout`, counted from
/// `started`): waiting for a free thread and waiting for the board's locks both count, and
/// past the budget the answer is a 503 at once.
async fn answer_alone(
    state: &Arc<State>,
    read: Read,
    board: Option<String>,
    started: Instant,
) -> (u16, Bytes) {
    let budget = state.pools.busy_timeout();
    let deadline = started + budget;
    // The board being read, for the case its thread is stuck (below).
    let reading: Arc<std::sync::OnceLock<Arc<Board>>> = Arc::default();
    let (task_state, task_reading) = (Arc::clone(state), Arc::clone(&reading));
    let readers = readers_for(state, &read);
    // Query and serialize on the blocking thread: the row values are built and freed on one
    // thread, and only the bytes cross to the async worker.
    let work = move || {
        let (path, owner) = task_state.boards.resolve(board.as_deref())?;
        // The log route reads a file beside the board too: where, by the owner's rules.
        let logs = matches!(read, Read::TaskLog { .. })
            .then(|| task_state.boards.logs_dir(board.as_deref()));
        let db = task_reading.get_or_init(|| task_state.pools.get(&path, owner));
        let history = &db.samples().history;
        let body = db.with_conn(deadline, |c| {
            handlers::handle(c, &read, logs.as_ref(), history)
        })?;
        Ok((Arc::clone(db), body))
    };
    // Stuck past the budget: maybe in SQLite's open of a FIFO swapped in for the board. Wake
    // it, and answer now.
    let stuck = || {
        Some(match reading.get() {
            Some(db) => {
                file::release_fifo_readers(db.path());
                db.busy("waited for the board")
            }
            None => waited(budget),
        })
    };
    let done = on_reader(
        readers,
        deadline,
        budget,
        "answering the request",
        work,
        stuck,
    )
    .await;
    match done {
        Ok((db, body)) => match budgeted(state, &db, body, deadline).await {
            Ok(bytes) => (200, bytes),
            Err(e) => (e.status, to_json(&e.body())),
        },
        Err(e) => (e.status, to_json(&e.body())),
    }
}

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
pub(super) struct RunReads {
    /// Held weakly: a read's slot lives while a request waits on it or its read runs.
    slots: std::sync::Mutex<Slots>,
    tasks: Arc<Semaphore>,
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
    pub(super) fn new(tasks: usize) -> RunReads {
        RunReads {
            slots: std::sync::Mutex::new(Slots {
                by_key: HashMap::new(),
                prune_at: RUN_READ_SLOTS,
            }),
            tasks: Arc::new(Semaphore::new(tasks.max(1))),
        }
    }

    /// Whether `read` is shared (it reads the run's processes).
    pub(super) fn shares(read: &Read) -> bool {
        matches!(read, Read::Inspect(_) | Read::Processes(_))
    }

    /// The slot of `read` on the board asked for, made when no request holds one.
    fn slot(&self, board: &Option<String>, read: &Read) -> Arc<RunRead> {
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

/// A read's answer: shared with the requests asking for the same read at once when it is one
/// run's processes (see [`RunReads`]), else [`answer_alone`]. A shared read began at or after
/// `started`, and this request waits for it as long as a read of its own could take (its
/// budget, then [`OVERRUN`]).
pub(super) async fn answer(
    state: &Arc<State>,
    read: Read,
    board: Option<String>,
    started: Instant,
) -> (u16, Bytes) {
    if !RunReads::shares(&read) {
        return answer_alone(state, read, board, started).await;
    }
    let budget = state.pools.busy_timeout();
    let deadline = started + budget;
    // One of the bounded tasks, which the read takes along should this request begin it.
    let waiting = "every read of a run's processes was taken";
    let task = match permit(&state.run_reads.tasks, deadline, budget, waiting).await {
        Ok(task) => task,
        Err(e) => return (e.status, to_json(&e.body())),
    };
    let slot = state.run_reads.slot(&board, &read);
    let task_state = Arc::clone(state);
    // The read keeps this request's deadline, as a read of its own would.
    let take = move || async move {
        let _task = task;
        Ok(answer_alone(&task_state, read, board, started).await)
    };
    match slot
        .get(started, Asker::Request, deadline + OVERRUN, take)
        .await
    {
        Ok(taken) => match &taken.value {
            Ok((status, body)) => (*status, body.clone()),
            Err(e) => (e.status, to_json(&e.body())),
        },
        Err(_) => {
            let e = waited(budget);
            (e.status, to_json(&e.body()))
        }
    }
}

/// Run `work` on one of `readers`' blocking threads within the budget that ends at `deadline`
/// (`budget` long, for the messages): a 503 when no thread is free by then; past the deadline
/// (and [`OVERRUN`], the time an interrupted query takes to return) `stuck` says what to
/// answer now (`Some`), or that the thread is waited for still (`None`). The thread keeps its
/// permit until it ends either way. `what` names the work in the 500 of a thread that
/// panicked.
pub(super) async fn on_reader<T: Send + 'static>(
    readers: &Arc<Semaphore>,
    deadline: Instant,
    budget: Duration,
    what: &str,
    work: impl FnOnce() -> Result<T, ApiError> + Send + 'static,
    stuck: impl FnOnce() -> Option<ApiError>,
) -> Result<T, ApiError> {
    let permit = permit(readers, deadline, budget, "every reader thread was busy").await?;
    let task = tokio::task::spawn_blocking(move || {
        let _permit = permit;
        work()
    });
    let mut task = std::pin::pin!(task);
    let ended = match tokio::time::timeout_at((deadline + OVERRUN).into(), &mut task).await {
        Ok(ended) => ended,
        Err(_) => match stuck() {
            Some(e) => return Err(e),
            None => task.await,
        },
    };
    ended.unwrap_or_else(|_| Err(ApiError::new(500, format!("internal error while {what}"))))
}

/// The 503 of a request that waited for its board for its whole budget.
pub(super) fn waited(budget: Duration) -> ApiError {
    crate::shim::board::pool::busy("kanban-workers", "waited for the board", budget)
}

/// One of `permits` (a reader thread's, a shared read's), waited for until `deadline`; past it
/// the 503 that says what all of them were (`waiting`), for the request's `budget`.
pub(super) async fn permit(
    permits: &Arc<Semaphore>,
    deadline: Instant,
    budget: Duration,
    waiting: &str,
) -> Result<OwnedSemaphorePermit, ApiError> {
    match tokio::time::timeout_at(deadline.into(), Arc::clone(permits).acquire_owned()).await {
        Ok(Ok(permit)) => Ok(permit),
        _ => Err(crate::shim::board::pool::busy(
            "kanban-workers",
            waiting,
            budget,
        )),
    }
}

/// The board a request names, found on a reader thread within the request's budget.
pub(super) async fn find_board(
    state: &Arc<State>,
    board: Option<String>,
    deadline: Instant,
) -> Result<Arc<Board>, ApiError> {
    let budget = state.pools.busy_timeout();
    let task_state = Arc::clone(state);
    let work = move || {
        let (path, owner) = task_state.boards.resolve(board.as_deref())?;
        Ok(task_state.pools.get(&path, owner))
    };
    let stuck = || Some(waited(budget));
    on_reader(
        &state.list_readers,
        deadline,
        budget,
        "finding the board",
        work,
        stuck,
    )
    .await
}

/// An answer's bytes, holding their share of [`ANSWER_BUDGET_KIB`] until hyper has written
/// the last of them (the share returns when the last `Bytes` of it is dropped).
pub(super) struct Answer {
    body: Vec<u8>,
    _share: OwnedSemaphorePermit,
}

impl AsRef<[u8]> for Answer {
    fn as_ref(&self) -> &[u8] {
        &self.body
    }
}

/// `body` with its share of the answer budget, waited for until `deadline`; past it the body
/// is dropped and the answer is a 503.
pub(super) async fn budgeted(
    state: &State,
    db: &Board,
    body: Vec<u8>,
    deadline: Instant,
) -> Result<Bytes, ApiError> {
    // Small answers (a run, an inspection, an error) never wait: they are what a dashboard
    // needs most, and all of them together cost less than one large answer.
    if body.len() < UNBUDGETED_BYTES {
        return Ok(Bytes::from(body));
    }
    let kib = body.len().div_ceil(1024).clamp(1, ANSWER_BUDGET_KIB);
    let share = tokio::time::timeout_at(
        deadline.into(),
        Arc::clone(&state.answers).acquire_many_owned(kib as u32),
    )
    .await;
    match share {
        Ok(Ok(share)) => Ok(Bytes::from_owner(Answer {
            body,
            _share: share,
        })),
        _ => Err(db.busy(&format!(
            "{} MiB of answers were still being sent to other clients",
            ANSWER_BUDGET_KIB / 1024
        ))),
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
