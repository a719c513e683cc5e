//! Ending a worker's processes: every member of its tree, and of its session and process group
//! when it leads them (a child that daemonized by a double fork leaves the tree but not those).
//! Each member is identified by pid and start time when collected, and re-verified before each
//! signal, so a pid reused meanwhile is never signalled. Knows nothing of SQL or HTTP.

use std::time::{Duration, Instant};

use procfs::process::Process;
use rustix::process::{Pid, Signal, kill_process};

/// How often the members are looked at while waiting for them to end.
const POLL: Duration = Duration::from_millis(20);
/// How long SIGKILLed members get to disappear.
const KILL_WAIT: Duration = Duration::from_secs(2);

/// A process to end, as it was when collected.
#[derive(Debug, Clone)]
pub struct Member {
    pub pid: i32,
    pub start_ticks: u64,
    pub cmdline: Vec<String>,
}

/// What happened to one member.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    pub pid: i32,
    pub cmdline: Vec<String>,
    pub signals: Vec<&'static str>,
    /// `exited` (after SIGTERM), `killed` (after SIGKILL), `gone` (before any signal, or its
    /// pid now another process's), `survived` (still there after SIGKILL, or not ours to
    /// signal: another user's process).
    pub outcome: &'static str,
}

/// The state letter and start ticks of `pid`, or `None` when it is gone.
fn identity(pid: i32) -> Option<(char, u64)> {
    let stat = Process::new(pid).and_then(|p| p.stat()).ok()?;
    Some((stat.state, stat.starttime))
}

/// Still the member it was, and not ended (a zombie has ended: it only awaits its parent).
fn is_running(m: &Member) -> bool {
    matches!(identity(m.pid), Some((state, start)) if start == m.start_ticks && state != 'Z' && state != 'X')
}

/// The worker's processes: its tree (root first), then the other members of the session and
/// process group it leads. Collected before any signal.
pub fn collect(worker: i32) -> Vec<Member> {
    let mut pids: Vec<i32> = crate::tree::members(worker).iter().map(|m| m.pid).collect();
    let leads = Process::new(worker)
        .and_then(|p| p.stat())
        .map(|s| s.session == worker || s.pgrp == worker)
        .unwrap_or(false);
    if leads {
        if let Ok(all) = procfs::process::all_processes() {
            for process in all.flatten() {
                if let Ok(stat) = process.stat() {
                    if (stat.session == worker || stat.pgrp == worker) && !pids.contains(&stat.pid)
                    {
                        pids.push(stat.pid);
                    }
                }
            }
        }
    }
    pids.into_iter()
        .filter_map(|pid| {
            let process = Process::new(pid).ok()?;
            let stat = process.stat().ok()?;
            Some(Member {
                pid,
                start_ticks: stat.starttime,
                cmdline: process.cmdline().unwrap_or_default(),
            })
        })
        .collect()
}

/// What sending a signal to a member did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Signalled {
    Delivered,
    /// The member has ended (or its pid is another process's now): nothing sent.
    Ended,
    /// Not permitted (another user's process): it goes on running.
    Refused,
}

/// Send `signal` to `m` if it is still the member it was.
fn signal(m: &Member, signal: Signal) -> Signalled {
    if !is_running(m) {
        return Signalled::Ended;
    }
    match Pid::from_raw(m.pid).map(|pid| kill_process(pid, signal)) {
        Some(Ok(())) => Signalled::Delivered,
        Some(Err(e)) if e == rustix::io::Errno::SRCH => Signalled::Ended,
        _ => Signalled::Refused,
    }
}

/// SIGTERM to every member, up to `grace` for them to end, SIGKILL to what remains, and a
/// little more time for that. Blocks the calling thread while it waits.
pub fn terminate(members: &[Member], grace: Duration) -> Vec<Outcome> {
    let mut outcomes: Vec<Outcome> = members
        .iter()
        .map(|m| Outcome {
            pid: m.pid,
            cmdline: m.cmdline.clone(),
            signals: Vec::new(),
            outcome: "gone",
        })
        .collect();
    for (m, o) in members.iter().zip(outcomes.iter_mut()) {
        match signal(m, Signal::TERM) {
            Signalled::Delivered => o.signals.push("SIGTERM"),
            Signalled::Ended => {}
            // Not ours to signal: it survives, and keeps the claim.
            Signalled::Refused => o.outcome = "survived",
        }
    }
    wait_until_ended(members, Instant::now() + grace);
    for (m, o) in members.iter().zip(outcomes.iter_mut()) {
        if o.signals.is_empty() {
            continue;
        }
        match signal(m, Signal::KILL) {
            Signalled::Delivered => o.signals.push("SIGKILL"),
            Signalled::Ended => o.outcome = "exited",
            Signalled::Refused => o.outcome = "survived",
        }
    }
    wait_until_ended(members, Instant::now() + KILL_WAIT);
    for (m, o) in members.iter().zip(outcomes.iter_mut()) {
        if o.signals.len() == 2 {
            o.outcome = if is_running(m) { "survived" } else { "killed" };
        }
    }
    outcomes
}

fn wait_until_ended(members: &[Member], deadline: Instant) {
    while members.iter().any(is_running) && Instant::now() < deadline {
        std::thread::sleep(POLL);
    }
}
