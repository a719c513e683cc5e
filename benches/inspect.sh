#!/usr/bin/env bash
# `/runs/{id}/inspect` of a live worker (issue 29): the shim against the Python reference and,
# given BEFORE, against another build of the shim, in one run, on one board (100k runs, 50
# live `sleep` workers), round by round so that drift in the machine's load hits them alike.
# usage: benches/inspect.sh [ROUNDS [SECONDS]]          (defaults 5 and 5)
#        BEFORE=DIR benches/inspect.sh ...   DIR holds kanban-workers and libkanban_workers.so
#                                            of the other build (say, the commit before)
# Prints section 0 (the machine), `bench inspect` (the route's handler in-process, its query
# through each .so, its parts, against the bare /proc reads), then one row per server and
# round: wrk -t2 -c8 req/s, p50 and p99, and the server's CPU per request (utime + stime of
# its process over the run), then the medians of the per-round ratios. Each shim runs alone
# (started for its run, stopped after); the reference stays up, idle between its runs.
#        PIN=1 benches/inspect.sh ...   the servers on CPU 0 and the load generator on CPU 1
#                                       (wrk -t1), so that they do not take turns on one core
#        DISTINCT=1 benches/inspect.sh ...   every request a different live run of the 50, in
#                                       turn (a dashboard of many runs; identical requests
#                                       shared by the shim never help), by a wrk script
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-5}
secs=${2:-5}
source benches/common.sh
bench_setup
reference_venv
mkdir -p target/bench
"$bench" machine 10
echo
sos=()
[ -n "${BEFORE:-}" ] && sos+=("$BEFORE/libkanban_workers.so")
sos+=("$PWD/target/release/libkanban_workers.so")
"$bench" inspect "${sos[@]}" 2>/dev/null
echo

# PIN=1: who runs where (see the usage above).
srv="" gen="" threads=2
if [ -n "${PIN:-}" ]; then srv="taskset -c 0" gen="taskset -c 1" threads=1; fi
fresh_board target/bench/board-inspect.db 100000 50
$srv "$venv/bin/python" benches/reference/app.py --db "$board" --port 18766 >/dev/null 2>&1 &
pids+=($!); py_pid=$!
wait_for 18766
run=$(sqlite3 "$board" "SELECT id FROM task_runs WHERE ended_at IS NULL ORDER BY id LIMIT 1")
path=/api/plugins/kanban/runs/$run/inspect
label=$path
script=()
if [ -n "${DISTINCT:-}" ]; then
  # Each wrk connection asks the live runs in turn, from its own place in the list.
  ids=$(sqlite3 "$board" "SELECT group_concat(id, ',') FROM task_runs WHERE ended_at IS NULL")
  cat >target/bench/distinct.lua <<LUA
local ids = {$ids}
local n = 0
init = function(args) n = math.random(#ids) end
request = function()
  n = n % #ids + 1
  return wrk.format("GET", "/api/plugins/kanban/runs/" .. ids[n] .. "/inspect")
end
LUA
  script=(-s target/bench/distinct.lua)
  label="/api/plugins/kanban/runs/{each of the 50 live runs in turn}/inspect"
fi

ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
# port pid [routed] -> "rps p50 p99 cpu_us_per_request" (the latencies as wrk prints them);
# with a third argument, DISTINCT's script picks each request's run
load() {
  local t0 t1 o
  t0=$(ticks "$2")
  o=$($gen wrk -t$threads -c8 -d"${secs}s" --latency ${3:+"${script[@]}"} "http://127.0.0.1:$1$path")
  t1=$(ticks "$2")
  echo "$o" | awk -v t0="$t0" -v t1="$t1" -v hz="$(getconf CLK_TCK)" '
    /Requests\/sec/ {rps = $2} $1 == "50%" {p50 = $2} $1 == "99%" {p99 = $2}
    /requests in/ {n = $1}
    END {printf "%s %s %s %.1f\n", rps, p50, p99, (t1 - t0) / hz * 1e6 / n}'
}
# name binary -> one row; the shim started alone on the board, warmed for 1 s, stopped after.
# Then, for the paced table: the same route at a dashboard's pace (8 connections, a request
# every 10 ms each), and for the after build the floor of this machine and load generator, a
# path no route matches (a JSON 404: no board, no /proc) at full speed.
shim() {
  $srv "$2" serve --db "$board" --listen 127.0.0.1:18767 --quiet >/dev/null 2>&1 &
  local pid=$!
  pids+=("$pid")
  wait_for 18767
  $gen wrk -t$threads -c8 -d1s "http://127.0.0.1:18767$path" >/dev/null
  echo "$1 $(load 18767 $pid routed)"
  echo "$1 $($gen "$bench" paced 127.0.0.1:18767 "$path" 8 10 "$secs")" >>"$paced"
  if [ "$1" = after ]; then
    echo "no-route $(path=/api/plugins/kanban/no-such-route load 18767 $pid)" >>"$floor"
  fi
  kill $pid
  wait $pid 2>/dev/null || true
}
paced=target/bench/inspect-paced.txt
floor=target/bench/inspect-floor.txt
: >"$paced"
: >"$floor"
rows=target/bench/inspect-rows.txt
: >"$rows"
echo "### \`$label\`, wrk -t$threads -c8 -d${secs}s, ${rounds} rounds${PIN:+, servers on CPU 0, wrk on CPU 1}"
echo
echo "| round | server | req/s | p50 | p99 | CPU µs / request |"
echo "|---|---|---|---|---|---|"
for r in $(seq "$rounds"); do
  $gen wrk -t$threads -c8 -d1s "http://127.0.0.1:18766$path" >/dev/null
  echo "python $(load 18766 $py_pid routed)" >>"$rows"
  [ -n "${BEFORE:-}" ] && shim before "$BEFORE/kanban-workers" >>"$rows"
  shim after target/release/kanban-workers >>"$rows"
  tail -n "$([ -n "${BEFORE:-}" ] && echo 3 || echo 2)" "$rows" |
    awk -v r="$r" '{printf "| %s | %s | %s | %s | %s | %s |\n", r, $1, $2, $3, $4, $5}'
done
echo
echo "The floor (the after build, a path no route matches, full speed), and each shim at a"
echo "dashboard's pace (\`bench paced\`: 8 connections, a request every 10 ms each):"
echo
echo "| round | what | req/s or requests | p50 | p99 | CPU µs / request, or max ms |"
echo "|---|---|---|---|---|---|"
awk '{r[$1]++; printf "| %d | %s | %s | %s | %s | %s |\n", r[$1], $1, $2, $3, $4, $5}' "$floor"
# paced prints "| path | requests | non-200 | p50 | p99 | max |"
awk -F'|' '{split($1, w, " "); r[w[1]]++; printf "| %d | %s, paced | %s | %s | %s | %s |\n", r[w[1]], w[1], $3, $5, $6, $7}' "$paced"
echo
# Medians of the per-round ratios (rows come in rounds: python, [before,] after).
awk -v before="${BEFORE:+1}" '
  function median(a, n,   i, j, t) {
    for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (a[j] < a[i]) {t = a[i]; a[i] = a[j]; a[j] = t}
    return a[int((n + 1) / 2)]
  }
  { k = $1; rps[k, ++n[k]] = $2; cpu[k, n[k]] = $5 }
  END {
    for (i = 1; i <= n["after"]; i++) { ap[i] = rps["after", i] / rps["python", i] }
    printf "after / python, req/s: %.1fx (median of per-round ratios)\n", median(ap, n["after"])
    if (before) {
      for (i = 1; i <= n["after"]; i++) {
        ab[i] = rps["after", i] / rps["before", i]; bp[i] = rps["before", i] / rps["python", i]
        cc[i] = cpu["after", i] / cpu["before", i]
      }
      printf "before / python, req/s: %.1fx\n", median(bp, n["after"])
      printf "after / before, req/s: %.2fx; CPU per request: %.2fx\n", median(ab, n["after"]), median(cc, n["after"])
    }
  }' "$rows"
