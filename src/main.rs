//! `kanban-workers`: the HTTP shim. Parses the command line and hands over to `shim`.

use std::io::Write;
use std::process::ExitCode;

use kanban_workers::shim::board::pool::Pools;
use kanban_workers::shim::board::resolve::Boards;
use kanban_workers::shim::cli::{self as config, Command, Mode};
use kanban_workers::shim::demo::Demo;
use kanban_workers::shim::http::auth::Auth;
use kanban_workers::shim::http::host::HostPolicy;
use kanban_workers::shim::http::serve::{self as server, Options};

fn main() -> ExitCode {
    let argv: Vec<String> = std::env::args().skip(1).collect();
    let args = match config::parse(&argv) {
        Ok(Command::Run(args)) => args,
        Ok(Command::Help) => {
            let _ = std::io::stdout().write_all(config::USAGE.as_bytes());
            return ExitCode::SUCCESS;
        }
        Ok(Command::Version) => {
            let _ = writeln!(
                std::io::stdout(),
                "kanban-workers {}",
                kanban_workers::version::VERSION
            );
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            kanban_workers::log!("kanban-workers: {e}");
            return ExitCode::from(2);
        }
    };
    let env = |k: &str| std::env::var(k).ok();
    // The token: required on every route with --auth-reads and beyond loopback.
    let required = args.auth_reads || !args.listen.ip().is_loopback();
    let token_file = args.token_file.clone().or_else(|| {
        env("KANBAN_WORKERS_TOKEN_FILE")
            .filter(|f| !f.is_empty())
            .map(Into::into)
    });
    let auth = match &token_file {
        Some(file) => match Auth::from_file(file, required) {
            Ok(auth) => auth,
            Err(e) => {
                kanban_workers::log!("kanban-workers: {e}");
                return ExitCode::from(2);
            }
        },
        None if required => {
            kanban_workers::log!(
                "kanban-workers: {} needs a token: pass --token-file PATH (or set \
                 $KANBAN_WORKERS_TOKEN_FILE) naming a file that holds it",
                if args.auth_reads {
                    "--auth-reads"
                } else {
                    "listening beyond loopback"
                }
            );
            return ExitCode::from(2);
        }
        None => Auth::open(),
    };
    let resolved = match args.mode {
        Mode::Demo => None,
        _ => match config::resolve_board(args.db.as_deref(), &env) {
            Ok(path) => Some(path),
            Err(e) if args.mode == Mode::Serve => {
                kanban_workers::log!("kanban-workers: {e}");
                return ExitCode::from(2);
            }
            Err(e) => {
                kanban_workers::log!("kanban-workers: {e}\nStarting a demo board instead.\n");
                None
            }
        },
    };
    // The demo's workers are spawned here, on the main thread, which outlives them.
    let demo = match resolved {
        Some(_) => None,
        None => match Demo::create() {
            Ok(d) => Some(d),
            Err(e) => {
                kanban_workers::log!("kanban-workers: {e}");
                return ExitCode::FAILURE;
            }
        },
    };
    let board = match (&resolved, &demo) {
        (Some(p), _) => p.clone(),
        (None, Some(d)) => d.board.clone(),
        (None, None) => return ExitCode::FAILURE,
    };
    if !board.is_file() {
        kanban_workers::log!(
            "kanban-workers: warning: board {} does not exist (yet); answering 503 until it does",
            board.display()
        );
    }
    raise_fd_limit();
    return_memory_after_bursts();
    // Before any thread starts: every thread inherits the main thread's niceness.
    if args.nice > 0 {
        if let Err(e) = rustix::process::setpriority_process(None, args.nice) {
            kanban_workers::log!(
                "kanban-workers: warning: cannot set niceness {}: {e}",
                args.nice
            );
        }
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        // One async worker: it only parses, routes and writes bytes; every query and /proc
        // read runs on the blocking threads. A second async worker on these 2-core machines
        // competed with them and with the client: p99 under `wrk -c8` went from 1.4-1.5 ms to
        // 1.9-2.0 ms on /workers/active (BENCHMARKS.md).
        .worker_threads(1)
        .max_blocking_threads(server::READERS)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            kanban_workers::log!("kanban-workers: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    // From here on a stderr that is not read holds up the log's own thread only.
    kanban_workers::shim::log::in_background();
    let result = runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind(args.listen).await?;
        let options = Options {
            log_requests: !args.quiet,
            auth: auth.clone(),
            hosts: HostPolicy::new(args.listen, args.allowed_hosts.clone()),
            header_timeout: args.header_timeout,
            max_connections: args.max_connections,
        };
        let pools = Pools::new(args.busy_timeout, args.settings.clone());
        // The demo serves its one board; otherwise boards resolve as the owner's do.
        let boards = match &demo {
            Some(_) => Boards::from_env(Some(&board), &|_| None),
            None => Boards::from_env(args.db.as_deref(), &env),
        };
        server::serve(listener, pools, boards, options, |addr| {
            let mut out = std::io::stdout().lock();
            if demo.is_some() {
                let _ = writeln!(out, "The live page: http://{addr}/");
            }
            let _ = writeln!(out, "kanban-workers {}: serving board {} on http://{addr}", kanban_workers::version::VERSION, board.display());
            if let Some(d) = &demo {
                let _ = writeln!(out, "\nA demo board with real worker processes. Try:");
                let _ = writeln!(out, "  curl -s http://{addr}/workers/active");
                for (what, id) in &d.runs {
                    let _ = writeln!(out, "  curl -s http://{addr}/runs/{id}/inspect    # {what}");
                }
                let _ = writeln!(out, "  curl -s http://{addr}/api/plugins/kanban/runs/1    # the dashboard's prefix works too");
                let _ = writeln!(out, "Ctrl-C stops the server and removes the demo board and its workers.\n");
            }
            let _ = out.flush();
        })
        .await
    });
    drop(demo);
    // The last line must not find the queue full of earlier ones.
    kanban_workers::shim::log::flush(std::time::Duration::from_secs(1));
    let code = match result {
        Ok(()) => {
            kanban_workers::log!("kanban-workers: stopped");
            ExitCode::SUCCESS
        }
        Err(e) => {
            kanban_workers::log!("kanban-workers: cannot serve on {}: {e}", args.listen);
            ExitCode::FAILURE
        }
    };
    kanban_workers::shim::log::flush(std::time::Duration::from_secs(1));
    code
}

/// Raise the soft limit on open files to the hard one: each connection costs a descriptor,
/// and the default soft limit (often 1024) is below `--max-connections` plus the board's.
fn raise_fd_limit() {
    use rustix::process::{Resource, Rlimit, getrlimit, setrlimit};
    let limit = getrlimit(Resource::Nofile);
    if limit.current != limit.maximum {
        let raised = Rlimit {
            current: limit.maximum,
            maximum: limit.maximum,
        };
        if let Err(e) = setrlimit(Resource::Nofile, raised) {
            kanban_workers::log!("kanban-workers: warning: cannot raise the open-file limit: {e}");
        }
    }
}

/// glibc's allocator raises its mmap threshold each time a large block is freed, up to 32 MiB,
/// so after one burst of large answers every later one comes from the heap and stays there.
/// Fixed thresholds keep answers over 128 KiB in their own mappings, returned when freed, and
/// let the heap shrink: after bursts of 400 unread 1.3 MB answers and 250 read ones, RSS went
/// back to 26-31 MB instead of 47 MB (peak 50 MB instead of 66 MB; `BENCHMARKS.md`).
fn return_memory_after_bursts() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        const THRESHOLD: libc::c_int = 128 * 1024;
        // SAFETY: mallopt only sets allocator parameters; it is called before any thread
        // starts, and an unknown or refused parameter only makes it return 0.
        unsafe {
            libc::mallopt(libc::M_MMAP_THRESHOLD, THRESHOLD);
            libc::mallopt(libc::M_TRIM_THRESHOLD, THRESHOLD);
        }
    }
}
