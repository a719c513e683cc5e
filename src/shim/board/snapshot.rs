//! The reads of a board in rollback-journal mode (DELETE, TRUNCATE or PERSIST: not WAL), which
//! hold the board's lock only while they copy the rows they need, never across `/proc`.
//!
//! The newer Hermes releases keep new boards out of WAL where their SQLite is older than
//! 3.51.3, and on `database.journal_mode: delete`. There a reader's open transaction holds a
//! SHARED lock on the board file that makes the owner's commit wait, and a writer waiting to
//! commit (PENDING) makes new reads busy. The routes that read `/proc` do it inside their one
//! query (the views call `proc_stats`, `proc_tree`, `proc_marks`, ... row by row), and every
//! table-valued function is an eponymous virtual table of its connection's `main` schema: a
//! statement that uses one holds a read transaction on `main` until it ends. On the board's
//! own connection that is the board, for all of the `/proc` work.
//!
//! So such a read runs on a connection of its own ([`Snapshot`]) whose `main` is an empty,
//! read-only in-memory database, with the board attached read-only as `board`. The rows the
//! read needs ([`Scope`]) are copied, in one short read transaction of the board, into TEMP
//! tables named like the board's (`tasks`, `task_runs`, `task_events`: the board's columns,
//! `sql/snapshot_tables.sql`); SQLite looks an unqualified name up in `temp` first, so the
//! views and the route's SQL run unchanged over the copies, and their `/proc` work holds no
//! lock on the board. The copies live in the connection's memory, at most [`MAX_COPY_BYTES`]
//! (a 507 past it). Nothing is ever written to the board: it is attached read-only (the
//! connection's flags), its journal mode is never set, and a read-only connection never
//! checkpoints.

use std::path::Path;
use std::sync::Arc;

use rusqlite::functions::FunctionFlags;
use rusqlite::{Connection, OpenFlags};

use crate::shim::ApiError;
use crate::{CpuSampler, Settings};

const TABLES_SQL: &str = include_str!("../../../sql/snapshot_tables.sql");
const CLEAR_SQL: &str = include_str!("../../../sql/snapshot_clear.sql");
const MARKS_SQL: &str = include_str!("../../../sql/snapshot_marks.sql");
const OPEN_SQL: &str = include_str!("../../../sql/snapshot_scope_open.sql");
const RUN_SQL: &str = include_str!("../../../sql/snapshot_scope_run.sql");
const KEPT_SQL: &str = include_str!("../../../sql/snapshot_scope_kept.sql");
const MARKED_SQL: &str = include_str!("../../../sql/snapshot_scope_marked.sql");
const ENDED_SQL: &str = include_str!("../../../sql/snapshot_scope_ended.sql");
const COPY_SQL: &str = include_str!("../../../sql/snapshot_copy.sql");

/// The most a read's copies may hold (their tables and indexes in memory), as the answers
/// are bounded: every row of a task is copied, and a board writer's task of hundreds of
/// runs with cells just under the 1 MiB a cell may hold made each read hold all of it (a
/// 270 MB board took the shim to 1.5 GB, where the same board in WAL mode, read in place,
/// took 19 MB). Past it, the read is a 507 ([`over_bound`]).
pub const MAX_COPY_BYTES: usize = 64 * 1024 * 1024;

/// The 507 of a read whose copies of the board at `path` would pass [`MAX_COPY_BYTES`]
/// (SQLite's SQLITE_FULL on the copies' in-memory database); `None` for any other error.
pub fn over_bound(path: &Path, e: &rusqlite::Error) -> Option<ApiError> {
    (e.sqlite_error_code() == Some(rusqlite::ErrorCode::DiskFull)).then(|| {
        ApiError::new(
            507,
            format!(
                "the rows this read needs from board {} are over {} MiB: the board is not in \
                 WAL mode (rollback journal), where a read copies them first; ask for less \
                 (a later since), or put the board in WAL mode",
                path.display(),
                MAX_COPY_BYTES >> 20
            ),
        )
    })
}

/// Which rows of the board a read needs: every row of some tasks (the task and all its runs:
/// what the views look up by task, a later run, an open one, is there), and the `spawned` and
/// `worker_registered` events (the only ones the views read) of some runs. A row too many
/// changes no answer; a row missing would, so each read's choice follows what its SQL reads.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Scope {
    /// The tasks of the open runs (`?live=1`, `/metrics`, the history, and the lingering).
    open: bool,
    /// The ended runs that kept a worker, and what live processes' marks name (lingering).
    lingering: bool,
    /// One run (`/runs/{id}/inspect`, `/runs/{id}/processes`).
    run: Option<i64>,
    /// The runs that ended since (`/runs/endings`, `/metrics`' endings).
    ended_since: Option<i64>,
}

impl Scope {
    /// The live list's rows: the open runs' tasks.
    pub fn live() -> Scope {
        Scope {
            open: true,
            ..Scope::default()
        }
    }

    /// The lingering's rows: the open runs' tasks (a run that began just before the copy is
    /// there, so its new worker is not taken for a leftover), the ended runs that kept a
    /// worker, and the runs and tasks that live processes' spawn marks name.
    pub fn lingering() -> Scope {
        Scope {
            open: true,
            lingering: true,
            ..Scope::default()
        }
    }

    /// One run's rows: the run, its task's, its events.
    pub fn run(id: i64) -> Scope {
        Scope {
            run: Some(id),
            ..Scope::default()
        }
    }

    /// Reap's rows: the lingering's, and the run's own (its kept worker, and the owner's
    /// reaper's `terminal_worker_reaped` events of it).
    pub fn reap(id: i64) -> Scope {
        Scope {
            run: Some(id),
            ..Scope::lingering()
        }
    }

    /// The rows of the runs that ended at `since` or later (compared as the endings compare).
    pub fn ended_since(since: i64) -> Scope {
        Scope {
            ended_since: Some(since),
            ..Scope::default()
        }
    }
}

/// A connection whose `main` is empty memory, the board attached read-only as `board`, the
/// library registered, and the TEMP copies of the board's tables that [`Snapshot::take`] fills.
pub struct Snapshot {
    pub conn: Connection,
    /// The board's schema version the copies' tables (and the views) were made for.
    schema_version: i64,
    /// [`KEPT_SQL`] for the board's columns as they were then.
    kept_sql: String,
}

impl Snapshot {
    /// A snapshot connection to the board at `path` (checked by the caller as the pool checks
    /// its connections), its tables made for the board's schema; the views read `owner` as
    /// the board's owner where it is known. Its first read waits for the board's lock as the
    /// caller set (`busy`).
    pub fn open(
        path: &Path,
        sampler: Arc<CpuSampler>,
        settings: &Settings,
        owner: Option<u32>,
        busy: std::time::Duration,
        max_cell: i32,
    ) -> rusqlite::Result<Snapshot> {
        // Read-only: so is every database it attaches (SQLite opens an attached file with its
        // connection's flags); NOFOLLOW, as the pool's: a link swapped in is not followed.
        let flags = OpenFlags::SQLITE_OPEN_READ_ONLY
            | OpenFlags::SQLITE_OPEN_NO_MUTEX
            | OpenFlags::SQLITE_OPEN_NOFOLLOW;
        let conn = Connection::open_with_flags(":memory:", flags)?;
        conn.busy_timeout(busy)?;
        conn.set_limit(rusqlite::limits::Limit::SQLITE_LIMIT_LENGTH, max_cell)?;
        conn.pragma_update(None, "temp_store", "memory")?;
        // The copies' pages go back when they are dropped (before any table is made).
        conn.pragma_update(Some("temp"), "auto_vacuum", "full")?;
        // At most MAX_COPY_BYTES of them: past it, SQLite's SQLITE_FULL (`over_bound`).
        let page: i64 = conn.query_row("PRAGMA temp.page_size", [], |r| r.get(0))?;
        let pages = i64::try_from(MAX_COPY_BYTES).unwrap_or(i64::MAX) / page.max(512);
        conn.pragma_update(Some("temp"), "max_page_count", pages)?;
        // The name as bytes (a path need not be UTF-8): SQLite reads the value as text.
        let name = path.as_os_str().as_encoded_bytes();
        conn.execute("ATTACH DATABASE ?1 AS board", [name])?;
        let tx = conn.unchecked_transaction()?;
        let (schema_version, kept_sql) = make_tables(&conn)?;
        tx.commit()?;
        let file: String = conn.query_row(
            "SELECT file FROM pragma_database_list WHERE name = 'board'",
            [],
            |r| r.get(0),
        )?;
        crate::register_with(&conn, sampler, settings)?;
        // The views' board is the attached file (`main` is memory), named as a connection
        // opened on it names it; its owner as the pool checked it.
        register_board_file(&conn, file.clone())?;
        if let Some(uid) = owner {
            crate::surface::file_owner::register_known(&conn, file, uid)?;
        }
        Ok(Snapshot {
            conn,
            schema_version,
            kept_sql,
        })
    }

    /// Copy the rows `scope` needs, in one read transaction of the board: its SHARED lock is
    /// held from the first read of the board to the commit, and by nothing after. The tables
    /// (and the views) are made again first when the owner changed the board's schema.
    pub fn take(&mut self, scope: &Scope) -> rusqlite::Result<()> {
        let conn = &self.conn;
        conn.execute_batch(CLEAR_SQL)?;
        if scope.lingering {
            // From /proc, before the board's lock is taken.
            conn.prepare_cached(MARKS_SQL)?.execute([])?;
        }
        let tx = conn.unchecked_transaction()?;
        let version = board_schema_version(conn)?;
        if version != self.schema_version {
            let (version, kept_sql) = make_tables(conn)?;
            crate::surface::views::install(conn)?;
            self.schema_version = version;
            self.kept_sql = kept_sql;
        }
        if scope.open {
            conn.prepare_cached(OPEN_SQL)?.execute([])?;
        }
        if let Some(id) = scope.run {
            conn.prepare_cached(RUN_SQL)?.execute([id])?;
        }
        if scope.lingering {
            conn.prepare_cached(&self.kept_sql)?.execute([])?;
            conn.execute_batch(MARKED_SQL)?;
        }
        if let Some(since) = scope.ended_since {
            conn.prepare_cached(ENDED_SQL)?.execute([since])?;
        }
        conn.execute_batch(COPY_SQL)?;
        tx.commit()
    }

    /// The copies dropped, once the read is done with them: an idle connection keeps none.
    pub fn clear(&self) -> rusqlite::Result<()> {
        self.conn.execute_batch(CLEAR_SQL)
    }
}

/// The copies' tables made (again) for the board's schema as it is now, within the caller's
/// read transaction of it: its schema version and the lingering choice's SQL for its columns.
fn make_tables(conn: &Connection) -> rusqlite::Result<(i64, String)> {
    let version = board_schema_version(conn)?;
    // A file without the kanban tables fails as a read of it in place fails (SQLite's own
    // message, naming the table as the views name it), not as the copy's `board.<table>`.
    for table in ["task_runs", "tasks", "task_events"] {
        let found: bool = conn.query_row(
            "SELECT count(*) > 0 FROM board.sqlite_master WHERE type = 'table' AND name = ?1",
            [table],
            |r| r.get(0),
        )?;
        if !found {
            return Err(rusqlite::Error::SqliteFailure(
                rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_ERROR),
                Some(format!("no such table: {table}")),
            ));
        }
    }
    conn.execute_batch(TABLES_SQL)?;
    let has_fingerprint: bool = conn.query_row(
        "SELECT count(*) > 0 FROM pragma_table_info('task_runs', 'temp') \
         WHERE name = 'worker_started_at'",
        [],
        |r| r.get(0),
    )?;
    let fingerprint = if has_fingerprint {
        "r.worker_started_at"
    } else {
        "NULL"
    };
    Ok((
        version,
        KEPT_SQL.replace("{worker_started_at}", fingerprint),
    ))
}

fn board_schema_version(conn: &Connection) -> rusqlite::Result<i64> {
    conn.prepare_cached("PRAGMA board.schema_version")?
        .query_row([], |r| r.get(0))
}

/// `kanban_workers_board_file()` on a snapshot connection: the attached board's file (the
/// library's own names `main`, which is memory here), with the library's flags.
fn register_board_file(conn: &Connection, file: String) -> rusqlite::Result<()> {
    conn.create_scalar_function(
        crate::surface::board_file::NAME,
        0,
        FunctionFlags::SQLITE_UTF8
            | FunctionFlags::SQLITE_DETERMINISTIC
            | FunctionFlags::SQLITE_DIRECTONLY,
        move |_| Ok(file.clone()),
    )
}

/// The board a snapshot connection has attached, for naming it in an error (`main` is memory).
pub fn attached_board(conn: &Connection) -> Option<String> {
    conn.query_row(
        "SELECT file FROM pragma_database_list WHERE name = 'board'",
        [],
        |r| r.get(0),
    )
    .ok()
}
