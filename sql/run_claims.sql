-- run_claims: every run (every task_runs column) with the host its claim names and whether
-- that claim is this host's. Installed as a TEMP view: the one place these two rules are
-- written; active_workers and run_verdicts read them from here (SQLite flattens the view
-- into their queries, so the board's indexes still serve them).
--
-- worker_host: the host part of claim_lock ("<host>:<pid>"), what precedes the first ':'
-- (host names have none); NULL when claim_lock is NULL, has no ':', or starts with one
-- (substr(x, 1, -1) and substr(x, 1, 0) are both '').
-- local: the claim is this host's (kanban_workers_hostname()), or names no host (such a
-- claim is inspected locally, as the reference's routes do).
CREATE TEMP VIEW run_claims AS
SELECT *, (worker_host IS NULL OR worker_host = kanban_workers_hostname()) AS local
FROM (
    SELECT r.*,
           nullif(substr(r.claim_lock, 1, instr(r.claim_lock, ':') - 1), '') AS worker_host
    FROM task_runs AS r
);
