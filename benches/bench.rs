#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! Benchmarks (not tests): `cargo bench --bench bench -- <command>`; `benches/run.sh` runs them
//! all. Every figure is reported with its baseline measured in the same run.
//!
//! Commands:
//!   micro [PYTHON]              proc_stats per call vs the procfs floor (and psutil, if a
//!                               Python with psutil is given); active_workers vs board size;
//!                               cost vs number of live workers
//!   lingering [PROCESSES [LINGERING]]
//!                               lingering_workers on a host with PROCESSES processes of the
//!                               board owner's (2000), LINGERING of them left behind by ended
//!                               runs (200), against a floor that reads the same /proc files
//!   board PATH RUNS LIVE        write a board with RUNS runs and LIVE live `sleep` workers
//!                               (left running; their pids are the open runs' worker_pid)
//!   machine SECONDS             what this machine gives a process: how late a thread that
//!                               sleeps 1 ms wakes, and how much of the wall time a busy
//!                               thread on each core does not run (the floor under any p99)
//!   live5000 [N]                `live_workers` and `/metrics` with N live `sleep` workers
//!                               (5000) against the bare /proc reads they do (with and
//!                               without the scan of the owner's processes), then one
//!                               `?live=1` and one `/metrics` through the release shim and
//!                               its peak RSS (issue 21). KW_PROFILE=live|metrics|floor:
//!                               only that, 10 times, for a profiler (benches/perf_live.sh)
//!   inspect [SO...]             `/runs/{id}/inspect` of a live worker (issue 29): the route's
//!                               handler on a connection set up as the shim's pool sets it up,
//!                               its query through each loadable extension SO given (say the
//!                               build before a change and after it, loaded side by side),
//!                               its parts, against the bare /proc reads it needs.
//!                               KW_PROFILE=inspect: only the handler, 10 s, for a profiler
//!   paced ADDR PATH CONNS MS SECONDS
//!                               CONNS kept-alive connections, each sending GET PATH every MS
//!                               ms (a dashboard's pace, not saturation): latency p50/p99/max;
//!                               SECONDS 0: until standard input is closed

use std::fs::File;
use std::io::Read;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use rusqlite::{Connection, OpenFlags, params};

const SCHEMA: &str = include_str!("../sql/kanban_schema.sql");

fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| a != "--bench")
        .collect();
    match args.first().map(String::as_str) {
        Some("micro") => micro(args.get(1).map(PathBuf::from)),
        Some("liveness") => liveness(),
        Some("lingering") => lingering(
            args.get(1).map_or(2000, |n| n.parse().expect("PROCESSES")),
            args.get(2).map_or(200, |n| n.parse().expect("LINGERING")),
        ),
        Some("board") => {
            let path = PathBuf::from(&args[1]);
            let runs: usize = args[2].parse().expect("RUNS");
            let live: usize = args[3].parse().expect("LIVE");
            let _ = std::fs::remove_file(&path);
            let workers = make_board(&path, runs, live, true);
            // Detached workers: leave them running for the HTTP benchmarks.
            for w in workers {
                std::mem::forget(w);
            }
            println!("{}", path.display());
        }
        Some("live5000") => live_many(args.get(1).map_or(5000, |n| n.parse().expect("N"))),
        Some("inspect") => inspect(&args[1..]),
        Some("machine") => machine(args[1].parse().expect("SECONDS")),
        Some("paced") => paced(
            &args[1],
            &args[2],
            args[3].parse().expect("CONNS"),
            args[4].parse().expect("MS"),
            args[5].parse().expect("SECONDS"),
        ),
        _ => eprintln!(
            "usage: bench micro [PYTHON] | board PATH RUNS LIVE | live5000 [N] | inspect [SO...] | machine SECONDS | paced ADDR PATH CONNS MS SECONDS"
        ),
    }
}

/// Spawn a `sleep` worker. `detached`: in its own session, so it outlives the bench process.
fn spawn_sleep(detached: bool) -> Child {
    let mut cmd = Command::new("sleep");
    cmd.arg("3601").stdin(Stdio::null());
    if detached {
        // SAFETY: setsid is async-signal-safe.
        unsafe {
            cmd.pre_exec(|| {
                libc::setsid();
                Ok(())
            });
        }
    }
    cmd.spawn().expect("spawn sleep")
}

/// A board with `runs` runs in all: `live` open runs of running tasks with live workers, the
/// rest history (ended runs of done tasks, four runs a task). Claims are this host's.
fn make_board(path: &Path, runs: usize, live: usize, detached: bool) -> Vec<Child> {
    make_board_with_retries(path, runs, live, 0, detached)
}

/// As [`make_board`], each running task also carrying `earlier` ended runs (retries): history
/// on running tasks, which a join starting from tasks would read for every worker.
fn make_board_with_retries(
    path: &Path,
    runs: usize,
    live: usize,
    earlier: usize,
    detached: bool,
) -> Vec<Child> {
    let lock = format!("{}:1", kanban_workers::proc::info::hostname());
    let workers: Vec<Child> = (0..live).map(|_| spawn_sleep(detached)).collect();
    let mut conn = Connection::open(path).expect("create board");
    conn.pragma_update(None, "journal_mode", "wal").unwrap();
    conn.pragma_update(None, "synchronous", "off").unwrap();
    conn.execute_batch(SCHEMA).unwrap();
    let now = 1_790_000_000i64;
    let tx = conn.transaction().unwrap();
    {
        let mut task = tx
            .prepare("INSERT INTO tasks (id, title, assignee, status, created_at, worker_pid) VALUES (?1, ?2, 'agent', ?3, ?4, ?5)")
            .unwrap();
        let mut run = tx
            .prepare(
                "INSERT INTO task_runs (task_id, profile, status, claim_lock, claim_expires, worker_pid, max_runtime_seconds,
                                        last_heartbeat_at, started_at, ended_at, outcome, metadata)
                 VALUES (?1, 'default', ?2, ?7, ?3 + 900, ?4, 3600, ?3, ?3, ?5, ?6, '{\"n\": 1}')",
            )
            .unwrap();
        let history = runs.saturating_sub(live);
        for i in 0..history {
            if i % 4 == 0 {
                task.execute(params![
                    format!("t_h{}", i / 4),
                    format!("historical task {i}"),
                    "done",
                    now - 1_000_000,
                    Option::<i64>::None
                ])
                .unwrap();
            }
            let started = now - 1_000_000 + i as i64;
            run.execute(params![
                format!("t_h{}", i / 4),
                "done",
                started,
                10_000 + (i % 20_000) as i64,
                started + 60,
                "completed",
                lock
            ])
            .unwrap();
        }
        for (i, w) in workers.iter().enumerate() {
            let pid = i64::from(w.id());
            task.execute(params![
                format!("t_live{i}"),
                format!("live task {i}"),
                "running",
                now,
                pid
            ])
            .unwrap();
            for k in 0..earlier {
                let started = now - 100_000 + k as i64;
                run.execute(params![
                    format!("t_live{i}"),
                    "crashed",
                    started,
                    10_000 + k as i64,
                    started + 30,
                    "crashed",
                    lock
                ])
                .unwrap();
            }
            // Claimed as its worker started: the spawn window verifies it (no fingerprint).
            let claimed = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(now, |d| d.as_secs() as i64);
            run.execute(params![
                format!("t_live{i}"),
                "running",
                claimed,
                pid,
                Option::<i64>::None,
                Option::<&str>::None,
                lock
            ])
            .unwrap();
        }
    }
    tx.commit().unwrap();
    conn.pragma_update(None, "synchronous", "full").unwrap();
    workers
}

/// Median of `rounds` rounds of `f` called `n` times: µs per call.
fn per_call_us(rounds: usize, n: usize, mut f: impl FnMut()) -> f64 {
    let mut samples: Vec<f64> = (0..rounds)
        .map(|_| {
            let t = Instant::now();
            for _ in 0..n {
                f();
            }
            t.elapsed().as_secs_f64() * 1e6 / n as f64
        })
        .collect();
    samples.sort_by(|a, b| a.total_cmp(b));
    samples[samples.len() / 2]
}

/// The floor: read the same /proc files proc_stats reads, into reused buffers, nothing else.
struct Floor {
    stat: PathBuf,
    statm: PathBuf,
    cmdline: PathBuf,
    fd: PathBuf,
    dir: PathBuf,
    buf: Vec<u8>,
}

impl Floor {
    fn new(pid: u32) -> Floor {
        let dir = PathBuf::from(format!("/proc/{pid}"));
        Floor {
            stat: dir.join("stat"),
            statm: dir.join("statm"),
            cmdline: dir.join("cmdline"),
            fd: dir.join("fd"),
            dir,
            buf: Vec::with_capacity(4096),
        }
    }
    fn read(&mut self) -> usize {
        let mut total = 0;
        for p in [&self.statm, &self.cmdline, &self.stat] {
            self.buf.clear();
            total += File::open(p)
                .and_then(|mut f| f.read_to_end(&mut self.buf))
                .unwrap_or(0);
        }
        // As proc_stats counts descriptors: the kernel's access check, then the size of fd/.
        let fds = rustix::fs::accessat(
            rustix::fs::CWD,
            &self.fd,
            rustix::fs::Access::READ_OK,
            rustix::fs::AtFlags::EACCESS,
        );
        if fds.is_ok() {
            total += std::fs::metadata(&self.fd).map_or(0, |m| m.len() as usize);
        }
        total += std::fs::metadata(&self.dir)
            .map(|m| m.len() as usize)
            .unwrap_or(0);
        total
    }
}

fn ext_conn(path: &Path) -> Connection {
    let conn = Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_ONLY).expect("open");
    kanban_workers::register(&conn).expect("register");
    conn
}

fn query_all(conn: &Connection, sql: &str, arg: Option<i64>) -> usize {
    let mut stmt = conn.prepare_cached(sql).unwrap();
    let cols = stmt.column_count();
    // The argument is ?1; any further parameter (route_inspect.sql's log trailer) is NULL.
    if let Some(a) = arg {
        stmt.raw_bind_parameter(1, a).unwrap();
    }
    let mut rows = stmt.raw_query();
    let mut n = 0;
    while let Some(row) = rows.next().unwrap() {
        for i in 0..cols {
            let _ = row.get_ref(i).unwrap();
        }
        n += 1;
    }
    n
}

const REFERENCE_JOIN: &str = "SELECT r.id AS run_id, r.task_id, t.title AS task_title, t.status AS task_status,
    t.assignee AS task_assignee, r.profile, r.worker_pid, r.started_at, r.claim_lock, r.claim_expires,
    r.last_heartbeat_at, r.max_runtime_seconds
  FROM task_runs r JOIN tasks t ON t.id = r.task_id
  WHERE r.ended_at IS NULL AND r.worker_pid IS NOT NULL AND t.status = 'running'
  ORDER BY r.started_at";
const VIEW: &str = "SELECT * FROM active_workers";
const VIEW_WITH_STATS: &str = "SELECT * FROM active_workers w LEFT JOIN proc_stats(w.worker_pid) p";
const LIVE: &str = "SELECT * FROM live_workers";
const LIVE_ALIVE: &str = "SELECT * FROM live_workers WHERE alive = 1";

fn micro(python: Option<PathBuf>) {
    let dir = std::env::temp_dir().join(format!("kanban-workers-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();

    // 1. proc_stats per call for one pid.
    let mut worker = spawn_sleep(false);
    let pid = worker.id();
    let mem = Connection::open_in_memory().unwrap();
    kanban_workers::register(&mem).unwrap();
    let mut floor = Floor::new(pid);
    let (rounds, n) = (60, 1000);
    let sql_all = "SELECT * FROM proc_stats(?1)";
    let sql_alive = "SELECT pid, alive, reason, state, cpu_percent FROM proc_stats(?1)";
    // Each round times the four one after the other, so drift in machine load hits them alike;
    // ratios are taken within a round, then the median over rounds.
    let mut us: [Vec<f64>; 4] = Default::default();
    let mut ratios: [Vec<f64>; 4] = Default::default();
    for _ in 0..rounds {
        let round = [
            per_call_us(1, n, || {
                std::hint::black_box(floor.read());
            }),
            per_call_us(1, n, || {
                std::hint::black_box(kanban_workers::proc::info::read(pid as i32));
            }),
            per_call_us(1, n, || {
                std::hint::black_box(query_all(&mem, sql_all, Some(i64::from(pid))));
            }),
            per_call_us(1, n, || {
                std::hint::black_box(query_all(&mem, sql_alive, Some(i64::from(pid))));
            }),
        ];
        for i in 0..4 {
            us[i].push(round[i]);
            ratios[i].push(round[i] / round[0]);
        }
    }
    let m: Vec<(f64, f64)> = (0..4)
        .map(|i| (median(&mut us[i]), median(&mut ratios[i])))
        .collect();
    let floor_m = m[0].0;
    println!(
        "## 1. proc_stats, one pid, per call (medians of {rounds} rounds of {n} calls each)\n"
    );
    println!("| what | µs per call | ratio to floor (median of per-round ratios) |\n|---|---|---|");
    println!(
        "| floor: read stat, statm, cmdline; access+stat fd/; stat /proc/<pid> | {:.2} | 1.00 |",
        m[0].0
    );
    println!(
        "| library: procinfo::read (procfs crate), every file | {:.2} | {:.2} |",
        m[1].0, m[1].1
    );
    println!(
        "| SQL: `SELECT * FROM proc_stats(?)`, cached statement, all columns read | {:.2} | {:.2} |",
        m[2].0, m[2].1
    );
    println!(
        "| SQL: `SELECT pid, alive, reason, state, cpu_percent FROM proc_stats(?)` (column mask: `stat` only) | {:.2} | {:.2} |",
        m[3].0, m[3].1
    );
    if let Some(py) = &python {
        let script = format!(
            "import psutil, timeit\n\
             attrs = ['cpu_percent','memory_info','num_threads','num_fds','status','create_time','cmdline']\n\
             f = lambda: psutil.Process({pid}).as_dict(attrs=attrs)\n\
             r = sorted(min(timeit.repeat(f, number=2000, repeat=3)) / 2000 * 1e6 for _ in range(5))\n\
             print(r[2])"
        );
        match Command::new(py).args(["-c", &script]).output() {
            Ok(out) if out.status.success() => {
                let us: f64 = String::from_utf8_lossy(&out.stdout)
                    .trim()
                    .parse()
                    .unwrap_or(f64::NAN);
                println!(
                    "| psutil `Process(pid).as_dict(7 attrs)` | {us:.2} | {:.2} |",
                    us / floor_m
                );
            }
            other => println!("| psutil | not measured: {other:?} | |"),
        }
    }
    let _ = worker.kill();
    let _ = worker.wait();

    // 2. active_workers against board size, 50 live workers.
    println!("\n## 2. active_workers vs board size (50 live workers; median µs per query)\n");
    println!(
        "| runs | reference JOIN (planner's choice) | `SELECT * FROM active_workers` | ratio view/reference | route handler (query + JSON) | view + `LEFT JOIN proc_stats` | per worker |"
    );
    println!("|---|---|---|---|---|---|---|");
    for runs in [1_000usize, 10_000, 100_000, 1_000_000] {
        let path = dir.join(format!("board-{runs}.db"));
        let mut workers = make_board(&path, runs, 50, false);
        let conn = ext_conn(&path);
        assert_eq!(query_all(&conn, VIEW, None), 50);
        assert_eq!(query_all(&conn, REFERENCE_JOIN, None), 50);
        let iters = 200;
        let reference = per_call_us(7, iters, || {
            std::hint::black_box(query_all(&conn, REFERENCE_JOIN, None));
        });
        let view = per_call_us(7, iters, || {
            std::hint::black_box(query_all(&conn, VIEW, None));
        });
        let handler = per_call_us(7, iters, || {
            std::hint::black_box(kanban_workers::shim::answer::workers_active(&conn).unwrap());
        });
        let stats = per_call_us(5, 20, || {
            std::hint::black_box(query_all(&conn, VIEW_WITH_STATS, None));
        });
        println!(
            "| {runs} | {reference:.1} | {view:.1} | {:.2} | {handler:.1} | {stats:.0} | {:.1} |",
            view / reference,
            stats / 50.0
        );
        for w in &mut workers {
            let _ = w.kill();
            let _ = w.wait();
        }
        drop(conn);
        let _ = std::fs::remove_file(&path);
    }

    // 5. Cost against the number of live workers, on a 100k-run board.
    println!(
        "\n## 5. active_workers + proc_stats vs live workers (100k runs; median µs per query)\n"
    );
    println!("| live workers | view alone | view + proc_stats | per worker |\n|---|---|---|---|");
    for live in [1usize, 10, 50, 200] {
        let path = dir.join(format!("board-live-{live}.db"));
        let mut workers = make_board(&path, 100_000, live, false);
        let conn = ext_conn(&path);
        let view = per_call_us(7, 100, || {
            std::hint::black_box(query_all(&conn, VIEW, None));
        });
        let stats = per_call_us(5, 10, || {
            std::hint::black_box(query_all(&conn, VIEW_WITH_STATS, None));
        });
        println!(
            "| {live} | {view:.1} | {stats:.0} | {:.1} |",
            stats / live as f64
        );
        for w in &mut workers {
            let _ = w.kill();
            let _ = w.wait();
        }
        drop(conn);
        let _ = std::fs::remove_file(&path);
    }
    liveness();
    let _ = std::fs::remove_dir_all(&dir);
}

/// Sections 2b, 6, 7: truthful liveness (`bench liveness` runs them alone).
fn liveness() {
    let dir = std::env::temp_dir().join(format!("kanban-workers-live-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    // 2b. History on running tasks: each of 50 running tasks carries earlier (crashed) runs.
    println!(
        "\n## 2b. active_workers and live_workers as history grows on running tasks (50 live workers; median µs per query)\n"
    );
    println!(
        "| earlier runs on each running task | reference JOIN | `active_workers` | ratio view/reference | `live_workers` (verdicts, stats, trees) |\n|---|---|---|---|---|"
    );
    for earlier in [0usize, 10, 1000] {
        let path = dir.join(format!("board-retries-{earlier}.db"));
        let mut workers = make_board_with_retries(&path, 100_000, 50, earlier, false);
        let conn = ext_conn(&path);
        assert_eq!(query_all(&conn, VIEW, None), 50);
        assert_eq!(query_all(&conn, REFERENCE_JOIN, None), 50);
        assert_eq!(
            query_all(&conn, LIVE_ALIVE, None),
            50,
            "every live worker verified"
        );
        let reference = per_call_us(7, 50, || {
            std::hint::black_box(query_all(&conn, REFERENCE_JOIN, None));
        });
        let view = per_call_us(7, 50, || {
            std::hint::black_box(query_all(&conn, VIEW, None));
        });
        let live = per_call_us(5, 10, || {
            std::hint::black_box(query_all(&conn, LIVE, None));
        });
        println!(
            "| {earlier} | {reference:.1} | {view:.1} | {:.2} | {live:.0} |",
            view / reference
        );
        for w in &mut workers {
            let _ = w.kill();
            let _ = w.wait();
        }
        drop(conn);
        let _ = std::fs::remove_file(&path);
    }

    // 6. live_workers (what ?live=1 answers) against its floor, 50 workers.
    {
        let path = dir.join("board-live-floor.db");
        let mut workers = make_board(&path, 100_000, 50, false);
        let conn = ext_conn(&path);
        let pids: Vec<u32> = workers.iter().map(Child::id).collect();
        let mut floors: Vec<Floor> = pids.iter().map(|p| Floor::new(*p)).collect();
        let mut buf = Vec::with_capacity(256);
        let mut bare = |floors: &mut Vec<Floor>| {
            let mut total = query_all(&conn, VIEW, None);
            for (f, pid) in floors.iter_mut().zip(&pids) {
                total += f.read();
                // The tree: the task list and each thread's children.
                total += read_children(*pid, &mut buf);
            }
            total
        };
        let (rounds, n) = (21, 5);
        let mut ratios = Vec::new();
        let mut floor_us = Vec::new();
        let mut live_us = Vec::new();
        for _ in 0..rounds {
            let f = per_call_us(1, n, || {
                std::hint::black_box(bare(&mut floors));
            });
            let l = per_call_us(1, n, || {
                std::hint::black_box(query_all(&conn, LIVE, None));
            });
            floor_us.push(f);
            live_us.push(l);
            ratios.push(l / f);
        }
        println!("\n## 6. live_workers, 50 workers (median of {rounds} rounds of {n} queries)\n");
        println!(
            "| what | µs per query | ratio to floor (median of per-round ratios) |\n|---|---|---|"
        );
        println!(
            "| floor: `active_workers` + a bare read of each worker's stat, statm, cmdline, fd/ (access, stat), /proc/<pid> (stat) and children lists | {:.0} | 1.00 |",
            median(&mut floor_us)
        );
        println!(
            "| `SELECT * FROM live_workers` | {:.0} | {:.2} |",
            median(&mut live_us),
            median(&mut ratios)
        );
        let scrape = per_call_us(7, 5, || {
            std::hint::black_box(kanban_workers::shim::answer::metrics::metrics(&conn).unwrap());
        });
        println!("| a `/metrics` scrape (the query and the exposition text) | {scrape:.0} | |");
        for w in &mut workers {
            let _ = w.kill();
            let _ = w.wait();
        }
        drop(conn);
        let _ = std::fs::remove_file(&path);
    }

    // 7. proc_tree on a 200-process tree against a bare read of the same files.
    {
        let mut shell = Command::new("sh")
            .args([
                "-c",
                "i=0; while [ $i -lt 199 ]; do sleep 3600 & i=$((i+1)); done; wait",
            ])
            .stdin(Stdio::null())
            .spawn()
            .expect("spawn the tree");
        let root = shell.id() as i32;
        while kanban_workers::proc::tree::members(root).len() < 200 {
            std::thread::yield_now();
        }
        let members: Vec<i32> = kanban_workers::proc::tree::members(root)
            .iter()
            .map(|m| m.pid)
            .collect();
        let mem = Connection::open_in_memory().unwrap();
        kanban_workers::register(&mem).unwrap();
        let sql = "SELECT count(*), sum(rss_bytes), sum(cpu_percent) FROM proc_tree(?1)";
        let mut buf = Vec::with_capacity(4096);
        let mut bare = || {
            let mut total = 0;
            for pid in &members {
                total += read_children(*pid, &mut buf);
                for file in ["stat", "statm"] {
                    buf.clear();
                    total += File::open(format!("/proc/{pid}/{file}"))
                        .and_then(|mut c| c.read_to_end(&mut buf))
                        .unwrap_or(0);
                }
            }
            total
        };
        let (rounds, n) = (21, 5);
        let (mut f_us, mut t_us, mut ratios) = (Vec::new(), Vec::new(), Vec::new());
        for _ in 0..rounds {
            let f = per_call_us(1, n, || {
                std::hint::black_box(bare());
            });
            let t = per_call_us(1, n, || {
                std::hint::black_box(query_all(&mem, sql, Some(i64::from(root))));
            });
            f_us.push(f);
            t_us.push(t);
            ratios.push(t / f);
        }
        println!(
            "\n## 7. proc_tree, a 200-process tree (median of {rounds} rounds of {n} calls)\n"
        );
        println!(
            "| what | µs per call | ratio to floor (median of per-round ratios) |\n|---|---|---|"
        );
        println!(
            "| floor: each member's task list, children lists, stat and statm | {:.0} | 1.00 |",
            median(&mut f_us)
        );
        println!(
            "| `SELECT count(*), sum(rss_bytes), sum(cpu_percent) FROM proc_tree(?)` | {:.0} | {:.2} |",
            median(&mut t_us),
            median(&mut ratios)
        );
        let _ = Command::new("pkill")
            .args(["-P", &root.to_string()])
            .status();
        let _ = shell.kill();
        let _ = shell.wait();
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// The floor's reading of a process's children: its task list, and each thread's children
/// list (what `tree::members` reads), into `buf`; bytes read.
fn read_children(pid: impl std::fmt::Display, buf: &mut Vec<u8>) -> usize {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return 0;
    };
    let mut total = 0;
    for t in tasks.flatten() {
        buf.clear();
        total += File::open(t.path().join("children"))
            .and_then(|mut c| c.read_to_end(buf))
            .unwrap_or(0);
    }
    total
}

/// The median of `v` (sorted in place).
fn median(v: &mut [f64]) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

/// The value at quantile `q` of sorted `v` (ms), or 0 for none.
fn quantile_ms(v: &[f64], q: f64) -> f64 {
    if v.is_empty() {
        return 0.0;
    }
    v[((v.len() - 1) as f64 * q).round() as usize] * 1e3
}

fn machine(seconds: f64) {
    // 1. A thread that sleeps 1 ms at a time on an otherwise idle machine: how late it wakes.
    let mut late: Vec<f64> = Vec::new();
    let until = Instant::now() + std::time::Duration::from_secs_f64(seconds / 2.0);
    while Instant::now() < until {
        let t = Instant::now();
        std::thread::sleep(std::time::Duration::from_millis(1));
        late.push(t.elapsed().as_secs_f64() - 1e-3);
    }
    late.sort_by(|a, b| a.total_cmp(b));
    // 2. One busy thread per core: the share of wall time each spends not running (gaps over
    // 1 ms between two clock reads), and the longest gap.
    let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
    let busy: Vec<(f64, f64)> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..cores)
            .map(|_| {
                s.spawn(move || {
                    let start = Instant::now();
                    let (mut prev, mut lost, mut longest) = (start, 0.0f64, 0.0f64);
                    while prev.duration_since(start).as_secs_f64() < seconds / 2.0 {
                        let now = Instant::now();
                        let gap = now.duration_since(prev).as_secs_f64();
                        if gap > 1e-3 {
                            lost += gap;
                            longest = longest.max(gap);
                        }
                        prev = now;
                    }
                    (lost / prev.duration_since(start).as_secs_f64(), longest)
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let lost = busy.iter().map(|b| b.0).sum::<f64>() / busy.len() as f64;
    let longest = busy.iter().map(|b| b.1).fold(0.0, f64::max);
    println!("## 0. The machine under everything else: what a process gets of its CPUs");
    println!();
    println!("| probe | result |");
    println!("|---|---|");
    println!(
        "| a thread sleeping 1 ms, woken {} times ({:.0} s) | late by p50 {:.3} ms, p99 {:.3} ms, max {:.1} ms |",
        late.len(),
        seconds / 2.0,
        quantile_ms(&late, 0.5),
        quantile_ms(&late, 0.99),
        quantile_ms(&late, 1.0),
    );
    println!(
        "| a busy thread on each of {cores} cores ({:.0} s) | {:.1}% of the wall time not running; longest gap {:.1} ms |",
        seconds / 2.0,
        lost * 100.0,
        longest * 1e3,
    );
}

/// Set when `paced`'s standard input closes (with SECONDS 0).
static STOP: AtomicBool = AtomicBool::new(false);

/// `conns` kept-alive connections, each sending `GET path` every `interval_ms` (skipping the
/// slots it is late for); prints one markdown row: requests, non-200, latency p50/p99/max.
fn paced(addr: &str, path: &str, conns: usize, interval_ms: u64, seconds: f64) {
    use std::io::{BufRead, BufReader, Write};
    use std::net::TcpStream;
    use std::time::Duration;
    let interval = Duration::from_millis(interval_ms);
    let run = if seconds > 0.0 {
        Duration::from_secs_f64(seconds)
    } else {
        Duration::MAX
    };
    if seconds <= 0.0 {
        std::thread::spawn(|| {
            let _ = std::io::copy(&mut std::io::stdin(), &mut std::io::sink());
            STOP.store(true, Ordering::Relaxed);
        });
    }
    let results: Vec<(Vec<f64>, usize)> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..conns)
            .map(|_| {
                s.spawn(move || {
                    let stream = TcpStream::connect(addr).expect("connect");
                    stream.set_nodelay(true).expect("nodelay");
                    let mut writer = stream.try_clone().expect("clone");
                    let mut reader = BufReader::new(stream);
                    let request = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\n\r\n");
                    let (mut times, mut bad) = (Vec::new(), 0usize);
                    let start = Instant::now();
                    let mut next = start;
                    while next.duration_since(start) < run && !STOP.load(Ordering::Relaxed) {
                        if let Some(wait) = next.checked_duration_since(Instant::now()) {
                            std::thread::sleep(wait);
                        }
                        let t = Instant::now();
                        writer.write_all(request.as_bytes()).expect("send");
                        let (mut line, mut length, mut status) = (String::new(), 0usize, 0u16);
                        loop {
                            line.clear();
                            reader.read_line(&mut line).expect("read head");
                            let l = line.trim_end();
                            if l.is_empty() {
                                break;
                            }
                            if let Some(code) = l.strip_prefix("HTTP/1.1 ") {
                                status = code[..3].parse().unwrap_or(0);
                            } else if let Some((k, v)) = l.split_once(':') {
                                if k.eq_ignore_ascii_case("content-length") {
                                    length = v.trim().parse().expect("content-length");
                                }
                            }
                        }
                        let mut body = vec![0; length];
                        std::io::Read::read_exact(&mut reader, &mut body).expect("read body");
                        times.push(t.elapsed().as_secs_f64());
                        bad += usize::from(status != 200);
                        // The next slot after now: a late answer skips slots, it does not queue.
                        next += interval;
                        while next < Instant::now() {
                            next += interval;
                        }
                    }
                    (times, bad)
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let bad: usize = results.iter().map(|r| r.1).sum();
    let mut all: Vec<f64> = results.into_iter().flat_map(|r| r.0).collect();
    all.sort_by(|a, b| a.total_cmp(b));
    println!(
        "| {path} | {} | {bad} | {:.3} | {:.3} | {:.1} |",
        all.len(),
        quantile_ms(&all, 0.5),
        quantile_ms(&all, 0.99),
        quantile_ms(&all, 1.0),
    );
}

/// The floor of `lingering_workers`: one pass over /proc reading exactly what the view reads,
/// into a reused buffer, and nothing else: the owner of each /proc/<pid>; of `uid`'s
/// processes `environ` and the `fd/1` link; of those that carry HERMES_KANBAN_* (or a log
/// file on stdout), `stat`, `statm`, `cmdline` (proc_stats), `status` (proc_marks' uid). Its
/// count of marked processes.
fn lingering_floor(uid: u32, buf: &mut Vec<u8>) -> usize {
    use std::os::unix::fs::MetadataExt;
    let mut marked = 0;
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let name = entry.file_name();
        let Some(pid) = name
            .to_str()
            .filter(|n| n.bytes().all(|b| b.is_ascii_digit()))
        else {
            continue;
        };
        let dir = PathBuf::from("/proc").join(pid);
        if std::fs::metadata(&dir).map(|m| m.uid()).ok() != Some(uid) {
            continue;
        }
        buf.clear();
        let _ = File::open(dir.join("environ")).and_then(|mut f| f.read_to_end(buf));
        let env = buf.windows(16).any(|w| w == b"HERMES_KANBAN_DB");
        let log = std::fs::read_link(dir.join("fd/1"))
            .map(|p| p.to_string_lossy().ends_with(".log"))
            .unwrap_or(false);
        if !env && !log {
            continue;
        }
        marked += 1;
        for file in ["stat", "statm", "cmdline", "status"] {
            buf.clear();
            let _ = File::open(dir.join(file)).and_then(|mut f| f.read_to_end(buf));
        }
    }
    marked
}

/// `lingering_workers` with `total` processes of the board owner's on the host (plain `sleep`s
/// beside the machine's own), `lingering` of them workers of ended runs (their environment
/// names their run and the board, their stdout the task's log), against the floor.
fn lingering(total: usize, lingering: usize) {
    use std::os::unix::fs::MetadataExt;
    let dir = std::env::temp_dir().join(format!("kanban-workers-linger-{}", std::process::id()));
    let logs = dir.join("logs");
    std::fs::create_dir_all(&logs).unwrap();
    let path = dir.join("kanban.db");
    let _ = std::fs::remove_file(&path);
    let conn = Connection::open(&path).unwrap();
    conn.execute_batch(include_str!("../sql/kanban_schema.sql"))
        .unwrap();
    let uid = std::fs::metadata(&path).unwrap().uid();
    let already = procfs::process::all_processes()
        .map(|all| all.flatten().filter(|p| p.uid().ok() == Some(uid)).count())
        .unwrap_or(0);
    let mut children = Vec::new();
    for i in 0..lingering {
        let task = format!("t_{i}");
        conn.execute(
            "INSERT INTO tasks (id, title, status, created_at) VALUES (?1, 'left', 'done', 1)",
            [&task],
        )
        .unwrap();
        conn.execute(
            "INSERT INTO task_runs (task_id, status, started_at, ended_at, outcome)
             VALUES (?1, 'done', 1, 2, 'completed')",
            [&task],
        )
        .unwrap();
        let run = conn.last_insert_rowid();
        let log = File::create(logs.join(format!("{task}.log"))).unwrap();
        children.push(
            Command::new("sleep")
                .arg("1000")
                .env("HERMES_KANBAN_RUN_ID", run.to_string())
                .env("HERMES_KANBAN_TASK", &task)
                .env("HERMES_KANBAN_DB", &path)
                .stdout(log)
                .spawn()
                .unwrap(),
        );
    }
    let others = total.saturating_sub(lingering + already);
    for _ in 0..others {
        children.push(
            Command::new("sleep")
                .arg("1000")
                .stdin(Stdio::null())
                .spawn()
                .unwrap(),
        );
    }
    // Every child has exec'd (its environment in place) before anything is measured.
    for c in &children {
        while std::fs::read(format!("/proc/{}/cmdline", c.id())).unwrap_or_default()
            != b"sleep\x001000\x00"
        {
            std::thread::yield_now();
        }
    }
    let mine = procfs::process::all_processes()
        .map(|all| all.flatten().filter(|p| p.uid().ok() == Some(uid)).count())
        .unwrap_or(0);
    let view = ext_conn(&path);
    let sql = "SELECT * FROM lingering_workers";
    assert_eq!(query_all(&view, sql, None), lingering);
    let mut buf = Vec::with_capacity(64 * 1024);
    assert!(lingering_floor(uid, &mut buf) >= lingering);
    // Per-round ratios, rounds interleaved (the machine's noise hits both alike).
    let mut ratios = Vec::new();
    let (mut views, mut floors) = (Vec::new(), Vec::new());
    for _ in 0..15 {
        let v = per_call_us(1, 5, || {
            std::hint::black_box(query_all(&view, sql, None));
        });
        let f = per_call_us(1, 5, || {
            std::hint::black_box(lingering_floor(uid, &mut buf));
        });
        ratios.push(v / f);
        views.push(v);
        floors.push(f);
    }
    let active = per_call_us(5, 50, || {
        std::hint::black_box(query_all(&view, VIEW, None));
    });
    println!(
        "\n## lingering_workers: {mine} processes of the board owner's (uid {uid}), {lingering} lingering\n"
    );
    println!("| | median ms per query |\n|---|---|");
    println!(
        "| `lingering_workers` | {:.2} |",
        median(&mut views) / 1000.0
    );
    println!(
        "| floor (the same /proc files, hand-read) | {:.2} |",
        median(&mut floors) / 1000.0
    );
    println!(
        "| ratio view / floor (median of 15 per-round ratios) | {:.2}x |",
        median(&mut ratios)
    );
    println!(
        "| `active_workers` alone (reads no /proc) | {:.3} |",
        active / 1000.0
    );
    for mut c in children {
        let _ = c.kill();
        let _ = c.wait();
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// Live `sleep` workers, killed and reaped when dropped (on a panic too); each also dies with
/// the bench process however it ends (`PR_SET_PDEATHSIG`), so none outlives a failed run.
struct Doomed(Vec<Child>);

impl Drop for Doomed {
    fn drop(&mut self) {
        for c in &mut self.0 {
            let _ = c.kill();
        }
        for c in &mut self.0 {
            let _ = c.wait();
        }
    }
}

/// `program args`, quiet, killed with the bench process (see [`Doomed`]).
fn spawn_doomed(program: &str, args: &[&str]) -> Child {
    let mut cmd = Command::new(program);
    cmd.args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    // SAFETY: prctl is async-signal-safe.
    unsafe {
        cmd.pre_exec(|| {
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
            Ok(())
        });
    }
    cmd.spawn()
        .unwrap_or_else(|e| panic!("spawn {program}: {e}"))
}

/// The soft limits on processes and open files raised to the hard ones.
fn raise_limits() {
    for resource in [libc::RLIMIT_NPROC, libc::RLIMIT_NOFILE] {
        let mut l = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        // SAFETY: plain syscalls on a local struct.
        unsafe {
            if libc::getrlimit(resource, &mut l) == 0 {
                l.rlim_cur = l.rlim_max;
                libc::setrlimit(resource, &l);
            }
        }
    }
}

/// A board of `live` open runs of running tasks, each with a live `sleep` worker (this host's
/// claim, `started_at` taken before the spawns: the spawn window verifies each worker), no
/// history. The workers die with the returned guard.
fn make_live_board(path: &Path, live: usize) -> Doomed {
    let lock = format!("{}:1", kanban_workers::proc::info::hostname());
    let claimed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let mut workers = Doomed(Vec::with_capacity(live));
    for _ in 0..live {
        workers.0.push(spawn_doomed("sleep", &["3601"]));
    }
    // Every worker has exec'd before anything reads it.
    for c in &workers.0 {
        while std::fs::read(format!("/proc/{}/cmdline", c.id())).unwrap_or_default()
            != b"sleep\x003601\x00"
        {
            std::thread::yield_now();
        }
    }
    let _ = std::fs::remove_file(path);
    let mut conn = Connection::open(path).expect("create board");
    conn.pragma_update(None, "journal_mode", "wal").unwrap();
    conn.execute_batch(SCHEMA).unwrap();
    let tx = conn.transaction().unwrap();
    {
        let mut task = tx
            .prepare("INSERT INTO tasks (id, title, assignee, status, created_at, worker_pid) VALUES (?1, ?2, 'agent', 'running', ?3, ?4)")
            .unwrap();
        let mut run = tx
            .prepare(
                "INSERT INTO task_runs (task_id, profile, status, claim_lock, claim_expires, worker_pid, max_runtime_seconds,
                                        last_heartbeat_at, started_at, metadata)
                 VALUES (?1, 'default', 'running', ?2, ?3 + 900, ?4, 3600, ?3, ?3, '{\"n\": 1}')",
            )
            .unwrap();
        for (i, w) in workers.0.iter().enumerate() {
            let pid = i64::from(w.id());
            task.execute(params![
                format!("t_live{i}"),
                format!("live task {i}"),
                claimed,
                pid
            ])
            .unwrap();
            run.execute(params![format!("t_live{i}"), lock, claimed, pid])
                .unwrap();
        }
    }
    tx.commit().unwrap();
    workers
}

/// One `GET path` on a connection of its own (`Connection: close`): status, body bytes, and
/// the wall time from connect to the last byte, in seconds.
fn http_once(addr: &str, path: &str) -> (u16, usize, f64) {
    use std::io::Write;
    let t = Instant::now();
    let mut s = std::net::TcpStream::connect(addr).expect("connect");
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .expect("send");
    let mut all = Vec::new();
    s.read_to_end(&mut all).expect("read");
    let secs = t.elapsed().as_secs_f64();
    let head = all
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map_or(all.len(), |p| p + 4);
    let status = std::str::from_utf8(all.get(9..12).unwrap_or_default())
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    (status, all.len() - head, secs)
}

/// A field of /proc/<pid>/status, in kB.
fn status_kb(pid: u32, key: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix(key)?.strip_prefix(':'))
        .and_then(|v| v.trim().trim_end_matches(" kB").parse().ok())
        .unwrap_or(0)
}

/// utime + stime of `pid`, in seconds.
fn cpu_secs(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let after = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let f: Vec<&str> = after.split_whitespace().collect();
    // After the comm: field 3 is f[0], so utime (14) is f[11], stime (15) f[12].
    let ticks: f64 = f.get(11).and_then(|v| v.parse().ok()).unwrap_or(0.0)
        + f.get(12).and_then(|v| v.parse().ok()).unwrap_or(0.0);
    // SAFETY: sysconf has no preconditions.
    ticks / unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64
}

/// Issue 21: `?live=1` and `/metrics` with `n` live workers against their floors (the same
/// /proc reads done bare, timed in the same run, ratios within each round), then through the
/// release shim: one of each request, their wall time and size, and the shim's peak RSS.
fn live_many(n: usize) {
    use std::os::unix::fs::MetadataExt;
    raise_limits();
    let dir = std::env::temp_dir().join(format!("kanban-workers-live{n}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("kanban.db");
    let t = Instant::now();
    let workers = make_live_board(&path, n);
    let made = t.elapsed().as_secs_f64();
    let pids: Vec<u32> = workers.0.iter().map(Child::id).collect();
    let uid = std::fs::metadata(&path).unwrap().uid();
    let owned = std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter(|e| {
            e.file_name()
                .to_str()
                .is_some_and(|n| n.bytes().all(|b| b.is_ascii_digit()))
        })
        .filter(|e| std::fs::metadata(e.path()).map(|m| m.uid()).ok() == Some(uid))
        .count();
    let conn = ext_conn(&path);
    assert_eq!(
        query_all(&conn, LIVE_ALIVE, None),
        n,
        "every live worker alive and the run's"
    );
    // For a profiler (`perf record`): KW_PROFILE=live|metrics|floor runs only that, 10 times
    // (the floor: B's reads without the query).
    if let Ok(what) = std::env::var("KW_PROFILE") {
        let mut buf = Vec::with_capacity(64 * 1024);
        let mut floors: Vec<Floor> = pids.iter().map(|p| Floor::new(*p)).collect();
        // Said on stderr, so that a profiler can be attached (`perf record -p`) from here.
        eprintln!("KW_PROFILE: the board is ready, {what} follows");
        std::thread::sleep(std::time::Duration::from_secs(1));
        let t = Instant::now();
        for _ in 0..10 {
            match what.as_str() {
                "live" => {
                    std::hint::black_box(query_all(&conn, LIVE, None));
                }
                "metrics" => {
                    std::hint::black_box(
                        kanban_workers::shim::answer::metrics::metrics(&conn).unwrap(),
                    );
                }
                _ => {
                    for (f, pid) in floors.iter_mut().zip(&pids) {
                        std::hint::black_box(f.read() + read_children(*pid, &mut buf));
                    }
                    std::hint::black_box(lingering_floor(uid, &mut buf));
                }
            }
        }
        println!(
            "KW_PROFILE={what}: {:.1} ms a call",
            t.elapsed().as_secs_f64() * 100.0
        );
        drop(conn);
        drop(workers);
        let _ = std::fs::remove_dir_all(&dir);
        return;
    }
    let mut floors: Vec<Floor> = pids.iter().map(|p| Floor::new(*p)).collect();
    let mut buf = Vec::with_capacity(64 * 1024);
    let marked = lingering_floor(uid, &mut buf);
    let time = |f: &mut dyn FnMut() -> usize| {
        let t = Instant::now();
        std::hint::black_box(f());
        t.elapsed().as_secs_f64() * 1e3
    };
    // Per round, one of each, one after the other (drift in the machine's load hits all alike).
    let rounds = 7;
    // Per round: floor A, the marks, the scan, live_workers, ?live=1's sample, /metrics.
    let mut ms: [Vec<f64>; 6] = Default::default();
    // live / A, / B, / D; route / D; metrics / C, / E.
    let mut ratio: [Vec<f64>; 6] = Default::default();
    // One warm-up round (the CPU samples' first reading, the page cache), not kept.
    for round in 0..=rounds {
        let a = time(&mut || {
            let mut total = query_all(&conn, VIEW, None);
            for (f, pid) in floors.iter_mut().zip(&pids) {
                total += f.read();
                total += read_children(*pid, &mut buf);
            }
            total
        });
        // The spawn marks run_verdicts reads of a worker without a fingerprint: its environ
        // and the fd/1 link.
        let marks = time(&mut || {
            let mut total = 0;
            for pid in &pids {
                buf.clear();
                total += File::open(format!("/proc/{pid}/environ"))
                    .and_then(|mut f| f.read_to_end(&mut buf))
                    .unwrap_or(0);
                total += std::fs::read_link(format!("/proc/{pid}/fd/1"))
                    .map(|p| p.as_os_str().len())
                    .unwrap_or(0);
            }
            total
        });
        let scan = time(&mut || lingering_floor(uid, &mut buf));
        let live = time(&mut || query_all(&conn, LIVE, None));
        let route = time(&mut || {
            let rows = kanban_workers::shim::sample::query_rows(
                &conn,
                &kanban_workers::shim::answer::WORKERS_LIVE_SQL,
            )
            .unwrap();
            kanban_workers::shim::answer::rows_json(b"workers", &rows, 0).map_or(0, |b| b.len())
        });
        let metrics = time(&mut || {
            kanban_workers::shim::answer::metrics::metrics(&conn)
                .unwrap()
                .len()
        });
        if round == 0 {
            continue;
        }
        for (v, x) in ms.iter_mut().zip([a, marks, scan, live, route, metrics]) {
            v.push(x);
        }
        let (b, c, d, e) = (
            a + scan,
            a + 2.0 * scan,
            a + marks + scan,
            a + marks + 2.0 * scan,
        );
        for (v, x) in ratio.iter_mut().zip([
            live / a,
            live / b,
            live / d,
            route / d,
            metrics / c,
            metrics / e,
        ]) {
            v.push(x);
        }
    }
    let m: Vec<f64> = ms.iter_mut().map(|v| median(v)).collect();
    let r: Vec<f64> = ratio.iter_mut().map(|v| median(v)).collect();
    println!(
        "## {n} live workers (issue 21): median of {rounds} rounds, one of each a round, ratios within each round\n"
    );
    println!(
        "{n} `sleep` workers made in {made:.1} s; {owned} processes of the board owner's (uid {uid}) on the host, {marked} of them with spawn marks.\n"
    );
    println!(
        "| what | ms per call | against | ratio (median of per-round ratios) |\n|---|---|---|---|"
    );
    println!(
        "| floor A: `active_workers` + each worker's stat, statm, cmdline, fd/ (access, stat), /proc/<pid> (stat) and children lists, bare | {:.1} | | |",
        m[0]
    );
    println!(
        "| marks: each worker's environ and fd/1 link, bare (what `proc_marks` needs for a worker without a fingerprint) | {:.1} | | |",
        m[1]
    );
    println!(
        "| scan: each /proc/<pid>'s owner (stat), and of the owner's processes environ and the fd/1 link, bare (`proc_spawned`) | {:.1} | | |",
        m[2]
    );
    println!(
        "| floors: B = A + scan {:.1}; C = A + 2 scans {:.1}; D = A + marks + scan {:.1}; E = A + marks + 2 scans {:.1} | | | |",
        m[0] + m[2],
        m[0] + 2.0 * m[2],
        m[0] + m[1] + m[2],
        m[0] + m[1] + 2.0 * m[2]
    );
    println!(
        "| `SELECT * FROM live_workers` | {:.1} | A | {:.2} |",
        m[3], r[0]
    );
    println!("| | | B | {:.2} |", r[1]);
    println!("| | | D | **{:.2}** |", r[2]);
    println!(
        "| `?live=1`'s sample and answer: `query_rows(route_workers_live.sql)` + `rows_json` | {:.1} | D | {:.2} |",
        m[4], r[3]
    );
    println!(
        "| `metrics(&conn)`: live_workers + lingering_workers + the exposition | {:.1} | C | {:.2} |",
        m[5], r[4]
    );
    println!("| | | E | **{:.2}** |", r[5]);
    drop(conn);

    // Through the release shim, once with its history (the default), once with --history 0.
    let bin = std::env::var("KANBAN_WORKERS_BIN").map_or_else(
        |_| {
            let exe = std::env::current_exe().unwrap();
            exe.parent()
                .unwrap()
                .parent()
                .unwrap()
                .join("kanban-workers")
        },
        PathBuf::from,
    );
    println!(
        "\n### Through HTTP: `{} serve --db BOARD --listen 127.0.0.1:18850 --quiet [--history 0]`\n",
        bin.display()
    );
    println!(
        "| shim | VmHWM at start (KiB) | idle 10 s: CPU s (live samples) | `?live=1`: ms, bytes | `/metrics`: ms, bytes | `/metrics` again, at once: ms | `?live=1` again: ms | VmRSS after (KiB) | VmHWM after (KiB) |\n|---|---|---|---|---|---|---|---|---|"
    );
    let addr = "127.0.0.1:18850";
    for history in [None, Some("0")] {
        let db = path.to_str().unwrap();
        let mut args = vec!["serve", "--db", db, "--listen", addr, "--quiet"];
        if let Some(h) = history {
            args.extend(["--history", h]);
        }
        let shim = Doomed(vec![spawn_doomed(bin.to_str().unwrap(), &args)]);
        let pid = shim.0[0].id();
        let up = Instant::now();
        while std::net::TcpStream::connect(addr).is_err() {
            assert!(up.elapsed().as_secs() < 10, "the shim did not start");
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        let hwm0 = status_kb(pid, "VmHWM");
        let samples = |addr: &str| -> u64 {
            use std::io::Write;
            let mut s = std::net::TcpStream::connect(addr).expect("connect");
            write!(
                s,
                "GET /metrics HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
            )
            .unwrap();
            let mut all = String::new();
            s.read_to_string(&mut all).unwrap();
            all.lines()
                .find_map(|l| l.strip_prefix("kanban_workers_proc_samples_total{kind=\"live\"} "))
                .and_then(|v| v.trim().parse().ok())
                .unwrap_or(0)
        };
        // Idle: no request for 10 s (the history's timer alone), CPU and samples before and after.
        let c0 = cpu_secs(pid);
        std::thread::sleep(std::time::Duration::from_secs(10));
        let idle_cpu = cpu_secs(pid) - c0;
        let idle_samples = samples(addr);
        std::thread::sleep(std::time::Duration::from_millis(1100));
        let gap = std::time::Duration::from_millis(1100);
        // Each request 1.1 s after the one before (past the 1 s between request samples),
        // but the second /metrics, sent as the first is answered: it waits for the gap.
        std::thread::sleep(gap);
        let (s1, b1, t1) = http_once(addr, "/workers/active?live=1");
        std::thread::sleep(gap);
        let (s2, b2, t2) = http_once(addr, "/metrics");
        let (s3, _, t3) = http_once(addr, "/metrics");
        std::thread::sleep(gap);
        let (s4, _, t4) = http_once(addr, "/workers/active?live=1");
        assert!(
            [s1, s2, s3, s4].iter().all(|s| *s == 200),
            "statuses {s1} {s2} {s3} {s4}"
        );
        println!(
            "| {} | {hwm0} | {idle_cpu:.2} ({} before the first request, its own scrape's included) | {:.0}, {b1} | {:.0}, {b2} | {:.0} | {:.0} | {} | {} |",
            history.map_or("history on (default)", |_| "--history 0"),
            idle_samples,
            t1 * 1e3,
            t2 * 1e3,
            t3 * 1e3,
            t4 * 1e3,
            status_kb(pid, "VmRSS"),
            status_kb(pid, "VmHWM"),
        );
        drop(shim);
    }
    drop(workers);
    let _ = std::fs::remove_dir_all(&dir);
}

/// The bare /proc reads `/runs/{id}/inspect` of a live worker without a fingerprint needs, into
/// reused buffers, parsing nothing: `stat`, `statm`, `cmdline`, an access check and a `stat` of `fd/`, a
/// `stat` of `/proc/<pid>` (proc_stats), `environ` and the `fd/1` link (the spawn marks), and
/// each thread's `children` list (the tree below the worker).
struct InspectFloor {
    /// What `proc_stats` reads ([`Floor`]).
    floor: Floor,
    environ: PathBuf,
    fd1: PathBuf,
    pid: u32,
}

impl InspectFloor {
    fn new(pid: u32) -> InspectFloor {
        let dir = PathBuf::from(format!("/proc/{pid}"));
        InspectFloor {
            floor: Floor::new(pid),
            environ: dir.join("environ"),
            fd1: dir.join("fd/1"),
            pid,
        }
    }
    fn read(&mut self) -> usize {
        let mut total = self.floor.read();
        let buf = &mut self.floor.buf;
        buf.clear();
        total += File::open(&self.environ)
            .and_then(|mut f| f.read_to_end(buf))
            .unwrap_or(0);
        total += std::fs::read_link(&self.fd1).map_or(0, |l| l.as_os_str().len());
        total += read_children(self.pid, buf);
        total
    }
}

/// `inspect [SO...]`: what one `/runs/{id}/inspect` of a live worker costs, and where.
fn inspect(sos: &[String]) {
    use kanban_workers::surface::file_owner;
    use std::os::unix::fs::MetadataExt;
    let dir = std::env::temp_dir().join(format!("kanban-workers-inspect-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("board.db");
    let mut workers = make_board(&path, 100_000, 50, false);
    // The shim's pool: a read-only connection, the surface registered, the checked owner told.
    let shim = Connection::open_with_flags(
        &path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NOFOLLOW,
    )
    .unwrap();
    kanban_workers::register(&shim).unwrap();
    let owner = std::fs::symlink_metadata(&path).unwrap().uid();
    file_owner::register_known(&shim, shim.path().unwrap().to_owned(), owner).unwrap();
    // Each extension given, loaded into a connection of its own (as a `sqlite3` user would).
    let loaded: Vec<(String, Connection)> = sos
        .iter()
        .map(|so| {
            let conn =
                Connection::open_with_flags(&path, OpenFlags::SQLITE_OPEN_READ_ONLY).unwrap();
            // SAFETY: loading a build of this library named on the command line.
            unsafe {
                conn.load_extension_enable().unwrap();
                conn.load_extension(so, None::<&str>).unwrap();
            }
            conn.load_extension_disable().unwrap();
            (so.clone(), conn)
        })
        .collect();
    let (run, pid): (i64, i64) = shim
        .query_row(
            "SELECT id, worker_pid FROM task_runs WHERE ended_at IS NULL ORDER BY id LIMIT 1",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    let no_history = kanban_workers::shim::sample::history::History::new(
        std::time::Duration::from_secs(2),
        std::time::Duration::ZERO,
    );
    let body = kanban_workers::shim::answer::inspect(&shim, run, &|| None, &no_history).unwrap();
    eprintln!("{}", String::from_utf8_lossy(&body));
    assert!(body.starts_with(format!("{{\"run_id\":{run},\"alive\":true").as_bytes()));
    // KW_PROFILE=inspect: only the handler, for 10 s, for a profiler.
    if std::env::var("KW_PROFILE").is_ok_and(|w| w == "inspect") {
        eprintln!("board is ready");
        let until = Instant::now() + std::time::Duration::from_secs(10);
        while Instant::now() < until {
            std::hint::black_box(
                kanban_workers::shim::answer::inspect(&shim, run, &|| None, &no_history).unwrap(),
            );
        }
        for w in &mut workers {
            let _ = w.kill();
            let _ = w.wait();
        }
        let _ = std::fs::remove_dir_all(&dir);
        return;
    }
    let sql = include_str!("../sql/route_inspect.sql");
    let mut floor = InspectFloor::new(pid as u32);
    // What each part costs alone, on the shim's connection.
    let parts: &[(&str, &str)] = &[
        (
            "`proc_stats(pid)`, every column",
            "SELECT * FROM proc_stats(?1)",
        ),
        (
            "`proc_marks(pid)`, the columns run_verdicts reads",
            "SELECT start_ticks, env_run_id, env_board, stdout, session FROM proc_marks(?1)",
        ),
        (
            "`proc_tree(pid)`, depth > 0",
            "SELECT count(*), sum(rss_bytes) FROM proc_tree(?1) WHERE depth > 0",
        ),
        (
            "the board's file and owner as run_verdicts reads them (`kanban_workers_board_file()`)",
            "SELECT file, kanban_workers_file_owner(file)
             FROM (SELECT kanban_workers_board_file() AS file) WHERE ?1 IS NOT NULL",
        ),
        (
            "the same through `pragma_database_list` (as run_verdicts read them before, twice)",
            "SELECT file, kanban_workers_file_owner(file)
             FROM pragma_database_list WHERE name = 'main' AND ?1 IS NOT NULL",
        ),
    ];
    let (rounds, n) = (31, 400);
    let mut names: Vec<String> = vec![
        "floor: the bare /proc reads (stat, statm, cmdline, fd/, /proc/<pid>, environ, fd/1, children)".into(),
        "the route's handler, `answer::inspect` (query + JSON), the shim's connection".into(),
    ];
    names.extend(
        loaded
            .iter()
            .map(|(so, _)| format!("`route_inspect.sql` through `{so}`")),
    );
    names.extend(parts.iter().map(|(what, _)| format!("part: {what}")));
    let mut us: Vec<Vec<f64>> = vec![Vec::new(); names.len()];
    let mut ratios: Vec<Vec<f64>> = vec![Vec::new(); names.len()];
    for _ in 0..rounds {
        let mut round = vec![
            per_call_us(1, n, || {
                std::hint::black_box(floor.read());
            }),
            per_call_us(1, n, || {
                std::hint::black_box(
                    kanban_workers::shim::answer::inspect(&shim, run, &|| None, &no_history)
                        .unwrap(),
                );
            }),
        ];
        for (_, conn) in &loaded {
            round.push(per_call_us(1, n, || {
                std::hint::black_box(query_all(conn, sql, Some(run)));
            }));
        }
        for (_, part) in parts {
            round.push(per_call_us(1, n, || {
                std::hint::black_box(query_all(&shim, part, Some(pid)));
            }));
        }
        for (i, t) in round.iter().enumerate() {
            us[i].push(*t);
            ratios[i].push(t / round[0]);
        }
    }
    // The second extension against the first, round by round (before the medians sort).
    let mut second: Vec<f64> = if loaded.len() >= 2 {
        (0..rounds).map(|k| us[3][k] / us[2][k]).collect()
    } else {
        Vec::new()
    };
    println!(
        "## `/runs/{{id}}/inspect` of a live worker (100k runs, 50 live; medians of {rounds} rounds of {n} calls)\n"
    );
    println!("| what | µs per call | ratio to floor (median of per-round ratios) |\n|---|---|---|");
    for (i, name) in names.iter().enumerate() {
        println!(
            "| {name} | {:.1} | {:.2} |",
            median(&mut us[i]),
            median(&mut ratios[i])
        );
    }
    if !second.is_empty() {
        println!(
            "\nThe second extension's query against the first's: {:.3}x (median of per-round ratios)",
            median(&mut second)
        );
    }
    for w in &mut workers {
        let _ = w.kill();
        let _ = w.wait();
    }
    drop(shim);
    drop(loaded);
    let _ = std::fs::remove_dir_all(&dir);
}
