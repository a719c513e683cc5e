//! `POST /runs/{run_id}/terminate`: end a run's worker and reclaim its task, as the reference
//! does, with what we know better. It writes the board on a connection of its own (as stop
//! does: `stop`, the task blocked instead of reclaimed).
//!
//! 1. The run and the verdict on its worker (`sql/route_terminate_read.sql`): 404, 409 when it
//!    ended or its task is no longer running.
//! 2. Only a worker whose identity holds (`signalable`: `verified` by its fingerprint, or by
//!    the owner's `spawn marks`) is signalled, and only the process the verdict was made on
//!    (its start ticks): its whole tree, the session and process group it leads, the
//!    processes whose environment names the run (`signal`) and every process of the run's
//!    scope where the owner's spawn made one (`proc::cgroup::scope_of_run`: proven), each
//!    checked by the signal rules first (a refusal is a 409 and nothing is done), SIGTERM, the
//!    grace period, what appeared meanwhile, the scope's `cgroup.kill`, SIGKILL. A worker that
//!    survives keeps its claim (409, listing what survived).
//!    A process whose environment names the run but that is not the owner's spawn (its real
//!    or effective uid another's: a set-uid program) is not the run's: listed in `ignored`,
//!    never signalled, refusing nothing.
//!    An unverified worker, or another host's, is not signalled and keeps its claim (409); a
//!    gone worker (no pid, process not found, pid reused) is not signalled and is reclaimed.
//! 3. The reclaim in one `BEGIN IMMEDIATE` transaction with a compare-and-swap on the claim
//!    and the task's current run read in 1 (`sql/reclaim_*.sql`), every row count checked. A write lock is tried (and released) before any signal,
//!    so a board busy past the budget answers 503 having changed nothing.

pub(crate) mod pause;
mod policy;
pub(crate) mod reap;
pub(crate) mod signal;
pub(crate) mod stop;

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use rusqlite::types::ValueRef;
use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};
use serde_json::{Value, json};

use crate::proc::cgroup::scope::{RunWorker, Scope, scope_of_run};
use crate::shim::ApiError;
use crate::shim::board::pool::{board_error, query_error};
use crate::shim::sample::Board;

const READ_SQL: &str = include_str!("../../../sql/route_terminate_read.sql");
const RECLAIM_TASK_SQL: &str = include_str!("../../../sql/reclaim_task.sql");
const RECLAIM_RUN_SQL: &str = include_str!("../../../sql/reclaim_run.sql");
const RECLAIM_EVENT_SQL: &str = include_str!("../../../sql/reclaim_event.sql");

/// The largest body accepted, bytes.
pub const MAX_BODY: usize = 4096;
/// `grace_seconds`: default and bounds.
pub const DEFAULT_GRACE_S: u64 = 5;
pub const MAX_GRACE_S: u64 = 60;
/// The longest `reason`, characters.
pub const MAX_REASON: usize = 1000;

/// What the client asked for.
#[derive(Debug, Clone, PartialEq)]
pub struct Ask {
    pub reason: Option<String>,
    pub grace: Duration,
}

/// The body: a JSON object, `{}` accepted; `reason` a string or null, `grace_seconds` an
/// integer from 0 to 60. Anything else is a 422 saying what.
pub fn parse_body(body: &[u8]) -> Result<Ask, ApiError> {
    let bad = |what: &str| ApiError::new(422, format!("terminate: {what}"));
    let value: Value = serde_json::from_slice(body)
        .map_err(|e| bad(&format!("the body must be a JSON object ({e})")))?;
    let Value::Object(map) = value else {
        return Err(bad("the body must be a JSON object"));
    };
    let reason = match map.get("reason") {
        None | Some(Value::Null) => None,
        Some(Value::String(r)) if r.chars().count() <= MAX_REASON => Some(r.clone()),
        Some(Value::String(_)) => {
            return Err(bad(&format!(
                "reason must be at most {MAX_REASON} characters"
            )));
        }
        Some(_) => return Err(bad("reason must be a string or null")),
    };
    let grace = match map.get("grace_seconds") {
        None | Some(Value::Null) => DEFAULT_GRACE_S,
        Some(v) => match v.as_u64() {
            Some(s) if s <= MAX_GRACE_S => s,
            _ => {
                return Err(bad(&format!(
                    "grace_seconds must be an integer from 0 to {MAX_GRACE_S}"
                )));
            }
        },
    };
    Ok(Ask {
        reason,
        grace: Duration::from_secs(grace),
    })
}

/// The run as read before acting.
struct Found {
    task_id: String,
    ended: bool,
    worker_pid: Option<i64>,
    alive: Option<i64>,
    reason: Option<String>,
    identity: Option<String>,
    evidence: Option<String>,
    /// The verdict allows a signal (`signalable` in run_verdicts).
    signalable: bool,
    /// The start ticks of the process the verdict was made on.
    start_ticks: Option<i64>,
    worker_host: Option<String>,
    claim_lock: Option<String>,
    task_status: Option<String>,
    current_run_id: Option<i64>,
}

use crate::proc::clock::unix_secs as now;

/// Who may be signalled on `board` (`Policy::for_board`, the owner it was resolved
/// with): every action's first step; a board whose owner cannot be read is a 503.
fn owner_policy(board: &Board) -> Result<signal::Policy, ApiError> {
    signal::Policy::for_board(board.path(), board.owner())
        .map_err(|e| ApiError::new(503, format!("the board's owner cannot be read: {e}")))
}

/// How long the reclaim waits for the write lock once the shim is stopping: what is left of
/// the stop bound after the SIGKILL wait (docs/http.md).
const STOPPING_LOCK_WAIT: Duration = Duration::from_secs(2);

/// What was ignored, as the answers list it (`ignored`).
pub(crate) fn ignored_json(ignored: &[signal::Ignored]) -> Value {
    ignored
        .iter()
        .map(|i| json!({"pid": i.pid, "reason": i.reason}))
        .collect()
}

/// A 409 for members the rules refuse: `what` and the first refusal, `nothing` (what was not
/// done), every refused member in `processes`, and what was `ignored`.
pub(crate) fn refused_error(
    what: &str,
    refused: &[signal::Refused],
    ignored: &[signal::Ignored],
    nothing: &str,
) -> ApiError {
    let (pid, reason) = refused
        .first()
        .map_or((0, ""), |r| (r.pid, r.reason.as_str()));
    let mut e = ApiError::new(409, format!("{what}: pid {pid} is {reason}; {nothing}"));
    e.extra = Some(json!({"processes": refused.iter().map(|r| json!({
        "pid": r.pid, "cmdline": r.cmdline, "signals": [], "outcome": "refused",
        "refused": r.reason,
    })).collect::<Vec<_>>(), "ignored": ignored_json(ignored)}));
    e
}

/// A 409 listing `processes` (and what was `ignored`) when any of `outcomes` survived
/// (SIGKILL, or a refused signal); `then` says what follows from it.
pub(crate) fn survivors_error(
    id: i64,
    outcomes: &[signal::Outcome],
    processes: &[Value],
    ignored: &[signal::Ignored],
    then: &str,
) -> Result<(), ApiError> {
    let survivors: Vec<i32> = outcomes
        .iter()
        .filter(|o| o.outcome == "survived")
        .map(|o| o.pid)
        .collect();
    if survivors.is_empty() {
        return Ok(());
    }
    let mut e = ApiError::new(
        409,
        format!(
            "run {id}: processes {survivors:?} survived (SIGKILL, or the signal was refused){then}"
        ),
    );
    e.extra = Some(json!({ "processes": processes, "ignored": ignored_json(ignored) }));
    Err(e)
}

pub(crate) fn as_json(o: &signal::Outcome) -> Value {
    let mut v =
        json!({"pid": o.pid, "cmdline": o.cmdline, "signals": o.signals, "outcome": o.outcome});
    if o.appeared {
        v["appeared"] = json!(true);
    }
    if let Some(r) = &o.refused {
        v["refused"] = json!(r);
    }
    v
}

/// Do it (on a blocking thread: it waits for the worker to end). The answer's body.
/// `stopping` is set when the shim is shutting down: the grace period ends at once.
pub fn run(
    board: &Board,
    id: i64,
    ask: &Ask,
    budget: Duration,
    stopping: &AtomicBool,
) -> Result<Vec<u8>, ApiError> {
    let found = found_run(board, id, budget, read)?;
    terminable(id, &found)?;
    let err = |e: rusqlite::Error| board_error(board.path(), &e);
    let policy = owner_policy(board)?;
    let run_env = signal::RunEnv::of(board.path(), id);
    // Who would be signalled, checked before anything is: a refusal changes nothing.
    let mut ignored = Vec::new();
    let (members, scope) = members(id, &found, &run_env, &policy, &mut ignored)?;
    // A write lock now (released at once): a busy board answers 503 before any signal.
    let mut writer = board.open_writer(budget)?;
    writer
        .conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(err)?
        .rollback()
        .map_err(err)?;
    if stopping.load(Ordering::Relaxed) {
        return Err(ApiError::new(
            503,
            format!("run {id}: the shim is stopping; nothing was signalled or written"),
        ));
    }
    let outcomes = signal::terminate(
        members,
        ask.grace,
        &run_env,
        &policy,
        stopping,
        &mut ignored,
        scope.as_ref(),
    );
    let processes: Vec<Value> = outcomes.iter().map(as_json).collect();
    survivors_error(
        id,
        &outcomes,
        &processes,
        &ignored,
        "; the claim is kept (releasing it would start a second worker beside them)",
    )?;
    if stopping.load(Ordering::Relaxed) {
        // Within the stop bound: the lock is waited for briefly, and if it is not had, nothing
        // is written (the answer says so).
        let _ = writer.conn.busy_timeout(STOPPING_LOCK_WAIT.min(budget));
    }
    reclaim(
        &mut writer.conn,
        board,
        id,
        &found,
        ask,
        &outcomes,
        &processes,
    )?;
    let body = json!({
        "ok": true,
        "run_id": id,
        "task_id": found.task_id,
        "reason": ask.reason,
        "worker": found.reason.as_deref().unwrap_or("alive"),
        "evidence": found.evidence,
        "processes": processes,
        "ignored": ignored_json(&ignored),
        "scope": scope.as_ref().map(|s| s.name()),
    });
    Ok(body.to_string().into_bytes())
}

/// Whether the run may be terminated at all: open, its task running and still its own, and
/// its worker one the shim may signal, or gone (reclaimed without a signal). The 404 or 409
/// otherwise, before anything is signalled or written.
fn terminable(id: i64, found: &Found) -> Result<(), ApiError> {
    if found.ended {
        return Err(ApiError::new(409, format!("run {id} already ended")));
    }
    if found.task_status.as_deref() != Some("running") {
        return Err(not_reclaimable(id, &found.task_id));
    }
    if found.current_run_id.is_some_and(|r| r != id) {
        return Err(claimed_again(id, &found.task_id));
    }
    refused_worker(id, found)
}

/// A worker that may not be signalled and is not gone: another host's (`alive` null), or one
/// whose identity is unverified. The 409, before anything is signalled or written.
fn refused_worker(id: i64, found: &Found) -> Result<(), ApiError> {
    if found.signalable {
        return Ok(());
    }
    if found.alive.is_none() {
        return Err(ApiError::new(
            409,
            format!(
                "run {id}: worker runs on host {}; not signalled from here, the claim is kept",
                found.worker_host.as_deref().unwrap_or("?")
            ),
        ));
    }
    if found.alive == Some(1) {
        return Err(ApiError::new(
            409,
            format!(
                "run {id}: the worker's identity is unverified (identity: {}; evidence: {}): \
                 only a fingerprint or the owner's spawn environment proves a pid is the \
                 run's worker; it is not signalled and keeps its claim",
                found.identity.as_deref().unwrap_or("none"),
                found.evidence.as_deref().unwrap_or("none"),
            ),
        ));
    }
    Ok(())
}

/// The processes a terminate of a signalable worker would signal (its tree, and its run's
/// proven scope, by the signal rules), and that scope; none for a worker that is gone. A member the rules refuse is the 409 that says
/// nothing was signalled or written. What is not the run's goes to `ignored`.
fn members(
    id: i64,
    found: &Found,
    run_env: &signal::RunEnv,
    policy: &signal::Policy,
    ignored: &mut Vec<signal::Ignored>,
) -> Result<(Vec<signal::Member>, Option<Scope>), ApiError> {
    let (true, Some(pid), Some(ticks)) = (found.signalable, found.worker_pid, found.start_ticks)
    else {
        return Ok((Vec::new(), None));
    };
    let pid = i32::try_from(pid).unwrap_or(0);
    let ticks = u64::try_from(ticks).unwrap_or(0);
    let refused = |refused: &[signal::Refused], ignored: &[signal::Ignored]| {
        refused_error(
            &format!("run {id}: not signalled"),
            refused,
            ignored,
            "nothing was signalled or written",
        )
    };
    let mut members = match signal::collect(pid, ticks, run_env, policy, ignored) {
        signal::Collected::Gone => return Ok((Vec::new(), None)),
        signal::Collected::Members(m) => m,
        signal::Collected::Refused(r) => return Err(refused(&r, ignored)),
    };
    // The run's scope, where the owner's spawn made one (proven: its name for the run, the
    // verified worker inside, the owner's part of the tree): every process in it is the run's,
    // escaped ones included, each checked by the same rules. Without one, the tree walk alone.
    let worker = RunWorker {
        pid,
        start_ticks: ticks,
        task_id: &found.task_id,
        run_id: id,
        owner_uid: policy.owner_uid,
    };
    let Ok(scope) = scope_of_run(&worker) else {
        return Ok((members, None));
    };
    let refusals = scope_members(&scope, &mut members, policy);
    if !refusals.is_empty() {
        return Err(refused(&refusals, ignored));
    }
    Ok((members, Some(scope)))
}

/// Every process of the proven `scope` not among `members` yet, held and checked by the signal
/// rules (`policy`: the board owner's real uid, never the shim's own, an init, a kernel
/// thread) and added to them; those the rules refuse, returned (the caller's 409: nothing is
/// signalled). Terminate, stop and reap take a run's scope this way.
pub(crate) fn scope_members(
    scope: &Scope,
    members: &mut Vec<signal::Member>,
    policy: &signal::Policy,
) -> Vec<signal::Refused> {
    let mut refusals = Vec::new();
    for m in scope.proven_members() {
        if members.iter().any(|known| known.pid == m.pid) {
            continue;
        }
        match signal::listed(m.pid, policy) {
            Some(Ok(member)) => members.push(member),
            Some(Err(r)) => refusals.push(r),
            None => {}
        }
    }
    refusals
}

/// The reclaim, written as the owner writes one, in one transaction on the board's writer:
/// the task back to ready, the run ended, the event. Every statement must change exactly one
/// row, or nothing is written (409: the task was claimed again meanwhile), the processes'
/// outcomes kept in the answer.
fn reclaim(
    conn: &mut Connection,
    board: &Board,
    id: i64,
    found: &Found,
    ask: &Ask,
    outcomes: &[signal::Outcome],
    processes: &[Value],
) -> Result<(), ApiError> {
    let err = |e: rusqlite::Error| board_error(board.path(), &e);
    let reason = ask.reason.clone();
    let error = format!(
        "manual_reclaim: {}",
        reason.as_deref().unwrap_or("terminated from the dashboard")
    );
    let payload = json!({
        "manual": true,
        "reason": reason,
        "prev_lock": found.claim_lock,
        "retry_status": "ready",
        "worker_verdict": found.reason.as_deref().unwrap_or("alive"),
        "worker_evidence": found.evidence,
        "signalled": outcomes.iter().filter(|o| !o.signals.is_empty()).map(|o| o.pid).collect::<Vec<_>>(),
    });
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(err)?;
    // The owner's lock names the dispatcher, the same for each of its claims, so the run id
    // is compared too.
    let changed = [
        tx.execute(
            RECLAIM_TASK_SQL,
            params![found.task_id, found.claim_lock, found.current_run_id],
        )
        .map_err(err)?,
        tx.execute(RECLAIM_RUN_SQL, params![id, now(), error])
            .map_err(err)?,
        tx.execute(
            RECLAIM_EVENT_SQL,
            params![found.task_id, id, payload.to_string(), now()],
        )
        .map_err(err)?,
    ];
    if changed != [1, 1, 1] {
        let _ = tx.rollback();
        let mut e = claimed_again(id, &found.task_id);
        e.extra = Some(json!({ "processes": processes }));
        return Err(e);
    }
    tx.commit().map_err(err)
}

fn not_reclaimable(id: i64, task: &str) -> ApiError {
    ApiError::new(
        409,
        format!("cannot terminate run {id}: task {task} is no longer in a reclaimable state"),
    )
}

fn claimed_again(id: i64, task: &str) -> ApiError {
    ApiError::new(
        409,
        format!(
            "cannot terminate run {id}: task {task} was claimed again (it is no longer this \
             run's); nothing was written"
        ),
    )
}

/// The run and the verdict on its worker, as `read` (terminate's [`read`], or stop's, which
/// checks the board first) reads them over the run's rows: on a rollback-journal board, a
/// copy of them (the verdict reads /proc, and the owner's writer must not wait for it). 404
/// for a run the board does not have.
fn found_run(
    board: &Board,
    id: i64,
    budget: Duration,
    read: impl FnOnce(&Connection, i64) -> Result<Option<Found>, ApiError>,
) -> Result<Found, ApiError> {
    let rows = crate::shim::board::snapshot::Scope::run(id);
    board
        .with_rows(Instant::now() + budget, &rows, |conn| read(conn, id))?
        .ok_or_else(|| ApiError::new(404, format!("run {id} not found")))
}

fn read(conn: &Connection, id: i64) -> Result<Option<Found>, ApiError> {
    let err = |e: rusqlite::Error| query_error(conn, &e);
    let mut stmt = conn.prepare_cached(READ_SQL).map_err(err)?;
    stmt.query_row([id], |r| {
        Ok(Found {
            task_id: r.get("task_id")?,
            ended: !matches!(r.get_ref("ended_at")?, ValueRef::Null),
            // Only an integer pid is ever signalled (run_verdicts says why another is not).
            worker_pid: match r.get_ref("worker_pid")? {
                ValueRef::Integer(i) => Some(i),
                _ => None,
            },
            alive: r.get("alive")?,
            reason: r.get("reason")?,
            identity: r.get("identity")?,
            evidence: r.get("evidence")?,
            signalable: r.get("signalable")?,
            start_ticks: r.get("start_ticks")?,
            worker_host: r.get("worker_host")?,
            claim_lock: r.get("claim_lock")?,
            task_status: r.get("task_status")?,
            current_run_id: match r.get_ref("current_run_id")? {
                ValueRef::Integer(i) => Some(i),
                _ => None,
            },
        })
    })
    .optional()
    .map_err(err)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn bodies_are_checked() {
        assert_eq!(
            parse_body(b"{}").unwrap(),
            Ask {
                reason: None,
                grace: Duration::from_secs(5)
            }
        );
        assert_eq!(
            parse_body(br#"{"reason": "stuck", "grace_seconds": 0}"#).unwrap(),
            Ask {
                reason: Some("stuck".into()),
                grace: Duration::ZERO
            }
        );
        for bad in [
            &b""[..],
            b"not json",
            b"[]",
            b"null",
            br#"{"reason": 3}"#,
            br#"{"grace_seconds": -1}"#,
            br#"{"grace_seconds": 61}"#,
            br#"{"grace_seconds": 1.5}"#,
            br#"{"grace_seconds": "5"}"#,
        ] {
            assert_eq!(parse_body(bad).map_err(|e| e.status), Err(422), "{bad:?}");
        }
        let long = format!(r#"{{"reason": "{}"}}"#, "x".repeat(1001));
        assert_eq!(parse_body(long.as_bytes()).map_err(|e| e.status), Err(422));
    }
}
