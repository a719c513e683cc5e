//! The App: one request in, one response out, testable in-process (as axum's examples are).
//! The Host check, then the token, then the route: a read runs its one query on a blocking
//! thread within the request's budget, the page is a constant, terminate has threads of its
//! own. Knows nothing of sockets: `serve` feeds it.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt, Full};
use hyper::body::{Body, Bytes, Frame};
use hyper::header::{ALLOW, CONTENT_LENGTH, CONTENT_TYPE, HOST, HeaderValue, WWW_AUTHENTICATE};
use hyper::{Request, Response, StatusCode};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::shim::ApiError;
use crate::shim::answer as handlers;
use crate::shim::board::file;
use crate::shim::board::pool::OVERRUN;
use crate::shim::board::resolve::Boards;
use crate::shim::http::auth::Auth;
use crate::shim::http::host::HostPolicy;
use crate::shim::http::routes::{self, Read, Route, Sampled};
use crate::shim::http::serve::{READERS, TERMINATORS};
use crate::shim::http::shares::Shares;
use crate::shim::sample::{
    Asker, Board, Late, OpenBoards, Rows, Sample, Shared, Taken, query_rows,
};

/// Of those, the threads kept for the one-run routes (`/runs/{id}`, `/inspect`).
const RUN_READERS: usize = 4;

/// The threads a read's query may use.
fn readers_for<'a>(state: &'a State, read: &Read) -> &'a Arc<Semaphore> {
    match read {
        Read::WorkersActive | Read::WorkersHistory => &state.list_readers,
        Read::Run(_)
        | Read::Inspect(_)
        | Read::TaskLog { .. }
        | Read::Processes(_)
        | Read::History(_) => &state.run_readers,
    }
}

/// Every answer's body: a whole one (`Full`), or a log followed (`Events`).
pub type ResponseBody = UnsyncBoxBody<Bytes, std::io::Error>;

/// A whole answer's body.
fn full(bytes: Bytes) -> ResponseBody {
    Full::new(bytes)
        .map_err(|never| match never {})
        .boxed_unsync()
}
/// The answers built and not yet sent, all connections together, in KiB. An answer waits for
/// its share within the request's budget (503 past it); one larger than the whole budget takes
/// all of it. With clients that do not read, memory stays bounded by this, not by their number.
const ANSWER_BUDGET_KIB: usize = 64 * 1024;
/// Answers smaller than this are outside the budget.
const UNBUDGETED_BYTES: usize = 64 * 1024;

/// What the App is made of (see `shim::start`).
pub struct Config {
    /// One pool of connections per board asked for.
    pub pools: OpenBoards,
    /// How long each board keeps its workers' points (`--history`; zero: no history, no
    /// timer).
    pub history: Duration,
    /// Which file a request's `?board=` names.
    pub boards: Boards,
    pub log_requests: bool,
    /// Who may ask.
    pub auth: Auth,
    /// Which `Host` names are answered.
    pub hosts: HostPolicy,
    /// How long a client may take to send its request head, stay idle between requests, or
    /// leave its answer unread.
    pub header_timeout: Duration,
    /// Connections served at once; more wait to be accepted.
    pub max_connections: usize,
    /// Logs followed at once (`--log-streams`).
    pub log_streams: usize,
    /// A followed log with no new byte for this long ends (`--log-idle-timeout`).
    pub log_idle: Duration,
}

struct State {
    /// One pool of connections per board asked for.
    pools: OpenBoards,
    history: Duration,
    /// Which file a request's `?board=` names.
    boards: Boards,
    auth: Auth,
    log_requests: bool,
    hosts: HostPolicy,
    /// One permit a blocking thread: a request waits for one only until its deadline. The
    /// lists (`/workers/active`, whose answers grow with the board) and the one-run routes
    /// have threads of their own, so a flood of list requests never starves a run's.
    list_readers: Arc<Semaphore>,
    run_readers: Arc<Semaphore>,
    /// How long a body may take to arrive (the header timeout).
    header_timeout: Duration,
    /// Blocking threads of terminations (they wait out grace periods): never a reader's.
    terminators: Arc<Semaphore>,
    max_connections: usize,
    /// Terminations under way, by board and run: a second one of a run at once is a 409.
    terminating: std::sync::Mutex<std::collections::HashSet<(std::path::PathBuf, i64)>>,
    /// Set once the shim is stopping: a terminate's grace period ends at once, so its answer
    /// is given within the stop bound.
    stopping: Arc<AtomicBool>,
    /// KiB of answers built and not yet sent (see [`ANSWER_BUDGET_KIB`]).
    answers: Arc<Semaphore>,
    /// One permit a followed log (`--log-streams`): none free is a 503.
    log_streams: Arc<Semaphore>,
    /// Each board's share of them, and each client address's (beyond loopback): half each.
    board_streams: Arc<Shares<std::path::PathBuf>>,
    client_streams: Arc<Shares<std::net::IpAddr>>,
    log_idle: Duration,
}

/// Answers requests. Cheap to clone (one shared state).
#[derive(Clone)]
pub struct App {
    state: Arc<State>,
}

impl App {
    pub fn new(config: Config) -> App {
        App {
            state: Arc::new(State {
                pools: config.pools,
                history: config.history,
                boards: config.boards,
                auth: config.auth,
                log_requests: config.log_requests,
                hosts: config.hosts,
                list_readers: Arc::new(Semaphore::new(READERS - RUN_READERS)),
                run_readers: Arc::new(Semaphore::new(RUN_READERS)),
                terminators: Arc::new(Semaphore::new(TERMINATORS)),
                max_connections: config.max_connections,
                terminating: std::sync::Mutex::new(std::collections::HashSet::new()),
                stopping: Arc::new(AtomicBool::new(false)),
                header_timeout: config.header_timeout,
                answers: Arc::new(Semaphore::new(ANSWER_BUDGET_KIB)),
                log_streams: Arc::new(Semaphore::new(config.log_streams)),
                board_streams: Shares::new(config.log_streams.div_ceil(2)),
                client_streams: Shares::new(config.log_streams.div_ceil(2)),
                log_idle: config.log_idle,
            }),
        }
    }

    /// The response to `req`. Never fails: every error is an answer.
    pub async fn call<B>(&self, req: Request<B>) -> Response<ResponseBody>
    where
        B: Body<Data = Bytes> + Send + 'static,
        B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        handle(&self.state, req).await
    }

    /// The history's timer (`--history`): run it beside `serve`; it ends when the App stops.
    pub fn keep_history(&self) -> impl std::future::Future<Output = ()> + Send + 'static {
        keep_history(Arc::clone(&self.state))
    }

    /// The shim is stopping: terminations in their grace period end it at once.
    pub fn stop(&self) {
        self.state.stopping.store(true, Ordering::Relaxed);
    }

    pub fn header_timeout(&self) -> Duration {
        self.state.header_timeout
    }

    pub fn max_connections(&self) -> usize {
        self.state.max_connections
    }
}

async fn handle<B>(state: &Arc<State>, req: Request<B>) -> Response<ResponseBody>
where
    B: Body<Data = Bytes> + Send + 'static,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let started = Instant::now();
    let method = req.method().as_str().to_owned();
    let path = req.uri().path().to_owned();
    let query = req.uri().query().map(str::to_owned);
    let query = query.as_deref();
    // The host, then the token, before anything is read. The page is the one thing answered
    // without the token: it holds no data, and its script sends the token (from the page's
    // fragment) with each request for data. The check `stat`s the token file here, on the
    // async worker: one metadata call on the operator's own file, and a read of at most 4 KiB
    // (opened non-blocking, a regular file only) when it has changed; see `auth`.
    let route = routes::route(&method, &path, query);
    let page = matches!(route, Ok(Route::Page));
    let routed = check_host(&state.hosts, &req)
        .and_then(|()| match page {
            true => Ok(()),
            false => state.auth.check(req.headers()),
        })
        .and(route);
    let content_type = routed.as_ref().map_or(JSON, routes::content_type);
    let (status, body) = match routed {
        Err(e) => (e.status, to_json(&e.body())),
        // The page reads no board: its script asks /workers/active?live=1.
        Ok(Route::Page) => (200, Bytes::from_static(handlers::PAGE.as_bytes())),
        Ok(route @ (Route::Terminate(id) | Route::Reap(id))) => {
            let query = query.map(str::to_owned);
            let reap = matches!(route, Route::Reap(_));
            match act(state, id, reap, req, query.as_deref()).await {
                Ok(body) => (200, Bytes::from(body)),
                Err(e) => (e.status, to_json(&e.body())),
            }
        }
        // A stream, answered on its own (its body is not one answer of bytes).
        Ok(Route::FollowLog(id)) => match follow(
            state,
            id,
            query,
            started,
            method == "HEAD",
            req.extensions().get::<super::serve::Peer>().map(|p| p.0),
        )
        .await
        {
            Ok(response) => {
                log_request(state, &method, &path, query, 200, started);
                return response;
            }
            Err(e) => (e.status, to_json(&e.body())),
        },
        // `?board=` is checked after routing, as the owner checks it first of all; which file
        // it names is found on the blocking thread (it reads the kanban root).
        Ok(Route::Read(read)) => match Boards::asked(routes::board(query).as_deref()) {
            Ok(board) => answer(state, read, board, started).await,
            Err(e) => (e.status, to_json(&e.body())),
        },
        Ok(Route::Sampled(read)) => {
            let asked = Boards::asked(routes::board(query).as_deref());
            match async { sampled(state, read, asked?, started).await }.await {
                Ok(bytes) => (200, bytes),
                Err(e) => (e.status, to_json(&e.body())),
            }
        }
    };
    let content_type = if status == 200 { content_type } else { JSON };
    let response = respond(status, body, method == "HEAD", content_type, &path);
    log_request(state, &method, &path, query, status, started);
    response
}

/// The request's log line (unless `--quiet`).
fn log_request(
    state: &State,
    method: &str,
    path: &str,
    query: Option<&str>,
    status: u16,
    started: Instant,
) {
    if state.log_requests {
        crate::log!(
            "{} {} {} {}us",
            method,
            routes::shown(&match query {
                Some(q) => format!("{path}?{q}"),
                None => path.to_owned(),
            }),
            status,
            started.elapsed().as_micros()
        );
    }
}

/// `GET /runs/{id}/log?follow=1`: the parameters, a place among the streams (503 when none is
/// free), the board and the run found on a reader thread within the request's budget, then
/// the stream (`answer::follow`) on a task of its own, its events through a short channel.
async fn follow(
    state: &Arc<State>,
    id: i64,
    query: Option<&str>,
    started: Instant,
    head: bool,
    peer: Option<std::net::IpAddr>,
) -> Result<Response<ResponseBody>, ApiError> {
    use crate::shim::answer::follow as logs;
    let board = Boards::asked(routes::board(query).as_deref())?;
    routes::follow(query)?;
    let tail = routes::follow_tail(query)?;
    let Ok(place) = Arc::clone(&state.log_streams).try_acquire_owned() else {
        return Err(ApiError::new(
            503,
            "every log stream is taken (--log-streams); retry when one has ended",
        ));
    };
    // A client address beyond loopback holds at most its share (on loopback every local user
    // is one address: there the board's share is what bounds one of them).
    let client = match peer.filter(|ip| !ip.is_loopback()) {
        Some(ip) => Some(
            state
                .client_streams
                .try_take(ip)
                .ok_or_else(|| share_taken("this client's", state.client_streams.per_key()))?,
        ),
        None => None,
    };
    let budget = state.pools.busy_timeout();
    let deadline = started + budget;
    let permit = reader(&state.run_readers, deadline, budget).await?;
    let task_state = Arc::clone(state);
    let found = tokio::task::spawn_blocking(move || {
        let _permit = permit;
        let (path, owner) = task_state.boards.resolve(board.as_deref())?;
        let dir = task_state.boards.logs_dir(board.as_deref());
        let db = task_state.pools.get(&path, owner);
        let (task_id, _) = db.with_conn(deadline, |c| logs::run_task(c, id))?;
        Ok::<_, ApiError>((db, dir, task_id))
    });
    let (db, dir, task_id) = match tokio::time::timeout_at((deadline + OVERRUN).into(), found).await
    {
        Ok(Ok(found)) => found?,
        Ok(Err(_)) => return Err(ApiError::new(500, "internal error while finding the run")),
        Err(_) => {
            return Err(crate::shim::board::pool::busy(
                "kanban-workers",
                "waited for the board",
                budget,
            ));
        }
    };
    let board_share = state
        .board_streams
        .try_take(db.path().to_path_buf())
        .ok_or_else(|| share_taken("this board's", state.board_streams.per_key()))?;
    let place = (place, board_share, client);
    let mut response = Response::new(if head {
        full(Bytes::new())
    } else {
        let (tx, rx) = tokio::sync::mpsc::channel(logs::QUEUED_EVENTS);
        let dropped = Arc::new(AtomicBool::new(false));
        let stream = logs::Follow {
            db,
            run_id: id,
            task_id,
            dir,
            tail,
            limits: logs::Limits {
                idle: state.log_idle,
                send: state.header_timeout,
            },
            stopping: Arc::clone(&state.stopping),
        };
        tokio::spawn(logs::stream(stream, tx, place, Arc::clone(&dropped)));
        Events { rx, dropped }.boxed_unsync()
    });
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("text/event-stream"));
    headers.insert(
        hyper::header::CACHE_CONTROL,
        HeaderValue::from_static("no-cache"),
    );
    Ok(response)
}

/// The 503 of a stream past a board's or a client's share of `--log-streams`.
fn share_taken(whose: &str, share: usize) -> ApiError {
    ApiError::new(
        503,
        format!(
            "{whose} share of the log streams ({share}, half of --log-streams) is taken; retry \
             when one has ended"
        ),
    )
}

/// A followed log's body: the events its task sends, ending when the task drops its sender;
/// in an error when the client was dropped for not reading (hyper then closes the connection
/// rather than end the body cleanly).
struct Events {
    rx: tokio::sync::mpsc::Receiver<Bytes>,
    dropped: Arc<AtomicBool>,
}

impl Body for Events {
    type Data = Bytes;
    type Error = std::io::Error;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        self.rx.poll_recv(cx).map(|event| match event {
            Some(bytes) => Some(Ok(Frame::data(bytes))),
            None if self.dropped.load(Ordering::Relaxed) => Some(Err(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                "the client did not read its log stream",
            ))),
            None => None,
        })
    }
}

/// The request's host (an absolute target's authority, else the `Host` header) is one this
/// server answers; two `Host` headers are refused (which one would count is ambiguous).
fn check_host<B>(hosts: &HostPolicy, req: &Request<B>) -> Result<(), ApiError> {
    if let Some(authority) = req.uri().authority() {
        return hosts.check(Some(authority.as_str().as_bytes()));
    }
    let mut values = req.headers().get_all(HOST).iter();
    let first = values.next();
    if values.next().is_some() {
        return Err(ApiError::new(400, "more than one Host header"));
    }
    hosts.check(first.map(HeaderValue::as_bytes))
}

/// `POST /runs/{id}/terminate` and `POST /runs/{id}/reap`: the token (always), a body of at
/// most a few KiB, the board, then `terminate::run` or `terminate::reap::run` on a blocking
/// thread of its own (each waits for processes to end).
async fn act<B>(
    state: &Arc<State>,
    id: i64,
    reap: bool,
    req: Request<B>,
    query: Option<&str>,
) -> Result<Vec<u8>, ApiError>
where
    B: Body<Data = Bytes> + Send + 'static,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    use http_body_util::Limited;
    state.auth.check_acting(req.headers())?;
    // A body that does not arrive in time is not waited for past the header timeout.
    let collect = Limited::new(req.into_body(), crate::shim::terminate::MAX_BODY).collect();
    let body = tokio::time::timeout(state.header_timeout, collect)
        .await
        .map_err(|_| ApiError::new(408, "terminate: the body did not arrive in time"))?
        .map_err(|e| {
            if e.downcast_ref::<http_body_util::LengthLimitError>()
                .is_some()
            {
                ApiError::new(
                    413,
                    format!(
                        "terminate: the body is over {} bytes",
                        crate::shim::terminate::MAX_BODY
                    ),
                )
            } else {
                ApiError::new(400, format!("terminate: the body could not be read: {e}"))
            }
        })?
        .to_bytes();
    let ask = crate::shim::terminate::parse_body(&body)?;
    // Threads of its own: a termination waits out a grace period, and must never hold a
    // thread a read is waiting for. None free: 503 at once (each may take a minute).
    let Ok(permit) = Arc::clone(&state.terminators).try_acquire_owned() else {
        return Err(ApiError::new(
            503,
            format!("{TERMINATORS} terminations are under way; retry when one has ended"),
        ));
    };
    let (task_state, board) = (Arc::clone(state), routes::board(query));
    let task = tokio::task::spawn_blocking(move || {
        let _permit = permit;
        // Which file, found off the async worker (it reads the kanban root).
        let (path, owner) = task_state.boards.resolve(board.as_deref())?;
        let key = (path.clone(), id);
        let fresh = task_state
            .terminating
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(key.clone());
        if !fresh {
            return Err(ApiError::new(
                409,
                format!("run {id} is being terminated or reaped by another request"),
            ));
        }
        let db = task_state.pools.get(&path, owner);
        let budget = db.busy_timeout();
        let result = if reap {
            crate::shim::terminate::reap::run(&db, id, &ask, budget, &task_state.stopping)
        } else {
            crate::shim::terminate::run(&db, id, &ask, budget, &task_state.stopping)
        };
        task_state
            .terminating
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&key);
        result
    });
    task.await.unwrap_or_else(|_| {
        Err(ApiError::new(
            500,
            "internal error while terminating the run",
        ))
    })
}

/// Find the board and run the route's query on a blocking thread (the async worker does no
/// file or database I/O), within the request's budget (`--busy-timeout`, counted from
/// `started`): waiting for a free thread and waiting for the board's locks both count, and
/// past the budget the answer is a 503 at once.
async fn answer(
    state: &Arc<State>,
    read: Read,
    board: Option<String>,
    started: Instant,
) -> (u16, Bytes) {
    let budget = state.pools.busy_timeout();
    let deadline = started + budget;
    let permit = match reader(readers_for(state, &read), deadline, budget).await {
        Ok(permit) => permit,
        Err(e) => return (e.status, to_json(&e.body())),
    };
    // The board being read, for the case its thread is stuck (below).
    let reading: Arc<std::sync::OnceLock<Arc<Board>>> = Arc::default();
    let (task_state, task_reading) = (Arc::clone(state), Arc::clone(&reading));
    // Query and serialize on the blocking thread: the row values are built and freed on one
    // thread, and only the bytes cross to the async worker.
    let task = tokio::task::spawn_blocking(move || {
        let _permit = permit;
        let (path, owner) = task_state.boards.resolve(board.as_deref())?;
        // The log route reads a file beside the board too: where, by the owner's rules.
        let logs = matches!(read, Read::TaskLog { .. })
            .then(|| task_state.boards.logs_dir(board.as_deref()));
        let db = task_reading.get_or_init(|| task_state.pools.get(&path, owner));
        let history = &db.samples().history;
        let body = db.with_conn(deadline, |c| {
            handlers::handle(c, &read, logs.as_ref(), history)
        })?;
        Ok::<_, ApiError>((Arc::clone(db), body))
    });
    match tokio::time::timeout_at((deadline + OVERRUN).into(), task).await {
        Ok(Ok(Ok((db, body)))) => match budgeted(state, &db, body, deadline).await {
            Ok(bytes) => (200, bytes),
            Err(e) => (e.status, to_json(&e.body())),
        },
        Ok(Ok(Err(e))) => (e.status, to_json(&e.body())),
        Ok(Err(_)) => {
            let e = ApiError::new(500, "internal error while answering the request");
            (e.status, to_json(&e.body()))
        }
        Err(_) => {
            // The thread is stuck past the budget: maybe in SQLite's open of a FIFO swapped in
            // for the board. Wake it, and answer now; its permit returns when it ends.
            let e = match reading.get() {
                Some(db) => {
                    file::release_fifo_readers(db.path());
                    db.busy("waited for the board")
                }
                None => {
                    crate::shim::board::pool::busy("kanban-workers", "waited for the board", budget)
                }
            };
            (e.status, to_json(&e.body()))
        }
    }
}

/// Which of a board's samples.
#[derive(Clone, Copy)]
enum Which {
    /// `live_workers` (`?live=1`, `/metrics`, the history).
    Live,
    /// `lingering_workers` (`/workers/lingering`, `/metrics`).
    Lingering,
}

impl Which {
    fn shared(self, db: &Board) -> &Arc<Shared<Arc<Sample>>> {
        match self {
            Which::Live => &db.samples().live,
            Which::Lingering => &db.samples().lingering,
        }
    }
}

/// `?live=1`, `/metrics`, `/workers/lingering`: the board found (on a reader thread), then
/// the answer written from a sample that began at or after the request arrived (`started`),
/// shared with every request that can take the same one.
async fn sampled(
    state: &Arc<State>,
    read: Sampled,
    board: Option<String>,
    started: Instant,
) -> Result<Bytes, ApiError> {
    let budget = state.pools.busy_timeout();
    let deadline = started + budget;
    let db = find_board(state, board, deadline).await?;
    db.samples().asked_now();
    // The sample's rows, or the error it was taken with (shared by all who waited for it).
    let db = &db;
    let get = |which| async move {
        sample(state, db, which, started, Asker::Request, deadline)
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
            let live = get(Which::Live).await?;
            write(Box::new(move || live.answer(list_of(b"workers")))).await
        }
        Sampled::Lingering => {
            let left = get(Which::Lingering).await?;
            write(Box::new(move || left.answer(list_of(b"lingering")))).await
        }
        Sampled::Metrics => {
            let (live, left) = tokio::join!(get(Which::Live), get(Which::Lingering));
            let (live, left) = (live?, left?);
            let samples = db.samples();
            let taken = Some((samples.live.taken(), samples.lingering.taken()));
            write(Box::new(move || {
                Ok(Bytes::from(handlers::metrics::exposition(
                    &live.rows, &left.rows, taken,
                )))
            }))
            .await
        }
    }
}

/// The JSON list `{"<list>": [...], "count", "checked_at"}` of a sample's rows.
fn list_of(list: &'static [u8]) -> impl FnOnce(&Rows, i64) -> Result<Bytes, ApiError> {
    move |rows, checked_at| handlers::rows_json(list, rows, checked_at).map(Bytes::from)
}

/// A reader thread's permit, waited for until `deadline`; past it the 503 that says so
/// (`budget`: the request's, for the message).
async fn reader(
    readers: &Arc<Semaphore>,
    deadline: Instant,
    budget: Duration,
) -> Result<OwnedSemaphorePermit, ApiError> {
    match tokio::time::timeout_at(deadline.into(), Arc::clone(readers).acquire_owned()).await {
        Ok(Ok(permit)) => Ok(permit),
        _ => Err(crate::shim::board::pool::busy(
            "kanban-workers",
            "every reader thread was busy",
            budget,
        )),
    }
}

/// The board a request names, found on a reader thread within the request's budget.
async fn find_board(
    state: &Arc<State>,
    board: Option<String>,
    deadline: Instant,
) -> Result<Arc<Board>, ApiError> {
    let budget = state.pools.busy_timeout();
    let permit = reader(&state.list_readers, deadline, budget).await?;
    let task_state = Arc::clone(state);
    let task = tokio::task::spawn_blocking(move || {
        let _permit = permit;
        let (path, owner) = task_state.boards.resolve(board.as_deref())?;
        Ok::<_, ApiError>(task_state.pools.get(&path, owner))
    });
    match tokio::time::timeout_at((deadline + OVERRUN).into(), task).await {
        Ok(Ok(found)) => found,
        Ok(Err(_)) => Err(ApiError::new(500, "internal error while finding the board")),
        Err(_) => Err(crate::shim::board::pool::busy(
            "kanban-workers",
            "waited for the board",
            budget,
        )),
    }
}

/// A sample of the board that began at or after `since`: shared, or taken now on a reader
/// thread (the live one recorded into the history), with its rows or its error. Err only
/// when none could be had within `deadline`.
async fn sample(
    state: &Arc<State>,
    db: &Arc<Board>,
    which: Which,
    since: Instant,
    asker: Asker,
    deadline: Instant,
) -> Result<Arc<Taken<Arc<Sample>>>, ApiError> {
    let take = || take_sample(Arc::clone(state), Arc::clone(db), which);
    which
        .shared(db)
        .get(since, asker, deadline, take)
        .await
        .map_err(|Late| db.busy("waited for a sample of /proc"))
}

/// One sample, taken now on a reader thread within a budget of its own.
async fn take_sample(
    state: Arc<State>,
    db: Arc<Board>,
    which: Which,
) -> Result<Arc<Sample>, ApiError> {
    let budget = state.pools.busy_timeout();
    let deadline = Instant::now() + budget;
    let permit = reader(&state.list_readers, deadline, budget).await?;
    let task_db = Arc::clone(&db);
    let task = tokio::task::spawn_blocking(move || {
        let _permit = permit;
        let sql = match which {
            Which::Live => handlers::WORKERS_LIVE_SQL,
            Which::Lingering => handlers::LINGERING_SQL,
        };
        let rows = task_db.with_conn(deadline, |c| query_rows(c, sql))?;
        let sample = Sample::new(rows);
        if let Which::Live = which {
            task_db.samples().record(&sample);
        }
        Ok(Arc::new(sample))
    });
    // The sample is over only when its thread is: until then no other sample of the board
    // begins (a slow board holds one reader thread, never all of them). Its query is
    // interrupted past the budget (`OVERRUN`); stuck in an open (a FIFO swapped in for the
    // board, say), it is woken.
    let mut task = std::pin::pin!(task);
    let ended = match tokio::time::timeout_at((deadline + OVERRUN).into(), &mut task).await {
        Ok(ended) => ended,
        Err(_) => {
            file::release_fifo_readers(db.path());
            task.await
        }
    };
    ended.unwrap_or_else(|_| Err(ApiError::new(500, "internal error while sampling /proc")))
}

/// The history's timer: every interval, a live sample of the default board and of each board
/// asked for within the window, unless one was taken in that interval (for a request, or
/// already). Returns at once when no history is kept (`--history 0`).
async fn keep_history(state: Arc<State>) {
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
        for db in state.pools.open_now() {
            let is_default = default.as_ref().is_some_and(|d| Arc::ptr_eq(d, &db));
            if !is_default && !db.samples().asked_within_window() {
                continue;
            }
            // A sample begun within half an interval before this tick (a request's) stands
            // for it; one from the tick before does not.
            let since = tick.checked_sub(interval / 2).unwrap_or(tick);
            // A board whose last sample failed (gone, not a board, slower than its budget)
            // is left to the requests: the timer does not spend a reader thread on it every
            // interval for nobody.
            // A board whose sample is slow is sampled less often (TIMER_SHARE).
            let samples = db.samples();
            let failed = samples.live.latest().is_some_and(|t| t.value.is_err());
            if !failed && samples.timer_due(tick) && samples.live.latest_since(since).is_none() {
                if let Ok(taken) =
                    sample(&state, &db, Which::Live, since, Asker::Timer, deadline).await
                {
                    samples.timer_took(&taken);
                }
            }
        }
    }
}

/// An answer's bytes, holding their share of [`ANSWER_BUDGET_KIB`] until hyper has written
/// the last of them (the share returns when the last `Bytes` of it is dropped).
struct Answer {
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
async fn budgeted(
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

fn to_json(body: &serde_json::Value) -> Bytes {
    Bytes::from(handlers::to_bytes(body))
}

/// The content type of every answer but a route's own 200 (`routes::content_type`).
const JSON: &str = "application/json";

fn respond(
    status: u16,
    bytes: Bytes,
    head: bool,
    content_type: &'static str,
    path: &str,
) -> Response<ResponseBody> {
    let length = bytes.len();
    let mut response = Response::new(if head {
        full(Bytes::new())
    } else {
        full(bytes)
    });
    *response.status_mut() =
        StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(CONTENT_LENGTH, HeaderValue::from(length));
    if status == 405 {
        headers.insert(ALLOW, HeaderValue::from_static(routes::allow_for(path)));
    }
    if status == 401 {
        headers.insert(WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
    }
    headers.insert(
        hyper::header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    if content_type == routes::PAGE_CONTENT_TYPE {
        // The page's own script and style only, its requests to this server only, never in a
        // frame (it holds a token and a terminate button), no referrer (its address may carry
        // the token's fragment; browsers never send fragments, but say so anyway).
        headers.insert(
            hyper::header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(PAGE_POLICY),
        );
        headers.insert(
            hyper::header::X_FRAME_OPTIONS,
            HeaderValue::from_static("DENY"),
        );
        headers.insert(
            hyper::header::REFERRER_POLICY,
            HeaderValue::from_static("no-referrer"),
        );
    }
    response
}

/// What the page may load and do.
const PAGE_POLICY: &str = "default-src 'none'; script-src 'unsafe-inline'; \
     style-src 'unsafe-inline'; connect-src 'self'; img-src 'self'; base-uri 'none'; \
     form-action 'none'; frame-ancestors 'none'";

/// Dispatch tested in-process, on `App::call` (as axum's `examples/testing` does): routing,
/// the token, the Host check and the error answers, against a real board file. What needs a
/// process (signals, sockets, slow clients) is tested on the real binary in `tests/`.
#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;
    use std::path::Path;

    const SCHEMA: &str = include_str!("../../../sql/kanban_schema.sql");

    /// An App serving a fresh board (one ended run), with the token `t0ken` when `token`.
    fn app(dir: &Path, token: bool, auth_reads: bool) -> App {
        let board = dir.join("kanban.db");
        let conn = rusqlite::Connection::open(&board).unwrap();
        conn.execute_batch(SCHEMA).unwrap();
        conn.execute_batch(
            "INSERT INTO tasks (id, title, status, created_at) VALUES ('t_1', 'one', 'done', 1);
             INSERT INTO task_runs (task_id, status, started_at, ended_at, outcome)
               VALUES ('t_1', 'done', 1, 2, 'completed');",
        )
        .unwrap();
        drop(conn);
        let auth = if token {
            let file = dir.join("token");
            std::fs::write(&file, "t0ken").unwrap();
            Auth::from_file(&file, auth_reads).unwrap()
        } else {
            Auth::open()
        };
        App::new(Config {
            pools: OpenBoards::new(Duration::from_secs(5), crate::Settings::from_env(), || {
                crate::shim::sample::Samples::new(Duration::ZERO)
            }),
            history: Duration::ZERO,
            boards: Boards::from_env(Some(&board), &|_| None),
            auth,
            log_requests: false,
            hosts: HostPolicy::new("127.0.0.1:8765".parse().unwrap(), Vec::new()),
            header_timeout: Duration::from_secs(10),
            max_connections: 16,
            log_streams: 4,
            log_idle: Duration::from_secs(300),
        })
    }

    /// `(status, content type, body)` of one request.
    async fn ask(
        app: &App,
        method: &str,
        uri: &str,
        headers: &[(&str, &str)],
    ) -> (u16, String, Vec<u8>) {
        let mut req = Request::builder().method(method).uri(uri);
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let response = app
            .call(req.body(Full::new(Bytes::from_static(b"{}"))).unwrap())
            .await;
        let status = response.status().as_u16();
        let content_type = response.headers()[CONTENT_TYPE]
            .to_str()
            .unwrap()
            .to_owned();
        let body = http_body_util::BodyExt::collect(response.into_body())
            .await
            .unwrap()
            .to_bytes()
            .to_vec();
        (status, content_type, body)
    }

    fn json(body: &[u8]) -> serde_json::Value {
        serde_json::from_slice(body).unwrap()
    }

    /// The page may not be framed, load anything from elsewhere or send its requests
    /// elsewhere; no answer is sniffed as another type.
    #[tokio::test]
    async fn the_page_says_what_it_may_do() {
        let dir = tempfile::tempdir().unwrap();
        let app = app(dir.path(), false, false);
        let get = |uri: &'static str| {
            let app = app.clone();
            async move {
                app.call(
                    Request::get(uri)
                        .header("host", "127.0.0.1")
                        .body(Full::new(Bytes::new()))
                        .unwrap(),
                )
                .await
            }
        };
        let page = get("/").await;
        let h = page.headers();
        let policy = h["content-security-policy"].to_str().unwrap();
        for directive in [
            "default-src 'none'",
            "connect-src 'self'",
            "frame-ancestors 'none'",
        ] {
            assert!(policy.contains(directive), "{policy}");
        }
        assert_eq!(h["x-frame-options"], "DENY");
        assert_eq!(h["referrer-policy"], "no-referrer");
        assert_eq!(h["x-content-type-options"], "nosniff");
        let list = get("/workers/active").await;
        assert_eq!(list.headers()["x-content-type-options"], "nosniff");
        assert!(list.headers().get("content-security-policy").is_none());
    }

    #[tokio::test]
    async fn reads_the_page_and_errors_are_dispatched_by_route() {
        let dir = tempfile::tempdir().unwrap();
        let app = app(dir.path(), false, false);
        let (status, ct, body) = ask(&app, "GET", "/workers/active", &[]).await;
        assert_eq!((status, ct.as_str()), (200, "application/json"));
        assert_eq!(json(&body)["count"], 0);
        let (status, _, body) = ask(&app, "GET", "/api/plugins/kanban/runs/1", &[]).await;
        assert_eq!(status, 200);
        assert_eq!(json(&body)["run"]["outcome"], "completed");
        let (status, _, body) = ask(&app, "GET", "/runs/1/inspect", &[]).await;
        assert_eq!(status, 200);
        assert_eq!(json(&body)["reason"], "run already ended");
        let (status, ct, body) = ask(&app, "GET", "/", &[]).await;
        assert_eq!((status, ct.as_str()), (200, "text/html; charset=utf-8"));
        assert!(String::from_utf8_lossy(&body).contains("<html"));
        let (status, ct, _) = ask(&app, "GET", "/metrics", &[]).await;
        assert_eq!(
            (status, ct.as_str()),
            (200, crate::shim::answer::metrics::CONTENT_TYPE)
        );
        // HEAD: the length of the GET's body, no body.
        let (status, _, body) = ask(&app, "HEAD", "/runs/1", &[]).await;
        assert_eq!((status, body.len()), (200, 0));
        for (method, uri, want, detail) in [
            ("GET", "/nope", 404, "no route for /nope"),
            (
                "GET",
                "/runs/abc",
                422,
                "run_id must be a positive 64-bit integer, got 'abc'",
            ),
            ("GET", "/runs/7", 404, "run 7 not found"),
            (
                "GET",
                "/workers/active?live=2",
                422,
                "live must be 1, true, 0 or false, got '2'",
            ),
            (
                "GET",
                "/workers/active?board=Bad!",
                400,
                "invalid board slug 'Bad!'",
            ),
            (
                "GET",
                "/workers/active?board=ops",
                404,
                "board 'ops' does not exist",
            ),
            (
                "POST",
                "/runs/1",
                405,
                "method POST not allowed on /runs/1; use GET, HEAD",
            ),
            ("GET", "/runs/1/terminate", 405, "use POST"),
        ] {
            let (status, ct, body) = ask(&app, method, uri, &[]).await;
            assert_eq!((status, ct.as_str()), (want, "application/json"), "{uri}");
            let got = json(&body)["detail"].as_str().unwrap().to_owned();
            assert!(got.contains(detail), "{uri}: {got}");
        }
    }

    #[tokio::test]
    async fn the_host_then_the_token_are_checked_before_any_route() {
        let dir = tempfile::tempdir().unwrap();
        let app = app(dir.path(), true, true);
        // A name the server does not answer (DNS rebinding), even with the token: 400.
        let (status, _, body) = ask(
            &app,
            "GET",
            "/workers/active",
            &[("host", "evil.example"), ("authorization", "Bearer t0ken")],
        )
        .await;
        assert_eq!(status, 400);
        assert!(
            json(&body)["detail"]
                .as_str()
                .unwrap()
                .contains("evil.example")
        );
        // No token, a wrong one: 401 before the route is known (an unknown path too).
        for (uri, header) in [
            ("/workers/active", None),
            ("/runs/1", Some(("authorization", "Bearer nope"))),
            ("/no/such/route", None),
        ] {
            let headers: Vec<(&str, &str)> = header.into_iter().collect();
            let (status, _, _) = ask(&app, "GET", uri, &headers).await;
            assert_eq!(status, 401, "{uri}");
        }
        // Either header carries it.
        for header in [
            ("authorization", "Bearer t0ken"),
            ("x-hermes-session-token", "t0ken"),
        ] {
            let (status, _, _) = ask(&app, "GET", "/runs/1", &[header]).await;
            assert_eq!(status, 200, "{header:?}");
        }
        // The page holds no data: answered without the token.
        let (status, _, _) = ask(&app, "GET", "/", &[]).await;
        assert_eq!(status, 200);
    }

    #[tokio::test]
    async fn terminate_needs_a_configured_token_and_checks_its_body() {
        let dir = tempfile::tempdir().unwrap();
        let open = app(dir.path(), false, false);
        let (status, _, body) = ask(&open, "POST", "/runs/1/terminate", &[]).await;
        assert_eq!(status, 403);
        assert!(
            json(&body)["detail"]
                .as_str()
                .unwrap()
                .contains("--token-file")
        );
        let dir = tempfile::tempdir().unwrap();
        let guarded = app(dir.path(), true, false);
        let (status, _, _) = ask(&guarded, "POST", "/runs/1/terminate", &[]).await;
        assert_eq!(status, 401);
        // The run has ended: the reference's 409, nothing signalled.
        let auth = [("authorization", "Bearer t0ken")];
        let (status, _, body) = ask(&guarded, "POST", "/runs/1/terminate", &auth).await;
        assert_eq!(status, 409);
        assert_eq!(json(&body)["detail"], "run 1 already ended");
    }
}
