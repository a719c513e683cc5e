#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! The real `kanban-workers` binary on loopback, a real board file, real worker processes, and
//! a real HTTP client: the reference dashboard's scenarios and the contract's error cases.

use std::os::unix::fs::PermissionsExt;
use std::process::Command;

use crate::common::*;
use serde_json::{Value, json};

fn keys(v: &Value) -> Vec<String> {
    v.as_object().expect("object").keys().cloned().collect()
}

#[test]
fn empty_board_has_no_workers() {
    let board = Board::new("http-empty");
    let server = Server::start(&board.path);
    let before = now_secs();
    let (status, body) = server.get_json("/workers/active");
    assert_eq!(status, 200);
    assert_eq!(body["workers"], json!([]));
    assert_eq!(body["count"], 0);
    let checked = body["checked_at"]
        .as_i64()
        .expect("checked_at is an integer");
    assert!(checked >= before && checked <= now_secs(), "{checked}");
}

#[test]
fn running_worker_appears_with_every_key_and_finished_or_pidless_runs_do_not() {
    let board = Board::new("http-active");
    let live = Worker::sleep();
    let w = board.writer();
    let run = insert_run(&w, &RunSpec::new("t_live").pid(live.pid()));
    insert_run(
        &w,
        &RunSpec::new("t_ended").pid(live.pid()).ended(1_700_000_500),
    );
    insert_run(&w, &RunSpec::new("t_nopid"));
    insert_run(
        &w,
        &RunSpec::new("t_blocked").status("blocked").pid(live.pid()),
    );
    drop(w);
    let host = local_hostname();
    let server = Server::start(&board.path);
    for prefix in ["", "/api/plugins/kanban"] {
        let (status, body) = server.get_json(&format!("{prefix}/workers/active"));
        assert_eq!(status, 200);
        assert_eq!(body["count"], 1, "{body}");
        let worker = &body["workers"][0];
        assert_eq!(keys(worker), ACTIVE_WORKERS_COLUMNS);
        assert_eq!(
            *worker,
            json!({
                "run_id": run, "task_id": "t_live", "task_title": "title of t_live",
                "task_status": "running", "task_assignee": "agent-x", "profile": "default",
                "worker_pid": live.pid(), "started_at": 1_700_000_000, "claim_lock": format!("{host}:4242"),
                "claim_expires": 1_700_000_900, "last_heartbeat_at": 1_700_000_005,
                "max_runtime_seconds": 3600, "worker_host": host, "local": true,
            })
        );
    }
}

/// The owner's `Run` fields, in its order: what its `GET /runs/{id}` answers, 16 keys in
/// hermes-agent 0.19.0 and still 16 in the newer releases (0.20-0.21.x).
const OWNER_RUN_KEYS: [&str; 16] = [
    "id",
    "task_id",
    "profile",
    "step_key",
    "status",
    "claim_lock",
    "claim_expires",
    "worker_pid",
    "max_runtime_seconds",
    "last_heartbeat_at",
    "started_at",
    "ended_at",
    "outcome",
    "summary",
    "metadata",
    "error",
];

#[test]
fn run_by_id_returns_the_owners_columns_in_order_or_404() {
    let board = Board::new("http-run");
    let w = board.writer();
    let run = insert_run(&w, &RunSpec::new("t_1").pid(4242));
    let bad_meta = insert_run(&w, &RunSpec::new("t_2"));
    w.execute(
        "UPDATE task_runs SET metadata = 'not json{' WHERE id = ?1",
        [bad_meta],
    )
    .unwrap();
    drop(w);
    // The view the route reads, through the `.so`.
    let conn = board.with_extension();
    let columns: Vec<String> = conn
        .prepare("SELECT * FROM owner_runs WHERE id = ?1")
        .unwrap()
        .column_names()
        .into_iter()
        .map(str::to_owned)
        .collect();
    assert_eq!(columns, OWNER_RUN_KEYS);
    let server = Server::start(&board.path);
    for prefix in ["", "/api/plugins/kanban"] {
        let (status, body) = server.get_json(&format!("{prefix}/runs/{run}"));
        assert_eq!(status, 200);
        assert_eq!(keys(&body), ["run"]);
        assert_eq!(keys(&body["run"]), OWNER_RUN_KEYS);
        assert_eq!(body["run"]["id"], run);
        assert_eq!(body["run"]["worker_pid"], 4242);
        assert_eq!(body["run"]["status"], "running");
        assert_eq!(body["run"]["ended_at"], Value::Null);
        assert_eq!(body["run"]["metadata"], json!({"k": 1}));
    }
    assert_eq!(
        server.get_json(&format!("/runs/{bad_meta}")).1["run"]["metadata"],
        Value::Null
    );
    let (status, body) = server.get_json("/runs/42");
    assert_eq!((status, body), (404, json!({"detail": "run 42 not found"})));
}

/// The owner migrates the board while the shim serves it: from the next answer on, the run
/// has `worker_started_at` (the newer releases' fingerprint) after the owner's 16 fields,
/// wherever the migration put the column, and never a column the owner added that the shim
/// does not know (one may hold what the owner's API redacts, as the opt-in run activity
/// snapshot's `activity_json` would).
#[test]
fn a_column_added_while_serving_is_answered_only_when_known() {
    let board = Board::new("http-migrate");
    let w = board.writer();
    let run = insert_run(&w, &RunSpec::new("t_1").pid(4242));
    let server = Server::start(&board.path);
    let (_, before) = server.get_json(&format!("/runs/{run}"));
    assert_eq!(keys(&before["run"]), OWNER_RUN_KEYS, "{before}");
    w.execute_batch(
        "ALTER TABLE task_runs ADD COLUMN activity_json TEXT;
         ALTER TABLE task_runs ADD COLUMN worker_started_at TEXT;
         UPDATE task_runs SET worker_started_at = 'abc:1|42', activity_json = '{\"secret\": 1}';",
    )
    .unwrap();
    let mut expected: Vec<&str> = OWNER_RUN_KEYS.to_vec();
    expected.push("worker_started_at");
    for _ in 0..3 {
        let (status, after) = server.get_json(&format!("/runs/{run}"));
        assert_eq!(status, 200, "{after}");
        assert_eq!(keys(&after["run"]), expected);
        assert_eq!(after["run"]["worker_started_at"], "abc:1|42");
        assert_eq!(after["run"]["metadata"], json!({"k": 1}));
        assert!(!after.to_string().contains("secret"), "{after}");
    }
}

/// `metadata` numbers as the owner (Python's json) answers them: integers with every digit,
/// however long; fractions and exponents as floats.
#[test]
fn metadata_integers_keep_every_digit() {
    let board = Board::new("http-bigint");
    let w = board.writer();
    let run = insert_run(&w, &RunSpec::new("t_1"));
    w.execute(
        "UPDATE task_runs SET metadata = ?1 WHERE id = ?2",
        rusqlite::params![
            r#"{"big": 123456789012345678901234567890, "neg": -98765432109876543210, "max": 18446744073709551615, "i": -0, "f": 1.50, "e": 1E2, "list": [340282366920938463463374607431768211456]}"#,
            run
        ],
    )
    .unwrap();
    let server = Server::start(&board.path);
    let r = server.get(&format!("/runs/{run}"));
    assert_eq!(r.status, 200);
    let body = String::from_utf8(r.body).unwrap();
    assert!(
        body.contains(
            r#""metadata":{"big":123456789012345678901234567890,"neg":-98765432109876543210,"max":18446744073709551615,"i":0,"f":1.5,"e":100.0,"list":[340282366920938463463374607431768211456]}"#
        ),
        "{body}"
    );
}

#[test]
fn inspect_covers_every_case_of_the_reference() {
    let board = Board::new("http-inspect");
    let live = Worker::sleep();
    let gone = Worker::sleep().end();
    let zombie = Worker::sleep().into_zombie();
    let w = board.writer();
    // Claimed as the worker started: no fingerprint, so the spawn window decides.
    let live_run = insert_run(
        &w,
        &RunSpec::new("t_live").pid(live.pid()).started(now_secs()),
    );
    let ended = insert_run(
        &w,
        &RunSpec::new("t_ended").pid(live.pid()).ended(1_700_000_100),
    );
    let nopid = insert_run(&w, &RunSpec::new("t_nopid"));
    let gone_run = insert_run(&w, &RunSpec::new("t_gone").pid(gone));
    let zombie_run = insert_run(&w, &RunSpec::new("t_zombie").pid(zombie.pid()));
    let nonsense = insert_run(&w, &RunSpec::new("t_bad").pid(-7));
    drop(w);
    let server = Server::start(&board.path);
    let inspect = |id: i64| server.get_json(&format!("/api/plugins/kanban/runs/{id}/inspect"));

    assert_eq!(inspect(999), (404, json!({"detail": "run 999 not found"})));
    assert_eq!(
        inspect(ended),
        (
            200,
            json!({"run_id": ended, "alive": false, "reason": "run already ended"})
        )
    );
    assert_eq!(
        inspect(nopid),
        (
            200,
            json!({"run_id": nopid, "alive": false, "reason": "no worker_pid recorded"})
        )
    );
    assert_eq!(
        inspect(gone_run),
        (
            200,
            json!({"run_id": gone_run, "alive": false, "pid": gone, "reason": "process not found"})
        )
    );
    assert_eq!(
        inspect(nonsense),
        (
            200,
            json!({"run_id": nonsense, "alive": false, "pid": -7, "reason": "process not found"})
        )
    );
    assert_eq!(
        inspect(zombie_run),
        (
            200,
            json!({"run_id": zombie_run, "alive": false, "pid": zombie.pid(), "reason": "process not found", "status": "zombie"})
        )
    );

    let (status, body) = inspect(live_run);
    assert_eq!(status, 200);
    assert_eq!(
        keys(&body),
        [
            "run_id",
            "alive",
            "pid",
            "cpu_percent",
            "memory_rss_bytes",
            "memory_vms_bytes",
            "num_threads",
            "num_fds",
            "status",
            "create_time",
            "cmdline",
            "identity",
            "evidence",
            "signalable",
            "local",
            "worker_host",
            "tree_processes",
            "tree_rss_bytes",
            "tree_cpu_percent",
            "heartbeat_age_s",
            "wedged",
            "wedged_reason",
        ]
    );
    assert_eq!(body["identity"], "started with the run");
    assert_eq!(body["evidence"], "spawn window");
    assert_eq!(body["signalable"], false);
    assert_eq!(body["local"], true);
    assert_eq!(body["worker_host"], local_hostname());
    assert_eq!(body["tree_processes"], 1);
    assert_eq!(body["wedged"], false);
    assert_eq!(body["wedged_reason"], Value::Null);
    let truth = proc_truth(live.pid());
    assert_eq!(body["alive"], true);
    assert_eq!(body["pid"], live.pid());
    assert_eq!(body["memory_rss_bytes"], truth.rss_pages * page_size());
    assert_eq!(body["memory_vms_bytes"], truth.vms_pages * page_size());
    assert_eq!(body["num_threads"], truth.num_threads);
    assert_eq!(body["num_fds"], fd_count(live.pid()));
    assert_eq!(body["status"], "sleeping");
    assert_eq!(body["cmdline"], json!(["sleep", "1000"]));
    let expected_start = boot_time() as f64 + truth.start_ticks as f64 / clock_ticks() as f64;
    assert!(
        (body["create_time"].as_f64().unwrap() - expected_start).abs() < 0.011,
        "{body}"
    );
    assert!(
        body["cpu_percent"]
            .as_f64()
            .is_some_and(|c| (0.0..=100.0).contains(&c)),
        "{body}"
    );
}

/// An ended run's `/inspect` keeps the owner's three keys and adds how its worker exited where
/// the run's metadata says it, in the shapes the newer releases' dispatcher writes (a
/// rate-limited exit and a clean one carry no `exit_kind`: it is the owner's
/// `_exit_code_kind` of the code); a run that never had a worker, or whose metadata says
/// nothing of an exit, answers the three keys alone.
#[test]
fn an_ended_runs_inspect_says_how_its_worker_exited() {
    let board = Board::new("http-exit");
    let w = board.writer();
    let ended = |task: &str, metadata: &str| {
        let run = insert_run(&w, &RunSpec::new(task).pid(4242).ended(1_700_000_100));
        w.execute(
            "UPDATE task_runs SET metadata = ?1 WHERE id = ?2",
            rusqlite::params![metadata, run],
        )
        .unwrap();
        run
    };
    let cases = [
        (
            ended(
                "t_rl",
                r#"{"pid": 4242, "claimer": "h:1", "exit_code": 75}"#,
            ),
            json!({"exit_code": 75, "exit_kind": "rate_limited"}),
        ),
        (
            ended(
                "t_tp",
                r#"{"pid": 4242, "exit_kind": "terminal_provider", "exit_code": 78, "terminal_provider": true}"#,
            ),
            json!({"exit_code": 78, "exit_kind": "terminal_provider"}),
        ),
        (
            ended(
                "t_sig",
                r#"{"pid": 4242, "exit_kind": "signaled", "exit_code": 9}"#,
            ),
            json!({"exit_code": 9, "exit_kind": "signaled"}),
        ),
        (
            ended(
                "t_pv",
                r#"{"pid": 4242, "exit_code": 0, "protocol_violation": true}"#,
            ),
            json!({"exit_code": 0, "exit_kind": "clean_exit"}),
        ),
        (
            ended("t_nz", r#"{"exit_code": 3}"#),
            json!({"exit_code": 3, "exit_kind": "nonzero_exit"}),
        ),
        (ended("t_sf", r#"{"infrastructure": true}"#), json!({})),
        (ended("t_text", r#"{"exit_code": "75"}"#), json!({})),
        (ended("t_bad", "not json{"), json!({})),
    ];
    // Ended at a time no rule reads (so no verdict calls it ended), with no worker: its answer
    // still says how its worker exited.
    let unread = insert_run(&w, &RunSpec::new("t_when").ended(1_700_000_100));
    w.execute(
        "UPDATE task_runs SET ended_at = 'the day after', metadata = '{\"exit_code\": 3}' \
         WHERE id = ?1",
        [unread],
    )
    .unwrap();
    drop(w);
    let server = Server::start(&board.path);
    for (run, exit) in cases {
        let (status, body) = server.get_json(&format!("/api/plugins/kanban/runs/{run}/inspect"));
        assert_eq!(status, 200, "{body}");
        let mut expected = json!({"run_id": run, "alive": false});
        for (k, v) in exit.as_object().unwrap() {
            expected[k] = v.clone();
        }
        expected["reason"] = json!("run already ended");
        assert_eq!(body, expected);
        assert_eq!(
            keys(&body),
            keys(&expected),
            "the owner's keys first, reason last"
        );
    }
    let (status, body) = server.get_json(&format!("/api/plugins/kanban/runs/{unread}/inspect"));
    assert_eq!(
        (status, body),
        (
            200,
            json!({"run_id": unread, "alive": false, "exit_code": 3, "exit_kind": "nonzero_exit",
                   "reason": "no worker_pid recorded"})
        )
    );
}

/// The server runs as `nobody` and inspects a worker of root's: readable stats, no fd count.
#[test]
#[ignore = "needs root: `make test` runs it as root"]
fn inspect_of_another_users_process_is_access_denied_with_the_readable_stats() {
    require_root();
    let (dir, bin) = dir_for_nobody("http-denied");
    let db = dir.path().join("kanban.db");
    let conn = create_board(&db);
    let live = Worker::sleep();
    let run = insert_run(
        &conn,
        &RunSpec::new("t_1").pid(live.pid()).started(now_secs()),
    );
    // The owner keeps the board open (its -wal and -shm exist), as its dispatcher does.
    std::fs::set_permissions(&db, std::fs::Permissions::from_mode(0o644)).unwrap();
    let server = start_as_nobody(&bin, &db);
    let (status, body) = server.get_json(&format!("/runs/{run}/inspect"));
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["alive"], true);
    assert_eq!(body["pid"], live.pid());
    assert_eq!(body["error"], "access denied");
    assert_eq!(body["num_fds"], Value::Null);
    assert_eq!(
        body["memory_rss_bytes"],
        proc_truth(live.pid()).rss_pages * page_size()
    );
    assert_eq!(body["cmdline"], json!(["sleep", "1000"]));
}

#[test]
fn missing_board_is_a_clear_503_and_recovers_without_restart() {
    let dir = temp_dir("http-missing");
    let db = dir.path().join("kanban.db");
    let server = Server::start(&db);
    let (status, body) = server.get_json("/workers/active");
    assert_eq!(status, 503);
    let detail = body["detail"].as_str().unwrap();
    assert!(
        detail.contains(&db.display().to_string()) && detail.contains("does not exist"),
        "{detail}"
    );

    // A file without the kanban tables.
    rusqlite::Connection::open(&db)
        .unwrap()
        .execute_batch("CREATE TABLE other(x)")
        .unwrap();
    let (status, body) = server.get_json("/runs/1/inspect");
    assert_eq!(status, 503);
    assert!(
        body["detail"]
            .as_str()
            .unwrap()
            .contains("is not a kanban board (no such table: task_runs)"),
        "{body}"
    );

    // Not a SQLite file at all.
    std::fs::remove_file(&db).unwrap();
    std::fs::write(&db, b"this is not a database, just some text that is long enough........................................................").unwrap();
    let (status, body) = server.get_json("/workers/active");
    assert_eq!(status, 503);
    assert!(
        body["detail"]
            .as_str()
            .unwrap()
            .contains("is not a SQLite database"),
        "{body}"
    );

    // The board appears: served without a restart.
    std::fs::remove_file(&db).unwrap();
    let conn = create_board(&db);
    let live = Worker::sleep();
    insert_run(&conn, &RunSpec::new("t_1").pid(live.pid()));
    let (status, body) = server.get_json("/workers/active");
    assert_eq!((status, body["count"].clone()), (200, json!(1)), "{body}");
}

#[test]
fn serving_never_writes_to_the_board() {
    let board = Board::new("http-nowrite");
    let live = Worker::sleep();
    let run = insert_run(&board.writer(), &RunSpec::new("t_1").pid(live.pid()));
    let before = file_bytes(&board.path);
    let server = Server::start(&board.path);
    for path in [
        "/workers/active".to_owned(),
        format!("/runs/{run}"),
        format!("/runs/{run}/inspect"),
        "/runs/77".to_owned(),
    ] {
        assert!(matches!(server.get(&path).status, 200 | 404));
    }
    assert!(server.stop().0);
    assert_eq!(file_bytes(&board.path), before);
}

#[test]
fn logs_one_line_per_request_and_stops_cleanly_on_sigterm() {
    let board = Board::new("http-log");
    let server = Server::start_with(Command::new(shim_bin()), &board.path, &[]);
    assert_eq!(server.get("/workers/active").status, 200);
    assert_eq!(server.get("/runs/abc").status, 422);
    let (ok, stderr) = server.stop();
    assert!(ok, "exit status after SIGTERM: {stderr}");
    let lines: Vec<&str> = stderr.lines().filter(|l| l.starts_with("GET ")).collect();
    assert_eq!(lines.len(), 2, "{stderr}");
    assert!(
        lines[0].starts_with("GET /workers/active 200 ") && lines[0].ends_with("us"),
        "{stderr}"
    );
    assert!(lines[1].starts_with("GET /runs/abc 422 "), "{stderr}");
}

#[test]
fn serve_without_a_board_says_which_paths_were_tried() {
    let home = temp_dir("http-home");
    let out = Command::new(shim_bin())
        .arg("serve")
        .env_remove("HERMES_KANBAN_DB")
        .env_remove("HERMES_KANBAN_HOME")
        .env("HOME", home.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&format!(
            "{}/.hermes/kanban.db (does not exist)",
            home.path().display()
        )),
        "{err}"
    );
    assert!(err.contains("$HERMES_KANBAN_DB (not set)"), "{err}");

    let refused = Command::new(shim_bin())
        .args(["serve", "--db", "x.db", "--listen", "0.0.0.0:0"])
        .output()
        .unwrap();
    assert_eq!(refused.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&refused.stderr).contains("--allow-remote"));
}

#[test]
fn board_from_hermes_kanban_home() {
    let board = Board::new("http-env");
    let mut cmd = Command::new(shim_bin());
    cmd.env_remove("HERMES_KANBAN_DB")
        .env("HERMES_KANBAN_HOME", board.dir.path())
        .args(["--listen", "127.0.0.1:0", "--quiet"]);
    let server = Server::spawn(cmd, "serving board");
    assert!(
        server.banner[0].contains(&board.path.display().to_string()),
        "{:?}",
        server.banner
    );
    assert_eq!(server.get_json("/workers/active").0, 200);
}

/// The README's first command without a board: a demo with real workers, tried with curl,
/// cleaned up (processes and files) on SIGTERM.
#[test]
fn demo_serves_real_workers_and_cleans_up() {
    let home = temp_dir("http-demo");
    let mut cmd = Command::new(shim_bin());
    cmd.args(["demo", "--listen", "127.0.0.1:0", "--quiet"])
        .env("HOME", home.path());
    let server = Server::spawn(cmd, "curl -s http://");
    // Read the banner up to the curl lines: spawn() stopped at the first one.
    let board_line = server
        .banner
        .iter()
        .find(|l| l.contains("serving board"))
        .expect("banner")
        .clone();
    let board = std::path::PathBuf::from(
        board_line
            .split("serving board ")
            .nth(1)
            .unwrap()
            .split(" on http")
            .next()
            .unwrap(),
    );
    assert!(board.is_file());
    // The demo's folder is private: nobody else lists or reads the board or its side files.
    let mode = std::fs::metadata(board.parent().unwrap())
        .unwrap()
        .permissions();
    assert_eq!(
        std::os::unix::fs::PermissionsExt::mode(&mode) & 0o777,
        0o700
    );
    let curl = |path: &str| -> Value {
        let out =
            run_ok(Command::new("curl").args(["-s", &format!("http://{}{path}", server.addr)]));
        serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"))
    };
    let active = curl("/workers/active");
    assert_eq!(active["count"], 3, "{active}");
    let pids: Vec<i64> = active["workers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w["worker_pid"].as_i64().unwrap())
        .collect();
    let inspected: Vec<Value> = (1..=5)
        .map(|id| curl(&format!("/runs/{id}/inspect")))
        .collect();
    assert_eq!(
        inspected.iter().filter(|v| v["alive"] == true).count(),
        2,
        "{inspected:?}"
    );
    let reasons: Vec<&str> = inspected
        .iter()
        .filter_map(|v| v["reason"].as_str())
        .collect();
    assert_eq!(
        reasons,
        [
            "process not found",
            "no worker_pid recorded",
            "run already ended"
        ]
    );
    let (ok, stderr) = server.stop();
    assert!(ok, "{stderr}");
    assert!(!board.exists(), "demo board left behind");
    for pid in &pids[..2] {
        let state = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok();
        assert!(state.is_none(), "demo worker {pid} still exists: {state:?}");
    }
}

/// A board the server may not read (file mode 0600, server as `nobody`): a clear 503 that names
/// the file, and service once the mode is fixed, without a restart.
#[test]
#[ignore = "needs root: `make test` runs it as root"]
fn unreadable_board_is_a_clear_503_until_permissions_are_fixed() {
    require_root();
    let (dir, bin) = dir_for_nobody("http-perm");
    let db = dir.path().join("kanban.db");
    // The owner keeps the board open (its -wal and -shm exist), as its dispatcher does.
    let _owner = create_board(&db);
    std::fs::set_permissions(&db, std::fs::Permissions::from_mode(0o600)).unwrap();
    let server = start_as_nobody(&bin, &db);
    let (status, body) = server.get_json("/workers/active");
    assert_eq!(status, 503, "{body}");
    let detail = body["detail"].as_str().unwrap();
    assert!(
        detail.contains(&db.display().to_string()) && detail.contains("cannot be opened"),
        "{detail}"
    );
    std::fs::set_permissions(&db, std::fs::Permissions::from_mode(0o644)).unwrap();
    let (status, body) = server.get_json("/workers/active");
    assert_eq!((status, body["count"].clone()), (200, json!(0)), "{body}");
}

/// The server yields the CPU to the board's own processes: niceness 10 unless told otherwise.
#[test]
fn server_runs_at_lower_priority_by_default() {
    let board = Board::new("http-nice");
    let default = Server::start(&board.path);
    assert_eq!(niceness(default.pid()), 10);
    let bin = Command::new(shim_bin());
    let unchanged = Server::start_with(bin, &board.path, &["--quiet", "--nice", "0"]);
    assert_eq!(
        niceness(unchanged.pid()),
        niceness(i64::from(std::process::id()))
    );
    let bad = Command::new(shim_bin())
        .args(["serve", "--nice", "-5"])
        .output()
        .unwrap();
    assert_eq!(bad.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("--nice"));
}

/// SIGHUP (a closed terminal) stops the server gracefully, as SIGTERM does; a host name that
/// resolves to loopback is a valid `--listen`.
#[test]
fn sighup_stops_gracefully_and_listen_takes_a_host_name() {
    let board = Board::new("http-hup");
    let mut cmd = Command::new(shim_bin());
    cmd.arg("serve")
        .arg("--db")
        .arg(&board.path)
        .args(["--listen", "localhost:0", "--quiet"]);
    let mut server = Server::spawn(cmd, "serving board");
    assert_eq!(server.get("/workers/active").status, 200);
    // SAFETY: kill has no memory-safety preconditions; the pid is our own child's.
    unsafe { libc::kill(server.child.id() as i32, libc::SIGHUP) };
    let status = server.child.wait().unwrap();
    assert!(status.success(), "{status:?}");
    let mut err = String::new();
    std::io::Read::read_to_string(server.child.stderr.as_mut().unwrap(), &mut err).unwrap();
    assert!(err.contains("stopped"), "{err}");
}

/// A `worker_pid` stored as something other than an integer (the column has INTEGER affinity,
/// but 12.5, '12abc' and blobs stay what they are) is a stated reason, never an error; the
/// same row is still listed by `/workers/active`, as the reference lists it.
#[test]
fn non_integer_worker_pids_are_an_invalid_worker_pid() {
    let board = Board::new("http-realpid");
    let w = board.writer();
    let mut runs = Vec::new();
    for (i, stored) in ["12.5", "'12abc'", "x'0c'", "1e300"].iter().enumerate() {
        let run = insert_run(&w, &RunSpec::new(&format!("t_{i}")).pid(4242));
        w.execute(
            &format!("UPDATE task_runs SET worker_pid = {stored} WHERE id = ?1"),
            [run],
        )
        .unwrap();
        runs.push(run);
    }
    let server = Server::start(&board.path);
    for run in &runs {
        let (status, body) = server.get_json(&format!("/runs/{run}/inspect"));
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["alive"], false, "{body}");
        assert_eq!(body["reason"], "invalid worker_pid", "{body}");
    }
    let (status, body) = server.get_json(&format!("/runs/{}/inspect", runs[0]));
    assert_eq!((status, &body["pid"]), (200, &json!(12.5)));
    let (status, body) = server.get_json("/workers/active");
    assert_eq!((status, body["count"].clone()), (200, json!(4)), "{body}");
}

/// The board's `-wal` deleted while its owner has it open (uncheckpointed rows in it): a
/// fresh shim cannot read the board, and says so with a 503 (it was a 500 "disk I/O error").
#[test]
fn a_deleted_wal_is_a_503() {
    let board = Board::new("http-nowal");
    let owner = board.writer();
    owner.pragma_update(None, "wal_autocheckpoint", 0).unwrap();
    insert_run(&owner, &RunSpec::new("t_1").pid(4242));
    let wal = board.dir.path().join("kanban.db-wal");
    assert!(wal.is_file());
    std::fs::remove_file(&wal).unwrap();
    let server = Server::start(&board.path);
    for path in ["/workers/active", "/runs/1", "/runs/1/inspect"] {
        let r = server.get(path);
        assert_eq!(r.status, 503, "{path}: {:?}", r.json());
        assert!(r.detail().contains("cannot be read now"), "{}", r.detail());
    }
    drop(owner);
}

/// A board of root's, read by a shim running as `nobody`, in a world-writable directory and in
/// a 0755 one. With the owner's `-wal`/`-shm` absent the shim refuses (503, saying why and how
/// to run it) and creates nothing; with them present (the owner has the board open) it reads,
/// and the owner keeps writing. The owner itself may always read. No file beside the board is
/// ever owned by anyone but the board's owner.
#[test]
#[ignore = "needs root: `make test` runs it as root"]
fn a_reader_never_creates_side_files_as_another_user() {
    use std::os::unix::fs::MetadataExt;
    require_root();
    let owners_of_side_files = |dir: &std::path::Path| -> Vec<(String, u32)> {
        std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap())
            .filter(|e| e.file_name().to_string_lossy().starts_with("kanban.db-"))
            .map(|e| {
                (
                    e.file_name().to_string_lossy().into_owned(),
                    e.metadata().unwrap().uid(),
                )
            })
            .collect()
    };
    for dir_mode in [0o777, 0o755] {
        let (dir, bin) = dir_for_nobody(&format!("side-{dir_mode:o}"));
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(dir_mode)).unwrap();
        let db = dir.path().join("kanban.db");
        let owner = create_board(&db);
        insert_run(&owner, &RunSpec::new("t_1").pid(4242));
        drop(owner); // the last connection: SQLite removes -wal and -shm
        std::fs::set_permissions(&db, std::fs::Permissions::from_mode(0o644)).unwrap();
        assert_eq!(owners_of_side_files(dir.path()), vec![]);

        let server = start_as_nobody(&bin, &db);
        for path in ["/workers/active", "/runs/1", "/runs/1/inspect"] {
            let r = server.get(path);
            assert_eq!(r.status, 503, "{dir_mode:o} {path}: {:?}", r.json());
            let detail = r.detail();
            assert!(
                detail.contains("WAL mode") && detail.contains("as uid 0"),
                "{detail}"
            );
        }
        assert_eq!(owners_of_side_files(dir.path()), vec![], "{dir_mode:o}");

        // The owner opens the board: now its side files exist and the reader may use them.
        let owner = rusqlite::Connection::open(&db).unwrap();
        owner
            .execute("UPDATE tasks SET title = 'first'", [])
            .unwrap();
        let (status, body) = server.get_json("/workers/active");
        assert_eq!(
            (status, body["count"].clone()),
            (200, json!(1)),
            "{dir_mode:o} {body}"
        );
        owner
            .execute("UPDATE tasks SET title = 'second'", [])
            .unwrap();
        let (_, body) = server.get_json("/workers/active");
        assert_eq!(body["workers"][0]["task_title"], "second");
        assert!(
            owners_of_side_files(dir.path())
                .iter()
                .all(|(_, uid)| *uid == 0)
        );
        drop(server);
        drop(owner);
        assert_eq!(owners_of_side_files(dir.path()), vec![], "{dir_mode:o}");

        // The owner's own shim reads the closed board (its side files are the owner's).
        let as_owner = Server::start(&db);
        assert_eq!(as_owner.get("/workers/active").status, 200);
        drop(as_owner);
        assert!(
            owners_of_side_files(dir.path())
                .iter()
                .all(|(_, uid)| *uid == 0)
        );
        let owner = rusqlite::Connection::open(&db).unwrap();
        owner
            .execute("UPDATE tasks SET title = 'third'", [])
            .unwrap();
    }
}

/// The board file swapped for a FIFO while it is served (someone with write access to its
/// directory): every route answers 503 at once, no thread is trapped in SQLite's open, and the
/// board is served again once a real file is back.
#[test]
fn a_fifo_swapped_in_for_the_board_is_refused() {
    let board = Board::new("http-fifo");
    insert_run(&board.writer(), &RunSpec::new("t_1").pid(4242));
    let server = Server::start(&board.path);
    assert_eq!(server.get("/runs/1").status, 200);
    let aside = board.dir.path().join("aside.db");
    std::fs::rename(&board.path, &aside).unwrap();
    run_ok(Command::new("mkfifo").arg(&board.path));
    // More requests than reader threads: none may be stuck behind a trapped one.
    for _ in 0..40 {
        for path in ["/workers/active", "/runs/1", "/runs/1/inspect"] {
            let r = server.get(path);
            assert_eq!(r.status, 503, "{path}");
            assert!(
                r.detail().contains("is not a regular file"),
                "{}",
                r.detail()
            );
        }
    }
    std::fs::remove_file(&board.path).unwrap();
    std::fs::rename(&aside, &board.path).unwrap();
    assert_eq!(server.get("/runs/1").status, 200);
}
