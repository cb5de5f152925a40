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
