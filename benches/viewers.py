#!/usr/bin/env python3
"""Viewers for benches/viewers.sh: N real HTTP clients (threads, one kept-alive http.client
connection each), each sending GET PATH every INTERVAL seconds for SECS seconds, starting at
a random offset within the first interval (unsynchronised). A viewer late for its slot (an
answer that took longer than the interval) skips to the next slot after now; it does not queue.
Prints one line: ok (200s) other median_ms p90_ms max_ms requests.

Usage: viewers.py HOST PORT PATH N INTERVAL SECS [OFFSET]
  OFFSET: every viewer's first request that many seconds after the start (not at random).
  VIEWERS_TRACE=1: each request on stderr.
"""
import http.client
import random
import sys
import threading
import os
import time

# VIEWERS_TRACE=1: each request on stderr, "seconds since start, latency ms, status".
TRACE = os.environ.get("VIEWERS_TRACE") == "1"
START = time.monotonic()


def viewer(host, port, path, interval, until, offset, out):
    conn = http.client.HTTPConnection(host, port, timeout=30)
    times, ok, other = [], 0, 0
    nxt = time.monotonic() + offset
    while True:
        now = time.monotonic()
        if nxt >= until:
            break
        if nxt > now:
            time.sleep(nxt - now)
        t = time.monotonic()
        try:
            conn.request("GET", path)
            r = conn.getresponse()
            r.read()
            status = r.status
        except (OSError, http.client.HTTPException):
            status = 0
            conn.close()
            conn = http.client.HTTPConnection(host, port, timeout=30)
        times.append(time.monotonic() - t)
        if TRACE:
            print(f"{t - START:.3f} {times[-1] * 1e3:.1f} {status}", file=sys.stderr)
        if status == 200:
            ok += 1
        else:
            other += 1
        nxt += interval
        while nxt < time.monotonic():
            nxt += interval
    conn.close()
    out.append((times, ok, other))


def main():
    host, port, path = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    n, interval, secs = int(sys.argv[4]), float(sys.argv[5]), float(sys.argv[6])
    fixed = float(sys.argv[7]) if len(sys.argv) > 7 else None
    start = time.monotonic()
    until = start + secs
    out = []
    threads = [
        threading.Thread(
            target=viewer,
            args=(host, port, path, interval, until, fixed if fixed is not None else random.uniform(0, interval), out),
        )
        for _ in range(n)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    times = sorted(x for o in out for x in o[0])
    ok = sum(o[1] for o in out)
    other = sum(o[2] for o in out)

    def q(p):
        return times[round((len(times) - 1) * p)] * 1e3 if times else 0.0

    print(f"{ok} {other} {q(0.5):.1f} {q(0.9):.1f} {q(1.0):.1f} {len(times)}")


if __name__ == "__main__":
    main()
