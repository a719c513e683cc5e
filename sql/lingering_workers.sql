-- lingering_workers: every live process (zombies left out) that a run of this board left
-- behind: the worker an ended run kept (kept_workers: its pid and fingerprint, the newer
-- releases' boards), found first, whether or not it carries marks; then every process that
-- belongs (run_processes: the run's fingerprint, its environment, its log file, the spawned
-- event) to a run that has ended, or to a task that has no open run; then every other process
-- of an ended run's proven systemd scope. Installed as a TEMP view. What GET
-- /workers/lingering answers and POST /runs/{id}/reap ends.
--
-- The scope (proc_scope: the owner's name for the task and run, the process inside, the board
-- owner's part of the tree): where the owner's spawn put the run in a scope of its own
-- (0.20+ under systemd), every process of it and its sub-cgroups is the run's, evidence
-- `scope`: a double-forked child that cleared its environment, closed its fds and left the
-- session is found only there. An ended run has no verified worker to prove it with, so each
-- process listed for it that its own evidence proves the run's (signalable: the kept worker
-- by its fingerprint, or a process whose environment names the run) is asked in turn; a scope
-- no such process is in proves nothing (the worker gone, what is left in its scope is not
-- found). A listed process in the proven scope gets `scope` after its own evidence (and is
-- signalable); the others are added with `scope` alone, their real uid read (proc_marks):
-- another user's (a set-uid program's child) is listed with its refusal but without its
-- command line, memory or CPU.
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
-- fingerprint, its environment or its scope (signalable), still runs: a duplicate worker in
-- the making (the owner's sweep booking live workers crashed, #110357). open_run_id: the
-- task's open run now, a later claim, when it has one: then two workers work one task.
CREATE TEMP VIEW lingering_workers AS
WITH marked AS {materialized} (SELECT * FROM run_processes),
kept AS {materialized} (SELECT * FROM kept_workers),
listed AS {materialized} (
    SELECT * FROM marked
    UNION ALL
    -- A kept worker whose marks were not read (none, or not readable): its run's.
    SELECT * FROM kept AS k
    WHERE NOT EXISTS (SELECT 1 FROM marked AS m
                      WHERE m.pid = k.pid AND m.start_ticks = k.start_ticks)
),
scoped AS {materialized} (
    -- The members of each ended run's proven scope, once a run, with the run's columns.
    SELECT DISTINCT a.run_id, a.task_id, a.task_status, a.task_title, a.started_at,
           a.ended_at, a.outcome, a.outlived_s, a.owner_uid, CAST(j.value AS INTEGER) AS pid
    FROM listed AS a
    JOIN proc_scope(a.pid, a.start_ticks, a.task_id, a.run_id, a.owner_uid) AS s
    JOIN json_each(s.members) AS j
    WHERE a.run_id IS NOT NULL AND a.ended_at IS NOT NULL AND a.signalable
      AND s.evidence = 'scope'
)
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
                     || 'is the run''s: only its environment, the run''s fingerprint or its '
                     || 'scope does'
                WHEN kernel_thread IS NOT 0 THEN 'a kernel thread'
                WHEN namespace_init IS 1 THEN 'pid 1 of a pid namespace (an init)'
                WHEN namespace_init IS NOT 0
                THEN 'not known not to be a namespace''s init (its status is unreadable)'
                WHEN uid IS NULL THEN 'its real uid could not be read'
                WHEN uid IS NOT owner_uid
                THEN 'real uid ' || uid || ', not the board owner''s (' || owner_uid || ')'
           END AS refusal
    FROM (
        SELECT l.pid, l.ppid, l.start_ticks, l.run_id, l.task_id, l.task_status, l.task_title,
               l.started_at, l.ended_at, l.outcome,
               CASE WHEN c.pid IS NULL THEN l.evidence
                    ELSE coalesce(l.evidence || ', ', '') || 'scope' END AS evidence,
               CASE WHEN c.pid IS NULL THEN l.signalable ELSE 1 END AS signalable,
               l.state, l.cmdline, l.rss_bytes, l.cpu_percent, l.start_time, l.outlived_s,
               l.uid, l.namespace_init, l.kernel_thread, l.owner_uid
        FROM listed AS l
        LEFT JOIN scoped AS c ON c.run_id = l.run_id AND c.pid = l.pid
        UNION ALL
        -- The scope's other processes (alive, not zombies), read now: their real uid and
        -- what the signal rules need from proc_marks, of the same process (start ticks).
        SELECT pid, ppid, start_ticks, run_id, task_id, task_status, task_title, started_at,
               ended_at, outcome, 'scope', 1, state,
               CASE WHEN ruid IS owner_uid THEN cmdline END,
               CASE WHEN ruid IS owner_uid THEN rss_bytes END,
               CASE WHEN ruid IS owner_uid THEN cpu_percent END,
               start_time, outlived_s, ruid, namespace_init, kernel_thread, owner_uid
        FROM (
            SELECT c.*, st.ppid, st.start_ticks, st.state, st.cmdline, st.rss_bytes,
                   st.cpu_percent, st.start_time,
                   CASE WHEN m.start_ticks = st.start_ticks THEN m.uid END AS ruid,
                   CASE WHEN m.start_ticks = st.start_ticks THEN m.namespace_init END
                       AS namespace_init,
                   CASE WHEN m.start_ticks = st.start_ticks THEN m.kernel_thread END
                       AS kernel_thread
            FROM scoped AS c
            JOIN proc_stats(c.pid) AS st ON st.alive = 1
            LEFT JOIN proc_marks(c.pid) AS m
            WHERE NOT EXISTS (SELECT 1 FROM listed AS l WHERE l.pid = c.pid)
        )
    ) AS p
    WHERE (p.run_id IS NOT NULL AND p.ended_at IS NOT NULL)
       OR (p.run_id IS NULL AND p.task_id IS NOT NULL
           AND NOT EXISTS (SELECT 1 FROM task_runs AS o
                           WHERE o.task_id = p.task_id AND o.ended_at IS NULL))
) AS lw
ORDER BY ended_at, run_id, pid;
