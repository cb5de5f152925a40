"""record --native: C frames merged with Python frames, against ground truth.

tests/native/ext/spin.c is built for each interpreter (with its own headers,
else those of a pyenv build of the same X.Y, else with the limited API
against the newest pyenv 3.x headers: say which in every failure) and
tests/native/workload.py runs

    <module> -> outer() -> spin.call_back(middle) [C] -> middle()
             -> spin.spin(fd, probe) [C]: spins in C forever, holding the GIL

plus a C-only thread spinning in native_spin_forever().  The Python frames
are what the interpreter itself reports (probe() runs traceback inside the
very call of spin.spin()); the C frames' names are spin.c's functions and
their lines are the ones its "LINE:" markers sit on.
"""

import glob
import json
import os
import re
import shutil
import subprocess
import time

import pytest

import e2elib
from e2elib import format_frames, parse_folded
from interpreters import PYENV_ROOT, REPO

NATIVE_DIR = os.path.join(REPO, "tests", "native")
SPIN_C = os.path.join(NATIVE_DIR, "ext", "spin.c")
DURATION = 1
RATE = 100
MIN_SAMPLES = 50  # of about 100: a loaded 2-core machine takes fewer


def c_lines():
    """{marker: line} of spin.c's /* LINE:marker */ comments."""
    out = {}
    with open(SPIN_C) as f:
        for n, line in enumerate(f, 1):
            m = re.search(r"/\* LINE:(\w+) \*/", line)
            if m:
                out[m.group(1)] = n
    return out


def _include_of(interp):
    """The interpreter's own header directory (host path), or None."""
    code = "import sysconfig; print(sysconfig.get_paths()['include'])"
    try:
        out = subprocess.run(interp.code_command(code), stdout=subprocess.PIPE,
                             stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL,
                             timeout=60, check=True).stdout.decode().strip().splitlines()
    except (subprocess.SubprocessError, OSError):
        return None
    if not out:
        return None
    inc = interp.host_path(out[-1])
    return inc if os.path.isfile(os.path.join(inc, "Python.h")) else None


def _pyenv_includes():
    """{(major, minor): include dir} of the pyenv builds."""
    found = {}
    for h in glob.glob(os.path.join(PYENV_ROOT, "*", "include", "python*", "Python.h")):
        m = re.search(r"python(\d+)\.(\d+)", h)
        if m:
            found[(int(m.group(1)), int(m.group(2)))] = os.path.dirname(h)
    return found


def build_extension(interp, outdir, strip=False, debug=None):
    """Build spin.so for interp into outdir; returns how (for messages).
    strip: then strip it (only PyInit_spin stays, in .dynsym), keeping the
    full build as spin.so.full.  debug="link": also split its symbols and
    DWARF into spin.debug next to it, named by a .gnu_debuglink."""
    inc = _include_of(interp)
    flags = []
    if inc:
        how = "its own headers %s" % inc
    else:
        pyenv = _pyenv_includes()
        if interp.version in pyenv:
            inc = pyenv[interp.version]
            how = "the headers of pyenv's %s (same X.Y)" % interp.vstr
        else:
            newest = max([v for v in pyenv if v[0] == 3] or [None])
            assert newest, "no Python 3 headers to build spin.c for %s with" % interp.id
            assert interp.version[0] == 3
            inc = pyenv[newest]
            flags = ["-DPy_LIMITED_API=0x03060000"]
            how = "the limited API, headers of pyenv's %d.%d" % newest
    cmd = ["gcc", "-O0", "-g", "-shared", "-fPIC", "-I" + inc] + flags + [
        "-o", os.path.join(outdir, "spin.so"), SPIN_C, "-lpthread"]
    r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    assert r.returncode == 0, "building spin.c with %s failed:\n$ %s\n%s" % (
        how, " ".join(cmd), r.stdout.decode())
    assert strip or not debug, "a separate debug file is split from a stripped build"
    so = os.path.join(outdir, "spin.so")
    if strip:
        shutil.copyfile(so, so + ".full")
        if debug:
            subprocess.run(["objcopy", "--only-keep-debug", so, os.path.join(outdir, "spin.debug")],
                           check=True)
        subprocess.run(["strip", "--strip-all", so], check=True)
        how += ", stripped"
        if debug == "link":
            # objcopy finds the file by its name as given: run it in outdir
            subprocess.run(["objcopy", "--add-gnu-debuglink=spin.debug", "spin.so"],
                           check=True, cwd=outdir)
            how += ", symbols in spin.debug by .gnu_debuglink"
    return how


def build_id(path):
    """The GNU build-id of an ELF file, in hex (readelf -n)."""
    out = subprocess.run(["readelf", "-n", path], stdout=subprocess.PIPE,
                         check=True).stdout.decode()
    m = re.search(r"Build ID: ([0-9a-f]+)", out)
    assert m, "%s has no build-id:\n%s" % (path, out)
    return m.group(1)


def symbol_addresses(path):
    """{name: address} of the functions in an ELF file's .symtab (nm)."""
    out = subprocess.run(["nm", "--defined-only", path], stdout=subprocess.PIPE,
                         check=True).stdout.decode()
    return dict((f[2], int(f[0], 16)) for f in (l.split() for l in out.splitlines())
                if len(f) == 3 and f[1] in "tT")


class NativeWorkload(e2elib.Workload):
    pass


def start_native_workload(procs, interp, tmp_path, *extra, strip=False, debug=None):
    t_dir, h_dir = interp.target_tmpdir(str(tmp_path))
    if interp.chroot:
        procs.add_cleanup(lambda: shutil.rmtree(h_dir, ignore_errors=True))
    how = build_extension(interp, h_dir, strip=strip, debug=debug)
    shutil.copyfile(os.path.join(NATIVE_DIR, "workload.py"), os.path.join(h_dir, "workload.py"))
    ready_r, ready_w = os.pipe()
    log_path = os.path.join(str(tmp_path), "native_workload.log")
    with open(log_path, "wb") as log:
        p = procs.start(interp.command(t_dir + "/workload.py", t_dir, ready_w,
                                       t_dir + "/truth.json", *extra),
                        pass_fds=[ready_w], env=e2elib.target_env(), stdout=log, stderr=log,
                        cwd="/")
    os.close(ready_w)
    procs.add_cleanup(lambda: os.close(ready_r))
    w = NativeWorkload(interp, p, log_path)
    w.how = how
    w.ext_dir = h_dir
    try:
        line = e2elib.read_line(ready_r, 60, "ready from the native workload")
    except AssertionError as e:
        raise AssertionError("%s (exit %s, extension built with %s):\n%s" % (
            e, p.poll(), how, w.log()))
    assert line == "ready\n", line
    w.find_target(procs)
    with open(os.path.join(h_dir, "truth.json")) as f:
        w.truth = json.load(f)
    w.check_is_interpreter()
    assert tuple(w.truth["version"][:2]) == interp.version
    # The main thread's host tid: the pid, also in a container (NSpid maps pid 1).
    w.main_tid = w.pid
    wait_out_of_syscalls(w.pid, w.main_tid)
    return w


def wait_out_of_syscalls(pid, tid, timeout=10):
    """Wait until the thread is past its write of "ready" and in its C loop: it
    makes no system call there, so /proc/PID/task/TID/syscall reads "running".
    A thread preempted inside write() reads "running" too (runnable): so also
    wait until it has spent user time after that, which, its loop being all
    it runs in user space after the write, it can only spend past the write."""
    path = "/proc/%d/task/%d/syscall" % (pid, tid)
    stat = "/proc/%d/task/%d/stat" % (pid, tid)
    deadline = time.monotonic() + timeout
    while True:
        with open(path) as f:
            if f.read().split()[0] == "running":
                break
        assert time.monotonic() < deadline, "thread %d never left its system call" % tid
        time.sleep(0.001)
    utime0 = _utime(stat)
    while _utime(stat) <= utime0:
        assert time.monotonic() < deadline, "thread %d never ran its loop" % tid
        time.sleep(0.001)


def _utime(stat_path):
    """User time (clock ticks) of a thread, from /proc/.../stat (field 14)."""
    with open(stat_path) as f:
        return int(f.read().rsplit(")", 1)[1].split()[11])


def expected_main(w):
    """The merged stack of the main thread, root first, C frames by file name only."""
    L = c_lines()
    py = [(f["name"], f["file"], f["line"]) for f in w.truth["frames"]]
    assert [f[0] for f in py] == ["<module>", "outer", "middle"], (
        "ground truth of %s is not <module> -> outer -> middle: %s" % (w.interp.id, py))
    return [py[0], py[1], ("call_back", "spin.c", L["call_back"]), py[2],
            ("spin", "spin.c", L["spin"])]


def expected_native_thread():
    L = c_lines()
    return [("native_thread_main", "spin.c", L["native_call"]),
            ("native_spin_forever", "spin.c", L["native_loop"])]


def _c_basename(frames):
    """Frames as printed, with C source files (*.c) reduced to their file name."""
    return [(n, os.path.basename(f) if f.endswith(".c") else f, ln) for n, f, ln in frames]


def _record(w, tmp_path, *args):
    run = e2elib.run_profiler(tmp_path, ["record", "-p", w.pid, "-d", DURATION, "-r", RATE,
                                         "--full-filenames"] + list(args),
                              env=e2elib.profiler_env(w.interp))
    assert run.rc == 0, "profiler failed (extension built with %s)\n%s" % (w.how, run.describe())
    assert "merge failed" not in run.out + run.err and "Python only" not in run.err, (
        "merge failures (extension built with %s)\n%s" % (w.how, run.describe()))
    return run


def _check(w, run, stacks, tid, want, what):
    mine = [s for s in stacks if tid is None or s.thread[1] == tid]
    assert mine, "%s: no samples (extension built with %s)\n%s" % (what, w.how, run.describe())
    for s in mine:
        got = _c_basename(s.frames)
        assert got == want, (
            "%s on %s: merged stack differs (extension built with %s)\n  expected %s\n"
            "  got      %s\n%s" % (what, w.interp.id, w.how, ";".join(format_frames(want)),
                                   ";".join(format_frames(got)), run.describe()))
    total = sum(s.count for s in mine)
    assert total >= MIN_SAMPLES, "%s: only %d samples\n%s" % (what, total, run.describe())
    return mine


def test_native_merge(procs, native_interp, tmp_path):
    """--native --threads: Python and C frames interleave exactly as called; the C-only
    thread appears with its own C frames; nothing fails to merge."""
    w = start_native_workload(procs, native_interp, tmp_path)
    run = _record(w, tmp_path, "--native", "--threads")
    stacks = parse_folded(run.out, threads=True)
    main = _check(w, run, stacks, w.main_tid, expected_main(w), "main thread")
    others = [s for s in stacks if s.thread[1] != w.main_tid]
    tids = set(s.thread[1] for s in others)
    assert len(tids) == 1, "expected one other (C-only) thread, got %s\n%s" % (
        sorted(tids), run.describe())
    assert tids <= set(e2elib.task_states(w.pid)), "thread ids are not the target's host tids"
    _check(w, run, others, None, expected_native_thread(), "C-only thread")
    assert main
    e2elib.assert_not_harmed(w.pid)


def test_native_without_threads(procs, one_interp, tmp_path):
    """--native alone: the main thread's merged stack, no thread frame, and no C-only
    thread (those are shown only with --threads)."""
    w = start_native_workload(procs, one_interp, tmp_path)
    run = _record(w, tmp_path, "--native")
    stacks = parse_folded(run.out, threads=False)
    _check(w, run, stacks, None, expected_main(w), "main thread")


def test_native_function(procs, one_interp, tmp_path):
    """--native --function: the same frames, without lines."""
    w = start_native_workload(procs, one_interp, tmp_path, "--no-thread")
    run = _record(w, tmp_path, "--native", "--function")
    stacks = parse_folded(run.out, threads=False, function=True)
    want = [(n, f, None) for n, f, _ in expected_main(w)]
    _check(w, run, stacks, None, want, "main thread")


def test_native_all_shows_interpreter_frames(procs, one_interp, tmp_path):
    """--native-all keeps the interpreter's own C frames (its call machinery, its
    start-up code) around the same Python and extension frames, in the same order."""
    w = start_native_workload(procs, one_interp, tmp_path, "--no-thread")
    run = _record(w, tmp_path, "--native-all")
    want = expected_main(w)
    lines = run.out.splitlines()
    assert lines, run.describe()
    for line in lines:
        # C frames without line information are "name (module)": no ":LINE".
        got = []
        for part in line.rsplit(" ", 1)[0].split(";"):
            if part == e2elib.GC_FRAME:
                continue  # sampled while the collector ran
            m = re.match(r"^(.*) \((.*?)(?::(\d+))?\)$", part)
            assert m, "malformed frame %r\n%s" % (part, run.describe())
            got.append((m.group(1), m.group(2), int(m.group(3)) if m.group(3) else None))
        got = _c_basename(got)
        assert [f for f in got if f in want] == want, (
            "the merged frames are not all there, in order\n  expected %s\n  got %s\n%s" % (
                want, got, run.describe()))
        # The interpreter's call machinery between outer() and call_back(), and
        # its start-up code at the root, are shown.
        between = got[got.index(want[1]) + 1:got.index(want[2])]
        assert between, "no interpreter frame between outer and call_back\n" + run.describe()
        assert got.index(want[0]) > 0, "no start-up frame at the root\n" + run.describe()


def test_native_stripped_extension(procs, native_interp, tmp_path):
    """A stripped extension: its static functions have no symbol, and each reads
    spin.so+0xSTART, START the function's own address (nm of the unstripped build),
    whatever instruction a sample stopped at; the merge is unchanged."""
    w = start_native_workload(procs, native_interp, tmp_path, "--no-thread", strip=True)
    run = _record(w, tmp_path, "--native")
    syms = symbol_addresses(os.path.join(w.ext_dir, "spin.so.full"))
    want = expected_main(w)
    want[2] = ("spin.so+0x%x" % syms["call_back"], "spin.so", None)
    want[4] = ("spin.so+0x%x" % syms["spin"], "spin.so", None)
    stacks = parse_folded(run.out, threads=False, no_line_ok=True)
    for st in stacks:  # the module's path as the target sees it, by its file name
        st.frames = [(n, os.path.basename(f) if f.endswith("/spin.so") else f, ln)
                     for n, f, ln in st.frames]
    _check(w, run, stacks, None, want, "main thread")
    assert re.search(r"could not resolve \d+ of \d+ frames in \S*spin\.so", run.err), (
        "the summary does not say which frames stayed unnamed\n" + run.describe())


def test_native_debuglink(procs, native_interp, tmp_path):
    """A stripped extension whose symbols and lines are in spin.debug next to it, named
    by its .gnu_debuglink (found through the target's root in a chroot): the frames are
    exactly those of the unstripped build."""
    w = start_native_workload(procs, native_interp, tmp_path, "--no-thread", strip=True,
                              debug="link")
    run = _record(w, tmp_path, "--native")
    _check(w, run, parse_folded(run.out, threads=False), None, expected_main(w),
           "main thread")
    assert not re.search(r"could not resolve .*spin\.so", run.err), run.describe()


def test_native_build_id_debug_dir(procs, one_interp, tmp_path):
    """The same symbols found by build-id under a directory of PYSPY_C_DEBUG_DIRS
    (DIR/.build-id/xx/rest.debug), as under /usr/lib/debug."""
    w = start_native_workload(procs, one_interp, tmp_path, "--no-thread", strip=True,
                              debug="build-id")
    bid = build_id(os.path.join(w.ext_dir, "spin.so"))
    debug_dir = os.path.join(str(tmp_path), "debug")
    os.makedirs(os.path.join(debug_dir, ".build-id", bid[:2]))
    shutil.move(os.path.join(w.ext_dir, "spin.debug"),
                os.path.join(debug_dir, ".build-id", bid[:2], bid[2:] + ".debug"))
    env = e2elib.profiler_env(w.interp)
    run = e2elib.run_profiler(tmp_path, ["record", "-p", w.pid, "-d", DURATION, "-r", RATE,
                                         "--full-filenames", "--native"], env=env)
    assert run.rc == 0 and "could not resolve" in run.err and "spin.so" in run.err, (
        "without the debug directory spin.so's frames should be unresolved\n" + run.describe())
    env["PYSPY_C_DEBUG_DIRS"] = debug_dir
    run = e2elib.run_profiler(tmp_path, ["record", "-p", w.pid, "-d", DURATION, "-r", RATE,
                                         "--full-filenames", "--native"], env=env)
    assert run.rc == 0, run.describe()
    _check(w, run, parse_folded(run.out, threads=False), None, expected_main(w),
           "main thread")
    assert not re.search(r"could not resolve .*spin\.so", run.err), run.describe()


CHURN_SECONDS = 3
# The workers run for a few hundred microseconds at a time (10000 additions):
# at 500 Hz, hundreds of the 1500 samples in 3 s catch one running.
CHURN_RATE = 500
CHURN_MIN_MERGED = 99.0  # percent of the thread stacks (issue 12)
CHURN_MIN_STACKS = 10
MERGED_RE = re.compile(r"^pyspy-c: native: (\d+) of (\d+) stacks merged \(([0-9.]+)%\)", re.M)


def start_churn(procs, interp, tmp_path):
    """tests/native/churn.py: 4 threads started and joined in a loop."""
    t_dir, h_dir = interp.target_tmpdir(str(tmp_path))
    if interp.chroot:
        procs.add_cleanup(lambda: shutil.rmtree(h_dir, ignore_errors=True))
    shutil.copyfile(os.path.join(NATIVE_DIR, "churn.py"), os.path.join(h_dir, "churn.py"))
    ready_r, ready_w = os.pipe()
    log_path = os.path.join(str(tmp_path), "churn.log")
    with open(log_path, "wb") as log:
        p = procs.start(interp.command(t_dir + "/churn.py", ready_w), pass_fds=[ready_w],
                        env=e2elib.target_env(), stdout=log, stderr=log, cwd="/")
    os.close(ready_w)
    procs.add_cleanup(lambda: os.close(ready_r))
    w = e2elib.Workload(interp, p, log_path)
    try:
        line = e2elib.read_line(ready_r, 60, "ready from churn.py")
    except AssertionError as e:
        raise AssertionError("%s (exit %s):\n%s" % (e, p.poll(), w.log()))
    assert line == "ready\n", line
    w.find_target(procs)
    w.check_is_interpreter()
    return w


@pytest.mark.parametrize("extra", [[], ["--threads"], ["--idle"]],
                         ids=["native", "native-threads", "native-idle"])
def test_native_thread_churn(procs, native_interp, tmp_path, extra):
    """Threads started and joined all the time (issue 12): thread states whose OS
    thread has not started yet or has ended have no C stack, and are not counted as
    failed merges (before: 38% merged on 3.12, with "thread (0x0)" roots); the main
    thread stopped inside clone() unwinds through it.  At least 99% of the stacks
    merge, none is "[native merge failed]", and the workers' Python frames are
    churn.py's work() under threading's bootstrap.  --idle adds the sleeping
    threads (the main thread in join() and sleep(), workers waiting for the GIL)."""
    threads = "--threads" in extra
    w = start_churn(procs, native_interp, tmp_path)
    args = ["record", "-p", w.pid, "-d", CHURN_SECONDS, "-r", CHURN_RATE, "-v", "--native"]
    run = e2elib.run_profiler(tmp_path, args + extra, env=e2elib.profiler_env(w.interp))
    assert run.rc == 0, run.describe()
    e2elib.assert_not_harmed(w.pid)
    m = MERGED_RE.search(run.err)
    assert m, "no merge summary in the -v output\n" + run.describe()
    merged, stacks = int(m.group(1)), int(m.group(2))
    assert stacks >= CHURN_MIN_STACKS, "only %d thread stacks\n%s" % (stacks, run.describe())
    assert 100.0 * merged / stacks >= CHURN_MIN_MERGED, (
        "%s: %d of %d stacks merged, want >= %g%%\n%s" % (
            native_interp.id, merged, stacks, CHURN_MIN_MERGED, run.describe()))
    assert "merge failed" not in run.out + run.err, run.describe()
    assert "thread (0x" not in run.out, run.describe()
    parsed = parse_folded(run.out, threads=threads, no_line_ok=True)
    assert parsed, run.describe()
    if threads:
        assert all(s.thread[1] > 0 for s in parsed), run.describe()
    # work()'s frames, where they were caught, sit under Thread.run in its own lines.
    with open(os.path.join(NATIVE_DIR, "churn.py")) as f:
        src = f.read().splitlines()
    first = src.index("def work():") + 1
    # Its body, or its def line: a frame just entered (before 3.11, f_lasti -1).
    body = set(range(first, first + 5))
    for s in parsed:
        names = [fr[0] for fr in s.frames]
        if "work" not in names:
            continue
        k = names.index("work")
        assert k > 0 and names[k - 1] == "run", "work() not called by run(): %r" % s
        assert os.path.basename(s.frames[k][1]) == "churn.py" and s.frames[k][2] in body, (
            "work() at an unexpected place %r (body lines %s)" % (s.frames[k], sorted(body)))


@pytest.mark.parametrize("sid", ["pyenv-2.7", "pyenv-3.11", "pyenv-3.12", "pyenv-3.13",
                                 "chroot-sid-3.14"])
def test_dump_thread_churn(procs, tmp_path, sid):
    """dump --json under thread churn: a thread state whose thread has not started
    yet (3.12+: no ids yet; up to 3.11: its creator's) or has ended is left out, so
    no thread has tid 0 and no tid is listed twice."""
    import conftest
    w = start_churn(procs, conftest.scenario_by_id(sid), tmp_path)
    for _ in range(30):
        run = e2elib.run_profiler(tmp_path, ["dump", "-p", w.pid, "--json"],
                                  env=e2elib.profiler_env(w.interp))
        assert run.rc == 0, run.describe()
        tids = [t["tid"] for t in json.loads(run.out)["threads"]]
        assert 0 not in tids and len(set(tids)) == len(tids), run.describe()
    e2elib.assert_not_harmed(w.pid)


def test_native_refuses_nonblocking(procs, one_interp, tmp_path):
    """--native needs stopped threads: with --nonblocking it is a usage error (2)."""
    run = e2elib.run_profiler(tmp_path, ["record", "-p", os.getpid(), "--native",
                                         "--nonblocking"])
    assert run.rc == 2, run.describe()
    assert run.err.startswith("pyspy-c: ") and run.err.count("\n") == 1, run.describe()
    assert "--nonblocking" in run.err, run.describe()


def test_dump_native(procs, native_interp, tmp_path):
    """dump --native --json: the same merged stacks once, newest first, frames marked
    python or native; the C-only thread is listed as not Python's."""
    w = start_native_workload(procs, native_interp, tmp_path)
    run = e2elib.run_profiler(tmp_path, ["dump", "-p", w.pid, "--native", "--json"],
                              env=e2elib.profiler_env(w.interp))
    assert run.rc == 0, run.describe()
    e2elib.assert_not_harmed(w.pid)
    doc = json.loads(run.out)
    by_tid = dict((t["tid"], t) for t in doc["threads"])
    main = by_tid.get(w.main_tid)
    assert main and main["python"], run.describe()
    got = _c_basename([(f["function"], f["file"], f["line"]) for f in reversed(main["frames"])])
    assert got == expected_main(w), "%s (extension built with %s)\n  expected %s\n  got %s" % (
        native_interp.id, w.how, expected_main(w), got)
    kinds = [f["kind"] for f in reversed(main["frames"])]
    assert kinds == ["python", "python", "native", "python", "native"], kinds
    others = [t for t in doc["threads"] if t["tid"] != w.main_tid]
    assert len(others) == 1 and not others[0]["python"], run.describe()
    got = _c_basename([(f["function"], f["file"], f["line"])
                       for f in reversed(others[0]["frames"])])
    assert got == expected_native_thread(), got
