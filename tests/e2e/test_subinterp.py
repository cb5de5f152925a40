"""A thread that runs a subinterpreter is one thread (issue 12, item 5).

A thread inside a subinterpreter's exec has a thread state in the main
interpreter (waiting in the exec call) and one in the subinterpreter (running
it).  pyspy-c must show it once: the outer frames, then the subinterpreter's,
counted once per sample, under the thread's own id and name.

workloads/subinterp_target.py: the main thread spins in the main interpreter;
"sub-runner" runs a subinterpreter (concurrent.interpreters on 3.14+,
_interpreters on 3.13, _xxsubinterpreters on 3.12) that spins in
subinterp_inner.spin_sub; "reporter" waits (idle).  The ground truth is the
target's own: the outer frames from the main interpreter's
sys._current_frames(), the inner ones written by the subinterpreter itself.
3.12's run_string runs the subinterpreter on a thread state that carries the
ids of the thread that created it (here the main thread), so 3.12 checks the
pairing by C stack, and 3.13+ the pairing by thread ids.

Every scenario of IDS must be found; a missing one fails its tests by name.
"""

import json
import re
import time

import pytest

import e2elib
from e2elib import expected_frames, format_frames, parse_folded

IDS = ["pyenv-3.12", "pyenv-3.13", "chroot-sid-3.14", "chroot-sid-3.15"]
API = {(3, 12): "_xxsubinterpreters", (3, 13): "_interpreters",
       (3, 14): "concurrent.interpreters", (3, 15): "concurrent.interpreters"}
THREADS = 3  # MainThread, sub-runner, reporter
SAMPLES_RE = re.compile(r"^pyspy-c: (\d+) samples in ", re.M)
MIN_SAMPLES = 30  # of about 100 at 100 Hz for 1 s, on a busy machine


@pytest.fixture(params=IDS)
def sub_interp(request):
    import conftest
    return conftest.scenario_by_id(request.param)


def _start(procs, interp, tmp_path):
    w = e2elib.start_ground_truth(procs, interp, tmp_path, script="subinterp_target.py")
    assert w.truth["api"] == API[interp.version], (
        "%s made its subinterpreter with %s, expected %s" % (
            interp.id, w.truth["api"], API[interp.version]))
    # The reporter said "ready" just before it went to wait: let it get there.
    reporter = [t for t in w.truth["excluded"] if t["name"] == "reporter"][0]["native_id"]
    deadline = time.monotonic() + 10
    while e2elib.proc_state(w.pid, reporter) == "R":
        assert time.monotonic() < deadline, "the reporter of %d never went to wait" % w.pid
        time.sleep(0.001)
    return w


def _busy(stacks):
    """The stacks of the busy threads.  The reporter waits, but every sample of
    a process with subinterpreters stops every thread, which may wake it for
    a moment (man page, IDLE THREADS): its stacks are left out."""
    return [s for s in stacks if not any(f[0] == "report" for f in s.frames)]


def _thread(w, name):
    return [t for t in w.truth["threads"] if t["name"] == name][0]


def _record(w, tmp_path, *options):
    run = e2elib.run_profiler(
        tmp_path, ["record", "--pid", w.pid, "--duration", 1, "--rate", 100,
                   "--full-filenames"] + list(options),
        env=e2elib.profiler_env(w.interp))
    assert run.rc == 0, "profiler failed\n" + run.describe()
    m = SAMPLES_RE.search(run.err)
    assert m, "no summary line\n" + run.describe()
    samples = int(m.group(1))
    assert samples >= MIN_SAMPLES, "only %d samples\n%s" % (samples, run.describe())
    return run, samples


def test_record_threads_once(procs, sub_interp, tmp_path):
    """--threads --idle: every thread once per sample, the sub-runner with the outer
    frames then the subinterpreter's, exactly as the target reports them."""
    w = _start(procs, sub_interp, tmp_path)
    run, samples = _record(w, tmp_path, "--threads", "--idle")
    stacks = parse_folded(run.out, threads=True)
    per_thread = {}
    for s in stacks:
        per_thread[s.thread] = per_thread.get(s.thread, 0) + s.count
    total = sum(per_thread.values())
    assert total == samples * THREADS, (
        "%d thread samples in %d samples of %d threads (%s): a thread counted twice?\n%s" % (
            total, samples, THREADS, per_thread, run.describe()))
    tids = dict((t["native_id"], t["name"]) for t in w.truth["threads"] + w.truth["excluded"])
    assert sorted(tid for _, tid in per_thread) == sorted(tids), (
        "threads %s, expected the target's %s\n%s" % (sorted(per_thread), tids, run.describe()))
    for (name, tid), count in per_thread.items():
        assert name == tids[tid], "thread %d labelled %r, expected %r\n%s" % (
            tid, name, tids[tid], run.describe())
        assert count == samples, "thread %r: %d samples of %d\n%s" % (
            name, count, samples, run.describe())
    for name in ("MainThread", "sub-runner"):
        t = _thread(w, name)
        want = expected_frames(t, full=True, function=False)
        got = [s for s in stacks if s.thread == (name, t["native_id"])]
        assert len(got) == 1 and got[0].frames == want, (
            "thread %r: expected the single stack\n  %s\ngot\n  %s\n%s" % (
                name, ";".join(format_frames(want)),
                "\n  ".join("%s %d" % (";".join(format_frames(s.frames)), s.count) for s in got),
                run.describe()))
    assert _thread(w, "sub-runner")["outer"] >= 4


def test_record_default(procs, sub_interp, tmp_path):
    """The plain command: two busy threads, two stacks, each counted once per sample."""
    w = _start(procs, sub_interp, tmp_path)
    run, samples = _record(w, tmp_path)
    stacks = _busy(parse_folded(run.out, threads=False))
    want = sorted(tuple(expected_frames(_thread(w, n), full=True, function=False))
                  for n in ("MainThread", "sub-runner"))
    got = sorted((tuple(s.frames), s.count) for s in stacks)
    assert got == [(f, samples) for f in want], (
        "expected each of\n  %s\n%d times; got\n  %s\n%s" % (
            "\n  ".join(";".join(format_frames(f)) for f in want), samples,
            "\n  ".join("%s %d" % (";".join(format_frames(f)), c) for f, c in got),
            run.describe()))


def test_dump(procs, sub_interp, tmp_path):
    """dump: one entry per thread; the sub-runner's frames newest first, the
    subinterpreter's on top; the GIL is the main interpreter's (the main thread
    spins holding it, the subinterpreter has a GIL of its own)."""
    w = _start(procs, sub_interp, tmp_path)
    run = e2elib.run_profiler(tmp_path, ["dump", "--pid", w.pid, "--json", "--full-filenames"],
                              env=e2elib.profiler_env(w.interp))
    assert run.rc == 0, "dump failed\n" + run.describe()
    doc = json.loads(run.out)
    got = dict((t["tid"], t) for t in doc["threads"])
    tids = [t["native_id"] for t in w.truth["threads"] + w.truth["excluded"]]
    assert len(doc["threads"]) == THREADS and sorted(got) == sorted(tids), (
        "dump lists threads %s, expected %s\n%s" % (
            [t["tid"] for t in doc["threads"]], tids, run.describe()))
    for name in ("MainThread", "sub-runner"):
        t = _thread(w, name)
        d = got[t["native_id"]]
        want = list(reversed(expected_frames(t, full=True, function=False)))
        have = [(f["function"], f["file"], f["line"]) for f in d["frames"]]
        assert have == want and d["name"] == name and d["active"], (
            "thread %r: expected %s, got %s\n%s" % (name, want, d, run.describe()))
    # The sub-runner holds its subinterpreter's GIL, not the main one (which
    # the main thread may drop for a moment: its mark is not asserted).
    assert not got[_thread(w, "sub-runner")["native_id"]]["gil"], (
        "the sub-runner holds the main interpreter's GIL?\n" + run.describe())
    # The text form: one "Thread" line per thread.
    text = e2elib.run_profiler(tmp_path, ["dump", "--pid", w.pid],
                               env=e2elib.profiler_env(w.interp))
    assert text.rc == 0 and text.out.count("\nThread ") == THREADS, (
        "expected %d threads\n%s" % (THREADS, text.describe()))


def test_gil(procs, sub_interp, tmp_path):
    """--gil keeps the main interpreter's GIL holder, the main thread, only: the
    subinterpreter's thread holds a GIL of its own (it may drop it for a
    moment, hence nine samples in ten)."""
    w = _start(procs, sub_interp, tmp_path)
    run, samples = _record(w, tmp_path, "--threads", "--gil")
    stacks = _busy(parse_folded(run.out, threads=True))
    main = _thread(w, "MainThread")
    got = [(s.thread, s.count) for s in stacks]
    assert len(got) == 1 and got[0][0] == ("MainThread", main["native_id"]) and \
        samples * 9 // 10 <= got[0][1] <= samples, (
            "expected only MainThread, about %d times\n%s" % (samples, run.describe()))


def test_native(procs, sub_interp, tmp_path):
    """--native --threads: the sub-runner's C stack holds both eval loops; its
    Python frames, in order, are the outer then the inner ones, and the merge
    succeeds; every thread once per sample."""
    w = _start(procs, sub_interp, tmp_path)
    run, samples = _record(w, tmp_path, "--native", "--threads")
    stacks = _busy(parse_folded(run.out, threads=True, no_line_ok=True))
    per_thread = {}
    for s in stacks:
        per_thread[s.thread] = per_thread.get(s.thread, 0) + s.count
    busy = [_thread(w, n) for n in ("MainThread", "sub-runner")]
    assert sorted(per_thread.items()) == sorted(((t["name"], t["native_id"]), samples)
                                                for t in busy), (
        "expected MainThread and sub-runner, %d samples each\n%s" % (samples, run.describe()))
    t = _thread(w, "sub-runner")
    want = expected_frames(t, full=True, function=False)
    python_files = set(f[1] for f in want)
    for s in stacks:
        if s.thread[0] != "sub-runner":
            continue
        assert not any(f[0] == "[native merge failed]" for f in s.frames), (
            "merge failed\n" + run.describe())
        py = [f for f in s.frames if f[1] in python_files]
        assert py == want, "sub-runner's Python frames\n  %s\nexpected\n  %s\n%s" % (
            ";".join(format_frames(py)), ";".join(format_frames(want)), run.describe())


# Several subinterpreters busy at once (issue 17): workloads/subinterps_target.py,
# MainThread spinning in the main interpreter and sub-1..sub-3 each running a
# subinterpreter of its own; each thread's stack and interpreter as the target
# reports them ("interp": "main" or the id the module that made it gave).
NSUB = 3


def _start_many(procs, interp, tmp_path):
    w = e2elib.start_ground_truth(procs, interp, tmp_path, script="subinterps_target.py")
    assert w.truth["api"] == API[interp.version]
    subs = [t for t in w.truth["threads"] if t["name"].startswith("sub-")]
    assert len(subs) == NSUB and len(set(t["interp"] for t in subs)) == NSUB and \
        all(t["interp"] != "main" and t["outer"] >= 4 for t in subs), w.truth
    return w, subs


def test_many_threads_named_by_interpreter(procs, sub_interp, tmp_path):
    """--threads: every busy thread once, exactly its stack, its label naming
    the interpreter it runs in; --interpreter keeps one interpreter's."""
    w, subs = _start_many(procs, sub_interp, tmp_path)
    run, samples = _record(w, tmp_path, "--threads")
    stacks = _busy(parse_folded(run.out, threads=True))
    busy = [_thread(w, "MainThread")] + subs
    want = sorted((t["name"], t["native_id"], t["interp"],
                   tuple(expected_frames(t, full=True, function=False)), samples) for t in busy)
    got = sorted((s.thread[0], s.thread[1], s.interp, tuple(s.frames), s.count) for s in stacks)
    assert got == want, "expected\n  %s\ngot\n  %s\n%s" % (
        "\n  ".join(map(str, want)), "\n  ".join(map(str, got)), run.describe())
    for t in subs + [_thread(w, "MainThread")]:
        one, n = _record(w, tmp_path, "--threads", "--interpreter", t["interp"])
        got = [(s.thread, s.interp, s.frames) for s in _busy(parse_folded(one.out, threads=True))]
        assert got == [((t["name"], t["native_id"]), t["interp"],
                        expected_frames(t, full=True, function=False))], (
            "--interpreter %s: expected only %s\n%s" % (t["interp"], t["name"], one.describe()))
    none, _ = _record(w, tmp_path, "--interpreter", "99")
    assert none.out == "", "--interpreter 99 (none such) kept stacks\n" + none.describe()


def test_many_dump_and_top(procs, sub_interp, tmp_path):
    """dump names each thread's interpreter (JSON and text) and keeps one with
    --interpreter; top says how many interpreters there are."""
    w, subs = _start_many(procs, sub_interp, tmp_path)
    env = e2elib.profiler_env(w.interp)
    run = e2elib.run_profiler(tmp_path, ["dump", "--pid", w.pid, "--json", "--full-filenames"],
                              env=env)
    assert run.rc == 0, run.describe()
    got = dict((t["tid"], t) for t in json.loads(run.out)["threads"])
    for t in [_thread(w, "MainThread")] + subs:
        d = got[t["native_id"]]
        want = list(reversed(expected_frames(t, full=True, function=False)))
        assert d["interpreter"] == t["interp"] and d["name"] == t["name"] and \
            [(f["function"], f["file"], f["line"]) for f in d["frames"]] == want, (
                "thread %r: expected interpreter %s and %s, got %s\n%s" % (
                    t["name"], t["interp"], want, d, run.describe()))
    reporter = [t for t in w.truth["excluded"] if t["name"] == "reporter"][0]
    assert got[reporter["native_id"]]["interpreter"] == "main", run.describe()
    text = e2elib.run_profiler(tmp_path, ["dump", "--pid", w.pid], env=env)
    for t in [_thread(w, "MainThread")] + subs:
        assert re.search(r'^Thread %d \([^)]*, interp %s\): "%s"$' % (
            t["native_id"], t["interp"], re.escape(t["name"])), text.out, re.M), text.describe()
    sub = subs[0]
    one = e2elib.run_profiler(tmp_path, ["dump", "--pid", w.pid, "--json", "--interpreter",
                                         sub["interp"]], env=env)
    assert one.rc == 0 and [t["tid"] for t in json.loads(one.out)["threads"]] == \
        [sub["native_id"]], "dump --interpreter %s\n%s" % (sub["interp"], one.describe())
    top = e2elib.run_profiler(tmp_path, ["top", "--pid", w.pid, "--duration", 1], env=env)
    assert top.rc == 0 and re.search(r"^GIL: .*, Threads: %d, Interpreters: %d$" % (
        NSUB + 2, NSUB + 1), top.out, re.M), top.describe()
    bad = e2elib.run_profiler(tmp_path, ["record", "--pid", w.pid, "--interpreter", "x"], env=env)
    e2elib.assert_error(bad, 2, "--interpreter")
