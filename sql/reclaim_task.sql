-- The reclaim, 1 of 3: the task back to 'ready', its claim cleared and its failures reset,
-- only if it still holds the claim read before (compare-and-swap; ?2 is that claim_lock, ?3
-- its current_run_id: the owner's lock names the dispatcher, the same for every claim it
-- makes, so the lock alone does not tell this claim from the next).
UPDATE tasks
SET status = 'ready', claim_lock = NULL, claim_expires = NULL, worker_pid = NULL,
    current_run_id = NULL, consecutive_failures = 0
WHERE id = ?1 AND status = 'running' AND claim_lock IS ?2 AND current_run_id IS ?3
