//! `kanban-workers`: the HTTP shim. Parse the command line, build the App, tune the process,
//! serve until a stop signal, say how it ended.

use std::io::Write;
use std::process::ExitCode;
use std::time::Duration;

use kanban_workers::shim::cli::{self, Command};
use kanban_workers::shim::http::serve::{READERS, TERMINATORS, serve, stop_signals};
use kanban_workers::shim::{log, process, start};

fn main() -> ExitCode {
    let args = match cli::parse(std::env::args_os().skip(1)) {
        Ok(Command::Run(args)) => args,
        Ok(Command::Help) => return say(&cli::usage()),
        Ok(Command::Hermes(args)) => return hermes(&args),
        Ok(Command::Version) => {
            return say(&format!(
                "kanban-workers {}\n",
                kanban_workers::surface::version::VERSION
            ));
        }
        Err(e) => return fail(&e, 2),
    };
    // Before anything opens a board: SQLite's settings precede its first connection.
    process::tune(args.nice);
    let started = match start::start(&args, &|k| std::env::var(k).ok()) {
        Ok(started) => started,
        Err(e) => return fail(&e.message, e.code),
    };
    // One async worker: it only parses, routes and writes bytes; every query and /proc read
    // runs on the blocking threads (BENCHMARKS.md: a second one competed with them on 2 cores).
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .max_blocking_threads(READERS + TERMINATORS)
        .enable_all()
        .build();
    let Ok(runtime) = runtime else {
        return fail("cannot start the runtime", 1);
    };
    // From here on a stderr that is not read holds up the log's own thread only.
    log::in_background();
    let result = runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind(args.listen).await?;
        let banner = |addr| {
            let mut out = std::io::stdout().lock();
            let _ = out.write_all(started.banner(addr).as_bytes());
            let _ = out.flush();
        };
        // The history's timer beside the server: it samples the default board every 2 s
        // when nobody asks (`--history`), and ends with the runtime.
        tokio::spawn(started.app.keep_history());
        serve(listener, started.app.clone(), stop_signals()?, banner).await
    });
    drop(started);
    // The last line must not find the queue full of earlier ones.
    log::flush(Duration::from_secs(1));
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
    log::flush(Duration::from_secs(1));
    code
}

/// `kanban-workers hermes install|uninstall`: the plugin is written with this binary's path.
fn hermes(args: &kanban_workers::shim::hermes::Args) -> ExitCode {
    let exe = match std::env::current_exe() {
        Ok(exe) => exe,
        Err(e) => return fail(&format!("cannot find this binary's path: {e}"), 1),
    };
    match kanban_workers::shim::hermes::run(args, &|k| std::env::var(k).ok(), &exe) {
        Ok(said) => say(&said),
        Err(e) => fail(&e, 1),
    }
}

fn say(text: &str) -> ExitCode {
    let _ = std::io::stdout().write_all(text.as_bytes());
    ExitCode::SUCCESS
}

fn fail(message: &str, code: u8) -> ExitCode {
    kanban_workers::log!("kanban-workers: {message}");
    log::flush(Duration::from_secs(1));
    ExitCode::from(code)
}
