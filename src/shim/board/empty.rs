//! The board of a shim that serves none (`serve --no-board`, the coordinator layout:
//! docs/fleet.md): a fresh private folder (mode 0700, a random name) holding a board with the
//! owner's schema and no run. Every route then answers as on an empty board, and the views
//! name the shim's user as the board's owner: the workers listed and exported are that
//! user's processes carrying a run's marks (`sql/route_workers_marked.sql`). Removed when
//! dropped.

use std::path::{Path, PathBuf};

use rusqlite::Connection;

const SCHEMA: &str = include_str!("../../../sql/kanban_schema.sql");

pub struct EmptyBoard {
    _dir: tempfile::TempDir,
    pub path: PathBuf,
}

impl EmptyBoard {
    pub fn create() -> Result<EmptyBoard, String> {
        let dir = private_dir("kanban-workers-no-board-")
            .map_err(|e| format!("create a folder for the empty board: {e}"))?;
        let path = dir.path().join("kanban.db");
        make(&path).map_err(|e| format!("the empty board {}: {e}", path.display()))?;
        Ok(EmptyBoard { _dir: dir, path })
    }
}

/// A fresh folder of mode 0700 with a random name after `prefix` (never one another user made
/// first; tempfile alone makes folders 0777 less the umask), removed when dropped.
pub fn private_dir(prefix: &str) -> std::io::Result<tempfile::TempDir> {
    let private = std::os::unix::fs::PermissionsExt::from_mode(0o700);
    tempfile::Builder::new()
        .prefix(prefix)
        .permissions(private)
        .tempdir()
}

/// A new board at `path` (WAL, the owner's schema, no row), and a connection to it.
pub fn make(path: &Path) -> rusqlite::Result<Connection> {
    let conn = Connection::open(path)?;
    conn.pragma_update(None, "journal_mode", "wal")?;
    conn.execute_batch(SCHEMA)?;
    Ok(conn)
}
