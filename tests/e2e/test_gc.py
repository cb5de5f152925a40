"""Garbage collection: samples of the thread running the collector carry <GC> (issue 17).

workloads/gc_target.py makes reference cycles without end in MainThread;
its gc.callbacks callback measures the collector's time (TRUTH.times: the
monotonic clock, the seconds spent collecting so far, the collections)
and notes the stack of the frame that triggered each collection
(TRUTH.stacks).  Checked on every scenario of SUPPORTED:
  - the share of MainThread's samples that carry <GC> is the share of time
    the target measured itself collecting over the recording, within
    TOLERANCE;
  - each <GC> sample's Python frames are a stack the target had when a
    collection started (the callback's own frames, when the sample caught
    it running, aside);
  - the sleeping thread never carries <GC>; --no-gc shows none;
  - top's header gives the GC share; dump marks the collecting thread.
On UNSUPPORTED (2.7 and 3.6 keep the collector's flag in a static variable
of gcmodule.c, which a stripped build does not name) no sample carries
<GC> although the target collects, and top says "GC: n/a".
Every scenario must be found; a missing one fails its tests by name.
"""

import bisect
import json
import re
import time

import pytest

import e2elib
from e2elib import parse_folded

SUPPORTED = ["pyenv-3.7", "pyenv-3.8", "pyenv-3.9", "pyenv-3.10", "pyenv-3.11", "pyenv-3.12",
             "pyenv-3.13", "system-3.11", "chroot-trixie-3.13", "chroot-sid-3.14",
             "chroot-sid-3.15"]
UNSUPPORTED = ["pyenv-2.7", "pyenv-3.6"]
TOLERANCE = 0.12   # absolute, on shares of about 0.5 from ~200 samples
DURATION = 2
MIN_SAMPLES = 60   # of about 200 at 100 Hz for 2 s, on a busy machine
SAMPLES_RE = re.compile(r"^pyspy-c: (\d+) samples in ", re.M)
TOP_GC_RE = re.compile(r"^GIL: \S+, GC: (n/a|[0-9.]+%), Active: ", re.M)


def _scenario(sid):
    import conftest
    return conftest.scenario_by_id(sid)


@pytest.fixture(params=SUPPORTED)
def gc_interp(request):
    return _scenario(request.param)


@pytest.fixture(params=UNSUPPORTED)
def no_gc_interp(request):
    return _scenario(request.param)


def _start(procs, interp, tmp_path):
    return e2elib.start_ground_truth(procs, interp, tmp_path, script="gc_target.py")


def _thread(w, name):
    return [t for t in w.truth["excluded"] if t["name"] == name][0]


def _times(w):
    """[(monotonic, gc seconds, collections)] as the target wrote them so far."""
    out = []
    with open(w.host_truth + ".times") as f:
        for line in f:
            parts = line.split()
            if len(parts) == 3 and line.endswith("\n"):
                out.append((float(parts[0]), float(parts[1]), int(parts[2])))
    return out


def _at(times, t):
    """The target's line nearest before monotonic time t."""
    i = bisect.bisect_right([x[0] for x in times], t)
    assert i > 0, "no timing line of the target before %.3f" % t
    return times[i - 1]


def _gc_stacks(w):
    """The stacks (root first, (function, file, line)) at the start of a collection."""
    with open(w.host_truth + ".stacks") as f:
        return set(tuple(tuple(fr) for fr in s) for s in json.load(f))


def _record(w, tmp_path, *options):
    run = e2elib.run_profiler(
        tmp_path, ["record", "--pid", w.pid, "--duration", DURATION, "--rate", 100,
                   "--threads", "--full-filenames"] + list(options),
        env=e2elib.profiler_env(w.interp))
    assert run.rc == 0, "profiler failed\n" + run.describe() + "\n" + w.state()
    m = SAMPLES_RE.search(run.err)
    assert m and int(m.group(1)) >= MIN_SAMPLES, (
        "too few samples\n" + run.describe() + "\n" + w.state())
    return run, parse_folded(run.out, threads=True)


def _strip_callback(frames):
    """The frames under the gc callback (on_gc), which runs inside the collection."""
    for i, f in enumerate(frames):
        if f[0] == "on_gc":
            return frames[:i]
    return frames


def test_gc_share_and_stacks(procs, gc_interp, tmp_path):
    w = _start(procs, gc_interp, tmp_path)
    main = _thread(w, "MainThread")
    time.sleep(0.3)  # a few timing lines before the recording
    t0 = time.monotonic()
    run, stacks = _record(w, tmp_path, "--idle")
    t1 = time.monotonic()
    time.sleep(0.1)
    times = _times(w)
    a, b = _at(times, t0), _at(times, t1)
    assert b[2] > a[2], "the target did not collect during the recording: %s %s" % (a, b)
    want = (b[1] - a[1]) / (b[0] - a[0])
    mine = [s for s in stacks if s.thread == ("MainThread", main["native_id"])]
    total = sum(s.count for s in mine)
    gc = sum(s.count for s in mine if s.gc)
    share = float(gc) / total if total else 0.0
    assert abs(share - want) <= TOLERANCE, (
        "%s: %d of %d MainThread samples carry <GC> (%.2f); the target measured "
        "%.2f of its time collecting (%d collections)\n%s" % (
            gc_interp.id, gc, total, share, want, b[2] - a[2], run.describe()))
    at_start = _gc_stacks(w)
    for s in mine:
        if s.gc:
            assert tuple(_strip_callback(s.frames)) in at_start, (
                "<GC> on a stack the target never had when collecting:\n  %s\nit had:\n  %s\n%s" % (
                    s.frames, "\n  ".join(map(str, sorted(at_start))), run.describe()))
    others = [s for s in stacks if s.thread[0] != "MainThread"]
    assert others and not any(s.gc for s in others), (
        "the sleeping thread carries <GC> (or was not sampled with --idle)\n" + run.describe())
    # The label is a frame of its own, named once per stack, only on top.
    assert all(f[0] != "<GC>" for s in stacks for f in s.frames)


def test_no_gc_option(procs, gc_interp, tmp_path):
    w = _start(procs, gc_interp, tmp_path)
    run, stacks = _record(w, tmp_path, "--no-gc")
    assert stacks and not any(s.gc for s in stacks), "--no-gc shows <GC>\n" + run.describe()


def test_top_and_dump(procs, gc_interp, tmp_path):
    w = _start(procs, gc_interp, tmp_path)
    run = e2elib.run_profiler(tmp_path, ["top", "--pid", w.pid, "--duration", 1.5, "--delay", 1],
                              env=e2elib.profiler_env(w.interp))
    assert run.rc == 0, run.describe()
    shares = TOP_GC_RE.findall(run.out)
    assert shares and all(s != "n/a" and float(s[:-1]) > 0 for s in shares), (
        "top does not show a GC share\n" + run.describe())
    assert "<GC>" in run.out, "top has no <GC> row\n" + run.describe()
    off = e2elib.run_profiler(tmp_path, ["top", "--pid", w.pid, "--duration", 1, "--no-gc"],
                              env=e2elib.profiler_env(w.interp))
    assert off.rc == 0 and TOP_GC_RE.findall(off.out) and \
        all(s == "n/a" for s in TOP_GC_RE.findall(off.out)) and "<GC>" not in off.out, (
            "top --no-gc\n" + off.describe())
    # dump: MainThread, caught collecting (a few tries), is marked, on a stack it had.
    main = _thread(w, "MainThread")
    for _ in range(40):
        d = e2elib.run_profiler(tmp_path, ["dump", "--pid", w.pid, "--json", "--full-filenames"],
                                env=e2elib.profiler_env(w.interp))
        assert d.rc == 0, d.describe()
        doc = json.loads(d.out)
        th = [t for t in doc["threads"] if t["tid"] == main["native_id"]][0]
        assert not any(t["gc"] for t in doc["threads"] if t is not th), d.describe()
        if th["gc"]:
            frames = [(f["function"], f["file"], f["line"]) for f in reversed(th["frames"])]
            assert tuple(_strip_callback(frames)) in _gc_stacks(w), d.describe()
            return
    raise AssertionError("40 dumps and MainThread never caught collecting\n" + d.describe())


def test_unsupported(procs, no_gc_interp, tmp_path):
    """2.7, 3.6: no <GC> anywhere, top says n/a, although the target collects."""
    w = _start(procs, no_gc_interp, tmp_path)
    run, stacks = _record(w, tmp_path)
    assert stacks and not any(s.gc for s in stacks), run.describe()
    if w.truth["callbacks"]:
        times = _times(w)
        assert times[-1][2] > 0, "the target never collected"
    top = e2elib.run_profiler(tmp_path, ["top", "--pid", w.pid, "--duration", 1],
                              env=e2elib.profiler_env(w.interp))
    assert top.rc == 0 and TOP_GC_RE.findall(top.out) and \
        all(s == "n/a" for s in TOP_GC_RE.findall(top.out)), top.describe()
