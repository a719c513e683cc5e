"""The dispatcher's write latency beside the shim, in rounds (part of benches/soak.sh).

Usage: writer.py BOARD PORT LIVE_RUN BENCH_BINARY ROUNDS CYCLES

Each round runs tests/fixtures/dispatcher.py (CYCLES cycles, 4 transactions each) once under
every condition below, in an order rotated from round to round. This machine's own stalls
move a single p99 by 3x from one minute to the next, so each condition's figure is the median
over rounds of (its p99 / the p99 of the 'alone' run in the same round), as in the
micro-benchmarks. Prints markdown table rows.
"""
import json
import os
import signal
import statistics
import subprocess
import sys

board, port, live_run, bench, rounds, cycles = sys.argv[1:7]
rounds, cycles = int(rounds), int(cycles)
base = f"http://127.0.0.1:{port}/api/plugins/kanban"
routes = ["workers/active", f"runs/{live_run}/inspect"]
here = os.path.dirname(os.path.abspath(__file__))
dispatcher = os.path.join(here, "..", "tests", "fixtures", "dispatcher.py")


def default_sigint():
    # A script's background job inherits SIGINT ignored; wrk prints its results on SIGINT.
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def wrk(niceness):
    """wrk on each route, 4 connections each (8 in all), until SIGINT."""
    return [subprocess.Popen(["nice", "-n", str(niceness), "wrk", "-t1", "-c4", "-d600s", f"{base}/{r}"],
                             stdout=subprocess.PIPE, text=True, preexec_fn=default_sigint) for r in routes]


def stop_wrk(procs):
    served = bad = 0
    for p in procs:
        p.send_signal(signal.SIGINT)
        out = p.communicate()[0]
        for line in out.splitlines():
            if "requests in" in line:
                served += int(line.split()[0])
            if "Non-2xx" in line:
                bad += int(line.split()[-1])
    return served, bad


def burners():
    """Busy loops with the CPU pressure of wrk (two, normal priority) and the shim (one a core,
    niceness 10), and no reads of the board at all."""
    nices = [0, 0] + [10] * os.cpu_count()
    return [subprocess.Popen(["nice", "-n", str(n), "sh", "-c", "while :; do :; done"]) for n in nices]


def stop_burners(procs):
    for p in procs:
        p.kill()
        p.wait()
    return 0, 0


def paced():
    """The shim at a dashboard's pace: 4 connections a route, a request every 10 ms each."""
    return [subprocess.Popen([bench, "paced", f"127.0.0.1:{port}", f"/api/plugins/kanban/{r}", "4", "10", "0"],
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True) for r in routes]


def stop_paced(procs):
    served = bad = 0
    for p in procs:
        row = p.communicate("")[0].split("|")
        served += int(row[2])
        bad += int(row[3])
    return served, bad


conditions = {
    "alone": (lambda: [], lambda _: (0, 0)),
    "the shim under 8 saturating connections (wrk)": (lambda: wrk(0), stop_wrk),
    "the same, wrk at niceness 10 like the shim": (lambda: wrk(10), stop_wrk),
    "control: busy loops with the same CPU pressure, no shim": (burners, stop_burners),
    "the shim serving 8 connections at a dashboard's pace (a request every 10 ms each)": (paced, stop_paced),
}
names = list(conditions)
results = {n: {"p50": [], "p99": [], "ratio": [], "tx": 0, "busy": 0, "served": 0, "bad": 0} for n in names}
for r in range(rounds):
    order = names[r % len(names):] + names[:r % len(names)]
    p99 = {}
    for name in order:
        start, stop = conditions[name]
        load = start()
        out = subprocess.run([sys.executable, dispatcher, board, str(cycles), "600"],
                             capture_output=True, text=True, check=True).stdout
        served, bad = stop(load)
        report = json.loads(out)
        res = results[name]
        res["p50"].append(report["p50_ms"])
        res["p99"].append(report["p99_ms"])
        res["tx"] += report["transactions"]
        res["busy"] += report["busy_errors"]
        res["served"] += served
        res["bad"] += bad
        p99[name] = report["p99_ms"]
    for name in names:
        results[name]["ratio"].append(p99[name] / p99["alone"])

print(f"| dispatcher beside ... ({rounds} rounds of {cycles * 4} transactions each) | transactions | busy errors "
      f"| p50 ms (median) | p99 ms (median; min-max) | p99 / alone, median of rounds (min-max) | shim requests, non-2xx |")
print("|---|---|---|---|---|---|---|")
for name in names:
    res = results[name]
    ratio = statistics.median(res["ratio"])
    served = f"{res['served']}, {res['bad']}" if res["served"] else "-"
    print(f"| {name} | {res['tx']} | {res['busy']} | {statistics.median(res['p50']):.3f} "
          f"| {statistics.median(res['p99']):.2f} ({min(res['p99']):.2f}-{max(res['p99']):.2f}) "
          f"| {ratio:.2f} ({min(res['ratio']):.2f}-{max(res['ratio']):.2f}) | {served} |")
print(f"TOTAL_TRANSACTIONS={sum(r['tx'] for r in results.values())}")
