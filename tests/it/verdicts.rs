#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! Truthful liveness: the verdict of every kind of run, with real worker processes, through
//! SQL (the built `.so`: run_verdicts, live_workers, proc_tree) and through HTTP (the real
//! binary: /runs/{id}/inspect, /workers/active?live=1).

use std::process::Command;

use crate::common::*;
use rusqlite::Connection;
use serde_json::{Value, json};

/// A board whose runs record fingerprints (`worker_started_at`), as newer boards do.
fn board_with_fingerprints(tag: &str) -> Board {
    let board = Board::new(tag);
    board
        .writer()
        .execute_batch("ALTER TABLE task_runs ADD COLUMN worker_started_at TEXT")
        .unwrap();
    board
}

/// Insert a run and set its fingerprint (`fp`: an SQL expression, e.g. `'unverified'`).
fn run_with(conn: &Connection, spec: &RunSpec<'_>, fp: Option<&str>) -> i64 {
    let run = insert_run(conn, spec);
    if let Some(fp) = fp {
        conn.execute(
            &format!("UPDATE task_runs SET worker_started_at = {fp} WHERE id = ?1"),
            [run],
        )
        .unwrap();
    }
    run
}

fn quoted(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

/// (alive, reason, identity) of a run.
type Verdict = (Option<i64>, Option<String>, Option<String>);

/// A run's verdict, through SQL.
fn verdict(conn: &Connection, run: i64) -> Verdict {
    conn.query_row(
        "SELECT alive, reason, identity FROM run_verdicts WHERE run_id = ?1",
        [run],
        |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
    )
    .unwrap()
}

fn alive(identity: &str) -> Verdict {
    (Some(1), None, Some(identity.to_owned()))
}

fn reused() -> Verdict {
    (Some(0), Some("pid reused".to_owned()), None)
}

#[test]
fn every_identity_verdict_through_sql_and_http() {
    let board = board_with_fingerprints("verdicts");
    let worker = Worker::sleep();
    let pid = worker.pid();
    let now = now_secs();
    let truth = proc_truth(pid);
    let fp = owner_fingerprint(pid);
    let (epoch, _) = fp.rsplit_once('|').unwrap();
    let w = board.writer();
    let spec = |task: &'static str| RunSpec::new(task).pid(pid).started(now);
    let cases: Vec<(i64, Verdict)> = vec![
        (
            run_with(&w, &spec("t_fp"), Some(&quoted(&fp))),
            alive("verified"),
        ),
        (
            run_with(
                &w,
                &spec("t_fp_other"),
                Some(&quoted(&format!("{epoch}|{}", truth.start_ticks + 500))),
            ),
            reused(),
        ),
        (
            run_with(
                &w,
                &spec("t_fp_reboot"),
                Some(&quoted(&format!("another-boot:1|{}", truth.start_ticks))),
            ),
            // Another instantiation (a same-named container, or this host before a
            // restart): not this host's, never read.
            (
                None,
                Some(format!(
                    "worker runs on another machine: same host name, another instantiation: \
                     the claim names {}, but the run's fingerprint carries another-boot:1, not \
                     this host's {epoch} (a container of the same name, or this host before a \
                     restart)",
                    local_hostname()
                )),
                None,
            ),
        ),
        (
            run_with(
                &w,
                &spec("t_legacy"),
                Some(&(truth.start_ticks + 150).to_string()),
            ),
            alive("verified"),
        ),
        (
            run_with(
                &w,
                &spec("t_legacy_text"),
                Some(&quoted(&(truth.start_ticks - 100).to_string())),
            ),
            alive("verified"),
        ),
        (
            run_with(
                &w,
                &spec("t_legacy_far"),
                Some(&(truth.start_ticks + 900).to_string()),
            ),
            reused(),
        ),
        (
            run_with(&w, &spec("t_unverified"), Some("'unverified'")),
            alive("unverified"),
        ),
        (
            run_with(&w, &spec("t_garbage"), Some("'garbage'")),
            alive("unverified"),
        ),
        (
            run_with(&w, &spec("t_real"), Some("12.5")),
            alive("unverified"),
        ),
        (
            run_with(&w, &spec("t_huge"), Some(&quoted(&"9".repeat(300)))),
            alive("unverified"),
        ),
        (
            run_with(&w, &spec("t_pipes"), Some("'a:1|2|3'")),
            alive("unverified"),
        ),
        // No fingerprint: the spawn window decides.
        (
            run_with(&w, &spec("t_window"), None),
            alive("started with the run"),
        ),
        (
            run_with(
                &w,
                &RunSpec::new("t_old_claim").pid(pid).started(now - 3600),
                None,
            ),
            reused(),
        ),
        (
            run_with(
                &w,
                &RunSpec::new("t_future_claim").pid(pid).started(now + 600),
                None,
            ),
            reused(),
        ),
    ];
    drop(w);
    let conn = board.with_extension();
    for (run, expected) in &cases {
        assert_eq!(verdict(&conn, *run), *expected, "run {run}");
    }
    let server = Server::start(&board.path);
    for (run, (alive, reason, identity)) in &cases {
        let (status, body) = server.get_json(&format!("/runs/{run}/inspect"));
        assert_eq!(status, 200, "{body}");
        assert_eq!(
            body["alive"],
            json!(alive.map(|a| a == 1)),
            "run {run}: {body}"
        );
        assert_eq!(body["reason"], json!(reason), "run {run}: {body}");
        if let Some(identity) = identity {
            assert_eq!(body["identity"], json!(identity), "{body}");
            assert_eq!(body["pid"], pid);
        } else {
            // Another instantiation's run (alive unknown) names no pid of this host's.
            assert_eq!(body["pid"], json!(alive.map(|_| pid)), "{body}");
            assert!(
                body.get("cpu_percent").is_none(),
                "a stranger's stats: {body}"
            );
        }
    }
}

/// A claim taken on another host is never read here: alive unknown (null), the reason names
/// the host, even when a local process happens to have the pid.
#[test]
fn another_hosts_claim_is_not_read_locally() {
    let board = Board::new("verdict-remote");
    let worker = Worker::sleep();
    let w = board.writer();
    let remote = insert_run(
        &w,
        &RunSpec::new("t_remote")
            .pid(worker.pid())
            .started(now_secs())
            .lock(Some("gpu-box-7:4242")),
    );
    let bare = insert_run(
        &w,
        &RunSpec::new("t_bare")
            .pid(worker.pid())
            .started(now_secs())
            .lock(Some("4242")),
    );
    drop(w);
    let conn = board.with_extension();
    let row: (Option<i64>, String, i64, Option<String>, Option<i64>) = conn
        .query_row(
            "SELECT alive, reason, local, status, rss_bytes FROM run_verdicts WHERE run_id = ?1",
            [remote],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)),
        )
        .unwrap();
    assert_eq!(
        row,
        (
            None,
            "worker runs on host gpu-box-7".to_owned(),
            0,
            None,
            None
        )
    );
    // A lock without a host part is inspected locally, as the reference does.
    assert_eq!(verdict(&conn, bare), alive("started with the run"));
    let server = Server::start(&board.path);
    let (_, body) = server.get_json(&format!("/runs/{remote}/inspect"));
    assert_eq!(
        body,
        json!({"run_id": remote, "alive": null, "local": false, "worker_host": "gpu-box-7",
               "reason": "worker runs on host gpu-box-7"})
    );
    // --hostname makes that host this one.
    let bin = Command::new(shim_bin());
    let as_gpu = Server::start_with(bin, &board.path, &["--quiet", "--hostname", "gpu-box-7"]);
    let (_, body) = as_gpu.get_json(&format!("/runs/{remote}/inspect"));
    assert_eq!(body["alive"], true, "{body}");
    assert_eq!(body["local"], true);
}

/// A claim forged in bytes that are not UTF-8 (the owner writes text) names a host that is not
/// this one, even where decoding would spell this host's name (`--hostname` with U+FFFD in it):
/// through HTTP its worker is not read here, while the same name written as text is this host's
/// and read. The same real process is named by both.
#[test]
fn a_claim_of_invalid_bytes_is_not_this_hosts_through_http() {
    let board = Board::new("verdict-bytes");
    let worker = Worker::sleep();
    let w = board.writer();
    let spec = |task| RunSpec::new(task).pid(worker.pid()).started(now_secs());
    let forged = insert_run(&w, &spec("t_forged"));
    w.execute(
        "UPDATE task_runs SET claim_lock = CAST(x'61ff3a31' AS TEXT) WHERE id = ?1",
        [forged],
    )
    .unwrap();
    let text = insert_run(&w, &spec("t_text").lock(Some("a\u{fffd}:1")));
    drop(w);
    let bin = Command::new(shim_bin());
    let server = Server::start_with(bin, &board.path, &["--quiet", "--hostname", "a\u{fffd}"]);
    let (_, body) = server.get_json(&format!("/runs/{text}/inspect"));
    assert_eq!(
        (&body["local"], &body["alive"]),
        (&json!(true), &json!(true)),
        "{body}"
    );
    let (_, body) = server.get_json(&format!("/runs/{forged}/inspect"));
    assert_eq!(
        (&body["local"], &body["alive"]),
        (&json!(false), &json!(null)),
        "{body}"
    );
}

/// Alive but wedged: no heartbeat for over an hour, the claim expired, past max runtime; each
/// named with by how much. A healthy worker is not wedged.
#[test]
fn wedged_workers_say_which_and_by_how_much() {
    let board = board_with_fingerprints("verdict-wedged");
    let worker = Worker::sleep();
    let pid = worker.pid();
    let fp = quoted(&owner_fingerprint(pid));
    let now = now_secs();
    let w = board.writer();
    let healthy = run_with(&w, &RunSpec::new("t_ok").pid(pid).started(now), Some(&fp));
    let stuck = run_with(
        &w,
        &RunSpec::new("t_stuck").pid(pid).started(now),
        Some(&fp),
    );
    // The fixture's run: claim_expires = started + 900, heartbeat = started + 5, max 3600.
    w.execute(
        "UPDATE task_runs SET started_at = ?2, last_heartbeat_at = ?2 + 10, claim_expires = ?3 - 120,
                              max_runtime_seconds = 3600 WHERE id = ?1",
        rusqlite::params![stuck, now - 9000, now],
    )
    .unwrap();
    drop(w);
    let conn = board.with_extension();
    let wedged = |run: i64| -> (i64, Option<String>) {
        conn.query_row(
            "SELECT wedged, wedged_reason FROM run_verdicts WHERE run_id = ?1",
            [run],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap()
    };
    assert_eq!(wedged(healthy), (0, None));
    let (flag, reason) = wedged(stuck);
    let reason = reason.unwrap();
    assert_eq!(flag, 1);
    // Computed with the query's own clock: allow the second it may have ticked.
    assert!(reason.contains("no heartbeat for 899"), "{reason}");
    assert!(reason.contains("claim expired 12"), "{reason}");
    assert!(
        reason.contains("past max_runtime_seconds (3600) by 54"),
        "{reason}"
    );
    let server = Server::start(&board.path);
    let (_, body) = server.get_json(&format!("/runs/{stuck}/inspect"));
    assert_eq!(body["alive"], true);
    assert_eq!(body["identity"], "verified");
    assert_eq!(body["wedged"], true);
    assert!(
        body["wedged_reason"]
            .as_str()
            .unwrap()
            .contains("claim expired")
    );
    assert!(body["heartbeat_age_s"].as_i64().unwrap() >= 8990);
}

/// A worker with children: the tree's totals (its processes, their memory and CPU together),
/// through proc_tree in SQL and through HTTP.
#[test]
fn a_workers_process_tree_is_counted() {
    let board = Board::new("verdict-tree");
    // A shell that starts two sleeps and waits: three processes.
    let worker = Worker::asleep(Command::new("sh").args(["-c", "sleep 1000 & sleep 1000 & wait"]));
    let pid = worker.pid();
    // Wait until both children have exec'd `sleep` and sleep.
    let children = loop {
        let kids: Vec<i64> = std::fs::read_to_string(format!("/proc/{pid}/task/{pid}/children"))
            .unwrap()
            .split_whitespace()
            .map(|p| p.parse().unwrap())
            .collect();
        if kids.len() == 2
            && kids
                .iter()
                .all(|k| proc_truth(*k).cmdline == ["sleep", "1000"] && proc_truth(*k).state == 'S')
        {
            break kids;
        }
        std::thread::yield_now();
    };
    let w = board.writer();
    let run = insert_run(&w, &RunSpec::new("t_tree").pid(pid).started(now_secs()));
    drop(w);
    let conn = board.with_extension();
    let rows: Vec<(i64, i64, i64, i64)> = conn
        .prepare("SELECT pid, ppid, depth, rss_bytes FROM proc_tree(?1)")
        .and_then(|mut s| {
            s.query_map([pid], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))?
                .collect()
        })
        .unwrap();
    assert_eq!(rows.len(), 3, "{rows:?}");
    assert_eq!((rows[0].0, rows[0].2), (pid, 0));
    let mut kids: Vec<i64> = rows[1..].iter().map(|r| r.0).collect();
    kids.sort_unstable();
    let mut expected = children.clone();
    expected.sort_unstable();
    assert_eq!(kids, expected);
    assert!(rows[1..].iter().all(|r| r.1 == pid && r.2 == 1));
    let rss: i64 = [pid, children[0], children[1]]
        .iter()
        .map(|p| (proc_truth(*p).rss_pages * page_size()) as i64)
        .sum();
    assert_eq!(rows.iter().map(|r| r.3).sum::<i64>(), rss);
    // A depth bound: only the descendants (the root is not even read).
    let below: Vec<i64> = conn
        .prepare("SELECT depth FROM proc_tree(?1) WHERE depth > 0")
        .and_then(|mut s| s.query_map([pid], |r| r.get(0))?.collect())
        .unwrap();
    assert_eq!(below, [1, 1]);
    let none: i64 = conn
        .query_row(
            "SELECT count(*) FROM proc_tree(?1) WHERE depth >= 2",
            [pid],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(none, 0);
    let live: (i64, i64) = conn
        .query_row(
            "SELECT tree_processes, tree_rss_bytes FROM live_workers WHERE run_id = ?1",
            [run],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    assert_eq!(live, (3, rss));
    let server = Server::start(&board.path);
    let (_, body) = server.get_json(&format!("/runs/{run}/inspect"));
    assert_eq!(body["tree_processes"], 3, "{body}");
    assert_eq!(body["tree_rss_bytes"], rss);
    assert!(body["tree_cpu_percent"].as_f64().is_some());
    let (_, body) = server.get_json("/workers/active?live=1");
    assert_eq!(body["workers"][0]["tree_processes"], 3, "{body}");
}

/// proc_tree's bad input: NULL and a gone pid give no rows; anything else that is not a pid
/// is an error naming the function.
#[test]
fn proc_tree_rows_and_bad_arguments() {
    let conn = open_with_extension(std::path::Path::new(":memory:"));
    let count = |arg: &str| -> Result<i64, String> {
        conn.query_row(&format!("SELECT count(*) FROM proc_tree({arg})"), [], |r| {
            r.get(0)
        })
        .map_err(|e| e.to_string())
    };
    let gone = Worker::sleep().end();
    assert_eq!(count("NULL"), Ok(0));
    assert_eq!(count(&gone.to_string()), Ok(0));
    assert!(count("1").unwrap() >= 1);
    for (arg, words) in [
        ("'abc'", "proc_tree: pid must be an integer, got text 'abc'"),
        ("1.5", "proc_tree: pid must be an integer, got real 1.5"),
        ("0", "proc_tree: pid 0 is out of range"),
        ("-4", "proc_tree: pid -4 is out of range"),
        ("x'01'", "proc_tree: pid must be an integer, got a blob"),
    ] {
        let err = count(arg).unwrap_err();
        assert!(err.contains(words), "{arg}: {err}");
    }
    let err = conn
        .query_row("SELECT count(*) FROM proc_tree", [], |r| r.get::<_, i64>(0))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("proc_tree: a pid argument is required"),
        "{err}"
    );
}

/// A board without `worker_started_at` works (the spawn window decides); when the owner adds
/// the column while the shim runs, the next request reads it.
#[test]
fn a_board_gaining_the_fingerprint_column_is_read_from_the_next_request() {
    let board = Board::new("verdict-migrate");
    let worker = Worker::sleep();
    let pid = worker.pid();
    let w = board.writer();
    let run = insert_run(&w, &RunSpec::new("t_1").pid(pid).started(now_secs()));
    let server = Server::start(&board.path);
    let (_, body) = server.get_json(&format!("/runs/{run}/inspect"));
    assert_eq!(body["identity"], "started with the run", "{body}");
    w.execute_batch("ALTER TABLE task_runs ADD COLUMN worker_started_at TEXT")
        .unwrap();
    w.execute(
        "UPDATE task_runs SET worker_started_at = ?1 WHERE id = ?2",
        rusqlite::params![owner_fingerprint(pid), run],
    )
    .unwrap();
    let (_, body) = server.get_json(&format!("/runs/{run}/inspect"));
    assert_eq!(body["identity"], "verified", "{body}");
    // This host's instantiation, another process's start.
    let fp = owner_fingerprint(pid);
    let (epoch, _) = fp.rsplit_once('|').unwrap();
    w.execute(
        "UPDATE task_runs SET worker_started_at = ?1 WHERE id = ?2",
        rusqlite::params![format!("{epoch}|1"), run],
    )
    .unwrap();
    let (_, body) = server.get_json(&format!("/runs/{run}/inspect"));
    assert_eq!(body["reason"], "pid reused", "{body}");
    let (_, live) = server.get_json("/workers/active?live=1");
    assert_eq!(live["workers"][0]["reason"], "pid reused", "{live}");
    assert_eq!(live["workers"][0]["alive"], false);
}

/// `?live=1`: every active worker with its verdict and stats, from one query; `live` must be
/// 1/true/0/false.
#[test]
fn workers_active_live_lists_every_worker_with_its_verdict() {
    let board = board_with_fingerprints("verdict-live");
    let live = Worker::sleep();
    let gone = Worker::sleep().end();
    let now = now_secs();
    let w = board.writer();
    run_with(
        &w,
        &RunSpec::new("t_a").pid(live.pid()).started(now - 2),
        Some(&quoted(&owner_fingerprint(live.pid()))),
    );
    run_with(&w, &RunSpec::new("t_b").pid(gone).started(now - 1), None);
    run_with(
        &w,
        &RunSpec::new("t_c")
            .pid(live.pid())
            .started(now)
            .lock(Some("elsewhere:9")),
        None,
    );
    drop(w);
    let server = Server::start(&board.path);
    let (status, body) = server.get_json("/workers/active?live=1");
    assert_eq!(status, 200);
    assert_eq!(body["count"], 3);
    let workers = body["workers"].as_array().unwrap();
    let pick = |k: &str| workers.iter().map(|w| w[k].clone()).collect::<Vec<Value>>();
    assert_eq!(pick("task_id"), [json!("t_a"), json!("t_b"), json!("t_c")]);
    assert_eq!(pick("alive"), [json!(true), json!(false), Value::Null]);
    assert_eq!(
        pick("reason"),
        [
            Value::Null,
            json!("process not found"),
            json!("worker runs on host elsewhere")
        ]
    );
    assert_eq!(
        pick("identity"),
        [json!("verified"), Value::Null, Value::Null]
    );
    assert_eq!(workers[0]["cmdline"], json!(["sleep", "1000"]));
    assert_eq!(
        workers[0]["rss_bytes"],
        proc_truth(live.pid()).rss_pages * page_size()
    );
    assert_eq!(workers[0]["tree_processes"], 1);
    // Without live=1: the plain list, plus local.
    let (_, plain) = server.get_json("/workers/active?live=0");
    assert_eq!(
        plain["workers"][0]
            .as_object()
            .unwrap()
            .keys()
            .collect::<Vec<_>>(),
        ACTIVE_WORKERS_COLUMNS.iter().collect::<Vec<_>>()
    );
    for bad in ["2", "yes", "", "TRUE"] {
        let r = server.get(&format!("/workers/active?live={bad}"));
        assert_eq!(r.status, 422, "{bad}");
        assert!(r.detail().contains("live must be"), "{}", r.detail());
    }
}

/// The settings the verdicts use: the system's host name and a 60 s spawn window, each
/// overridden by its environment variable (the extension) — through the `sqlite3` shell.
#[test]
fn hostname_and_spawn_window_come_from_the_system_or_the_environment() {
    let query = "SELECT kanban_workers_hostname() || ' ' || kanban_workers_spawn_window()";
    let plain = run_ok(
        Command::new("sqlite3")
            .env_remove("KANBAN_WORKERS_HOSTNAME")
            .env_remove("KANBAN_WORKERS_SPAWN_WINDOW")
            .arg(":memory:")
            .arg(format!(".load {}", so_stem()))
            .arg(query),
    );
    assert_eq!(plain.trim(), format!("{} 60", local_hostname()));
    let set = run_ok(
        Command::new("sqlite3")
            .env("KANBAN_WORKERS_HOSTNAME", "box-1")
            .env("KANBAN_WORKERS_SPAWN_WINDOW", "5")
            .arg(":memory:")
            .arg(format!(".load {}", so_stem()))
            .arg(query),
    );
    assert_eq!(set.trim(), "box-1 5");
    // Direct use only: a database's stored view cannot ask for this host's name.
    let board = Board::new("verdict-direct");
    board
        .writer()
        .execute_batch("CREATE VIEW peek AS SELECT kanban_workers_hostname() AS h")
        .unwrap();
    let conn = board.with_extension();
    let err = conn
        .query_row("SELECT h FROM peek", [], |r| r.get::<_, String>(0))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("unsafe use of kanban_workers_hostname"),
        "{err}"
    );
}

/// This host's machine id for the extension: `$KANBAN_WORKERS_MACHINE_ID` (checked: a value
/// that is not one is none: a machine id is a UUID, and an operator's free string such as
/// `hermes-prod-boston-01` is never taken for one), and with it a run stamped with another
/// machine is not this host's, whatever its claim names — through the `sqlite3` shell. A run
/// stamped with a free string is stamped with nothing: its claim decides.
#[test]
fn the_machine_id_comes_from_the_environment_and_decides_locality() {
    let board = Board::new("verdict-machine");
    let w = board.writer();
    w.execute_batch("ALTER TABLE task_runs ADD COLUMN machine_id TEXT")
        .unwrap();
    let run = insert_run(
        &w,
        &RunSpec::new("t_m")
            .pid(1)
            .started(now_secs())
            .lock(Some(&format!("{}:1", local_hostname()))),
    );
    w.execute(
        "UPDATE task_runs SET machine_id = ?2 WHERE id = ?1",
        rusqlite::params![run, ELSEWHERE],
    )
    .unwrap();
    let free = insert_run(
        &w,
        &RunSpec::new("t_free")
            .pid(1)
            .started(now_secs())
            .lock(Some(&format!("{}:1", local_hostname()))),
    );
    w.execute(
        "UPDATE task_runs SET machine_id = 'hermes-prod-boston-01' WHERE id = ?1",
        [free],
    )
    .unwrap();
    drop(w);
    let query = format!(
        "SELECT coalesce(kanban_workers_machine_id(), 'NULL') || ' ' || local \
         FROM run_claims WHERE id = {run}"
    );
    let ask = |machine: Option<&str>| {
        let mut cmd = Command::new("sqlite3");
        match machine {
            Some(m) => cmd.env("KANBAN_WORKERS_MACHINE_ID", m),
            None => cmd.env_remove("KANBAN_WORKERS_MACHINE_ID"),
        };
        run_ok(
            cmd.arg(&board.path)
                .arg(format!(".load {}", so_stem()))
                .arg(&query),
        )
        .trim()
        .to_owned()
    };
    // Unknown here: the claim's host name decides (this host's).
    assert_eq!(ask(None), "NULL 1");
    assert_eq!(ask(Some("not a machine id!")), "NULL 1");
    assert_eq!(ask(Some("hermes-prod-boston-01")), "NULL 1");
    assert_eq!(ask(Some(ELSEWHERE)), format!("{ELSEWHERE} 1"));
    // Upper case is the same UUID.
    assert_eq!(
        ask(Some(&ELSEWHERE.to_uppercase())),
        format!("{ELSEWHERE} 1")
    );
    assert_eq!(ask(Some(HERE)), format!("{HERE} 0"));
    // The run stamped with a free string: its claim (this host's) decides.
    let free_local = run_ok(
        Command::new("sqlite3")
            .env("KANBAN_WORKERS_MACHINE_ID", HERE)
            .arg(&board.path)
            .arg(format!(".load {}", so_stem()))
            .arg(format!("SELECT local FROM run_claims WHERE id = {free}")),
    );
    assert_eq!(free_local.trim(), "1");
    // The one rule, as SQL: a UUID (trimmed, lower-cased), else NULL.
    let of = run_ok(
        Command::new("sqlite3")
            .arg(&board.path)
            .arg(format!(".load {}", so_stem()))
            .arg(format!(
                "SELECT kanban_workers_machine_id_of(' {} ') || '|' || \
                 coalesce(kanban_workers_machine_id_of('hermes-prod-boston-01'), 'NULL')",
                HERE.to_uppercase()
            )),
    );
    assert_eq!(of.trim(), format!("{HERE}|NULL"));
}

/// Two Hermes machine ids (UUIDs, as `kanban/machine-id` holds them).
const ELSEWHERE: &str = "0b3c1e7a-2f44-4d1e-9a51-6c2f0d9e8b11";
const HERE: &str = "7d9e2c41-5a0b-4c3f-8e6d-1f2a3b4c5d6e";

/// `active_workers` gives exactly the reference's rows for every row the owner's lifecycle
/// writes: retries (ended runs of a running task), an open run whose task's current_run_id is
/// NULL, two open runs of one task, runs of tasks in other states, runs without pid. The one
/// odd row it leaves out (documented): an open run whose status is not 'running'.
#[test]
fn active_workers_rows_are_the_reference_joins() {
    const REFERENCE: &str = "SELECT r.id FROM task_runs r JOIN tasks t ON t.id = r.task_id
        WHERE r.ended_at IS NULL AND r.worker_pid IS NOT NULL AND t.status = 'running'
        ORDER BY r.started_at, r.id";
    let board = Board::new("verdict-join");
    let w = board.writer();
    let t0 = 1_700_000_000;
    // Retries: three ended runs (crashed, timed_out, reclaimed), then the open one.
    for (k, status) in ["crashed", "timed_out", "reclaimed"].iter().enumerate() {
        let run = insert_run(
            &w,
            &RunSpec::new("t_retry")
                .pid(100 + k as i64)
                .started(t0 + k as i64)
                .ended(t0 + 50),
        );
        w.execute(
            "UPDATE task_runs SET status = ?1, outcome = ?1 WHERE id = ?2",
            rusqlite::params![status, run],
        )
        .unwrap();
    }
    let open = insert_run(&w, &RunSpec::new("t_retry").pid(200).started(t0 + 100));
    w.execute(
        "UPDATE tasks SET current_run_id = ?1 WHERE id = 't_retry'",
        [open],
    )
    .unwrap();
    // An open run whose task's current_run_id is NULL (the fixture leaves it NULL).
    insert_run(&w, &RunSpec::new("t_nocurrent").pid(201).started(t0 + 101));
    // Two open runs of one task (an older claim never closed).
    insert_run(&w, &RunSpec::new("t_twice").pid(202).started(t0 + 102));
    insert_run(&w, &RunSpec::new("t_twice").pid(203).started(t0 + 103));
    // Tasks in other states, and an open run without a pid yet.
    insert_run(
        &w,
        &RunSpec::new("t_blocked")
            .status("blocked")
            .pid(204)
            .started(t0 + 104),
    );
    insert_run(
        &w,
        &RunSpec::new("t_review")
            .status("review")
            .pid(205)
            .started(t0 + 105),
    );
    insert_run(&w, &RunSpec::new("t_nopid").started(t0 + 106));
    // Ended runs of a done task.
    insert_run(
        &w,
        &RunSpec::new("t_done")
            .status("done")
            .pid(206)
            .started(t0 + 1)
            .ended(t0 + 9),
    );
    let conn = board.with_extension();
    let ids = |sql: &str| -> Vec<i64> {
        conn.prepare(sql)
            .and_then(|mut s| s.query_map([], |r| r.get(0))?.collect())
            .unwrap()
    };
    let expected = ids(REFERENCE);
    assert_eq!(expected.len(), 4);
    assert_eq!(ids("SELECT run_id FROM active_workers"), expected);
    // The odd row: open, with a pid, of a running task, but its status is not 'running'.
    let odd = insert_run(&w, &RunSpec::new("t_odd").pid(207).started(t0 + 107));
    w.execute("UPDATE task_runs SET status = 'done' WHERE id = ?1", [odd])
        .unwrap();
    let reference = ids(REFERENCE);
    let view = ids("SELECT run_id FROM active_workers");
    assert_eq!(reference.len(), 5);
    assert_eq!(
        view, expected,
        "the odd row is left out, every other row kept"
    );
}

/// Rows the owner tolerates (hermes-agent 0.20+, `Run.from_row`'s `_to_epoch`): a run's times
/// given as a string of digits or as ISO-8601 text are judged as the epoch seconds they are,
/// from SQL as from HTTP: a healthy worker started now is neither "started 55 years ago" nor
/// wedged, its runtime is seconds, and an ISO `ended_at` ends the run; text that is no time is
/// no time (an empty `ended_at` leaves the run open, as the owner reads it).
#[test]
fn timestamps_as_text_are_judged_as_the_owner_reads_them() {
    let board = board_with_fingerprints("verdict-text-times");
    let worker = Worker::sleep();
    let pid = worker.pid();
    let fp = quoted(&owner_fingerprint(pid));
    let now = now_secs();
    let w = board.writer();
    let digits = run_with(
        &w,
        &RunSpec::new("t_digits").pid(pid).started(now),
        Some(&fp),
    );
    let iso = run_with(&w, &RunSpec::new("t_iso").pid(pid).started(now), Some(&fp));
    let ended = run_with(
        &w,
        &RunSpec::new("t_ended").pid(pid).started(now),
        Some(&fp),
    );
    let open = run_with(&w, &RunSpec::new("t_open").pid(pid).started(now), Some(&fp));
    let iso_of = |t: i64| -> String {
        w.query_row(
            "SELECT strftime('%Y-%m-%dT%H:%M:%SZ', ?1, 'unixepoch')",
            [t],
            |r| r.get(0),
        )
        .unwrap()
    };
    let (start_iso, beat_iso, expiry_iso) = (iso_of(now), iso_of(now + 5), iso_of(now + 900));
    w.execute(
        "UPDATE task_runs SET started_at = CAST(?2 AS TEXT), last_heartbeat_at = CAST(?2 + 5 AS TEXT),
                              claim_expires = CAST(?2 + 900 AS TEXT) WHERE id = ?1",
        rusqlite::params![digits, now],
    )
    .unwrap();
    w.execute(
        "UPDATE task_runs SET started_at = ?2, last_heartbeat_at = ?3, claim_expires = ?4 WHERE id = ?1",
        rusqlite::params![iso, start_iso, beat_iso, expiry_iso],
    )
    .unwrap();
    w.execute(
        "UPDATE task_runs SET ended_at = ?2 WHERE id = ?1",
        rusqlite::params![ended, iso_of(now)],
    )
    .unwrap();
    w.execute("UPDATE task_runs SET ended_at = '' WHERE id = ?1", [open])
        .unwrap();
    drop(w);
    let conn = board.with_extension();
    for run in [digits, iso, open] {
        let (alive, identity, wedged, runtime): (i64, String, i64, i64) = conn
            .query_row(
                "SELECT alive, identity, wedged, runtime_s FROM run_verdicts WHERE run_id = ?1",
                [run],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
            )
            .unwrap();
        assert_eq!(
            (alive, identity.as_str(), wedged),
            (1, "verified", 0),
            "run {run}"
        );
        assert!((0..600).contains(&runtime), "run {run}: runtime {runtime}");
    }
    let reason: String = conn
        .query_row(
            "SELECT reason FROM run_verdicts WHERE run_id = ?1",
            [ended],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(reason, "run already ended");
    let server = Server::start(&board.path);
    let (_, body) = server.get_json(&format!("/runs/{iso}/inspect"));
    assert_eq!(
        (body["alive"].clone(), body["wedged"].clone()),
        (true.into(), false.into()),
        "{body}"
    );
    assert!(body["heartbeat_age_s"].as_i64().unwrap() < 600, "{body}");
}
