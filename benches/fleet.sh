#!/usr/bin/env bash
# The fleet at size (issue 28): HOSTS simulated hosts (default 10) of PER live workers each
# (default 200), each a board of its own whose open runs its shim claims (`--hostname
# host-<i>`), all scraped by a real Prometheus (Debian's package) every 2 s; host-0's shim asks
# it (`--prometheus`).
#
#   benches/fleet.sh [HOSTS [PER [ROUNDS]]]
#   OLD=PATH benches/fleet.sh ...   also the same hosts served by another build's binary at
#                                   PATH (say, the labels before issue 28), for the series
#                                   count and Prometheus' memory
#
# Prints section 0 (the machine), then per round the median of 10 sequential requests of
# host-0's `GET /fleet/workers` (every host's workers, HOSTS x PER) against, in the same round,
# host-0's own `GET /workers/active?live=1` (its PER workers from /proc: the baseline), and the
# answers' sizes; then the series: per host (lines of one /metrics), Prometheus' head series
# and its resident memory after 30 s of scrapes.
set -euo pipefail
cd "$(dirname "$0")/.."
hosts=${1:-10}
per=${2:-200}
rounds=${3:-5}
source benches/common.sh
bench_setup
command -v prometheus >/dev/null || { echo "benches/fleet.sh needs prometheus (Debian's package)" >&2; exit 1; }
dir=target/bench/fleet
rm -rf "$dir"
mkdir -p "$dir"
pids=()
boards=()
cleanup() {
  kill "${pids[@]}" 2>/dev/null || true
  for b in "${boards[@]}"; do kill_workers "$b"; done
}
trap cleanup EXIT

"$bench" machine 5
echo

prom_port=19099
base_port=19100
for i in $(seq 0 $((hosts - 1))); do
  b=$dir/host-$i.db
  "$bench" board "$b" "$per" "$per" >/dev/null
  boards+=("$b")
  sqlite3 "$b" "UPDATE task_runs SET claim_lock = 'host-$i:1' WHERE ended_at IS NULL"
done

# serve BINARY: every host's shim (host-0's with --prometheus when the binary has it).
serve() {
  local bin=$1 extra
  for i in $(seq 0 $((hosts - 1))); do
    extra=()
    if [ "$i" = 0 ] && "$bin" serve --help 2>&1 | grep -q -- --prometheus; then
      extra=(--prometheus "http://127.0.0.1:$prom_port")
    fi
    "$bin" serve --db "$dir/host-$i.db" --listen "127.0.0.1:$((base_port + i))" --quiet \
      --hostname "host-$i" "${extra[@]}" >/dev/null 2>&1 &
    pids+=($!)
    wait_for $((base_port + i))
  done
}
# prometheus -> its pid in $prom_pid, a fresh storage
prometheus_up() {
  rm -rf "$dir/prometheus"
  mkdir -p "$dir/prometheus"
  {
    echo "global: {scrape_interval: 2s}"
    echo "scrape_configs:"
    echo "  - job_name: kanban-workers"
    echo "    static_configs:"
    echo "      - targets:"
    for i in $(seq 0 $((hosts - 1))); do echo "        - 127.0.0.1:$((base_port + i))"; done
  } >"$dir/prometheus.yml"
  prometheus --config.file="$dir/prometheus.yml" --storage.tsdb.path="$dir/prometheus/data" \
    --web.listen-address="127.0.0.1:$prom_port" >/dev/null 2>&1 &
  prom_pid=$!
  pids+=($prom_pid)
  for _ in $(seq 100); do
    curl -sf "http://127.0.0.1:$prom_port/-/ready" >/dev/null && return 0
    sleep 0.2
  done
  echo "prometheus did not start" >&2
  return 1
}
stop_all() {
  kill "${pids[@]}" 2>/dev/null || true
  wait "${pids[@]}" 2>/dev/null || true
  pids=()
}
# series NAME: a row of the series table, after 30 s of scrapes
series() {
  sleep 30
  local per_host head rss
  per_host=$(curl -sf "http://127.0.0.1:$base_port/metrics" | grep -vc '^#')
  head=$(curl -sf "http://127.0.0.1:$prom_port/api/v1/status/tsdb" |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["data"]["headStats"]["numSeries"])')
  rss=$(awk '/VmRSS/ {printf "%.0f", $2 / 1024}' "/proc/$prom_pid/status")
  echo "| $1 | $per_host | $head | $rss |"
}
# ms PATH: the median wall time of 10 sequential requests to host-0, in ms
ms() {
  for _ in $(seq 10); do
    curl -s -o /dev/null -w '%{time_total}\n' "http://127.0.0.1:$base_port$1"
  done | sort -n | awk '{a[NR] = $1} END {printf "%.1f", (a[5] + a[6]) / 2 * 1000}'
}

serve target/release/kanban-workers
prometheus_up
# Until Prometheus has every host's workers (two scrapes at most, plus its query delay).
want=$((hosts * per))
for _ in $(seq 150); do
  got=$(curl -sf "http://127.0.0.1:$base_port/fleet/workers" |
    python3 -c 'import json,sys; print(sum(len(h["workers"]) for h in json.load(sys.stdin)["hosts"]))' || echo 0)
  [ "$got" = "$want" ] && break
  sleep 0.2
done
[ "$got" = "$want" ] || { echo "the fleet listed $got of $want workers" >&2; exit 1; }

fleet_bytes=$(curl -sf "http://127.0.0.1:$base_port/fleet/workers" | wc -c)
live_bytes=$(curl -sf "http://127.0.0.1:$base_port/workers/active?live=1" | wc -c)
echo "### \`/fleet/workers\` at $hosts hosts x $per workers ($want workers; answer $fleet_bytes bytes) against host-0's \`/workers/active?live=1\` ($per workers; $live_bytes bytes)"
echo
echo "| round | fleet ms | live ms | fleet / live |"
echo "|---|---|---|---|"
ratios=()
for r in $(seq "$rounds"); do
  f=$(ms /fleet/workers)
  l=$(ms "/workers/active?live=1")
  ratio=$(awk -v f="$f" -v l="$l" 'BEGIN {printf "%.2f", f / l}')
  ratios+=("$ratio")
  echo "| $r | $f | $l | $ratio |"
done
echo
echo "fleet / live: $(printf '%s\n' "${ratios[@]}" | sort -n | awk '{a[NR] = $1} END {print a[int((NR + 1) / 2)]}')x (median of per-round ratios)"
echo
echo "### Series at $want workers, after 30 s of scrapes every 2 s"
echo
echo "| build | lines of one host's /metrics ($per workers) | Prometheus head series (all $hosts hosts) | Prometheus RSS MiB |"
echo "|---|---|---|---|"
series "this build"
stop_all
if [ -n "${OLD:-}" ]; then
  serve "$OLD"
  prometheus_up
  series "$OLD"
  stop_all
fi
