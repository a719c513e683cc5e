//! Command line and board resolution.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

/// Loopback only by default: the routes describe this machine's processes.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8765";
/// The shim runs below normal priority: on a small machine the board owner's dispatcher and
/// workers come first.
pub const DEFAULT_NICE: i32 = 10;
/// How long a client may take to send its request head, stay idle, or leave its answer unread.
pub const DEFAULT_HEADER_TIMEOUT: Duration = Duration::from_secs(10);
/// Connections served at once. A dashboard needs a few; the cap bounds what many cost.
pub const DEFAULT_MAX_CONNECTIONS: usize = 256;
/// Logs followed at once, and how long one may go without a new byte.
pub const DEFAULT_LOG_STREAMS: usize = 16;
pub const DEFAULT_LOG_IDLE: Duration = Duration::from_secs(300);

pub const USAGE: &str = "\
kanban-workers: the kanban board's workers over HTTP

routes (also under /api/plugins/kanban/; ?board=<slug> on each):
  GET  /                        the live page
  GET  /workers/active          every worker running now (?live=1: verdicts, stats, trees)
  GET  /workers/lingering       every process a run left behind (its run has ended)
  GET  /runs/{run_id}           one run
  GET  /runs/{run_id}/inspect   the verdict and live stats of a run's worker
  GET  /metrics                 Prometheus exposition of the live workers
  POST /runs/{run_id}/terminate end a verified worker's processes, reclaim its task (token)
  POST /runs/{run_id}/reap      end what an ended run left behind; writes nothing (token)
  GET  /tasks/{task_id}/log     a task's worker log, the owner's route (?tail=N bytes)
  GET  /runs/{run_id}/log       ?follow=1: the run's log as Server-Sent Events, to its end
  GET  /runs/{run_id}/processes the run's processes now: its worker's tree, what escaped it
  GET  /runs/{run_id}/history   the run's CPU and memory over the last --history seconds
  GET  /workers/history         the same for every active worker

usage:
  kanban-workers [OPTIONS]          serve the default board if there is one, else a demo board
  kanban-workers serve [OPTIONS]    serve a board
  kanban-workers demo [OPTIONS]     serve a throwaway board with real worker processes
  kanban-workers hermes install|uninstall [--hermes-home PATH]
                                    write (remove) the Workers tab, a Hermes dashboard
                                    plugin, in <HERMES_HOME>/plugins/kanban-workers/
                                    (HERMES_HOME: the flag, else $HERMES_HOME, else ~/.hermes)

options:
  --db PATH         the board file (default: $HERMES_KANBAN_DB, else $HERMES_KANBAN_HOME/kanban.db,
                    else ~/.hermes/kanban.db)
  --listen ADDR     address to listen on, HOST:PORT (default 127.0.0.1:8765; port 0 picks a
                    free port; a host name such as localhost is resolved)
  --allow-remote    allow a non-loopback --listen address
  --token-file PATH a file holding the access token (or $KANBAN_WORKERS_TOKEN_FILE; never the
                    token itself on the command line), one line. Accepted as Authorization:
                    Bearer <t> or X-Hermes-Session-Token: <t>. Read again when it changes
  --auth-reads      require the token on every route (it is required beyond loopback anyway)
  --allow-host NAME also answer requests whose Host header is NAME (repeatable); on a loopback
                    address only loopback names (localhost, 127.0.0.1, [::1]) are answered
                    otherwise, so that a web page cannot read the routes by DNS rebinding
  --quiet           no log line per request
  --nice N          run at niceness N, 0-19 (default 10: the board's own processes come first)
  --header-timeout SECS
                    close a connection that has not sent a complete request head within SECS,
                    a kept-alive one idle that long, and one that leaves its answer unread
                    that long (default 10)
  --hostname NAME   this host's name in claim locks (default: the system's, or
                    $KANBAN_WORKERS_HOSTNAME); a claim naming another host is never read here
  --spawn-window SECS
                    a run without a recorded fingerprint is its worker's when the process
                    started within SECS after the run's started_at (default 60)
  --max-connections N
                    connections served at once, 1-65536 (default 256); more wait to be accepted
  --busy-timeout SECS
                    a request's budget: waiting for a reader thread and for the board's locks
                    together; past it the answer is 503 (default 5; fractions allowed)
  --log-streams N   logs followed at once, 1-1024 (default 16); more are answered 503
  --log-idle-timeout SECS
                    a followed log that gets no new byte for SECS ends (default 300)
  --history SECS    keep each live worker's CPU and memory for SECS, a point every 2 s, from
                    the samples requests share and, when nobody asks, one every 2 s
                    (default 900; 0: no history and no sampling when nobody asks)
  -h, --help        this text
  -V, --version     the version
";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// No subcommand: serve the default board, or a demo when there is none.
    Auto,
    Serve,
    Demo,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Args {
    pub mode: Mode,
    pub db: Option<PathBuf>,
    pub listen: SocketAddr,
    /// Host header names answered besides the loopback ones (see `shim::host`).
    pub allowed_hosts: Vec<String>,
    /// `--token-file`.
    pub token_file: Option<PathBuf>,
    /// `--auth-reads`.
    pub auth_reads: bool,
    pub quiet: bool,
    pub header_timeout: Duration,
    /// A request's budget (thread and lock waits); see `shim::db`.
    pub busy_timeout: Duration,
    /// Connections served at once.
    pub max_connections: usize,
    /// `--log-streams`, `--log-idle-timeout`.
    pub log_streams: usize,
    pub log_idle: Duration,
    /// `--history`: how long each live worker's points are kept (zero: none).
    pub history: Duration,
    /// The host name and spawn window of the verdicts.
    pub settings: crate::Settings,
    /// Scheduling niceness for the whole server (0 keeps the inherited priority).
    pub nice: i32,
}

#[derive(Debug, PartialEq, Eq)]
pub enum Command {
    Run(Args),
    /// `kanban-workers hermes install|uninstall`.
    Hermes(crate::shim::hermes::Args),
    Help,
    Version,
}

/// Parse the arguments (without the program name). Every problem is a message for exit 2.
pub fn parse<I>(args: I) -> Result<Command, String>
where
    I: IntoIterator,
    I::Item: Into<std::ffi::OsString>,
{
    use lexopt::prelude::*;
    let mut mode = Mode::Auto;
    let mut db = None;
    let mut listen = None;
    let mut allow_remote = false;
    let mut allowed_hosts = Vec::new();
    let mut token_file = None;
    let mut auth_reads = false;
    let mut quiet = false;
    let mut header_timeout = DEFAULT_HEADER_TIMEOUT;
    let mut busy_timeout = crate::shim::board::pool::BUSY_TIMEOUT;
    let mut max_connections = DEFAULT_MAX_CONNECTIONS;
    let (mut log_streams, mut log_idle) = (DEFAULT_LOG_STREAMS, DEFAULT_LOG_IDLE);
    let mut history = crate::shim::sample::WINDOW;
    let mut settings = crate::Settings::from_env();
    let mut nice = DEFAULT_NICE;
    let mut parser = lexopt::Parser::from_args(args);
    let mut first = true;
    while let Some(arg) = parser.next().map_err(message)? {
        let was_first = std::mem::replace(&mut first, false);
        match arg {
            Value(v) if was_first && v == "hermes" => {
                return crate::shim::hermes::parse(&mut parser).map(Command::Hermes);
            }
            Value(v) if mode == Mode::Auto && v == "serve" => mode = Mode::Serve,
            Value(v) if mode == Mode::Auto && v == "demo" => mode = Mode::Demo,
            Value(v) => {
                return Err(format!(
                    "unexpected argument '{}' (see --help)",
                    v.to_string_lossy()
                ));
            }
            Long("db") => db = Some(PathBuf::from(text(&mut parser, "--db")?)),
            Long("listen") => listen = Some(listen_address(&text(&mut parser, "--listen")?)?),
            Long("nice") => {
                nice = in_range(
                    "--nice",
                    &text(&mut parser, "--nice")?,
                    0..=19,
                    "a niceness from 0 to 19",
                )?;
            }
            Long("allow-remote") => allow_remote = true,
            Long("token-file") => {
                token_file = Some(PathBuf::from(text(&mut parser, "--token-file")?))
            }
            Long("auth-reads") => auth_reads = true,
            Long("allow-host") => {
                let name = text(&mut parser, "--allow-host")?
                    .trim()
                    .to_ascii_lowercase();
                if name.is_empty() || name.contains(['/', ' ', '@']) {
                    return Err(format!("--allow-host: '{name}' is not a host name"));
                }
                allowed_hosts.push(name);
            }
            Long("quiet") => quiet = true,
            Long("header-timeout") => {
                let what = "a number of seconds from 1 to 3600";
                let secs = in_range(
                    "--header-timeout",
                    &text(&mut parser, "--header-timeout")?,
                    1..=3600,
                    what,
                )?;
                header_timeout = Duration::from_secs(secs);
            }
            Long("hostname") => {
                let name = text(&mut parser, "--hostname")?.trim().to_owned();
                if name.is_empty() || name.contains(':') {
                    return Err(format!("--hostname: '{name}' is not a host name"));
                }
                settings.hostname = name;
            }
            Long("spawn-window") => {
                let what = "a number of seconds from 0 to 86400";
                settings.spawn_window_s = in_range(
                    "--spawn-window",
                    &text(&mut parser, "--spawn-window")?,
                    0..=86_400,
                    what,
                )?;
            }
            Long("max-connections") => {
                let what = "a number from 1 to 65536";
                max_connections = in_range(
                    "--max-connections",
                    &text(&mut parser, "--max-connections")?,
                    1..=65536,
                    what,
                )?;
            }
            Long("busy-timeout") => {
                let what = "a number of seconds from 0.05 to 600";
                let secs = in_range(
                    "--busy-timeout",
                    &text(&mut parser, "--busy-timeout")?,
                    0.05..=600.0,
                    what,
                )?;
                busy_timeout = Duration::from_secs_f64(secs);
            }
            Long("log-streams") => {
                let value = text(&mut parser, "--log-streams")?;
                log_streams =
                    in_range("--log-streams", &value, 1..=1024, "a number from 1 to 1024")?;
            }
            Long("log-idle-timeout") => {
                let value = text(&mut parser, "--log-idle-timeout")?;
                let what = "a number of seconds from 1 to 86400";
                log_idle =
                    Duration::from_secs(in_range("--log-idle-timeout", &value, 1..=86_400, what)?);
            }
            Long("history") => {
                let value = text(&mut parser, "--history")?;
                let what = "a number of seconds from 0 to 86400";
                history = Duration::from_secs(in_range("--history", &value, 0..=86_400, what)?);
            }
            Short('h') | Long("help") => return Ok(Command::Help),
            Short('V') | Long("version") => return Ok(Command::Version),
            other => return Err(message(other.unexpected())),
        }
    }
    let listen = match listen {
        Some(a) => a,
        None => DEFAULT_LISTEN
            .parse()
            .map_err(|_| "bad default address".to_owned())?,
    };
    if !listen.ip().is_loopback() && !allow_remote {
        return Err(format!(
            "refusing to listen on {listen}: not a loopback address, and the routes show this \
             machine's processes. Pass --allow-remote to do it anyway."
        ));
    }
    Ok(Command::Run(Args {
        mode,
        db,
        listen,
        allowed_hosts,
        token_file,
        auth_reads,
        quiet,
        header_timeout,
        busy_timeout,
        max_connections,
        log_streams,
        log_idle,
        history,
        settings,
        nice,
    }))
}

/// What a command-line error says.
fn message(e: lexopt::Error) -> String {
    match e {
        lexopt::Error::MissingValue { option: Some(o) } => format!("{o} needs a value"),
        lexopt::Error::UnexpectedOption(o) => format!("unknown argument '{o}' (see --help)"),
        lexopt::Error::UnexpectedValue { option, value } => format!(
            "{option} takes no value, got '{}' (see --help)",
            value.to_string_lossy()
        ),
        other => format!("{other} (see --help)"),
    }
}

/// The value of `flag`, as text: a value that is not UTF-8 is an error naming the flag.
fn text(parser: &mut lexopt::Parser, flag: &str) -> Result<String, String> {
    let value = parser.value().map_err(message)?;
    value
        .into_string()
        .map_err(|v| format!("{flag}: '{}' is not valid UTF-8", v.to_string_lossy()))
}

/// `text` (the value of `flag`) as a number within `range`; otherwise an error saying it is
/// not `what`.
fn in_range<T: std::str::FromStr + PartialOrd>(
    flag: &str,
    text: &str,
    range: std::ops::RangeInclusive<T>,
    what: &str,
) -> Result<T, String> {
    match text.parse::<T>() {
        Ok(n) if range.contains(&n) => Ok(n),
        _ => Err(format!("{flag}: '{text}' is not {what}")),
    }
}

/// `--listen`'s value: an address (`127.0.0.1:8765`, `[::1]:0`), or a host name and port
/// (`localhost:0`) resolved to its first address, IPv4 preferred. A name that resolves to
/// loopback and other addresses at once is taken as its first non-loopback one, so that
/// `--allow-remote` decides.
fn listen_address(text: &str) -> Result<SocketAddr, String> {
    use std::net::ToSocketAddrs;
    if let Ok(addr) = text.parse::<SocketAddr>() {
        return Ok(addr);
    }
    let bad = |why: String| {
        format!(
            "--listen: '{text}' is not an address like 127.0.0.1:8765 or localhost:8765 ({why})"
        )
    };
    let addrs: Vec<SocketAddr> = text
        .to_socket_addrs()
        .map_err(|e| bad(e.to_string()))?
        .collect();
    addrs
        .iter()
        .find(|a| !a.ip().is_loopback())
        .or_else(|| addrs.iter().find(|a| a.is_ipv4()))
        .or_else(|| addrs.first())
        .copied()
        .ok_or_else(|| bad("it resolves to no address".to_owned()))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;
    use std::path::Path;

    fn args(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    /// Each number flag takes its bounds (both spellings) and refuses what is outside them or
    /// not a number, naming the flag, the value and the range.
    #[test]
    fn number_flags_keep_to_their_ranges() {
        let run = |v: &[&str]| match parse(args(v)) {
            Ok(Command::Run(a)) => a,
            other => panic!("{v:?}: {other:?}"),
        };
        let a = run(&[
            "--nice=19",
            "--header-timeout",
            "3600",
            "--spawn-window",
            "0",
            "--max-connections=1",
            "--busy-timeout",
            "0.05",
        ]);
        assert_eq!(a.nice, 19);
        assert_eq!(a.header_timeout, Duration::from_secs(3600));
        assert_eq!(a.settings.spawn_window_s, 0);
        assert_eq!(a.max_connections, 1);
        assert_eq!(a.busy_timeout, Duration::from_millis(50));
        for (flag, bad, range) in [
            ("--nice", "20", "from 0 to 19"),
            ("--nice", "-1", "from 0 to 19"),
            ("--header-timeout", "0", "from 1 to 3600"),
            ("--spawn-window", "86401", "from 0 to 86400"),
            ("--max-connections", "65537", "from 1 to 65536"),
            ("--busy-timeout", "0.01", "from 0.05 to 600"),
            ("--busy-timeout", "NaN", "from 0.05 to 600"),
            ("--max-connections", "ten", "from 1 to 65536"),
        ] {
            let e = parse(args(&[flag, bad])).unwrap_err();
            assert!(
                e.starts_with(&format!("{flag}: '{bad}' is not ")) && e.ends_with(range),
                "{e}"
            );
        }
        assert_eq!(
            parse(args(&["--nice"])).unwrap_err(),
            "--nice needs a value"
        );
    }

    #[test]
    fn parses_flags_and_refuses_remote_without_consent() {
        let Ok(Command::Run(a)) = parse(args(&[
            "serve",
            "--db",
            "x.db",
            "--listen=127.0.0.1:0",
            "--quiet",
        ])) else {
            panic!("parse");
        };
        assert_eq!(
            (a.mode, a.db.as_deref(), a.listen.port(), a.quiet),
            (Mode::Serve, Some(Path::new("x.db")), 0, true)
        );
        assert!(
            parse(args(&["--listen", "0.0.0.0:80"]))
                .unwrap_err()
                .contains("--allow-remote")
        );
        assert!(matches!(
            parse(args(&["--listen", "0.0.0.0:80", "--allow-remote"])),
            Ok(Command::Run(_))
        ));
        assert!(
            parse(args(&["--listen", "nope"]))
                .unwrap_err()
                .contains("not an address")
        );
        let Ok(Command::Run(a)) = parse(args(&["--listen", "localhost:0"])) else {
            panic!("localhost:0 refused");
        };
        assert!(a.listen.ip().is_loopback() && a.listen.port() == 0);
        assert!(
            parse(args(&["--listen", "no-such-host.invalid:80"]))
                .unwrap_err()
                .contains("not an address")
        );
        assert!(
            parse(args(&["--bogus"]))
                .unwrap_err()
                .contains("unknown argument")
        );
        assert!(
            parse(args(&["--db"]))
                .unwrap_err()
                .contains("needs a value")
        );
    }

    /// A value that is not UTF-8 is an error naming the flag (std::env::args panicked on
    /// it), and `--` ends the flags.
    #[test]
    fn arguments_that_are_not_utf8_are_errors_and_double_dash_ends_the_flags() {
        use std::ffi::OsString;
        use std::os::unix::ffi::OsStringExt;
        let not_utf8 = OsString::from_vec(b"\xff.db".to_vec());
        let err = parse([OsString::from("--db"), not_utf8]).unwrap_err();
        assert_eq!(err, "--db: '\u{fffd}.db' is not valid UTF-8");
        let Ok(Command::Run(a)) = parse(["--quiet", "--", "demo"]) else {
            panic!("-- then demo");
        };
        assert_eq!((a.mode, a.quiet), (Mode::Demo, true));
        assert!(
            parse(["--", "--quiet"])
                .unwrap_err()
                .contains("unexpected argument '--quiet'")
        );
    }
}
