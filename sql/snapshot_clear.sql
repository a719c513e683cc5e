-- The snapshot of a rollback-journal board (src/shim/board/snapshot.rs): the last read's
-- copies and choices dropped, before the next read makes its own. Memory only.
DELETE FROM temp.tasks;
DELETE FROM temp.task_runs;
DELETE FROM temp.task_events;
DELETE FROM temp.kanban_workers_snapshot_tasks;
DELETE FROM temp.kanban_workers_snapshot_runs;
DELETE FROM temp.kanban_workers_snapshot_marks;
