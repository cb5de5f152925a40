"""The agent's cost against as many `record` processes.

usage: /usr/bin/python3 bench/serve_bench.py [SECONDS]

For N = 1, 10 and 50 targets at 100 Hz, blocking and --nonblocking, it
measures the CPU time (every thread's, from /proc/PID/task/*/schedstat) of one
`pyspy-c serve --match MARKER` sampling all of them, and the sum over N
`pyspy-c record --pid P` processes, over the same SECONDS (default 10),
after every process is attached.  It also gives the agent's samples taken
against those asked (rate x targets x seconds, from /metrics), and the
agent's attach cost: the CPU and wall time from the first scan that finds
a new target to its first sample, as the log and /metrics tell them.

Targets: "idle" targets sleep in time.sleep() in a loop (a pool's waiting
workers: every sample reads their state and finds them idle), "busy"
targets spin in a 20-frame stack (every sample stops and walks one).  Busy
targets are run for N = 1 and 10 only: 50 busy processes on this 2-core
machine would measure the scheduler, not the profiler.

Figures are printed as a table and written to bench/out/serve.json.  No
figure is a pass or fail.  The machine is shared: the driver reports how
much CPU the rest of the machine used during each measurement.
"""

import json
import os
import re
import signal
import subprocess
import sys
import time
import uuid
from http.client import HTTPConnection

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
PYSPY = os.environ.get("PYSPY_C") or os.path.join(REPO, "pyspy-c")
PY = os.environ.get("BENCH_PYTHON") or "/root/.pyenv/versions/3.12.1/bin/python3.12"
RATE = 100

IDLE = "import sys, time\nwhile True:\n    time.sleep(0.05)\n"
BUSY = ("import sys\nsys.setrecursionlimit(200)\n"
        "def d(n):\n    if n > 1:\n        return d(n - 1)\n    x = 0\n    while True:\n"
        "        x = (x + 1) & 0xFFFF\nd(18)\n")


def cpu_seconds(pid):
    """CPU time of every thread of pid, in seconds, to the nanosecond (schedstat)."""
    total = 0
    for tid in os.listdir("/proc/%d/task" % pid):
        try:
            with open("/proc/%d/task/%s/schedstat" % (pid, tid)) as f:
                total += int(f.read().split()[0])
        except (IOError, OSError, ValueError):
            pass
    return total / 1e9


def machine_busy():
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    return sum(v) - v[3] - v[4], sum(v)


class Procs(object):
    def __init__(self):
        self.procs = []

    def start(self, argv, **kw):
        kw.setdefault("stdin", subprocess.DEVNULL)
        p = subprocess.Popen(argv, **kw)
        self.procs.append(p)
        return p

    def stop_all(self):
        for p in reversed(self.procs):
            if p.poll() is None:
                os.kill(p.pid, signal.SIGKILL)
            p.wait()
        self.procs = []


def get(port, path):
    c = HTTPConnection("127.0.0.1", port, timeout=30)
    c.request("GET", path)
    body = c.getresponse().read().decode()
    c.close()
    return body


def metric(text, name):
    m = re.search(r"^%s ([0-9.e+]+)$" % name, text, re.M)
    return float(m.group(1)) if m else 0.0


def start_targets(procs, n, kind, marker):
    code = IDLE if kind == "idle" else BUSY
    return [procs.start([PY, "-c", code, marker]) for _ in range(n)]


def measure(procs_list, seconds):
    """CPU seconds used by each pid over `seconds`, and the rest of the machine's share."""
    b0, t0 = machine_busy()
    c0 = [cpu_seconds(p) for p in procs_list]
    w0 = time.time()
    time.sleep(seconds)
    wall = time.time() - w0
    c1 = [cpu_seconds(p) for p in procs_list]
    b1, t1 = machine_busy()
    return sum(c1) - sum(c0), wall, (b1 - b0) / float(max(1, t1 - t0)) * os.cpu_count()


def run_agent(n, kind, blocking, seconds, err_path):
    procs = Procs()
    marker = "pyspyc-bench-" + uuid.uuid4().hex
    try:
        start_targets(procs, n, kind, marker)
        # The budget off: this measures the cost of the rate asked.
        args = [PYSPY, "serve", "--listen", "127.0.0.1:0", "--match", marker, "--rate", str(RATE),
                "--max-overhead", "0"]
        if not blocking:
            args.append("--nonblocking")
        err = open(err_path, "w")
        a = procs.start(args, stdout=subprocess.DEVNULL, stderr=err)
        port = None
        deadline = time.time() + 60
        while time.time() < deadline and not port:
            m = re.search(r"listening on http://127\.0\.0\.1:([0-9]+)", open(err_path).read())
            port = m and int(m.group(1))
            time.sleep(0.1)
        while time.time() < deadline:
            if len(json.loads(get(port, "/targets"))["targets"]) == n:
                break
            time.sleep(0.2)
        else:
            raise SystemExit("agent did not attach to %d targets:\n%s" % (n, open(err_path).read()))
        time.sleep(2)
        m0 = get(port, "/metrics")
        cpu, wall, others = measure([a.pid], seconds)
        m1 = get(port, "/metrics")
        samples = metric(m1, "pyspyc_samples_total") - metric(m0, "pyspyc_samples_total")
        stop = metric(m1, "pyspyc_stop_seconds_total") - metric(m0, "pyspyc_stop_seconds_total")
        return {"cpu_s": cpu, "wall_s": wall, "pct_core": 100 * cpu / wall,
                "us_per_sample": 1e6 * cpu / samples if samples else None,
                "taken_ratio": samples / (RATE * n * wall),
                "stop_us_per_sample": 1e6 * stop / samples if samples else None,
                "others_cores": others}
    finally:
        procs.stop_all()


def run_records(n, kind, blocking, seconds):
    procs = Procs()
    marker = "pyspyc-bench-" + uuid.uuid4().hex
    try:
        targets = start_targets(procs, n, kind, marker)
        time.sleep(0.5)
        recs = []
        for t in targets:
            args = [PYSPY, "record", "--pid", str(t.pid), "--rate", str(RATE), "-q", "-o", os.devnull]
            if not blocking:
                args.append("--nonblocking")
            recs.append(procs.start(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        time.sleep(3)
        cpu, wall, others = measure([r.pid for r in recs], seconds)
        return {"cpu_s": cpu, "wall_s": wall, "pct_core": 100 * cpu / wall,
                "us_per_sample": 1e6 * cpu / (RATE * n * wall), "others_cores": others}
    finally:
        procs.stop_all()


def main():
    seconds = float(sys.argv[1]) if len(sys.argv) > 1 else 10
    out_dir = os.path.join(HERE, "out")
    if not os.path.isdir(out_dir):
        os.makedirs(out_dir)
    err_path = os.path.join(out_dir, "serve-agent.log")
    rows = []
    configs = [(n, "idle", b) for n in (1, 10, 50) for b in (True, False)]
    configs += [(n, "busy", b) for n in (1, 10) for b in (True, False)]
    for n, kind, blocking in configs:
        agent = run_agent(n, kind, blocking, seconds, err_path)
        recs = run_records(n, kind, blocking, seconds)
        row = {"targets": n, "kind": kind, "blocking": blocking, "agent": agent, "record": recs,
               "agent_vs_records": agent["cpu_s"] / recs["cpu_s"] if recs["cpu_s"] else None}
        rows.append(row)
        print("%3d %-4s %-11s agent %5.2f%% of a core (%s us/sample, %.0f%% taken, stop %s us)  "
              "%d records %5.2f%% (%.1f us/sample)  ratio %.2f  [others %.2f cores]" % (
                  n, kind, "blocking" if blocking else "nonblocking", agent["pct_core"],
                  "%.1f" % agent["us_per_sample"] if agent["us_per_sample"] else "-",
                  100 * agent["taken_ratio"],
                  "%.1f" % agent["stop_us_per_sample"] if agent["stop_us_per_sample"] else "-",
                  n, recs["pct_core"], recs["us_per_sample"], row["agent_vs_records"] or 0,
                  max(agent["others_cores"], recs["others_cores"])))
        sys.stdout.flush()
    with open(os.path.join(out_dir, "serve.json"), "w") as f:
        json.dump({"seconds": seconds, "rate": RATE, "python": PY, "rows": rows}, f, indent=1)


if __name__ == "__main__":
    main()
