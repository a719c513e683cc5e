-- POST /runs/{run_id}/stop, 1 of 3: the task blocked as the owner's block_task blocks it with
-- no kind (an "untyped" block; hermes-agent 0.19.0 and the newer releases alike). An untyped
-- block counts as the same cause as an earlier untyped one: block_recurrences goes up by one
-- (else it starts at 1), and at the owner's BLOCK_RECURRENCE_LIMIT (2) the task goes to
-- 'triage' (its loop breaker) instead of 'blocked'. Either way its claim and worker_pid are
-- cleared, and its current run (what the owner's _end_run does next). Only while it still
-- holds the claim read before: a compare-and-swap on its status, claim_lock and
-- current_run_id, as the reclaim's (the owner's own guard is status IN ('running', 'ready')
-- AND current_run_id = the run). No row: the task changed meanwhile, nothing is written.
UPDATE tasks
SET status = CASE WHEN (CASE WHEN block_kind IS NULL
                             THEN coalesce(CAST(block_recurrences AS INTEGER), 0) + 1
                             ELSE 1 END) >= 2
                  THEN 'triage' ELSE 'blocked' END,
    claim_lock = NULL, claim_expires = NULL, worker_pid = NULL, current_run_id = NULL,
    block_kind = NULL,
    block_recurrences = CASE WHEN block_kind IS NULL
                             THEN coalesce(CAST(block_recurrences AS INTEGER), 0) + 1
                             ELSE 1 END
WHERE id = ?1 AND status = 'running' AND claim_lock IS ?2 AND current_run_id IS ?3
RETURNING status, block_recurrences
