-- kept_workers: the workers ended runs kept, that still run: the strongest evidence there is
-- that a process outlived its run. The newer releases (hermes-agent 0.20-0.21.x) keep
-- worker_pid and the fingerprint (worker_started_at, "<boot_id>:<pid 1's start
-- ticks>|<start ticks>") on a run that has ended, until their reaper (reap_terminal_workers)
-- has ended that worker and cleared them. A row for each ended run whose kept pid is a live
-- process (not a zombie) of the board's owner (its /proc owner and its real uid) with exactly
-- that fingerprint, started within the run (2 s before its start to the end of the second it
-- ended in: a fingerprint written on the board for a process started later proves nothing),
-- whether or not its environment and stdout can be read. Installed as a TEMP view, in the
-- rows and columns of run_processes (evidence `fingerprint`, and `spawned event` when the
-- run's spawned or worker_registered event names its pid), for lingering_workers and
-- /runs/{id}/processes.
--
-- Select it by run_id to read one run (SQLite then looks that run up by its id); a scan of it
-- reads every run of the board once (no index covers ended_at or worker_pid), which only
-- lingering_workers does. {worker_started_at} is replaced at install: on a board without the
-- column (hermes-agent 0.19.0's) the condition is a constant false and nothing is read.
CREATE TEMP VIEW kept_workers AS
SELECT st.pid, st.ppid, st.start_ticks, r.id AS run_id, r.task_id,
       t.status AS task_status, t.title AS task_title, r.started_at, r.ended_at, r.outcome,
       CASE WHEN EXISTS (SELECT 1 FROM task_events AS e
                         WHERE e.task_id = r.task_id AND e.run_id = r.id
                           AND e.kind IN ('spawned', 'worker_registered')
                           AND CASE WHEN json_valid(e.payload)
                                    THEN json_extract(e.payload, '$.pid') END = st.pid)
            THEN 'fingerprint, spawned event' ELSE 'fingerprint' END AS evidence,
       1 AS signalable,
       st.state, st.cmdline, st.rss_bytes, st.cpu_percent, st.start_time,
       max(0, CAST(strftime('%s', 'now') AS INTEGER) - r.ended_at) AS outlived_s,
       m.uid, m.namespace_init, m.kernel_thread, o.owner_uid
FROM task_runs AS r
CROSS JOIN (SELECT kanban_workers_file_owner(kanban_workers_board_file()) AS owner_uid) AS o
JOIN proc_stats(CASE WHEN typeof(r.worker_pid) = 'integer'
                          AND r.worker_pid BETWEEN 1 AND 4194304 THEN r.worker_pid END) AS st
    ON st.alive = 1 AND st.fingerprint = {worker_started_at} AND st.uid = o.owner_uid
   AND st.start_time >= r.started_at - 2 AND st.start_time < r.ended_at + 1
JOIN proc_marks(st.pid) AS m ON m.start_ticks = st.start_ticks AND m.uid = o.owner_uid
LEFT JOIN tasks AS t ON t.id = r.task_id
WHERE typeof({worker_started_at}) = 'text' AND r.ended_at IS NOT NULL
  AND typeof(r.worker_pid) = 'integer' AND r.worker_pid BETWEEN 1 AND 4194304;
