#!/usr/bin/env bash
# A throwaway board with real workers, queried through the sqlite3 shell with the extension.
# Usage: examples/demo_board.sh      (run `make ext` first; cleans up on exit)
set -euo pipefail
cd "$(dirname "$0")/.."
so=target/release/libkanban_workers
[ -f "$so.so" ] || { echo "build the extension first: make ext" >&2; exit 1; }

dir=$(mktemp -d)
pids=()
cleanup() { kill "${pids[@]}" 2>/dev/null || true; rm -rf "$dir"; }
trap cleanup EXIT

sleep 1000 & pids+=($!)
sleep 1000 & pids+=($!)
sleep 1 & gone=$!; wait "$gone" || true
now=$(date +%s)
db="$dir/kanban.db"
sqlite3 "$db" <sql/kanban_schema.sql
sqlite3 "$db" <<SQL
PRAGMA journal_mode=wal; -- prints "wal"
INSERT INTO tasks (id, title, assignee, status, created_at) VALUES
  ('t_a1', 'Write the release notes', 'writer', 'running', $now - 300),
  ('t_b2', 'Fix the flaky test',      'coder',  'running', $now - 200),
  ('t_c3', 'Triage new issues',       'triager','running', $now - 100),
  ('t_d4', 'Old finished task',       'coder',  'done',    $now - 900);
INSERT INTO task_runs (task_id, profile, status, claim_lock, claim_expires, worker_pid,
                       max_runtime_seconds, last_heartbeat_at, started_at, ended_at) VALUES
  ('t_a1', 'default', 'running', '$(hostname):4242', $now + 600, ${pids[0]}, 3600, $now - 30, $now - 290, NULL),
  ('t_b2', 'default', 'running', '$(hostname):4242', $now + 700, ${pids[1]}, 3600, $now - 20, $now - 190, NULL),
  ('t_c3', 'default', 'running', '$(hostname):4242', $now + 800, $gone,      3600, $now - 10, $now - 90,  NULL),
  ('t_d4', 'default', 'done',    '$(hostname):4242', $now - 300, 1,          3600, $now - 800, $now - 890, $now - 800);
SQL

sqlite3 "$db" <<SQL
.load $so
.mode box
SELECT kanban_workers_version() AS version;
SELECT run_id, task_id, task_title, worker_pid, worker_host FROM active_workers;
SELECT w.run_id, p.pid, p.alive, p.reason, p.state, p.rss_bytes, p.num_fds, p.cmdline
FROM active_workers w LEFT JOIN proc_stats(w.worker_pid) p ORDER BY w.started_at;
SQL
