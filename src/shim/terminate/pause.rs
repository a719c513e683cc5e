//! `POST /runs/{id}/pause` and `POST /runs/{id}/resume`: freeze or thaw the run's whole
//! systemd scope (`cgroup.freeze`), every process in it at once, escaped ones included. Only a
//! scope proven to be the run's (`proc::cgroup::scope_of_run`: the owner's name for the run,
//! the verified worker inside, the owner's part of the tree), and only when every member may
//! be signalled by terminate's rules (`Policy`: the board owner's real uid, never the shim's
//! own, an init or a kernel thread). Without a scope, refused with the reason: a tree walk
//! cannot freeze a tree whole (a child forked meanwhile would run on). Writes nothing to the
//! board.

use std::time::{Duration, Instant};

use serde_json::json;

use crate::proc::cgroup::scope::{NoScope, RunWorker, scope_of_run};
use crate::proc::marks::{self, WantMarks};
use crate::shim::ApiError;
use crate::shim::sample::Board;

use super::policy::Policy;

/// How long the kernel is given to freeze (or thaw) every member: it does so asynchronously,
/// and says so in `cgroup.events`.
const SETTLE: Duration = Duration::from_secs(2);

/// What pausing means to the owner's dispatcher, said with every pause (kanban-reference.md:
/// it extends the claim of a live host-local worker unless its heartbeat is over an hour old;
/// a claim lasts 900 s).
pub const HEARTBEAT_NOTE: &str = "a frozen worker does not heartbeat: the owner's dispatcher \
    keeps extending its claim while its last heartbeat is under an hour old, then lets the \
    claim expire (900 s) and reclaims the task; resume it before then";

/// Freeze (`freeze`) or thaw the run's scope; the answer says what each member is and whether
/// the scope is frozen now.
pub fn run(board: &Board, id: i64, freeze: bool, budget: Duration) -> Result<Vec<u8>, ApiError> {
    let what = if freeze { "pause" } else { "resume" };
    let found = super::found_run(board, id, budget, super::read)?;
    if found.ended {
        return Err(ApiError::new(409, format!("run {id} already ended")));
    }
    let (Some(pid), Some(ticks), true) = (found.worker_pid, found.start_ticks, found.signalable)
    else {
        return Err(ApiError::new(
            409,
            format!(
                "cannot {what} run {id}: its worker is not one that may be acted on ({})",
                found
                    .reason
                    .as_deref()
                    .or(found.identity.as_deref())
                    .unwrap_or("identity unverified")
            ),
        ));
    };
    let policy = super::owner_policy(board)?;
    let worker = RunWorker {
        pid: i32::try_from(pid).unwrap_or(0),
        start_ticks: u64::try_from(ticks).unwrap_or(0),
        task_id: &found.task_id,
        run_id: id,
        owner_uid: policy.owner_uid,
    };
    let scope = scope_of_run(&worker).map_err(|no| match no {
        NoScope::Refused(why) => ApiError::new(
            409,
            format!(
                "cannot {what} run {id}: it has no scope of its own ({why}). Pausing freezes \
                 the run's systemd scope, which the owner's dispatcher makes when it runs \
                 under systemd; a process tree without one cannot be frozen whole"
            ),
        ),
        NoScope::Unreadable(e) => ApiError::new(503, format!("the run's scope: {e}")),
    })?;
    let unreadable =
        |e: crate::proc::cgroup::Error| ApiError::new(503, format!("the run's scope: {e}"));
    let members = scope.members().map_err(unreadable)?;
    // Every member by terminate's rules, before anything is frozen: one refusal, nothing done.
    check_members(&members, &policy, what, id)?;
    scope.freeze(freeze).map_err(unreadable)?;
    let until = Instant::now() + SETTLE;
    let frozen = loop {
        let now = scope.events().map_err(unreadable)?.frozen;
        if now == Some(freeze) || Instant::now() >= until {
            break now;
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    let body = json!({
        "ok": frozen == Some(freeze),
        "run_id": id,
        "task_id": found.task_id,
        "scope": scope.name(),
        "frozen": frozen,
        "processes": members.iter().map(|m| m.pid).collect::<Vec<_>>(),
        "note": if freeze { HEARTBEAT_NOTE } else { "thawed: the worker runs, and heartbeats, again" },
    });
    Ok(serde_json::to_vec(&body).unwrap_or_default())
}

/// Every member of the scope by terminate's rules (`Policy`): the first refusal, if any.
fn check_members(
    members: &[crate::proc::cgroup::dir::Member],
    policy: &Policy,
    what: &str,
    id: i64,
) -> Result<(), ApiError> {
    let want = WantMarks {
        status: true,
        ..WantMarks::default()
    };
    for m in members {
        let Some(read) = marks::read(m.pid, want) else {
            continue; // Gone since the listing.
        };
        if let Some(why) = policy.refusal(&read) {
            return Err(ApiError::new(
                409,
                format!(
                    "cannot {what} run {id}: pid {} in its scope is {why}; nothing was frozen",
                    m.pid
                ),
            ));
        }
    }
    Ok(())
}
