"""A target that corrupts itself (workloads/corrupt_target.py): pyspy-c must not
crash, hang or fail whole samples; what cannot be read costs what it is (a
name, a file, a line, a frame, the rest of a chain or of the thread list), and
the healthy threads are sampled at the full rate with their exact stacks.

Runs on the interpreters of interpreters.CORRUPT_IDS (2.7, 3.8, 3.11, 3.12,
3.13 and sid's 3.14); a missing one fails its tests by name.
"""

import json
import re
import time

import pytest

import e2elib
from interpreters import require

RATE = 100
DURATION = 2
WORKLOAD = "corrupt_target.py"
FILE = "corrupt_target.py"
MARK = "[broken frame chain]"
THREAD = re.compile(r'^thread "(.*)" \(([0-9]+)\)$')
FRAME = re.compile(r"^(.+) \((.+?)(?::([0-9]+))?\)$")
# Samples taken of those asked: the machine may be busy (other tests, --native's
# unwinding of ten threads); what must hold exactly is that no sample fails and
# the healthy threads are in every sample taken.
MIN_TAKEN = 0.5 * RATE * DURATION
SUMMARY = re.compile(r"pyspy-c: ([0-9]+) samples in .*; ([0-9]+) late, ([0-9]+) failed")


def _frame(text):
    """(function, file, line or None) of a folded frame, or the text of a label."""
    if (text.startswith("[") and text.endswith("]")) or text == e2elib.GC_FRAME:
        return text  # a label: MARK, "[unreadable frame]", "[native merge failed]", "<GC>"
    m = FRAME.match(text)
    assert m, "malformed frame %r" % text
    return (m.group(1), m.group(2), int(m.group(3)) if m.group(3) else None)


def _stacks(out):
    """{thread name: [(frames root first, count)]} from folded output with --threads."""
    by = {}
    for line in out.splitlines():
        key, count = line.rsplit(" ", 1)
        parts = key.split(";")
        tm = THREAD.match(parts[0])
        assert tm, "no thread root in %r" % line
        by.setdefault(tm.group(1), []).append(([_frame(p) for p in parts[1:]], int(count)))
    return by


def _start(procs, interp, tmp_path):
    w = e2elib.start_ground_truth(procs, require(interp), tmp_path, script=WORKLOAD)
    c = w.truth["corrupt"]
    assert c["thread-list"].startswith("next"), c["thread-list"]
    return w, c


def _run(w, tmp_path, *args):
    run = e2elib.run_profiler(tmp_path, list(args) + ["--pid", w.pid],
                              env=e2elib.profiler_env(w.interp), timeout=120)
    e2elib.assert_not_harmed(w.pid)
    return run


def _expected_tops(w, c):
    """Thread name -> the frames its stack must end with (root first)."""
    qual = ("spin_bad_qualname" if c["bad-qualname"] == "co_qualname" else "<unknown>",
            FILE, c["bad-qualname:line"])
    return {
        "bad-name": [("<unknown>", FILE, c["bad-name:line"])],
        "bad-file": [("spin_bad_file", "<unknown>", c["bad-file:line"])],
        "bad-lines": [("spin_bad_lines", FILE, None)],
        "bad-qualname": [qual],  # co_qualname is not what pyspy-c shows: intact
        "broken-chain": [MARK, ("chain_mid", FILE, None), ("chain_inner", FILE, c["broken-chain:line"])],
        "cycle": [MARK, ("cycle_outer", FILE, None), ("cycle_mid", FILE, None),
                  ("cycle_inner", FILE, c["cycle:line"])],
    }


def _same(got, want):
    """Frames equal, a None line in 'want' matching any line (callers' lines)."""
    if len(got) != len(want):
        return False
    for g, x in zip(got, want):
        if isinstance(x, str) or isinstance(g, str):
            if g != x:
                return False
        elif g[:2] != x[:2] or (x[2] is not None and g[2] != x[2]) or (x[2] is None and
                                                                        x[1] != FILE and g[2] is not None):
            return False
    return True


def _check_record(w, c, run, blocking):
    """Blocking, the corrupted threads are there, degraded; not blocking
    (the target may be changing under the reads), they are left out."""
    assert run.rc == 0, run.describe()
    m = SUMMARY.search(run.err)
    assert m, run.describe()
    taken, failed = int(m.group(1)), int(m.group(3))
    assert taken >= MIN_TAKEN, "only %d samples taken\n%s" % (taken, run.describe())
    said = "degraded" if blocking else "thread samples left out"
    assert said in run.err, "the summary does not count what was %s\n%s" % (said, run.describe())
    by = _stacks(run.out)
    errors = []
    # Healthy threads: their exact stacks, in every sample.
    for t in w.truth["threads"]:
        want = e2elib.expected_frames(t, False, False, w.interp.chroot)
        mine = by.get(t["name"], [])
        total = sum(n for _, n in mine)
        if [f for f, _ in mine] != [want]:
            errors.append("healthy thread %r: stacks %r, expected only %r" % (
                t["name"], [f for f, _ in mine], want))
        if total < taken:
            errors.append("healthy thread %r: %d samples of %d" % (t["name"], total, taken))
    # Corrupted threads: degraded, never lost (blocking); left out or
    # degraded the same way (not blocking).
    for name, tail in sorted(_expected_tops(w, c).items()):
        mine = by.get(name, [])
        total = sum(n for _, n in mine)
        if blocking and total < 0.9 * taken:
            errors.append("thread %r: %d samples of %d" % (name, total, taken))
        for frames, n in mine:
            got = frames if tail[0] == MARK else frames[-len(tail):]
            if not _same(got, tail):
                errors.append("thread %r: %d samples end %r, expected %r" % (name, n, got, tail))
    assert not errors, "\n".join(errors) + "\n" + run.describe()
    return taken, failed


def _only_stop_timeouts(run, failed):
    """No sample failed for what the target holds; a stop that timed out on a loaded
    machine is not about the target's memory."""
    if failed:
        m = re.search(r", %d failed \((\d+): a thread did not stop in time\)" % failed, run.err)
        assert m and int(m.group(1)) == failed, run.describe()


def test_record_blocking(procs, corrupt_interp, tmp_path):
    w, c = _start(procs, corrupt_interp, tmp_path)
    run = _run(w, tmp_path, "record", "--threads", "--idle", "-r", RATE, "-d", DURATION)
    taken, failed = _check_record(w, c, run, blocking=True)
    _only_stop_timeouts(run, failed)


def test_record_nonblocking(procs, corrupt_interp, tmp_path):
    w, c = _start(procs, corrupt_interp, tmp_path)
    run = _run(w, tmp_path, "record", "--threads", "--idle", "--nonblocking", "-r", RATE,
               "-d", DURATION)
    taken, failed = _check_record(w, c, run, blocking=False)
    _only_stop_timeouts(run, failed)


def test_record_native(procs, corrupt_interp, tmp_path):
    w, c = _start(procs, corrupt_interp, tmp_path)
    run = _run(w, tmp_path, "record", "--threads", "--idle", "--native", "-r", RATE,
               "-d", DURATION)
    assert run.rc == 0, run.describe()
    m = SUMMARY.search(run.err)
    # A stop that times out on a loaded machine (--native stops all ten threads)
    # is a failed sample, not a corrupt one: allow a few.
    assert m and int(m.group(1)) >= MIN_TAKEN and int(m.group(3)) <= 0.05 * int(m.group(1)), \
        run.describe()
    by = _stacks(run.out)
    for t in w.truth["threads"]:
        assert sum(n for _, n in by.get(t["name"], [])) >= int(m.group(1)), (t["name"], run.describe())


@pytest.mark.parametrize("locals_", [False, True], ids=["dump", "dump-locals"])
def test_dump(procs, corrupt_interp, tmp_path, locals_):
    w, c = _start(procs, corrupt_interp, tmp_path)
    run = _run(w, tmp_path, "dump", "--json", *(["--locals"] if locals_ else []))
    assert run.rc == 0, run.describe()
    doc = json.loads(run.out)
    names = dict((t.get("name"), t) for t in doc["threads"])
    errors = []
    for t in w.truth["threads"]:
        got = [(f["function"], f["file"], f["line"]) for f in reversed(names[t["name"]]["frames"])]
        want = [(f["name"], f["filename"], f["lineno"]) for f in t["frames"]]
        if got != want:
            errors.append("healthy thread %r: %r, expected %r" % (t["name"], got, want))
    for name, tail in sorted(_expected_tops(w, c).items()):
        if name not in names:
            errors.append("thread %r missing from the dump" % name)
            continue
        frames = list(reversed(names[name]["frames"]))
        top = frames[-1]
        want = tail[-1]
        if (top["function"], top["line"] if want[2] is not None else None) != (want[0], want[2]):
            errors.append("thread %r: top frame %r, expected %r" % (name, top, want))
    assert not errors, "\n".join(errors) + "\n" + run.describe()


def test_serve(procs, corrupt_interp, tmp_path):
    """The agent on the lying target: it keeps running, each closed window holds every
    healthy thread's exact stack once per sample taken, and /metrics counts what was
    shown degraded."""
    from test_serve import Agent
    w, c = _start(procs, corrupt_interp, tmp_path)
    a = Agent(procs, tmp_path, ["--pid", w.pid, "--rate", RATE, "--window", 1, "--idle"],
              env=e2elib.profiler_env(w.interp))
    try:
        deadline = time.time() + 30
        while len(a.json("/v1/windows?since=0")["windows"]) < 3 and time.time() < deadline:
            time.sleep(0.2)
        windows = a.json("/v1/windows?since=0")["windows"]
        metrics = a.get("/metrics").decode()
    finally:
        run = a.stop()
    e2elib.assert_not_harmed(w.pid)
    assert run.rc == 0, run.describe()
    assert len(windows) >= 3, "%d windows in 30 s\n%s" % (len(windows), run.describe())
    want = {}
    for t in w.truth["threads"]:
        key = tuple(e2elib.expected_frames(t, False, False, w.interp.chroot))
        want[key] = want.get(key, 0) + 1
    errors = []
    taken = failed = 0
    for win in windows[:3]:
        procs_ = [p for p in win["processes"] if p["pid"] == int(w.pid)]
        assert len(procs_) == 1, win["processes"]
        taken += procs_[0]["samples"]
        failed += procs_[0]["errors"]
        got = {}
        for s in win["stacks"]:
            key = tuple((win["functions"][i]["name"], win["functions"][i]["short_file"], line)
                        for i, line in s["frames"])
            got[key] = got.get(key, 0) + s["count"]
        for key, nthreads in want.items():
            if got.get(key, 0) < nthreads * procs_[0]["samples"]:
                errors.append("window %d: healthy stack %r: %d samples, expected %d x %d" % (
                    win["seq"], key, got.get(key, 0), nthreads, procs_[0]["samples"]))
    assert taken >= 0.5 * RATE * 3, "only %d samples in 3 windows\n%s" % (taken, run.describe())
    # Stop timeouts on a loaded machine, never the target's memory (as record).
    assert failed <= 0.05 * taken, "%d of %d samples failed\n%s" % (failed, taken, run.describe())
    m = re.search(r"^pyspyc_degraded_total (\S+)$", metrics, re.M)
    assert m and float(m.group(1)) > 0, "no degraded parts counted:\n" + metrics
    assert not errors, "\n".join(errors) + "\n" + run.describe()
