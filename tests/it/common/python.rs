//! What `make wheel` builds: the wheel, and the tools venv it made (Debian's python3 with
//! maturin, auditwheel, pysqlite3-binary and apsw from PyPI).

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use super::MANIFEST_DIR;

/// `make wheel`, once per test binary, unless `make test` already ran it and said so.
fn make_wheel() {
    static MADE: OnceLock<()> = OnceLock::new();
    MADE.get_or_init(|| super::make("wheel"));
}

/// The wheel `make wheel` built (`KANBAN_WORKERS_WHEEL` from `make test`).
pub fn wheel_path() -> PathBuf {
    super::given_or_built("KANBAN_WORKERS_WHEEL", only_wheel)
}

/// The one wheel in target/wheels after `make wheel` (which empties it first).
fn only_wheel() -> PathBuf {
    make_wheel();
    let dir = Path::new(MANIFEST_DIR).join("target/wheels");
    let wheels: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("target/wheels")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "whl"))
        .collect();
    assert_eq!(
        wheels.len(),
        1,
        "one wheel in {}: {wheels:?}",
        dir.display()
    );
    wheels[0].clone()
}

/// The tools venv (`KANBAN_WORKERS_PY_TOOLS` from `make test`).
pub fn py_tools() -> PathBuf {
    super::given_or_built("KANBAN_WORKERS_PY_TOOLS", || {
        make_wheel();
        Path::new(MANIFEST_DIR).join("target/py-tools")
    })
}
