//! The OOM kills of a run's scope, caught as the kernel counts them. A worker the kernel kills
//! at its scope's memory limit usually ends its run (`crashed`), and systemd removes the
//! emptied scope within milliseconds: a live sample (every `super::INTERVAL`) seldom reads
//! the count before the scope is gone, and never once the worker is (the scope is proven by
//! it). So the `memory.events` of each live run's proven scope (one that accounts memory, as
//! the owner's `MemoryAccounting=yes` scopes do) is followed: the kernel signals the file
//! modified (`POLLPRI`) when it counts an OOM kill, before it sends the SIGKILL, and the count
//! is read then and kept in the board's history ([`super::History`]), for `GET /runs/endings`
//! (a `crashed` run whose scope counted one is `oom_killed`).
//!
//! Each scope is proven again here as every action proves it (`scope_of_run`: the owner's name
//! for the run, the sample's verified worker inside, identified by the start time the verdict
//! read, the board owner's part of the tree) and its file opened beneath the scope's directory.
//! It is followed on the runtime (an `AsyncFd`: no thread of its own), read again every
//! `RECHECK` whether or not the kernel said anything, until a read fails (the scope removed)
//! or the board's history is gone; at most `MAX_FOLLOWED` scopes at once in the process
//! (beyond, a run's OOM kills are what its samples see).

use std::collections::HashSet;
use std::os::fd::{AsFd, OwnedFd};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use procfs::process::Process;
use rusqlite::types::Value;
use tokio::io::Interest;
use tokio::io::unix::AsyncFd;

use crate::proc::cgroup::dir::{MAX_FILE, read_from_start};
use crate::proc::cgroup::files;
use crate::proc::cgroup::scope::{RunWorker, scope_of_run};
use crate::proc::info::ProcInfo;

use super::Rows;
use super::history::{OomSeen, remember_oom_kills};

/// Scopes followed at once, at most, in the process (each holds one open file).
pub(crate) const MAX_FOLLOWED: usize = 256;
/// A followed file is read again this often, whether or not the kernel signalled it: how long
/// a removed scope is followed at most (removal itself signals nothing).
pub(crate) const RECHECK: Duration = Duration::from_secs(30);

static FOLLOWED: AtomicUsize = AtomicUsize::new(0);

/// Which runs' scopes a board follows, and which have no `memory.events` (no memory
/// controller: not asked again while they stay live).
#[derive(Default)]
pub(crate) struct OomWatch {
    followed: Arc<Mutex<HashSet<i64>>>,
    no_memory: Mutex<HashSet<i64>>,
}

/// A live run whose scope is proven, as a sample's row names it.
struct Proven {
    run: i64,
    task_id: String,
    pid: i32,
    /// The start ticks of the process the verdict read.
    start_ticks: u64,
}

/// The columns of a live sample's row that say which scope to follow.
struct Cols {
    run: usize,
    task: usize,
    pid: usize,
    start_time: usize,
    scope: usize,
}

impl OomWatch {
    /// Follow the scope of each run of a live sample's `rows` that has one proven (`scope`),
    /// not followed yet, on the board of `owner`, its OOM kills kept in `seen`. Called on a
    /// reader thread of the runtime; without a runtime, nothing is followed.
    pub fn watch(&self, rows: &Rows, owner: u32, seen: &Arc<OomSeen>) {
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let (Some(run), Some(task), Some(pid), Some(start_time), Some(scope)) = (
            rows.column("run_id"),
            rows.column("task_id"),
            rows.column("worker_pid"),
            rows.column("start_time"),
            rows.column("scope"),
        ) else {
            return;
        };
        let cols = Cols {
            run,
            task,
            pid,
            start_time,
            scope,
        };
        let mut live = HashSet::new();
        for row in &rows.rows {
            let Some(worker) = proven(row, &cols) else {
                continue;
            };
            live.insert(worker.run);
            self.follow_run(&runtime, &worker, owner, seen);
        }
        lock(&self.no_memory).retain(|r| live.contains(r));
    }

    /// Follow the scope of `worker` (a run with a proven scope) unless it is followed already,
    /// has no `memory.events`, or the process follows [`MAX_FOLLOWED`] already.
    fn follow_run(
        &self,
        runtime: &tokio::runtime::Handle,
        worker: &Proven,
        owner_uid: u32,
        seen: &Arc<OomSeen>,
    ) {
        let run = &worker.run;
        if lock(&self.followed).contains(run) || lock(&self.no_memory).contains(run) {
            return;
        }
        let run_worker = RunWorker {
            pid: worker.pid,
            start_ticks: worker.start_ticks,
            task_id: &worker.task_id,
            run_id: worker.run,
            owner_uid,
        };
        let Ok(scope) = scope_of_run(&run_worker) else {
            return;
        };
        let name = scope.dir().file_name("memory.events");
        let fd = match scope.dir().open_file("memory.events") {
            Ok(fd) => fd,
            Err(e) if e.is_missing() => {
                lock(&self.no_memory).insert(*run);
                return;
            }
            Err(_) => return,
        };
        if FOLLOWED.fetch_add(1, Ordering::Relaxed) >= MAX_FOLLOWED {
            FOLLOWED.fetch_sub(1, Ordering::Relaxed);
            return;
        }
        lock(&self.followed).insert(*run);
        let (run, seen, followed) = (*run, Arc::downgrade(seen), Arc::downgrade(&self.followed));
        runtime.spawn(async move {
            let recorded = |text: &[u8]| record(&seen, run, text);
            let _ = follow(fd, name, RECHECK, recorded).await;
            if let Some(followed) = followed.upgrade() {
                lock(&followed).remove(&run);
            }
            FOLLOWED.fetch_sub(1, Ordering::Relaxed);
        });
    }
}

/// A row's run, task, worker pid and start ticks, when its scope is proven (`scope` not NULL)
/// and its worker is still the process the verdict read (the start time it read is the one its
/// start ticks give now: one tick, one millisecond value).
fn proven(row: &[Value], cols: &Cols) -> Option<Proven> {
    let (
        Value::Integer(run),
        Value::Text(task),
        Value::Integer(pid),
        Value::Real(start_time),
        Value::Text(_),
    ) = (
        &row[cols.run],
        &row[cols.task],
        &row[cols.pid],
        &row[cols.start_time],
        &row[cols.scope],
    )
    else {
        return None;
    };
    let pid = i32::try_from(*pid).ok()?;
    let ticks = Process::new(pid).and_then(|p| p.stat()).ok()?.starttime;
    let info = ProcInfo {
        start_ticks: Some(ticks),
        ..ProcInfo::default()
    };
    let now = info.start_time_ms()? as f64 / 1000.0;
    (now == *start_time).then(|| Proven {
        run: *run,
        task_id: task.clone(),
        pid,
        start_ticks: ticks,
    })
}

/// `memory.events` read: its `oom_kill` count kept for `run` when there is one; false (stop
/// following) once the history is gone.
fn record(seen: &Weak<OomSeen>, run: i64, text: &[u8]) -> bool {
    let Some(seen) = seen.upgrade() else {
        return false;
    };
    if let Some(n) = files::memory_events(text).ok().and_then(|e| e.oom_kill) {
        let n = i64::try_from(n).unwrap_or(i64::MAX);
        remember_oom_kills(&seen, run, n, super::epoch_secs());
    }
    true
}

/// Follow the open cgroup file `fd` (`name` for messages): `changed` is given its contents at
/// once, then each time the kernel signals it modified and every `recheck`, until a read fails
/// (its cgroup removed: the error) or `changed` returns false (`Ok`). A file that cannot be
/// polled is the error, at once.
pub async fn follow(
    fd: OwnedFd,
    name: String,
    recheck: Duration,
    mut changed: impl FnMut(&[u8]) -> bool,
) -> Result<(), String> {
    // SAFETY: an `OwnedFd` is a valid open descriptor, the same one for as long as it is
    // owned, and the `AsyncFd` owns it until it is dropped.
    let fd = unsafe { AsyncFd::register_with_interest(fd, Interest::PRIORITY) }
        .map_err(|e| format!("{name}: cannot be polled ({e})"))?;
    let mut buf = Vec::new();
    loop {
        read_from_start(fd.get_ref().as_fd(), &name, &mut buf, MAX_FILE)
            .map_err(|e| e.to_string())?;
        if !changed(&buf) {
            return Ok(());
        }
        // Signalled or not, read again: a read from the start is what clears the signal.
        if let Ok(Ok(mut ready)) = tokio::time::timeout(recheck, fd.ready(Interest::PRIORITY)).await
        {
            ready.clear_ready();
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    /// A row's worker is the process the verdict read only when the start time the verdict
    /// read is the one its start ticks give now; without a proven scope, nothing is followed.
    #[test]
    fn a_rows_worker_is_the_process_with_its_start_time() {
        let me = Process::myself().unwrap().stat().unwrap().starttime;
        let info = ProcInfo {
            start_ticks: Some(me),
            ..ProcInfo::default()
        };
        let start_time = info.start_time_ms().unwrap() as f64 / 1000.0;
        let rows = |start_time: f64, scope: Value| Rows {
            columns: ["run_id", "task_id", "worker_pid", "start_time", "scope"]
                .map(String::from)
                .to_vec(),
            rows: vec![vec![
                Value::Integer(7),
                Value::Text("t_x".into()),
                Value::Integer(std::process::id().into()),
                Value::Real(start_time),
                scope,
            ]],
        };
        let cols = Cols {
            run: 0,
            task: 1,
            pid: 2,
            start_time: 3,
            scope: 4,
        };
        let named = Value::Text("hermes-worker-kanban-t_x-run-7.scope".into());
        let found = proven(&rows(start_time, named.clone()).rows[0], &cols).unwrap();
        assert_eq!((found.run, found.start_ticks), (7, me));
        assert_eq!(found.task_id, "t_x");
        let later = start_time + 0.01;
        assert!(proven(&rows(later, named).rows[0], &cols).is_none());
        assert!(proven(&rows(start_time, Value::Null).rows[0], &cols).is_none());
        // Outside a runtime, nothing is followed (and nothing fails).
        let watch = OomWatch::default();
        let seen = Arc::new(OomSeen::default());
        watch.watch(&rows(start_time, Value::Null), 0, &seen);
        assert!(lock(&watch.followed).is_empty());
    }
}
