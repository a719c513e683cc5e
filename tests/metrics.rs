#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! `GET /metrics` against the real binary, validated by Prometheus's own parser (`promtool
//! check metrics`, Debian's `prometheus` package, which `.ci/run` installs), with hostile
//! label values and real worker processes.

mod common;

use std::io::Write;
use std::process::{Command, Stdio};

use common::*;

#[test]
fn metrics_are_valid_exposition_with_hostile_labels() {
    let board = Board::new("metrics");
    let live = Worker::sleep();
    let gone = Worker::sleep().end();
    let w = board.writer();
    let hostile = "t_\"quoted\"\\back\nnewline";
    let live_run = insert_run(
        &w,
        &RunSpec::new(hostile).pid(live.pid()).started(now_secs()),
    );
    w.execute(
        "UPDATE tasks SET assignee = 'agent \"x\"\\y\nz' WHERE id = ?1",
        [hostile],
    )
    .unwrap();
    insert_run(&w, &RunSpec::new("t_gone").pid(gone).started(now_secs()));
    insert_run(
        &w,
        &RunSpec::new("t_far")
            .pid(live.pid())
            .started(now_secs())
            .lock(Some("far:1")),
    );
    drop(w);
    let server = Server::start(&board.path);
    let r = server.get("/metrics");
    assert_eq!(r.status, 200);
    assert_eq!(
        r.header("content-type"),
        Some("text/plain; version=0.0.4; charset=utf-8")
    );
    let text = String::from_utf8(r.body).unwrap();
    // Prometheus's own parser and linter.
    let mut promtool = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("promtool (Debian's prometheus package; .ci/run installs it)");
    promtool
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = promtool.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "promtool: {}{}\n{text}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.contains("kanban_workers_active 3\n"), "{text}");
    assert!(
        text.contains("kanban_workers_by_verdict{verdict=\"alive\"} 1\n"),
        "{text}"
    );
    assert!(text.contains("kanban_workers_by_verdict{verdict=\"process not found\"} 1\n"));
    assert!(text.contains("kanban_workers_by_verdict{verdict=\"remote\"} 1\n"));
    let labels = format!(
        "run_id=\"{live_run}\",task_id=\"t_\\\"quoted\\\"\\\\back\\nnewline\",assignee=\"agent \\\"x\\\"\\\\y\\nz\",profile=\"default\",host=\"{}\"",
        local_hostname()
    );
    let rss = proc_truth(live.pid()).rss_pages * page_size();
    assert!(
        text.contains(&format!("kanban_worker_rss_bytes{{{labels}}} {rss}\n")),
        "{text}"
    );
    assert!(
        text.contains(&format!("kanban_worker_alive{{{labels}}} 1\n")),
        "{text}"
    );
    assert!(
        text.contains(&format!("kanban_worker_tree_processes{{{labels}}} 1\n")),
        "{text}"
    );
    assert!(text.contains("# TYPE kanban_worker_cpu_seconds_total counter\n"));
    // No title anywhere: it is unbounded user text.
    assert!(!text.contains("title of"), "{text}");
    // The same auth rules as the other reads.
    let token = board.dir.path().join("token");
    std::fs::write(&token, "t").unwrap();
    let bin = Command::new(env!("CARGO_BIN_EXE_kanban-workers"));
    let guarded = Server::start_with(
        bin,
        &board.path,
        &[
            "--quiet",
            "--auth-reads",
            "--token-file",
            token.to_str().unwrap(),
        ],
    );
    assert_eq!(guarded.get("/metrics").status, 401);
    let r = http_request(
        &guarded.addr,
        "GET",
        "/api/plugins/kanban/metrics",
        &[("Authorization", "Bearer t")],
    );
    assert_eq!(r.status, 200);
}
