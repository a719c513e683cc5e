#!/usr/bin/env bash
# All benchmarks in one run; results in target/bench/results.md (see BENCHMARKS.md).
# Usage: benches/run.sh [SECONDS_PER_HTTP_RUN]   (default 10)
# Installs what it needs: wrk (Debian) and a Python baseline (FastAPI, uvicorn, psutil) in a
# virtualenv under target/. Not part of CI. Loopback only; every load run is bounded in time.
set -euo pipefail
cd "$(dirname "$0")/.."
dur=${1:-10}
out=target/bench
mkdir -p "$out"
results=$out/results.md

source benches/common.sh
bench_setup
reference_venv

{
  echo "# Benchmark results"
  echo
  echo "$(date -u +%F) on $(nproc) cores, $(uname -r); \`benches/run.sh $dur\`."
  echo
  "$bench" machine 10
  echo
  "$bench" micro "$venv/bin/python"
} | tee "$results"

# --- HTTP: the shim against the Python reference, same board, same load generator ---------
fresh_board $out/board-100k.db 100000 50

target/release/kanban-workers serve --db "$board" --listen 127.0.0.1:18765 --quiet >/dev/null 2>&1 &
pids+=($!); rust_pid=$!
"$venv/bin/python" benches/reference/app.py --db "$board" --port 18766 >/dev/null 2>&1 &
pids+=($!); py_pid=$!
wait_for 18765
wait_for 18766
live_run=$(sqlite3 "$board" "SELECT id FROM task_runs WHERE ended_at IS NULL ORDER BY id LIMIT 1")

# wrk's latency figures to milliseconds.
ms() { awk -v v="$1" 'BEGIN { if (v ~ /us$/) printf "%.3f", (v+0)/1000; else if (v ~ /ms$/) printf "%.3f", v+0; else if (v ~ /s$/) printf "%.1f", (v+0)*1000; else print v }'; }
load() { # port path -> "rps p50ms p99ms requests errors"
  local o; o=$(wrk -t2 -c8 -d"${dur}s" --latency "http://127.0.0.1:$1/api/plugins/kanban/$2")
  local rps p50 p99 reqs non2xx
  rps=$(echo "$o" | awk '/Requests\/sec/ {print $2}')
  p50=$(ms "$(echo "$o" | awk '$1=="50%" {print $2}')")
  p99=$(ms "$(echo "$o" | awk '$1=="99%" {print $2}')")
  reqs=$(echo "$o" | awk '/requests in/ {print $1}')
  non2xx=$(echo "$o" | awk '/Non-2xx/ {print $NF}')
  echo "$rps $p50 $p99 $reqs ${non2xx:-0}"
}
rss_kb() { awk -v k="$2" '$1==k":" {print $2}' "/proc/$1/status"; }

{
  echo
  echo "## 3. HTTP, 100k runs, 50 live workers (wrk -t2 -c8 -d${dur}s, loopback, same 2 cores)"
  echo
  echo "| route | Rust req/s | Python req/s | ratio | Rust p50 / p99 ms | Python p50 / p99 ms | non-2xx (Rust/Python) |"
  echo "|---|---|---|---|---|---|---|"
  # The first row is the floor of this machine and load generator: a path that no route
  # matches (a JSON 404 from the Rust shim, FastAPI's own 404), no database, no procfs.
  for route in no-such-route workers/active "runs/$live_run" "runs/$live_run/inspect" "workers/active?live=1"; do
    read -r r_rps r_p50 r_p99 _ r_bad <<<"$(load 18765 "$route")"
    read -r p_rps p_p50 p_p99 _ p_bad <<<"$(load 18766 "$route")"
    ratio=$(awk -v a="$r_rps" -v b="$p_rps" 'BEGIN { printf "%.1f", a/b }')
    echo "| /$route | $r_rps | $p_rps | ${ratio}x | $r_p50 / $r_p99 | $p_p50 / $p_p99 | $r_bad / $p_bad |"
    case $route in
      */inspect) r_inspect=$r_rps; p_inspect=$p_rps ;;
      *live=1) r_live=$r_rps ;;
    esac
  done
  echo
  echo "All 50 workers with their stats: one \`?live=1\` request of the shim against 50 \`/inspect\`"
  echo "requests (the reference's only way), from the rows above: the shim does"
  awk -v l="$r_live" -v ri="$r_inspect" -v pi="$p_inspect" 'BEGIN {
    printf "%.1f dashboards a second with ?live=1, %.1f with 50 of its own /inspect, %.1f with 50 of the reference'"'"'s.\n", l, ri/50, pi/50 }'

  echo
  echo "### 3b. The shim at a dashboard's pace: 8 connections, each a request every 10 ms (${dur}s a route)"
  echo
  echo "Not saturating: what a client sees when the shim is not the bottleneck. Compare with"
  echo "the machine's own wake-up lateness (section 0) and the no-route row."
  echo
  echo "| route | requests | non-200 | p50 ms | p99 ms | max ms |"
  echo "|---|---|---|---|---|---|"
  for route in no-such-route workers/active "runs/$live_run" "runs/$live_run/inspect"; do
    "$bench" paced 127.0.0.1:18765 "/api/plugins/kanban/$route" 8 10 "$dur"
  done
  # The whole dashboard (50 workers' stats and trees, ~2 ms of /proc reads a request), at a
  # request every 100 ms on each of the 8 connections.
  "$bench" paced 127.0.0.1:18765 "/api/plugins/kanban/workers/active?live=1" 8 100 "$dur"
  echo
  echo "## 4. Memory over a long run of /workers/active (two halves of ${dur}s each)"
  echo
  echo "| server | requests | RSS after half 1 (KiB) | RSS after half 2 (KiB) | peak RSS, VmHWM (KiB) |"
  echo "|---|---|---|---|---|"
  for s in "Rust:18765:$rust_pid" "Python:18766:$py_pid"; do
    IFS=: read -r name port pid <<<"$s"
    read -r _ _ _ n1 _ <<<"$(load "$port" workers/active)"
    h1=$(rss_kb "$pid" VmRSS)
    read -r _ _ _ n2 _ <<<"$(load "$port" workers/active)"
    h2=$(rss_kb "$pid" VmRSS)
    echo "| $name | $((n1 + n2)) | $h1 | $h2 | $(rss_kb "$pid" VmHWM) |"
  done
} | tee -a "$results"
echo
echo "written: $results"
