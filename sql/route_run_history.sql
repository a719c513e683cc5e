-- GET /runs/{run_id}/history: the run exists (its points are the shim's, kept from samples).
SELECT 1 FROM task_runs WHERE id = ?1
