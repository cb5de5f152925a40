"""record -- PROGRAM ARGS: profile a program from its start.

The program's exit status is pyspy-c's; the terminal's Ctrl-C (SIGINT to the
process group) reaches the program as it would without the profiler, and the
profile is still written; a SIGTERM sent to pyspy-c alone is passed on.
Stacks are compared with the ground truth the program writes for itself.
"""

import json
import os
import signal
import subprocess
import time

import pytest

import e2elib
from e2elib import parse_folded
from interpreters import WORKLOADS

SPAWN_IDS = ["pyenv-2.7", "pyenv-3.8", "pyenv-3.11", "pyenv-3.12", "pyenv-3.13", "system-3.11"]
SCRIPT = os.path.join(WORKLOADS, "spawn_target.py")


@pytest.fixture(params=SPAWN_IDS)
def spawn_interp(request):
    import conftest
    return conftest.scenario_by_id(request.param)


def _sigint_default():
    # As a terminal's foreground job: SIGINT not ignored (a test runner may
    # have inherited it ignored, and Python then installs no handler).
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def start(tmp_path, interp, *args, **kw):
    out = tmp_path / "profile.folded"
    err = open(str(tmp_path / "stderr"), "wb")
    argv = [e2elib.require_binary(), "record", "-o", str(out), "-r", "100"] + list(
        kw.pop("opts", [])) + ["--"] + interp.argv + [SCRIPT] + [str(a) for a in args]
    p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=err,
                         preexec_fn=_sigint_default, start_new_session=True)
    return p, out, tmp_path / "stderr", argv


def finish(p, timeout=60):
    try:
        p.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(p.pid, signal.SIGKILL)
        p.wait()
        raise AssertionError("pyspy-c did not end within %ss" % timeout)
    return p.returncode


def wait_for(path, timeout=30):
    deadline = time.monotonic() + timeout
    while not os.path.exists(path):
        assert time.monotonic() < deadline, "%s never appeared" % path
        time.sleep(0.01)


def test_exit_status_and_stacks(spawn_interp, tmp_path):
    """The program's exit status is pyspy-c's, and its busy stack matches the ground
    truth it wrote for itself."""
    truth = tmp_path / "truth.json"
    p, out, err, argv = start(tmp_path, spawn_interp, "busy", truth, "1.0", "7")
    rc = finish(p)
    errtext = e2elib.file_text(str(err))
    assert rc == 7, "exit %s, expected the program's 7\n$ %s\n%s" % (rc, " ".join(argv), errtext)
    with open(str(truth)) as f:
        want = json.load(f)["frames"]
    want = [(f["name"], e2elib.shorten(f["filename"]), f["lineno"]) for f in want]
    stacks = parse_folded(out.read_text(), threads=False, no_line_ok=True)
    busy = [s for s in stacks if s.frames == want]
    assert busy and sum(s.count for s in busy) >= 50, (
        "the busy stack %s has too few samples\n%s\n%s" % (want, out.read_text()[:3000], errtext))
    assert "process %d exited" % p.pid not in errtext  # its own pid is not the program's


def test_ctrl_c_reaches_program(spawn_interp, tmp_path):
    """SIGINT to the process group (Ctrl-C): the program gets KeyboardInterrupt and
    handles it as it would alone (here: exit 3 from its handler); pyspy-c writes
    the profile and ends with the program's status."""
    truth = tmp_path / "truth.json"
    p, out, err, argv = start(tmp_path, spawn_interp, "until-sigint", truth, "60", "0")
    wait_for(str(truth))
    time.sleep(0.3)  # a few samples of the busy loop
    os.killpg(p.pid, signal.SIGINT)
    rc = finish(p)
    errtext = e2elib.file_text(str(err))
    assert rc == 3, "exit %s, expected 3 from the program's KeyboardInterrupt handler\n%s" % (
        rc, errtext)
    assert "caught KeyboardInterrupt" in errtext, errtext
    assert parse_folded(out.read_text(), threads=False, no_line_ok=True), "empty profile\n" + errtext


def test_sigterm_passed_on(spawn_interp, tmp_path):
    """SIGTERM to pyspy-c alone is passed on to the program; the profile is written."""
    truth = tmp_path / "truth.json"
    p, out, err, argv = start(tmp_path, spawn_interp, "busy", truth, "60", "0")
    wait_for(str(truth))
    time.sleep(0.3)  # a few samples of the busy loop
    p.send_signal(signal.SIGTERM)
    rc = finish(p)
    errtext = e2elib.file_text(str(err))
    assert rc == 128 + signal.SIGTERM, "exit %s\n%s" % (rc, errtext)
    assert parse_folded(out.read_text(), threads=False, no_line_ok=True), "empty profile\n" + errtext


def test_program_errors(one_interp, tmp_path):
    """A program that cannot run, --pid with a program, no program after '--'."""
    for args, code, words in (
            (["record", "--", "/nonexistent/prog"], 2, "cannot run"),
            (["record", "-p", "1", "--", "true"], 2, "not both"),
            (["record", "--"], 2, "needs --pid"),
            (["record", "python3"], 2, "after '--'")):
        run = e2elib.run_profiler(tmp_path, args)
        assert run.rc == code, run.describe()
        assert run.err.startswith("pyspy-c: ") and run.err.count("\n") == 1, run.describe()
        assert words in run.err, run.describe()


def test_not_python_program(tmp_path):
    """A program that never runs Python: said once, and pyspy-c still ends as it does."""
    run = e2elib.run_profiler(tmp_path, ["record", "--", "/bin/sh", "-c", "exit 4"])
    assert run.rc == 4, run.describe()
    assert "exited before its Python interpreter could be found" in run.err, run.describe()
    assert run.out == "", run.describe()
