//! From the parsed command line to an App: the token policy, the board or a demo, the pools,
//! and the banner. Every refusal is a message and an exit code, said before anything serves.

use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;

use crate::shim::board::empty::EmptyBoard;
use crate::shim::board::resolve::Boards;
use crate::shim::cli::{Args, Mode};
use crate::shim::demo::Demo;
use crate::shim::http::app::{App, Config};
use crate::shim::http::auth::Auth;
use crate::shim::http::host::HostPolicy;
use crate::shim::sample::{OpenBoards, Samples};

/// What a start refused: the message, and the exit code (2: the command line or its files).
#[derive(Debug)]
pub struct Refused {
    pub message: String,
    pub code: u8,
}

fn refused(message: impl Into<String>, code: u8) -> Refused {
    Refused {
        message: message.into(),
        code,
    }
}

/// The App, and what it serves. Drop it last: a demo removes its board and workers then.
pub struct Started {
    pub app: App,
    /// The board served when a request names none.
    pub board: PathBuf,
    pub demo: Option<Demo>,
    /// `--no-board`: the private empty board served (removed when dropped).
    pub empty: Option<EmptyBoard>,
}

/// Build the App for `args`, with the environment `env`. Call on the main thread: a demo's
/// workers are tied to the thread that spawns them.
pub fn start(args: &Args, env: &dyn Fn(&str) -> Option<String>) -> Result<Started, Refused> {
    let auth = auth(args, env)?;
    let mut settings = args.settings(crate::Settings::from_env());
    let boards = Boards::from_env(args.board.as_deref(), env);
    // This host's Hermes machine id, where the environment does not say it: the kanban
    // root's `kanban/machine-id` (for --db, beside the board), read once.
    settings.machine_id = machine_id(boards.machine_id(), settings.machine_id.take(), env);
    if args.no_board {
        if args.board.is_some() || args.mode == Mode::Demo {
            return Err(refused(
                "--no-board serves no board: it takes neither --db nor demo",
                2,
            ));
        }
        let empty = EmptyBoard::create().map_err(|e| refused(e, 1))?;
        let boards = Boards::from_env(Some(&empty.path), &|_| None);
        let mut started = serve(args, auth, settings, empty.path.clone(), boards, None);
        started.empty = Some(empty);
        return Ok(started);
    }
    let (board, boards, demo) = match args.mode {
        Mode::Demo => demo(&settings.hostname)?,
        _ => match boards.at_start() {
            Ok(path) => (path, boards, None),
            Err(e) if args.mode == Mode::Serve => return Err(refused(e, 2)),
            Err(e) => {
                crate::log!("kanban-workers: {e}\nStarting a demo board instead.\n");
                demo(&settings.hostname)?
            }
        },
    };
    if !board.is_file() {
        crate::log!(
            "kanban-workers: warning: board {} does not exist (yet); answering 503 until it does",
            board.display()
        );
    }
    Ok(serve(args, auth, settings, board, boards, demo))
}

/// The App serving `board` (the default) and what `boards` names.
fn serve(
    args: &Args,
    auth: Auth,
    settings: crate::Settings,
    board: PathBuf,
    boards: Boards,
    demo: Option<Demo>,
) -> Started {
    let history = args.history;
    let app = App::new(Config {
        pools: OpenBoards::new(args.busy_timeout, settings, move || Samples::new(history))
            .with_lock_wait(args.lock_wait),
        history,
        boards,
        log_requests: !args.quiet,
        auth,
        hosts: HostPolicy::new(args.listen, args.allowed_hosts.clone()),
        header_timeout: args.header_timeout,
        max_connections: args.max_connections,
        log_streams: args.log_streams,
        log_idle: args.log_idle,
        // Checked by the parser: a bad address never gets here.
        prometheus: args
            .prometheus
            .as_deref()
            .and_then(|u| crate::shim::fleet::prom::Prometheus::parse(u).ok()),
        no_board: args.no_board,
    });
    Started {
        app,
        board,
        demo,
        empty: None,
    }
}

/// The token: required on every route with --auth-reads and beyond loopback.
fn auth(args: &Args, env: &dyn Fn(&str) -> Option<String>) -> Result<Auth, Refused> {
    let required = args.auth_reads || !args.listen.ip().is_loopback();
    let from_env = |var: &str| env(var).filter(|f| !f.is_empty()).map(PathBuf::from);
    let file = args
        .token_file
        .clone()
        .or_else(|| from_env("KANBAN_WORKERS_TOKEN_FILE"));
    let metrics = args
        .metrics_token_file
        .clone()
        .or_else(|| from_env("KANBAN_WORKERS_METRICS_TOKEN_FILE"));
    let auth = match file {
        Some(file) => Auth::from_file(&file, required).map_err(|e| refused(e, 2))?,
        // A host only scraped may hold the metrics token alone: every other route then
        // refuses every request (no token can pass them).
        None if required && metrics.is_some() => Auth::none_but_scoped(),
        None if required => {
            return Err(refused(
                format!(
                    "{} needs a token: pass --token-file PATH (or set $KANBAN_WORKERS_TOKEN_FILE) \
                     naming a file that holds it",
                    if args.auth_reads {
                        "--auth-reads"
                    } else {
                        "listening beyond loopback"
                    }
                ),
                2,
            ));
        }
        None => Auth::open(),
    };
    match metrics {
        Some(m) => auth.with_metrics_token(&m).map_err(|e| refused(e, 2)),
        None => Ok(auth),
    }
}

/// This host's machine id: the kanban root's `kanban/machine-id` wins (it is what the owner's
/// workers stamp their runs with); the environment (`$KANBAN_WORKERS_MACHINE_ID`, or the
/// owner's `$HERMES_MACHINE_ID`, which may also be an operator's free string and then is no
/// machine id at all) is a hint, used only without the file, and said when it disagrees.
fn machine_id(
    root: Option<String>,
    ours: Option<String>,
    env: &dyn Fn(&str) -> Option<String>,
) -> Option<String> {
    let hint = ours.or_else(|| {
        env("HERMES_MACHINE_ID").and_then(|m| crate::surface::settings::machine_id(&m))
    });
    match (root, hint) {
        (Some(root), Some(hint)) if root != hint => {
            crate::log!(
                "kanban-workers: the environment names machine id {hint}, but the kanban root's \
                 kanban/machine-id is {root}: using the root's"
            );
            Some(root)
        }
        (root, hint) => root.or(hint),
    }
}

/// A demo board, served alone.
fn demo(hostname: &str) -> Result<(PathBuf, Boards, Option<Demo>), Refused> {
    let demo = Demo::create(hostname).map_err(|e| refused(e, 1))?;
    let board = demo.board.clone();
    let boards = Boards::from_env(Some(&board), &|_| None);
    Ok((board, boards, Some(demo)))
}

impl Started {
    /// What is printed once the shim listens at `addr` (the tests read the "serving" line).
    pub fn banner(&self, addr: SocketAddr) -> String {
        let mut out = Vec::new();
        if self.demo.is_some() {
            let _ = writeln!(out, "The live page: http://{addr}/");
        }
        if self.empty.is_some() {
            let _ = writeln!(
                out,
                "kanban-workers {}: serving no board (--no-board): the workers are uid {}'s processes that carry a run's marks, on http://{addr}",
                crate::surface::version::VERSION,
                rustix::process::geteuid().as_raw()
            );
        } else {
            let _ = writeln!(
                out,
                "kanban-workers {}: serving board {} on http://{addr}",
                crate::surface::version::VERSION,
                self.board.display()
            );
        }
        if let Some(d) = &self.demo {
            let _ = writeln!(out, "\nA demo board with real worker processes. Try:");
            let _ = writeln!(out, "  curl -s http://{addr}/workers/active");
            for (what, id) in &d.runs {
                let _ = writeln!(out, "  curl -s http://{addr}/runs/{id}/inspect    # {what}");
            }
            let _ = writeln!(
                out,
                "  curl -s http://{addr}/api/plugins/kanban/runs/1    # the dashboard's prefix works too"
            );
            let _ = writeln!(
                out,
                "Ctrl-C stops the server and removes the demo board and its workers.\n"
            );
        }
        String::from_utf8_lossy(&out).into_owned()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod machine_id_tests {
    use super::machine_id;

    const ROOT: &str = "7d9e2c41-5a0b-4c3f-8e6d-1f2a3b4c5d6e";
    const OTHER: &str = "0b3c1e7a-2f44-4d1e-9a51-6c2f0d9e8b11";

    /// The kanban root's file wins; the environment is a hint used only without it; the
    /// owner's `$HERMES_MACHINE_ID` counts only when it is a machine id (an operator's free
    /// string is none).
    #[test]
    fn the_roots_machine_id_wins_and_the_environment_is_a_hint() {
        let none = |_: &str| None;
        let free = |k: &str| (k == "HERMES_MACHINE_ID").then(|| "hermes-prod-boston-01".to_owned());
        let uuid = |k: &str| (k == "HERMES_MACHINE_ID").then(|| OTHER.to_uppercase());
        let root = || Some(ROOT.to_owned());
        assert_eq!(
            machine_id(root(), Some(OTHER.into()), &none).as_deref(),
            Some(ROOT)
        );
        assert_eq!(machine_id(root(), None, &uuid).as_deref(), Some(ROOT));
        assert_eq!(machine_id(None, None, &uuid).as_deref(), Some(OTHER));
        assert_eq!(machine_id(None, None, &free), None);
        assert_eq!(
            machine_id(None, Some(OTHER.into()), &free).as_deref(),
            Some(OTHER)
        );
        assert_eq!(machine_id(None, None, &none), None);
    }
}
