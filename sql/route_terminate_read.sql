-- POST /runs/{run_id}/terminate, first: the run, its task, the claim it holds, and the verdict
-- on its worker (run_verdicts): only a `signalable` worker is ever signalled, and only the
-- process with the start ticks the verdict was made on.
SELECT v.run_id, v.task_id, v.ended_at, v.worker_pid, v.alive, v.reason, v.identity,
       v.evidence, v.signalable, v.start_ticks,
       v.worker_host, r.claim_lock, t.status AS task_status, t.current_run_id
FROM run_verdicts AS v
JOIN task_runs AS r ON r.id = v.run_id
LEFT JOIN tasks AS t ON t.id = v.task_id
WHERE v.run_id = ?1
