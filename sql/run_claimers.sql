-- run_claimers: every open claim (a running run) with its claimer, the dispatcher
-- (`<host>:<pid>`: the owner writes the claiming process's pid, not the worker's), and whether
-- that process still runs where the claim is this host's (run_claims.local, with a host
-- named). Installed as a TEMP view; GET /workers/active?live=1 answers it on each worker.
-- No lock the dispatcher takes is touched: its pid is read in /proc (proc_stats: `stat`
-- alone), the board not written.
--
-- The owner's dispatcher extends a live host-local claim each tick and reaps its dead
-- workers; when the process that claimed it is gone (a gateway restart, #108927), no one
-- extends that claim or reaps its worker until the claim expires. A pid alive now is the
-- claimer only if it started before the claim did (with 2 s for the clock's rounding): a
-- process started after the run's started_at has a reused pid, and the claimer is gone.
-- Each claimer pid is read once, however many claims name it (a dispatcher claims many).
CREATE TEMP VIEW run_claimers AS
WITH y AS {materialized} (
    SELECT c.id AS run_id, c.task_id, c.claim_lock, c.worker_host, c.started_at,
           coalesce(c.local = 1 AND c.worker_host IS NOT NULL, 0) AS here,
           CASE WHEN instr(c.claim_lock, ':') > 0
                     AND substr(c.claim_lock, instr(c.claim_lock, ':') + 1) <> ''
                     AND substr(c.claim_lock, instr(c.claim_lock, ':') + 1) NOT GLOB '*[^0-9]*'
                     AND length(substr(c.claim_lock, instr(c.claim_lock, ':') + 1)) <= 7
                     AND CAST(substr(c.claim_lock, instr(c.claim_lock, ':') + 1) AS INTEGER)
                         BETWEEN 1 AND 4194304
                THEN CAST(substr(c.claim_lock, instr(c.claim_lock, ':') + 1) AS INTEGER)
           END AS claimer_pid
    FROM run_claims AS c
    WHERE c.status = 'running' AND c.ended_at IS NULL
),
s AS {materialized} (
    SELECT d.pid, p.alive, p.reason, p.start_time
    FROM (SELECT DISTINCT claimer_pid AS pid FROM y WHERE here AND claimer_pid IS NOT NULL) AS d
    JOIN proc_stats(d.pid) AS p
)
SELECT x.run_id, x.task_id, x.claim_lock, x.worker_host AS claimer_host, x.claimer_pid,
       CASE WHEN NOT x.here OR x.claimer_pid IS NULL THEN NULL
            WHEN x.alive = 1 AND NOT x.later THEN 1
            ELSE 0
       END AS claimer_alive,
       CASE WHEN x.claim_lock IS NULL THEN 'no claim'
            WHEN NOT x.here THEN NULL
            WHEN x.claimer_pid IS NULL THEN 'the claim names no dispatcher pid'
            WHEN x.alive = 1 AND NOT x.later THEN NULL
            WHEN x.alive = 1
                THEN 'the dispatcher that claimed it (' || x.claim_lock || ') is gone: pid '
                     || x.claimer_pid || ' is another process now (started after the claim);'
                     || ' no one extends this claim or reaps its worker'
            ELSE 'the dispatcher that claimed it (' || x.claim_lock || ') is gone ('
                 || coalesce(x.reason, 'no such process')
                 || '): no one extends this claim or reaps its worker'
       END AS claimer_note
FROM (
    SELECT y.*, s.alive, s.reason,
           -- Alive, but started after the claim was made: not the claimer.
           coalesce(typeof(y.started_at) IN ('integer', 'real')
                    AND s.start_time > y.started_at + 2, 0) AS later
    FROM y
    LEFT JOIN s ON y.here AND s.pid = y.claimer_pid
) AS x;
