-- run_exits: how each ended run's worker exited, as far as the board says it, and whether its
-- task's log may still tell (the exit trailer). Installed as a TEMP view; GET
-- /runs/{id}/inspect and GET /runs/endings read it (one rule for both).
--
-- The newer releases (0.20-0.21.x) record it: exit_code and exit_kind in the run's metadata
-- (the owner's dispatcher writes exit_code, and exit_kind but for a rate-limited or a clean
-- exit). Otherwise the exit trailer its worker wrote as the last line of the task's log
-- (`[kanban-worker-exit] rc=N`) may tell, and exit_log names the task whose log to read: the
-- run has ended, its metadata says nothing of an exit, it is the task's latest run (the log
-- is the task's, appended to by every run), a worker was spawned for it (its `spawned` or
-- `worker_registered` event; a `spawn_failed` run had none), and its kept,
-- fingerprint-verified worker does not run any more (it has not exited yet). The reader then
-- takes the trailer's code only when the log was last written since the run began (an
-- earlier run's trailer is not this run's), and its kind from exit_code_kinds.
CREATE TEMP VIEW run_exits AS
SELECT x.run_id, x.task_id, x.started_at, x.ended_at,
       x.meta_code AS exit_code,
       CASE WHEN x.meta_code IS NULL THEN NULL
            WHEN x.meta_kind IS NOT NULL THEN x.meta_kind
            ELSE coalesce((SELECT k.kind FROM exit_code_kinds AS k WHERE k.code = x.meta_code),
                          'nonzero_exit')
       END AS exit_kind,
       CASE WHEN x.meta_code IS NULL
                 AND coalesce(x.outcome, '') <> 'spawn_failed'
                 AND coalesce(x.status, '') <> 'spawn_failed'
                 AND x.spawned_at IS NOT NULL AND NOT x.later AND NOT x.kept_alive
            THEN x.task_id END AS exit_log
FROM (
    SELECT r.id AS run_id, r.task_id, r.outcome, r.status, r.started_at, r.ended_at,
           CASE WHEN json_valid(r.metadata)
                     AND json_type(r.metadata, '$.exit_code') = 'integer'
                THEN json_extract(r.metadata, '$.exit_code') END AS meta_code,
           CASE WHEN json_valid(r.metadata)
                     AND json_type(r.metadata, '$.exit_kind') = 'text'
                THEN json_extract(r.metadata, '$.exit_kind') END AS meta_kind,
           (SELECT max(ev.created_at) FROM task_events AS ev
            WHERE ev.task_id = r.task_id AND ev.run_id = r.id
              AND ev.kind IN ('spawned', 'worker_registered')) AS spawned_at,
           EXISTS (SELECT 1 FROM task_runs AS l
                   WHERE l.task_id = r.task_id AND l.id > r.id) AS later,
           -- The kept worker, read straight from the row (not through run_verdicts, whose
           -- every column would be compiled into this query again).
           EXISTS (SELECT 1
                   FROM proc_stats(CASE WHEN typeof(r.worker_pid) = 'integer'
                                         AND r.worker_pid BETWEEN 1 AND 4194304
                                         AND typeof({worker_started_at}) = 'text'
                                    THEN r.worker_pid END) AS p
                   WHERE p.alive = 1 AND p.fingerprint = {worker_started_at}) AS kept_alive
    FROM task_runs AS r
    WHERE r.ended_at IS NOT NULL
) AS x;
