//! The marks a process carries of how it was started, from procfs: its session and group,
//! its parent, its real uid, whether it is a pid namespace's init or a kernel thread, the
//! owner's spawn environment (`HERMES_KANBAN_*`) and where its stdout goes. What the identity
//! verdict (sql/run_verdicts.sql) and the signal rules (`shim::reaper`) read. Knows nothing of
//! SQLite.
//!
//! Only the `HERMES_KANBAN_*` variables the owner's spawn sets are kept from the environment
//! (the rest may hold secrets and is dropped as it is read). `environ` and the `fd/1` link are
//! readable by the process's own uid and root only; elsewhere they are `None` with `error`.

use procfs::ProcError;
use procfs::process::{FDTarget, Process};

/// Which files to read beyond `stat`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct WantMarks {
    /// `status`: the real uid and `NSpid`.
    pub status: bool,
    /// `environ`.
    pub environ: bool,
    /// The `fd/1` link.
    pub stdout: bool,
}

impl WantMarks {
    pub const ALL: WantMarks = WantMarks {
        status: true,
        environ: true,
        stdout: true,
    };
}

/// The owner's spawn environment, as far as it names the run.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SpawnEnv {
    /// `HERMES_KANBAN_RUN_ID`.
    pub run_id: Option<String>,
    /// `HERMES_KANBAN_TASK`.
    pub task_id: Option<String>,
    /// `HERMES_KANBAN_DB`: the board file.
    pub board: Option<String>,
    /// `HERMES_KANBAN_CLAIM_LOCK`.
    pub claim_lock: Option<String>,
}

/// One process's marks. Fields not asked for, or not readable, are `None`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Marks {
    pub pid: i32,
    /// Start ticks after boot: the reading belongs to the process with these.
    pub start_ticks: u64,
    pub state: char,
    pub ppid: i32,
    pub session: i32,
    pub pgrp: i32,
    pub kernel_thread: bool,
    /// The real uid (`status`).
    pub ruid: Option<u32>,
    /// Pid 1 of some pid namespace (a container's init): `NSpid` holds 1 (`status`).
    pub namespace_init: Option<bool>,
    pub env: Option<SpawnEnv>,
    /// Where fd 1 points (a path, or `pipe:[..]`, `socket:[..]`).
    pub stdout: Option<String>,
    /// The first file that could not be read, named.
    pub error: Option<String>,
}

/// The marks of `pid`, or `None` when there is no such process (or it ended while read).
pub fn read(pid: i32, want: WantMarks) -> Option<Marks> {
    if pid < 1 {
        return None;
    }
    let process = Process::new(pid).ok()?;
    let stat = process.stat().ok()?;
    let mut marks = Marks {
        pid,
        start_ticks: stat.starttime,
        state: stat.state,
        ppid: stat.ppid,
        session: stat.session,
        pgrp: stat.pgrp,
        kernel_thread: procfs::process::StatFlags::from_bits_retain(stat.flags)
            .contains(procfs::process::StatFlags::PF_KTHREAD),
        ..Marks::default()
    };
    if want.status {
        if let Some(status) = optional(&mut marks, "status", process.status())? {
            marks.ruid = Some(status.ruid);
            // A kernel without NSpid (before 4.1) has one pid namespace: pid 1 is its init.
            marks.namespace_init = Some(match &status.nspid {
                Some(pids) => pids.contains(&1),
                None => pid == 1,
            });
        }
    }
    if want.environ {
        // The raw bytes, only the four variables kept (procfs' `environ` builds a map of
        // every variable: a third of `live_workers`' time at 5,000 workers, BENCHMARKS.md).
        let raw = process.open_relative("environ").and_then(|mut f| {
            let mut buf = Vec::new();
            std::io::Read::read_to_end(&mut f, &mut buf)
                .map(|_| buf)
                .map_err(|e| match e.raw_os_error() {
                    // ESRCH: the process ended while read (procfs says NotFound, as here).
                    Some(3) => ProcError::NotFound(None),
                    _ => ProcError::from(e),
                })
        });
        marks.env = optional(&mut marks, "environ", raw)?.map(|buf| spawn_env(&buf));
    }
    if want.stdout {
        marks.stdout =
            optional(&mut marks, "fd/1", process.fd_from_fd(1))?.map(|fd| match fd.target {
                FDTarget::Path(path) => path.to_string_lossy().into_owned(),
                FDTarget::Pipe(inode) => format!("pipe:[{inode}]"),
                FDTarget::Socket(inode) => format!("socket:[{inode}]"),
                other => format!("{other:?}"),
            });
    }
    // Every file above was read through the one handle on /proc/<pid> opened before the first
    // `stat`: should the pid be another process's by now, those reads failed (the handle names
    // the process it was opened on), so they are the process whose start ticks `stat` gave. No
    // second `stat` (it was 13% of `live_workers` at 5,000 workers, BENCHMARKS.md).
    Some(marks)
}

/// The marks of a process found by a pass over `/proc` (`proc_spawned`), when it carries the
/// owner's spawn marks: a `HERMES_KANBAN_*` environment (run, task or board), or stdout on a
/// task's log file (`…/logs/<name>.log`). `None` for any other process, a zombie, or one that
/// ended while read. Reads `environ` and the `fd/1` link, then `stat` only for a marked
/// process, all through the one handle (a pid reused meanwhile fails the later reads).
/// The caller decides whose processes are looked at (SECURITY.md: the board owner's only).
pub fn read_spawned(process: &Process, buf: &mut Vec<u8>) -> Option<Marks> {
    use std::io::Read;
    // The raw bytes, only the four variables kept (procfs' `environ` would build a map of
    // every variable: most of the cost of a pass over a host's processes).
    buf.clear();
    let env = process
        .open_relative("environ")
        .ok()
        .and_then(|mut f| f.read_to_end(buf).ok())
        .map(|_| spawn_env(buf));
    let env = env.filter(|e| e.run_id.is_some() || e.task_id.is_some() || e.board.is_some());
    // The link by path: should the pid be another process's by now, the handle's `stat` below
    // fails (the handle names the process it was opened on), and nothing is kept.
    let stdout = std::fs::read_link(format!("/proc/{}/fd/1", process.pid()))
        .ok()
        .map(|p| p.to_string_lossy().into_owned())
        .filter(|p| p.starts_with('/'));
    let log = stdout
        .as_deref()
        .is_some_and(|s| s.ends_with(".log") && s.contains("/logs/"));
    if env.is_none() && !log {
        return None;
    }
    let stat = process.stat().ok()?;
    if matches!(stat.state, 'Z' | 'X') {
        return None;
    }
    Some(Marks {
        pid: process.pid(),
        start_ticks: stat.starttime,
        state: stat.state,
        ppid: stat.ppid,
        session: stat.session,
        pgrp: stat.pgrp,
        kernel_thread: procfs::process::StatFlags::from_bits_retain(stat.flags)
            .contains(procfs::process::StatFlags::PF_KTHREAD),
        env,
        stdout,
        ..Marks::default()
    })
}

/// The four `HERMES_KANBAN_*` variables of a raw `environ` (NUL-separated `KEY=value`).
fn spawn_env(raw: &[u8]) -> SpawnEnv {
    let mut env = SpawnEnv::default();
    for var in raw.split(|b| *b == 0) {
        let Some(rest) = var.strip_prefix(b"HERMES_KANBAN_") else {
            continue;
        };
        let value = |v: &[u8]| Some(String::from_utf8_lossy(v).into_owned());
        if let Some(v) = rest.strip_prefix(b"RUN_ID=") {
            env.run_id = value(v);
        } else if let Some(v) = rest.strip_prefix(b"TASK=") {
            env.task_id = value(v);
        } else if let Some(v) = rest.strip_prefix(b"DB=") {
            env.board = value(v);
        } else if let Some(v) = rest.strip_prefix(b"CLAIM_LOCK=") {
            env.claim_lock = value(v);
        }
    }
    env
}

/// One optional file: `Some(None)` when unreadable (noted), `None` when the process is gone.
fn optional<T>(marks: &mut Marks, file: &str, read: procfs::ProcResult<T>) -> Option<Option<T>> {
    match read {
        Ok(value) => Some(Some(value)),
        Err(ProcError::NotFound(_)) => None,
        // fd 1 closed: nothing to say about stdout, and nothing went wrong.
        Err(ProcError::Io(e, _)) if file == "fd/1" && e.kind() == std::io::ErrorKind::NotFound => {
            Some(None)
        }
        Err(e) => {
            if marks.error.is_none() {
                let pid = marks.pid;
                marks.error = Some(match e {
                    ProcError::PermissionDenied(_) => format!("access denied: /proc/{pid}/{file}"),
                    other => format!("/proc/{pid}/{file}: {other}"),
                });
            }
            Some(None)
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;
    use std::process::{Command, Stdio};

    #[test]
    fn a_child_carries_its_spawn_environment_and_stdout() {
        let dir = std::env::temp_dir().join(format!("kw-marks-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let log = dir.join("t_1.log");
        let mut child = Command::new("sleep")
            .arg("100")
            .env("HERMES_KANBAN_RUN_ID", "42")
            .env("HERMES_KANBAN_TASK", "t_1")
            .env("HERMES_KANBAN_DB", "/x/kanban.db")
            .env("SECRET", "not kept")
            .stdout(Stdio::from(std::fs::File::create(&log).unwrap()))
            .spawn()
            .unwrap();
        let pid = child.id() as i32;
        // The environment is in place once the child has exec'd (its cmdline is sleep's).
        while std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default()
            != b"sleep\x00100\x00"
        {
            std::thread::yield_now();
        }
        let marks = read(pid, WantMarks::ALL).unwrap();
        let env = marks.env.clone().unwrap();
        assert_eq!(env.run_id.as_deref(), Some("42"));
        assert_eq!(env.task_id.as_deref(), Some("t_1"));
        assert_eq!(env.board.as_deref(), Some("/x/kanban.db"));
        assert_eq!(env.claim_lock, None);
        assert_eq!(marks.stdout.as_deref(), log.to_str());
        assert_eq!(marks.ppid, std::process::id() as i32);
        assert_eq!(marks.namespace_init, Some(false));
        assert!(!marks.kernel_thread);
        assert!(marks.error.is_none(), "{:?}", marks.error);
        child.kill().unwrap();
        child.wait().unwrap();
        assert_eq!(read(pid, WantMarks::ALL), None);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn kernel_threads_are_marked() {
        // kthreadd is pid 2 in the initial pid namespace; elsewhere there may be none.
        if let Some(m) = read(2, WantMarks::default()) {
            if m.ppid == 0
                && std::fs::read("/proc/2/cmdline")
                    .unwrap_or_default()
                    .is_empty()
            {
                assert!(m.kernel_thread, "{m:?}");
            }
        }
        let me = read(std::process::id() as i32, WantMarks::ALL).unwrap();
        assert!(!me.kernel_thread);
    }
}
