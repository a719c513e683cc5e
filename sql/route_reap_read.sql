-- POST /runs/{run_id}/reap: what the ended run left behind (lingering_workers), each process
-- with the start ticks it was read with (the reaper signals only the process that has them),
-- and `kept`: it is the worker the run kept (its worker_pid and fingerprint, newer boards),
-- whose evidence cleared once it is gone, as the owner's reaper clears it.
SELECT pid, start_ticks, signalable, refusal, cmdline,
       coalesce(evidence = 'fingerprint' OR evidence LIKE 'fingerprint, %', 0) AS kept
FROM lingering_workers
WHERE run_id = ?1
ORDER BY pid
