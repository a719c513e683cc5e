//! A read on a reader thread within the request's budget: which threads it may use, the
//! board found, its one query, and the answer's share of the bytes in flight.

use std::sync::Arc;
use std::time::Instant;

use hyper::body::Bytes;

use crate::shim::ApiError;
use crate::shim::answer;
use crate::shim::answer::endings::DEFAULT_WINDOW_S;
use crate::shim::board::file;
use crate::shim::board::pool::OVERRUN;
use crate::shim::board::snapshot::Scope;
use crate::shim::http::routes::{Read, Readers};
use crate::shim::http::state::{State, budgeted, on_reader, permit, waited};
use crate::shim::sample::{Asker, Board};

use super::respond::to_json;

/// Find the board and run the route's query on a blocking thread (the async worker does no
/// file or database I/O), within the request's budget (`--busy-timeout`, counted from
/// `started`): waiting for a free thread and waiting for the board's locks both count, and
/// past the budget the answer is a 503 at once.
async fn answer_alone(
    state: &Arc<State>,
    read: Read,
    readers: Readers,
    asked: Option<String>,
    started: Instant,
) -> (u16, Bytes) {
    let budget = state.pools.busy_timeout();
    let deadline = started + budget;
    // The board being read, for the case its thread is stuck (below).
    let reading: Arc<std::sync::OnceLock<Arc<Board>>> = Arc::default();
    let (task_state, task_reading) = (Arc::clone(state), Arc::clone(&reading));
    let readers = state.readers(readers);
    // Query and serialize on the blocking thread: the row values are built and freed on one
    // thread, and only the bytes cross to the async worker.
    let work = move || {
        let (path, owner) = task_state.boards.resolve(asked.as_deref())?;
        // The log route reads a file beside the board too, and so may an ended run's
        // inspection (its exit, the log's last line) and the endings: where, by the owner's
        // rules, found only when the answer asks for it.
        let logs = || Some(task_state.boards.logs_dir(asked.as_deref()));
        let board = task_reading.get_or_init(|| task_state.pools.get(&path, owner));
        let history = &board.samples().history;
        let handle = |c: &_| answer::handle(c, &read, &logs, history);
        let body = match scope_of(&read) {
            Some(scope) => board.with_rows(deadline, &scope, handle)?,
            None => board.with_conn(deadline, handle)?,
        };
        Ok((Arc::clone(board), body))
    };
    // Stuck past the budget: maybe in SQLite's open of a FIFO swapped in for the board. Wake
    // it, and answer now.
    let stuck = || {
        Some(match reading.get() {
            Some(board) => {
                file::release_fifo_readers(board.path());
                board.busy("waited for the board")
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
        Ok((board, body)) => match budgeted(state, &board, body, deadline).await {
            Ok(bytes) => (200, bytes),
            Err(e) => (e.status, to_json(&e.body())),
        },
        Err(e) => (e.status, to_json(&e.body())),
    }
}

/// The board's rows a read reads `/proc` over (on a rollback-journal board they are copied
/// first, so the board's lock is not held across `/proc`: `board::snapshot`); None for the
/// reads that do no `/proc` work, whose statements hold the lock only while they run.
fn scope_of(read: &Read) -> Option<Scope> {
    match read {
        Read::Inspect(id) | Read::Processes(id) => Some(Scope::run(*id)),
        // The window the answer takes when none is given (`answer::endings`), a minute wider:
        // a run more changes no answer, and the clock may step between the two readings.
        Read::Endings { since } => {
            Some(Scope::ended_since(since.unwrap_or_else(|| {
                crate::proc::clock::unix_secs() - DEFAULT_WINDOW_S - 60
            })))
        }
        Read::WorkersActive
        | Read::Run(_)
        | Read::History(_)
        | Read::WorkersHistory
        | Read::TaskLog { .. } => None,
    }
}

/// A read's answer: shared with the requests asking for the same read at once when it is one
/// run's processes (see [`RunReads`]), else [`answer_alone`]. A shared read began at or after
/// `started`, and this request waits for it as long as a read of its own could take (its
/// budget, then [`OVERRUN`]).
pub(super) async fn read(
    state: &Arc<State>,
    read: Read,
    readers: Readers,
    shared: bool,
    board: Option<String>,
    started: Instant,
) -> (u16, Bytes) {
    if !shared {
        return answer_alone(state, read, readers, board, started).await;
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
        Ok(answer_alone(&task_state, read, readers, board, started).await)
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
