-- GET /runs/{run_id}/inspect: the run's verdict (run_verdicts: written once, for every route)
-- and its worker's process tree totals, in one query; for an ended run, how its worker exited
-- where that is known.
--
-- How it exited (the newer releases, 0.20-0.21.x, record it): exit_code and exit_kind from
-- the run's metadata (the owner's dispatcher writes exit_code, and exit_kind but for a
-- rate-limited or a clean exit), else from the exit trailer its worker wrote as the last line
-- of the task's log (`[kanban-worker-exit] rc=N`), which the shim reads only when exit_log
-- names the task: the run has ended, its metadata says nothing of an exit, it is the task's
-- latest run (the log is the task's, appended to by every run), a worker was spawned for it
-- (its `spawned` or `worker_registered` event; a `spawn_failed` run had none), and its kept,
-- fingerprint-verified worker does not run any more (it has not exited yet). The handler then
-- asks again with ?2 the trailer's code and ?3 the log's modification time (epoch seconds):
-- the code is taken only when the log was last written since the run began (an earlier run's
-- trailer is not this run's). exit_kind without one in the metadata is the owner's
-- `_exit_code_kind`: 0 clean_exit, 75 rate_limited, 78 terminal_provider, else nonzero_exit.
WITH e AS (
    SELECT x.*,
           CASE WHEN x.meta_code IS NULL AND x.ended
                     AND coalesce(x.outcome, '') <> 'spawn_failed'
                     AND coalesce(x.status, '') <> 'spawn_failed'
                     AND x.spawned_at IS NOT NULL AND NOT x.later AND NOT x.kept_alive
                THEN x.task_id END AS exit_log
    FROM (
        SELECT r.id, r.task_id, r.outcome, r.status, r.started_at,
               r.ended_at IS NOT NULL AS ended,
               CASE WHEN json_valid(r.metadata)
                         AND json_type(r.metadata, '$.exit_code') = 'integer'
                    THEN json_extract(r.metadata, '$.exit_code') END AS meta_code,
               CASE WHEN json_valid(r.metadata)
                         AND json_type(r.metadata, '$.exit_kind') = 'text'
                    THEN json_extract(r.metadata, '$.exit_kind') END AS meta_kind,
               (SELECT max(ev.created_at) FROM task_events AS ev
                WHERE ev.task_id = r.task_id AND ev.run_id = r.id
                  AND ev.kind IN ('spawned', 'worker_registered')) AS spawned_at,
               EXISTS (SELECT 1 FROM task_runs AS l
                       WHERE l.task_id = r.task_id AND l.id > r.id) AS later,
               EXISTS (SELECT 1 FROM run_verdicts AS k
                       JOIN proc_stats(CASE WHEN typeof(k.worker_pid) = 'integer'
                                                 AND k.worker_pid BETWEEN 1 AND 4194304
                                                 AND typeof(k.worker_started_at) = 'text'
                                            THEN k.worker_pid END) AS p
                       WHERE k.run_id = r.id AND p.alive = 1
                         AND p.fingerprint = k.worker_started_at) AS kept_alive
        FROM task_runs AS r
        WHERE r.id = ?1 AND r.ended_at IS NOT NULL
    ) AS x
),
exit AS (
    SELECT e.id, e.exit_log, e.meta_kind, e.meta_code IS NOT NULL AS from_meta,
           coalesce(e.meta_code,
                    CASE WHEN e.exit_log IS NOT NULL AND typeof(?2) = 'integer'
                              AND ?3 >= e.started_at THEN ?2 END) AS exit_code
    FROM e
)
SELECT v.run_id, v.worker_pid, v.worker_host, v.local, v.host_note, v.alive, v.reason, v.identity,
       v.evidence, v.signalable,
       v.status, v.cpu_percent,
       v.rss_bytes AS memory_rss_bytes, v.vms_bytes AS memory_vms_bytes,
       v.num_threads, v.num_fds, v.start_time AS create_time, v.cmdline, v.error,
       CASE WHEN v.alive = 1 THEN 1 + count(t.pid) END                 AS tree_processes,
       CASE WHEN v.alive = 1 THEN v.rss_bytes + coalesce(sum(t.rss_bytes), 0) END             AS tree_rss_bytes,
       CASE WHEN v.alive = 1 THEN round(v.cpu_percent + coalesce(sum(t.cpu_percent), 0), 2) END AS tree_cpu_percent,
       v.heartbeat_age_s, v.wedged, v.wedged_reason,
       x.exit_code,
       CASE WHEN x.exit_code IS NULL THEN NULL
            WHEN x.from_meta AND x.meta_kind IS NOT NULL THEN x.meta_kind
            WHEN x.exit_code = 0 THEN 'clean_exit'
            WHEN x.exit_code = 75 THEN 'rate_limited'
            WHEN x.exit_code = 78 THEN 'terminal_provider'
            ELSE 'nonzero_exit'
       END AS exit_kind,
       CASE WHEN x.exit_code IS NULL THEN x.exit_log END AS exit_log
FROM run_verdicts AS v
LEFT JOIN proc_tree(v.pid) AS t ON t.depth > 0
        -- Only the board owner's members count (the owner could not see another user's
        -- under hidepid; the shim may run as root): run_verdicts.owner_uid.
        AND coalesce(t.uid = v.owner_uid, v.owner_uid IS NULL)
LEFT JOIN exit AS x ON x.id = v.run_id
WHERE v.run_id = ?1
GROUP BY v.run_id
