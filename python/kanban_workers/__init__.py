"""kanban-workers, as a Python package: the loadable SQLite extension and the HTTP shim.

    import sqlite3, kanban_workers
    conn = sqlite3.connect("kanban.db")
    kanban_workers.load(conn)          # proc_stats, proc_tree, active_workers, live_workers, ...
    kanban_workers.binary_path()       # the bundled `kanban-workers` binary (also on PATH)

See docs/sql.md and docs/http.md in the repository for what the extension and the shim do.
"""

import os
import shutil
import sys
import sysconfig

__all__ = ["loadable_path", "load", "binary_path", "ExtensionLoadingUnavailable"]

_HERE = os.path.dirname(os.path.abspath(__file__))
_BINARY = "kanban-workers"


class ExtensionLoadingUnavailable(RuntimeError):
    """This Python's sqlite3 module was built without extension loading."""


def loadable_path():
    """Path of the bundled loadable extension, without the `.so` suffix (as `.load` takes it)."""
    return os.path.join(_HERE, "libkanban_workers")


def load(conn):
    """Load the extension into an open `sqlite3.Connection` (or any connection object with
    `enable_load_extension` and `load_extension`, such as pysqlite3's)."""
    if not hasattr(conn, "enable_load_extension"):
        raise ExtensionLoadingUnavailable(
            "kanban_workers.load: this Python's sqlite3 cannot load extensions "
            f"({sys.executable}: {type(conn).__module__}.{type(conn).__qualname__} has no "
            "enable_load_extension: pyenv's default builds, like any CPython built without "
            "--enable-loadable-sqlite-extensions, leave it out). "
            "What works: Debian's and Ubuntu's python3 (/usr/bin/python3), uv's Pythons "
            "(uv python install), or apsw on this one "
            "(pip install apsw; kanban_workers.load(apsw.Connection(path))). "
            "Without loading anything, the bundled HTTP shim serves the same queries: "
            f"{binary_path()}"
        )
    conn.enable_load_extension(True)
    try:
        conn.load_extension(loadable_path())
    finally:
        conn.enable_load_extension(False)


def binary_path():
    """Absolute path of the bundled `kanban-workers` binary (the HTTP shim).

    pip installs it into the environment's scripts folder (a venv's bin/), which is on PATH
    once the venv is active; this finds it whether or not it is."""
    candidates = [sysconfig.get_path("scripts")]
    # A `pip install --user` puts scripts under the user scheme instead.
    try:
        candidates.append(sysconfig.get_path("scripts", f"{os.name}_user"))
    except KeyError:
        pass
    for folder in candidates:
        path = os.path.join(folder, _BINARY)
        if os.path.isfile(path) and os.access(path, os.X_OK):
            return os.path.abspath(path)
    found = shutil.which(_BINARY)
    if found:
        return os.path.abspath(found)
    raise FileNotFoundError(
        f"the bundled {_BINARY} binary was not found in {candidates} nor on PATH"
    )
