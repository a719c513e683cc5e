#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! The trust rules of SECURITY.md, tried as an attacker would, against the real binary, real
//! processes and a real board: whoever can write the board (rows forged as `nobody`, the
//! board's owner) must not make the shim signal a process the owner could not signal, nor one
//! that is not the run's; the reclaim must not release a claim made since.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;

use super::{alive, shell};
use crate::common::*;
use serde_json::{Value, json};

const TOKEN: &str = "trust-token";

fn terminate(server: &Server, run: i64, body: &str) -> HttpResponse {
    server.post(&format!("/runs/{run}/terminate"), body, Some(TOKEN))
}

/// The children of `pid` (the tests' own reading of /proc).
fn children(pid: i64) -> Vec<i64> {
    std::fs::read_to_string(format!("/proc/{pid}/task/{pid}/children"))
        .unwrap_or_default()
        .split_whitespace()
        .map(|p| p.parse().unwrap())
        .collect()
}

/// A run forged by `nobody` (the sqlite3 shell under `setpriv --reuid=nobody`) naming `pid`
/// as its worker, with the fingerprint anyone can compute from world-readable /proc.
fn forge_run(db: &Path, task: &str, pid: i64) -> i64 {
    let now = now_secs();
    let lock = format!("{}:4242", local_hostname());
    let sql = format!(
        "INSERT INTO tasks (id, title, status, created_at, claim_lock, worker_pid)
           VALUES ('{task}', 'forged', 'running', {now}, '{lock}', {pid});
         INSERT INTO task_runs (task_id, status, claim_lock, worker_pid, started_at,
                                worker_started_at)
           VALUES ('{task}', 'running', '{lock}', {pid}, {now}, '{}');
         SELECT last_insert_rowid();",
        owner_fingerprint(pid)
    );
    let out = run_ok(
        Command::new("setpriv")
            .args([
                "--reuid=65534",
                "--regid=65534",
                "--clear-groups",
                "sqlite3",
            ])
            .arg(db)
            .arg(sql),
    );
    out.trim().parse().unwrap()
}

/// The shim behind a shell that stays its parent (so the shim has an ancestor that is not the
/// test), serving `db` with the token.
fn shim_with_a_parent(db: &Path) -> Server {
    let token = db.with_file_name("token");
    std::fs::write(&token, TOKEN).unwrap();
    let mut cmd = Command::new("sh");
    cmd.args(["-c", "\"$0\" \"$@\"; exit $?", shim_bin()]);
    Server::start_with(
        cmd,
        db,
        &["--quiet", "--token-file", token.to_str().unwrap()],
    )
}

/// Each forged row names a process the shim must never signal; each terminate is a 409 that
/// names why, nothing is signalled and nothing is written.
#[test]
#[ignore = "needs root: `make test` runs it as root"]
fn forged_rows_never_reach_a_process_the_owner_could_not_signal() {
    require_root();
    let (_dir, db) = nobodys_board("trust-forged");
    let server = shim_with_a_parent(&db);
    let parent = server.pid();
    let shim = *children(parent).first().expect("the shim under its shell");
    let _shim = KillOnDrop(shim);
    // root's process, in a session of its own: no worker, not the owner's.
    let root_process = Worker::asleep(Command::new("setsid").args(["sleep", "1000"]));
    // pid 1 of a pid namespace of its own (a container's init).
    let container = Worker(
        Command::new("unshare")
            .args(["--pid", "--fork", "sleep", "1000"])
            .spawn()
            .unwrap(),
    );
    let init = loop {
        if let Some(&p) = children(container.pid()).first() {
            if proc_truth(p).cmdline == ["sleep", "1000"] {
                break p;
            }
        }
        std::thread::yield_now();
    };
    let _init = KillOnDrop(init);
    let cases: [(&str, i64, &str); 5] = [
        (
            "t_root",
            root_process.pid(),
            "real uid 0, not the board owner's (65534)",
        ),
        ("t_self", shim, "the shim itself"),
        ("t_parent", parent, "an ancestor of the shim"),
        ("t_init", init, "pid 1 of a pid namespace"),
        ("t_kthread", 2, "a kernel thread"),
    ];
    for (task, pid, why) in cases {
        assert_eq!(proc_truth(2).ppid, 0, "pid 2 is kthreadd here");
        let run = forge_run(&db, task, pid);
        let r = terminate(&server, run, r#"{"grace_seconds": 0}"#);
        assert_eq!(
            r.status,
            409,
            "{task}: {:?}",
            String::from_utf8_lossy(&r.body)
        );
        assert!(r.detail().contains(why), "{task}: {}", r.detail());
        assert!(r.detail().contains("nothing was signalled or written"));
        assert_eq!(r.json()["processes"][0]["outcome"], "refused", "{task}");
        assert!(alive(pid), "{task}: {pid} was signalled");
        assert_eq!(
            shell(
                &db,
                &format!("SELECT ended_at IS NULL FROM task_runs WHERE id = {run}")
            ),
            "1",
            "{task}"
        );
    }
    // The shim still serves: it did not signal itself.
    assert_eq!(server.get("/workers/active").status, 200);
}

/// A member of the worker's session that is another user's: nothing is signalled, not even
/// the worker (every member is checked before the first signal).
#[test]
#[ignore = "needs root: `make test` runs it as root"]
fn one_foreign_member_and_nothing_is_signalled() {
    require_root();
    let (_dir, db) = nobodys_board("trust-member");
    let token = db.with_file_name("token");
    std::fs::write(&token, TOKEN).unwrap();
    // The worker leads a session: it forks root's `sleep 1001` into it, then becomes nobody's
    // `sleep 1000` (the board owner's).
    let worker = Worker::asleep(Command::new("setsid").args([
        "sh",
        "-c",
        "sleep 1001 & exec setpriv --reuid=65534 --regid=65534 --clear-groups sleep 1000",
    ]));
    let foreign = loop {
        if let Some(&p) = children(worker.pid()).first() {
            if proc_truth(p).cmdline == ["sleep", "1001"] {
                break p;
            }
        }
        std::thread::yield_now();
    };
    let _foreign = KillOnDrop(foreign);
    while proc_truth(worker.pid()).cmdline != ["sleep", "1000"] {
        std::thread::yield_now();
    }
    let run = forge_run(&db, "t_1", worker.pid());
    let server = Server::start_with(
        Command::new(shim_bin()),
        &db,
        &["--quiet", "--token-file", token.to_str().unwrap()],
    );
    let r = terminate(&server, run, r#"{"grace_seconds": 0}"#);
    assert_eq!(r.status, 409, "{:?}", r.json());
    assert!(
        r.detail().contains(&format!("pid {foreign} is real uid 0")),
        "{}",
        r.detail()
    );
    assert!(alive(worker.pid()) && alive(foreign));
    assert_eq!(
        shell(
            &db,
            &format!("SELECT ended_at IS NULL FROM task_runs WHERE id = {run}")
        ),
        "1"
    );
}

/// The owner's own spawn (hermes-agent 0.19.0 writes no fingerprint): verified by its marks,
/// and terminated; a live process that only meets the spawn window is alive but unverified
/// and never signalled, even when it is another run's worker spawned in that window.
#[test]
fn the_owners_spawn_is_verified_by_its_marks_and_the_window_alone_is_not() {
    let board = Board::new("trust-marks");
    let w = board.writer();
    let worker = HermesWorker::sleep(&w, &board.path, "t_owner");
    // Another run, within the window, whose recorded pid is t_owner's worker: a pid reused
    // (as when the run's worker died and the dispatcher's next spawn got its pid).
    let other = insert_run(
        &w,
        &RunSpec::new("t_other")
            .pid(worker.pid())
            .started(now_secs()),
    );
    // A bare process that only meets the window.
    let bare = Worker::asleep(Command::new("setsid").args(["sleep", "1000"]));
    let bare_run = insert_run(
        &w,
        &RunSpec::new("t_bare").pid(bare.pid()).started(now_secs()),
    );
    drop(w);
    let server = Server::with_token(&board.path, TOKEN, &[]);
    let (status, body) = server.get_json(&format!("/runs/{}/inspect", worker.run));
    assert_eq!(status, 200);
    assert_eq!(body["identity"], "spawn marks", "{body}");
    assert_eq!(
        body["evidence"], "environment, log file, session leader, dispatcher parent, spawn window",
        "{body}"
    );
    assert_eq!(body["signalable"], true);
    for run in [other, bare_run] {
        let (_, body) = server.get_json(&format!("/runs/{run}/inspect"));
        assert_eq!(body["identity"], "started with the run", "{body}");
        assert_eq!(body["signalable"], false, "{body}");
        let r = terminate(&server, run, r#"{"grace_seconds": 0}"#);
        assert_eq!(r.status, 409, "{:?}", r.json());
        assert!(r.detail().contains("unverified"), "{}", r.detail());
    }
    assert!(alive(worker.pid()) && alive(bare.pid()));
    let r = terminate(&server, worker.run, r#"{"grace_seconds": 1}"#);
    assert_eq!(r.status, 200, "{:?}", r.json());
    assert_eq!(
        r.json()["evidence"],
        "environment, log file, session leader, dispatcher parent, spawn window"
    );
    assert!(!alive(worker.pid()));
    assert!(alive(bare.pid()));
}

/// The run ends during the grace period and the same dispatcher claims the task again (its
/// lock, `host:<dispatcher pid>`, is the same): the old run's reclaim must not release the
/// new claim. 409, nothing written.
#[test]
fn the_reclaim_does_not_release_the_next_claim() {
    let board = Board::new("trust-reclaim");
    // On SIGTERM the worker ends its run and its dispatcher claims the task again, with the
    // same lock (what a dispatcher tick does between the signal and the reclaim).
    let sql = board.path.with_file_name("claim-again.sql");
    std::fs::write(
        &sql,
        "UPDATE task_runs SET ended_at = CAST(strftime('%s', 'now') AS INTEGER), status = 'done',
                outcome = 'completed'
          WHERE id = (SELECT current_run_id FROM tasks WHERE id = 't_1');
         INSERT INTO task_runs (task_id, status, claim_lock, started_at)
           SELECT 't_1', 'running', claim_lock, CAST(strftime('%s', 'now') AS INTEGER)
           FROM tasks WHERE id = 't_1';
         UPDATE tasks SET current_run_id = last_insert_rowid() WHERE id = 't_1';",
    )
    .unwrap();
    let script = format!(
        "trap 'sqlite3 -cmd \".timeout 5000\" \"$HERMES_KANBAN_DB\" < {}; exit 0' TERM
         while :; do sleep 1000 & wait; done",
        sql.display()
    );
    let script = script.as_str();
    let worker = HermesWorker::spawn(&board.writer(), &board.path, "t_1", &["sh", "-c", script]);
    let server = Server::with_token(&board.path, TOKEN, &[]);
    let r = terminate(&server, worker.run, r#"{"grace_seconds": 5}"#);
    assert_eq!(r.status, 409, "{:?}", r.json());
    assert!(r.detail().contains("claimed again"), "{}", r.detail());
    assert!(!alive(worker.pid()));
    // The new claim stands: the task runs, its current run is the new one, still open.
    assert_eq!(
        shell(
            &board.path,
            &format!(
                "SELECT t.status, t.current_run_id > {}, r.ended_at IS NULL,
                        t.claim_lock IS NOT NULL
                 FROM tasks t JOIN task_runs r ON r.id = t.current_run_id WHERE t.id = 't_1'",
                worker.run
            )
        ),
        "running|1|1|1"
    );
    assert_eq!(
        shell(
            &board.path,
            "SELECT count(*) FROM task_events WHERE kind = 'reclaimed'"
        ),
        "0"
    );
}

/// A worker that forks into a new session from its SIGTERM handler, then exits: the escaped
/// child is found again before SIGKILL (its environment names the run), killed, and reported
/// as `appeared`.
#[test]
fn what_escapes_during_the_grace_is_collected_again_and_killed() {
    let board = Board::new("trust-escape");
    let script = "trap 'setsid sleep 1001 & exit 0' TERM; while :; do sleep 1000 & wait; done";
    let worker = HermesWorker::spawn(&board.writer(), &board.path, "t_1", &["sh", "-c", script]);
    let server = Server::with_token(&board.path, TOKEN, &[]);
    let r = terminate(&server, worker.run, r#"{"grace_seconds": 1}"#);
    assert_eq!(r.status, 200, "{:?}", r.json());
    let body = r.json();
    // What the handler forked appeared after the grace (its argv may be caught mid-exec).
    let appeared: Vec<&Value> = body["processes"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["appeared"] == true)
        .collect();
    assert!(
        !appeared.is_empty(),
        "the escaped child is not reported: {body}"
    );
    for p in &appeared {
        assert_eq!(p["signals"], json!(["SIGKILL"]), "{p}");
        assert_eq!(p["outcome"], "killed", "{p}");
        assert!(!alive(p["pid"].as_i64().unwrap()));
    }
    // Nothing of the run is left running anywhere. The run is this board's: other tests (in
    // this binary, or another checkout's on the machine) have runs of the same id on theirs.
    let left = processes_of_run(&board.path, worker.run);
    assert!(left.is_empty(), "{left:?} of the run still run");
}

/// SIGTERM to the shim during a terminate's grace period: the grace ends, the worker is
/// killed, the reclaim is committed and answered before the shim exits (exit 0).
#[test]
fn a_stop_during_the_grace_still_answers_the_reclaim() {
    let board = Board::new("trust-stop");
    let marker = board.path.with_file_name("got-term");
    let script = format!(
        "trap 'touch {}' TERM; while :; do sleep 1000 & wait; done",
        marker.display()
    );
    let worker = HermesWorker::spawn(&board.writer(), &board.path, "t_1", &["sh", "-c", &script]);
    let server = Server::with_token(&board.path, TOKEN, &[]);
    let run = worker.run;
    std::thread::scope(|s| {
        let asked = s.spawn(|| terminate(&server, run, r#"{"grace_seconds": 60}"#));
        // In the grace period once the worker has had its SIGTERM.
        while !marker.exists() {
            std::thread::yield_now();
        }
        // SAFETY: kill has no memory-safety preconditions; the pid is our own child's.
        unsafe { libc::kill(server.pid() as i32, libc::SIGTERM) };
        let r = asked.join().unwrap();
        assert_eq!(r.status, 200, "{:?}", String::from_utf8_lossy(&r.body));
        assert_eq!(
            r.json()["processes"][0]["signals"],
            json!(["SIGTERM", "SIGKILL"])
        );
    });
    assert!(!alive(worker.pid()));
    assert_eq!(
        shell(
            &board.path,
            &format!("SELECT status FROM task_runs WHERE id = {run}")
        ),
        "reclaimed"
    );
    let (ok, err) = server.stop();
    assert!(ok, "{err}");
}

/// The worker ends while terminate waits for the write lock, and a stranger gets its pid
/// (inside a pid namespace of its own, where `ns_last_pid` picks the pid): the stranger is
/// never signalled, the worker is reported gone, the run reclaimed.
#[test]
#[ignore = "needs root: `make test` runs it as root"]
fn a_pid_reused_between_the_verdict_and_the_signal_is_never_signalled() {
    require_root();
    let dir = temp_dir("trust-reuse");
    let out = run_ok(
        Command::new("unshare")
            .args(["--pid", "--fork", "--mount-proc", "/usr/bin/python3"])
            .arg(format!("{MANIFEST_DIR}/tests/fixtures/pid_reuse.py"))
            .arg(shim_bin())
            .arg(dir.path()),
    );
    let report: Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(report["stranger"], report["worker"], "{report}");
    assert_eq!(
        report["stranger_alive"], true,
        "the stranger was signalled: {report}"
    );
    assert_eq!(report["status"], 200, "{report}");
    assert_eq!(
        report["body"]["processes"][0]["outcome"], "gone",
        "{report}"
    );
    assert_eq!(
        shell(
            &dir.path().join("kanban.db"),
            "SELECT status FROM task_runs WHERE id = 1"
        ),
        "reclaimed"
    );
}

/// Whoever owns the folder of a board the operator named (`--db`) swaps a link to another
/// user's private board into its place after the start: the shim neither reads nor writes
/// what the link points to (it followed the link again on every request, and served root's
/// rows and reclaimed root's task).
#[test]
#[ignore = "needs root: `make test` runs it as root"]
fn a_link_swapped_in_for_a_named_board_is_not_followed() {
    require_root();
    let ((dir, _holder), db) = nobodys_board("trust-swap");
    let server = Server::with_token(&db, TOKEN, &[]);
    assert_eq!(server.get("/workers/active").status, 200);
    // Root's private board, in a folder only root can enter.
    let private = temp_dir("trust-swap-private");
    std::fs::set_permissions(private.path(), std::fs::Permissions::from_mode(0o700)).unwrap();
    let secret = private.path().join("kanban.db");
    let conn = create_board(&secret);
    insert_run(&conn, &RunSpec::new("t_secret").started(now_secs()));
    // nobody moves the board aside and links root's in its place.
    let aside = dir.path().join("aside.db");
    run_ok(
        Command::new("setpriv")
            .args([
                "--reuid=65534",
                "--regid=65534",
                "--clear-groups",
                "sh",
                "-c",
            ])
            .arg(format!(
                "mv {0} {1} && ln -s {2} {0}",
                db.display(),
                aside.display(),
                secret.display()
            )),
    );
    let missing = {
        let r = server.get("/runs/1");
        (r.status, r.detail())
    };
    assert_eq!(missing.0, 503, "{missing:?}");
    assert!(missing.1.contains("does not exist"), "{missing:?}");
    assert!(!missing.1.contains("t_secret"));
    let r = terminate(&server, 1, r#"{"grace_seconds": 0}"#);
    assert_eq!(r.status, 503, "{:?}", r.json());
    assert_eq!(
        shell(&secret, "SELECT status FROM tasks WHERE id = 't_secret'"),
        "running"
    );
    assert_eq!(shell(&secret, "SELECT count(*) FROM task_events"), "0");
}

/// Each member is checked again right before each signal: a worker that is no longer the
/// board owner's by then (here it drops to nobody's uid in its SIGTERM handler, on a board
/// of root's) is not SIGKILLed, and keeps its claim.
#[test]
#[ignore = "needs root: `make test` runs it as root"]
fn every_signal_is_checked_when_it_is_sent() {
    require_root();
    let board = Board::new("trust-resend");
    let script = "trap 'exec setpriv --reuid=65534 --regid=65534 --clear-groups sleep 1001' TERM
                  while :; do sleep 1000 & wait; done";
    let worker = HermesWorker::spawn(&board.writer(), &board.path, "t_1", &["sh", "-c", script]);
    let _kill = KillOnDrop(worker.pid());
    let server = Server::with_token(&board.path, TOKEN, &[]);
    let r = terminate(&server, worker.run, r#"{"grace_seconds": 1}"#);
    assert_eq!(r.status, 409, "{:?}", r.json());
    let me = r.json()["processes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["pid"] == worker.pid())
        .unwrap()
        .clone();
    assert_eq!(me["signals"], json!(["SIGTERM"]), "{me}");
    assert_eq!(me["outcome"], "survived", "{me}");
    assert!(
        me["refused"].as_str().unwrap().contains("real uid 65534"),
        "{me}"
    );
    assert!(alive(worker.pid()));
    assert_eq!(
        shell(
            &board.path,
            &format!(
                "SELECT ended_at IS NULL FROM task_runs WHERE id = {}",
                worker.run
            )
        ),
        "1"
    );
}

/// Another user keeps a set-uid program waiting with the run's environment (`su`, `passwd`:
/// its real uid theirs, its effective uid root's, so its /proc/<pid> is root's): it is not
/// the run's. It is neither listed among the run's processes nor signalled, and it does not
/// refuse the terminate: the root worker is ended and its task reclaimed (200), the other
/// process reported as ignored, with why.
#[test]
#[ignore = "needs root: `make test` runs it as root"]
fn another_users_set_uid_program_with_the_runs_environment_is_ignored() {
    require_root();
    let board = Board::new("trust-setuid");
    let worker = HermesWorker::sleep(&board.writer(), &board.path, "t_1");
    let su = setuid_with_runs_environment(&board.path, worker.run, "t_1");
    let server = Server::with_token(&board.path, TOKEN, &[]);
    let bearer = format!("Bearer {TOKEN}");
    let r = http_request(
        &server.addr,
        "GET",
        &format!("/runs/{}/processes", worker.run),
        &[("Authorization", &bearer)],
    );
    assert_eq!(r.status, 200);
    let listed: Vec<i64> = r.json()["processes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["pid"].as_i64().unwrap())
        .collect();
    assert_eq!(listed, [worker.pid()], "{:?}", r.json());
    let r = terminate(&server, worker.run, r#"{"grace_seconds": 1}"#);
    assert_eq!(r.status, 200, "{:?}", r.json());
    let body = r.json();
    let signalled: Vec<i64> = body["processes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["pid"].as_i64().unwrap())
        .collect();
    assert_eq!(signalled, [worker.pid()], "{body}");
    let ignored = body["ignored"].as_array().unwrap();
    assert_eq!(ignored.len(), 1, "{body}");
    assert_eq!(ignored[0]["pid"], su.pid(), "{body}");
    assert!(
        ignored[0]["reason"]
            .as_str()
            .unwrap()
            .contains("real uid 65534, effective uid 0"),
        "{body}"
    );
    assert!(!alive(worker.pid()));
    assert!(alive(su.pid()), "another user's process was signalled");
    assert_eq!(
        shell(
            &board.path,
            &format!("SELECT status FROM task_runs WHERE id = {}", worker.run)
        ),
        "reclaimed"
    );
}
