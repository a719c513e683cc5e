"""RSS of the shim before, at the peak of, and after bursts of large answers.

usage: /usr/bin/python3 benches/burst_memory.py BINARY [ENV=VALUE ...]
       (set KW_NO_FLAGS=1 for a binary older than --busy-timeout)

Builds a board of 4,000 running workers (a 1.3 MB /workers/active) in a temp dir, starts the
shim on it (ENV=VALUE pairs are added to its environment, e.g. MALLOC_ARENA_MAX=2), then:
400 clients ask for /workers/active and never read; they go away; 50 clients read it 5 times
each. Prints RSS (VmRSS) at the start, the peak (VmHWM) and RSS a second after the bursts.
"""
import os, socket, sqlite3, subprocess, sys, tempfile, threading, time, urllib.request

binary, extra = sys.argv[1], dict(kv.split("=", 1) for kv in sys.argv[2:])
tmp = tempfile.mkdtemp(prefix="kw-burst-")
board = os.path.join(tmp, "kanban.db")
schema = open(os.path.join(os.path.dirname(__file__), "..", "sql", "kanban_schema.sql")).read()
c = sqlite3.connect(board)
c.execute("pragma journal_mode=wal")
c.executescript(schema)
for i in range(4000):
    c.execute("insert into tasks(id,title,assignee,status,created_at) values(?,?,?,?,?)",
              (f"t_{i:05}", f"title of t_{i:05}", "agent-x", "running", 1700000000))
    c.execute("insert into task_runs(task_id,profile,status,claim_lock,claim_expires,worker_pid,"
              "max_runtime_seconds,last_heartbeat_at,started_at,metadata) values(?,?,?,?,?,?,?,?,?,?)",
              (f"t_{i:05}", "default", "running", "host-a:4242", 1700000900, 4242, 3600,
               1700000005, 1700000000, '{"k":1}'))
c.commit()
c.close()
flags = [] if os.environ.get("KW_NO_FLAGS") else ["--header-timeout", "2", "--busy-timeout", "2"]
p = subprocess.Popen([binary, "serve", "--db", board, "--listen", "127.0.0.1:0", "--quiet", *flags],
                     stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env={**os.environ, **extra})
addr = p.stdout.readline().decode().split("http://")[1].split()[0]
host, port = addr.split(":")


def kb(field):
    for line in open(f"/proc/{p.pid}/status"):
        if line.startswith(field + ":"):
            return int(line.split()[1])


def get(path):
    return urllib.request.urlopen(f"http://{addr}{path}").read()


get("/workers/active")
start = kb("VmRSS")
silent = []
for _ in range(400):
    s = socket.create_connection((host, int(port)))
    s.sendall(b"GET /workers/active HTTP/1.1\r\nHost: localhost\r\n\r\n")
    silent.append(s)
get("/runs/1")
for s in silent:
    s.close()
readers = [threading.Thread(target=lambda: [get("/workers/active") for _ in range(5)]) for _ in range(50)]
for t in readers:
    t.start()
for t in readers:
    t.join()
time.sleep(1)
get("/workers/active")
print(f"{' '.join(sys.argv[1:])}: start {start} kB, peak {kb('VmHWM')} kB, after {kb('VmRSS')} kB")
p.terminate()
p.wait()
subprocess.run(["rm", "-rf", tmp])
