-- A snapshot's choice (src/shim/board/snapshot.rs) for the live list (?live=1, /metrics, the
-- history): the tasks of the open runs, as active_workers and run_claimers find them
-- (status 'running', not ended; idx_runs_status). Every row of those tasks is copied: the
-- processes escaped from an open run's tree are found by its id or its task's log. Their
-- events are not: the live list reads none.
INSERT OR IGNORE INTO temp.kanban_workers_snapshot_tasks (id)
SELECT task_id FROM board.task_runs
WHERE status = 'running' AND ended_at IS NULL
