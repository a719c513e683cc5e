#!/bin/sh
# What idle followed logs cost: three shims side by side on one board (one open run, a log that
# does not grow), followed by 0, 1 and 16 streams (curl -N); the CPU ticks of each shim
# (utime + stime, /proc/<pid>/stat fields 14-15) over SECS seconds. BENCHMARKS.md has the results.
# Usage: benches/idle_streams.sh [SECS]   (default 60; needs a release build and sqlite3)
set -eu
SECS=${1:-60}
BIN=${BIN:-target/release/kanban-workers}
T=$(mktemp -d)
trap 'kill $(cat "$T"/pids 2>/dev/null) 2>/dev/null; rm -rf "$T"' EXIT
sqlite3 "$T/kanban.db" < sql/kanban_schema.sql
sqlite3 "$T/kanban.db" "PRAGMA journal_mode=wal; INSERT INTO tasks (id, title, status, created_at) VALUES ('t_1', 'x', 'running', 1); INSERT INTO task_runs (task_id, status, started_at) VALUES ('t_1', 'running', 1);" >/dev/null
mkdir -p "$T/kanban/logs" && echo "a line" > "$T/kanban/logs/t_1.log"
ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }
for n in 0 1 16; do
  port=$((18800 + n))
  "$BIN" serve --db "$T/kanban.db" --listen 127.0.0.1:$port --quiet --log-streams 64 >/dev/null 2>&1 &
  echo $! > "$T/shim$n"; echo $! >> "$T/pids"
done
sleep 1
for n in 0 1 16; do
  i=0; while [ $i -lt $n ]; do
    curl -sN "http://127.0.0.1:$((18800 + n))/runs/1/log?follow=1" >/dev/null & echo $! >> "$T/pids"
    i=$((i + 1))
  done
done
sleep 1
for n in 0 1 16; do echo "$(ticks "$(cat "$T/shim$n")")" > "$T/start$n"; done
sleep "$SECS"
hz=$(getconf CLK_TCK)
for n in 0 1 16; do
  used=$(( $(ticks "$(cat "$T/shim$n")") - $(cat "$T/start$n") ))
  echo "$n streams: $used ticks (1/$hz s) in ${SECS}s: $(echo "scale=4; $used / $hz * 60 / $SECS" | bc) CPU s per minute"
done
