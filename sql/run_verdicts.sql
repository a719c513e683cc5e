-- run_verdicts: every run with the verdict on its worker, written once for every route.
-- Installed as a TEMP view. Select it by run_id (SQLite reads that one run); a scan of it
-- reads every run.
--
-- A run's worker is read (proc_stats) only when the run is open, its claim is this host's
-- (or names no host) and its pid is an integer in the kernel's range. Then, for a live
-- process, `identity` says why it is the run's worker, or it is not and the pid was reused:
--   fingerprint recorded (worker_started_at):
--     '<epoch>|<ticks>' (the owner's form): verified when it equals the process's
--       proc_stats.fingerprint, else pid reused (another process, or the host rebooted);
--     an integer (older rows): verified when the start ticks are within 200 (2 s), else reused;
--     'unverified', or anything malformed: alive, 'unverified';
--   no fingerprint (NULL, or a board without the column; hermes-agent 0.19.0 writes none):
--     the owner's spawn marks are read (proc_marks): 'spawn marks' when the process's
--     environment names this run (HERMES_KANBAN_RUN_ID) and this board (HERMES_KANBAN_DB,
--     the same file however spelled), and it started no earlier than 2 s before the run's
--     started_at; else 'started with the run' when it started within
--     kanban_workers_spawn_window() seconds after it (alive, but the window alone is weak
--     evidence: such a worker is never signalled); else pid reused;
--   start unreadable: 'unverified'.
-- `evidence` says which evidence held for a live worker: 'fingerprint', or a list of
-- 'environment', 'log file' (stdout is <logs>/<task_id>.log), 'session leader',
-- 'dispatcher parent' (its parent is the pid in claim_lock), 'spawn window'.
-- `signalable`: the identity holds strongly enough for a signal ('verified' or 'spawn
-- marks'); the signal itself has rules of its own (SECURITY.md) checked where it is sent.
-- `reason` says why a worker is not alive (alive 0), or that it is another host's (alive
-- NULL, nothing read); NULL when alive. `wedged` (alive workers only): no heartbeat for over
-- an hour (since started_at when there was none), the claim expired, or past
-- max_runtime_seconds; `wedged_reason` names each, with by how much.
--
-- worker_host and local come from run_claims (sql/run_claims.sql).
--
-- {worker_started_at} is replaced at install: r.worker_started_at on boards that have the
-- column, NULL on older ones.
CREATE TEMP VIEW run_verdicts AS
SELECT run_id, run_status, task_id, started_at, ended_at, worker_pid, worker_host, local, host_note,
       worker_started_at, alive, reason, identity, evidence,
       coalesce(alive = 1 AND identity IN ('verified', 'spawn marks'), 0) AS signalable,
       CASE WHEN alive = 1 THEN worker_pid END AS pid,
       CASE WHEN alive = 1 THEN start_ticks END AS start_ticks,
       status, cpu_percent, cpu_seconds, rss_bytes, vms_bytes, num_threads, num_fds,
       start_time, cmdline,
       error,
       CASE WHEN ended_at IS NULL THEN now - last_heartbeat_at END AS heartbeat_age_s,
       CASE WHEN ended_at IS NULL THEN claim_expires - now END AS claim_expires_in_s,
       CASE WHEN ended_at IS NULL THEN now - started_at END AS runtime_s,
       CASE WHEN alive = 1 THEN wedged_reason IS NOT NULL END AS wedged,
       CASE WHEN alive = 1 THEN wedged_reason END AS wedged_reason,
       owner_uid
FROM (
    SELECT *,
           CASE WHEN reason IS NULL THEN 1
                WHEN ended_at IS NULL AND worker_pid IS NOT NULL AND NOT local THEN NULL
                ELSE 0
           END AS alive,
           nullif(rtrim(
               CASE WHEN now - coalesce(last_heartbeat_at, started_at) > 3600
                    THEN CASE WHEN last_heartbeat_at IS NULL
                              THEN 'no heartbeat since the start, '
                                   || (now - started_at) || ' s ago (over 3600 s); '
                              ELSE 'no heartbeat for ' || (now - last_heartbeat_at)
                                   || ' s (over 3600 s); '
                         END
                    ELSE '' END
            || CASE WHEN claim_expires < now
                    THEN 'claim expired ' || (now - claim_expires) || ' s ago; ' ELSE '' END
            || CASE WHEN max_runtime_seconds > 0 AND now - started_at > max_runtime_seconds
                    THEN 'past max_runtime_seconds (' || max_runtime_seconds || ') by '
                         || (now - started_at - max_runtime_seconds) || ' s; '
                    ELSE '' END,
               '; '), '') AS wedged_reason
    FROM (
        SELECT *,
               CASE WHEN ended_at IS NOT NULL THEN 'run already ended'
                    WHEN worker_pid IS NULL THEN 'no worker_pid recorded'
                    -- A note on a run that is not this host's: machine ids decided.
                    WHEN NOT local AND host_note IS NOT NULL
                        THEN 'worker runs on another machine: ' || host_note
                    WHEN NOT local THEN 'worker runs on host ' || worker_host
                    WHEN typeof(worker_pid) <> 'integer' THEN 'invalid worker_pid'
                    WHEN p_alive IS NOT 1 THEN 'process not found'
                    WHEN identity IS NULL THEN 'pid reused'
               END AS reason,
               CASE WHEN identity = 'verified' THEN 'fingerprint'
                    WHEN identity IN ('spawn marks', 'started with the run') THEN
                        rtrim(CASE WHEN env_mark THEN 'environment, ' ELSE '' END
                           || CASE WHEN log_mark THEN 'log file, ' ELSE '' END
                           || CASE WHEN session_mark THEN 'session leader, ' ELSE '' END
                           || CASE WHEN dispatcher_mark THEN 'dispatcher parent, ' ELSE '' END
                           || CASE WHEN in_window THEN 'spawn window' ELSE '' END,
                              ', ')
               END AS evidence
        FROM (
            SELECT *,
                   CASE WHEN p_alive IS NOT 1 THEN NULL
                        WHEN start_ticks IS NULL THEN 'unverified'
                        WHEN worker_started_at IS NULL THEN
                            CASE WHEN start_time < started_at - 2 THEN NULL
                                 WHEN env_mark THEN 'spawn marks'
                                 WHEN in_window THEN 'started with the run' END
                        WHEN typeof(worker_started_at) NOT IN ('integer', 'text')
                          OR length(worker_started_at) > 200 THEN 'unverified'
                        WHEN worker_started_at = 'unverified' THEN 'unverified'
                        WHEN CAST(worker_started_at AS TEXT) GLOB '[0-9]*'
                         AND CAST(worker_started_at AS TEXT) NOT GLOB '*[^0-9]*' THEN
                            CASE WHEN abs(start_ticks - CAST(worker_started_at AS INTEGER)) <= 200
                                 THEN 'verified' END
                        WHEN worker_started_at GLOB '*:*|[0-9]*'
                         AND substr(worker_started_at, instr(worker_started_at, '|') + 1)
                             NOT GLOB '*[^0-9]*' THEN
                            CASE WHEN worker_started_at = fingerprint THEN 'verified' END
                        ELSE 'unverified'
                   END AS identity
            FROM (
                SELECT r.id                  AS run_id,
                       r.status              AS run_status,
                       kanban_workers_file_owner(kanban_workers_board_file()) AS owner_uid,
                       r.task_id             AS task_id,
                       r.started_at_s        AS started_at,
                       r.ended_at_s          AS ended_at,
                       r.worker_pid          AS worker_pid,
                       r.claim_expires_s     AS claim_expires,
                       r.last_heartbeat_at_s AS last_heartbeat_at,
                       r.max_runtime_seconds AS max_runtime_seconds,
                       {worker_started_at}   AS worker_started_at,
                       r.worker_host         AS worker_host,
                       r.local               AS local,
                       r.host_note           AS host_note,
                       p.alive               AS p_alive,
                       p.state               AS status,
                       p.cpu_percent         AS cpu_percent,
                       p.cpu_user_s + p.cpu_system_s AS cpu_seconds,
                       p.rss_bytes           AS rss_bytes,
                       p.vms_bytes           AS vms_bytes,
                       p.num_threads         AS num_threads,
                       -- What the board's owner could read: another user's fds are not
                       -- (the shim may run as root; kanban_workers_file_owner: lstat).
                       CASE WHEN kanban_workers_file_owner(kanban_workers_board_file()) IS NULL
                              OR p.uid = kanban_workers_file_owner(kanban_workers_board_file())
                            THEN p.num_fds
                       END                   AS num_fds,
                       p.start_time          AS start_time,
                       p.start_ticks         AS start_ticks,
                       p.fingerprint         AS fingerprint,
                       p.cmdline             AS cmdline,
                       CASE WHEN p.alive = 1
                             AND kanban_workers_file_owner(kanban_workers_board_file()) IS NOT NULL
                             AND p.uid IS NOT kanban_workers_file_owner(kanban_workers_board_file())
                            THEN coalesce(p.error, 'access denied') ELSE p.error
                       END                   AS error,
                       -- The query's time, read once (each strftime is a call).
                       CAST(strftime('%s', 'now') AS INTEGER) AS now,
                       p.start_time >= r.started_at_s - 2
                           AND p.start_time <= r.started_at_s + kanban_workers_spawn_window()
                                             AS in_window,
                       -- The marks, when they are the same process's (the same start ticks).
                       CASE WHEN m.start_ticks = p.start_ticks THEN
                           m.env_run_id = CAST(r.id AS TEXT)
                           AND kanban_workers_same_file(m.env_board, kanban_workers_board_file())
                       END                   AS env_mark,
                       CASE WHEN m.start_ticks = p.start_ticks THEN
                           substr(m.stdout, -length('/logs/' || r.task_id || '.log'))
                               = '/logs/' || r.task_id || '.log'
                       END                   AS log_mark,
                       CASE WHEN m.start_ticks = p.start_ticks THEN m.session = p.pid
                       END                   AS session_mark,
                       CASE WHEN m.start_ticks = p.start_ticks THEN
                           CAST(p.ppid AS TEXT)
                               = substr(r.claim_lock, instr(r.claim_lock, ':') + 1)
                       END                   AS dispatcher_mark
                -- The board's file (the main database's, kept by the connection) and its
                -- owner are constants of the query (deterministic functions of nothing):
                -- SQLite computes each once a query. No join: a one-row table of them had
                -- to be materialized at each query, and put first it made SQLite sort the
                -- groups (a third of a live run's /inspect).
                FROM run_claims AS r
                LEFT JOIN proc_stats(
                    CASE WHEN r.ended_at_s IS NULL
                          AND r.local
                          AND typeof(r.worker_pid) = 'integer'
                          AND r.worker_pid BETWEEN 1 AND 4194304
                         THEN r.worker_pid END
                ) AS p
                -- The owner's spawn marks, read only for a live worker without a fingerprint.
                LEFT JOIN proc_marks(
                    CASE WHEN p.alive = 1 AND {worker_started_at} IS NULL THEN p.pid END
                ) AS m
            )
            -- One row a run: grouped so that this level and the one within it are computed
            -- once, their columns kept, and not flattened into every reference of the levels
            -- above (each of which would evaluate run_claims' rules and read proc_stats again:
            -- an inspection cost twice as much; and `identity`, read by `reason`, `evidence`
            -- and `signalable`, and by `alive` through `reason`, again at each: grouped one
            -- level further in, a live run's verdict took 990 steps of SQLite's machine, here
            -- 812, by sqlite3 3.40.1's `.stats`). A query that reads no verdict column pays
            -- for `identity` too (the reap's read: a few percent). One level only: SQLite
            -- pushes a select's `run_id = ?` and `run_status = ?` down into it (as the board's
            -- index lookups), and would not through a second.
            GROUP BY run_id, run_status
        )
    )
);
