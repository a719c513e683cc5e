-- GET /runs/{run_id}: every column of the run, in table order (newer boards have more).
SELECT * FROM task_runs WHERE id = ?1
