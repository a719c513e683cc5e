-- POST /runs/{run_id}/reap, once the run's kept worker is gone: its evidence cleared exactly as
-- the owner's reaper (reap_terminal_workers, newer releases) clears it, a compare-and-swap on
-- the pid and the fingerprint read before the signal. No row changed: the owner's reaper (or
-- another reap) got there first.
UPDATE task_runs SET worker_pid = NULL, worker_started_at = NULL
WHERE id = ?1 AND worker_pid = ?2 AND worker_started_at = ?3
