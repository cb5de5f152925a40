"""Static checks of the scripts the project runs.

Every apt-get the project runs (tests/deps, demo/run, bench, the test
fixtures) waits for the dpkg lock held by another apt (a fresh VM runs
unattended-upgrades at boot) instead of failing: `-o DPkg::Lock::Timeout=N`.

Run with:  /usr/bin/python3 -m pytest tests/docs
"""

import os
import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SKIP_DIRS = {".git", ".cache", "build", "node_modules", "artifacts", "out", "__pycache__"}

# apt-get as a command: at the start of a shell command (line start, after
# ; & | ( or sudo/exec/env, or after "chroot DIR"), or a Python argv element.
SHELL_CALL = re.compile(r"(?:^|[;&|(`]|\$\(|\b(?:sudo|exec|env|chroot\s+\S+))\s*apt-get\b")
PY_CALL = re.compile(r"""["']apt-get["']\s*,""")
TIMEOUT = re.compile(r"DPkg::Lock::Timeout=\d+")


def script_kind(path):
    """'py', 'sh' (shell scripts and Makefiles) or None for other files."""
    if path.suffix == ".py":
        return "py"
    if path.name == "Makefile" or path.suffix in (".sh", ".bash", ".mk"):
        return "sh"
    try:
        with open(path, "rb") as f:
            first = f.readline(200)
    except OSError:
        return None
    if first.startswith(b"#!") and re.search(rb"\b(ba|da)?sh\b", first):
        return "sh"
    if first.startswith(b"#!") and b"python" in first:
        return "py"
    return None


def apt_get_calls(kind, text):
    """(line number, line) of each apt-get invocation in a script's text."""
    calls = []
    for n, line in enumerate(text.splitlines(), 1):
        code = line.lstrip()
        if code.startswith("#"):
            continue
        if (PY_CALL if kind == "py" else SHELL_CALL).search(code):
            calls.append((n, line))
    return calls


def repo_scripts():
    for top, dirs, files in os.walk(REPO):
        dirs[:] = sorted(d for d in dirs if d not in SKIP_DIRS)
        for name in sorted(files):
            path = Path(top) / name
            kind = script_kind(path)
            if kind and path != Path(__file__).resolve():  # its samples above
                yield path, kind


@pytest.mark.parametrize("kind,line,is_call", [
    ("sh", "apt-get update -qq", True),
    ("sh", "  sudo apt-get install -y gcc", True),
    ("sh", "x && apt-get install -y gcc", True),
    ("sh", "chroot \"$root\" apt-get install -y python3", True),
    ("sh", 'echo "run tests/deps build (or apt-get install libdw-dev)"', False),
    ("sh", "# apt-get update", False),
    ("py", 'run(["chroot", root, "apt-get", "install"])', True),
    ("py", 'raise RuntimeError("gdb not found (apt-get install gdb)")', False),
])
def test_apt_get_detector(kind, line, is_call):
    assert bool(apt_get_calls(kind, line)) == is_call, line


def test_every_apt_get_waits_for_the_lock():
    calls, missing = [], []
    for path, kind in repo_scripts():
        for n, line in apt_get_calls(kind, path.read_text(errors="replace")):
            where = "%s:%d" % (path.relative_to(REPO), n)
            calls.append(where)
            if not TIMEOUT.search(line):
                missing.append("%s: %s" % (where, line.strip()))
    # The known ones must be found, or the detector is broken.
    for known in ("tests/deps", "tests/e2e/interpreters.py"):
        assert any(c.startswith(known + ":") for c in calls), (known, calls)
    assert not missing, "apt-get without -o DPkg::Lock::Timeout=N:\n" + "\n".join(missing)


def test_tests_run_says_how_long_up_front():
    """tests/run (make check, CI) says how long the suite takes before anything slow runs:
    its first run builds Debian chroots for many minutes inside the test run."""
    lines = [line.strip() for line in (REPO / "tests" / "run").read_text().splitlines()]
    code = [line for line in lines if line and not line.startswith("#")]
    first_slow = min(i for i, line in enumerate(code)
                     if "tests/deps test" in line or "pytest" in line)
    said = [line for line in code[:first_slow] if line.startswith("echo") and "minutes" in line]
    assert said, "tests/run does not say how long it takes before it starts"
    assert any("25 minutes" in line and "1 GB" in line for line in said), said
