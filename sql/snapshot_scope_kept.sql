-- A snapshot's choice (src/shim/board/snapshot.rs) for /workers/lingering: the ended runs
-- that kept their worker (kept_workers' own condition: a text fingerprint and a pid in the
-- kernel's range; the newer releases keep them until their reaper clears them). No index
-- covers it: the board's runs are read once, as kept_workers reads them on a WAL board.
-- {worker_started_at} is replaced: r.worker_started_at, or NULL on a board without the
-- column (a constant false: nothing is read).
INSERT OR IGNORE INTO temp.kanban_workers_snapshot_runs (id)
SELECT r.id FROM board.task_runs AS r
WHERE typeof({worker_started_at}) = 'text' AND r.ended_at IS NOT NULL
  AND typeof(r.worker_pid) = 'integer' AND r.worker_pid BETWEEN 1 AND 4194304
