-- The snapshot of a board in rollback-journal mode (src/shim/board/snapshot.rs), 1 of 3: on a
-- connection of its own whose `main` is an empty in-memory database and to which the board
-- is attached read-only as `board`, TEMP tables named like the board's, with the board's
-- columns (and their types' affinities: a value copied is stored as the board stores it) and
-- no constraint, for the views and the routes' SQL to read in place of the board's (SQLite
-- looks an unqualified name up in `temp` first). Made again when the owner changes the
-- board's schema. Nothing here is written to the board.
DROP TABLE IF EXISTS temp.tasks;
DROP TABLE IF EXISTS temp.task_runs;
DROP TABLE IF EXISTS temp.task_events;
CREATE TEMP TABLE tasks AS SELECT * FROM board.tasks WHERE 0;
CREATE TEMP TABLE task_runs AS SELECT * FROM board.task_runs WHERE 0;
CREATE TEMP TABLE task_events AS SELECT * FROM board.task_events WHERE 0;
-- The board's lookups: a task by id, a run by id, by task, by status, a run's events.
CREATE INDEX temp.kanban_workers_snapshot_tasks_id ON tasks (id);
CREATE INDEX temp.kanban_workers_snapshot_runs_id ON task_runs (id);
CREATE INDEX temp.kanban_workers_snapshot_runs_task ON task_runs (task_id, started_at);
CREATE INDEX temp.kanban_workers_snapshot_runs_status ON task_runs (status);
CREATE INDEX temp.kanban_workers_snapshot_events_run ON task_events (task_id, run_id);
-- What a read needs: the tasks whose rows are copied (the task, every run of it), the runs
-- whose events are copied, and the runs and tasks that live processes' spawn marks name.
CREATE TEMP TABLE IF NOT EXISTS kanban_workers_snapshot_tasks (id PRIMARY KEY);
CREATE TEMP TABLE IF NOT EXISTS kanban_workers_snapshot_runs (id INTEGER PRIMARY KEY);
CREATE TEMP TABLE IF NOT EXISTS kanban_workers_snapshot_marks (run_id INTEGER, task_id);
