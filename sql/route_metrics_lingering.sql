-- GET /metrics, second: what runs left behind (lingering_workers), per run (a process tied
-- to a task with no run has run_id NULL: one series, run_id "").
SELECT run_id, task_id, count(*) AS processes, sum(rss_bytes) AS rss_bytes
FROM lingering_workers
GROUP BY run_id, task_id
ORDER BY run_id, task_id
