//! Real worker processes.

use std::process::{Child, Command};
use std::time::{Duration, Instant};

use super::proc_truth::proc_truth;

/// A real worker process (`sleep`), killed and reaped on drop.
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
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
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
        HermesWorker {
            dispatcher,
            run,
            pid,
        }
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
        // Closing its stdin makes the dispatcher end (and reap) its worker, then exit.
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

/// The live processes whose environment names `run` on `board` (the tests' own reading of
/// /proc).
pub fn processes_of_run(board: &std::path::Path, run: i64) -> Vec<i64> {
    let (run, db) = (
        format!("HERMES_KANBAN_RUN_ID={run}"),
        format!("HERMES_KANBAN_DB={}", board.display()),
    );
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|n| n.parse::<i64>().ok())
        else {
            continue;
        };
        let env = std::fs::read(format!("/proc/{pid}/environ")).unwrap_or_default();
        let vars: Vec<&[u8]> = env.split(|b| *b == 0).collect();
        if vars.contains(&run.as_bytes()) && vars.contains(&db.as_bytes()) && alive(pid) {
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
        let found = processes_of_run(board, run)
            .into_iter()
            .find(|pid| super::proc_truth(*pid).cmdline == argv);
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
