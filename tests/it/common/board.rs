//! Real board files with the kanban schema, and the rows the tests put in them.

use std::path::{Path, PathBuf};

use rusqlite::Connection;
use tempfile::TempDir;

use super::extension::open_with_extension;

/// A temporary directory (removed on drop) named for the test that made it.
pub fn temp_dir(tag: &str) -> TempDir {
    tempfile::Builder::new()
        .prefix(&format!("kanban-workers-test-{tag}-"))
        .tempdir()
        .expect("create temp dir")
}

/// A board file with the kanban schema (WAL, as the owner runs it), in its own temp dir.
pub struct Board {
    pub dir: TempDir,
    pub path: PathBuf,
}

impl Board {
    pub fn new(tag: &str) -> Board {
        let dir = temp_dir(tag);
        let path = dir.path().join("kanban.db");
        create_board(&path);
        Board { dir, path }
    }

    /// A plain connection (no extension) for writing fixtures.
    pub fn writer(&self) -> Connection {
        Connection::open(&self.path).expect("open board")
    }

    /// A connection with the built `.so` loaded through `load_extension`.
    pub fn with_extension(&self) -> Connection {
        open_with_extension(&self.path)
    }
}

/// Creates a board file at `path` with the kanban schema (WAL, as the owner runs it); returns
/// a plain connection to it for writing fixtures.
pub fn create_board(path: &Path) -> Connection {
    let conn = Connection::open(path).expect("create board");
    conn.pragma_update(None, "journal_mode", "wal")
        .expect("wal");
    conn.execute_batch(include_str!("../../../sql/kanban_schema.sql"))
        .expect("schema");
    conn
}

/// A task and its run, as `insert_run` writes them:
/// `RunSpec::new("t_x").pid(123).ended(ts)` is an open run of a running task unless told.
pub struct RunSpec<'a> {
    pub task_id: &'a str,
    pub task_status: &'a str,
    pub pid: Option<i64>,
    pub ended_at: Option<i64>,
    pub started_at: i64,
    pub claim_lock: Option<String>,
}

impl Default for RunSpec<'_> {
    fn default() -> Self {
        RunSpec {
            task_id: "t_1",
            task_status: "running",
            pid: None,
            ended_at: None,
            started_at: 1_700_000_000,
            claim_lock: Some(format!("{}:4242", local_hostname())),
        }
    }
}

impl<'a> RunSpec<'a> {
    pub fn new(task_id: &'a str) -> Self {
        RunSpec {
            task_id,
            ..Default::default()
        }
    }
    pub fn pid(mut self, pid: i64) -> Self {
        self.pid = Some(pid);
        self
    }
    pub fn ended(mut self, at: i64) -> Self {
        self.ended_at = Some(at);
        self
    }
    pub fn started(mut self, at: i64) -> Self {
        self.started_at = at;
        self
    }
    pub fn status(mut self, task_status: &'a str) -> Self {
        self.task_status = task_status;
        self
    }
    pub fn lock(mut self, claim_lock: Option<&str>) -> Self {
        self.claim_lock = claim_lock.map(str::to_owned);
        self
    }
}

/// Insert a task (unless it exists) and a run; returns the run id.
pub fn insert_run(conn: &Connection, spec: &RunSpec<'_>) -> i64 {
    conn.execute(
        "INSERT OR IGNORE INTO tasks (id, title, assignee, status, created_at, claim_lock, worker_pid)
         VALUES (?1, 'title of ' || ?1, 'agent-x', ?2, ?3, ?4, ?5)",
        rusqlite::params![spec.task_id, spec.task_status, spec.started_at, spec.claim_lock, spec.pid],
    )
    .expect("insert task");
    conn.execute(
        "INSERT INTO task_runs (task_id, profile, status, claim_lock, claim_expires, worker_pid,
                                max_runtime_seconds, last_heartbeat_at, started_at, ended_at, metadata)
         VALUES (?1, 'default', 'running', ?2, ?3 + 900, ?4, 3600, ?3 + 5, ?3, ?5, '{\"k\": 1}')",
        rusqlite::params![spec.task_id, spec.claim_lock, spec.started_at, spec.pid, spec.ended_at],
    )
    .expect("insert run");
    conn.last_insert_rowid()
}

/// This host's name, as the board's owner writes it in claim locks (the tests' own reading).
pub fn local_hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .expect("read the host name")
        .trim()
        .to_owned()
}

/// The columns of `active_workers`, in order: the reference's JSON keys plus `worker_host`.
pub const ACTIVE_WORKERS_COLUMNS: [&str; 14] = [
    "run_id",
    "task_id",
    "task_title",
    "task_status",
    "task_assignee",
    "profile",
    "worker_pid",
    "started_at",
    "claim_lock",
    "claim_expires",
    "last_heartbeat_at",
    "max_runtime_seconds",
    "worker_host",
    "local",
];

/// A file's bytes, to prove nothing was written to it.
pub fn file_bytes(path: &Path) -> Vec<u8> {
    std::fs::read(path).expect("read file")
}

pub fn now_secs() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs() as i64
}

/// The run completed as hermes-agent 0.19.0's `_end_run` does: ended, its claim and
/// `worker_pid` cleared; the task done, no current run. The process is not stopped.
pub fn complete_as_0_19(conn: &Connection, task: &str, run: i64) {
    conn.execute_batch(&format!(
        "UPDATE task_runs SET ended_at = CAST(strftime('%s', 'now') AS INTEGER), status = 'done',
                outcome = 'completed', worker_pid = NULL, claim_lock = NULL,
                claim_expires = NULL
          WHERE id = {run};
         UPDATE tasks SET status = 'done', current_run_id = NULL, claim_lock = NULL,
                worker_pid = NULL
          WHERE id = '{task}';"
    ))
    .unwrap();
}

/// A board owned by `nobody` (the agents' user), in a folder of its own, held open (its
/// `-wal` and `-shm` in place, as while the owner's dispatcher runs) until dropped.
pub fn nobodys_board(tag: &str) -> ((tempfile::TempDir, rusqlite::Connection), PathBuf) {
    let dir = temp_dir(tag);
    std::fs::set_permissions(
        dir.path(),
        std::os::unix::fs::PermissionsExt::from_mode(0o777),
    )
    .unwrap();
    let db = dir.path().join("kanban.db");
    let conn = create_board(&db);
    conn.execute_batch("ALTER TABLE task_runs ADD COLUMN worker_started_at TEXT")
        .unwrap();
    for suffix in ["", "-wal", "-shm"] {
        let path = dir.path().join(format!("kanban.db{suffix}"));
        if path.exists() {
            std::os::unix::fs::chown(&path, Some(65534), Some(65534)).unwrap();
        }
    }
    assert_eq!(
        std::os::unix::fs::MetadataExt::uid(&std::fs::metadata(&db).unwrap()),
        65534
    );
    ((dir, conn), db)
}
