#!/usr/bin/env bash
# Instructions per request in the shim, counted by callgrind (repeatable on a noisy machine).
# For each path: the shim runs under callgrind twice, once answering N requests on one
# kept-alive connection and once answering none; (total(N) - total(0)) / N is the cost of one
# request, start-up and shutdown cancelled out. `--history 0`: no timer sampling /proc of the
# live workers meanwhile (callgrind aborts on those reads, and they are no request's cost).
# usage: benches/callgrind.sh [N]    (from the repository root; needs valgrind)
#        BIN=path/to/kanban-workers benches/callgrind.sh   measures another build of the shim
set -euo pipefail
cd "$(dirname "$0")/.."
source benches/common.sh
n=${1:-2000}
command -v valgrind >/dev/null || { apt-get update -qq && apt-get install -y -qq valgrind; }
bench_setup >&2
dir=$(mktemp -d)
fresh_board "$dir/board.db" 1000 50
trap 'kill_workers "$board"; rm -rf "$dir"' EXIT

# Total instructions of one shim process that answered $2 requests for path $1.
count() {
  local out="$dir/cg.${1//\//_}.$2" so="$dir/stdout.$RANDOM$RANDOM"
  valgrind --tool=callgrind --callgrind-out-file="$out" \
    "${BIN:-target/release/kanban-workers}" serve --db "$board" --listen 127.0.0.1:0 --quiet --nice 0 --history 0 \
    >"$so" 2>"$dir/stderr" &
  local vg=$!
  local port=""
  for _ in $(seq 600); do
    port=$(sed -n 's/.*http:\/\/127.0.0.1:\([0-9]*\).*/\1/p' "$so" 2>/dev/null | head -1)
    [ -n "$port" ] && break
    sleep 0.1
  done
  [ -n "$port" ] || { cat "$dir/stderr" >&2; exit 1; }
  /usr/bin/python3 - "$port" "$1" "$2" <<'PY'
import http.client, sys
port, path, n = int(sys.argv[1]), sys.argv[2], int(sys.argv[3])
c = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
for _ in range(n):
    c.request("GET", path)
    r = c.getresponse()
    r.read()
c.close()
PY
  kill -TERM "$vg"
  wait "$vg" || true
  sed -n 's/^summary: //p;s/^totals: //p' "$out" | head -1
}

printf '| path | instructions a request (callgrind, %d requests on one connection) |\n|---|---|\n' "$n"
# /runs/1 is an ended run: inspect answers without reading /proc; the live run's inspect reads
# its worker's /proc. (valgrind 3.19 could not run a /proc read until rustix took the auxiliary
# vector from glibc, `use-libc-auxv`: it aborted in rustix's own reading of it.)
live=$(sqlite3 "$board" "SELECT id FROM task_runs WHERE ended_at IS NULL ORDER BY id LIMIT 1")
for path in /no-such-route /workers/active /runs/1 /runs/1/inspect "/runs/$live/inspect"; do
  base=$(count "$path" 0)
  total=$(count "$path" "$n")
  printf '| `%s` | %s |\n' "$path" $(( (total - base) / n ))
done

# proc_stats through the loadable extension (SO=path/to/libkanban_workers.so for another
# build), in the sqlite3 shell: one query calling it N + 1 times on a live worker, minus once.
so=${SO:-target/release/libkanban_workers.so}
pid=$(sqlite3 "$board" "SELECT worker_pid FROM task_runs WHERE id = $live")
calls() {
  local out="$dir/cg.proc_stats.$1"
  printf '.load %s\nWITH RECURSIVE k(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM k WHERE i < %d)\nSELECT count(p.pid) FROM k, proc_stats(%d + 0 * k.i) AS p;\n' \
    "${so%.so}" "$1" "$pid" >"$dir/calls.sql"
  valgrind --tool=callgrind --callgrind-out-file="$out" sqlite3 :memory: <"$dir/calls.sql" >/dev/null 2>&1
  sed -n 's/^summary: //p;s/^totals: //p' "$out" | head -1
}
base=$(calls 1)
total=$(calls $((n + 1)))
printf '\n| `proc_stats(pid)` of a live worker, `%s` | %s instructions a call |\n' "$so" $(( (total - base) / n ))
