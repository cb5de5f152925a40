"""Idle classification, --gil and thread names, against the workload's own view.

workloads/idle_kinds.py parks threads in time.sleep, a lock wait, select() and
a socket recv(), and keeps one busy: in a Python loop (mode "python") or in C
code that released the GIL (zlib.compress of a large buffer, mode "c").  Every thread
has a Python name longer than the 15 bytes of an OS thread name.

The rule under test (README, doc/CONTRACT.md): a thread is idle in a sample when
its state in /proc/PID/task/TID/stat, read just before the sample, is not R.
Threads blocked in a system call are never R, so by default none of their
samples may be kept; a thread that spins is R (running or runnable), so its
samples are kept; --idle keeps every thread's.  --gil keeps only the samples of
the GIL's holder: of the threads here only the Python spinner ever holds it
while sampled (the others wait in system calls, which release it).

Runs on interpreters.IDLE_IDS (2.7, 3.8, 3.11, 3.12, 3.13, Debian sid's 3.14);
a missing one fails its tests by name.

On 2.7 (no GIL switch count) every sample stops every thread, and a thread
stopped while asleep is runnable for a moment as it goes back to sleep: a
sample can catch it so (the documented limit of the rule, man page IDLE
THREADS).  There the default-dropping test reads without stopping
(--nonblocking), where the rule can be checked exactly.
"""

import json
import os
import re
import shutil
import subprocess

import pytest

import e2elib
from e2elib import expected_frames, format_frames, parse_folded
from interpreters import require

RATE = 100
DURATION = 1
MIN_SAMPLES = 30   # of about 100 at 100 Hz for 1 s
MAX_SAMPLES = 150


def _start(procs, interp, tmp_path, mode):
    require(interp)
    return e2elib.start_ground_truth(procs, interp, tmp_path, script="idle_kinds.py", args=[mode])


def _record(procs, interp, tmp_path, mode, *options):
    w = _start(procs, interp, tmp_path, mode)
    run = e2elib.run_profiler(
        tmp_path, ["record", "--pid", w.pid, "--duration", DURATION, "--rate", RATE, "--threads",
                   "--full-filenames"] + list(options),
        env=e2elib.profiler_env(interp))
    assert run.rc == 0, "profiler failed\n" + run.describe()
    return w, run, parse_folded(run.out, threads=True)


def _stacks_of(stacks, t):
    if t["native_id"]:
        return [s for s in stacks if s.thread[1] == t["native_id"]]
    return [s for s in stacks if s.thread[0] == t["name"]]


def _check(w, run, stacks, kept, dropped):
    """Threads in `kept` have MIN..MAX samples, each at their true stack and under their
    Python name; threads in `dropped` have none; nothing else appears but the reporter."""
    errors = []
    seen = set()
    for t in kept:
        mine = _stacks_of(stacks, t)
        seen.update(id(s) for s in mine)
        total = sum(s.count for s in mine)
        if not MIN_SAMPLES <= total <= MAX_SAMPLES:
            errors.append("thread %r: %d samples, expected %d..%d" % (
                t["name"], total, MIN_SAMPLES, MAX_SAMPLES))
        want = expected_frames(t, True, False, w.interp.chroot)
        for s in mine:
            if s.thread[0] != t["name"]:
                errors.append("thread %r (tid %s) is named %r: expected its Python name" % (
                    t["name"], s.thread[1], s.thread[0]))
            if s.frames != want:
                errors.append("thread %r: stack differs\n      expected %s\n      got      %s" % (
                    t["name"], ";".join(format_frames(want)), ";".join(format_frames(s.frames))))
    for t in dropped:
        mine = _stacks_of(stacks, t)
        seen.update(id(s) for s in mine)
        if mine:
            errors.append("thread %r (%s): %d samples kept, expected none" % (
                t["name"], t["kind"], sum(s.count for s in mine)))
    reporter = w.truth["excluded"]
    for s in stacks:
        if id(s) not in seen and not any(_stacks_of([s], r) for r in reporter):
            errors.append("unexpected stack %r" % (s,))
    assert not errors, "%s: profile does not match the ground truth:\n  %s\n\n%s" % (
        w.interp.id, "\n  ".join(errors), run.describe())


def _threads(w, kind):
    return [t for t in w.truth["threads"] if t["kind"] == kind]


@pytest.mark.parametrize("mode", ["python", "c"])
def test_default_drops_idle_keeps_busy(procs, idle_interp, tmp_path, mode):
    """Without --idle: the spinner's samples are kept, every waiting thread's dropped."""
    stops_every_thread = require(idle_interp).version < (3, 0)
    w, run, stacks = _record(procs, idle_interp, tmp_path, mode,
                             *(["--nonblocking"] if stops_every_thread else []))
    busy = _threads(w, "busy")
    assert [t["name"] for t in busy] == [
        "spinner-in-a-python-loop" if mode == "python" else "spinner-in-c-compressing"]
    _check(w, run, stacks, kept=busy, dropped=_threads(w, "blocked"))
    e2elib.assert_not_harmed(w.pid)


@pytest.mark.parametrize("mode", ["python", "c"])
def test_idle_keeps_every_thread(procs, idle_interp, tmp_path, mode):
    """--idle: every thread's samples are kept, at its true stack."""
    w, run, stacks = _record(procs, idle_interp, tmp_path, mode, "--idle")
    kinds = set(t["kind"] for t in w.truth["threads"])
    assert kinds == {"busy", "blocked"}, kinds
    _check(w, run, stacks, kept=w.truth["threads"], dropped=[])


def test_gil_keeps_only_the_holder(procs, idle_interp, tmp_path):
    """--gil --idle: only the Python spinner holds the GIL when sampled; waiting threads
    released it, so none of their samples is kept even with --idle."""
    w, run, stacks = _record(procs, idle_interp, tmp_path, "python", "--gil", "--idle")
    _check(w, run, stacks, kept=_threads(w, "busy"), dropped=_threads(w, "blocked"))


def test_dump_names_and_states(procs, idle_interp, tmp_path):
    """dump --json: every thread under its Python name, every waiting thread idle.  (The
    spinner's state in one snapshot is not asserted: it is idle while it waits for the GIL,
    which the reporter may take as it goes to its final wait.)"""
    w = _start(procs, idle_interp, tmp_path, "python")
    run = e2elib.run_profiler(tmp_path, ["dump", "--pid", w.pid, "--json"],
                              env=e2elib.profiler_env(idle_interp))
    assert run.rc == 0, run.describe()
    dump = json.loads(run.out)
    by_tid = dict((t["tid"], t) for t in dump["threads"])
    errors = []
    for t in w.truth["threads"]:
        d = by_tid.get(t["native_id"]) if t["native_id"] else next(
            (x for x in dump["threads"] if x["name"] == t["name"]), None)
        if d is None:
            errors.append("thread %r (tid %s) missing from the dump" % (t["name"], t["native_id"]))
            continue
        if d["name"] != t["name"]:
            errors.append("thread %r (tid %s) named %r" % (t["name"], t["native_id"], d["name"]))
        if t["kind"] == "blocked" and d["active"]:
            errors.append("thread %r is waiting but dumped as active" % t["name"])
    assert not errors, "%s:\n  %s\n%s" % (idle_interp.id, "\n  ".join(errors), run.describe())


@pytest.mark.parametrize("command", ["record", "top"])
def test_gil_not_found(procs, tmp_path, command):
    """--gil where the GIL cannot be found (3.6 keeps it in static variables, named only
    in .symtab: a stripped libpython hides it): one line, exit 7, the target unharmed."""
    import interpreters
    by_id = dict((i.id, i) for i in interpreters.discovered()[0])
    interp = require(by_id.get("pyenv-3.6") or interpreters.Missing(
        "pyenv-3.6", interpreters.discovered()[1]))
    lib = [p for p in os.listdir(os.path.join(os.path.dirname(os.path.dirname(interp.path)), "lib"))
           if p.startswith("libpython3.6") and p.endswith(".so.1.0")]
    assert lib, "no libpython3.6*.so.1.0 next to %s" % interp.path
    libdir = tmp_path / "stripped"
    libdir.mkdir()
    shutil.copy(os.path.join(os.path.dirname(os.path.dirname(interp.path)), "lib", lib[0]),
                str(libdir / lib[0]))
    subprocess.run(["strip", str(libdir / lib[0])], check=True, timeout=60)
    ready_r, ready_w = os.pipe()
    env = dict(e2elib.target_env(), LD_LIBRARY_PATH=str(libdir))
    p = procs.start([interp.path, "-c", "import os, sys; os.write(%d, b'R'); sys.stdin.read()" % ready_w],
                    pass_fds=[ready_w], env=env, stdin=subprocess.PIPE)
    os.close(ready_w)
    procs.add_cleanup(lambda: os.close(ready_r))
    assert e2elib.read_exactly(ready_r, 1, 60, "the python 3.6 target") == b"R"
    with open("/proc/%d/maps" % p.pid) as f:
        assert str(libdir) in f.read(), "the target did not load the stripped libpython"
    args = [command, "--pid", p.pid, "--gil"] + (["--duration", 1] if command == "record" else [])
    e2elib.assert_error(e2elib.run_profiler(tmp_path, args), 7, r"--gil: cannot find the GIL")
    e2elib.assert_not_harmed(p.pid)


WAKE_CASES = [("pyenv-3.12", ()), ("pyenv-3.12", ("--nonblocking",)), ("pyenv-2.7", ()),
              ("pyenv-2.7", ("--nonblocking",)), ("system-3.11", ())]
WAKE_AFTER = 1.5   # seconds of sleep under the profiler before the wake


def _wake_lines():
    """The lines of wake_later.py's main that read the control byte and call the spinner."""
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "workloads", "wake_later.py")
    with open(path) as f:
        lines = [line.strip() for line in f]
    return {"read": lines.index("wlcommon.read_byte(control_fd)") + 1,
            "call": lines.index("spin_after_wake()") + 1}


WAKE_LINES = _wake_lines()
WAKE_DURATION = 3


@pytest.mark.parametrize("sid,options", WAKE_CASES,
                         ids=["%s%s" % (s, "".join(o)) for s, o in WAKE_CASES])
def test_sleeper_wakes_and_spins(procs, tmp_path, sid, options):
    """A process whose threads all sleep is sampled without being read (its last sample
    showed only idle threads and none has run since: -v counts them), and when it wakes
    not one sample of its spinning thread is lost, the first ones included."""
    import time
    import conftest
    interp = conftest.scenario_by_id(sid)
    w = e2elib.start_ground_truth(procs, interp, tmp_path, script="wake_later.py")
    launched = time.monotonic()
    bg = e2elib.Background(procs, tmp_path, ["record", "--pid", w.pid, "--duration", WAKE_DURATION,
                                             "--rate", RATE, "-v", "--full-filenames"] + list(options),
                           env=e2elib.profiler_env(interp))
    time.sleep(WAKE_AFTER)
    os.write(w.control_fd, b"w")
    woken = time.monotonic()
    run = bg.wait()
    assert run.rc == 0, "profiler failed\n" + run.describe() + "\n" + w.state()
    unchanged = re.search(r"^pyspy-c: (\d+) process samples taken without a read", run.err, re.M)
    late = int(re.search(r"; (\d+) late, ", run.err).group(1))
    stacks = parse_folded(run.out, threads=False)
    spin = sum(s.count for s in stacks if s.frames[-1][0] == "spin_after_wake")
    # Besides the spinner, only the steps of the wake itself, each a true stack of
    # MainThread caught running: returning from read_byte, or main calling
    # spin_after_wake before its frame exists (sanitized, on 2.7, once in CI).
    def waking(s):
        names = [f[0] for f in s.frames]
        return names[-2:] == ["main", "read_byte"] or (
            names[-1] == "main" and s.frames[-1][2] in (WAKE_LINES["read"], WAKE_LINES["call"]))
    others = [s for s in stacks if s.frames[-1][0] != "spin_after_wake"]
    assert all(waking(s) for s in others) and sum(s.count for s in others) <= 2, (
        "a stack other than the spinner's and its wake:\n" + run.describe())
    # Sampling ran from after the launch for WAKE_DURATION s: it went on at least
    # (launched + WAKE_DURATION - woken) s after the wake, one sample a tick.
    least = (launched + WAKE_DURATION - woken) * RATE
    assert spin >= 0.9 * least - late, (
        "%d samples of the spinner after the wake, expected at least %.0f (%d late)\n%s" % (
            spin, 0.9 * least, late, run.describe()))
    # Before the wake (WAKE_AFTER s, about 150 ticks) nothing ran.
    assert unchanged and int(unchanged.group(1)) >= 0.6 * WAKE_AFTER * RATE, (
        "the sleeping process was read at every sample\n" + run.describe())
