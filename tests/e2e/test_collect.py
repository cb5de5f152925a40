"""pyspy-c collect: agents polled into a store, exactly once.

The agents are stand-ins for `pyspy-c serve` (fake_agent.py: its
/v1/windows format, windows of a known model, or misbehaviour on demand);
what the store holds is read back with `pyspy-c query` and compared with
the model, window for window.  Contract: doc/CONTRACT.md "collect".
The fault tests run on SQLite and on PostgreSQL (Debian's server, one per
module, started on loopback by tests/unit/pg-server; a database per test).
"""

import os
import random
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter

import pytest

import e2elib
from e2elib import assert_error, run_profiler

HERE = os.path.dirname(os.path.abspath(__file__))
# Window 1 of the stand-in agents starts a day ago, on the hour: inside every
# tier's retention (what is older is expired by the collector, as it should be).
T0 = (int(time.time()) // 3600 - 24) * 3600


def model(agent, first, last):
    """Folded lines and samples of windows first..last of an agent."""
    c = Counter()
    for i in range(first, last + 1):
        c["main (app.py:1);work_%d (app.py:%d)" % (i % 3, 10 + i % 3)] += 10 + i % 7
    return c


class Agents(object):
    def __init__(self, procs, tmp_path):
        self.procs, self.tmp, self.n = procs, tmp_path, 0

    def start(self, mode, agent, instance, nwin, maxper=1000):
        self.n += 1
        portfile = str(self.tmp / ("port%d" % self.n))
        p = self.procs.start(["/usr/bin/python3", os.path.join(HERE, "fake_agent.py"), portfile,
                              mode, str(agent), instance, str(nwin), str(maxper)],
                             env=dict(os.environ, FAKE_AGENT_T0=str(T0)))
        deadline = time.monotonic() + 20
        while not os.path.exists(portfile):
            assert p.poll() is None, "fake agent exited with %s" % p.returncode
            assert time.monotonic() < deadline, "fake agent did not start"
            time.sleep(0.02)
        with open(portfile) as f:
            return p, "127.0.0.1:%s" % f.read().strip()


@pytest.fixture
def agents(procs, tmp_path):
    return Agents(procs, tmp_path)


@pytest.fixture(scope="module")
def pg_server():
    """One PostgreSQL server (Debian's, tests/unit/pg-server: loopback, a temporary data
    directory) for the module's tests; each test gets a database of its own (store)."""
    script = os.path.join(e2elib.REPO, "tests", "unit", "pg-server")
    d = tempfile.mkdtemp(prefix="pyspy-pg-")   # not under pytest's: the server runs as postgres
    p = subprocess.run([script, "start", d], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       timeout=120)
    assert p.returncode == 0, "the PostgreSQL server did not start: %s" % p.stderr.decode()
    try:
        yield script, d, p.stdout.decode().strip()
    finally:
        subprocess.run([script, "stop", d], timeout=120)


DATABASES = iter(range(1, 1000000))


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request, tmp_path):
    """The store of a test: an SQLite file, or a new database on the module's server."""
    if request.param == "sqlite":
        return str(tmp_path / "fleet.db")
    script, d, url = request.getfixturevalue("pg_server")
    name = "fleet%d" % next(DATABASES)
    subprocess.run([script, "createdb", d, name], check=True, timeout=60)
    return url.rsplit("/", 1)[0] + "/" + name


def spec(addr, agent):
    return "%s host=h%d service=svc" % (addr, agent)


def stored(tmp_path, store, agent):
    run = run_profiler(tmp_path, ["query", "--store", store, "--from", T0 - 3600,
                                  "--until", T0 + 86400, "--host", "h%d" % agent])
    assert run.rc == 0, run.describe()
    c = Counter()
    for line in run.out.splitlines():
        stack, n = line.rsplit(" ", 1)
        c[stack] += int(n)
    return c


def collect(tmp_path, store, *args, **kw):
    return run_profiler(tmp_path, ["collect", "--store", store] + list(args), **kw)


def test_once_twice(agents, tmp_path, store):
    _, a0 = agents.start("ok", 0, "i0", 40)
    _, a1 = agents.start("ok", 1, "i1", 25)
    for _ in range(2):   # the second round finds nothing new: nothing doubles
        run = collect(tmp_path, store, "--once", "--agent", spec(a0, 0), "--agent", spec(a1, 1))
        assert run.rc == 0, run.describe()
        assert stored(tmp_path, store, 0) == model(0, 1, 40)
        assert stored(tmp_path, store, 1) == model(1, 1, 25)


def test_exactly_once_under_sigkill(agents, procs, tmp_path, store):
    """SIGKILLed at random moments while polling 3 agents: nothing lost or doubled."""
    n = 400
    addrs = [agents.start("ok", k, "i%d" % k, n, maxper=7)[1] for k in range(3)]
    args = ["collect", "--store", store, "--interval", "0.05"]
    for k, a in enumerate(addrs):
        args += ["--agent", spec(a, k)]
    rnd = random.Random(14)
    for _ in range(20):
        bg = e2elib.Background(procs, tmp_path, args)
        time.sleep(rnd.uniform(0.05, 0.5))
        assert bg.proc.poll() is None, "collector exited early:\n" + bg.result(bg.proc.returncode).describe()
        os.kill(bg.pid, signal.SIGKILL)
        bg.proc.wait()
    # The killed collectors did the work so far (checked: not all of it, so the catch-up
    # below starts from cursors they left).
    written = [sum(stored(tmp_path, store, k).values()) for k in range(3)]
    assert 0 < sum(written), written
    # Then let it catch up.
    for _ in range(200):
        run = collect(tmp_path, store, "--once", *sum((["--agent", spec(a, k)]
                                                       for k, a in enumerate(addrs)), []))
        assert run.rc == 0, run.describe()
        if all(sum(stored(tmp_path, store, k).values()) >= sum(model(k, 1, n).values())
               for k in range(3)):
            break
    for k in range(3):
        assert stored(tmp_path, store, k) == model(k, 1, n), "agent %d" % k


def test_bad_agents(agents, tmp_path, store):
    """A hung, a garbage, a hostile, a flooding and an unreachable agent cost only themselves.

    The long name passes the decoder and is refused by the store: the round's
    transaction is written again without that agent."""
    _, good = agents.start("ok", 0, "g", 30)
    bad = {mode: agents.start(mode, k, "b", 30)[1]
           for k, mode in enumerate(["hang", "garbage", "hostile", "huge", "longname"], start=1)}
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    bad["unreachable"] = "127.0.0.1:%d" % s.getsockname()[1]
    s.close()
    modes = ["hang", "garbage", "hostile", "huge", "longname", "unreachable"]
    args = ["--once", "--timeout", "2", "--agent", spec(good, 0)]
    for k, mode in enumerate(modes, start=1):
        args += ["--agent", spec(bad[mode], k)]
    run = collect(tmp_path, store, *args, timeout=60)
    assert run.rc == 1, run.describe()
    assert stored(tmp_path, store, 0) == model(0, 1, 30)
    for k in range(1, len(modes) + 1):
        assert stored(tmp_path, store, k) == Counter(), "agent %d" % k
    for mode, why in [("hang", "[Tt]imeout"), ("garbage", "not JSON"),
                      ("hostile", "malformed"), ("huge", "larger than|[Tt]imeout"),
                      ("longname", "longer than 4096"), ("unreachable", "[Cc]onnect|refused")]:
        assert re.search(r"agent %s: .*(%s)" % (re.escape(bad[mode]), why), run.err), (
            mode, run.describe())


def test_agent_restart(agents, procs, tmp_path, store):
    """A restarted agent (new instance id) is read again from its first window."""
    p, addr = agents.start("ok", 0, "first", 30)
    run = collect(tmp_path, store, "--once", "--agent", spec(addr, 0))
    assert run.rc == 0, run.describe()
    p.kill()
    p.wait()
    port = int(addr.rsplit(":", 1)[1])
    # The same port again: a fake agent on a given port.
    p2 = procs.start(["/usr/bin/python3", "-c", (
        "import sys, runpy, http.server as h\n"
        "orig = h.ThreadingHTTPServer.__init__\n"
        "def init(self, addr, handler): orig(self, ('127.0.0.1', %d), handler)\n"
        "h.ThreadingHTTPServer.__init__ = init\n"
        "sys.argv = [%r, %r, 'ok', '0', 'second', '12']\n"
        "runpy.run_path(sys.argv[0], run_name='__main__')\n") % (
        port, os.path.join(HERE, "fake_agent.py"), str(tmp_path / "port-again"))],
        env=dict(os.environ, FAKE_AGENT_T0=str(T0)))
    deadline = time.monotonic() + 20
    while not os.path.exists(str(tmp_path / "port-again")):
        assert p2.poll() is None and time.monotonic() < deadline, "fake agent did not restart"
        time.sleep(0.02)
    run = collect(tmp_path, store, "--once", "--agent", spec(addr, 0))
    assert run.rc == 0, run.describe()
    assert "new instance second" in run.err, run.describe()
    assert stored(tmp_path, store, 0) == model(0, 1, 30) + model(0, 1, 12)


@pytest.mark.parametrize("args,pattern", [
    (["--agent", "127.0.0.1:1"], r"--store"),
    (["--store", "x.db"], r"no agents"),
    (["--store", "x.db", "--agent", "nohostport"], r"^bad --agent: not HOST:PORT"),
    (["--store", "x.db", "--agent", "h:1 color=red"], r"unknown label"),
    (["--store", "x.db", "--agent", "h:99999"], r"not HOST:PORT"),
])
def test_usage_errors(tmp_path, args, pattern):
    assert_error(run_profiler(tmp_path, ["collect"] + args), 2, pattern)


def test_agent_listed_twice(tmp_path):
    """An agent given twice (twice by --agent, or by --agent and in the agents file) would be
    polled twice and its windows counted twice: refused, naming where it came from."""
    store = str(tmp_path / "s.db")
    assert_error(run_profiler(tmp_path, ["collect", "--store", store, "--once", "--agent",
                                         "127.0.0.1:1", "--agent", "127.0.0.1:1 service=b"]),
                 2, r"^collect: agent '127\.0\.0\.1:1' listed twice \(--agent and --agent\)$")
    listed = tmp_path / "agents.txt"
    listed.write_text("127.0.0.1:2\n127.0.0.1:1 host=h\n")
    assert_error(run_profiler(tmp_path, ["collect", "--store", store, "--once", "--agent",
                                         "127.0.0.1:1", "--agents", str(listed)]),
                 2, r"^collect: agent '127\.0\.0\.1:1' listed twice \(--agent and the agents "
                    r"file\)$")


def test_agent_token_files(tmp_path):
    """An agent's token=FILE is read as the servers read theirs (src/http/listen.c): a
    symbolic link, a file others can read and a token that is not one word of 16 to 256
    characters are refused, each with its reason (exit 2)."""
    good = tmp_path / "good.token"
    good.write_text("0123456789abcdef0123\n")
    os.chmod(str(good), 0o600)
    link = tmp_path / "link.token"
    os.symlink(str(good), str(link))
    shared = tmp_path / "shared.token"
    shared.write_text("0123456789abcdef0123\n")
    os.chmod(str(shared), 0o640)
    short = tmp_path / "short.token"
    short.write_text("tooshort\n")
    os.chmod(str(short), 0o600)
    store = tmp_path / "s.db"
    for path, reason in [(link, r"it is a symbolic link \(name the file itself; in a Kubernetes "
                                r"secret volume, DIR/\.\.data/KEY\)"),
                         (shared, r"others can read it \(mode 640; chmod 600 it\)"),
                         (short, r"the token must be one word of 16 to 256 characters")]:
        assert_error(run_profiler(tmp_path, ["collect", "--store", str(store), "--once",
                                             "--agent", "127.0.0.1:1 token=%s" % path]),
                     2, r"^collect: agent 127\.0\.0\.1:1: cannot use token file '%s': %s$"
                        % (re.escape(str(path)), reason))


def test_postgresql_two_collectors(agents, procs, tmp_path, pg_server):
    """Two collectors writing one PostgreSQL store at once, one SIGKILLed mid-write."""
    script, d, url = pg_server
    subprocess.run([script, "createdb", d, "two"], check=True, timeout=60)
    store = url.rsplit("/", 1)[0] + "/two"
    n = 150
    sets = [[(k, agents.start("ok", k, "i%d" % k, n, maxper=5)[1]) for k in ks]
            for ks in ([0, 1], [2, 3])]
    argsets = [sum((["--agent", spec(a, k)] for k, a in s), []) for s in sets]
    bgs = [e2elib.Background(procs, tmp_path, ["collect", "--store", store, "--interval",
                                               "0.05"] + a) for a in argsets]
    time.sleep(2)
    for bg in bgs:
        assert bg.proc.poll() is None, "collector exited early:\n" + bg.result(bg.proc.returncode).describe()
    os.kill(bgs[0].pid, signal.SIGKILL)   # one dies mid-write, the other stops cleanly
    os.kill(bgs[1].pid, signal.SIGTERM)
    r = bgs[1].wait(timeout=30)
    assert r.rc == 0, r.describe()
    bgs[0].proc.wait()
    for a in argsets:
        for _ in range(100):
            run = collect(tmp_path, store, "--once", *a)
            assert run.rc == 0, run.describe()
            if "windows written" not in collect(tmp_path, store, "--once", "-v", *a).err:
                break
    for k in range(4):
        assert stored(tmp_path, store, k) == model(k, 1, n), "agent %d" % k
