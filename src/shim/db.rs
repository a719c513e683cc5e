//! Read-only connections to the board, each with the SQL surface registered, kept in a small
//! pool. Called from blocking threads only (never on the async workers).
//!
//! - Opened with `SQLITE_OPEN_READ_ONLY`: the shim can never take a write lock on the board.
//! - `busy_timeout` so a reader waits briefly instead of failing while a writer holds a lock
//!   it needs (WAL readers rarely do: only during recovery).
//! - A pooled connection is dropped when the board file was deleted or replaced (different
//!   inode), so the shim follows the file instead of serving a deleted copy forever; and
//!   after any database error, so a broken connection is not reused.

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rusqlite::{Connection, ErrorCode, OpenFlags};

use super::ApiError;
use crate::CpuSampler;

/// How long a query waits on a lock before answering 503.
pub const BUSY_TIMEOUT: Duration = Duration::from_secs(5);
/// Idle connections kept open.
const MAX_IDLE: usize = 8;

struct Pooled {
    conn: Connection,
    file_id: (u64, u64),
}

pub struct Db {
    path: PathBuf,
    idle: Mutex<Vec<Pooled>>,
    /// Shared by every connection, so `cpu_percent` follows the previous request whichever
    /// connection served it.
    sampler: Arc<CpuSampler>,
}

impl Db {
    pub fn new(path: PathBuf) -> Db {
        Db {
            path,
            idle: Mutex::new(Vec::new()),
            sampler: Arc::new(CpuSampler::new()),
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Run `f` on a pooled read-only connection.
    pub fn with_conn<T>(
        &self,
        f: impl FnOnce(&Connection) -> Result<T, ApiError>,
    ) -> Result<T, ApiError> {
        let file_id = self.file_id()?;
        let pooled = match self.take_idle(file_id) {
            Some(p) => p,
            None => self.open(file_id)?,
        };
        let result = f(&pooled.conn);
        // Keep the connection unless the board itself failed (5xx; a 404 is a good answer) or
        // it was left inside a transaction, which would pin an old snapshot of the board.
        if !matches!(&result, Err(e) if e.status >= 500) && pooled.conn.is_autocommit() {
            let mut idle = self.idle.lock().unwrap_or_else(|p| p.into_inner());
            if idle.len() < MAX_IDLE {
                idle.push(pooled);
            }
        }
        result
    }

    fn file_id(&self) -> Result<(u64, u64), ApiError> {
        match std::fs::metadata(&self.path) {
            Ok(m) if m.is_file() => Ok((m.dev(), m.ino())),
            Ok(_) => Err(unavailable(&self.path, "is not a regular file")),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                Err(unavailable(&self.path, "does not exist"))
            }
            Err(e) => Err(unavailable(&self.path, &format!("cannot be read: {e}"))),
        }
    }

    fn take_idle(&self, file_id: (u64, u64)) -> Option<Pooled> {
        let mut idle = self.idle.lock().unwrap_or_else(|p| p.into_inner());
        // Connections to a replaced file are stale: drop them all.
        idle.retain(|p| p.file_id == file_id);
        idle.pop()
    }

    fn open(&self, file_id: (u64, u64)) -> Result<Pooled, ApiError> {
        let flags = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let conn =
            Connection::open_with_flags(&self.path, flags).map_err(|e| db_error(&self.path, &e))?;
        conn.busy_timeout(BUSY_TIMEOUT)
            .map_err(|e| db_error(&self.path, &e))?;
        crate::register_with_sampler(&conn, Arc::clone(&self.sampler))
            .map_err(|e| db_error(&self.path, &e))?;
        Ok(Pooled { conn, file_id })
    }
}

fn unavailable(path: &Path, what: &str) -> ApiError {
    ApiError::new(503, format!("board {} {what}", path.display()))
}

/// A database error as the answer to give: 503 when the board is unusable (missing, not a
/// database, without the kanban tables, locked), 500 otherwise. Always names the board.
pub fn db_error(path: &Path, e: &rusqlite::Error) -> ApiError {
    let message = e.to_string();
    match e.sqlite_error_code() {
        Some(ErrorCode::CannotOpen) => unavailable(path, &format!("cannot be opened: {message}")),
        Some(ErrorCode::NotADatabase) => unavailable(path, "is not a SQLite database"),
        Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked) => {
            unavailable(path, &format!("is busy, retry: {message}"))
        }
        Some(ErrorCode::DatabaseCorrupt) => unavailable(path, &format!("is corrupt: {message}")),
        _ if message.contains("no such table") || message.contains("no such column") => {
            unavailable(path, &format!("is not a kanban board ({message})"))
        }
        _ => ApiError::new(
            500,
            format!("database error on board {}: {message}", path.display()),
        ),
    }
}
