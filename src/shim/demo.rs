//! A throwaway board with real worker processes: two running, one ended, one without a pid,
//! one whose process is gone. Everything is removed when the `Demo` is dropped, and the
//! workers also die with the demo process if it is killed (parent-death signal).

use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};

use rusqlite::{Connection, params};

use crate::proc::info::{self as procinfo, Reading};

/// A demo task and its run: id, title, assignee, task status, worker pid, age of the run in
/// seconds, when it ended, and what it shows.
type DemoRow = (
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    Option<i64>,
    i64,
    Option<i64>,
    &'static str,
);

pub struct Demo {
    /// A fresh private folder (mode 0700, a random name): never one another user made first.
    _dir: tempfile::TempDir,
    pub board: PathBuf,
    workers: Vec<Child>,
    /// Run ids worth trying: (what it shows, run id).
    pub runs: Vec<(&'static str, i64)>,
}

/// A worker process that gets SIGTERM when the demo process dies. Call from the main thread:
/// the signal follows the thread that spawned the child.
fn spawn_worker(script: &str) -> std::io::Result<Child> {
    let mut cmd = Command::new("sh");
    cmd.args(["-c", script])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    // SAFETY: the closure runs in the child between fork and exec, where only
    // async-signal-safe calls are allowed: it makes two system calls (setsid, prctl) and
    // allocates nothing.
    unsafe {
        cmd.pre_exec(|| {
            // Its own session, as the owner's spawn does (`start_new_session=True`): the shim
            // never signals a process of its own session (SECURITY.md).
            rustix::process::setsid().map_err(std::io::Error::from)?;
            rustix::process::set_parent_process_death_signal(Some(rustix::process::Signal::TERM))
                .map_err(std::io::Error::from)
        });
    }
    cmd.spawn()
}

impl Demo {
    /// The demo board, its claims naming `hostname` (the name the verdicts compare with).
    pub fn create(hostname: &str) -> Result<Demo, String> {
        let dir = crate::shim::board::empty::private_dir("kanban-workers-demo-")
            .map_err(|e| format!("create a folder for the demo board: {e}"))?;
        let mut demo = Demo {
            board: dir.path().join("kanban.db"),
            _dir: dir,
            workers: Vec::new(),
            runs: Vec::new(),
        };
        demo.populate(hostname)
            .map_err(|e| format!("demo board: {e}"))?;
        Ok(demo)
    }

    fn populate(&mut self, host: &str) -> Result<(), Box<dyn std::error::Error>> {
        // A worker that sleeps, and one that does some work every second (so cpu_percent moves).
        let sleeper = spawn_worker("exec sleep 86400")?;
        let sleeper_pid = i64::from(sleeper.id());
        self.workers.push(sleeper);
        let busy = spawn_worker(
            "while :; do i=0; while [ $i -lt 20000 ]; do i=$((i+1)); done; sleep 1; done",
        )?;
        let busy_pid = i64::from(busy.id());
        self.workers.push(busy);
        let mut gone = Command::new("true").spawn()?;
        let gone_pid = i64::from(gone.id());
        gone.wait()?;

        let now = crate::proc::clock::unix_secs();
        let lock = format!("{host}:{}", std::process::id());
        let conn = crate::shim::board::empty::make(&self.board)?;
        // A newer board: each run records its worker's fingerprint, so the demo's workers are
        // verified (the owner writes it right after the spawn, as here).
        conn.execute_batch("ALTER TABLE task_runs ADD COLUMN worker_started_at TEXT")?;
        for row in rows(sleeper_pid, busy_pid, gone_pid, now) {
            let what = row.7;
            let run_id = insert(&conn, row, now, &lock)?;
            self.runs.push((what, run_id));
        }
        Ok(())
    }
}

/// The demo's tasks, one run each: two live workers (`sleeper`, `busy`), one whose process is
/// `gone`, a claim without a pid, and an ended run.
fn rows(sleeper: i64, busy: i64, gone: i64, now: i64) -> [DemoRow; 5] {
    [
        (
            "t_a1f3",
            "Summarise the nightly test failures",
            "analyst",
            "running",
            Some(sleeper),
            300,
            None,
            "a running worker (sleeping)",
        ),
        (
            "t_b27c",
            "Refactor the billing module",
            "coder",
            "running",
            Some(busy),
            240,
            None,
            "a running worker (busy now and then)",
        ),
        (
            "t_c9d0",
            "Draft the release notes",
            "writer",
            "running",
            Some(gone),
            200,
            None,
            "a worker whose process is gone",
        ),
        (
            "t_d412",
            "Triage new issues",
            "triager",
            "running",
            None,
            5,
            None,
            "a claim whose worker has no pid yet",
        ),
        (
            "t_e5b8",
            "Update the changelog",
            "writer",
            "done",
            Some(sleeper),
            900,
            Some(now - 600),
            "an ended run",
        ),
    ]
}

/// One demo task and its run, claimed with `lock`, the run's fingerprint recorded when its
/// worker lives (as the owner writes it right after the spawn). The run's id.
fn insert(conn: &Connection, row: DemoRow, now: i64, lock: &str) -> rusqlite::Result<i64> {
    let (id, title, assignee, status, pid, age, ended, _) = row;
    conn.prepare_cached(
        "INSERT INTO tasks (id, title, assignee, status, created_at, started_at, claim_lock, claim_expires, worker_pid)
         VALUES (?1, ?2, ?3, ?4, ?5 - 600, ?5 - 300, ?6, ?5 + 900, ?7)",
    )?
    .execute(params![id, title, assignee, status, now, lock, pid])?;
    let (run_status, outcome, summary) = match ended {
        Some(_) => ("done", Some("completed"), Some("changelog updated")),
        None => ("running", None, None),
    };
    conn.prepare_cached(
        "INSERT INTO task_runs (task_id, profile, status, claim_lock, claim_expires, worker_pid, max_runtime_seconds,
                                last_heartbeat_at, started_at, ended_at, outcome, summary, metadata)
         VALUES (?1, 'default', ?2, ?3, ?4 + 900, ?5, 3600, ?4 - 20, ?4 - ?6, ?7, ?8, ?9, ?10)",
    )?
    .execute(params![
        id,
        run_status,
        lock,
        now,
        pid,
        age,
        ended,
        outcome,
        summary,
        r#"{"attempt": 1}"#
    ])?;
    let run_id = conn.last_insert_rowid();
    if let Some(Reading::Found(info)) = pid.and_then(|p| i32::try_from(p).ok()).map(procinfo::read)
    {
        if let Some(ticks) = info.start_ticks {
            conn.execute(
                "UPDATE task_runs SET worker_started_at = ?1 WHERE id = ?2",
                params![procinfo::fingerprint(ticks), run_id],
            )?;
        }
    }
    Ok(run_id)
}

impl Drop for Demo {
    fn drop(&mut self) {
        for w in &mut self.workers {
            let _ = w.kill();
            let _ = w.wait();
        }
        // The folder goes with `self.dir` (TempDir removes it).
    }
}
