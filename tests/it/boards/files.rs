#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! Boards as the owner finds them: the kanban root from the environment, `?board=` on every
//! route, the active board, `--db` and `$HERMES_KANBAN_DB` — the real binary, started without
//! `--db` as the owner's users start it, over real board files.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::common::*;
use serde_json::json;

/// A board file at `path` (its folders made) holding one running run of task `task`.
fn board_at(path: &Path, task: &str) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    let conn = create_board(path);
    insert_run(&conn, &RunSpec::new(task).pid(4242));
}

/// The shim started with only `env` (no `--db`): the owner's users' way.
fn serve_with(env: &[(&str, &Path)], extra: &[&str]) -> Server {
    let mut cmd = Command::new(shim_bin());
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

/// A board exists as the owner's `board_exists` says (hermes-agent 0.19.0, and the owner's
/// current releases): its folder holds a `board.json` or a `kanban.db`. An empty folder under
/// `boards/` (left by a removal, or made by hand) is no board: naming it is the 404 a missing
/// board gets on every route (it was a 503 for its missing file), the active board falls back
/// from it to `default` as from a missing one, and every board's list (`?board=*`) leaves it
/// out. A folder with a `board.json` and no file yet is a board whose file is missing (503).
/// The owner's own functions say the same on the same root (tests/it/newer.rs).
#[test]
fn an_empty_board_folder_is_no_board() {
    let dir = temp_dir("boards-empty-folder");
    let root = std::fs::canonicalize(dir.path()).unwrap();
    let boards = root.join("kanban/boards");
    board_at(&root.join("kanban.db"), "t_default");
    board_at(&boards.join("ops/kanban.db"), "t_ops");
    std::fs::create_dir_all(boards.join("empty")).unwrap();
    std::fs::create_dir_all(boards.join("meta")).unwrap();
    std::fs::write(boards.join("meta/board.json"), r#"{"name": "Meta"}"#).unwrap();
    std::fs::write(root.join("kanban/current"), "empty").unwrap();
    let s = serve_with(&[("HERMES_KANBAN_HOME", &root)], &[]);
    let routes = [
        "/workers/active",
        "/workers/active?live=1&",
        "/workers/lingering",
        "/runs/1",
        "/runs/1/inspect",
        "/api/plugins/kanban/workers/active",
    ];
    let ask = |route: &str, board: &str| {
        let sep = if route.ends_with('&') { "" } else { "?" };
        s.get_json(&format!("{route}{sep}board={board}"))
    };
    for route in routes {
        assert_eq!(
            ask(route, "empty"),
            (404, json!({"detail": "board 'empty' does not exist"})),
            "{route}"
        );
        assert_eq!(ask(route, "%20Empty").0, 404, "{route}");
        let detail = format!(
            "board {} does not exist",
            boards.join("meta/kanban.db").display()
        );
        assert_eq!(
            ask(route, "meta"),
            (503, json!({ "detail": detail })),
            "{route}"
        );
        assert_eq!(ask(route, "ops").0, 200, "{route}");
    }
    // The current board naming the empty folder: default, as for a missing board.
    assert_eq!(task_of(&s, ""), (200, json!("t_default")));
    // Every board: the empty folder is not one of them.
    let (status, every) = s.get_json("/workers/active?board=*");
    assert_eq!(status, 200, "{every}");
    let listed: Vec<&str> = every["boards"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["board"].as_str().unwrap())
        .collect();
    assert_eq!(listed, ["default", "ops"], "{every}");
    // A file made there later makes it a board, without a restart.
    board_at(&boards.join("empty/kanban.db"), "t_late");
    assert_eq!(task_of(&s, "?board=empty"), (200, json!("t_late")));
    assert_eq!(task_of(&s, ""), (200, json!("t_late")));
}

// ---- Boards stay inside what their owner can read ----------------------------------------

/// A board holding one running run of `task` in another user's private folder `dir` (nobody's,
/// mode 0700), the board file nobody's too. The connection returned keeps its WAL side files in
/// place, so a root shim could read it (as it did before boards were checked).
fn nobodys_board(dir: &Path, task: &str) -> (PathBuf, rusqlite::Connection) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::create_dir_all(dir).unwrap();
    let path = dir.join("kanban.db");
    let conn = create_board(&path);
    insert_run(&conn, &RunSpec::new(task).pid(4242));
    std::os::unix::fs::chown(&path, Some(NOBODY), Some(NOBODY)).unwrap();
    std::os::unix::fs::chown(dir, Some(NOBODY), Some(NOBODY)).unwrap();
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700)).unwrap();
    (path, conn)
}

const NOBODY: u32 = 65534;

/// What `board` answers on each read route.
fn answers(server: &Server, board: &str) -> Vec<(u16, serde_json::Value)> {
    ["/workers/active", "/runs/1", "/runs/1/inspect"]
        .iter()
        .map(|route| server.get_json(&format!("{route}?board={board}")))
        .collect()
}

/// The answer for a board file that does not exist, as every route gives it.
fn missing_file(path: &Path) -> Vec<(u16, serde_json::Value)> {
    let detail = format!("board {} does not exist", path.display());
    vec![(503, json!({ "detail": detail })); 3]
}

#[test]
#[ignore = "needs root"]
fn a_board_folder_linked_into_another_users_folder_is_refused_as_missing() {
    require_root();
    let dir = temp_dir("boards-linked-dir");
    let root = dir.path().join("root");
    board_at(&root.join("kanban.db"), "t_default");
    let (_, _open) = nobodys_board(&dir.path().join("private"), "t_private");
    let link = root.join("kanban/boards/evil");
    std::fs::create_dir_all(link.parent().unwrap()).unwrap();
    std::os::unix::fs::symlink(dir.path().join("private"), &link).unwrap();
    // The current board naming it: the active board falls back to default.
    std::fs::write(root.join("kanban/current"), "evil").unwrap();
    let s = serve_with(&[("HERMES_KANBAN_HOME", &root)], &[]);
    let refused = answers(&s, "evil");
    assert_eq!(task_of(&s, ""), (200, json!("t_default")));
    std::fs::remove_file(&link).unwrap();
    let missing = answers(&s, "evil");
    assert_eq!(refused, missing, "a refused board answers as a missing one");
    assert_eq!(
        missing[0],
        (404, json!({"detail": "board 'evil' does not exist"}))
    );
}

#[test]
#[ignore = "needs root"]
fn a_board_file_linked_into_another_users_folder_is_refused_as_missing() {
    require_root();
    let dir = temp_dir("boards-linked-file");
    let root = dir.path().join("root");
    board_at(&root.join("kanban/boards/ops/kanban.db"), "t_ops");
    // dev is a board by its board.json (its file missing: 503); bare's folder holds nothing
    // else, so it is a board only while its file is there (missing: 404, as the owner's
    // board_exists says).
    std::fs::create_dir_all(root.join("kanban/boards/dev")).unwrap();
    std::fs::write(root.join("kanban/boards/dev/board.json"), "{}").unwrap();
    std::fs::create_dir_all(root.join("kanban/boards/bare")).unwrap();
    let (private, _open) = nobodys_board(&dir.path().join("private"), "t_private");
    let default = root.join("kanban.db");
    let dev = root.join("kanban/boards/dev/kanban.db");
    let bare = root.join("kanban/boards/bare/kanban.db");
    let no_bare = vec![(404, json!({"detail": "board 'bare' does not exist"})); 3];
    let serve = || {
        let board = PathBuf::from("ops");
        serve_with(
            &[
                ("HERMES_KANBAN_HOME", &root),
                ("HERMES_KANBAN_BOARD", &board),
            ],
            &[],
        )
    };
    // Missing first, then linked: the same answers.
    let s = serve();
    let all = |s: &Server| (answers(s, "default"), answers(s, "dev"), answers(s, "bare"));
    let missing = all(&s);
    assert_eq!(
        missing,
        (missing_file(&default), missing_file(&dev), no_bare.clone())
    );
    for file in [&default, &dev, &bare] {
        std::os::unix::fs::symlink(&private, file).unwrap();
    }
    assert_eq!(all(&s), missing);
    // A fresh shim (no pool open on the board yet) answers the same.
    drop(s);
    let s = serve();
    assert_eq!(all(&s), missing);
    assert_eq!(task_of(&s, ""), (200, json!("t_ops")));
    // At start, with the default board linked: the same refusal as when it is missing.
    let start_linked = start_on_default(&root);
    std::fs::remove_file(&default).unwrap();
    assert_eq!(start_linked, start_on_default(&root));
}

/// `serve` on the default board of `root`, which must refuse to start: its exit code and
/// stderr. Fails the test if it starts serving instead.
fn start_on_default(root: &Path) -> (Option<i32>, String) {
    use std::io::BufRead;
    let mut child = Command::new(shim_bin())
        .env_remove("HERMES_KANBAN_DB")
        .env_remove("HERMES_KANBAN_BOARD")
        .env("HERMES_KANBAN_HOME", root)
        .args(["serve", "--listen", "127.0.0.1:0", "--quiet"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    if !line.is_empty() {
        let _ = child.kill();
        panic!("it started: {line}");
    }
    let out = child.wait_with_output().unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
#[ignore = "needs root"]
fn a_board_of_another_owner_than_the_roots_is_refused_as_missing() {
    require_root();
    let dir = temp_dir("boards-owner");
    let root = dir.path().join("root");
    board_at(&root.join("kanban/boards/ops/kanban.db"), "t_ops");
    // A folder of the root that is another user's, and a board file of another user in a
    // folder of the root's owner.
    let (_, _theirs) = nobodys_board(&root.join("kanban/boards/theirs"), "t_theirs");
    let mine = root.join("kanban/boards/mine");
    let (_, _mine) = nobodys_board(&mine, "t_mine");
    std::os::unix::fs::chown(&mine, Some(0), Some(0)).unwrap();
    // A board by its board.json (the owner's board_exists): its file, refused or missing,
    // is a missing file (503), not a missing board.
    std::fs::write(mine.join("board.json"), "{}").unwrap();
    let (default, _default) = nobodys_board(&root, "t_default");
    std::os::unix::fs::chown(&root, Some(0), Some(0)).unwrap();
    let board = PathBuf::from("ops");
    let s = serve_with(
        &[
            ("HERMES_KANBAN_HOME", &root),
            ("HERMES_KANBAN_BOARD", &board),
        ],
        &[],
    );
    let refused = (
        answers(&s, "theirs"),
        answers(&s, "mine"),
        answers(&s, "default"),
    );
    std::fs::remove_dir_all(root.join("kanban/boards/theirs")).unwrap();
    let mine_file = mine.join("kanban.db");
    for file in [&mine_file, &default] {
        std::fs::remove_file(file).unwrap();
    }
    let missing = (
        answers(&s, "theirs"),
        answers(&s, "mine"),
        answers(&s, "default"),
    );
    assert_eq!(refused, missing);
    assert_eq!(
        missing.0[0],
        (404, json!({"detail": "board 'theirs' does not exist"}))
    );
    assert_eq!(
        (missing.1, missing.2),
        (missing_file(&mine_file), missing_file(&default))
    );
}

#[test]
#[ignore = "needs root"]
fn a_file_the_operator_names_is_served_wherever_it_is() {
    require_root();
    let dir = temp_dir("boards-named");
    let root = dir.path().join("root");
    board_at(&root.join("kanban.db"), "t_default");
    let (_, _open) = nobodys_board(&dir.path().join("private"), "t_private");
    let link = root.join("kanban/boards/evil");
    std::fs::create_dir_all(link.parent().unwrap()).unwrap();
    std::os::unix::fs::symlink(dir.path().join("private"), &link).unwrap();
    let named = link.join("kanban.db");
    let s = serve_with(
        &[("HERMES_KANBAN_HOME", &root)],
        &["--db", named.to_str().unwrap()],
    );
    assert_eq!(task_of(&s, ""), (200, json!("t_private")));
    let s = serve_with(
        &[("HERMES_KANBAN_HOME", &root), ("HERMES_KANBAN_DB", &named)],
        &[],
    );
    assert_eq!(task_of(&s, ""), (200, json!("t_private")));
    assert_eq!(task_of(&s, "?board=default"), (200, json!("t_private")));
}

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
    for _ in 0..=kanban_workers::shim::http::serve::READERS {
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

/// Whoever writes the kanban root swaps `kanban/` for a link into root's private folder, where
/// the same board path holds root's file, while the shim (root) answers
/// `/runs/{id}/processes` for a run naming root's process: the views keep the owner the board
/// was checked against (nobody), so root's process is never listed, and no connection is
/// opened on root's file. Before: the views read the owner again from the swapped path.
#[test]
#[ignore = "needs root"]
fn a_board_writer_swapping_folders_does_not_change_the_boards_owner() {
    use std::os::unix::fs::{PermissionsExt, lchown, symlink};
    require_root();
    let top = temp_dir("boards-swap");
    let victim = top.path().join("victim");
    let roots_board = victim.join("kanban/boards/ops/kanban.db");
    board_at(&roots_board, "t_root");
    std::fs::set_permissions(&victim, std::fs::Permissions::from_mode(0o700)).unwrap();
    let root = top.path().join("root");
    let file = root.join("kanban/boards/ops/kanban.db");
    std::fs::create_dir_all(file.parent().unwrap()).unwrap();
    let conn = create_board(&file);
    // Root's process, named by nobody's board.
    let roots = Worker::asleep(Command::new("sleep").arg("1000"));
    let run = insert_run(
        &conn,
        &RunSpec::new("t_f").pid(roots.pid()).started(now_secs()),
    );
    run_ok(Command::new("chown").args(["-R", "65534:65534"]).arg(&root));
    let link = root.join("kanban-link");
    symlink(victim.join("kanban"), &link).unwrap();
    lchown(&link, Some(65534), Some(65534)).unwrap();
    let server = serve_with(
        &[
            ("HERMES_KANBAN_HOME", &root),
            ("HERMES_KANBAN_BOARD", Path::new("ops")),
        ],
        &[],
    );
    let path = format!("/runs/{run}/processes?board=ops");
    let (status, body) = server.get_json(&path);
    assert_eq!((status, &body["processes"]), (200, &json!([])), "{body}");

    let flipper = Flipper::start(&[(root.join("kanban"), link.clone())]);
    let mut answered = 0;
    for _ in 0..3000 {
        let (status, body) = server.get_json(&path);
        if status == 200 {
            answered += 1;
            assert_eq!(
                body["processes"],
                json!([]),
                "root's process listed: {body}"
            );
        }
    }
    assert!(flipper.stop() > 0);
    assert!(answered > 0);
    drop(conn);
}
