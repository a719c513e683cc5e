DELETE FROM task_runs;
INSERT INTO task_runs(task_id,status,claim_lock,worker_pid,started_at,worker_started_at)
SELECT label,'running','vm:1',7417,CAST(strftime('%s','now') AS INTEGER)-1,w FROM cases;
INSERT INTO task_runs(task_id,status,claim_lock,worker_pid,started_at,worker_started_at)
SELECT 'real fp','running','vm:1',7417,CAST(strftime('%s','now') AS INTEGER)-1,fingerprint FROM proc_stats(7417);
INSERT INTO task_runs(task_id,status,claim_lock,worker_pid,started_at,worker_started_at)
SELECT 'real fp + nul','running','vm:1',7417,CAST(strftime('%s','now') AS INTEGER)-1,fingerprint||CAST(x'00' AS TEXT) FROM proc_stats(7417);
INSERT INTO task_runs(task_id,status,claim_lock,worker_pid,started_at,worker_started_at)
SELECT 'foreign ok','running','vm:1',7417,CAST(strftime('%s','now') AS INTEGER)-1,'other:1|5';
