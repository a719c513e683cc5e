-- run_processes: every live process (zombies left out) of the board's owner that carries this
-- board's spawn marks, with the run and task they tie it to and the evidence that does.
-- Installed as a TEMP view; lingering_workers (what outlived its run, with kept_workers: the
-- ended runs' kept workers, found by their fingerprint whether or not they carry marks) and
-- live_workers (what escaped an open run's tree) read it.
--
-- The board's owner is the main database file's (kanban_workers_board_file, then
-- kanban_workers_file_owner: lstat, a link names no one). proc_spawned lists that user's
-- processes whose environment carries HERMES_KANBAN_* or whose stdout is a task's log file: of
-- other users' processes nothing but the owner of /proc/<pid> is looked at, and a marked
-- process is that user's only when its real and effective uids are both theirs (another
-- user's set-uid program kept waiting with a run's environment is not the run's, and not
-- listed). A process whose HERMES_KANBAN_DB names another board (another file) belongs to
-- that board and is left out, whatever its stdout.
--
-- Which run: the one its HERMES_KANBAN_RUN_ID names (when the environment names this board);
-- else, for a process found by its log file alone (<board dir>/logs/<task>.log or
-- <board dir>/kanban/logs/<task>.log, as the owner lays out the default board), the task's
-- latest run that started before it did. Evidence, strongest first:
--   fingerprint     the run kept worker_pid and worker_started_at (the newer releases keep
--                   them on an ended run until their reaper clears them), they are this
--                   process, and it started within the run (2 s before its start to the end
--                   of the second it ended in: a fingerprint written on the board for a
--                   process started after the run proves nothing)
--   environment     HERMES_KANBAN_DB is this board (HERMES_KANBAN_RUN_ID this run)
--   log file        its stdout is the task's log file
--   spawned event   a task_events row of kind 'spawned' (or the newer 'worker_registered')
--                   of the run names its pid, and it started between the run's start (2 s
--                   before) and its end (the second it ended in included: ended_at is whole
--                   seconds)
-- signalable: the evidence is strong enough for a signal, as run_verdicts' (the
-- environment naming the run, or the fingerprint); the signal rules are lingering_workers'.
-- {worker_started_at} is replaced at install (NULL on boards without the column).
CREATE TEMP VIEW run_processes AS
WITH spawned AS {materialized} (
    -- The owner's marked processes that are this board's (or have no board and this board's
    -- log file on stdout): materialized, so each file check runs once a process.
    SELECT * FROM (
        SELECT l.*,
               CASE WHEN l.log_rest GLOB '?*.log' AND instr(l.log_rest, '/') = 0
                    THEN substr(l.log_rest, 1, length(l.log_rest) - 4) END AS log_task
        FROM (
            SELECT s.*, b.owner_uid,
                   kanban_workers_same_file(s.env_board, b.file) AS this_board,
                   CASE WHEN substr(s.stdout, 1, length(b.dir) + 5) = b.dir || 'logs/'
                        THEN substr(s.stdout, length(b.dir) + 6)
                        WHEN substr(s.stdout, 1, length(b.dir) + 12) = b.dir || 'kanban/logs/'
                        THEN substr(s.stdout, length(b.dir) + 13) END AS log_rest
            FROM (
                SELECT file, kanban_workers_file_owner(file) AS owner_uid,
                       rtrim(file, replace(file, '/', '')) AS dir
                FROM (SELECT kanban_workers_board_file() AS file)
            ) AS b
            CROSS JOIN proc_spawned(b.owner_uid) AS s
        ) AS l
    )
    WHERE this_board = 1 OR (env_board IS NULL AND log_task IS NOT NULL)
),
found AS {materialized} (
    -- Each one alive (not a zombie, the same start ticks), its signal-rule inputs, its run.
    SELECT k.*,
           coalesce((SELECT x.task_id FROM task_runs AS x WHERE x.id = k.run_id),
                    CASE WHEN k.this_board = 1 THEN k.env_task_id ELSE k.log_task END)
               AS task_id
    FROM (
        SELECT p.*,
               CASE WHEN p.this_board = 1 THEN
                        (SELECT x.id FROM task_runs AS x
                         WHERE x.id = CAST(p.env_run_id AS INTEGER)
                           AND CAST(x.id AS TEXT) = p.env_run_id)
                    ELSE (SELECT max(x.id) FROM task_runs AS x
                          WHERE x.task_id = p.log_task AND x.started_at - 2 <= p.start_time)
               END AS run_id
        FROM (
            SELECT s.pid, s.ppid, s.start_ticks, s.env_run_id, s.env_task_id, s.stdout,
                   s.owner_uid, s.this_board, s.log_task,
                   st.state, st.cmdline, st.rss_bytes, st.cpu_percent, st.start_time,
                   st.fingerprint,
                   CASE WHEN m.start_ticks = s.start_ticks THEN m.uid END AS uid,
                   CASE WHEN m.start_ticks = s.start_ticks THEN m.namespace_init END
                       AS namespace_init,
                   CASE WHEN m.start_ticks = s.start_ticks THEN m.kernel_thread END
                       AS kernel_thread,
                   CAST(strftime('%s', 'now') AS INTEGER) AS now
            FROM spawned AS s
            JOIN proc_stats(s.pid) AS st ON st.alive = 1 AND st.start_ticks = s.start_ticks
            LEFT JOIN proc_marks(s.pid) AS m
        ) AS p
    ) AS k
)
SELECT pid, ppid, start_ticks, run_id, task_id, task_status, task_title, started_at, ended_at,
       outcome,
       nullif(rtrim(CASE WHEN fingerprint_mark THEN 'fingerprint, ' ELSE '' END
                 || CASE WHEN env_mark THEN 'environment, ' ELSE '' END
                 || CASE WHEN log_mark THEN 'log file, ' ELSE '' END
                 || CASE WHEN spawned_mark THEN 'spawned event, ' ELSE '' END, ', '), '')
           AS evidence,
       coalesce((env_mark AND run_id IS NOT NULL) OR fingerprint_mark, 0) AS signalable,
       state, cmdline, rss_bytes, cpu_percent, start_time,
       CASE WHEN ended_at IS NOT NULL THEN max(0, now - ended_at) END AS outlived_s,
       uid, namespace_init, kernel_thread, owner_uid
FROM (
    SELECT c.*, r.started_at, r.ended_at, r.outcome,
           t.status AS task_status, t.title AS task_title,
           coalesce(c.this_board = 1
                    AND (c.run_id IS NULL OR c.env_run_id = CAST(c.run_id AS TEXT)), 0)
               AS env_mark,
           coalesce(c.log_task = c.task_id, 0) AS log_mark,
           coalesce(typeof(r.worker_pid) = 'integer' AND r.worker_pid = c.pid
                    AND {worker_started_at} = c.fingerprint
                    AND c.start_time >= r.started_at - 2
                    AND c.start_time < coalesce(r.ended_at, c.now) + 1, 0) AS fingerprint_mark,
           coalesce(c.start_time >= r.started_at - 2
                    AND c.start_time < coalesce(r.ended_at, c.now) + 1
                    AND EXISTS (SELECT 1 FROM task_events AS e
                                WHERE e.task_id = r.task_id AND e.run_id = r.id
                                  AND e.kind IN ('spawned', 'worker_registered')
                                  AND CASE WHEN json_valid(e.payload)
                                           THEN json_extract(e.payload, '$.pid') END = c.pid),
                    0) AS spawned_mark
    FROM found AS c
    LEFT JOIN task_runs AS r ON r.id = c.run_id
    LEFT JOIN tasks AS t ON t.id = c.task_id
);
