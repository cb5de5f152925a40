#!/usr/bin/python3
"""Resources of a long recording: nothing may grow (issue 16).

    /usr/bin/python3 bench/leak_bench.py            (BENCH_LEAK_SECONDS=3600 by default)
    BENCH_LEAK_SECONDS=300 /usr/bin/python3 bench/leak_bench.py

`pyspy-c record --subprocesses --rate 100` (blocking) on
bench/workloads/churn_procs.py, which starts and ends threads all the time
and a child process every ~0.3 s, for BENCH_LEAK_SECONDS.

BENCH_LEAK_MODE=serve: the agent instead, `pyspy-c serve --pid WORKLOAD
--subprocesses --retention 600 --max-overhead 0` (its ring fills after 10
minutes: memory must be flat after that, with a new process to attach every
~0.3 s), and every reading also fetches /v1/windows and /metrics as a
collector and Prometheus would.  Every 10 s the
profiler's open file descriptors (/proc/PID/fd), resident memory (VmRSS) and
threads (/proc/PID/task) are read.  Printed: first, last and largest value of
each, and the growth over the second half of the run (the first half lets
caches and the bound on distinct stacks fill).  Also written to
bench/out/leak.json.  Interpreter: BENCH_LEAK_PYTHON (default pyenv 3.12).
"""
import json
import os
import re
import signal
import subprocess
import sys
import time
from http.client import HTTPConnection

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
PYSPY = os.environ.get("PYSPY_C") or os.path.join(REPO, "pyspy-c")
PYTHON = os.environ.get("BENCH_LEAK_PYTHON", "/root/.pyenv/versions/3.12.1/bin/python3.12")
SECONDS = float(os.environ.get("BENCH_LEAK_SECONDS", "3600"))
EVERY = 10.0
MODE = os.environ.get("BENCH_LEAK_MODE", "record")


def vmrss_kb(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def reading(pid):
    return {"fds": len(os.listdir("/proc/%d/fd" % pid)), "rss_kb": vmrss_kb(pid),
            "threads": len(os.listdir("/proc/%d/task" % pid))}


def main():
    target = subprocess.Popen([PYTHON, os.path.join(HERE, "workloads", "churn_procs.py")],
                              stdout=subprocess.PIPE, start_new_session=True)
    prof = None
    os.makedirs(os.path.join(HERE, "out"), exist_ok=True)
    try:
        if target.stdout.readline().strip() != b"ready":
            print("leak_bench: the workload did not start", file=sys.stderr)
            return 1
        if MODE == "serve":
            errf = open(os.path.join(HERE, "out", "leak-serve.err"), "w+")
            prof = subprocess.Popen([PYSPY, "serve", "--pid", str(target.pid), "--subprocesses",
                                     "--rate", "100", "--retention", "600", "--max-overhead", "0",
                                     "--listen", "127.0.0.1:0"], stderr=errf)
            port = None
            while port is None and prof.poll() is None:
                time.sleep(0.1)
                with open(errf.name) as f:
                    m = re.search(r"listening on http://127\.0\.0\.1:([0-9]+)", f.read())
                port = m and int(m.group(1))
        else:
            prof = subprocess.Popen([PYSPY, "record", "--pid", str(target.pid), "--subprocesses",
                                     "--rate", "100", "-o", "/dev/null"], stderr=subprocess.PIPE)
        t0 = time.monotonic()
        since = 0
        series = []
        while time.monotonic() - t0 < SECONDS:
            time.sleep(EVERY)
            if prof.poll() is not None:
                print("leak_bench: pyspy-c ended early: %s" % prof.stderr.read().decode(),
                      file=sys.stderr)
                return 1
            if MODE == "serve":
                c = HTTPConnection("127.0.0.1", port, timeout=60)
                c.request("GET", "/v1/windows?since=%d" % since)
                since = json.loads(c.getresponse().read())["next_since"]
                c.request("GET", "/metrics")
                c.getresponse().read()
                c.close()
            r = reading(prof.pid)
            r["t"] = round(time.monotonic() - t0, 1)
            series.append(r)
        prof.send_signal(signal.SIGINT)
        if MODE == "serve":
            prof.wait(timeout=60)
            errf.seek(0)
            err = errf.read()
            err = "\n".join(l for l in err.splitlines()
                            if not re.match(r"pyspy-c: (attach|detach) pid", l))
        else:
            err = prof.communicate(timeout=60)[1].decode()
    finally:
        for p in (prof, target):
            if p and p.poll() is None:
                p.kill()
                p.wait()
        try:
            os.killpg(target.pid, signal.SIGKILL)  # the workload's children
        except OSError:
            pass
    half = [r for r in series if r["t"] >= SECONDS / 2] or series
    out = {"seconds": SECONDS, "python": PYTHON, "summary": err.strip(), "series": series,
           "figures": {}}
    print("== Resources of pyspy-c %s --subprocesses, 100 Hz blocking, %.0f s on "
          "churn_procs.py (%s)" % (MODE, SECONDS, os.path.basename(PYTHON)))
    print("   %-22s %10s %10s %10s %22s" % ("figure", "first", "last", "max", "growth, second half"))
    for key, name in (("fds", "open descriptors"), ("rss_kb", "VmRSS KiB"),
                      ("threads", "threads")):
        vals = [r[key] for r in series]
        growth = half[-1][key] - half[0][key]
        out["figures"][key] = {"first": vals[0], "last": vals[-1], "max": max(vals),
                               "growth_second_half": growth}
        print("   %-22s %10d %10d %10d %22d" % (name, vals[0], vals[-1], max(vals), growth))
    print("   " + err.strip().replace("\n", "\n   "))
    os.makedirs(os.path.join(HERE, "out"), exist_ok=True)
    with open(os.path.join(HERE, "out", "leak.json" if MODE == "record" else "leak-serve.json"),
              "w") as f:
        json.dump(out, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
