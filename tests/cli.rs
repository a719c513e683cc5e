#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! The real binary's command line.

use std::os::unix::ffi::OsStrExt;
use std::process::Command;

/// An argument that is not UTF-8 is a clear error and exit 2 (it was a panic, exit 101).
#[test]
fn an_argument_that_is_not_utf8_is_an_error_not_a_panic() {
    let out = Command::new(env!("CARGO_BIN_EXE_kanban-workers"))
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
