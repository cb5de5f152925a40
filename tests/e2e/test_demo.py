"""The README's first command, `make demo`, works end to end (demo/run)."""

import os
import subprocess

from interpreters import REPO


def test_make_demo():
    out = os.path.join(REPO, "demo", "out", "profile.folded")
    if os.path.exists(out):
        os.unlink(out)
    p = subprocess.run(["make", "-s", "demo"], cwd=REPO, stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, timeout=300)
    text = p.stdout.decode("utf-8", "replace")
    assert p.returncode == 0, "make demo exited %d:\n%s" % (p.returncode, text)
    with open(out) as f:
        lines = f.read().splitlines()
    assert lines and all(" (app.py:" in line for line in lines), lines[:5]
    assert "Hottest stacks:" in text and "slow_primes (app.py:" in text, text
