-- live_workers: every active worker with its verdict, its live stats and its process tree's
-- totals, in one query (what GET /workers/active?live=1 answers). Installed as a TEMP view.
-- The verdict is run_verdicts' (written once); the tree is proc_tree's, read only for a
-- worker that is alive and is the run's. The worker itself is read once, by run_verdicts:
-- proc_tree is asked for its descendants only (depth > 0, which it does not read above), and
-- the totals add the worker's own figures to theirs.
CREATE TEMP VIEW live_workers AS
SELECT w.run_id, w.task_id, w.task_title, w.task_status, w.task_assignee, w.profile,
       w.worker_pid, w.started_at, w.claim_lock, w.claim_expires, w.last_heartbeat_at,
       w.max_runtime_seconds, w.worker_host, w.local,
       v.alive, v.reason, v.identity, v.evidence, v.signalable, v.status, v.cpu_percent, v.cpu_seconds, v.rss_bytes,
       v.vms_bytes,
       v.num_threads, v.num_fds, v.start_time, v.cmdline, v.error,
       CASE WHEN v.alive = 1 THEN 1 + count(t.pid) END            AS tree_processes,
       CASE WHEN v.alive = 1 THEN v.rss_bytes + coalesce(sum(t.rss_bytes), 0) END        AS tree_rss_bytes,
       CASE WHEN v.alive = 1 THEN round(v.cpu_percent + coalesce(sum(t.cpu_percent), 0), 2) END AS tree_cpu_percent,
       v.heartbeat_age_s, v.claim_expires_in_s, v.runtime_s, v.wedged, v.wedged_reason
FROM active_workers AS w
JOIN run_verdicts AS v ON v.run_id = w.run_id
LEFT JOIN proc_tree(v.pid) AS t ON t.depth > 0
GROUP BY w.run_id
ORDER BY w.started_at, w.run_id;
