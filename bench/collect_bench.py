"""The collector's ingest: how many agents one `pyspy-c collect` keeps up with.

usage: /usr/bin/python3 bench/collect_bench.py [AGENTS...]      (default 100 1000)

For each number of agents N, a replay server (this script, one process,
asyncio, one listening socket per agent on 127.0.0.1) plays N agents of
`pyspy-c serve`: each has a backlog of BACKLOG closed 10-second windows
(an hour) when the collector starts, and closes one more every 10 s.  A
window is shaped like a real one of a pre-fork service: 4 worker processes,
40 functions, 60 distinct stacks 8 to 20 frames deep, about 400 samples
(4 processes at 100 Hz would be 4000 per 10 s: counts are not what costs,
rows are).  The JSON of every window is the agent's /v1/windows format
(pyspy-c.windows.v1), answered `max` windows at a time as the agent does.

Measured, for `pyspy-c collect --store (SQLite in a temp dir) --agents FILE
--interval 10 -v`, or with BENCH_COLLECT_BACKEND=postgresql on a PostgreSQL
server started for the run (tests/unit/pg-server: loopback, fsync=off; the
server's CPU is printed apart, it is not the collector's):
  catch-up   the backlog of N x 360 windows: windows/s and samples/s
             written, from the collector's own "N windows written" lines;
  steady     the next STEADY seconds, one new window per agent per 10 s:
             the collector's CPU in % of one core and whether it keeps up
             (windows written against windows closed);
  memory     the collector's peak VmRSS; bytes of store per sample stored;
  metrics    at the end of the steady part, one scrape of the collector's own
             /metrics (--listen): the agents' lag (now minus the end of the
             newest window written: 10 s of window plus up to 10 s of poll
             interval when it keeps up), its windows written, the scrape's
             size and time.
The replay server runs on the same 2 cores: its own CPU is printed too.
Figures go to bench/out/collect.json; none is a pass or fail.
"""

import asyncio
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
PYSPY = os.environ.get("PYSPY_C") or os.path.join(REPO, "pyspy-c")
BACKLOG = int(os.environ.get("BENCH_COLLECT_BACKLOG", "360"))
STEADY = float(os.environ.get("BENCH_COLLECT_STEADY", "60"))
BACKEND = os.environ.get("BENCH_COLLECT_BACKEND", "sqlite")
PG_SERVER = os.path.join(REPO, "tests", "unit", "pg-server")
WINDOW_S = 10

sys.path.insert(0, HERE)
from serve_bench import cpu_seconds  # noqa: E402  (every thread's CPU, from schedstat)

# One window's functions and stacks (the same for every agent; pids differ).
FUNCS = [{"name": "f%02d" % i, "file": "/srv/app/mod%d.py" % (i % 7),
          "short_file": "mod%d.py" % (i % 7), "kind": "code"} for i in range(40)]
STACKS = []
for k in range(60):
    depth = 8 + k % 13
    STACKS.append([[(k * 7 + d * 3) % 40, 10 + (k + d) % 50] for d in range(depth)])


def window_json(agent, seq, t0):
    start = (t0 + WINDOW_S * (seq - 1)) * 10**9
    procs = [{"pid": 1000 + 4 * agent + p, "start_time": 12345 + p,
              "program": "gunicorn: worker [app]", "python": "3.12.1",
              "samples": 100, "errors": 0, "late": 0} for p in range(4)]
    stacks = [{"process": k % 4, "count": 3 + (k + seq) % 7, "frames": STACKS[k]}
              for k in range(60)]
    samples = sum(s["count"] for s in stacks)
    return {"seq": seq, "start_ns": start, "end_ns": start + WINDOW_S * 10**9,
            "samples": samples, "errors": 0, "late": 0, "pruned": 0,
            "processes": procs, "functions": FUNCS, "stacks": stacks}, samples


class Replay(object):
    """N agents on loopback, in a thread running an asyncio loop."""

    def __init__(self, n, t0):
        self.n, self.t0 = n, t0
        self.ports = []
        self.closed_samples = {}   # seq -> samples of one agent's window seq
        self.ready = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()
        self.ready.wait(60)

    def newest(self):
        """The newest closed window's seq (every agent has the same)."""
        return max(0, int((time.time() - self.t0) // WINDOW_S))

    async def _handle(self, agent, reader, writer):
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                line = head.split(b"\r\n", 1)[0].decode()
                m = re.match(r"GET /v1/windows\?since=(\d+)&max=(\d+) ", line)
                if not m:
                    body, status = b"not found\n", "404 Not Found"
                else:
                    since, mx = int(m.group(1)), int(m.group(2))
                    newest = self.newest()
                    seqs = range(since + 1, min(newest, since + mx) + 1)
                    ws = [window_json(agent, s, self.t0)[0] for s in seqs]
                    body = json.dumps({
                        "format": "pyspy-c.windows.v1", "instance": "bench%06d" % agent,
                        "rate": 100, "idle": False, "oldest_seq": 1, "newest_seq": newest,
                        "gap": False, "next_since": seqs[-1] if ws else max(since, 0),
                        "windows": ws}, separators=(",", ":")).encode()
                    status = "200 OK"
                writer.write(("HTTP/1.1 %s\r\nContent-Type: application/json\r\n"
                              "Content-Length: %d\r\n\r\n" % (status, len(body))).encode() + body)
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.LimitOverrunError):
            pass
        finally:
            writer.close()

    def _run(self):
        loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
        servers = []
        for a in range(self.n):
            srv = loop.run_until_complete(asyncio.start_server(
                lambda r, w, a=a: self._handle(a, r, w), "127.0.0.1", 0, backlog=64))
            servers.append(srv)
            self.ports.append(srv.sockets[0].getsockname()[1])
        self.ready.set()
        loop.run_forever()


def vm(pid, key):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    return 0


def scrape_metrics(err_text):
    """One GET of the collector's /metrics (its port from its "listening on" line)."""
    from http.client import HTTPConnection
    port = int(re.search(r"listening on http://127\.0\.0\.1:(\d+)", err_text).group(1))
    t = time.time()
    c = HTTPConnection("127.0.0.1", port, timeout=60)
    c.request("GET", "/metrics")
    body = c.getresponse().read().decode()
    c.close()
    took = time.time() - t
    lags = sorted(float(v) for v in re.findall(r"^pyspyc_collect_agent_lag_seconds\{.*\} (\S+)$",
                                                 body, re.M))
    total = re.search(r"^pyspyc_collect_windows_written_total (\S+)$", body, re.M)
    return {"lag_agents": len(lags), "lag_median_s": lags[len(lags) // 2] if lags else None,
            "lag_max_s": lags[-1] if lags else None,
            "metrics_windows_written": int(float(total.group(1))) if total else None,
            "scrape_bytes": len(body), "scrape_s": took}


def pg_cpu(pg):
    """CPU seconds of the PostgreSQL server's processes so far (every postgres process
    whose command line names this server's data directory or is its child)."""
    pid = int(open(os.path.join(pg, "data", "postmaster.pid")).readline())
    total = 0.0
    tick = os.sysconf("SC_CLK_TCK")
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            st = open("/proc/%s/stat" % d).read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(d) == pid or int(st[1]) == pid:
            total += (int(st[11]) + int(st[12])) / float(tick)
        if int(d) == pid:   # and the backends that ended (the collector's, at its exit)
            total += (int(st[13]) + int(st[14])) / float(tick)
    return total


def run(n):
    import resource
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, min(hard, 4 * n + 256)), hard))
    # The backlog ends now: window BACKLOG closed a moment ago.
    t0 = int(time.time()) - WINDOW_S * BACKLOG - 1
    rp = Replay(n, t0)
    per_window = window_json(0, 1, t0)[1]
    tmp = tempfile.mkdtemp(prefix="pyspyc-collect-bench-")
    coll = None
    pg = None
    server_cpu = None
    try:
        agents = os.path.join(tmp, "agents")
        with open(agents, "w") as f:
            for a, port in enumerate(rp.ports):
                f.write("127.0.0.1:%d service=app host=h%04d\n" % (port, a))
        store = os.path.join(tmp, "fleet.db")
        if BACKEND == "postgresql":
            pg = tempfile.mkdtemp(prefix="pyspy-pg-")   # the server runs as postgres
            url = subprocess.run([PG_SERVER, "start", pg], stdout=subprocess.PIPE,
                                 check=True).stdout.decode().strip()
            subprocess.run([PG_SERVER, "createdb", pg, "fleet"], check=True)
            store = url.rsplit("/", 1)[0] + "/fleet"
        elif BACKEND != "sqlite":
            raise SystemExit("BENCH_COLLECT_BACKEND: sqlite or postgresql, not %r" % BACKEND)
        err = open(os.path.join(tmp, "collect.err"), "w+")
        coll = subprocess.Popen([PYSPY, "collect", "--store", store, "--agents", agents,
                                 "--interval", str(WINDOW_S), "-v", "--listen", "127.0.0.1:0"],
                                stderr=err, stdin=subprocess.DEVNULL)
        me0 = time.process_time()
        start = time.time()
        backlog = n * BACKLOG
        written, peak, caught = 0, 0, None
        pos = 0
        while True:
            time.sleep(0.5)
            assert coll.poll() is None, "collect ended:\n" + open(err.name).read()[-2000:]
            peak = max(peak, vm(coll.pid, "VmRSS"))
            with open(err.name) as f:
                f.seek(pos)
                chunk = f.read()
                pos += len(chunk)
            written += sum(int(x) for x in re.findall(r"collect: (\d+) windows written", chunk))
            # Caught up: every window closed so far is written (the backlog grows
            # by one window per agent every 10 s while the collector catches up).
            if caught is None and written >= n * rp.newest():
                caught = time.time() - start
                cpu_catch = cpu_seconds(coll.pid)
                closed0 = rp.newest()
                written0 = written
                t_steady = time.time()
            if caught is not None and time.time() - t_steady >= STEADY:
                break
            if caught is None and time.time() - start > 1800:
                raise SystemExit("collect did not catch up in 30 min (%d of %d windows)"
                                 % (written, backlog))
        cpu_steady = cpu_seconds(coll.pid) - cpu_catch
        steady_wall = time.time() - t_steady
        closed = (rp.newest() - closed0) * n
        steady_written = written - written0
        replay_cpu = time.process_time() - me0
        metrics = scrape_metrics(open(err.name).read())
        coll.send_signal(signal.SIGTERM)
        coll.wait(timeout=60)
        if pg:
            size = int(subprocess.run([PG_SERVER, "sql", pg, "fleet",
                                       "SELECT pg_database_size(current_database())"],
                                      stdout=subprocess.PIPE, check=True).stdout)
            server_cpu = pg_cpu(pg)
        else:
            size = sum(os.path.getsize(os.path.join(tmp, f)) for f in os.listdir(tmp)
                       if f.startswith("fleet.db"))
        samples = written * per_window
        backlog = written0
        row = {"agents": n, "backlog_windows": backlog, "catchup_s": caught,
               "catchup_windows_per_s": backlog / caught,
               "catchup_samples_per_s": backlog * per_window / caught,
               "catchup_cpu_pct": 100 * cpu_catch / caught,
               "steady_s": steady_wall, "steady_cpu_pct": 100 * cpu_steady / steady_wall,
               "steady_windows_closed": closed, "steady_windows_written": steady_written,
               "peak_rss_kb": peak, "store_bytes": size,
               "bytes_per_sample": size / float(samples) if samples else None,
               "replay_cpu_s": replay_cpu, "backend": BACKEND, "server_cpu_s": server_cpu}
        row.update(metrics)
        print("%5d agents: backlog of %d windows written in %.1f s (%.0f windows/s, %.0f samples/s, "
              "collector %.0f%% of a core); steady %.0f s: %d of %d windows closed written, collector "
              "%.2f%% of a core; peak RSS %.1f MiB; store %.1f MiB, %.2f bytes/sample [replay server "
              "%.0f s CPU]" % (n, backlog, caught, row["catchup_windows_per_s"],
                              row["catchup_samples_per_s"], row["catchup_cpu_pct"], steady_wall,
                              steady_written, closed, row["steady_cpu_pct"], peak / 1024.0,
                              size / 1048576.0, row["bytes_per_sample"] or 0, replay_cpu))
        if server_cpu is not None:
            print("       PostgreSQL server: %.0f s CPU over the run" % server_cpu)
        print("       /metrics: lag median %.1f s, max %.1f s over %d agents; %d windows written; "
              "a scrape of %.0f KiB in %.3f s" % (metrics["lag_median_s"] or 0, metrics["lag_max_s"] or 0,
                                                   metrics["lag_agents"], metrics["metrics_windows_written"],
                                                   metrics["scrape_bytes"] / 1024.0, metrics["scrape_s"]))
        sys.stdout.flush()
        return row
    finally:
        if coll and coll.poll() is None:
            coll.kill()
            coll.wait()
        if pg:
            subprocess.run([PG_SERVER, "stop", pg])
        shutil.rmtree(tmp, ignore_errors=True)


def main():
    counts = [int(a) for a in sys.argv[1:]] or [100, 1000]
    rows = []
    for n in counts:
        # Each count in a process of its own: the replay servers' threads and sockets go.
        child = subprocess.Popen([sys.executable, __file__, "--one", str(n)],
                                 stdout=subprocess.PIPE)
        try:
            out = child.communicate()[0].decode()
        except BaseException:   # stopped: the child cleans up (its finally) before we go
            child.terminate()
            child.wait()
            raise
        sys.stdout.write(out.split("\nJSON ")[0] + ("\n" if "\nJSON " in out else ""))
        if "\nJSON " in out:
            rows.append(json.loads(out.split("\nJSON ", 1)[1]))
    os.makedirs(os.path.join(HERE, "out"), exist_ok=True)
    name = "collect.json" if BACKEND == "sqlite" else "collect-%s.json" % BACKEND
    with open(os.path.join(HERE, "out", name), "w") as f:
        json.dump({"backlog": BACKLOG, "steady_s": STEADY, "rows": rows}, f, indent=1)


if __name__ == "__main__":
    # SIGTERM and SIGHUP end it as Ctrl-C does: the finally clauses stop the collector
    # and a PostgreSQL server started for the run.
    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, lambda *_: sys.exit(1))
    if len(sys.argv) == 3 and sys.argv[1] == "--one":
        r = run(int(sys.argv[2]))
        sys.stdout.write("\nJSON " + json.dumps(r) + "\n")
    else:
        main()
