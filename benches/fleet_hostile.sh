#!/usr/bin/env bash
# A hostile fleet (issue 35 §1, §2): what one compromised host, or a hostile query API, costs
# the shim that reads the fleet. A real query API process (tests/fixtures/query_api.py)
# answers as told; the release shim asks it (`--prometheus`), its board of 1,000 runs with 50
# live workers (`bench board`).
#
#   benches/fleet_hostile.sh [SECONDS]    (default 10)
#   OLD=PATH benches/fleet_hostile.sh     also another build's binary at PATH, in the same run
#
# Prints section 0 (the machine), then for each binary:
#  1. a host exporting 5,000 runs: `wrk -t1 -c4 /workers/active` for SECONDS with the shim
#     idle (the baseline), then for SECONDS while a client asks `/fleet/workers` in a loop;
#     each /fleet/workers' time and status;
#  2. a query API answering 16 MiB to every query: the shim's peak RSS (VmHWM) idle, then after
#     two `/fleet/workers` at once, three times.
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-10}
source benches/common.sh
bench_setup
dir=target/bench/fleet-hostile
rm -rf "$dir"
mkdir -p "$dir"
fresh_board "$dir/kanban.db" 1000 50
trap 'kill "${pids[@]}" 2>/dev/null || true; kill_workers "$board"' EXIT

"$bench" machine 5
echo

spec=$dir/spec.json
python3 tests/fixtures/query_api.py "$spec" > "$dir/api.out" &
pids+=($!)
for _ in $(seq 100); do grep -q listening "$dir/api.out" 2>/dev/null && break; sleep 0.1; done
api=$(sed -n 's/listening on //p' "$dir/api.out")

hwm() { awk '/VmHWM/ {print int($2/1024)}' "/proc/$1/status"; }

run() { # $1: label, $2: binary, $3: port
  local label=$1 bin=$2 port=$3
  echo "## $label ($bin)"
  echo '{"targets": [{"instance": "10.9.0.1:8765", "host": "big", "count": 5000}]}' > "$spec"
  "$bin" serve --db "$board" --listen "127.0.0.1:$port" --quiet --prometheus "$api" > "$dir/shim-$port.out" 2>&1 &
  local shim=$!
  pids+=("$shim")
  wait_for "$port"
  echo "### 1. a host exporting 5,000 runs: /workers/active, idle then while /fleet/workers is asked"
  wrk -t1 -c4 -d"${secs}s" --latency "http://127.0.0.1:$port/workers/active" | grep -E "Latency|99%|Requests/sec"
  ( end=$((SECONDS + secs + 2)); while [ $SECONDS -lt $end ]; do
      curl -s -o /dev/null -w "fleet %{http_code} %{time_total}s\n" "http://127.0.0.1:$port/fleet/workers"
    done ) > "$dir/fleet-$port.txt" &
  local asker=$!
  wrk -t1 -c4 -d"${secs}s" --latency "http://127.0.0.1:$port/workers/active" | grep -E "Latency|99%|Requests/sec"
  wait "$asker" || true
  echo "/fleet/workers asked $(wc -l < "$dir/fleet-$port.txt") times; statuses and times (first 3, last 1):"
  head -3 "$dir/fleet-$port.txt"; tail -1 "$dir/fleet-$port.txt"
  echo "### 2. a query API answering 16 MiB to every query: peak RSS"
  echo "{\"flood_bytes\": $((16 * 1024 * 1024 - 4096))}" > "$spec"
  echo "idle: $(hwm "$shim") MiB"
  for round in 1 2 3; do
    curl -s -o /dev/null -w "%{http_code} " --max-time 60 "http://127.0.0.1:$port/fleet/workers" &
    curl -s -o /dev/null -w "%{http_code} " --max-time 60 "http://127.0.0.1:$port/fleet/workers"
    wait %% 2>/dev/null || true
    echo "after round $round: $(hwm "$shim") MiB"
  done
  kill "$shim"
  echo
}

run "this build" target/release/kanban-workers 19301
if [ -n "${OLD:-}" ]; then
  run "OLD" "$OLD" 19302
fi
