-- GET /workers/active: every worker running now, oldest first (the active_workers view).
SELECT run_id, task_id, task_title, task_status, task_assignee, profile, worker_pid,
       started_at, claim_lock, claim_expires, last_heartbeat_at, max_runtime_seconds,
       worker_host, local
FROM active_workers
ORDER BY started_at, run_id
