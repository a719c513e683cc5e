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
-- flattened into the query would evaluate run_exits' subqueries again at each reference. Read
-- by scalar subqueries reached only when the worker is not alive, so that a live run's answer
-- never makes the table (its open and close were 3% of a live run's instructions). This query is the
-- shim's own (its bundled SQLite), so the hint needs no fallback.
WITH exit AS MATERIALIZED (
    SELECT x.run_id AS id, x.exit_log, x.exit_kind AS meta_kind,
           x.exit_code IS NOT NULL AS from_meta,
           coalesce(x.exit_code,
                    CASE WHEN x.exit_log IS NOT NULL AND typeof(?2) = 'integer'
                              AND ?3 >= x.started_at THEN ?2 END) AS exit_code
    FROM run_exits AS x
    WHERE x.run_id = ?1
)
-- The columns in the order the handler reads them for a live worker's answer.
SELECT v.run_id, v.alive, v.reason, v.worker_pid, v.cpu_percent,
       v.rss_bytes AS memory_rss_bytes, v.vms_bytes AS memory_vms_bytes,
       v.num_threads, v.num_fds, v.status, v.start_time AS create_time, v.cmdline,
       v.identity, v.evidence, v.signalable, v.local, v.worker_host,
       CASE WHEN v.alive = 1 THEN 1 + count(t.pid) END                 AS tree_processes,
       CASE WHEN v.alive = 1 THEN v.rss_bytes + coalesce(sum(t.rss_bytes), 0) END             AS tree_rss_bytes,
       CASE WHEN v.alive = 1 THEN round(v.cpu_percent + coalesce(sum(t.cpu_percent), 0), 2) END AS tree_cpu_percent,
       v.heartbeat_age_s, v.wedged, v.wedged_reason, v.error, v.host_note,
       -- Not for a live worker: its answer never makes the exit's table (an ended run's
       -- is read whatever its ended_at says: run_exits decides).
       CASE WHEN v.alive IS NOT 1 THEN (SELECT x.exit_code FROM exit AS x) END AS exit_code,
       CASE WHEN v.alive IS NOT 1 THEN (
           SELECT CASE WHEN x.exit_code IS NULL THEN NULL
                       WHEN x.from_meta THEN x.meta_kind
                       ELSE coalesce((SELECT k.kind FROM exit_code_kinds AS k
                                      WHERE k.code = x.exit_code), 'nonzero_exit')
                  END
           FROM exit AS x)
       END AS exit_kind,
       CASE WHEN v.alive IS NOT 1 THEN (
           SELECT CASE WHEN x.exit_code IS NULL THEN x.exit_log END FROM exit AS x)
       END AS exit_log
FROM run_verdicts AS v
LEFT JOIN proc_tree(v.pid) AS t ON t.depth > 0
        -- Only the board owner's members count (the owner could not see another user's
        -- under hidepid; the shim may run as root): run_verdicts.owner_uid.
        AND coalesce(t.uid = v.owner_uid, v.owner_uid IS NULL)
WHERE v.run_id = ?1
GROUP BY v.run_id
