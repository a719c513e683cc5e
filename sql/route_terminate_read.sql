-- POST /runs/{run_id}/terminate, first: the run, its task, the claim it holds, and the verdict
-- on its worker (run_verdicts). `signalable`: only a live worker whose identity holds (its
-- fingerprint verified, or it started with the run) is ever signalled.
SELECT v.run_id, v.task_id, v.ended_at, v.worker_pid, v.alive, v.reason,
       coalesce(v.alive = 1 AND v.identity IN ('verified', 'started with the run'), 0)
           AS signalable,
       v.worker_host, r.claim_lock, t.status AS task_status
FROM run_verdicts AS v
JOIN task_runs AS r ON r.id = v.run_id
LEFT JOIN tasks AS t ON t.id = v.task_id
WHERE v.run_id = ?1
