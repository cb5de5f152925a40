"""pyspy-c dump --core: a core dump's stacks, against the interpreter's own view.

Two sources of cores, on CORE_IDS (2.7, 3.8, 3.11 from pyenv and Debian's
static 3.11, 3.12, 3.13, Debian sid's 3.14 in its chroot; a missing one fails
by name):

- gcore (Debian's gdb) of ground_truth.py's threads parked at known stacks:
  the core's dump must show what the workload wrote from inside, and, with
  --native, the same C stacks as `dump --native` of the live process just
  before;
- a real crash: crash_target.py parks the same threads, writes their stacks,
  then crashes itself (os.abort(): SIGABRT; a read of address 0: SIGSEGV)
  with RLIMIT_CORE raised in the child only.  The core goes where the
  machine's kernel.core_pattern says; that setting is machine-wide, so the
  tests never change it: a plain pattern ("core", "core.%p", an absolute
  directory) is followed (relative ones in the target's working directory,
  inside the chroot for sid), a pipe to a crash handler (systemd-coredump,
  apport) fails the test naming the setting.  The sid core names its files
  as the chroot sees them, so it is read with --sysroot.

And: a gzip'd core reads the same; files missing or changed since the core
are named; a truncated or corrupt core is one error line, never a crash.
"""

import gzip
import json
import os
import re
import resource
import shutil
import signal
import subprocess
import time

import pytest

import e2elib
from conftest import scenario_by_id
from e2elib import expected_frames, format_frames
from test_dump import parse_text

CORE_IDS = ["pyenv-2.7", "pyenv-3.8", "pyenv-3.11", "system-3.11", "pyenv-3.12", "pyenv-3.13",
            "chroot-sid-3.14"]


def _gcore_bin():
    path = shutil.which("gcore")
    if not path:
        pytest.fail("gcore (Debian's gdb) is not installed: run 'tests/deps test'")
    return path


GDB_LOST_RE = re.compile(r"Memory read failed for corefile section, (\d+) bytes at (0x[0-9a-f]+)")


def _remove_later(procs, path):
    """Cores are as big as their process: gone at teardown."""
    procs.add_cleanup(lambda: os.path.exists(path) and os.unlink(path))


def gcore(procs, pid, tmp_path):
    """A core of the live process pid, made by gdb's gcore (the process runs on), and
    how many parts of memory gdb could not read (it saves them as zeros)."""
    prefix = os.path.join(str(tmp_path), "gcore")
    r = subprocess.run([_gcore_bin(), "-o", prefix, str(pid)], stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, timeout=120)
    path = "%s.%d" % (prefix, pid)
    _remove_later(procs, path)
    assert r.returncode == 0 and os.path.exists(path), "gcore %d failed (exit %d):\n%s" % (
        pid, r.returncode, r.stdout.decode(errors="replace")[-3000:])
    return path, GDB_LOST_RE.findall(r.stdout.decode(errors="replace"))


def dump_core(tmp_path, core, *args):
    return e2elib.run_profiler(tmp_path, ["dump", "--core", core] + list(args), timeout=120)


def _truth_threads(truth):
    return [t for t in truth["threads"] if t["native_id"]]


UNREADABLE = ("[unreadable frame]", None, None)


def compare(truth, got, root=None, lost=(), crashed=False):
    """Errors of a parsed text dump (full file names) against the ground truth.
    lost: the parts of memory gcore could not save; a thread whose stack ran
    through them may be cut there ("[unreadable frame]" as its root), but what
    is shown must be its innermost frames.  crashed: the busy thread was
    waiting for the GIL that the crashing thread held (idle, then)."""
    errors = []
    for t in _truth_threads(truth):
        tid = t["native_id"]
        if tid not in got:
            errors.append("thread %r (tid %s) missing" % (t["name"], tid))
            continue
        want = expected_frames(t, True, False, root)
        shown = got[tid]["frames"]
        if lost and shown[:1] == [UNREADABLE] and len(shown) > 1 and \
                shown[1:] == want[len(want) - len(shown) + 1:]:
            pass
        elif got[tid]["frames"] != want:
            errors.append("thread %r: frames differ\n  expected %s\n  got      %s" % (
                t["name"], ";".join(format_frames(want)), ";".join(format_frames(got[tid]["frames"]))))
        busy = t["kind"] == "busy"
        # Stopped outside a system call: running (the spinner); inside one: waiting.
        if got[tid]["state"] != ("active" if busy else "idle") and not (busy and crashed):
            errors.append("thread %r: %s, expected %s" % (
                t["name"], got[tid]["state"], "active" if busy else "idle"))
        if got[tid]["name"] != t["name"]:
            errors.append("thread %r shown as %r" % (t["name"], got[tid]["name"]))
        if got[tid]["gil"] and not busy:
            errors.append("thread %r holds the GIL, but it is parked" % t["name"])
    if sum(t["gil"] for t in got.values()) > 1:
        errors.append("two GIL holders")
    return errors


def check_text(run, truth, lost=(), crashed=False):
    assert run.rc == 0, run.describe()
    head = run.out.split("\n")
    assert head[0].startswith("Process %d: " % truth["pid"]), run.describe()
    assert head[1].split(" ")[1] == truth["version_text"], run.describe()
    errors = compare(truth, parse_text(run.out, labels=bool(lost)), lost=lost, crashed=crashed)
    assert not errors, "\n  ".join(errors) + "\n" + run.describe()


# ---- gcore ------------------------------------------------------------------

@pytest.mark.parametrize("sid", CORE_IDS)
def test_gcore(procs, tmp_path, sid):
    """gcore of the parked threads: every thread's stack, name and state as the
    interpreter reported them, with --locals --json the values it had, and with
    --native the same merged C stacks as dump --native of the live process."""
    interp = scenario_by_id(sid)
    w = e2elib.start_ground_truth(procs, interp, tmp_path)
    live = e2elib.run_profiler(tmp_path, ["dump", "-p", w.pid, "--native", "--full-filenames"],
                               env=e2elib.profiler_env(interp))
    assert live.rc == 0, live.describe()
    core, lost = gcore(procs, w.pid, tmp_path)
    e2elib.assert_not_harmed(w.pid)
    os.kill(w.pid, signal.SIGKILL)  # the core stands on its own
    w.proc.wait(30)

    # gdb 13 cannot read thread stacks that glibc 2.42+ guards with
    # MADV_GUARD_INSTALL (sid): it saves the 1 MiB around the guard as zeros,
    # and the outermost frames of those threads with it (the kernel's own
    # cores keep them: test_crash).
    check_text(dump_core(tmp_path, core, "--full-filenames"), w.truth, lost)

    # --native: the C stacks unwound from the core's registers, as from the live process.
    run = dump_core(tmp_path, core, "--native", "--full-filenames")
    assert run.rc == 0, run.describe()
    want, got = parse_text(live.out, labels=True), parse_text(run.out, labels=True)
    errors = []
    for t in _truth_threads(w.truth):
        tid = t["native_id"]
        if t["kind"] == "busy" or UNREADABLE in got.get(tid, {}).get("frames", []):
            continue  # it ran on between the two; gdb lost its outer frames
        if got.get(tid, {}).get("frames") != want[tid]["frames"]:
            errors.append("thread %r:\n  live %s\n  core %s" % (
                t["name"], ";".join(format_frames(want[tid]["frames"])),
                ";".join(format_frames(got.get(tid, {}).get("frames", [])))))
    native = sum(1 for t in got.values() for f in t["frames"] if f[1] and not f[1].endswith(".py"))
    assert not errors, "\n".join(errors) + "\n" + run.describe()
    assert native > 0, "no C frame in the core's --native dump\n" + run.describe()

    # --json --locals: the values each frame had.
    run = dump_core(tmp_path, core, "--json", "--locals")
    assert run.rc == 0, run.describe()
    doc = json.loads(run.out)
    assert doc["pid"] == w.pid and doc["python"] == w.truth["version_text"], run.describe()
    by_tid = dict((t["tid"], t) for t in doc["threads"])
    checked = 0
    for t in _truth_threads(w.truth):
        frames = list(reversed(by_tid[t["native_id"]]["frames"]))
        if lost and frames[0]["function"] == UNREADABLE[0]:
            continue
        assert [(f["function"], f["line"]) for f in frames] == \
            [(f["name"], f["lineno"]) for f in t["frames"]], run.describe()
        for jf, tf in zip(frames, t["frames"]):
            shown = dict((lo["name"], lo["repr"]) for lo in jf["locals"])
            for name, r in tf["locals"]["values"].items():
                assert shown.get(name) == r, "thread %r %s: %s = %s, expected %s\n%s" % (
                    t["name"], tf["name"], name, shown.get(name), r, run.describe())
                checked += 1
    assert checked >= 5, "only %d values compared\n%s" % (checked, run.describe())


# ---- a real crash -------------------------------------------------------------

def _core_pattern():
    with open("/proc/sys/kernel/core_pattern") as f:
        return f.read().strip()


def _find_core(pattern, cwd_host, pid, since):
    """The core the kernel wrote for pid under pattern (cwd_host: the crashed
    process's working directory, as the host sees it)."""
    d = os.path.dirname(pattern) if pattern.startswith("/") else cwd_host
    deadline = time.time() + 30
    while time.time() < deadline:
        found = []
        for name in os.listdir(d) if os.path.isdir(d) else []:
            p = os.path.join(d, name)
            try:
                with open(p, "rb") as f:
                    head = f.read(18)
                st = os.stat(p)
            except OSError:
                continue
            # An ELF core (e_type 4) written since the crash started.
            if head[:4] == b"\x7fELF" and head[16:18] == b"\x04\x00" and st.st_mtime >= since - 1:
                found.append(p)
        if found:
            by_pid = [p for p in found if str(pid) in os.path.basename(p)]
            return (by_pid or found)[0]
        time.sleep(0.2)
    pytest.fail("no core of pid %d in %s (kernel.core_pattern is %r)" % (pid, d, pattern))


def _unlimited_core():
    resource.setrlimit(resource.RLIMIT_CORE, (resource.RLIM_INFINITY, resource.RLIM_INFINITY))


@pytest.mark.parametrize("mode,sig", [("abort", signal.SIGABRT), ("segv", signal.SIGSEGV)])
@pytest.mark.parametrize("sid", CORE_IDS)
def test_crash(procs, tmp_path, sid, mode, sig):
    """A process that crashed: its core (written by the kernel) shows every thread
    where the process itself saw them just before, and the crashing thread in the
    function that crashed."""
    pattern = _core_pattern()
    if pattern.startswith("|"):
        pytest.fail("kernel.core_pattern pipes cores to %r: this test reads the core the kernel "
                    "writes to a file, and does not change the machine-wide setting (set it to "
                    "'core' to run it)" % pattern)
    interp = scenario_by_id(sid)
    wldir = interp.stage_workloads(tmp_path)
    t_dir, h_dir = interp.target_tmpdir(str(tmp_path))
    if interp.chroot:
        procs.add_cleanup(lambda: shutil.rmtree(h_dir, ignore_errors=True))
    ready_r, ready_w = os.pipe()
    ctl_r, ctl_w = os.pipe()
    log_path = os.path.join(str(tmp_path), "crash.log")
    since = time.time()
    with open(log_path, "wb") as log:
        p = procs.start(interp.command(wldir + "/crash_target.py", mode, t_dir + "/truth.json",
                                       ready_w, ctl_r),
                        pass_fds=[ready_w, ctl_r], env=e2elib.target_env(), stdout=log,
                        stderr=log, cwd=h_dir, preexec_fn=_unlimited_core)
    os.close(ready_w)
    os.close(ctl_r)
    try:
        rc = p.wait(120)
    finally:
        os.close(ready_r)
        os.close(ctl_w)
    assert rc == -sig, "crash_target %s exited with %s, expected signal %d:\n%s" % (
        mode, rc, sig, e2elib.file_text(log_path))
    with open(os.path.join(h_dir, "truth.json")) as f:
        truth = json.load(f)
    core = _find_core(pattern, h_dir, p.pid, since)
    _remove_later(procs, core)
    args = ["--full-filenames"] + (["--sysroot", interp.chroot] if interp.chroot else [])
    run = dump_core(tmp_path, core, *args)
    check_text(run, truth, crashed=True)
    got = parse_text(run.out)
    crasher = [t for t in got.values() if t["name"] == "crasher"]
    assert len(crasher) == 1, "no crasher thread\n" + run.describe()
    with open(os.path.join(os.path.dirname(e2elib.__file__), "workloads", "crash_target.py")) as f:
        line = [n for n, text in enumerate(f, 1)
                if "# CRASH" in text and ("abort" in text) == (mode == "abort")][0]
    assert ("crash_now", wldir + "/crash_target.py", line) in crasher[0]["frames"], (
        "crash_now (crash_target.py:%d) not on the crasher's stack\n%s" % (line, run.describe()))
    if interp.chroot:
        # Without --sysroot, the files the core names are not found: said, by name.
        bad = dump_core(tmp_path, core)
        assert bad.rc != 0, bad.describe()
        assert "which the core maps" in bad.err and "--sysroot" in bad.err, bad.describe()
    # --native from the core's registers: the crasher's C stack ends in the C library's
    # abort(), or in the read of address 0 (ctypes' string_at, memcpy ...).
    run = dump_core(tmp_path, core, "--native", *args)
    assert run.rc == 0, run.describe()
    crasher = [t for t in parse_text(run.out, labels=True).values() if t["name"] == "crasher"][0]
    assert not crasher["frames"][-1][1].endswith(".py"), (
        "the crasher's innermost frame is not a C frame\n" + run.describe())
    if mode == "abort":
        assert any("abort" in f[0] for f in crasher["frames"]), run.describe()


# ---- gzip, missing files, errors -------------------------------------------

def _parked_static(procs, tmp_path, exe):
    """exe (a static python, maybe renamed) parked in parked_here(); its pid."""
    ready_r, ready_w = os.pipe()
    script = os.path.join(str(tmp_path), "parked.py")
    with open(script, "w") as f:
        f.write("import os, sys\ndef parked_here():\n    os.write(int(sys.argv[1]), b'R')\n"
                "    sys.stdin.read()\nparked_here()\n")
    p = procs.start([exe, script, str(ready_w)], pass_fds=[ready_w], stdin=subprocess.PIPE)
    os.close(ready_w)
    assert e2elib.read_exactly(ready_r, 1, 30, "ready") == b"R"
    os.close(ready_r)
    return p


def test_gzip(procs, tmp_path):
    """A gzip'd core reads as the core itself; a cut gzip stream is one error line."""
    interp = scenario_by_id("pyenv-3.11")
    w = e2elib.start_ground_truth(procs, interp, tmp_path)
    core, _ = gcore(procs, w.pid, tmp_path)
    with open(core, "rb") as src, gzip.open(core + ".gz", "wb", compresslevel=1) as dst:
        shutil.copyfileobj(src, dst)
    _remove_later(procs, core + ".gz")
    plain = dump_core(tmp_path, core, "--full-filenames")
    check_text(plain, w.truth)
    packed = dump_core(tmp_path, core + ".gz", "--full-filenames")
    assert packed.rc == 0 and packed.out == plain.out, packed.describe() + plain.describe()
    size = os.path.getsize(core + ".gz")
    with open(core + ".gz", "rb") as f, open(core + ".cut.gz", "wb") as g:
        g.write(f.read(size // 2))
    cut = dump_core(tmp_path, core + ".cut.gz")
    e2elib.assert_error(cut, 1, r"corrupt gzip data")


def test_missing_and_changed_files(procs, tmp_path):
    """The program the core was made from is gone: the message names it and points to
    --executable, which finds it; a different program given there is reported as changed."""
    static = "/usr/bin/python3.11"
    assert os.path.exists(static), "Debian's %s is not installed" % static
    exe = os.path.join(str(tmp_path), "bin", "worker")
    os.makedirs(os.path.dirname(exe))
    shutil.copy(static, exe)
    p = _parked_static(procs, tmp_path, exe)
    core, _ = gcore(procs, p.pid, tmp_path)
    os.kill(p.pid, signal.SIGKILL)
    p.wait(30)
    os.unlink(exe)
    gone = dump_core(tmp_path, core)
    assert gone.rc == 5, gone.describe()
    assert ("pyspy-c: cannot open '%s', which the core maps: No such file or directory "
            "(give the program with --executable)" % exe) in gone.err.split("\n"), gone.describe()
    found = dump_core(tmp_path, core, "--executable", static)
    assert found.rc == 0 and found.err == "", found.describe()
    assert ["parked_here", "<module>"] == [f[0] for f in parse_text(found.out)[p.pid]["frames"]][::-1], \
        found.describe()
    other = [x for x in (os.path.realpath("/usr/bin/python3"), "/bin/true") if x != static][0]
    changed = dump_core(tmp_path, core, "--executable", other)
    assert "pyspy-c: '%s' has changed since the core was made" % other in changed.err, \
        changed.describe()


def _bad_cores(tmp_path, core):
    """(name, path) of broken cores made from a good one."""
    data = open(core, "rb").read()
    out = []

    def put(name, blob):
        path = os.path.join(str(tmp_path), "bad-" + name)
        with open(path, "wb") as f:
            f.write(blob)
        out.append((name, path))

    put("empty", b"")
    put("text", b"not a core at all\n" * 10)
    put("elf-header-only", data[:64])
    put("cut-in-segment-table", data[:64 + 56 * 3])
    put("cut-in-notes", data[:0x1000])
    put("cut-in-memory", data[:len(data) // 2])
    put("not-a-core", open("/bin/true", "rb").read())
    hdr = bytearray(data)
    hdr[18] = 0xb7  # e_machine: aarch64
    put("other-machine", bytes(hdr[:1 << 20]))
    return out


def test_corrupt_cores(procs, tmp_path):
    """Truncated, foreign and garbled cores: one error line, a documented exit status,
    never a crash."""
    interp = scenario_by_id("pyenv-3.11")
    w = e2elib.start_ground_truth(procs, interp, tmp_path)
    core, _ = gcore(procs, w.pid, tmp_path)
    for name, path in _bad_cores(tmp_path, core):
        run = dump_core(tmp_path, path)
        assert run.rc == 1, name + "\n" + run.describe()
        assert run.err.startswith("pyspy-c: cannot read core ") and run.err.count("\n") == 1, \
            name + "\n" + run.describe()
        assert run.out == "", name + "\n" + run.describe()
    # Bytes flipped all over the notes (thread registers, file table, auxv):
    # whatever it makes of them, an answer or errors, never a crash.
    data = bytearray(open(core, "rb").read())
    phoff = int.from_bytes(data[32:40], "little")
    note = [i for i in range(int.from_bytes(data[56:58], "little"))
            if int.from_bytes(data[phoff + 56 * i:phoff + 56 * i + 4], "little") == 4][0]
    off = int.from_bytes(data[phoff + 56 * note + 8:phoff + 56 * note + 16], "little")
    size = int.from_bytes(data[phoff + 56 * note + 32:phoff + 56 * note + 40], "little")
    import random
    rnd = random.Random(17)
    path = os.path.join(str(tmp_path), "flipped")
    for _ in range(20):
        blob = bytearray(data)
        for _ in range(8):
            blob[off + rnd.randrange(size)] = rnd.randrange(256)
        with open(path, "wb") as f:
            f.write(blob)
        run = dump_core(tmp_path, path, "--native", "--locals")
        assert run.rc in (0, 1, 5, 6), run.describe()
        assert all(line.startswith("pyspy-c: ") for line in run.err.splitlines()), run.describe()


def test_core_usage_errors(tmp_path):
    """--core with --pid or --subprocesses, --executable or --sysroot without --core: usage
    (2); a core that does not exist: 3."""
    for args, code in ((["dump", "--core", "x", "-p", "1"], 2),
                       (["dump", "--executable", "/bin/true", "-p", "1"], 2),
                       (["dump", "--sysroot", "/", "-p", "1"], 2),
                       (["dump", "--core", "x", "--subprocesses"], 2),
                       (["dump", "--core", str(tmp_path / "nothing")], 3)):
        run = e2elib.run_profiler(tmp_path, args)
        assert run.rc == code, run.describe()
        assert run.err.startswith("pyspy-c: ") and run.err.count("\n") == 1, run.describe()
        assert run.out == "", run.describe()
