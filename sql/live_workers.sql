-- live_workers: every active worker with its verdict, its live stats and its process tree's
-- totals, in one query (what GET /workers/active?live=1 answers). Installed as a TEMP view.
-- The verdict is run_verdicts' (written once); the tree is proc_tree's, read only for a
-- worker that is alive and is the run's. The worker itself is read once, by run_verdicts:
-- proc_tree is asked for its descendants only (depth > 0, which it does not read above), and
-- the totals add the worker's own figures to theirs.
--
-- The run's scope (proc_scope: the owner's systemd scope for the run, proven; NULL columns
-- without one) gives its meters: its processes, CPU, pressure stalls, and memory against its
-- limit with the OOM kills it counted (where the memory controller is enabled).
--
-- The totals also count the run's escaped members: processes whose environment names the
-- run and this board (run_processes) but that are outside the worker's tree (a setsid child
-- reparented, a double-forked daemon). They are read once for all workers (AS MATERIALIZED, from SQLite 3.35 on),
-- and only when some worker is alive.
CREATE TEMP VIEW live_workers AS
WITH escaped AS {materialized} (
    SELECT run_id, pid, rss_bytes, cpu_percent FROM run_processes
    WHERE run_id IS NOT NULL AND ended_at IS NULL AND signalable
)
SELECT l.run_id, l.task_id, l.task_title, l.task_status, l.task_assignee, l.profile,
       l.worker_pid, l.started_at, l.claim_lock, l.claim_expires, l.last_heartbeat_at,
       l.max_runtime_seconds, l.worker_host, l.local,
       l.alive, l.reason, l.identity, l.evidence, l.signalable, l.status, l.cpu_percent,
       l.cpu_seconds, l.rss_bytes, l.vms_bytes, l.num_threads, l.num_fds, l.start_time,
       l.cmdline, l.error,
       CASE WHEN l.alive = 1 THEN l.own_processes + count(e.pid) END AS tree_processes,
       CASE WHEN l.alive = 1 THEN l.own_rss_bytes + coalesce(sum(e.rss_bytes), 0) END
           AS tree_rss_bytes,
       CASE WHEN l.alive = 1 THEN round(l.own_cpu_percent + coalesce(sum(e.cpu_percent), 0), 2)
       END AS tree_cpu_percent,
       count(e.pid) AS escaped_processes,
       l.heartbeat_age_s, l.claim_expires_in_s, l.runtime_s, l.wedged, l.wedged_reason,
       CASE WHEN s.evidence = 'scope' THEN s.scope END AS scope,
       CASE WHEN s.evidence = 'scope' THEN s.processes END AS scope_processes,
       CASE WHEN s.evidence = 'scope' THEN s.cpu_user_s + s.cpu_system_s END AS scope_cpu_seconds,
       CASE WHEN s.evidence = 'scope' THEN s.cpu_some_avg10 END AS scope_cpu_some_avg10,
       CASE WHEN s.evidence = 'scope' THEN s.memory_some_avg10 END AS scope_memory_some_avg10,
       CASE WHEN s.evidence = 'scope' THEN s.memory_full_avg10 END AS scope_memory_full_avg10,
       CASE WHEN s.evidence = 'scope' THEN s.io_some_avg10 END AS scope_io_some_avg10,
       CASE WHEN s.evidence = 'scope' THEN s.io_full_avg10 END AS scope_io_full_avg10,
       CASE WHEN s.evidence = 'scope' THEN s.memory_current END AS scope_memory_bytes,
       CASE WHEN s.evidence = 'scope' THEN s.memory_peak END AS scope_memory_peak_bytes,
       CASE WHEN s.evidence = 'scope' THEN s.memory_max END AS scope_memory_max_bytes,
       CASE WHEN s.evidence = 'scope' THEN s.oom_kills END AS scope_oom_kills,
       CASE WHEN s.evidence = 'scope' THEN s.frozen END AS scope_frozen
FROM (
    SELECT w.run_id, w.task_id, w.task_title, w.task_status, w.task_assignee, w.profile,
           w.worker_pid, w.started_at, w.claim_lock, w.claim_expires, w.last_heartbeat_at,
           w.max_runtime_seconds, w.worker_host, w.local,
           v.alive, v.reason, v.identity, v.evidence, v.signalable, v.status, v.cpu_percent,
           v.cpu_seconds, v.rss_bytes, v.vms_bytes, v.num_threads, v.num_fds, v.start_time,
           v.cmdline, v.error, v.pid, v.start_ticks, v.owner_uid,
           1 + count(t.pid)                                          AS own_processes,
           v.rss_bytes + coalesce(sum(t.rss_bytes), 0)               AS own_rss_bytes,
           v.cpu_percent + coalesce(sum(t.cpu_percent), 0)           AS own_cpu_percent,
           ',' || v.pid || ',' || coalesce(group_concat(t.pid, ','), '') || ',' AS members,
           v.heartbeat_age_s, v.claim_expires_in_s, v.runtime_s, v.wedged, v.wedged_reason
    -- The running runs' verdicts first (run_status: read by the board's index; run_verdicts
    -- is grouped, so a join on run_id alone would compute every run's), each one's
    -- active_workers row looked up by its run.
    FROM run_verdicts AS v
    CROSS JOIN active_workers AS w ON w.run_id = v.run_id
    LEFT JOIN proc_tree(v.pid) AS t ON t.depth > 0
        -- Only the board owner's members count (the owner could not see another user's
        -- under hidepid; the shim may run as root): run_verdicts.owner_uid.
        AND coalesce(t.uid = v.owner_uid, v.owner_uid IS NULL)
    WHERE v.run_status = 'running'
    GROUP BY w.run_id
) AS l
LEFT JOIN proc_scope(l.pid, l.start_ticks, l.task_id, l.run_id, l.owner_uid) AS s
LEFT JOIN escaped AS e
    ON l.alive = 1 AND e.run_id = l.run_id AND instr(l.members, ',' || e.pid || ',') = 0
GROUP BY l.run_id
ORDER BY l.started_at, l.run_id;
