-- GET /workers/lingering: every process a run left behind (the lingering_workers view).
SELECT * FROM lingering_workers ORDER BY ended_at, run_id, pid
