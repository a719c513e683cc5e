-- GET /workers/active?live=1: every worker running now with its verdict, live stats and
-- process tree totals (the live_workers view), oldest first.
SELECT * FROM live_workers ORDER BY started_at, run_id
