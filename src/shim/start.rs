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
    let boards = Boards::from_env(args.db.as_deref(), env);
    // This host's Hermes machine id, where the environment does not say it: the kanban
    // root's `kanban/machine-id` (for --db, beside the board), read once.
    settings.machine_id = settings.machine_id.or_else(|| boards.machine_id());
    if args.no_board {
        if args.db.is_some() || args.mode == Mode::Demo {
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
        pools: OpenBoards::new(args.busy_timeout, settings, move || Samples::new(history)),
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
