//! Request line to route: pure parsing, no I/O.
//!
//! Routes answer under `/` and under `/api/plugins/kanban/` (the prefix the existing dashboard
//! uses): GET and HEAD for the reads and the page, POST for the acts (terminate, stop, reap,
//! pause, resume). Of the query string, `live` on `/workers/active`, `tail` on the logs,
//! `follow` on a run's log, `since` on `/runs/endings` and `board` everywhere are read; other
//! parameters are ignored.

use crate::shim::ApiError;

/// The prefix the existing dashboard mounts the plugin routes under.
pub const PLUGIN_PREFIX: &str = "/api/plugins/kanban";
/// Methods every route accepts (the `Allow` header of a 405).
pub(crate) const ALLOW: &str = "GET, HEAD";

/// What a request asks for, by kind: a read of a board (one query), the page (no board), an
/// act (terminate and stop write the board, reap only where the owner's reaper would, pause
/// and resume write none), or a log followed (a stream, not one answer).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    Read(Read),
    /// A read answered from the board's shared samples of `/proc` (`shim::sample`).
    Sampled(Sampled),
    /// `GET /`: the live page (it holds no data and reads no board).
    Page,
    /// `POST /runs/{id}/terminate`: end an open run's worker, reclaim its task.
    Terminate(i64),
    /// `POST /runs/{id}/reap`: end what an ended run left behind (it writes only the owner's
    /// reaper's clearing of a kept worker it ended).
    Reap(i64),
    /// `POST /runs/{id}/stop`: block the task as the owner's `block_task` does, then end the
    /// run's processes (nothing claims the task again).
    Stop(i64),
    /// `POST /runs/{id}/pause` and `/resume`: freeze or thaw the run's systemd scope.
    Pause(i64),
    Resume(i64),
    /// `GET /fleet/workers`: every host's workers, this one's from `/proc`, the others' from
    /// the Prometheus-compatible query API `--prometheus` names.
    Fleet,
    /// `GET /runs/{id}/log?follow=1`: Server-Sent Events (`follow` is checked by its handler).
    FollowLog(i64),
    /// A list for every board of the kanban root at once (`?board=*`).
    EveryBoard(EveryRead),
}

/// The lists `?board=*` answers for every board at once (`*` is no slug: the owner's rule
/// refuses it, so it names nothing else); on any other route it is refused as a slug (400).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EveryRead {
    /// `GET /workers/active?board=*`.
    Active,
    /// `GET /workers/active?live=1&board=*`.
    Live,
    /// `GET /workers/lingering?board=*`.
    Lingering,
}

/// The route for every board when `?board=*` asks for it of a list that answers it.
fn every_board(route: Route, query: Option<&str>) -> Route {
    if board(query).as_deref().map(str::trim) != Some("*") {
        return route;
    }
    match route {
        Route::Read(Read::WorkersActive) => Route::EveryBoard(EveryRead::Active),
        Route::Sampled(Sampled::WorkersLive) => Route::EveryBoard(EveryRead::Live),
        Route::Sampled(Sampled::Lingering) => Route::EveryBoard(EveryRead::Lingering),
        other => other,
    }
}

/// The reads answered from a board's shared samples, not a query of their own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sampled {
    /// `/workers/active?live=1`: with verdicts, live stats and tree totals.
    WorkersLive,
    /// `GET /workers/lingering`: the processes runs left behind.
    Lingering,
    /// `GET /metrics`: Prometheus text.
    Metrics,
}

pub use crate::shim::answer::Read;

/// `tail`'s bounds (bytes), the owner's.
pub(crate) const MAX_TAIL: u32 = 2_000_000;

/// A route, with what its row says of it: which reader threads its query runs on, and
/// whether requests asking the same at once share one read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Routed {
    pub route: Route,
    pub readers: Readers,
    pub shared: bool,
    /// Its 200 answer's content type.
    pub content_type: &'static str,
}

/// Map a method, a path and its query string to a route and its row's classes, or to the
/// error to answer. The row says which methods it takes (a 405 with its `Allow` otherwise).
pub fn routed(method: &str, path: &str, query: Option<&str>) -> Result<Routed, ApiError> {
    let (found, spec) = match_path(path)?;
    let route = match (found, live(query)?) {
        (Route::Read(Read::WorkersActive), true) => Route::Sampled(Sampled::WorkersLive),
        (Route::Read(Read::TaskLog { task_id, .. }), _) => Route::Read(Read::TaskLog {
            task_id,
            tail: tail(query)?,
        }),
        (Route::Read(Read::Endings { .. }), _) => Route::Read(Read::Endings {
            since: since(query)?,
        }),
        (route, _) => route,
    };
    let route = every_board(route, query);
    if !spec.method.admits(method) {
        return Err(ApiError::new(
            405,
            format!(
                "method {} not allowed on {}; use {}",
                shown(method),
                shown(path),
                spec.method.allow()
            ),
        ));
    }
    Ok(Routed {
        route,
        readers: spec.readers,
        shared: spec.shared,
        content_type: spec.content_type,
    })
}

/// The live page's content type.
pub(crate) const PAGE_CONTENT_TYPE: &str = "text/html; charset=utf-8";
/// The content type of a JSON answer (and of every error).
pub const JSON: &str = "application/json";

/// [`routed`]'s route alone.
pub fn route(method: &str, path: &str, query: Option<&str>) -> Result<Route, ApiError> {
    routed(method, path, query).map(|r| r.route)
}

/// The methods the route at `path` accepts (a 405's `Allow`), from its row.
pub(crate) fn allow_for(path: &str) -> &'static str {
    match_path(path).map_or(ALLOW, |(_, spec)| spec.method.allow())
}

/// The `board` parameter's value, percent-decoded as a form value (`%XX`, `+` for a space);
/// the last one wins. `None` when absent.
pub fn board(query: Option<&str>) -> Option<String> {
    param(query, "board")
}

/// A parameter's value, decoded as a form value; the last one wins (as the owner's framework
/// reads a scalar). `None` when absent.
fn param(query: Option<&str>, name: &str) -> Option<String> {
    form_urlencoded::parse(query?.as_bytes())
        .filter(|(key, _)| key == name)
        .last()
        .map(|(_, value)| value.into_owned())
}

/// `tail`: absent, or an integer of bytes within 1..=2,000,000 (422 otherwise, as the owner's
/// validation answers).
fn tail(query: Option<&str>) -> Result<Option<u32>, ApiError> {
    let Some(text) = param(query, "tail") else {
        return Ok(None);
    };
    match lax_int(&text) {
        Some(n) if (1..=i128::from(MAX_TAIL)).contains(&n) => Ok(Some(n as u32)),
        _ => Err(ApiError::new(
            422,
            format!(
                "tail must be an integer from 1 to {MAX_TAIL} (bytes), got '{}'",
                shown(&text)
            ),
        )),
    }
}

/// `since` on `/runs/endings`: absent, or epoch seconds, an integer from 0 (422 otherwise).
fn since(query: Option<&str>) -> Result<Option<i64>, ApiError> {
    let Some(text) = param(query, "since") else {
        return Ok(None);
    };
    match lax_int(&text) {
        Some(n) if (0..=i128::from(i64::MAX)).contains(&n) => Ok(Some(n as i64)),
        _ => Err(ApiError::new(
            422,
            format!(
                "since must be epoch seconds, an integer from 0, got '{}'",
                shown(&text)
            ),
        )),
    }
}

/// An integer as the owner's validation (pydantic, lax mode) reads one from a query string:
/// white space around it, a sign, `_` between digits, and a fraction of zeros are accepted
/// (` 5`, `+5`, `05`, `5_0`, `5.0`); anything else is not an integer.
fn lax_int(text: &str) -> Option<i128> {
    let t = text.trim_matches(|c: char| c.is_ascii_whitespace());
    let (negative, t) = match t.as_bytes().first() {
        Some(b'-') => (true, &t[1..]),
        Some(b'+') => (false, &t[1..]),
        _ => (false, t),
    };
    let (whole, fraction) = t.split_once('.').unwrap_or((t, ""));
    let digits_ok = |d: &str| {
        !d.is_empty()
            && !d.starts_with('_')
            && !d.ends_with('_')
            && !d.contains("__")
            && d.bytes().all(|b| b.is_ascii_digit() || b == b'_')
    };
    if !digits_ok(whole) || !(fraction.is_empty() || fraction.bytes().all(|b| b == b'0')) {
        return None;
    }
    if t.contains('.') && fraction.is_empty() {
        return None;
    }
    let digits: String = whole.chars().filter(|c| *c != '_').collect();
    let significant = digits.trim_start_matches('0');
    // Past 30 digits it is out of any range asked here: say so without overflowing.
    let n: i128 = match significant.len() {
        0 => 0,
        1..=30 => significant.parse().ok()?,
        _ => i128::MAX,
    };
    Some(if negative { -n } else { n })
}

/// `follow` on `/runs/{id}/log`: it must be `1` or `true` (the route streams; 422 otherwise).
pub fn follow(query: Option<&str>) -> Result<(), ApiError> {
    match param(query, "follow").as_deref() {
        Some("1" | "true") => Ok(()),
        other => Err(ApiError::new(
            422,
            format!(
                "follow must be 1 or true (the route streams the log), got '{}'",
                shown(other.unwrap_or(""))
            ),
        )),
    }
}

/// The `tail` of a followed log: as on the task's log, 16 KiB when absent.
pub(crate) fn follow_tail(query: Option<&str>) -> Result<u32, ApiError> {
    Ok(tail(query)?.unwrap_or(16 * 1024))
}

/// A path segment, percent-decoded (`%XX`; `+` stays), invalid UTF-8 replaced, as the owner's
/// framework decodes a path parameter.
fn decode_segment(segment: &str) -> String {
    percent_encoding::percent_decode_str(segment)
        .decode_utf8_lossy()
        .into_owned()
}

/// The `live` parameter: `1`/`true` or `0`/`false` (absent: false); anything else is a 422.
fn live(query: Option<&str>) -> Result<bool, ApiError> {
    let mut live = false;
    let pairs = form_urlencoded::parse(query.unwrap_or("").as_bytes());
    for (_, value) in pairs.filter(|(key, _)| key == "live") {
        live = match value.as_ref() {
            "1" | "true" => true,
            "0" | "false" => false,
            other => {
                return Err(ApiError::new(
                    422,
                    format!("live must be 1, true, 0 or false, got '{}'", shown(other)),
                ));
            }
        };
    }
    Ok(live)
}

/// The methods a row takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Method {
    /// GET, and HEAD (the same answer without its body).
    Get,
    /// POST only (the acts: terminate, stop, reap, pause, resume).
    Post,
}

impl Method {
    /// Whether a request's `method` is one this row takes.
    pub fn admits(self, method: &str) -> bool {
        match self {
            Method::Get => method == "GET" || method == "HEAD",
            Method::Post => method == "POST",
        }
    }

    /// Its 405's `Allow`.
    pub fn allow(self) -> &'static str {
        match self {
            Method::Get => ALLOW,
            Method::Post => "POST",
        }
    }

    /// As the usage says it.
    pub fn name(self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Post => "POST",
        }
    }
}

/// The reader threads a route's query runs on: the lists (whose answers grow with the board)
/// and the one-run routes have threads of their own, so a flood of the one never starves the
/// other.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Readers {
    List,
    Run,
}

/// One route, defined once: its method, its path (`{name}` stands for one non-empty segment),
/// what the usage says of it, and how its segments become a [`Route`]. The router
/// ([`route`]) and the usage's list of routes both come from [`ROUTES`].
pub(crate) struct RouteSpec {
    /// The methods it takes, enforced by [`routed`] (a 405 otherwise).
    pub method: Method,
    pub path: &'static str,
    pub help: &'static str,
    /// The reader threads its query runs on.
    pub readers: Readers,
    /// Requests asking the same at once share one read (a run's processes: `RunReads`).
    pub shared: bool,
    /// Its 200 answer's content type.
    pub content_type: &'static str,
    /// The route, from the segments that `{name}`s stand for, in order.
    make: fn(&[&str]) -> Result<Route, ApiError>,
}

/// The run id of a route's first `{run_id}`.
fn first_id(captured: &[&str]) -> Result<i64, ApiError> {
    run_id(captured.first().copied().unwrap_or(""))
}

/// Every route, in the order the usage lists them.
pub(crate) const ROUTES: &[RouteSpec] = &[
    RouteSpec {
        method: Method::Get,
        path: "/",
        help: "the live page",
        readers: Readers::List,
        shared: false,
        content_type: PAGE_CONTENT_TYPE,
        make: |_| Ok(Route::Page),
    },
    RouteSpec {
        method: Method::Get,
        path: "/workers/active",
        help: "every worker running now (?live=1: verdicts, stats, trees)",
        readers: Readers::List,
        shared: false,
        content_type: JSON,
        make: |_| Ok(Route::Read(Read::WorkersActive)),
    },
    RouteSpec {
        method: Method::Get,
        path: "/workers/lingering",
        help: "every process a run left behind (its run has ended)",
        readers: Readers::List,
        shared: false,
        content_type: JSON,
        make: |_| Ok(Route::Sampled(Sampled::Lingering)),
    },
    RouteSpec {
        method: Method::Get,
        path: "/runs/{run_id}",
        help: "one run",
        readers: Readers::Run,
        shared: false,
        content_type: JSON,
        make: |c| Ok(Route::Read(Read::Run(first_id(c)?))),
    },
    RouteSpec {
        method: Method::Get,
        path: "/runs/endings",
        help: "how runs ended since ?since=<epoch> (6 h), in words",
        readers: Readers::List,
        shared: false,
        content_type: JSON,
        make: |_| Ok(Route::Read(Read::Endings { since: None })),
    },
    RouteSpec {
        method: Method::Get,
        path: "/runs/{run_id}/inspect",
        help: "the verdict and live stats of a run's worker",
        readers: Readers::Run,
        shared: true,
        content_type: JSON,
        make: |c| Ok(Route::Read(Read::Inspect(first_id(c)?))),
    },
    RouteSpec {
        method: Method::Get,
        path: "/metrics",
        help: "Prometheus exposition of the live workers",
        readers: Readers::List,
        shared: false,
        content_type: crate::shim::answer::metrics::CONTENT_TYPE,
        make: |_| Ok(Route::Sampled(Sampled::Metrics)),
    },
    RouteSpec {
        method: Method::Post,
        path: "/runs/{run_id}/terminate",
        help: "end a verified worker's processes, reclaim its task (token)",
        readers: Readers::Run,
        shared: false,
        content_type: JSON,
        make: |c| Ok(Route::Terminate(first_id(c)?)),
    },
    RouteSpec {
        method: Method::Post,
        path: "/runs/{run_id}/stop",
        help: "block the task as the owner does, then end the worker's processes (token)",
        readers: Readers::Run,
        shared: false,
        content_type: JSON,
        make: |c| Ok(Route::Stop(first_id(c)?)),
    },
    RouteSpec {
        method: Method::Post,
        path: "/runs/{run_id}/reap",
        help: "end what an ended run left behind; writes only as the owner's reaper would (token)",
        readers: Readers::Run,
        shared: false,
        content_type: JSON,
        make: |c| Ok(Route::Reap(first_id(c)?)),
    },
    RouteSpec {
        method: Method::Post,
        path: "/runs/{run_id}/pause",
        help: "freeze the run's whole systemd scope (token; a scope needed)",
        readers: Readers::Run,
        shared: false,
        content_type: JSON,
        make: |c| Ok(Route::Pause(first_id(c)?)),
    },
    RouteSpec {
        method: Method::Post,
        path: "/runs/{run_id}/resume",
        help: "thaw it (token)",
        readers: Readers::Run,
        shared: false,
        content_type: JSON,
        make: |c| Ok(Route::Resume(first_id(c)?)),
    },
    RouteSpec {
        method: Method::Get,
        path: "/tasks/{task_id}/log",
        help: "a task's worker log, the owner's route (?tail=N bytes)",
        readers: Readers::Run,
        shared: false,
        content_type: JSON,
        make: |c| {
            Ok(Route::Read(Read::TaskLog {
                task_id: decode_segment(c.first().copied().unwrap_or("")),
                tail: None,
            }))
        },
    },
    RouteSpec {
        method: Method::Get,
        path: "/runs/{run_id}/log",
        help: "?follow=1: the run's log as Server-Sent Events, to its end",
        readers: Readers::Run,
        shared: false,
        content_type: "text/event-stream",
        make: |c| Ok(Route::FollowLog(first_id(c)?)),
    },
    RouteSpec {
        method: Method::Get,
        path: "/runs/{run_id}/processes",
        help: "the run's processes now: its worker's tree, what escaped it",
        readers: Readers::Run,
        shared: true,
        content_type: JSON,
        make: |c| Ok(Route::Read(Read::Processes(first_id(c)?))),
    },
    RouteSpec {
        method: Method::Get,
        path: "/runs/{run_id}/history",
        help: "the run's CPU and memory over the last --history seconds",
        readers: Readers::Run,
        shared: false,
        content_type: JSON,
        make: |c| Ok(Route::Read(Read::History(first_id(c)?))),
    },
    RouteSpec {
        method: Method::Get,
        path: "/workers/history",
        help: "the same for every active worker",
        readers: Readers::List,
        shared: false,
        content_type: JSON,
        make: |_| Ok(Route::Read(Read::WorkersHistory)),
    },
    RouteSpec {
        method: Method::Get,
        path: "/fleet/workers",
        help: "every host's workers (--prometheus): this one's, the others' as scraped",
        readers: Readers::List,
        shared: false,
        content_type: JSON,
        make: |_| Ok(Route::Fleet),
    },
];

/// The usage's list of routes, one line each, from [`ROUTES`].
pub(crate) fn usage_lines() -> String {
    ROUTES
        .iter()
        .map(|r| format!("  {:<4} {:<24} {}\n", r.method.name(), r.path, r.help))
        .collect()
}

fn match_path(path: &str) -> Result<(Route, &'static RouteSpec), ApiError> {
    let local = match path.strip_prefix(PLUGIN_PREFIX) {
        Some(rest) if rest.starts_with('/') => rest,
        _ => path,
    };
    let Ok(found) = ROUTER.at(local) else {
        return Err(not_found(path));
    };
    let mut captured = [""; 2];
    let mut n = 0;
    for (slot, (_, value)) in captured.iter_mut().zip(found.params.iter()) {
        *slot = value;
        n += 1;
    }
    match ROUTES.get(*found.value) {
        Some(spec) => Ok(((spec.make)(&captured[..n])?, spec)),
        None => Err(not_found(path)),
    }
}

/// [`ROUTES`] as a tree (`matchit`), each path leading to its row. Built once; a row whose path
/// the router refuses is left out, which the tests see (every row is reached).
static ROUTER: std::sync::LazyLock<matchit::Router<usize>> = std::sync::LazyLock::new(|| {
    let mut router = matchit::Router::new();
    for (i, spec) in ROUTES.iter().enumerate() {
        let _ = router.insert(spec.path, i);
    }
    router
});

/// A run id is a positive 64-bit integer written in decimal digits.
pub fn run_id(text: &str) -> Result<i64, ApiError> {
    let valid = !text.is_empty() && text.len() <= 19 && text.bytes().all(|b| b.is_ascii_digit());
    match text.parse::<i64>() {
        Ok(n) if valid && n >= 1 => Ok(n),
        _ => Err(ApiError::new(
            422,
            format!(
                "run_id must be a positive 64-bit integer, got '{}'",
                shown(text)
            ),
        )),
    }
}

fn not_found(path: &str) -> ApiError {
    ApiError::new(404, format!("no route for {}", shown(path)))
}

pub use crate::shim::shown;

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn both_prefixes_route_the_same() {
        for prefix in ["", PLUGIN_PREFIX] {
            assert_eq!(
                route("GET", &format!("{prefix}/workers/active"), None),
                Ok(Route::Read(Read::WorkersActive))
            );
            assert_eq!(
                route("GET", &format!("{prefix}/runs/42"), None),
                Ok(Route::Read(Read::Run(42)))
            );
            assert_eq!(
                route("HEAD", &format!("{prefix}/runs/7/inspect"), None),
                Ok(Route::Read(Read::Inspect(7)))
            );
            assert_eq!(
                route("GET", &format!("{prefix}/workers/lingering"), None),
                Ok(Route::Sampled(Sampled::Lingering))
            );
            assert_eq!(
                route("POST", &format!("{prefix}/runs/3/reap"), None),
                Ok(Route::Reap(3))
            );
            assert_eq!(
                route("GET", &format!("{prefix}/runs/3/reap"), None).map_err(|e| e.status),
                Err(405)
            );
        }
    }

    /// The row decides: its method is enforced (the other is a 405 with the row's `Allow`),
    /// and its reader class, sharing and content type come with the route.
    #[test]
    fn each_row_says_its_method_readers_sharing_and_type() {
        for spec in ROUTES {
            let path = spec
                .path
                .replace("{run_id}", "7")
                .replace("{task_id}", "t1");
            let other = match spec.method {
                Method::Get => "POST",
                Method::Post => "GET",
            };
            let refused = routed(other, &path, None).unwrap_err();
            assert_eq!(refused.status, 405, "{path}");
            assert_eq!(allow_for(&path), spec.method.allow(), "{path}");
            let r = routed(spec.method.name(), &path, None).unwrap();
            assert_eq!(
                (r.readers, r.shared, r.content_type),
                (spec.readers, spec.shared, spec.content_type),
                "{path}"
            );
        }
        // What is shared: the reads of one run's processes, on the run readers.
        let shared: Vec<&str> = ROUTES.iter().filter(|r| r.shared).map(|r| r.path).collect();
        assert_eq!(
            shared,
            ["/runs/{run_id}/inspect", "/runs/{run_id}/processes"]
        );
        assert!(
            ROUTES
                .iter()
                .filter(|r| r.shared)
                .all(|r| r.readers == Readers::Run)
        );
    }

    #[test]
    fn every_row_of_the_table_is_routed() {
        for spec in ROUTES {
            let path = spec
                .path
                .replace("{run_id}", "7")
                .replace("{task_id}", "t1");
            let routed = routed(spec.method.name(), &path, None);
            assert!(routed.is_ok(), "{} {path}: {routed:?}", spec.method.name());
        }
    }

    #[test]
    fn bad_ids_are_422_and_unknown_paths_404() {
        for id in [
            "abc",
            "-1",
            "0",
            "99999999999999999999",
            "1.5",
            "+3",
            "0x10",
            "１",
        ] {
            assert_eq!(
                route("GET", &format!("/runs/{id}"), None).map_err(|e| e.status),
                Err(422),
                "{id}"
            );
        }
        assert_eq!(run_id("9223372036854775807"), Ok(i64::MAX));
        for p in [
            "",
            "/workers",
            "/workers/active/",
            "/runs/",
            "/runs/1/x",
            "/runs//inspect",
            "/tasks//log",
            "/runs/1/inspect/",
            "/api/plugins/kanbanx/workers/active",
            "//workers/active",
        ] {
            assert_eq!(route("GET", p, None).map_err(|e| e.status), Err(404), "{p}");
        }
        assert_eq!(
            route("POST", "/runs/1", None).map_err(|e| e.status),
            Err(405)
        );
        assert_eq!(
            route("DELETE", "/nope", None).map_err(|e| e.status),
            Err(404)
        );
    }

    #[test]
    fn log_routes_read_tail_and_decode_the_task_id() {
        let log = |task: &str, tail| {
            Ok(Route::Read(Read::TaskLog {
                task_id: task.to_owned(),
                tail,
            }))
        };
        assert_eq!(route("GET", "/tasks/t_1/log", None), log("t_1", None));
        assert_eq!(
            route(
                "GET",
                "/api/plugins/kanban/tasks/t%201+/log",
                Some("tail=5")
            ),
            log("t 1+", Some(5))
        );
        assert_eq!(
            route("GET", "/tasks/t/log", Some("tail=1&tail=2000000")),
            log("t", Some(2_000_000))
        );
        for (ok, n) in [
            ("tail=%205", 5),
            ("tail=05", 5),
            ("tail=%2B5", 5),
            ("tail=5_0", 50),
            ("tail=5.0", 5),
        ] {
            assert_eq!(
                route("GET", "/tasks/t/log", Some(ok)),
                log("t", Some(n)),
                "{ok}"
            );
        }
        for bad in [
            "tail=0",
            "tail=2000001",
            "tail=abc",
            "tail=",
            "tail=-1",
            "tail=1.5",
            "tail=99999999999",
            "tail=1e3",
            "tail=_5",
            "tail=5.",
            "tail=-0",
            "tail=9999999999999999999999999999999999999",
        ] {
            assert_eq!(
                route("GET", "/tasks/t/log", Some(bad)).map_err(|e| e.status),
                Err(422),
                "{bad}"
            );
        }
        assert_eq!(
            route("GET", "/runs/3/log", Some("follow=1")),
            Ok(Route::FollowLog(3))
        );
        assert_eq!(
            route("GET", "/runs/x/log", None).map_err(|e| e.status),
            Err(422)
        );
        assert_eq!(
            route("POST", "/tasks/t/log", None).map_err(|e| e.status),
            Err(405)
        );
        assert!(follow(Some("follow=1")).is_ok() && follow(Some("follow=true")).is_ok());
        for bad in [None, Some("follow=0"), Some("follow=yes")] {
            assert_eq!(follow(bad).map_err(|e| e.status), Err(422), "{bad:?}");
        }
        assert_eq!(follow_tail(None), Ok(16 * 1024));
    }

    #[test]
    fn board_is_read_and_decoded() {
        assert_eq!(board(None), None);
        assert_eq!(board(Some("live=1")), None);
        assert_eq!(board(Some("board=ops")), Some("ops".to_owned()));
        assert_eq!(board(Some("board=")), Some(String::new()));
        assert_eq!(board(Some("x=1&board=a%2Fb")), Some("a/b".to_owned()));
        assert_eq!(board(Some("board=%20Ops+")), Some(" Ops ".to_owned()));
        assert_eq!(board(Some("board=%zz%4")), Some("%zz%4".to_owned()));
    }

    /// `?board=*` makes the three lists every board's; elsewhere it stays a slug (refused).
    #[test]
    fn every_board_on_the_lists_only() {
        for (path, query, want) in [
            ("/workers/active", "board=*", EveryRead::Active),
            ("/workers/active", "live=1&board=%2A", EveryRead::Live),
            (
                "/api/plugins/kanban/workers/lingering",
                "board=+*+",
                EveryRead::Lingering,
            ),
        ] {
            assert_eq!(
                route("GET", path, Some(query)),
                Ok(Route::EveryBoard(want)),
                "{path}?{query}"
            );
        }
        assert_eq!(
            route("GET", "/runs/1", Some("board=*")),
            Ok(Route::Read(Read::Run(1)))
        );
        assert_eq!(
            route("GET", "/metrics", Some("board=*")),
            Ok(Route::Sampled(Sampled::Metrics))
        );
        assert_eq!(
            route("GET", "/workers/active", Some("board=**")),
            Ok(Route::Read(Read::WorkersActive))
        );
    }

    #[test]
    fn live_is_read_from_the_query_string() {
        for (query, expected) in [
            (None, Ok(Route::Read(Read::WorkersActive))),
            (Some("live=1"), Ok(Route::Sampled(Sampled::WorkersLive))),
            (Some("live=true"), Ok(Route::Sampled(Sampled::WorkersLive))),
            (
                Some("board=x&live=1"),
                Ok(Route::Sampled(Sampled::WorkersLive)),
            ),
            (Some("live=0"), Ok(Route::Read(Read::WorkersActive))),
            (Some("live=false"), Ok(Route::Read(Read::WorkersActive))),
            (Some("other=1"), Ok(Route::Read(Read::WorkersActive))),
            (Some("live=yes"), Err(422)),
            (Some("live="), Err(422)),
            (Some("live"), Err(422)),
            (Some("live=1&live=2"), Err(422)),
        ] {
            assert_eq!(
                route("GET", "/workers/active", query).map_err(|e| e.status),
                expected,
                "{query:?}"
            );
        }
    }
}
