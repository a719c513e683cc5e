#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! The `.so` loaded by other real clients: the `sqlite3` shell (`.load`) and Python's stdlib
//! `sqlite3` (Debian's `/usr/bin/python3`, built with `enable_load_extension`), and read by an
//! unprivileged user who may not see another user's descriptors.

use std::os::unix::fs::PermissionsExt;
use std::process::Command;

use crate::common::*;
use serde_json::{Value, json};

const JOIN: &str = "SELECT w.run_id, w.worker_pid, w.worker_host, p.alive, p.reason, p.num_threads, p.cmdline \
                    FROM active_workers w LEFT JOIN proc_stats(w.worker_pid) p ORDER BY w.started_at";

fn board_with_two_workers() -> (Board, Worker, i64) {
    let board = Board::new("clients");
    let live = Worker::sleep();
    let gone = Worker::sleep().end();
    let w = board.writer();
    insert_run(
        &w,
        &RunSpec::new("t_a").pid(live.pid()).started(1_700_000_001),
    );
    insert_run(&w, &RunSpec::new("t_b").pid(gone).started(1_700_000_002));
    insert_run(
        &w,
        &RunSpec::new("t_c").pid(live.pid()).ended(1_700_000_009),
    );
    (board, live, gone)
}

fn expected_join(live: i64, gone: i64) -> Value {
    let host = local_hostname();
    json!([
        {"run_id": 1, "worker_pid": live, "worker_host": host, "alive": 1, "reason": null,
         "num_threads": 1, "cmdline": "[\"sleep\",\"1000\"]"},
        {"run_id": 2, "worker_pid": gone, "worker_host": host, "alive": 0, "reason": "no such process",
         "num_threads": null, "cmdline": null},
    ])
}

#[test]
fn sqlite3_shell_loads_and_joins() {
    let (board, live, gone) = board_with_two_workers();
    let out = run_ok(
        Command::new("sqlite3")
            .arg(&board.path)
            .arg(format!(".load {}", so_stem()))
            .arg(".mode json")
            .arg(JOIN),
    );
    let got: Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"));
    assert_eq!(got, expected_join(live.pid(), gone));
}

#[test]
fn sqlite3_shell_reports_bad_arguments_as_errors() {
    let out = Command::new("sqlite3")
        .arg(":memory:")
        .arg(format!(".load {}", so_stem()))
        .arg("SELECT * FROM proc_stats('abc')")
        .output()
        .expect("run sqlite3");
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("proc_stats: pid must be an integer, got text 'abc'"),
        "{stderr}"
    );
}

#[test]
fn python_stdlib_sqlite3_loads_and_joins() {
    let (board, live, gone) = board_with_two_workers();
    let script = r#"
import json, sqlite3, sys
conn = sqlite3.connect(sys.argv[1])
conn.enable_load_extension(True)
conn.load_extension(sys.argv[2])
conn.enable_load_extension(False)
conn.row_factory = sqlite3.Row
rows = [dict(r) for r in conn.execute(sys.argv[3])]
version = conn.execute("SELECT kanban_workers_version()").fetchone()[0]
try:
    conn.execute("SELECT * FROM proc_stats(-1)").fetchall()
    err = None
except sqlite3.Error as e:
    err = str(e)
print(json.dumps({"rows": rows, "version": version, "error": err}))
"#;
    let out = run_ok(
        Command::new("/usr/bin/python3")
            .args(["-c", script])
            .arg(&board.path)
            .arg(so_path())
            .arg(JOIN),
    );
    let got: Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"));
    assert_eq!(got["rows"], expected_join(live.pid(), gone));
    assert_eq!(got["version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(
        got["error"],
        "proc_stats: pid -1 is out of range (1 to 4194304)"
    );
}

/// As an unprivileged user, another user's process: the readable fields, and `num_fds` NULL
/// with `error = 'access denied'`. As root, the reader is `nobody` (via setpriv) and the
/// target our own (root's) worker; as another user, the target is pid 1.
#[test]
fn another_users_process_gives_readable_fields_and_access_denied() {
    let worker = Worker::sleep();
    let (target, mut cmd) = if euid() == 0 {
        let mut c = Command::new("setpriv");
        c.args([
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
            "sqlite3",
        ]);
        (worker.pid(), c)
    } else {
        (1, Command::new("sqlite3"))
    };
    let (dir, so_stem) = so_for_nobody("denied");
    let out = run_ok(
        cmd.env("HOME", dir.path())
            .arg(":memory:")
            .arg(format!(".load {so_stem}"))
            .arg(".mode json")
            .arg(format!(
                "SELECT pid, alive, reason, error, uid, num_fds, rss_bytes, num_threads, cmdline, start_time IS NOT NULL AS has_start \
                 FROM proc_stats({target})"
            )),
    );
    let got: Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"));
    let row = &got[0];
    let truth = proc_truth(target);
    assert_eq!(row["pid"], target);
    assert_eq!(row["alive"], 1);
    assert_eq!(row["reason"], Value::Null);
    assert_eq!(row["error"], "access denied");
    assert_eq!(row["num_fds"], Value::Null);
    assert_eq!(row["num_threads"], truth.num_threads);
    assert_eq!(row["rss_bytes"], truth.rss_pages * page_size());
    assert_eq!(row["has_start"], 1);
    let argv: Vec<String> =
        serde_json::from_str(row["cmdline"].as_str().unwrap_or("null")).expect("cmdline JSON");
    assert_eq!(argv, truth.cmdline);
    if euid() == 0 {
        assert_eq!(row["uid"], 0);
    }
}

/// A copy of the .so that an unprivileged user can read, whatever the checkout's modes; returns
/// its directory and its path without the suffix, for `.load`.
fn so_for_nobody(tag: &str) -> (tempfile::TempDir, String) {
    let dir = temp_dir(tag);
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755))
        .expect("chmod dir");
    let so = dir.path().join("libkanban_workers.so");
    std::fs::copy(so_path(), &so).expect("copy .so");
    std::fs::set_permissions(&so, std::fs::Permissions::from_mode(0o755)).expect("chmod .so");
    let stem = so.with_extension("").display().to_string();
    (dir, stem)
}

/// /proc mounted with `hidepid` (in a private mount namespace), read by `nobody`: with
/// `hidepid=1` another user's process is there but its files are not readable (alive, `error`
/// naming the first denied file, the unread fields NULL); with `hidepid=2` it is invisible
/// (`no such process`). Needs root for the mount namespace.
#[test]
#[ignore = "needs root: `make test` runs it as root"]
fn hidepid_proc_mounts_give_clear_rows() {
    require_root();
    let worker = Worker::sleep();
    let pid = worker.pid();
    let (dir, so_stem) = so_for_nobody("hidepid");
    let query = |opts: &str| {
        format!(
            "mount -t proc -o {opts} proc /proc && setpriv --reuid=65534 --regid=65534 --clear-groups \
             sqlite3 :memory: '.load {so_stem}' '.mode json' \
             'SELECT pid, alive, reason, error, state, uid, rss_bytes, cmdline FROM proc_stats({pid})'"
        )
    };
    let script = format!("{} && {}", query("hidepid=1"), query("hidepid=2"));
    let out = run_ok(
        Command::new("unshare")
            .args(["-m", "--propagation", "private", "sh", "-c", &script])
            .env("HOME", dir.path()),
    );
    let docs: Vec<Value> = serde_json::Deserializer::from_str(&out)
        .into_iter::<Value>()
        .collect::<Result<_, _>>()
        .unwrap_or_else(|e| panic!("{e}: {out}"));
    assert_eq!(docs.len(), 2, "{out}");
    let readable_dir = &docs[0][0];
    assert_eq!(readable_dir["alive"], 1, "{out}");
    assert_eq!(
        readable_dir["error"],
        format!("access denied: /proc/{pid}/statm")
    );
    assert_eq!(readable_dir["state"], Value::Null);
    assert_eq!(readable_dir["rss_bytes"], Value::Null);
    assert_eq!(readable_dir["uid"], 0);
    let invisible = &docs[1][0];
    assert_eq!(invisible["alive"], 0, "{out}");
    assert_eq!(invisible["reason"], "no such process");
}
