#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! The fleet through Prometheus (issue 28): two hosts' shims scraped by a real Prometheus (a
//! second host simulated by a shim whose `--hostname` its board's claims name), and a third
//! shim on the first host asked `GET /fleet/workers` with `--prometheus`: its own workers from
//! its `/proc`, the other host's from the series, a host whose target went down kept with what
//! it last reported, and a query API that does not answer named in a 502 or a 504.

use std::process::Command;
use std::time::{Duration, Instant};

use crate::common::*;

const BIN: &str = env!("CARGO_BIN_EXE_kanban-workers");

fn serve(board: &std::path::Path, extra: &[&str]) -> Server {
    let mut args = vec!["--quiet"];
    args.extend_from_slice(extra);
    Server::start_with(Command::new(BIN), board, &args)
}

/// Ask `fleet` for `/fleet/workers` until `ok` holds (Prometheus scrapes every second); give
/// up after 60 s.
fn fleet_when(
    fleet: &Server,
    ok: impl Fn(&serde_json::Value) -> bool,
    what: &str,
) -> serde_json::Value {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let (status, body) = fleet.get_json("/fleet/workers");
        if status == 200 && ok(&body) {
            return body;
        }
        assert!(Instant::now() < deadline, "{what}: {status} {body}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn host<'a>(body: &'a serde_json::Value, name: &str) -> Option<&'a serde_json::Value> {
    body["hosts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|h| h["host"] == name)
}

#[test]
#[ignore = "needs prometheus and chromium: `make test` runs it where they exist (.ci/run installs them)"]
fn the_fleet_lists_every_hosts_workers_through_prometheus() {
    let here = local_hostname();
    // This host's board and worker.
    let a = Board::new("fleet-a");
    let worker_a = Worker::sleep();
    let run_a = insert_run(
        &a.writer(),
        &RunSpec::new("t_here")
            .pid(worker_a.pid())
            .started(now_secs())
            .lock(Some(&format!("{here}:1"))),
    );
    // The other host: its claims name it, and its shim says it is it.
    let b = Board::new("fleet-b");
    let worker_b = Worker::sleep();
    let run_b = insert_run(
        &b.writer(),
        &RunSpec::new("t_there")
            .pid(worker_b.pid())
            .started(now_secs())
            .lock(Some("gpu-box-7:1")),
    );
    let shim_a = serve(&a.path, &[]);
    let shim_b = serve(&b.path, &["--hostname", "gpu-box-7"]);

    let prometheus = Prometheus::scraping(&[&shim_a.addr, &shim_b.addr]);
    // The shim a user asks, on this host, with the query API.
    let fleet = serve(&a.path, &["--prometheus", &prometheus.url]);

    let body = fleet_when(
        &fleet,
        |b| {
            host(b, "gpu-box-7")
                .is_some_and(|h| h["workers"].as_array().is_some_and(|w| !w.is_empty()))
        },
        "the other host's workers through Prometheus",
    );
    let hosts = body["hosts"].as_array().unwrap();
    // This host first, from its own /proc; once (its own series are not listed again).
    assert_eq!(hosts[0]["host"], here.as_str(), "{body}");
    assert_eq!(hosts[0]["source"], "local");
    assert_eq!(
        hosts.iter().filter(|h| h["host"] == here.as_str()).count(),
        1,
        "{body}"
    );
    let mine = &hosts[0]["workers"][0];
    assert_eq!(
        (
            mine["run_id"].clone(),
            mine["worker_pid"].clone(),
            mine["verdict"].clone()
        ),
        (run_a.into(), worker_a.pid().into(), "alive".into()),
        "{body}"
    );
    let there = host(&body, "gpu-box-7").unwrap();
    assert_eq!(
        (there["up"].clone(), there["source"].clone()),
        (true.into(), "prometheus".into())
    );
    assert!(
        there["as_of"].as_i64().unwrap() >= now_secs() - 30,
        "{there}"
    );
    let theirs = &there["workers"][0];
    assert_eq!(
        (
            theirs["run_id"].clone(),
            theirs["task_id"].clone(),
            theirs["worker_pid"].clone(),
            theirs["verdict"].clone(),
            theirs["tree_processes"].clone()
        ),
        (
            run_b.into(),
            "t_there".into(),
            worker_b.pid().into(),
            "alive".into(),
            1.into()
        ),
        "{there}"
    );

    // The live page shows the fleet by host; another host's worker is acted on at its shim.
    let profile = temp_dir("fleet-chromium");
    let mut browser = Browser::start(profile.path());
    browser.goto(&format!("http://{}/", fleet.addr));
    let shown = browser.text_when(
        "[data-fleet-host=\"gpu-box-7\"]",
        |t| t.contains("t_there"),
        "the other host in the page's fleet",
    );
    assert!(
        shown.contains(&format!("pid {}", worker_b.pid())),
        "{shown}"
    );
    let href = browser.eval("document.querySelector('[data-fleet-act=\"gpu-box-7\"]').href");
    assert_eq!(href, serde_json::json!(format!("http://{}/", shim_b.addr)));
    browser.text_when(
        &format!("[data-fleet-host=\"{here}\"]"),
        |t| t.contains("this host") && t.contains("t_here"),
        "this host in the page's fleet",
    );
    drop(browser);

    // The other host goes down: listed as unreachable, with what it last reported.
    let as_of = there["as_of"].as_i64().unwrap();
    drop(shim_b);
    let body = fleet_when(
        &fleet,
        |b| host(b, "gpu-box-7").is_some_and(|h| h["up"] == false),
        "the down host",
    );
    let there = host(&body, "gpu-box-7").unwrap();
    assert_eq!(there["workers"][0]["run_id"], run_b, "{there}");
    assert!(there["as_of"].as_i64().unwrap() >= as_of, "{there}");

    // The query API gone: a 502 naming it, this host's workers not passed off as the fleet.
    prometheus.end();
    let r = fleet.get("/fleet/workers");
    assert_eq!(r.status, 502, "{}", String::from_utf8_lossy(&r.body));
    assert!(
        r.detail().starts_with("Prometheus at http://127.0.0.1:"),
        "{}",
        r.detail()
    );
    drop(worker_b);
}

/// A query API that accepts and never answers: a 504 within the request's budget, naming it.
#[test]
fn a_query_api_that_does_not_answer_is_a_504() {
    let a = Board::new("fleet-late");
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", silent.local_addr().unwrap());
    let fleet = serve(&a.path, &["--prometheus", &url, "--busy-timeout", "1"]);
    let r = fleet.get("/fleet/workers");
    assert_eq!(r.status, 504, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(
        r.detail(),
        format!("Prometheus at {url} did not answer in time")
    );
    // Without --prometheus: this host only, said so.
    let alone = serve(&a.path, &[]);
    let (status, body) = alone.get_json("/fleet/workers");
    assert_eq!(
        (status, body["prometheus"].clone()),
        (200, serde_json::Value::Null)
    );
    assert_eq!(body["hosts"].as_array().unwrap().len(), 1);
    drop(silent);
}

/// The alerting rules in docs/fleet/ (a wedged worker, a left-behind process, a host down, a
/// dead worker of an open run) fire as their tests say, by promtool.
#[test]
fn the_fleets_alerting_rules_pass_promtool() {
    let dir = format!("{MANIFEST_DIR}/docs/fleet");
    let out = Command::new("promtool")
        .args(["test", "rules", "alerts_test.yml"])
        .current_dir(&dir)
        .output()
        .expect("promtool (Debian's prometheus package; .ci/run installs it)");
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
