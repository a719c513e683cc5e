#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! Authentication against the real binary: a token from a file, accepted as a bearer token or
//! as the dashboard's session header; reads open on loopback unless `--auth-reads`; required
//! beyond loopback; a wrong token learns nothing.

mod common;

use std::process::Command;

use common::*;
use serde_json::json;

const TOKEN: &str = "s3cret-token-of-the-dashboard";

/// A board with run 1, and a token file beside it.
fn setup(tag: &str) -> (Board, std::path::PathBuf) {
    let board = Board::new(tag);
    insert_run(&board.writer(), &RunSpec::new("t_1").pid(4242));
    let token = board.dir.path().join("token");
    std::fs::write(&token, format!("{TOKEN}\n")).unwrap();
    (board, token)
}

fn serve(board: &Board, extra: &[&str]) -> Server {
    let bin = Command::new(env!("CARGO_BIN_EXE_kanban-workers"));
    let mut args = vec!["--quiet"];
    args.extend_from_slice(extra);
    Server::start_with(bin, &board.path, &args)
}

#[test]
fn reads_are_open_on_loopback_unless_asked() {
    let (board, token) = setup("auth-open");
    let open = serve(&board, &[]);
    assert_eq!(open.get("/runs/1").status, 200);
    let with_token = serve(&board, &["--token-file", token.to_str().unwrap()]);
    assert_eq!(with_token.get("/runs/1").status, 200);
}

#[test]
fn auth_reads_requires_the_token_on_every_route() {
    let (board, token) = setup("auth-reads");
    let s = serve(
        &board,
        &["--token-file", token.to_str().unwrap(), "--auth-reads"],
    );
    for route in [
        "/workers/active",
        "/workers/active?live=1",
        "/runs/1",
        "/runs/1/inspect",
        "/runs/999",
        "/nope",
        "/runs/abc",
    ] {
        // Missing, or wrong: 401 with a JSON detail and WWW-Authenticate, whatever the route
        // (a wrong token never learns whether run 999 exists, or whether a path is routed).
        for headers in [
            vec![],
            vec![("Authorization", "Bearer wrong")],
            vec![("X-Hermes-Session-Token", "wrong")],
            vec![("Authorization", "Basic czNjcmV0")],
            vec![("Authorization", &format!("Bearer {TOKEN}x") as &str)],
        ] {
            let r = http_request(&s.addr, "GET", route, &headers);
            assert_eq!(r.status, 401, "{route} {headers:?}");
            assert_eq!(r.header("www-authenticate"), Some("Bearer"));
            assert!(r.detail().contains("token"), "{}", r.detail());
        }
        let bearer = format!("Bearer {TOKEN}");
        for headers in [
            vec![("Authorization", bearer.as_str())],
            vec![("authorization", &format!("bearer {TOKEN}") as &str)],
            vec![("X-Hermes-Session-Token", TOKEN)],
        ] {
            let r = http_request(&s.addr, "GET", route, &headers);
            assert!(r.status != 401, "{route} {headers:?}: {}", r.status);
        }
    }
    let r = http_request(
        &s.addr,
        "GET",
        "/runs/999",
        &[("X-Hermes-Session-Token", TOKEN)],
    );
    assert_eq!(
        (r.status, r.json()),
        (404, json!({"detail": "run 999 not found"}))
    );
}

#[test]
fn the_token_file_may_be_named_by_the_environment() {
    let (board, token) = setup("auth-env");
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_kanban-workers"));
    cmd.env("KANBAN_WORKERS_TOKEN_FILE", &token);
    let s = Server::start_with(cmd, &board.path, &["--quiet", "--auth-reads"]);
    assert_eq!(s.get("/runs/1").status, 401);
    let r = http_request(
        &s.addr,
        "GET",
        "/runs/1",
        &[("X-Hermes-Session-Token", TOKEN)],
    );
    assert_eq!(r.status, 200);
}

#[test]
fn beyond_loopback_a_token_is_required_to_start_and_on_every_route() {
    let (board, token) = setup("auth-remote");
    let refused = Command::new(env!("CARGO_BIN_EXE_kanban-workers"))
        .env_remove("KANBAN_WORKERS_TOKEN_FILE")
        .args(["serve", "--db"])
        .arg(&board.path)
        .args(["--listen", "0.0.0.0:0", "--allow-remote"])
        .output()
        .unwrap();
    assert_eq!(refused.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&refused.stderr).contains("--token-file"));
    for (flags, words) in [
        (vec!["--auth-reads"], "--token-file"),
        (
            vec!["--token-file", "/nonexistent/token"],
            "cannot read the token file",
        ),
        (vec!["--token", TOKEN], "unknown argument"),
    ] {
        let out = Command::new(env!("CARGO_BIN_EXE_kanban-workers"))
            .env_remove("KANBAN_WORKERS_TOKEN_FILE")
            .args(["serve", "--db"])
            .arg(&board.path)
            .args(&flags)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{flags:?}");
        assert!(
            String::from_utf8_lossy(&out.stderr).contains(words),
            "{flags:?}"
        );
    }
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_kanban-workers"));
    cmd.arg("serve")
        .arg("--db")
        .arg(&board.path)
        .args([
            "--listen",
            "0.0.0.0:0",
            "--allow-remote",
            "--quiet",
            "--token-file",
        ])
        .arg(&token);
    let s = Server::spawn(cmd, "serving board");
    let port = s.addr.rsplit(':').next().unwrap();
    let addr = format!("127.0.0.1:{port}");
    assert_eq!(
        http_request(&addr, "GET", "/workers/active", &[]).status,
        401
    );
    let r = http_request(
        &addr,
        "GET",
        "/workers/active",
        &[("Authorization", &format!("Bearer {TOKEN}"))],
    );
    assert_eq!(r.status, 200);
}
