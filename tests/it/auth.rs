#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! Authentication against the real binary: a token from a file, accepted as a bearer token or
//! as the dashboard's session header; reads open on loopback unless `--auth-reads`; required
//! beyond loopback; a wrong token learns nothing.

use std::process::Command;

use crate::common::*;
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
    let bin = Command::new(shim_bin());
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
    let mut cmd = Command::new(shim_bin());
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
    let refused = Command::new(shim_bin())
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
            "the token file /nonexistent/token does not exist",
        ),
        (vec!["--token", TOKEN], "unknown argument"),
    ] {
        let out = Command::new(shim_bin())
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
    let mut cmd = Command::new(shim_bin());
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

/// A request for run 1 with `token` as a bearer token.
fn with_bearer(s: &Server, token: &str) -> HttpResponse {
    http_request(
        &s.addr,
        "GET",
        "/runs/1",
        &[("Authorization", &format!("Bearer {token}"))],
    )
}

/// A server behind the token of `setup`, reads included.
fn guarded(tag: &str) -> (Board, std::path::PathBuf, Server) {
    let (board, token) = setup(tag);
    let s = serve(
        &board,
        &["--token-file", token.to_str().unwrap(), "--auth-reads"],
    );
    assert_eq!(with_bearer(&s, TOKEN).status, 200);
    (board, token, s)
}

/// The token file rewritten by rename (what editors and `install` do): the old token is
/// refused and the new one accepted at once, without a restart.
#[test]
fn a_token_rewritten_by_rename_is_seen_without_a_restart() {
    let (board, token, s) = guarded("auth-rename");
    let fresh = board.dir.path().join("token.new");
    std::fs::write(&fresh, "the-rotated-token\n").unwrap();
    std::fs::rename(&fresh, &token).unwrap();
    assert_eq!(with_bearer(&s, TOKEN).status, 401);
    assert_eq!(with_bearer(&s, "the-rotated-token").status, 200);
    // And back again: each rewrite counts, not only the first.
    std::fs::write(&fresh, TOKEN).unwrap();
    std::fs::rename(&fresh, &token).unwrap();
    assert_eq!(with_bearer(&s, "the-rotated-token").status, 401);
    assert_eq!(with_bearer(&s, TOKEN).status, 200);
}

/// The token file rewritten in place (same inode), with a token of the same length: seen too.
#[test]
fn a_token_rewritten_in_place_is_seen_without_a_restart() {
    let (_board, token, s) = guarded("auth-in-place");
    let ino = std::os::unix::fs::MetadataExt::ino(&std::fs::metadata(&token).unwrap());
    let same_length: String = TOKEN.chars().rev().collect();
    for (old, new) in [(TOKEN, same_length.as_str()), (same_length.as_str(), TOKEN)] {
        std::fs::write(&token, format!("{new}\n")).unwrap();
        assert_eq!(with_bearer(&s, old).status, 401, "{old} still accepted");
        assert_eq!(with_bearer(&s, new).status, 200, "{new} refused");
    }
    let after = std::os::unix::fs::MetadataExt::ino(&std::fs::metadata(&token).unwrap());
    assert_eq!(ino, after, "the file was rewritten in place");
}

/// A deleted token file: every route that needs the token refuses, saying why (and never with
/// the token); the reads open on loopback stay open.
#[test]
fn a_deleted_token_file_refuses_the_protected_routes_with_a_message() {
    let (board, token, s) = guarded("auth-deleted");
    let open = serve(&board, &["--token-file", token.to_str().unwrap()]);
    std::fs::remove_file(&token).unwrap();
    for r in [
        with_bearer(&s, TOKEN),
        http_request(&s.addr, "GET", "/metrics", &[]),
        http_request(
            &open.addr,
            "POST",
            "/runs/1/terminate",
            &[("Authorization", &format!("Bearer {TOKEN}"))],
        ),
    ] {
        assert_eq!(r.status, 503, "{:?}", String::from_utf8_lossy(&r.body));
        let detail = r.detail();
        assert!(
            detail.contains("token file") && detail.contains("does not exist"),
            "{detail}"
        );
        assert!(!detail.contains(TOKEN), "{detail}");
    }
    assert_eq!(open.get("/runs/1").status, 200);
    // Put back, it is read again.
    std::fs::write(&token, TOKEN).unwrap();
    assert_eq!(with_bearer(&s, TOKEN).status, 200);
}

/// `kanban-workers serve` with `token_file` as the token file: its exit code and stderr, or
/// `None` if it did not exit within 60 s (then it is killed).
fn start_with_token_file(board: &Board, token_file: &std::path::Path) -> Option<(i32, String)> {
    let child = Command::new(shim_bin())
        .args(["serve", "--quiet", "--listen", "127.0.0.1:0", "--db"])
        .arg(&board.path)
        .arg("--token-file")
        .arg(token_file)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id() as i32;
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    match rx.recv_timeout(std::time::Duration::from_secs(60)) {
        Ok(out) => {
            let out = out.unwrap();
            let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
            Some((out.status.code().unwrap_or(-1), stderr))
        }
        Err(_) => {
            // SAFETY: kill has no memory-safety preconditions; the pid is our own child's.
            unsafe { libc::kill(pid, libc::SIGKILL) };
            None
        }
    }
}

/// A FIFO as the token file: start-up ends at once with a message (it used to block forever
/// in the read, before printing anything).
#[test]
fn a_fifo_as_the_token_file_is_refused_at_start() {
    let (board, _) = setup("auth-fifo");
    let fifo = board.dir.path().join("token-fifo");
    run_ok(Command::new("mkfifo").arg(&fifo));
    let (code, stderr) =
        start_with_token_file(&board, &fifo).expect("start-up did not end within 60 s");
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr.contains(fifo.to_str().unwrap()) && stderr.contains("not a regular file"),
        "{stderr}"
    );
}

/// Token files no header can carry (two lines, a NUL) are refused at start, with a message,
/// and on reload, where the protected routes refuse until the file is fixed.
#[test]
fn token_files_no_header_can_carry_are_refused_at_start_and_on_reload() {
    let bad: [(&[u8], &str); 3] = [
        (b"first-line\nsecond-line\n", "more than one line"),
        (b"before\0after", "NUL"),
        (b"   \n", "empty"),
    ];
    let (board, _) = setup("auth-bad-start");
    for (content, words) in bad {
        let file = board.dir.path().join("bad-token");
        std::fs::write(&file, content).unwrap();
        let (code, stderr) =
            start_with_token_file(&board, &file).expect("start-up did not end within 60 s");
        assert_eq!(code, 2, "{content:?}: {stderr}");
        assert!(stderr.contains(words), "{content:?}: {stderr}");
    }
    let (_board, token, s) = guarded("auth-bad-reload");
    for (content, words) in bad {
        std::fs::write(&token, content).unwrap();
        for tried in [TOKEN, "first-line", "before"] {
            let r = with_bearer(&s, tried);
            assert_eq!(r.status, 503, "{content:?}");
            let detail = r.detail();
            assert!(detail.contains(words), "{content:?}: {detail}");
            assert!(
                !detail.contains("line\n") && !detail.contains("after"),
                "{detail}"
            );
        }
    }
    // A FIFO renamed over it: refused at once too (the read must not block the server).
    let fifo = token.with_file_name("fifo");
    run_ok(Command::new("mkfifo").arg(&fifo));
    std::fs::rename(&fifo, &token).unwrap();
    let r = with_bearer(&s, TOKEN);
    assert_eq!(r.status, 503);
    assert!(r.detail().contains("not a regular file"), "{}", r.detail());
    std::fs::remove_file(&token).unwrap();
    std::fs::write(&token, TOKEN).unwrap();
    assert_eq!(with_bearer(&s, TOKEN).status, 200);
}

const METRICS_TOKEN: &str = "scrape-only-token-for-prometheus";

/// Credentials do one job (issue 35, item 3): the metrics token (`--metrics-token-file`, scope
/// kanban.metrics, the one Prometheus holds, so the one every scraped host learns) reads
/// `/metrics` and nothing else: every other read, the logs, the fleet and every action are a
/// 403 naming its scope. The admin token reads and acts as before. One token for both is
/// refused at start. Before: one token scraped, read logs and terminated on every host.
#[test]
fn a_metrics_token_reads_metrics_and_nothing_else() {
    let (board, token) = setup("auth-metrics-scope");
    let metrics = board.dir.path().join("metrics-token");
    std::fs::write(&metrics, format!("{METRICS_TOKEN}\n")).unwrap();
    let s = serve(
        &board,
        &[
            "--token-file",
            token.to_str().unwrap(),
            "--metrics-token-file",
            metrics.to_str().unwrap(),
            "--auth-reads",
        ],
    );
    let bearer = |t: &str| format!("Bearer {t}");
    let ask = |method: &str, path: &str, t: &str| {
        http_request(&s.addr, method, path, &[("Authorization", &bearer(t))])
    };
    for path in ["/metrics", "/api/plugins/kanban/metrics"] {
        let r = ask("GET", path, METRICS_TOKEN);
        assert_eq!(r.status, 200, "{path}");
        assert!(String::from_utf8_lossy(&r.body).contains("kanban_workers_host_info"));
        assert_eq!(ask("HEAD", path, METRICS_TOKEN).status, 200, "{path}");
        assert_eq!(ask("GET", path, TOKEN).status, 200, "{path}");
    }
    for (method, path) in [
        ("GET", "/workers/active"),
        ("GET", "/workers/active?live=1"),
        ("GET", "/runs/1"),
        ("GET", "/runs/1/inspect"),
        ("GET", "/runs/1/processes"),
        ("GET", "/runs/1/log"),
        ("GET", "/tasks/t_1/log"),
        ("GET", "/workers/lingering"),
        ("GET", "/fleet/workers"),
        ("POST", "/runs/1/terminate"),
        ("POST", "/runs/1/reap"),
    ] {
        let r = ask(method, path, METRICS_TOKEN);
        assert_eq!(r.status, 403, "{method} {path}");
        assert_eq!(
            r.detail(),
            "this token's scope is kanban.metrics: it reads GET /metrics only",
            "{method} {path}"
        );
        // The admin token passes the check (the route answers as it would: not a 401/403).
        let r = ask(method, path, TOKEN);
        assert!(
            !matches!(r.status, 401 | 403),
            "{method} {path}: {}",
            r.status
        );
    }
    // A wrong token is still a 401, whatever the route.
    assert_eq!(ask("GET", "/metrics", "nope").status, 401);

    // The same token in both files: refused at start, naming why.
    let same = board.dir.path().join("same-token");
    std::fs::write(&same, TOKEN).unwrap();
    let out = Command::new(shim_bin())
        .args(["serve", "--quiet", "--listen", "127.0.0.1:0", "--db"])
        .arg(&board.path)
        .arg("--token-file")
        .arg(&token)
        .arg("--metrics-token-file")
        .arg(&same)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("holds the same token as --token-file"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // A host that is only scraped: beyond loopback with the metrics token alone. /metrics
    // answers it; nothing else answers anyone.
    let mut cmd = Command::new(shim_bin());
    cmd.env_remove("KANBAN_WORKERS_TOKEN_FILE")
        .args(["serve", "--db"])
        .arg(&board.path)
        .args(["--listen", "0.0.0.0:0", "--allow-remote", "--quiet"])
        .arg("--metrics-token-file")
        .arg(&metrics);
    let scraped = Server::spawn(cmd, "serving board");
    let port = scraped.addr.rsplit(':').next().unwrap();
    let addr = format!("127.0.0.1:{port}");
    let auth = bearer(METRICS_TOKEN);
    let with = [("Authorization", auth.as_str())];
    assert_eq!(http_request(&addr, "GET", "/metrics", &with).status, 200);
    assert_eq!(
        http_request(&addr, "GET", "/workers/active", &with).status,
        403
    );
    assert_eq!(http_request(&addr, "GET", "/metrics", &[]).status, 401);
    assert_eq!(
        http_request(&addr, "POST", "/runs/1/terminate", &with).status,
        403
    );
}
