#!/usr/bin/env bash
# Reliability soak (not part of CI): results in target/bench/soak.md (see RELIABILITY.md).
#  1. the dispatcher's write latency without and with the shim under load (8 connections);
#  2. the board's integrity and every committed run present afterwards;
#  3. the shim's memory and open fds before and after a long run of requests.
# Usage: benches/soak.sh [CYCLES] [SECONDS]   (default 2000 dispatcher cycles = 8000
# transactions, and 30 s of load for the long run). Loopback only; every run is bounded.
set -euo pipefail
cd "$(dirname "$0")/.."
cycles=${1:-2000}
secs=${2:-30}
out=target/bench
mkdir -p "$out"
command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk; }
make release >/dev/null
bench=$(cargo bench --bench bench --no-run 2>&1 | sed -n 's/.*Executable .*(\(.*\)).*/\1/p' | tail -1)

board=$out/soak.db
rm -f "$board" "$board"-wal "$board"-shm
"$bench" board "$board" 10000 10 >/dev/null
pids=()
cleanup() {
  kill "${pids[@]}" 2>/dev/null || true
  sqlite3 "$board" "SELECT worker_pid FROM task_runs WHERE ended_at IS NULL AND status = 'running' AND task_id LIKE 't_live%'" 2>/dev/null | xargs -r kill 2>/dev/null || true
}
trap cleanup EXIT
live_run=$(sqlite3 "$board" "SELECT id FROM task_runs WHERE ended_at IS NULL ORDER BY id LIMIT 1")
dispatch() { /usr/bin/python3 tests/fixtures/dispatcher.py "$board" "$cycles" 600; }
field() { /usr/bin/python3 -c "import json,sys; print(json.loads(sys.argv[1])[sys.argv[2]])" "$1" "$2"; }

alone=$(dispatch)
target/release/kanban-workers serve --db "$board" --listen 127.0.0.1:18775 --quiet >/dev/null 2>&1 &
shim=$!; pids+=($shim)
for _ in $(seq 100); do curl -sf http://127.0.0.1:18775/workers/active >/dev/null && break; sleep 0.1; done

# Background jobs of a script ignore SIGINT, and wrk only prints its results on SIGINT:
# restore the default disposition before exec'ing it.
load() {
  exec /usr/bin/python3 -c 'import os, signal, sys; signal.signal(signal.SIGINT, signal.SIG_DFL); os.execvp(sys.argv[1], sys.argv[1:])' \
    nice -n "${NICE:-0}" wrk -t1 -c4 -d"$1s" --latency "http://127.0.0.1:18775/api/plugins/kanban/$2"
}
# Twice: the load generator at normal priority, then at niceness 10 like the shim (standing in
# for dashboard clients that are not on the board's machine: only the shim's own cost remains).
under_load() { # niceness of wrk -> dispatcher report; wrk results in soak-wrk[12].txt
  NICE=$1 load 600 workers/active >"$out/soak-wrk1.txt" & local w1=$!
  NICE=$1 load 600 "runs/$live_run/inspect" >"$out/soak-wrk2.txt" & local w2=$!
  pids+=("$w1" "$w2")
  dispatch
  kill -INT "$w1" "$w2"; wait "$w1" "$w2" 2>/dev/null || true
}
served_of() { cat "$out"/soak-wrk[12].txt | awk '/requests in/ {s += $1} END {print s+0}'; }
non2xx_of() { cat "$out"/soak-wrk[12].txt | awk '/Non-2xx/ {s += $NF} END {print s+0}'; }
with=$(under_load 0); served=$(served_of); non2xx=$(non2xx_of)
with_nice=$(under_load 10); served_nice=$(served_of); non2xx_nice=$(non2xx_of)
integrity=$(sqlite3 "$board" "PRAGMA integrity_check")
runs_expected=$(( ($(field "$alone" transactions) + $(field "$with" transactions) + $(field "$with_nice" transactions)) / 4 ))
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
  echo "$(date -u +%F), $(nproc) cores; \`benches/soak.sh $cycles $secs\`."
  echo
  echo "| what | result |"
  echo "|---|---|"
  echo "| dispatcher alone | $(field "$alone" transactions) transactions, p50 $(field "$alone" p50_ms) ms, p99 $(field "$alone" p99_ms) ms, busy errors $(field "$alone" busy_errors) |"
  echo "| dispatcher with the shim under 8 connections | $(field "$with" transactions) transactions, p50 $(field "$with" p50_ms) ms, p99 $(field "$with" p99_ms) ms, busy errors $(field "$with" busy_errors) |"
  echo "| writer p99 ratio, with / without | $(awk -v a="$(field "$with" p99_ms)" -v b="$(field "$alone" p99_ms)" 'BEGIN { printf "%.2f", a/b }') |"
  echo "| shim requests during the writes | $served, non-2xx $non2xx |"
  echo "| dispatcher with the shim, load generator at niceness 10 | $(field "$with_nice" transactions) transactions, p50 $(field "$with_nice" p50_ms) ms, p99 $(field "$with_nice" p99_ms) ms, busy errors $(field "$with_nice" busy_errors) |"
  echo "| writer p99 ratio, with (load generator niced) / without | $(awk -v a="$(field "$with_nice" p99_ms)" -v b="$(field "$alone" p99_ms)" 'BEGIN { printf "%.2f", a/b }') |"
  echo "| shim requests during those writes | $served_nice, non-2xx $non2xx_nice |"
  echo "| integrity_check afterwards | $integrity |"
  echo "| dispatcher runs committed / found done | $runs_expected / $runs_found |"
  echo "| shim open fds: start, after $r1 inspect requests, after $r2 more active requests | $fd0, $fd1, $fd2 |"
  echo "| shim RSS KiB: same points | $rss0, $rss1, $rss2 |"
} | tee "$out/soak.md"
