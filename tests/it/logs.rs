#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! Worker logs: `GET /tasks/{task_id}/log` (the owner's route, diffed against the owner's own
//! handler from hermes-agent 0.19.0 on the same files) and `GET /runs/{run_id}/log?follow=1`
//! (Server-Sent Events), on real files, the real binary and real HTTP. Nothing waits on time:
//! each test waits for events (lines received, a stream's end, a line on the shim's stderr).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::mpsc;

use crate::common::*;

/// A board at `<dir>/kanban.db` (served with `--db`, so its logs are `<dir>/kanban/logs/`),
/// with the tasks `t_*` of `tasks` and one open run of the first.
struct LogBoard {
    board: Board,
    logs: PathBuf,
}

impl LogBoard {
    fn new(tag: &str, tasks: &[&str]) -> LogBoard {
        let board = Board::new(tag);
        let conn = board.writer();
        for (i, task) in tasks.iter().enumerate() {
            if i == 0 {
                insert_run(&conn, &RunSpec::new(task));
            } else {
                conn.execute(
                    "INSERT INTO tasks (id, title, status, created_at) VALUES (?1, 'x', 'done', 1)",
                    [task],
                )
                .unwrap();
            }
        }
        let logs = board.dir.path().join("kanban/logs");
        std::fs::create_dir_all(&logs).unwrap();
        LogBoard { board, logs }
    }

    fn log(&self, task: &str) -> PathBuf {
        self.logs.join(format!("{task}.log"))
    }

    fn append(&self, task: &str, bytes: &[u8]) {
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.log(task))
            .unwrap();
        f.write_all(bytes).unwrap();
    }

    fn end_run(&self) {
        self.board
            .writer()
            .execute(
                "UPDATE task_runs SET ended_at = 2, status = 'done' WHERE id = 1",
                [],
            )
            .unwrap();
    }

    fn serve(&self, extra: &[&str]) -> Server {
        let mut args = vec!["--quiet"];
        args.extend_from_slice(extra);
        Server::start_with(Command::new(shim_bin()), &self.board.path, &args)
    }
}

/// A Server-Sent Events client over one connection (chunked transfer decoded as it comes).
struct Sse {
    stream: TcpStream,
    pending: Vec<u8>,
    /// Decoded body bytes not yet parsed into events.
    body: Vec<u8>,
    /// The chunked body ended (its last chunk), or the connection closed.
    done: bool,
    closed_early: bool,
    pub status: u16,
    pub content_type: String,
    pub received: usize,
}

impl Sse {
    fn open(addr: &str, path: &str, headers: &[(&str, &str)]) -> Sse {
        let mut stream = connect(addr);
        let mut head = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\n");
        for (k, v) in headers {
            head.push_str(&format!("{k}: {v}\r\n"));
        }
        head.push_str("\r\n");
        stream.write_all(head.as_bytes()).unwrap();
        let mut raw = Vec::new();
        let mut buf = [0u8; 4096];
        let (response, head_len) = loop {
            if let Some(parsed) = parse_head(&raw) {
                break parsed;
            }
            let n = stream.read(&mut buf).unwrap();
            assert!(
                n > 0,
                "closed before the head: {:?}",
                String::from_utf8_lossy(&raw)
            );
            raw.extend_from_slice(&buf[..n]);
        };
        let content_type = response.header("content-type").unwrap_or("").to_owned();
        Sse {
            stream,
            pending: raw[head_len..].to_vec(),
            body: Vec::new(),
            done: false,
            closed_early: false,
            status: response.status,
            content_type,
            received: 0,
        }
    }

    /// More bytes from the socket; false at EOF.
    fn fill(&mut self) -> bool {
        let mut buf = vec![0u8; 64 * 1024];
        let n = self.stream.read(&mut buf).unwrap_or(0);
        self.pending.extend_from_slice(&buf[..n]);
        self.received += n;
        n > 0
    }

    /// Decode whole chunks from `pending` into `body`.
    fn decode(&mut self) {
        loop {
            let Some(line_end) = self.pending.windows(2).position(|w| w == b"\r\n") else {
                return;
            };
            let size_text = String::from_utf8_lossy(&self.pending[..line_end]).to_string();
            let size = usize::from_str_radix(size_text.trim(), 16).expect("chunk size");
            if size == 0 {
                self.done = true;
                return;
            }
            let start = line_end + 2;
            if self.pending.len() < start + size + 2 {
                return;
            }
            self.body
                .extend_from_slice(&self.pending[start..start + size]);
            self.pending.drain(..start + size + 2);
        }
    }

    /// The next event `(kind, data)` (comments skipped); `None` once the stream has ended.
    fn next(&mut self) -> Option<(String, serde_json::Value)> {
        loop {
            self.decode();
            if let Some(end) = self.body.windows(2).position(|w| w == b"\n\n") {
                let block = String::from_utf8(self.body[..end].to_vec()).unwrap();
                self.body.drain(..end + 2);
                let (mut kind, mut data) = (String::new(), String::new());
                for line in block.lines() {
                    if let Some(k) = line.strip_prefix("event: ") {
                        kind = k.to_owned();
                    } else if let Some(d) = line.strip_prefix("data: ") {
                        data.push_str(d);
                    }
                }
                if kind.is_empty() {
                    continue; // a comment (keepalive)
                }
                return Some((kind, serde_json::from_str(&data).unwrap()));
            }
            if self.done {
                return None;
            }
            if !self.fill() {
                self.closed_early = true;
                return None;
            }
        }
    }

    /// Events until one of `kind` whose data contains `text` (log text is gathered across
    /// events); every event read on the way.
    fn until(&mut self, kind: &str, text: &str) -> Vec<(String, serde_json::Value)> {
        let mut seen = Vec::new();
        let mut log = String::new();
        loop {
            let Some((k, data)) = self.next() else {
                panic!("the stream ended before {kind} {text:?}; saw {seen:?}");
            };
            if k == "log" {
                log.push_str(data.as_str().unwrap());
            }
            let hit = k == kind
                && (if k == "log" {
                    log.contains(text)
                } else {
                    data.to_string().contains(text)
                });
            seen.push((k, data));
            if hit {
                return seen;
            }
        }
    }
}

/// The owner's tail cases on real files, through the real binary.
#[test]
fn the_task_log_keeps_the_owners_contract() {
    let b = LogBoard::new(
        "log-contract",
        &["t_run", "t_missing", "t_lines", "t_one", "t_bad"],
    );
    b.append("t_lines", b"first line\nsecond line\nthird\n");
    b.append("t_one", b"one long line without a newline");
    b.append(
        "t_bad",
        b"ok \xff\xfe then \xe2\x82 cut, \xc0\xaf overlong\n",
    );
    let server = b.serve(&[]);
    let get = |path: &str| server.get_json(path);
    let shown = |t: &str| b.log(t).to_string_lossy().into_owned();

    let (status, body) = get("/tasks/t_missing/log");
    assert_eq!(status, 200);
    assert_eq!(
        body,
        serde_json::json!({"task_id": "t_missing", "path": shown("t_missing"), "exists": false,
            "size_bytes": 0, "content": "", "truncated": false})
    );
    let (_, body) = get("/api/plugins/kanban/tasks/t_lines/log");
    assert_eq!(body["content"], "first line\nsecond line\nthird\n");
    assert_eq!(
        (body["exists"].as_bool(), body["size_bytes"].as_u64()),
        (Some(true), Some(29))
    );
    assert_eq!(body["truncated"], false);
    // The window starts mid-line: that partial line is dropped.
    let (_, body) = get("/tasks/t_lines/log?tail=10");
    assert_eq!(
        (body["content"].as_str(), body["truncated"].as_bool()),
        (Some("third\n"), Some(true))
    );
    let (_, body) = get("/tasks/t_lines/log?tail=16");
    assert_eq!(body["content"], "third\n");
    // A window that starts on a line's first byte drops that line too (the owner's readline).
    let (_, body) = get("/tasks/t_lines/log?tail=6");
    assert_eq!(body["content"], "");
    // As large as the file, or larger: whole, not truncated.
    let (_, body) = get("/tasks/t_lines/log?tail=29");
    assert_eq!(
        (body["content"].as_str(), body["truncated"].as_bool()),
        (Some("first line\nsecond line\nthird\n"), Some(false))
    );
    // No newline in the window: the raw tail.
    let (_, body) = get("/tasks/t_one/log?tail=7");
    assert_eq!(body["content"], "newline");
    // Invalid UTF-8 replaced.
    let (_, body) = get("/tasks/t_bad/log");
    assert_eq!(
        body["content"],
        "ok \u{fffd}\u{fffd} then \u{fffd} cut, \u{fffd}\u{fffd} overlong\n"
    );
    // 404, 422, 400.
    let (status, body) = get("/tasks/t_nope/log");
    assert_eq!(
        (status, body["detail"].as_str()),
        (404, Some("task t_nope not found"))
    );
    for bad in ["0", "2000001", "abc", "", "-5"] {
        let (status, _) = get(&format!("/tasks/t_lines/log?tail={bad}"));
        assert_eq!(status, 422, "tail={bad}");
    }
    let (status, body) = get("/tasks/t_lines/log?tail=2000000");
    assert_eq!((status, body["truncated"].as_bool()), (200, Some(false)));
    let (status, _) = get("/tasks/t_lines/log?board=ops");
    assert_eq!(status, 404);
}

/// The venv `make test` prepares (or $KANBAN_WORKERS_HERMES_VENV).
fn hermes_python() -> PathBuf {
    std::env::var_os("KANBAN_WORKERS_HERMES_VENV")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(MANIFEST_DIR).join("target/hermes-venv"))
        .join("bin/python")
}

/// The owner's handler and ours on the same board and files, rotation included: the owner's
/// `_rotate_worker_log` renames a log to `.log.1` and a new one is written, then the owner's
/// `get_task_log` (its FastAPI route, through the framework's test client) and the shim answer
/// the same requests. 200 and 404 answers are equal as JSON; 422s are 422s (the framework's
/// body lists validation errors).
#[test]
fn the_task_log_matches_the_owners_handler() {
    let python = hermes_python();
    if !python.exists() {
        eprintln!(
            "skipped: the_task_log_matches_the_owners_handler (needs hermes-agent 0.19.0 in {})",
            python.display()
        );
        return;
    }
    let dir = temp_dir("log-owner");
    let root = dir.path();
    // Each log's bytes, by name; the owner makes the tasks and their files.
    let logs: Vec<(&str, Vec<u8>)> = vec![
        ("missing", Vec::new()),
        ("lines", b"alpha\nbeta\ngamma delta\n\nepsilon\n".to_vec()),
        ("one", b"x".repeat(5000)),
        (
            "bad",
            b"a\xffb\xe2\x82c\xc0\xafd\xed\xa0\x80e\xf4\x90\x80\x80f\xf0\x9f\x98g\xe2\x82\xac\n"
                .to_vec(),
        ),
        ("rot", b"the old run's output\n".repeat(100)),
        ("crlf", b"one\r\ntwo\rthree\r\n".to_vec()),
    ];
    let queries = [
        "",
        "?tail=1",
        "?tail=5",
        "?tail=9",
        "?tail=12",
        "?tail=100",
        "?tail=2000000",
        "?tail=0",
        "?tail=2000001",
        "?tail=x",
        "?tail=%205",
        "?tail=5.0",
        "?tail=05",
    ];
    let spec = serde_json::json!({
        "logs": logs.iter().map(|(n, b)| (n.to_string(), serde_json::json!(b))).collect::<serde_json::Map<_, _>>(),
        "queries": queries,
    });
    let script = r#"
import json, sys, warnings
warnings.filterwarnings("ignore")
from pathlib import Path
from hermes_cli import kanban_db as kb
from fastapi import FastAPI
from fastapi.testclient import TestClient
from plugins.kanban.dashboard import plugin_api
spec = json.loads(sys.argv[1])
kb.init_db()
conn = kb.connect()
ids = {}
for name, data in spec["logs"].items():
    ids[name] = kb.create_task(conn, title=name, assignee="analyst")
    if name != "missing":
        path = kb.worker_log_path(ids[name], board="default")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(bytes(data))
conn.close()
# The owner's rotation, then the next run's output in a new file.
log = kb.worker_log_path(ids["rot"], board="default")
kb._rotate_worker_log(log, 100, 1)
assert Path(str(log) + ".1").exists() and not log.exists()
with open(log, "ab") as f:
    f.write(b"the new run starts\nand goes on\n")
app = FastAPI()
app.include_router(plugin_api.router)
client = TestClient(app)
out = []
for task in list(ids.values()) + ["t_nope"]:
    for q in spec["queries"]:
        url = f"/tasks/{task}/log{q}"
        r = client.get(url)
        out.append([url, r.status_code, r.json()])
print(json.dumps({"board": str(kb.kanban_db_path()), "answers": out}))
"#;
    let out = run_ok(
        Command::new(&python)
            .arg("-c")
            .arg(script)
            .arg(spec.to_string())
            .env("HERMES_KANBAN_HOME", root)
            .env("HERMES_HOME", root)
            .env("HOME", root)
            .env_remove("HERMES_KANBAN_DB")
            .env_remove("HERMES_KANBAN_BOARD"),
    );
    let owner: serde_json::Value = serde_json::from_str(out.lines().last().unwrap()).unwrap();
    let board = PathBuf::from(owner["board"].as_str().unwrap());
    assert_eq!(board, root.join("kanban.db"));
    let server = Server::start(&board);
    let mut compared = 0;
    for answer in owner["answers"].as_array().unwrap() {
        let (url, owner_status, owner_body) = (
            answer[0].as_str().unwrap(),
            answer[1].as_u64().unwrap(),
            &answer[2],
        );
        let (status, body) = server.get_json(url);
        assert_eq!(
            u64::from(status),
            owner_status,
            "{url}: ours {body}, the owner's {owner_body}"
        );
        if status != 422 {
            assert_eq!(&body, owner_body, "{url}");
            compared += 1;
        }
    }
    // Every case but the 422s, the rotated log's among them.
    assert_eq!(compared, 7 * 10, "{compared}");
    assert!(owner.to_string().contains("the new run starts"));
}

/// Following: the tail, a line appended during the test, the owner's rotation during the
/// test (the file renamed to `.log.1`, a new one started), then the end once the run has ended.
#[test]
fn following_survives_rotation_and_ends_with_the_run() {
    let b = LogBoard::new("log-follow", &["t_run"]);
    b.append("t_run", b"before the stream\n");
    let server = b.serve(&[]);
    let mut sse = Sse::open(&server.addr, "/runs/1/log?follow=1", &[]);
    assert_eq!(
        (sse.status, sse.content_type.as_str()),
        (200, "text/event-stream")
    );
    let (kind, start) = sse.next().unwrap();
    assert_eq!(kind, "start");
    assert_eq!(start["task_id"], "t_run");
    assert_eq!(start["exists"], true);
    assert_eq!(start["path"], b.log("t_run").to_string_lossy().as_ref());
    sse.until("log", "before the stream\n");
    b.append("t_run", "appended while following, é\n".as_bytes());
    sse.until("log", "appended while following, é\n");
    // The owner's rotation: rename, then the next spawn's file.
    b.append("t_run", b"last line of the old file\n");
    std::fs::rename(b.log("t_run"), b.logs.join("t_run.log.1")).unwrap();
    b.append("t_run", b"first line of the new file\n");
    let seen = sse.until("log", "first line of the new file\n");
    let kinds: Vec<&str> = seen.iter().map(|(k, _)| k.as_str()).collect();
    assert!(kinds.contains(&"rotated"), "{seen:?}");
    let text: String = seen
        .iter()
        .filter(|(k, _)| k == "log")
        .map(|(_, d)| d.as_str().unwrap())
        .collect();
    assert!(
        text.find("last line of the old file").unwrap()
            < text.find("first line of the new").unwrap()
    );
    // The run ends; what was written before is sent, then the end, then the stream closes.
    b.append("t_run", b"the worker's last words\n");
    b.end_run();
    let seen = sse.until("end", "the run has ended");
    let text: String = seen
        .iter()
        .filter(|(k, _)| k == "log")
        .map(|(_, d)| d.as_str().unwrap())
        .collect();
    assert!(text.contains("the worker's last words\n"), "{seen:?}");
    assert!(sse.next().is_none());
    assert!(!sse.closed_early, "the stream ends with its last chunk");
}

/// A log that does not exist yet is waited for; a 404 for an unknown run; follow is required.
#[test]
fn following_waits_for_the_log_and_checks_its_request() {
    let b = LogBoard::new("log-wait", &["t_run"]);
    let server = b.serve(&[]);
    let mut sse = Sse::open(&server.addr, "/runs/1/log?follow=true&tail=5", &[]);
    let (kind, start) = sse.next().unwrap();
    assert_eq!(
        (kind.as_str(), start["exists"].as_bool()),
        ("start", Some(false))
    );
    b.append("t_run", b"spawned at last\n");
    sse.until("log", "spawned at last\n");
    drop(sse);
    assert_eq!(server.get("/runs/9/log?follow=1").status, 404);
    assert_eq!(server.get("/runs/1/log").status, 422);
    assert_eq!(server.get("/runs/1/log?follow=1&tail=0").status, 422);
    assert_eq!(server.get("/runs/1/log?follow=1&board=Bad!").status, 400);
}

/// `--log-streams 1`: a second stream is a 503 while the first is open; the first ends when
/// idle for `--log-idle-timeout`, and its place is free again.
#[test]
fn streams_are_capped_and_end_when_idle() {
    let b = LogBoard::new("log-cap", &["t_run"]);
    b.append("t_run", b"hello\n");
    let server = b.serve(&["--log-streams", "1", "--log-idle-timeout", "1"]);
    let mut first = Sse::open(&server.addr, "/runs/1/log?follow=1", &[]);
    assert_eq!(first.next().unwrap().0, "start");
    let second = server.get("/runs/1/log?follow=1");
    assert_eq!(second.status, 503);
    assert!(
        second.detail().contains("--log-streams"),
        "{}",
        second.detail()
    );
    first.until("end", "no new output for 1s");
    assert!(first.next().is_none());
    let mut third = Sse::open(&server.addr, "/runs/1/log?follow=1", &[]);
    assert_eq!(third.status, 200);
    assert_eq!(third.next().unwrap().0, "start");
}

/// A client that stops reading is dropped (the send timeout is the header timeout), not
/// buffered: it gets what was in flight, then the connection closes without an end.
#[test]
fn a_client_that_does_not_read_is_dropped() {
    let b = LogBoard::new("log-slow", &["t_run"]);
    b.append("t_run", b"start\n");
    let mut cmd = Command::new(shim_bin());
    cmd.args(["serve", "--db"]).arg(&b.board.path).args([
        "--listen",
        "127.0.0.1:0",
        "--quiet",
        "--header-timeout",
        "1",
    ]);
    let mut server = Server::spawn(cmd, "serving board");
    let stderr = server.child.stderr.take().unwrap();
    let (tx, lines) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let mut sse = Sse::open(&server.addr, "/runs/1/log?follow=1", &[]);
    assert_eq!(sse.next().unwrap().0, "start");
    // 32 MiB written while the client reads nothing: far more than sockets hold.
    let line = format!("{}\n", "y".repeat(1023));
    let chunk = line.repeat(1024);
    for _ in 0..32 {
        b.append("t_run", chunk.as_bytes());
    }
    let closed = loop {
        let line = lines.recv().expect("the shim's stderr");
        if line.contains("log stream of run 1 closed") {
            break line;
        }
    };
    assert!(closed.contains("the client"), "{closed}");
    while sse.next().is_some_and(|(k, _)| k != "end") {}
    assert!(sse.closed_early, "dropped: no last chunk, no end event");
    assert!(
        sse.received < 16 << 20,
        "{} bytes reached the client",
        sse.received
    );
}

/// A link in place of a log, a logs folder that is a link out of the board's folder, and (as
/// root) another user's file are all answered as a missing log.
#[test]
fn links_out_of_the_logs_folder_are_not_followed() {
    let b = LogBoard::new("log-links", &["t_run", "t_link", "t_fifo"]);
    let secret = b.board.dir.path().join("secret.txt");
    std::fs::write(&secret, "password=hunter2\n").unwrap();
    std::os::unix::fs::symlink(&secret, b.log("t_link")).unwrap();
    run_ok(Command::new("mkfifo").arg(b.log("t_fifo")));
    let server = b.serve(&[]);
    for task in ["t_link", "t_fifo"] {
        let (status, body) = server.get_json(&format!("/tasks/{task}/log"));
        assert_eq!(
            (status, body["exists"].as_bool(), body["content"].as_str()),
            (200, Some(false), Some("")),
            "{task}"
        );
    }
    // The whole folder a link to another place: nothing in it is shown, followed neither.
    let elsewhere = temp_dir("log-elsewhere");
    std::fs::write(elsewhere.path().join("t_run.log"), "not this board's\n").unwrap();
    std::fs::remove_dir_all(&b.logs).unwrap();
    std::os::unix::fs::symlink(elsewhere.path(), &b.logs).unwrap();
    let (_, body) = server.get_json("/tasks/t_run/log");
    assert_eq!(body["exists"], false);
    let mut sse = Sse::open(&server.addr, "/runs/1/log?follow=1", &[]);
    let (_, start) = sse.next().unwrap();
    assert_eq!(start["exists"], false);
}

#[test]
#[ignore = "needs root"]
fn another_owners_log_is_not_shown() {
    require_root();
    let b = LogBoard::new("log-owner-uid", &["t_run", "t_theirs"]);
    b.append("t_run", b"mine\n");
    b.append("t_theirs", b"nobody's secret\n");
    std::os::unix::fs::chown(b.log("t_theirs"), Some(65534), Some(65534)).unwrap();
    std::fs::set_permissions(b.log("t_theirs"), std::fs::Permissions::from_mode(0o644)).unwrap();
    let server = b.serve(&[]);
    let (_, body) = server.get_json("/tasks/t_theirs/log");
    assert_eq!(
        (body["exists"].as_bool(), body["content"].as_str()),
        (Some(false), Some(""))
    );
    let (_, body) = server.get_json("/tasks/t_run/log");
    assert_eq!(body["content"], "mine\n");
    // Followed: the other owner's file appearing by rotation is not followed either.
    let mut sse = Sse::open(&server.addr, "/runs/1/log?follow=1", &[]);
    sse.until("log", "mine\n");
    std::fs::rename(b.log("t_run"), b.logs.join("t_run.log.1")).unwrap();
    std::fs::copy(b.log("t_theirs"), b.log("t_run")).unwrap();
    std::os::unix::fs::chown(b.log("t_run"), Some(65534), Some(65534)).unwrap();
    b.end_run();
    let seen = sse.until("end", "the run has ended");
    assert!(!format!("{seen:?}").contains("nobody's secret"), "{seen:?}");
}

/// Logs may hold secrets: with `--auth-reads` both routes need the token (401 before routing).
#[test]
fn the_log_routes_need_the_token_where_reads_do() {
    let b = LogBoard::new("log-token", &["t_run"]);
    b.append("t_run", b"secret output\n");
    let server = Server::with_token(&b.board.path, "s3cret", &["--auth-reads"]);
    for path in [
        "/tasks/t_run/log",
        "/runs/1/log?follow=1",
        "/tasks/t_nope/log",
    ] {
        assert_eq!(server.get(path).status, 401, "{path}");
    }
    let auth = [("Authorization", "Bearer s3cret")];
    let r = http_request(&server.addr, "GET", "/tasks/t_run/log", &auth);
    assert_eq!(
        (r.status, r.json()["content"].as_str()),
        (200, Some("secret output\n"))
    );
    let mut sse = Sse::open(
        &server.addr,
        "/runs/1/log?follow=1",
        &[("X-Hermes-Session-Token", "s3cret")],
    );
    assert_eq!(sse.status, 200);
    sse.until("log", "secret output\n");
}

/// Whoever writes the kanban root swaps `kanban.db` and `kanban/` for links into root's private
/// folder, back and forth, while the shim (root) answers both log routes: root's 0600 log is
/// never served. The board's owner is the uid checked when the board was resolved (not read
/// again from the swapped path), and the logs folder is walked beneath the root without
/// following a link. Before: root's log was served within a second.
#[test]
#[ignore = "needs root"]
fn a_board_writer_swapping_links_reads_no_other_users_log() {
    use std::os::unix::fs::{chown, lchown, symlink};
    require_root();
    let top = temp_dir("log-swap");
    // The victim: root's private folder, with a board and a log laid out as a root's.
    let victim = top.path().join("victim");
    std::fs::create_dir_all(victim.join("kanban/logs")).unwrap();
    std::fs::set_permissions(&victim, std::fs::Permissions::from_mode(0o700)).unwrap();
    drop(create_board(&victim.join("kanban.db")));
    let secret = victim.join("kanban/logs/t_x.log");
    std::fs::write(&secret, "ROOT SECRET\n").unwrap();
    std::fs::set_permissions(&secret, std::fs::Permissions::from_mode(0o600)).unwrap();
    // The kanban root, nobody's: its default board with an open run of t_x, and t_x's log.
    let root = top.path().join("root");
    std::fs::create_dir_all(root.join("kanban/logs")).unwrap();
    let conn = create_board(&root.join("kanban.db"));
    insert_run(&conn, &RunSpec::new("t_x"));
    std::fs::write(root.join("kanban/logs/t_x.log"), "mine\n").unwrap();
    run_ok(Command::new("chown").args(["-R", "65534:65534"]).arg(&root));
    let (db_link, kanban_link) = (root.join("db-link"), root.join("kanban-link"));
    symlink(victim.join("kanban.db"), &db_link).unwrap();
    symlink(victim.join("kanban"), &kanban_link).unwrap();
    for link in [&db_link, &kanban_link] {
        lchown(link, Some(65534), Some(65534)).unwrap();
    }
    chown(top.path(), Some(0), Some(0)).unwrap();

    let mut cmd = Command::new(shim_bin());
    cmd.args([
        "serve",
        "--quiet",
        "--listen",
        "127.0.0.1:0",
        "--log-streams",
        "1024",
    ])
    .env("HERMES_KANBAN_HOME", &root)
    .env_remove("HERMES_KANBAN_DB")
    .env_remove("HERMES_KANBAN_BOARD");
    let server = Server::spawn(cmd, "serving board");
    let (_, body) = server.get_json("/tasks/t_x/log");
    assert_eq!(body["content"], "mine\n", "{body}");

    let flipper = Flipper::start(&[
        (root.join("kanban.db"), db_link.clone()),
        (root.join("kanban"), kanban_link.clone()),
    ]);
    for _ in 0..3000 {
        let r = server.get("/tasks/t_x/log");
        let text = String::from_utf8_lossy(&r.body);
        assert!(!text.contains("ROOT SECRET"), "served root's log: {text}");
    }
    for _ in 0..150 {
        let mut sse = Sse::open(&server.addr, "/runs/1/log?follow=1", &[]);
        if sse.status != 200 {
            continue;
        }
        if let Some((_, start)) = sse.next() {
            if start["exists"] == true {
                let next = sse.next();
                assert!(
                    !format!("{next:?}").contains("ROOT SECRET"),
                    "followed root's log: {next:?}"
                );
            }
        }
    }
    assert!(flipper.stop() > 0);
    // Left as they were: the board's own log is served again.
    let (_, body) = server.get_json("/tasks/t_x/log");
    assert_eq!(body["content"], "mine\n", "{body}");
    drop(conn);
}

/// A log is bounded by what its answer serves, not by its size on disk: a sparse file of NUL
/// bytes (no disk at all) is 507 before it is read, and 4 MiB of NULs (24 MiB as JSON) is 507
/// before the answer is written; a tail of either is served. Before: 4 MiB of NULs made a
/// 24 MiB answer, and 64 MiB a 384 MiB one.
#[test]
fn a_log_is_bounded_by_its_served_size() {
    let b = LogBoard::new("log-served", &["t_run", "t_sparse", "t_nuls"]);
    std::fs::File::create(b.log("t_sparse"))
        .unwrap()
        .set_len(64 << 20)
        .unwrap();
    std::fs::write(b.log("t_nuls"), vec![0u8; 4 << 20]).unwrap();
    let server = b.serve(&[]);
    for (task, what) in [("t_sparse", "in size"), ("t_nuls", "as JSON")] {
        let (status, body) = server.get_json(&format!("/tasks/{task}/log"));
        let detail = body["detail"].as_str().unwrap_or_default();
        assert_eq!(status, 507, "{task}: {body}");
        assert!(
            detail.contains(what) && detail.contains("?tail=N"),
            "{task}: {detail}"
        );
        let (status, body) = server.get_json(&format!("/tasks/{task}/log?tail=1000"));
        assert_eq!(
            (status, body["content"].as_str().map(str::len)),
            (200, Some(1000)),
            "{task}"
        );
    }
}

/// One board's streams, never read, cannot hold every place of `--log-streams`: a board holds
/// at most half (503 naming the board's share past it), so another board's viewer is still
/// served; and a stream of a log that does not exist ends after 30 s, whatever
/// `--log-idle-timeout` says. Before: the fourth stream of one board took the last place, and
/// the missing log's streams held theirs for the idle timeout (5 minutes).
#[test]
fn one_board_cannot_take_every_log_stream() {
    let root = temp_dir("log-shares");
    let conn = create_board(&root.path().join("kanban.db"));
    insert_run(&conn, &RunSpec::new("t_a"));
    let ops = root.path().join("kanban/boards/ops");
    std::fs::create_dir_all(ops.join("logs")).unwrap();
    let ops_conn = create_board(&ops.join("kanban.db"));
    insert_run(&ops_conn, &RunSpec::new("t_b"));
    std::fs::write(ops.join("logs/t_b.log"), "ops line\n").unwrap();
    let mut cmd = Command::new(shim_bin());
    cmd.args(["serve", "--quiet", "--listen", "127.0.0.1:0"])
        .args(["--log-streams", "4", "--log-idle-timeout", "600"])
        .env("HERMES_KANBAN_HOME", root.path())
        .env_remove("HERMES_KANBAN_DB")
        .env_remove("HERMES_KANBAN_BOARD");
    let server = Server::spawn(cmd, "serving board");
    let mut held: Vec<Sse> = (0..2)
        .map(|_| Sse::open(&server.addr, "/runs/1/log?follow=1", &[]))
        .collect();
    for sse in &mut held {
        assert_eq!(sse.status, 200);
        let (_, start) = sse.next().unwrap();
        assert_eq!(start["exists"], false);
    }
    let third = server.get("/runs/1/log?follow=1");
    assert_eq!(third.status, 503);
    assert!(
        third.detail().contains("this board's share"),
        "{}",
        third.detail()
    );
    let mut other = Sse::open(&server.addr, "/runs/1/log?follow=1&board=ops", &[]);
    assert_eq!(other.status, 200);
    other.until("log", "ops line\n");
    // The missing log's stream ends on its own, well before the idle timeout.
    held[0].until("end", "no log for 30s");
}

/// Boards are made at will by whoever writes the kanban root, so a board's share of
/// `--log-streams` shrinks as other boards stream: it holds at most half (rounded up) of the
/// places the other boards leave. Two boards following as many logs as they are let (one
/// after the other, the harder case) leave a third board a place: its follow is a 200 and its
/// stream starts. Before: each board held half of `--log-streams`, so two took every place
/// and the third board's follow was a 503.
#[test]
fn two_boards_cannot_take_every_log_stream() {
    let root = temp_dir("log-fair");
    let mut boards = Vec::new();
    for (slug, task) in [("default", "t_a"), ("ops", "t_b"), ("dev", "t_c")] {
        let dir = match slug {
            "default" => root.path().to_path_buf(),
            _ => root.path().join("kanban/boards").join(slug),
        };
        let logs = match slug {
            "default" => dir.join("kanban/logs"),
            _ => dir.join("logs"),
        };
        std::fs::create_dir_all(&logs).unwrap();
        let conn = create_board(&dir.join("kanban.db"));
        insert_run(&conn, &RunSpec::new(task));
        // A log that exists: its streams last until the idle timeout (600 s), not 30 s.
        std::fs::write(logs.join(format!("{task}.log")), format!("{slug} line\n")).unwrap();
        boards.push((slug, conn));
    }
    let mut cmd = Command::new(shim_bin());
    cmd.args(["serve", "--quiet", "--listen", "127.0.0.1:0"])
        .args(["--log-streams", "8", "--log-idle-timeout", "600"])
        .env("HERMES_KANBAN_HOME", root.path())
        .env_remove("HERMES_KANBAN_DB")
        .env_remove("HERMES_KANBAN_BOARD");
    let server = Server::spawn(cmd, "serving board");
    // Each of two boards follows its log until it is refused.
    let mut held: Vec<Sse> = Vec::new();
    let mut counts = Vec::new();
    let mut refusals = Vec::new();
    for slug in ["default", "ops"] {
        let path = format!("/runs/1/log?follow=1&board={slug}");
        let mut count = 0;
        loop {
            let mut sse = Sse::open(&server.addr, &path, &[("Connection", "close")]);
            if sse.status == 503 {
                let mut body = std::mem::take(&mut sse.pending);
                sse.stream.read_to_end(&mut body).unwrap();
                refusals.push(String::from_utf8_lossy(&body).into_owned());
                break;
            }
            assert_eq!(sse.status, 200, "{slug}");
            sse.until("log", &format!("{slug} line\n"));
            held.push(sse);
            count += 1;
            assert!(count <= 8, "{slug}: more streams than --log-streams");
        }
        counts.push(count);
    }
    let mut third = Sse::open(&server.addr, "/runs/1/log?follow=1&board=dev", &[]);
    assert_eq!(
        third.status, 200,
        "the third board refused; the two held {counts:?}, refused with {refusals:?}"
    );
    assert_eq!(third.next().unwrap().0, "start");
    third.until("log", "dev line\n");
    // Alone, half of the 8; the next board, half of the 4 the first left; each refused with
    // its board's share.
    assert_eq!(counts, [4, 2]);
    for refusal in &refusals {
        assert!(refusal.contains("this board's share"), "{refusal}");
    }
    drop(boards);
}
