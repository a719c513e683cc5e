//! `POST /runs/{run_id}/stop`: end a run's worker and keep its task out of the queue. Where
//! terminate reclaims (the task back to `ready`, and the dispatcher starts it again), stop
//! blocks the task as the owner's `block_task` blocks it, so nothing claims it again:
//!
//! 1. The run and the verdict on its worker (`sql/route_terminate_read.sql`), and whether the
//!    board's tasks can be blocked (`sql/stop_board.sql`): 404, 409 as terminate's (ended,
//!    its task not running or no longer this run's, another host's or an unverified worker).
//! 2. The run's processes first (terminate's `members`: each held by a pidfd and checked by
//!    the signal rules, the run's proven scope included): on hermes-agent 0.19.0's boards the
//!    block clears the worker's pid from both rows, so the set is taken before. One refusal
//!    is a 409 and nothing is written.
//! 3. The block, in one `BEGIN IMMEDIATE` transaction (`sql/stop_*.sql`): the owner's untyped
//!    block, its rows and its event (its loop counter routing the task to `triage` at the
//!    limit), under a compare-and-swap on the claim read in 1; every statement must change
//!    exactly one row, else nothing is written (409). A busy board: 503, nothing written.
//! 4. Then the processes are ended as terminate ends them (`signal::terminate`: SIGTERM, the
//!    grace period, what appeared meanwhile, the scope's `cgroup.kill`, SIGKILL). A survivor is a 409 that says the task
//!    is blocked (reap ends what the ended run left behind).

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};
use serde_json::{Value, json};

use super::{Ask, Found, as_json, ignored_json, signal, survivors_error};
use crate::proc::clock::unix_secs as now;
use crate::shim::ApiError;
use crate::shim::board::pool::{board_error, query_error};
use crate::shim::sample::Board;

const BOARD_SQL: &str = include_str!("../../../sql/stop_board.sql");
const TASK_SQL: &str = include_str!("../../../sql/stop_task.sql");
const RUN_SQL: &str = include_str!("../../../sql/stop_run.sql");
const EVENT_SQL: &str = include_str!("../../../sql/stop_event.sql");

/// What the block wrote: the task's status (`blocked`, or `triage` at the owner's loop limit)
/// and its loop counter.
struct Blocked {
    task_status: String,
    block_recurrences: i64,
}

/// Do it (on a blocking thread: it waits for the processes to end). The answer's body.
/// `stopping` is set when the shim is shutting down: before the block nothing is done; after
/// it the grace period ends at once.
pub fn run(
    board: &Board,
    id: i64,
    ask: &Ask,
    budget: Duration,
    stopping: &AtomicBool,
) -> Result<Vec<u8>, ApiError> {
    let found = super::found_run(board, id, budget, read)?;
    stoppable(id, &found)?;
    let policy = super::owner_policy(board)?;
    let run_env = signal::RunEnv::of(board.path(), id);
    // The processes first, held by their pidfds: the block may clear the pid from the rows.
    let mut ignored = Vec::new();
    let (members, scope) = super::members(id, &found, &run_env, &policy, &mut ignored)?;
    if stopping.load(Ordering::Relaxed) {
        return Err(ApiError::new(
            503,
            format!("run {id}: the shim is stopping; nothing was signalled or written"),
        ));
    }
    let mut writer = board.open_writer(budget)?;
    let blocked = block(&mut writer.conn, board, id, &found, ask)?;
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
    let then = format!(
        "; the task is {} all the same (nothing claims it again): POST /runs/{id}/reap ends \
         what the ended run left behind",
        blocked.task_status
    );
    survivors_error(id, &outcomes, &processes, &ignored, &then).map_err(|mut e| {
        if let Some(Value::Object(extra)) = &mut e.extra {
            extra.insert("task_status".into(), json!(blocked.task_status));
        }
        e
    })?;
    let body = json!({
        "ok": true,
        "run_id": id,
        "task_id": found.task_id,
        "reason": ask.reason,
        "task_status": blocked.task_status,
        "block_recurrences": blocked.block_recurrences,
        "worker": found.reason.as_deref().unwrap_or("alive"),
        "evidence": found.evidence,
        "processes": processes,
        "ignored": ignored_json(&ignored),
        "scope": scope.as_ref().map(|s| s.name()),
    });
    Ok(body.to_string().into_bytes())
}

/// The run as terminate reads it, once the board is known to be blockable (409 otherwise).
fn read(conn: &Connection, id: i64) -> Result<Option<Found>, ApiError> {
    let err = |e: rusqlite::Error| query_error(conn, &e);
    let blockable: bool = conn
        .prepare_cached(BOARD_SQL)
        .map_err(err)?
        .query_row([], |r| r.get("blockable"))
        .map_err(err)?;
    if !blockable {
        return Err(ApiError::new(
            409,
            format!(
                "cannot stop run {id}: the board's tasks have no block_kind and \
                 block_recurrences columns (the owner's block_task needs them); nothing was done"
            ),
        ));
    }
    super::read(conn, id)
}

/// Whether the run may be stopped: open, its task running and still its own, and its worker
/// one the shim may signal, or gone (blocked without a signal). The 409 otherwise.
fn stoppable(id: i64, found: &Found) -> Result<(), ApiError> {
    if found.ended {
        return Err(ApiError::new(409, format!("run {id} already ended")));
    }
    if found.task_status.as_deref() != Some("running") {
        return Err(ApiError::new(
            409,
            format!(
                "cannot stop run {id}: task {} is not running (it is {}); nothing was done",
                found.task_id,
                found.task_status.as_deref().unwrap_or("gone")
            ),
        ));
    }
    if found.current_run_id.is_some_and(|r| r != id) {
        return Err(changed(id, &found.task_id));
    }
    super::refused_worker(id, found)
}

fn changed(id: i64, task: &str) -> ApiError {
    ApiError::new(
        409,
        format!(
            "cannot stop run {id}: task {task} changed meanwhile (it is no longer this run's \
             running claim); nothing was signalled or written"
        ),
    )
}

/// The owner's block, in one transaction on the board's writer: the task, the run, the
/// event. Every statement must change exactly one row, or nothing is written (409).
fn block(
    conn: &mut Connection,
    board: &Board,
    id: i64,
    found: &Found,
    ask: &Ask,
) -> Result<Blocked, ApiError> {
    let err = |e: rusqlite::Error| board_error(board.path(), &e);
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(err)?;
    let blocked = tx
        .query_row(
            TASK_SQL,
            params![found.task_id, found.claim_lock, found.current_run_id],
            |r| {
                Ok(Blocked {
                    task_status: r.get("status")?,
                    block_recurrences: r.get("block_recurrences")?,
                })
            },
        )
        .optional()
        .map_err(err)?;
    let at = now();
    let changed_rows = match &blocked {
        Some(_) => [
            tx.execute(RUN_SQL, params![id, ask.reason, at])
                .map_err(err)?,
            tx.execute(EVENT_SQL, params![found.task_id, id, ask.reason, at])
                .map_err(err)?,
        ],
        None => [0, 0],
    };
    match blocked {
        Some(blocked) if changed_rows == [1, 1] => {
            tx.commit().map_err(err)?;
            Ok(blocked)
        }
        _ => {
            let _ = tx.rollback();
            Err(changed(id, &found.task_id))
        }
    }
}
