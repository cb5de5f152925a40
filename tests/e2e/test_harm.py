"""The profiler must never harm its target.

Runs on a few interpreters (interpreters.HARM_IDS) to keep time down.  The
target is workloads/harm_target.py: a busy thread, a sleeping thread, and a
main thread obeying one-byte commands on a pipe.
"""

import os
import re
import signal
import time

import e2elib
from e2elib import Background, assert_not_harmed, parse_folded, read_line


def _profile_ok(run):
    assert run.rc == 0, run.describe()
    # A frame caught while an exception unwinds may have no line (f_lineno None).
    stacks = parse_folded(run.out, threads=False, no_line_ok=True)
    assert stacks, "empty profile\n" + run.describe()
    return stacks


def test_sigkill_profiler_mid_run(procs, harm_interp, tmp_path):
    """SIGKILL the profiler (1000 Hz) at varying moments: the target is never left stopped."""
    w = e2elib.start_harm_target(procs, harm_interp, tmp_path, "ping")
    for i in range(8):
        prof = Background(procs, tmp_path, ["record", "--pid", w.pid, "--rate", 1000, "--idle"])
        prof.still_running_after(0.15 + 0.07 * i)
        os.kill(prof.pid, signal.SIGKILL)
        prof.proc.wait(timeout=30)
        assert_not_harmed(w.pid)
        w.ping()
    # and still fine a little later (a pending stop would have hit by now)
    w.ping()
    assert_not_harmed(w.pid)


def _diagnose_missing_signal(w, n):
    """No acknowledgement for signal n: lost, or handled late?  Fail saying which.

    CPython runs Python signal handlers in the main thread only.  The kernel
    gives a process-directed signal to the main thread unless that thread is
    stopped (e.g. ptrace-stopped by a profiler); then another thread takes it,
    and the main thread, blocked in read(), is not interrupted: the handler
    waits until the main thread wakes for some other reason.
    """
    status = {}
    for tid, _state in sorted(e2elib.task_states(w.pid).items()):
        with open("/proc/%d/task/%d/status" % (w.pid, tid)) as f:
            status[tid] = " ".join(l.replace("\t", " ") for l in f.read().splitlines()
                                   if l.startswith(("State", "SigPnd", "ShdPnd", "TracerPid")))
    w.send(b"p")  # wake the main thread: pending Python handlers run now
    late = b""
    while b"p" not in late and e2elib.wait_readable(w.reply_fd, 5):
        late += os.read(w.reply_fd, 16)
    raise AssertionError(
        "SIGUSR1 number %d was not handled within 3 s while profiled.  After waking the main "
        "thread the target replied %r: %s\nthreads:\n  %s" % (
            n, late,
            "the handler then ran: the signal was delivered, but to a non-main thread "
            "(probably because the main thread was stopped or traced when it arrived), so the "
            "Python handler waited for the main thread to wake up" if late == b"sp"
            else "the signal was lost" if late == b"p" else "the target did not answer",
            "\n  ".join("%d: %s" % kv for kv in status.items())))


def test_signals_all_delivered(procs, harm_interp, tmp_path):
    """200 SIGUSR1, each sent after the previous was acknowledged, all arrive while profiled at 1000 Hz."""
    w = e2elib.start_harm_target(procs, harm_interp, tmp_path, "signals")
    prof = Background(procs, tmp_path, ["record", "--pid", w.pid, "--rate", 1000, "--duration", 5,
                                        "--idle"])
    prof.still_running_after(0.2)  # let it attach; signals then keep coming for ~2 s
    t0 = time.monotonic()
    for i in range(200):
        os.kill(w.pid, signal.SIGUSR1)
        if not e2elib.wait_readable(w.reply_fd, 3):
            _diagnose_missing_signal(w, i + 1)
        assert os.read(w.reply_fd, 1) == b"s"
        prof.still_running_after(0.008)  # pace the signals over the profiling window
    elapsed = time.monotonic() - t0
    w.send(b"q")
    line = read_line(w.reply_fd, 10, "final count from target")
    assert line == "count 200\n", "target counted %r signals" % line
    assert w.proc.wait(timeout=10) == 0
    run = prof.wait(timeout=30)
    _profile_ok(run)
    assert elapsed < 4.5, "sending took %.1fs, longer than the profiling window" % elapsed


def test_sleep_not_stretched(procs, harm_interp, tmp_path):
    """time.sleep(1) under profiling at 1000 Hz lasts 0.95..1.3 s, measured inside the target."""
    w = e2elib.start_harm_target(procs, harm_interp, tmp_path, "sleep")
    prof = Background(procs, tmp_path, ["record", "--pid", w.pid, "--rate", 1000, "--duration", 4,
                                        "--idle"])
    prof.still_running_after(0.2)
    w.send(b"g")
    line = read_line(w.reply_fd, 30, "sleep measurements")
    m = re.match(r"^slept ([0-9.]+) ([0-9.]+) ([0-9.]+)\n$", line)
    assert m, line
    times = [float(x) for x in m.groups()]
    run = prof.wait(timeout=30)
    stacks = _profile_ok(run)
    assert all(0.95 <= t <= 1.3 for t in times), "time.sleep(1) took %s s under profiling" % times
    during = sum(s.count for s in stacks if s.frames[-1][0] == "sleep_measured")
    assert during >= 100, "only %d samples in sleep_measured: was the profiler running?\n%s" % (
        during, run.describe())


def test_thread_churn(procs, harm_interp, tmp_path):
    """Threads started and joined in a tight loop while profiled at 1000 Hz: all goes on normally."""
    w = e2elib.start_harm_target(procs, harm_interp, tmp_path, "churn")
    prof = Background(procs, tmp_path, ["record", "--pid", w.pid, "--rate", 1000, "--idle"])
    prof.still_running_after(0.2)
    w.send(b"g")
    line = read_line(w.reply_fd, 120, "churn result")
    m = re.match(r"^churned ([0-9]+)\n$", line)
    assert m and int(m.group(1)) >= 3000, line
    assert w.proc.wait(timeout=30) == 0, "target did not exit normally:\n" + w.log()
    run = prof.wait(timeout=30)  # the profiler stops by itself when the target exits
    _profile_ok(run)


def _stop_with_signal(procs, harm_interp, tmp_path, sig, to_file):
    w = e2elib.start_harm_target(procs, harm_interp, tmp_path, "ping")
    out = tmp_path / "stopped.folded"
    args = ["record", "--pid", w.pid, "--rate", 200]
    if to_file:
        args += ["-o", out]
    prof = Background(procs, tmp_path, args, start_new_session=True)
    prof.still_running_after(1.5)
    if sig == signal.SIGINT:
        os.killpg(prof.pid, sig)  # as Ctrl-C does: the whole foreground process group
    else:
        os.kill(prof.pid, sig)
    run = prof.wait(timeout=30)
    if to_file:
        assert run.out == "", run.describe()
        run.out = out.read_text()
    stacks = _profile_ok(run)
    assert any(s.frames[-1][0] == "harm_busy_loop" for s in stacks), (
        "busy thread not in the profile\n" + run.describe())
    assert_not_harmed(w.pid)
    w.ping()


def test_sigint_writes_profile(procs, harm_interp, tmp_path):
    """Ctrl-C (SIGINT to the profiler's process group): exit 0, profile so far on stdout."""
    _stop_with_signal(procs, harm_interp, tmp_path, signal.SIGINT, to_file=False)


def test_sigterm_writes_profile(procs, harm_interp, tmp_path):
    """SIGTERM: exit 0, the profile so far written to the -o file."""
    _stop_with_signal(procs, harm_interp, tmp_path, signal.SIGTERM, to_file=True)


def test_target_exits_during_recording(procs, harm_interp, tmp_path):
    """The target exits while recorded: exit 0, the profile so far, and a word about it on stderr."""
    w = e2elib.start_harm_target(procs, harm_interp, tmp_path, "ping")
    prof = Background(procs, tmp_path, ["record", "--pid", w.pid, "--rate", 200])
    prof.still_running_after(1.0)
    w.send(b"q")
    assert w.proc.wait(timeout=10) == 0
    run = prof.wait(timeout=30)
    _profile_ok(run)
    # Traced (record stops threads by default): how it ended is known.
    assert "pyspy-c: process %d exited (status 0); wrote the samples collected until then\n" % (
        w.pid) in run.err, "stderr does not say how the target exited\n" + run.describe()


def test_target_killed_during_recording(procs, harm_interp, tmp_path):
    """The target is SIGKILLed while recorded: exit 0, the profile so far, and stderr names
    the signal (a target that dies under the profiler says why)."""
    w = e2elib.start_harm_target(procs, harm_interp, tmp_path, "ping")
    prof = Background(procs, tmp_path, ["record", "--pid", w.pid, "--rate", 200])
    prof.still_running_after(1.0)
    w.proc.kill()
    assert w.proc.wait(timeout=10) == -signal.SIGKILL
    run = prof.wait(timeout=30)
    _profile_ok(run)
    assert "pyspy-c: process %d exited (killed by SIGKILL); wrote the samples collected until " \
        "then\n" % w.pid in run.err, "stderr does not say how the target ended\n" + run.describe()


def _wait_state(pid, want, timeout=30):
    deadline = time.monotonic() + timeout
    while e2elib.proc_state(pid) != want:
        assert time.monotonic() < deadline, "pid %d never reached state %s (is %s)" % (
            pid, want, e2elib.proc_state(pid))
        time.sleep(0.01)


def test_ctrl_z_suspends_between_samples(procs, harm_interp, tmp_path):
    """Ctrl-Z (SIGTSTP to the profiler's process group) at 1000 Hz, again and again: the
    profiler suspends, but never while it holds a thread of the target, which runs on and
    answers; after SIGCONT the recording goes on and ends normally."""
    w = e2elib.start_harm_target(procs, harm_interp, tmp_path, "ping")
    # A process group of its own in our session, as a shell job is: the kernel discards
    # SIGTSTP sent to an orphaned group (e.g. a new session's).
    prof = Background(procs, tmp_path, ["record", "--pid", w.pid, "--rate", 1000],
                      process_group=0)
    prof.still_running_after(0.3)
    for _ in range(10):
        os.killpg(prof.pid, signal.SIGTSTP)
        _wait_state(prof.pid, "T")
        assert_not_harmed_but_traced(w.pid)
        w.ping()
        os.killpg(prof.pid, signal.SIGCONT)
        prof.still_running_after(0.05)
    os.killpg(prof.pid, signal.SIGINT)
    run = prof.wait(timeout=30)
    assert any(s.frames[-1][0] == "harm_busy_loop" for s in _profile_ok(run)), run.describe()
    assert_not_harmed(w.pid)
    w.ping()


def assert_not_harmed_but_traced(pid):
    """Every thread running or sleeping (R/S), none stopped, while still traced (seized)."""
    states = e2elib.task_states(pid)
    bad = dict((tid, st) for tid, st in states.items() if st not in ("R", "S"))
    assert not bad, "target %d has threads not in state R/S while the profiler is suspended: %s" % (
        pid, bad)
