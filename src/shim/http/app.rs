//! The App: one request in, one response out, testable in-process (as axum's examples are).
//! The Host check, then the token, then the route: a read runs its one query on a blocking
//! thread within the request's budget, the page is a constant, terminate has threads of its
//! own. Knows nothing of sockets: `serve` feeds it. Here: the App made from its `Config`, the
//! Host check and the dispatch; below it, `state` (the shared state and the budgets); beside
//! it, one file per kind of answer: `reads` (a read on a reader thread within the budget),
//! `every` (`?board=*`), `sampled` (the shared samples and the history's timer), `stream` (a
//! log followed), `act` (terminate, stop, reap, pause and resume), `respond` (headers and
//! bodies).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use hyper::body::{Body, Bytes};
use hyper::header::{HOST, HeaderValue};
use hyper::{Request, Response};
use tokio::sync::Semaphore;

use super::act::{Act, pause_or_resume, terminate_or_reap};
use super::every::every_board;
use super::reads::read;
use super::respond::{JSON, ResponseBody, respond, to_json};
use super::sampled::{fleet, keep_history, sampled};
use super::stream::follow_log;
use crate::shim::ApiError;
use crate::shim::answer;
use crate::shim::board::resolve::Boards;
use crate::shim::http::auth::Auth;
use crate::shim::http::host::HostPolicy;
use crate::shim::http::routes::{self, Readers, Route, Sampled};
use crate::shim::http::run_reads::RunReads;
use crate::shim::http::shares::Shares;
use crate::shim::http::state::{ANSWER_BUDGET_KIB, Peer, READERS, RUN_READERS, State, TERMINATORS};
use crate::shim::http::threads::Threads;
use crate::shim::sample::OpenBoards;

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
    /// `--prometheus`: the query API `/fleet/workers` asks.
    pub prometheus: Option<crate::shim::fleet::prom::Prometheus>,
    /// `--no-board`: the board is a private empty one, and the workers are the user's
    /// processes that carry a run's marks (`sql/route_workers_marked.sql`).
    pub no_board: bool,
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
                list_readers: Threads::new("lists", READERS - RUN_READERS),
                run_readers: Threads::new("runs", RUN_READERS),
                terminators: Arc::new(Semaphore::new(TERMINATORS)),
                max_connections: config.max_connections,
                terminating: std::sync::Mutex::new(std::collections::HashSet::new()),
                stopping: Arc::new(AtomicBool::new(false)),
                header_timeout: config.header_timeout,
                answers: Arc::new(Semaphore::new(ANSWER_BUDGET_KIB)),
                log_streams: Arc::new(Semaphore::new(config.log_streams)),
                board_streams: Shares::new(config.log_streams),
                client_streams: Shares::new(config.log_streams),
                log_idle: config.log_idle,
                prometheus: config.prometheus,
                no_board: config.no_board,
                run_reads: RunReads::new(config.max_connections),
                listening: std::sync::OnceLock::new(),
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

    /// Say where the shim listens (`serve`, once bound).
    pub(crate) fn listening_on(&self, addr: std::net::SocketAddr) {
        let _ = self.state.listening.set(addr);
    }

    pub(crate) fn header_timeout(&self) -> Duration {
        self.state.header_timeout
    }

    pub(crate) fn max_connections(&self) -> usize {
        self.state.max_connections
    }
}

/// One request's response. The rare answers' futures (terminate and reap, a log followed, the
/// fleet, the samples) are boxed: hyper moves this future for every request, and it is as large
/// as its largest branch (BENCHMARKS.md: 700 instructions a read).
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
    let routed = admit(state, &req, &method, &path, query);
    let content_type = routed.as_ref().map_or(JSON, |r| r.content_type);
    let (readers, shared) = routed
        .as_ref()
        .map_or((Readers::List, false), |r| (r.readers, r.shared));
    let (status, body) = match routed.map(|r| r.route) {
        Err(e) => (e.status, to_json(&e.body())),
        // The page reads no board: its script asks /workers/active?live=1.
        Ok(Route::Page) => (200, Bytes::from_static(answer::PAGE.as_str().as_bytes())),
        Ok(route @ (Route::Terminate(id) | Route::Reap(id) | Route::Stop(id))) => {
            let query = query.map(str::to_owned);
            let act = match route {
                Route::Reap(_) => Act::Reap,
                Route::Stop(_) => Act::Stop,
                _ => Act::Terminate,
            };
            match Box::pin(terminate_or_reap(state, id, act, req, query.as_deref())).await {
                Ok(body) => (200, Bytes::from(body)),
                Err(e) => (e.status, to_json(&e.body())),
            }
        }
        Ok(route @ (Route::Pause(id) | Route::Resume(id))) => {
            let freeze = matches!(route, Route::Pause(_));
            let asked = pause_or_resume(state, id, freeze, req.headers(), query);
            match Box::pin(asked).await {
                Ok(body) => (200, Bytes::from(body)),
                Err(e) => (e.status, to_json(&e.body())),
            }
        }
        // A stream, answered on its own (its body is not one answer of bytes).
        Ok(Route::FollowLog(id)) => match Box::pin(follow_log(
            state,
            id,
            query,
            started,
            method == "HEAD",
            req.extensions().get::<Peer>().map(|p| p.0),
        ))
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
        Ok(Route::Read(read_of)) => match Boards::asked(routes::board(query).as_deref()) {
            Ok(board) => read(state, read_of, readers, shared, board, started).await,
            Err(e) => (e.status, to_json(&e.body())),
        },
        Ok(Route::Fleet) => {
            let asked = Boards::asked(routes::board(query).as_deref());
            answered(Box::pin(async { fleet(state, asked?, started).await }).await)
        }
        Ok(Route::Sampled(read)) => {
            let asked = Boards::asked(routes::board(query).as_deref());
            answered(Box::pin(async { sampled(state, read, asked?, started).await }).await)
        }
        Ok(Route::EveryBoard(read)) => answered(Box::pin(every_board(state, read, started)).await),
    };
    let content_type = if status == 200 { content_type } else { JSON };
    let response = respond(status, body, method == "HEAD", content_type, &path);
    log_request(state, &method, &path, query, status, started);
    response
}

/// A 200 with the bytes, or the error's answer.
fn answered(result: Result<Bytes, ApiError>) -> (u16, Bytes) {
    match result {
        Ok(bytes) => (200, bytes),
        Err(e) => (e.status, to_json(&e.body())),
    }
}

/// The request's route, once its host and then its token are checked, before anything is
/// read. The page is answered without the token: it holds no data, and its script sends the
/// token (from the page's fragment) with each request for data. The check `stat`s the token
/// file here, on the async worker: one metadata call on the operator's own file, and a read of
/// at most 4 KiB (non-blocking, a regular file only) when it has changed; see `auth`. A
/// metrics token reads `/metrics` only.
fn admit<B>(
    state: &State,
    req: &Request<B>,
    method: &str,
    path: &str,
    query: Option<&str>,
) -> Result<routes::Routed, ApiError> {
    let routed = routes::routed(method, path, query);
    let (page, metrics) = match &routed {
        Ok(r) => (
            r.route == Route::Page,
            r.route == Route::Sampled(Sampled::Metrics),
        ),
        Err(_) => (false, false),
    };
    check_host(&state.hosts, req)
        .and_then(|()| match page {
            true => Ok(()),
            false => state.auth.check(req.headers(), metrics),
        })
        .and(routed)
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

/// Dispatch tested in-process, on `App::call` (as axum's `examples/testing` does): routing,
/// the token, the Host check and the error answers, against a real board file. What needs a
/// process (signals, sockets, slow clients) is tested on the real binary in `tests/`.
#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;
    use http_body_util::Full;
    use hyper::header::CONTENT_TYPE;
    use std::path::Path;

    const SCHEMA: &str = include_str!("../../../sql/kanban_schema.sql");

    /// The config of an App serving a fresh board (one ended run), with the token `t0ken` when
    /// `token`.
    fn config(dir: &Path, token: bool, auth_reads: bool) -> Config {
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
        Config {
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
            prometheus: None,
            no_board: false,
        }
    }

    fn app(dir: &Path, token: bool, auth_reads: bool) -> App {
        App::new(config(dir, token, auth_reads))
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

    /// Framing, in-process (moved from the TCP-level contract tests): bad ids are 422, unknown
    /// paths 404 naming the path, under both prefixes, JSON; the page at `/` and under the
    /// prefix with its slash; a wrong method a 405 with the row's `Allow`.
    #[tokio::test]
    async fn bad_ids_unknown_paths_and_wrong_methods_get_json_errors() {
        let dir = tempfile::tempdir().unwrap();
        let app = app(dir.path(), false, false);
        for id in ["abc", "-1", "0", "99999999999999999999"] {
            for path in [
                format!("/runs/{id}"),
                format!("/api/plugins/kanban/runs/{id}/inspect"),
            ] {
                let (status, ct, body) = ask(&app, "GET", &path, &[]).await;
                assert_eq!((status, ct.as_str()), (422, "application/json"), "{path}");
                let detail = json(&body)["detail"].as_str().unwrap().to_owned();
                assert!(
                    detail.contains("positive 64-bit integer") && detail.contains(id),
                    "{detail}"
                );
            }
        }
        for path in [
            "/nope",
            "/workers",
            "/runs/1/kill",
            "/api/plugins/kanban",
            "/api/plugins/kanban/nope",
        ] {
            let (status, ct, body) = ask(&app, "GET", path, &[]).await;
            assert_eq!((status, ct.as_str()), (404, "application/json"), "{path}");
            assert!(json(&body)["detail"].as_str().unwrap().contains(path));
        }
        for path in ["/", "/api/plugins/kanban/"] {
            let (status, ct, body) = ask(&app, "GET", path, &[]).await;
            assert_eq!(
                (status, ct.as_str()),
                (200, "text/html; charset=utf-8"),
                "{path}"
            );
            assert!(String::from_utf8_lossy(&body).contains("workers/active?live=1"));
        }
        for method in ["POST", "DELETE", "PUT", "PATCH"] {
            let response = app
                .call(
                    Request::builder()
                        .method(method)
                        .uri("/runs/1")
                        .body(Full::new(Bytes::new()))
                        .unwrap(),
                )
                .await;
            assert_eq!(response.status().as_u16(), 405, "{method}");
            assert_eq!(response.headers()["allow"], "GET, HEAD");
        }
        let response = app
            .call(
                Request::get("/runs/1/terminate")
                    .body(Full::new(Bytes::new()))
                    .unwrap(),
            )
            .await;
        assert_eq!(response.headers()["allow"], "POST");
    }

    /// HEAD: the GET's headers, its length, no body.
    #[tokio::test]
    async fn head_answers_headers_without_a_body() {
        let dir = tempfile::tempdir().unwrap();
        let app = app(dir.path(), false, false);
        for path in ["/workers/active", "/runs/1", "/runs/1/inspect", "/"] {
            let (_, _, get) = ask(&app, "GET", path, &[]).await;
            let response = app
                .call(Request::head(path).body(Full::new(Bytes::new())).unwrap())
                .await;
            assert_eq!(response.status().as_u16(), 200, "{path}");
            let length = response.headers()["content-length"]
                .to_str()
                .unwrap()
                .to_owned();
            assert_eq!(length, get.len().to_string(), "{path}");
            let body = http_body_util::BodyExt::collect(response.into_body())
                .await
                .unwrap()
                .to_bytes();
            assert!(body.is_empty(), "{path}");
        }
    }

    /// DNS rebinding: a page that made its own name resolve to 127.0.0.1 still sends that name
    /// as `Host`. On loopback only loopback names are answered (the board's data never), an
    /// absolute target's host counts, two `Host` headers are refused; `--allow-host` adds one.
    #[tokio::test]
    async fn foreign_host_names_are_refused_on_loopback() {
        let dir = tempfile::tempdir().unwrap();
        let app = app(dir.path(), false, false);
        for route in ["/workers/active", "/runs/1", "/runs/1/inspect"] {
            for host in ["rebind.example:8765", "rebind.example"] {
                let (status, _, body) = ask(&app, "GET", route, &[("host", host)]).await;
                assert_eq!(status, 400, "{route} {host}");
                assert!(String::from_utf8_lossy(&body).contains("rebind.example"));
                assert!(!String::from_utf8_lossy(&body).contains("completed"));
            }
            let absolute = format!("http://rebind.example:8765{route}");
            let (status, _, _) = ask(&app, "GET", &absolute, &[("host", "localhost")]).await;
            assert_eq!(status, 400, "{absolute}");
            for host in [
                "localhost:8765",
                "[::1]:8765",
                "127.0.0.1:8765",
                "127.0.0.5",
            ] {
                let (status, _, _) = ask(&app, "GET", route, &[("host", host)]).await;
                assert_eq!(status, 200, "{route} {host}");
            }
        }
        let (status, _, body) = ask(
            &app,
            "GET",
            "/workers/active",
            &[("host", "localhost"), ("host", "rebind.example")],
        )
        .await;
        assert_eq!(status, 400);
        assert!(String::from_utf8_lossy(&body).contains("more than one Host"));
        let other_dir = tempfile::tempdir().unwrap();
        let named = App::new(Config {
            hosts: HostPolicy::new(
                "127.0.0.1:8765".parse().unwrap(),
                vec!["dash.internal".to_owned()],
            ),
            ..config(other_dir.path(), false, false)
        });
        let (ok, _, _) = ask(
            &named,
            "GET",
            "/workers/active",
            &[("host", "dash.internal:80")],
        )
        .await;
        assert_eq!(ok, 200);
        let (other, _, _) = ask(
            &named,
            "GET",
            "/workers/active",
            &[("host", "other.example")],
        )
        .await;
        assert_eq!(other, 400);
    }
}
