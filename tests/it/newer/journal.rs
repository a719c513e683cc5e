//! Boards in rollback-journal mode (issue 37 §4): the newer releases keep a board out of WAL
//! where their SQLite is older than 3.51.3 (this venv's is) and on `database.journal_mode:
//! delete`. There a reader's open transaction holds a SHARED lock that makes the owner's commit
//! wait, so the shim's reads copy the rows they need in one short read transaction and do their
//! `/proc` work on the copies (`board::snapshot`): shown by holding the shim inside that work
//! (strace stops it each time it opens a worker's `/proc` files) while the owner's writer takes
//! the board's EXCLUSIVE lock. A board its owner is writing answers a clear 503 at once; every
//! read route answers on a DELETE board as on the same board in WAL mode; and the shim never
//! changes the board's journal mode (no `-wal` file appears).

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use rusqlite::Connection;
use serde_json::{Value, json};

use super::{Dispatcher, iot_python};

/// The admin token of the servers that act (`Server::with_token`).
const TOKEN: &str = "journal-token";
use crate::common::*;

/// The board file's own record of its mode (header bytes 18 and 19: 1 for a rollback journal,
/// 2 for WAL), and whether a `-wal` file is beside it.
fn on_disk_mode(board: &Path) -> (u8, u8, bool) {
    let header = std::fs::read(board).unwrap();
    let wal = board.with_file_name("kanban.db-wal").exists();
    (header[18], header[19], wal)
}

/// Still a rollback-journal board, with no `-wal` file: the shim set no journal mode.
fn assert_still_delete(board: &Path) {
    assert_eq!(on_disk_mode(board), (1, 1, false), "{}", board.display());
}

/// The newer release's dispatcher on a board its own `init_db` made in DELETE mode: with the
/// owner's `database.journal_mode: delete` (its own choice here anyway: the venv's SQLite has
/// the WAL-reset bug).
fn delete_board(python: &Path, tag: &str) -> Dispatcher {
    let root = temp_dir(tag);
    std::fs::write(
        root.path().join("config.yaml"),
        "database:\n  journal_mode: delete\n",
    )
    .unwrap();
    let kanban = root.path().to_path_buf();
    let mut d = Dispatcher::start_in(Command::new(python), root, &kanban);
    assert_eq!(
        d.ask(json!({"cmd": "journal_mode"}))["journal_mode"],
        "delete"
    );
    assert_still_delete(&d.board);
    d
}

/// The project's own schema in DELETE mode, with one open run whose worker is `worker`.
fn schema_delete_board(tag: &str, worker: &Worker) -> Board {
    let board = Board::new(tag);
    let w = board.writer();
    w.pragma_update(None, "journal_mode", "delete").unwrap();
    let now = crate::common::now_secs();
    insert_run(&w, &RunSpec::new("t_live").pid(worker.pid()).started(now));
    assert_still_delete(&board.path);
    board
}

/// Whether strace can be run (it holds the shim mid-work); says so, with the test, if not.
fn strace(test: &str) -> bool {
    let found = Command::new("strace")
        .arg("-V")
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !found {
        eprintln!("skipped: {test} (needs strace: apt-get install strace)");
    }
    found
}

/// What a test waits on: a line strace wrote, or the shim's answer.
enum Event {
    Strace(String),
    Answer(HttpResponse),
}

/// strace attached to the shim (every thread), stopping it (an injected SIGSTOP) each time a
/// thread opens a file of one of `pids`' `/proc` directories, its lines sent as events;
/// detached (SIGTERM) and reaped when dropped.
struct Holder(Child);

impl Holder {
    fn attach(shim: i64, pids: &[i64], events: mpsc::Sender<Event>) -> Holder {
        let mut cmd = Command::new("strace");
        cmd.args(["-f", "-p", &shim.to_string(), "-e", "trace=openat"])
            .args(["-e", "inject=openat:signal=SIGSTOP"]);
        for pid in pids {
            cmd.arg("-P").arg(format!("/proc/{pid}"));
        }
        let mut child = cmd
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start strace");
        let lines = BufReader::new(child.stderr.take().unwrap());
        std::thread::spawn(move || {
            for line in lines.lines().map_while(Result::ok) {
                if events.send(Event::Strace(line)).is_err() {
                    return;
                }
            }
        });
        Holder(child)
    }
}

impl Drop for Holder {
    fn drop(&mut self) {
        // SAFETY: kill has no memory-safety preconditions; strace is this test's child.
        unsafe { libc::kill(self.0.id() as i32, libc::SIGTERM) };
        let _ = self.0.wait();
    }
}

/// The thread a strace line is about (`[pid N] ...`; the process's own pid where none is named).
fn thread_of(line: &str, shim: i64) -> i64 {
    line.strip_prefix("[pid ")
        .and_then(|rest| rest.split(']').next())
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or(shim)
}

/// Each route's answer, read while the shim is held at every opening of a file of its pids'
/// `/proc` directories: at each hold the owner's writer takes the board's EXCLUSIVE lock at
/// once (no wait: the shim holds no SHARED lock), then the shim goes on. Each route is held at
/// least once, and answers 200.
fn held_at_every_proc_read(server: &Server, board: &Path, routes: &[(String, Vec<i64>)]) {
    let writer = Connection::open(board).unwrap();
    writer.busy_timeout(Duration::ZERO).unwrap();
    let shim = server.pid();
    for (path, pids) in routes {
        let (tx, events) = mpsc::channel();
        let holder = Holder::attach(shim, pids, tx.clone());
        let next = || match events.recv_timeout(Duration::from_secs(120)) {
            Ok(e) => e,
            Err(e) => panic!("{path}: neither an answer nor a hold: {e}"),
        };
        // strace names the threads it attached to: from now on the shim is held.
        while !matches!(next(), Event::Strace(l) if l.contains(" attached")) {}
        let (addr, asked) = (server.addr.clone(), path.clone());
        let asker = std::thread::spawn(move || {
            // "POST <path>": an action, with the token of `Server::with_token(.., TOKEN, ..)`.
            let answer = match asked.strip_prefix("POST ") {
                Some(path) => http_raw(
                    &addr,
                    format!(
                        "POST {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\
                         Content-Type: application/json\r\nContent-Length: 2\r\n\
                         Authorization: Bearer {TOKEN}\r\n\r\n{{}}"
                    )
                    .as_bytes(),
                ),
                None => http_request(&addr, "GET", &asked, &[]),
            };
            let _ = tx.send(Event::Answer(answer));
        });
        let (mut held, mut stopping) = (0, None);
        let answer = loop {
            match next() {
                Event::Answer(r) => break r,
                // The signal strace injected, then that thread stopped by it: the shim is
                // inside the read of a /proc file of one of the pids.
                Event::Strace(l) if l.contains("--- SIGSTOP {") && l.contains("SI_KERNEL") => {
                    stopping = Some(thread_of(&l, shim));
                }
                Event::Strace(l)
                    if l.contains("--- stopped by SIGSTOP ---")
                        && stopping == Some(thread_of(&l, shim)) =>
                {
                    stopping = None;
                    held += 1;
                    let took = writer.execute_batch("BEGIN EXCLUSIVE; COMMIT");
                    // SAFETY: kill has no memory-safety preconditions; the shim is our child.
                    unsafe { libc::kill(shim as i32, libc::SIGCONT) };
                    if let Err(e) = took {
                        let _ = writer.execute_batch("ROLLBACK");
                        panic!("{path}: held in its /proc work, the shim kept the writer out: {e}");
                    }
                }
                Event::Strace(_) => {}
            }
        };
        asker.join().unwrap();
        drop(holder);
        assert!(held > 0, "{path}: never held in a read of /proc/{pids:?}");
        assert_eq!(answer.status, 200, "{path}: {}", answer.detail());
    }
}

/// Every read that does `/proc` work, on a board the newer release's `init_db` made in DELETE
/// mode, with its own workers (an open run's, and one that outlived the run the owner's
/// `complete_task` ended: it keeps its pid and fingerprint): held at each opening of their
/// `/proc` files, the shim holds no lock on the board, and the owner's writer gets its
/// EXCLUSIVE lock at once. The board stays in DELETE mode, with no `-wal` file.
#[test]
fn reads_of_a_delete_board_hold_no_lock_across_their_proc_work() {
    let test = "reads_of_a_delete_board_hold_no_lock_across_their_proc_work";
    let Some(python) = iot_python(test) else {
        return;
    };
    if !strace(test) {
        return;
    }
    let mut d = delete_board(&python, "journal-held");
    let live = d.spawn("Summarise the nightly failures", &["sleep", "1000"], true);
    let kept = d.spawn("Regenerate the API docs", &["sleep", "1000"], true);
    d.settled(&live, "sleep");
    d.settled(&kept, "sleep");
    d.complete(&kept);
    // No history timer: only the request reads.
    let server = Server::start_with(
        Command::new(shim_bin()),
        &d.board,
        &["--quiet", "--history", "0"],
    );
    let routes = [
        ("/workers/active?live=1".to_owned(), vec![live.pid]),
        (format!("/runs/{}/inspect", live.run), vec![live.pid]),
        (format!("/runs/{}/processes", live.run), vec![live.pid]),
        // Its marks read from /proc before the copy, its kept worker's stats after.
        ("/workers/lingering".to_owned(), vec![kept.pid]),
        (format!("/runs/{}/processes", kept.run), vec![kept.pid]),
        // The kept worker still runs: its exit is not read yet.
        ("/runs/endings".to_owned(), vec![kept.pid]),
    ];
    held_at_every_proc_read(&server, &d.board, &routes);
    let (_, lingering) = server.get_json("/workers/lingering");
    assert_eq!(lingering["lingering"][0]["pid"], kept.pid, "{lingering}");
    assert_still_delete(&d.board);
}

/// The same on the project's own schema in DELETE mode (no Hermes needed): the live list and
/// a run's inspection and processes, held at each opening of its worker's `/proc` files.
#[test]
fn reads_of_a_schema_delete_board_hold_no_lock_across_their_proc_work() {
    if !strace("reads_of_a_schema_delete_board_hold_no_lock_across_their_proc_work") {
        return;
    }
    let worker = Worker::sleep();
    let board = schema_delete_board("journal-held-schema", &worker);
    let server = Server::start_with(
        Command::new(shim_bin()),
        &board.path,
        &["--quiet", "--history", "0"],
    );
    let routes = [
        "/workers/active?live=1",
        "/runs/1/inspect",
        "/runs/1/processes",
    ]
    .map(|r| (r.to_owned(), vec![worker.pid()]));
    held_at_every_proc_read(&server, &board.path, &routes);
    assert_still_delete(&board.path);
}

/// The actions' first read (the run and the verdict on its worker, which reads /proc) is made
/// on a copy too: held at each opening of the worker's `/proc` files, terminate, stop and reap
/// keep no lock on a DELETE board, and the owner's writer gets its EXCLUSIVE lock at once;
/// they then end their workers and write as they do on a WAL board.
#[test]
fn actions_of_a_delete_board_hold_no_lock_across_their_proc_work() {
    if !strace("actions_of_a_delete_board_hold_no_lock_across_their_proc_work") {
        return;
    }
    let board = Board::new("journal-held-acts");
    let w = board.writer();
    w.pragma_update(None, "journal_mode", "delete").unwrap();
    let ended = HermesWorker::sleep(&w, &board.path, "t_term");
    let stopped = HermesWorker::sleep(&w, &board.path, "t_stop");
    // A worker its run outlived (the run completed, its worker still running): reap's.
    let left = HermesWorker::sleep(&w, &board.path, "t_left");
    w.execute(
        "UPDATE task_runs SET status = 'done', outcome = 'completed', ended_at = ?2 WHERE id = ?1",
        rusqlite::params![left.run, crate::common::now_secs()],
    )
    .unwrap();
    assert_still_delete(&board.path);
    let server = Server::with_token(&board.path, TOKEN, &["--history", "0"]);
    let routes = [
        (
            format!("POST /runs/{}/terminate", ended.run),
            vec![ended.pid()],
        ),
        (
            format!("POST /runs/{}/stop", stopped.run),
            vec![stopped.pid()],
        ),
        (format!("POST /runs/{}/reap", left.run), vec![left.pid()]),
    ];
    held_at_every_proc_read(&server, &board.path, &routes);
    for (worker, status) in [(&ended, "reclaimed"), (&stopped, "blocked")] {
        let run_status: String = w
            .query_row(
                "SELECT status FROM task_runs WHERE id = ?1",
                [worker.run],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(run_status, status, "run {}", worker.run);
    }
    let (_, lingering) = server.get_json("/workers/lingering");
    assert_eq!(lingering["count"], 0, "{lingering}");
    assert_still_delete(&board.path);
}

/// A board its owner is writing (its writer holds the EXCLUSIVE lock of a rollback journal):
/// every read, with or without /proc work, answers 503 at once saying so, well within a
/// budget of 30 s (a read that waited its budget would answer the budget's 503 instead); once
/// the lock is gone, the rows. Nothing is queued: every answer comes while the lock is held.
#[test]
fn a_delete_board_its_owner_is_writing_answers_503_at_once() {
    let worker = Worker::sleep();
    let board = schema_delete_board("journal-busy", &worker);
    let server = Server::start_with(
        Command::new(shim_bin()),
        &board.path,
        &["--quiet", "--history", "0", "--busy-timeout", "30"],
    );
    assert_eq!(server.get("/workers/active").status, 200);
    let writer = board.writer();
    writer.execute_batch("BEGIN EXCLUSIVE").unwrap();
    let routes = [
        "/workers/active",
        "/workers/active?live=1",
        "/runs/1",
        "/runs/1/inspect",
        "/runs/1/processes",
        "/workers/lingering",
        "/runs/endings",
    ];
    for path in routes {
        let r = server.get(path);
        assert_eq!(r.status, 503, "{path}: {:?}", r.json());
        let detail = r.detail();
        for said in [
            "is busy, retry: its owner is writing it",
            "not in WAL mode",
            "not free within 500 ms (--lock-wait)",
        ] {
            assert!(detail.contains(said), "{path}: {detail}");
        }
    }
    writer.execute_batch("COMMIT").unwrap();
    for path in routes {
        assert_eq!(server.get(path).status, 200, "{path}");
    }
    assert_still_delete(&board.path);
}

/// Keys whose values follow the clock or the CPU, not the board: left out of the comparison.
const MOVING: &[&str] = &[
    "checked_at",
    "cpu_percent",
    "tree_cpu_percent",
    "cpu_seconds",
    "heartbeat_age_s",
    "claim_expires_in_s",
    "runtime_s",
    "outlived_s",
    "since",
    "points",
];

fn steady(mut v: Value) -> Value {
    fn strip(v: &mut Value) {
        match v {
            Value::Object(map) => {
                map.retain(|k, _| !MOVING.contains(&k.as_str()));
                map.values_mut().for_each(strip);
            }
            Value::Array(items) => items.iter_mut().for_each(strip),
            _ => {}
        }
    }
    strip(&mut v);
    v
}

/// Every read route's answer, with what follows the clock left out (`/metrics`: its lines but
/// the times, ages, CPU and sample counts).
fn answers(server: &Server, routes: &[String]) -> Vec<(String, u16, Value)> {
    routes
        .iter()
        .map(|path| {
            let r = server.get(path);
            let body = if path == "/metrics" {
                let text = String::from_utf8_lossy(&r.body).into_owned();
                let moving = ["_time_", "_age_", "cpu_seconds", "proc_samples_total"];
                Value::from(
                    text.lines()
                        .filter(|l| !moving.iter().any(|m| l.contains(m)))
                        .collect::<Vec<_>>()
                        .join("\n"),
                )
            } else {
                steady(r.json())
            };
            (path.clone(), r.status, body)
        })
        .collect()
}

/// Every read route answers the same on a board the newer release made in DELETE mode (read
/// through copies) as on the same board, the same rows and processes, once its owner has
/// turned it to WAL (read in place): an open run with a tree, a worker that outlived its run,
/// a rate-limited run and a completed one, their tasks' logs. The shim changed nothing of the
/// board's mode while it read it in DELETE mode.
#[test]
fn every_read_route_answers_the_same_on_a_delete_board_as_in_wal() {
    let Some(python) = iot_python("every_read_route_answers_the_same_on_a_delete_board_as_in_wal")
    else {
        return;
    };
    let mut d = delete_board(&python, "journal-same");
    let live = d.spawn(
        "Summarise the nightly failures",
        &["sh", "-c", "sleep 1000 & wait"],
        true,
    );
    let kept = d.spawn("Regenerate the API docs", &["sleep", "1000"], true);
    let exit =
        |rc: u8| format!("echo working; echo; echo '[kanban-worker-exit] rc={rc}' >&2; exit {rc}");
    let limited = d.spawn("Hit the quota", &["sh", "-c", &exit(75)], true);
    assert_eq!(
        d.ask(json!({"cmd": "wait", "task": limited.task}))["rc"],
        75
    );
    d.ask(json!({"cmd": "crash_sweep"}));
    let clean = d.spawn("Finish cleanly", &["sh", "-c", &exit(0)], true);
    assert_eq!(d.ask(json!({"cmd": "wait", "task": clean.task}))["rc"], 0);
    d.complete(&clean);
    d.settled(&kept, "sleep");
    d.complete(&kept);
    d.settled(&live, "sh");
    // The worker's child has exec'd too (its tree is settled).
    process_of_run(&d.board, live.run, &["sleep", "1000"]);
    let mut routes: Vec<String> = [
        "/workers/active",
        "/workers/active?live=1",
        "/workers/lingering",
        "/workers/history",
        "/runs/endings",
        "/metrics",
    ]
    .map(str::to_owned)
    .to_vec();
    for w in [&live, &kept, &limited, &clean] {
        for route in ["", "/inspect", "/processes", "/history"] {
            routes.push(format!("/runs/{}{route}", w.run));
        }
        routes.push(format!("/tasks/{}/log", w.task));
    }
    let server = Server::start_with(
        Command::new(shim_bin()),
        &d.board,
        &["--quiet", "--history", "0"],
    );
    let delete = answers(&server, &routes);
    assert_still_delete(&d.board);
    // The owner turns the board to WAL (its connection stays open: the WAL's side files too).
    let owner = d.writer();
    let mode: String = owner
        .query_row("PRAGMA journal_mode = wal", [], |r| r.get(0))
        .unwrap();
    assert_eq!(mode, "wal");
    let wal = answers(&server, &routes);
    for ((path, status, body), (_, wal_status, wal_body)) in delete.iter().zip(&wal) {
        assert_eq!(status, wal_status, "{path}: {body} / {wal_body}");
        assert_eq!(body, wal_body, "{path}");
    }
    let live_list = &delete[1].2["workers"][0];
    assert_eq!(
        (&live_list["run_id"], &live_list["tree_processes"]),
        (&json!(live.run), &json!(2))
    );
    assert_eq!(delete[2].2["lingering"][0]["pid"], kept.pid);
}

/// The shim's peak resident memory (`VmHWM`), in MiB.
fn peak_mib(pid: i64) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .expect("VmHWM in /proc/<pid>/status")
        >> 10
}

/// A rollback-journal board's reads copy the rows they need into the shim's memory
/// (`board::snapshot`), every row of the tasks they read. A board writer's open task with 200
/// more runs of 900 KB summaries (each cell under the 1 MiB a cell may hold; 180 MB on disk)
/// made every such read copy all of it (before: a 270 MB board took the shim from 13 MB to
/// 1.5 GB in five reads, against 19 MB for the same board in WAL mode; the copy was bounded by
/// time alone, about 6 s of copying). The copy is bounded in bytes as the answers are: a read
/// whose rows are over it is a 507 that says so, its peak memory far below the board's size;
/// the reads that copy nothing still answer, and nothing is written to the board.
#[test]
fn a_board_writers_huge_task_is_not_copied_whole_into_memory() {
    let worker = Worker::sleep();
    let board = schema_delete_board("journal-huge", &worker);
    let w = board.writer();
    let now = crate::common::now_secs();
    let summary = "x".repeat(900 * 1024);
    w.execute_batch("BEGIN").unwrap();
    for _ in 0..200 {
        w.execute(
            "INSERT INTO task_runs (task_id, status, started_at, ended_at, outcome, summary) \
             VALUES ('t_live', 'done', ?1 - 1000, ?1 - 900, 'completed', ?2)",
            rusqlite::params![now, summary],
        )
        .unwrap();
    }
    w.execute_batch("COMMIT").unwrap();
    drop(w);
    assert_still_delete(&board.path);
    let server = Server::start_with(
        Command::new(shim_bin()),
        &board.path,
        &["--quiet", "--history", "0"],
    );
    let idle = peak_mib(server.pid());
    let copying = [
        "/workers/active?live=1",
        "/runs/1/inspect",
        "/runs/1/processes",
        "/workers/lingering",
        "/runs/endings?since=0",
    ];
    let answered: Vec<(&str, u16, String)> = copying
        .iter()
        .map(|path| {
            let r = server.get(path);
            let detail = r.json()["detail"].as_str().unwrap_or_default().to_owned();
            (*path, r.status, detail)
        })
        .collect();
    // The copy's bound (64 MiB of pages), what SQLite keeps beside it while it fills them,
    // and the debug build's own: measured up to 139 MiB over idle under CI's load; the board is
    // 180 MB, and the unbounded copy peaked at 396 MiB here (1.5 GB at 270 MB).
    let peak = peak_mib(server.pid());
    assert!(
        peak < idle + 192,
        "peak RSS {peak} MiB (idle {idle} MiB) for a board of 180 MB: {answered:?}"
    );
    for (path, status, detail) in &answered {
        assert_eq!(*status, 507, "{path}: {detail}");
        for said in ["over 64 MiB", "not in WAL mode"] {
            assert!(detail.contains(said), "{path}: {detail}");
        }
    }
    // The reads that do no /proc work read the board in place: no copy.
    for path in ["/workers/active", "/runs/1"] {
        assert_eq!(server.get(path).status, 200, "{path}");
    }
    assert_still_delete(&board.path);
}

/// What the shim's pool relies on to ask a board's journal mode once per connection (a
/// connection that found WAL keeps it, `board::pool`): while the shim holds a connection to a
/// WAL board, its owner cannot take the board out of WAL mode, so the shim never reads a
/// rollback-journal board in place believing it WAL. Asked of real SQLite on a real board:
/// the owner's switch is refused, the file stays WAL, and the shim answers on.
#[test]
fn a_wal_board_stays_wal_while_the_shim_reads_it() {
    let worker = Worker::sleep();
    let board = Board::new("journal-stays-wal");
    let w = board.writer();
    insert_run(
        &w,
        &RunSpec::new("t_live")
            .pid(worker.pid())
            .started(crate::common::now_secs()),
    );
    let server = Server::start_with(
        Command::new(shim_bin()),
        &board.path,
        &["--quiet", "--history", "0"],
    );
    assert_eq!(server.get("/runs/1/inspect").status, 200);
    let owner = Connection::open(&board.path).unwrap();
    owner.busy_timeout(Duration::ZERO).unwrap();
    let switched = owner.query_row("PRAGMA journal_mode = delete", [], |r| {
        r.get::<_, String>(0)
    });
    assert!(
        !matches!(&switched, Ok(mode) if mode == "delete"),
        "the owner left WAL under the shim: {switched:?}"
    );
    assert_eq!(
        on_disk_mode(&board.path).1,
        2,
        "the board's header says WAL"
    );
    let (status, body) = server.get_json("/runs/1/inspect");
    assert_eq!((status, &body["alive"]), (200, &json!(true)), "{body}");
}
