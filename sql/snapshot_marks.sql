-- The snapshot of a rollback-journal board (src/shim/board/snapshot.rs), 2 of 3, for
-- /workers/lingering only, read from /proc before the board is: the runs and the tasks that
-- the board owner's live processes carrying the owner's spawn marks name (proc_spawned: their
-- HERMES_KANBAN_RUN_ID and HERMES_KANBAN_TASK; for a process whose environment names no
-- board, the task whose log file is its stdout), more than run_processes keeps (any board's
-- run, any log file's name): copying a row too many changes no answer. A process that starts
-- between this and the copy is found by the views as it would be on a WAL board: the board's
-- rows as of the copy, /proc as of the query.
WITH spawned AS MATERIALIZED (
    SELECT s.env_run_id, s.env_task_id, s.env_board,
           replace(s.stdout, rtrim(s.stdout, replace(s.stdout, '/', '')), '') AS out_name
    FROM proc_spawned(kanban_workers_file_owner(kanban_workers_board_file())) AS s
)
INSERT INTO temp.kanban_workers_snapshot_marks (run_id, task_id)
SELECT CASE WHEN env_run_id GLOB '[0-9]*' AND env_run_id NOT GLOB '*[^0-9]*'
                 AND length(env_run_id) <= 18
            THEN CAST(env_run_id AS INTEGER) END,
       env_task_id
FROM spawned
UNION ALL
SELECT NULL, substr(out_name, 1, length(out_name) - 4)
FROM spawned
-- A process found by its log file alone (no board in its environment): run_processes takes
-- its task's latest run that started before it.
WHERE env_board IS NULL AND out_name GLOB '?*.log'
