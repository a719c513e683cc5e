-- POST /runs/{run_id}/stop, 2 of 3: the run ended as the owner's _end_run ends a blocked one:
-- status and outcome 'blocked', summary the reason (?2), error and metadata cleared, ended_at
-- now (?3), claim_expires cleared. hermes-agent 0.19.0's _end_run also clears claim_lock and
-- worker_pid; the newer releases' (0.20-0.21.x: the boards with task_runs.worker_started_at)
-- keep them, and the fingerprint, on the ended run for their reaper.
UPDATE task_runs
SET status = 'blocked', outcome = 'blocked', summary = ?2, error = NULL, metadata = NULL,
    ended_at = ?3, claim_expires = NULL,
    claim_lock = CASE WHEN EXISTS (SELECT 1 FROM pragma_table_info('task_runs')
                                   WHERE name = 'worker_started_at')
                      THEN claim_lock END,
    worker_pid = CASE WHEN EXISTS (SELECT 1 FROM pragma_table_info('task_runs')
                                   WHERE name = 'worker_started_at')
                      THEN worker_pid END
WHERE id = ?1 AND ended_at IS NULL
