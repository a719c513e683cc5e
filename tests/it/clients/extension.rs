#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! The built `.so`, loaded through rusqlite's `load_extension`, against real board files and
//! real worker processes, checked against the tests' own reading of /proc.

use std::process::Command;

use crate::common::*;
use rusqlite::types::Value;
use rusqlite::{Connection, OpenFlags};
use serde_json::json;

/// Every column of `proc_stats(pid)` as (name, value).
fn proc_row(conn: &Connection, pid: i64) -> Vec<(String, Value)> {
    let mut stmt = conn
        .prepare("SELECT * FROM proc_stats(?1)")
        .expect("prepare");
    let names: Vec<String> = stmt.column_names().iter().map(|s| s.to_string()).collect();
    let mut rows = stmt.query([pid]).expect("query");
    let row = rows.next().expect("step").expect("one row");
    let values = (0..names.len()).map(|i| row.get::<_, Value>(i).expect("value"));
    let out: Vec<(String, Value)> = names.into_iter().zip(values).collect();
    assert!(rows.next().expect("step").is_none(), "exactly one row");
    out
}

fn col<'a>(row: &'a [(String, Value)], name: &str) -> &'a Value {
    &row.iter()
        .find(|(n, _)| n == name)
        .unwrap_or_else(|| panic!("no column {name}"))
        .1
}

fn int(row: &[(String, Value)], name: &str) -> i64 {
    match col(row, name) {
        Value::Integer(i) => *i,
        other => panic!("{name} is not an integer: {other:?}"),
    }
}

fn real(row: &[(String, Value)], name: &str) -> f64 {
    match col(row, name) {
        Value::Real(r) => *r,
        other => panic!("{name} is not a real: {other:?}"),
    }
}

fn text(row: &[(String, Value)], name: &str) -> String {
    match col(row, name) {
        Value::Text(t) => t.clone(),
        other => panic!("{name} is not text: {other:?}"),
    }
}

fn is_null(row: &[(String, Value)], name: &str) -> bool {
    matches!(col(row, name), Value::Null)
}

const PROC_COLUMNS: [&str; 18] = [
    "pid",
    "alive",
    "reason",
    "error",
    "state",
    "ppid",
    "uid",
    "num_threads",
    "rss_bytes",
    "vms_bytes",
    "cpu_user_s",
    "cpu_system_s",
    "cpu_percent",
    "start_time",
    "num_fds",
    "cmdline",
    "start_ticks",
    "fingerprint",
];

#[test]
fn live_worker_matches_what_proc_says() {
    let worker = Worker::sleep();
    let pid = worker.pid();
    let conn = open_with_extension(std::path::Path::new(":memory:"));
    let row = proc_row(&conn, pid);
    let truth = proc_truth(pid);

    let names: Vec<&str> = row.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, PROC_COLUMNS);
    assert_eq!(int(&row, "pid"), pid);
    assert_eq!(int(&row, "alive"), 1);
    assert!(is_null(&row, "reason") && is_null(&row, "error"));
    assert_eq!(text(&row, "state"), "sleeping");
    assert_eq!(truth.state, 'S');
    assert_eq!(int(&row, "ppid"), i64::from(std::process::id()));
    assert_eq!(int(&row, "ppid"), truth.ppid);
    assert_eq!(int(&row, "uid"), i64::from(euid()));
    assert_eq!(int(&row, "num_threads"), truth.num_threads);
    assert_eq!(int(&row, "rss_bytes") as u64, truth.rss_pages * page_size());
    assert_eq!(int(&row, "vms_bytes") as u64, truth.vms_pages * page_size());
    assert_eq!(int(&row, "num_fds"), fd_count(pid));
    let hz = clock_ticks() as f64;
    assert!((real(&row, "cpu_user_s") - truth.utime as f64 / hz).abs() < 1e-9);
    assert!((real(&row, "cpu_system_s") - truth.stime as f64 / hz).abs() < 1e-9);
    let expected_start = boot_time() as f64 + truth.start_ticks as f64 / hz;
    assert!(
        (real(&row, "start_time") - expected_start).abs() < 0.011,
        "start_time {} vs {expected_start}",
        real(&row, "start_time")
    );
    let cpu = real(&row, "cpu_percent");
    assert!((0.0..=100.0).contains(&cpu), "cpu_percent {cpu}");
    let argv: serde_json::Value = serde_json::from_str(&text(&row, "cmdline")).expect("JSON");
    assert_eq!(argv, json!(["sleep", "1000"]));
    assert_eq!(truth.cmdline, ["sleep", "1000"]);
    assert_eq!(int(&row, "start_ticks") as u64, truth.start_ticks);
    assert_eq!(text(&row, "fingerprint"), owner_fingerprint(pid));
}

#[test]
fn start_time_is_close_to_the_spawn_time() {
    let before = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs_f64();
    let worker = Worker::sleep();
    let conn = open_with_extension(std::path::Path::new(":memory:"));
    let row = proc_row(&conn, worker.pid());
    // Boot time is whole seconds and may drift by one.
    let start = real(&row, "start_time");
    assert!(
        (start - before).abs() < 2.0,
        "start_time {start}, spawned at {before}"
    );
}

#[test]
fn dead_pid_is_no_such_process() {
    let pid = Worker::sleep().end();
    let conn = open_with_extension(std::path::Path::new(":memory:"));
    let row = proc_row(&conn, pid);
    assert_eq!(int(&row, "pid"), pid);
    assert_eq!(int(&row, "alive"), 0);
    assert_eq!(text(&row, "reason"), "no such process");
    for name in &PROC_COLUMNS[3..] {
        assert!(is_null(&row, name), "{name} should be NULL for a dead pid");
    }
}

#[test]
fn zombie_is_not_alive() {
    let zombie = Worker::sleep().into_zombie();
    let pid = zombie.pid();
    assert_eq!(proc_truth(pid).state, 'Z');
    let conn = open_with_extension(std::path::Path::new(":memory:"));
    let row = proc_row(&conn, pid);
    assert_eq!(int(&row, "alive"), 0);
    assert_eq!(text(&row, "reason"), "zombie");
    assert_eq!(text(&row, "state"), "zombie");
    assert_eq!(int(&row, "ppid"), i64::from(std::process::id()));
    assert!(
        is_null(&row, "num_fds"),
        "a zombie's fd count is meaningless"
    );
    assert_eq!(text(&row, "cmdline"), "[]");
    drop(zombie);
}

#[test]
fn pid_1_is_readable() {
    let conn = open_with_extension(std::path::Path::new(":memory:"));
    let row = proc_row(&conn, 1);
    let truth = proc_truth(1);
    assert_eq!(int(&row, "alive"), 1);
    assert_eq!(int(&row, "ppid"), 0);
    assert_eq!(int(&row, "num_threads"), truth.num_threads);
    let argv: Vec<String> = serde_json::from_str(&text(&row, "cmdline")).expect("JSON");
    assert_eq!(argv, truth.cmdline);
    if euid() == 0 {
        assert!(is_null(&row, "error"));
        // pid 1 may be a busy process whose descriptors come and go: compare with a listing
        // made just after, allowing for that churn.
        let (fds, listed) = (int(&row, "num_fds"), fd_count(1));
        assert!(
            fds > 0 && (fds - listed).abs() <= (listed / 10).max(5),
            "{fds} vs {listed}"
        );
    } else if int(&row, "uid") != i64::from(euid()) {
        assert_eq!(text(&row, "error"), "access denied");
        assert!(is_null(&row, "num_fds"));
    }
}

#[test]
fn null_gives_no_row() {
    let conn = open_with_extension(std::path::Path::new(":memory:"));
    let n: i64 = conn
        .query_row("SELECT count(*) FROM proc_stats(NULL)", [], |r| r.get(0))
        .expect("query");
    assert_eq!(n, 0);
}

#[test]
fn bad_arguments_are_sql_errors_that_name_proc_stats() {
    let conn = open_with_extension(std::path::Path::new(":memory:"));
    let cases = [
        ("'abc'", "pid must be an integer, got text 'abc'"),
        ("'12abc'", "pid must be an integer, got text '12abc'"),
        ("1.5", "pid must be an integer, got real 1.5"),
        ("x'01'", "pid must be an integer, got a blob"),
        ("0", "pid 0 is out of range"),
        ("-1", "pid -1 is out of range"),
        ("4194305", "pid 4194305 is out of range"),
        (
            "9223372036854775807",
            "pid 9223372036854775807 is out of range",
        ),
        ("99999999999999999999", "pid must be an integer, got real"),
    ];
    for (arg, expected) in cases {
        let sql = format!("SELECT * FROM proc_stats({arg})");
        let err = conn
            .query_row(&sql, [], |_| Ok(()))
            .expect_err(&format!("{sql} should fail"))
            .to_string();
        assert!(
            err.contains("proc_stats: ") && err.contains(expected),
            "{sql}: {err}"
        );
    }
    let err = conn
        .query_row("SELECT * FROM proc_stats", [], |_| Ok(()))
        .expect_err("no argument")
        .to_string();
    assert!(
        err.contains("proc_stats: a pid argument is required"),
        "{err}"
    );
    // The connection is still usable after every error.
    let v: String = conn
        .query_row("SELECT kanban_workers_version()", [], |r| r.get(0))
        .expect("ok");
    assert_eq!(v, env!("CARGO_PKG_VERSION"));
}

#[test]
fn integer_text_and_where_clause_forms_work() {
    let worker = Worker::sleep();
    let pid = worker.pid();
    let conn = open_with_extension(std::path::Path::new(":memory:"));
    let by_text: i64 = conn
        .query_row("SELECT alive FROM proc_stats(?1)", [pid.to_string()], |r| {
            r.get(0)
        })
        .expect("text pid");
    assert_eq!(by_text, 1);
    let by_where: i64 = conn
        .query_row("SELECT pid FROM proc_stats WHERE pid = ?1", [pid], |r| {
            r.get(0)
        })
        .expect("WHERE pid =");
    assert_eq!(by_where, pid);
    let dead = Worker::sleep().end();
    let mut stmt = conn
        .prepare("SELECT pid, alive FROM proc_stats WHERE pid IN (?1, ?2) ORDER BY pid")
        .expect("IN");
    let rows: Vec<(i64, i64)> = stmt
        .query_map([pid, dead], |r| Ok((r.get(0)?, r.get(1)?)))
        .expect("query")
        .collect::<Result<_, _>>()
        .expect("rows");
    let mut expected = vec![(pid, 1), (dead, 0)];
    expected.sort();
    assert_eq!(rows, expected);
}

#[test]
fn version_is_the_crate_version() {
    let conn = open_with_extension(std::path::Path::new(":memory:"));
    let v: String = conn
        .query_row("SELECT kanban_workers_version()", [], |r| r.get(0))
        .expect("v");
    assert_eq!(v, env!("CARGO_PKG_VERSION"));
}

#[test]
fn active_workers_joins_open_runs_of_running_tasks_with_live_stats() {
    let board = Board::new("join");
    let live = Worker::sleep();
    let gone_pid = Worker::sleep().end();
    let w = board.writer();
    let live_run = insert_run(
        &w,
        &RunSpec::new("t_live")
            .pid(live.pid())
            .started(1_700_000_100),
    );
    let gone_run = insert_run(
        &w,
        &RunSpec::new("t_gone")
            .pid(gone_pid)
            .started(1_700_000_050)
            .lock(Some("box.example:77")),
    );
    // Excluded: an ended run, a run without pid, an open run of a task that is not running.
    insert_run(
        &w,
        &RunSpec::new("t_ended").pid(live.pid()).ended(1_700_000_200),
    );
    insert_run(&w, &RunSpec::new("t_nopid"));
    insert_run(&w, &RunSpec::new("t_ready").status("ready").pid(live.pid()));
    // An earlier, ended run of the live task is history, not a worker.
    insert_run(
        &w,
        &RunSpec::new("t_live")
            .pid(gone_pid)
            .ended(1_700_000_090)
            .started(1_700_000_010),
    );
    drop(w);

    let conn = board.with_extension();
    let stmt = conn.prepare("SELECT * FROM active_workers").expect("view");
    let names: Vec<&str> = stmt.column_names();
    assert_eq!(names, ACTIVE_WORKERS_COLUMNS);
    drop(stmt);

    let mut stmt = conn
        .prepare(
            "SELECT w.run_id, w.task_id, w.task_title, w.task_status, w.task_assignee, w.worker_pid,
                    w.claim_lock, w.worker_host, w.claim_expires - w.started_at, p.alive, p.reason, p.rss_bytes
             FROM active_workers w LEFT JOIN proc_stats(w.worker_pid) p ORDER BY w.started_at",
        )
        .expect("join");
    type R = (
        i64,
        String,
        String,
        String,
        String,
        i64,
        String,
        String,
        i64,
        i64,
        Option<String>,
        Option<i64>,
    );
    let rows: Vec<R> = stmt
        .query_map([], |r| {
            Ok((
                r.get(0)?,
                r.get(1)?,
                r.get(2)?,
                r.get(3)?,
                r.get(4)?,
                r.get(5)?,
                r.get(6)?,
                r.get(7)?,
                r.get(8)?,
                r.get(9)?,
                r.get(10)?,
                r.get(11)?,
            ))
        })
        .expect("query")
        .collect::<Result<_, _>>()
        .expect("rows");
    assert_eq!(rows.len(), 2, "{rows:?}");
    // Oldest first.
    let g = &rows[0];
    assert_eq!((g.0, g.1.as_str(), g.5), (gone_run, "t_gone", gone_pid));
    assert_eq!(
        (g.6.as_str(), g.7.as_str()),
        ("box.example:77", "box.example")
    );
    assert_eq!(
        (g.9, g.10.as_deref(), g.11),
        (0, Some("no such process"), None)
    );
    let l = &rows[1];
    assert_eq!(
        (l.0, l.1.as_str(), l.2.as_str(), l.3.as_str(), l.4.as_str()),
        (live_run, "t_live", "title of t_live", "running", "agent-x")
    );
    assert_eq!(
        (l.5, l.6.as_str(), l.7.as_str(), l.8),
        (
            live.pid(),
            format!("{}:4242", local_hostname()).as_str(),
            local_hostname().as_str(),
            900
        )
    );
    assert_eq!((l.9, l.10.as_deref()), (1, None));
    assert_eq!(
        l.11.map(|b| b as u64),
        Some(proc_truth(live.pid()).rss_pages * page_size())
    );
}

#[test]
fn worker_host_is_null_when_claim_lock_has_no_pid_suffix() {
    let board = Board::new("host");
    let w = board.writer();
    for (i, lock) in [
        Some("hostonly"),
        Some(":123"),
        Some("host9"),
        None,
        Some("h:1:2"),
    ]
    .iter()
    .enumerate()
    {
        insert_run(
            &w,
            &RunSpec::new(&format!("t_{i}"))
                .pid(1)
                .started(1_700_000_000 + i as i64)
                .lock(*lock),
        );
    }
    let conn = board.with_extension();
    let hosts: Vec<Option<String>> = conn
        .prepare("SELECT worker_host FROM active_workers")
        .and_then(|mut s| s.query_map([], |r| r.get(0))?.collect())
        .expect("hosts");
    assert_eq!(hosts, [None, None, None, None, Some("h".to_owned())]);
}

/// `run_claims`: every run, ended ones too, with the host its claim names and whether that is
/// this machine (its name as the tests read it from the kernel); `active_workers` shows the
/// same for its rows.
#[test]
fn run_claims_names_the_host_and_whether_it_is_this_one() {
    let here = local_hostname();
    let board = Board::new("claims");
    let w = board.writer();
    // (claim_lock, worker_host, local)
    let cases: Vec<(Option<String>, Option<String>, i64)> = vec![
        (Some(format!("{here}:4242")), Some(here.clone()), 1),
        (Some("gpu-box-7:311".into()), Some("gpu-box-7".into()), 0),
        (Some(format!("{here}x:1")), Some(format!("{here}x")), 0),
        (Some("4242".into()), None, 1),
        (Some(":4242".into()), None, 1),
        (None, None, 1),
        (Some("h:1:2".into()), Some("h".into()), 0),
    ];
    let ids: Vec<i64> = cases
        .iter()
        .enumerate()
        .map(|(i, (lock, _, _))| {
            let task = format!("t_{i}");
            let spec = RunSpec::new(&task)
                .pid(1)
                .started(1_700_000_000 + i as i64)
                .lock(lock.as_deref());
            // Every other run ended: the view covers all runs.
            let spec = if i % 2 == 1 {
                spec.ended(1_700_000_100)
            } else {
                spec
            };
            insert_run(&w, &spec)
        })
        .collect();
    let conn = board.with_extension();
    for ((lock, host, local), id) in cases.iter().zip(&ids) {
        let got: (Option<String>, i64) = conn
            .query_row(
                "SELECT worker_host, local FROM run_claims WHERE id = ?",
                [id],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .expect("run_claims");
        assert_eq!(got, (host.clone(), *local), "claim_lock {lock:?}");
    }
    let (open, disagree): (i64, i64) = conn
        .query_row(
            "SELECT count(*), count(*) FILTER (WHERE a.worker_host IS NOT c.worker_host
                                                 OR a.local IS NOT c.local)
             FROM active_workers a JOIN run_claims c ON c.id = a.run_id",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .expect("compare");
    assert_eq!((open, disagree), (4, 0));
}

/// A claim forged as a BLOB (the owner writes text) is cut as bytes and names a host that is
/// not this one, even when its bytes spell this host's name: BLOB and text never compare
/// equal. The empty BLOB names no host. `kanban_workers_claim_host` is the rule, through the
/// loadable extension.
#[test]
fn a_forged_blob_claim_is_another_hosts() {
    let here = local_hostname();
    let board = Board::new("blob-claims");
    let w = board.writer();
    // (claim_lock as SQL, worker_host quoted, local)
    let cases = [
        (
            format!("CAST('{here}:4242' AS BLOB)"),
            format!("X'{}'", hex(here.as_bytes())),
            0,
        ),
        ("CAST('4242' AS BLOB)".to_owned(), "X''".to_owned(), 0),
        ("CAST(':1' AS BLOB)".to_owned(), "X''".to_owned(), 0),
        ("X''".to_owned(), "NULL".to_owned(), 1),
        (format!("'{here}:4242'"), format!("'{here}'"), 1),
    ];
    let conn = board.with_extension();
    for (i, (claim, host, local)) in cases.iter().enumerate() {
        let id = forged_claim(&w, i, claim);
        let got: (String, String, i64) = conn
            .query_row(
                &format!(
                    "SELECT quote(worker_host), quote(kanban_workers_claim_host({claim})), local
                     FROM run_claims WHERE id = ?1"
                ),
                [id],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .expect("run_claims");
        assert_eq!(got, (host.clone(), host.clone(), *local), "claim {claim}");
    }
}

/// A host part of invalid UTF-8, or with a NUL, is never this host's, whatever this host's name
/// (one with U+FFFD in it, where decoding would have made the claim's bytes that name; one
/// that the claim spells up to a NUL, where SQL's `substr` stopped). Through the .so in the
/// sqlite3 shell, the host name from `KANBAN_WORKERS_HOSTNAME`.
#[test]
fn a_claims_bytes_are_never_decoded_into_this_hosts_name() {
    let board = Board::new("byte-claims");
    let w = board.writer();
    // (this host's name; the claim's bytes and its host part's, in hex)
    let cases = [
        ("a\u{fffd}", "61ff3a31", "61FF"),
        ("a\u{fffd}", "61803a31", "6180"),
        ("\u{fffd}", "ff3a31", "FF"),
        ("a", "61003a31", "6100"),
        ("a", "6100623a31", "610062"),
    ];
    for (i, (host, claim, host_part)) in cases.iter().enumerate() {
        let id = forged_claim(&w, i, &format!("CAST(x'{claim}' AS TEXT)"));
        let answer = run_ok(
            Command::new("sqlite3")
                .env("KANBAN_WORKERS_HOSTNAME", host)
                .arg(&board.path)
                .arg(format!(".load {}", so_stem()))
                .arg(format!(
                    "SELECT kanban_workers_hostname() = '{host}', hex(worker_host), local
                     FROM run_claims WHERE id = {id}"
                )),
        );
        assert_eq!(
            answer.trim(),
            format!("1|{host_part}|0"),
            "host {host:?}, claim {claim}"
        );
    }
}

/// `run_claims.run_epoch` (`kanban_workers_fingerprint_epoch`) is what the parts' SQL said
/// (the form `<epoch>|<ticks>`, the epoch part `?*:?*`, the ticks digits), for fingerprints of
/// every shape the owner can write (valid text without NUL): this host's, another's, malformed
/// ones of each kind, numbers, a BLOB, over 200 characters. Forged text (invalid UTF-8, a NUL)
/// is another instantiation's: never local, whatever its claim says.
#[test]
fn run_epoch_is_the_fingerprints_epoch_part() {
    let board = Board::new("run-epoch");
    let w = board.writer();
    w.execute_batch("ALTER TABLE task_runs ADD COLUMN worker_started_at TEXT")
        .expect("the newer releases' column");
    let epoch: String = board
        .with_extension()
        .query_row("SELECT kanban_workers_epoch()", [], |r| r.get(0))
        .expect("epoch");
    let fingerprints = [
        format!("'{epoch}|123'"),
        format!("'{epoch}|'"),
        format!("'{epoch}|12a'"),
        format!("'{epoch}|1|2'"),
        format!("'{epoch}||1'"),
        format!("'{epoch}'"),
        format!("'{epoch}:9|1'"),
        "'b:1|007'".to_owned(),
        "'b:|1'".to_owned(),
        "':1|1'".to_owned(),
        "'b|1'".to_owned(),
        "':|1'".to_owned(),
        "'::|1'".to_owned(),
        "':a:|1'".to_owned(),
        "':a:b|1'".to_owned(),
        "'é:é|1'".to_owned(),
        "'|1'".to_owned(),
        "''".to_owned(),
        "'unverified'".to_owned(),
        "'a:b|1 '".to_owned(),
        "'a:b|١'".to_owned(),
        format!("'{}:b|1'", "a".repeat(196)),
        format!("'{}:b|1'", "a".repeat(197)),
        "12345".to_owned(),
        "1.5".to_owned(),
        "x'613a627c31'".to_owned(),
        "NULL".to_owned(),
    ];
    for (i, fingerprint) in fingerprints.iter().enumerate() {
        let id = forged_claim(&w, i, "NULL");
        w.execute(
            &format!("UPDATE task_runs SET worker_started_at = {fingerprint} WHERE id = ?1"),
            [id],
        )
        .expect("the fingerprint");
    }
    let conn = board.with_extension();
    let disagree: Vec<String> = conn
        .prepare(
            "SELECT quote(worker_started_at) || ': ' || quote(run_epoch) || ' / ' || quote(parts)
             FROM (SELECT worker_started_at, run_epoch,
                          CASE WHEN typeof(worker_started_at) = 'text'
                                AND length(worker_started_at) <= 200
                                AND kanban_workers_epoch() GLOB '?*:?*'
                                AND substr(worker_started_at, 1, instr(worker_started_at, '|') - 1)
                                    GLOB '?*:?*'
                                AND substr(worker_started_at, instr(worker_started_at, '|') + 1)
                                    GLOB '[0-9]*'
                                AND substr(worker_started_at, instr(worker_started_at, '|') + 1)
                                    NOT GLOB '*[^0-9]*'
                               THEN substr(worker_started_at, 1, instr(worker_started_at, '|') - 1)
                          END AS parts
                   FROM run_claims)
             WHERE run_epoch IS NOT parts
                OR kanban_workers_fingerprint_epoch(worker_started_at) IS NOT parts",
        )
        .and_then(|mut s| s.query_map([], |r| r.get(0))?.collect())
        .expect("run_claims");
    assert!(disagree.is_empty(), "{disagree:?}");
    let known: i64 = conn
        .query_row(
            "SELECT count(*) FROM run_claims WHERE run_epoch IS NOT NULL",
            [],
            |r| r.get(0),
        )
        .expect("count");
    // This host's with ticks, the epoch with ':9' in it, b:1, :a:b, é:é, the 200 characters.
    assert_eq!(known, 6, "epoch {epoch}");
    let here = local_hostname();
    let forged = [
        (
            format!("CAST(x'{}7c31007a' AS TEXT)", hex(b"b:1")),
            hex(b"b:1"),
        ),
        (
            "CAST(x'61ff3a627c31' AS TEXT)".to_owned(),
            "61FF3A62".to_owned(),
        ),
        ("CAST(x'ff' AS TEXT)".to_owned(), "FF".to_owned()),
    ];
    for (i, (fingerprint, epoch_hex)) in forged.iter().enumerate() {
        let id = forged_claim(&w, 100 + i, &format!("'{here}:4242'"));
        w.execute(
            &format!("UPDATE task_runs SET worker_started_at = {fingerprint} WHERE id = ?1"),
            [id],
        )
        .expect("the forged fingerprint");
        let got: (String, i64) = conn
            .query_row(
                "SELECT hex(run_epoch), local FROM run_claims WHERE id = ?1",
                [id],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .expect("run_claims");
        assert_eq!(got, (epoch_hex.clone(), 0), "{fingerprint}");
    }
}

/// A run (task `t_<i>`) whose claim is `claim`, an SQL expression of any type; its id.
fn forged_claim(w: &Connection, i: usize, claim: &str) -> i64 {
    let id = insert_run(
        w,
        &RunSpec::new(&format!("t_{i}"))
            .pid(1)
            .started(1_700_000_000 + i as i64),
    );
    w.execute(
        &format!("UPDATE task_runs SET claim_lock = {claim} WHERE id = ?1"),
        [id],
    )
    .expect("forge the claim");
    id
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02X}")).collect()
}

#[test]
fn active_workers_does_not_scan_task_runs() {
    let board = Board::new("plan");
    let conn = board.with_extension();
    let plan: Vec<String> = conn
        .prepare("EXPLAIN QUERY PLAN SELECT * FROM active_workers w LEFT JOIN proc_stats(w.worker_pid) p")
        .and_then(|mut s| s.query_map([], |r| r.get::<_, String>(3))?.collect())
        .expect("plan");
    assert!(
        plan.iter()
            .any(|l| l.contains("SEARCH r USING INDEX idx_runs_status")),
        "{plan:?}"
    );
    assert!(
        plan.iter()
            .any(|l| l.contains("SEARCH t USING INDEX sqlite_autoindex_tasks_1")),
        "{plan:?}"
    );
    assert!(!plan.iter().any(|l| l.starts_with("SCAN r")), "{plan:?}");
}

#[test]
fn loading_and_querying_writes_nothing_to_the_database_file() {
    let board = Board::new("nowrite");
    let live = Worker::sleep();
    {
        let w = board.writer();
        insert_run(&w, &RunSpec::new("t_1").pid(live.pid()));
    } // closing the last connection checkpoints and removes the WAL
    let schema = |c: &Connection| -> Vec<(String, String)> {
        c.prepare("SELECT name, sql FROM sqlite_schema ORDER BY name")
            .and_then(|mut s| {
                s.query_map([], |r| {
                    Ok((
                        r.get(0)?,
                        r.get::<_, Option<String>>(1)?.unwrap_or_default(),
                    ))
                })?
                .collect()
            })
            .expect("schema")
    };
    let before_schema = schema(&board.writer());
    let before = file_bytes(&board.path);
    {
        let conn = board.with_extension();
        let n: i64 = conn
            .query_row("SELECT count(*) FROM active_workers w LEFT JOIN proc_stats(w.worker_pid) p WHERE p.alive = 1", [], |r| r.get(0))
            .expect("query");
        assert_eq!(n, 1);
        assert_eq!(
            schema(&conn),
            before_schema,
            "sqlite_schema unchanged while loaded"
        );
        // Every view is TEMP: exactly the library's views, in the temp schema.
        let temp: Vec<String> = conn
            .prepare("SELECT name FROM sqlite_temp_schema WHERE type = 'view' ORDER BY name")
            .and_then(|mut s| s.query_map([], |r| r.get(0))?.collect())
            .expect("temp views");
        let mut views: Vec<&str> = kanban_workers::surface::views::VIEWS
            .iter()
            .map(|(n, _)| *n)
            .collect();
        views.sort_unstable();
        assert_eq!(temp, views);
    }
    assert_eq!(
        file_bytes(&board.path),
        before,
        "database file bytes changed"
    );
    assert!(
        !board.path.with_extension("db-wal").exists()
            || std::fs::metadata(board.path.with_extension("db-wal"))
                .map(|m| m.len())
                .unwrap_or(0)
                == 0
    );
    assert_eq!(schema(&board.writer()), before_schema);
}

#[test]
fn loads_into_a_read_only_connection() {
    let board = Board::new("ro");
    let live = Worker::sleep();
    insert_run(&board.writer(), &RunSpec::new("t_1").pid(live.pid()));
    let conn =
        Connection::open_with_flags(&board.path, OpenFlags::SQLITE_OPEN_READ_ONLY).expect("ro");
    load_extension(&conn);
    let pid: i64 = conn
        .query_row("SELECT worker_pid FROM active_workers", [], |r| r.get(0))
        .expect("view");
    assert_eq!(pid, live.pid());
    assert!(
        conn.execute("DELETE FROM task_runs", []).is_err(),
        "read-only connection wrote"
    );
}

/// A database file's own schema (a trigger, a view) cannot call proc_stats, even with
/// `trusted_schema` on: it would copy the user's processes' command lines into its tables.
/// The user's own TEMP views and triggers can, and the version function stays usable.
#[test]
fn a_database_schema_cannot_call_proc_stats() {
    let board = Board::new("directonly");
    board
        .writer()
        .execute_batch(
            "CREATE TABLE bait (x);
             CREATE TABLE stolen (cmd TEXT);
             CREATE TRIGGER grab AFTER INSERT ON bait BEGIN
                 INSERT INTO stolen SELECT cmdline FROM proc_stats(1);
             END;
             CREATE VIEW peek AS SELECT cmdline FROM proc_stats(1);
             CREATE VIEW version AS SELECT kanban_workers_version() AS v;",
        )
        .unwrap();
    let conn = board.with_extension();
    conn.pragma_update(None, "trusted_schema", "ON").unwrap();
    let err = conn
        .execute("INSERT INTO bait VALUES (1)", [])
        .unwrap_err()
        .to_string();
    assert!(err.contains("unsafe use of virtual table"), "{err}");
    let err = conn
        .query_row("SELECT cmd FROM peek", [], |r| r.get::<_, String>(0))
        .unwrap_err()
        .to_string();
    assert!(err.contains("unsafe use of virtual table"), "{err}");
    let stolen: i64 = conn
        .query_row("SELECT count(*) FROM stolen", [], |r| r.get(0))
        .unwrap();
    assert_eq!(stolen, 0);
    // The user's own: TEMP objects and top-level SQL.
    conn.execute_batch("CREATE TEMP VIEW mine AS SELECT cmdline FROM proc_stats(1)")
        .unwrap();
    let mine: String = conn
        .query_row("SELECT cmdline FROM mine", [], |r| r.get(0))
        .unwrap();
    assert!(mine.starts_with('['), "{mine}");
    let n: i64 = conn
        .query_row("SELECT count(*) FROM active_workers", [], |r| r.get(0))
        .unwrap();
    assert_eq!(n, 0);
    let v: String = conn
        .query_row("SELECT v FROM version", [], |r| r.get(0))
        .unwrap();
    assert_eq!(v, kanban_workers::surface::version::VERSION);
}

/// The guard docs/sql.md recommends for untrusted pids, taken from the docs as written: every
/// stored value gives a row or NULLs, never an error.
#[test]
fn the_documented_pid_guard_never_errors() {
    let docs = include_str!("../../../docs/sql.md");
    let guard = docs
        .lines()
        .find(|l| l.starts_with("LEFT JOIN proc_stats(CASE WHEN typeof("))
        .expect("the guard in docs/sql.md")
        .trim_end_matches(';');
    let conn = open_with_extension(std::path::Path::new(":memory:"));
    let values = "(12.0), (12.5), ('12abc'), (x'0c'), (NULL), (0), (-1), (4194305), (1), (1e300)";
    let sql = format!(
        "WITH active_workers(run_id, worker_pid) AS (SELECT 0, column1 FROM (VALUES {values}))
         SELECT w.run_id, p.alive FROM active_workers w {guard}"
    );
    let rows: Vec<(i64, Option<i64>)> = conn
        .prepare(&sql)
        .and_then(|mut s| s.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?.collect())
        .unwrap_or_else(|e| panic!("{e}: {sql}"));
    assert_eq!(rows.len(), 10);
    // Only pid 1 (an integer in range) reaches proc_stats.
    let alive: Vec<i64> = rows.iter().filter_map(|(_, a)| *a).collect();
    assert_eq!(alive, [1]);
}

/// An argv with bytes that are not UTF-8 and a trailing empty argument, as a real process has
/// it: decoded lossily (U+FFFD), the empty argument kept, and no `error`.
#[test]
fn cmdline_with_non_utf8_bytes_and_a_trailing_empty_argument() {
    use std::os::unix::ffi::OsStrExt;
    // `read` is a shell builtin: the shell itself waits on its stdin, with this argv.
    let worker = Worker::asleep(
        std::process::Command::new("sh")
            .args(["-c", "read x", "name"])
            .arg(std::ffi::OsStr::from_bytes(b"caf\xe9"))
            .arg("")
            .stdin(std::process::Stdio::piped()),
    );
    let conn = open_with_extension(std::path::Path::new(":memory:"));
    let (cmdline, error): (String, Option<String>) = conn
        .query_row(
            "SELECT cmdline, error FROM proc_stats(?1)",
            [worker.pid()],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    let argv: Vec<String> = serde_json::from_str(&cmdline).unwrap();
    assert_eq!(argv, ["sh", "-c", "read x", "name", "caf\u{fffd}", ""]);
    assert_eq!(error, None);
}

#[test]
fn loads_into_a_database_without_kanban_tables() {
    let dir = temp_dir("empty");
    let path = dir.path().join("other.db");
    let conn = open_with_extension(&path);
    let v: String = conn
        .query_row("SELECT kanban_workers_version()", [], |r| r.get(0))
        .expect("v");
    assert_eq!(v, env!("CARGO_PKG_VERSION"));
    let err = conn
        .query_row("SELECT * FROM active_workers", [], |_| Ok(()))
        .expect_err("no tables")
        .to_string();
    assert!(err.contains("no such table"), "{err}");
    let n: i64 = conn
        .query_row("SELECT count(*) FROM proc_stats(1)", [], |r| r.get(0))
        .expect("proc_stats");
    assert_eq!(n, 1);
    drop(conn);
    // The file was never written: SQLite creates it lazily, and nothing was stored.
    assert_eq!(std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0), 0);
}

#[test]
fn loading_twice_is_harmless() {
    let conn = open_with_extension(std::path::Path::new(":memory:"));
    load_extension(&conn);
    let n: i64 = conn
        .query_row("SELECT count(*) FROM proc_stats(1)", [], |r| r.get(0))
        .expect("q");
    assert_eq!(n, 1);
}

/// Wait (bounded) until `pid` has used `ticks` more CPU ticks than `from`: CPU time itself is
/// the clock here, not a sleep.
fn wait_for_cpu(pid: i64, from: u64, ticks: u64) -> u64 {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        let t = proc_truth(pid);
        let used = t.utime + t.stime;
        if used >= from + ticks {
            return used;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "busy worker did not get CPU"
        );
        std::thread::yield_now();
    }
}

#[test]
fn cpu_percent_of_a_busy_worker_is_positive_on_every_sample() {
    let busy = Worker::busy();
    let conn = open_with_extension(std::path::Path::new(":memory:"));
    let used = wait_for_cpu(busy.pid(), 0, 10);
    let first = real(&proc_row(&conn, busy.pid()), "cpu_percent");
    assert!(first > 0.0, "first sample of a busy process: {first}");
    // Let the busy worker use 0.3 s of CPU: at least that much wall time has passed.
    wait_for_cpu(busy.pid(), used, 30);
    let second = real(&proc_row(&conn, busy.pid()), "cpu_percent");
    // One busy shell uses at most one core (100); CPU time moves in 10 ms ticks, so over the
    // >= 0.3 s window a tick of rounding either way is allowed.
    assert!(second > 0.0 && second <= 110.0, "second sample {second}");
}

/// The column usage mask skips files the query does not need; what it returns must not change.
#[test]
fn selecting_some_columns_gives_the_values_of_selecting_all() {
    let worker = Worker::sleep();
    let pid = worker.pid();
    let conn = open_with_extension(std::path::Path::new(":memory:"));
    let full = proc_row(&conn, pid);
    for cols in [
        &["pid", "alive", "reason", "state"][..],
        &["rss_bytes", "vms_bytes"],
        &["cmdline"],
        &["num_fds", "num_threads"],
        &["uid", "ppid", "start_time"],
        &["error", "num_fds"],
        &["alive", "cmdline", "rss_bytes", "uid", "num_fds"],
    ] {
        let sql = format!("SELECT {} FROM proc_stats(?1)", cols.join(", "));
        let got: Vec<Value> = conn
            .query_row(&sql, [pid], |r| {
                (0..cols.len()).map(|i| r.get::<_, Value>(i)).collect()
            })
            .expect(&sql);
        let expected: Vec<Value> = cols.iter().map(|c| col(&full, c).clone()).collect();
        assert_eq!(got, expected, "{sql}");
    }
    // On a process that is gone, a narrow query still says so.
    let dead = Worker::sleep().end();
    let (alive, reason): (i64, String) = conn
        .query_row("SELECT alive, reason FROM proc_stats(?1)", [dead], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })
        .expect("dead");
    assert_eq!((alive, reason.as_str()), (0, "no such process"));
}

/// A worker that was busy and now sleeps: its lifetime average is above 0, but its use since
/// the previous sample is 0. Telling the two apart proves `cpu_percent` is a delta after the
/// first sample (a sampler that always gave the lifetime average would fail here).
#[test]
fn cpu_percent_after_the_first_sample_is_the_use_since_it() {
    // In a Worker, so it is killed even when an assertion fails.
    let worker = Worker(
        std::process::Command::new("sh")
            .args([
                "-c",
                "i=0; while [ $i -lt 300000 ]; do i=$((i+1)); done; exec sleep 1000",
            ])
            .spawn()
            .expect("spawn"),
    );
    let pid = worker.pid();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    let used = loop {
        let t = proc_truth(pid);
        if t.state == 'S' && t.cmdline == ["sleep", "1000"] {
            break t.utime + t.stime;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "worker never went to sleep: {t:?}"
        );
        std::thread::yield_now();
    };
    assert!(used > 0, "the busy phase used no CPU tick");
    let clock = Worker::busy();
    let conn = open_with_extension(std::path::Path::new(":memory:"));
    let first = real(&proc_row(&conn, pid), "cpu_percent");
    assert!(
        first > 0.0,
        "lifetime average of a once-busy worker: {first}"
    );
    // Let at least 0.3 s pass (the busy worker's CPU time is the clock), beyond MIN_INTERVAL.
    let t = proc_truth(clock.pid());
    wait_for_cpu(clock.pid(), t.utime + t.stime, 30);
    assert_eq!(real(&proc_row(&conn, pid), "cpu_percent"), 0.0);
    // A fresh connection has no previous sample: the lifetime average again.
    let other = open_with_extension(std::path::Path::new(":memory:"));
    assert!(real(&proc_row(&other, pid), "cpu_percent") > 0.0);
}

/// `proc_marks` through the built `.so`: the owner's spawn marks of a worker spawned as the
/// owner spawns one, each against the tests' own reading of /proc; and
/// `kanban_workers_same_file` telling the board from another file however it is spelled.
#[test]
fn proc_marks_reads_the_owners_spawn_marks() {
    let board = Board::new("ext-marks");
    let worker = HermesWorker::sleep(&board.writer(), &board.path, "t_m");
    let pid = worker.pid();
    let conn = open_with_extension(&board.path);
    let row: (
        i64,
        i64,
        i64,
        i64,
        i64,
        i64,
        i64,
        String,
        String,
        String,
        String,
    ) = conn
        .query_row(
            "SELECT start_ticks, ppid, session, pgrp, uid, namespace_init, kernel_thread,
                    env_run_id, env_task_id, env_board, stdout
             FROM proc_marks(?1)",
            [pid],
            |r| {
                Ok((
                    r.get(0)?,
                    r.get(1)?,
                    r.get(2)?,
                    r.get(3)?,
                    r.get(4)?,
                    r.get(5)?,
                    r.get(6)?,
                    r.get(7)?,
                    r.get(8)?,
                    r.get(9)?,
                    r.get(10)?,
                ))
            },
        )
        .unwrap();
    let truth = proc_truth(pid);
    let log = board.path.parent().unwrap().join("logs/t_m.log");
    assert_eq!(
        row,
        (
            truth.start_ticks as i64,
            worker.dispatcher_pid(),
            pid,
            pid,
            i64::from(euid()),
            0,
            0,
            worker.run.to_string(),
            "t_m".to_owned(),
            board.path.to_str().unwrap().to_owned(),
            log.to_str().unwrap().to_owned(),
        )
    );
    // The board however spelled (a `..` detour), another file, a missing one.
    let detour = board.path.parent().unwrap().join("logs/../kanban.db");
    let same: (i64, i64, Option<i64>) = conn
        .query_row(
            "SELECT kanban_workers_same_file(?1, kanban_workers_board_file()),
                    kanban_workers_same_file(?1, ?2), kanban_workers_same_file(?1, ?3)",
            rusqlite::params![
                detour.to_str().unwrap(),
                log.to_str().unwrap(),
                "/nonexistent"
            ],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .unwrap();
    assert_eq!(same, (1, 0, None));
    // The board's file, kept by the connection, is the one the pragma names.
    let (kept, named): (String, String) = conn
        .query_row(
            "SELECT kanban_workers_board_file(),
                    (SELECT file FROM pragma_database_list WHERE name = 'main')",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    assert_eq!(kept, named);
    assert!(kept.ends_with("kanban.db"), "{kept}");
    // No row for a pid that is gone, an error naming the function for a bad one.
    let gone = Worker::sleep().end();
    let n: i64 = conn
        .query_row("SELECT count(*) FROM proc_marks(?1)", [gone], |r| r.get(0))
        .unwrap();
    assert_eq!(n, 0);
    let err = conn
        .query_row("SELECT * FROM proc_marks('x')", [], |_| Ok(()))
        .unwrap_err()
        .to_string();
    assert!(err.contains("proc_marks: pid must be an integer"), "{err}");
}
