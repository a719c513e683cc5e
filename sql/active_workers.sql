-- active_workers: every worker running now.
-- Installed as a TEMP view by the extension at load time (nothing is written to the database
-- file). Open runs (ended_at IS NULL) with a recorded worker_pid whose task is 'running':
-- the reference dashboard's rows and keys, plus worker_host and local. Unordered, so that
-- SQLite can flatten it into a join (live_workers looks each one's verdict up by run_id);
-- order it where it is read (GET /workers/active: oldest first, ORDER BY started_at, run_id).
--
-- The runs are reached by the board's idx_runs_status (status = 'running'), so the cost
-- follows the number of open runs, however long the history of each task; CROSS JOIN keeps
-- SQLite from starting at tasks and reading every earlier run of each running task. Every run
-- the owner's lifecycle leaves open has status 'running' (ending a run sets ended_at and its
-- final status together); an open run with another status (not written by the owner) is
-- left out. docs/sql.md says so.
--
-- worker_host and local come from run_claims (sql/run_claims.sql).
CREATE TEMP VIEW active_workers AS
SELECT
    r.id                  AS run_id,
    r.task_id             AS task_id,
    t.title               AS task_title,
    t.status              AS task_status,
    t.assignee            AS task_assignee,
    r.profile             AS profile,
    r.worker_pid          AS worker_pid,
    r.started_at          AS started_at,
    r.claim_lock          AS claim_lock,
    r.claim_expires       AS claim_expires,
    r.last_heartbeat_at   AS last_heartbeat_at,
    r.max_runtime_seconds AS max_runtime_seconds,
    r.worker_host         AS worker_host,
    r.local               AS local
FROM run_claims AS r
CROSS JOIN tasks AS t
WHERE r.status = 'running'
  AND r.ended_at IS NULL
  AND r.worker_pid IS NOT NULL
  AND t.id = r.task_id
  AND t.status = 'running';
