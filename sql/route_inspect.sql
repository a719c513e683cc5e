-- GET /runs/{run_id}/inspect: the run joined with its worker's live stats, and the verdict,
-- in one query. proc_stats is only asked about an open run's pid when it is an integer in the
-- kernel's range, so no stored value ever makes this query an SQL error: a pid that is not an
-- integer (a REAL such as 12.5, text, a blob) is 'invalid worker_pid', an integer no process
-- can have (0, a negative, beyond 4194304) is 'process not found'.
SELECT r.id          AS run_id,
       r.worker_pid  AS worker_pid,
       CASE
           WHEN r.ended_at IS NOT NULL THEN 'run already ended'
           WHEN r.worker_pid IS NULL THEN 'no worker_pid recorded'
           WHEN typeof(r.worker_pid) <> 'integer' THEN 'invalid worker_pid'
           WHEN p.alive IS NOT 1 THEN 'process not found'
       END           AS not_alive,
       p.reason      AS proc_reason,
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
    CASE WHEN r.ended_at IS NULL AND typeof(r.worker_pid) = 'integer'
              AND r.worker_pid BETWEEN 1 AND 4194304
         THEN r.worker_pid END
) AS p
WHERE r.id = ?1
