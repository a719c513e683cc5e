#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! The real binary's command line.

use std::os::unix::ffi::OsStrExt;
use std::process::Command;

use crate::common::*;

/// An argument that is not UTF-8 is a clear error and exit 2 (it was a panic, exit 101).
#[test]
fn an_argument_that_is_not_utf8_is_an_error_not_a_panic() {
    let out = Command::new(shim_bin())
        .args(["serve", "--db"])
        .arg(std::ffi::OsStr::from_bytes(b"\xff.db"))
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("--db: '\u{fffd}.db' is not valid UTF-8"),
        "{err}"
    );
    assert!(!err.contains("panicked"), "{err}");
}

/// `demo --hostname x`: the demo's claims name `x`, the name the verdicts compare with, so
/// its workers are this host's (they all showed as another host's).
#[test]
fn the_demo_claims_with_the_hostname_it_is_given() {
    let mut cmd = Command::new(shim_bin());
    cmd.args([
        "demo",
        "--listen",
        "127.0.0.1:0",
        "--quiet",
        "--hostname",
        "not-the-kernels",
    ]);
    let server = Server::spawn(cmd, "serving board");
    let (status, body) = server.get_json("/workers/active?live=1");
    assert_eq!(status, 200);
    let workers = body["workers"].as_array().unwrap();
    assert!(!workers.is_empty());
    for w in workers {
        assert_eq!(w["worker_host"], "not-the-kernels", "{w}");
        assert_eq!(w["local"], true, "{w}");
    }
    assert!(workers.iter().any(|w| w["alive"] == true), "{body}");
}

/// The demo's folder is a fresh private one: a folder (or a link) another user put at the
/// name it used (`kanban-workers-demo-<pid>` in the temp dir) is not used.
#[test]
fn the_demo_never_uses_a_folder_made_before_it() {
    let tmp = temp_dir("demo-tmp");
    let planted = temp_dir("demo-planted");
    let mut cmd = Command::new("sh");
    // `$$` is the shell's pid, and `exec` keeps it: the demo's pid is known in advance.
    cmd.arg("-c")
        .arg(r#"ln -s "$0" "$TMPDIR/kanban-workers-demo-$$" && exec "$@""#)
        .arg(planted.path())
        .arg(shim_bin())
        .args(["demo", "--listen", "127.0.0.1:0", "--quiet"])
        .env("TMPDIR", tmp.path());
    let server = Server::spawn(cmd, "serving board");
    assert_eq!(server.get("/workers/active").status, 200);
    let banner = server.banner.join("\n");
    assert!(
        !banner.contains(&format!("kanban-workers-demo-{}/", server.pid())),
        "{banner}"
    );
    assert_eq!(
        std::fs::read_dir(planted.path()).unwrap().count(),
        0,
        "the demo wrote into the planted folder"
    );
    let (ok, err) = server.stop();
    assert!(ok, "{err}");
}
