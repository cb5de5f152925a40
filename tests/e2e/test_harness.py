"""Self-checks of the test harness (parser, short names, env parsing); no profiler needed."""

import os
import re
import subprocess
import sys

import pytest

import interpreters
from e2elib import parse_folded, shorten


def test_parse_folded_accepts_contract_output():
    text = ('thread "MainThread" (12);<module> (a.py:3);f (pkg/m.py:7) 5\n'
            'thread "w" (13);run (threading.py:9) 1\n')
    stacks = parse_folded(text, threads=True)
    assert [(s.thread, s.frames, s.count) for s in stacks] == [
        (("MainThread", 12), [("<module>", "a.py", 3), ("f", "pkg/m.py", 7)], 5),
        (("w", 13), [("run", "threading.py", 9)], 1),
    ]
    assert parse_folded("<module> (a.py) 2\n", threads=False, function=True)[0].frames == [
        ("<module>", "a.py", None)]
    assert parse_folded("", threads=False) == []


@pytest.mark.parametrize("text", [
    "f (a.py:1) 0\n",                      # count must be positive
    "f (a.py:1)\n",                        # no count
    "f (a.py:1) 1",                        # no final newline
    "g (a.py:1) 1\nf (a.py:1) 1\n",        # not sorted
    "f (a.py:1) 1\nf (a.py:1) 2\n",        # duplicate stack
    "f (a.py:1);;g (a.py:2) 1\n",          # empty frame
    "f a.py:1 1\n",                        # malformed frame
    "\n",                                  # empty line
])
def test_parse_folded_rejects(text):
    with pytest.raises(AssertionError):
        parse_folded(text, threads=False)


def test_parse_folded_thread_frames():
    with pytest.raises(AssertionError):  # missing thread frame
        parse_folded("f (a.py:1) 1\n", threads=True)
    with pytest.raises(AssertionError):  # thread frame where none is wanted
        parse_folded('thread "x" (1);f (a.py:1) 1\n', threads=False)
    with pytest.raises(AssertionError):  # line number with --function
        parse_folded("f (a.py:1) 1\n", threads=False, function=True)


def test_shorten(tmp_path):
    root = str(tmp_path)
    for d in ("usr/lib/python3.11/json", "x/pkg/sub"):
        os.makedirs(os.path.join(root, d))
    for f in ("usr/lib/python3.11/json/__init__.py", "x/pkg/__init__.py", "x/pkg/sub/__init__.py"):
        open(os.path.join(root, f), "w").close()
    assert shorten("/usr/lib/python3.11/json/decoder.py", root) == "json/decoder.py"
    assert shorten("/usr/lib/python3.11/threading.py", root) == "threading.py"
    assert shorten("/x/pkg/sub/deep.py", root) == "pkg/sub/deep.py"
    assert shorten("/tmp/x/app.py", root) == "app.py"
    assert shorten("<frozen os>", root) == "<frozen os>"


def test_env_entries():
    assert interpreters.env_entries("/a/python3:chroot:/srv/c::/b/python2.7") == [
        "/a/python3", "chroot:/srv/c", "/b/python2.7"]
    assert interpreters.env_entries("") == []


def test_missing_gdb_is_a_problem(monkeypatch):
    """No gdb: the embedded scenario is reported missing (so test_matrix_complete fails)."""
    monkeypatch.setattr(interpreters, "GDB", "/nonexistent/gdb")
    with pytest.raises(RuntimeError, match="gdb"):
        interpreters._embedded_gdb()


def test_gdb_and_container_commands():
    gdb = interpreters.Interpreter("embedded-gdb-3.11", ["/usr/bin/gdb", "-nx", "-batch"], (3, 11),
                                   launch="gdb")
    argv = gdb.command("/w/ground_truth.py", "/t/truth.json", 5, 6)
    assert argv[:4] == ["/usr/bin/gdb", "-nx", "-batch", "-ex"] and len(argv) == 5
    assert argv[4].startswith("python ")
    assert "sys.argv = ['/w/ground_truth.py', '/t/truth.json', '5', '6']" in argv[4]
    c = interpreters.Interpreter("container-sid-3.14", ["chroot", "/c", "python3"], (3, 14),
                                 chroot="/c", launch="container")
    argv = c.command("/tmp/ground_truth.py", 1)
    assert argv[0] == interpreters.UNSHARE and "--pid" in argv and "--fork" in argv
    assert argv[-5:] == ["chroot", "/c", "python3", "/tmp/ground_truth.py", "1"]


def test_chroot_missing_packages(tmp_path):
    """A sid chroot built with python3 only lacks the python3.15 packages (the
    interpreter, and its standard library for the subinterpreter tests)."""
    root = str(tmp_path)
    os.makedirs(os.path.join(root, "usr", "bin"))
    open(os.path.join(root, "usr", "bin", "python3"), "w").close()
    assert interpreters.chroot_ready(root, "trixie")
    assert not interpreters.chroot_ready(root, "sid")
    want = [pkg for _, pkg in interpreters.CHROOTS["sid"]["needs"] if pkg != "python3"]
    assert want and "python3.15-minimal" in want
    assert interpreters._missing(root, "sid") == want


FAKE_DEBOOTSTRAP = """#!/bin/sh
# debootstrap [options] SUITE TARGET: a "chroot" with only usr/bin/python3
for target; do :; done
mkdir -p "$target/usr/bin" && : > "$target/usr/bin/python3" && chmod 755 "$target/usr/bin/python3"
echo "I: fake debootstrap into $target"
"""


def test_chroot_build_progress_is_shown(tmp_path):
    """Building a chroot during collection (minutes on a first run) is announced on the
    run's own output, start and end with the time taken, past pytest's capture, with
    stdout a pipe as in CI; a failed build says so too."""
    bindir = tmp_path / "bin"
    bindir.mkdir()
    fake = bindir / "debootstrap"
    fake.write_text(FAKE_DEBOOTSTRAP)
    os.chmod(fake, 0o755)
    here = os.path.dirname(os.path.abspath(__file__))
    for broken in (False, True):
        cache = tmp_path / ("broken" if broken else "chroots")
        if broken:
            fake.write_text("#!/bin/sh\necho 'E: no network' >&2\nexit 1\n")
        env = dict(os.environ, PATH="%s:%s" % (bindir, os.environ.get("PATH", "")),
                   PYSPY_TEST_FAKE_CHROOTS=str(cache))
        p = subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q",
                            os.path.join(here, "chroot_progress_check.py")],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           stdin=subprocess.DEVNULL, env=env, timeout=120, cwd=interpreters.REPO)
        out = p.stdout.decode("utf-8", "replace")
        suite = interpreters.CHROOT_SUITE
        assert re.search(r"pyspy-c tests: chroot %s: building Debian %s with debootstrap "
                         r"into \S+, once .*log: " % (suite, suite), out), out
        if broken:
            assert p.returncode != 0, out
            assert re.search(r"pyspy-c tests: chroot %s: failed after \d+ min \d\d s: "
                             r"debootstrap %s failed" % (suite, suite), out), out
        else:
            assert p.returncode == 0, out
            assert re.search(r"pyspy-c tests: chroot %s: built in \d+ min \d\d s" % suite,
                             out), out
            assert os.path.exists(os.path.join(str(cache), suite, "usr", "bin", "python3"))
