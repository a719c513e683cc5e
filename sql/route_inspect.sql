-- GET /runs/{run_id}/inspect: the run's verdict (run_verdicts: written once, for every route)
-- and its worker's process tree totals, in one query; for an ended run, how its worker exited
-- where that is known.
--
-- How it exited (the newer releases, 0.20-0.21.x, record it): run_exits (one rule with GET
-- /runs/endings) gives what the metadata says, and exit_log, the task whose log's exit
-- trailer (`[kanban-worker-exit] rc=N`) may tell when it says nothing. The handler then asks
-- again with ?2 the trailer's code and ?3 the log's modification time (epoch seconds): the code
-- is taken only when the log was last written since the run began (an earlier run's trailer
-- is not this run's), its kind from exit_code_kinds (the owner's `_exit_code_kind`).
-- Materialized (one row, computed once): the exit's columns refer to each other, and a CTE
-- flattened into the query would evaluate run_exits' subqueries again at each reference. This
-- query is the shim's own (its bundled SQLite), so the hint needs no fallback.
WITH exit AS MATERIALIZED (
    SELECT x.run_id AS id, x.exit_log, x.exit_kind AS meta_kind,
           x.exit_code IS NOT NULL AS from_meta,
           coalesce(x.exit_code,
                    CASE WHEN x.exit_log IS NOT NULL AND typeof(?2) = 'integer'
                              AND ?3 >= x.started_at THEN ?2 END) AS exit_code
    FROM run_exits AS x
    WHERE x.run_id = ?1
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
            WHEN x.from_meta THEN x.meta_kind
            ELSE coalesce((SELECT k.kind FROM exit_code_kinds AS k WHERE k.code = x.exit_code),
                          'nonzero_exit')
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
