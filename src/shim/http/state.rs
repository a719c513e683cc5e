//! The shared state every kind of answer reads, and the budgets it is bounded by: the reader
//! and terminator threads, the answer budget, and how a request waits for each within its
//! deadline. A room of its own below the answers (`reads`, `sampled`, `stream`, `act`) and
//! the dispatch (`app`): each imports it, it imports none of them.

use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::{Duration, Instant};

use hyper::body::Bytes;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::shim::ApiError;
use crate::shim::board::pool::OVERRUN;
use crate::shim::board::resolve::Boards;
use crate::shim::http::auth::Auth;
use crate::shim::http::host::HostPolicy;
use crate::shim::http::routes::Readers;
use crate::shim::http::run_reads::RunReads;
use crate::shim::http::shares::Shares;
use crate::shim::http::threads::{Missed, Threads};
use crate::shim::sample::{Board, OpenBoards};

/// Threads for the reads (each query runs on one: `on_reader`), and for the acts.
pub const READERS: usize = 16;
pub const TERMINATORS: usize = 4;

pub(crate) struct State {
    /// One pool of connections per board asked for.
    pub(crate) pools: OpenBoards,
    pub(crate) history: Duration,
    /// Which file a request's `?board=` names.
    pub(crate) boards: Boards,
    pub(crate) auth: Auth,
    pub(crate) log_requests: bool,
    pub(crate) hosts: HostPolicy,
    /// The reader threads: a request's work waits for one only until its deadline. The
    /// lists (`/workers/active`, whose answers grow with the board) and the one-run routes
    /// have threads of their own, so a flood of list requests never starves a run's.
    pub(crate) list_readers: Threads,
    pub(crate) run_readers: Threads,
    /// How long a body may take to arrive (the header timeout).
    pub(crate) header_timeout: Duration,
    /// Blocking threads of terminations (they wait out grace periods): never a reader's.
    pub(crate) terminators: Arc<Semaphore>,
    pub(crate) max_connections: usize,
    /// Terminations under way, by board and run: a second one of a run at once is a 409.
    pub(crate) terminating: std::sync::Mutex<std::collections::HashSet<(std::path::PathBuf, i64)>>,
    /// Set once the shim is stopping: a terminate's grace period ends at once, so its answer
    /// is given within the stop bound.
    pub(crate) stopping: Arc<AtomicBool>,
    /// KiB of answers built and not yet sent (see [`ANSWER_BUDGET_KIB`]).
    pub(crate) answers: Arc<Semaphore>,
    /// One permit a followed log (`--log-streams`): none free is a 503.
    pub(crate) log_streams: Arc<Semaphore>,
    /// Each board's share of them, and each client address's (beyond loopback): half, rounded
    /// up, of what the other boards (clients) leave (see [`Shares`]).
    pub(crate) board_streams: Arc<Shares<std::path::PathBuf>>,
    pub(crate) client_streams: Arc<Shares<std::net::IpAddr>>,
    pub(crate) log_idle: Duration,
    pub(crate) prometheus: Option<crate::shim::fleet::prom::Prometheus>,
    /// `--no-board` (see [`Config::no_board`]).
    pub(crate) no_board: bool,
    /// The reads of one run's processes under way, shared by the requests asking for the same
    /// one at once (see [`RunReads`]).
    pub(crate) run_reads: RunReads,
    /// The address this shim listens on, once bound (its own scrape target, `shim::fleet`).
    pub(crate) listening: std::sync::OnceLock<std::net::SocketAddr>,
}

/// The address a request came from (a request's extension; absent for in-process calls).
#[derive(Debug, Clone, Copy)]
pub struct Peer(pub std::net::IpAddr);

/// Of those, the threads kept for the one-run routes (their rows' `Readers::Run`: `/runs/{id}`,
/// `/inspect`, `/processes`, `/history`, the logs).
pub(crate) const RUN_READERS: usize = 4;

impl State {
    /// The reader threads of a route's class (its row's `readers`).
    pub(crate) fn readers(&self, readers: Readers) -> &Threads {
        match readers {
            Readers::List => &self.list_readers,
            Readers::Run => &self.run_readers,
        }
    }
}

/// The answers built and not yet sent, all connections together, in KiB. An answer waits for
/// its share within the request's budget (503 past it); one larger than the whole budget takes
/// all of it. With clients that do not read, memory stays bounded by this, not by their number.
pub(crate) const ANSWER_BUDGET_KIB: usize = 64 * 1024;
/// Answers smaller than this are outside the budget.
pub(crate) const UNBUDGETED_BYTES: usize = 64 * 1024;

/// Run `work` on one of `readers`' threads within the budget that ends at `deadline` (`budget`
/// long, for the messages): a 503 when no thread was free to begin it by then (it never runs);
/// past the deadline (and [`OVERRUN`], the time an interrupted query takes to return) `stuck`
/// says what to answer now (`Some`), or that the thread is waited for still (`None`). `what`
/// names the work in the 500 of a thread that panicked.
pub(crate) async fn on_reader<T: Send + 'static>(
    readers: &Threads,
    deadline: Instant,
    budget: Duration,
    what: &str,
    work: impl FnOnce() -> Result<T, ApiError> + Send + 'static,
    stuck: impl FnOnce() -> Option<ApiError>,
) -> Result<T, ApiError> {
    let queued = readers.queue(deadline, work);
    let ended = match queued.by(deadline).await {
        Ok(ended) => ended,
        Err(queued) if queued.give_up() => Err(Missed::Busy),
        Err(queued) => match queued.by(deadline + OVERRUN).await {
            Ok(ended) => ended,
            Err(queued) => match stuck() {
                Some(e) => return Err(e),
                None => queued.end().await,
            },
        },
    };
    match ended {
        Ok(answer) => answer,
        Err(Missed::Busy) => Err(crate::shim::board::pool::busy(
            "kanban-workers",
            "every reader thread was busy",
            budget,
        )),
        Err(Missed::Panicked) => Err(ApiError::new(500, format!("internal error while {what}"))),
    }
}

/// The 503 of a request that waited for its board for its whole budget.
pub(crate) fn waited(budget: Duration) -> ApiError {
    crate::shim::board::pool::busy("kanban-workers", "waited for the board", budget)
}

/// One of `permits` (a reader thread's, a shared read's), waited for until `deadline`; past it
/// the 503 that says what all of them were (`waiting`), for the request's `budget`.
pub(crate) async fn permit(
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

/// An answer's bytes, holding their share of [`ANSWER_BUDGET_KIB`] until hyper has written
/// the last of them (the share returns when the last `Bytes` of it is dropped).
pub(crate) struct Answer {
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
pub(crate) async fn budgeted(
    state: &State,
    board: &Board,
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
        _ => Err(board.busy(&format!(
            "{} MiB of answers were still being sent to other clients",
            ANSWER_BUDGET_KIB / 1024
        ))),
    }
}
