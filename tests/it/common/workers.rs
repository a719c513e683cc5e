//! Real worker processes.

use std::process::{Child, Command};
use std::time::{Duration, Instant};

use super::proc_truth::proc_truth;

/// A real worker process (`sleep`), killed and reaped on drop with everything it started
/// ([`end_child`]).
pub struct Worker(pub Child);

impl Worker {
    /// `sleep 1000`, returned once it has exec'd and is asleep (state `S`), so that what
    /// the tests read of it no longer changes.
    pub fn sleep() -> Worker {
        let w = Worker::asleep(Command::new("sleep").arg("1000"));
        assert_eq!(proc_truth(w.pid()).cmdline, ["sleep", "1000"]);
        w
    }

    /// Spawn `cmd` and return once it has finished exec'ing and sleeps (state `S`, its argv in
    /// place: `spawn` returns while the kernel may still be setting up the new argv).
    pub fn asleep(cmd: &mut Command) -> Worker {
        let w = Worker(cmd.spawn().expect("spawn worker"));
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let t = proc_truth(w.pid());
            if t.state == 'S' && !t.cmdline.is_empty() {
                return w;
            }
            assert!(
                Instant::now() < deadline,
                "{cmd:?} never went to sleep: {t:?}"
            );
            std::thread::yield_now();
        }
    }

    pub fn busy() -> Worker {
        Worker(
            Command::new("sh")
                .args(["-c", "while :; do :; done"])
                .spawn()
                .expect("spawn busy loop"),
        )
    }

    pub fn pid(&self) -> i64 {
        i64::from(self.0.id())
    }

    /// Kill and reap: afterwards the pid names no process.
    pub fn end(mut self) -> i64 {
        let pid = self.pid();
        let _ = self.0.kill();
        let _ = self.0.wait();
        pid
    }

    /// Kill and wait until it has exited, without reaping it: a zombie until dropped.
    pub fn into_zombie(mut self) -> Worker {
        self.0.kill().expect("kill");
        // SAFETY: an all-zero siginfo_t is a valid value for waitid to overwrite.
        let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
        // SAFETY: waitid on our own child with a valid siginfo_t; WNOWAIT leaves it unreaped.
        let rc = unsafe {
            libc::waitid(
                libc::P_PID,
                self.0.id(),
                &mut info,
                libc::WEXITED | libc::WNOWAIT,
            )
        };
        assert_eq!(rc, 0, "waitid");
        self
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        end_child(&mut self.0);
    }
}

/// The parent, process group and session of each live (not zombie) process but this one.
fn live_processes() -> Vec<(i64, i64, i64, i64)> {
    let me = i64::from(std::process::id());
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|n| n.parse::<i64>().ok())
        else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        let Some(close) = stat.rfind(')') else {
            continue;
        };
        // After the name: state, ppid, pgrp, session.
        let f: Vec<&str> = stat[close + 1..].split_whitespace().take(4).collect();
        if pid == me || f.len() < 4 || f[0] == "Z" || f[0] == "X" {
            continue;
        }
        let id = |s: &str| s.parse::<i64>().unwrap_or(0);
        found.push((pid, id(f[1]), id(f[2]), id(f[3])));
    }
    found
}

/// Ends everything `root` started: its descendants, every member of a session or process
/// group one of them leads (what double-forked or `setsid`'ed away from the tree), and every
/// live process `also` picks (what escaped with a run's environment), from any depth. All are
/// stopped (SIGSTOP) until no new one appears, so that none can start another (a shell's
/// `while :; do sleep 1000 & wait; done`) or escape between the scan and the kill, then
/// SIGKILLed. `root` itself is stopped during the sweep, then killed too, or, with
/// `keep_root`, let go on (a dispatcher that reaps its worker, then exits).
///
/// `root` must be our own child, not yet reaped: then neither its pid nor the session or
/// group it leads can name another process.
pub fn end_tree(root: i64, keep_root: bool, also: &dyn Fn(i64) -> bool) {
    let signal = |pid: i64, sig: i32| {
        // SAFETY: kill has no memory-safety preconditions; every pid here is one this test
        // started (see above), or a process that carries its run's environment.
        unsafe { libc::kill(pid as i32, sig) };
    };
    let mut stopped: Vec<i64> = vec![root];
    signal(root, libc::SIGSTOP);
    for _ in 0..100 {
        let procs = live_processes();
        let mut members = stopped.clone();
        let mut i = 0;
        loop {
            let before = members.len();
            for &(pid, ppid, pgrp, session) in &procs {
                if pid != 1
                    && !members.contains(&pid)
                    && (members.contains(&ppid)
                        || members.contains(&pgrp)
                        || members.contains(&session)
                        || (i == 0 && also(pid)))
                {
                    members.push(pid);
                }
            }
            i += 1;
            if members.len() == before {
                break;
            }
        }
        let new: Vec<i64> = members
            .into_iter()
            .filter(|p| !stopped.contains(p))
            .collect();
        if new.is_empty() {
            break;
        }
        for pid in new {
            signal(pid, libc::SIGSTOP);
            stopped.push(pid);
        }
    }
    for &pid in &stopped[1..] {
        signal(pid, libc::SIGKILL);
    }
    let last = if keep_root {
        libc::SIGCONT
    } else {
        libc::SIGKILL
    };
    signal(root, last);
}

/// Whether `child` has not been reaped yet (it runs, or is a zombie): its pid is still ours.
fn unreaped(child: &Child) -> bool {
    // SAFETY: an all-zero siginfo_t is a valid value for waitid to overwrite.
    let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
    // SAFETY: waitid on our own child with a valid siginfo_t; WNOWAIT leaves it unreaped.
    let rc = unsafe {
        libc::waitid(
            libc::P_PID,
            child.id(),
            &mut info,
            libc::WEXITED | libc::WNOHANG | libc::WNOWAIT,
        )
    };
    rc == 0
}

/// Kill and reap a child together with everything it started ([`end_tree`]): what every
/// guard of a process does when dropped, so that a test ends what it started on success and
/// on failure (a process left running holds the runner's stdout and stderr open: whoever
/// waits for them hangs; `.ci/leftovers` fails CI on one).
pub fn end_child(child: &mut Child) {
    if unreaped(child) {
        end_tree(i64::from(child.id()), false, &|_| false);
    }
    let _ = child.kill();
    let _ = child.wait();
}

/// A worker spawned exactly as the board's owner spawns one (hermes-agent 0.19.0's
/// `_default_spawn`, `tests/fixtures/hermes_spawn.py`): its own session, stdout on the task's
/// log file, the `HERMES_KANBAN_*` environment naming its run and board, its parent the
/// dispatcher whose pid the claim names. The run is claimed first (task and run rows, the
/// task's `current_run_id`), then spawned, then its pid recorded, as the owner does.
pub struct HermesWorker {
    dispatcher: Child,
    pub run: i64,
    pid: i64,
    board: std::path::PathBuf,
}

impl HermesWorker {
    /// `sleep 1000` as the worker of a new run of `task` on the board at `board`.
    pub fn sleep(conn: &rusqlite::Connection, board: &std::path::Path, task: &str) -> HermesWorker {
        HermesWorker::spawn(conn, board, task, &["sleep", "1000"])
    }

    pub fn spawn(
        conn: &rusqlite::Connection,
        board: &std::path::Path,
        task: &str,
        argv: &[&str],
    ) -> HermesWorker {
        use std::io::{BufRead, Write};
        let log_dir = board.parent().unwrap().join("logs");
        let mut dispatcher = Command::new("/usr/bin/python3")
            .arg(format!(
                "{}/tests/fixtures/hermes_spawn.py",
                super::MANIFEST_DIR
            ))
            .arg(board)
            .arg(task)
            .arg(&log_dir)
            .args(argv)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .expect("spawn the dispatcher");
        let lock = format!("{}:{}", super::local_hostname(), dispatcher.id());
        let run = super::insert_run(
            conn,
            &super::RunSpec::new(task)
                .started(super::now_secs())
                .lock(Some(&lock)),
        );
        conn.execute(
            "UPDATE tasks SET current_run_id = ?1, claim_lock = ?2 WHERE id = ?3",
            rusqlite::params![run, lock, task],
        )
        .unwrap();
        let stdin = dispatcher.stdin.as_mut().unwrap();
        writeln!(stdin, "{run} {lock}").unwrap();
        stdin.flush().unwrap();
        let mut line = String::new();
        std::io::BufReader::new(dispatcher.stdout.as_mut().unwrap())
            .read_line(&mut line)
            .unwrap();
        let pid: i64 = line.trim().parse().expect("the worker's pid");
        // Ended when dropped from here on, the rest of the set-up failing too.
        let worker = HermesWorker {
            dispatcher,
            run,
            pid,
            board: board.to_path_buf(),
        };
        conn.execute(
            "UPDATE task_runs SET worker_pid = ?1 WHERE id = ?2",
            rusqlite::params![pid, run],
        )
        .unwrap();
        conn.execute(
            "UPDATE tasks SET worker_pid = ?1 WHERE id = ?2",
            rusqlite::params![pid, task],
        )
        .unwrap();
        // Until it has exec'd and sleeps (its environment and argv in place).
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let t = proc_truth(pid);
            if t.state == 'S' && t.cmdline.first().map(String::as_str) == argv.first().copied() {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "{argv:?} never went to sleep: {t:?}"
            );
            std::thread::yield_now();
        }
        worker
    }

    pub fn pid(&self) -> i64 {
        self.pid
    }

    pub fn dispatcher_pid(&self) -> i64 {
        i64::from(self.dispatcher.id())
    }
}

impl Drop for HermesWorker {
    fn drop(&mut self) {
        // The worker, what it started (its own session: what left its tree stays there), and
        // whatever carries the run's environment (what left the session too), all killed; the
        // dispatcher goes on: closing its stdin makes it reap its worker, then exit.
        let (board, run) = (self.board.clone(), self.run);
        if unreaped(&self.dispatcher) {
            end_tree(i64::from(self.dispatcher.id()), true, &|pid| {
                environ_names_run(pid, &board, run)
            });
        }
        drop(self.dispatcher.stdin.take());
        let _ = self.dispatcher.wait();
    }
}

/// Kills a process that is not our child (a lingering one) when dropped.
pub struct KillOnDrop(pub i64);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        // SAFETY: kill has no memory-safety preconditions; the process is one this test made.
        unsafe { libc::kill(self.0 as i32, libc::SIGKILL) };
    }
}

pub fn alive(pid: i64) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map(|s| {
            let state = s[s.rfind(')').unwrap() + 2..].chars().next().unwrap();
            state != 'Z' && state != 'X'
        })
        .unwrap_or(false)
}

/// Whether the environment of `pid` names `run` on `board`.
fn environ_names_run(pid: i64, board: &std::path::Path, run: i64) -> bool {
    let (run, db) = (
        format!("HERMES_KANBAN_RUN_ID={run}"),
        format!("HERMES_KANBAN_DB={}", board.display()),
    );
    let env = std::fs::read(format!("/proc/{pid}/environ")).unwrap_or_default();
    let vars: Vec<&[u8]> = env.split(|b| *b == 0).collect();
    vars.contains(&run.as_bytes()) && vars.contains(&db.as_bytes())
}

/// The live processes whose environment names `run` on `board` (the tests' own reading of
/// /proc).
pub fn processes_of_run(board: &std::path::Path, run: i64) -> Vec<i64> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|n| n.parse::<i64>().ok())
        else {
            continue;
        };
        if environ_names_run(pid, board, run) && alive(pid) {
            found.push(pid);
        }
    }
    found
}

/// The process whose argv is `argv` and whose environment names `run` on `board`, once it
/// exists.
pub fn process_of_run(board: &std::path::Path, run: i64, argv: &[&str]) -> i64 {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        // Its argv read without failing: a process of the run found a moment ago (a shell of
        // the spawn, say) may have ended since.
        let wanted: Vec<u8> = argv
            .iter()
            .flat_map(|a| [a.as_bytes(), b"\0"].concat())
            .collect();
        let found = processes_of_run(board, run)
            .into_iter()
            .find(|pid| std::fs::read(format!("/proc/{pid}/cmdline")).is_ok_and(|c| c == wanted));
        if let Some(pid) = found {
            return pid;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no process {argv:?} of the run"
        );
        std::thread::yield_now();
    }
}

/// Another user's set-uid program (`su`, `passwd`) kept waiting with a run's environment, as
/// the board owner root sees it: `sleep 1000` whose real uid is nobody's and whose effective
/// uid is root's (so its `/proc/<pid>` is root's, as a set-uid root program's is), in a
/// session of its own (the other user's terminal), with the `HERMES_KANBAN_*` variables
/// naming `run` of `task` on `board`. Returned asleep, its argv in place; ended when dropped.
/// Needs root.
pub fn setuid_with_runs_environment(board: &std::path::Path, run: i64, task: &str) -> Worker {
    let w = Worker::asleep(
        Command::new("setsid")
            .args(["setpriv", "--ruid=65534", "--euid=0", "--keep-groups"])
            .args(["sleep", "1000"])
            .env("HERMES_KANBAN_RUN_ID", run.to_string())
            .env("HERMES_KANBAN_TASK", task)
            .env("HERMES_KANBAN_DB", board),
    );
    while proc_truth(w.pid()).cmdline != ["sleep", "1000"] {
        std::thread::yield_now();
    }
    let status = std::fs::read_to_string(format!("/proc/{}/status", w.pid())).unwrap();
    assert!(
        status
            .lines()
            .any(|l| l.split_whitespace().collect::<Vec<_>>() == ["Uid:", "65534", "0", "0", "0"]),
        "{status}"
    );
    w
}
