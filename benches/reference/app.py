"""The Python baseline: the reference dashboard's three routes (FastAPI + uvicorn + psutil +
stdlib sqlite3), written here from the reference's documented behaviour, with the same SQL.

Run: python benches/reference/app.py --db BOARD --port PORT   (benches/run.sh does it)

Fairer to Python than the real plugin: it does not re-run the board's init on every request.
"""
import argparse
import json
import sqlite3
import time

import psutil
import uvicorn
from fastapi import FastAPI, HTTPException

ACTIVE_SQL = """
SELECT r.id AS run_id, r.task_id, t.title AS task_title, t.status AS task_status,
       t.assignee AS task_assignee, r.profile, r.worker_pid, r.started_at, r.claim_lock,
       r.claim_expires, r.last_heartbeat_at, r.max_runtime_seconds
FROM task_runs r JOIN tasks t ON t.id = r.task_id
WHERE r.ended_at IS NULL AND r.worker_pid IS NOT NULL AND t.status = 'running'
ORDER BY r.started_at
"""

parser = argparse.ArgumentParser()
parser.add_argument("--db", required=True)
parser.add_argument("--port", type=int, required=True)
args = parser.parse_args()
app = FastAPI()


def connect():
    conn = sqlite3.connect(f"file:{args.db}?mode=ro", uri=True, timeout=5)
    conn.row_factory = sqlite3.Row
    return conn


@app.get("/api/plugins/kanban/workers/active")
def workers_active(live: int = 0):
    with connect() as conn:
        workers = [dict(r) for r in conn.execute(ACTIVE_SQL)]
    if live:
        # What ?live=1 answers, done the reference's way: psutil for each worker.
        for w in workers:
            w.update(process_stats(w["worker_pid"]))
    return {"workers": workers, "count": len(workers), "checked_at": int(time.time())}


def process_stats(pid):
    """The inspect route's stats of one pid, as psutil gives them."""
    try:
        proc = psutil.Process(pid)
        with proc.oneshot():
            mem = proc.memory_info()
            return {
                "alive": True, "cpu_percent": proc.cpu_percent(interval=None),
                "memory_rss_bytes": mem.rss, "memory_vms_bytes": mem.vms,
                "num_threads": proc.num_threads(), "num_fds": proc.num_fds(),
                "status": proc.status(), "create_time": proc.create_time(),
                "cmdline": proc.cmdline(),
            }
    except psutil.NoSuchProcess:
        return {"alive": False, "reason": "process not found"}
    except psutil.AccessDenied:
        return {"alive": True, "error": "access denied"}


def fetch_run(run_id):
    """The run's row, or the reference's 404."""
    with connect() as conn:
        row = conn.execute("SELECT * FROM task_runs WHERE id = ?", (run_id,)).fetchone()
    if row is None:
        raise HTTPException(status_code=404, detail=f"run {run_id} not found")
    return row


@app.get("/api/plugins/kanban/runs/{run_id}")
def get_run(run_id: int):
    run = dict(fetch_run(run_id))
    try:
        run["metadata"] = json.loads(run["metadata"]) if run.get("metadata") else None
    except (TypeError, ValueError):
        run["metadata"] = None
    return {"run": run}


@app.get("/api/plugins/kanban/runs/{run_id}/inspect")
def inspect(run_id: int):
    row = fetch_run(run_id)
    if row["ended_at"] is not None:
        return {"run_id": run_id, "alive": False, "reason": "run already ended"}
    pid = row["worker_pid"]
    if not pid:
        return {"run_id": run_id, "alive": False, "reason": "no worker_pid recorded"}
    try:
        proc = psutil.Process(pid)
        with proc.oneshot():
            mem = proc.memory_info()
            return {
                "run_id": run_id, "alive": True, "pid": pid,
                "cpu_percent": proc.cpu_percent(interval=None),
                "memory_rss_bytes": mem.rss, "memory_vms_bytes": mem.vms,
                "num_threads": proc.num_threads(), "num_fds": proc.num_fds(),
                "status": proc.status(), "create_time": proc.create_time(),
                "cmdline": proc.cmdline(),
            }
    except psutil.NoSuchProcess:
        return {"run_id": run_id, "alive": False, "pid": pid, "reason": "process not found"}
    except psutil.AccessDenied:
        return {"run_id": run_id, "alive": True, "pid": pid, "error": "access denied"}


if __name__ == "__main__":
    uvicorn.run(app, host="127.0.0.1", port=args.port, log_level="warning", access_log=False)
