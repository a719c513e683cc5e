-- The reclaim, 1 of 3: the task back to 'ready', its claim cleared and its failures reset,
-- only if it still holds the claim read before (compare-and-swap; ?2 is that claim_lock).
UPDATE tasks
SET status = 'ready', claim_lock = NULL, claim_expires = NULL, worker_pid = NULL,
    current_run_id = NULL, consecutive_failures = 0
WHERE id = ?1 AND status = 'running' AND claim_lock IS ?2
