-- active_workers: every worker running now.
-- Installed as a TEMP view by the extension at load time (nothing is written to the database
-- file). Open runs (ended_at IS NULL) with a recorded worker_pid whose task is 'running',
-- oldest first: the same rows and keys as the reference dashboard's GET /workers/active.
--
-- CROSS JOIN fixes the join order: start from tasks.status = 'running' (the board's
-- idx_tasks_status) and reach task_runs through idx_runs_task(task_id, started_at), so the
-- cost follows the number of running tasks, not the length of task_runs' history.
--
-- worker_host is the host part of claim_lock ("<host>:<pid>"): what precedes the first ':'
-- (host names have none); NULL when claim_lock is NULL, has no ':', or starts with one.
CREATE TEMP VIEW IF NOT EXISTS active_workers AS
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
    CASE WHEN instr(r.claim_lock, ':') > 1
         THEN substr(r.claim_lock, 1, instr(r.claim_lock, ':') - 1)
    END                   AS worker_host
FROM tasks AS t
CROSS JOIN task_runs AS r
WHERE t.status = 'running'
  AND r.task_id = t.id
  AND r.ended_at IS NULL
  AND r.worker_pid IS NOT NULL
ORDER BY r.started_at, r.id;
