#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! Is anyone dispatching this board? (issue 39 §5) Each live claim's claimer, the dispatcher
//! `<host>:<pid>` its lock names, alive or gone (`run_claimers`, `claimer_alive` on each worker
//! of `?live=1`, `kanban_workers_claimer_gone`): real dispatchers and workers spawned as the
//! owner spawns them, the real binary over HTTP.

use crate::common::*;
use serde_json::{Value, json};

/// `(claimer_pid, claimer_alive, claimer_note)` of the run `run` in a `?live=1` answer.
fn claimer(live: &Value, run: i64) -> (Value, Value, Value) {
    let w = live["workers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|w| w["run_id"] == run)
        .unwrap_or_else(|| panic!("no run {run}: {live}"));
    (
        w["claimer_pid"].clone(),
        w["claimer_alive"].clone(),
        w["claimer_note"].clone(),
    )
}

#[test]
fn a_claim_whose_dispatcher_is_gone_is_said_so() {
    let board = Board::new("claimers");
    let w = board.writer();
    let host = local_hostname();
    // A worker spawned by a live dispatcher (the owner's spawn: its own session, the claim
    // naming the dispatcher's pid).
    let hermes = HermesWorker::sleep(&w, &board.path, "t_live");
    let dispatcher = hermes.dispatcher_pid();
    // A claim whose dispatcher has exited (and was reaped): its pid names no process.
    let gone = Worker::sleep().end();
    let orphan = Worker::sleep();
    let lock = format!("{host}:{gone}");
    let orphaned = insert_run(
        &w,
        &RunSpec::new("t_orphan")
            .pid(orphan.pid())
            .started(now_secs())
            .lock(Some(&lock)),
    );
    // A claim whose pid is another process now: one started after the claim was made.
    let newcomer = Worker::sleep();
    let lock = format!("{host}:{}", newcomer.pid());
    let reused = insert_run(
        &w,
        &RunSpec::new("t_reused")
            .pid(orphan.pid())
            .started(now_secs() - 600)
            .lock(Some(&lock)),
    );
    // Another host's claim: nothing is read here.
    let far = insert_run(
        &w,
        &RunSpec::new("t_far")
            .pid(orphan.pid())
            .started(now_secs())
            .lock(Some("gpu-box-7:1")),
    );
    let before = file_bytes(&board.path);
    let s = Server::start(&board.path);
    let (status, live) = s.get_json("/workers/active?live=1");
    assert_eq!(status, 200, "{live}");
    assert_eq!(
        claimer(&live, hermes.run),
        (json!(dispatcher), json!(true), Value::Null)
    );
    let (pid, is_alive, note) = claimer(&live, orphaned);
    assert_eq!((pid, is_alive), (json!(gone), json!(false)));
    assert_eq!(
        note,
        json!(format!(
            "the dispatcher that claimed it ({host}:{gone}) is gone (no such process): no one extends this claim or reaps its worker"
        ))
    );
    let (_, is_alive, note) = claimer(&live, reused);
    assert_eq!(is_alive, json!(false));
    assert!(
        note.as_str()
            .unwrap()
            .contains("is another process now (started after the claim)"),
        "{note}"
    );
    assert_eq!(claimer(&live, far), (json!(1), Value::Null, Value::Null));
    let metrics = String::from_utf8(s.get("/metrics").body).unwrap();
    assert!(
        metrics.contains("kanban_workers_claimer_gone{board=\"default\"} 2"),
        "{metrics}"
    );

    // The gateway restarts: the dispatcher dies, its worker (its own session) runs on.
    // SAFETY: kill has no memory-safety preconditions; the pid is the fixture's, our child.
    unsafe { libc::kill(dispatcher as i32, libc::SIGKILL) };
    // Until it has exited (a zombie, not reaped: its guard reaps it).
    // SAFETY: an all-zero siginfo_t is a valid value for waitid to overwrite.
    let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
    // SAFETY: waitid on our own child with a valid siginfo_t; WNOWAIT leaves it unreaped.
    let rc = unsafe {
        libc::waitid(
            libc::P_PID,
            dispatcher as u32,
            &mut info,
            libc::WEXITED | libc::WNOWAIT,
        )
    };
    assert_eq!(rc, 0, "waitid");
    let (_, live) = s.get_json("/workers/active?live=1");
    let (_, gone_now, note) = claimer(&live, hermes.run);
    assert_eq!(gone_now, json!(false), "{live}");
    assert!(
        note.as_str()
            .unwrap()
            .contains(&format!("({host}:{dispatcher}) is gone")),
        "{note}"
    );
    assert!(alive(hermes.pid()), "the worker died with its dispatcher");
    // SQL alone, as a sqlite3 user reads it.
    let conn = board.with_extension();
    let rows: Vec<(i64, Option<i64>)> = conn
        .prepare("SELECT run_id, claimer_alive FROM run_claimers ORDER BY run_id")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert_eq!(
        rows,
        [
            (hermes.run, Some(0)),
            (orphaned, Some(0)),
            (reused, Some(0)),
            (far, None)
        ]
    );
    assert_eq!(file_bytes(&board.path), before);
}
