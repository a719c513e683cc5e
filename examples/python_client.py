#!/usr/bin/env python3
"""Active workers with live process stats, from Python's stdlib sqlite3.

Usage: /usr/bin/python3 examples/python_client.py BOARD.db [path/to/libkanban_workers.so]
(Debian's /usr/bin/python3 is built with enable_load_extension; some pyenv builds are not.)
"""
import json
import sqlite3
import sys

board = sys.argv[1]
ext = sys.argv[2] if len(sys.argv) > 2 else "target/release/libkanban_workers.so"

# Read-only: the board belongs to a live system.
conn = sqlite3.connect(f"file:{board}?mode=ro", uri=True)
conn.enable_load_extension(True)
conn.load_extension(ext)
conn.enable_load_extension(False)
conn.row_factory = sqlite3.Row

rows = conn.execute(
    """
    SELECT w.run_id, w.task_id, w.worker_pid, w.worker_host,
           p.alive, p.reason, p.state, p.cpu_percent, p.rss_bytes, p.num_fds
    FROM active_workers AS w
    LEFT JOIN proc_stats(w.worker_pid) AS p
    ORDER BY w.started_at
    """
).fetchall()
print(json.dumps([dict(r) for r in rows], indent=2))
