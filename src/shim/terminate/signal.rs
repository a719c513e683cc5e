//! Ending a run's processes: the worker's tree, the session and process group it leads (a
//! child that daemonized by a double fork leaves the tree but not those), and every process of
//! the board owner whose environment names the run (one that escaped both); with the run's
//! proven scope, its kill switch too (`cgroup.kill`). Knows nothing of SQL or HTTP.
//!
//! Whose environment: a process's whose real and effective uids are both the board owner's
//! ([`Marks::not_spawned_by`]). `/proc/<pid>` is owned by the effective uid (by root for any
//! set-uid program), so another user's `su` kept waiting with a run's environment looks like
//! root's process by that alone; it is not the run's: [`Ignored`], never signalled, reported,
//! and it refuses nothing.
//!
//! Who may be signalled ([`Policy`], SECURITY.md): only processes whose real uid owns the board
//! file, and nothing of the shim's own. Every member is checked before any signal; one refusal
//! and nothing is signalled.
//!
//! Which process: each member is held by a pidfd opened before it is looked at, so a check
//! and its signal cannot be split by pid reuse (a pidfd names one process, never its pid's
//! next owner); the worker must still have the start ticks its verdict was made on. Members
//! that appear during the grace period (a child forked from a SIGTERM handler, say) are
//! collected again, checked by the same rules and SIGKILLed, and reported as `appeared`.

use std::collections::HashSet;
use std::os::fd::OwnedFd;
use std::os::unix::fs::MetadataExt;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use procfs::process::Process;
use rustix::process::{Pid, PidfdFlags, Signal, pidfd_open, pidfd_send_signal};

use crate::proc::cgroup::scope::Scope;
use crate::proc::marks::{self, Marks, WantMarks};

pub use super::policy::Policy;

/// How often the members are looked at while waiting for them to end.
const POLL: Duration = Duration::from_millis(20);
/// How long SIGKILLed members get to disappear.
pub const KILL_WAIT: Duration = Duration::from_secs(2);
/// Rounds of collecting what appeared and SIGKILLing it (a fork storm must end).
const KILL_ROUNDS: usize = 5;

/// The run, as its processes' environments name it.
#[derive(Debug, Clone)]
pub struct RunEnv {
    pub run_id: i64,
    /// The board file (compared as a file, however the environment spells it).
    pub board: PathBuf,
}

impl RunEnv {
    /// Run `run_id` of the board at `board`.
    pub fn of(board: &std::path::Path, run_id: i64) -> RunEnv {
        RunEnv {
            run_id,
            board: board.to_path_buf(),
        }
    }
}

/// A process to end, held by its pidfd.
#[derive(Debug)]
pub struct Member {
    pub pid: i32,
    pub start_ticks: u64,
    pub cmdline: Vec<String>,
    /// Collected after the grace period.
    pub appeared: bool,
    pidfd: OwnedFd,
}

/// A process whose environment names the run but that is not the board owner's spawn (another
/// user's set-uid program, say): not the run's, so neither signalled nor a refusal; why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ignored {
    pub pid: i32,
    pub reason: String,
}

/// A process that must not be signalled, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refused {
    pub pid: i32,
    pub cmdline: Vec<String>,
    pub reason: String,
}

/// What [`collect`] found.
#[derive(Debug)]
pub enum Collected {
    /// The worker is no longer the process the verdict was on (it ended; its pid may be
    /// another's now): nothing to signal.
    Gone,
    /// Some members must not be signalled: nothing is.
    Refused(Vec<Refused>),
    Members(Vec<Member>),
}

/// What happened to one member.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    pub pid: i32,
    pub cmdline: Vec<String>,
    pub signals: Vec<&'static str>,
    /// `exited` (after SIGTERM), `killed` (after SIGKILL), `gone` (before any signal),
    /// `survived` (still there after SIGKILL, or the signal was refused: `refused` says why).
    pub outcome: &'static str,
    pub appeared: bool,
    pub refused: Option<String>,
}

fn cmdline(pid: i32) -> Vec<String> {
    Process::new(pid)
        .and_then(|p| p.cmdline())
        .unwrap_or_default()
}

/// Hold `pid` by a pidfd, then look at it: the marks are of the process the pidfd names, or
/// that process has ended (then signals through the pidfd reach nobody).
fn hold(pid: i32) -> Option<(OwnedFd, Marks)> {
    let fd = pidfd_open(Pid::from_raw(pid)?, PidfdFlags::empty()).ok()?;
    let m = marks::read(
        pid,
        WantMarks {
            status: true,
            ..WantMarks::default()
        },
    )?;
    Some((fd, m))
}

/// How a process came to be a candidate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Found {
    /// In a root's tree, or the session or group the leader leads.
    Related,
    /// Its environment names the run: read from the process with these start ticks, whose
    /// `/proc/<pid>` is the owner's. Its real and effective uids are checked when it is held.
    Environment(u64),
    /// A row of `lingering_workers` (the owner's spawn, or the run's fingerprint), read with
    /// these start ticks.
    Listed(u64),
}

/// The pids that belong to the run: children of `roots`' trees, members of the session and
/// group `leader` leads, and processes whose `/proc/<pid>` is `owner_uid`'s and whose
/// environment names the run.
fn candidates(
    roots: &[i32],
    leader: Option<i32>,
    run: &RunEnv,
    owner_uid: u32,
) -> Vec<(i32, Found)> {
    let mut pids: Vec<(i32, Found)> = Vec::new();
    let push = |pid: i32, found: Found, pids: &mut Vec<(i32, Found)>| {
        if !pids.iter().any(|(p, _)| *p == pid) {
            pids.push((pid, found));
        }
    };
    for root in roots {
        for m in crate::proc::tree::members(*root) {
            push(m.pid, Found::Related, &mut pids);
        }
    }
    let board = std::fs::metadata(&run.board)
        .ok()
        .map(|m| (m.dev(), m.ino()));
    let run_id = run.run_id.to_string();
    let Ok(all) = procfs::process::all_processes() else {
        return pids;
    };
    for process in all.flatten() {
        let pid = process.pid();
        if pids.iter().any(|(p, _)| *p == pid) {
            continue;
        }
        let Ok(stat) = process.stat() else { continue };
        if leader.is_some_and(|l| stat.session == l || stat.pgrp == l) {
            push(pid, Found::Related, &mut pids);
            continue;
        }
        // Only the environments of processes whose /proc/<pid> is the owner's are read
        // (SECURITY.md); whether they are the owner's spawn is checked when held (`check`).
        if process.uid().ok() != Some(owner_uid) {
            continue;
        }
        let Some((ticks, env)) = marks::read(
            pid,
            WantMarks {
                environ: true,
                ..WantMarks::default()
            },
        )
        .and_then(|m| Some((m.start_ticks, m.env?))) else {
            continue;
        };
        let names_board = env
            .board
            .as_deref()
            .and_then(|b| std::fs::metadata(b).ok())
            .map(|m| (m.dev(), m.ino()));
        if env.run_id.as_deref() == Some(run_id.as_str())
            && names_board.is_some()
            && names_board == board
        {
            push(pid, Found::Environment(ticks), &mut pids);
        }
    }
    pids
}

/// The run's processes, worker first, each held and checked. `worker_ticks`: the start ticks
/// the verdict was made on. What its environment alone named but is not the owner's spawn is
/// added to `ignored`.
pub fn collect(
    worker: i32,
    worker_ticks: u64,
    run: &RunEnv,
    policy: &Policy,
    ignored: &mut Vec<Ignored>,
) -> Collected {
    let Some((fd, m)) = hold(worker) else {
        return Collected::Gone;
    };
    if m.start_ticks != worker_ticks || matches!(m.state, 'Z' | 'X') {
        return Collected::Gone;
    }
    let leader = (m.session == worker || m.pgrp == worker).then_some(worker);
    let mut members = vec![Member {
        pid: worker,
        start_ticks: m.start_ticks,
        cmdline: cmdline(worker),
        appeared: false,
        pidfd: fd,
    }];
    let mut refused = Vec::new();
    if let Some(reason) = policy.refusal(&m) {
        refused.push(Refused {
            pid: worker,
            cmdline: cmdline(worker),
            reason,
        });
    }
    for (pid, found) in candidates(&[worker], leader, run, policy.owner_uid) {
        if pid != worker {
            match check(pid, found, policy, false) {
                Checked::Member(m) => members.push(m),
                Checked::Refused(r) => refused.push(r),
                Checked::Ignored(i) => ignored.push(i),
                Checked::Gone => {}
            }
        }
    }
    collected(members, refused)
}

/// What holding and checking a candidate gave.
enum Checked {
    Member(Member),
    Refused(Refused),
    Ignored(Ignored),
    /// It ended, or its pid is another process's now (not the `ticks` asked for).
    Gone,
}

/// Hold `pid` and check it: a member, a refusal by the rules, or, for a process its
/// environment alone made a candidate, not the owner's spawn (ignored). Found with start
/// ticks, only the process that still has them.
fn check(pid: i32, found: Found, policy: &Policy, appeared: bool) -> Checked {
    let Some((fd, m)) = hold(pid) else {
        return Checked::Gone;
    };
    let ticks = match found {
        Found::Related => None,
        Found::Environment(t) | Found::Listed(t) => Some(t),
    };
    if ticks.is_some_and(|t| t != m.start_ticks) || matches!(m.state, 'Z' | 'X') {
        return Checked::Gone;
    }
    if let Found::Environment(_) = found {
        if let Some(reason) = m.not_spawned_by(policy.owner_uid) {
            return Checked::Ignored(Ignored { pid, reason });
        }
    }
    match policy.refusal(&m) {
        Some(reason) => Checked::Refused(Refused {
            pid,
            cmdline: cmdline(pid),
            reason,
        }),
        None => Checked::Member(Member {
            pid,
            start_ticks: m.start_ticks,
            cmdline: cmdline(pid),
            appeared,
            pidfd: fd,
        }),
    }
}

/// A process the run's scope lists (`proc::cgroup`): held and checked by the rules, as a
/// member of the tree is; `None` when it has ended.
pub fn listed(pid: i32, policy: &Policy) -> Option<Result<Member, Refused>> {
    match check(pid, Found::Related, policy, false) {
        Checked::Member(m) => Some(Ok(m)),
        Checked::Refused(r) => Some(Err(r)),
        Checked::Ignored(_) | Checked::Gone => None,
    }
}

fn collected(members: Vec<Member>, refused: Vec<Refused>) -> Collected {
    if refused.is_empty() {
        Collected::Members(members)
    } else {
        Collected::Refused(refused)
    }
}

/// The processes an ended run left behind (`lingering_workers`' rows: pid and the start
/// ticks the view read), each held by a pidfd and checked: one that no longer has those
/// ticks (it ended; its pid may be another's) is left out, one the rules refuse is refused.
pub fn collect_lingering(targets: &[(i32, u64)], policy: &Policy) -> Collected {
    let mut members = Vec::new();
    let mut refused = Vec::new();
    for &(pid, ticks) in targets {
        // Shown the owner's spawn (`proc_spawned`) or the run's fingerprint by the view: the
        // rules decide now.
        match check(pid, Found::Listed(ticks), policy, false) {
            Checked::Member(m) => members.push(m),
            Checked::Refused(r) => refused.push(r),
            Checked::Ignored(_) | Checked::Gone => {}
        }
    }
    collected(members, refused)
}

/// Still running: the pid has the member's start ticks and has not ended (a zombie has
/// ended: it only awaits its parent). The signal itself goes through the pidfd.
fn is_running(m: &Member) -> bool {
    let ticks = Process::new(m.pid).and_then(|p| p.stat()).ok();
    matches!(ticks, Some(s) if s.starttime == m.start_ticks && s.state != 'Z' && s.state != 'X')
}

/// What sending a signal to a member did.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Signalled {
    Delivered,
    /// The member has ended: nothing sent.
    Ended,
    /// Not sent: the rules refuse it now, or the kernel did (it goes on running).
    Refused(String),
}

/// Send `signal` to `m` if it is still the member it was and the rules still allow it: a
/// member may have changed since it was checked (a setuid program exec'd, a uid dropped).
fn signal(m: &Member, signal: Signal, policy: &Policy) -> Signalled {
    if !is_running(m) {
        return Signalled::Ended;
    }
    let now = marks::read(
        m.pid,
        WantMarks {
            status: true,
            ..WantMarks::default()
        },
    );
    match now {
        Some(marks) if marks.start_ticks == m.start_ticks => {
            if let Some(reason) = policy.refusal(&marks) {
                return Signalled::Refused(reason);
            }
        }
        _ => return Signalled::Ended,
    }
    match pidfd_send_signal(&m.pidfd, signal) {
        Ok(()) => Signalled::Delivered,
        Err(e) if e == rustix::io::Errno::SRCH => Signalled::Ended,
        Err(e) => Signalled::Refused(format!("the kernel refused the signal ({e})")),
    }
}

/// SIGTERM to every member, up to `grace` for them to end (cut short when `stopping` is set:
/// the shim is shutting down), then the members collected again, what appeared checked by
/// `policy` (what is not the owner's spawn added to `ignored`), the kill switch of `scope`
/// (when given, and every process in it may be signalled), SIGKILL to what remains, and a
/// little more time for that. Blocks the calling thread while it waits.
pub fn terminate(
    mut members: Vec<Member>,
    grace: Duration,
    run: &RunEnv,
    policy: &Policy,
    stopping: &AtomicBool,
    ignored: &mut Vec<Ignored>,
    scope: Option<&Scope>,
) -> Vec<Outcome> {
    let mut outcomes: Vec<Outcome> = members.iter().map(first_outcome).collect();
    for (m, o) in members.iter().zip(outcomes.iter_mut()) {
        match signal(m, Signal::TERM, policy) {
            Signalled::Delivered => o.signals.push("SIGTERM"),
            Signalled::Ended => {}
            Signalled::Refused(reason) => {
                o.outcome = "survived";
                o.refused = Some(reason);
            }
        }
    }
    wait_until_ended(&members, Instant::now() + grace, Some(stopping));
    let leader = members.first().map(|m| m.pid);
    // One deadline for every round: the kill phase is bounded (the stop bound counts on it).
    let kill_deadline = Instant::now() + KILL_WAIT;
    if let Some(scope) = scope {
        kill_scope(scope, &members, &mut outcomes, policy);
        wait_until_ended(&members, kill_deadline, None);
    }
    for _ in 0..KILL_ROUNDS {
        let new = take_appeared(&mut members, &mut outcomes, ignored, leader, run, policy);
        let killed = kill_remaining(&members, &mut outcomes, policy);
        if new == 0 && killed == 0 {
            break;
        }
        wait_until_ended(&members, kill_deadline, None);
        if Instant::now() >= kill_deadline {
            break;
        }
    }
    for m in &members {
        if let Some(o) = outcomes.iter_mut().find(|o| o.pid == m.pid) {
            if o.signals.contains(&"SIGKILL") || o.signals.contains(&KILL_SWITCH) {
                o.outcome = if is_running(m) { "survived" } else { "killed" };
            }
        }
    }
    outcomes
}

/// A member's outcome before anything was sent to it.
fn first_outcome(m: &Member) -> Outcome {
    Outcome {
        pid: m.pid,
        cmdline: m.cmdline.clone(),
        signals: Vec::new(),
        outcome: "gone",
        appeared: m.appeared,
        refused: None,
    }
}

/// What appeared since the members were collected (new children of members still running,
/// new members of the leader's session and group, new processes whose environment names the
/// run), each held by a pidfd: a new member, an outcome refused by `policy`, or (not the
/// owner's spawn) ignored. How many members and refusals.
fn take_appeared(
    members: &mut Vec<Member>,
    outcomes: &mut Vec<Outcome>,
    ignored: &mut Vec<Ignored>,
    leader: Option<i32>,
    run: &RunEnv,
    policy: &Policy,
) -> usize {
    let running: Vec<i32> = members
        .iter()
        .filter(|m| is_running(m))
        .map(|m| m.pid)
        .collect();
    let known: HashSet<i32> = members
        .iter()
        .map(|m| m.pid)
        .chain(outcomes.iter().map(|o| o.pid))
        .chain(ignored.iter().map(|i| i.pid))
        .collect();
    let mut new = 0;
    for (pid, found) in candidates(&running, leader, run, policy.owner_uid) {
        if known.contains(&pid) {
            continue;
        }
        match check(pid, found, policy, true) {
            Checked::Member(member) => {
                new += 1;
                outcomes.push(first_outcome(&member));
                members.push(member);
            }
            Checked::Refused(r) => {
                new += 1;
                outcomes.push(Outcome {
                    pid,
                    cmdline: r.cmdline,
                    signals: Vec::new(),
                    outcome: "survived",
                    appeared: true,
                    refused: Some(r.reason),
                });
            }
            Checked::Ignored(i) => ignored.push(i),
            Checked::Gone => {}
        }
    }
    new
}

/// What a member's outcome says when the scope's `cgroup.kill` ended it.
const KILL_SWITCH: &str = "cgroup.kill";

/// The scope's kill switch (`cgroup.kill`: every process in it and its sub-cgroups, at once,
/// whatever forked meanwhile), pulled only when every process it holds now may be signalled
/// by `policy` (the members were checked when collected; what appeared since is checked
/// here): one that may not leaves the switch alone, and the SIGKILL rounds act on each member
/// instead. Marks the members still running as ended by it.
fn kill_scope(scope: &Scope, members: &[Member], outcomes: &mut [Outcome], policy: &Policy) {
    let want = WantMarks {
        status: true,
        ..WantMarks::default()
    };
    let Ok(now) = scope.members() else {
        return;
    };
    let all_may = now
        .iter()
        .all(|m| marks::read(m.pid, want).is_none_or(|read| policy.refusal(&read).is_none()));
    // Which members it ends: those running before it is pulled (after, the kernel may have
    // ended them already).
    let running: Vec<&Member> = members.iter().filter(|m| is_running(m)).collect();
    if !all_may || scope.kill().is_err() {
        return;
    }
    for m in running {
        if let Some(o) = outcomes.iter_mut().find(|o| o.pid == m.pid) {
            if o.refused.is_none() {
                o.signals.push(KILL_SWITCH);
            }
        }
    }
}

/// SIGKILL to every member that got SIGTERM (or appeared since) and is not refused or killed
/// already. How many were sent.
fn kill_remaining(members: &[Member], outcomes: &mut [Outcome], policy: &Policy) -> usize {
    let mut killed = 0;
    for m in members {
        let Some(o) = outcomes.iter_mut().find(|o| o.pid == m.pid) else {
            continue;
        };
        if o.refused.is_some() || o.signals.contains(&"SIGKILL") || o.signals.contains(&KILL_SWITCH)
        {
            continue;
        }
        if o.signals.is_empty() && !m.appeared {
            continue;
        }
        match signal(m, Signal::KILL, policy) {
            Signalled::Delivered => {
                o.signals.push("SIGKILL");
                killed += 1;
            }
            Signalled::Ended if !o.signals.is_empty() => o.outcome = "exited",
            Signalled::Ended => {}
            Signalled::Refused(reason) => {
                o.outcome = "survived";
                o.refused = Some(reason);
            }
        }
    }
    killed
}

fn wait_until_ended(members: &[Member], deadline: Instant, stopping: Option<&AtomicBool>) {
    while members.iter().any(is_running) && Instant::now() < deadline {
        if stopping.is_some_and(|s| s.load(Ordering::Relaxed)) {
            return;
        }
        std::thread::sleep(POLL);
    }
}
