-- GET /runs/{run_id}/inspect: the run's verdict (run_verdicts: written once, for every route)
-- and its worker's process tree totals, in one query.
SELECT v.run_id, v.worker_pid, v.worker_host, v.local, v.host_note, v.alive, v.reason, v.identity,
       v.evidence, v.signalable,
       v.status, v.cpu_percent,
       v.rss_bytes AS memory_rss_bytes, v.vms_bytes AS memory_vms_bytes,
       v.num_threads, v.num_fds, v.start_time AS create_time, v.cmdline, v.error,
       CASE WHEN v.alive = 1 THEN 1 + count(t.pid) END                 AS tree_processes,
       CASE WHEN v.alive = 1 THEN v.rss_bytes + coalesce(sum(t.rss_bytes), 0) END             AS tree_rss_bytes,
       CASE WHEN v.alive = 1 THEN round(v.cpu_percent + coalesce(sum(t.cpu_percent), 0), 2) END AS tree_cpu_percent,
       v.heartbeat_age_s, v.wedged, v.wedged_reason
FROM run_verdicts AS v
LEFT JOIN proc_tree(v.pid) AS t ON t.depth > 0
        -- Only the board owner's members count (the owner could not see another user's
        -- under hidepid; the shim may run as root): run_verdicts.owner_uid.
        AND coalesce(t.uid = v.owner_uid, v.owner_uid IS NULL)
WHERE v.run_id = ?1
GROUP BY v.run_id
