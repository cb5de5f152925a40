"""pyspy-c dump: every thread's stack once, against the interpreter's own view.

The ground-truth workload parks threads at known stacks and writes, from
inside, each thread's frames (traceback) and each frame's variables
(f_locals: argument names, the names it may show, repr() of simple values).
"""

import json
import os
import re
import subprocess

import e2elib
from e2elib import expected_frames, format_frames

THREAD_RE = re.compile(r'^Thread (\d+) \((active|idle)((?:, gil)?)(?:, gc)?((?:, native only)?)(?:, interp (?:main|\d+))?\): "(.*)"$')
FRAME_RE = re.compile(r"^    (\S.*) \((.*):(\d+)\)$")


def parse_text(text, labels=False):
    """Text dump -> {tid: {"state", "gil", "frames" (root first)}}; strict.  labels: a
    degraded part ("[unreadable frame]") is a frame (LABEL, None, None), and a C frame
    without a line (NAME (FILE)) is (NAME, FILE, None)."""
    lines = text.split("\n")
    assert lines[0].startswith("Process "), text[:2000]
    assert lines[1].startswith("Python "), text[:2000]
    threads = {}
    cur = None
    for line in lines[2:]:
        if line == "":
            continue
        m = THREAD_RE.match(line)
        if m:
            cur = {"state": m.group(2), "gil": bool(m.group(3)), "name": m.group(5),
                   "frames": [], "locals": []}
            threads[int(m.group(1))] = cur
            continue
        assert cur is not None, "frame outside a thread: %r" % line
        if line in ("    (no Python frames)",):
            continue
        if line.startswith("        "):
            cur["locals"].append(line.strip())
            continue
        if labels and re.match(r"^    \[[a-z ]+\]$", line):
            cur["frames"].append((line.strip(), None, None))
            continue
        m = FRAME_RE.match(line)
        if labels and not m and re.match(r"^    (\S.*) \((.*)\)$", line):
            m = re.match(r"^    (\S.*) \((.*)\)$", line)
            cur["frames"].append((m.group(1), m.group(2), None))
            continue
        assert m, "malformed frame line %r" % line
        cur["frames"].append((m.group(1), m.group(2), int(m.group(3))))
    for t in threads.values():
        t["frames"].reverse()
    return threads


def _truth_threads(w):
    return [t for t in w.truth["threads"] if t["native_id"]]


def _dump(w, tmp_path, *args):
    run = e2elib.run_profiler(tmp_path, ["dump", "-p", w.pid] + list(args),
                              env=e2elib.profiler_env(w.interp))
    assert run.rc == 0, run.describe()
    e2elib.assert_not_harmed(w.pid)
    return run


def test_dump_text(procs, scenario, tmp_path):
    """Every thread once, newest frame first, exactly the interpreter's frames; the
    busy thread is active and holds the GIL, the parked ones are idle."""
    w = e2elib.start_ground_truth(procs, scenario, tmp_path)
    run = _dump(w, tmp_path, "--full-filenames")
    got = parse_text(run.out)
    # The version as the interpreter reports it (sys.version's first word: 2.7.18,
    # 3.15.0rc1), read from the target.
    version = run.out.split("\n")[1].split(" ")[1]
    assert version == w.truth["version_text"], "dump says Python %s, sys.version says %s\n%s" % (
        version, w.truth["version_text"], run.describe())
    errors = []
    for t in _truth_threads(w):
        tid = t["native_id"]
        if tid not in got:
            errors.append("thread %r (tid %s) missing" % (t["name"], tid))
            continue
        want = expected_frames(t, True, False)
        if got[tid]["frames"] != want:
            errors.append("thread %r: frames differ\n  expected %s\n  got      %s" % (
                t["name"], ";".join(format_frames(want)), ";".join(format_frames(got[tid]["frames"]))))
        busy = t["kind"] == "busy"
        if got[tid]["state"] != ("active" if busy else "idle"):
            errors.append("thread %r: %s, expected %s" % (
                t["name"], got[tid]["state"], "active" if busy else "idle"))
        # A parked thread released the GIL; the busy one holds it, but may be
        # caught handing it over (2.7 drops it every 100 ticks): see below.
        if got[tid]["gil"] and not busy:
            errors.append("thread %r holds the GIL, but it is parked" % t["name"])
    assert sum(t["gil"] for t in got.values()) <= 1, "two GIL holders\n" + run.describe()
    assert not errors, "%s:\n  %s\n%s" % (scenario.id, "\n  ".join(errors), run.describe())
    assert _truth_threads(w), "no thread with a known OS id to compare on %s" % scenario.id
    busy = [t["native_id"] for t in _truth_threads(w) if t["kind"] == "busy"]
    holders = []
    for _ in range(5):
        holders += [tid for tid, t in parse_text(_dump(w, tmp_path).out).items() if t["gil"]]
    # Found by a scan of its data, an interpreter's GIL may stay unknown (3.7 to
    # 3.11 keep it in _PyRuntime, which the scan need not find): record --gil
    # says so with exit status 7, and then no thread can be marked.
    gil = e2elib.run_profiler(tmp_path, ["record", "--gil", "-d", "0.05", "-p", w.pid],
                              env=e2elib.profiler_env(scenario))
    if gil.rc == 7:
        assert not holders, "GIL holders shown, though the GIL is unknown: %s" % holders
        return
    assert gil.rc == 0, gil.describe()
    # Each dump stops every thread, and a parked thread pulled out of its lock
    # wait takes the GIL for a moment: a later dump may catch it there.  The
    # busy thread, which holds it nearly all the time, must be seen with it.
    assert set(busy) & set(holders), (
        "GIL holders over 5 dumps: %s, the busy thread: %s" % (holders, busy))


def test_dump_json_locals(procs, scenario, tmp_path):
    """--json --locals: the same frames, each frame's arguments marked, every name one the
    interpreter has, and simple values as repr() writes them."""
    w = e2elib.start_ground_truth(procs, scenario, tmp_path)
    run = _dump(w, tmp_path, "--json", "--locals")
    doc = json.loads(run.out)
    assert doc["pid"] == w.pid
    assert doc["python"] == w.truth["version_text"], (doc["python"], w.truth["version_text"])
    by_tid = dict((t["tid"], t) for t in doc["threads"])
    errors = []
    checked_values = 0
    for t in _truth_threads(w):
        jt = by_tid.get(t["native_id"])
        if jt is None:
            errors.append("thread %r missing" % t["name"])
            continue
        frames = list(reversed(jt["frames"]))  # JSON is newest first
        want = t["frames"]
        got_names = [(f["function"], f["file"], f["line"]) for f in frames]
        want_names = [(f["name"], f["filename"], f["lineno"]) for f in want]
        if got_names != want_names:
            errors.append("thread %r: frames differ\n  expected %s\n  got      %s" % (
                t["name"], want_names, got_names))
            continue
        for jf, tf in zip(frames, want):
            truth = tf["locals"]
            shown = dict((lo["name"], lo) for lo in jf["locals"])
            where = "thread %r frame %s" % (t["name"], tf["name"])
            for name in truth["args"]:
                if name not in shown:
                    errors.append("%s: argument %r not shown (got %s)" % (where, name, sorted(shown)))
                elif not shown[name]["arg"]:
                    errors.append("%s: %r not marked as an argument" % (where, name))
            for name, lo in shown.items():
                if name not in truth["names"]:
                    errors.append("%s: %r is not a variable of the code object %s" % (
                        where, name, truth["names"]))
                elif lo["arg"] and name not in truth["args"]:
                    errors.append("%s: %r marked as an argument" % (where, name))
            for name, r in truth["values"].items():
                if name in shown:
                    checked_values += 1
                    if shown[name]["repr"] != r:
                        errors.append("%s: %s = %s, expected %s" % (
                            where, name, shown[name]["repr"], r))
    assert not errors, "%s:\n  %s\n%s" % (scenario.id, "\n  ".join(errors), run.describe())
    assert checked_values >= 5, "only %d simple values compared\n%s" % (checked_values, run.describe())


def test_dump_errors(procs, one_interp, tmp_path):
    """Bad input: no --pid, a missing process, --native with --nonblocking."""
    for args, code in ((["dump"], 2), (["dump", "-p", "x"], 2),
                       (["dump", "-p", "4194303"], 3),
                       (["dump", "-p", "1", "--native", "--nonblocking"], 2)):
        run = e2elib.run_profiler(tmp_path, args)
        assert run.rc == code, run.describe()
        assert run.err.startswith("pyspy-c: ") and run.err.count("\n") == 1, run.describe()
        assert run.out == "", run.describe()


def test_dump_to_closed_pipe(procs, one_interp, tmp_path):
    """`dump | head`: a reader that stops reading is a normal end, not an error: exit 0,
    nothing on stderr, the target unharmed (text, JSON, every process)."""
    w = e2elib.start_ground_truth(procs, one_interp, tmp_path)
    binary = e2elib.require_binary()
    for args in ([], ["--locals"], ["--json", "--locals"], ["--subprocesses", "--json"]):
        r, wr = os.pipe()
        os.close(r)  # closed before pyspy-c writes: every write gets EPIPE
        try:
            p = subprocess.run([binary, "dump", "-p", str(w.pid)] + args, stdout=wr,
                               stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, timeout=60,
                               env=e2elib.profiler_env(one_interp))
        finally:
            os.close(wr)
        assert p.returncode == 0 and p.stderr == b"", (args, p.returncode, p.stderr)
        e2elib.assert_not_harmed(w.pid)
    # As a shell runs it, with pipefail: head reads one line and exits.
    p = subprocess.run(["bash", "-c", 'set -o pipefail; "$0" dump -p "$1" --locals | head -n 1',
                        binary, str(w.pid)], capture_output=True, timeout=60,
                       env=e2elib.profiler_env(one_interp))
    assert p.returncode == 0 and p.stderr == b"", (p.returncode, p.stderr)
    assert p.stdout.startswith(b"Process %d: " % w.pid), p.stdout
    e2elib.assert_not_harmed(w.pid)
