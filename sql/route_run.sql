-- GET /runs/{run_id}: the run as the owner's API answers it (owner_runs: the owner's 16 Run
-- fields in order, then worker_started_at where the board has it; never an unknown column).
SELECT * FROM owner_runs WHERE id = ?1
