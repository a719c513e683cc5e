#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! Resource bounds of the shim, against a real server process: open files, connections,
//! memory held for clients that do not read, the size of one cell.

use std::io::Write;
use std::net::TcpStream;
use std::process::Command;

use crate::common::*;

/// A field of `/proc/<pid>/status`, in kB (`VmRSS`, `VmHWM`).
fn status_kb(pid: i64, field: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix(&format!("{field}:")))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or_else(|| panic!("{field} in /proc/{pid}/status"))
}

/// The process's open sockets (its listener and its connections).
fn open_sockets(pid: i64) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .unwrap()
        .filter_map(|e| std::fs::read_link(e.ok()?.path()).ok())
        .filter(|target| target.to_string_lossy().starts_with("socket:"))
        .count()
}

/// The soft limit on open files is raised to the hard one at start.
#[test]
fn the_open_file_limit_is_raised_to_the_hard_limit() {
    let board = Board::new("bounds-nofile");
    let mut cmd = Command::new("prlimit");
    cmd.arg("--nofile=256:8192").arg(shim_bin());
    let server = Server::start_with(cmd, &board.path, &["--quiet"]);
    let limits = std::fs::read_to_string(format!("/proc/{}/limits", server.pid())).unwrap();
    let line = limits
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .unwrap();
    let numbers: Vec<&str> = line.split_whitespace().skip(3).take(2).collect();
    assert_eq!(numbers, ["8192", "8192"], "{line}");
}

/// Past `--max-connections`, clients wait to be accepted: with 4 slots and 12 clients that
/// each send a request and then stay connected, exactly 4 are answered and the server holds
/// descriptors for those 4 only; each time answered clients leave, the next ones are served.
#[test]
fn connections_past_the_cap_wait_to_be_accepted() {
    use std::sync::mpsc;
    let board = Board::new("bounds-conns");
    let bin = Command::new(shim_bin());
    // A long header timeout: a kept-alive client holds its slot until it leaves.
    let server = Server::start_with(
        bin,
        &board.path,
        &[
            "--quiet",
            "--max-connections",
            "4",
            "--header-timeout",
            "60",
        ],
    );
    let before = open_sockets(server.pid());
    let (answered, answers) = mpsc::channel();
    let mut leave = Vec::new();
    let clients: Vec<_> = (0..12)
        .map(|i| {
            let (go, gone) = mpsc::channel::<()>();
            leave.push(Some(go));
            let (addr, answered) = (server.addr.clone(), answered.clone());
            std::thread::spawn(move || {
                let mut stream = connect(&addr);
                let request = format!("GET /workers/active HTTP/1.1\r\nHost: {addr}\r\n\r\n");
                stream.write_all(request.as_bytes()).unwrap();
                let status = read_one_response(&mut stream).status;
                answered.send((i, status)).unwrap();
                // Connected (holding its slot) until told to leave.
                let _ = gone.recv();
            })
        })
        .collect();
    for round in 0..3 {
        let served: Vec<usize> = (0..4)
            .map(|_| {
                let (i, status) = answers.recv().unwrap();
                assert_eq!(status, 200);
                i
            })
            .collect();
        // Four hold every slot: nobody else is answered, and the server holds no descriptor
        // for the clients still waiting in the accept queue.
        assert!(
            answers.try_recv().is_err(),
            "a fifth client answered in round {round}"
        );
        let sockets = open_sockets(server.pid());
        assert_eq!(
            sockets,
            before + 4,
            "sockets with 4 clients served, {before} before"
        );
        for i in served {
            drop(leave[i].take());
        }
    }
    for client in clients {
        client.join().unwrap();
    }
}

/// Hundreds of clients ask for a large `/workers/active` (about 1.3 MB) and never read it.
/// The answers held for them are bounded (64 MiB in all, and a client that leaves its answer
/// unread for the header timeout is closed), so the server's peak memory stays far below what
/// holding every answer would take (over 500 MB), and a normal client is still served.
#[test]
fn clients_that_do_not_read_cannot_exhaust_memory() {
    let board = Board::new("bounds-noread");
    let w = board.writer();
    w.execute_batch("BEGIN").unwrap();
    for i in 0..4000 {
        insert_run(&w, &RunSpec::new(&format!("t_{i:05}")).pid(4242));
    }
    w.execute_batch("COMMIT").unwrap();
    drop(w);
    let bin = Command::new(shim_bin());
    let server = Server::start_with(
        bin,
        &board.path,
        &["--quiet", "--header-timeout", "2", "--busy-timeout", "2"],
    );
    let size = server.get("/workers/active").body.len();
    assert!(size > 1_000_000, "{size}");
    let request = b"GET /workers/active HTTP/1.1\r\nHost: localhost\r\n\r\n";
    let silent: Vec<TcpStream> = (0..400)
        .map(|_| {
            let mut s = connect(&server.addr);
            // Receive nothing: a small receive buffer, never read.
            s.write_all(request).unwrap();
            s
        })
        .collect();
    // A normal client is answered while they hold their connections: the one-run routes have
    // reader threads of their own, however many list requests wait.
    for _ in 0..20 {
        assert_eq!(server.get("/runs/1").status, 200);
    }
    let peak_kb = status_kb(server.pid(), "VmHWM");
    drop(silent);
    assert_eq!(server.get("/workers/active").status, 200);
    eprintln!(
        "peak RSS {peak_kb} kB for 400 unread answers of {size} bytes; RSS now {} kB",
        status_kb(server.pid(), "VmRSS")
    );
    assert!(peak_kb < 200 * 1024, "peak RSS {peak_kb} kB");
}

/// A cell larger than an answer carries (1 MiB) is refused by SQLite before it is loaded:
/// 507 naming the limit, and the server stays up; a large one under the limit is answered.
#[test]
fn a_huge_cell_is_refused_not_materialised() {
    let board = Board::new("bounds-cell");
    let w = board.writer();
    let huge = insert_run(&w, &RunSpec::new("t_huge"));
    let large = insert_run(&w, &RunSpec::new("t_large"));
    w.execute(
        "UPDATE task_runs SET metadata = json_object('blob', printf('%.*c', 50000000, 'x')) WHERE id = ?1",
        [huge],
    )
    .unwrap();
    w.execute(
        "UPDATE task_runs SET metadata = json_object('blob', printf('%.*c', 900000, 'x')) WHERE id = ?1",
        [large],
    )
    .unwrap();
    drop(w);
    let server = Server::start(&board.path);
    let clients: Vec<_> = (0..50)
        .map(|_| {
            let addr = server.addr.clone();
            std::thread::spawn(move || http_request(&addr, "GET", &format!("/runs/{huge}"), &[]))
        })
        .collect();
    for c in clients {
        let r = c.join().unwrap();
        assert_eq!(r.status, 507);
        assert!(
            r.detail().contains("larger than the 1 MiB"),
            "{}",
            r.detail()
        );
    }
    let peak_kb = status_kb(server.pid(), "VmHWM");
    assert!(peak_kb < 100 * 1024, "peak RSS {peak_kb} kB");
    let (status, body) = server.get_json(&format!("/runs/{large}"));
    assert_eq!(status, 200);
    assert_eq!(
        body["run"]["metadata"]["blob"].as_str().unwrap().len(),
        900_000
    );
    assert_eq!(server.get("/workers/active").status, 200);
}

/// The process's threads.
fn threads(pid: i64) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/task"))
        .unwrap()
        .count()
}

/// Whether the server has read all that `client` sent it: the receive queue of the server's
/// end of the connection (in /proc/net/tcp, found by the two ports) is empty. On loopback the
/// bytes are in that queue once the client's write has returned.
fn read_by_the_server(client: &TcpStream) -> bool {
    let (ours, theirs) = (client.local_addr().unwrap(), client.peer_addr().unwrap());
    let local = format!("0100007F:{:04X}", theirs.port());
    let remote = format!("0100007F:{:04X}", ours.port());
    let table = std::fs::read_to_string("/proc/net/tcp").unwrap();
    let queue = table
        .lines()
        .map(|l| l.split_whitespace().collect::<Vec<_>>())
        .find(|f| f.len() > 4 && f[1] == local && f[2] == remote)
        .map(|f| f[4].to_owned())
        .unwrap_or_else(|| panic!("the server's end of {ours} -> {theirs}"));
    let rx = queue.split(':').nth(1).unwrap();
    u64::from_str_radix(rx, 16).unwrap() == 0
}

/// A read of a run's processes runs on a task of its own, so that it ends (and is shared)
/// when the request that began it leaves; such reads are bounded by `--max-connections` as
/// requests are. Clients ask for 24 different runs of a board held by a writer's lock, each
/// hanging up once the shim has read its request: at most `--max-connections` reads are ever
/// under way (each on a reader thread of its own, waiting for the board: counted in
/// /proc/<pid>/task); a client that stays waits for a place; the other reader threads stay
/// free (another request is answered at once); and once the lock is released the client that
/// stayed and every run are answered. `--max-connections 2` is below
/// the 4 reader threads of the one-run routes, so a read past the bound would show as a third
/// thread. Before the bound each orphaned read took a fresh budget: the clients' reads took
/// all 4 threads and queued the rest behind them, and the other request waited with them.
#[test]
fn clients_hanging_up_cannot_queue_run_reads_past_the_connection_cap() {
    const CAP: usize = 2;
    let board = Board::new("bounds-orphans");
    let w = board.writer();
    // A rollback journal: the writer's exclusive lock keeps readers out (WAL would let them in).
    w.pragma_update(None, "journal_mode", "delete").unwrap();
    let mut runs: Vec<i64> = (0..25)
        .map(|i| insert_run(&w, &RunSpec::new(&format!("t_{i:02}"))))
        .collect();
    // Asked by a client that stays, after the 24 that hang up.
    let last = runs.pop().unwrap();
    // A budget far longer than the test: no read ends before the lock is released.
    let server = Server::start_with(
        Command::new(shim_bin()),
        &board.path,
        &[
            "--quiet",
            "--max-connections",
            &CAP.to_string(),
            "--busy-timeout",
            "600",
            // A rollback journal's lock is waited for as long as the budget (not 0.5 s).
            "--lock-wait",
            "600",
            "--history",
            "0",
        ],
    );
    let pid = server.pid();
    // Nothing read yet: no reader thread has been started, and none will end while the lock
    // is held, so each thread beyond these is a read under way.
    let idle = threads(pid);
    w.execute_batch("BEGIN EXCLUSIVE").unwrap();
    for run in &runs {
        let mut client = connect(&server.addr);
        let request = format!(
            "GET /runs/{run}/inspect HTTP/1.1\r\nHost: {}\r\n\r\n",
            server.addr
        );
        client.write_all(request.as_bytes()).unwrap();
        // Hang up once the shim has the request (it may begin the read), not before.
        while !read_by_the_server(&client) {
            std::thread::yield_now();
        }
        drop(client);
        let reading = threads(pid) - idle;
        assert!(reading <= CAP, "{reading} reads under way after run {run}");
    }
    // Every client's connection but the last has ended (only CAP are served at once), so the
    // reads their requests began have begun; the first ones hold the CAP places until the
    // lock is released. Wait for them to reach their threads.
    while threads(pid) - idle < CAP {
        std::thread::yield_now();
    }
    assert_eq!(threads(pid) - idle, CAP, "reads under way");
    // A client that stays waits for a place (its budget is 600 s): its read does not begin.
    let mut staying = connect(&server.addr);
    let request = format!(
        "GET /runs/{last}/inspect HTTP/1.1\r\nHost: {}\r\n\r\n",
        server.addr
    );
    staying.write_all(request.as_bytes()).unwrap();
    while !read_by_the_server(&staying) {
        std::thread::yield_now();
    }
    assert_eq!(threads(pid) - idle, CAP, "reads under way");
    // The other reader threads are free: a request that needs no lock is answered at once.
    let other = server.get("/runs/1?board=nope");
    assert_eq!(other.status, 404, "{}", other.detail());
    // Released: the reads under way end, the client that stayed gets its run, and every run
    // is answered again.
    w.execute_batch("ROLLBACK").unwrap();
    let answer = read_one_response(&mut staying);
    assert_eq!(answer.status, 200, "{:?}", answer.json());
    assert_eq!(answer.json()["run_id"], last);
    for run in &runs {
        let (status, body) = server.get_json(&format!("/runs/{run}/inspect"));
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["run_id"], *run, "{body}");
    }
    assert_eq!(server.get("/workers/active").status, 200);
}
