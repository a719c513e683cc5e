//! The built `kanban-workers` binary. It is the package in server/ (the library at the root
//! has no binary, so cargo gives these tests no `CARGO_BIN_EXE_kanban-workers`): `make test`
//! builds it and passes it in `KANBAN_WORKERS_BIN`; a bare `cargo test` builds it here (once
//! per test binary, `cargo build -p kanban-workers-server`, the same profile and target dir
//! as the tests), so a stale binary is never tested.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;

use super::MANIFEST_DIR;

/// The binary's path, as a `&str` (where `env!("CARGO_BIN_EXE_...")` was).
pub fn shim_bin() -> &'static str {
    static BIN: OnceLock<String> = OnceLock::new();
    BIN.get_or_init(|| {
        super::given_or_built("KANBAN_WORKERS_BIN", build)
            .display()
            .to_string()
    })
}

/// `cargo build -p kanban-workers-server` with this test binary's profile and target dir (it
/// is target/<profile>/deps/it-<hash>): the binary is target/<profile>/kanban-workers.
fn build() -> PathBuf {
    let exe = std::env::current_exe().expect("this test binary's path");
    let profile_dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("the test binary is in target/<profile>/deps");
    let target_dir = profile_dir.parent().expect("target/<profile>");
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut build = Command::new(cargo);
    build
        .args([
            "build",
            "-p",
            "kanban-workers-server",
            "--bin",
            "kanban-workers",
        ])
        .arg("--target-dir")
        .arg(target_dir)
        .current_dir(MANIFEST_DIR)
        .stdout(Stdio::null());
    if profile_dir.file_name().is_some_and(|n| n == "release") {
        build.arg("--release");
    }
    let status = build
        .status()
        .expect("run `cargo build -p kanban-workers-server`");
    assert!(
        status.success(),
        "`cargo build -p kanban-workers-server` failed"
    );
    profile_dir.join("kanban-workers")
}
