# Shared by benches/run.sh and benches/soak.sh (sourced, from the repository root).
# After `bench_setup`: wrk and sqlite3 are installed, the release build is current, and
# $bench is the bench binary (`benches/bench.rs`).

bench_setup() {
  command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk; }
  command -v sqlite3 >/dev/null || { apt-get update -qq && apt-get install -y -qq sqlite3; }
  make release >/dev/null
  bench=$(cargo bench --bench bench --no-run 2>&1 | sed -n 's/.*Executable .*(\(.*\)).*/\1/p' | tail -1)
  [ -x "$bench" ] || { echo "could not build the bench binary" >&2; exit 1; }
}

# A fresh board at $1 with $2 runs and $3 live `sleep` workers. Sets $board; on exit, the
# workers and every process in $pids are killed.
fresh_board() {
  board=$1
  rm -f "$board" "$board"-wal "$board"-shm
  "$bench" board "$board" "$2" "$3" >/dev/null
  pids=()
  trap 'kill "${pids[@]}" 2>/dev/null || true; kill_workers "$board"' EXIT
}

# Kill the live workers that fresh_board started for board $1.
kill_workers() {
  sqlite3 "$1" "SELECT worker_pid FROM task_runs WHERE ended_at IS NULL AND task_id LIKE 't_live%'" 2>/dev/null |
    xargs -r kill 2>/dev/null || true
}

# Wait until the server on port $1 answers.
wait_for() {
  for _ in $(seq 100); do
    curl -sf "http://127.0.0.1:$1/api/plugins/kanban/workers/active" >/dev/null && return 0
    sleep 0.2
  done
  echo "no server on port $1" >&2
  return 1
}

# The Python reference's virtualenv (FastAPI, uvicorn, psutil) in target/bench-venv, made once.
# Sets $venv.
reference_venv() {
  venv=target/bench-venv
  if ! "$venv/bin/python" -c 'import fastapi, uvicorn, psutil' 2>/dev/null; then
    python3 -m venv "$venv"
    "$venv/bin/pip" install -q fastapi uvicorn psutil
  fi
}
