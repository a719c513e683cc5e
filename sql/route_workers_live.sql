-- GET /workers/active?live=1 (and /metrics, and the history: one sample of it serves them
-- all): every worker running now with its verdict, live stats and process tree totals (the
-- live_workers view), oldest first. `verdict` is what kanban_workers_by_verdict counts a
-- worker under: alive, remote (another host's, nothing read), or why it is not alive.
-- `terminate_offer` says before the click what POST /runs/{id}/terminate would do, and
-- `terminate_note` why (the page and the Workers tab show both, one source): 'terminate' (a
-- worker whose identity holds: its processes are signalled, the task reclaimed), 'reclaim'
-- (its process is gone: nothing is signalled, the task is reclaimed), or NULL: the shim would
-- refuse (another host's worker, or an identity too weak to signal), and the note says why.
SELECT l.*,
       CASE WHEN alive = 1 THEN 'alive' WHEN alive IS NULL THEN 'remote' ELSE reason END
           AS verdict,
       CASE WHEN alive = 1 AND signalable THEN 'terminate'
            WHEN alive = 0 THEN 'reclaim'
       END AS terminate_offer,
       CASE WHEN alive IS NULL
                THEN 'another host''s worker: act on ' || coalesce(worker_host, 'its host')
            WHEN alive = 1 AND NOT signalable AND identity = 'started with the run'
                THEN 'identity rests on the spawn window: not signalled'
            WHEN alive = 1 AND NOT signalable
                THEN 'identity ' || coalesce(identity, 'unverified') || ': not signalled'
            WHEN alive = 0
                THEN 'process gone (' || coalesce(reason, 'not found')
                     || '): terminate reclaims only'
       END AS terminate_note,
       -- Is anyone dispatching it? The claimer of a host-local claim, alive or gone
       -- (run_claimers).
       c.claimer_pid, c.claimer_alive, c.claimer_note
FROM live_workers AS l
LEFT JOIN run_claimers AS c ON c.run_id = l.run_id
ORDER BY l.started_at, l.run_id
