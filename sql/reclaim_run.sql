-- The reclaim, 2 of 3: the run closed as reclaimed.
UPDATE task_runs
SET status = 'reclaimed', outcome = 'reclaimed', ended_at = ?2, error = ?3
WHERE id = ?1 AND ended_at IS NULL
