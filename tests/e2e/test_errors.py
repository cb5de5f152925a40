"""Bad input and refused access: exit codes and the one-line error message.

Contract: errors are one line on stderr, `pyspy-c: <message>`, lowercase, no
final full stop; exit 2 usage, 3 no such process, 4 permission denied (incl.
another tracer), 5 not a Python process.
"""

import gzip
import json
import os
import re
import shutil
import signal
import subprocess
import tempfile
import time

import pytest

import e2elib
from e2elib import assert_error, run_profiler


def _dead_pid(procs):
    p = procs.start(["/bin/true"])
    p.wait()
    assert not os.path.exists("/proc/%d" % p.pid)
    return p.pid


def test_no_such_pid(procs, tmp_path):
    pid = _dead_pid(procs)
    run = run_profiler(tmp_path, ["record", "--pid", pid, "--duration", 1])
    assert_error(run, 3)


def test_pid_beyond_pid_max(tmp_path):
    with open("/proc/sys/kernel/pid_max") as f:
        pid = int(f.read()) + 1
    run = run_profiler(tmp_path, ["record", "--pid", pid, "--duration", 1])
    assert_error(run, 3)


def test_not_a_python_process(procs, tmp_path):
    sleeper = procs.start(["sleep", "100"])
    run = run_profiler(tmp_path, ["record", "--pid", sleeper.pid, "--duration", 1])
    assert_error(run, 5)
    assert sleeper.poll() is None, "sleep died"
    e2elib.assert_not_harmed(sleeper.pid, "sleep")
    assert e2elib.proc_state(sleeper.pid) == "S"


@pytest.mark.parametrize("args", [
    ["record", "--pid", "PID", "--bogus-option"],
    ["record", "--pid", "PID", "--rate", "0"],
    ["record", "--pid", "PID", "--rate", "abc"],
    ["record", "--pid", "PID", "--rate", "-5"],
    ["record", "--pid", "PID", "--rate"],
    ["record", "--pid", "PID", "--duration", "abc"],
    ["record", "--pid", "abc"],
    ["record", "--pid", "0"],
    ["record", "--pid", "-1"],
    ["record", "--pid"],
    ["record", "--pid", "PID", "--pid", "PID"],
    ["record", "-p", "PID", "-p", "1", "-d", "1"],
    ["dump", "--pid", "PID", "--pid=PID"],
    ["record"],
    ["no-such-command"],
    ["--no-such-option"],
], ids=lambda a: " ".join(a))
def test_usage_errors(procs, one_interp, tmp_path, args):
    """Usage errors exit 2, before touching the (live, Python) target."""
    w = e2elib.start_harm_target(procs, one_interp, tmp_path, "ping")
    args = [a.replace("PID", str(w.pid)) for a in args]
    run = run_profiler(tmp_path, args)
    msg = assert_error(run, 2)
    if args.count("--pid") + args.count("-p") + sum(a.startswith("--pid=") for a in args) > 1:
        assert "--pid given more than once" in msg, run.describe()
    e2elib.assert_not_harmed(w.pid)


def test_version_and_help(tmp_path):
    for args in (["--version"], ["-V"], ["--help"], ["-h"], ["help"], ["help", "record"],
                 ["record", "--help"]):
        run = run_profiler(tmp_path, args)
        assert run.rc == 0, run.describe()
        assert run.out.strip(), "nothing on stdout\n" + run.describe()
    run = run_profiler(tmp_path, ["record", "--help"])
    for option in ("--pid", "--rate", "--duration", "--output", "--threads", "--idle",
                   "--nonblocking", "--function", "--full-filenames", "--verbose"):
        assert option in run.out, "%s not in record --help\n%s" % (option, run.describe())


def test_permission_denied_unprivileged(procs, one_interp, tmp_path):
    """An unprivileged user profiling a root-owned Python process: exit 4, names the cure."""
    w = e2elib.start_harm_target(procs, one_interp, tmp_path, "ping")
    d = tempfile.mkdtemp(prefix="pyspyc-e2e-bin-")
    procs.add_cleanup(lambda: shutil.rmtree(d, ignore_errors=True))
    os.chmod(d, 0o755)
    copy = os.path.join(d, "pyspy-c")
    shutil.copy(e2elib.require_binary(), copy)
    os.chmod(copy, 0o755)
    run = run_profiler(
        d, ["record", "--pid", w.pid, "--duration", 1],
        prefix=["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "--"],
        binary_path=copy)
    assert_error(run, 4, r"CAP_SYS_PTRACE|ptrace_scope")
    e2elib.assert_not_harmed(w.pid)
    w.ping()


def test_permission_denied_despite_cap_sys_ptrace(procs, one_interp, tmp_path):
    """pyspy-c root in a user namespace of its own (CAP_SYS_PTRACE there, not over the
    target): exit 4, and the message does not send the user after a capability they have."""
    if shutil.which("unshare") is None:
        pytest.fail("unshare (util-linux) is missing; the test command installs it")
    w = e2elib.start_harm_target(procs, one_interp, tmp_path, "ping")
    run = run_profiler(tmp_path, ["record", "--pid", w.pid, "--duration", 1],
                       prefix=["unshare", "--user", "--map-root-user", "--"])
    msg = assert_error(run, 4, r"although pyspy-c has CAP_SYS_PTRACE")
    assert "namespace" in msg, run.describe()
    e2elib.assert_not_harmed(w.pid)
    w.ping()


def test_another_tracer(procs, one_interp, tmp_path):
    """A target already traced (strace -p): exit 4, the message names the tracer's pid and command."""
    w = e2elib.start_harm_target(procs, one_interp, tmp_path, "ping")
    strace = procs.start(["strace", "-f", "-p", str(w.pid), "-o", "/dev/null"],
                         stderr=subprocess.PIPE, stdout=subprocess.DEVNULL)
    line = e2elib.read_line(strace.stderr.fileno(), 30, "strace attaching")
    assert "attached" in line, line
    assert e2elib.tracer_pid(w.pid) == strace.pid
    try:
        run = run_profiler(tmp_path, ["record", "--pid", w.pid, "--duration", 1])
        msg = assert_error(run, 4, r"\b%d\b" % strace.pid)
        assert "strace" in msg, "the tracer's command name is not named\n" + run.describe()
        # A failed record -o FILE leaves FILE as it was, whatever the format.
        d, path = _precious(tmp_path)
        for extra in [["-f", f] for f in FORMATS] + [["--interval", "1"]]:
            run = run_profiler(tmp_path, ["record", "--pid", w.pid, "-d", 1, "-o", path] + extra)
            assert_error(run, 4, r"\b%d\b" % strace.pid)
            assert_untouched(d, path, run.describe())
    finally:
        os.kill(strace.pid, signal.SIGINT)  # strace detaches on SIGINT
        strace.wait(timeout=30)
        strace.stderr.close()
    e2elib.assert_not_harmed(w.pid)
    w.ping()


# --------------------------------------------------------------------------
# -o FILE: replaced by a whole profile, or left as it was (issue 12)

FORMATS = ["folded", "speedscope", "chrometrace", "svg", "pprof"]
PRECIOUS = b"precious\n"


def _precious(tmp_path, name="keep.out", mode=0o640):
    """A directory holding only FILE (yesterday's profile); returns (dir, FILE)."""
    d = tmp_path / "out"
    d.mkdir(exist_ok=True)
    path = d / name
    path.write_bytes(PRECIOUS)
    os.chmod(path, mode)
    return d, path


def assert_untouched(d, path, run_text):
    assert path.read_bytes() == PRECIOUS, "FILE was touched\n" + run_text
    assert sorted(os.listdir(d)) == [path.name], "files left beside FILE: %s\n%s" % (
        sorted(os.listdir(d)), run_text)


def assert_profile(fmt, data, run_text):
    """data is a whole profile in format fmt."""
    if fmt == "folded":
        e2elib.parse_folded(data.decode(), threads=False)
        assert data, run_text
    elif fmt in ("speedscope", "chrometrace"):
        json.loads(data.decode())
    elif fmt == "svg":
        assert data.startswith(b"<?xml") and data.rstrip().endswith(b"</svg>"), run_text
    else:
        assert gzip.decompress(data), run_text


@pytest.mark.parametrize("extra", [["-f", f] for f in FORMATS] + [["--interval", "1"]],
                         ids=lambda a: " ".join(a))
def test_failed_record_keeps_output_file(procs, tmp_path, extra):
    """`record --pid DEAD -o FILE`: exit 3, FILE as it was, nothing beside it."""
    d, path = _precious(tmp_path)
    run = run_profiler(tmp_path, ["record", "--pid", _dead_pid(procs), "-o", path] + extra)
    assert_error(run, 3)
    assert_untouched(d, path, run.describe())
    run = run_profiler(tmp_path, ["record", "-o", path] + extra + ["--", "/nonexistent/prog"])
    assert run.rc != 0, run.describe()
    assert_untouched(d, path, run.describe())


@pytest.mark.parametrize("fmt", FORMATS)
def test_record_replaces_output_file(procs, one_interp, tmp_path, fmt):
    """A successful record replaces FILE whole, keeping its permissions; no temporary left."""
    w = e2elib.start_harm_target(procs, one_interp, tmp_path, "ping")
    d, path = _precious(tmp_path, mode=0o604)
    run = run_profiler(tmp_path, ["record", "--pid", w.pid, "-d", "0.5", "-i", "-f", fmt,
                                  "-o", path])
    assert run.rc == 0, run.describe()
    assert sorted(os.listdir(d)) == [path.name], run.describe()
    assert_profile(fmt, path.read_bytes(), run.describe())
    assert os.stat(path).st_mode & 0o7777 == 0o604, oct(os.stat(path).st_mode)
    # A new FILE: 0666 less the umask, as a plain create would give.
    new = d / "new.out"
    run = run_profiler(tmp_path, ["record", "--pid", w.pid, "-d", "0.2", "-i", "-f", fmt,
                                  "-o", new],
                       prefix=["sh", "-c", 'umask 027; exec "$@"', "sh"])
    assert run.rc == 0, run.describe()
    assert os.stat(new).st_mode & 0o7777 == 0o640, oct(os.stat(new).st_mode)
    e2elib.assert_not_harmed(w.pid)
    w.ping()


def _wait_traced_by(pid, tracer, prof):
    deadline = time.monotonic() + 30
    while e2elib.tracer_pid(pid) != tracer:
        assert prof.proc.poll() is None, "profiler exited:\n" + prof.result(prof.proc.poll()).describe()
        assert time.monotonic() < deadline, "profiler did not attach"
        time.sleep(0.01)


# Where the filesystem has no O_TMPFILE, the temporary is a hidden named file.
NO_TMPFILE = dict(os.environ, PYSPY_C_NO_TMPFILE="1")
HIDDEN_TMP_RE = r"^\.%s\.pyspy-c-[a-z0-9]{6}$"


@pytest.mark.parametrize("named", [False, True], ids=["O_TMPFILE", "named-temporary"])
@pytest.mark.parametrize("fmt", FORMATS)
def test_killed_record_keeps_output_file(procs, one_interp, tmp_path, fmt, named):
    """SIGKILL of pyspy-c while recording: FILE as it was; nothing left beside it (the
    profile is an unnamed O_TMPFILE until it is renamed over FILE), or, on a filesystem
    without O_TMPFILE, only the hidden temporary, as documented."""
    w = e2elib.start_harm_target(procs, one_interp, tmp_path, "ping")
    d, path = _precious(tmp_path)
    prof = e2elib.Background(procs, tmp_path, ["record", "--pid", w.pid, "-i", "-f", fmt,
                                               "-o", path], env=NO_TMPFILE if named else None)
    _wait_traced_by(w.pid, prof.pid, prof)
    time.sleep(0.3)
    os.kill(prof.pid, signal.SIGKILL)
    prof.proc.wait(timeout=30)
    text = prof.result(-9).describe()
    assert path.read_bytes() == PRECIOUS, "FILE was touched\n" + text
    left = sorted(n for n in os.listdir(d) if n != path.name)
    if named:
        assert len(left) == 1 and re.match(HIDDEN_TMP_RE % re.escape(path.name), left[0]), (
            left, text)
    else:
        assert left == [], (left, text)
    e2elib.assert_not_harmed(w.pid)
    w.ping()


@pytest.mark.parametrize("fmt", FORMATS)
def test_named_temporary_replaces_or_is_removed(procs, one_interp, tmp_path, fmt):
    """Without O_TMPFILE: a failed record removes its hidden temporary, a finished one
    renames it over FILE (keeping FILE's permissions)."""
    d, path = _precious(tmp_path, mode=0o604)
    run = run_profiler(tmp_path, ["record", "--pid", _dead_pid(procs), "-f", fmt, "-o", path],
                       env=NO_TMPFILE)
    assert_error(run, 3)
    assert_untouched(d, path, run.describe())
    w = e2elib.start_harm_target(procs, one_interp, tmp_path, "ping")
    run = run_profiler(tmp_path, ["record", "--pid", w.pid, "-d", "0.3", "-i", "-f", fmt,
                                  "-o", path], env=NO_TMPFILE)
    assert run.rc == 0, run.describe()
    assert sorted(os.listdir(d)) == [path.name], run.describe()
    assert_profile(fmt, path.read_bytes(), run.describe())
    assert os.stat(path).st_mode & 0o7777 == 0o604, oct(os.stat(path).st_mode)
    e2elib.assert_not_harmed(w.pid)


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_stopped_record_writes_output_file(procs, one_interp, tmp_path, sig):
    """Ctrl-C or SIGTERM ends the recording normally: the profile replaces FILE, exit 0."""
    w = e2elib.start_harm_target(procs, one_interp, tmp_path, "ping")
    d, path = _precious(tmp_path)
    prof = e2elib.Background(procs, tmp_path, ["record", "--pid", w.pid, "-i", "-o", path])
    _wait_traced_by(w.pid, prof.pid, prof)
    time.sleep(0.3)
    os.kill(prof.pid, sig)
    run = prof.wait()
    assert run.rc == 0, run.describe()
    assert sorted(os.listdir(d)) == [path.name], run.describe()
    assert_profile("folded", path.read_bytes(), run.describe())
    e2elib.assert_not_harmed(w.pid)
    w.ping()
