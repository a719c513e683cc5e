-- A snapshot's choice (src/shim/board/snapshot.rs) for /workers/lingering: what the live
-- processes' spawn marks name (sql/snapshot_marks.sql, read from /proc just before): the runs
-- their environment names, every run of a task only their log file names (run_processes
-- takes that task's latest run that started before the process), and the tasks they name.
INSERT OR IGNORE INTO temp.kanban_workers_snapshot_runs (id)
SELECT r.id FROM board.task_runs AS r
WHERE r.id IN (SELECT run_id FROM temp.kanban_workers_snapshot_marks);
INSERT OR IGNORE INTO temp.kanban_workers_snapshot_runs (id)
SELECT r.id FROM board.task_runs AS r
WHERE r.task_id IN (SELECT task_id FROM temp.kanban_workers_snapshot_marks WHERE run_id IS NULL);
INSERT OR IGNORE INTO temp.kanban_workers_snapshot_tasks (id)
SELECT task_id FROM temp.kanban_workers_snapshot_marks WHERE task_id IS NOT NULL;
