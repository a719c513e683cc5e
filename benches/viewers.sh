#!/usr/bin/env bash
# What many viewers of one board cost (issue 21): a board with LIVE live workers (real `sleep`
# processes, each the worker of an open run of a running task), the release shim serving it,
# and in one run, SECS seconds a phase:
#   a. nobody watching: the shim with its history timer (the default) and a second shim with
#      `--history 0`, side by side;
#   b. 1 viewer polling GET /workers/active?live=1 every second (b2: the same, its first
#      request 0.3 s after another request's);
#   c. 16 viewers polling it every second, each started at a random offset within the first
#      second (benches/viewers.py: python3 threads, one kept-alive connection each).
# For each phase: the shim's CPU (utime + stime, /proc/<pid>/stat fields 14-15, in clock ticks),
# the 200s answered, the latency a viewer saw, and the live samples of /proc taken (the delta
# of kanban_workers_proc_samples_total{kind="live"}, read from /metrics before and after the
# phase, outside its CPU window; the scrape after counts its own sample, which is taken off).
# BENCHMARKS.md has the results.
# Usage: benches/viewers.sh [SECS [LIVE]]   (default 30 and 200; needs a release build,
# sqlite3 and python3). Loopback only; everything it starts is killed on exit.
set -euo pipefail
cd "$(dirname "$0")/.."
SECS=${1:-30}
LIVE=${2:-200}
BIN=${BIN:-target/release/kanban-workers}
PATH_LIVE=/workers/active?live=1
PORT_A=18830 # history on (the default)
PORT_B=18831 # --history 0
T=$(mktemp -d)
: >"$T/pids"
cleanup() {
  # shellcheck disable=SC2046
  kill $(cat "$T/pids") 2>/dev/null || true
  rm -rf "$T"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

# --- The board: LIVE sleep workers, each recorded as an open run of a running task -------
board=$T/kanban.db
sqlite3 "$board" <sql/kanban_schema.sql
sqlite3 "$board" "PRAGMA journal_mode=wal" >/dev/null
host=$(cat /proc/sys/kernel/hostname)
now=$(date +%s) # before the spawns: each worker starts within the spawn window after it
for _ in $(seq "$LIVE"); do
  sleep 3601 </dev/null >/dev/null 2>&1 &
  echo $! >>"$T/workers"
  echo $! >>"$T/pids"
done
{
  echo "BEGIN;"
  i=0
  while read -r pid; do
    echo "INSERT INTO tasks (id, title, assignee, status, created_at, worker_pid) VALUES ('t_live$i', 'live task $i', 'agent', 'running', $now, $pid);"
    echo "INSERT INTO task_runs (task_id, profile, status, claim_lock, claim_expires, worker_pid, max_runtime_seconds, last_heartbeat_at, started_at) VALUES ('t_live$i', 'default', 'running', '$host:$$', $((now + 900)), $pid, 3600, $now, $now);"
    i=$((i + 1))
  done <"$T/workers"
  echo "COMMIT;"
} | sqlite3 "$board"

# --- The shims ---------------------------------------------------------------------------
"$BIN" serve --db "$board" --listen 127.0.0.1:$PORT_A --quiet >/dev/null 2>"$T/shim_a.err" &
shim_a=$!
echo $shim_a >>"$T/pids"
"$BIN" serve --db "$board" --listen 127.0.0.1:$PORT_B --quiet --history 0 >/dev/null 2>"$T/shim_b.err" &
shim_b=$!
echo $shim_b >>"$T/pids"
for port in $PORT_A $PORT_B; do
  for _ in $(seq 100); do
    curl -sf "http://127.0.0.1:$port/workers/active" >/dev/null && break
    sleep 0.2
  done
done
alive=$(curl -sf "http://127.0.0.1:$PORT_A$PATH_LIVE" | python3 -c 'import json,sys; print(sum(1 for w in json.load(sys.stdin)["workers"] if w["alive"]))')
[ "$alive" = "$LIVE" ] || { echo "only $alive of $LIVE workers alive and verified" >&2; exit 1; }

hz=$(getconf CLK_TCK)
ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }
samples() { # port -> live samples taken so far (this scrape's own included)
  curl -sf "http://127.0.0.1:$1/metrics" | awk -F' ' '/^kanban_workers_proc_samples_total\{kind="live"\}/ { print $2 }'
}
hwm() { awk '$1=="VmHWM:" { print $2 }' "/proc/$1/status"; }

echo "# benches/viewers.sh $SECS $LIVE: $(date -u +%FT%TZ), $(nproc) cores, load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
echo
echo "| phase | shim | requests answered (200) | other | live samples taken | shim CPU s | CPU s per s | CPU s per minute | CPU ms per answered request | CPU ms per sample | latency median / p90 / max ms |"
echo "|---|---|---|---|---|---|---|---|---|---|---|"

# A phase: PORT PID NAME VIEWERS SHIM PAUSE [OFFSET]. Scrape, PAUSE seconds, the CPU window
# (VIEWERS viewers, first requests at OFFSET or at random within the first second), scrape.
# Prints a table row and leaves "cpu_per_s cpu_per_req ok" in $T/<NAME>.
phase() {
  local port=$1 pid=$2 name=$3 n=$4 pause=$6 offset=${7:-}
  local s0 s1 t0 t1 result ok=0 other=0 med=- p90=- max=- cpu
  s0=$(samples "$port")
  sleep "$pause"
  t0=$(ticks "$pid")
  if [ "$n" -eq 0 ]; then
    sleep "$SECS"
  else
    # shellcheck disable=SC2086
    result=$(python3 benches/viewers.py 127.0.0.1 "$port" "$PATH_LIVE" "$n" 1 "$SECS" $offset)
    read -r ok other med p90 max _ <<<"$result"
  fi
  t1=$(ticks "$pid")
  s1=$(samples "$port")
  local taken=$((s1 - s0 - 1))
  cpu=$(awk -v t=$((t1 - t0)) -v hz="$hz" 'BEGIN { printf "%.2f", t / hz }')
  awk -v c="$cpu" -v s="$SECS" -v ok="$ok" -v n="$taken" -v name="$name" -v other="$other" \
    -v lat="$med / $p90 / $max" -v shim="$5" -v out="$T/$name" 'BEGIN {
      per_req = ok > 0 ? sprintf("%.2f", c / ok * 1000) : "-"
      per_sample = n > 0 ? sprintf("%.1f", c / n * 1000) : "-"
      printf "| %s | %s | %d | %d | %d | %.2f | %.4f | %.2f | %s | %s | %s |\n", name, shim, ok, other, n, c, c / s, c / s * 60, per_req, per_sample, lat
      printf "%.6f %s %d\n", c / s, (ok > 0 ? c / ok : 0), ok > out
    }'
}

# a. Nobody watching, both shims at once (the same seconds, the same machine noise).
{
  s0a=$(samples $PORT_A); s0b=$(samples $PORT_B)
  t0a=$(ticks $shim_a); t0b=$(ticks $shim_b)
  sleep "$SECS"
  t1a=$(ticks $shim_a); t1b=$(ticks $shim_b)
  s1a=$(samples $PORT_A); s1b=$(samples $PORT_B)
  for x in "a. nobody watching:history on (default):$((t1a - t0a)):$((s1a - s0a - 1))" \
    "a. nobody watching:--history 0:$((t1b - t0b)):$((s1b - s0b - 1))"; do
    IFS=: read -r name shim t n <<<"$x"
    awk -v t="$t" -v hz="$hz" -v s="$SECS" -v n="$n" -v name="$name" -v shim="$shim" 'BEGIN {
      c = t / hz
      per_sample = n > 0 ? sprintf("%.1f", c / n * 1000) : "-"
      printf "| %s | %s | 0 | 0 | %d | %.2f | %.4f | %.2f | - | %s | - |\n", name, shim, n, c, c / s, c / s * 60, per_sample
    }'
  done
}
kill $shim_b 2>/dev/null || true
# The history the timer kept meanwhile: the seconds between one worker's points over phase a
# (the timer's interval is 2 s; `t` is whole seconds).
curl -sf "http://127.0.0.1:$PORT_A/runs/1/history" | python3 -c '
import collections, json, sys
pts = [p[0] for p in json.load(sys.stdin)["points"]]
gaps = collections.Counter(b - a for a, b in zip(pts, pts[1:]))
print(f"History of run 1 after phase a: {len(pts)} points over {pts[-1] - pts[0] if pts else 0} s; seconds between points: "
      + ", ".join(f"{g} s x{n}" for g, n in sorted(gaps.items())) + ".")
'
echo

# b, c. Viewers, against the default shim (history on).
# The scrape before a phase begins a request sample: the first viewer starts 1.5 s after it,
# unless the phase is about that (b2: a lone viewer polling every second whose first request
# comes 0.3 s after another request's sample began waits about 0.7 s at every request after).
phase $PORT_A $shim_a "b. 1 viewer" 1 "history on (default)" 1.5
phase $PORT_A $shim_a "b2. 1 viewer, first request 0.3 s after a scrape" 1 "history on (default)" 0 0.3
phase $PORT_A $shim_a "c. 16 viewers" 16 "history on (default)" 1.5

echo
read -r cpu1 req1 _ <"$T/b. 1 viewer"
read -r cpu16 _ ok16 <"$T/c. 16 viewers"
awk -v c1="$cpu1" -v c16="$cpu16" -v r1="$req1" -v ok16="$ok16" -v s="$SECS" 'BEGIN {
  printf "16 viewers / 1 viewer, shim CPU per second: %.2fx (goal: at most 2x).\n", c16 / c1
  printf "Derived, not measured (no unshared path to run): 16 unshared viewers at the 1-viewer cost per request, %.2f ms, for the %d requests the 16 viewers had answered would cost %.4f CPU s per s (%.1fx one viewer).\n", r1 * 1000, ok16, r1 * ok16 / s, r1 * ok16 / s / c1
}'
echo "Shim peak RSS (VmHWM) after the phases: $(hwm $shim_a) KiB."
