"""`pyspy-c serve`: the agent, its HTTP API and its manners.

The agent runs in the background on 127.0.0.1 port 0 (it says the port it
got on stderr, "listening on http://ADDR:PORT"); tests read it over HTTP as
its users would: curl-like GETs, `go tool pprof`, `promtool check metrics`.

Targets are named with --pid, or --match on a marker that only this test's
processes carry in their command line (other sessions on this machine run
Python workloads of their own: the agent must never attach to those).
"""

import json
import os
import re
import shutil
import socket
import subprocess
import time
import uuid

try:
    from http.client import HTTPConnection
    from urllib.parse import quote
except ImportError:  # pragma: no cover
    raise

import pytest

import e2elib
from conftest import scenario_by_id
from e2elib import expected_frames, format_frames, parse_folded

# Ground truth on these scenarios (the brief: 2.7, 3.8, 3.12, 3.13 and a chroot).
GROUND_TRUTH_IDS = ["pyenv-2.7", "pyenv-3.8", "pyenv-3.12", "pyenv-3.13", "chroot-trixie-3.13"]
RATE = 100
PICKUP_S = 5  # a new matching process is sampled within 5 s (discovery every 2 s)

BUSY = r"""
import sys
def serve_leaf():
    x = 0
    for i in range(1000):
        x += i
    return x
def serve_loop():
    while True:
        serve_leaf()
sys.stdout.write("R\n"); sys.stdout.flush()
serve_loop()
"""


def _python():
    """A core interpreter for the tests that need one busy Python."""
    for sid in ("pyenv-3.12", "system-3.11", "pyenv-3.11"):
        try:
            return scenario_by_id(sid)
        except pytest.fail.Exception:
            continue
    pytest.fail("no pyenv-3.12, system-3.11 or pyenv-3.11 interpreter on this machine")


class Agent(object):
    """pyspy-c serve in the background; its port read from its stderr.

    These tests check sample counts against --rate, so the overhead budget of serve
    is off (--max-overhead 0) unless a test gives its own; test_max_overhead tests
    the budget.  (test_web runs pyspy-c web and collect --web with it: command.)"""

    def __init__(self, procs, tmp_path, args, env=None, command=("serve", "--listen", "127.0.0.1:0")):
        args = [str(a) for a in args]
        if command[0] == "serve" and "--max-overhead" not in args:
            args += ["--max-overhead", "0"]
        self.bg = e2elib.Background(procs, tmp_path, list(command) + args, env=env)
        self.port = None
        deadline = time.time() + 20
        while time.time() < deadline:
            m = re.search(r"^pyspy-c: listening on http://127\.0\.0\.1:([0-9]+)$", self.err(), re.M)
            if m:
                self.port = int(m.group(1))
                break
            if self.bg.proc.poll() is not None:
                break
            time.sleep(0.05)
        assert self.port, "agent did not say where it listens:\n" + self.bg.result(self.bg.proc.poll()).describe()

    def err(self):
        return e2elib.file_text(self.bg.err_path)

    def request(self, path, method="GET", headers=None, timeout=90):
        c = HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        try:
            c.request(method, path, headers=headers or {})
            r = c.getresponse()
            return r.status, dict((k.lower(), v) for k, v in r.getheaders()), r.read()
        finally:
            c.close()

    def get(self, path, **kw):
        status, headers, body = self.request(path, **kw)
        assert status == 200, "GET %s: %d %r\n%s" % (path, status, body[:500], self.err())
        return body

    def json(self, path, **kw):
        return json.loads(self.get(path, **kw).decode("utf-8"))

    def wait_targets(self, want, timeout, what):
        """Poll /targets until want(list of pids) holds; returns the seconds it took."""
        t0 = time.time()
        while True:
            pids = [t["pid"] for t in self.json("/targets")["targets"]]
            if want(pids):
                return time.time() - t0
            if time.time() - t0 > timeout:
                raise AssertionError("%s: not within %ss (targets now %s)\n%s" % (
                    what, timeout, pids, self.err()))
            time.sleep(0.2)

    def stop(self):
        os.kill(self.bg.pid, 15)
        return self.bg.wait(timeout=30)


def _start_busy(procs, interp, marker):
    """A busy Python whose command line carries marker; returns its Popen once it runs."""
    p = procs.start([interp.path, "-c", BUSY, marker], stdout=subprocess.PIPE, env=e2elib.target_env())
    assert e2elib.wait_readable(p.stdout.fileno(), 30), "busy target did not start"
    assert p.stdout.read(2) == b"R\n"
    return p


def _no_stops_on_27(interp):
    # As test_record.py: on 2.7 a stop can catch a sleeper runnable on its way
    # back to sleep (a documented limit of the idle rule); read without stops.
    return ["--nonblocking"] if interp.version < (3, 0) else []


@pytest.mark.parametrize("sid", GROUND_TRUTH_IDS)
def test_folded_over_http_equals_ground_truth(procs, tmp_path, sid):
    """GET /?seconds=2: the busy thread's stack, exactly as the interpreter reports it."""
    interp = scenario_by_id(sid)
    w = e2elib.start_ground_truth(procs, interp, tmp_path)
    a = Agent(procs, tmp_path, ["--pid", w.pid, "--rate", RATE] + _no_stops_on_27(interp),
              env=e2elib.profiler_env(interp))
    a.wait_targets(lambda pids: w.pid in pids, 10, "the target attached")
    time.sleep(3.5)
    text = a.get("/?seconds=2").decode("utf-8", "surrogateescape")
    stacks = parse_folded(text, threads=False)
    busy = [t for t in w.truth["threads"] if t["kind"] == "busy"][0]
    want = expected_frames(busy, False, False, w.interp.chroot)
    others = [expected_frames(t, False, False, w.interp.chroot) for t in w.truth["threads"] if t is not busy]
    stacks = [s for s in stacks if not any(f[0] == "reporter_main" for f in s.frames)]
    assert stacks, "no samples of the busy thread:\n%s\n%s" % (text, a.err())
    for s in stacks:
        assert s.frames not in others, "an idle thread's stack was kept: %s" % ";".join(format_frames(s.frames))
        assert s.frames == want, "stack differs from the busy thread's:\n  expected %s\n  got      %s" % (
            ";".join(format_frames(want)), ";".join(format_frames(s.frames)))
    total = sum(s.count for s in stacks)
    # two one-second slices at 100 Hz: about 200
    assert 60 <= total <= 300, "%d samples in 2 s at %d Hz\n%s" % (total, RATE, text)
    # The same through /stacks with full file names, and the target untouched at the end.
    full = parse_folded(a.get("/stacks?from=-2&full_filenames=1").decode("utf-8", "surrogateescape"),
                        threads=False)
    want_full = expected_frames(busy, True, False)
    assert any(s.frames == want_full for s in full), "no full-filename stack equals %s" % want_full
    run = a.stop()
    assert run.rc == 0, run.describe()
    e2elib.assert_not_harmed(w.pid)


def test_new_target_picked_up_exited_dropped(procs, tmp_path):
    """--match: a process started after the agent is sampled within 5 s; one that exits
    is dropped, and what was sampled of it stays."""
    interp = _python()
    marker = "pyspyc-serve-test-" + uuid.uuid4().hex
    a = Agent(procs, tmp_path, ["--match", re.escape(marker), "--window", "1"])
    assert a.json("/targets")["targets"] == [], "targets before any process matched"
    p = _start_busy(procs, interp, marker)
    took = a.wait_targets(lambda pids: p.pid in pids, PICKUP_S, "the new process picked up")
    t = [t for t in a.json("/targets")["targets"] if t["pid"] == p.pid][0]
    assert marker in t["program"] and t["python"].startswith("%d.%d." % interp.version[:2]), t
    time.sleep(2.5)
    before = a.get("/?seconds=2").decode()
    assert "serve_leaf" in before, "no stacks of the new process %.1f s after it was picked up:\n%s" % (
        took, before)
    p.kill()
    p.wait()
    a.wait_targets(lambda pids: p.pid not in pids, PICKUP_S, "the exited process dropped")
    assert re.search(r"^pyspy-c: detach pid %d: exited$" % p.pid, a.err(), re.M), a.err()
    assert "serve_leaf" in a.get("/?seconds=60").decode(), "the exited process's samples are gone"
    # Its identity stays in the windows it was sampled in.
    wins = a.json("/v1/windows?since=0")
    seen = [pr for win in wins["windows"] for pr in win["processes"] if pr["pid"] == p.pid]
    assert seen and any(pr["exited"] for pr in seen), wins
    assert a.stop().rc == 0


def test_non_python_match_is_skipped_quietly(procs, tmp_path):
    """A matching process that is not Python is neither attached nor stopped, nor logged as an error."""
    marker = "pyspyc-serve-test-" + uuid.uuid4().hex
    sleeper = procs.start(["/bin/sh", "-c", "exec sleep 600", marker])
    a = Agent(procs, tmp_path, ["--match", re.escape(marker)])
    time.sleep(3)
    assert a.json("/targets")["targets"] == []
    assert "cannot attach" not in a.err(), a.err()
    e2elib.assert_not_harmed(sleeper.pid, "non-Python process")
    assert a.stop().rc == 0


def test_windows_feed(procs, tmp_path):
    """/v1/windows: closed windows after SEQ, their processes and stacks, never destructive."""
    interp = _python()
    marker = "pyspyc-serve-test-" + uuid.uuid4().hex
    p = _start_busy(procs, interp, marker)
    a = Agent(procs, tmp_path, ["--match", re.escape(marker), "--window", "1", "--retention", "60"])
    a.wait_targets(lambda pids: p.pid in pids, 10, "the target attached")
    time.sleep(4)
    first = a.json("/v1/windows?since=0")
    again = a.json("/v1/windows?since=0")
    assert first["format"] == "pyspy-c.windows.v1"
    assert re.match(r"^[0-9a-f]{32}$", first["instance"]), first["instance"]
    assert first["instance"] == a.json("/v1/info")["instance"]
    wins = first["windows"]
    assert len(wins) >= 2, first
    seqs = [w["seq"] for w in wins]
    assert seqs == list(range(seqs[0], seqs[0] + len(seqs))), seqs
    assert [w["seq"] for w in again["windows"]][:len(seqs)] == seqs, "a read removed windows"
    assert first["next_since"] == seqs[-1]
    later = a.json("/v1/windows?since=%d" % seqs[-1])
    assert all(w["seq"] > seqs[-1] for w in later["windows"]), later
    sampled = 0
    for w in wins:
        assert w["end_ns"] - w["start_ns"] == 1000000000, w
        for s in w["stacks"]:
            assert s["count"] > 0
            names = [w["functions"][f[0]]["name"] for f in s["frames"]]
            if s["process"] is not None and names[-1:] == ["serve_leaf"]:
                assert w["processes"][s["process"]]["pid"] == p.pid
                sampled += s["count"]
    assert sampled > 0, wins
    # The same time through /stacks: folded counts, speedscope weights, pprof all agree.
    span = "from=%.9f&until=%.9f" % (wins[0]["start_ns"] / 1e9, wins[-1]["end_ns"] / 1e9)
    folded = parse_folded(a.get("/stacks?" + span).decode(), threads=False, no_line_ok=True)
    total = sum(s.count for s in folded)
    assert total == sum(s["count"] for w in wins for s in w["stacks"]), (total, span)
    sp = a.json("/stacks?format=speedscope&" + span)
    assert sp["$schema"] == "https://www.speedscope.app/file-format-schema.json"
    assert len(sp["profiles"]) == 1 and sp["profiles"][0]["name"].startswith('process %d:"' % p.pid), [
        pr["name"] for pr in sp["profiles"]]
    weights = sum(sum(pr["weights"]) for pr in sp["profiles"])
    assert abs(weights / 10.0 - total) < 1e-6 * total + 1e-9, (weights, total)
    for path in ("/v1/windows?since=x", "/v1/windows?since=-1", "/v1/windows?max=0"):
        assert a.request(path)[0] == 400, path
    assert a.stop().rc == 0


def test_go_tool_pprof(procs, tmp_path):
    """go tool pprof -top http://.../debug/pprof/profile?seconds=2 reads the next 2 s."""
    go = shutil.which("go")
    assert go, "go (Debian's golang-go) is needed for this test"
    interp = _python()
    marker = "pyspyc-serve-test-" + uuid.uuid4().hex
    p = _start_busy(procs, interp, marker)
    a = Agent(procs, tmp_path, ["--match", re.escape(marker)])
    a.wait_targets(lambda pids: p.pid in pids, 10, "the target attached")
    env = dict(os.environ, PPROF_TMPDIR=str(tmp_path), HOME=str(tmp_path))
    out = subprocess.run([go, "tool", "pprof", "-top",
                          "http://127.0.0.1:%d/debug/pprof/profile?seconds=2" % a.port],
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env, timeout=120)
    text = out.stdout.decode("utf-8", "replace")
    assert out.returncode == 0, text
    assert re.search(r"serve_leaf", text) and re.search(r"Duration: 2s", text), text
    status, headers, body = a.request("/debug/pprof/profile?seconds=1")
    assert status == 200 and headers["content-type"] == "application/octet-stream", headers
    assert body[:2] == b"\x1f\x8b", "not gzip'd"
    for bad in ("0", "61", "x", "1e999", ""):
        assert a.request("/debug/pprof/profile?seconds=" + bad)[0] == 400, bad
    assert a.stop().rc == 0


def test_promtool_check_metrics(procs, tmp_path):
    """/metrics passes promtool check metrics, and counts the samples taken."""
    promtool = shutil.which("promtool")
    assert promtool, "promtool (Debian's prometheus) is needed for this test"
    interp = _python()
    marker = "pyspyc-serve-test-" + uuid.uuid4().hex
    p = _start_busy(procs, interp, marker)
    a = Agent(procs, tmp_path, ["--match", re.escape(marker)])
    a.wait_targets(lambda pids: p.pid in pids, 10, "the target attached")
    time.sleep(2)
    status, headers, body = a.request("/metrics")
    assert status == 200 and headers["content-type"].startswith("text/plain; version=0.0.4"), headers
    out = subprocess.run([promtool, "check", "metrics"], input=body, stdout=subprocess.PIPE,
                         stderr=subprocess.STDOUT, timeout=60)
    assert out.returncode == 0, out.stdout.decode() + body.decode()
    values = dict(re.findall(r"^(pyspyc_[a-z_]+) ([0-9.e+]+)$", body.decode(), re.M))
    assert float(values["pyspyc_samples_total"]) > 0 and float(values["pyspyc_targets"]) == 1, body
    assert a.stop().rc == 0


def _raw(port, data, timeout=10):
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    try:
        s.sendall(data)
        chunks = []
        while True:
            try:
                c = s.recv(65536)
            except socket.timeout:
                break
            if not c:
                break
            chunks.append(c)
        return b"".join(chunks)
    finally:
        s.close()


def test_bad_requests(procs, tmp_path):
    """Bad requests get a clear 4xx with a one-line reason; sampling goes on meanwhile."""
    interp = _python()
    marker = "pyspyc-serve-test-" + uuid.uuid4().hex
    p = _start_busy(procs, interp, marker)
    a = Agent(procs, tmp_path, ["--match", re.escape(marker)])
    a.wait_targets(lambda pids: p.pid in pids, 10, "the target attached")
    cases = [
        ("GET", "/nope", {}, 404),
        ("POST", "/", {}, 405),
        ("DELETE", "/metrics", {}, 405),
        ("GET", "/", {"Host": "evil.example:%d" % a.port}, 421),
        ("GET", "/", {"Host": "localhost:1"}, 421),
        ("GET", "/?seconds=abc", {}, 400),
        ("GET", "/?seconds=99999999", {}, 400),
        ("GET", "/?unknown=1", {}, 400),
        ("GET", "/?seconds=1&seconds=2", {}, 400),
        ("GET", "/?" + "&".join("p%d=1" % i for i in range(20)), {}, 400),
        ("GET", "/?seconds=" + "9" * 300, {}, 400),
        ("GET", "/stacks?from=-10&until=-20", {}, 400),
        ("GET", "/stacks?format=nonsense", {}, 400),
        ("GET", "/stacks?format=chrometrace", {}, 400),
        ("GET", "/stacks?match=(", {}, 400),
        ("GET", "/stacks?match=(a*)*%5C1", {}, 400),
        ("GET", "/stacks?pid=-3", {}, 400),
    ]
    for method, path, headers, want in cases:
        status, h, body = a.request(path, method=method, headers=headers)
        assert status == want, "%s %s: %d %r (want %d)" % (method, path, status, body, want)
        text = body.decode()
        assert text.endswith("\n") and text.count("\n") == 1 and len(text) < 300, (path, text)
    ok = ["localhost:%d" % a.port, "127.0.0.1:%d" % a.port, "[::1]:%d" % a.port, "localhost"]
    for host in ok:
        assert a.request("/healthz", headers={"Host": host})[0] == 200, host
    # Headers bigger than the per-connection memory: refused by the server, still up.
    big = _raw(a.port, b"GET / HTTP/1.1\r\nHost: localhost\r\nX-Big: " + b"a" * 65536 + b"\r\n\r\n")
    assert re.match(rb"^HTTP/1\.[01] 4[0-9][0-9] ", big), big[:200]
    # Many connections at once, some never finishing their request.
    socks = []
    for _ in range(100):
        try:
            s = socket.create_connection(("127.0.0.1", a.port), timeout=5)
            s.sendall(b"GET / HTTP/1.1\r\n")
            socks.append(s)
        except OSError:
            break
    assert len(socks) == 100, "connections refused by the kernel: %d made" % len(socks)
    for s in socks:
        s.close()
    # Over the per-address limit a connection is closed unanswered; once the
    # flood's connections are gone, requests are answered again.
    deadline = time.time() + 10
    while True:
        try:
            assert a.json("/v1/windows?since=0")["format"] == "pyspy-c.windows.v1"
            break
        except (OSError, IOError):
            if time.time() > deadline:
                raise
            time.sleep(0.2)
    m1 = re.search(rb"^pyspyc_samples_total ([0-9]+)", a.get("/metrics"), re.M)
    time.sleep(1.5)
    m2 = re.search(rb"^pyspyc_samples_total ([0-9]+)", a.get("/metrics"), re.M)
    assert int(m2.group(1)) > int(m1.group(1)), "sampling stopped"
    assert "serve_leaf" in a.get("/?seconds=2").decode()
    assert a.stop().rc == 0
    e2elib.assert_not_harmed(p.pid)


def test_listen_off_loopback_needs_token(tmp_path):
    """A non-loopback --listen without --token-file is refused at start (exit 2)."""
    for addr in ("0.0.0.0:0", "[::]:0"):
        run = e2elib.run_profiler(tmp_path, ["serve", "--listen", addr, "--match", "x"], timeout=20)
        e2elib.assert_error(run, 2, r"token-file")
    run = e2elib.run_profiler(tmp_path, ["serve", "--listen", "nonsense", "--match", "x"], timeout=20)
    e2elib.assert_error(run, 2, r"--listen")


def test_token(procs, tmp_path):
    """With --token-file: no or a wrong bearer token is 401; a file others can read is refused."""
    tok = tmp_path / "token"
    tok.write_text("s3cret-" + uuid.uuid4().hex + "\n")
    os.chmod(str(tok), 0o644)
    run = e2elib.run_profiler(tmp_path, ["serve", "--listen", "127.0.0.1:0", "--token-file", tok,
                                         "--match", "x"], timeout=20)
    e2elib.assert_error(run, 1, r"others can read")
    os.chmod(str(tok), 0o600)
    secret = tok.read_text().strip()
    a = Agent(procs, tmp_path, ["--token-file", tok, "--match", "x"])
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": "Bearer " + secret + "x"},
                    {"Authorization": "Basic " + secret}):
        status, h, body = a.request("/metrics", headers=headers)
        assert status == 401 and h.get("www-authenticate") == "Bearer", (headers, status, body)
    assert a.request("/metrics", headers={"Authorization": "Bearer " + secret})[0] == 200
    assert secret not in a.err(), "the token was logged"
    assert a.stop().rc == 0


def test_sigkill_leaves_targets_running(procs, tmp_path):
    """SIGKILL of the agent mid-run: every target runs on, not stopped, not traced."""
    interp = _python()
    marker = "pyspyc-serve-test-" + uuid.uuid4().hex
    ps = [_start_busy(procs, interp, marker) for _ in range(3)]
    a = Agent(procs, tmp_path, ["--match", re.escape(marker), "--rate", "1000"])
    a.wait_targets(lambda pids: all(p.pid in pids for p in ps), 10, "the targets attached")
    time.sleep(1)
    os.kill(a.bg.pid, 9)
    a.bg.proc.wait()
    for p in ps:
        deadline = time.time() + 5
        while e2elib.tracer_pid(p.pid) and time.time() < deadline:
            time.sleep(0.05)
        e2elib.assert_not_harmed(p.pid)
        assert p.poll() is None


def test_sigterm_detaches_and_exits_0(procs, tmp_path):
    """SIGTERM (and SIGINT): detach from everything, one log line, exit 0."""
    interp = _python()
    for sig in (15, 2):
        marker = "pyspyc-serve-test-" + uuid.uuid4().hex
        p = _start_busy(procs, interp, marker)
        a = Agent(procs, tmp_path, ["--match", re.escape(marker)])
        a.wait_targets(lambda pids: p.pid in pids, 10, "the target attached")
        os.kill(a.bg.pid, sig)
        run = a.bg.wait(timeout=30)
        assert run.rc == 0, run.describe()
        assert re.search(r"^pyspy-c: stopping on .*: detached from every process$", run.err, re.M), run.err
        e2elib.assert_not_harmed(p.pid)


def test_hide_args(procs, tmp_path):
    """--hide-args: programs without their arguments in /targets, windows and logs."""
    interp = _python()
    marker = "pyspyc-serve-test-" + uuid.uuid4().hex
    p = _start_busy(procs, interp, marker)
    a = Agent(procs, tmp_path, ["--match", re.escape(marker), "--hide-args", "--window", "1"])
    a.wait_targets(lambda pids: p.pid in pids, 10, "the target attached")
    time.sleep(2.5)
    assert marker not in a.get("/targets").decode()
    assert marker not in a.get("/v1/windows?since=0").decode()
    assert marker not in a.get("/?processes=1").decode()
    assert marker not in a.err()
    assert a.json("/targets")["targets"][0]["program"] == interp.path
    assert a.stop().rc == 0


GUNICORN_APP = r"""
import os


def handler_busy_work():
    x = 0
    for i in range(%d):
        x += i
    return x


def app(environ, start_response):
    handler_busy_work()
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [("%%d\n" %% os.getpid()).encode()]
"""


def _free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def test_gunicorn_workers_followed_across_recycling(procs, tmp_path):
    """Debian's gunicorn (python3.11), 4 workers recycled by --max-requests under a request
    loop: every worker that lives longer than the pick-up bound is sampled, and its
    samples are its handler's stacks."""
    gunicorn = "/usr/bin/gunicorn"
    assert os.path.exists(gunicorn), "gunicorn (Debian's gunicorn, python3-gunicorn) is needed"
    ok = subprocess.run(["/usr/bin/python3.11", "-c", "import setproctitle"]).returncode == 0
    assert ok, "python3-setproctitle is needed for gunicorn's 'gunicorn: worker' titles"
    marker = "pyspyc-serve-test-" + uuid.uuid4().hex[:12]
    appdir = tmp_path / "app"
    appdir.mkdir()
    (appdir / "wsgiapp.py").write_text(GUNICORN_APP % 100000)
    port = _free_port()
    a = Agent(procs, tmp_path, ["--match", r"gunicorn: worker \[%s\]" % marker, "--window", "1",
                                "--retention", "600"])
    log = open(str(tmp_path / "gunicorn.log"), "wb")
    g = procs.start([gunicorn, "--workers", "4", "--max-requests", "700", "--max-requests-jitter", "100",
                     "--bind", "127.0.0.1:%d" % port, "--chdir", str(appdir), "--name", marker,
                     "wsgiapp:app"], stdout=log, stderr=log)
    served = {}  # worker pid -> (first, last answer time)
    kids = set()  # every child of the master seen (a worker may serve none of our requests)
    deadline = time.time() + 30
    while time.time() < deadline:
        kids |= set(e2elib.children_of(g.pid))
        try:
            c = HTTPConnection("127.0.0.1", port, timeout=10)
            c.request("GET", "/")
            pid = int(c.getresponse().read())
            c.close()
        except (OSError, ValueError):
            assert g.poll() is None, "gunicorn exited:\n" + e2elib.file_text(str(tmp_path / "gunicorn.log"))
            time.sleep(0.1)
            continue
        now = time.time()
        first = served.get(pid, (now, now))[0]
        served[pid] = (first, now)
    for _ in range(20):
        time.sleep(0.1)
        kids |= set(e2elib.children_of(g.pid))
    windows = a.json("/v1/windows?since=0&max=1000")["windows"]
    sampled = {}
    for w in windows:
        for pr in w["processes"]:
            assert "gunicorn: worker [%s]" % marker in pr["program"], pr
            sampled[pr["pid"]] = sampled.get(pr["pid"], 0) + pr["samples"]
    # Per window (1 s): each process's samples stay within the rate (+10%), and the
    # windows of the run average at least 60% of rate x 4 workers (a new worker is
    # sampled within 5 s; workers here live about 7 s).
    busy_windows = [w for w in windows if w["processes"]]
    for w in busy_windows:
        for pr in w["processes"]:
            assert pr["samples"] <= 1.1 * RATE, (pr, w["seq"])
        assert sum(pr["samples"] for pr in w["processes"]) <= 1.1 * RATE * 4, w["seq"]
    mean = sum(sum(pr["samples"] for pr in w["processes"]) for w in busy_windows) / float(len(busy_windows))
    assert mean >= 0.6 * RATE * 4, "windows average %.0f samples, expected about %d" % (mean, RATE * 4)
    long_lived = [pid for pid, (f, l) in served.items() if l - f > PICKUP_S + 1]
    assert len(served) >= 8, "workers were not recycled (%d seen): %s" % (len(served), sorted(served))
    assert len(long_lived) >= 4, "too few workers lived long enough to judge: %s" % served
    missed = [pid for pid in long_lived if pid not in sampled]
    assert not missed, "workers that served for more than %ds were never sampled: %s (sampled %s)\n%s" % (
        PICKUP_S + 1, missed, sorted(sampled), a.err())
    assert set(sampled) <= set(served) | kids | {g.pid}, (
        "sampled processes that are not workers: %s" % sorted(set(sampled) - set(served) - kids))
    text = a.get("/?seconds=600").decode()
    stacks = parse_folded(text, threads=False, no_line_ok=True)
    busy = [s for s in stacks if s.frames and s.frames[-1][0] == "handler_busy_work"]
    assert busy and all(s.frames[-1][1] == "wsgiapp.py" for s in busy), text[:3000]
    leaves = {}
    for s in stacks:
        leaves[s.frames[-1][0]] = leaves.get(s.frames[-1][0], 0) + s.count
    # The handler's loop is a large share of the workers' time (the rest: waking up in
    # select() for the next request, writing the answer).
    assert leaves.get("handler_busy_work", 0) >= 0.25 * sum(leaves.values()), sorted(
        leaves.items(), key=lambda x: -x[1])
    assert a.stop().rc == 0
    e2elib.assert_not_harmed(g.pid, "gunicorn master")


class Prometheus(object):
    """Debian's Prometheus on loopback, scraping one target on loopback every second
    (also used by test_collect_metrics)."""

    def __init__(self, procs, tmp_path, target_port):
        prometheus = shutil.which("prometheus")
        assert prometheus, "prometheus (Debian's prometheus) is needed for this test"
        self.port = _free_port()
        self.log_path = str(tmp_path / "prometheus.log")
        conf = tmp_path / "prometheus.yml"
        conf.write_text("global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nscrape_configs:\n"
                        "  - job_name: pyspyc\n    static_configs:\n      - targets: ['127.0.0.1:%d']\n"
                        % target_port)
        log = open(self.log_path, "wb")
        procs.start([prometheus, "--config.file=%s" % conf, "--storage.tsdb.path=%s" % (tmp_path / "tsdb"),
                     "--web.listen-address=127.0.0.1:%d" % self.port], stdout=log, stderr=log)

    def query(self, q):
        """The result list of an instant query, or None while Prometheus does not answer."""
        try:
            c = HTTPConnection("127.0.0.1", self.port, timeout=5)
            c.request("GET", "/api/v1/query?query=" + quote(q))
            body = json.loads(c.getresponse().read().decode())
            c.close()
        except (OSError, ValueError):
            return None
        return body.get("data", {}).get("result", [])

    def wait(self, q, ok, timeout=60):
        """The result of q once ok(result) holds."""
        deadline, res = time.time() + timeout, None
        while time.time() < deadline:
            time.sleep(1)
            res = self.query(q)
            if res is not None and ok(res):
                return res
        raise AssertionError("prometheus never answered %s as wanted (last: %r):\n%s" % (
            q, res, e2elib.file_text(self.log_path)[-3000:]))


def test_prometheus_scrapes_the_agent(procs, tmp_path):
    """A real Prometheus (Debian's) scrapes /metrics on loopback: the target is up and
    pyspyc_samples_total arrives."""
    interp = _python()
    marker = "pyspyc-serve-test-" + uuid.uuid4().hex
    p = _start_busy(procs, interp, marker)
    a = Agent(procs, tmp_path, ["--match", re.escape(marker)])
    a.wait_targets(lambda pids: p.pid in pids, 10, "the target attached")
    prom = Prometheus(procs, tmp_path, a.port)
    prom.wait("pyspyc_samples_total", lambda res: res and float(res[0]["value"][1]) > 0)
    up = prom.query("up")
    assert up and up[0]["value"][1] == "1", up
    assert a.stop().rc == 0


HOSTILE = r"""
import sys
NAME = 'evil "q" \\ ; <b>&amp;</b>\n\t\x01 \u00e9\u20ac\U0001F600'
def spin():
    x = 0
    while True:
        x = (x + 1) & 0xFFFF
code = spin.__code__.replace(co_name=NAME, co_filename='/tmp/we"ird;<dir>/f\u00e9.py')
f = type(spin)(code, globals())
sys.stdout.write("R\n"); sys.stdout.flush()
f()
"""


def test_hostile_frame_names(procs, tmp_path):
    """Frame and file names are untrusted: JSON carries them exactly, folded replaces
    ';' and newlines, the SVG stays well-formed XML."""
    import xml.etree.ElementTree as ET
    interp = _python()
    marker = "pyspyc-serve-test-" + uuid.uuid4().hex
    p = procs.start([interp.path, "-c", HOSTILE, marker], stdout=subprocess.PIPE, env=e2elib.target_env())
    assert e2elib.wait_readable(p.stdout.fileno(), 30) and p.stdout.read(2) == b"R\n"
    name = 'evil "q" \\ ; <b>&amp;</b>\n\t\x01 \u00e9\u20ac\U0001F600'
    a = Agent(procs, tmp_path, ["--match", re.escape(marker), "--window", "1"])
    a.wait_targets(lambda pids: p.pid in pids, 10, "the target attached")
    time.sleep(2.5)
    wins = a.json("/v1/windows?since=0")
    names = set(f["name"] for w in wins["windows"] for f in w["functions"])
    files = set(f["file"] for w in wins["windows"] for f in w["functions"])
    assert name in names, sorted(names)
    assert '/tmp/we"ird;<dir>/f\u00e9.py' in files, sorted(files)
    folded = a.get("/?seconds=2").decode("utf-8")
    want = name.replace(";", "_").replace("\n", "_")
    assert any(line.split(";")[-1].startswith(want + " (") for line in folded.splitlines()), folded
    svg = a.get("/stacks?from=-2&format=svg")
    ET.fromstring(svg)  # well-formed
    run = a.stop()
    assert run.rc == 0
    # One log line per event, whatever the command line holds (this one has newlines).
    assert all(line.startswith("pyspy-c: ") for line in run.err.splitlines()), run.err


JSON_LOOP = r"""
import json, sys
def encode_forever():
    while True:
        json.dumps({"a": list(range(200))})
sys.stdout.write("R\n"); sys.stdout.flush()
encode_forever()
"""


def test_native_and_blocking_stops(procs, tmp_path):
    """Blocking (the default): every target is traced by the agent, its threads stopped for
    each sample; --native: the C frames of json's encoder under the Python caller."""
    interp = scenario_by_id("pyenv-3.12")
    marker = "pyspyc-serve-test-" + uuid.uuid4().hex
    p = procs.start([interp.path, "-c", JSON_LOOP, marker], stdout=subprocess.PIPE, env=e2elib.target_env())
    assert e2elib.wait_readable(p.stdout.fileno(), 30) and p.stdout.read(2) == b"R\n"
    a = Agent(procs, tmp_path, ["--match", re.escape(marker), "--native"])
    a.wait_targets(lambda pids: p.pid in pids, 10, "the target attached")
    assert e2elib.tracer_pid(p.pid) == a.bg.pid, "the target's threads are not seized by the agent"
    time.sleep(2.5)
    text = a.get("/?seconds=2").decode()
    stacks = parse_folded(text, threads=False, no_line_ok=True)
    merged = [s for s in stacks if any(f[0] == "encode_forever" for f in s.frames) and
              any(f[1] == "_json.c" for f in s.frames)]
    assert merged, "no C frame of _json.c under encode_forever:\n" + text[:3000]
    assert a.stop().rc == 0
    e2elib.assert_not_harmed(p.pid)


PARENT = r"""
import subprocess, sys
child = subprocess.Popen([sys.executable, "-c", "import time\nwhile True:\n    sum(range(1000))\n"])
sys.stdout.write("%d\n" % child.pid); sys.stdout.flush()
child.wait()
"""


def test_subprocesses_info_and_head(procs, tmp_path):
    """--subprocesses adds the matched processes' children; /v1/info says what the agent
    does; HEAD answers headers only."""
    interp = _python()
    marker = "pyspyc-serve-test-" + uuid.uuid4().hex
    p = procs.start([interp.path, "-c", PARENT, marker], stdout=subprocess.PIPE, env=e2elib.target_env())
    child = int(e2elib.read_line(p.stdout.fileno(), 30, "the child's pid"))
    procs.add_cleanup(lambda: os.kill(child, 9) if e2elib.alive(child) else None)
    a = Agent(procs, tmp_path, ["--match", re.escape(marker), "--subprocesses", "--rate", "50",
                                "--window", "5", "--retention", "60", "--idle"])
    a.wait_targets(lambda pids: p.pid in pids and child in pids, 10, "the parent and its child")
    info = a.json("/v1/info")
    assert info["api"] == "v1" and info["instance"] and info["rate"] == 50, info
    assert info["window_seconds"] == 5 and info["retention_seconds"] == 60, info
    assert info["subprocesses"] and info["idle"] and info["blocking"] and info["match"] == re.escape(marker)
    assert set(info["formats"]) == {"folded", "speedscope", "svg", "pprof"}, info
    status, headers, body = a.request("/v1/info", method="HEAD")
    assert status == 200 and body == b"" and headers["content-type"] == "application/json", (headers, body)
    assert a.stop().rc == 0
    e2elib.assert_not_harmed(child, "child")


def test_max_overhead_lowers_the_rate(procs, tmp_path):
    """--max-overhead: a budget no agent can keep (0.01% of the host) lowers the rate
    within one measurement (5 s), says so in the log and /metrics, and the windows
    then hold fewer samples per second; the target runs on unharmed."""
    interp = _python()
    marker = "pyspyc-overhead-" + uuid.uuid4().hex[:12]
    t = _start_busy(procs, interp, marker)
    a = Agent(procs, tmp_path, ["--match", re.escape(marker), "--rate", "200", "--window", "1",
                                "--max-overhead", "0.01"])
    deadline = time.time() + 30
    while time.time() < deadline and not re.search(r"^pyspy-c: rate 200 -> ", a.err(), re.M):
        time.sleep(0.2)
    line = re.search(r"^pyspy-c: rate 200 -> ([0-9.]+) Hz: agent CPU ([0-9.]+)% of the host, "
                     r"targets stopped ([0-9.]+)% of the time, budget 0.01% \(over\)$", a.err(), re.M)
    assert line, "no rate change logged:\n" + a.err()
    lowered = float(line.group(1))
    assert 1 <= lowered < 200 and max(float(line.group(2)), float(line.group(3))) > 0.01, line.group(0)
    info = a.json("/v1/info")
    assert info["max_overhead_percent"] == 0.01 and info["rate"] == 200, info
    # Let a few whole windows pass at the lowered rate (it may go lower still).
    time.sleep(3.5)
    metrics = a.get("/metrics").decode()
    m = dict(re.findall(r"^(pyspyc_[a-z_]+(?:\{[^}]*\})?) ([0-9.e+-]+)$", metrics, re.M))
    # (The log gives one decimal under 10 Hz: 4.4 for 4.4128...)
    assert float(m["pyspyc_rate_hz"]) <= lowered + 0.05 and \
        float(m["pyspyc_rate_asked_hz"]) == 200, metrics
    assert float(m["pyspyc_rate_changes_total"]) >= 1, metrics
    assert float(m['pyspyc_rate_limited{reason="cpu"}']) + \
        float(m['pyspyc_rate_limited{reason="stopped"}']) == 1, metrics
    assert float(m["pyspyc_max_overhead_percent"]) == 0.01, metrics
    windows = a.json("/v1/windows?since=0&max=1000")["windows"]
    last = [sum(p["samples"] for p in w["processes"]) for w in windows[-2:]]
    assert len(last) == 2 and all(n <= 1.1 * lowered + 1 for n in last), (lowered, last)
    assert a.stop().rc == 0
    e2elib.assert_not_harmed(t.pid, "busy target")


GEN_FUNCS = r'''
import sys, time
log = open(sys.argv[1], "w")
i = 0
while True:
    ns = {}
    exec("def gen_%d(t):\n    while time.time() < t:\n        pass\n" % i, {"time": time}, ns)
    t0 = time.time()
    ns["gen_%d" % i](t0 + 0.02)
    log.write("%d %.6f %.6f\n" % (i, t0, time.time()))
    log.flush()
    i += 1
'''


@pytest.mark.parametrize("sid", ["pyenv-3.12", "pyenv-2.7"])
def test_function_dictionary_starts_over(procs, tmp_path, sid):
    """A target that makes new functions without end (exec'd gen_N, 20 ms each): past its
    bound (PYSPY_C_FUNCS_RENEW here, 262144 by default) the agent's function dictionary
    starts over at a window's end, said in the log and /metrics; every window, before and
    after, names only functions that ran during it (a stale function id would name one
    of another time)."""
    interp = scenario_by_id(sid)
    log = str(tmp_path / "gen.log")
    p = procs.start(interp.command("-c", GEN_FUNCS, log))
    deadline = time.time() + 20
    while not (os.path.exists(log) and os.path.getsize(log)) and time.time() < deadline:
        time.sleep(0.05)  # past the start-up's imports: every stack is the loop's
    env = dict(os.environ, PYSPY_C_FUNCS_RENEW="40")
    a = Agent(procs, tmp_path, ["--pid", p.pid, "--window", "1", "--rate", "100"], env=env)
    a.wait_targets(lambda pids: p.pid in pids, 10, "the target attached")
    time.sleep(6)
    wins = a.json("/v1/windows?since=0")["windows"]
    folded = a.get("/stacks?from=%d&until=%d&format=folded" % (
        wins[0]["start_ns"] // 10**9, wins[-1]["end_ns"] // 10**9 + 1)).decode()
    metrics = a.get("/metrics").decode()
    ran = {}
    with open(log) as f:
        for line in f:
            parts = line.split()
            if len(parts) == 3:
                ran["gen_" + parts[0]] = (float(parts[1]), float(parts[2]))
    renewals = re.search(r"^pyspyc_function_dictionary_renewals_total (\d+)", metrics, re.M)
    assert renewals and int(renewals.group(1)) >= 2, metrics
    assert len(re.findall(r"^pyspy-c: function dictionary started over after \d+ functions "
                          r"\(the bound is 40\)$", a.err(), re.M)) >= 2, a.err()
    slack = 0.05
    checked = 0
    for w in wins:
        start, end = w["start_ns"] / 1e9, w["end_ns"] / 1e9
        for s in w["stacks"]:
            names = [w["functions"][f[0]]["name"] for f in s["frames"]]
            assert names[0] == "<module>", names
            for name in names[1:]:
                assert name in ran, "window %d names %s, which the target never made:\n%s" % (
                    w["seq"], name, names)
                t0, t1 = ran[name]
                assert t0 - slack <= end and t1 + slack >= start, (
                    "window %d (%.3f-%.3f) names %s, which ran %.3f-%.3f" % (
                        w["seq"], start, end, name, t0, t1))
                checked += s["count"]
    assert checked >= 100, "only %d samples in gen_N functions" % checked
    for line in folded.splitlines():
        for frame in line.rsplit(" ", 1)[0].split(";"):
            name = frame.split(" ")[0]
            assert name == "<module>" or name in ran, "/stacks names %s:\n%s" % (name, line)


def test_collect_with_token(procs, tmp_path):
    """A collector polls an agent that wants a bearer token (token=FILE): with the right one
    the agent's windows reach the store, with a wrong one nothing is stored and the 401 is
    said, and the token never shows in what the collector prints."""
    interp = _python()
    marker = "pyspyc-serve-test-" + uuid.uuid4().hex
    p = _start_busy(procs, interp, marker)
    secret = "tok-" + uuid.uuid4().hex
    tok, wrong = str(tmp_path / "agent.token"), str(tmp_path / "wrong.token")
    for path, text in ((tok, secret), (wrong, "not-" + secret)):
        with open(path, "w") as f:
            f.write(text + "\n")
        os.chmod(path, 0o600)
    a = Agent(procs, tmp_path, ["--token-file", tok, "--match", re.escape(marker), "--window", "1"])
    deadline = time.time() + 10
    while "attach pid %d " % p.pid not in a.err():
        assert time.time() < deadline, "the target was not attached:\n" + a.err()
        time.sleep(0.1)
    time.sleep(3)
    store = str(tmp_path / "fleet.db")
    bad = e2elib.run_profiler(tmp_path, ["collect", "--store", store, "--once", "--agent",
                                         "127.0.0.1:%d host=h token=%s" % (a.port, wrong)])
    assert bad.rc != 0 and "401" in bad.err and secret not in bad.err + bad.out, bad.describe()
    good = e2elib.run_profiler(tmp_path, ["collect", "--store", store, "--once", "-v", "--agent",
                                          "127.0.0.1:%d host=h token=%s" % (a.port, tok)])
    assert good.rc == 0 and secret not in good.err + good.out, good.describe()
    q = e2elib.run_profiler(tmp_path, ["query", "--store", store, "--from", "-10m", "--host", "h"])
    assert q.rc == 0, q.describe()
    stacks = parse_folded(q.out, threads=False)
    assert any(s.frames[-1][0] == "serve_leaf" for s in stacks), q.describe() + good.describe()
