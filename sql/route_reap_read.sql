-- POST /runs/{run_id}/reap: what the ended run left behind (lingering_workers), each process
-- with the start ticks it was read with (the reaper signals only the process that has them),
-- `kept`: it is the worker the run kept (its worker_pid and fingerprint, newer boards),
-- whose evidence cleared once it is gone, as the owner's reaper clears it, and `anchor`: its
-- own evidence (the run's fingerprint, or its environment naming the run) proves it the
-- run's, so it may prove the run's scope (the reaper proves it again, from this process).
SELECT pid, start_ticks, signalable, refusal, cmdline,
       coalesce(evidence = 'fingerprint' OR evidence LIKE 'fingerprint, %', 0) AS kept,
       coalesce(instr(evidence, 'fingerprint') > 0 OR instr(evidence, 'environment') > 0, 0)
           AS anchor
FROM lingering_workers
WHERE run_id = ?1
ORDER BY pid
