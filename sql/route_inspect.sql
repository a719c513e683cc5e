-- GET /runs/{run_id}/inspect: the run joined with its worker's live stats, in one query.
-- proc_stats is only asked about an open run's pid in the kernel's range: an ended run, a
-- missing pid or a nonsense pid give NULLs (no row from proc_stats), never an SQL error.
SELECT r.id          AS run_id,
       r.ended_at    AS ended_at,
       r.worker_pid  AS worker_pid,
       p.alive       AS alive,
       p.reason      AS reason,
       p.error       AS error,
       p.state       AS status,
       p.cpu_percent AS cpu_percent,
       p.rss_bytes   AS memory_rss_bytes,
       p.vms_bytes   AS memory_vms_bytes,
       p.num_threads AS num_threads,
       p.num_fds     AS num_fds,
       p.start_time  AS create_time,
       p.cmdline     AS cmdline
FROM task_runs AS r
LEFT JOIN proc_stats(
    CASE WHEN r.ended_at IS NULL AND r.worker_pid BETWEEN 1 AND 4194304 THEN r.worker_pid END
) AS p
WHERE r.id = ?1
