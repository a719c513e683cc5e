-- GET /workers/active?live=1 (and /metrics, and the history: one sample of it serves them
-- all): every worker running now with its verdict, live stats and process tree totals (the
-- live_workers view), oldest first. `verdict` is what kanban_workers_by_verdict counts a
-- worker under: alive, remote (another host's, nothing read), or why it is not alive.
SELECT *,
       CASE WHEN alive = 1 THEN 'alive' WHEN alive IS NULL THEN 'remote' ELSE reason END
           AS verdict
FROM live_workers ORDER BY started_at, run_id
