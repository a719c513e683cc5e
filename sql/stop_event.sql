-- POST /runs/{run_id}/stop, 3 of 3: the owner's event, kind and payload as its block_task
-- writes them, byte for byte (Python's json.dumps: ", " and ": " between items, text as
-- json_quote escapes it): 'blocked' with {"reason", "kind": null, "recurrences"}, or at the
-- loop limit (the task went to 'triage') 'block_loop_detected' with "limit": 2 last. The
-- newer releases (their boards have task_runs.worker_started_at) add "source_status" after
-- "recurrences": 'review' when the run's 'claimed' event says it was claimed from review,
-- else 'ready'. ?1 the task, ?2 the run, ?3 the reason (NULL: null), ?4 now.
INSERT INTO task_events (task_id, run_id, kind, payload, created_at)
SELECT t.id, ?2,
       CASE WHEN t.status = 'triage' THEN 'block_loop_detected' ELSE 'blocked' END,
       '{"reason": ' || json_quote(?3) || ', "kind": null, "recurrences": '
           || CAST(t.block_recurrences AS TEXT)
           || CASE WHEN EXISTS (SELECT 1 FROM pragma_table_info('task_runs')
                                WHERE name = 'worker_started_at')
                   THEN ', "source_status": "'
                        || coalesce((SELECT CASE WHEN json_valid(e.payload)
                                                 THEN CASE WHEN json_extract(e.payload,
                                                                   '$.source_status') = 'review'
                                                           THEN 'review' END END
                                     FROM task_events AS e
                                     WHERE e.task_id = t.id AND e.kind = 'claimed'
                                       AND e.run_id = ?2
                                     ORDER BY e.id DESC LIMIT 1), 'ready')
                        || '"'
                   ELSE '' END
           || CASE WHEN t.status = 'triage' THEN ', "limit": 2' ELSE '' END
           || '}',
       ?4
FROM tasks AS t
WHERE t.id = ?1
