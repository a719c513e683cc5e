-- GET /metrics: every active worker with its verdict and stats (the live_workers view), for
-- the Prometheus exposition the handler writes.
SELECT run_id, task_id, task_assignee, profile, worker_host, alive, reason, wedged,
       rss_bytes, tree_rss_bytes, cpu_seconds, num_threads, num_fds, heartbeat_age_s,
       tree_processes
FROM live_workers
ORDER BY started_at, run_id
