#!/usr/bin/env python3
"""The manylinux_2_17 wheels of `make wheels`, tested as users get them (`make wheels-test`).

    wheels/test.py --wheels target/wheels --py-tools target/py-tools --arm64-root target/arm64-root

x86_64: the wheel is installed by a plain `pip install` into a fresh venv of Debian's python3
and checked as tests/it/wheel.rs checks the native wheel: the README query from Python, the
binary on the venv's PATH serving the demo, apsw's and pysqlite3's connections, the error of a
Python that cannot load extensions (when one is found), the tag by `auditwheel show`.

aarch64: the wheel is installed by pip for an aarch64 platform (`--platform`, `--target`), and
what pip installed is run under qemu-user (`qemu-aarch64-static -L <arm64-root>`, the aarch64
userland of wheels/arm64-root.sh): the `.so` loaded into the aarch64 `sqlite3` shell reads a live
aarch64 process (a `sleep` of that userland) exactly as /proc says, and answers the README query;
the binary serves `/workers/active` and `/runs/{id}/inspect` on a board.

Every process started here is ended here (its whole session), on failure too; `make
wheels-test` runs this under .ci/leftovers, which fails if one is left. The stdlib only.
"""

import argparse
import glob
import json
import os
import queue
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import unittest
import urllib.request
import zipfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ARGS = None  # set by main()

README_QUERY = (
    "SELECT w.run_id, w.task_id, p.alive, p.reason, p.cpu_percent, p.rss_bytes "
    "FROM active_workers AS w LEFT JOIN proc_stats(w.worker_pid) AS p "
    "ORDER BY w.started_at;"
)
# The tags each wheel carries (its file name and WHEEL): PEP 600's name, for pip >= 20.3, and
# the legacy alias of the same policy, for pip 19.3 to 20.2 (Ubuntu 20.04's 20.0.2, RHEL 8's).
PLATFORMS = {
    arch: f"manylinux_2_17_{arch}.manylinux2014_{arch}" for arch in ("x86_64", "aarch64")
}
ELF_MACHINE = {"x86_64": 62, "aarch64": 183}


def version():
    import tomllib

    with open(os.path.join(ROOT, "Cargo.toml"), "rb") as f:
        return tomllib.load(f)["workspace"]["package"]["version"]  # both packages inherit it


def wheel(arch):
    path = os.path.join(ARGS.wheels, f"kanban_workers-{version()}-py3-none-{PLATFORMS[arch]}.whl")
    if not os.path.isfile(path):
        raise AssertionError(f"no {path}: `make wheels` builds it")
    return path


def run_ok(cmd, **kw):
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=300, **kw)
    if out.returncode != 0:
        raise AssertionError(f"{cmd} failed ({out.returncode}):\n{out.stdout}\n{out.stderr}")
    return out.stdout


def scratch(name):
    """A fresh folder under the run's scratch dir (emptied by main())."""
    path = os.path.join(ARGS.scratch, name)
    os.makedirs(path)
    return path


# --- processes: each in a session of its own, ended with its whole session ------------------

_STARTED = []


def session_members(sid):
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        # state is fields[0], session fields[3]
        if fields[3] == str(sid) and fields[0] not in ("Z", "X"):
            found.append(int(entry))
    return found


def spawn(cmd, **kw):
    p = subprocess.Popen(cmd, start_new_session=True, **kw)
    _STARTED.append(p)
    return p


def end(p, graceful=False, timeout=30):
    """End `p` and everything in its session. `graceful`: SIGTERM first, and its exit status is
    returned (None when it had to be killed)."""
    status = None
    if p.poll() is None and graceful:
        p.send_signal(signal.SIGTERM)
        try:
            status = p.wait(timeout)
        except subprocess.TimeoutExpired:
            pass
    elif p.poll() is not None:
        status = p.returncode
    for _ in range(50):
        members = session_members(p.pid)
        if p.poll() is None:
            members.append(p.pid)
        if not members:
            break
        for pid in set(members):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        if p.poll() is None:
            try:
                p.wait(1)
            except subprocess.TimeoutExpired:
                pass
        time.sleep(0.05)
    if p.poll() is None:
        p.wait(10)
    if p in _STARTED:
        _STARTED.remove(p)
    return status


def end_all():
    for p in list(_STARTED):
        end(p)


class Server:
    """`cmd` (the shim) started, and its stdout read until the line naming its address."""

    def __init__(self, cmd, env=None, marker="serving board", timeout=60):
        self.p = spawn(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, text=True)
        lines = queue.Queue()

        def pump(stream, keep):
            for line in stream:
                keep(line)
            keep(None)

        self.stderr = []
        self.pumps = [
            threading.Thread(target=pump, args=(self.p.stdout, lines.put), daemon=True),
            threading.Thread(target=pump, args=(self.p.stderr, self.stderr.append), daemon=True),
        ]
        for t in self.pumps:
            t.start()
        deadline = time.monotonic() + timeout
        while True:
            try:
                line = lines.get(timeout=max(0.1, deadline - time.monotonic()))
            except queue.Empty:
                self.close()
                raise AssertionError(f"{cmd}: no {marker!r} line in {timeout} s")
            if line is None:
                self.close()
                raise AssertionError(f"{cmd} exited: {''.join(filter(None, self.stderr))}")
            if marker in line:
                rest = line.split("http://", 1)[1]
                self.addr = rest.split("/", 1)[0].split()[0]
                break

    def get_json(self, path):
        with urllib.request.urlopen(f"http://{self.addr}{path}", timeout=30) as r:
            return json.loads(r.read())

    def stop(self):
        """SIGTERM, as a user's Ctrl-C or systemd: returns (exit status, stderr)."""
        status = end(self.p, graceful=True)
        self.close()
        return status, "".join(filter(None, self.stderr))

    def close(self):
        """Ended (with its session), its output read to the end and its pipes closed."""
        end(self.p)
        for t in self.pumps:
            t.join(10)
        for stream in (self.p.stdout, self.p.stderr):
            stream.close()


# --- boards and processes, read the way the tests/it helpers read them -----------------------

def hostname():
    with open("/proc/sys/kernel/hostname") as f:
        return f.read().strip()


def make_board(folder, pid):
    """A board (sql/kanban_schema.sql, WAL) with one open run whose worker is `pid`."""
    import sqlite3

    path = os.path.join(folder, "kanban.db")
    now = int(time.time())
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA journal_mode=wal")
    with open(os.path.join(ROOT, "sql/kanban_schema.sql")) as f:
        conn.executescript(f.read())
    lock = f"{hostname()}:4242"
    conn.execute(
        "INSERT INTO tasks (id, title, assignee, status, created_at, claim_lock, worker_pid) "
        "VALUES ('t_live', 'title of t_live', 'agent-x', 'running', ?, ?, ?)",
        (now, lock, pid),
    )
    conn.execute(
        "INSERT INTO task_runs (task_id, profile, status, claim_lock, claim_expires, worker_pid, "
        "max_runtime_seconds, last_heartbeat_at, started_at, ended_at, metadata) "
        "VALUES ('t_live', 'default', 'running', ?, ? + 900, ?, 3600, ? + 5, ?, NULL, '{\"k\": 1}')",
        (lock, now, pid, now, now),
    )
    conn.commit()
    conn.close()
    return path


STATES = {"R": "running", "S": "sleeping", "D": "disk-sleep", "T": "stopped", "t": "tracing-stop"}


def proc_truth(pid):
    """What /proc says of `pid`, in proc_stats' columns."""
    with open(f"/proc/{pid}/stat") as f:
        after = f.read().rsplit(")", 1)[1].split()
    with open(f"/proc/{pid}/cmdline", "rb") as f:
        raw = f.read()
    with open(f"/proc/{pid}/statm") as f:
        size, resident = (int(x) for x in f.read().split()[:2])
    with open("/proc/stat") as f:
        btime = next(int(l.split()[1]) for l in f if l.startswith("btime "))
    with open("/proc/1/stat") as f:
        pid1_ticks = f.read().rsplit(")", 1)[1].split()[19]
    with open("/proc/sys/kernel/random/boot_id") as f:
        boot_id = f.read().strip()
    page = os.sysconf("SC_PAGE_SIZE")
    ticks = int(after[19])
    return {
        "pid": pid,
        "alive": 1,
        "reason": None,
        "state": STATES[after[0]],
        "ppid": int(after[1]),
        "uid": os.stat(f"/proc/{pid}").st_uid,
        "num_threads": int(after[17]),
        "rss_bytes": resident * page,
        "vms_bytes": size * page,
        "start_ticks": ticks,
        "start_time": round(btime + ticks / os.sysconf("SC_CLK_TCK"), 2),
        "num_fds": len(os.listdir(f"/proc/{pid}/fd")),
        "cmdline": [a.decode() for a in raw.split(b"\0")[:-1]],
        "fingerprint": f"{boot_id}:{pid1_ticks}|{ticks}",
    }


def auditwheel_platform(path):
    out = run_ok([os.path.join(ARGS.py_tools, "bin/auditwheel"), "show", path])
    said = " ".join(out.split())
    marker = "is consistent with the following platform tag: "
    assert marker in said, out
    return said.split(marker, 1)[1].split('"')[1], out


def pip_takes(path, platform):
    """pip (the tools venv's) would install `path` on `platform`, as one whose tags it is."""
    out = subprocess.run(
        [os.path.join(ARGS.py_tools, "bin/pip"), "install", "--disable-pip-version-check",
         "--dry-run", "--no-deps", "--only-binary=:all:", "--platform", platform,
         "--target", scratch_unique(f"pip-dry-{platform}"), path],
        capture_output=True, text=True, timeout=120,
    )
    return out.returncode == 0 and "Would install kanban-workers-" in out.stdout, out.stdout + out.stderr


def elf_machine(path):
    with open(path, "rb") as f:
        head = f.read(20)
    assert head[:4] == b"\x7fELF", path
    return int.from_bytes(head[18:20], "little")


class Common:
    arch = None

    def test_tag_is_what_auditwheel_finds(self):
        path = wheel(self.arch)
        platform, out = auditwheel_platform(path)
        self.assertEqual(platform, f"manylinux_2_17_{self.arch}", out)
        with zipfile.ZipFile(path) as z:
            meta = z.read(f"kanban_workers-{version()}.dist-info/WHEEL").decode()
        tags = [l.split(": ", 1)[1] for l in meta.splitlines() if l.startswith("Tag: ")]
        self.assertEqual(tags, [f"py3-none-{p}" for p in PLATFORMS[self.arch].split(".")])

    def test_pip_takes_both_tags_and_no_other_arch(self):
        path = wheel(self.arch)
        for platform in PLATFORMS[self.arch].split("."):
            ok, out = pip_takes(path, platform)
            self.assertTrue(ok, f"{platform}: {out}")
        other = "aarch64" if self.arch == "x86_64" else "x86_64"
        ok, out = pip_takes(path, f"manylinux_2_17_{other}")
        self.assertFalse(ok, out)

    def test_both_binaries_are_for_the_arch(self):
        with zipfile.ZipFile(wheel(self.arch)) as z:
            for name in ("kanban_workers/libkanban_workers.so",
                         f"kanban_workers-{version()}.data/scripts/kanban-workers"):
                info = z.getinfo(name)
                self.assertEqual(info.external_attr >> 16, 0o100755, name)
                folder = scratch_unique(f"elf-{self.arch}")
                self.assertEqual(elf_machine(z.extract(info, folder)), ELF_MACHINE[self.arch], name)

    def test_metadata_is_what_maturin_writes(self):
        native = glob.glob(os.path.join(ARGS.wheels, f"kanban_workers-{version()}-py3-none-manylinux_2_34_x86_64.whl"))
        if not native:
            self.skipTest("no native wheel of `make wheel` in target/wheels to compare METADATA with")
        name = f"kanban_workers-{version()}.dist-info/METADATA"
        with zipfile.ZipFile(native[0]) as a, zipfile.ZipFile(wheel(self.arch)) as b:
            self.assertEqual(a.read(name).decode(), b.read(name).decode())
            self.assertEqual(a.read("kanban_workers/__init__.py"), b.read("kanban_workers/__init__.py"))


class X86_64(Common, unittest.TestCase):
    """Installed by a plain pip into a venv of Debian's python3, as tests/it/wheel.rs does."""

    arch = "x86_64"
    venv = None

    @classmethod
    def debian_venv(cls):
        if X86_64.venv is None:
            X86_64.venv = venv_with_wheel("/usr/bin/python3", "venv-x86_64", wheel("x86_64"))
        return X86_64.venv

    def python(self, venv, script, *args, **kw):
        env = dict(os.environ)
        env.pop("PYTHONPATH", None)
        return subprocess.run([os.path.join(venv, "bin/python"), "-c", script, *args],
                              capture_output=True, text=True, cwd=scratch_unique("cwd"), env=env,
                              timeout=120, **kw)

    def test_loads_from_python_and_answers_the_readme_query(self):
        venv = self.debian_venv()
        sleep = spawn(["sleep", "1000"])
        self.addCleanup(end, sleep)
        board = make_board(scratch("board-x86_64-readme"), sleep.pid)
        out = self.python(venv, r"""
import json, os, sqlite3, sys, kanban_workers
conn = sqlite3.connect(sys.argv[1])
kanban_workers.load(conn)
print(json.dumps({
    "rows": conn.execute(sys.argv[2]).fetchall(),
    "loadable_path": kanban_workers.loadable_path(),
    "binary_path": kanban_workers.binary_path(),
    "package": os.path.dirname(kanban_workers.__file__),
}))
""", board, README_QUERY)
        self.assertEqual(out.returncode, 0, out.stderr)
        got = json.loads(out.stdout)
        self.assertEqual(len(got["rows"]), 1, got)
        row = got["rows"][0]
        self.assertEqual(row[:4], [1, "t_live", 1, None], got)
        self.assertIsInstance(row[4], float, got)
        self.assertGreater(row[5], 0, got)
        package = got["package"]
        self.assertTrue(package.startswith(venv + "/"), got)
        self.assertEqual(got["loadable_path"], os.path.join(package, "libkanban_workers"))
        self.assertTrue(os.path.isfile(got["loadable_path"] + ".so"), got)
        self.assertEqual(got["binary_path"], os.path.join(venv, "bin/kanban-workers"))

    def test_binary_is_on_the_venvs_path_and_serves_the_demo(self):
        bindir = os.path.join(self.debian_venv(), "bin")
        env = dict(os.environ, PATH=f"{bindir}:{os.environ.get('PATH', '')}", HOME=scratch("demo-home"))
        found = run_ok(["sh", "-c", "command -v kanban-workers"], env=env).strip()
        self.assertEqual(found, os.path.join(bindir, "kanban-workers"))
        server = Server(["kanban-workers", "demo", "--listen", "127.0.0.1:0", "--quiet"], env=env)
        self.addCleanup(server.close)
        active = server.get_json("/workers/active")
        self.assertEqual(active["count"], 3, active)
        status, stderr = server.stop()
        self.assertEqual(status, 0, stderr)

    def test_load_takes_apsw_and_pysqlite3_connections(self):
        out = self.python(self.debian_venv(),
                          "import json, sysconfig; print(json.dumps(sysconfig.get_path('purelib')))")
        site = json.loads(out.stdout)
        got = json.loads(run_ok([os.path.join(ARGS.py_tools, "bin/python"), "-c", r"""
import json, apsw, pysqlite3.dbapi2, kanban_workers
got = {}
for name, conn in [("apsw", apsw.Connection(":memory:")),
                   ("pysqlite3", pysqlite3.dbapi2.connect(":memory:"))]:
    kanban_workers.load(conn)
    got[name] = list(conn.cursor().execute("SELECT kanban_workers_version()").fetchall()[0])
print(json.dumps(got))
"""], env=dict(os.environ, PYTHONPATH=site)))
        self.assertEqual(got, {"apsw": [version()], "pysqlite3": [version()]})

    def test_load_without_extension_loading_says_what_works(self):
        noext = os.environ.get("KANBAN_WORKERS_NOEXT_PYTHON")
        if not noext:
            self.skipTest("no python3 without enable_load_extension (pyenv's) found")
        venv = venv_with_wheel(noext, "venv-x86_64-noext", wheel("x86_64"))
        out = self.python(venv, r"""
import sqlite3, kanban_workers
assert not hasattr(sqlite3.Connection, "enable_load_extension"), "this python can load extensions"
print(kanban_workers.binary_path())
kanban_workers.load(sqlite3.connect(":memory:"))
""")
        self.assertNotEqual(out.returncode, 0, out.stderr)
        self.assertEqual(out.stdout.strip(), os.path.join(venv, "bin/kanban-workers"))
        last = out.stderr.strip().splitlines()[-1]
        for words in ["kanban_workers.ExtensionLoadingUnavailable: kanban_workers.load: this "
                      "Python's sqlite3 cannot load extensions", "has no enable_load_extension",
                      "/usr/bin/python3", "uv's Pythons", "apsw"]:
            self.assertIn(words, last, out.stderr)


class Aarch64(Common, unittest.TestCase):
    """Installed by pip for aarch64, and run under qemu-user in an aarch64 userland."""

    arch = "aarch64"
    installed = None

    @classmethod
    def setUpClass(cls):
        cls.root = os.path.abspath(ARGS.arm64_root)
        cls.qemu = ARGS.qemu
        if Aarch64.installed is None:
            target = scratch("pip-target-aarch64")
            run_ok([os.path.join(ARGS.py_tools, "bin/pip"), "install", "--disable-pip-version-check",
                    "--no-deps", "--only-binary=:all:", "--platform", "manylinux_2_17_aarch64",
                    "--target", target, wheel("aarch64")])
            Aarch64.installed = target
        cls.so = os.path.join(Aarch64.installed, "kanban_workers/libkanban_workers.so")
        cls.bin = os.path.join(Aarch64.installed, "bin/kanban-workers")
        cls.sleep_bin = next(p for p in (os.path.join(cls.root, "usr/bin/sleep"),
                                         os.path.join(cls.root, "bin/sleep")) if os.path.isfile(p))

    def qemu_cmd(self, program, *args):
        return [self.qemu, "-L", self.root, program, *args]

    def aarch64_sleep(self):
        """An aarch64 `sleep 1000` under qemu (ended by the test's cleanup, on failure too)."""
        p = spawn(self.qemu_cmd(self.sleep_bin, "1000"))
        self.addCleanup(end, p)
        # Settled once qemu has loaded it and it sleeps: state S, its memory the same twice.
        deadline, last = time.monotonic() + 30, None
        while time.monotonic() < deadline:
            with open(f"/proc/{p.pid}/stat") as f:
                state = f.read().rsplit(")", 1)[1].split()[0]
            with open(f"/proc/{p.pid}/statm") as f:
                now = (state, f.read())
            if state == "S" and now == last:
                return p
            last = now
            time.sleep(0.2)
        raise AssertionError(f"the aarch64 sleep did not settle: {last}")

    def sqlite3(self, db, *sql):
        """The aarch64 sqlite3 shell, under qemu, with the installed .so loaded: JSON rows of
        each statement."""
        stem = self.so[: -len(".so")]
        out = run_ok(self.qemu_cmd(os.path.join(self.root, "usr/bin/sqlite3"), "-bail", "-json",
                                   db, f".load {stem}", *sql))
        # One JSON array per statement that returned rows, one after the other.
        results, at, decoder = [], 0, json.JSONDecoder()
        while out[at:].strip():
            at += len(out[at:]) - len(out[at:].lstrip())
            value, at = decoder.raw_decode(out, at)
            results.append(value)
        return results

    def test_so_in_an_aarch64_sqlite3_reads_a_live_aarch64_process_as_proc_says(self):
        self.assertEqual(elf_machine(self.so), 183)
        sleep = self.aarch64_sleep()
        cols = ("pid, alive, reason, state, ppid, uid, num_threads, rss_bytes, vms_bytes, "
                "start_ticks, start_time, num_fds, cmdline, fingerprint")
        (version_row,), (row,) = self.sqlite3(
            ":memory:",
            "SELECT kanban_workers_version() AS v, sqlite_version() AS s;",
            f"SELECT {cols} FROM proc_stats({sleep.pid});",
        )
        truth = proc_truth(sleep.pid)
        self.assertEqual(version_row["v"], version())
        row["cmdline"] = json.loads(row["cmdline"])
        row["start_time"] = round(row["start_time"], 2)
        self.assertEqual(row, truth)
        # The process is the aarch64 sleep, under qemu.
        self.assertEqual(truth["cmdline"][-2:], [self.sleep_bin, "1000"])
        print(f"\n  aarch64 sqlite3 {version_row['s']} + the wheel's .so: proc_stats({sleep.pid}) "
              f"= /proc: state {row['state']}, cmdline {row['cmdline']}, rss {row['rss_bytes']}",
              file=sys.stderr)

    def test_so_in_an_aarch64_sqlite3_answers_the_readme_query(self):
        sleep = self.aarch64_sleep()
        board = make_board(scratch("board-aarch64-readme"), sleep.pid)
        (rows,) = self.sqlite3(board, README_QUERY)
        self.assertEqual(len(rows), 1, rows)
        row = rows[0]
        self.assertEqual([row["run_id"], row["task_id"], row["alive"], row["reason"]],
                         [1, "t_live", 1, None], rows)
        self.assertIsInstance(row["cpu_percent"], (int, float), rows)
        self.assertGreater(row["rss_bytes"], 0, rows)

    def test_binary_under_qemu_serves_workers_active_and_inspect(self):
        self.assertEqual(elf_machine(self.bin), 183)
        sleep = self.aarch64_sleep()
        board = make_board(scratch("board-aarch64-serve"), sleep.pid)
        server = Server(self.qemu_cmd(self.bin, "serve", "--db", board,
                                      "--listen", "127.0.0.1:0", "--quiet"),
                        env=dict(os.environ, HOME=scratch("serve-home")))
        self.addCleanup(server.close)
        active = server.get_json("/workers/active")
        self.assertEqual(active["count"], 1, active)
        worker = active["workers"][0]
        self.assertEqual([worker["run_id"], worker["task_id"], worker["worker_pid"], worker["local"]],
                         [1, "t_live", sleep.pid, True], active)
        inspect = server.get_json("/runs/1/inspect")
        truth = proc_truth(sleep.pid)
        self.assertEqual([inspect["alive"], inspect["pid"], inspect["status"], inspect["cmdline"]],
                         [True, sleep.pid, truth["state"], truth["cmdline"]], inspect)
        self.assertGreater(inspect["memory_rss_bytes"], 0, inspect)
        status, stderr = server.stop()
        self.assertEqual(status, 0, stderr)
        print(f"\n  aarch64 kanban-workers under qemu: /workers/active {json.dumps(worker)}",
              file=sys.stderr)


_UNIQUE = [0]


def scratch_unique(tag):
    _UNIQUE[0] += 1
    return scratch(f"{tag}-{_UNIQUE[0]}")


def venv_with_wheel(python, name, path):
    folder = os.path.join(ARGS.scratch, name)
    run_ok([python, "-m", "venv", folder])
    run_ok([os.path.join(folder, "bin/pip"), "install", "--disable-pip-version-check",
            "--no-input", path])
    return folder


def main():
    global ARGS
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--wheels", default=os.path.join(ROOT, "target/wheels"))
    ap.add_argument("--py-tools", default=os.path.join(ROOT, "target/py-tools"))
    ap.add_argument("--arm64-root", default=os.path.join(ROOT, "target/arm64-root"))
    ap.add_argument("--qemu", default="qemu-aarch64-static")
    ap.add_argument("--scratch", default=os.path.join(ROOT, "target/tmp/wheels-test"))
    # The rest goes to unittest: test names, -k PATTERN, -f ...
    ARGS, rest = ap.parse_known_args()
    import shutil

    shutil.rmtree(ARGS.scratch, ignore_errors=True)
    os.makedirs(ARGS.scratch)

    # Interrupted (Ctrl-C, CI cancelling): end what was started and stop (unittest lets
    # KeyboardInterrupt through, where it would count another exception as a test's error).
    def on_signal(signum, _frame):
        end_all()
        raise KeyboardInterrupt(f"signal {signum}")

    for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(s, on_signal)
    try:
        prog = unittest.main(module=__name__, argv=[sys.argv[0], "-v", *rest],
                             exit=False)
    except KeyboardInterrupt as e:
        print(f"\nwheels/test.py: interrupted ({e}): every process it started is ended", file=sys.stderr)
        sys.exit(130)
    finally:
        end_all()
    sys.exit(0 if prog.result.wasSuccessful() else 1)


if __name__ == "__main__":
    main()
