//! The reads answered from a board's shared samples (`?live=1`, `/workers/lingering`,
//! `/metrics`), and the history's timer that samples when nobody asks.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Instant;

use hyper::body::Bytes;

use crate::shim::ApiError;
use crate::shim::answer;
use crate::shim::board::file;
use crate::shim::board::snapshot::Scope;
use crate::shim::fleet::Pool as _;
use crate::shim::http::routes::Sampled;
use crate::shim::http::state::{ANSWER_BUDGET_KIB, State, on_reader};
use crate::shim::sample::{Asker, Board, Late, Rows, Sample, Shared, Timed, query_rows};

use super::reads::find_board;

/// Which of a board's samples.
#[derive(Clone, Copy)]
pub(super) enum SampleKind {
    /// `live_workers` (`?live=1`, `/metrics`, the history).
    Live,
    /// `lingering_workers` (`/workers/lingering`, `/metrics`).
    Lingering,
}

impl SampleKind {
    fn shared(self, board: &Board) -> &Arc<Shared<Arc<Sample>>> {
        match self {
            SampleKind::Live => &board.samples().live,
            SampleKind::Lingering => &board.samples().lingering,
        }
    }
}

/// `?live=1`, `/metrics`, `/workers/lingering`: the board found (on a reader thread), then
/// the answer written from a sample that began at or after the request arrived (`started`),
/// shared with every request that can take the same one.
pub(super) async fn sampled(
    state: &Arc<State>,
    read: Sampled,
    board: Option<String>,
    started: Instant,
) -> Result<Bytes, ApiError> {
    let budget = state.pools.busy_timeout();
    let deadline = started + budget;
    let slug = state.boards.slug_of(board.as_deref());
    let board = find_board(state, board, deadline).await?;
    board.samples().asked_now();
    // The sample's rows, or the error it was taken with (shared by all who waited for it).
    let board = &board;
    let get = |which| async move {
        sample(state, board, which, started, Asker::Request, deadline)
            .await?
            .value
            .clone()
    };
    // The bytes are written on a blocking thread (a large board's answer takes milliseconds).
    let write = |f: Box<dyn FnOnce() -> Result<Bytes, ApiError> + Send>| async move {
        tokio::task::spawn_blocking(f)
            .await
            .map_err(|_| ApiError::new(500, "internal error while writing the answer"))?
    };
    match read {
        Sampled::WorkersLive => {
            let live = get(SampleKind::Live).await?;
            write(Box::new(move || live.answer(list_of(b"workers")))).await
        }
        Sampled::Lingering => {
            let left = get(SampleKind::Lingering).await?;
            write(Box::new(move || left.answer(list_of(b"lingering")))).await
        }
        Sampled::Metrics => {
            let endings = recent_endings(state, board, deadline);
            let (live, left, endings) =
                tokio::join!(get(SampleKind::Live), get(SampleKind::Lingering), endings);
            let (live, left, run_endings) = (live?, left?, endings?);
            let samples = board.samples();
            let taken = Some((samples.live.taken(), samples.lingering.taken()));
            let (task_state, hostname) = (Arc::clone(state), board.settings().hostname.clone());
            let machine_id = board.settings().machine_id.clone();
            write(Box::new(move || {
                let host = answer::metrics::HostInfo {
                    host: hostname,
                    machine_id: task_state.boards.machine_id().or(machine_id),
                    // No board here: no board label (a coordinator keeps these runs where
                    // its board has them, `shim::fleet`).
                    board: if task_state.no_board {
                        String::new()
                    } else {
                        slug
                    },
                    run_endings,
                };
                Ok(Bytes::from(answer::metrics::exposition(
                    &live.rows, &left.rows, taken, &host,
                )))
            }))
            .await
        }
    }
}

/// The board's runs that ended in the last hour, by ending (`/metrics`' `kanban_run_endings`),
/// read on a reader thread within the request's budget.
async fn recent_endings(
    state: &Arc<State>,
    board: &Arc<Board>,
    deadline: Instant,
) -> Result<Vec<(String, i64)>, ApiError> {
    let reader = Arc::clone(board);
    let work = move || {
        let history = &reader.samples().history;
        // The last hour's runs (a minute more: the clock may step between the readings).
        let since = crate::proc::clock::unix_secs() - answer::endings::METRICS_WINDOW_S - 60;
        reader.with_rows(deadline, &Scope::ended_since(since), |c| {
            answer::endings::last_hour(c, history)
        })
    };
    let budget = state.pools.busy_timeout();
    on_reader(
        &state.list_readers,
        deadline,
        budget,
        "counting the endings",
        work,
        || None,
    )
    .await
}

/// `GET /fleet/workers`: this host's workers from the board's live sample (as `?live=1`), the
/// other hosts' from the query API (`shim::fleet`), all within the request's budget: the
/// async worker only asks and reads; every parse and the assembly run on the list readers'
/// threads ([`FleetPool`]), each answer of the query API holding its share of the answer
/// budget while it is read and parsed.
pub(super) async fn fleet(
    state: &Arc<State>,
    board: Option<String>,
    started: Instant,
) -> Result<Bytes, ApiError> {
    let budget = state.pools.busy_timeout();
    let deadline = started + budget;
    let slug = state.boards.slug_of(board.as_deref());
    let board = find_board(state, board, deadline).await?;
    board.samples().asked_now();
    let live = sample(
        state,
        &board,
        SampleKind::Live,
        started,
        Asker::Request,
        deadline,
    )
    .await?
    .value
    .clone()?;
    let pool = FleetPool {
        state: Arc::clone(state),
        board: Arc::clone(&board),
        deadline,
        budget,
    };
    let host = board.settings().hostname.clone();
    let listen = state.listening.get().copied();
    let local = pool
        .run(move || {
            let list = answer::rows_json(b"workers", &live.rows, live.checked_at)?;
            let rows: serde_json::Value = serde_json::from_slice(&list)
                .map_err(|_| ApiError::new(500, "internal error while reading the live sample"))?;
            Ok(crate::shim::fleet::Local {
                host,
                workers: match rows {
                    serde_json::Value::Object(mut o) => match o.remove("workers") {
                        Some(serde_json::Value::Array(w)) => w,
                        _ => Vec::new(),
                    },
                    _ => Vec::new(),
                },
                checked_at: live.checked_at,
                listen,
            })
        })
        .await?;
    let prometheus = state.prometheus.clone();
    let mut hosts =
        crate::shim::fleet::workers(prometheus.as_ref(), &slug, local, &pool, deadline).await?;
    let url = prometheus.map(|p| p.url);
    pool.run(move || {
        hosts["prometheus"] = serde_json::json!(url);
        Ok(answer::to_bytes(&hosts))
    })
    .await
    .map(Bytes::from)
}

/// The fleet's pool: the list readers' threads, the answer budget, the request's deadline.
struct FleetPool {
    state: Arc<State>,
    board: Arc<Board>,
    deadline: Instant,
    budget: std::time::Duration,
}

impl crate::shim::fleet::Pool for FleetPool {
    async fn run<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> Result<T, ApiError> + Send + 'static,
    ) -> Result<T, ApiError> {
        // The work looks at the deadline itself (between series, between hosts): its thread
        // is waited for, never abandoned.
        on_reader(
            &self.state.list_readers,
            self.deadline,
            self.budget,
            "reading the fleet",
            work,
            || None,
        )
        .await
    }

    async fn share(&self, bytes: usize) -> Result<Box<dyn Send>, ApiError> {
        let kib = bytes.div_ceil(1024).clamp(1, ANSWER_BUDGET_KIB) as u32;
        match tokio::time::timeout_at(
            self.deadline.into(),
            Arc::clone(&self.state.answers).acquire_many_owned(kib),
        )
        .await
        {
            Ok(Ok(share)) => Ok(Box::new(share)),
            _ => Err(self.board.busy(&format!(
                "{} MiB of answers were being read or sent for other clients",
                ANSWER_BUDGET_KIB / 1024
            ))),
        }
    }
}

/// The JSON list `{"<list>": [...], "count", "checked_at"}` of a sample's rows.
pub(super) fn list_of(list: &'static [u8]) -> impl FnOnce(&Rows, i64) -> Result<Bytes, ApiError> {
    move |rows, checked_at| answer::rows_json(list, rows, checked_at).map(Bytes::from)
}

/// A sample of the board that began at or after `since`: shared, or taken now on a reader
/// thread (the live one recorded into the history), with its rows or its error. Err only
/// when none could be had within `deadline`.
pub(super) async fn sample(
    state: &Arc<State>,
    board: &Arc<Board>,
    which: SampleKind,
    since: Instant,
    asker: Asker,
    deadline: Instant,
) -> Result<Arc<Timed<Arc<Sample>>>, ApiError> {
    let take = || take_sample(Arc::clone(state), Arc::clone(board), which);
    which
        .shared(board)
        .get(since, asker, deadline, take)
        .await
        .map_err(|Late| board.busy("waited for a sample of /proc"))
}

/// One sample, taken now on a reader thread within a budget of its own.
pub(super) async fn take_sample(
    state: Arc<State>,
    board: Arc<Board>,
    which: SampleKind,
) -> Result<Arc<Sample>, ApiError> {
    let budget = state.pools.busy_timeout();
    let deadline = Instant::now() + budget;
    let task_board = Arc::clone(&board);
    let no_board = state.no_board;
    let work = move || {
        let (sql, scope) = match which {
            SampleKind::Live if no_board => (&*answer::WORKERS_MARKED_SQL, Scope::live()),
            SampleKind::Live => (&*answer::WORKERS_LIVE_SQL, Scope::live()),
            SampleKind::Lingering => (&*answer::LINGERING_SQL, Scope::lingering()),
        };
        let rows = task_board.with_rows(deadline, &scope, |c| query_rows(c, sql))?;
        let sample = Sample::new(rows);
        if let SampleKind::Live = which {
            task_board.record(&sample);
        }
        Ok(Arc::new(sample))
    };
    // The sample is over only when its thread is: until then no other sample of the board
    // begins (a slow board holds one reader thread, never all of them). Its query is
    // interrupted past the budget (`OVERRUN`); stuck in an open (a FIFO swapped in for the
    // board, say), it is woken, and waited for still.
    let stuck = || {
        file::release_fifo_readers(board.path());
        None
    };
    on_reader(
        &state.list_readers,
        deadline,
        budget,
        "sampling /proc",
        work,
        stuck,
    )
    .await
}

/// The history's timer: every interval, a live sample of the default board and of each board
/// asked for within the window, unless one was taken in that interval (for a request, or
/// already). Returns at once when no history is kept (`--history 0`).
pub(super) async fn keep_history(state: Arc<State>) {
    if state.history.is_zero() {
        return;
    }
    let interval = crate::shim::sample::INTERVAL;
    let mut ticks = tokio::time::interval(interval);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        let tick = ticks.tick().await.into_std();
        if state.stopping.load(Ordering::Relaxed) {
            return;
        }
        let deadline = Instant::now() + state.pools.busy_timeout();
        let default = find_board(&state, None, deadline).await.ok();
        for board in state.pools.open_now() {
            let is_default = default.as_ref().is_some_and(|d| Arc::ptr_eq(d, &board));
            if !is_default && !board.samples().asked_within_window() {
                continue;
            }
            // A sample begun within half an interval before this tick (a request's) stands
            // for it; one from the tick before does not.
            let since = tick.checked_sub(interval / 2).unwrap_or(tick);
            // A board whose last sample failed (gone, not a board, slower than its budget)
            // is left to the requests: the timer does not spend a reader thread on it every
            // interval for nobody.
            // A board whose sample is slow is sampled less often (TIMER_SHARE).
            let samples = board.samples();
            let failed = samples.live.latest().is_some_and(|t| t.value.is_err());
            if !failed && samples.timer_due(tick) && samples.live.latest_since(since).is_none() {
                if let Ok(taken) = sample(
                    &state,
                    &board,
                    SampleKind::Live,
                    since,
                    Asker::Timer,
                    deadline,
                )
                .await
                {
                    samples.timer_took(&taken);
                }
            }
        }
    }
}
