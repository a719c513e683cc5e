#!/usr/bin/env bash
# Reliability soak (not part of CI): results in target/bench/soak.md (see RELIABILITY.md).
#  0. what this machine gives a process (the floor under every p99 below);
#  1. the dispatcher's write latency alone and beside the shim, in rounds (benches/writer.py):
#     under 8 saturating connections, the same with the load generator niced, busy loops with
#     the same CPU pressure and no shim (the control), and 8 connections at a dashboard's pace;
#  2. the board's integrity and every committed run present afterwards;
#  3. the shim's memory and open fds before and after a long run of requests.
# Usage: benches/soak.sh [ROUNDS] [SECONDS]   (default 9 rounds of 400 dispatcher cycles =
# 1,600 transactions per condition per round, and 30 s of load for the long run).
# Loopback only; every run is bounded.
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-9}
secs=${2:-30}
out=target/bench
mkdir -p "$out"
source benches/common.sh
bench_setup

fresh_board $out/soak.db 10000 10
live_run=$(sqlite3 "$board" "SELECT id FROM task_runs WHERE ended_at IS NULL ORDER BY id LIMIT 1")
machine=$("$bench" machine 10)

target/release/kanban-workers serve --db "$board" --listen 127.0.0.1:18775 --quiet >/dev/null 2>&1 &
shim=$!; pids+=($shim)
wait_for 18775

writes=$(/usr/bin/python3 benches/writer.py "$board" 18775 "$live_run" "$bench" "$rounds" 400)
integrity=$(sqlite3 "$board" "PRAGMA integrity_check")
runs_expected=$(( $(echo "$writes" | sed -n 's/^TOTAL_TRANSACTIONS=//p') / 4 ))
runs_found=$(sqlite3 "$board" "SELECT count(*) FROM task_runs WHERE task_id LIKE 't_d%' AND status = 'done'")

fds() { ls "/proc/$shim/fd" | wc -l; }
rss() { awk '$1=="VmRSS:" {print $2}' "/proc/$shim/status"; }
fd0=$(fds); rss0=$(rss)
r1=$(wrk -t2 -c8 -d"$((secs / 2))s" "http://127.0.0.1:18775/runs/$live_run/inspect" | awk '/requests in/ {print $1}')
fd1=$(fds); rss1=$(rss)
r2=$(wrk -t2 -c8 -d"$((secs / 2))s" "http://127.0.0.1:18775/workers/active" | awk '/requests in/ {print $1}')
fd2=$(fds); rss2=$(rss)

{
  echo "# Soak results"
  echo
  echo "$(date -u +%F), $(nproc) cores; \`benches/soak.sh $rounds $secs\`."
  echo
  echo "$machine"
  echo
  echo "## 1. The writer beside the shim"
  echo
  echo "$writes" | grep -v '^TOTAL_TRANSACTIONS='
  echo
  echo "## 2, 3. The board afterwards; the shim over a long run"
  echo
  echo "| what | result |"
  echo "|---|---|"
  echo "| integrity_check afterwards | $integrity |"
  echo "| dispatcher runs committed / found done | $runs_expected / $runs_found |"
  echo "| shim open fds: start, after $r1 inspect requests, after $r2 more active requests | $fd0, $fd1, $fd2 |"
  echo "| shim RSS KiB: same points | $rss0, $rss1, $rss2 |"
} | tee "$out/soak.md"
