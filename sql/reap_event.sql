-- POST /runs/{run_id}/reap, with the kept worker's evidence cleared after a signal: the owner's
-- `terminal_worker_reaped` event (its reaper writes the same kind and payload keys), marked
-- manual.
INSERT INTO task_events (task_id, run_id, kind, payload, created_at)
VALUES (?1, ?2, 'terminal_worker_reaped', ?3, ?4)
