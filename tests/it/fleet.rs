#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! The fleet through Prometheus (issue 28): two hosts' shims scraped by a real Prometheus (a
//! second host simulated by a shim whose `--hostname` its board's claims name), and a third
//! shim on the first host asked `GET /fleet/workers` with `--prometheus`: its own workers from
//! its `/proc`, the other host's from the series, a host whose target went down kept with what
//! it last reported, and a query API that does not answer named in a 502 or a 504. Then three
//! hosts, each in UTS, pid and mount namespaces of its own (its host name, its /proc, its
//! board and workers, its shim as the namespace's init), scraped by a real Prometheus.

use std::process::Command;
use std::time::{Duration, Instant};

use crate::common::*;

fn serve(board: &std::path::Path, extra: &[&str]) -> Server {
    let mut args = vec!["--quiet"];
    args.extend_from_slice(extra);
    Server::start_with(Command::new(shim_bin()), board, &args)
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
    // A run of this board whose worker the other host runs (its claim names it).
    let far_on_a = insert_run(
        &a.writer(),
        &RunSpec::new("t_far_on_a")
            .pid(1)
            .started(now_secs())
            .lock(Some("gpu-box-7:2")),
    );
    // The other host: its claims name it, and its shim says it is it. It reports this board's
    // run too (its copy of the run: same id, same task), so that run links to it.
    let b = Board::new("fleet-b");
    let worker_b = Worker::sleep();
    let run_b = insert_run(
        &b.writer(),
        &RunSpec::new("t_there")
            .pid(worker_b.pid())
            .started(now_secs())
            .lock(Some("gpu-box-7:1")),
    );
    let far_worker = Worker::sleep();
    let far_on_b = insert_run(
        &b.writer(),
        &RunSpec::new("t_far_on_a")
            .pid(far_worker.pid())
            .started(now_secs())
            .lock(Some("gpu-box-7:2")),
    );
    assert_eq!(far_on_b, far_on_a);
    let shim_a = serve(&a.path, &[]);
    let shim_b = serve(&b.path, &["--hostname", "gpu-box-7"]);

    let prometheus = Prometheus::scraping(&[&shim_a.addr, &shim_b.addr]);
    // The shim a user asks, on this host, with the query API.
    let fleet = serve(&a.path, &["--prometheus", &prometheus.url]);

    // Once Prometheus has scraped both targets: the other host's workers, up, and the other
    // shim of this host listed under its own target.
    let body = fleet_when(
        &fleet,
        |b| {
            let listed = |i: &str| {
                b["hosts"]
                    .as_array()
                    .is_some_and(|hs| hs.iter().any(|h| h["instance"] == i))
            };
            host(b, "gpu-box-7").is_some_and(|h| {
                h["up"] == true && h["workers"].as_array().is_some_and(|w| w.len() == 2)
            }) && listed(&shim_a.addr)
        },
        "the other host's workers through Prometheus, and this host's other shim",
    );
    let hosts = body["hosts"].as_array().unwrap();
    // This host first, from its own /proc. The other shim on this host (shim_a: another
    // target that says it is this host) is listed too, under its own target, the name flagged
    // as claimed twice: a host is its target, never hidden by the name it gives.
    assert_eq!(hosts[0]["host"], here.as_str(), "{body}");
    assert_eq!(hosts[0]["source"], "local");
    let namesakes: Vec<&serde_json::Value> = hosts
        .iter()
        .filter(|h| h["host"] == here.as_str() && h["source"] == "prometheus")
        .collect();
    assert_eq!(namesakes.len(), 1, "{body}");
    assert_eq!(namesakes[0]["instance"], shim_a.addr.as_str());
    assert_eq!(hosts[0]["same_name"], serde_json::json!([shim_a.addr]));
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
    let theirs = there["workers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|w| w["run_id"] == run_b && w["task_id"] == "t_there")
        .unwrap();
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
    // This board's run on the other host: its detail links to that host's shim.
    browser.click(&format!("[data-run-id=\"{far_on_a}\"]"));
    browser.text_when(
        "#d-offer",
        |t| t.contains("another host's worker") && t.contains("act on gpu-box-7"),
        "the other host's worker's link in its detail",
    );
    let href = browser.eval("document.querySelector('#d-offer [data-act-elsewhere]').href");
    assert_eq!(href, serde_json::json!(format!("http://{}/", shim_b.addr)));
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
    assert!(
        there["workers"]
            .as_array()
            .unwrap()
            .iter()
            .any(|w| w["run_id"] == run_b && w["task_id"] == "t_there"),
        "{there}"
    );
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
    drop(far_worker);
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

/// A host simulated on this machine: `unshare --uts --pid --mount-proc` running a shell that
/// names the host, starts its worker (`sleep`, its pid as the namespace sees it written to a
/// file) and becomes the host's shim, pid 1 of the namespace (`--kill-child`: it ends with
/// `unshare`, and everything in the namespace with it). Its board claims the worker's run for
/// the host.
struct NsHost {
    name: &'static str,
    board: Board,
    shim: Server,
    /// The worker's pid as the host sees it.
    worker: i64,
    run: i64,
}

impl NsHost {
    fn start(name: &'static str, listen: &str, extra: &[&str]) -> NsHost {
        let board = Board::new(&format!("ns-{name}"));
        let pid_file = board.path.with_file_name("worker.pid");
        let mut cmd = Command::new("unshare");
        cmd.args(["--uts", "--pid", "--mount-proc", "--kill-child", "sh", "-c"])
            .arg(
                "hostname \"$1\" && { sleep 1000 </dev/null >/dev/null 2>&1 & echo $! > \"$2\"; } \
                 && shift 2 && exec \"$@\"",
            )
            .args(["sh", name])
            .arg(&pid_file)
            .arg(shim_bin())
            .args(["serve", "--db"])
            .arg(&board.path)
            .args(["--listen", listen, "--quiet"])
            .args(extra);
        let shim = Server::spawn(cmd, "serving board");
        let worker: i64 = std::fs::read_to_string(&pid_file)
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        let run = insert_run(
            &board.writer(),
            &RunSpec::new(&format!("t_{name}"))
                .pid(worker)
                .started(now_secs())
                .lock(Some(&format!("{name}:1"))),
        );
        NsHost {
            name,
            board,
            shim,
            worker,
            run,
        }
    }

    /// The namespace's init (the shim) as this machine sees it: `unshare`'s child.
    fn init(&self) -> i64 {
        let pid = self.shim.pid();
        std::fs::read_to_string(format!("/proc/{pid}/task/{pid}/children"))
            .unwrap()
            .split_whitespace()
            .next()
            .expect("unshare's child")
            .parse()
            .unwrap()
    }

    /// One more worker started inside the host's namespaces (`nsenter`), and its run claimed
    /// on the host's board: (run, pid as the host sees it).
    fn start_worker(&self, task: &str) -> (i64, i64) {
        let out = Command::new("nsenter")
            .args([
                "--target",
                &self.init().to_string(),
                "--pid",
                "--mount",
                "--uts",
            ])
            .args([
                "sh",
                "-c",
                "sleep 1000 </dev/null >/dev/null 2>&1 & echo $!",
            ])
            .output()
            .unwrap();
        assert!(out.status.success(), "{out:?}");
        let pid: i64 = String::from_utf8(out.stdout)
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        let run = insert_run(
            &self.board.writer(),
            &RunSpec::new(task)
                .pid(pid)
                .started(now_secs())
                .lock(Some(&format!("{}:1", self.name))),
        );
        (run, pid)
    }
}

fn worker<'a>(
    body: &'a serde_json::Value,
    host_name: &str,
    run: i64,
) -> Option<&'a serde_json::Value> {
    host(body, host_name)?["workers"]
        .as_array()?
        .iter()
        .find(|w| w["run_id"] == run)
}

#[test]
#[ignore = "needs root (namespaces), prometheus and chromium: `make test` runs it as root where they exist"]
fn three_hosts_in_namespaces_through_prometheus() {
    require_root();
    // The host people look from asks Prometheus, which scrapes all three: its port is chosen
    // first, since each needs the other's address.
    let prometheus_port = free_port();
    let url = format!("http://127.0.0.1:{prometheus_port}");
    let alpha = NsHost::start("alpha", "127.0.0.1:0", &["--prometheus", &url]);
    let beta = NsHost::start("beta", "127.0.0.1:0", &[]);
    let gamma = NsHost::start("gamma", "127.0.0.1:0", &[]);
    let prometheus = Prometheus::on_port(
        prometheus_port,
        &[&alpha.shim.addr, &beta.shim.addr, &gamma.shim.addr],
    );

    // From alpha: every host's worker with its host and its pid as its host sees it.
    let body = fleet_when(
        &alpha.shim,
        |b| worker(b, "beta", beta.run).is_some() && worker(b, "gamma", gamma.run).is_some(),
        "beta's and gamma's workers through Prometheus",
    );
    let hosts: Vec<&str> = body["hosts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["host"].as_str().unwrap())
        .collect();
    assert_eq!(hosts, ["alpha", "beta", "gamma"], "{body}");
    assert_eq!(body["hosts"][0]["source"], "local");
    for h in [&alpha, &beta, &gamma] {
        let w = worker(&body, h.name, h.run).unwrap_or_else(|| panic!("{}: {body}", h.name));
        assert_eq!(
            (
                w["worker_pid"].clone(),
                w["task_id"].clone(),
                w["verdict"].clone()
            ),
            (
                h.worker.into(),
                format!("t_{}", h.name).into(),
                "alive".into()
            ),
            "{}: {body}",
            h.name
        );
    }
    // Each namespace counts its pids afresh: the three workers have one pid, three processes.
    assert_eq!((alpha.worker, beta.worker), (gamma.worker, gamma.worker));

    // A worker started on beta now appears from alpha (Prometheus scrapes every second).
    let (late_run, late_pid) = beta.start_worker("t_beta_late");
    let body = fleet_when(
        &alpha.shim,
        |b| worker(b, "beta", late_run).is_some(),
        "the worker started on beta",
    );
    assert_eq!(
        worker(&body, "beta", late_run).unwrap()["worker_pid"],
        late_pid
    );

    // Alpha's page shows the three hosts; beta's worker is acted on at beta's shim.
    let profile = temp_dir("ns-fleet-chromium");
    let mut browser = Browser::start(profile.path());
    browser.goto(&format!("http://{}/", alpha.shim.addr));
    for h in ["alpha", "beta", "gamma"] {
        browser.text_when(
            &format!("[data-fleet-host=\"{h}\"]"),
            |t| t.contains(&format!("t_{h}")),
            "each host in alpha's page",
        );
    }
    let href = browser.eval("document.querySelector('[data-fleet-act=\"beta\"]').href");
    assert_eq!(
        href,
        serde_json::json!(format!("http://{}/", beta.shim.addr))
    );
    drop(browser);

    // Beta's shim ends (and its namespace with it): beta is listed unreachable, with what it
    // last reported.
    let beta_name = beta.name;
    let beta_run = beta.run;
    drop(beta);
    let body = fleet_when(
        &alpha.shim,
        |b| host(b, beta_name).is_some_and(|h| h["up"] == false),
        "beta down",
    );
    assert!(worker(&body, beta_name, beta_run).is_some(), "{body}");
    assert_eq!(host(&body, "gamma").unwrap()["up"], true, "{body}");
    prometheus.end();
}

/// The coordinator layout: a board host whose run's worker runs on a host with no board. That
/// host (its own namespaces) runs `serve --no-board`: its user's processes that carry a run's
/// marks are its workers, exported; the board host's `/fleet/workers` lists them under that
/// host where its board has the run (and the task), and nothing else of theirs. The
/// coordinator's token in a worker's environment is in no row, label or answer.
#[test]
#[ignore = "needs root (namespaces) and prometheus: `make test` runs it as root where it exists"]
fn a_host_with_no_board_exports_its_workers_to_the_board_host() {
    require_root();
    const TOKEN: &str = "coordinator-token-never-to-be-served-4f1c";
    let board = Board::new("coordinator");
    let run = insert_run(
        &board.writer(),
        &RunSpec::new("t_remote")
            .pid(1)
            .started(now_secs())
            .lock(Some("worker-host:1")),
    );
    // The worker host: its worker (the run's marks, the machine id, the coordinator's
    // token), and a marked process of a run this board does not have.
    let folder = temp_dir("no-board-host");
    let pid_file = folder.path().join("worker.pid");
    let mut cmd = Command::new("unshare");
    cmd.args(["--uts", "--pid", "--mount-proc", "--kill-child", "sh", "-c"])
        .arg(
            "hostname worker-host && { \
               env HERMES_KANBAN_RUN_ID=\"$1\" HERMES_KANBAN_TASK=t_remote HERMES_MACHINE_ID=5e1f0c2a-9b7d-4e3a-8c6f-2d4b1a0e9f73 \
                   HERMES_KANBAN_COORDINATOR_TOKEN=\"$3\" HERMES_COORDINATOR_TOKEN=\"$3\" \
                   sleep 1000 </dev/null >/dev/null 2>&1 & echo $! > \"$2\"; \
               env HERMES_KANBAN_RUN_ID=987654 HERMES_KANBAN_TASK=t_elsewhere \
                   sleep 1000 </dev/null >/dev/null 2>&1 & } \
             && shift 3 && exec \"$@\"",
        )
        .args(["sh", &run.to_string()])
        .arg(&pid_file)
        .arg(TOKEN)
        .arg(shim_bin())
        .args(["serve", "--no-board", "--listen", "127.0.0.1:0", "--quiet"]);
    let worker_host = Server::spawn(cmd, "serving no board");
    let pid: i64 = std::fs::read_to_string(&pid_file)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    board
        .writer()
        .execute(
            "UPDATE task_runs SET worker_pid = ?1 WHERE id = ?2",
            [pid, run],
        )
        .unwrap();

    // Its own answers: both marked runs, with their machine id; no token.
    let (status, live) = worker_host.get_json("/workers/active?live=1");
    assert_eq!(status, 200, "{live}");
    let runs: Vec<(i64, String, i64)> = live["workers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| {
            (
                w["run_id"].as_i64().unwrap(),
                w["task_id"].as_str().unwrap().to_owned(),
                w["tree_processes"].as_i64().unwrap(),
            )
        })
        .collect();
    assert!(runs.contains(&(run, "t_remote".to_owned(), 1)), "{live}");
    assert!(
        runs.contains(&(987_654, "t_elsewhere".to_owned(), 1)),
        "{live}"
    );
    let mine = live["workers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|w| w["run_id"] == run)
        .unwrap();
    assert_eq!(
        (mine["worker_pid"].clone(), mine["machine_id"].clone()),
        (pid.into(), "5e1f0c2a-9b7d-4e3a-8c6f-2d4b1a0e9f73".into()),
        "{mine}"
    );
    let metrics = worker_host.get("/metrics");
    let text = String::from_utf8_lossy(&metrics.body).into_owned();
    assert!(
        text.contains(&format!(
            "kanban_run_info{{host=\"worker-host\",run_id=\"{run}\",task_id=\"t_remote\""
        )),
        "{text}"
    );

    // The board host asks Prometheus, which scrapes both.
    let prometheus_port = free_port();
    let url = format!("http://127.0.0.1:{prometheus_port}");
    let here = local_hostname();
    let coordinator = serve(&board.path, &["--prometheus", &url]);
    let prometheus = Prometheus::on_port(prometheus_port, &[&coordinator.addr, &worker_host.addr]);
    let body = fleet_when(
        &coordinator,
        |b| worker(b, "worker-host", run).is_some(),
        "the no-board host's worker, joined on the board's run",
    );
    let theirs = worker(&body, "worker-host", run).unwrap();
    assert_eq!(
        (
            theirs["task_id"].clone(),
            theirs["worker_pid"].clone(),
            theirs["verdict"].clone(),
            theirs["tree_processes"].clone()
        ),
        ("t_remote".into(), pid.into(), "alive".into(), 1.into()),
        "{body}"
    );
    // The run this board does not have is not listed; the board's own view of its run says
    // it is another host's.
    assert!(worker(&body, "worker-host", 987_654).is_none(), "{body}");
    let local = worker(&body, &here, run).unwrap();
    assert_eq!(local["verdict"], "remote", "{body}");

    // The token: in no answer, no label.
    for (what, text) in [
        ("?live=1", live.to_string()),
        ("/metrics", text),
        ("/fleet/workers", body.to_string()),
        (
            "the coordinator's ?live=1",
            coordinator.get_json("/workers/active?live=1").1.to_string(),
        ),
    ] {
        assert!(
            !text.contains(TOKEN),
            "{what} serves the coordinator's token: {text}"
        );
    }
    prometheus.end();
}

/// Where the board stamps a run's host (`task_runs.machine_id`, the owner's distributed
/// workers) and this host's machine id is known (the kanban root's `kanban/machine-id`; for
/// `--db`, beside the board), a run's locality follows the machine id, not the claim's host
/// name: a claim naming this host on another machine is another host's run (never read
/// here), and a claim naming another host on this machine is this host's.
#[test]
fn locality_follows_the_runs_machine_id() {
    let here = local_hostname();
    let board = Board::new("machine-id");
    let w = board.writer();
    w.execute_batch("ALTER TABLE task_runs ADD COLUMN machine_id TEXT")
        .unwrap();
    std::fs::create_dir_all(board.dir.path().join("kanban")).unwrap();
    std::fs::write(
        board.dir.path().join("kanban/machine-id"),
        "C4A1E2F3-0B9D-4E7C-A6B5-3D2F1E0A9B8C\n",
    )
    .unwrap();
    let worker = Worker::sleep();
    let elsewhere = insert_run(
        &w,
        &RunSpec::new("t_elsewhere")
            .pid(worker.pid())
            .started(now_secs())
            .lock(Some(&format!("{here}:1"))),
    );
    let mine = insert_run(
        &w,
        &RunSpec::new("t_mine")
            .pid(worker.pid())
            .started(now_secs())
            .lock(Some("coordinator:1")),
    );
    let unstamped = insert_run(
        &w,
        &RunSpec::new("t_unstamped")
            .pid(worker.pid())
            .started(now_secs())
            .lock(Some("far-away:1")),
    );
    w.execute(
        "UPDATE task_runs SET machine_id = ?1 WHERE id = ?2",
        rusqlite::params!["9f8e7d6c-5b4a-4392-8170-6f5e4d3c2b1a", elsewhere],
    )
    .unwrap();
    w.execute(
        "UPDATE task_runs SET machine_id = ?1 WHERE id = ?2",
        rusqlite::params!["c4a1e2f3-0b9d-4e7c-a6b5-3d2f1e0a9b8c", mine],
    )
    .unwrap();
    drop(w);
    let server = Server::with_token(&board.path, "machine-id-token", &[]);
    let inspect = |run: i64| {
        let (status, body) = server.get_json(&format!("/runs/{run}/inspect"));
        assert_eq!(status, 200, "{body}");
        body
    };
    let far = inspect(elsewhere);
    assert_eq!(
        (far["local"].clone(), far["alive"].clone()),
        (false.into(), serde_json::Value::Null),
        "{far}"
    );
    assert_eq!(
        far["reason"],
        "worker runs on another machine: the run's machine_id 9f8e7d6c-5b4a-4392-8170-6f5e4d3c2b1a is not this host's (c4a1e2f3-0b9d-4e7c-a6b5-3d2f1e0a9b8c)",
        "{far}"
    );
    let near = inspect(mine);
    assert_eq!(
        (near["local"].clone(), near["alive"].clone()),
        (true.into(), true.into()),
        "{near}"
    );
    assert_eq!(
        near["host_note"], "the claim names coordinator, but the run's machine_id is this host's",
        "{near}"
    );
    // A run the board did not stamp: its claim's host name decides, as before.
    let old = inspect(unstamped);
    assert_eq!(
        (old["local"].clone(), old["reason"].clone()),
        (false.into(), "worker runs on host far-away".into()),
        "{old}"
    );
    // Terminate follows the same locality: the far run is refused as another host's.
    let r = server.post(
        &format!("/runs/{elsewhere}/terminate"),
        "{}",
        Some("machine-id-token"),
    );
    assert_eq!(r.status, 409, "{}", String::from_utf8_lossy(&r.body));
}
