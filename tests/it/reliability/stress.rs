#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! Reliability under stress, in sizes that fit CI: a dispatcher-like writer beside the shim,
//! processes dying while proc_stats reads them, hostile HTTP input, many idle connections.
//! Longer soaks: `benches/soak.sh` (results in RELIABILITY.md).

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use crate::common::*;
use rusqlite::Connection;
use rusqlite::types::Value;

/// The dispatcher writes (claim, heartbeats, end; BEGIN IMMEDIATE, WAL, synchronous=FULL)
/// while 8 clients hammer every route: no 5xx, no busy error, every committed row present,
/// integrity ok.
#[test]
fn concurrent_dispatcher_and_eight_clients() {
    let board = Board::new("rel-writer");
    let server = Server::start(&board.path);
    let done = Arc::new(AtomicBool::new(false));
    let statuses = Arc::new(Mutex::new(std::collections::BTreeMap::<u16, usize>::new()));
    let clients: Vec<_> = (0..8)
        .map(|i| {
            let (addr, done, statuses) = (
                server.addr.clone(),
                Arc::clone(&done),
                Arc::clone(&statuses),
            );
            std::thread::spawn(move || {
                let mut n = 0u64;
                while !done.load(Ordering::SeqCst) {
                    n += 1;
                    let path = match (i + n) % 3 {
                        0 => "/workers/active".to_owned(),
                        1 => format!("/runs/{}", n % 50 + 1),
                        _ => format!("/api/plugins/kanban/runs/{}/inspect", n % 50 + 1),
                    };
                    let r = http_request(&addr, "GET", &path, &[]);
                    if r.status >= 500 {
                        panic!("{path}: {} {}", r.status, String::from_utf8_lossy(&r.body));
                    }
                    *statuses.lock().unwrap().entry(r.status).or_default() += 1;
                }
            })
        })
        .collect();
    let out = run_ok(
        Command::new("/usr/bin/python3")
            .arg(format!("{MANIFEST_DIR}/tests/fixtures/dispatcher.py"))
            .arg(&board.path)
            .args(["150", "60"]),
    );
    done.store(true, Ordering::SeqCst);
    for c in clients {
        c.join().expect("client thread (a 5xx panics it)");
    }
    let report: serde_json::Value = serde_json::from_str(&out).unwrap();
    eprintln!(
        "dispatcher: {report}; client statuses: {:?}",
        statuses.lock().unwrap()
    );
    assert_eq!(report["busy_errors"], 0);
    let runs: Vec<i64> = report["runs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_i64().unwrap())
        .collect();
    assert_eq!(runs.len(), 150);
    assert_eq!(report["transactions"], 600);
    let conn = Connection::open(&board.path).unwrap();
    let ok: String = conn
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap();
    assert_eq!(ok, "ok");
    let ended: i64 = conn
        .query_row(
            "SELECT count(*) FROM task_runs WHERE ended_at IS NOT NULL AND status = 'done'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(ended, 150);
    let max_id: i64 = conn
        .query_row("SELECT max(id) FROM task_runs", [], |r| r.get(0))
        .unwrap();
    assert_eq!(max_id, *runs.last().unwrap());
    let statuses = statuses.lock().unwrap();
    assert!(statuses.get(&200).copied().unwrap_or(0) > 0, "{statuses:?}");
    assert!(
        statuses.keys().all(|s| *s == 200 || *s == 404),
        "{statuses:?}"
    );
}

/// Processes killed while proc_stats reads them: every row is a consistent live reading or
/// `alive = 0`; no SQL error; after reaping, `no such process`.
#[test]
fn processes_dying_mid_read_give_consistent_rows() {
    let conn = Connection::open_in_memory().unwrap();
    kanban_workers::register(&conn).unwrap();
    let mut stmt = conn.prepare("SELECT * FROM proc_stats(?1)").unwrap();
    let names: Vec<String> = stmt.column_names().iter().map(|s| s.to_string()).collect();
    let seen = [
        AtomicUsize::new(0),
        AtomicUsize::new(0),
        AtomicUsize::new(0),
    ]; // alive, zombie, gone
    for i in 0..500u32 {
        let mut child = Command::new("sleep").arg("1000").spawn().unwrap();
        let pid = i64::from(child.id());
        // Kill from another thread after a varying delay, while this thread keeps reading.
        let killer = std::thread::spawn(move || {
            for _ in 0..(i % 50) * 20 {
                std::thread::yield_now();
            }
            let _ = child.kill();
            // Every other one is also reaped at once: readers then see it vanish mid-loop.
            if i % 2 == 1 {
                let _ = child.wait();
            }
            child
        });
        let mut reads = 0;
        loop {
            let row: Vec<(String, Value)> = stmt
                .query_row([pid], |r| {
                    Ok(names
                        .iter()
                        .enumerate()
                        .map(|(i, n)| (n.clone(), r.get::<_, Value>(i).unwrap()))
                        .collect())
                })
                .unwrap_or_else(|e| panic!("pid {pid}: {e}"));
            let get = |n: &str| row.iter().find(|(k, _)| k == n).unwrap().1.clone();
            reads += 1;
            match (get("alive"), get("reason")) {
                (Value::Integer(1), Value::Null) => {
                    seen[0].fetch_add(1, Ordering::Relaxed);
                    for col in [
                        "state",
                        "ppid",
                        "num_threads",
                        "rss_bytes",
                        "vms_bytes",
                        "start_time",
                        "cmdline",
                        "cpu_percent",
                    ] {
                        assert!(
                            !matches!(get(col), Value::Null),
                            "alive row with NULL {col}: {row:?}"
                        );
                    }
                    assert_ne!(get("state"), Value::Text("zombie".into()));
                    let argv: serde_json::Value = match get("cmdline") {
                        Value::Text(t) => serde_json::from_str(&t).unwrap(),
                        other => panic!("{other:?}"),
                    };
                    assert!(argv.is_array());
                }
                (Value::Integer(0), Value::Text(r)) if r == "zombie" => {
                    seen[1].fetch_add(1, Ordering::Relaxed);
                    assert_eq!(get("state"), Value::Text("zombie".into()));
                    assert_eq!(get("num_fds"), Value::Null);
                    break;
                }
                (Value::Integer(0), Value::Text(r)) if r == "no such process" => {
                    seen[2].fetch_add(1, Ordering::Relaxed);
                    for (k, v) in &row[3..] {
                        assert_eq!(*v, Value::Null, "{k} not NULL for a gone process");
                    }
                    break;
                }
                other => panic!("inconsistent row {other:?}: {row:?}"),
            }
            assert!(reads < 1_000_000, "pid {pid} never died");
        }
        let mut child = killer.join().unwrap();
        child.wait().unwrap();
        let after: (i64, String) = conn
            .query_row("SELECT alive, reason FROM proc_stats(?1)", [pid], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })
            .unwrap();
        assert_eq!(after, (0, "no such process".to_owned()));
    }
    let seen: Vec<usize> = seen.iter().map(|a| a.load(Ordering::Relaxed)).collect();
    eprintln!(
        "alive readings {}, ended as zombie {}, ended as gone {}",
        seen[0], seen[1], seen[2]
    );
    assert!(seen[0] > 0 && seen[1] + seen[2] == 500, "{seen:?}");
}

/// A kernel thread (found by the kernel's `PF_KTHREAD` flag in its stat): no memory, no
/// command line; still a consistent live row.
#[test]
fn kernel_thread_reads_cleanly() {
    const PF_KTHREAD: u64 = 0x0020_0000;
    let conn = Connection::open_in_memory().unwrap();
    kanban_workers::register(&conn).unwrap();
    let kthread = std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<i64>().ok())
        .find(|pid| {
            std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok()
                && stat_fields(*pid)[9 - 3].parse::<u64>().unwrap() & PF_KTHREAD != 0
        })
        .expect("a kernel thread in /proc (none is visible inside a PID namespace)");
    let (alive, rss, cmdline): (i64, i64, String) = conn
        .query_row(
            "SELECT alive, rss_bytes, cmdline FROM proc_stats(?1)",
            [kthread],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .unwrap();
    assert_eq!(
        (alive, rss, cmdline.as_str()),
        (1, 0, "[]"),
        "pid {kthread}"
    );
}

/// Read until the server closes the connection; what it sent before closing.
fn read_until_closed(stream: &mut TcpStream) -> Vec<u8> {
    let mut buf = Vec::new();
    stream
        .read_to_end(&mut buf)
        .expect("the server closes the connection (within the test's 60 s read timeout)");
    buf
}

/// Many idle connections do not stop the server from answering others; a client that never
/// finishes its head, and every idle connection, is closed once the header timeout has passed
/// (hyper's `header_read_timeout`: it closes without an answer).
#[test]
fn idle_and_slow_clients_do_not_block_others_and_are_closed() {
    let board = Board::new("rel-idle");
    let bin = Command::new(shim_bin());
    let server = Server::start_with(bin, &board.path, &["--quiet", "--header-timeout", "1"]);
    let mut idle: Vec<TcpStream> = (0..300).map(|_| connect(&server.addr)).collect();
    let mut slow = connect(&server.addr);
    slow.write_all(b"GET /workers/active HTTP/1.1\r\nHost: localhost\r\n")
        .unwrap();
    // A kept-alive connection that was answered once, then went quiet.
    let mut answered = connect(&server.addr);
    answered
        .write_all(b"GET /workers/active HTTP/1.1\r\nHost: localhost\r\n\r\n")
        .unwrap();
    assert_eq!(read_one_response(&mut answered).status, 200);
    for _ in 0..20 {
        assert_eq!(server.get("/workers/active").status, 200);
    }
    assert!(read_until_closed(&mut slow).is_empty());
    assert!(read_until_closed(&mut answered).is_empty());
    for stream in &mut idle {
        assert!(read_until_closed(stream).is_empty());
    }
    assert_eq!(server.get("/workers/active").status, 200);
}

/// Hostile request lines: path traversal, encoded separators, odd bytes, huge headers. Every
/// request that reaches routing gets a JSON `detail`; heads hyper refuses get its own 400 or
/// 431 and a closed connection; the server stays up.
#[test]
fn hostile_paths_get_clear_answers_and_the_server_stays_up() {
    let board = Board::new("rel-hostile");
    let server = Server::start(&board.path);
    for path in [
        "/runs/../workers/active",
        "/runs/1/../../etc/passwd",
        "/runs/%2e%2e/inspect",
        "/runs%2F1",
        "/workers%2factive",
        "/runs/1%00",
        "/runs/%31",
        "/runs/1?x=1&y=%ff",
        "/runs/1;drop",
        "//runs/1",
        "/api/plugins/kanban/../kanban/runs/1",
        "/runs/1/inspect/",
        "/RUNS/1",
    ] {
        let r = server.get(path);
        assert!(matches!(r.status, 200 | 404 | 422), "{path}: {}", r.status);
        if r.status != 200 {
            assert!(r.json()["detail"].is_string(), "{path}");
        }
    }
    let big = "a".repeat(40_000);
    let r = http_request(&server.addr, "GET", "/workers/active", &[("X-Big", &big)]);
    assert_eq!(r.status, 431);
    for raw in [
        &b"GET /work\xff\xfeers HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"[..],
        b"NOT-HTTP\r\n\r\n",
        b"GET /workers/active HTTP/9.9\r\n\r\n",
        b"\r\n\r\nGET\r\n\r\n",
        b"GET\r\n\r\n",
    ] {
        let r = http_raw(&server.addr, raw);
        assert!(matches!(r.status, 400 | 505), "{raw:?}: {}", r.status);
    }
    assert_eq!(server.get("/workers/active").status, 200);
}

/// After a good request on a kept-alive connection, a bad head is refused by hyper (400 or
/// 431) and the connection closed, whether it comes after the answer or pipelined with the
/// request; half a head is closed after the header timeout. Absurd `Content-Length`s (up to
/// `u64::MAX`) are refused, or answered and the connection closed, never held open.
#[test]
fn bad_heads_on_a_kept_alive_connection_close_it() {
    let board = Board::new("rel-keepalive");
    let bin = Command::new(shim_bin());
    let server = Server::start_with(bin, &board.path, &["--quiet", "--header-timeout", "1"]);
    let good = b"GET /workers/active HTTP/1.1\r\nHost: localhost\r\n\r\n";
    let big = format!("GET / HTTP/1.1\r\nX-Big: {}\r\n\r\n", "a".repeat(40_000));
    let many: String = (0..101).map(|i| format!("h{i}: v\r\n")).collect();
    let many = format!("GET / HTTP/1.1\r\n{many}\r\n");
    // (what follows a good request, the statuses it may get; none: closed without an answer)
    let cases: Vec<(Vec<u8>, &[u16])> = vec![
        (b"GET /work\xffers HTTP/1.1\r\n\r\n".to_vec(), &[400]),
        (b"NOT-HTTP\r\n\r\n".to_vec(), &[400]),
        (b"GET / HTTP/1.1\r\nbad name: x\r\n\r\n".to_vec(), &[400]),
        (
            b"GET / HTTP/1.1\r\nContent-Length: x\r\n\r\n".to_vec(),
            &[400],
        ),
        (big.into_bytes(), &[431]),
        (many.into_bytes(), &[431]),
        (b"GET /workers/active HTTP/1.1\r\nHo".to_vec(), &[]),
    ];
    for (bad, statuses) in &cases {
        let what = String::from_utf8_lossy(&bad[..bad.len().min(40)]).into_owned();
        // One at a time (the good request's answer first, then the bad head), then pipelined.
        for pipelined in [false, true] {
            let mut s = connect(&server.addr);
            if pipelined {
                s.write_all(&[&good[..], bad].concat()).unwrap();
                assert_eq!(read_one_response(&mut s).status, 200, "{what}");
            } else {
                s.write_all(good).unwrap();
                assert_eq!(read_one_response(&mut s).status, 200, "{what}");
                s.write_all(bad).unwrap();
            }
            let rest = read_until_closed(&mut s);
            if statuses.is_empty() {
                assert!(
                    rest.is_empty(),
                    "{what}: {:?}",
                    String::from_utf8_lossy(&rest)
                );
            } else {
                let (r, _) = parse_head(&rest).expect("an answer before the close");
                assert!(statuses.contains(&r.status), "{what}: {}", r.status);
            }
        }
    }
    // Content-Length near and at u64::MAX on a route, with and without some of the body: the
    // connection ends at once (refused, or answered and closed since the body is never read).
    for length in [u64::MAX, u64::MAX - 1, u64::MAX - 2, u64::MAX - 3, 1 << 63] {
        for body in ["", "abc"] {
            let mut s = connect(&server.addr);
            write!(
                s,
                "GET /runs/1 HTTP/1.1\r\nHost: localhost\r\nContent-Length: {length}\r\n\r\n{body}"
            )
            .unwrap();
            let rest = read_until_closed(&mut s);
            let (r, _) = parse_head(&rest).expect("an answer");
            assert!(
                matches!(r.status, 404 | 400 | 431),
                "{length}: {}",
                r.status
            );
        }
    }
    // A request framed two ways (how requests are smuggled past proxies): hyper answers it
    // at most once and closes the connection.
    let mut s = connect(&server.addr);
    s.write_all(
        b"POST / HTTP/1.1\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /workers/active HTTP/1.1\r\n\r\n",
    )
    .unwrap();
    let rest = read_until_closed(&mut s);
    let (r, len) = parse_head(&rest).expect("an answer");
    assert!(matches!(r.status, 400 | 404 | 405), "{}", r.status);
    let length: usize = r.header("content-length").unwrap().parse().unwrap();
    assert_eq!(rest.len(), len + length, "one answer only");
    assert_eq!(server.get("/workers/active").status, 200);
}

/// A request the service takes longer to answer than the header timeout (here: a board locked
/// by another connection, so the read waits for the lock) is still answered, with the board's
/// rows once the lock is gone: the header timeout is the client's time to send a head, not the
/// server's time to answer. That it waited past the header timeout is shown by the server, not
/// by a clock: a second connection, opened after the request was sent, sends half a head and
/// is closed by the header timeout while the request is still unanswered on an open
/// connection; only then is the lock released, and the request that waited through it is
/// answered 200 (an answer given at once, a 503 without waiting, or a connection closed by
/// the header timeout all fail here).
#[test]
fn a_request_slower_than_the_header_timeout_is_still_answered() {
    let board = Board::new("rel-slow-answer");
    let conn = Connection::open(&board.path).unwrap();
    // A rollback journal: an exclusive lock there keeps readers out (WAL would let them in).
    conn.pragma_update(None, "journal_mode", "delete").unwrap();
    let bin = Command::new(shim_bin());
    // A budget far past the header timeout: the request is still waiting for the lock when the
    // probe below is closed.
    let server = Server::start_with(
        bin,
        &board.path,
        &[
            "--quiet",
            "--header-timeout",
            "1",
            "--busy-timeout",
            "60",
            // A rollback journal's lock is waited for as long as the budget (not 0.5 s).
            "--lock-wait",
            "60",
        ],
    );
    assert_eq!(server.get("/workers/active").status, 200);
    conn.execute_batch("BEGIN EXCLUSIVE").unwrap();
    let mut waiting = connect(&server.addr);
    let request = format!(
        "GET /workers/active HTTP/1.1\r\nHost: {}\r\n\r\n",
        server.addr
    );
    waiting.write_all(request.as_bytes()).unwrap();
    // The probe's header timeout starts after the request was sent, so once it has passed the
    // request has been in the server for longer than the header timeout.
    let mut probe = connect(&server.addr);
    probe
        .write_all(b"GET /workers/active HTTP/1.1\r\nHo")
        .unwrap();
    let answered = read_until_closed(&mut probe);
    assert!(
        answered.is_empty(),
        "{:?}",
        String::from_utf8_lossy(&answered)
    );
    waiting.set_nonblocking(true).unwrap();
    let mut byte = [0u8; 1];
    match waiting.peek(&mut byte) {
        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
        other => panic!(
            "the request was answered (Ok(1)) or its connection closed (Ok(0)) within the \
             header timeout, not waited on: {other:?}"
        ),
    }
    waiting.set_nonblocking(false).unwrap();
    conn.execute_batch("ROLLBACK").unwrap();
    let r = read_one_response(&mut waiting);
    assert_eq!(r.status, 200, "{:?}", r.json());
    assert_eq!(r.json()["count"], 0, "{:?}", r.json());
    assert_eq!(server.get("/workers/active").status, 200);
}

/// The server's stderr is a pipe that nobody reads (a parent that pipes it and never reads,
/// a stalled journal): once the pipe is full, a log write blocks. Requests are still all
/// answered (before, a request hung for good once the pipe was full), and once stderr is read
/// again the log says how many lines it dropped.
#[test]
fn a_stderr_that_is_not_read_does_not_hold_up_requests() {
    let board = Board::new("rel-stderr-full");
    let bin = Command::new(shim_bin());
    // Not --quiet: a log line (about 60 bytes here) for every request; a pipe holds 64 KiB.
    let mut server = Server::start_with(bin, &board.path, &[]);
    let mut stream = connect(&server.addr);
    let request = format!("GET /nope HTTP/1.1\r\nHost: {}\r\n\r\n", server.addr);
    for i in 0..20_000 {
        stream.write_all(request.as_bytes()).unwrap();
        let r = read_one_response(&mut stream);
        assert_eq!(r.status, 404, "request {i}");
    }
    let mut stderr = server.child.stderr.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut text = String::new();
        stderr.read_to_string(&mut text).unwrap();
        text
    });
    assert_eq!(server.get("/workers/active").status, 200);
    let (stopped_cleanly, _) = server.stop();
    assert!(stopped_cleanly, "the server did not exit 0 on SIGTERM");
    let log = reader.join().unwrap();
    assert!(
        log.contains("log lines dropped: stderr was not being read"),
        "{log}"
    );
    assert!(log.contains("kanban-workers: stopped"), "{log}");
}

/// The reader of the server's stderr goes away (a closed pipe: every log write fails with
/// EPIPE). Requests are still answered, and SIGTERM still stops the server with status 0.
#[test]
fn closing_the_reader_of_stderr_does_not_silence_the_server() {
    let board = Board::new("rel-stderr");
    let bin = Command::new(shim_bin());
    // Not --quiet: a log line for every request.
    let mut server = Server::start_with(bin, &board.path, &[]);
    assert_eq!(server.get("/workers/active").status, 200);
    drop(server.child.stderr.take());
    for path in [
        "/workers/active",
        "/runs/1",
        "/runs/1/inspect",
        "/nope",
        "/runs/x",
    ] {
        let r = server.get(path);
        assert!(matches!(r.status, 200 | 404 | 422), "{path}: {}", r.status);
    }
    let (stopped_cleanly, _) = server.stop();
    assert!(stopped_cleanly, "the server did not exit 0 on SIGTERM");
}

/// A board locked by a writer (a rollback journal held `BEGIN EXCLUSIVE`), and more clients
/// at once than the shim has reader threads: every request is answered 503 within its budget,
/// waiting for a thread included. Requests that could not get a thread say so, naming the
/// budget (before the budget covered the queue, they waited for a thread without a deadline
/// and then for the lock: answers came several budgets late, a 200 after 15 s once the lock
/// went). That none is answered past its budget is shown by the lock, not by a clock: once all
/// 64 are sent and one is answered, one more request is made, and its 503 means a whole budget
/// has passed since each of the 64 began; only then is the lock released. A request still
/// waiting at that point (a wait for the lock or for a thread longer than the budget) would
/// get the board's rows, a 200.
#[test]
fn a_locked_board_answers_every_request_within_its_budget() {
    let board = Board::new("rel-locked");
    let conn = Connection::open(&board.path).unwrap();
    conn.pragma_update(None, "journal_mode", "delete").unwrap();
    let bin = Command::new(shim_bin());
    // A rollback journal's lock is waited for as long as the budget (not 0.5 s).
    let server = Server::start_with(
        bin,
        &board.path,
        &["--quiet", "--busy-timeout", "2", "--lock-wait", "2"],
    );
    assert_eq!(server.get("/workers/active").status, 200);
    conn.execute_batch("BEGIN EXCLUSIVE").unwrap();
    let (sent_tx, sent) = std::sync::mpsc::channel();
    let (answer_tx, answered) = std::sync::mpsc::channel();
    let clients: Vec<_> = (0..64)
        .map(|i| {
            let (addr, sent_tx, answer_tx) =
                (server.addr.clone(), sent_tx.clone(), answer_tx.clone());
            std::thread::spawn(move || {
                let path = ["/workers/active", "/runs/1", "/runs/1/inspect"][i % 3];
                let mut stream = connect(&addr);
                let head =
                    format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
                stream.write_all(head.as_bytes()).unwrap();
                sent_tx.send(()).unwrap();
                let raw = read_until_closed(&mut stream);
                let (mut r, len) = parse_head(&raw).expect("an answer");
                r.body = raw[len..].to_vec();
                answer_tx
                    .send((r.status, String::from_utf8_lossy(&r.body).into_owned()))
                    .unwrap();
            })
        })
        .collect();
    drop((sent_tx, answer_tx));
    for _ in 0..64 {
        sent.recv().unwrap();
    }
    let first = answered.recv().unwrap();
    let last = http_request(&server.addr, "GET", "/workers/active", &[]);
    conn.execute_batch("ROLLBACK").unwrap();
    assert_eq!(last.status, 503, "{:?}", last.json());
    assert!(
        last.detail().contains("is busy, retry"),
        "{:?}",
        last.json()
    );
    for c in clients {
        c.join().unwrap();
    }
    let answers: Vec<(u16, String)> = std::iter::once(first).chain(answered.iter()).collect();
    assert_eq!(answers.len(), 64);
    for (status, body) in &answers {
        assert_eq!(
            *status, 503,
            "answered past its budget, after the lock went: {body}"
        );
        assert!(body.contains("is busy, retry"), "{body}");
    }
    let queued = answers
        .iter()
        .filter(|(_, d)| {
            d.contains(
                "every reader thread was busy for 2000 ms, the request's budget (--busy-timeout)",
            )
        })
        .count();
    assert!(queued > 0, "{answers:?}");
    assert_eq!(server.get("/workers/active").status, 200);
}
