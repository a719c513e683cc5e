//! The integration tests, in one binary: each `tests/*.rs` file used to be a binary of its
//! own, each linking tokio, hyper and SQLite (see "Tests" in docs/design.md). Modules are
//! grouped by the behaviour they test; `tests/it/common/` holds the helpers they share.

// The tests run the shim, which is the library's `server` feature; `cargo test` at the root
// builds the workspace, whose binary package (server/) asks for it.
#[cfg(not(feature = "server"))]
compile_error!(
    "tests/it needs the library's `server` feature: run `make test` or `cargo test` at the root"
);

mod common;

/// The HTTP contract of the routes: the real binary over loopback, and routing properties.
mod routes;

/// Board files: which file a request reads, and the read-only pool over it.
mod boards;

/// Processes and the server under stress: writers, dying processes, hostile clients, bounds.
mod reliability;

/// The truth about each run's worker (`run_verdicts`, `live_workers`, `?live=1`).
mod verdicts;

/// `POST /runs/{id}/terminate`: ending a verified worker, and what it may never signal.
mod terminate;

/// The `.so` loaded by real clients: rusqlite, the `sqlite3` shell, Python.
mod clients;

/// Every function, view, column and option documented; the README's links.
mod docs;

/// `GET /metrics`, checked by promtool and a real Prometheus.
mod metrics;

/// What runs left behind: lingering_workers, /workers/lingering, reap, escaped members.
mod lingering;

/// The live page in a real browser.
mod page;

/// The access token.
mod auth;

/// Worker logs: the owner's log route, and a run's log followed as Server-Sent Events.
mod logs;

/// The command line and the demo, on the real binary.
mod cli;

/// The wheel, installed into a fresh venv as a user would.
mod wheel;

/// The Workers tab in the real Hermes dashboard, in a real browser.
mod hermes;

/// The `.so` in the oldest SQLite the README claims, and in current ones.
mod sqlite_versions;

/// One pass over /proc for many viewers, the history kept from it, a run's processes.
mod samples;

// The layers, read from the source.
mod layers;

/// The fleet through Prometheus.
mod fleet;

/// Boards of the newer Hermes releases, made and worked by their own code (issue 37).
mod newer;

/// The fleet's data as hostile input: a compromised host, a hostile query API (issue 35).
mod fleet_trust;

/// How runs ended, recently: run_endings, /runs/endings, kanban_run_endings (issue 39 §4).
mod endings;

/// Is anyone dispatching this board? Each live claim's claimer (issue 39 §5).
mod claimers;

/// Workers in their systemd scope, with real cgroups: proc_scope, proc_cgroup (issue 38).
mod scopes;
