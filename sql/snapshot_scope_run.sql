-- A snapshot's choice (src/shim/board/snapshot.rs) for one run's reads (/runs/{id}/inspect,
-- /runs/{id}/processes): the run ?1 (its task's rows and its events come with it).
INSERT OR IGNORE INTO temp.kanban_workers_snapshot_runs (id)
SELECT id FROM board.task_runs WHERE id = ?1
