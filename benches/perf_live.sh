#!/usr/bin/env bash
# Where the time of live_workers (or /metrics, or the floor) goes with N live workers: runs
# `bench live5000 N` with KW_PROFILE=WHAT (the board made, then only WHAT, 10 times) and
# attaches `perf record` once the board is ready, so the spawning of the workers is not in it.
# Usage: benches/perf_live.sh [live|metrics|floor [N [SECS]]]   (defaults live, 5000, 8)
# Writes target/bench/perf-WHAT-N.data and prints the top of `perf report`. Needs perf.
set -euo pipefail
cd "$(dirname "$0")/.."
what=${1:-live}
n=${2:-5000}
secs=${3:-8}
bench=$(cargo bench --bench bench --no-run 2>&1 | sed -n 's/.*Executable .*(\(.*\)).*/\1/p' | tail -1)
mkdir -p target/bench
data=target/bench/perf-$what-$n.data
err=$(mktemp)
KW_PROFILE=$what "$bench" live5000 "$n" >"$err.out" 2>"$err" &
pid=$!
trap 'kill $pid 2>/dev/null || true; rm -f "$err" "$err.out"' EXIT
until grep -q "board is ready" "$err"; do
  kill -0 $pid 2>/dev/null || { cat "$err" >&2; exit 1; }
  sleep 0.2
done
perf record -q -F 250 --call-graph dwarf,16384 -p $pid -o "$data" -- sleep "$secs" 2>/dev/null
wait $pid || true
cat "$err.out"
perf report -i "$data" --no-children --sort dso,sym --stdio -g none --percent-limit 0.7 2>/dev/null | grep '%'
