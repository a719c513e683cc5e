-- lingering_workers: every live process (zombies left out) that a run of this board left
-- behind: the worker an ended run kept (kept_workers: its pid and fingerprint, the newer
-- releases' boards), found first, whether or not it carries marks; then every process that
-- belongs (run_processes: the run's fingerprint, its environment, its log file, the spawned
-- event) to a run that has ended, or to a task that has no open run. Installed as a TEMP
-- view. What GET /workers/lingering answers and POST /runs/{id}/reap ends.
--
-- may_signal / refusal: whether the shim's signal rules (SECURITY.md; enforced where the
-- signal is sent, by reaper::Policy, checked again before each signal) allow a signal, from
-- the inputs they read: the evidence must be strong (signalable), then never a kernel
-- thread, never pid 1 of a pid namespace (nor one whose status is unreadable), and only the
-- board owner's real uid. The reaper also refuses the shim itself, its ancestors and its
-- session and process group, which SQL does not know.
--
-- ended_but_alive: the board called the run's worker dead, or took its task back (the run
-- ended crashed, stale, timed_out or reclaimed), while this process, proven the run's by its
-- fingerprint or its environment (signalable), still runs: a duplicate worker in the making
-- (the owner's sweep booking live workers crashed, #110357). open_run_id: the task's open run
-- now, a later claim, when it has one: then two workers work one task.
CREATE TEMP VIEW lingering_workers AS
WITH marked AS {materialized} (SELECT * FROM run_processes),
kept AS {materialized} (SELECT * FROM kept_workers)
SELECT run_id, task_id, task_status, task_title, ended_at, outcome, pid, ppid, start_ticks,
       evidence, signalable, cmdline, rss_bytes, cpu_percent, outlived_s, uid,
       refusal IS NULL AS may_signal, refusal,
       coalesce(run_id IS NOT NULL AND signalable
                AND outcome IN ('crashed', 'stale', 'timed_out', 'reclaimed'), 0)
           AS ended_but_alive,
       (SELECT max(o.id) FROM task_runs AS o
        WHERE o.task_id = lw.task_id AND o.ended_at IS NULL) AS open_run_id
FROM (
    SELECT *,
           CASE WHEN NOT signalable
                THEN 'the evidence (' || coalesce(evidence, 'none') || ') does not prove it '
                     || 'is the run''s: only its environment or the run''s fingerprint does'
                WHEN kernel_thread IS NOT 0 THEN 'a kernel thread'
                WHEN namespace_init IS 1 THEN 'pid 1 of a pid namespace (an init)'
                WHEN namespace_init IS NOT 0
                THEN 'not known not to be a namespace''s init (its status is unreadable)'
                WHEN uid IS NULL THEN 'its real uid could not be read'
                WHEN uid IS NOT owner_uid
                THEN 'real uid ' || uid || ', not the board owner''s (' || owner_uid || ')'
           END AS refusal
    FROM (
        SELECT * FROM marked
        UNION ALL
        -- A kept worker whose marks were not read (none, or not readable): its run's.
        SELECT * FROM kept AS k
        WHERE NOT EXISTS (SELECT 1 FROM marked AS m
                          WHERE m.pid = k.pid AND m.start_ticks = k.start_ticks)
    ) AS p
    WHERE (p.run_id IS NOT NULL AND p.ended_at IS NOT NULL)
       OR (p.run_id IS NULL AND p.task_id IS NOT NULL
           AND NOT EXISTS (SELECT 1 FROM task_runs AS o
                           WHERE o.task_id = p.task_id AND o.ended_at IS NULL))
) AS lw
ORDER BY ended_at, run_id, pid;
