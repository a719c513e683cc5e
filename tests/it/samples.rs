//! One pass over /proc for many viewers (`?live=1`, `/metrics`, `/workers/lingering` share
//! samples), the history kept from them (`/runs/{id}/history`, `/workers/history`), and a
//! run's processes (`/runs/{id}/processes`), on the real binary with real workers.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
use crate::common::*;
use serde_json::{Value, json};

/// The value of `series` (with its labels, as written) in a scrape.
fn metric(server: &Server, series: &str) -> f64 {
    let r = server.get("/metrics");
    assert_eq!(r.status, 200);
    let text = String::from_utf8_lossy(&r.body).into_owned();
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
        .unwrap_or_else(|| panic!("{series} not in {text}"))
}

/// A request never gets a sample older than itself: each run inserted just before a request
/// is in its answer, however many samples the shim has taken before (its history's timer
/// included).
#[test]
fn a_request_sees_what_was_on_the_board_when_it_arrived() {
    let board = Board::new("samples-fresh");
    let server = Server::start(&board.path);
    let w = board.writer();
    let worker = Worker::sleep();
    for n in 1..=4 {
        insert_run(
            &w,
            &RunSpec::new(&format!("t_{n}"))
                .pid(worker.pid())
                .started(now_secs()),
        );
        let (status, body) = server.get_json("/workers/active?live=1");
        assert_eq!(status, 200);
        assert_eq!(body["count"], n, "{body}");
        let r = server.get("/metrics");
        assert!(
            String::from_utf8_lossy(&r.body).contains(&format!("kanban_workers_active {n}\n")),
            "{n}"
        );
    }
}

/// Sixteen viewers asking at once share samples: far fewer passes over /proc than requests,
/// each answer a whole and current list.
#[test]
fn viewers_asking_at_once_share_a_sample() {
    let board = Board::new("samples-shared");
    let worker = Worker::sleep();
    insert_run(
        &board.writer(),
        &RunSpec::new("t_1").pid(worker.pid()).started(now_secs()),
    );
    // No timer: only the requests' samples are counted.
    let server = Server::start_with(
        std::process::Command::new(shim_bin()),
        &board.path,
        &["--quiet", "--history", "0"],
    );
    let before = metric(&server, "kanban_workers_proc_samples_total{kind=\"live\"}");
    let gate = std::sync::Barrier::new(16);
    let bodies: Vec<Value> = std::thread::scope(|s| {
        let asks: Vec<_> = (0..16)
            .map(|_| {
                s.spawn(|| {
                    gate.wait();
                    server.get_json("/workers/active?live=1")
                })
            })
            .collect();
        asks.into_iter()
            .map(|a| a.join().unwrap())
            .collect::<Vec<_>>()
    })
    .into_iter()
    .map(|(status, body)| {
        assert_eq!(status, 200);
        body
    })
    .collect();
    let after = metric(&server, "kanban_workers_proc_samples_total{kind=\"live\"}");
    for body in &bodies {
        assert_eq!(body["count"], 1);
        assert_eq!(body["workers"][0]["alive"], true, "{body}");
        assert_eq!(body["workers"][0]["verdict"], "alive");
    }
    // The scrape after them took one sample of its own (and maybe one before).
    let taken = after - before;
    assert!(
        (1.0..=4.0).contains(&taken),
        "{taken} samples for 16 requests and a scrape"
    );
}

/// The history: each live sample is a point of the worker's tree (CPU, memory, processes),
/// at once in `/runs/{id}/history` and `/workers/history`; unknown runs are a 404, an ended
/// run's history is dropped with the next sample.
#[test]
fn the_history_keeps_each_live_workers_points() {
    let board = Board::new("samples-history");
    let w = board.writer();
    let worker = HermesWorker::sleep(&w, &board.path, "t_h");
    let server = Server::start(&board.path);
    let (_, live) = server.get_json("/workers/active?live=1");
    let rss = live["workers"][0]["tree_rss_bytes"].as_i64().unwrap();
    let (status, body) = server.get_json(&format!("/runs/{}/history", worker.run));
    assert_eq!(status, 200);
    assert_eq!(body["run_id"], worker.run);
    assert_eq!(body["interval_s"], 2);
    assert_eq!(body["window_s"], 900);
    assert_eq!(
        body["columns"],
        json!(["t", "cpu_percent", "rss_bytes", "processes"])
    );
    let points = body["points"].as_array().unwrap();
    assert!(!points.is_empty(), "{body}");
    assert_eq!(body["count"], points.len());
    let last = points.last().unwrap();
    assert!(
        (last[0].as_i64().unwrap() - now_secs()).abs() <= 5,
        "{last}"
    );
    assert!(last[1].as_f64().unwrap() >= 0.0);
    // Kept in KiB: the sample's figure to the KiB.
    assert_eq!(last[2].as_i64().unwrap(), rss / 1024 * 1024, "{last}");
    assert_eq!(last[3], 1);
    let (status, all) = server.get_json("/api/plugins/kanban/workers/history");
    assert_eq!(status, 200);
    assert_eq!(all["count"], 1);
    assert_eq!(all["runs"][0]["run_id"], worker.run);
    assert!(!all["runs"][0]["points"].as_array().unwrap().is_empty());
    let r = server.get("/runs/999/history");
    assert_eq!(
        (r.status, r.detail()),
        (404, "run 999 not found".to_owned())
    );
    assert_eq!(server.get("/runs/abc/history").status, 422);
    complete_as_0_19(&w, "t_h", worker.run);
    server.get_json("/workers/active?live=1");
    let (_, body) = server.get_json(&format!("/runs/{}/history", worker.run));
    assert_eq!(body["count"], 0, "{body}");
    assert_eq!(server.get_json("/workers/history").1["count"], 0);
}

/// `--history 0`: no points, no timer.
#[test]
fn no_history_is_kept_when_asked_not_to() {
    let board = Board::new("samples-nohistory");
    let w = board.writer();
    let worker = HermesWorker::sleep(&w, &board.path, "t_n");
    let server = Server::start_with(
        std::process::Command::new(shim_bin()),
        &board.path,
        &["--quiet", "--history", "0"],
    );
    server.get_json("/workers/active?live=1");
    let (_, body) = server.get_json(&format!("/runs/{}/history", worker.run));
    assert_eq!(
        (body["count"].clone(), body["window_s"].clone()),
        (json!(0), json!(0))
    );
}

/// `/runs/{id}/processes`: the worker, its tree, and what escaped it (a double-forked
/// grandchild, a `setsid -f` child), each with its pid, command line, CPU and memory.
#[test]
fn a_runs_processes_are_its_tree_and_what_escaped_it() {
    let board = Board::new("samples-processes");
    let w = board.writer();
    let script = "(sleep 1001 &); setsid -f sleep 1002; while :; do sleep 1000 & wait; done";
    let worker = HermesWorker::spawn(&w, &board.path, "t_p", &["sh", "-c", script]);
    let grandchild = process_of_run(&board.path, worker.run, &["sleep", "1001"]);
    let _g = KillOnDrop(grandchild);
    let setsid = process_of_run(&board.path, worker.run, &["sleep", "1002"]);
    let _s = KillOnDrop(setsid);
    let child = process_of_run(&board.path, worker.run, &["sleep", "1000"]);
    let _c = KillOnDrop(child);
    let server = Server::start(&board.path);
    let (status, body) = server.get_json(&format!("/runs/{}/processes", worker.run));
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["run_id"], worker.run);
    let procs = body["processes"].as_array().unwrap();
    assert_eq!(body["count"], procs.len());
    let by_pid = |pid: i64| {
        procs
            .iter()
            .find(|p| p["pid"] == pid)
            .unwrap_or_else(|| panic!("{pid} not in {body}"))
    };
    let top = by_pid(worker.pid());
    assert_eq!(
        (top["member"].clone(), top["depth"].clone()),
        (json!("worker"), json!(0))
    );
    assert_eq!(top["cmdline"], json!(["sh", "-c", script]));
    assert_eq!(
        top["rss_bytes"],
        proc_truth(worker.pid()).rss_pages * page_size()
    );
    let c = by_pid(child);
    assert_eq!(
        (c["member"].clone(), c["depth"].clone()),
        (json!("tree"), json!(1))
    );
    assert_eq!(c["ppid"], worker.pid());
    for pid in [grandchild, setsid] {
        let e = by_pid(pid);
        assert_eq!(e["member"], "escaped", "{e}");
        assert_eq!(e["depth"], Value::Null);
        assert!(
            e["evidence"].as_str().unwrap().starts_with("environment"),
            "{e}"
        );
    }
    assert_eq!(procs.len(), 4, "{body}");
    let r = server.get("/runs/999/processes");
    assert_eq!(
        (r.status, r.detail()),
        (404, "run 999 not found".to_owned())
    );
    // A run with no process: found, nothing listed.
    let ended = insert_run(&w, &RunSpec::new("t_e").ended(now_secs()));
    let (status, body) = server.get_json(&format!("/runs/{ended}/processes"));
    assert_eq!((status, body["count"].clone()), (200, json!(0)));
    // The worker's loop ends before its child is killed (else it would start another).
    drop(worker);
}

/// A board whose samples outlast their budget (its writer forged thousands of runs on a
/// process with a large tree) holds one reader thread at a time, never all of them: the
/// other boards are still answered. Its query is interrupted past the budget, and no second
/// sample of it begins while one runs.
#[test]
fn a_board_slower_than_its_budget_does_not_starve_the_others() {
    let root = temp_dir("samples-slow-root");
    std::fs::set_permissions(
        root.path(),
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();
    let victim = create_board(&root.path().join("kanban.db"));
    let worker = Worker::sleep();
    insert_run(
        &victim,
        &RunSpec::new("t_v").pid(worker.pid()).started(now_secs()),
    );
    let evil_dir = root.path().join("kanban/boards/evil");
    std::fs::create_dir_all(&evil_dir).unwrap();
    let evil = create_board(&evil_dir.join("kanban.db"));
    // A tree of 200 processes, and 3,000 open runs that name its root.
    // In a process group of its own, all of it killed at the end (the children outlive sh).
    let tree = Worker::asleep(std::os::unix::process::CommandExt::process_group(
        std::process::Command::new("sh")
            .arg("-c")
            .arg("for i in $(seq 200); do sleep 1000 & done; exec sleep 1000"),
        0,
    ));
    let _tree_group = KillOnDrop(-tree.pid());
    let lock = format!("{}:1", local_hostname());
    evil.execute_batch("BEGIN").unwrap();
    for n in 0..3000 {
        insert_run(
            &evil,
            &RunSpec::new(&format!("t_{n}"))
                .pid(tree.pid())
                .started(now_secs())
                .lock(Some(&lock)),
        );
    }
    evil.execute_batch("COMMIT").unwrap();
    let mut cmd = std::process::Command::new(shim_bin());
    cmd.env("HERMES_KANBAN_HOME", root.path()).args([
        "serve",
        "--listen",
        "127.0.0.1:0",
        "--quiet",
        "--history",
        "0",
        "--busy-timeout",
        "0.5",
    ]);
    let server = Server::spawn(cmd, "serving board");
    // Each is answered 503 within its budget; before the fix, each left a thread reading on,
    // and after about a dozen no reader thread was left for any board.
    for _ in 0..40 {
        let r = server.get("/workers/active?live=1&board=evil");
        assert_eq!(r.status, 503, "{}", r.detail());
    }
    let (status, body) = server.get_json("/workers/active?live=1");
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["count"], 1);
    let (status, body) = server.get_json("/workers/active");
    assert_eq!(status, 200, "{body}");
}

/// A board owned by `nobody` whose run names another user's process (root's): the shim, as
/// root, could read all of it, but shows only what the board's owner could: no member of its
/// tree in `/runs/{id}/processes` (nor a count of them: the owner could not count them under
/// `hidepid`), no count of its open files in
/// `/inspect` and `?live=1` (`access denied`, as the owner would get).
#[test]
#[ignore = "needs root: `make test` runs it as root"]
fn another_users_process_is_shown_only_as_its_owner_could_see_it() {
    require_root();
    let ((_dir, conn), db) = nobodys_board("samples-foreign");
    // Root's process, with a child of its own.
    let roots = Worker::asleep(std::os::unix::process::CommandExt::process_group(
        std::process::Command::new("sh")
            .arg("-c")
            .arg("sleep 1000 & exec sleep 1001"),
        0,
    ));
    let _group = KillOnDrop(-roots.pid());
    let children = format!("/proc/{0}/task/{0}/children", roots.pid());
    while proc_truth(roots.pid()).cmdline != ["sleep", "1001"]
        || std::fs::read_to_string(&children)
            .unwrap_or_default()
            .trim()
            .is_empty()
    {
        std::thread::yield_now();
    }
    let run = insert_run(
        &conn,
        &RunSpec::new("t_f").pid(roots.pid()).started(now_secs()),
    );
    let server = Server::start(&db);
    let (status, body) = server.get_json(&format!("/runs/{run}/processes"));
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["processes"], json!([]), "{body}");
    assert_eq!(body["count"], json!(0), "{body}");
    assert!(body.get("hidden").is_none(), "{body}");
    let (_, inspect) = server.get_json(&format!("/runs/{run}/inspect"));
    assert_eq!(inspect["alive"], true, "{inspect}");
    assert_eq!(inspect["num_fds"], Value::Null, "{inspect}");
    assert_eq!(inspect["error"], "access denied");
    // Its tree's size is not told either: the worker's own (world-readable) figures only.
    assert_eq!(inspect["tree_processes"], 1, "{inspect}");
    let (_, live) = server.get_json("/workers/active?live=1");
    assert_eq!(live["workers"][0]["num_fds"], Value::Null, "{live}");
    assert_eq!(live["workers"][0]["tree_processes"], 1, "{live}");
}

/// A run's `/inspect` and `/processes` asked by many at once are shared by the requests asking
/// for the same one (`RunReads`): each request gets its own run's answer, whichever other runs
/// and boards are asked meanwhile, and each a whole one.
#[test]
fn run_reads_asked_at_once_answer_each_its_own_run() {
    let board = Board::new("run-reads-shared");
    let w = board.writer();
    let (a, b) = (Worker::sleep(), Worker::sleep());
    let run_a = insert_run(&w, &RunSpec::new("t_a").pid(a.pid()).started(now_secs()));
    let run_b = insert_run(&w, &RunSpec::new("t_b").pid(b.pid()).started(now_secs()));
    let server = Server::start(&board.path);
    let asks: Vec<(String, i64, i64)> = (0..24)
        .map(|i| match i % 4 {
            0 => (format!("/runs/{run_a}/inspect"), run_a, a.pid()),
            1 => (format!("/runs/{run_b}/inspect"), run_b, b.pid()),
            2 => (format!("/runs/{run_a}/processes"), run_a, a.pid()),
            _ => (format!("/runs/{run_b}/inspect?board=nope"), 0, 0),
        })
        .collect();
    let gate = std::sync::Barrier::new(asks.len());
    let answers: Vec<(u16, Value)> = std::thread::scope(|s| {
        let asked: Vec<_> = asks
            .iter()
            .map(|(path, _, _)| {
                s.spawn(|| {
                    gate.wait();
                    server.get_json(path)
                })
            })
            .collect();
        asked.into_iter().map(|t| t.join().unwrap()).collect()
    });
    for ((path, run, pid), (status, body)) in asks.iter().zip(&answers) {
        if *run == 0 {
            // `--db` serves one file: another board is a 404, shared as any answer is.
            assert_eq!(*status, 404, "{path}: {body}");
            continue;
        }
        assert_eq!(*status, 200, "{path}: {body}");
        if path.ends_with("/inspect") {
            assert_eq!(body["run_id"], *run, "{path}: {body}");
            assert_eq!(body["pid"], *pid, "{path}: {body}");
            assert_eq!(body["alive"], true, "{path}: {body}");
        } else {
            assert_eq!(body["run_id"], *run, "{path}: {body}");
            assert_eq!(body["processes"][0]["pid"], *pid, "{path}: {body}");
        }
    }
}
