#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! `GET /metrics` against the real binary, validated by Prometheus's own parser (`promtool
//! check metrics`, Debian's `prometheus` package, which `.ci/run` installs), with hostile
//! label values and real worker processes.

use std::io::Write;
use std::process::{Command, Stdio};

use crate::common::*;

/// Prometheus's own parser and linter accept `text`.
fn promtool_check(text: &str) {
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
}

/// The most bytes of a label value as served (escaped), `…` included: docs/metrics.md.
const LABEL_MAX: usize = 256;

/// A 200 KB task id and a 200 KB assignee full of characters to escape and of multi-byte
/// ones: every label value is cut (at a character, never inside an escape) to at most
/// LABEL_MAX bytes ending in `…`, so every sample line stays short, and promtool accepts it.
#[test]
fn metrics_labels_are_bounded_whatever_the_board_holds() {
    let board = Board::new("metrics-long");
    let live = Worker::sleep();
    let w = board.writer();
    let task_id = format!("t_{}", "x".repeat(200 * 1024));
    let assignee = "é\"\\\n".repeat(40 * 1024);
    let run = insert_run(
        &w,
        &RunSpec::new(&task_id).pid(live.pid()).started(now_secs()),
    );
    w.execute(
        "UPDATE tasks SET assignee = ?1 WHERE id = ?2",
        [&assignee, &task_id],
    )
    .unwrap();
    drop(w);
    let server = Server::start(&board.path);
    let r = server.get("/metrics");
    assert_eq!(r.status, 200);
    let text = String::from_utf8(r.body).unwrap();
    promtool_check(&text);
    let longest = text.lines().map(str::len).max().unwrap();
    assert!(
        longest <= 6 * (LABEL_MAX + 16) + 64,
        "a line of {longest} bytes"
    );
    assert!(text.len() < 32 * 1024, "{} bytes", text.len());
    // The run's text is on its info series only, once.
    let line = text
        .lines()
        .find(|l| l.starts_with("kanban_run_info{"))
        .unwrap();
    let value = |label: &str| {
        let from = line.find(&format!("{label}=\"")).unwrap() + label.len() + 2;
        let rest = &line[from..];
        // The value ends at the first quote not escaped.
        let mut end = 0;
        let bytes = rest.as_bytes();
        while bytes[end] != b'"' {
            end += if bytes[end] == b'\\' { 2 } else { 1 };
        }
        rest[..end].to_owned()
    };
    let id = value("task_id");
    assert!(id.len() <= LABEL_MAX && id.ends_with('…'), "{id}");
    assert_eq!(id, format!("t_{}…", "x".repeat(LABEL_MAX - 3 - 2)));
    let who = value("assignee");
    assert!(who.len() <= LABEL_MAX && who.ends_with('…'), "{who}");
    assert!(who.starts_with("é\\\"\\\\\\né"), "{who}");
    assert_eq!(value("run_id"), run.to_string());
    assert!(line.ends_with("} 1"), "{line}");
}

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
    // The owner's distributed workers stamp the host: its machine id, beside the board.
    std::fs::create_dir_all(board.dir.path().join("kanban")).unwrap();
    std::fs::write(
        board.dir.path().join("kanban/machine-id"),
        "6f1c2a7e-0b9d-4e1a-9c55-1d2e3f4a5b6c\n",
    )
    .unwrap();
    insert_run(
        &w,
        &RunSpec::new("t_far")
            .pid(live.pid())
            .started(now_secs())
            .lock(Some("far:1")),
    );
    // A worker whose run has ended, still running: the lingering series are checked too.
    let left = HermesWorker::sleep(&w, &board.path, "t_left");
    complete_as_0_19(&w, "t_left", left.run);
    drop(w);
    let server = Server::start(&board.path);
    let r = server.get("/metrics");
    assert_eq!(r.status, 200);
    assert_eq!(
        r.header("content-type"),
        Some("text/plain; version=0.0.4; charset=utf-8")
    );
    let text = String::from_utf8(r.body).unwrap();
    promtool_check(&text);
    assert!(text.contains("kanban_workers_lingering 1\n"), "{text}");
    assert!(text.contains("kanban_workers_active 3\n"), "{text}");
    assert!(
        text.contains("kanban_workers_by_verdict{verdict=\"alive\"} 1\n"),
        "{text}"
    );
    assert!(text.contains("kanban_workers_by_verdict{verdict=\"process not found\"} 1\n"));
    assert!(text.contains("kanban_workers_by_verdict{verdict=\"remote\"} 1\n"));
    // Per worker, only what identifies it; what describes the run, once, on its info series.
    let labels = format!("host=\"{}\",run_id=\"{live_run}\"", local_hostname());
    let info = format!(
        "kanban_run_info{{{labels},task_id=\"t_\\\"quoted\\\"\\\\back\\nnewline\",assignee=\"agent \\\"x\\\"\\\\y\\nz\",profile=\"default\",board=\"default\",worker_pid=\"{}\"}} 1\n",
        live.pid()
    );
    assert!(text.contains(&info), "{text}");
    assert!(
        text.contains(&format!(
            "kanban_workers_host_info{{host=\"{}\",machine_id=\"6f1c2a7e-0b9d-4e1a-9c55-1d2e3f4a5b6c\",version=\"{}\"}} 1\n",
            local_hostname(),
            env!("CARGO_PKG_VERSION")
        )),
        "{text}"
    );
    let rss = proc_truth(live.pid()).rss_pages * page_size();
    assert!(
        text.contains(&format!("kanban_worker_tree_rss_bytes{{{labels}}} {rss}\n")),
        "{text}"
    );
    // A fleet's budget: six series per worker, plus one info series per run.
    let per_worker = text
        .lines()
        .filter(|l| l.starts_with("kanban_worker_") && l.contains(&labels))
        .count();
    assert_eq!(per_worker, 6, "{text}");
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
    let guarded = Server::with_token(&board.path, "t", &["--auth-reads"]);
    assert_eq!(guarded.get("/metrics").status, 401);
    let r = http_request(
        &guarded.addr,
        "GET",
        "/api/plugins/kanban/metrics",
        &[("Authorization", "Bearer t")],
    );
    assert_eq!(r.status, 200);
}

/// A real Prometheus server scrapes the shim on loopback, and answers a query for a series.
#[test]
fn a_real_prometheus_scrapes_the_shim() {
    let board = Board::new("metrics-prom");
    let live = Worker::sleep();
    insert_run(
        &board.writer(),
        &RunSpec::new("t_scraped")
            .pid(live.pid())
            .started(now_secs()),
    );
    let server = Server::start(&board.path);
    let mut prometheus = Prometheus::scraping(&[&server.addr]);
    let addr = prometheus.url.trim_start_matches("http://").to_owned();
    // A worker's value joined to its run's description, as a fleet asks for it.
    let query = "/api/v1/query?query=kanban_worker_alive%20*%20on%20(host%2C%20run_id)%20group_left%20(task_id)%20kanban_run_info%7Btask_id%3D%22t_scraped%22%7D";
    // Ask until the first scrape is in (Prometheus scrapes every second); give up after 60 s.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    let answer = loop {
        assert!(!prometheus.exited(), "prometheus exited");
        if let Ok(stream) = std::net::TcpStream::connect(&addr) {
            drop(stream);
            let body = http_request(&addr, "GET", query, &[]).json();
            if body["data"]["result"]
                .as_array()
                .is_some_and(|r| !r.is_empty())
            {
                break body;
            }
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no scrape within 60 s"
        );
        std::thread::sleep(std::time::Duration::from_millis(200));
    };
    let result = &answer["data"]["result"][0];
    assert_eq!(result["metric"]["job"], "kanban-workers");
    assert_eq!(result["metric"]["run_id"], "1");
    assert_eq!(result["metric"]["task_id"], "t_scraped");
    assert_eq!(result["value"][1], "1");
    prometheus.end();
}
