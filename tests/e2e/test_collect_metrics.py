"""pyspy-c collect's own health: /metrics and /healthz (--listen, --web), and the
listen and token checks that serve, web and collect share.

The agents are the stand-ins of test_collect.py (fake_agent.py: windows of a known
model) and a port nobody listens on; what the metrics say is compared with what the
store holds (read with sqlite3), checked with promtool, and scraped by a real
Prometheus on loopback.  Contract: doc/CONTRACT.md "collect".
"""

import os
import re
import signal
import socket
import sqlite3
import subprocess
import shutil
import time

import e2elib
from e2elib import assert_error, run_profiler
from test_collect import T0, Agents, model
from test_serve import Agent, Prometheus

SAMPLE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$")
LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')
# A service label an agents file may carry: quote and backslash (the format escapes them).
HOSTILE = 'ev"il\\svc'


def parse(text):
    """{(name, ((label, value), ...)): value} of a Prometheus text page."""
    out = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        m = SAMPLE.match(line)
        assert m, "not a sample line: %r" % line
        labels = tuple(sorted((k, re.sub(r"\\(.)", lambda e: "\n" if e.group(1) == "n" else e.group(1), v))
                              for k, v in LABEL.findall(m.group(2) or "")))
        out[(m.group(1), labels)] = float(m.group(3))
    return out


def per_agent(metrics, name, addr, **extra):
    """The value of name for the agent at addr (and labels extra), or None."""
    for (n, labels), v in metrics.items():
        d = dict(labels)
        if n == name and d.get("agent") == addr and all(d.get(k) == x for k, x in extra.items()):
            return v
    return None


def closed_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return "127.0.0.1:%d" % port


def scrape(c):
    status, headers, body = c.request("/metrics")
    assert status == 200 and headers["content-type"].startswith("text/plain; version=0.0.4"), (
        status, headers, body[:300])
    return body, parse(body.decode("utf-8"))


def wait_metrics(c, ok, what, timeout=30):
    deadline = time.time() + timeout
    while True:
        body, m = scrape(c)
        if ok(m):
            return body, m
        assert time.time() < deadline, "%s: not within %ss:\n%s\n%s" % (what, timeout, body.decode(), c.err())
        time.sleep(0.2)


def store_rows(store):
    """Windows (cursors), samples and rows of the 1-minute tier in the store (counts, their
    sums per service, totals)."""
    db = sqlite3.connect(store)
    try:
        seqs = dict(db.execute("SELECT agent, last_seq FROM cursors").fetchall())
        samples = db.execute("SELECT COALESCE(SUM(samples), 0) FROM totals WHERE tier = 0").fetchone()[0]
        rows = sum(db.execute("SELECT COUNT(*) FROM %s WHERE tier = 0" % t).fetchone()[0]
                   for t in ("counts", "service_counts", "totals"))
    finally:
        db.close()
    return seqs, samples, rows


def test_metrics_of_two_agents(procs, tmp_path):
    """One agent up, one unreachable: /metrics says so per agent, the counts written equal
    what the store holds, promtool passes, Prometheus scrapes it; after a SIGHUP the
    counters go on and the agent taken out of the file is gone."""
    promtool = shutil.which("promtool")
    assert promtool, "promtool (Debian's prometheus) is needed for this test"
    agents = Agents(procs, tmp_path)
    store = str(tmp_path / "fleet.db")
    _, up = agents.start("ok", 0, "i0", 30)
    down = closed_port()
    agents_file = tmp_path / "agents"
    agents_file.write_text('%s host=h0 service=%s\n%s host=h1 service=svc\n' % (up, HOSTILE, down))
    c = Agent(procs, tmp_path, ["--store", store, "--agents", agents_file, "--interval", "3600",
                                "--timeout", "2"], command=("collect", "--listen", "127.0.0.1:0"))
    assert c.request("/healthz")[2] == b"ok\n"
    body, m = wait_metrics(c, lambda m: m.get(("pyspyc_collect_rounds_total", ())) >= 1,
                           "a round")
    now = time.time()
    assert per_agent(m, "pyspyc_collect_agent_up", up, service=HOSTILE, host="h0") == 1, body
    assert per_agent(m, "pyspyc_collect_agent_up", down, service="svc", host="h1") == 0, body
    assert m[("pyspyc_collect_agents", ())] == 2 and m[("pyspyc_collect_agents_up", ())] == 1
    assert per_agent(m, "pyspyc_collect_agent_errors_total", down, reason="connect") == 1, body
    assert per_agent(m, "pyspyc_collect_agent_errors_total", up, reason="connect") == 0, body
    assert per_agent(m, "pyspyc_collect_agent_consecutive_failures", down) == 1, body
    assert per_agent(m, "pyspyc_collect_agent_backoff_seconds", down) > 0, body
    assert per_agent(m, "pyspyc_collect_agent_last_success_time_seconds", down) == 0, body
    assert now - 60 < per_agent(m, "pyspyc_collect_agent_last_success_time_seconds", up) <= now + 1
    # Lag: now minus the end of window 30 (the stand-in's windows are a day old).
    assert abs(per_agent(m, "pyspyc_collect_agent_lag_seconds", up) - (now - (T0 + 300))) < 60, body
    assert per_agent(m, "pyspyc_collect_agent_lag_seconds", down) is None, body
    # What was written is what the store holds.
    seqs, samples, rows = store_rows(store)
    want = sum(model(0, 1, 30).values())
    assert seqs == {up: 30}, seqs
    assert m[("pyspyc_collect_windows_written_total", ())] == 30 == \
        per_agent(m, "pyspyc_collect_agent_windows_written_total", up), body
    assert m[("pyspyc_collect_samples_written_total", ())] == want == samples, (samples, body)
    assert per_agent(m, "pyspyc_collect_agent_samples_written_total", up) == want, body
    assert m[("pyspyc_collect_rows_written_total", ())] == rows > 0, (rows, body)
    assert m[("pyspyc_collect_store_bytes", ())] > 0
    assert m[("pyspyc_collect_resident_bytes", ())] > 0
    out = subprocess.run([promtool, "check", "metrics"], input=body, stdout=subprocess.PIPE,
                         stderr=subprocess.STDOUT, timeout=60)
    assert out.returncode == 0, out.stdout.decode() + body.decode()

    # A real Prometheus scrapes it: both agents, the hostile label intact.
    prom = Prometheus(procs, tmp_path, c.port)
    res = prom.wait("pyspyc_collect_agent_up", lambda res: len(res) == 2)
    got = {(r["metric"]["agent"], r["metric"]["service"]): r["value"][1] for r in res}
    assert got == {(up, HOSTILE): "1", (down, "svc"): "0"}, res

    # SIGHUP: the unreachable agent leaves, a new one comes; counters go on.
    _, new = agents.start("ok", 2, "i2", 12)
    agents_file.write_text('%s host=h0 service=%s\n%s host=h2 service=svc\n' % (up, HOSTILE, new))
    os.kill(c.bg.pid, signal.SIGHUP)
    body, m = wait_metrics(c, lambda m: per_agent(m, "pyspyc_collect_agent_windows_written_total", new) == 12,
                           "the new agent written")
    assert m[("pyspyc_collect_agents", ())] == 2, body
    assert down not in body.decode(), body
    assert per_agent(m, "pyspyc_collect_agent_windows_written_total", up) == 30, body
    assert m[("pyspyc_collect_windows_written_total", ())] == 42, body
    seqs, samples, rows = store_rows(store)
    assert seqs == {up: 30, new: 12}, seqs
    assert m[("pyspyc_collect_samples_written_total", ())] == samples, (samples, body)
    assert c.stop().rc == 0


def test_listen_and_token_errors(tmp_path):
    """serve, web and collect refuse a bad address, an address off loopback without a token
    and a token file others can read with the same messages, before anything starts."""
    store = str(tmp_path / "never.db")
    cmds = {"serve": (["serve", "--match", "x"], "--listen", "--token-file"),
            "web": (["web", "--store", store], "--listen", "--token-file"),
            "collect": (["collect", "--store", store, "--agent", "127.0.0.1:1"], "--listen",
                        "--token-file"),
            "collect --web": (["collect", "--store", store, "--agent", "127.0.0.1:1"], "--web",
                              "--web-token-file")}
    tok = tmp_path / "token"
    tok.write_text("s3cret-0123456789abcdef\n")
    os.chmod(str(tok), 0o644)
    said = {}
    for name, (args, lopt, topt) in cmds.items():
        run = run_profiler(tmp_path, args + [lopt, "0.0.0.0:0"], timeout=20)
        assert_error(run, 2, r"^refusing to listen on '0\.0\.0\.0:0' without %s: anyone" % topt)
        run2 = run_profiler(tmp_path, args + [lopt, "nonsense"], timeout=20)
        assert_error(run2, 2, r"^invalid value 'nonsense' for %s \(expected ADDR:PORT" % lopt)
        run3 = run_profiler(tmp_path, args + [lopt, "0.0.0.0:0", topt, tok], timeout=20)
        assert_error(run3, 1, r"^cannot use token file '.*token': others can read it")
        said[name] = [r.err.replace(topt, "TOKEN").replace(lopt, "LISTEN") for r in (run, run2, run3)]
    assert len(set(tuple(v) for v in said.values())) == 1, said
    assert not os.path.exists(store), "the store was created before the options were checked"
    run = run_profiler(tmp_path, ["collect", "--store", store, "--agent", "127.0.0.1:1",
                                  "--token-file", tok], timeout=20)
    assert_error(run, 2, r"--token-file needs --listen")


def test_listen_token_and_host(procs, tmp_path):
    """--listen with --token-file: /metrics needs the bearer token; on loopback a foreign
    Host header is refused (421), as serve's."""
    tok = tmp_path / "token"
    secret = "s3cret-0123456789abcdef"
    tok.write_text(secret + "\n")
    os.chmod(str(tok), 0o600)
    c = Agent(procs, tmp_path, ["--store", str(tmp_path / "fleet.db"), "--agent", closed_port(),
                                "--token-file", tok], command=("collect", "--listen", "127.0.0.1:0"))
    for headers in ({}, {"Authorization": "Bearer wrong"}):
        status, h, _ = c.request("/metrics", headers=headers)
        assert status == 401 and h.get("www-authenticate") == "Bearer", (headers, status)
    auth = {"Authorization": "Bearer " + secret}
    assert c.request("/metrics", headers=dict(auth, Host="evil.example"))[0] == 421
    assert c.request("/healthz", headers=auth)[2] == b"ok\n"
    assert c.request("/nope", headers=auth)[0] == 404
    body = c.get("/metrics", headers=auth).decode()
    assert "pyspyc_collect_agents 1\n" in body, body
    assert secret not in c.err(), "the token was logged"
    assert c.stop().rc == 0
