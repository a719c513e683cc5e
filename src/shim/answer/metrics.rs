//! `GET /metrics`: the live workers in the Prometheus text exposition format (0.0.4), from one
//! query (`sql/route_metrics.sql`, over `live_workers`). Per worker, labels `run_id`,
//! `task_id`, `assignee`, `profile`, `host`: user text, escaped as the format says (backslash,
//! double quote, newline) and cut to at most [`LABEL_MAX_BYTES`]; no label such as a title.

use std::fmt::Write as _;

use rusqlite::Connection;
use rusqlite::types::ValueRef;

use crate::shim::ApiError;
use crate::shim::board::pool::query_error;

const METRICS_SQL: &str = include_str!("../../../sql/route_metrics.sql");
const LINGERING_SQL: &str = include_str!("../../../sql/route_metrics_lingering.sql");
/// The exposition format's content type.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// One per-worker series: name, type, help, the column it reads.
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
        "kanban_worker_rss_bytes",
        "gauge",
        "resident memory of the worker process",
        "rss_bytes",
    ),
    (
        "kanban_worker_tree_rss_bytes",
        "gauge",
        "resident memory of the worker's process tree",
        "tree_rss_bytes",
    ),
    (
        "kanban_worker_tree_processes",
        "gauge",
        "processes in the worker's tree, itself included",
        "tree_processes",
    ),
    (
        "kanban_worker_cpu_seconds_total",
        "counter",
        "CPU time of the worker process so far",
        "cpu_seconds",
    ),
    (
        "kanban_worker_threads",
        "gauge",
        "threads of the worker process",
        "num_threads",
    ),
    (
        "kanban_worker_open_fds",
        "gauge",
        "open file descriptors of the worker process",
        "num_fds",
    ),
    (
        "kanban_worker_heartbeat_age_seconds",
        "gauge",
        "seconds since the run's last heartbeat",
        "heartbeat_age_s",
    ),
];

/// The most bytes of a label value as served (escaped, the marker included).
pub const LABEL_MAX_BYTES: usize = 256;
/// What ends a label value that was cut.
pub const CUT_MARKER: &str = "…";

/// A label value as the format wants it (backslash, double quote and newline escaped), at most
/// [`LABEL_MAX_BYTES`]: a longer one is cut after a whole character (never inside an escape)
/// and ends in [`CUT_MARKER`].
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

fn text(v: ValueRef<'_>) -> String {
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

/// The exposition, written from the rows.
pub fn metrics(conn: &Connection) -> Result<Vec<u8>, ApiError> {
    let err = |e: rusqlite::Error| query_error(conn, &e);
    let mut stmt = conn.prepare_cached(METRICS_SQL).map_err(err)?;
    let mut rows = stmt.query([]).map_err(err)?;
    // Per series, its sample lines.
    let mut samples: Vec<String> = vec![String::new(); SERIES.len()];
    let mut verdicts: std::collections::BTreeMap<String, u64> = Default::default();
    let mut count = 0u64;
    while let Some(row) = rows.next().map_err(err)? {
        count += 1;
        let get = |name: &str| row.get_ref(name).map_err(err);
        *verdicts.entry(text(get("verdict")?)).or_default() += 1;
        let labels = format!(
            "run_id=\"{}\",task_id=\"{}\",assignee=\"{}\",profile=\"{}\",host=\"{}\"",
            escape(&text(get("run_id")?)),
            escape(&text(get("task_id")?)),
            escape(&text(get("task_assignee")?)),
            escape(&text(get("profile")?)),
            escape(&text(get("worker_host")?)),
        );
        for (i, (name, _, _, column)) in SERIES.iter().enumerate() {
            if let Some(value) = number(get(column)?) {
                let _ = writeln!(samples[i], "{name}{{{labels}}} {value}");
            }
        }
    }
    let mut out = String::with_capacity(1024 + 256 * count as usize);
    out.push_str("# HELP kanban_workers_active Workers running now: open runs, with a pid, of running tasks.\n");
    out.push_str("# TYPE kanban_workers_active gauge\n");
    let _ = writeln!(out, "kanban_workers_active {count}");
    out.push_str("# HELP kanban_workers_by_verdict Active workers by verdict: alive, remote, or why not alive.\n");
    out.push_str("# TYPE kanban_workers_by_verdict gauge\n");
    for (verdict, n) in &verdicts {
        let _ = writeln!(
            out,
            "kanban_workers_by_verdict{{verdict=\"{}\"}} {n}",
            escape(verdict)
        );
    }
    for ((name, kind, help, _), lines) in SERIES.iter().zip(&samples) {
        let _ = writeln!(out, "# HELP {name} {help}");
        let _ = writeln!(out, "# TYPE {name} {kind}");
        out.push_str(lines);
    }
    lingering(conn, &mut out)?;
    Ok(out.into_bytes())
}

/// `kanban_workers_lingering` and, per run that left processes behind,
/// `kanban_run_lingering_processes` and `kanban_run_lingering_rss_bytes` (second query, over
/// `lingering_workers`).
fn lingering(conn: &Connection, out: &mut String) -> Result<(), ApiError> {
    let err = |e: rusqlite::Error| query_error(conn, &e);
    let mut stmt = conn.prepare_cached(LINGERING_SQL).map_err(err)?;
    let mut rows = stmt.query([]).map_err(err)?;
    let mut total = 0i64;
    let (mut processes, mut rss) = (String::new(), String::new());
    while let Some(row) = rows.next().map_err(err)? {
        let get = |name: &str| row.get_ref(name).map_err(err);
        let labels = format!(
            "run_id=\"{}\",task_id=\"{}\"",
            escape(&text(get("run_id")?)),
            escape(&text(get("task_id")?)),
        );
        let n = match get("processes")? {
            ValueRef::Integer(n) => n,
            _ => 0,
        };
        total += n;
        let _ = writeln!(processes, "kanban_run_lingering_processes{{{labels}}} {n}");
        if let Some(value) = number(get("rss_bytes")?) {
            let _ = writeln!(rss, "kanban_run_lingering_rss_bytes{{{labels}}} {value}");
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
    Ok(())
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
