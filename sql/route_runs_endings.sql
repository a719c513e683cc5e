-- GET /runs/endings?since=<epoch>: the runs that ended since ?1, newest first, at most ?4,
-- each with how it ended in words (run_endings), and how many ended by each ending over the
-- whole window (`by_ending`, on each row; `total`).
--
-- ?2: the exit trailers the shim read from the task logs that run_endings.exit_log named
-- (`{"<run_id>": [code, the log's modification time]}`; `{}` at first): as /inspect takes it,
-- a code only for a run whose metadata has none, when the log was last written since the run
-- began; its kind from exit_code_kinds.
-- ?3: the OOM kills the shim saw in a run's scope while it ran (`{"<run_id>": n}`, from its
-- live samples): a run the board booked `crashed` whose scope counted one is `oom_killed`.
WITH w AS MATERIALIZED (
    SELECT e.*,
           CASE WHEN e.exit_code IS NULL AND e.exit_log IS NOT NULL
                     AND json_type(?2, '$."' || e.run_id || '"[0]') = 'integer'
                     AND json_extract(?2, '$."' || e.run_id || '"[1]') >= e.started_at
                THEN json_extract(?2, '$."' || e.run_id || '"[0]') END AS trailer_code,
           CASE WHEN json_type(?3, '$."' || e.run_id || '"') = 'integer'
                     AND json_extract(?3, '$."' || e.run_id || '"') > coalesce(e.oom_kills, 0)
                THEN json_extract(?3, '$."' || e.run_id || '"') END AS seen_oom
    FROM run_endings AS e
    WHERE e.ended_at >= ?1
),
r AS MATERIALIZED (
    SELECT w.run_id, w.task_id, w.task_title, w.task_assignee, w.profile, w.started_at,
           w.ended_at, w.duration_s, w.status, w.outcome,
           CASE WHEN w.seen_oom IS NOT NULL AND w.ending = 'crashed' THEN 'oom_killed'
                ELSE w.ending END AS ending,
           coalesce(w.exit_code, w.trailer_code) AS exit_code,
           CASE WHEN w.exit_code IS NOT NULL THEN w.exit_kind
                WHEN w.trailer_code IS NOT NULL
                    THEN coalesce((SELECT k.kind FROM exit_code_kinds AS k
                                   WHERE k.code = w.trailer_code), 'nonzero_exit')
           END AS exit_kind,
           coalesce(w.seen_oom, w.oom_kills) AS oom_kills,
           w.infrastructure, w.error,
           CASE WHEN w.seen_oom IS NOT NULL
                THEN w.words || '; the kernel OOM-killed ' || w.seen_oom
                     || CASE WHEN w.seen_oom = 1 THEN ' process' ELSE ' processes' END
                     || ' of its scope at its memory limit (the shim saw it)'
                ELSE w.words END AS words,
           CASE WHEN w.exit_code IS NULL AND w.trailer_code IS NULL THEN w.exit_log END
               AS exit_log
    FROM w
)
SELECT r.*,
       (SELECT count(*) FROM r) AS total,
       (SELECT json_group_array(json_object('ending', b.ending, 'count', b.n,
                                            'last_ended_at', b.last, 'words', b.words))
        FROM (SELECT ending, count(*) AS n, max(ended_at) AS last, words
              FROM r GROUP BY ending ORDER BY n DESC, ending) AS b) AS by_ending
FROM r
ORDER BY r.ended_at DESC, r.run_id DESC
LIMIT ?4
