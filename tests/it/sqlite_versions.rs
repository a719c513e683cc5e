#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! The `.so` in the SQLite versions the README claims: the oldest, 3.34.1, through the real
//! `sqlite3` shell of that version (built here from the amalgamation and `shell.c` that the
//! crates.io crate `sqlite3-src` 0.3.0 ships, fetched by cargo at test time, never vendored),
//! and current ones, through Python: pysqlite3-binary (SQLite 3.51.1) and apsw (3.54.1), both
//! installed from PyPI by `make wheel` into its tools venv.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use crate::common::*;
use serde_json::{Value, json};

const OLDEST: &str = "3.34.1";
/// The crates.io crate whose `source/` holds the 3.34.1 amalgamation and shell.
const OLDEST_CRATE: (&str, &str) = ("sqlite3-src", "0.3.0");

/// The README's query, and the verdicts view, which uses most of what the views need of SQLite.
const STATEMENTS: [&str; 3] = [
    "SELECT sqlite_version() AS sqlite, kanban_workers_version() AS version",
    "SELECT w.run_id, w.task_id, p.alive, p.reason, p.cpu_percent, p.rss_bytes \
     FROM active_workers AS w LEFT JOIN proc_stats(w.worker_pid) AS p ORDER BY w.started_at",
    "SELECT run_id, alive, reason, identity FROM live_workers ORDER BY run_id",
];

/// A board with a live worker (run 1) and a gone one (run 2), both started now.
fn board() -> (Board, Worker) {
    let board = Board::new("sqlite-versions");
    let live = Worker::sleep();
    let gone = Worker::sleep().end();
    let w = board.writer();
    let now = now_secs();
    insert_run(&w, &RunSpec::new("t_live").pid(live.pid()).started(now));
    insert_run(&w, &RunSpec::new("t_gone").pid(gone).started(now + 1));
    (board, live)
}

/// What every SQLite version must answer, given each statement's rows.
fn check(sqlite: &str, results: &[Value]) {
    assert_eq!(results.len(), 3, "{results:?}");
    assert_eq!(
        results[0],
        json!([{"sqlite": sqlite, "version": env!("CARGO_PKG_VERSION")}])
    );
    let join = results[1].as_array().unwrap();
    assert_eq!(join.len(), 2, "{join:?}");
    assert_eq!(
        (&join[0]["run_id"], &join[0]["task_id"], &join[0]["alive"]),
        (&json!(1), &json!("t_live"), &json!(1)),
        "{join:?}"
    );
    assert_eq!(join[0]["reason"], Value::Null, "{join:?}");
    assert!(join[0]["cpu_percent"].as_f64().is_some(), "{join:?}");
    assert!(join[0]["rss_bytes"].as_i64().unwrap() > 0, "{join:?}");
    assert_eq!(
        join[1],
        json!({"run_id": 2, "task_id": "t_gone", "alive": 0, "reason": "no such process",
               "cpu_percent": null, "rss_bytes": null})
    );
    assert_eq!(
        results[2],
        json!([
            {"run_id": 1, "alive": 1, "reason": null, "identity": "started with the run"},
            {"run_id": 2, "alive": 0, "reason": "process not found", "identity": null},
        ])
    );
}

/// The `sqlite3` shell of the oldest claimed version, built once (about 3 s at -O0).
fn oldest_shell() -> &'static Path {
    static SHELL: OnceLock<PathBuf> = OnceLock::new();
    SHELL.get_or_init(|| {
        // Built as the distributions build it: with JSON1 (an extension before 3.38, enabled
        // by Debian 11's 3.34.1 and every other), which the views use.
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("sqlite-{OLDEST}-json1"));
        let shell = dir.join("sqlite3");
        if shell.is_file() {
            return shell;
        }
        // A scratch crate that depends on the one shipping the amalgamation: cargo fetches it
        // from crates.io into $CARGO_HOME/registry/src and `cargo metadata` says where.
        let (name, version) = OLDEST_CRATE;
        fs::create_dir_all(dir.join("src")).unwrap();
        fs::write(
            dir.join("Cargo.toml"),
            format!(
                "[package]\nname = \"fetch-sqlite\"\nversion = \"0.0.0\"\nedition = \"2021\"\n\
                 [dependencies]\n{name} = \"={version}\"\n[workspace]\n"
            ),
        )
        .unwrap();
        fs::write(dir.join("src/lib.rs"), "").unwrap();
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let manifest = dir.join("Cargo.toml");
        run_ok(
            Command::new(&cargo)
                .args(["fetch", "--quiet", "--manifest-path"])
                .arg(&manifest),
        );
        let meta: Value = serde_json::from_str(&run_ok(
            Command::new(&cargo)
                .args(["metadata", "--format-version", "1", "--manifest-path"])
                .arg(&manifest),
        ))
        .unwrap();
        let crate_toml = meta["packages"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["name"] == name && p["version"] == version)
            .and_then(|p| p["manifest_path"].as_str())
            .unwrap_or_else(|| panic!("{name} {version} not in cargo metadata"));
        let source = Path::new(crate_toml).parent().unwrap().join("source");
        let amalgamation = fs::read_to_string(source.join("sqlite3.c")).unwrap();
        assert!(
            amalgamation.contains(&format!("#define SQLITE_VERSION        \"{OLDEST}\"")),
            "{} is not SQLite {OLDEST}",
            source.display()
        );
        let partial = dir.join("sqlite3.partial");
        run_ok(
            Command::new("gcc")
                .args(["-O0", "-w", "-DSQLITE_ENABLE_JSON1", "-I"])
                .arg(&source)
                .arg(source.join("shell.c"))
                .arg(source.join("sqlite3.c"))
                .args(["-ldl", "-lm", "-lpthread", "-o"])
                .arg(&partial),
        );
        fs::rename(&partial, &shell).unwrap();
        shell
    })
}

#[test]
fn loads_into_the_oldest_claimed_sqlite() {
    let (board, _live) = board();
    let mut cmd = Command::new(oldest_shell());
    cmd.arg("-json")
        .arg(&board.path)
        .arg(format!(".load {}", so_stem()));
    let out = run_ok(cmd.args(STATEMENTS));
    // One JSON array a statement (the shell prints nothing for no rows: none here is empty).
    let results: Vec<Value> = serde_json::Deserializer::from_str(&out)
        .into_iter::<Value>()
        .collect::<Result<_, _>>()
        .unwrap_or_else(|e| panic!("{e}: {out}"));
    check(OLDEST, &results);
}

/// Each current SQLite that the tools venv has, through Python: (module, its SQLite version).
const CURRENT: [(&str, &str); 2] = [("pysqlite3.dbapi2", "3.51.1"), ("apsw", "3.54.1")];

const PY_LOAD: &str = r#"
import importlib, json, sys
module, board, ext = sys.argv[1:4]
sqlite = importlib.import_module(module)
conn = sqlite.Connection(board)
conn.enable_load_extension(True)
conn.load_extension(ext)
conn.enable_load_extension(False)
results = []
for sql in sys.argv[4:]:
    cur = conn.cursor()
    cur.execute(sql)
    names = [d[0] for d in cur.description]  # apsw: only while the statement runs
    rows = cur.fetchall()
    results.append([dict(zip(names, row)) for row in rows])
print(json.dumps(results))
"#;

#[test]
fn loads_into_current_sqlites() {
    let python = py_tools().join("bin/python");
    let (board, _live) = board();
    for (module, version) in CURRENT {
        let out = run_ok(
            Command::new(&python)
                .args(["-c", PY_LOAD, module])
                .arg(&board.path)
                .arg(so_stem())
                .args(STATEMENTS),
        );
        let results: Vec<Value> =
            serde_json::from_str(&out).unwrap_or_else(|e| panic!("{module}: {e}: {out}"));
        check(version, &results);
    }
}
