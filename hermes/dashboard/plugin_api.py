"""kanban-workers: the Workers tab's backend, inside the Hermes dashboard.

The dashboard's Python often cannot load SQLite extensions (a venv over a pyenv build has no
``enable_load_extension``), so this backend computes nothing itself: it starts one
``kanban-workers serve`` on a private loopback port, with a token of its own (random, in a
0600 file in a 0700 folder), and forwards each request to the shim's JSON routes
(``GET /workers/active?live=1``, ``POST /runs/{id}/terminate``). Every verdict comes from the
shim's SQL surface. The shim is started at the first request, started again when it has ended,
and ended with the dashboard (at exit, and by the kernel's parent-death signal if the dashboard
is killed). The routes here are mounted by the dashboard at ``/api/plugins/kanban-workers/``
behind its own session gate; the hop to the shim carries the shim's token. See docs/hermes.md.
"""

import atexit
import collections
import ctypes
import http.client
import json
import logging
import os
import secrets
import shutil
import signal
import subprocess
import tempfile
import threading
import time
import urllib.parse
from pathlib import Path

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse
from starlette.concurrency import run_in_threadpool

router = APIRouter()
_log = logging.getLogger("kanban_workers.plugin")
_HERE = Path(__file__).resolve().parent
# How long a request waits for the shim to start; how long a hop may take (a terminate waits
# out its grace period, up to 60 s, then 2 s for SIGKILL).
_START_TIMEOUT_S = 20
_READ_TIMEOUT_S = 30
# A followed log: the shim sends a keepalive every 15 s, so a read this long means it is gone.
_STREAM_READ_TIMEOUT_S = 60
_TERMINATE_TIMEOUT_S = 90
_BODY_MAX = 4096


def _binary():
    """The shim: $KANBAN_WORKERS_BIN, else the path `kanban-workers hermes install` wrote."""
    env = os.environ.get("KANBAN_WORKERS_BIN")
    if env:
        return env
    try:
        return json.loads((_HERE / "shim.json").read_text(encoding="utf-8"))["bin"]
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _die_with_parent():
    # In the child, before exec: SIGTERM when the thread that started it (the supervisor,
    # which lives as long as the dashboard) ends, so a killed dashboard leaves no shim.
    try:
        ctypes.CDLL(None, use_errno=True).prctl(1, int(signal.SIGTERM))  # PR_SET_PDEATHSIG
    except Exception:
        pass


_FOLDER_PREFIX = "kanban-workers-plugin-"


def _sweep():
    """Remove the token folders of earlier dashboards that are gone. A dashboard that ends
    without running its exit handlers (os._exit, SIGKILL) leaves its folder behind; its shim
    has ended with it (parent-death signal), so the token there opens nothing."""
    root = tempfile.gettempdir()
    try:
        names = os.listdir(root)
    except OSError:
        return
    for name in names:
        if not name.startswith(_FOLDER_PREFIX):
            continue
        pid = name[len(_FOLDER_PREFIX):].split("-", 1)[0]
        path = os.path.join(root, name)
        try:
            st = os.lstat(path)
            if not pid.isdigit() or st.st_uid != os.getuid() or not os.path.isdir(path):
                continue
            if int(pid) != os.getpid() and os.path.exists(f"/proc/{pid}"):
                continue
            shutil.rmtree(path, ignore_errors=True)
        except OSError:
            continue


class _Shim:
    """One supervised `kanban-workers serve` on 127.0.0.1, port chosen by the kernel."""

    def __init__(self):
        self.cond = threading.Condition()
        self.addr = None
        self.token = None
        self.error = None
        self.generation = 0
        self.wanted = threading.Event()
        self.thread = None
        self.proc = None
        self.folder = None
        self.stopping = False

    def ensure(self):
        """(address, token) of a running shim, starting one when there is none."""
        with self.cond:
            if self.addr:
                return self.addr, self.token
            if self.thread is None:
                _sweep()
                self.folder = tempfile.mkdtemp(prefix=f"{_FOLDER_PREFIX}{os.getpid()}-")
                self.thread = threading.Thread(
                    target=self._supervise, name="kanban-workers-shim", daemon=True
                )
                self.thread.start()
            seen = self.generation
            self.wanted.set()
            self.cond.wait_for(
                lambda: self.addr or self.generation != seen, _START_TIMEOUT_S
            )
            if self.addr:
                return self.addr, self.token
            raise _Unavailable(self.error or "the kanban-workers shim did not start in time")

    def gone(self, addr):
        """The shim at `addr` did not answer: start another at the next request."""
        with self.cond:
            if self.addr == addr:
                self.addr = None
                if self.proc is not None and self.proc.poll() is None:
                    self.proc.kill()

    def _supervise(self):
        while not self.stopping:
            self.wanted.wait()
            self.wanted.clear()
            if self.stopping:
                return
            started = time.monotonic()
            error = self._run_once()
            with self.cond:
                self.addr = None
                self.proc = None
                self.error = error
                self.generation += 1
                self.cond.notify_all()
            _log.warning("kanban-workers: %s", error)
            # A shim that cannot start is not started again more than once a second.
            time.sleep(max(0.0, 1.0 - (time.monotonic() - started)))

    def _run_once(self):
        binary = _binary()
        if not binary:
            return ("no kanban-workers binary: run `kanban-workers hermes install` again, "
                    "or set $KANBAN_WORKERS_BIN")
        token = secrets.token_urlsafe(32)
        token_file = os.path.join(self.folder, "token")
        partial = token_file + ".new"
        fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(token + "\n")
        os.replace(partial, token_file)
        argv = [binary, "serve", "--listen", "127.0.0.1:0", "--token-file", token_file,
                "--auth-reads", "--quiet"]
        # The fleet (docs/fleet.md): the Prometheus-compatible query API the dashboard's
        # environment names, asked by the shim for every host's workers. No token of ours is
        # ever sent there.
        prometheus = os.environ.get("KANBAN_WORKERS_PROMETHEUS", "").strip()
        if prometheus:
            argv += ["--prometheus", prometheus]
        try:
            proc = subprocess.Popen(
                argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                stderr=subprocess.PIPE, preexec_fn=_die_with_parent, close_fds=True,
            )
        except OSError as e:
            return f"cannot run {binary}: {e}"
        with self.cond:
            self.proc = proc
        said = collections.deque(maxlen=20)

        def drain_stderr():
            for raw in proc.stderr:
                line = raw.decode("utf-8", "replace").rstrip()
                said.append(line)
                _log.info("%s", line)

        threading.Thread(target=drain_stderr, name="kanban-workers-stderr", daemon=True).start()
        addr = None
        for raw in proc.stdout:
            line = raw.decode("utf-8", "replace").strip()
            # "kanban-workers 0.1.0: serving board <path> on http://127.0.0.1:PORT"
            if line.startswith("kanban-workers ") and " on http://" in line:
                addr = line.rsplit("http://", 1)[1].strip().rstrip("/")
                with self.cond:
                    self.addr = addr
                    self.token = token
                    self.cond.notify_all()
                break
        for _ in proc.stdout:
            pass
        code = proc.wait()
        time.sleep(0.05)  # the last lines of stderr
        tail = " ".join(l for l in said if l)
        tail = tail.removeprefix("kanban-workers: ")
        if addr is None:
            return f"the kanban-workers shim did not start (exit code {code}): {tail}"
        return f"the kanban-workers shim ended (exit code {code}): {tail}"

    def stop(self):
        self.stopping = True
        self.wanted.set()
        with self.cond:
            proc = self.proc
        if proc is not None and proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=6)
            except subprocess.TimeoutExpired:
                proc.kill()
        if self.folder:
            shutil.rmtree(self.folder, ignore_errors=True)


class _Unavailable(Exception):
    pass


_shim = _Shim()
atexit.register(_shim.stop)


def _hop(method, path, query, body, timeout):
    """The shim's answer (status, bytes) to one request, with the shim's token."""
    for attempt in (1, 2):
        addr, token = _shim.ensure()
        host, _, port = addr.rpartition(":")
        url = path + ("?" + urllib.parse.urlencode(query) if query else "")
        headers = {"Authorization": f"Bearer {token}", "Accept": "application/json"}
        if body is not None:
            headers["Content-Type"] = "application/json"
        conn = http.client.HTTPConnection(host.strip("[]"), int(port), timeout=timeout)
        try:
            conn.request(method, url, body=body, headers=headers)
            r = conn.getresponse()
            return r.status, r.read()
        except ConnectionError:
            # The shim ended between two requests: once more, with a new one. A read
            # timeout is not retried (a terminate may be under way).
            _shim.gone(addr)
            if attempt == 2 or method != "GET":
                raise _Unavailable("the kanban-workers shim did not answer")
        finally:
            conn.close()
    raise _Unavailable("the kanban-workers shim did not answer")


async def _forward(method, path, query, body=None, timeout=_READ_TIMEOUT_S):
    try:
        status, data = await run_in_threadpool(_hop, method, path, query, body, timeout)
    except _Unavailable as e:
        return JSONResponse(status_code=503, content={"detail": str(e)})
    except OSError as e:
        return JSONResponse(status_code=502, content={"detail": f"the kanban-workers shim: {e}"})
    if status == 401:
        # Our own token refused: never the browser's fault, never passed on as a 401 (the
        # dashboard would take it for its own session expiring).
        return JSONResponse(status_code=502,
                            content={"detail": "the kanban-workers shim refused the plugin's token"})
    return Response(content=data, status_code=status, media_type="application/json")


def _board(board):
    return {"board": board} if board else {}


@router.get("/workers")
async def workers(board: str = ""):
    """Every worker of the board, with its verdict and live stats (the shim's ?live=1)."""
    return await _forward("GET", "/workers/active", {"live": "1", **_board(board)})


@router.get("/fleet")
async def fleet(board: str = ""):
    """Every host's workers through Prometheus (the shim's /fleet/workers): ``prometheus`` is
    null when the dashboard's environment names no query API ($KANBAN_WORKERS_PROMETHEUS)."""
    return await _forward("GET", "/fleet/workers", _board(board))


@router.post("/runs/{run_id}/terminate")
async def terminate(run_id: str, request: Request, board: str = ""):
    """The shim's safe terminate of a run's worker; the body ({reason, grace_seconds}) as sent."""
    body = await request.body()
    if len(body) > _BODY_MAX:
        return JSONResponse(status_code=413, content={"detail": f"the body is over {_BODY_MAX} bytes"})
    path = "/runs/" + urllib.parse.quote(run_id, safe="") + "/terminate"
    return await _forward("POST", path, _board(board), body or b"{}", _TERMINATE_TIMEOUT_S)


@router.post("/runs/{run_id}/stop")
async def stop(run_id: str, request: Request, board: str = ""):
    """The shim's stop: the task blocked as the owner's block_task blocks it (not claimed again),
    then the run's processes ended; the body ({reason, grace_seconds}) as sent."""
    body = await request.body()
    if len(body) > _BODY_MAX:
        return JSONResponse(status_code=413, content={"detail": f"the body is over {_BODY_MAX} bytes"})
    path = "/runs/" + urllib.parse.quote(run_id, safe="") + "/stop"
    return await _forward("POST", path, _board(board), body or b"{}", _TERMINATE_TIMEOUT_S)


@router.post("/runs/{run_id}/pause")
async def pause(run_id: str, board: str = ""):
    """The shim's pause: the run's whole systemd scope frozen (cgroup.freeze), where it has one."""
    path = "/runs/" + urllib.parse.quote(run_id, safe="") + "/pause"
    return await _forward("POST", path, _board(board), b"{}", _TERMINATE_TIMEOUT_S)


@router.post("/runs/{run_id}/resume")
async def resume(run_id: str, board: str = ""):
    """The shim's resume: the run's scope thawed."""
    path = "/runs/" + urllib.parse.quote(run_id, safe="") + "/resume"
    return await _forward("POST", path, _board(board), b"{}", _TERMINATE_TIMEOUT_S)


@router.get("/runs/endings")
async def endings(board: str = "", since: str = ""):
    """How runs ended since ``since`` (epoch seconds; the last six hours without it), each in
    words, and how many by ending (the shim's /runs/endings)."""
    return await _forward("GET", "/runs/endings", {**_board(board), **({"since": since} if since else {})})


@router.get("/lingering")
async def lingering(board: str = ""):
    """What ended runs left behind, each process with whether the shim may signal it and why
    not (the shim's /workers/lingering)."""
    return await _forward("GET", "/workers/lingering", _board(board))


@router.post("/runs/{run_id}/reap")
async def reap(run_id: str, request: Request, board: str = ""):
    """The shim's reap of what an ended run left behind (its processes signalled; where it
    ended the run's kept worker, that worker cleared as the owner's reaper clears it)."""
    body = await request.body()
    if len(body) > _BODY_MAX:
        return JSONResponse(status_code=413, content={"detail": f"the body is over {_BODY_MAX} bytes"})
    path = "/runs/" + urllib.parse.quote(run_id, safe="") + "/reap"
    return await _forward("POST", path, _board(board), body or b"{}", _TERMINATE_TIMEOUT_S)


@router.get("/runs/{run_id}/processes")
async def processes(run_id: str, board: str = ""):
    """A run's processes now: its worker's tree, then what escaped it (the board owner's only)."""
    path = "/runs/" + urllib.parse.quote(run_id, safe="") + "/processes"
    return await _forward("GET", path, _board(board))


@router.get("/runs/{run_id}/history")
async def history(run_id: str, board: str = ""):
    """A run's tree CPU, memory and process count over the shim's history window."""
    path = "/runs/" + urllib.parse.quote(run_id, safe="") + "/history"
    return await _forward("GET", path, _board(board))


def _open_stream(path, query):
    """A connection to the shim and its answer's head, the body left to read (a stream)."""
    addr, token = _shim.ensure()
    host, _, port = addr.rpartition(":")
    url = path + "?" + urllib.parse.urlencode(query)
    headers = {"Authorization": f"Bearer {token}", "Accept": "text/event-stream"}
    conn = http.client.HTTPConnection(host.strip("[]"), int(port), timeout=_STREAM_READ_TIMEOUT_S)
    try:
        conn.request("GET", url, headers=headers)
        return conn, conn.getresponse()
    except ConnectionError:
        conn.close()
        _shim.gone(addr)
        raise _Unavailable("the kanban-workers shim did not answer")
    except BaseException:
        conn.close()
        raise


@router.get("/runs/{run_id}/log")
async def follow_log(run_id: str, board: str = "", tail: str = ""):
    """A run's log followed live (the shim's Server-Sent Events, passed through as they come;
    the stream ends when the run has ended, the log idles, or the browser leaves)."""
    path = "/runs/" + urllib.parse.quote(run_id, safe="") + "/log"
    query = {"follow": "1", **_board(board), **({"tail": tail} if tail else {})}
    try:
        conn, r = await run_in_threadpool(_open_stream, path, query)
    except _Unavailable as e:
        return JSONResponse(status_code=503, content={"detail": str(e)})
    except OSError as e:
        return JSONResponse(status_code=502, content={"detail": f"the kanban-workers shim: {e}"})
    if r.status != 200:
        data = await run_in_threadpool(r.read)
        conn.close()
        if r.status == 401:
            return JSONResponse(status_code=502,
                                content={"detail": "the kanban-workers shim refused the plugin's token"})
        return Response(content=data, status_code=r.status, media_type="application/json")

    async def events():
        try:
            while True:
                chunk = await run_in_threadpool(r.read1, 65536)
                if not chunk:
                    return
                yield chunk
        except OSError:
            return
        finally:
            conn.close()

    return StreamingResponse(events(), media_type="text/event-stream",
                             headers={"Cache-Control": "no-cache"})

