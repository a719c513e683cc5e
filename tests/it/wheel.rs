#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! The wheel, used as a user would: `make wheel` built it (`make test` passes it in
//! `KANBAN_WORKERS_WHEEL`); it is installed with a plain `pip install` into a fresh venv of
//! Debian's python3 with nothing else, then the extension is loaded from Python, the bundled
//! binary is run from the venv's PATH and curled, `auditwheel show` checks the claimed tag, and
//! a Python that cannot load extensions (pyenv's) gets the error that says what works.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use crate::common::*;
use serde_json::{Value, json};

/// The tag the wheel claims (Makefile's WHEEL_TAG): glibc 2.34, the newest symbol version the
/// natively built `.so` and binary need (docs/wheel.md).
const TAG: &str = "py3-none-manylinux_2_34_x86_64";

const README_QUERY: &str = "SELECT w.run_id, w.task_id, p.alive, p.reason, p.cpu_percent, p.rss_bytes \
                            FROM active_workers AS w LEFT JOIN proc_stats(w.worker_pid) AS p \
                            ORDER BY w.started_at;";

/// A fresh venv of `python` (under target/tmp, made again by each run) with the wheel
/// installed by a plain `pip install`.
fn venv_with_wheel(python: &Path, name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(name);
    let _ = fs::remove_dir_all(&dir);
    run_ok(Command::new(python).args(["-m", "venv"]).arg(&dir));
    run_ok(
        Command::new(dir.join("bin/pip"))
            .args(["install", "--disable-pip-version-check", "--no-input"])
            .arg(wheel_path()),
    );
    dir
}

/// Debian's python3 (built with `enable_load_extension`), with the wheel.
fn debian_venv() -> &'static Path {
    static VENV: OnceLock<PathBuf> = OnceLock::new();
    VENV.get_or_init(|| venv_with_wheel(Path::new("/usr/bin/python3"), "wheel-venv"))
}

/// Run `script` with the venv's python, from a folder where nothing else is importable.
fn python(venv: &Path, script: &str, args: &[&str]) -> std::process::Output {
    let cwd = temp_dir("wheel-cwd");
    Command::new(venv.join("bin/python"))
        .args(["-c", script])
        .args(args)
        .current_dir(cwd.path())
        .env_remove("PYTHONPATH")
        .output()
        .expect("run the venv's python")
}

fn python_ok(venv: &Path, script: &str, args: &[&str]) -> Value {
    let out = python(venv, script, args);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("{e}: {stdout}"))
}

#[test]
fn the_wheel_loads_from_python_and_answers_the_readme_query() {
    let venv = debian_venv();
    let board = Board::new("wheel");
    let live = Worker::sleep();
    insert_run(
        &board.writer(),
        &RunSpec::new("t_live").pid(live.pid()).started(now_secs()),
    );
    let got = python_ok(
        venv,
        r#"
import json, os, sqlite3, sys, kanban_workers
conn = sqlite3.connect(sys.argv[1])
kanban_workers.load(conn)
print(json.dumps({
    "rows": conn.execute(sys.argv[2]).fetchall(),
    "loadable_path": kanban_workers.loadable_path(),
    "binary_path": kanban_workers.binary_path(),
    "package": os.path.dirname(kanban_workers.__file__),
}))
"#,
        &[board.path.to_str().unwrap(), README_QUERY],
    );
    let rows = got["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 1, "{got}");
    let row = rows[0].as_array().unwrap();
    assert_eq!(
        row[..4],
        [json!(1), json!("t_live"), json!(1), Value::Null],
        "{got}"
    );
    assert!(row[4].as_f64().is_some(), "cpu_percent: {got}");
    assert!(row[5].as_i64().unwrap() > 0, "rss_bytes: {got}");

    // Both paths are the installed copies, inside the venv: the package's .so, the scripts'
    // binary.
    let package = PathBuf::from(got["package"].as_str().unwrap());
    assert!(package.starts_with(venv), "{got}");
    let stem = PathBuf::from(got["loadable_path"].as_str().unwrap());
    assert_eq!(stem, package.join("libkanban_workers"), "{got}");
    assert!(stem.with_extension("so").is_file(), "{got}");
    assert_eq!(
        got["binary_path"].as_str().unwrap(),
        venv.join("bin/kanban-workers").to_str().unwrap(),
        "{got}"
    );
}

#[test]
fn the_wheels_binary_is_on_the_venvs_path_and_serves_the_demo() {
    let bin = debian_venv().join("bin");
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let found = run_ok(
        Command::new("sh")
            .args(["-c", "command -v kanban-workers"])
            .env("PATH", &path),
    );
    assert_eq!(found.trim(), bin.join("kanban-workers").to_str().unwrap());

    let home = temp_dir("wheel-demo");
    let mut cmd = Command::new("kanban-workers");
    cmd.args(["demo", "--listen", "127.0.0.1:0", "--quiet"])
        .env("PATH", &path)
        .env("HOME", home.path());
    // Spawn returns once the "serving board ... on http://<addr>" line is out: it listens.
    let server = Server::spawn(cmd, "serving board");
    let out = run_ok(Command::new("curl").args([
        "-s",
        "--max-time",
        "10",
        &format!("http://{}/workers/active", server.addr),
    ]));
    let active: Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"));
    assert_eq!(active["count"], 3, "{active}");
    let (ok, stderr) = server.stop();
    assert!(ok, "{stderr}");
}

#[test]
fn wheel_platform_tag_is_what_auditwheel_finds() {
    let wheel = wheel_path();
    let name = wheel.file_name().unwrap().to_str().unwrap().to_owned();
    assert!(name.ends_with(&format!("-{TAG}.whl")), "{name}");
    let auditwheel = py_tools().join("bin/auditwheel");
    let out = run_ok(Command::new(&auditwheel).arg("show").arg(&wheel));
    // auditwheel wraps its lines: compare with whitespace folded.
    let said = out.split_whitespace().collect::<Vec<_>>().join(" ");
    let platform = TAG.trim_start_matches("py3-none-");
    assert!(
        said.contains(&format!(
            "is consistent with the following platform tag: \"{platform}\""
        )),
        "{out}"
    );
}

#[test]
fn load_takes_apsw_and_pysqlite3_connections() {
    // The tools venv has apsw and pysqlite3-binary; the package comes from the fresh venv.
    let site = python_ok(
        debian_venv(),
        "import json, sysconfig; print(json.dumps(sysconfig.get_path('purelib')))",
        &[],
    );
    let out = run_ok(
        Command::new(py_tools().join("bin/python"))
            .args([
                "-c",
                r#"
import json, apsw, pysqlite3.dbapi2, kanban_workers
got = {}
for name, conn in [("apsw", apsw.Connection(":memory:")),
                   ("pysqlite3", pysqlite3.dbapi2.connect(":memory:"))]:
    kanban_workers.load(conn)
    got[name] = list(conn.cursor().execute("SELECT kanban_workers_version()").fetchall()[0])
print(json.dumps(got))
"#,
            ])
            .env("PYTHONPATH", site.as_str().unwrap()),
    );
    let got: Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"));
    let v = env!("CARGO_PKG_VERSION");
    assert_eq!(got, json!({"apsw": [v], "pysqlite3": [v]}));
}

/// pyenv's default builds have no `enable_load_extension`: `make test` finds such a python3
/// (on PATH, else under ~/.pyenv) and passes it in `KANBAN_WORKERS_NOEXT_PYTHON`, or skips
/// this test by name and says so.
#[test]
fn load_without_extension_loading_says_what_works() {
    let noext = std::env::var("KANBAN_WORKERS_NOEXT_PYTHON")
        .ok()
        .filter(|p| !p.is_empty())
        .unwrap_or_else(|| "python3".into());
    let venv = venv_with_wheel(Path::new(&noext), "wheel-venv-noext");
    let out = python(
        &venv,
        r#"
import sqlite3, kanban_workers
assert not hasattr(sqlite3.Connection, "enable_load_extension"), "this python can load extensions"
print(kanban_workers.binary_path())
kanban_workers.load(sqlite3.connect(":memory:"))
"#,
        &[],
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "load succeeded: {stderr}");
    // The binary is still there: the HTTP shim needs no extension loading.
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        venv.join("bin/kanban-workers").to_str().unwrap()
    );
    let last = stderr.lines().last().unwrap_or_default();
    for words in [
        "kanban_workers.ExtensionLoadingUnavailable: kanban_workers.load: this Python's sqlite3 cannot load extensions",
        "has no enable_load_extension",
        "/usr/bin/python3",
        "uv's Pythons",
        "apsw",
    ] {
        assert!(last.contains(words), "{words:?} not in: {stderr}");
    }
}
