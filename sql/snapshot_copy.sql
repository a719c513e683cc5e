-- The snapshot of a rollback-journal board (src/shim/board/snapshot.rs), 3 of 3: in the one
-- read transaction of the copy, after the read's own choice of runs and tasks
-- (sql/snapshot_scope_*.sql): every row of each task chosen (the task, all of its runs: what
-- the views look up by task, a later run or an open one, is there), the tasks of the runs
-- chosen, and the events the views and reap read (`spawned`, `worker_registered`,
-- `terminal_worker_reaped`) of the runs chosen.
-- The board's indexes serve each lookup (its tasks' primary key, idx_runs_task, and
-- idx_events_run or idx_events_task where the board has them).
INSERT OR IGNORE INTO temp.kanban_workers_snapshot_tasks (id)
SELECT r.task_id
FROM temp.kanban_workers_snapshot_runs AS f
JOIN board.task_runs AS r ON r.id = f.id;
INSERT INTO temp.tasks
SELECT t.* FROM board.tasks AS t
WHERE t.id IN (SELECT id FROM temp.kanban_workers_snapshot_tasks);
INSERT INTO temp.task_runs
SELECT r.* FROM board.task_runs AS r
WHERE r.task_id IN (SELECT id FROM temp.kanban_workers_snapshot_tasks);
INSERT INTO temp.task_events
SELECT e.*
FROM temp.kanban_workers_snapshot_runs AS f
JOIN board.task_runs AS r ON r.id = f.id
JOIN board.task_events AS e ON e.task_id = r.task_id AND e.run_id = r.id
WHERE e.kind IN ('spawned', 'worker_registered', 'terminal_worker_reaped');
