"""The agent's cost against as many `record` processes.

usage: /usr/bin/python3 bench/serve_bench.py [SECONDS] [cost] [load] [slowdown]
       (the sections named, default all three)

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

"load": the share of the samples asked that are taken on a busy host.  Two
CPU hogs (not profiled) keep both cores busy while 4 busy targets run; the
agent samples the 4 at 100 Hz for SECONDS, then 4 `record` processes do, in
the same run, then the agent again at nice -5 (what the systemd unit in
contrib/ sets).  Taken = samples / (rate x targets x wall).

"slowdown": one target doing fixed work (workloads/work.py, timing itself,
about 2 s a run) plus 49 idle targets, all sampled by one agent at 100 Hz;
rounds of four runs of the same work (no agent, agent blocking, agent
--nonblocking, agent blocking with the default --max-overhead 1 after 11 s
to settle; in turn first), the median ratio of each against the plain run
of its round, and the share of the run the targets were held stopped
(pyspyc_stop_seconds_total).  The agent is pinned to CPU 0 and the working
target to CPU 1.

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


HOG = "while True:\n    pass\n"


def start_agent(procs, marker, err_path, n, blocking=True, nice=0, extra=(), budget=0):
    """An agent matching marker; returns (Popen, port) once it samples n targets."""
    # The budget off by default: this measures the cost of the rate asked.
    args = [PYSPY, "serve", "--listen", "127.0.0.1:0", "--match", marker, "--rate", str(RATE),
            "--max-overhead", str(budget)] + list(extra)
    if not blocking:
        args.append("--nonblocking")
    if nice:
        args = ["nice", "-n", str(nice)] + args
    err = open(err_path, "w")
    a = procs.start(args, stdout=subprocess.DEVNULL, stderr=err)
    port = None
    deadline = time.time() + 60
    while time.time() < deadline and not port:
        m = re.search(r"listening on http://127\.0\.0\.1:([0-9]+)", open(err_path).read())
        port = m and int(m.group(1))
        time.sleep(0.1)
    while port and time.time() < deadline:
        if len(json.loads(get(port, "/targets"))["targets"]) == n:
            return a, port
        time.sleep(0.2)
    raise SystemExit("agent did not attach to %d targets:\n%s" % (n, open(err_path).read()))


def run_agent(n, kind, blocking, seconds, err_path, nice=0, hogs=0):
    procs = Procs()
    marker = "pyspyc-bench-" + uuid.uuid4().hex
    try:
        for _ in range(hogs):
            procs.start([PY, "-c", HOG])
        start_targets(procs, n, kind, marker)
        a, port = start_agent(procs, marker, err_path, n, blocking, nice)
        time.sleep(2)
        m0 = get(port, "/metrics")
        cpu, wall, others = measure([a.pid], seconds)
        m1 = get(port, "/metrics")
        samples = metric(m1, "pyspyc_samples_total") - metric(m0, "pyspyc_samples_total")
        stop = metric(m1, "pyspyc_stop_seconds_total") - metric(m0, "pyspyc_stop_seconds_total")
        attaches = metric(m1, "pyspyc_attaches_total")
        return {"cpu_s": cpu, "wall_s": wall, "pct_core": 100 * cpu / wall,
                "us_per_sample": 1e6 * cpu / samples if samples else None,
                "taken_ratio": samples / (RATE * n * wall),
                "attach_cpu_ms": 1e3 * metric(m1, "pyspyc_attach_cpu_seconds_total") / attaches
                if attaches else None,
                "attach_ms": 1e3 * metric(m1, "pyspyc_attach_seconds_total") / attaches
                if attaches else None,
                "stop_us_per_sample": 1e6 * stop / samples if samples else None,
                "others_cores": others}
    finally:
        procs.stop_all()


def run_records(n, kind, blocking, seconds, hogs=0):
    procs = Procs()
    marker = "pyspyc-bench-" + uuid.uuid4().hex
    try:
        for _ in range(hogs):
            procs.start([PY, "-c", HOG])
        targets = start_targets(procs, n, kind, marker)
        time.sleep(0.5)
        recs = []
        for t in targets:
            args = [PYSPY, "record", "--pid", str(t.pid), "--rate", str(RATE), "-o", os.devnull]
            if not blocking:
                args.append("--nonblocking")
            recs.append(procs.start(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE))
        time.sleep(3)
        cpu, wall, others = measure([r.pid for r in recs], seconds)
        taken = asked = 0
        for r in recs:
            r.send_signal(signal.SIGINT)
            err = r.communicate(timeout=60)[1].decode()
            # The summary is of the whole run (the 3 s before the measurement too).
            m = re.search(r"^pyspy-c: ([0-9]+) samples in ([0-9.]+) s", err, re.M)
            if m:
                taken += int(m.group(1))
                asked += RATE * float(m.group(2))
        return {"cpu_s": cpu, "wall_s": wall, "pct_core": 100 * cpu / wall,
                "us_per_sample": 1e6 * cpu / (RATE * n * wall), "others_cores": others,
                "taken_ratio": taken / asked if asked else None}
    finally:
        procs.stop_all()


def section_cost(seconds, err_path, res):
    rows = []
    configs = [(n, "idle", b) for n in (1, 10, 50) for b in (True, False)]
    configs += [(n, "busy", b) for n in (1, 10) for b in (True, False)]
    for n, kind, blocking in configs:
        agent = run_agent(n, kind, blocking, seconds, err_path)
        recs = run_records(n, kind, blocking, seconds)
        row = {"targets": n, "kind": kind, "blocking": blocking, "agent": agent, "record": recs,
               "agent_vs_records": agent["cpu_s"] / recs["cpu_s"] if recs["cpu_s"] else None}
        rows.append(row)
        print("%3d %-4s %-11s agent %5.2f%% of a core (%s us/sample, %.0f%% taken, stop %s us, "
              "attach %.2f ms CPU %.2f ms wall)  %d records %5.2f%% (%.1f us/sample)  ratio %.2f  "
              "[others %.2f cores]" % (
                  n, kind, "blocking" if blocking else "nonblocking", agent["pct_core"],
                  "%.1f" % agent["us_per_sample"] if agent["us_per_sample"] else "-",
                  100 * agent["taken_ratio"],
                  "%.1f" % agent["stop_us_per_sample"] if agent["stop_us_per_sample"] else "-",
                  agent["attach_cpu_ms"] or 0, agent["attach_ms"] or 0,
                  n, recs["pct_core"], recs["us_per_sample"], row["agent_vs_records"] or 0,
                  max(agent["others_cores"], recs["others_cores"])))
        sys.stdout.flush()
    res["cost"] = rows


def section_load(seconds, err_path, res):
    """4 busy targets, 2 CPU hogs: samples taken against asked."""
    rows = {}
    rows["agent"] = run_agent(4, "busy", True, seconds, err_path, hogs=2)
    rows["records"] = run_records(4, "busy", True, seconds, hogs=2)
    rows["agent_nice-5"] = run_agent(4, "busy", True, seconds, err_path, nice=-5, hogs=2)
    for k, r in rows.items():
        print("load: 4 busy targets + 2 CPU hogs, 100 Hz blocking: %-13s %5.1f%% of the samples "
              "asked taken, %5.2f%% of a core" % (k, 100 * (r["taken_ratio"] or 0), r["pct_core"]))
    sys.stdout.flush()
    res["load"] = rows


def section_slowdown(seconds, err_path, res, rounds=7):
    """work.py (timing itself) + 49 idle targets under one agent; interleaved runs."""
    sys.path.insert(0, os.path.join(HERE, "workloads"))
    procs = Procs()
    marker = "pyspyc-bench-" + uuid.uuid4().hex
    # "budget": blocking with the default --max-overhead 1 (the others run with it off)
    kinds = ("plain", "blocking", "nonblocking", "budget")
    elapsed = dict((k, []) for k in kinds)
    stop_share = []
    budget_rates = []
    try:
        start_targets(procs, 49, "idle", marker)
        w = procs.start(["taskset", "-c", "1", PY, os.path.join(HERE, "workloads", "work.py"),
                         marker], stdin=subprocess.PIPE, stdout=subprocess.PIPE)

        def request(cmd):
            w.stdin.write((cmd + "\n").encode())
            w.stdin.flush()
            while True:
                line = w.stdout.readline()
                if not line:
                    raise SystemExit("work.py ended")
                if line.startswith(b"{"):
                    return json.loads(line)

        def stopped_s(port):
            m = re.search(r"^pyspyc_stop_seconds_total (\S+)", get(port, "/metrics"), re.M)
            return float(m.group(1))
        units = request("calibrate 2")["units"]
        request("run %d" % units)
        for i in range(rounds):
            # Each kind first, second and last in turn.
            for what in kinds[i % 4:] + kinds[:i % 4]:
                if what == "plain":
                    elapsed[what].append(request("run %d" % units)["elapsed"])
                    continue
                sub = Procs()
                try:
                    a, port = start_agent(sub, marker, err_path, 50, blocking=what != "nonblocking",
                                          budget=1 if what == "budget" else 0)
                    os.sched_setaffinity(a.pid, {0})
                    # The budget acts on 5 s of measurement: give it two.
                    time.sleep(11 if what == "budget" else 1)
                    s0 = stopped_s(port)
                    took = request("run %d" % units)["elapsed"]
                    if what == "blocking":
                        stop_share.append((stopped_s(port) - s0) / took)
                    if what == "budget":
                        m = re.search(r"^pyspyc_rate_hz (\S+)", get(port, "/metrics"),
                                      re.M)
                        budget_rates.append(float(m.group(1)))
                    elapsed[what].append(took)
                finally:
                    sub.stop_all()
    finally:
        procs.stop_all()

    def median(v):
        v = sorted(v)
        return v[len(v) // 2]
    out = {"elapsed": elapsed, "stop_share": stop_share, "budget_rates": budget_rates}
    for k in ("blocking", "nonblocking", "budget"):
        ratios = sorted(p / q for p, q in zip(elapsed[k], elapsed["plain"]))
        out[k] = {"ratios": ratios, "median": median(ratios)}
        print("slowdown: work.py (2 s runs) + 49 idle targets, one agent at 100 Hz %-11s: median "
              "ratio %.4f (%.2f%% slower), min %.4f, max %.4f, %d runs" % (
                  k, out[k]["median"], 100 * (out[k]["median"] - 1), ratios[0], ratios[-1],
                  len(ratios)))
    print("slowdown: blocking, time the targets were held stopped: %.2f%% of the run (median)" % (
        100 * median(stop_share)))
    print("slowdown: with the default --max-overhead 1 the agent kept %s Hz" % (
        ", ".join("%.0f" % r for r in budget_rates)))
    sys.stdout.flush()
    res["slowdown"] = out


def main():
    args = sys.argv[1:]
    seconds = float(args.pop(0)) if args and args[0][0].isdigit() else 10
    sections = args or ["cost", "load", "slowdown"]
    out_dir = os.path.join(HERE, "out")
    if not os.path.isdir(out_dir):
        os.makedirs(out_dir)
    err_path = os.path.join(out_dir, "serve-agent.log")
    res = {"seconds": seconds, "rate": RATE, "python": PY}
    for name in sections:
        {"cost": section_cost, "load": section_load, "slowdown": section_slowdown}[name](
            seconds, err_path, res)
    with open(os.path.join(out_dir, "serve.json" if sections == ["cost", "load", "slowdown"]
                           else "serve-%s.json" % "-".join(sections)), "w") as f:
        json.dump(res, f, indent=1)


if __name__ == "__main__":
    main()
