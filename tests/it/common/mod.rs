//! Shared helpers for the integration tests, one file per concern: the built extension, real
//! board files, real worker processes, the tests' own reading of /proc (independent of the
//! library's), the real server binary, and a plain HTTP client.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
// Some helpers serve only tests that are skipped where their program is missing (chromium,
// promtool, the Hermes venv) or that need root: a build without them must not warn.
#![allow(dead_code, unused_imports)]

pub mod binary;
pub mod board;
pub mod browser;
pub mod cgroups;
pub mod extension;
pub mod flip;
pub mod http;
pub mod proc_truth;
pub mod prometheus;
pub mod python;
pub mod server;
pub mod workers;

pub use binary::*;
pub use board::*;
pub use browser::*;
pub use cgroups::*;
pub use extension::*;
pub use flip::*;
pub use http::*;
pub use proc_truth::*;
pub use prometheus::*;
pub use python::*;
pub use server::*;
pub use workers::*;

pub const MANIFEST_DIR: &str = env!("CARGO_MANIFEST_DIR");

/// What `make test` built before the tests (the `.so`, the binary, the wheel, the tools venv):
/// the path in `var`, which must exist; without `var` (a bare `cargo test`), what `build`
/// builds.
pub fn given_or_built(var: &str, build: impl FnOnce() -> std::path::PathBuf) -> std::path::PathBuf {
    match std::env::var_os(var) {
        Some(p) => {
            let p = std::path::PathBuf::from(p);
            assert!(p.exists(), "{var}={} does not exist", p.display());
            p
        }
        None => build(),
    }
}

/// `make <target>` at the root, its output kept out of the tests' (a failure fails the test).
pub fn make(target: &str) {
    let status = std::process::Command::new("make")
        .arg(target)
        .current_dir(MANIFEST_DIR)
        .stdout(std::process::Stdio::null())
        .status()
        .unwrap_or_else(|e| panic!("run `make {target}`: {e}"));
    assert!(status.success(), "`make {target}` failed");
}

/// What a test that needs root says when it is run without it. Such tests are
/// `#[ignore = "needs root"]`: `make test` runs them when it runs as root (as CI does), and
/// `cargo test -- --include-ignored` asks for them explicitly.
pub fn require_root() {
    assert_eq!(
        euid(),
        0,
        "this test needs root (it switches users or mounts /proc); run it as root"
    );
}

/// Run a command and return stdout, failing the test with stderr when it fails.
pub fn run_ok(cmd: &mut std::process::Command) -> String {
    let out = cmd.output().unwrap_or_else(|e| panic!("run {cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}\n{}",
        String::from_utf8_lossy(&out.stderr),
        String::from_utf8_lossy(&out.stdout)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}
