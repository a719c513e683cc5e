-- GET /runs/{run_id}/processes: the run's processes now, one row each: its worker's tree
-- (member 'worker' at depth 0, then 'tree'), read only when the worker is alive and is the
-- run's (run_verdicts), then every process of the owner whose spawn marks tie it to the run
-- but that is outside that tree (member 'escaped', with the evidence; run_processes), and the
-- worker an ended run kept, found by its fingerprint (kept_workers, when its marks were not
-- read), and every other process of the run's proven systemd scope (member 'escaped', evidence
-- 'scope': a double-forked child that cleared its environment, closed its fds and left the
-- session is found only there). The scope (proc_scope: the owner's name for the run, the
-- process inside, the owner's part of the tree) is proven by the run's verified worker
-- (signalable) while it runs, and once the run has ended by each process its own evidence
-- proves the run's (the kept worker by its fingerprint, or one whose environment names the
-- run), as lingering_workers proves it. A process of the tree or of the marks that is in the
-- scope says so too: `scope` for a member of the tree, after its evidence for the others.
-- The first column is the run's id: an unknown run has no row, a run with no process one row
-- whose pid is null. Only the board owner's processes (run_verdicts.owner_uid) are listed,
-- and nothing says how many others there were: the shim may read what the owner could not
-- (hidepid, root), and a board writer naming root's pid must learn nothing of its tree.
WITH v AS MATERIALIZED (
    SELECT pid, alive, signalable, owner_uid, start_ticks, task_id
    FROM run_verdicts WHERE run_id = ?1
),
tree AS (
    SELECT t.pid, t.ppid, t.depth,
           CASE WHEN t.depth = 0 THEN 'worker' ELSE 'tree' END AS member,
           t.state, t.cmdline, t.cpu_percent, t.rss_bytes, t.num_threads, t.start_time, t.uid
    FROM v JOIN proc_tree(v.pid) AS t
    WHERE v.alive = 1
),
marked AS MATERIALIZED (SELECT * FROM run_processes AS p WHERE p.run_id = ?1),
kept AS MATERIALIZED (
    SELECT * FROM kept_workers AS k
    WHERE k.run_id = ?1 AND k.pid NOT IN (SELECT pid FROM marked)
),
anchors AS (
    SELECT v.pid, v.start_ticks, v.task_id, v.owner_uid FROM v WHERE v.signalable
    UNION
    SELECT p.pid, p.start_ticks, p.task_id, p.owner_uid FROM marked AS p
    WHERE p.signalable AND p.ended_at IS NOT NULL
    UNION
    SELECT k.pid, k.start_ticks, k.task_id, k.owner_uid FROM kept AS k
),
in_scope AS MATERIALIZED (
    SELECT DISTINCT CAST(j.value AS INTEGER) AS pid
    FROM anchors AS a
    JOIN proc_scope(a.pid, a.start_ticks, a.task_id, ?1, a.owner_uid) AS s
    JOIN json_each(s.members) AS j
    WHERE s.evidence = 'scope'
),
scoped AS (
    SELECT p.pid, p.ppid, p.state, p.cmdline, p.cpu_percent, p.rss_bytes, p.start_time, p.uid
    FROM in_scope AS c
    JOIN proc_stats(c.pid) AS p
    WHERE p.alive = 1
)
SELECT r.id AS run_id, m.*
FROM task_runs AS r
LEFT JOIN (
    SELECT t.pid, t.ppid, t.depth, t.member,
           CASE WHEN t.pid IN (SELECT pid FROM in_scope) THEN 'scope' END AS evidence,
           t.state, t.cmdline, t.cpu_percent, t.rss_bytes, t.num_threads, t.start_time, t.uid
    FROM tree AS t
    UNION ALL
    SELECT p.pid, p.ppid, NULL, 'escaped',
           CASE WHEN p.pid IN (SELECT pid FROM in_scope)
                THEN coalesce(p.evidence || ', ', '') || 'scope' ELSE p.evidence END,
           p.state, p.cmdline, p.cpu_percent, p.rss_bytes, NULL, p.start_time, p.uid
    FROM (SELECT * FROM marked UNION ALL SELECT * FROM kept) AS p
    WHERE p.pid NOT IN (SELECT pid FROM tree)
    UNION ALL
    SELECT c.pid, c.ppid, NULL, 'escaped', 'scope', c.state, c.cmdline, c.cpu_percent,
           c.rss_bytes, NULL, c.start_time, c.uid
    FROM scoped AS c
    WHERE c.pid NOT IN (SELECT pid FROM tree) AND c.pid NOT IN (SELECT pid FROM marked)
      AND c.pid NOT IN (SELECT pid FROM kept)
) AS m ON m.uid IS (SELECT owner_uid FROM v)
WHERE r.id = ?1
ORDER BY m.depth IS NULL, m.depth, m.pid
