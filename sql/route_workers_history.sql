-- GET /workers/history: the active workers, in the list's order (their points are the
-- shim's, kept from samples of live_workers).
SELECT run_id FROM active_workers ORDER BY started_at, run_id
