-- A snapshot's choice (src/shim/board/snapshot.rs) for /runs/endings and /metrics' endings:
-- the runs that ended since ?1, compared as run_endings' readers compare them (`ended_at >=
-- ?1`, on the column as stored). No index covers ended_at: the board's runs are read once, as
-- run_endings reads them on a WAL board.
INSERT OR IGNORE INTO temp.kanban_workers_snapshot_runs (id)
SELECT id FROM board.task_runs WHERE ended_at >= ?1
