//! `POST /runs/{run_id}/reap`: end what an ended run left behind (`lingering_workers`). It
//! writes nothing to the board (the run has ended already); it signals, by the rules
//! terminate follows (SECURITY.md, `signal`):
//!
//! 1. 404 for an unknown run, 409 for an open one (terminate ends an open run's worker and
//!    reclaims its task). The run's rows of `lingering_workers` (`sql/route_reap_read.sql`):
//!    each process with the start ticks the view read it with. None: 200, `"processes": []`.
//! 2. A process whose evidence is weak (`signalable` 0: its log file or the spawned event
//!    alone) is refused; every other one is held by a pidfd and checked by `signal::Policy`
//!    (the board owner's real uid; never the shim, its ancestors, its session or group, a
//!    namespace's init, a kernel thread). One refusal: 409 naming it, nothing signalled.
//! 3. SIGTERM, the grace period, what appeared meanwhile, SIGKILL (`signal::terminate`, every
//!    member checked again before each signal). A survivor: 409 with the processes. A process
//!    whose environment names the run but that is not the owner's spawn (a set-uid program
//!    of another user: `lingering_workers` has no row of it) is listed in `ignored`, never
//!    signalled.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use rusqlite::{Connection, OptionalExtension};
use serde_json::{Value, json};

use super::{Ask, as_json, ignored_json, refused_error, signal, survivors_error};
use crate::shim::ApiError;
use crate::shim::board::pool::query_error;
use crate::shim::sample::Board;

const READ_SQL: &str = include_str!("../../../sql/route_reap_read.sql");

/// One lingering process, as the view read it.
struct Lingering {
    pid: i64,
    start_ticks: i64,
    signalable: bool,
    refusal: Option<String>,
    cmdline: Vec<String>,
}

/// The run (`None`: unknown), whether it has ended, and its lingering processes.
fn read(conn: &Connection, id: i64) -> Result<Option<(String, bool, Vec<Lingering>)>, ApiError> {
    let err = |e: rusqlite::Error| query_error(conn, &e);
    let run: Option<(String, bool)> = conn
        .prepare_cached("SELECT task_id, ended_at IS NOT NULL FROM task_runs WHERE id = ?1")
        .map_err(err)?
        .query_row([id], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()
        .map_err(err)?;
    let Some((task_id, ended)) = run else {
        return Ok(None);
    };
    if !ended {
        return Ok(Some((task_id, false, Vec::new())));
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
            })
        })
        .map_err(err)?
        .collect::<Result<Vec<_>, _>>()
        .map_err(err)?;
    Ok(Some((task_id, true, rows)))
}

/// Do it (on a blocking thread: it waits for the processes to end). The answer's body.
pub fn run(
    db: &Board,
    id: i64,
    ask: &Ask,
    budget: Duration,
    stopping: &AtomicBool,
) -> Result<Vec<u8>, ApiError> {
    let found = db.with_conn(Instant::now() + budget, |conn| read(conn, id))?;
    let (task_id, ended, lingering) =
        found.ok_or_else(|| ApiError::new(404, format!("run {id} not found")))?;
    if !ended {
        return Err(ApiError::new(
            409,
            format!(
                "run {id} has not ended: POST /runs/{id}/terminate ends an open run's worker \
                 and reclaims its task; reap ends only what an ended run left behind"
            ),
        ));
    }
    let done = |processes: Vec<Value>, ignored: &[signal::Ignored]| {
        json!({"ok": true, "run_id": id, "task_id": task_id, "processes": processes,
               "ignored": ignored_json(ignored)})
        .to_string()
        .into_bytes()
    };
    if lingering.is_empty() {
        return Ok(done(Vec::new(), &[]));
    }
    let (members, policy) = members(id, &lingering, db)?;
    if stopping.load(Ordering::Relaxed) {
        return Err(ApiError::new(
            503,
            format!("run {id}: the shim is stopping; nothing was signalled"),
        ));
    }
    let run_env = signal::RunEnv {
        run_id: id,
        board: db.path().to_path_buf(),
    };
    let mut ignored = Vec::new();
    let outcomes = signal::terminate(
        members,
        ask.grace,
        &run_env,
        &policy,
        stopping,
        &mut ignored,
    );
    let processes: Vec<Value> = outcomes.iter().map(as_json).collect();
    survivors_error(id, &outcomes, &processes, &ignored, "")?;
    Ok(done(processes, &ignored))
}

/// The processes a reap would signal, and the board's signal rules: every process the run left
/// behind, each proven the run's by its environment or fingerprint and held by a pidfd. A
/// process not proven, or one the signal rules refuse, is the 409 that says nothing was
/// signalled.
fn members(
    id: i64,
    lingering: &[Lingering],
    db: &Board,
) -> Result<(Vec<signal::Member>, signal::Policy), ApiError> {
    // The evidence first: only a process the run's environment or fingerprint proves is its.
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
        return Err(refused_error(
            &format!("run {id}: not reaped"),
            &weak,
            &[],
            "nothing was signalled",
        ));
    }
    let policy = signal::Policy::for_board(db.path(), db.owner())
        .map_err(|e| ApiError::new(503, format!("the board's owner cannot be read: {e}")))?;
    let targets: Vec<(i32, u64)> = lingering
        .iter()
        .filter_map(|l| {
            Some((
                i32::try_from(l.pid).ok()?,
                u64::try_from(l.start_ticks).ok()?,
            ))
        })
        .collect();
    match signal::collect_lingering(&targets, &policy) {
        signal::Collected::Members(m) => Ok((m, policy)),
        signal::Collected::Refused(refused) => Err(refused_error(
            &format!("run {id}: not reaped"),
            &refused,
            &[],
            "nothing was signalled",
        )),
        signal::Collected::Gone => Ok((Vec::new(), policy)),
    }
}
