#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! `POST /runs/{id}/terminate` against the real binary, real worker processes (a tree, and a
//! double-forked grandchild that left it) and a real board, read back with the `sqlite3` shell.

use std::process::Command;

use super::{alive, shell};
use crate::common::*;
use serde_json::{Value, json};

const TOKEN: &str = "terminate-token";

fn server_with_token(board: &Board) -> Server {
    Server::with_token(&board.path, TOKEN, &[])
}

/// The run is still open (read back through the sqlite3 shell, as a user would).
fn still_open(board: &std::path::Path, run: i64) -> bool {
    shell(
        board,
        &format!("SELECT ended_at IS NULL FROM task_runs WHERE id = {run}"),
    ) == "1"
}

/// `POST /runs/{run}/terminate` with `body`, with the token.
fn terminate(server: &Server, run: i64, body: &str) -> HttpResponse {
    post(server, &format!("/runs/{run}/terminate"), body, Some(TOKEN))
}

fn post(server: &Server, path: &str, body: &str, token: Option<&str>) -> HttpResponse {
    server.post(path, body, token)
}

/// A board whose run of `t_1` is held by a live `sleep` worker, spawned as the owner spawns
/// one (its identity rests on the owner's spawn marks: no fingerprint).
fn board_with_a_worker(tag: &str) -> (Board, HermesWorker, i64) {
    let board = Board::new(tag);
    let worker = HermesWorker::sleep(&board.writer(), &board.path, "t_1");
    let run = worker.run;
    (board, worker, run)
}

#[test]
fn a_verified_worker_and_its_whole_tree_are_ended_and_the_task_reclaimed() {
    let board = Board::new("term-tree");
    board
        .writer()
        .execute_batch("ALTER TABLE task_runs ADD COLUMN worker_started_at TEXT")
        .unwrap();
    // The worker leads its own session: a child, and a grandchild that double-forked away from
    // the tree (its parent exited at once) but stays in the session.
    let worker = Worker::asleep(Command::new("setsid").args([
        "sh",
        "-c",
        "sleep 1000 & (sleep 1001 &); wait",
    ]));
    let pid = worker.pid();
    let find = |arg: &str| -> i64 {
        loop {
            let found = std::fs::read_dir("/proc").unwrap().flatten().find_map(|e| {
                let p: i64 = e.file_name().to_str()?.parse().ok()?;
                let argv = std::fs::read(format!("/proc/{p}/cmdline")).ok()?;
                (argv == format!("sleep\0{arg}\0").as_bytes()
                    && stat_fields(p)[6 - 3] == pid.to_string())
                .then_some(p)
            });
            if let Some(p) = found {
                return p;
            }
            std::thread::yield_now();
        }
    };
    let child = find("1000");
    let daemon = find("1001");
    assert_ne!(proc_truth(daemon).ppid, pid, "the daemon left the tree");
    let w = board.writer();
    let run = insert_run(&w, &RunSpec::new("t_term").pid(pid).started(now_secs()));
    w.execute(
        "UPDATE task_runs SET worker_started_at = ?1 WHERE id = ?2",
        rusqlite::params![owner_fingerprint(pid), run],
    )
    .unwrap();
    w.execute(
        "UPDATE tasks SET consecutive_failures = 3 WHERE id = 't_term'",
        [],
    )
    .unwrap();
    drop(w);
    let server = server_with_token(&board);
    let r = post(
        &server,
        &format!("/api/plugins/kanban/runs/{run}/terminate"),
        r#"{"reason": "stuck on a prompt", "grace_seconds": 2}"#,
        Some(TOKEN),
    );
    assert_eq!(r.status, 200, "{:?}", String::from_utf8_lossy(&r.body));
    let body = r.json();
    assert_eq!(body["ok"], true);
    assert_eq!(body["run_id"], run);
    assert_eq!(body["task_id"], "t_term");
    let pids: Vec<i64> = body["processes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["pid"].as_i64().unwrap())
        .collect();
    for p in [pid, child, daemon] {
        assert!(pids.contains(&p), "{p} not in {body}");
        assert!(!alive(p), "{p} still runs");
    }
    for p in body["processes"].as_array().unwrap() {
        assert_eq!(p["signals"][0], "SIGTERM", "{p}");
        assert!(
            matches!(p["outcome"].as_str(), Some("exited" | "killed")),
            "{p}"
        );
    }
    // The reclaim, as the sqlite3 shell sees it.
    assert_eq!(
        shell(
            &board.path,
            "SELECT status, claim_lock IS NULL, worker_pid IS NULL, consecutive_failures FROM tasks WHERE id = 't_term'"
        ),
        "ready|1|1|0"
    );
    assert_eq!(
        shell(
            &board.path,
            &format!(
                "SELECT status, outcome, ended_at IS NOT NULL, error FROM task_runs WHERE id = {run}"
            )
        ),
        "reclaimed|reclaimed|1|manual_reclaim: stuck on a prompt"
    );
    let payload: Value = serde_json::from_str(&shell(
        &board.path,
        "SELECT payload FROM task_events WHERE kind = 'reclaimed' AND task_id = 't_term'",
    ))
    .unwrap();
    assert_eq!(payload["manual"], true);
    assert_eq!(payload["reason"], "stuck on a prompt");
    assert_eq!(payload["prev_lock"], format!("{}:4242", local_hostname()));
    // Again: the run has ended.
    let again = terminate(&server, run, "{}");
    assert_eq!(
        (again.status, again.json()),
        (409, json!({"detail": format!("run {run} already ended")}))
    );
}

#[test]
fn strangers_and_unverified_workers_are_never_signalled() {
    let board = Board::new("term-strangers");
    let stranger = Worker::sleep();
    let w = board.writer();
    // The pid now belongs to a process that started long after the run: reused. The worker is
    // gone, so the task is reclaimed, but the stranger is not touched.
    let reused = insert_run(
        &w,
        &RunSpec::new("t_reused")
            .pid(stranger.pid())
            .started(now_secs() - 7200),
    );
    // A claim of another host: not signalled, the claim is kept.
    let remote = insert_run(
        &w,
        &RunSpec::new("t_remote")
            .pid(stranger.pid())
            .started(now_secs())
            .lock(Some("far-away:1")),
    );
    // Unverified: alive, but its identity cannot be checked: not signalled, the claim kept.
    w.execute_batch("ALTER TABLE task_runs ADD COLUMN worker_started_at TEXT")
        .unwrap();
    let unverified = insert_run(
        &w,
        &RunSpec::new("t_unverified")
            .pid(stranger.pid())
            .started(now_secs()),
    );
    w.execute(
        "UPDATE task_runs SET worker_started_at = 'unverified' WHERE id = ?1",
        [unverified],
    )
    .unwrap();
    // Gone: reclaimed, nothing to signal.
    let gone = Worker::sleep().end();
    let gone_run = insert_run(&w, &RunSpec::new("t_gone").pid(gone).started(now_secs()));
    let done = insert_run(
        &w,
        &RunSpec::new("t_done")
            .status("done")
            .pid(gone)
            .started(now_secs()),
    );
    drop(w);
    let server = server_with_token(&board);
    let r = terminate(&server, reused, "{}");
    assert_eq!(r.status, 200, "{:?}", r.json());
    assert_eq!(r.json()["worker"], "pid reused");
    assert_eq!(r.json()["processes"], json!([]));
    assert!(alive(stranger.pid()));
    for (run, words) in [
        (remote, "worker runs on host far-away"),
        (unverified, "unverified"),
    ] {
        let r = terminate(&server, run, "{}");
        assert_eq!(r.status, 409, "{:?}", r.json());
        assert!(r.detail().contains(words), "{}", r.detail());
        assert!(alive(stranger.pid()));
        assert!(still_open(&board.path, run));
    }
    let r = terminate(&server, gone_run, r#"{"reason": null}"#);
    assert_eq!(
        (r.status, r.json()["worker"].clone()),
        (200, json!("process not found"))
    );
    let r = terminate(&server, done, "{}");
    assert_eq!(
        (r.status, r.detail()),
        (
            409,
            format!("cannot terminate run {done}: task t_done is no longer in a reclaimable state")
        )
    );
    let r = post(&server, "/runs/999/terminate", "{}", Some(TOKEN));
    assert_eq!(
        (r.status, r.json()),
        (404, json!({"detail": "run 999 not found"}))
    );
}

#[test]
fn tokens_bodies_and_methods_are_checked_before_anything_is_done() {
    let (board, worker, run) = board_with_a_worker("term-checks");
    // No token configured: 403 saying how to configure one.
    let open = Server::start(&board.path);
    let r = post(&open, &format!("/runs/{run}/terminate"), "{}", None);
    assert_eq!(r.status, 403);
    assert!(r.detail().contains("--token-file"), "{}", r.detail());
    let server = server_with_token(&board);
    for token in [None, Some("wrong")] {
        let r = post(&server, &format!("/runs/{run}/terminate"), "{}", token);
        assert_eq!(r.status, 401, "{token:?}");
        assert_eq!(r.header("www-authenticate"), Some("Bearer"));
    }
    for (body, status) in [
        ("not json", 422),
        ("[]", 422),
        (r#"{"grace_seconds": 61}"#, 422),
        (r#"{"grace_seconds": -1}"#, 422),
        (r#"{"reason": 7}"#, 422),
        (
            &format!(r#"{{"reason": "{}"}}"#, "x".repeat(5000)) as &str,
            413,
        ),
    ] {
        let r = terminate(&server, run, body);
        assert_eq!(r.status, status, "{}", &body[..body.len().min(30)]);
        assert!(r.json()["detail"].is_string());
    }
    // Nothing was signalled or written.
    assert!(alive(worker.pid()));
    assert!(still_open(&board.path, run));
    let r = server.get(&format!("/runs/{run}/terminate"));
    assert_eq!(r.status, 405);
    assert_eq!(r.header("allow"), Some("POST"));
    let r = post(&server, &format!("/runs/{run}"), "{}", Some(TOKEN));
    assert_eq!(r.status, 405);
    assert_eq!(r.header("allow"), Some("GET, HEAD"));
}

/// A worker that ignores SIGTERM is SIGKILLed after the grace period; two terminates of the
/// run at once: one acts (200), the other gets a 409.
#[test]
fn sigkill_after_the_grace_and_one_of_two_at_once() {
    let board = Board::new("term-twice");
    let worker = HermesWorker::spawn(
        &board.writer(),
        &board.path,
        "t_1",
        &["sh", "-c", "trap '' TERM; while :; do sleep 1000; done"],
    );
    let (pid, run) = (worker.pid(), worker.run);
    let server = server_with_token(&board);
    let path = format!("/runs/{run}/terminate");
    let answers: Vec<HttpResponse> = std::thread::scope(|s| {
        let a = s.spawn(|| post(&server, &path, r#"{"grace_seconds": 1}"#, Some(TOKEN)));
        let b = s.spawn(|| post(&server, &path, r#"{"grace_seconds": 1}"#, Some(TOKEN)));
        vec![a.join().unwrap(), b.join().unwrap()]
    });
    let mut statuses: Vec<u16> = answers.iter().map(|r| r.status).collect();
    statuses.sort_unstable();
    assert_eq!(statuses, [200, 409]);
    let acted = answers.iter().find(|r| r.status == 200).unwrap().json();
    let me = acted["processes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["pid"] == pid)
        .unwrap()
        .clone();
    assert_eq!(me["signals"], json!(["SIGTERM", "SIGKILL"]), "{acted}");
    assert_eq!(me["outcome"], "killed");
    assert!(!alive(pid));
}

/// A board locked by a writer past the budget: 503, and nothing signalled or written.
#[test]
fn a_busy_board_changes_nothing() {
    let (board, worker, run) = board_with_a_worker("term-busy");
    let server = Server::with_token(&board.path, TOKEN, &["--busy-timeout", "1"]);
    assert_eq!(server.get("/workers/active").status, 200);
    let holder = board.writer();
    holder.execute_batch("BEGIN IMMEDIATE").unwrap();
    let r = terminate(&server, run, "{}");
    holder.execute_batch("ROLLBACK").unwrap();
    assert_eq!(r.status, 503, "{:?}", r.json());
    assert!(alive(worker.pid()));
    assert!(still_open(&board.path, run));
}

/// A dispatcher-like writer beside terminates: it loses no row and sees no busy error, and
/// every terminate reclaims its run.
#[test]
fn a_dispatcher_beside_terminates_loses_nothing() {
    let board = Board::new("term-dispatcher");
    let w = board.writer();
    let workers: Vec<HermesWorker> = (0..5)
        .map(|i| HermesWorker::sleep(&w, &board.path, &format!("t_w{i}")))
        .collect();
    let runs: Vec<i64> = workers.iter().map(|wk| wk.run).collect();
    drop(w);
    let server = server_with_token(&board);
    // Killed if a terminate below fails (it would go on writing the board after the test).
    let mut dispatcher = Killed(
        Command::new("/usr/bin/python3")
            .arg(format!("{MANIFEST_DIR}/tests/fixtures/dispatcher.py"))
            .arg(&board.path)
            .arg("100")
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap(),
    );
    for run in &runs {
        let r = terminate(&server, *run, r#"{"grace_seconds": 1}"#);
        assert_eq!(r.status, 200, "{:?}", r.json());
    }
    let mut stdout = Vec::new();
    std::io::Read::read_to_end(&mut dispatcher.0.stdout.take().unwrap(), &mut stdout).unwrap();
    assert!(dispatcher.0.wait().unwrap().success());
    let report: Value = serde_json::from_slice(&stdout).unwrap();
    assert_eq!(report["busy_errors"], 0, "{report}");
    assert_eq!(report["runs"].as_array().unwrap().len(), 100, "{report}");
    assert_eq!(
        shell(
            &board.path,
            "SELECT count(*) FROM task_runs WHERE status = 'reclaimed'"
        ),
        "5"
    );
    assert_eq!(
        shell(
            &board.path,
            "SELECT count(*) FROM task_runs WHERE ended_at IS NOT NULL AND status = 'done'"
        ),
        "100"
    );
    assert_eq!(shell(&board.path, "PRAGMA integrity_check"), "ok");
    for wk in &workers {
        assert!(!alive(wk.pid()));
    }
}

/// A worker the shim cannot end (here: root's, the shim running as `nobody`, so every signal
/// is refused) survives: 409 listing it, and the claim is kept (releasing it would start a
/// second worker beside it).
#[test]
#[ignore = "needs root: `make test` runs it as root"]
fn a_worker_that_survives_keeps_its_claim() {
    use std::os::unix::fs::PermissionsExt;
    require_root();
    let (dir, bin) = dir_for_nobody("term-survivor");
    let db = dir.path().join("kanban.db");
    // The owner keeps the board open; its files writable by nobody, so that only the signal
    // can fail.
    let owner = create_board(&db);
    // Root's worker in a session of its own, verified by its fingerprint (which nobody can
    // read, where it could not read root's environment).
    let worker = Worker::asleep(Command::new("setsid").args(["sleep", "1000"]));
    owner
        .execute_batch("ALTER TABLE task_runs ADD COLUMN worker_started_at TEXT")
        .unwrap();
    let run = insert_run(
        &owner,
        &RunSpec::new("t_1").pid(worker.pid()).started(now_secs()),
    );
    owner
        .execute(
            "UPDATE task_runs SET worker_started_at = ?1 WHERE id = ?2",
            rusqlite::params![owner_fingerprint(worker.pid()), run],
        )
        .unwrap();
    for suffix in ["", "-wal", "-shm"] {
        let path = dir.path().join(format!("kanban.db{suffix}"));
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o666)).unwrap();
    }
    let token = dir.path().join("token");
    std::fs::write(&token, TOKEN).unwrap();
    std::fs::set_permissions(&token, std::fs::Permissions::from_mode(0o644)).unwrap();
    let mut cmd = Command::new("setpriv");
    cmd.args(["--reuid=65534", "--regid=65534", "--clear-groups"])
        .arg(&bin);
    let server = Server::start_with(
        cmd,
        &db,
        &["--quiet", "--token-file", token.to_str().unwrap()],
    );
    let r = terminate(&server, run, r#"{"grace_seconds": 0}"#);
    assert_eq!(r.status, 409, "{:?}", r.json());
    assert!(r.detail().contains("survived"), "{}", r.detail());
    let body = r.json();
    assert_eq!(body["processes"][0]["pid"], worker.pid());
    assert_eq!(body["processes"][0]["outcome"], "survived");
    assert!(alive(worker.pid()));
    assert!(still_open(&db, run));
    drop(owner);
}

/// A body that never arrives whole is not waited for past the header timeout: 408, nothing
/// done.
#[test]
fn a_body_that_never_arrives_is_a_408() {
    let (board, worker, run) = board_with_a_worker("term-slow-body");
    let server = Server::with_token(&board.path, TOKEN, &["--header-timeout", "1"]);
    let mut s = connect(&server.addr);
    std::io::Write::write_all(
        &mut s,
        format!(
            "POST /runs/{run}/terminate HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer {TOKEN}\r\nContent-Length: 100\r\n\r\n{{\"rea"
        )
        .as_bytes(),
    )
    .unwrap();
    let r = read_one_response(&mut s);
    assert_eq!(r.status, 408);
    assert!(r.detail().contains("did not arrive"), "{}", r.detail());
    assert!(alive(worker.pid()));
}
