//! Which boards exist, as the owner's own `board_exists` and plugin route say on the same
//! kanban root (hermes-agent 0.19.0 from target/hermes-venv, the newer releases' fork from
//! target/hermes-iot-venv), and what the shim answers there
//! (tests/fixtures/hermes_board_exists.py).

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::{Value, json};

use crate::common::*;

/// hermes-agent 0.19.0's Python (`$KANBAN_WORKERS_HERMES_VENV`, else target/hermes-venv), or
/// `None` (said, with the test's name) where `make hermes-venv` could not install it.
fn hermes_0_19_python(test: &str) -> Option<PathBuf> {
    let venv = std::env::var_os("KANBAN_WORKERS_HERMES_VENV")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(MANIFEST_DIR).join("target/hermes-venv"));
    let python = venv.join("bin/python");
    if python.exists() {
        return Some(python);
    }
    eprintln!(
        "skipped: {test} (needs hermes-agent 0.19.0 in {}: make hermes-venv)",
        venv.display()
    );
    None
}

/// What the owner's code of the release whose Python is `python` says of `slugs` on `root`.
fn owners_view(python: &Path, root: &Path, slugs: &[&str]) -> Value {
    let out = run_ok(
        Command::new(python)
            .arg(format!(
                "{MANIFEST_DIR}/tests/fixtures/hermes_board_exists.py"
            ))
            .args(slugs)
            .env("HERMES_KANBAN_HOME", root)
            .env("HERMES_HOME", root)
            .env("HOME", root)
            .env_remove("HERMES_KANBAN_DB")
            .env_remove("HERMES_KANBAN_BOARD"),
    );
    serde_json::from_str(out.trim()).unwrap_or_else(|e| panic!("{e}: {out}"))
}

/// A folder under `boards/` holding neither `board.json` nor `kanban.db` is no board for
/// either release's `board_exists`: their plugin routes answer 404 `board '<slug>' does not
/// exist`, and so does the shim, word for word (it answered 503 for the missing file), and
/// neither lists it. Where they differ the shim follows the owner: a folder holding only a
/// `kanban.db` is a board for 0.19.0 (and the owner's current code), not for the fork.
#[test]
fn a_folder_is_a_board_as_the_owners_board_exists_says() {
    let test = "a_folder_is_a_board_as_the_owners_board_exists_says";
    let (Some(newer), Some(old)) = (super::iot_python(test), hermes_0_19_python(test)) else {
        return;
    };
    let dir = temp_dir("newer-board-exists");
    let root = std::fs::canonicalize(dir.path()).unwrap();
    let boards = root.join("kanban/boards");
    insert_run(
        &create_board(&root.join("kanban.db")),
        &RunSpec::new("t_default"),
    );
    std::fs::create_dir_all(boards.join("ops")).unwrap();
    insert_run(
        &create_board(&boards.join("ops/kanban.db")),
        &RunSpec::new("t_ops"),
    );
    std::fs::create_dir_all(boards.join("meta")).unwrap();
    std::fs::write(boards.join("meta/board.json"), r#"{"name": "Meta"}"#).unwrap();
    std::fs::create_dir_all(boards.join("empty")).unwrap();
    let slugs = ["default", "ops", "meta", "empty", "nope"];

    let mut cmd = Command::new(shim_bin());
    for var in ["HERMES_KANBAN_DB", "HERMES_HOME", "HERMES_KANBAN_BOARD"] {
        cmd.env_remove(var);
    }
    cmd.env("HERMES_KANBAN_HOME", &root)
        .args(["serve", "--listen", "127.0.0.1:0", "--quiet"]);
    let s = Server::spawn(cmd, "serving board");
    let shim: Vec<(u16, Value)> = slugs
        .iter()
        .map(|slug| {
            let (status, body) = s.get_json(&format!("/workers/active?board={slug}"));
            (status, if status == 200 { json!(null) } else { body })
        })
        .collect();
    let (_, every) = s.get_json("/workers/active?board=*");
    let shim_listed: Vec<&str> = every["boards"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["board"].as_str().unwrap())
        .collect();

    let old = owners_view(&old, &root, &slugs);
    let newer = owners_view(&newer, &root, &slugs);
    let exists = |view: &Value| -> Vec<bool> {
        slugs
            .iter()
            .map(|s| view["boards"][s]["exists"].as_bool().unwrap())
            .collect()
    };
    assert_eq!(exists(&old), [true, true, true, false, false], "{old}");
    assert_eq!(exists(&newer), [true, false, true, false, false], "{newer}");
    // The shim: a 404 exactly where 0.19.0 says no board; a board whose file is missing, 503.
    let statuses: Vec<u16> = shim.iter().map(|(status, _)| *status).collect();
    assert_eq!(statuses, [200, 200, 503, 404, 404], "{shim:?}");
    for (i, slug) in slugs.iter().enumerate().skip(3) {
        let said = json!({"status": 404, "detail": format!("board '{slug}' does not exist")});
        for view in [&old, &newer] {
            let owner = &view["boards"][slug];
            assert_eq!(
                json!({"status": owner["status"], "detail": owner["detail"]}),
                said,
                "{slug}: {view}"
            );
        }
        assert_eq!(shim[i].1, json!({"detail": said["detail"]}), "{slug}");
    }
    // Nobody lists the empty folder.
    for listed in [&old["listed"], &newer["listed"], &json!(shim_listed)] {
        assert!(
            !listed.as_array().unwrap().contains(&json!("empty")),
            "{listed}"
        );
    }
    assert_eq!(shim_listed, ["default", "ops"]);
    // No one made a board of the empty folder or a file for the board.json-only one.
    assert_eq!(std::fs::read_dir(boards.join("empty")).unwrap().count(), 0);
    assert!(!boards.join("meta/kanban.db").exists());
}
