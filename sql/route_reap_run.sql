-- POST /runs/{run_id}/reap, first: the run (run_verdicts: an ended run's row reads no
-- /proc), the worker pid and fingerprint it kept (newer boards keep them on an ended run
-- until the owner's reaper clears them), and the pid the owner's reaper says it ended: its
-- latest `terminal_worker_reaped` event of the run that is not a reap of ours (`manual`).
SELECT v.task_id, v.ended_at IS NOT NULL AS ended, v.worker_pid, v.worker_started_at,
       (SELECT CASE WHEN json_valid(e.payload) THEN json_extract(e.payload, '$.pid') END
        FROM task_events AS e
        WHERE e.task_id = v.task_id AND e.run_id = v.run_id
          AND e.kind = 'terminal_worker_reaped'
          -- CASE, not AND: SQLite evaluates both sides of an AND that is a value, and
          -- json_extract fails on a payload that is not JSON.
          AND NOT coalesce(CASE WHEN json_valid(e.payload)
                                THEN json_extract(e.payload, '$.manual') = 1 END, 0)
        ORDER BY e.id DESC LIMIT 1) AS owner_reaped_pid
FROM run_verdicts AS v
WHERE v.run_id = ?1
