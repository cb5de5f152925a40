"""The README's first command, `make demo`, works end to end (demo/run)."""

import os
import re
import subprocess

from interpreters import REPO


def test_make_demo():
    out = os.path.join(REPO, "demo", "out", "profile.folded")
    if os.path.exists(out):
        os.unlink(out)
    # As a user types it: not in the sanitized build's folder when make check SANITIZE=1
    # runs this (its SANITIZE and MAKEFLAGS would reach demo/run's make).
    env = {k: v for k, v in os.environ.items()
           if k not in ("SANITIZE", "MAKEFLAGS", "MAKELEVEL", "MFLAGS")}
    p = subprocess.run(["make", "-s", "demo"], cwd=REPO, stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, timeout=300, env=env)
    text = p.stdout.decode("utf-8", "replace")
    assert p.returncode == 0, "make demo exited %d:\n%s" % (p.returncode, text)
    with open(out) as f:
        lines = f.read().splitlines()
    assert lines and all(" (app.py:" in line for line in lines), lines[:5]
    assert "Hottest stacks:" in text and "slow_primes (app.py:" in text, text
    shown = text.split("Hottest stacks:\n", 1)[1].split("\n\n", 1)[0].splitlines()
    assert shown, text
    for line in shown:  # "COUNT<tab>STACK", the stack as in the file, nothing after it
        count, _, stack = line.partition("\t")
        assert count.isdigit() and stack and stack == stack.rstrip(), repr(line)
    # Hottest functions: functions, each once, without line numbers.
    funcs = text.split("hottest functions", 1)[1].split("\n", 1)[1].split("\n\n", 1)[0]
    names = [re.match(r"^ *[0-9.]+%  (.+)$", line).group(1) for line in funcs.splitlines()]
    assert "slow_primes (app.py)" in names, funcs
    assert len(set(names)) == len(names) and not any(
        re.search(r":[0-9]+\)$", n) for n in names), funcs
    # The flame graph suggestion: the built-in -f svg first (flamegraph.pl is not in Debian).
    assert "-f svg" in text, text
    if "flamegraph.pl" in text:
        assert text.index("-f svg") < text.index("flamegraph.pl"), text


def test_make_demo_fleet():
    """The README's `make demo-fleet`: four workers, two agents and a collector serving the web
    app come up; within seconds the web app's timeline holds samples of both services; at the
    end (DEMO_SECONDS) every process it started is gone and so is its temporary directory."""
    import json
    import signal
    import time
    import urllib.request

    env = {k: v for k, v in os.environ.items()
           if k not in ("SANITIZE", "MAKEFLAGS", "MAKELEVEL", "MFLAGS")}
    env.update(DEMO_SECONDS="25", DEMO_WEB="127.0.0.1:0", DEMO_REGRESS_AFTER="600")
    p = subprocess.Popen(["make", "-s", "demo-fleet"], cwd=REPO, stdout=subprocess.PIPE,
                         stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env,
                         start_new_session=True)
    text, url, pids, tmp = "", None, [], None
    try:
        deadline = time.time() + 240   # the first run may install the fleet's packages
        while url is None and time.time() < deadline:
            line = p.stdout.readline().decode("utf-8", "replace")
            if not line:
                break
            text += line
            m = re.search(r"^demo-fleet: 4 workers \(pids ([\d ]+)\).*store (\S+)/fleet\.db$", line)
            if m:
                pids, tmp = [int(x) for x in m.group(1).split()], m.group(2)
            m = re.search(r"^demo-fleet: the web app: (http://127\.0\.0\.1:\d+)/", line)
            if m:
                url = m.group(1)
        assert url and len(pids) == 4 and tmp, "no URL, pids or store in:\n" + text
        services = {}
        for _ in range(40):
            now = int(time.time())
            with urllib.request.urlopen("%s/api/v1/timeline?from=%d&until=%d&group=service"
                                        % (url, now - 600, now + 60), timeout=10) as r:
                t = json.loads(r.read().decode())
            services = {}
            for point in t["points"]:
                g = t["groups"][point[1]]
                services[g] = services.get(g, 0) + point[2]
            if services.get("web") and services.get("batch"):
                break
            time.sleep(0.5)
        assert services.get("web") and services.get("batch"), services
        rest, _ = p.communicate(timeout=120)
        text += rest.decode("utf-8", "replace")
        assert p.returncode == 0, "make demo-fleet exited %d:\n%s" % (p.returncode, text)
    finally:
        if p.poll() is None:
            os.killpg(p.pid, signal.SIGINT)
            p.wait(timeout=60)
    assert re.search(r"^demo-fleet: stopped \(7 processes\), removed %s$" % re.escape(tmp),
                     text, re.M), text
    assert not os.path.exists(tmp)
    for pid in pids:
        assert not os.path.exists("/proc/%d" % pid), "worker %d still runs" % pid
