//! The marks a process carries of how it was started, from procfs: its session and group,
//! its parent, its real uid, whether it is a pid namespace's init or a kernel thread, the
//! owner's spawn environment (`HERMES_KANBAN_*`) and where its stdout goes. What the identity
//! verdict (sql/run_verdicts.sql) and the signal rules (`shim::terminate::signal`) read. Knows nothing of
//! SQLite.
//!
//! Only the `HERMES_KANBAN_*` variables the owner's spawn sets are kept from the environment
//! (the rest may hold secrets and is dropped as it is read). `environ` and the `fd/1` link are
//! readable by the process's own uid and root only; elsewhere they are `None` with `error`.

use std::collections::HashMap;
use std::sync::Mutex;

use procfs::process::{FDTarget, Process};
use procfs::{FromRead, ProcError};

use crate::proc::opened::StatMarks;
use crate::proc::{file, opened, status};

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
    /// `HERMES_MACHINE_ID`: the Hermes machine id of the host that spawned it (distributed
    /// workers, docs/fleet.md).
    pub machine_id: Option<String>,
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
    /// The effective uid (`status`): another than the real one in a set-uid program.
    pub euid: Option<u32>,
    /// Pid 1 of some pid namespace (a container's init): `NSpid` holds 1 (`status`).
    pub namespace_init: Option<bool>,
    pub env: Option<SpawnEnv>,
    /// Where fd 1 points (a path, or `pipe:[..]`, `socket:[..]`).
    pub stdout: Option<String>,
    /// The first file that could not be read, named.
    pub error: Option<String>,
}

impl Marks {
    /// Why this process's spawn marks are not `owner`'s, or `None` when they are. Only a
    /// process whose real and effective uids are both the owner's (read with `status`) carries
    /// the owner's spawn: `/proc/<pid>` is owned by the effective uid (by root for a set-uid
    /// program), so another user's `su` or `passwd` kept waiting with a run's environment
    /// would pass for root's process by that owner alone. Such a process is not the run's.
    pub fn not_spawned_by(&self, owner: u32) -> Option<String> {
        match (self.ruid, self.euid) {
            (Some(r), Some(e)) if r == owner && e == owner => None,
            (Some(r), Some(e)) => Some(format!(
                "real uid {r}, effective uid {e}: not a process of the board owner ({owner}), \
                 so its environment is not the owner's spawn marks"
            )),
            _ => Some("its real and effective uids could not be read".into()),
        }
    }
}

/// The marks of `pid`, or `None` when there is no such process (or it ended while read), with
/// no cache (the shim's signals; `proc_marks` keeps one per connection), read now: never
/// taken from a reading a query kept (`proc::opened`), whose `stat` may be older than the
/// signal's own look.
#[cfg(any(test, feature = "server"))]
pub fn read(pid: i32, want: WantMarks) -> Option<Marks> {
    read_now(pid, want, None)
}

/// Spawn environments already read, each kept for the process it was read from: its pid, its
/// start ticks, and where its exec laid out its program, arguments and environment (`stat`'s
/// `startcode`, `endcode`, `arg_start`, `arg_end`, `env_start`, `env_end`). An exec keeps the
/// pid and the start ticks but lays the new environment out afresh, so its environment is
/// read again. What a process later writes over its own environment's memory
/// (setproctitle) is not seen: the marks are those its exec gave it. Only the four
/// `HERMES_KANBAN_*` variables are kept, as everywhere. One per connection (`proc_marks`);
/// a full cache starts afresh.
#[derive(Debug, Default)]
pub struct EnvCache {
    envs: Mutex<HashMap<ExecKey, SpawnEnv>>,
}

/// A process's exec, as `stat` shows it: pid, start ticks, then the six addresses.
type ExecKey = (i32, u64, [u64; 6]);

/// Environments kept per cache before it starts afresh.
const MAX_ENVS: usize = 4096;

impl EnvCache {
    pub fn new() -> EnvCache {
        EnvCache::default()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<ExecKey, SpawnEnv>> {
        // A poisoned lock only means another thread panicked mid-update: the map is valid.
        self.envs.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn get(&self, key: &ExecKey) -> Option<SpawnEnv> {
        self.lock().get(key).cloned()
    }

    fn keep(&self, key: ExecKey, env: &SpawnEnv) {
        let mut envs = self.lock();
        if envs.len() >= MAX_ENVS {
            envs.clear();
        }
        envs.insert(key, env.clone());
    }
}

/// The key of the process `stat` shows, when it shows where its exec laid it out (the
/// addresses are 0 for a kernel thread, a zombie, or a reader without the right to see them,
/// which is also the right to read `environ`): then nothing is kept.
fn exec_key(pid: i32, stat: &StatMarks) -> Option<ExecKey> {
    let layout = stat.layout?;
    (layout[4] != 0 && layout[5] != 0).then_some((pid, stat.starttime, layout))
}

/// As [`read`], the spawn environment taken from `cache` when it holds this process's (see
/// [`EnvCache`]), and kept there when read. Reads, all through the one handle on
/// `/proc/<pid>`: `stat`, then `status`, `environ` and the `fd/1` link as asked. Should the pid
/// be another process's by then, those reads fail (the handle names the process it was opened
/// on). The first file that could not be read is named in `error` in the order `status`,
/// `environ`, `fd/1`.
///
/// When this thread has just read the same process's stats (`proc::opened`: `proc_stats`,
/// then `proc_marks`, in `run_verdicts`), their handle and `stat` are taken instead: no second
/// open of `/proc/<pid>`, no second `stat`.
pub fn read_with(pid: i32, want: WantMarks, cache: Option<&EnvCache>) -> Option<Marks> {
    if let Some(opened) = opened::take(pid) {
        return read_rest(&opened.process, &opened.stat, want, cache);
    }
    read_now(pid, want, cache)
}

/// As [`read_with`], every file read now.
fn read_now(pid: i32, want: WantMarks, cache: Option<&EnvCache>) -> Option<Marks> {
    if pid < 1 {
        return None;
    }
    let process = Process::new(pid).ok()?;
    let mut buf = file::buffer();
    let stat = file::read_into(&process, "stat", &mut buf)
        .and_then(|()| procfs::process::Stat::from_read(&buf[..]))
        .map(|stat| StatMarks::of(&stat));
    file::give_back(buf);
    read_rest(&process, &stat.ok()?, want, cache)
}

/// As [`read_rest_into`], in this thread's buffer (`file::buffer`).
fn read_rest(
    process: &Process,
    stat: &StatMarks,
    want: WantMarks,
    cache: Option<&EnvCache>,
) -> Option<Marks> {
    let mut buf = file::buffer();
    let marks = read_rest_into(process, stat, want, cache, &mut buf);
    file::give_back(buf);
    marks
}

/// The marks from `stat`, then `status`, `environ` and the link as asked, through the handle,
/// each file read into `buf`.
fn read_rest_into(
    process: &Process,
    stat: &StatMarks,
    want: WantMarks,
    cache: Option<&EnvCache>,
    buf: &mut Vec<u8>,
) -> Option<Marks> {
    let pid = process.pid();
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
        let status = status::read(process, buf);
        if let Some(status) = optional(&mut marks, "status", status)? {
            marks.ruid = Some(status.ruid);
            marks.euid = Some(status.euid);
            // A kernel without NSpid (before 4.1) has one pid namespace: pid 1 is its init.
            marks.namespace_init = Some(status.nspid_has_1.unwrap_or(pid == 1));
        }
    }
    if want.environ {
        let key = exec_key(pid, stat);
        let known = cache.zip(key.as_ref()).and_then(|(c, k)| c.get(k));
        marks.env = match known {
            Some(env) => Some(env),
            // The raw bytes, only the four variables kept (procfs' `environ` builds a map of
            // every variable: a third of `live_workers`' time at 5,000 workers, BENCHMARKS.md).
            None => {
                let raw = file::read_into(process, "environ", buf);
                let env = optional(&mut marks, "environ", raw)?.map(|()| spawn_env(buf));
                if let (Some(cache), Some(key), Some(env)) = (cache, key, &env) {
                    cache.keep(key, env);
                }
                env
            }
        };
    }
    if want.stdout {
        // The link through the handle (its process's, or `NotFound`).
        marks.stdout = match file::link_of(process, "fd/1") {
            Ok(target) => Some(describe(target)),
            // Not found: fd 1 is closed, or the process has ended since its `stat`. Nothing
            // to say about stdout, and nothing went wrong.
            Err(ProcError::NotFound(_)) => None,
            Err(e) => optional::<()>(&mut marks, "fd/1", Err(e))?.map(|()| String::new()),
        };
    }
    // Every file above was read through the one handle on /proc/<pid> opened first: should
    // the pid be another process's by now, those reads failed (the handle names the process it
    // was opened on), so they are the process whose start ticks `stat` gave. No second `stat`
    // (it was 13% of `live_workers` at 5,000 workers, BENCHMARKS.md).
    Some(marks)
}

/// Where a descriptor points, as the marks say it.
fn describe(target: FDTarget) -> String {
    match target {
        FDTarget::Path(path) => path.to_string_lossy().into_owned(),
        FDTarget::Pipe(inode) => format!("pipe:[{inode}]"),
        FDTarget::Socket(inode) => format!("socket:[{inode}]"),
        other => format!("{other:?}"),
    }
}

/// The marks of a process found by a pass over `/proc` (`proc_spawned`), when it carries the
/// owner's spawn marks: a `HERMES_KANBAN_*` environment (run, task or board), or stdout on a
/// task's log file (`…/logs/<name>.log`). `None` for any other process, a zombie, or one that
/// ended while read. Reads `environ` and the `fd/1` link, then `stat` and `status` (its real
/// and effective uids) only for a marked process, all through the one handle (a pid reused
/// meanwhile fails the later reads). The caller decides whose processes are looked at
/// (SECURITY.md: the board owner's only, [`Marks::not_spawned_by`]).
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
    // Unreadable: both stay `None`, and the marks are no one's.
    let status = status::read(process, buf).ok();
    Some(Marks {
        pid: process.pid(),
        start_ticks: stat.starttime,
        state: stat.state,
        ppid: stat.ppid,
        session: stat.session,
        pgrp: stat.pgrp,
        kernel_thread: procfs::process::StatFlags::from_bits_retain(stat.flags)
            .contains(procfs::process::StatFlags::PF_KTHREAD),
        ruid: status.as_ref().map(|s| s.ruid),
        euid: status.as_ref().map(|s| s.euid),
        env,
        stdout,
        ..Marks::default()
    })
}

/// The four `HERMES_KANBAN_*` variables and `HERMES_MACHINE_ID` of a raw `environ`
/// (NUL-separated `KEY=value`); nothing else is kept (a worker's environment holds secrets:
/// API keys, a coordinator's token).
fn spawn_env(raw: &[u8]) -> SpawnEnv {
    let mut env = SpawnEnv::default();
    let value = |v: &[u8]| Some(String::from_utf8_lossy(v).into_owned());
    for var in raw.split(|b| *b == 0) {
        if let Some(v) = var.strip_prefix(b"HERMES_MACHINE_ID=") {
            env.machine_id = value(v);
            continue;
        }
        let Some(rest) = var.strip_prefix(b"HERMES_KANBAN_") else {
            continue;
        };
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
    use crate::proc::Ended;
    use std::process::{Command, Stdio};

    /// Every file beyond `stat`.
    const ALL: WantMarks = WantMarks {
        status: true,
        environ: true,
        stdout: true,
    };

    #[test]
    fn a_child_carries_its_spawn_environment_and_stdout() {
        let dir = std::env::temp_dir().join(format!("kw-marks-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let log = dir.join("t_1.log");
        let mut child = Ended::sleeping(
            Command::new("sleep")
                .arg("100")
                .env("HERMES_KANBAN_RUN_ID", "42")
                .env("HERMES_KANBAN_TASK", "t_1")
                .env("HERMES_KANBAN_DB", "/x/kanban.db")
                .env("SECRET", "not kept")
                .stdout(Stdio::from(std::fs::File::create(&log).unwrap())),
        );
        let pid = child.pid();
        let marks = read(pid, ALL).unwrap();
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
        // Found by a pass: the same marks, and its real and effective uids (ours).
        let status = Process::new(pid).unwrap().status().unwrap();
        let found = read_spawned(&Process::new(pid).unwrap(), &mut Vec::new()).unwrap();
        assert_eq!(found.env, marks.env);
        assert_eq!(
            (found.ruid, found.euid),
            (Some(status.ruid), Some(status.euid))
        );
        assert_eq!(found.not_spawned_by(status.ruid), None);
        assert_eq!(
            (marks.ruid, marks.euid),
            (Some(status.ruid), Some(status.euid))
        );
        let init = WantMarks {
            status: true,
            ..WantMarks::default()
        };
        assert_eq!(read(1, init).unwrap().namespace_init, Some(true));
        child.end();
        assert_eq!(read(pid, ALL), None);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn marks_read_after_the_stats_take_their_reading_and_read_only_through_its_handle() {
        let dir = std::env::temp_dir().join(format!("kw-marks-kept-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let log = dir.join("t_2.log");
        let mut child = Ended::sleeping(
            Command::new("sleep")
                .arg("100")
                .env("HERMES_KANBAN_RUN_ID", "43")
                .stdout(Stdio::from(std::fs::File::create(&log).unwrap())),
        );
        let pid = child.pid();
        let (reading, kept) = crate::proc::info::read_kept(pid, crate::proc::info::Want::ALL);
        let (kept, started) = (kept.unwrap(), start_ticks(&reading));
        let marks = read_with(pid, ALL, None).unwrap();
        // The same marks as read afresh, but for the state (a sleep just exec'd may still be
        // running its loader).
        let afresh = read(pid, ALL).unwrap();
        assert_eq!(
            Marks {
                state: afresh.state,
                ..marks.clone()
            },
            afresh
        );
        assert_eq!(marks.start_ticks, started);
        assert!(opened::take(pid).is_none(), "taken by the marks");
        drop(kept);
        // Kept, then the process ends: its handle reads nothing more, so no file is read by
        // its pid, which another process may have by then. Its stdout is not read.
        let (reading, kept) = crate::proc::info::read_kept(pid, crate::proc::info::Want::ALL);
        let (kept, started) = (kept.unwrap(), start_ticks(&reading));
        child.end();
        let stdout = WantMarks {
            stdout: true,
            ..WantMarks::default()
        };
        let marks = read_with(pid, stdout, None).unwrap();
        assert_eq!(marks.start_ticks, started);
        assert_eq!(marks.stdout, None);
        drop(kept);
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// The start ticks a reading found.
    fn start_ticks(reading: &crate::proc::info::Reading) -> u64 {
        match reading {
            crate::proc::info::Reading::Found(info) => info.start_ticks.unwrap(),
            _ => panic!("not found"),
        }
    }

    #[test]
    fn the_signals_marks_are_read_now_never_taken_from_a_kept_reading() {
        let mut child = Ended::sleeping(Command::new("sleep").arg("100"));
        let pid = child.pid();
        let (reading, kept) = crate::proc::info::read_kept(pid, crate::proc::info::Want::ALL);
        let _held = kept.unwrap();
        assert_eq!(read(pid, ALL).unwrap().start_ticks, start_ticks(&reading));
        assert!(
            opened::take(pid).is_some(),
            "the signals' read took the reading a query kept"
        );
        // Ended: read now, there is nothing (a kept reading would have answered).
        let (_, kept) = crate::proc::info::read_kept(pid, crate::proc::info::Want::ALL);
        child.end();
        assert_eq!(read(pid, WantMarks::default()), None);
        drop(kept);
    }

    #[test]
    fn only_the_owners_real_and_effective_uid_make_the_owners_spawn() {
        let m = |ruid, euid| Marks {
            ruid,
            euid,
            ..Marks::default()
        };
        assert_eq!(m(Some(1000), Some(1000)).not_spawned_by(1000), None);
        // Another user's set-uid root program (`su`), on root's board.
        let su = m(Some(65534), Some(0)).not_spawned_by(0).unwrap();
        assert!(su.starts_with("real uid 65534, effective uid 0: "), "{su}");
        // The owner's own set-uid program: its environment is not the owner's to read.
        assert!(m(Some(1000), Some(0)).not_spawned_by(1000).is_some());
        assert!(m(None, None).not_spawned_by(0).is_some());
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
        let me = read(std::process::id() as i32, ALL).unwrap();
        assert!(!me.kernel_thread);
    }

    /// Wait until `pid`'s argv is `argv` (its exec done).
    fn wait_for_exec(pid: i32, argv: &[u8]) {
        while std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default() != argv {
            std::thread::yield_now();
        }
    }

    #[test]
    fn the_environment_is_kept_per_exec() {
        use std::io::Write;
        // A shell that waits for a line, then execs sleep under another run's environment:
        // the same pid and start ticks, a new environment.
        let mut child = Ended(
            Command::new("sh")
                .args(["-c", "read x; exec env HERMES_KANBAN_RUN_ID=2 sleep 100"])
                .env("HERMES_KANBAN_RUN_ID", "1")
                .stdin(Stdio::piped())
                .spawn()
                .unwrap(),
        );
        let pid = child.pid();
        wait_for_exec(
            pid,
            b"sh\x00-c\x00read x; exec env HERMES_KANBAN_RUN_ID=2 sleep 100\x00",
        );
        let cache = EnvCache::new();
        let run_id = |m: Option<Marks>| m.and_then(|m| m.env).and_then(|e| e.run_id);
        let before = read_with(pid, ALL, Some(&cache));
        let ticks = before.as_ref().map(|m| m.start_ticks);
        assert_eq!(run_id(before), Some("1".to_owned()));
        // Kept: asked again, the same.
        assert_eq!(
            run_id(read_with(pid, ALL, Some(&cache))),
            Some("1".to_owned())
        );
        child.0.stdin.take().unwrap().write_all(b"go\n").unwrap();
        wait_for_exec(pid, b"sleep\x00100\x00");
        let after = read_with(pid, ALL, Some(&cache));
        assert_eq!(after.as_ref().map(|m| m.start_ticks), ticks);
        assert_eq!(run_id(after), Some("2".to_owned()));
        child.end();
        assert_eq!(read_with(pid, ALL, Some(&cache)), None);
    }

    #[test]
    fn a_closed_stdout_is_no_stdout_and_no_error() {
        // The C locale: sleep opens no locale file at its start (the lowest free descriptor,
        // 1 here, would be taken by it for a moment), and it is read once asleep.
        let mut child = Ended(
            Command::new("sh")
                .args(["-c", "exec sleep 100 >&-"])
                .env("HERMES_KANBAN_RUN_ID", "7")
                .env("LC_ALL", "C")
                .env_remove("LANG")
                .env_remove("LANGUAGE")
                .spawn()
                .unwrap(),
        );
        let pid = child.pid();
        wait_for_exec(pid, b"sleep\x00100\x00");
        while !matches!(
            crate::proc::info::read(pid),
            crate::proc::info::Reading::Found(ref i) if i.state == Some('S')
        ) {
            std::thread::yield_now();
        }
        let marks = read(pid, ALL).unwrap();
        assert_eq!(marks.stdout, None);
        assert_eq!(marks.error, None);
        assert_eq!(marks.env.and_then(|e| e.run_id).as_deref(), Some("7"));
        child.end();
    }
}
