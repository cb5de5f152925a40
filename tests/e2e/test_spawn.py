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

# chroot-sid-3.14: the program is `chroot ROOT python3`, which execs Python.
SPAWN_IDS = ["pyenv-2.7", "pyenv-3.8", "pyenv-3.11", "pyenv-3.12", "pyenv-3.13", "system-3.11",
             "chroot-sid-3.14"]


@pytest.fixture(params=SPAWN_IDS)
def spawn_interp(request):
    import conftest
    return conftest.scenario_by_id(request.param)


def _sigint_default():
    # As a terminal's foreground job: SIGINT not ignored (a test runner may
    # have inherited it ignored, and Python then installs no handler).
    signal.signal(signal.SIGINT, signal.SIG_DFL)


class Spawned(object):
    pass


def start(tmp_path, interp, mode, seconds, code):
    """record -o FILE -- INTERPRETER spawn_target.py MODE TRUTH SECONDS CODE."""
    r = Spawned()
    wl = interp.stage_workloads(tmp_path)
    t_dir, h_dir = interp.target_tmpdir(str(tmp_path))
    r.truth = os.path.join(h_dir, "truth.json")
    r.out = tmp_path / "profile.folded"
    r.err = tmp_path / "stderr"
    r.argv = [e2elib.require_binary(), "record", "-o", str(r.out), "-r", "100", "--"] + \
        interp.argv + [wl + "/spawn_target.py", mode, t_dir + "/truth.json", str(seconds),
                       str(code)]
    with open(str(r.err), "wb") as err:
        r.p = subprocess.Popen(r.argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                               stderr=err, preexec_fn=_sigint_default, start_new_session=True)
    return r


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
    r = start(tmp_path, spawn_interp, "busy", "1.0", "7")
    rc = finish(r.p)
    errtext = e2elib.file_text(str(r.err))
    assert rc == 7, "exit %s, expected the program's 7\n$ %s\n%s" % (
        rc, " ".join(r.argv), errtext)
    with open(r.truth) as f:
        want = json.load(f)["frames"]
    want = [(f["name"], e2elib.shorten(f["filename"], spawn_interp.chroot), f["lineno"])
            for f in want]
    stacks = parse_folded(r.out.read_text(), threads=False, no_line_ok=True)
    busy = [s for s in stacks if s.frames == want]
    assert busy and sum(s.count for s in busy) >= 50, (
        "the busy stack %s has too few samples\n%s\n%s" % (want, r.out.read_text()[:3000],
                                                           errtext))


def test_ctrl_c_reaches_program(spawn_interp, tmp_path):
    """SIGINT to the process group (Ctrl-C): the program gets KeyboardInterrupt and
    handles it as it would alone (here: exit 3 from its handler); pyspy-c writes
    the profile and ends with the program's status."""
    r = start(tmp_path, spawn_interp, "until-sigint", "60", "0")
    wait_for(r.truth)
    time.sleep(0.3)  # a few samples of the busy loop
    os.killpg(r.p.pid, signal.SIGINT)
    rc = finish(r.p)
    errtext = e2elib.file_text(str(r.err))
    assert rc == 3, "exit %s, expected 3 from the program's KeyboardInterrupt handler\n%s" % (
        rc, errtext)
    assert "caught KeyboardInterrupt" in errtext, errtext
    assert parse_folded(r.out.read_text(), threads=False, no_line_ok=True), (
        "empty profile\n" + errtext)


def test_sigterm_passed_on(spawn_interp, tmp_path):
    """SIGTERM to pyspy-c alone is passed on to the program; the profile is written."""
    r = start(tmp_path, spawn_interp, "busy", "60", "0")
    wait_for(r.truth)
    time.sleep(0.3)  # a few samples of the busy loop
    r.p.send_signal(signal.SIGTERM)
    rc = finish(r.p)
    errtext = e2elib.file_text(str(r.err))
    assert rc == 128 + signal.SIGTERM, "exit %s\n%s" % (rc, errtext)
    assert parse_folded(r.out.read_text(), threads=False, no_line_ok=True), (
        "empty profile\n" + errtext)


def test_program_errors(one_interp, tmp_path):
    """A program that cannot run (127 not found, 126 not executable, as env and timeout
    say), --pid with a program, no program after '--'."""
    noexec = tmp_path / "not-executable"
    noexec.write_text("#!/bin/sh\n")
    os.chmod(noexec, 0o644)
    for args, code, words in (
            (["record", "--", "/nonexistent/prog"], 127, "cannot run '/nonexistent/prog': No such"),
            (["record", "--", "no-such-program-pyspyc"], 127, "command not found in PATH"),
            (["record", "--", str(noexec)], 126, "Permission denied"),
            (["record", "--", str(tmp_path)], 126, "cannot run"),
            (["record", "-o", tmp_path / "p.folded", "--", "/nonexistent/prog"], 127, "cannot run"),
            (["top", "--", "/nonexistent/prog"], 127, "cannot run"),
            (["top", "--", str(noexec)], 126, "cannot run"),
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
