-- POST /runs/{run_id}/reap: what the ended run left behind (lingering_workers), each process
-- with the start ticks it was read with (the reaper signals only the process that has them).
SELECT pid, start_ticks, signalable, refusal, cmdline
FROM lingering_workers
WHERE run_id = ?1
ORDER BY pid
