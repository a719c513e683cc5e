//! `POST /runs/{run_id}/reap`: end what an ended run left behind (`lingering_workers`). It
//! signals by the rules terminate follows (SECURITY.md, `signal`), and writes the board only
//! where the owner's own reaper would (newer releases):
//!
//! 1. 404 for an unknown run, 409 for an open one (terminate ends an open run's worker and
//!    reclaims its task). The run (`sql/route_reap_run.sql`) and its rows of
//!    `lingering_workers` (`sql/route_reap_read.sql`): each process with the start ticks the
//!    view read it with. None: 200, `"processes": []`.
//! 2. A process whose evidence is weak (`signalable` 0: its log file or the spawned event
//!    alone) is refused; every other one is held by a pidfd and checked by `signal::Policy`
//!    (the board owner's real uid; never the shim, its ancestors, its session or group, a
//!    namespace's init, a kernel thread). One refusal: 409 naming it, nothing signalled.
//! 3. The run's scope, where the owner's spawn made one (0.20+ under systemd): proven again
//!    here (`proc::cgroup::scope_of_run`, the rule `lingering_workers` listed it by) by one of
//!    the lingering processes its own evidence proves the run's (the kept worker by its
//!    fingerprint, or one whose environment names the run). Every process in it and its
//!    sub-cgroups is then one of the run's, held and checked by the same rules (the board
//!    owner's real uid: one refusal, 409, nothing signalled). Without one, the rows alone.
//! 4. SIGTERM, the grace period, what appeared meanwhile, then the scope's kill switch
//!    (`cgroup.kill`, pulled only when every process it holds then may be signalled) and
//!    SIGKILL (`signal::terminate`, every member checked again before each signal). A
//!    survivor: 409 with the processes. A process whose environment names the run but that is
//!    not the owner's spawn (a set-uid program of another user: `lingering_workers` has no row
//!    of it) is listed in `ignored`, never signalled.
//! 5. Beside the owner's reaper (`reap_terminal_workers`, hermes-agent 0.20-0.21.x): where the
//!    run kept its worker's pid and fingerprint (`kept`) and that worker is now gone, its
//!    evidence is cleared as the owner clears it, the same compare-and-swap on both
//!    (`sql/reap_clear_worker.sql`), with the owner's `terminal_worker_reaped` event when it
//!    was signalled (`sql/reap_event.sql`), in one `BEGIN IMMEDIATE` transaction; a write
//!    lock is tried before any signal (busy: 503, nothing signalled). So neither acts on that
//!    process again; when the owner's reaper got there first (the swap changes no row, or
//!    the pid was cleared by it before), the answer says so (`worker_pid_cleared`, `note`).

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use rusqlite::types::ValueRef;
use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};
use serde_json::{Value, json};

use super::{Ask, as_json, ignored_json, refused_error, scope_members, signal, survivors_error};
use crate::proc::cgroup::scope::{RunWorker, Scope, scope_of_run};
use crate::proc::clock::unix_secs as now;
use crate::shim::ApiError;
use crate::shim::board::pool::{Writer, board_error, query_error};
use crate::shim::sample::Board;

const RUN_SQL: &str = include_str!("../../../sql/route_reap_run.sql");
const READ_SQL: &str = include_str!("../../../sql/route_reap_read.sql");
const CLEAR_SQL: &str = include_str!("../../../sql/reap_clear_worker.sql");
const EVENT_SQL: &str = include_str!("../../../sql/reap_event.sql");

/// One lingering process, as the view read it.
struct Lingering {
    pid: i64,
    start_ticks: i64,
    signalable: bool,
    refusal: Option<String>,
    cmdline: Vec<String>,
    /// The run's kept worker (its `worker_pid` and fingerprint are this process).
    kept: bool,
    /// Its own evidence proves it the run's (the fingerprint, or the environment naming the
    /// run): it may prove the run's scope.
    anchor: bool,
}

/// The run as read before acting.
struct Run {
    task_id: String,
    ended: bool,
    /// The worker pid and fingerprint the run kept (an integer pid and a text fingerprint).
    kept: Option<(i64, String)>,
    /// The pid the owner's reaper says it ended (its `terminal_worker_reaped` event).
    owner_reaped: Option<i64>,
}

/// The run (`None`: unknown) and, once it has ended, its lingering processes.
fn read(conn: &Connection, id: i64) -> Result<Option<(Run, Vec<Lingering>)>, ApiError> {
    let err = |e: rusqlite::Error| query_error(conn, &e);
    let run = conn
        .prepare_cached(RUN_SQL)
        .map_err(err)?
        .query_row([id], |r| {
            let kept = match (r.get_ref("worker_pid")?, r.get_ref("worker_started_at")?) {
                (ValueRef::Integer(pid), ValueRef::Text(fp)) => {
                    Some((pid, String::from_utf8_lossy(fp).into_owned()))
                }
                _ => None,
            };
            Ok(Run {
                task_id: r.get("task_id")?,
                ended: r.get("ended")?,
                kept,
                owner_reaped: match r.get_ref("owner_reaped_pid")? {
                    ValueRef::Integer(pid) => Some(pid),
                    _ => None,
                },
            })
        })
        .optional()
        .map_err(err)?;
    let Some(run) = run else {
        return Ok(None);
    };
    if !run.ended {
        return Ok(Some((run, Vec::new())));
    }
    let mut stmt = conn.prepare_cached(READ_SQL).map_err(err)?;
    let rows = stmt
        .query_map([id], |r| {
            let cmdline: Option<String> = r.get("cmdline")?;
            Ok(Lingering {
                pid: r.get("pid")?,
                start_ticks: r.get("start_ticks")?,
                signalable: r.get("signalable")?,
                refusal: r.get("refusal")?,
                cmdline: cmdline
                    .and_then(|c| serde_json::from_str(&c).ok())
                    .unwrap_or_default(),
                kept: r.get("kept")?,
                anchor: r.get("anchor")?,
            })
        })
        .map_err(err)?
        .collect::<Result<Vec<_>, _>>()
        .map_err(err)?;
    Ok(Some((run, rows)))
}

/// Who cleared the run's kept worker evidence, and a note in words when it was the owner.
#[derive(Default)]
struct Cleared {
    by: Option<&'static str>,
    note: Option<String>,
}

/// The owner's reaper ended `pid` and cleared the run's evidence before this reap (`during`:
/// while it ran, after it had signalled the same process too).
fn by_owner(pid: i64, during: bool) -> Cleared {
    let when = if during {
        "while this reap ran (both signalled it)"
    } else {
        "before this reap"
    };
    Cleared {
        by: Some("by the owner's reaper"),
        note: Some(format!(
            "the owner's reaper (reap_terminal_workers) ended the run's worker, pid {pid}, and \
             cleared its worker_pid {when}"
        )),
    }
}

/// Do it (on a blocking thread: it waits for the processes to end). The answer's body.
pub fn run(
    board: &Board,
    id: i64,
    ask: &Ask,
    budget: Duration,
    stopping: &AtomicBool,
) -> Result<Vec<u8>, ApiError> {
    // Over a copy of the lingering's rows and the run's on a rollback-journal board.
    let rows = crate::shim::board::snapshot::Scope::reap(id);
    let found = board.with_rows(Instant::now() + budget, &rows, |conn| read(conn, id))?;
    let (run, lingering) =
        found.ok_or_else(|| ApiError::new(404, format!("run {id} not found")))?;
    if !run.ended {
        return Err(ApiError::new(
            409,
            format!(
                "run {id} has not ended: POST /runs/{id}/terminate ends an open run's worker \
                 and reclaims its task; reap ends only what an ended run left behind"
            ),
        ));
    }
    let done = |processes: Vec<Value>,
                ignored: &[signal::Ignored],
                cleared: Cleared,
                scope: Option<&Scope>| {
        json!({"ok": true, "run_id": id, "task_id": run.task_id, "processes": processes,
               "ignored": ignored_json(ignored), "worker_pid_cleared": cleared.by,
               "note": cleared.note, "scope": scope.map(Scope::name)})
        .to_string()
        .into_bytes()
    };
    // The owner's reaper ended the kept worker and cleared the run's pid already.
    let earlier = match (&run.kept, run.owner_reaped) {
        (None, Some(pid)) => by_owner(pid, false),
        _ => Cleared::default(),
    };
    if lingering.is_empty() {
        return Ok(done(Vec::new(), &[], earlier, None));
    }
    let (members, policy, scope) = members(id, &run.task_id, &lingering, board)?;
    // The kept worker's evidence is written once it is gone: a write lock first (released at
    // once), so a busy board answers 503 before any signal.
    let kept = run
        .kept
        .as_ref()
        .filter(|_| lingering.iter().any(|l| l.kept));
    let writer = kept.map(|_| lock_probe(board, budget)).transpose()?;
    if stopping.load(Ordering::Relaxed) {
        return Err(ApiError::new(
            503,
            format!("run {id}: the shim is stopping; nothing was signalled"),
        ));
    }
    let run_env = signal::RunEnv::of(board.path(), id);
    let mut ignored = Vec::new();
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
    survivors_error(id, &outcomes, &processes, &ignored, "")?;
    let cleared = match (kept, writer) {
        (Some(kept), Some(mut writer)) => clear_kept(
            &mut writer,
            board,
            id,
            &run.task_id,
            kept,
            &outcomes,
            &processes,
        )?,
        _ => earlier,
    };
    Ok(done(processes, &ignored, cleared, scope.as_ref()))
}

/// The board's writer, a write lock taken and released on it: 503 when the board stays busy
/// past the budget (nothing signalled yet).
fn lock_probe(board: &Board, budget: Duration) -> Result<Writer, ApiError> {
    let err = |e: rusqlite::Error| board_error(board.path(), &e);
    let mut writer = board.open_writer(budget)?;
    writer
        .conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(err)?
        .rollback()
        .map_err(err)?;
    Ok(writer)
}

/// The kept worker (`kept`: its pid and fingerprint as the run kept them) is gone: its
/// evidence cleared as the owner's reaper clears it, with its `terminal_worker_reaped` event
/// when this reap signalled it, in one transaction. No row changed: the owner's reaper got
/// there first. A write that fails is a 503 that lists what was signalled.
fn clear_kept(
    writer: &mut Writer,
    board: &Board,
    id: i64,
    task_id: &str,
    kept: &(i64, String),
    outcomes: &[signal::Outcome],
    processes: &[Value],
) -> Result<Cleared, ApiError> {
    let (pid, fingerprint) = kept;
    let outcome = outcomes.iter().find(|o| i64::from(o.pid) == *pid);
    let signals = outcome.map_or(&[][..], |o| o.signals.as_slice());
    let failed = |e: rusqlite::Error| {
        let mut e = board_error(board.path(), &e);
        e.detail = format!(
            "run {id}: its processes were ended, but its kept worker_pid was not cleared (the \
             owner's reaper will clear it): {}",
            e.detail
        );
        e.extra = Some(json!({ "processes": processes }));
        e
    };
    let tx = writer
        .conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(failed)?;
    let changed = tx
        .execute(CLEAR_SQL, params![id, pid, fingerprint])
        .map_err(failed)?;
    if changed == 0 {
        let _ = tx.rollback();
        return Ok(by_owner(*pid, true));
    }
    if !signals.is_empty() {
        // The owner's payload, key for key (`_reap_terminal_worker_row`), marked manual.
        let payload = json!({
            "pid": pid, "worker_started_at": fingerprint, "prev_pid": pid,
            "host_local": true, "termination_attempted": true, "terminated": true,
            "sigkill": signals.contains(&"SIGKILL"), "manual": true,
        });
        tx.execute(EVENT_SQL, params![task_id, id, payload.to_string(), now()])
            .map_err(failed)?;
    }
    tx.commit().map_err(failed)?;
    Ok(Cleared {
        by: Some("by this reap"),
        note: None,
    })
}

/// The processes a reap would signal, the board's signal rules, and the run's scope where it
/// has one: every process the run left behind, each proven the run's by its environment, its
/// fingerprint or its scope and held by a pidfd, then every other process of the scope. A
/// process not proven, or one the signal rules refuse, is the 409 that says nothing was
/// signalled.
fn members(
    id: i64,
    task_id: &str,
    lingering: &[Lingering],
    board: &Board,
) -> Result<(Vec<signal::Member>, signal::Policy, Option<Scope>), ApiError> {
    let not_reaped = |refused: &[signal::Refused]| {
        refused_error(
            &format!("run {id}: not reaped"),
            refused,
            &[],
            "nothing was signalled",
        )
    };
    // The evidence first: only a process the run's environment, fingerprint or scope proves
    // is its.
    let weak: Vec<signal::Refused> = lingering
        .iter()
        .filter(|l| !l.signalable)
        .map(|l| signal::Refused {
            pid: i32::try_from(l.pid).unwrap_or(0),
            cmdline: l.cmdline.clone(),
            reason: l
                .refusal
                .clone()
                .unwrap_or_else(|| "not proven to be the run's".into()),
        })
        .collect();
    if !weak.is_empty() {
        return Err(not_reaped(&weak));
    }
    let policy = super::owner_policy(board)?;
    let targets: Vec<(i32, u64)> = lingering
        .iter()
        .filter_map(|l| Some((i32::try_from(l.pid).ok()?, ticks(l)?)))
        .collect();
    let mut members = match signal::collect_lingering(&targets, &policy) {
        signal::Collected::Members(m) => m,
        signal::Collected::Refused(refused) => return Err(not_reaped(&refused)),
        signal::Collected::Gone => Vec::new(),
    };
    let scope = run_scope(id, task_id, lingering, &policy);
    if let Some(scope) = &scope {
        let refused = scope_members(scope, &mut members, &policy);
        if !refused.is_empty() {
            return Err(not_reaped(&refused));
        }
    }
    Ok((members, policy, scope))
}

fn ticks(l: &Lingering) -> Option<u64> {
    u64::try_from(l.start_ticks).ok()
}

/// The ended run's scope, proven by the first of its lingering processes whose own evidence
/// proves it the run's and that is in the scope (`scope_of_run`: the owner's name for the
/// task and run, that process inside, the board owner's part of the tree); `None` without one.
fn run_scope(
    id: i64,
    task_id: &str,
    lingering: &[Lingering],
    policy: &signal::Policy,
) -> Option<Scope> {
    lingering.iter().filter(|l| l.anchor).find_map(|l| {
        scope_of_run(&RunWorker {
            pid: i32::try_from(l.pid).ok()?,
            start_ticks: ticks(l)?,
            task_id,
            run_id: id,
            owner_uid: policy.owner_uid,
        })
        .ok()
    })
}
