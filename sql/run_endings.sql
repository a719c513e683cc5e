-- run_endings: every ended run with how it ended, classed (`ending`) and said in words, from
-- what the board records: its outcome, error and metadata (the owner's dispatcher, 0.19.0 and
-- 0.20-0.21.x), and how its worker exited (run_exits: one rule with /runs/{id}/inspect).
-- Installed as a TEMP view; GET /runs/endings reads the last hours of it (`ended_at >= ?`).
-- No index covers `ended_at`: a read scans the board's runs once (the JSON of a run's
-- metadata is read for the runs in the window only).
--
-- ending (from the run's outcome, else its status):
--   spawn_refused  spawn_failed with metadata.infrastructure: the host refused the spawn (no
--                  restart-safe scope: the managed gateway without a user bus); the owner
--                  does not count it as a failure
--   spawn_failed   another spawn failure (a workspace that could not be made, an exec error)
--   rate_limited   the worker exited 75 (the quota wall): requeued without counting a failure
--   oom_killed     crashed, and the kernel's OOM killer killed processes of its scope (where
--                  the run's metadata counts it: oom_kills, or oom_killed true)
--   crashed        its worker died: exit code, signal, a terminal provider error (78), a
--                  clean exit without finishing (a protocol violation), or not known
--   timed_out      past its max runtime (SIGTERM, then SIGKILL)
--   gave_up        the breaker tripped: too many failures
--   completed      done; and blocked, review, reclaimed, stale, ... as the owner names them
CREATE TEMP VIEW run_endings AS
SELECT y.run_id, y.task_id, y.task_title, y.task_assignee, y.profile, y.started_at,
       y.ended_at, y.ended_at - y.started_at AS duration_s, y.status, y.outcome, y.ending,
       y.exit_code, y.exit_kind, y.oom_kills, y.infrastructure, y.error,
       CASE y.ending
           WHEN 'spawn_refused' THEN 'the host refused the spawn: '
               || coalesce(y.error, 'no reason recorded') || ' (not counted as a failure)'
           WHEN 'spawn_failed' THEN 'the spawn failed: ' || coalesce(y.error, 'no reason recorded')
           WHEN 'rate_limited'
               THEN 'rate-limited (exit 75): requeued without counting a failure'
           WHEN 'oom_killed' THEN 'OOM-killed: the kernel killed ' || y.oom_kills
               || CASE WHEN y.oom_kills = 1 THEN ' process' ELSE ' processes' END
               || ' of its scope at its memory limit; ' || y.crash
           WHEN 'crashed' THEN 'crashed: ' || y.crash
           WHEN 'timed_out' THEN 'timed out: ' || coalesce(y.error, 'past its max runtime')
               || CASE WHEN json_type(y.m, '$.sigkill') = 'true' THEN ' (SIGKILLed)' ELSE '' END
           WHEN 'gave_up' THEN 'gave up'
               || CASE WHEN json_type(y.m, '$.failures') = 'integer'
                       THEN ' after ' || json_extract(y.m, '$.failures')
                            || CASE WHEN json_extract(y.m, '$.failures') = 1 THEN ' failure'
                                    ELSE ' failures' END ELSE '' END
               || CASE WHEN json_type(y.m, '$.effective_limit') = 'integer'
                       THEN ' (limit ' || json_extract(y.m, '$.effective_limit') || ')' ELSE '' END
               || CASE WHEN json_type(y.m, '$.trigger_outcome') = 'text'
                       THEN ', the last ' || json_extract(y.m, '$.trigger_outcome') ELSE '' END
               || coalesce(': ' || y.error, '')
           WHEN 'completed' THEN 'completed'
           WHEN 'blocked' THEN 'blocked' || coalesce(': ' || substr(coalesce(y.summary, y.error), 1, 500), '')
           ELSE y.ending || coalesce(': ' || y.error, '')
       END
       || CASE WHEN y.oom_kills > 0 AND y.ending <> 'oom_killed'
               THEN '; the kernel OOM-killed ' || y.oom_kills
                    || CASE WHEN y.oom_kills = 1 THEN ' process' ELSE ' processes' END
                    || ' of its scope'
               ELSE '' END AS words,
       y.exit_log
FROM (
    SELECT z.*,
           CASE WHEN z.how = 'spawn_failed' AND z.infrastructure THEN 'spawn_refused'
                WHEN z.how = 'spawn_failed' THEN 'spawn_failed'
                WHEN z.how = 'rate_limited' THEN 'rate_limited'
                WHEN z.how = 'crashed' AND z.oom_kills > 0 THEN 'oom_killed'
                WHEN z.how IN ('completed', 'done') THEN 'completed'
                ELSE coalesce(z.how, 'ended')
           END AS ending,
           -- How a crashed worker died, in words.
           CASE WHEN z.exit_kind = 'terminal_provider' OR json_type(z.m, '$.terminal_provider') = 'true'
                    THEN 'the provider refused its credential or model (exit '
                         || coalesce(z.exit_code, 78) || ')'
                WHEN z.exit_kind = 'clean_exit' OR json_type(z.m, '$.protocol_violation') = 'true'
                    THEN 'its worker exited 0 without finishing its task (a protocol violation)'
                WHEN z.exit_kind = 'signaled' AND z.exit_code IS NOT NULL
                    THEN 'killed by signal ' || z.exit_code
                         || CASE z.exit_code WHEN 1 THEN ' (SIGHUP)' WHEN 2 THEN ' (SIGINT)'
                                 WHEN 6 THEN ' (SIGABRT)' WHEN 9 THEN ' (SIGKILL)'
                                 WHEN 11 THEN ' (SIGSEGV)' WHEN 15 THEN ' (SIGTERM)' ELSE '' END
                WHEN z.exit_code IS NOT NULL THEN 'exit code ' || z.exit_code
                ELSE coalesce(z.error, 'its worker was gone (how it exited is not known)')
           END AS crash
    FROM (
        SELECT x.run_id, x.task_id, t.title AS task_title, t.assignee AS task_assignee,
               r.profile, x.started_at, x.ended_at, r.status, r.outcome,
               coalesce(r.outcome, r.status) AS how, x.exit_code, x.exit_kind, x.exit_log,
               CASE WHEN json_valid(r.metadata) THEN r.metadata END AS m,
               CASE WHEN json_valid(r.metadata)
                         AND json_type(r.metadata, '$.oom_kills') = 'integer'
                         AND json_extract(r.metadata, '$.oom_kills') > 0
                        THEN json_extract(r.metadata, '$.oom_kills')
                    WHEN json_valid(r.metadata) AND json_type(r.metadata, '$.oom_killed') = 'true'
                        THEN 1
               END AS oom_kills,
               -- In a CASE, not coalesce(... AND ...): an AND outside a condition evaluates
               -- both sides, and json_type() of metadata that is not JSON is an error.
               CASE WHEN json_valid(r.metadata)
                         AND json_type(r.metadata, '$.infrastructure') = 'true'
                    THEN 1 ELSE 0 END AS infrastructure,
               substr(r.error, 1, 500) AS error, r.summary
        FROM run_exits AS x
        JOIN task_runs AS r ON r.id = x.run_id
        LEFT JOIN tasks AS t ON t.id = x.task_id
    ) AS z
) AS y;
