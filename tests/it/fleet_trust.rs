#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! The fleet's data is hostile input (issue 35, items 1, 2 and 4): a compromised host in the
//! fleet, or the query API itself, answers what it likes. Modelled by a real query API process
//! (`tests/fixtures/query_api.py`) that answers from a spec the test writes, asked by the real
//! shim over loopback.
//! - A host exporting thousands of runs is capped, and the answer says what it left out.
//! - A query API answering 16 MiB per query costs the shim what it keeps, not what it reads.
//! - A host is its scrape target, not the name it gives itself: every target is listed, a
//!   name two targets claim is flagged on each, and a run links to the target that reports it
//!   (checked with the shipped control.js, run by node, on the shim's own answer).

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::{Value, json};

use crate::common::*;

/// The query API, answering from `spec` (rewritten at will).
struct QueryApi {
    server: Server,
    spec: PathBuf,
    _dir: tempfile::TempDir,
}

impl QueryApi {
    fn start(spec: &Value) -> QueryApi {
        let dir = temp_dir("query-api");
        let file = dir.path().join("spec.json");
        std::fs::write(&file, spec.to_string()).unwrap();
        let mut cmd = Command::new("python3");
        cmd.arg(format!("{MANIFEST_DIR}/tests/fixtures/query_api.py"))
            .arg(&file);
        QueryApi {
            server: Server::spawn(cmd, "listening on"),
            spec: file,
            _dir: dir,
        }
    }

    fn url(&self) -> String {
        format!("http://{}", self.server.addr)
    }

    fn write(&self, spec: &Value) {
        let tmp = self.spec.with_extension("tmp");
        std::fs::write(&tmp, spec.to_string()).unwrap();
        std::fs::rename(&tmp, &self.spec).unwrap();
    }

    /// How many queries it has answered.
    fn answered(&self) -> usize {
        std::fs::read_to_string(self.spec.with_extension("json.answered"))
            .map_or(0, |t| t.lines().count())
    }
}

fn fleet_shim(board: &Path, url: &str, extra: &[&str]) -> Server {
    let mut args = vec!["--quiet", "--prometheus", url];
    args.extend_from_slice(extra);
    Server::start_with(Command::new(shim_bin()), board, &args)
}

fn hosts(body: &Value) -> &Vec<Value> {
    body["hosts"].as_array().unwrap()
}

/// A host exporting 5,000 runs of this board (and 300 hosts in all): at most 1,000 workers a
/// host and 256 hosts are listed, each worker joined to its values, and the answer counts
/// what it left out. Before: every run of every host, joined quadratically on the async
/// worker (30 s at 5,000 runs, every other route waiting).
#[test]
fn a_host_exporting_thousands_of_runs_is_capped_and_says_so() {
    let board = Board::new("fleet-many");
    let mut targets = vec![json!({"instance": "10.9.0.1:8765", "host": "big", "count": 5000})];
    for i in 0..299 {
        targets.push(json!({
            "instance": format!("10.9.1.{}:{}", i / 200, 8000 + i),
            "host": format!("h{i:03}"),
            "runs": [{"run_id": format!("{}", 7 + i), "task_id": format!("t_{i}")}],
        }));
    }
    let api = QueryApi::start(&json!({ "targets": targets }));
    let fleet = fleet_shim(&board.path, &api.url(), &[]);
    let (status, body) = fleet.get_json("/fleet/workers");
    assert_eq!(status, 200, "{body}");
    let list = hosts(&body);
    // This host, then 256 of the 300 targets (by name, then target).
    assert_eq!(list[0]["source"], "local");
    assert_eq!(list.len(), 1 + 256, "{}", list.len());
    assert_eq!(body["left_out"]["hosts"], 300 - 256);
    let big = list
        .iter()
        .find(|h| h["instance"] == "10.9.0.1:8765")
        .unwrap();
    let workers = big["workers"].as_array().unwrap();
    assert_eq!(workers.len(), 1000);
    assert_eq!(big["workers_left_out"], 4000);
    assert_eq!(body["left_out"]["workers"], 4000);
    // Each listed worker joined to its own values.
    for w in workers {
        assert_eq!(
            (w["verdict"].clone(), w["tree_processes"].clone()),
            (json!("alive"), json!(1)),
            "{w}"
        );
    }
    // The other routes were never held by it: asked now, answered.
    assert_eq!(fleet.get("/workers/active").status, 200);
}

/// The shim's peak resident memory (VmHWM), in bytes.
fn peak_rss(pid: i64) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let kib: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .unwrap()
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .unwrap();
    kib * 1024
}

/// A query API answering ~16 MiB to every query (series with long labels the shim never
/// asks for), asked by two requests at once: the shim keeps what it uses, one answer's bytes
/// at a time per request within the answer budget, and stays far below what a tree of those
/// answers costs (1.8-2.0 GB before). Each request gets an answer (200, capped), not a crash.
#[test]
fn a_hostile_query_api_costs_what_is_kept_not_what_is_sent() {
    let board = Board::new("fleet-flood");
    let api = QueryApi::start(&json!({"flood_bytes": 16 * 1024 * 1024 - 4096}));
    let fleet = fleet_shim(&board.path, &api.url(), &["--busy-timeout", "60"]);
    let before = peak_rss(fleet.pid());
    let addr = fleet.addr.clone();
    let asks: Vec<_> = (0..2)
        .map(|_| {
            let addr = addr.clone();
            std::thread::spawn(move || http_request(&addr, "GET", "/fleet/workers", &[]).status)
        })
        .collect();
    for ask in asks {
        let status = ask.join().unwrap();
        assert!(matches!(status, 200 | 503 | 504), "{status}");
    }
    assert!(api.answered() >= 3, "the query API was asked");
    let peak = peak_rss(fleet.pid());
    assert!(
        peak < before + 300 * 1024 * 1024,
        "peak RSS {} MiB (idle {} MiB)",
        peak >> 20,
        before >> 20
    );
}

/// The shipped control.js (the page's and the tab's logic), run by node on `answer`: the
/// hosts as both views show them, and where each of `workers` would be acted on.
fn control_js(answer: &Value, workers: &Value) -> Value {
    let script = format!(
        "{}\nconst answer = {answer};\nconst hosts = KWControl.fleetHosts(answer, '');\n\
         console.log(JSON.stringify({{hosts: hosts.map(h => ({{key: h.key, title: h.title, \
         conflict: h.conflict, act: h.act}})), act: {workers}.map(w => KWControl.actOn(w, hosts))}}));",
        std::fs::read_to_string(format!("{MANIFEST_DIR}/src/shim/answer/control.js")).unwrap()
    );
    let out = Command::new("node").arg("-e").arg(script).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// Targets that call themselves what they like: one takes this host's name, two take one
/// name, and one reports a run of this board. Every target is listed under its own target,
/// a name two claim is flagged on both (this host's too), only the shim's own target is taken
/// as this host, and a run's link goes to the target that reports it, never to a namesake.
/// Before: the impostor with this host's name was dropped (it hid itself and its workers),
/// and the link went to the first target labelled with the run's host.
#[test]
fn a_host_is_its_target_not_its_name() {
    let here = local_hostname();
    let board = Board::new("fleet-names");
    // A run of this board whose claim names gpu-box-7.
    let far = insert_run(
        &board.writer(),
        &RunSpec::new("t_far")
            .pid(1)
            .started(now_secs())
            .lock(Some("gpu-box-7:2")),
    );
    let api = QueryApi::start(&json!({"targets": []}));
    let fleet = fleet_shim(&board.path, &api.url(), &[]);
    let run = |id: i64, task: &str| json!([{"run_id": id.to_string(), "task_id": task}]);
    // The impostor sorts first; the real gpu-box-7 reports the run.
    api.write(&json!({"targets": [
        {"instance": fleet.addr, "host": here},
        {"instance": "127.0.0.1:1", "host": "gpu-box-7", "runs": run(far + 1000, "t_other")},
        {"instance": "127.0.0.1:2", "host": here, "runs": run(far + 2000, "t_hidden")},
        {"instance": "127.0.0.1:3", "host": "gpu-box-7", "runs": run(far, "t_far")},
    ]}));
    let (status, body) = fleet.get_json("/fleet/workers");
    assert_eq!(status, 200, "{body}");
    let list = hosts(&body);
    let by_target = |i: &str| {
        list.iter()
            .find(|h| h["instance"] == i)
            .unwrap_or_else(|| panic!("{i}: {body}"))
    };
    // This host once, at its own target; the other three listed, none hidden by its name.
    assert_eq!(list[0]["source"], "local");
    assert_eq!(list[0]["instance"], fleet.addr.as_str());
    assert_eq!(list.len(), 4, "{body}");
    let impostor = by_target("127.0.0.1:2");
    assert_eq!(impostor["host"], here.as_str());
    assert_eq!(impostor["workers"][0]["task_id"], "t_hidden");
    assert_eq!(impostor["same_name"], json!([fleet.addr]));
    assert_eq!(list[0]["same_name"], json!(["127.0.0.1:2"]));
    assert_eq!(
        by_target("127.0.0.1:1")["same_name"],
        json!(["127.0.0.1:3"])
    );
    assert_eq!(
        by_target("127.0.0.1:3")["same_name"],
        json!(["127.0.0.1:1"])
    );

    // The page's and the tab's logic: hosts keyed by target, namesakes flagged, and the run
    // acted on at the target that reports it.
    let (_, live) = fleet.get_json("/workers/active?live=1");
    let row = live["workers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|w| w["run_id"] == far)
        .unwrap()
        .clone();
    let shown = control_js(&body, &json!([row]));
    let mut keys: Vec<&str> = shown["hosts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["key"].as_str().unwrap())
        .collect();
    assert_eq!(keys[0], "local");
    keys.sort_unstable();
    assert_eq!(keys, ["127.0.0.1:1", "127.0.0.1:2", "127.0.0.1:3", "local"]);
    for h in shown["hosts"].as_array().unwrap() {
        assert_eq!(h["conflict"], true, "{h}");
        assert!(h["title"].as_str().unwrap().contains("claimed by"), "{h}");
    }
    assert_eq!(shown["act"][0]["href"], "http://127.0.0.1:3/");
    // Reported by two targets: no link at all.
    api.write(&json!({"targets": [
        {"instance": "127.0.0.1:1", "host": "gpu-box-7", "runs": run(far, "t_far")},
        {"instance": "127.0.0.1:3", "host": "gpu-box-7", "runs": run(far, "t_far")},
    ]}));
    let (_, body) = fleet.get_json("/fleet/workers");
    let shown = control_js(&body, &json!([row]));
    assert_eq!(shown["act"][0], Value::Null, "{shown}");
}

/// One execution model (issue 36 §1): the fleet's request held mid-work (its query API holding
/// an answer until the test lets it go) holds nothing else: every other route answers
/// meanwhile, and the held request is answered once let go.
#[test]
fn other_routes_answer_while_the_fleet_is_held_mid_work() {
    let board = Board::new("fleet-held");
    let worker = Worker::sleep();
    let run = insert_run(
        &board.writer(),
        &RunSpec::new("t_held").pid(worker.pid()).started(now_secs()),
    );
    let api = QueryApi::start(&json!({"targets": []}));
    let release = api.spec.with_extension("go");
    let fleet = fleet_shim(&board.path, &api.url(), &["--busy-timeout", "60"]);
    api.write(&json!({
        "hold": release,
        "targets": [{"instance": "10.9.0.1:8765", "host": "far", "count": 3}],
    }));
    let addr = fleet.addr.clone();
    let held = std::thread::spawn(move || http_request(&addr, "GET", "/fleet/workers", &[]));
    // Held: the query API has the fleet's first query and keeps it.
    let held_file = api.spec.with_extension("json.held");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while !std::fs::read_to_string(&held_file).is_ok_and(|t| !t.is_empty()) {
        assert!(
            std::time::Instant::now() < deadline,
            "the fleet never asked"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    for path in [
        "/workers/active".to_owned(),
        "/workers/active?live=1".to_owned(),
        format!("/runs/{run}"),
        format!("/runs/{run}/inspect"),
        "/metrics".to_owned(),
        "/".to_owned(),
    ] {
        assert_eq!(fleet.get(&path).status, 200, "{path}");
    }
    assert!(!held.is_finished(), "the fleet's request was not held");
    std::fs::write(&release, "").unwrap();
    let answer = held.join().unwrap();
    assert_eq!(
        answer.status,
        200,
        "{}",
        String::from_utf8_lossy(&answer.body)
    );
    assert_eq!(
        answer.json()["hosts"][1]["workers"]
            .as_array()
            .unwrap()
            .len(),
        3
    );
}
