-- owner_runs: every task_runs row as the board owner's API answers it (GET /runs/{id}): the
-- owner's Run fields, 16 in hermes-agent 0.19.0 and still 16 in the newer releases
-- (0.20-0.21.x), in the Run's order, then worker_started_at (the worker's fingerprint) where
-- the board has that column. Never another column: one the owner adds later may hold what its
-- API redacts (an opt-in run activity snapshot is on its way), so it is not answered until it
-- is named here. Installed as a TEMP view; {worker_started_at_column} is replaced at install
-- (`, r.worker_started_at AS worker_started_at`, or nothing on boards without the column, so
-- a 0.19.0 board answers exactly the owner's 16 keys).
CREATE TEMP VIEW owner_runs AS
SELECT r.id, r.task_id, r.profile, r.step_key, r.status, r.claim_lock, r.claim_expires,
       r.worker_pid, r.max_runtime_seconds, r.last_heartbeat_at, r.started_at, r.ended_at,
       r.outcome, r.summary, r.metadata, r.error{worker_started_at_column}
FROM task_runs AS r;
