-- The reclaim, 3 of 3: a 'reclaimed' event, marked manual, with what was done.
INSERT INTO task_events (task_id, run_id, kind, payload, created_at)
VALUES (?1, ?2, 'reclaimed', ?3, ?4)
