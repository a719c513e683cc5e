#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! What runs left behind (`run_processes`, `lingering_workers`, `GET /workers/lingering`,
//! `POST /runs/{id}/reap`), and what escaped an open run (`live_workers`' totals), with real
//! processes spawned as the owner spawns them (`HermesWorker`), real boards and the real
//! binary. Each source of evidence has its case: the environment (a worker whose run was
//! completed with `worker_pid` cleared, a double-forked grandchild, a child that called
//! setsid), the log file, the fingerprint, the spawned event; and what must never be listed:
//! another board's process, another user's, a stranger that has a run's old pid.

use std::process::Command;

use crate::common::*;
use rusqlite::Connection;
use serde_json::{Value, json};

const TOKEN: &str = "linger-token";

/// The `spawned` event the owner writes after a spawn.
fn spawned_event(conn: &Connection, task: &str, run: i64, pid: i64) {
    conn.execute(
        "INSERT INTO task_events (task_id, run_id, kind, payload, created_at)
         VALUES (?1, ?2, 'spawned', json_object('pid', ?3), ?4)",
        rusqlite::params![task, run, pid, now_secs()],
    )
    .unwrap();
}

/// `(run_id, pid, evidence, signalable, may_signal)` of every lingering process, by pid.
fn lingering(conn: &Connection) -> Vec<(Option<i64>, i64, String, i64, i64)> {
    conn.prepare(
        "SELECT run_id, pid, evidence, signalable, may_signal FROM lingering_workers ORDER BY pid",
    )
    .unwrap()
    .query_map([], |r| {
        Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
    })
    .unwrap()
    .collect::<Result<_, _>>()
    .unwrap()
}

/// A worker whose run was completed with `worker_pid` cleared (0.19.0) is listed by its
/// environment, log file and spawned event, with every column; the HTTP route lists it; reap
/// ends it and writes nothing; then nothing lingers and reap answers `[]`.
#[test]
fn a_worker_whose_run_was_completed_lingers_and_is_reaped() {
    let board = Board::new("linger-completed");
    let w = board.writer();
    let worker = HermesWorker::sleep(&w, &board.path, "t_done");
    spawned_event(&w, "t_done", worker.run, worker.pid());
    let conn = board.with_extension();
    assert!(
        lingering(&conn).is_empty(),
        "an open run's worker is not lingering"
    );
    complete_as_0_19(&w, "t_done", worker.run);
    assert_eq!(
        lingering(&conn),
        [(
            Some(worker.run),
            worker.pid(),
            "environment, log file, spawned event".to_owned(),
            1,
            1
        )]
    );
    let row: (String, String, String, String, i64, String, i64, i64) = conn
        .query_row(
            "SELECT task_id, task_status, task_title, outcome, ppid, cmdline, rss_bytes > 0,
                    outlived_s >= 0 AND ended_at > 0 AND uid = 0 AND refusal IS NULL
                        AND cpu_percent >= 0 AND start_ticks > 0
             FROM lingering_workers",
            [],
            |r| {
                Ok((
                    r.get(0)?,
                    r.get(1)?,
                    r.get(2)?,
                    r.get(3)?,
                    r.get(4)?,
                    r.get(5)?,
                    r.get(6)?,
                    r.get(7)?,
                ))
            },
        )
        .unwrap();
    assert_eq!(
        row,
        (
            "t_done".into(),
            "done".into(),
            "title of t_done".into(),
            "completed".into(),
            worker.dispatcher_pid(),
            r#"["sleep","1000"]"#.into(),
            1,
            1
        )
    );
    // The raw function: this process, with its marks.
    let (env_run, stdout): (String, String) = conn
        .query_row(
            "SELECT env_run_id, stdout FROM proc_spawned(kanban_workers_file_owner(?1))
             WHERE pid = ?2",
            rusqlite::params![board.path.to_str().unwrap(), worker.pid()],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    assert_eq!(env_run, worker.run.to_string());
    assert!(stdout.ends_with("/logs/t_done.log"), "{stdout}");
    let server = Server::with_token(&board.path, TOKEN, &[]);
    let (status, body) = server.get_json("/workers/lingering");
    assert_eq!(status, 200);
    assert_eq!(body["count"], 1, "{body}");
    let p = &body["lingering"][0];
    assert_eq!(p["pid"], worker.pid());
    assert_eq!(p["may_signal"], true);
    assert_eq!(p["signalable"], true);
    assert_eq!(p["cmdline"], json!(["sleep", "1000"]));
    let before = file_bytes(&board.path);
    let r = server.post(
        &format!("/runs/{}/reap", worker.run),
        r#"{"grace_seconds": 1}"#,
        Some(TOKEN),
    );
    assert_eq!(r.status, 200, "{:?}", r.json());
    assert_eq!(
        r.json()["processes"],
        json!([{"pid": worker.pid(), "cmdline": ["sleep", "1000"], "signals": ["SIGTERM"],
                "outcome": "exited"}])
    );
    assert!(!alive(worker.pid()));
    assert_eq!(file_bytes(&board.path), before, "reap wrote to the board");
    assert!(lingering(&conn).is_empty());
    let r = server.post(&format!("/runs/{}/reap", worker.run), "{}", Some(TOKEN));
    assert_eq!((r.status, r.json()["processes"].clone()), (200, json!([])));
}

/// The errors of reap: the token, an unknown run, an open run (terminate's job).
#[test]
fn reap_needs_the_token_and_an_ended_run() {
    let board = Board::new("linger-errors");
    let open = insert_run(&board.writer(), &RunSpec::new("t_open").started(now_secs()));
    let server = Server::with_token(&board.path, TOKEN, &[]);
    assert_eq!(server.post("/runs/1/reap", "{}", None).status, 401);
    let r = server.post("/runs/99/reap", "{}", Some(TOKEN));
    assert_eq!((r.status, r.detail()), (404, "run 99 not found".to_owned()));
    let r = server.post(
        &format!("/api/plugins/kanban/runs/{open}/reap"),
        "{}",
        Some(TOKEN),
    );
    assert_eq!(r.status, 409);
    assert!(r.detail().contains("terminate"), "{}", r.detail());
    let r = server.post("/runs/1/reap", r#"{"grace_seconds": 99}"#, Some(TOKEN));
    assert_eq!(r.status, 422);
    let open_server = Server::start(&board.path);
    assert_eq!(open_server.post("/runs/1/reap", "{}", None).status, 403);
    assert_eq!(open_server.get("/workers/lingering").status, 200);
}

/// An event of the owner's reaper whose payload is not JSON (a board's row, any text) is no
/// reap of the owner's: reap answers, where SQLite's json_extract had failed the query (500).
#[test]
fn a_reaped_event_that_is_not_json_does_not_fail_reap() {
    let board = Board::new("linger-bad-event");
    let w = board.writer();
    let t = now_secs();
    let run = insert_run(&w, &RunSpec::new("t_bad").started(t - 10).ended(t - 5));
    w.execute(
        "INSERT INTO task_events (task_id, run_id, kind, payload, created_at)
         VALUES ('t_bad', ?1, 'terminal_worker_reaped', 'not json {', ?2)",
        rusqlite::params![run, t],
    )
    .unwrap();
    let server = Server::with_token(&board.path, TOKEN, &[]);
    let r = server.post(&format!("/runs/{run}/reap"), "{}", Some(TOKEN));
    assert_eq!(r.status, 200, "{}", r.detail());
}

/// A double-forked grandchild and a child that called setsid (`setsid -f`) leave the worker's
/// tree: while the run is open they count in live_workers' tree totals (escaped); once the
/// run has ended they linger with the worker, found by their environment, and reap ends all.
#[test]
fn escaped_children_count_while_open_and_linger_after() {
    let board = Board::new("linger-escaped");
    let w = board.writer();
    let script = "(sleep 1001 &); setsid -f sleep 1002; while :; do sleep 1000 & wait; done";
    let worker = HermesWorker::spawn(&w, &board.path, "t_esc", &["sh", "-c", script]);
    let grandchild = process_of_run(&board.path, worker.run, &["sleep", "1001"]);
    let _g = KillOnDrop(grandchild);
    let setsid = process_of_run(&board.path, worker.run, &["sleep", "1002"]);
    let _s = KillOnDrop(setsid);
    let child = process_of_run(&board.path, worker.run, &["sleep", "1000"]);
    assert_eq!(proc_truth(child).ppid, worker.pid(), "in the tree");
    assert_ne!(proc_truth(grandchild).ppid, worker.pid());
    assert_ne!(proc_truth(setsid).ppid, worker.pid());
    let conn = board.with_extension();
    let (alive_, tree, escaped): (i64, i64, i64) = conn
        .query_row(
            "SELECT alive, tree_processes, escaped_processes FROM live_workers WHERE run_id = ?1",
            [worker.run],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .unwrap();
    assert_eq!((alive_, tree, escaped), (1, 4, 2));
    let server = Server::with_token(&board.path, TOKEN, &[]);
    let (_, body) = server.get_json("/workers/active?live=1");
    assert_eq!(body["workers"][0]["tree_processes"], 4, "{body}");
    assert_eq!(server.get_json("/workers/lingering").1["count"], 0);
    complete_as_0_19(&w, "t_esc", worker.run);
    let mut expected = vec![worker.pid(), child, grandchild, setsid];
    expected.sort();
    let rows = lingering(&conn);
    assert_eq!(
        rows.iter().map(|r| r.1).collect::<Vec<_>>(),
        expected,
        "{rows:?}"
    );
    for (run, _, evidence, signalable, may) in &rows {
        assert_eq!(*run, Some(worker.run));
        assert!(evidence.starts_with("environment"), "{evidence}");
        assert_eq!((*signalable, *may), (1, 1));
    }
    let r = server.post(
        &format!("/runs/{}/reap", worker.run),
        r#"{"grace_seconds": 2}"#,
        Some(TOKEN),
    );
    assert_eq!(r.status, 200, "{:?}", r.json());
    // The shell's loop may fork a new sleep before its SIGTERM lands: that one appears.
    assert!(r.json()["processes"].as_array().unwrap().len() >= 4);
    for pid in [worker.pid(), child, grandchild, setsid] {
        assert!(!alive(pid), "{pid} still runs");
    }
}

/// Newer boards keep `worker_pid` and the fingerprint on an ended run: the fingerprint is
/// evidence, named first, and finds a kept worker without marks alone. A stranger that has a run's old pid (started after that run ended; the run's
/// `worker_pid`, its spawned event and a forged fingerprint name it) carries no marks and is
/// never listed; nor is a process whose environment names another board, even with its
/// stdout on this board's log file. A process found by its log file alone (its environment
/// cleared) is listed, but its evidence is too weak for a signal: reap refuses it.
#[test]
fn fingerprints_strangers_other_boards_and_log_files() {
    let board = Board::new("linger-sources");
    let w = board.writer();
    w.execute_batch("ALTER TABLE task_runs ADD COLUMN worker_started_at TEXT")
        .unwrap();
    let worker = HermesWorker::sleep(&w, &board.path, "t_fp");
    w.execute(
        "UPDATE task_runs SET worker_started_at = ?1 WHERE id = ?2",
        rusqlite::params![owner_fingerprint(worker.pid()), worker.run],
    )
    .unwrap();
    w.execute_batch(&format!(
        "UPDATE task_runs SET ended_at = CAST(strftime('%s', 'now') AS INTEGER),
                status = 'blocked', outcome = 'blocked' WHERE id = {};
         UPDATE tasks SET status = 'blocked', current_run_id = NULL WHERE id = 't_fp';",
        worker.run
    ))
    .unwrap();
    // A stranger: a plain process, started after its "run" ended long ago.
    let stranger = Worker::sleep();
    let old = insert_run(
        &w,
        &RunSpec::new("t_old")
            .pid(stranger.pid())
            .started(1_700_000_000)
            .ended(1_700_000_100),
    );
    w.execute(
        "UPDATE task_runs SET worker_started_at = ?1 WHERE id = ?2",
        rusqlite::params![owner_fingerprint(stranger.pid()), old],
    )
    .unwrap();
    spawned_event(&w, "t_old", old, stranger.pid());
    // A kept worker without marks (none in its environment, no log on stdout): found by the
    // run's kept pid and fingerprint alone, the strongest evidence there is.
    let kept_started = now_secs() - 1;
    let bare = Worker::sleep();
    let kept = insert_run(
        &w,
        &RunSpec::new("t_kept")
            .pid(bare.pid())
            .started(kept_started)
            .ended(now_secs()),
    );
    w.execute(
        "UPDATE task_runs SET worker_started_at = ?1 WHERE id = ?2",
        rusqlite::params![owner_fingerprint(bare.pid()), kept],
    )
    .unwrap();
    // Another board's process, of the same run id, with its stdout on this board's log.
    let other = Board::new("linger-other");
    let logs = board.path.parent().unwrap().join("logs");
    std::fs::create_dir_all(&logs).unwrap();
    let foreign = Worker::asleep(
        Command::new("sleep")
            .arg("1000")
            .env("HERMES_KANBAN_RUN_ID", worker.run.to_string())
            .env("HERMES_KANBAN_TASK", "t_fp")
            .env("HERMES_KANBAN_DB", &other.path)
            .stdout(std::fs::File::create(logs.join("t_fp2.log")).unwrap()),
    );
    // A leftover that cleared its environment but writes to the task's log.
    let cleared = Worker::asleep(
        Command::new("sleep").arg("1000").env_clear().stdout(
            std::fs::OpenOptions::new()
                .append(true)
                .open(logs.join("t_fp.log"))
                .unwrap(),
        ),
    );
    let conn = board.with_extension();
    let rows = lingering(&conn);
    let mut expected = vec![
        (
            Some(worker.run),
            worker.pid(),
            "fingerprint, environment, log file".to_owned(),
            1,
            1,
        ),
        (Some(worker.run), cleared.pid(), "log file".to_owned(), 0, 0),
        (Some(kept), bare.pid(), "fingerprint".to_owned(), 1, 1),
    ];
    expected.sort_by_key(|r| r.1);
    assert_eq!(rows, expected);
    // The kept workers, marks or not; the stranger (started after its run ended) is not one.
    let kept_rows: Vec<(i64, i64, String)> = conn
        .prepare("SELECT run_id, pid, evidence FROM kept_workers ORDER BY run_id")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(
        kept_rows,
        [
            (worker.run, worker.pid(), "fingerprint".to_owned()),
            (kept, bare.pid(), "fingerprint".to_owned()),
        ]
    );
    let refusal: String = conn
        .query_row(
            "SELECT refusal FROM lingering_workers WHERE pid = ?1",
            [cleared.pid()],
            |r| r.get(0),
        )
        .unwrap();
    assert!(refusal.contains("does not prove"), "{refusal}");
    // The other board's process is that board's (its run id means nothing here).
    let other_conn = other.with_extension();
    let theirs: Vec<i64> = other_conn
        .prepare("SELECT pid FROM run_processes")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(theirs, [foreign.pid()]);
    let server = Server::with_token(&board.path, TOKEN, &[]);
    let r = server.post(
        &format!("/runs/{}/reap", worker.run),
        r#"{"grace_seconds": 0}"#,
        Some(TOKEN),
    );
    assert_eq!(r.status, 409, "{:?}", r.json());
    assert!(
        r.detail().contains(&format!("pid {}", cleared.pid())),
        "{}",
        r.detail()
    );
    assert_eq!(r.json()["processes"][0]["outcome"], "refused");
    let r = server.post(
        &format!("/runs/{old}/reap"),
        r#"{"grace_seconds": 0}"#,
        Some(TOKEN),
    );
    assert_eq!((r.status, r.json()["processes"].clone()), (200, json!([])));
    for pid in [
        worker.pid(),
        stranger.pid(),
        foreign.pid(),
        cleared.pid(),
        bare.pid(),
    ] {
        assert!(alive(pid), "{pid} was signalled");
    }
    // Metrics: what lingers, per run.
    let text = String::from_utf8(server.get("/metrics").body).unwrap();
    assert!(text.contains("\nkanban_workers_lingering 3\n"), "{text}");
    assert!(
        text.contains(&format!(
            "kanban_run_lingering_processes{{run_id=\"{}\",task_id=\"t_fp\"}} 2",
            worker.run
        )),
        "{text}"
    );
    assert!(
        text.contains("kanban_run_lingering_rss_bytes{run_id="),
        "{text}"
    );
}

/// A host renamed since the claim (#73277): a claim written under another name whose
/// fingerprint carries this host's boot is this host's (`local`, the name as written, a
/// note), and its worker is read and verified; one with another boot's stays another host's.
#[test]
fn a_claim_under_an_old_host_name_is_this_hosts_by_its_boot() {
    let board = Board::new("linger-renamed");
    let w = board.writer();
    w.execute_batch("ALTER TABLE task_runs ADD COLUMN worker_started_at TEXT")
        .unwrap();
    let worker = Worker::sleep();
    let renamed = insert_run(
        &w,
        &RunSpec::new("t_renamed")
            .pid(worker.pid())
            .started(now_secs())
            .lock(Some("old-name:4242")),
    );
    let remote = insert_run(
        &w,
        &RunSpec::new("t_remote")
            .pid(worker.pid())
            .started(now_secs())
            .lock(Some("old-name:4242")),
    );
    w.execute(
        "UPDATE task_runs SET worker_started_at = ?1 WHERE id = ?2",
        rusqlite::params![owner_fingerprint(worker.pid()), renamed],
    )
    .unwrap();
    w.execute(
        "UPDATE task_runs SET worker_started_at = 'another-boot:1|5' WHERE id = ?1",
        [remote],
    )
    .unwrap();
    let conn = board.with_extension();
    let claims: Vec<(i64, String, i64, Option<String>)> = conn
        .prepare("SELECT id, worker_host, local, host_note FROM run_claims ORDER BY id")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    let epoch: String = conn
        .query_row("SELECT kanban_workers_epoch()", [], |r| r.get(0))
        .unwrap();
    assert!(owner_fingerprint(worker.pid()).starts_with(&format!("{epoch}|")));
    assert_eq!(claims[0].0, renamed);
    assert_eq!((claims[0].1.as_str(), claims[0].2), ("old-name", 1));
    assert!(
        claims[0].3.as_deref().unwrap().starts_with("renamed host"),
        "{claims:?}"
    );
    assert_eq!((claims[1].2, claims[1].3.clone()), (0, None));
    let verdict: (i64, String, String) = conn
        .query_row(
            "SELECT alive, identity, host_note FROM run_verdicts WHERE run_id = ?1",
            [renamed],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .unwrap();
    assert_eq!((verdict.0, verdict.1.as_str()), (1, "verified"));
    let server = Server::start(&board.path);
    let (_, body) = server.get_json(&format!("/runs/{renamed}/inspect"));
    assert_eq!(body["local"], true, "{body}");
    assert_eq!(body["worker_host"], "old-name");
    assert!(
        body["host_note"]
            .as_str()
            .unwrap()
            .starts_with("renamed host")
    );
    let (_, body) = server.get_json(&format!("/runs/{remote}/inspect"));
    assert_eq!(body["alive"], Value::Null, "{body}");
}

/// Another user's process (nobody's, on root's board) whose environment names an ended run
/// is never listed nor signalled: proc_spawned reads only the board owner's processes.
#[test]
#[ignore = "needs root: `make test` runs it as root"]
fn another_users_process_is_never_listed_nor_signalled() {
    require_root();
    let board = Board::new("linger-user");
    let w = board.writer();
    let run = insert_run(
        &w,
        &RunSpec::new("t_user")
            .started(now_secs() - 10)
            .ended(now_secs()),
    );
    let theirs = Worker::asleep(
        Command::new("setpriv")
            .args([
                "--reuid=65534",
                "--regid=65534",
                "--clear-groups",
                "sleep",
                "1000",
            ])
            .env("HERMES_KANBAN_RUN_ID", run.to_string())
            .env("HERMES_KANBAN_TASK", "t_user")
            .env("HERMES_KANBAN_DB", &board.path),
    );
    while proc_truth(theirs.pid()).cmdline != ["sleep", "1000"] {
        std::thread::yield_now();
    }
    let conn = board.with_extension();
    assert!(lingering(&conn).is_empty());
    let n: i64 = conn
        .query_row(
            "SELECT count(*) FROM proc_spawned(0) WHERE pid = ?1",
            [theirs.pid()],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(n, 0);
    let n: i64 = conn
        .query_row(
            "SELECT count(*) FROM proc_spawned(65534) WHERE pid = ?1",
            [theirs.pid()],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(n, 1, "nobody's own listing has it");
    let server = Server::with_token(&board.path, TOKEN, &[]);
    let r = server.post(
        &format!("/runs/{run}/reap"),
        r#"{"grace_seconds": 0}"#,
        Some(TOKEN),
    );
    assert_eq!((r.status, r.json()["processes"].clone()), (200, json!([])));
    assert!(alive(theirs.pid()));
}

/// Reap refuses what terminate refuses (trust.rs's cases, as a lingering run can present
/// them): the shim itself and its parent carrying an ended run's environment, and a pid
/// namespace's init carrying another's. Each reap is a 409 naming why; nothing is signalled.
#[test]
#[ignore = "needs root: `make test` runs it as root"]
fn reap_refuses_what_terminate_refuses() {
    require_root();
    let board = Board::new("linger-trust");
    let w = board.writer();
    let ended = |task: &str| {
        insert_run(
            &w,
            &RunSpec::new(task)
                .started(now_secs() - 10)
                .ended(now_secs()),
        )
    };
    let shim_run = ended("t_shim");
    let init_run = ended("t_init");
    let token = board.path.with_file_name("token");
    std::fs::write(&token, TOKEN).unwrap();
    // The shim behind a shell that stays its parent, both with the run's environment.
    let mut cmd = Command::new("sh");
    cmd.args(["-c", "\"$0\" \"$@\"; exit $?", shim_bin()])
        .env("HERMES_KANBAN_RUN_ID", shim_run.to_string())
        .env("HERMES_KANBAN_TASK", "t_shim")
        .env("HERMES_KANBAN_DB", &board.path);
    let server = Server::start_with(
        cmd,
        &board.path,
        &["--quiet", "--token-file", token.to_str().unwrap()],
    );
    // The shim is the shell's child (dropping the server ends both; these guards end it
    // even if that changes).
    let shim =
        std::fs::read_to_string(format!("/proc/{0}/task/{0}/children", server.pid())).unwrap();
    let _shim: Vec<KillOnDrop> = shim
        .split_whitespace()
        .map(|p| KillOnDrop(p.parse().unwrap()))
        .collect();
    let container = Worker(
        Command::new("unshare")
            .args(["--pid", "--fork", "sleep", "1000"])
            .env("HERMES_KANBAN_RUN_ID", init_run.to_string())
            .env("HERMES_KANBAN_TASK", "t_init")
            .env("HERMES_KANBAN_DB", &board.path)
            .spawn()
            .unwrap(),
    );
    let init = process_of_run(&board.path, init_run, &["sleep", "1000"]);
    let _init = KillOnDrop(init);
    let conn = board.with_extension();
    let why: String = conn
        .query_row(
            "SELECT refusal FROM lingering_workers WHERE pid = ?1",
            [init],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(why, "pid 1 of a pid namespace (an init)");
    for (run, needle) in [
        (shim_run, "the shim itself"),
        (shim_run, "an ancestor of the shim"),
        (init_run, "pid 1 of a pid namespace"),
    ] {
        let r = server.post(
            &format!("/runs/{run}/reap"),
            r#"{"grace_seconds": 0}"#,
            Some(TOKEN),
        );
        assert_eq!(r.status, 409, "{:?}", r.json());
        let refused: Vec<String> = r.json()["processes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["refused"].as_str().unwrap().to_owned())
            .collect();
        assert!(refused.iter().any(|w| w.contains(needle)), "{refused:?}");
        assert!(r.detail().contains("nothing was signalled"));
    }
    assert!(alive(init) && alive(container.pid()) && alive(server.pid()));
    assert_eq!(server.get("/workers/active").status, 200);
}

/// Another user keeps a set-uid program waiting with an ended run's environment (real uid
/// nobody's, effective uid root's, on root's board): it is not the run's. `proc_spawned`,
/// `lingering_workers` and a root `--no-board` shim's workers leave it out, and it does not
/// refuse the reap: the run's own lingering worker is ended (200), the other process reported
/// as ignored and never signalled.
#[test]
#[ignore = "needs root: `make test` runs it as root"]
fn another_users_set_uid_program_is_not_the_runs() {
    require_root();
    let board = Board::new("linger-setuid");
    let w = board.writer();
    let worker = HermesWorker::sleep(&w, &board.path, "t_done");
    let su = setuid_with_runs_environment(&board.path, worker.run, "t_done");
    complete_as_0_19(&w, "t_done", worker.run);
    let conn = board.with_extension();
    let pids: Vec<i64> = lingering(&conn).into_iter().map(|l| l.1).collect();
    assert_eq!(pids, [worker.pid()]);
    let n: i64 = conn
        .query_row(
            "SELECT count(*) FROM proc_spawned(0) WHERE pid = ?1",
            [su.pid()],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(n, 0, "root's marked processes include nobody's set-uid one");
    // A root shim serving no board: its workers are root's marked processes.
    let mut cmd = Command::new(shim_bin());
    cmd.args(["serve", "--no-board", "--listen", "127.0.0.1:0", "--quiet"]);
    let no_board = Server::spawn(cmd, "serving no board");
    let (status, live) = no_board.get_json("/workers/active?live=1");
    assert_eq!(status, 200, "{live}");
    let workers: Vec<i64> = live["workers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w["worker_pid"].as_i64().unwrap())
        .collect();
    assert!(workers.contains(&worker.pid()), "{live}");
    assert!(!workers.contains(&su.pid()), "{live}");
    drop(no_board);
    let server = Server::with_token(&board.path, TOKEN, &[]);
    let r = server.post(
        &format!("/runs/{}/reap", worker.run),
        r#"{"grace_seconds": 1}"#,
        Some(TOKEN),
    );
    assert_eq!(r.status, 200, "{:?}", r.json());
    let body = r.json();
    let reaped: Vec<i64> = body["processes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["pid"].as_i64().unwrap())
        .collect();
    assert_eq!(reaped, [worker.pid()], "{body}");
    // Looked at again after the grace (what appeared), and ignored.
    assert_eq!(body["ignored"][0]["pid"], su.pid(), "{body}");
    assert!(!alive(worker.pid()));
    assert!(alive(su.pid()), "another user's process was signalled");
}

/// The workers the board calls dead (issue 39 §3): a run booked `crashed` as hermes-agent
/// 0.19.0's `_end_run` books one (its pid cleared) while its worker runs on, found by its
/// environment, its task already claimed again; and a run booked `timed_out` on a newer board
/// whose kept, fingerprint-verified worker runs on. Both are `ended_but_alive` (the second
/// without a next claim); a completed run's leftover is not. Over HTTP as booleans with the
/// next claim (`open_run_id`), in `/metrics` once a run, and reap ends them.
#[test]
fn the_workers_the_board_calls_dead_are_ended_but_alive() {
    let board = Board::new("linger-undead");
    let w = board.writer();
    w.execute_batch("ALTER TABLE task_runs ADD COLUMN worker_started_at TEXT")
        .unwrap();
    let crashed = HermesWorker::sleep(&w, &board.path, "t_crash");
    w.execute_batch(&format!(
        "UPDATE task_runs SET ended_at = CAST(strftime('%s', 'now') AS INTEGER),
                status = 'crashed', outcome = 'crashed', worker_pid = NULL, claim_lock = NULL,
                claim_expires = NULL
          WHERE id = {};
         UPDATE tasks SET status = 'ready', current_run_id = NULL, worker_pid = NULL,
                claim_lock = NULL WHERE id = 't_crash';",
        crashed.run
    ))
    .unwrap();
    let again = insert_run(&w, &RunSpec::new("t_crash").started(now_secs()));
    let bare = Worker::sleep();
    let timed = insert_run(
        &w,
        &RunSpec::new("t_timed")
            .pid(bare.pid())
            .started(now_secs() - 1)
            .ended(now_secs())
            .status("ready"),
    );
    w.execute(
        "UPDATE task_runs SET worker_started_at = ?1, status = 'timed_out',
                outcome = 'timed_out' WHERE id = ?2",
        rusqlite::params![owner_fingerprint(bare.pid()), timed],
    )
    .unwrap();
    let done = HermesWorker::sleep(&w, &board.path, "t_done");
    complete_as_0_19(&w, "t_done", done.run);
    let conn = board.with_extension();
    let rows: Vec<(i64, i64, i64, Option<i64>)> = conn
        .prepare(
            "SELECT run_id, pid, ended_but_alive, open_run_id FROM lingering_workers
             ORDER BY run_id, pid",
        )
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(
        rows,
        [
            (crashed.run, crashed.pid(), 1, Some(again)),
            (timed, bare.pid(), 1, None),
            (done.run, done.pid(), 0, None),
        ]
    );
    let server = Server::with_token(&board.path, TOKEN, &[]);
    let (status, body) = server.get_json("/workers/lingering");
    assert_eq!(status, 200, "{body}");
    let row = |run: i64| {
        body["lingering"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["run_id"] == run)
            .cloned()
            .unwrap()
    };
    assert_eq!(
        (
            row(crashed.run)["ended_but_alive"].clone(),
            row(crashed.run)["open_run_id"].clone()
        ),
        (json!(true), json!(again))
    );
    assert_eq!(row(crashed.run)["evidence"], "environment, log file");
    assert_eq!(row(timed)["ended_but_alive"], true);
    assert_eq!(row(done.run)["ended_but_alive"], false);
    let gauge = |server: &Server| -> String {
        let text = String::from_utf8(server.get("/metrics").body).unwrap();
        text.lines()
            .find(|l| l.starts_with("kanban_workers_ended_but_alive{"))
            .unwrap_or_else(|| panic!("no gauge in {text}"))
            .to_owned()
    };
    assert_eq!(
        gauge(&server),
        "kanban_workers_ended_but_alive{board=\"default\"} 2"
    );
    let r = server.post(&format!("/runs/{}/reap", crashed.run), "{}", Some(TOKEN));
    assert_eq!(r.status, 200, "{:?}", r.json());
    assert!(!alive(crashed.pid()));
    assert_eq!(
        gauge(&server),
        "kanban_workers_ended_but_alive{board=\"default\"} 1"
    );
}
