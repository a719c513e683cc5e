-- GET /workers/active?live=1 and /metrics of a shim that serves no board (`serve --no-board`:
-- a host whose workers a coordinator host's board dispatched, docs/fleet.md). Its workers are
-- the processes of the shim's user (the owner of its private, empty board file; their real and
-- effective uids both, proc_spawned: another user's set-uid program is not one) that carry a
-- run's spawn marks (HERMES_KANBAN_RUN_ID, an integer), one row a run: the marked process
-- whose parent does not carry the same run (the worker; the marked processes below it are its
-- tree), with its live stats and its tree's totals (the user's processes only). The rows have
-- the columns of route_workers_live.sql; what only the board knows (title, assignee, claim,
-- heartbeat, max runtime) is NULL. Nothing else of the environment is read: the four
-- HERMES_KANBAN_* variables and HERMES_MACHINE_ID are all proc_spawned keeps (never a token).
WITH owner AS MATERIALIZED (
    SELECT kanban_workers_file_owner(kanban_workers_board_file()) AS uid
),
marked AS MATERIALIZED (
    SELECT s.* FROM owner CROSS JOIN proc_spawned(owner.uid) AS s
    WHERE s.env_run_id GLOB '[1-9]*' AND s.env_run_id NOT GLOB '*[^0-9]*'
          AND length(s.env_run_id) <= 18
),
workers AS (
    SELECT m.* FROM marked AS m
    WHERE NOT EXISTS (
        SELECT 1 FROM marked AS p WHERE p.pid = m.ppid AND p.env_run_id = m.env_run_id
    )
)
SELECT CAST(w.env_run_id AS INTEGER)                      AS run_id,
       w.env_task_id                                       AS task_id,
       NULL                                                AS task_title,
       NULL                                                AS task_status,
       NULL                                                AS task_assignee,
       NULL                                                AS profile,
       w.pid                                               AS worker_pid,
       CAST(s.start_time AS INTEGER)                       AS started_at,
       w.env_claim_lock                                    AS claim_lock,
       NULL AS claim_expires, NULL AS last_heartbeat_at, NULL AS max_runtime_seconds,
       kanban_workers_hostname()                           AS worker_host,
       1                                                   AS local,
       1                                                   AS alive,
       NULL                                                AS reason,
       'spawn marks'                                       AS identity,
       'environment (HERMES_KANBAN_RUN_ID ' || w.env_run_id || ')' AS evidence,
       0                                                   AS signalable,
       s.state AS status, s.cpu_percent, s.cpu_user_s + s.cpu_system_s AS cpu_seconds, s.rss_bytes, s.vms_bytes, s.num_threads,
       s.num_fds, s.start_time, s.cmdline, s.error,
       1 + count(t.pid)                                    AS tree_processes,
       s.rss_bytes + coalesce(sum(t.rss_bytes), 0)         AS tree_rss_bytes,
       round(s.cpu_percent + coalesce(sum(t.cpu_percent), 0), 2) AS tree_cpu_percent,
       0                                                   AS escaped_processes,
       NULL AS heartbeat_age_s, NULL AS claim_expires_in_s,
       CAST(strftime('%s', 'now') - s.start_time AS INTEGER) AS runtime_s,
       NULL AS wedged, NULL AS wedged_reason,
       kanban_workers_machine_id_of(w.env_machine_id)      AS machine_id,
       'alive'                                             AS verdict,
       NULL                                                AS terminate_offer,
       'no board here: act on the board''s host'           AS terminate_note
FROM workers AS w
CROSS JOIN owner AS o
JOIN proc_stats(w.pid) AS s
LEFT JOIN proc_tree(w.pid) AS t ON t.depth > 0 AND t.uid = o.uid
GROUP BY w.pid
ORDER BY started_at, run_id
