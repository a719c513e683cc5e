-- GET /metrics: every active worker with its verdict and stats (the live_workers view), for
-- the Prometheus exposition the handler writes. `verdict` is what kanban_workers_by_verdict
-- counts a worker under: alive, remote (another host's, nothing read), or why it is not alive.
SELECT run_id, task_id, task_assignee, profile, worker_host, alive, wedged,
       CASE WHEN alive = 1 THEN 'alive' WHEN alive IS NULL THEN 'remote' ELSE reason END
           AS verdict,
       rss_bytes, tree_rss_bytes, cpu_seconds, num_threads, num_fds, heartbeat_age_s,
       tree_processes
FROM live_workers
ORDER BY started_at, run_id
