-- GET /tasks/{task_id}/log: does the task exist (404 otherwise). ?1: the task id.
SELECT id FROM tasks WHERE id = ?1
