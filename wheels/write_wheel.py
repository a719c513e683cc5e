#!/usr/bin/env python3
"""Write one kanban-workers wheel from a prebuilt `.so` and binary (`make wheels`, docs/wheel.md).

    write_wheel.py --platform manylinux_2_17_aarch64.manylinux2014_aarch64 \
        --so libkanban_workers.so --bin kanban-workers --out target/wheels

The same files, at the same paths, as the wheel maturin builds (`make wheel`): the package
`kanban_workers` (python/kanban_workers/__init__.py and the `.so`), the binary in the scripts
(on the venv's PATH), and METADATA from pyproject.toml (the version from Cargo.toml's
[workspace.package], the README as description), written as maturin writes it. maturin is not
used here: it would package the one `.so` that `make wheel` copies into python/ (its
`include`), and the cross wheels must carry their own. The stdlib only (tomllib: Python 3.11+). Prints the wheel's path.
"""

import argparse
import base64
import hashlib
import os
import sys
import tempfile
import time
import zipfile

try:
    import tomllib
except ImportError:  # Python < 3.11
    sys.exit("write_wheel.py needs Python 3.11+ (tomllib): run it with Debian 12's python3")

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# Every file's timestamp in the zip (SOURCE_DATE_EPOCH when set): the same inputs give the same
# bytes.
EPOCH = int(os.environ.get("SOURCE_DATE_EPOCH", "315532800"))  # 1980-01-01, zip's first day


def metadata():
    with open(os.path.join(ROOT, "pyproject.toml"), "rb") as f:
        project = tomllib.load(f)["project"]
    with open(os.path.join(ROOT, "Cargo.toml"), "rb") as f:
        version = tomllib.load(f)["workspace"]["package"]["version"]  # both packages inherit it
    with open(os.path.join(ROOT, project["readme"]), encoding="utf-8") as f:
        readme = f.read()
    lines = ["Metadata-Version: 2.4", f"Name: {project['name']}", f"Version: {version}"]
    lines += [f"Classifier: {c}" for c in project.get("classifiers", [])]
    lines += [
        f"Summary: {project['description']}",
        f"License: {project['license']['text']}",
        f"Requires-Python: {project['requires-python']}",
        "Description-Content-Type: text/markdown; charset=UTF-8; variant=GFM",
    ]
    # maturin ends the description with one more newline.
    return project["name"], version, "\n".join(lines) + "\n\n" + readme + "\n"


def record_line(path, data):
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return f"{path},sha256={digest},{len(data)}"


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--platform", required=True,
                    help="the platform tag(s), dot-separated: manylinux_2_17_x86_64.manylinux2014_x86_64")
    ap.add_argument("--so", required=True, help="the loadable extension (stripped)")
    ap.add_argument("--bin", required=True, help="the kanban-workers binary (stripped)")
    ap.add_argument("--out", required=True, help="folder for the wheel")
    args = ap.parse_args()

    name, version, meta = metadata()
    dist = f"{name.replace('-', '_')}-{version}"
    tags = [f"py3-none-{p}" for p in args.platform.split(".")]
    wheel_meta = "Wheel-Version: 1.0\nGenerator: kanban-workers wheels/write_wheel.py\n" \
        "Root-Is-Purelib: false\n" + "".join(f"Tag: {t}\n" for t in tags)

    def read(path):
        with open(path, "rb") as f:
            return f.read()

    # (path in the wheel, bytes, executable): maturin's order.
    files = [
        ("kanban_workers/__init__.py", read(os.path.join(ROOT, "python/kanban_workers/__init__.py")), False),
        ("kanban_workers/libkanban_workers.so", read(args.so), True),
        (f"{dist}.data/scripts/kanban-workers", read(args.bin), True),
        (f"{dist}.dist-info/METADATA", meta.encode(), False),
        (f"{dist}.dist-info/WHEEL", wheel_meta.encode(), False),
    ]
    record = "".join(record_line(p, d) + "\n" for p, d, _ in files) + f"{dist}.dist-info/RECORD,,\n"
    files.append((f"{dist}.dist-info/RECORD", record.encode(), False))

    os.makedirs(args.out, exist_ok=True)
    target = os.path.join(args.out, f"{dist}-py3-none-{args.platform}.whl")
    # Written beside and renamed: a reader of the folder never sees half a wheel.
    fd, tmp = tempfile.mkstemp(dir=args.out, prefix=".writing-", suffix=".whl.part")
    try:
        with os.fdopen(fd, "wb") as raw, zipfile.ZipFile(raw, "w", zipfile.ZIP_DEFLATED) as z:
            for path, data, executable in files:
                info = zipfile.ZipInfo(path, date_time=_zip_time(EPOCH))
                info.compress_type = zipfile.ZIP_DEFLATED
                info.external_attr = (0o100755 if executable else 0o100644) << 16
                z.writestr(info, data)
        os.chmod(tmp, 0o644)
        os.replace(tmp, target)
    except BaseException:
        os.unlink(tmp)
        raise
    print(target)


def _zip_time(epoch):
    t = time.gmtime(max(epoch, 315532800))
    return (t.tm_year, t.tm_mon, t.tm_mday, t.tm_hour, t.tm_min, t.tm_sec)


if __name__ == "__main__":
    main()
