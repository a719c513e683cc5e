//! Command line and board resolution.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

/// Loopback only by default: the routes describe this machine's processes.
pub(crate) const DEFAULT_LISTEN: SocketAddr =
    SocketAddr::new(std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST), 8765);
/// The shim runs below normal priority: on a small machine the board owner's dispatcher and
/// workers come first.
pub(crate) const DEFAULT_NICE: i32 = 10;
/// How long a client may take to send its request head, stay idle, or leave its answer unread.
pub(crate) const DEFAULT_HEADER_TIMEOUT: Duration = Duration::from_secs(10);
/// Connections served at once. A dashboard needs a few; the cap bounds what many cost.
pub(crate) const DEFAULT_MAX_CONNECTIONS: usize = 256;
/// Logs followed at once, and how long one may go without a new byte.
pub(crate) const DEFAULT_LOG_STREAMS: usize = 16;
pub(crate) const DEFAULT_LOG_IDLE: Duration = Duration::from_secs(300);

/// What the usage says before the routes (`routes::ROUTES` lists them).
const USAGE_HEAD: &str = "\
kanban-workers: the kanban board's workers over HTTP

routes (also under /api/plugins/kanban/; ?board=<slug> on each):
";

/// What the usage says after the routes, before the options.
const USAGE_COMMANDS: &str = "\
usage:
  kanban-workers [OPTIONS]          serve the default board if there is one, else a demo board
  kanban-workers serve [OPTIONS]    serve a board
  kanban-workers demo [OPTIONS]     serve a throwaway board with real worker processes
  kanban-workers hermes install|uninstall [--hermes-home PATH]
                                    write (remove) the Workers tab, a Hermes dashboard
                                    plugin, in <HERMES_HOME>/plugins/kanban-workers/
                                    (HERMES_HOME: the flag, else $HERMES_HOME, else ~/.hermes)

options:
";

/// One option, defined once: the parser and the usage text both come from [`FLAGS`].
struct Flag {
    /// The long name, without `--`.
    name: &'static str,
    /// The value's name in the usage (`None`: a switch, which takes no value).
    value: Option<&'static str>,
    /// What it does, a line each (wrapped as shown).
    help: &'static [&'static str],
    /// Its value when not given, from [`Args::default`] (said in the usage as "(default X)").
    default: Option<fn(&Args) -> String>,
    /// Set it from its value (`""` for a switch); an error names the flag.
    set: fn(&mut Args, &str) -> Result<(), String>,
}

/// Every option of `serve`, `demo` and no subcommand, in the order the usage lists them.
const FLAGS: &[Flag] = &[
    Flag {
        name: "db",
        value: Some("PATH"),
        help: &[
            "the board file (default: $HERMES_KANBAN_DB, else $HERMES_KANBAN_HOME/kanban.db,",
            "else ~/.hermes/kanban.db)",
        ],
        default: None,
        set: |a, v| {
            a.board = Some(PathBuf::from(v));
            Ok(())
        },
    },
    Flag {
        name: "no-board",
        value: None,
        help: &[
            "serve no board: this host runs workers dispatched from a board on another",
            "host; its user's processes carrying a run's marks are listed and exported",
            "(docs/fleet.md)",
        ],
        default: None,
        set: |a, _| {
            a.no_board = true;
            Ok(())
        },
    },
    Flag {
        name: "listen",
        value: Some("ADDR"),
        help: &[
            "address to listen on, HOST:PORT (port 0 picks a free port; a host name",
            "such as localhost is resolved)",
        ],
        default: Some(|a| a.listen.to_string()),
        set: |a, v| {
            a.listen = listen_address(v)?;
            Ok(())
        },
    },
    Flag {
        name: "allow-remote",
        value: None,
        help: &["allow a non-loopback --listen address"],
        default: None,
        set: |a, _| {
            a.allow_remote = true;
            Ok(())
        },
    },
    Flag {
        name: "token-file",
        value: Some("PATH"),
        help: &[
            "a file holding the access token (or $KANBAN_WORKERS_TOKEN_FILE; never the",
            "token itself on the command line), one line. Accepted as Authorization:",
            "Bearer <t> or X-Hermes-Session-Token: <t>. Read again when it changes",
        ],
        default: None,
        set: |a, v| {
            a.token_file = Some(PathBuf::from(v));
            Ok(())
        },
    },
    Flag {
        name: "metrics-token-file",
        value: Some("PATH"),
        help: &[
            "a file holding a second token whose only scope is kanban.metrics: it reads",
            "GET /metrics and nothing else (or $KANBAN_WORKERS_METRICS_TOKEN_FILE). Give",
            "this one to Prometheus, never the --token-file one: whatever Prometheus sends to",
            "its targets, every target learns (docs/metrics.md)",
        ],
        default: None,
        set: |a, v| {
            a.metrics_token_file = Some(PathBuf::from(v));
            Ok(())
        },
    },
    Flag {
        name: "auth-reads",
        value: None,
        help: &["require the token on every route (it is required beyond loopback anyway)"],
        default: None,
        set: |a, _| {
            a.auth_reads = true;
            Ok(())
        },
    },
    Flag {
        name: "allow-host",
        value: Some("NAME"),
        help: &[
            "also answer requests whose Host header is NAME (repeatable); on a loopback",
            "address only loopback names (localhost, 127.0.0.1, [::1]) are answered",
            "otherwise, so that a web page cannot read the routes by DNS rebinding",
        ],
        default: None,
        set: |a, v| {
            let name = v.trim().to_ascii_lowercase();
            if name.is_empty() || name.contains(['/', ' ', '@']) {
                return Err(format!("--allow-host: '{name}' is not a host name"));
            }
            a.allowed_hosts.push(name);
            Ok(())
        },
    },
    Flag {
        name: "quiet",
        value: None,
        help: &["no log line per request"],
        default: None,
        set: |a, _| {
            a.quiet = true;
            Ok(())
        },
    },
    Flag {
        name: "nice",
        value: Some("N"),
        help: &["run at niceness N, 0-19 (the board's own processes come first)"],
        default: Some(|a| a.nice.to_string()),
        set: |a, v| {
            a.nice = in_range("--nice", v, 0..=19, "a niceness from 0 to 19")?;
            Ok(())
        },
    },
    Flag {
        name: "header-timeout",
        value: Some("SECS"),
        help: &[
            "close a connection that has not sent a complete request head within SECS,",
            "a kept-alive one idle that long, and one that leaves its answer unread",
            "that long",
        ],
        default: Some(|a| a.header_timeout.as_secs().to_string()),
        set: |a, v| {
            let what = "a number of seconds from 1 to 3600";
            a.header_timeout =
                Duration::from_secs(in_range("--header-timeout", v, 1..=3600, what)?);
            Ok(())
        },
    },
    Flag {
        name: "hostname",
        value: Some("NAME"),
        help: &[
            "this host's name in claim locks (default: the system's, or",
            "$KANBAN_WORKERS_HOSTNAME); a claim naming another host is never read here",
        ],
        default: None,
        set: |a, v| {
            let name = v.trim().to_owned();
            if name.is_empty() || name.contains(':') {
                return Err(format!("--hostname: '{name}' is not a host name"));
            }
            a.hostname = Some(name);
            Ok(())
        },
    },
    Flag {
        name: "spawn-window",
        value: Some("SECS"),
        help: &[
            "a run without a recorded fingerprint is its worker's when the process",
            "started within SECS after the run's started_at",
        ],
        default: Some(|_| crate::surface::settings::DEFAULT_SPAWN_WINDOW_S.to_string()),
        set: |a, v| {
            let what = "a number of seconds from 0 to 86400";
            a.spawn_window_s = Some(in_range("--spawn-window", v, 0..=86_400, what)?);
            Ok(())
        },
    },
    Flag {
        name: "max-connections",
        value: Some("N"),
        help: &["connections served at once, 1-65536; more wait to be accepted"],
        default: Some(|a| a.max_connections.to_string()),
        set: |a, v| {
            let what = "a number from 1 to 65536";
            a.max_connections = in_range("--max-connections", v, 1..=65536, what)?;
            Ok(())
        },
    },
    Flag {
        name: "busy-timeout",
        value: Some("SECS"),
        help: &[
            "a request's budget: waiting for a reader thread and for the board's locks",
            "together; past it the answer is 503 (fractions allowed)",
        ],
        default: Some(|a| a.busy_timeout.as_secs_f64().to_string()),
        set: |a, v| {
            let what = "a number of seconds from 0.05 to 600";
            let secs = in_range("--busy-timeout", v, 0.05..=600.0, what)?;
            a.busy_timeout = Duration::from_secs_f64(secs);
            Ok(())
        },
    },
    Flag {
        name: "lock-wait",
        value: Some("SECS"),
        help: &[
            "how long a read of a board in rollback-journal mode (not WAL) waits for its",
            "owner's write lock before answering 503, within the budget (fractions allowed)",
        ],
        default: Some(|a| a.lock_wait.as_secs_f64().to_string()),
        set: |a, v| {
            let what = "a number of seconds from 0 to 600";
            let secs = in_range("--lock-wait", v, 0.0..=600.0, what)?;
            a.lock_wait = Duration::from_secs_f64(secs);
            Ok(())
        },
    },
    Flag {
        name: "log-streams",
        value: Some("N"),
        help: &["logs followed at once, 1-1024; more are answered 503"],
        default: Some(|a| a.log_streams.to_string()),
        set: |a, v| {
            a.log_streams = in_range("--log-streams", v, 1..=1024, "a number from 1 to 1024")?;
            Ok(())
        },
    },
    Flag {
        name: "log-idle-timeout",
        value: Some("SECS"),
        help: &["a followed log that gets no new byte for SECS ends"],
        default: Some(|a| a.log_idle.as_secs().to_string()),
        set: |a, v| {
            let what = "a number of seconds from 1 to 86400";
            a.log_idle = Duration::from_secs(in_range("--log-idle-timeout", v, 1..=86_400, what)?);
            Ok(())
        },
    },
    Flag {
        name: "prometheus",
        value: Some("URL"),
        help: &[
            "a Prometheus-compatible query API (http://HOST:PORT[/PREFIX]) that scrapes",
            "this board's shims: GET /fleet/workers then lists every host's workers",
        ],
        default: None,
        set: |a, v| {
            crate::shim::fleet::prom::Prometheus::parse(v)?;
            a.prometheus = Some(v.to_owned());
            Ok(())
        },
    },
    Flag {
        name: "history",
        value: Some("SECS"),
        help: &[
            "keep each live worker's CPU and memory for SECS, a point every 2 s, from",
            "the samples requests share and, when nobody asks, one every 2 s",
            "(0: no history and no sampling when nobody asks)",
        ],
        default: Some(|a| a.history.as_secs().to_string()),
        set: |a, v| {
            let what = "a number of seconds from 0 to 86400";
            a.history = Duration::from_secs(in_range("--history", v, 0..=86_400, what)?);
            Ok(())
        },
    },
];

/// The usage text (`--help`): the routes and commands, then each of `FLAGS`.
pub fn usage() -> String {
    const COLUMN: usize = 20;
    let mut out = String::from(USAGE_HEAD);
    out.push_str(&crate::shim::http::routes::usage_lines());
    out.push('\n');
    out.push_str(USAGE_COMMANDS);
    let indent = " ".repeat(COLUMN);
    for flag in FLAGS {
        let head = match flag.value {
            Some(value) => format!("  --{} {value}", flag.name),
            None => format!("  --{}", flag.name),
        };
        let mut lines = flag.help.iter();
        if head.len() < COLUMN {
            out.push_str(&format!("{head:COLUMN$}{}\n", lines.next().unwrap_or(&"")));
        } else {
            out.push_str(&head);
            out.push('\n');
        }
        for line in lines {
            out.push_str(&format!("{indent}{line}\n"));
        }
        if let Some(default) = flag.default {
            out.push_str(&format!(
                "{indent}(default {})\n",
                default(&Args::default())
            ));
        }
    }
    out.push_str("  -h, --help        this text\n  -V, --version     the version\n");
    out
}

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
    /// `--db`: the board file.
    pub board: Option<PathBuf>,
    pub listen: SocketAddr,
    /// `--allow-remote`: a non-loopback `listen` is refused without it.
    pub allow_remote: bool,
    /// Host header names answered besides the loopback ones (see `http::host`).
    pub allowed_hosts: Vec<String>,
    /// `--token-file`.
    pub token_file: Option<PathBuf>,
    /// `--metrics-token-file`.
    pub metrics_token_file: Option<PathBuf>,
    /// `--auth-reads`.
    pub auth_reads: bool,
    pub quiet: bool,
    pub header_timeout: Duration,
    /// A request's budget (thread and lock waits); see `board::pool`.
    pub busy_timeout: Duration,
    /// `--lock-wait`: a rollback-journal board's lock waited for at most; see `board::pool`.
    pub lock_wait: Duration,
    /// Connections served at once.
    pub max_connections: usize,
    /// `--log-streams`, `--log-idle-timeout`.
    pub log_streams: usize,
    pub log_idle: Duration,
    /// `--history`: how long each live worker's points are kept (zero: none).
    pub history: Duration,
    /// `--hostname`, `--spawn-window`: over the environment's and the system's settings
    /// (`start` reads those).
    pub hostname: Option<String>,
    pub spawn_window_s: Option<i64>,
    /// `--prometheus`: the query API `GET /fleet/workers` asks (checked by the parser).
    pub prometheus: Option<String>,
    /// `--no-board`: no board here, the user's marked processes are the workers.
    pub no_board: bool,
    /// Scheduling niceness for the whole server (0 keeps the inherited priority).
    pub nice: i32,
}

impl Default for Args {
    fn default() -> Args {
        Args {
            mode: Mode::Auto,
            board: None,
            listen: DEFAULT_LISTEN,
            allow_remote: false,
            allowed_hosts: Vec::new(),
            token_file: None,
            metrics_token_file: None,
            auth_reads: false,
            quiet: false,
            header_timeout: DEFAULT_HEADER_TIMEOUT,
            busy_timeout: crate::shim::board::pool::BUSY_TIMEOUT,
            lock_wait: crate::shim::board::pool::LOCK_WAIT,
            max_connections: DEFAULT_MAX_CONNECTIONS,
            log_streams: DEFAULT_LOG_STREAMS,
            log_idle: DEFAULT_LOG_IDLE,
            history: crate::shim::sample::WINDOW,
            hostname: None,
            spawn_window_s: None,
            prometheus: None,
            no_board: false,
            nice: DEFAULT_NICE,
        }
    }
}

impl Args {
    /// The verdicts' settings: the system's and the environment's, overridden by the flags.
    pub fn settings(&self, from_env: crate::Settings) -> crate::Settings {
        crate::Settings {
            hostname: self.hostname.clone().unwrap_or(from_env.hostname),
            spawn_window_s: self.spawn_window_s.unwrap_or(from_env.spawn_window_s),
            machine_id: from_env.machine_id,
        }
    }
}

#[derive(Debug, PartialEq, Eq)]
pub enum Command {
    Run(Box<Args>),
    /// `kanban-workers hermes install|uninstall`.
    Hermes(crate::shim::hermes::Args),
    Help,
    Version,
}

/// Parse the arguments (without the program name). Every problem is a message for exit 2.
/// Reads nothing but them (the environment is read in `start`).
pub fn parse<I>(args: I) -> Result<Command, String>
where
    I: IntoIterator,
    I::Item: Into<std::ffi::OsString>,
{
    use lexopt::prelude::*;
    let mut a = Args::default();
    let mut parser = lexopt::Parser::from_args(args);
    let mut first = true;
    while let Some(arg) = parser.next().map_err(message)? {
        let was_first = std::mem::replace(&mut first, false);
        match arg {
            Value(v) if was_first && v == "hermes" => {
                return crate::shim::hermes::parse(&mut parser).map(Command::Hermes);
            }
            Value(v) if a.mode == Mode::Auto && v == "serve" => a.mode = Mode::Serve,
            Value(v) if a.mode == Mode::Auto && v == "demo" => a.mode = Mode::Demo,
            Value(v) => {
                return Err(format!(
                    "unexpected argument '{}' (see --help)",
                    v.to_string_lossy()
                ));
            }
            Short('h') | Long("help") => return Ok(Command::Help),
            Short('V') | Long("version") => return Ok(Command::Version),
            Long(name) => {
                let Some(flag) = FLAGS.iter().find(|f| f.name == name) else {
                    return Err(message(arg.unexpected()));
                };
                let value = match flag.value {
                    Some(_) => value_text(&mut parser, &format!("--{}", flag.name))?,
                    None => String::new(),
                };
                (flag.set)(&mut a, &value)?;
            }
            other => return Err(message(other.unexpected())),
        }
    }
    if !a.listen.ip().is_loopback() && !a.allow_remote {
        return Err(format!(
            "refusing to listen on {}: not a loopback address, and the routes show this \
             machine's processes. Pass --allow-remote to do it anyway.",
            a.listen
        ));
    }
    Ok(Command::Run(Box::new(a)))
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
fn value_text(parser: &mut lexopt::Parser, flag: &str) -> Result<String, String> {
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
        assert_eq!(a.spawn_window_s, Some(0));
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
            (a.mode, a.board.as_deref(), a.listen.port(), a.quiet),
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
