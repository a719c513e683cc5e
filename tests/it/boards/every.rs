#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! `?board=*` (issue 39 §2): every board of a real kanban root at once, with real workers
//! spawned as the owner spawns them, through the real binary started as the owner's users
//! start it (no `--db`).

use std::path::Path;
use std::process::Command;

use crate::common::*;
use serde_json::json;

/// The shim serving the kanban root `root` (no `--db`).
fn serve_root(root: &Path) -> Server {
    let mut cmd = Command::new(shim_bin());
    for var in ["HERMES_KANBAN_DB", "HERMES_HOME", "HERMES_KANBAN_BOARD"] {
        cmd.env_remove(var);
    }
    cmd.env("HERMES_KANBAN_HOME", root)
        .args(["serve", "--listen", "127.0.0.1:0", "--quiet"]);
    Server::spawn(cmd, "serving board")
}

/// A board file at `path`, its folders made.
fn board_file(path: &Path) -> rusqlite::Connection {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    create_board(path)
}

/// `(board, task_id)` of each row of a list, in its order.
fn rows_of(body: &serde_json::Value, list: &str) -> Vec<(String, String)> {
    body[list]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| {
            (
                w["board"].as_str().unwrap().to_owned(),
                w["task_id"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

#[test]
fn every_board_of_the_root_at_once() {
    let dir = temp_dir("boards-every");
    let root = std::fs::canonicalize(dir.path()).unwrap();
    let boards = root.join("kanban/boards");
    let default = board_file(&root.join("kanban.db"));
    let ops_path = boards.join("ops/kanban.db");
    let ops = board_file(&ops_path);
    // Real workers on two boards, each board's runs numbered from 1 (the same run ids).
    let w_default = HermesWorker::sleep(&default, &root.join("kanban.db"), "t_default");
    let w_ops = HermesWorker::sleep(&ops, &ops_path, "t_ops");
    let left = HermesWorker::sleep(&ops, &ops_path, "t_left");
    complete_as_0_19(&ops, "t_left", left.run);
    assert_eq!((w_default.run, w_ops.run), (1, 1));
    // An archived board (the owner's tombstone), one the owner moved to _archived, a link to
    // ops (one board reached twice), and a board file that is not a database.
    let dev = board_file(&boards.join("dev/kanban.db"));
    insert_run(&dev, &RunSpec::new("t_dev").pid(w_ops.pid()));
    std::fs::write(
        boards.join("dev/board.json"),
        r#"{"name": "Dev", "archived": true}"#,
    )
    .unwrap();
    let old = board_file(&boards.join("_archived/old-1700000000/kanban.db"));
    insert_run(&old, &RunSpec::new("t_old").pid(w_ops.pid()));
    std::os::unix::fs::symlink(boards.join("ops"), boards.join("ops-again")).unwrap();
    std::fs::create_dir_all(boards.join("broken")).unwrap();
    std::fs::write(boards.join("broken/kanban.db"), "not a database").unwrap();
    let s = serve_root(&root);

    let (status, body) = s.get_json("/workers/active?board=*");
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        rows_of(&body, "workers"),
        [
            ("default".into(), "t_default".into()),
            ("ops".into(), "t_ops".into())
        ]
    );
    assert_eq!(body["count"], 2);
    assert_eq!(body["boards_left_out"], 0);
    let answered: Vec<&str> = body["boards"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["board"].as_str().unwrap())
        .collect();
    assert_eq!(answered, ["default", "broken", "ops"], "{body}");
    assert_eq!(body["boards"][1]["status"], 503, "{body}");
    assert!(
        body["boards"][1]["detail"]
            .as_str()
            .unwrap()
            .contains("is not a SQLite database"),
        "{body}"
    );
    assert_eq!(body["boards"][2]["count"], 1, "{body}");

    // Live: each worker's verdict on its own board (the same run id, two processes).
    let (status, live) = s.get_json("/api/plugins/kanban/workers/active?live=1&board=*");
    assert_eq!(status, 200, "{live}");
    let pids: Vec<(String, i64, bool)> = live["workers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| {
            (
                w["board"].as_str().unwrap().to_owned(),
                w["worker_pid"].as_i64().unwrap(),
                w["alive"] == true,
            )
        })
        .collect();
    assert_eq!(
        pids,
        [
            ("default".into(), w_default.pid(), true),
            ("ops".into(), w_ops.pid(), true)
        ],
        "{live}"
    );
    assert!(
        live["workers"]
            .as_array()
            .unwrap()
            .iter()
            .all(|w| w["identity"] == "spawn marks")
    );

    // What ended runs left behind, on whichever board.
    let (status, lingering) = s.get_json("/workers/lingering?board=*");
    assert_eq!(status, 200, "{lingering}");
    assert_eq!(
        rows_of(&lingering, "lingering"),
        [("ops".into(), "t_left".into())]
    );
    assert_eq!(lingering["lingering"][0]["pid"], left.pid());

    // The default stays the one board, its rows as before (no `board`).
    let (_, one) = s.get_json("/workers/active");
    assert_eq!(one["count"], 1);
    assert_eq!(one["workers"][0]["task_id"], "t_default");
    assert!(one["workers"][0].get("board").is_none(), "{one}");
    assert!(one.get("boards").is_none(), "{one}");
    // A run is one board's: `*` on its routes is the owner's refusal of a slug.
    for route in ["/runs/1", "/runs/1/inspect", "/metrics", "/workers/history"] {
        let (status, body) = s.get_json(&format!("{route}?board=*"));
        assert_eq!(status, 400, "{route}: {body}");
        assert!(
            body["detail"]
                .as_str()
                .unwrap()
                .starts_with("invalid board slug '*'")
        );
    }
    // HEAD: the GET's length.
    let head = http_request(&s.addr, "HEAD", "/workers/active?board=*", &[]);
    assert_eq!(head.status, 200);
    assert!(head.body.is_empty());
}

/// A board that leaves the root's owner's reach (its folder a link into another user's private
/// folder) is left out of every board's list, as it is refused when named.
#[test]
#[ignore = "needs root"]
fn every_board_applies_each_boards_owner_rules() {
    use std::os::unix::fs::PermissionsExt;
    require_root();
    let dir = temp_dir("boards-every-owner");
    let root = dir.path().join("root");
    let default = board_file(&root.join("kanban.db"));
    insert_run(&default, &RunSpec::new("t_default").pid(4242));
    let private = dir.path().join("private");
    let theirs = board_file(&private.join("kanban.db"));
    insert_run(&theirs, &RunSpec::new("t_private").pid(4242));
    for p in [private.join("kanban.db"), private.clone()] {
        std::os::unix::fs::chown(&p, Some(65534), Some(65534)).unwrap();
    }
    std::fs::set_permissions(&private, std::fs::Permissions::from_mode(0o700)).unwrap();
    std::fs::create_dir_all(root.join("kanban/boards")).unwrap();
    std::os::unix::fs::symlink(&private, root.join("kanban/boards/evil")).unwrap();
    let s = serve_root(&root);
    let (status, body) = s.get_json("/workers/active?board=*");
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        rows_of(&body, "workers"),
        [("default".into(), "t_default".into())]
    );
    assert_eq!(
        body["boards"],
        json!([{"board": "default", "count": 1, "checked_at": body["boards"][0]["checked_at"]}])
    );
}
