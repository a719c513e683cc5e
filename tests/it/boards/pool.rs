#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! The shim's connection pool: read-only, and following the board file.

use crate::common::{Board, create_board};
use kanban_workers::shim::ApiError;
use kanban_workers::shim::board::pool::{BoardPool, board_error};
use rusqlite::Connection;

/// A board with one running task.
fn board(tag: &str) -> Board {
    let board = Board::new(tag);
    board
        .writer()
        .execute(
            "INSERT INTO tasks (id, title, status, created_at) VALUES ('t', 't', 'running', 1)",
            [],
        )
        .unwrap();
    board
}

#[test]
fn pooled_connections_cannot_write() {
    let board = board("ro");
    let path = board.path.clone();
    let db = BoardPool::new(path.clone());
    let attempts = [
        "DELETE FROM tasks",
        "UPDATE tasks SET status = 'done'",
        "INSERT INTO task_events (task_id, kind, created_at) VALUES ('t', 'x', 1)",
        "CREATE TABLE evil(x)",
    ];
    for sql in attempts {
        let result = db.with_conn(
            std::time::Instant::now() + std::time::Duration::from_secs(5),
            |c| {
                c.execute_batch(sql)
                    .map_err(|e| ApiError::new(500, e.to_string()))
            },
        );
        let err = result.expect_err(sql);
        assert!(
            err.detail.contains("readonly")
                || err.detail.contains("read-only")
                || err.detail.contains("attempt to write"),
            "{sql}: {}",
            err.detail
        );
    }
    let status: String = Connection::open(&path)
        .unwrap()
        .query_row("SELECT status FROM tasks", [], |r| r.get(0))
        .unwrap();
    assert_eq!(status, "running");
}

#[test]
fn a_replaced_board_file_is_reopened() {
    let board = board("replace");
    let path = board.path.clone();
    let db = BoardPool::new(path.clone());
    let count = |db: &BoardPool| {
        db.with_conn(
            std::time::Instant::now() + std::time::Duration::from_secs(5),
            |c| {
                c.query_row("SELECT count(*) FROM tasks", [], |r| r.get::<_, i64>(0))
                    .map_err(|e| board_error(&path, &e))
            },
        )
    };
    assert_eq!(count(&db), Ok(1));
    // Replace the file (new inode) with a board of two tasks: the pool must follow.
    let other = path.with_file_name("new.db");
    let conn = create_board(&other);
    conn.execute_batch("INSERT INTO tasks (id, title, status, created_at) VALUES ('a','a','done',1), ('b','b','done',1)").unwrap();
    drop(conn);
    std::fs::rename(&other, &path).unwrap();
    assert_eq!(count(&db), Ok(2));
    std::fs::remove_file(&path).unwrap();
    assert_eq!(count(&db).map_err(|e| e.status), Err(503));
}

/// Boards are opened when first asked for and reused; past MAX_OPEN_BOARDS the least recently
/// used one is closed (asking for it again opens a new pool).
#[test]
fn board_pools_are_reused_and_the_least_recently_used_is_closed() {
    use kanban_workers::shim::board::pool::{BoardPools, MAX_OPEN_BOARDS};
    use std::sync::Arc;
    let pools = BoardPools::new(
        std::time::Duration::from_secs(5),
        kanban_workers::Settings::from_env(),
        || (),
    );
    let path = |i: usize| std::path::PathBuf::from(format!("/nonexistent/board-{i}.db"));
    let first = pools.get(&path(0), None);
    let one = pools.get(&path(1), None);
    assert!(Arc::ptr_eq(&first, &pools.get(&path(0), None)), "reused");
    for i in 2..MAX_OPEN_BOARDS {
        pools.get(&path(i), None);
    }
    // All eight open; board 0 used again, so board 1 is the least recently used.
    assert!(Arc::ptr_eq(&first, &pools.get(&path(0), None)));
    pools.get(&path(MAX_OPEN_BOARDS), None);
    assert!(
        Arc::ptr_eq(&first, &pools.get(&path(0), None)),
        "board 0 kept"
    );
    assert!(
        !Arc::ptr_eq(&one, &pools.get(&path(1), None)),
        "board 1 closed, opened anew"
    );
}

/// The pool opens the path it was given (the real path a board resolved to) and nothing a
/// link in it leads to: a link put in its place after the check (the board's writer can swap
/// one in at any moment) is not followed by SQLite, for reads and for terminate's writer.
#[test]
fn a_link_in_the_boards_path_is_not_followed_by_sqlite() {
    let board = board("nofollow");
    let folder = board.dir.path().join("folder");
    std::fs::create_dir(&folder).unwrap();
    std::os::unix::fs::symlink(board.dir.path(), folder.join("up")).unwrap();
    let deadline = || std::time::Instant::now() + std::time::Duration::from_secs(5);
    for linked in [
        board.dir.path().join("link.db"),
        folder.join("up/kanban.db"),
    ] {
        if linked.ends_with("link.db") {
            std::os::unix::fs::symlink(&board.path, &linked).unwrap();
        }
        let db = BoardPool::new(linked.clone());
        let err = db
            .with_conn(deadline(), |_| Ok(()))
            .expect_err("a link followed");
        assert_eq!(err.status, 503, "{}", err.detail);
        assert!(err.detail.contains("cannot be opened"), "{}", err.detail);
        assert!(db.open_writer(std::time::Duration::from_secs(1)).is_err());
    }
    let db = BoardPool::new(board.path.clone());
    assert!(db.with_conn(deadline(), |_| Ok(())).is_ok());
}

/// A read of a rollback-journal board holds its lock only while each statement runs: between
/// them (a handler reading a log file, say), the owner's writer takes the EXCLUSIVE lock at
/// once, on a WAL board as on a rollback-journal one.
#[test]
fn between_a_reads_statements_the_owners_writer_is_never_kept_out() {
    for mode in ["delete", "wal"] {
        let board = board(&format!("between-{mode}"));
        let path = board.path.clone();
        let _: String = board
            .writer()
            .query_row(&format!("PRAGMA journal_mode = {mode}"), [], |r| r.get(0))
            .unwrap();
        let db = BoardPool::new(path.clone());
        let writer = Connection::open(&path).unwrap();
        writer.busy_timeout(std::time::Duration::ZERO).unwrap();
        let took = db
            .with_conn(
                std::time::Instant::now() + std::time::Duration::from_secs(5),
                |c| {
                    let n: i64 = c
                        .query_row("SELECT count(*) FROM tasks", [], |r| r.get(0))
                        .map_err(|e| board_error(&path, &e))?;
                    let took = writer
                        .execute_batch("BEGIN EXCLUSIVE; UPDATE tasks SET title = 'u'; COMMIT");
                    let _ = writer.execute_batch("ROLLBACK");
                    Ok((n, took.map_err(|e| e.to_string())))
                },
            )
            .unwrap();
        assert_eq!(took, (1, Ok(())), "{mode}");
    }
}
