//! `GET /metrics`: the live workers in the Prometheus text exposition format (0.0.4), written
//! from the board's samples (`sql/route_workers_live.sql` and `sql/route_workers_lingering.sql`,
//! shared with `?live=1` and `/workers/lingering`: see `shim::sample`).
//!
//! Series a fleet can afford (docs/metrics.md): per worker, a few values labelled only by what
//! identifies it, `host` and `run_id`; what describes a run (task, assignee, profile, board)
//! once, on `kanban_run_info` (joinable in PromQL `on (host, run_id)`); this shim once, on
//! `kanban_workers_host_info` (its host name, the Hermes machine id where the board has one, the
//! version). Label values are user text, escaped as the format says (backslash, double quote,
//! newline) and cut to at most `LABEL_MAX_BYTES`; no label such as a title.

use std::fmt::Write as _;

use rusqlite::Connection;
use rusqlite::types::{Value, ValueRef};

use crate::shim::ApiError;
use crate::shim::sample::{Rows, query_rows};
/// The exposition format's content type.
pub(crate) const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// One per-worker series: name, type, help, the column it reads. Labels: `host`, `run_id`.
const SERIES: &[(&str, &str, &str, &str)] = &[
    (
        "kanban_worker_alive",
        "gauge",
        "1 when the run's worker is alive and is the run's, 0 when not (absent for another host's worker)",
        "alive",
    ),
    (
        "kanban_worker_wedged",
        "gauge",
        "1 when an alive worker has no heartbeat for over an hour, an expired claim, or is past its max runtime",
        "wedged",
    ),
    (
        "kanban_worker_tree_rss_bytes",
        "gauge",
        "resident memory of the worker's process tree (its escaped members included)",
        "tree_rss_bytes",
    ),
    (
        "kanban_worker_tree_processes",
        "gauge",
        "processes in the worker's tree, itself and its escaped members included",
        "tree_processes",
    ),
    (
        "kanban_worker_cpu_seconds_total",
        "counter",
        "CPU time of the worker process so far",
        "cpu_seconds",
    ),
    (
        "kanban_worker_heartbeat_age_seconds",
        "gauge",
        "seconds since the run's last heartbeat",
        "heartbeat_age_s",
    ),
    (
        "kanban_worker_scope_memory_bytes",
        "gauge",
        "memory in use by the run's systemd scope (memory.current; absent without a proven scope or the memory controller)",
        "scope_memory_bytes",
    ),
    (
        "kanban_worker_scope_memory_max_bytes",
        "gauge",
        "the run's scope's memory limit (memory.max; absent when unlimited)",
        "scope_memory_max_bytes",
    ),
    (
        "kanban_worker_scope_oom_kills_total",
        "counter",
        "processes of the run's scope the kernel's OOM killer killed at its memory limit (memory.events oom_kill)",
        "scope_oom_kills",
    ),
    (
        "kanban_worker_scope_memory_pressure_full_avg10",
        "gauge",
        "percent of the last 10 s in which every process of the run's scope stalled on memory (memory.pressure full)",
        "scope_memory_full_avg10",
    ),
];

/// What the exposition says of this shim (`kanban_workers_host_info`) and of the board
/// (`kanban_run_info`'s `board`).
#[derive(Debug, Clone, Default)]
pub struct HostInfo {
    /// This host's name in claim locks (`--hostname`).
    pub host: String,
    /// The Hermes machine id (`<kanban root>/kanban/machine-id`), where the board has one.
    pub machine_id: Option<String>,
    /// The board's slug.
    pub board: String,
    /// `(ending, runs)`: the board's runs that ended in the last hour, by ending
    /// (`kanban_run_endings`, from `GET /runs/endings`' classes).
    pub run_endings: Vec<(String, i64)>,
}

/// The most bytes of a label value as served (escaped, the marker included).
pub(crate) const LABEL_MAX_BYTES: usize = 256;
/// What ends a label value that was cut.
pub(crate) const CUT_MARKER: &str = "…";

/// A label value as the format wants it (backslash, double quote and newline escaped), at most
/// `LABEL_MAX_BYTES`: a longer one is cut after a whole character (never inside an escape)
/// and ends in `CUT_MARKER`.
pub fn escape(value: &str) -> String {
    let mut out = String::with_capacity(value.len().min(LABEL_MAX_BYTES));
    // The length of `out` at the last character after which the marker still fits.
    let mut fits = 0;
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
        if out.len() + CUT_MARKER.len() <= LABEL_MAX_BYTES {
            fits = out.len();
        }
        if out.len() > LABEL_MAX_BYTES {
            out.truncate(fits);
            out.push_str(CUT_MARKER);
            return out;
        }
    }
    out
}

fn label_text(v: ValueRef<'_>) -> String {
    match v {
        ValueRef::Null => String::new(),
        ValueRef::Integer(i) => i.to_string(),
        ValueRef::Real(r) => r.to_string(),
        ValueRef::Text(t) | ValueRef::Blob(t) => String::from_utf8_lossy(t).into_owned(),
    }
}

fn number(v: ValueRef<'_>) -> Option<String> {
    match v {
        ValueRef::Integer(i) => Some(i.to_string()),
        ValueRef::Real(r) if r.is_finite() => Some(r.to_string()),
        _ => None,
    }
}

/// The exposition from samples taken now on `conn` (what one scrape costs unshared: the
/// benchmark's floor; the shim answers from its shared samples with [`exposition`]).
pub fn metrics(conn: &Connection) -> Result<Vec<u8>, ApiError> {
    let live = query_rows(conn, &super::WORKERS_LIVE_SQL)?;
    let lingering = query_rows(conn, &super::LINGERING_SQL)?;
    Ok(exposition(&live, &lingering, None, &HostInfo::default()))
}

/// How many samples of `/proc` a board's viewers have cost: live, lingering.
pub(crate) type SamplesTaken = Option<(u64, u64)>;

/// A cell of `rows` by column name (null when there is no such column).
fn cell<'r>(rows: &'r Rows, row: &'r [Value], name: &str) -> ValueRef<'r> {
    rows.column(name)
        .and_then(|i| row.get(i))
        .map_or(ValueRef::Null, ValueRef::from)
}

/// The exposition: every active worker of the live sample, what the lingering sample found
/// per run, the samples taken so far, and this shim.
pub fn exposition(live: &Rows, lingering: &Rows, taken: SamplesTaken, host: &HostInfo) -> Vec<u8> {
    // Per series, its sample lines.
    let mut samples: Vec<String> = vec![String::new(); SERIES.len()];
    let mut info = String::new();
    let mut verdicts: std::collections::BTreeMap<String, u64> = Default::default();
    let count = live.rows.len();
    let board = escape(&host.board);
    for row in &live.rows {
        let get = |name: &str| cell(live, row, name);
        *verdicts.entry(label_text(get("verdict"))).or_default() += 1;
        let labels = format!(
            "host=\"{}\",run_id=\"{}\"",
            escape(&label_text(get("worker_host"))),
            escape(&label_text(get("run_id"))),
        );
        for (i, (name, _, _, column)) in SERIES.iter().enumerate() {
            if let Some(value) = number(get(column)) {
                let _ = writeln!(samples[i], "{name}{{{labels}}} {value}");
            }
        }
        let _ = writeln!(
            info,
            "kanban_run_info{{{labels},task_id=\"{}\",assignee=\"{}\",profile=\"{}\",board=\"{board}\",worker_pid=\"{}\"}} 1",
            escape(&label_text(get("task_id"))),
            escape(&label_text(get("task_assignee"))),
            escape(&label_text(get("profile"))),
            escape(&label_text(get("worker_pid"))),
        );
    }
    let mut out = String::with_capacity(1024 + 512 * count);
    this_shim(&mut out, host);
    by_verdict(&mut out, count, &verdicts);
    out.push_str(
        "# HELP kanban_run_info What describes an active run, once (join on host and run_id).\n",
    );
    out.push_str("# TYPE kanban_run_info gauge\n");
    out.push_str(&info);
    for ((name, kind, help, _), lines) in SERIES.iter().zip(&samples) {
        let _ = writeln!(out, "# HELP {name} {help}");
        let _ = writeln!(out, "# TYPE {name} {kind}");
        out.push_str(lines);
    }
    left_behind(lingering, &mut out);
    run_endings(host, &board, &mut out);
    claimer_gone(live, &board, &mut out);
    ended_but_alive(lingering, &board, &mut out);
    if let Some((live, lingering)) = taken {
        out.push_str("# HELP kanban_workers_proc_samples_total Passes over /proc taken for this board's viewers (shared by ?live=1, /metrics, /workers/lingering and the history).\n");
        out.push_str("# TYPE kanban_workers_proc_samples_total counter\n");
        let _ = writeln!(
            out,
            "kanban_workers_proc_samples_total{{kind=\"live\"}} {live}"
        );
        let _ = writeln!(
            out,
            "kanban_workers_proc_samples_total{{kind=\"lingering\"}} {lingering}"
        );
    }
    out.into_bytes()
}

/// `kanban_workers_host_info` and `kanban_workers_exposition_time_seconds`: this shim, and
/// when it wrote this exposition.
fn this_shim(out: &mut String, host: &HostInfo) {
    out.push_str("# HELP kanban_workers_host_info This shim: its host name in claim locks, the Hermes machine id where the board has one, its version.\n");
    out.push_str("# TYPE kanban_workers_host_info gauge\n");
    let _ = writeln!(
        out,
        "kanban_workers_host_info{{host=\"{}\",machine_id=\"{}\",version=\"{}\"}} 1",
        escape(&host.host),
        escape(host.machine_id.as_deref().unwrap_or("")),
        crate::surface::version::VERSION
    );
    out.push_str("# HELP kanban_workers_exposition_time_seconds When this exposition was written (Unix seconds): the age of a host's data, also after its target went down.\n");
    out.push_str("# TYPE kanban_workers_exposition_time_seconds gauge\n");
    let _ = writeln!(
        out,
        "kanban_workers_exposition_time_seconds {}",
        crate::shim::sample::epoch_secs()
    );
}

/// `kanban_workers_active` (`count`) and `kanban_workers_by_verdict`.
fn by_verdict(out: &mut String, count: usize, verdicts: &std::collections::BTreeMap<String, u64>) {
    out.push_str("# HELP kanban_workers_active Workers running now: open runs, with a pid, of running tasks.\n");
    out.push_str("# TYPE kanban_workers_active gauge\n");
    let _ = writeln!(out, "kanban_workers_active {count}");
    out.push_str("# HELP kanban_workers_by_verdict Active workers by verdict: alive, remote, or why not alive.\n");
    out.push_str("# TYPE kanban_workers_by_verdict gauge\n");
    for (verdict, n) in verdicts {
        let _ = writeln!(
            out,
            "kanban_workers_by_verdict{{verdict=\"{}\"}} {n}",
            escape(verdict)
        );
    }
}

/// `kanban_workers_lingering` and, per run that left processes behind (a process tied to a
/// task with no run: run_id ""), `kanban_run_lingering_processes` and
/// `kanban_run_lingering_rss_bytes`, in run order (no run first), then task order.
fn left_behind(lingering: &Rows, out: &mut String) {
    let mut runs: std::collections::BTreeMap<(Option<i64>, String), (i64, Option<i64>)> =
        Default::default();
    for row in &lingering.rows {
        let get = |name: &str| cell(lingering, row, name);
        let run = match get("run_id") {
            ValueRef::Integer(i) => Some(i),
            _ => None,
        };
        let entry = runs.entry((run, label_text(get("task_id")))).or_default();
        entry.0 += 1;
        if let ValueRef::Integer(rss) = get("rss_bytes") {
            entry.1 = Some(entry.1.unwrap_or(0).saturating_add(rss));
        }
    }
    let total = lingering.rows.len();
    let (mut processes, mut rss) = (String::new(), String::new());
    for ((run, task), (n, bytes)) in &runs {
        let labels = format!(
            "run_id=\"{}\",task_id=\"{}\"",
            run.map(|r| r.to_string()).unwrap_or_default(),
            escape(task),
        );
        let _ = writeln!(processes, "kanban_run_lingering_processes{{{labels}}} {n}");
        if let Some(bytes) = bytes {
            let _ = writeln!(rss, "kanban_run_lingering_rss_bytes{{{labels}}} {bytes}");
        }
    }
    out.push_str("# HELP kanban_workers_lingering Processes left behind by runs that have ended (or by tasks with no open run).\n");
    out.push_str("# TYPE kanban_workers_lingering gauge\n");
    let _ = writeln!(out, "kanban_workers_lingering {total}");
    out.push_str("# HELP kanban_run_lingering_processes Processes a run left behind.\n");
    out.push_str("# TYPE kanban_run_lingering_processes gauge\n");
    out.push_str(&processes);
    out.push_str("# HELP kanban_run_lingering_rss_bytes Resident memory of the processes a run left behind.\n");
    out.push_str("# TYPE kanban_run_lingering_rss_bytes gauge\n");
    out.push_str(&rss);
}

/// `kanban_workers_claimer_gone{board}`: active workers whose claim this host's dispatcher
/// made and whose claimer process is gone (`claimer_alive` 0): no one extends their claims.
fn claimer_gone(live: &Rows, board: &str, out: &mut String) {
    let gone = live
        .rows
        .iter()
        .filter(|row| matches!(cell(live, row, "claimer_alive"), ValueRef::Integer(0)))
        .count();
    out.push_str("# HELP kanban_workers_claimer_gone Active workers whose host-local claim names a dispatcher process that is gone: no one extends their claims or reaps them.\n");
    out.push_str("# TYPE kanban_workers_claimer_gone gauge\n");
    let _ = writeln!(
        out,
        "kanban_workers_claimer_gone{{board=\"{board}\"}} {gone}"
    );
}

/// `kanban_run_endings{board, ending}`: the board's runs that ended in the last hour, by how.
fn run_endings(host: &HostInfo, board: &str, out: &mut String) {
    out.push_str("# HELP kanban_run_endings Runs of the board that ended in the last hour, by how they ended (GET /runs/endings: spawn_refused, spawn_failed, rate_limited, oom_killed, crashed, timed_out, gave_up, completed, ...).\n");
    out.push_str("# TYPE kanban_run_endings gauge\n");
    for (ending, n) in &host.run_endings {
        let _ = writeln!(
            out,
            "kanban_run_endings{{board=\"{board}\",ending=\"{}\"}} {n}",
            escape(ending)
        );
    }
}

/// `kanban_workers_ended_but_alive{board}`: the runs the board has ended (crashed, stale,
/// timed out, reclaimed) whose worker, proven the run's, still runs (`lingering_workers`'
/// `ended_but_alive`), counted once a run.
fn ended_but_alive(lingering: &Rows, board: &str, out: &mut String) {
    let runs: std::collections::BTreeSet<i64> = lingering
        .rows
        .iter()
        .filter(|row| {
            matches!(
                cell(lingering, row, "ended_but_alive"),
                ValueRef::Integer(1)
            )
        })
        .filter_map(|row| match cell(lingering, row, "run_id") {
            ValueRef::Integer(run) => Some(run),
            _ => None,
        })
        .collect();
    out.push_str("# HELP kanban_workers_ended_but_alive Runs the board has ended (crashed, stale, timed out, reclaimed) whose worker, proven the run's by its fingerprint or environment, still runs: a duplicate worker in the making.\n");
    out.push_str("# TYPE kanban_workers_ended_but_alive gauge\n");
    let _ = writeln!(
        out,
        "kanban_workers_ended_but_alive{{board=\"{board}\"}} {}",
        runs.len()
    );
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn label_values_are_escaped() {
        assert_eq!(escape(r#"a"b\c"#), r#"a\"b\\c"#);
        assert_eq!(escape("x\ny"), "x\\ny");
        assert_eq!(escape("plain é"), "plain é");
    }

    /// Cut at a whole character and never inside an escape, to at most the bound, with the
    /// marker; a value that fits is never cut.
    #[test]
    fn label_values_are_cut_to_the_bound() {
        let exact = "x".repeat(LABEL_MAX_BYTES);
        assert_eq!(escape(&exact), exact);
        let over = "x".repeat(LABEL_MAX_BYTES + 1);
        assert_eq!(
            escape(&over),
            format!("{}…", "x".repeat(LABEL_MAX_BYTES - 3))
        );
        for unit in ["\\", "\"", "\n", "é", "€", "𝄞", "a\\"] {
            for pad in 0..4 {
                let value = format!("{}{}", "p".repeat(pad), unit.repeat(LABEL_MAX_BYTES));
                let cut = escape(&value);
                assert!(cut.len() <= LABEL_MAX_BYTES, "{unit:?}: {}", cut.len());
                let kept = cut.strip_suffix(CUT_MARKER).unwrap();
                // What is kept is the escape of a prefix of the value that ends at a character.
                let prefix = (0..=value.len())
                    .filter(|&i| value.is_char_boundary(i))
                    .map(|i| &value[..i])
                    .find(|p| escape(p) == kept);
                assert!(prefix.is_some(), "{unit:?} {pad}: {kept:?}");
                assert!(
                    kept.len() + CUT_MARKER.len() > LABEL_MAX_BYTES - 4,
                    "{unit:?}"
                );
            }
        }
    }
}
