.mode box
SELECT rc.task_id, hex(rc.run_epoch) IS NOT NULL AS new_ep, c.old IS NOT NULL AS old_ep,
  rc.local AS new_local,
  CASE WHEN c.old IS NOT NULL AND c.old_is_host = 0 THEN 0 ELSE rc.local END AS old_local,
  v.identity, v.alive, v.signalable, v.reason
FROM run_claims rc LEFT JOIN cmp c ON c.label = rc.task_id JOIN run_verdicts v ON v.run_id = rc.id
ORDER BY (new_local IS NOT old_local) DESC, rc.id;
