#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! Boards as the owner finds them: the kanban root from the environment, `?board=` on every
//! route, the active board, `--db` and `$HERMES_KANBAN_DB` — the real binary, started without
//! `--db` as the owner's users start it, over real board files.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::*;
use serde_json::json;

/// A board file at `path` (its folders made) holding one running run of task `task`.
fn board_at(path: &Path, task: &str) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    let conn = create_board(path);
    insert_run(&conn, &RunSpec::new(task).pid(4242));
}

/// The shim started with only `env` (no `--db`): the owner's users' way.
fn serve_with(env: &[(&str, &Path)], extra: &[&str]) -> Server {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_kanban-workers"));
    for var in [
        "HERMES_KANBAN_DB",
        "HERMES_KANBAN_HOME",
        "HERMES_HOME",
        "HERMES_KANBAN_BOARD",
    ] {
        cmd.env_remove(var);
    }
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.args(["serve", "--listen", "127.0.0.1:0", "--quiet"])
        .args(extra);
    Server::spawn(cmd, "serving board")
}

/// The task of the one worker a route's answer lists.
fn task_of(server: &Server, query: &str) -> (u16, serde_json::Value) {
    let (status, body) = server.get_json(&format!("/workers/active{query}"));
    if status == 200 {
        (status, body["workers"][0]["task_id"].clone())
    } else {
        (status, body)
    }
}

#[test]
fn the_root_is_found_as_the_owner_finds_it() {
    let dir = temp_dir("boards-root");
    let d = dir.path();
    let home = d.join("home");
    // Where the board is, its task, and the Hermes variables set beside HOME.
    type Case<'a> = (&'a str, &'a str, &'a [(&'a str, &'a str)]);
    let cases: [Case; 5] = [
        // ~/.hermes (HOME alone, and a profile under it).
        ("home/.hermes/kanban.db", "t_home", &[]),
        (
            "home/.hermes/kanban.db",
            "t_home",
            &[("HERMES_HOME", "home/.hermes/profiles/work")],
        ),
        // A Docker or custom deployment: $HERMES_HOME itself.
        (
            "opt/data/kanban.db",
            "t_docker",
            &[("HERMES_HOME", "opt/data")],
        ),
        // A profile of a custom root: <x>/profiles/<name> -> <x>.
        (
            "srv/kanban.db",
            "t_srv",
            &[("HERMES_HOME", "srv/profiles/ops")],
        ),
        // $HERMES_KANBAN_HOME wins over all of them.
        (
            "kh/kanban.db",
            "t_kh",
            &[("HERMES_HOME", "opt/data"), ("HERMES_KANBAN_HOME", "kh")],
        ),
    ];
    for (file, task, vars) in cases {
        board_at(&d.join(file), task);
        let paths: Vec<(&str, std::path::PathBuf)> =
            vars.iter().map(|(k, v)| (*k, d.join(v))).collect();
        let mut env: Vec<(&str, &Path)> = vec![("HOME", &home)];
        env.extend(paths.iter().map(|(k, v)| (*k, v.as_path())));
        let s = serve_with(&env, &[]);
        assert_eq!(task_of(&s, ""), (200, json!(task)), "{vars:?}");
    }
}

#[test]
fn board_parameter_on_every_route() {
    let dir = temp_dir("boards-param");
    let root = dir.path().to_path_buf();
    board_at(&root.join("kanban.db"), "t_default");
    board_at(&root.join("kanban/boards/ops/kanban.db"), "t_ops");
    let s = serve_with(&[("HERMES_KANBAN_HOME", &root)], &[]);
    assert_eq!(task_of(&s, ""), (200, json!("t_default")));
    assert_eq!(task_of(&s, "?board="), (200, json!("t_default")));
    assert_eq!(task_of(&s, "?board=default"), (200, json!("t_default")));
    assert_eq!(task_of(&s, "?board=ops"), (200, json!("t_ops")));
    assert_eq!(task_of(&s, "?board=%20Ops%20"), (200, json!("t_ops")));
    assert_eq!(task_of(&s, "?board=ops&live=1"), (200, json!("t_ops")));
    for route in ["/runs/1", "/runs/1/inspect", "/workers/active"] {
        let (status, body) = s.get_json(&format!("/api/plugins/kanban{route}?board=ops"));
        assert_eq!(status, 200, "{route}: {body}");
        let (status, body) = s.get_json(&format!("{route}?board=nope"));
        assert_eq!(
            (status, body),
            (404, json!({"detail": "board 'nope' does not exist"}))
        );
        for bad in ["..", "a%2Fb", "-x", "_x", &"a".repeat(65), "%C3%A9"] {
            let (status, body) = s.get_json(&format!("{route}?board={bad}"));
            assert_eq!(status, 400, "{route} {bad}: {body}");
            let detail = body["detail"].as_str().unwrap();
            assert!(
                detail.starts_with("invalid board slug '")
                    && detail.ends_with(
                        "must be 1-64 chars, lowercase alphanumerics / hyphens / underscores, not starting with '-' or '_'"
                    ),
                "{detail}"
            );
        }
    }
    // A board created after the start is found without a restart.
    board_at(&root.join("kanban/boards/late/kanban.db"), "t_late");
    assert_eq!(task_of(&s, "?board=late"), (200, json!("t_late")));
}

#[test]
fn the_active_board_is_the_owners() {
    let dir = temp_dir("boards-active");
    let root = dir.path().to_path_buf();
    board_at(&root.join("kanban.db"), "t_default");
    board_at(&root.join("kanban/boards/ops/kanban.db"), "t_ops");
    board_at(&root.join("kanban/boards/dev/kanban.db"), "t_dev");
    std::fs::write(root.join("kanban/current"), "dev\n").unwrap();
    let s = serve_with(&[("HERMES_KANBAN_HOME", &root)], &[]);
    assert_eq!(task_of(&s, ""), (200, json!("t_dev")));
    // The file is read per request: switching boards needs no restart.
    std::fs::write(root.join("kanban/current"), "ops").unwrap();
    assert_eq!(task_of(&s, ""), (200, json!("t_ops")));
    // A current board that does not exist: default.
    std::fs::write(root.join("kanban/current"), "gone").unwrap();
    assert_eq!(task_of(&s, ""), (200, json!("t_default")));
    // $HERMES_KANBAN_BOARD first.
    let board = PathBuf::from("ops");
    let s = serve_with(
        &[
            ("HERMES_KANBAN_HOME", &root),
            ("HERMES_KANBAN_BOARD", &board),
        ],
        &[],
    );
    assert_eq!(task_of(&s, ""), (200, json!("t_ops")));
    assert_eq!(task_of(&s, "?board=dev"), (200, json!("t_dev")));
}

#[test]
fn a_pinned_file_is_served_after_the_parameter_is_checked() {
    let dir = temp_dir("boards-pinned");
    let root = dir.path().to_path_buf();
    board_at(&root.join("kanban.db"), "t_default");
    board_at(&root.join("kanban/boards/ops/kanban.db"), "t_ops");
    let pinned = root.join("elsewhere.db");
    board_at(&pinned, "t_pinned");
    // $HERMES_KANBAN_DB: the parameter is still checked (as the owner does), then the file
    // is the pinned one.
    let s = serve_with(
        &[("HERMES_KANBAN_HOME", &root), ("HERMES_KANBAN_DB", &pinned)],
        &[],
    );
    assert_eq!(task_of(&s, ""), (200, json!("t_pinned")));
    assert_eq!(task_of(&s, "?board=ops"), (200, json!("t_pinned")));
    assert_eq!(task_of(&s, "?board=nope").0, 404);
    assert_eq!(task_of(&s, "?board=..").0, 400);
    // --db serves exactly one file: another board is a 404.
    let s = serve_with(
        &[("HERMES_KANBAN_HOME", &root)],
        &["--db", pinned.to_str().unwrap()],
    );
    assert_eq!(task_of(&s, ""), (200, json!("t_pinned")));
    assert_eq!(task_of(&s, "?board=default"), (200, json!("t_pinned")));
    let (status, body) = task_of(&s, "?board=ops");
    assert_eq!(
        (status, body),
        (404, json!({"detail": "board 'ops' does not exist"}))
    );
    assert_eq!(task_of(&s, "?board=../x").0, 400);
}

// ---- kanban/current: read without blocking, not following links, a few bytes ----------

/// Bytes the process `pid` has read so far (`rchar`: every read and pread, files and sockets).
fn bytes_read(pid: i64) -> u64 {
    let io = std::fs::read_to_string(format!("/proc/{pid}/io")).unwrap();
    io.lines()
        .find_map(|l| l.strip_prefix("rchar: "))
        .unwrap()
        .trim()
        .parse()
        .unwrap()
}

#[test]
fn a_huge_current_file_is_read_no_further_than_a_slug() {
    let dir = temp_dir("boards-huge-current");
    let root = dir.path().to_path_buf();
    board_at(&root.join("kanban.db"), "t_default");
    board_at(&root.join("kanban/boards/ops/kanban.db"), "t_ops");
    // 300 MiB, sparse: "ops" and then NULs, which the owner does not strip (not a slug).
    let current = std::fs::File::create(root.join("kanban/current")).unwrap();
    std::io::Write::write_all(&mut &current, b"ops\n").unwrap();
    current.set_len(300 << 20).unwrap();
    let s = serve_with(&[("HERMES_KANBAN_HOME", &root)], &[]);
    assert_eq!(task_of(&s, ""), (200, json!("t_default")));
    let before = bytes_read(s.pid());
    assert_eq!(task_of(&s, ""), (200, json!("t_default")));
    let read = bytes_read(s.pid()) - before;
    assert!(read < 1 << 20, "one request read {read} bytes");
}

#[test]
fn a_fifo_at_current_blocks_nothing() {
    let dir = temp_dir("boards-fifo-current");
    let root = dir.path().to_path_buf();
    board_at(&root.join("kanban.db"), "t_default");
    board_at(&root.join("kanban/boards/ops/kanban.db"), "t_ops");
    let s = serve_with(&[("HERMES_KANBAN_HOME", &root)], &[]);
    run_ok(Command::new("mkfifo").arg(root.join("kanban/current")));
    // More requests than reader threads: none may keep one.
    for _ in 0..=kanban_workers::shim::server::READERS {
        assert_eq!(task_of(&s, ""), (200, json!("t_default")));
    }
    assert_eq!(task_of(&s, "?board=default"), (200, json!("t_default")));
    assert_eq!(task_of(&s, "?board=ops"), (200, json!("t_ops")));
    // Nor does it hold up the start, which finds the active board too.
    let s = serve_with(&[("HERMES_KANBAN_HOME", &root)], &[]);
    assert_eq!(task_of(&s, ""), (200, json!("t_default")));
}

#[test]
fn a_link_at_current_is_not_followed() {
    let dir = temp_dir("boards-link-current");
    let root = dir.path().join("root");
    board_at(&root.join("kanban.db"), "t_default");
    board_at(&root.join("kanban/boards/ops/kanban.db"), "t_ops");
    let elsewhere = dir.path().join("elsewhere");
    std::fs::write(&elsewhere, "ops\n").unwrap();
    std::os::unix::fs::symlink(&elsewhere, root.join("kanban/current")).unwrap();
    let s = serve_with(&[("HERMES_KANBAN_HOME", &root)], &[]);
    assert_eq!(task_of(&s, ""), (200, json!("t_default")));
    // The same file, not a link: followed as the owner does.
    std::fs::remove_file(root.join("kanban/current")).unwrap();
    std::fs::copy(&elsewhere, root.join("kanban/current")).unwrap();
    assert_eq!(task_of(&s, ""), (200, json!("t_ops")));
}
