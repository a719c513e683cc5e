//! Read-only connections to the board, each with the SQL surface registered, kept in a small
//! pool. Called from blocking threads only (never on the async workers).
//!
//! - Opened with `SQLITE_OPEN_READ_ONLY`: the shim can never take a write lock on the board.
//! - Opened with `SQLITE_OPEN_NOFOLLOW`, on the real path the board resolved to (`boards`):
//!   a link swapped into that path after the board was checked (the board's writer can do it
//!   at any moment) makes SQLite refuse the open instead of following it out of the owner's
//!   reach. Terminate's writer too.
//! - Before a connection is opened, the file is checked (`board::file`): a regular file, and not
//!   one whose WAL side files this process would create as another user than the owner.
//! - A busy timeout so a reader waits briefly instead of failing while a writer holds a lock
//!   it needs (WAL readers rarely do: only during recovery), set to what is left of the
//!   request's deadline, so that waiting for a lock never outlasts the request's budget.
//! - A pooled connection is dropped when the board file was deleted or replaced (different
//!   inode), so the shim follows the file instead of serving a deleted copy forever; and
//!   after any database error, so a broken connection is not reused.
//! - A board in rollback-journal mode (DELETE, TRUNCATE, PERSIST: not WAL; the newer Hermes
//!   releases make such boards) is read so as never to keep its owner's writers waiting: a
//!   read waits at most `LOCK_WAIT` (`--lock-wait`) for the owner's lock, then answers 503,
//!   and a read that does `/proc` work copies the rows it needs in one short read transaction
//!   first and works on the copies (`board::snapshot`), so the board's lock is never held
//!   across `/proc`. A WAL board's reads are as they were: no copy, the request's whole budget
//!   for locks. The shim never sets a board's journal mode, and never checkpoints one.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rusqlite::config::DbConfig;
use rusqlite::{Connection, ErrorCode, OpenFlags};

use crate::shim::ApiError;
use crate::shim::board::file::{self, FileId, Unreadable};
use crate::shim::board::snapshot::{self, Scope, Snapshot};
use crate::{CpuSampler, Settings};

/// How long a request may wait (for a reader thread, then for a lock) before answering 503.
pub(crate) const BUSY_TIMEOUT: Duration = Duration::from_secs(5);
/// The largest value (a string or blob cell) an answer carries, in bytes. SQLite refuses to
/// read a larger one (`SQLITE_LIMIT_LENGTH`) before loading it, so one huge `metadata` cannot
/// make each request that reads it hold copies of it.
pub(crate) const MAX_CELL_BYTES: usize = 1024 * 1024;
/// How long past its budget a request's query may still run once it holds its lock: then the
/// query is interrupted (SQLite's progress handler), and the request is answered 503 anyway.
/// A board whose queries are slow (a writer's forged thousands of runs on a large tree) never
/// holds a reader thread longer than its budget and this.
pub(crate) const OVERRUN: Duration = Duration::from_secs(1);
/// Idle connections kept open (of each kind: the board's own, and snapshots).
const MAX_IDLE: usize = 8;
/// How long a read of a board in rollback-journal mode waits for its owner's lock (a commit
/// under way, or a writer waiting for readers to leave) before answering 503: the owner's
/// commits take milliseconds, and a read that waits holds a reader thread while requests
/// queue behind it (`--lock-wait`; never past the request's budget).
pub(crate) const LOCK_WAIT: Duration = Duration::from_millis(500);

struct Pooled {
    conn: Connection,
    _open: Counted,
    file_id: FileId,
    /// The board's schema version the views were installed for.
    schema_version: i64,
    /// The board was in WAL mode when this connection last read it. It stays so while the
    /// connection is open: SQLite refuses to take a board out of WAL mode while another
    /// connection has it open ("database is locked"), so the mode is not asked again (a
    /// second read transaction, 13% of `/runs/{id}`'s instructions).
    wal: bool,
}

/// A snapshot connection (`board::snapshot`), counted as the pool's are.
struct PooledSnapshot {
    snapshot: Snapshot,
    _open: Counted,
    file_id: FileId,
}

/// `X`: what the layers above keep per board (the shim: its samples of `/proc`); this layer
/// only holds it.
pub struct BoardPool<X = ()> {
    path: PathBuf,
    /// The board's owner, as checked when the board was resolved (`board::resolve`): a file
    /// of another uid found at the path is refused, and the views are told this owner.
    owner: Option<u32>,
    /// A request's budget: waiting for a reader thread and for locks, together.
    busy_timeout: Duration,
    /// The longest a read of a rollback-journal board waits for a lock ([`LOCK_WAIT`]).
    lock_wait: Duration,
    idle: Mutex<Vec<Pooled>>,
    /// Snapshot connections, for the reads of a rollback-journal board that read `/proc`.
    snapshots: Mutex<Vec<PooledSnapshot>>,
    /// The board was in WAL mode when last asked (a lock found taken before the mode could be
    /// read is said to be the owner's writing unless so: only a writer keeps readers out of a
    /// rollback-journal board, while a WAL reader waits only for a recovery).
    wal_seen: AtomicBool,
    /// Shared by every connection, so `cpu_percent` follows the previous request whichever
    /// connection served it.
    sampler: Arc<CpuSampler>,
    /// The host name and spawn window the verdicts use.
    settings: Settings,
    /// Connections of this process open on the board now (see `board::file`).
    open_now: Arc<AtomicUsize>,
    /// Held from a new connection's check to its first read: two connections opened at once
    /// (a request's and the history timer's) each saw the other counted, skipped the check,
    /// and one created the board's WAL side files as the wrong user.
    opening: Mutex<()>,
    /// What the layers above keep per board.
    extra: X,
}

/// Counts one open connection while it lives.
struct Counted(Arc<AtomicUsize>);

impl Counted {
    fn new(count: &Arc<AtomicUsize>) -> Counted {
        count.fetch_add(1, Ordering::SeqCst);
        Counted(Arc::clone(count))
    }
}

impl Drop for Counted {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

/// A read-write connection of one request's own (terminate), counted as the pool's are.
pub struct Writer {
    pub conn: Connection,
    _open: Counted,
}

impl BoardPool<()> {
    pub fn new(path: PathBuf) -> BoardPool<()> {
        BoardPool {
            path,
            owner: None,
            busy_timeout: BUSY_TIMEOUT,
            lock_wait: LOCK_WAIT,
            idle: Mutex::new(Vec::new()),
            snapshots: Mutex::new(Vec::new()),
            wal_seen: AtomicBool::new(false),
            sampler: Arc::new(CpuSampler::new()),
            settings: Settings::from_env(),
            open_now: Arc::new(AtomicUsize::new(0)),
            opening: Mutex::new(()),
            extra: (),
        }
    }
}

impl<X> BoardPool<X> {
    /// The same board, holding `extra` for the layers above.
    pub(crate) fn with_extra<Y>(self, extra: Y) -> BoardPool<Y> {
        BoardPool {
            path: self.path,
            owner: self.owner,
            busy_timeout: self.busy_timeout,
            lock_wait: self.lock_wait,
            idle: self.idle,
            snapshots: self.snapshots,
            wal_seen: self.wal_seen,
            sampler: self.sampler,
            settings: self.settings,
            open_now: self.open_now,
            opening: self.opening,
            extra,
        }
    }

    /// The verdicts' settings of its connections (the host name, the spawn window).
    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// What the layers above keep for this board.
    pub fn extra(&self) -> &X {
        &self.extra
    }

    /// The same board, whose owner was checked to be `owner`.
    pub(crate) fn with_owner(mut self, owner: Option<u32>) -> Self {
        self.owner = owner;
        self
    }

    /// The board's owner, as checked when it was resolved.
    pub fn owner(&self) -> Option<u32> {
        self.owner
    }

    /// A read-write connection to the board, checked as the pool's are, waiting up to
    /// `budget` for locks. Never pooled.
    pub fn open_writer(&self, budget: Duration) -> Result<Writer, ApiError> {
        let _opening = self.opening.lock().unwrap_or_else(|p| p.into_inner());
        let counted = Counted::new(&self.open_now);
        let unlocked = self.open_now.load(Ordering::SeqCst) == 1;
        file::check_before_open(&self.path, unlocked, self.owner)
            .map_err(|e| self.unavailable(e))?;
        let flags = OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_NO_MUTEX
            | OpenFlags::SQLITE_OPEN_NOFOLLOW;
        let conn = Connection::open_with_flags(&self.path, flags)
            .map_err(|e| board_error(&self.path, &e))?;
        conn.busy_timeout(budget)
            .map_err(|e| board_error(&self.path, &e))?;
        // Its first read (which opens the side files) while no other connection is opening.
        schema_version(&conn).map_err(|e| board_error(&self.path, &e))?;
        Ok(Writer {
            conn,
            _open: counted,
        })
    }

    /// Tell a connection's views the board's owner as it was checked (`file_owner`), for the
    /// board's path as SQLite names it; without a checked owner they look at the file.
    fn tell_owner(&self, conn: &Connection) -> Result<(), ApiError> {
        let (Some(uid), Some(path)) = (self.owner, conn.path()) else {
            return Ok(());
        };
        crate::surface::file_owner::register_known(conn, path.to_owned(), uid)
            .map_err(|e| board_error(&self.path, &e))
    }

    /// The same board with other verdict settings (`--hostname`, `--spawn-window`).
    pub(crate) fn with_settings(mut self, settings: Settings) -> Self {
        self.settings = settings;
        self
    }

    /// The same board with another request budget (`--busy-timeout`).
    pub(crate) fn with_busy_timeout(mut self, busy_timeout: Duration) -> Self {
        self.busy_timeout = busy_timeout;
        self
    }

    /// The same board with another wait for a rollback-journal board's lock (`--lock-wait`).
    pub(crate) fn with_lock_wait(mut self, lock_wait: Duration) -> Self {
        self.lock_wait = lock_wait;
        self
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// A request's budget: it gets its answer or a 503 within this time.
    pub fn busy_timeout(&self) -> Duration {
        self.busy_timeout
    }

    /// Run `f` on a pooled read-only connection to the board, waiting for locks until
    /// `deadline` at most (a rollback-journal board's, [`LOCK_WAIT`] at most). For the reads
    /// that do no `/proc` work: `f`'s statements hold the board's lock while they run.
    pub fn with_conn<T>(
        &self,
        deadline: Instant,
        f: impl FnOnce(&Connection) -> Result<T, ApiError>,
    ) -> Result<T, ApiError> {
        self.read(deadline, None, f)
    }

    /// Run `f`, which reads `/proc` as it reads the board, over the rows `scope` names: on a
    /// WAL board, on the board itself as [`with_conn`](Self::with_conn) does (a WAL reader
    /// never keeps a writer waiting); on a rollback-journal board, on a snapshot connection
    /// whose copies of those rows were made in one short read transaction of the board, which
    /// ended before `f` began (`board::snapshot`).
    pub(crate) fn with_rows<T>(
        &self,
        deadline: Instant,
        scope: &Scope,
        f: impl FnOnce(&Connection) -> Result<T, ApiError>,
    ) -> Result<T, ApiError> {
        self.read(deadline, Some(scope), f)
    }

    fn read<T>(
        &self,
        deadline: Instant,
        scope: Option<&Scope>,
        f: impl FnOnce(&Connection) -> Result<T, ApiError>,
    ) -> Result<T, ApiError> {
        let file_id = file::id_of(&self.path).map_err(|e| self.unavailable(e))?;
        let pooled = match self.take_idle(file_id) {
            Some(p) => p,
            None => self.open(deadline)?,
        };
        let mut pooled = pooled;
        let wal = self.mode(&pooled.conn, deadline, pooled.wal)?;
        pooled.wal = wal;
        if let (false, Some(scope)) = (wal, scope) {
            self.keep(pooled);
            return self.on_snapshot(deadline, scope, f);
        }
        // The owner migrated the board (a column added, say): the views are written for the
        // schema they were installed on, so install them again.
        let version = schema_version(&pooled.conn).map_err(|e| self.lock_error(wal, &e))?;
        if version != pooled.schema_version {
            crate::surface::views::install(&pooled.conn)
                .map_err(|e| board_error(&self.path, &e))?;
            pooled.schema_version = version;
        }
        let result = within_overrun(&pooled.conn, deadline, f);
        // Keep the connection unless the board itself failed (5xx; a 404 is a good answer) or
        // it was left inside a transaction, which would pin an old snapshot of the board.
        if !matches!(&result, Err(e) if e.status >= 500) {
            self.keep(pooled);
        }
        result
    }

    /// Whether the board is in WAL mode now (read on `conn`, waiting for a lock at most
    /// [`LOCK_WAIT`]); `conn` then waits for locks as a read of such a board may: until
    /// `deadline` on a WAL board, [`LOCK_WAIT`] at most on a rollback-journal board.
    /// `known_wal`: the board was in WAL mode when `conn` last read it (see [`Pooled::wal`]).
    fn mode(
        &self,
        conn: &Connection,
        deadline: Instant,
        known_wal: bool,
    ) -> Result<bool, ApiError> {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(self.busy("waited for the board"));
        }
        if known_wal {
            conn.busy_timeout(left)
                .map_err(|e| board_error(&self.path, &e))?;
            return Ok(true);
        }
        conn.busy_timeout(left.min(self.lock_wait))
            .map_err(|e| board_error(&self.path, &e))?;
        let seen = self.wal_seen.load(Ordering::Relaxed);
        let wal = is_wal(conn).map_err(|e| self.lock_error(seen, &e))?;
        self.wal_seen.store(wal, Ordering::Relaxed);
        if wal {
            conn.busy_timeout(left)
                .map_err(|e| board_error(&self.path, &e))?;
        }
        Ok(wal)
    }

    /// Back to the idle ones, unless it was left inside a transaction (which would pin an old
    /// snapshot of the board).
    fn keep(&self, pooled: Pooled) {
        if pooled.conn.is_autocommit() {
            let mut idle = self.idle.lock().unwrap_or_else(|p| p.into_inner());
            if idle.len() < MAX_IDLE {
                idle.push(pooled);
            }
        }
    }

    /// [`with_rows`](Self::with_rows) on a rollback-journal board: the rows `scope` names
    /// copied on a snapshot connection (waiting [`LOCK_WAIT`] at most for the board's lock),
    /// then `f` on the copies, the board's lock long released.
    fn on_snapshot<T>(
        &self,
        deadline: Instant,
        scope: &Scope,
        f: impl FnOnce(&Connection) -> Result<T, ApiError>,
    ) -> Result<T, ApiError> {
        let file_id = file::id_of(&self.path).map_err(|e| self.unavailable(e))?;
        let taken = {
            let mut idle = self.snapshots.lock().unwrap_or_else(|p| p.into_inner());
            idle.retain(|p| p.file_id == file_id);
            idle.pop()
        };
        let mut snap = match taken {
            Some(s) => s,
            None => self.open_snapshot(deadline)?,
        };
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(self.busy("waited for the board"));
        }
        let conn = &snap.snapshot.conn;
        conn.busy_timeout(left.min(self.lock_wait))
            .map_err(|e| board_error(&self.path, &e))?;
        let cutoff = deadline + OVERRUN;
        let _ = conn.progress_handler(1000, Some(move || Instant::now() > cutoff));
        let copied = snap.snapshot.take(scope);
        let _ = snap.snapshot.conn.progress_handler(0, None::<fn() -> bool>);
        copied.map_err(|e| {
            snapshot::over_bound(&self.path, &e).unwrap_or_else(|| self.lock_error(false, &e))
        })?;
        let result = within_overrun(&snap.snapshot.conn, deadline, f);
        let cleared = snap.snapshot.clear().is_ok();
        if cleared
            && !matches!(&result, Err(e) if e.status >= 500)
            && snap.snapshot.conn.is_autocommit()
        {
            let mut idle = self.snapshots.lock().unwrap_or_else(|p| p.into_inner());
            if idle.len() < MAX_IDLE {
                idle.push(snap);
            }
        }
        result
    }

    /// A new snapshot connection, checked and counted as the pool's connections are.
    fn open_snapshot(&self, deadline: Instant) -> Result<PooledSnapshot, ApiError> {
        let _opening = self.opening.lock().unwrap_or_else(|p| p.into_inner());
        let counted = Counted::new(&self.open_now);
        let unlocked = self.open_now.load(Ordering::SeqCst) == 1;
        let file_id = file::check_before_open(&self.path, unlocked, self.owner)
            .map_err(|e| self.unavailable(e))?;
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(self.busy("waited for the board"));
        }
        let limit = i32::try_from(MAX_CELL_BYTES).unwrap_or(i32::MAX);
        let snapshot = Snapshot::open(
            &self.path,
            Arc::clone(&self.sampler),
            &self.settings,
            self.owner,
            left.min(self.lock_wait),
            limit,
        )
        .map_err(|e| self.lock_error(false, &e))?;
        Ok(PooledSnapshot {
            snapshot,
            _open: counted,
            file_id,
        })
    }

    /// A database error of this board's own reads (its mode, its schema, a snapshot's copy):
    /// a lock not free in time is said to be the owner's writing, on a rollback-journal board
    /// (`wal` false: where a WAL reader is kept out, the board is in recovery, rare and brief).
    fn lock_error(&self, wal: bool, e: &rusqlite::Error) -> ApiError {
        match e.sqlite_error_code() {
            Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked) if !wal => ApiError::new(
                503,
                format!(
                    "board {} is busy, retry: its owner is writing it and the board is not in \
                     WAL mode (rollback journal), where a read waits for the owner's commit; \
                     its lock was not free within {} ms (--lock-wait)",
                    self.path.display(),
                    self.lock_wait.as_millis()
                ),
            ),
            _ => board_error(&self.path, e),
        }
    }
    fn unavailable(&self, e: Unreadable) -> ApiError {
        unavailable(&self.path, &e.0)
    }

    /// The 503 of a request whose budget ran out (`waiting`: for what).
    pub fn busy(&self, waiting: &str) -> ApiError {
        busy(
            &format!("board {}", self.path.display()),
            waiting,
            self.busy_timeout,
        )
    }

    fn take_idle(&self, file_id: FileId) -> Option<Pooled> {
        let mut idle = self.idle.lock().unwrap_or_else(|p| p.into_inner());
        // Connections to a replaced file are stale: drop them all.
        idle.retain(|p| p.file_id == file_id);
        idle.pop()
    }

    /// A new connection, its first reads (the schema, the views) waiting for locks until
    /// `deadline` at most: a request that got its thread late must not hold it a whole budget
    /// past its own.
    fn open(&self, deadline: Instant) -> Result<Pooled, ApiError> {
        // One connection opening at a time, counted from before its check until its first
        // read (below, the schema's version): a later check sees it open, side files and all.
        let _opening = self.opening.lock().unwrap_or_else(|p| p.into_inner());
        let counted = Counted::new(&self.open_now);
        let unlocked = self.open_now.load(Ordering::SeqCst) == 1;
        let file_id = file::check_before_open(&self.path, unlocked, self.owner)
            .map_err(|e| self.unavailable(e))?;
        let flags = OpenFlags::SQLITE_OPEN_READ_ONLY
            | OpenFlags::SQLITE_OPEN_NO_MUTEX
            | OpenFlags::SQLITE_OPEN_NOFOLLOW;
        let conn = Connection::open_with_flags(&self.path, flags)
            .map_err(|e| board_error(&self.path, &e))?;
        // Read-only, it cannot checkpoint a WAL board; said here too: closing it never tries.
        conn.set_db_config(DbConfig::SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, true)
            .map_err(|e| board_error(&self.path, &e))?;
        let limit = i32::try_from(MAX_CELL_BYTES).unwrap_or(i32::MAX);
        conn.set_limit(rusqlite::limits::Limit::SQLITE_LIMIT_LENGTH, limit)
            .map_err(|e| board_error(&self.path, &e))?;
        // Its first read, the board's mode (a rollback-journal board's lock is waited for
        // briefly), then its waits as such a board's reads wait, within the request's budget.
        let deadline = deadline.min(Instant::now() + self.busy_timeout);
        let wal = self.mode(&conn, deadline, false)?;
        // The schema's version read before the views are written for the schema: should the
        // owner migrate the board in between, the version kept is the older one and the next
        // use installs them again (read after, a migration in between was never seen).
        let schema_version = schema_version(&conn).map_err(|e| self.lock_error(wal, &e))?;
        crate::register_with(&conn, Arc::clone(&self.sampler), &self.settings)
            .map_err(|e| board_error(&self.path, &e))?;
        self.tell_owner(&conn)?;
        Ok(Pooled {
            conn,
            _open: counted,
            file_id,
            schema_version,
            wal,
        })
    }
}

/// The board's schema version: it changes when the owner migrates the board.
fn schema_version(conn: &Connection) -> rusqlite::Result<i64> {
    conn.prepare_cached("PRAGMA main.schema_version")?
        .query_row([], |r| r.get(0))
}

/// Whether the board is in WAL mode: the query form of the pragma, which sets nothing (a
/// rollback-journal board answers this connection's own mode, `delete`).
fn is_wal(conn: &Connection) -> rusqlite::Result<bool> {
    let mode: String = conn
        .prepare_cached("PRAGMA main.journal_mode")?
        .query_row([], |r| r.get(0))?;
    Ok(mode.eq_ignore_ascii_case("wal"))
}

/// `f` on `conn`, interrupted once it runs [`OVERRUN`] past `deadline`.
fn within_overrun<T>(
    conn: &Connection,
    deadline: Instant,
    f: impl FnOnce(&Connection) -> Result<T, ApiError>,
) -> Result<T, ApiError> {
    let cutoff = deadline + OVERRUN;
    let _ = conn.progress_handler(1000, Some(move || Instant::now() > cutoff));
    let result = f(conn);
    let _ = conn.progress_handler(0, None::<fn() -> bool>);
    result
}

/// The 503 of a request that waited (`waiting`: for what) its whole `budget`; `who` is busy.
pub fn busy(who: &str, waiting: &str, budget: Duration) -> ApiError {
    ApiError::new(
        503,
        format!(
            "{who} is busy, retry: {waiting} for {} ms, the request's budget (--busy-timeout)",
            budget.as_millis()
        ),
    )
}

/// The 503 of a board that cannot be read: `board <path> <what>`.
pub fn unavailable(path: &Path, what: &str) -> ApiError {
    ApiError::new(503, format!("board {} {what}", path.display()))
}

/// [`board_error`] for a query on `conn`, naming the board `conn` reads (a snapshot
/// connection's is the one it attached: its own `main` is memory).
pub(crate) fn query_error(conn: &Connection, e: &rusqlite::Error) -> ApiError {
    match conn.path().filter(|p| !p.is_empty()) {
        Some(path) => board_error(Path::new(path), e),
        None => board_error(
            Path::new(&snapshot::attached_board(conn).unwrap_or_default()),
            e,
        ),
    }
}

/// A database error as the answer to give: 503 when the board is unusable (missing, not a
/// database, without the kanban tables, locked), 500 otherwise. Always names the board.
pub fn board_error(path: &Path, e: &rusqlite::Error) -> ApiError {
    let message = e.to_string();
    match e.sqlite_error_code() {
        Some(ErrorCode::CannotOpen) => unavailable(path, &format!("cannot be opened: {message}")),
        Some(ErrorCode::NotADatabase) => unavailable(path, "is not a SQLite database"),
        Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked) => {
            unavailable(path, &format!("is busy, retry: {message}"))
        }
        Some(ErrorCode::OperationInterrupted) => ApiError::new(
            503,
            format!(
                "board {} is busy, retry: the query ran past the request's budget \
                 (--busy-timeout) and was interrupted",
                path.display()
            ),
        ),
        Some(ErrorCode::DatabaseCorrupt) => unavailable(path, &format!("is corrupt: {message}")),
        Some(ErrorCode::TooBig) => ApiError::new(
            507,
            format!(
                "a value on board {} is larger than the {} MiB an answer carries: {message}",
                path.display(),
                MAX_CELL_BYTES / (1024 * 1024)
            ),
        ),
        // The file or its side files changed under the reader (a deleted `-wal`, a full or
        // failing disk), or a read-only reader cannot recover it: the board's state, not ours.
        Some(ErrorCode::SystemIoFailure | ErrorCode::ReadOnly) => {
            unavailable(path, &format!("cannot be read now: {message}"))
        }
        _ if message.contains("no such table") || message.contains("no such column") => {
            unavailable(path, &format!("is not a kanban board ({message})"))
        }
        _ => ApiError::new(
            500,
            format!("database error on board {}: {message}", path.display()),
        ),
    }
}

/// The boards open now, one [`BoardPool`] (its own pool) each, opened when first asked for and kept
/// for the next requests; past [`MAX_OPEN_BOARDS`], the least recently used is closed (its
/// connections close once the requests using them end).
pub struct BoardPools<X = ()> {
    busy_timeout: Duration,
    lock_wait: Duration,
    settings: Settings,
    /// What each board opened gets to hold for the layers above (`BoardPool::extra`).
    make: Box<dyn Fn() -> X + Send + Sync>,
    open: Mutex<Vec<Arc<BoardPool<X>>>>,
}

/// Boards kept open at once.
pub const MAX_OPEN_BOARDS: usize = 8;

impl<X> BoardPools<X> {
    /// `make`: what each board opened holds for the layers above.
    pub fn new(
        busy_timeout: Duration,
        settings: Settings,
        make: impl Fn() -> X + Send + Sync + 'static,
    ) -> BoardPools<X> {
        BoardPools {
            busy_timeout,
            lock_wait: LOCK_WAIT,
            settings,
            make: Box::new(make),
            open: Mutex::new(Vec::new()),
        }
    }

    /// The same, a rollback-journal board's reads waiting `lock_wait` at most for its lock
    /// (`--lock-wait`; never past the request's budget).
    pub(crate) fn with_lock_wait(mut self, lock_wait: Duration) -> Self {
        self.lock_wait = lock_wait;
        self
    }

    /// The boards open now, most recently used first.
    pub(crate) fn open_now(&self) -> Vec<Arc<BoardPool<X>>> {
        self.open.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// The pool of the board at `path`, most recently used first.
    pub fn get(&self, path: &Path, owner: Option<u32>) -> Arc<BoardPool<X>> {
        let mut open = self.open.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(i) = open.iter().position(|board| board.path() == path) {
            let board = open.remove(i);
            open.insert(0, Arc::clone(&board));
            return board;
        }
        let board = Arc::new(
            BoardPool::new(path.to_path_buf())
                .with_extra((self.make)())
                .with_owner(owner)
                .with_busy_timeout(self.busy_timeout)
                .with_lock_wait(self.lock_wait)
                .with_settings(self.settings.clone()),
        );
        open.insert(0, Arc::clone(&board));
        open.truncate(MAX_OPEN_BOARDS);
        board
    }

    /// A request's budget (`--busy-timeout`).
    pub fn busy_timeout(&self) -> Duration {
        self.busy_timeout
    }
}
