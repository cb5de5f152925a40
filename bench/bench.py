#!/usr/bin/python3
"""pyspy-c benchmarks: cost per sample, target slowdown, sustained rate,
accuracy, memory and attach latency, each against the floor measured on this
machine in the same run (bench/floor.c).

Run by bench/run (make bench) with /usr/bin/python3; standard library only.

Environment:
  BENCH_QUICK=1           short smoke run (few interpreters, short durations)
  BENCH_MEMORY_SECONDS    length of the memory test (default 600; quick: 20)
  BENCH_PYTHONS           comma-separated interpreter ids to use (default: all
                          found; quick: a few), e.g. pyenv-3.12,system-3.11
  BENCH_REF               interpreter id for the single-interpreter sections
                          (default pyenv-3.12)
  PYSPY_C                 the binary (default <repo>/pyspy-c)

Every process the benchmark starts is tracked by pid and killed (SIGKILL)
and reaped when it is no longer needed, also on errors and Ctrl-C.
"""
import glob
import json
import os
import re
import select
import shutil
import signal
import statistics
import subprocess
import tempfile
import sys
import time

BENCH = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(BENCH)
OUT = os.path.join(BENCH, "out")
WORKLOADS = os.path.join(BENCH, "workloads")
PYSPY = os.environ.get("PYSPY_C", os.path.join(REPO, "pyspy-c"))
FLOOR = os.path.join(OUT, "floor")
RUSAGE = os.path.join(OUT, "rusage")
QUICK = os.environ.get("BENCH_QUICK", "") not in ("", "0")
MEMORY_SECONDS = float(os.environ.get("BENCH_MEMORY_SECONDS", "20" if QUICK else "600"))
MEMORY_SECONDS_SET = "BENCH_MEMORY_SECONDS" in os.environ
# The whole run must stay under 15 minutes: with the default memory duration,
# the memory test (last) is shortened, visibly, if the rest took too long.
TOTAL_BUDGET = 870.0
T_START = time.monotonic()
TRACER_CPU = 0  # the profiler (and this driver)
TARGET_CPU = 1  # the profiled program
CHROOT_STAGE = "/tmp/pyspy-c-bench"  # workloads inside a chroot, as seen from it

# Durations and repetitions: full run / quick run.
P = {
    "cost_seconds": (0.8, 0.3),
    "cost_rate": (1000, 1000),
    "attach_repeats": (5, 3),
    "cost_attach_repeats": (3, 3),  # attach-only runs taken off each cost figure
    "accuracy_seconds": (2.0, 1.0),
    "accuracy_truth_seconds": (0.5, 0.5),
    "sustained_seconds": (2.0, 1.0),
    "slowdown_run_seconds": (0.4, 0.2),
    "slowdown_pairs": (15, 4),
    "threads_run_seconds": (0.5, 0.25),
    "threads_pairs": (11, 3),
    "floor_reads": (20000, 5000),
    "floor_stops": (2000, 400),
    "memory_poll_seconds": (5.0, 1.0),
    "native_merge_seconds": (10.0, 3.0),
}
P = {k: v[1] if QUICK else v[0] for k, v in P.items()}

DEPTHS = [10, 30, 100, 500]
NATIVE_DEPTHS = [10, 100]
SUSTAINED_RATES = [1000, 10000, 20000]
SLOWDOWN_RATES = [100, 1000]
ACCURACY_FRACTION = 0.7
# Period of the 70/30 alternation: not a simple multiple of the 1 ms sampling
# period (1/6.618034 has a golden-ratio continued fraction), so successive
# samples sweep every phase of it evenly.
ACCURACY_PERIOD_MS = 6.618034
ACCURACY_RATE = 1000
# 64 x 512 = 32768 distinct stacks: twice pyspy-c's bound (16384 in this
# version), so its pruning of rare stacks is exercised.
MEMORY_MIDS, MEMORY_LEAVES = 64, 512
THREADS_TOTAL, THREADS_BUSY = 50, 4

SUMMARY_RE = re.compile(
    r"pyspy-c: (\d+) samples in ([0-9.]+) s \(([0-9.]+)/s effective, ([0-9.e+]+)/s asked\); "
    r"(\d+) late, (\d+) failed(.*)$")
READY_RE = re.compile(r"^pyspy-c: pid \d+: ")

TASKSET = shutil.which("taskset") or "/usr/bin/taskset"
CHROOT = shutil.which("chroot") or "/usr/sbin/chroot"
CLEAN_ENV = {"PATH": "/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin", "HOME": "/root",
             "LANG": "C.UTF-8", "PYTHONDONTWRITEBYTECODE": "1"}


def log(msg):
    sys.stderr.write("bench: %s\n" % msg)
    sys.stderr.flush()


class BenchError(Exception):
    pass


# ---------------------------------------------------------------- processes

LIVE = {}  # pid -> Proc, in start order


class Proc(object):
    """A child started with posix_spawn, with optional pipes, reaped with wait4."""

    def __init__(self, argv, stdin=False, stdout=False, stderr=False, env=None, name=None):
        self.name = name or os.path.basename(argv[0])
        self.status = None
        self.rusage = None
        self.exit_ns = None
        self._buf = {}
        actions = []
        mine = []
        self.stdin = self.stdout = self.stderr = None
        try:
            if stdin:
                r, w = os.pipe()
                actions.append((os.POSIX_SPAWN_DUP2, r, 0))
                mine.append(r)
                self.stdin = w
            else:
                actions.append((os.POSIX_SPAWN_OPEN, 0, "/dev/null", os.O_RDONLY, 0))
            for fd, want in ((1, stdout), (2, stderr)):
                if want:
                    r, w = os.pipe()
                    actions.append((os.POSIX_SPAWN_DUP2, w, fd))
                    mine.append(w)
                    if fd == 1:
                        self.stdout = r
                    else:
                        self.stderr = r
                    self._buf[r] = b""
                elif fd == 1:
                    actions.append((os.POSIX_SPAWN_OPEN, 1, "/dev/null", os.O_WRONLY, 0))
            self.start_ns = time.monotonic_ns()
            self.pid = os.posix_spawn(argv[0], argv, env if env is not None else CLEAN_ENV,
                                      file_actions=actions)
        finally:
            for fd in mine:
                os.close(fd)
        LIVE[self.pid] = self
        self.pidfd = os.pidfd_open(self.pid)

    def _close(self):
        for attr in ("stdin", "stdout", "stderr", "pidfd"):
            fd = getattr(self, attr)
            if fd is not None:
                try:
                    os.close(fd)
                except OSError:
                    pass
                setattr(self, attr, None)

    def readline(self, which="stdout", timeout=10.0):
        """One line (str, without newline) or None at end of file; BenchError on timeout."""
        fd = self.stdout if which == "stdout" else self.stderr
        deadline = time.monotonic() + timeout
        while True:
            buf = self._buf[fd]
            nl = buf.find(b"\n")
            if nl >= 0:
                self._buf[fd] = buf[nl + 1:]
                return buf[:nl].decode("utf-8", "replace")
            left = deadline - time.monotonic()
            if left <= 0:
                raise BenchError("%s (pid %d): no line on %s within %.1f s"
                                 % (self.name, self.pid, which, timeout))
            ready, _, _ = select.select([fd], [], [], left)
            if not ready:
                continue
            chunk = os.read(fd, 65536)
            if not chunk:
                if buf:
                    self._buf[fd] = b""
                    return buf.decode("utf-8", "replace")
                return None
            self._buf[fd] = buf + chunk

    def read_rest(self, which="stderr", timeout=10.0):
        lines = []
        while True:
            line = self.readline(which, timeout)
            if line is None:
                return lines
            lines.append(line)

    def send(self, line):
        os.write(self.stdin, (line + "\n").encode())

    def request(self, line, timeout=60.0):
        """Send a workload command, return its JSON answer."""
        self.send(line)
        answer = self.readline("stdout", timeout)
        if answer is None:
            raise BenchError("%s (pid %d) exited during '%s'" % (self.name, self.pid, line))
        data = json.loads(answer)
        if "error" in data:
            raise BenchError("%s: %s" % (self.name, data["error"]))
        return data

    def signal(self, sig):
        if self.status is None:
            os.kill(self.pid, sig)

    def wait(self, timeout=None):
        """Reap the child (wait4): returns its wait status; exit_ns is when it ended."""
        if self.status is not None:
            return self.status
        if self.pidfd is not None:
            r, _, _ = select.select([self.pidfd], [], [], timeout)
            if not r:
                raise BenchError("%s (pid %d) did not exit within %s s"
                                 % (self.name, self.pid, timeout))
            self.exit_ns = time.monotonic_ns()
        pid, status, ru = os.wait4(self.pid, 0)
        if self.exit_ns is None:
            self.exit_ns = time.monotonic_ns()
        self.status, self.rusage = status, ru
        LIVE.pop(self.pid, None)
        if self.pidfd is not None:
            os.close(self.pidfd)
            self.pidfd = None
        return status

    def cpu_us(self):
        return (self.rusage.ru_utime + self.rusage.ru_stime) * 1e6

    def kill(self):
        """End the process by its pid (SIGKILL) and reap it."""
        if self.status is None:
            try:
                os.kill(self.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self.wait()
        self._close()


def kill_all():
    for proc in reversed(list(LIVE.values())):
        try:
            proc.kill()
        except Exception as e:  # noqa: BLE001 - best effort while cleaning up
            log("could not end pid %d: %s" % (proc.pid, e))


# ------------------------------------------------------------- interpreters

class Interp(object):
    def __init__(self, iid, argv, version, chroot=None):
        self.id = iid
        self.argv = argv
        self.version = version
        self.chroot = chroot

    @property
    def vstr(self):
        return "%d.%d" % self.version

    def workload(self, name):
        if self.chroot:
            return os.path.join(CHROOT_STAGE, name)
        return os.path.join(WORKLOADS, name)


def query_version(argv):
    try:
        out = subprocess.run(argv + ["-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
                             capture_output=True, text=True, timeout=30, env=CLEAN_ENV)
    except (OSError, subprocess.TimeoutExpired):
        return None
    m = re.match(r"^(\d+)\.(\d+)$", out.stdout.strip())
    return (int(m.group(1)), int(m.group(2))) if m else None


def find_interpreters():
    found = []
    seen = set()
    for path in sorted(glob.glob("/root/.pyenv/versions/*/bin/python*")):
        if not re.search(r"/python\d\.\d+$", path) or not os.access(path, os.X_OK):
            continue
        real = os.path.realpath(path)
        if real in seen:
            continue
        seen.add(real)
        v = query_version([path])
        if v:
            found.append(Interp("pyenv-%d.%d" % v, [path], v))
    if os.access("/usr/bin/python3.11", os.X_OK):
        v = query_version(["/usr/bin/python3.11"])
        if v:
            found.append(Interp("system-%d.%d" % v, ["/usr/bin/python3.11"], v))
    for root in sorted(glob.glob(os.path.join(REPO, ".cache", "chroots", "*"))):
        suite = os.path.basename(root)
        for path in sorted(glob.glob(os.path.join(root, "usr/bin/python3.*"))):
            if not re.search(r"/python3\.\d+$", path) or os.path.islink(path):
                continue
            inside = "/" + os.path.relpath(path, root)
            argv = [CHROOT, root, inside]
            v = query_version(argv)
            if v:
                found.append(Interp("chroot-%s-%d.%d" % (suite, v[0], v[1]), argv, v, chroot=root))
    found.sort(key=lambda i: (i.version, i.id))
    return found


def stage_chroots(interps):
    for root in sorted({i.chroot for i in interps if i.chroot}):
        dst = os.path.join(root, CHROOT_STAGE.lstrip("/"))
        shutil.rmtree(dst, ignore_errors=True)
        os.makedirs(dst)
        for f in glob.glob(os.path.join(WORKLOADS, "*.py")):
            shutil.copy(f, dst)


def unstage_chroots(interps):
    for root in sorted({i.chroot for i in interps if i.chroot}):
        shutil.rmtree(os.path.join(root, CHROOT_STAGE.lstrip("/")), ignore_errors=True)


def start_target(interp, script, args=(), stdin=False, timeout=30.0):
    """Start a workload pinned to TARGET_CPU; wait for its "ready" line."""
    argv = [TASKSET, "-c", str(TARGET_CPU)] + interp.argv + [interp.workload(script)]
    argv += [str(a) for a in args]
    proc = Proc(argv, stdin=stdin, stdout=True, name="%s %s" % (interp.id, script))
    line = proc.readline("stdout", timeout)
    if line is None or not line.startswith("ready"):
        proc.kill()
        raise BenchError("%s: %s did not get ready (%r)" % (interp.id, script, line))
    proc.info = json.loads(line[6:]) if len(line) > 6 else {}
    return proc


# ----------------------------------------------------------------- profiler

def native_available():
    out = subprocess.run([PYSPY, "record", "--help"], capture_output=True, text=True, timeout=10)
    return "--native" in out.stdout + out.stderr


class Run(object):
    """One finished pyspy-c run."""

    def __init__(self, proc, stderr_lines, ready_ns=None):
        self.status = proc.status
        self.cpu_us = proc.cpu_us()
        self.maxrss_kb = proc.rusage.ru_maxrss
        self.wall_us = (proc.exit_ns - proc.start_ns) / 1e3
        self.ready_us = (ready_ns - proc.start_ns) / 1e3 if ready_ns else None
        self.stderr = stderr_lines
        self.taken = self.elapsed = self.eff = self.asked = None
        self.late = self.failed = 0
        self.extra = ""
        for line in stderr_lines:
            m = SUMMARY_RE.match(line)
            if m:
                self.taken = int(m.group(1))
                self.elapsed = float(m.group(2))
                self.eff = float(m.group(3))
                self.asked = float(m.group(4))
                self.late = int(m.group(5))
                self.failed = int(m.group(6))
                self.extra = m.group(7).strip("; ")
        if self.taken is None:
            raise BenchError("pyspy-c gave no summary (status %s): %s"
                             % (status_text(proc.status), " | ".join(stderr_lines[-3:])))


def status_text(status):
    if status is None:
        return "?"
    if os.WIFEXITED(status):
        return "exit %d" % os.WEXITSTATUS(status)
    if os.WIFSIGNALED(status):
        return "signal %d" % os.WTERMSIG(status)
    return "0x%x" % status


def pyspy_argv(pid, rate, duration=None, nonblocking=False, native=False, output=None,
               verbose=False, function=False, idle=False):
    argv = [PYSPY, "record", "--pid", str(pid), "--rate", "%g" % rate,
            "-o", output or "/dev/null"]
    if duration is not None:
        argv += ["--duration", "%g" % duration]
    if nonblocking:
        argv.append("--nonblocking")
    if native:
        argv.append("--native")
    if verbose:
        argv.append("-v")
    if function:
        argv.append("--function")
    if idle:
        argv.append("--idle")
    return argv


def profile_for(pid, rate, duration, **kw):
    """Run pyspy-c for a fixed duration; returns a Run."""
    proc = Proc(pyspy_argv(pid, rate, duration, **kw), stderr=True, name="pyspy-c")
    try:
        proc.wait(timeout=duration + 30)
        lines = proc.read_rest("stderr")
    finally:
        proc.kill()
    run = Run(proc, lines)
    if not os.WIFEXITED(proc.status) or os.WEXITSTATUS(proc.status) != 0:
        raise BenchError("pyspy-c failed (%s): %s" % (status_text(proc.status), " | ".join(lines)))
    return run


class Attached(object):
    """pyspy-c running with no duration; attached() once its -v line is out."""

    def __init__(self, pid, rate, **kw):
        self.proc = Proc(pyspy_argv(pid, rate, verbose=True, **kw), stderr=True, name="pyspy-c")
        self.lines = []
        self.ready_ns = None
        try:
            while True:
                line = self.proc.readline("stderr", 10.0)
                if line is None:
                    self.proc.wait(5)
                    raise BenchError("pyspy-c exited before attaching (%s): %s"
                                     % (status_text(self.proc.status), " | ".join(self.lines)))
                self.lines.append(line)
                if READY_RE.match(line):
                    self.ready_ns = time.monotonic_ns()
                    break
        except BaseException:
            self.proc.kill()
            raise

    def stop(self):
        """SIGTERM: ends the recording normally; returns the Run."""
        try:
            self.proc.signal(signal.SIGTERM)
            self.proc.wait(timeout=30)
            self.lines += self.proc.read_rest("stderr")
        finally:
            self.proc.kill()
        return Run(self.proc, self.lines, self.ready_ns)


GAP_THRESHOLD_US = 10


def attach_once(tgt, nonblocking):
    """One launch of pyspy-c record -v --rate 1000 --duration 0.001 on a gaps.py target.

    ready: launch -> the -v line (attached, interpreter found; sampling starts
    right after it).  exit: launch -> exit.  first_stop: launch -> end of the
    first gap the target saw in its own clock (its first ptrace stop: the
    first sample of a blocking profiler).
    """
    t0_mono, t0_wall = time.monotonic(), time.time()
    proc = Proc(pyspy_argv(tgt.pid, 1000, 0.001, nonblocking=nonblocking, verbose=True),
                stderr=True, name="pyspy-c")
    ready_ns = None
    lines = []
    try:
        while True:
            line = proc.readline("stderr", 10.0)
            if line is None:
                break
            if ready_ns is None and READY_RE.match(line):
                ready_ns = time.monotonic_ns()
            lines.append(line)
        proc.wait(timeout=10)
    finally:
        proc.kill()
    run = Run(proc, lines, ready_ns)
    t0 = t0_mono if tgt.info.get("clock") == "monotonic" else t0_wall
    gaps = tgt.request("gaps %.6f" % t0)["gaps"]
    # [us since launch, length us]: stops only (a voluntary switch in the gap);
    # the rest is preemption by other processes.  A workload that cannot
    # count voluntary switches (-1) cannot tell them apart: no first stop.
    run.gaps = [[(g[0] - t0) * 1e6, g[1] * 1e6] for g in gaps if g[2] > 0]
    run.preempted = sum(1 for g in gaps if g[2] == 0)
    run.first_stop_us = run.gaps[0][0] + run.gaps[0][1] if run.gaps else None
    run.unclassified = any(g[2] < 0 for g in gaps)
    return run


def folded_stats(path):
    """(distinct stacks, samples, frames in the heaviest stack, {frame: samples})."""
    stacks = samples = 0
    heavy = (0, 0)
    per_func = {}
    with open(path, encoding="utf-8", errors="replace") as f:
        for line in f:
            line = line.rstrip("\n")
            if not line:
                continue
            stack, _, count = line.rpartition(" ")
            count = int(count)
            stacks += 1
            samples += count
            frames = stack.split(";")
            if count > heavy[0]:
                heavy = (count, len(frames))
            for name in set(fr.split(" (", 1)[0] for fr in frames):
                per_func[name] = per_func.get(name, 0) + count
    return stacks, samples, heavy[1], per_func


# -------------------------------------------------------------- statistics

def quantile(values, q):
    v = sorted(values)
    if not v:
        return None
    pos = (len(v) - 1) * q
    lo = int(pos)
    hi = min(lo + 1, len(v) - 1)
    return v[lo] + (v[hi] - v[lo]) * (pos - lo)


def ratio_stats(ratios):
    med = statistics.median(ratios)
    q1, q3 = quantile(ratios, 0.25), quantile(ratios, 0.75)
    # McGill's notch: an approximate 95% confidence interval of the median.
    ci = 1.58 * (q3 - q1) / len(ratios) ** 0.5
    return {"n": len(ratios), "median": med, "q1": q1, "q3": q3, "min": min(ratios),
            "max": max(ratios), "ci95": ci, "ratios": ratios}


# ------------------------------------------------------------------ sections

def section_floor(res):
    log("floor: process_vm_readv 4 KiB, stop+resume of 1 busy thread and of %d threads"
        % THREADS_TOTAL)
    out = subprocess.run([FLOOR, "--tracer-cpu", str(TRACER_CPU), "--target-cpu", str(TARGET_CPU),
                          "--reads", str(P["floor_reads"]), "--stops", str(P["floor_stops"]),
                          "--threads", str(THREADS_TOTAL), "--busy", str(THREADS_BUSY),
                          "--gap-us", "1000"],
                         capture_output=True, text=True, timeout=300)
    if out.returncode != 0:
        raise BenchError("floor failed: %s" % out.stderr.strip())
    fl = json.loads(out.stdout)
    res["floor"] = fl
    return {"read": fl["read_4k"]["median"] / 1e3, "stop1": fl["stop1"]["median"] / 1e3,
            "stopN": fl["stopN"]["median"] / 1e3,
            # CPU: what a wake-up costs the profiler; a state read does not
            # block, so its median wall time is its CPU (after a sleep, as
            # in a sampler: about twice the tight-loop figure)
            "wake": fl["wake"]["cpu_median"] / 1e3, "wake_late": fl["wake"]["median"] / 1e3,
            "stat": fl["stat"]["median"] / 1e3,
            "schedstat": fl["schedstat"]["median"] / 1e3,
            "stat_group": fl["stat_group"]["median"] / 1e3,
            "schedstat_group": fl["schedstat_group"]["median"] / 1e3}


def section_cost_attach(interps, native, res):
    """Cost per sample at every depth and mode, and attach latency, per interpreter."""
    cost = []
    attach = []
    for interp in interps:
        log("attach latency: %s" % interp.id)
        attach += section_attach(interp)
        for depth in DEPTHS:
            log("cost per sample: %s depth %d" % (interp.id, depth))
            tgt = start_target(interp, "depth.py", [depth])
            try:
                modes = [("blocking", {}), ("nonblocking", {"nonblocking": True})]
                # Without the OS state read per thread that idle detection costs.
                if depth == 30:
                    modes.append(("nonblk --idle", {"nonblocking": True, "idle": True}))
                if depth in NATIVE_DEPTHS:
                    modes.append(("native", {"native": True}))
                for mode, kw in modes:
                    row = {"interp": interp.id, "version": interp.vstr, "depth": depth,
                           "mode": mode}
                    if mode == "native" and not native:
                        row["na"] = "not available yet (pyspy-c record has no --native)"
                        cost.append(row)
                        continue
                    folded = os.path.join(OUT, "cost.folded")
                    # Attach-only runs on the same target, same mode: what
                    # attaching, the first samples and detaching cost.
                    base = [profile_for(tgt.pid, P["cost_rate"], 0.001, **kw)
                            for _ in range(P["cost_attach_repeats"])]
                    r = profile_for(tgt.pid, P["cost_rate"], P["cost_seconds"], output=folded, **kw)
                    _, _, frames, _ = folded_stats(folded)
                    row.update({"taken": r.taken, "late": r.late, "failed": r.failed,
                                "cpu_us": r.cpu_us, "elapsed": r.elapsed,
                                "raw_us": r.cpu_us / max(r.taken, 1), "frames_seen": frames,
                                "attach_cpu_us": statistics.median(b.cpu_us for b in base),
                                "attach_taken": statistics.median(b.taken for b in base),
                                "summary_extra": r.extra})
                    cost.append(row)
            finally:
                tgt.kill()
    # Steady-state cost: the run's CPU minus the median CPU of the attach-only
    # runs, over the samples the run took beyond theirs.
    for row in cost:
        if "na" in row:
            continue
        row["steady_us"] = (max(row["cpu_us"] - row["attach_cpu_us"], 0.0)
                            / max(row["taken"] - row["attach_taken"], 1))
    res["cost"] = cost
    res["attach"] = attach
    return cost, attach


def section_attach(interp):
    """Attach latency on one interpreter: blocking and non-blocking."""
    rows = []
    tgt = start_target(interp, "gaps.py", [30, GAP_THRESHOLD_US], stdin=True)
    try:
        # Gaps the target sees with no profiler at all: the noise floor.
        since = time.monotonic() if tgt.info.get("clock") == "monotonic" else time.time()
        time.sleep(0.3)
        noise = len([g for g in tgt.request("gaps %.6f" % since)["gaps"] if g[2] > 0])
        for nb in (False, True):
            runs = [attach_once(tgt, nb) for _ in range(P["attach_repeats"])]
            rows.append({
                "interp": interp.id, "version": interp.vstr,
                "mode": "nonblocking" if nb else "blocking",
                "ready_us": [r.ready_us for r in runs],
                "exit_us": [r.wall_us - 1000 for r in runs],
                "first_stop_us": [r.first_stop_us for r in runs],
                "gaps": [r.gaps for r in runs],
                "unclassified": any(r.unclassified for r in runs),
                "preempted": [r.preempted for r in runs],
                "noise_gaps_per_s": noise / 0.3,
                "cpu_us": [r.cpu_us for r in runs],
                "taken": [r.taken for r in runs]})
        tgt.send("quit")
    finally:
        tgt.kill()
    return rows


def section_accuracy(interps, res):
    rows = []
    for interp in interps:
        log("accuracy: %s" % interp.id)
        tgt = start_target(interp, "split.py", [ACCURACY_FRACTION, ACCURACY_PERIOD_MS], stdin=True)
        try:
            truth = tgt.request("run %g" % P["accuracy_truth_seconds"])
            folded = os.path.join(OUT, "accuracy.folded")
            prof = Attached(tgt.pid, ACCURACY_RATE, output=folded, function=True)
            during = tgt.request("run %g" % P["accuracy_seconds"])
            run = prof.stop()
            tgt.send("quit")
        finally:
            tgt.kill()
        _, _, _, per_func = folded_stats(folded)
        a, b = per_func.get("hot_a", 0), per_func.get("hot_b", 0)
        # The truth: the CPU time (process_time) the workload measured in
        # each function during the run that was profiled: pyspy-c's counts
        # approximate CPU time (idle samples are dropped).  The wall-clock
        # split and the unprofiled run before are shown for comparison.
        true_split = during["cpu_a"] / max(during["cpu_a"] + during["cpu_b"], 1e-9)
        rows.append({
            "interp": interp.id, "version": interp.vstr,
            "truth": true_split,
            "truth_wall": during["a"] / (during["a"] + during["b"]),
            "unprofiled": truth["cpu_a"] / max(truth["cpu_a"] + truth["cpu_b"], 1e-9),
            "samples_a": a, "samples_b": b, "taken": run.taken, "failed": run.failed,
            "profile": a / (a + b) if a + b else None,
            "error_pp": abs(a / (a + b) - true_split) * 100 if a + b else None})
    res["accuracy"] = rows
    return rows


def section_sustained(ref, res):
    rows = []
    tgt = start_target(ref, "depth.py", [30])
    try:
        for rate in SUSTAINED_RATES:
            log("sustained rate: %s %d Hz non-blocking" % (ref.id, rate))
            r = profile_for(tgt.pid, rate, P["sustained_seconds"], nonblocking=True)
            asked = rate * r.elapsed
            rows.append({"interp": ref.id, "rate": rate, "taken": r.taken, "asked": asked,
                         "ratio": r.taken / asked, "late": r.late, "failed": r.failed,
                         "cpu_us": r.cpu_us, "per_sample_us": r.cpu_us / max(r.taken, 1),
                         "elapsed": r.elapsed})
    finally:
        tgt.kill()
    res["sustained"] = rows
    return rows


def slowdown_pairs(tgt, units, rate, pairs, **kw):
    """Interleaved unprofiled/profiled runs of the same work; ratios profiled/unprofiled."""
    ratios, runs, plain = [], [], []
    for i in range(pairs):
        order = ("plain", "profiled") if i % 2 == 0 else ("profiled", "plain")
        got = {}
        for what in order:
            if what == "plain":
                got[what] = tgt.request("run %d" % units)["elapsed"]
            else:
                prof = Attached(tgt.pid, rate, **kw)
                got[what] = tgt.request("run %d" % units)["elapsed"]
                runs.append(prof.stop())
        plain.append(got["plain"])
        ratios.append(got["profiled"] / got["plain"])
    st = ratio_stats(ratios)
    st["plain_median_s"] = statistics.median(plain)
    st["eff_rate"] = statistics.median(r.eff for r in runs)
    st["taken"] = sum(r.taken for r in runs)
    st["late"] = sum(r.late for r in runs)
    st["failed"] = sum(r.failed for r in runs)
    st["cpu_us"] = sum(r.cpu_us for r in runs)
    st["per_sample_us"] = st["cpu_us"] / max(st["taken"], 1)
    # Target time lost per sample: (ratio - 1) of the profiled run's elapsed
    # time, spread over the samples taken meanwhile.
    med = st["median"]
    st["lost_per_sample_us"] = (med - 1) / med / st["eff_rate"] * 1e6 if st["eff_rate"] else None
    return st, runs


def section_slowdown(ref, res):
    rows = []
    tgt = start_target(ref, "work.py", stdin=True)
    try:
        units = tgt.request("calibrate %g" % P["slowdown_run_seconds"])["units"]
        for _ in range(2):
            tgt.request("run %d" % units)
        for rate in SLOWDOWN_RATES:
            log("target slowdown: %s %d Hz blocking, %d pairs" % (ref.id, rate,
                                                                P["slowdown_pairs"]))
            st, _ = slowdown_pairs(tgt, units, rate, P["slowdown_pairs"])
            st.update({"interp": ref.id, "rate": rate, "units": units})
            rows.append(st)
        tgt.send("quit")
    finally:
        tgt.kill()
    res["slowdown"] = rows
    return rows


def section_threads(ref, res):
    tgt = start_target(ref, "threads.py", [THREADS_TOTAL, THREADS_BUSY], stdin=True)
    try:
        if tgt.info.get("threads") != THREADS_TOTAL:
            log("warning: threads workload has %s threads" % tgt.info.get("threads"))
        units = tgt.request("calibrate %g" % P["threads_run_seconds"])["units"]
        tgt.request("run %d" % units)
        log("threads: %s, %d threads (%d busy), 100 Hz blocking, %d pairs"
            % (ref.id, THREADS_TOTAL, THREADS_BUSY, P["threads_pairs"]))
        base = [profile_for(tgt.pid, 100, 0.001) for _ in range(P["attach_repeats"])]
        attach_cpu = statistics.median(b.cpu_us for b in base)
        attach_taken = statistics.median(b.taken for b in base)
        st, runs = slowdown_pairs(tgt, units, 100, P["threads_pairs"])
        st.update({"interp": ref.id, "rate": 100, "units": units,
                   "threads": tgt.info.get("threads"), "busy": THREADS_BUSY,
                   "attach_cpu_us": attach_cpu,
                   "steady_us": sum(max(r.cpu_us - attach_cpu, 0) for r in runs)
                   / max(sum(r.taken - attach_taken for r in runs), 1)})
        tgt.send("quit")
    finally:
        tgt.kill()
    res["threads"] = st
    return st


def vmrss_kb(pid):
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


NATIVE_MERGE_IDS = ["pyenv-2.7", "system-3.11"]  # and the reference
NATIVE_RE = re.compile(r"^pyspy-c: native: (\d+) of (\d+) stacks merged \(([0-9.]+)%\)"
                       r"(?:, (\d+) with the C stack cut short)?")
NATIVE_FAILED_RE = re.compile(r"^pyspy-c: native: (\d+) stacks kept as Python only")


def build_spin(interp, outdir):
    """tests/native/ext/spin.c for interp: its own headers, else a pyenv build's of
    the same X.Y, else the limited API.  Returns a note, or raises BenchError."""
    code = "import sysconfig; print(sysconfig.get_paths()['include'])"
    out = subprocess.run(interp.argv + ["-c", code], capture_output=True, text=True,
                         timeout=30, env=CLEAN_ENV).stdout.strip()
    inc, flags = out, []
    if not os.path.isfile(os.path.join(inc, "Python.h")):
        same = glob.glob("/root/.pyenv/versions/%d.%d*/include/python%d.%d*/Python.h"
                         % (interp.version * 2))
        any3 = sorted(glob.glob("/root/.pyenv/versions/3.*/include/python3.*/Python.h"))
        if same:
            inc = os.path.dirname(same[0])
        elif any3 and interp.version[0] == 3:
            inc, flags = os.path.dirname(any3[-1]), ["-DPy_LIMITED_API=0x03060000"]
        else:
            raise BenchError("%s: no Python headers to build the extension with" % interp.id)
    r = subprocess.run(["gcc", "-O0", "-g", "-shared", "-fPIC", "-I" + inc] + flags +
                       ["-o", os.path.join(outdir, "spin.so"),
                        os.path.join(REPO, "tests", "native", "ext", "spin.c"), "-lpthread"],
                       capture_output=True, text=True)
    if r.returncode:
        raise BenchError("%s: building spin.c failed: %s" % (interp.id, r.stderr[-300:]))
    return inc


NATIVE_MERGE_WORKLOADS = [
    # (file in tests/native, needs the spin extension, rate, what it exercises)
    ("mixed.py", True, 100, "recursion, sorted(key=), map(), a C extension calling back, "
     "generators, json hooks"),
    # Its threads run Python for some tens of microseconds at a time: at 100 Hz
    # only some tens of samples in 10 s catch one.
    ("churn.py", False, 500, "4 threads started and joined in a loop: thread states of "
     "threads not started yet or finished"),
]
NATIVE_CHURN_MIN = 99.0  # merged %, issue 12


def section_native_merge(interps, ref, res):
    """--native on long runs of tests/native/mixed.py (stacks that go back and forth
    between Python and C) and tests/native/churn.py (thread churn): the share of thread
    samples whose C and Python stacks merged."""
    rows = []
    pick = [i for i in interps if not i.chroot and (i.id in NATIVE_MERGE_IDS or i.id == ref.id)]
    for wl, ext, rate, _ in NATIVE_MERGE_WORKLOADS:
        for interp in pick:
            log("native merge: %s %s" % (wl, interp.id))
            d = tempfile.mkdtemp(prefix="pyspy-c-bench-native-")
            try:
                args = [d, "1"] if ext else ["1"]
                if ext:
                    build_spin(interp, d)
                argv = [TASKSET, "-c", str(TARGET_CPU)] + interp.argv + [
                    os.path.join(REPO, "tests", "native", wl)] + args
                tgt = Proc(argv, stdout=True, name="%s %s" % (interp.id, wl))
                try:
                    line = tgt.readline("stdout", 30)
                    if line is None or not line.startswith("ready"):
                        raise BenchError("%s: %s did not get ready (%r)" % (interp.id, wl, line))
                    r = profile_for(tgt.pid, rate, P["native_merge_seconds"], native=True,
                                    verbose=True)
                finally:
                    tgt.kill()
            finally:
                shutil.rmtree(d, ignore_errors=True)
            row = {"workload": wl, "rate": rate, "interp": interp.id, "taken": r.taken,
                   "merged": None,
                   "stacks": None, "partial": 0, "failed": 0}
            for l in r.stderr:
                m = NATIVE_RE.match(l)
                if m:
                    row["merged"], row["stacks"] = int(m.group(1)), int(m.group(2))
                    row["partial"] = int(m.group(4) or 0)
                m = NATIVE_FAILED_RE.match(l)
                if m:
                    row["failed"] = int(m.group(1))
            row["cpu_us"] = r.cpu_us / max(r.taken, 1)
            rows.append(row)
    res["native_merge"] = rows
    return rows


def section_memory(ref, res):
    secs = MEMORY_SECONDS
    left = TOTAL_BUDGET - (time.monotonic() - T_START) - 10
    if not MEMORY_SECONDS_SET and secs > left:
        secs = max(60.0, float(int(left)))
        log("memory test shortened to %g s to keep the run under 15 minutes" % secs)
    log("memory: %s, %d distinct stacks, 1 kHz blocking for %g s"
        % (ref.id, MEMORY_MIDS * MEMORY_LEAVES, secs))
    tgt = start_target(ref, "stacks.py", [MEMORY_MIDS, MEMORY_LEAVES])
    folded = os.path.join(OUT, "memory.folded")
    series = []
    try:
        # Through bench/rusage: ru_maxrss of a process spawned from this
        # (large) driver would start at the driver's own RSS.
        proc = Proc([RUSAGE] + pyspy_argv(tgt.pid, 1000, secs, output=folded), stderr=True,
                    name="rusage pyspy-c")
        try:
            line = proc.readline("stderr", 10.0)
            m = re.match(r"^rusage: pid (\d+)$", line or "")
            if not m:
                raise BenchError("bench/rusage: unexpected %r" % line)
            ppid = int(m.group(1))
            t0 = time.monotonic()
            while True:
                r, _, _ = select.select([proc.pidfd], [], [], P["memory_poll_seconds"])
                if r:
                    break
                kb = vmrss_kb(ppid)
                if kb is not None:
                    series.append((round(time.monotonic() - t0, 1), kb))
                if time.monotonic() - t0 > secs + 60:
                    raise BenchError("memory test: pyspy-c did not end")
            proc.wait()
            lines = proc.read_rest("stderr")
        finally:
            proc.kill()
        maxrss = None
        for line in lines:
            m = re.match(r"^rusage: status (\d+) cpu_us (\d+) maxrss_kb (\d+)$", line)
            if m:
                maxrss = int(m.group(3))
        if maxrss is None:
            raise BenchError("bench/rusage gave no figures: %s" % " | ".join(lines[-3:]))
        run = Run(proc, lines)
        run.maxrss_kb = maxrss
    finally:
        tgt.kill()
    stacks, samples, _, per_func = folded_stats(folded)
    kbs = [kb for _, kb in series]
    half = [kb for t, kb in series if t >= secs / 2]
    # What the summary says about a bound on distinct stacks, if anything.
    pruned = [part.strip() for line in lines for part in line.split(";")
              if re.search(r"prun|bound|distinct|evict", part, re.I)]
    m = re.search(r"(\d+) samples of rare stacks merged into '([^']*)' "
                  r"\(more than (\d+) distinct stacks\)", run.extra)
    bound = int(m.group(3)) if m else None
    pruned_samples = int(m.group(1)) if m else None
    marker = m.group(2) if m else None
    row = {"interp": ref.id, "seconds": secs, "asked_seconds": MEMORY_SECONDS, "rate": 1000,
           "maxrss_kb": run.maxrss_kb,
           "bound": bound, "pruned_samples": pruned_samples,
           "marker_samples": per_func.get(marker) if marker else None,
           "rss_series": series,
           "rss_first_kb": kbs[0] if kbs else None, "rss_last_kb": kbs[-1] if kbs else None,
           "rss_max_kb": max(kbs) if kbs else None,
           "second_half_growth_kb": (half[-1] - half[0]) if len(half) >= 2 else None,
           "paths": tgt.info.get("stacks"), "distinct_stacks": stacks, "samples": samples,
           "taken": run.taken, "late": run.late, "failed": run.failed,
           "pruning_reported": pruned, "summary_extra": run.extra}
    res["memory"] = row
    return row


# ------------------------------------------------------------ machine load

def load_snapshot():
    """(machine busy s, steal s, this driver's and its reaped children's CPU s, wall s)."""
    hz = os.sysconf("SC_CLK_TCK")
    with open("/proc/stat") as fh:
        v = [int(x) for x in fh.readline().split()[1:]]
    busy = v[0] + v[1] + v[2] + v[5] + v[6]  # user nice system irq softirq
    steal = v[7] if len(v) > 7 else 0
    t = os.times()
    return busy / hz, steal / hz, t.user + t.system + t.children_user + t.children_system, \
        time.monotonic()


def foreign_load(a, b):
    """CPU used by everything but this benchmark, and steal, as % of the machine."""
    wall = (b[3] - a[3]) * os.cpu_count()
    if wall <= 0:
        return 0.0, 0.0
    other = max((b[0] - a[0]) - (b[2] - a[2]), 0.0)
    return 100.0 * other / wall, 100.0 * (b[1] - a[1]) / wall


# ------------------------------------------------------------------ report

class Table(object):
    def __init__(self):
        self.lines = []

    def section(self, title, note=None):
        self.lines.append("")
        self.lines.append("== %s" % title)
        if note:
            for n in note.split("\n"):
                self.lines.append("   " + n)

    def header(self, cols, widths):
        self.cols = widths
        self.row(cols)
        self.lines.append("   " + "  ".join("-" * abs(w) for w in widths))

    def row(self, cells):
        out = []
        for cell, w in zip(cells, self.cols):
            cell = "" if cell is None else str(cell)
            out.append(cell.ljust(-w) if w < 0 else cell.rjust(w))
        self.lines.append("   " + "  ".join(out).rstrip())

    def text(self, line):
        self.lines.append("   " + line)


def f(x, fmt="%.1f"):
    return "-" if x is None else fmt % x


def mult(x, base):
    return "-" if x is None or not base else "%.1fx" % (x / base)


def verdict(ok):
    return "PASS" if ok else "FAIL"


def judge(name, got, limit, read, floor, extra=None):
    """A cost target: the figure, its limit, and the machine's floor for it.

    floor: [(component, us)], the least a sample can cost here (see the
    floor table).  A target the floor alone exceeds cannot be met on this
    machine, and the row says so, with the components.
    """
    fl = sum(us for _, us in floor)
    parts = " + ".join("%s %.1f" % (n, us) for n, us in floor)
    figs = "%.1f us = %.1fx read (limit %.1f us); floor %.1f = %s" % (
        got, got / read, limit, fl, parts)
    if got > limit and fl > limit:
        figs = ("%.1f us; NOT REACHABLE HERE: the floor alone is %.1f us > limit %.1f (%s); "
                "%.1f us above the floor" % (got, fl, limit, parts, got - fl))
    if extra:
        figs += "; " + extra
    return (name, got <= limit, figs)


def report(res, fl, interps, native):
    t = Table()
    targets = []
    read, stop1, stopN = fl["read"], fl["stop1"], fl["stopN"]
    F = res["floor"]
    t.section("Floor (bench/floor.c, measured first in this run; tracer on CPU %d, target on CPU %d)"
              % (TRACER_CPU, TARGET_CPU),
              "wall time per operation: median [p10-p90]; tracer CPU per operation in the last column\n"
              "(the median where it is measured per operation: wake, stop1, stopN; else the mean)")
    t.header(["operation", "median us", "p10-p90 us", "tracer CPU us"], [-50, 10, 18, 14])
    t.row(["read: process_vm_readv of 4 KiB", f(read, "%.2f"),
           "%.2f-%.2f" % (F["read_4k"]["p10"] / 1e3, F["read_4k"]["p90"] / 1e3),
           f(F["read_4k"]["cpu_per_op"] / 1e3, "%.2f")])
    t.row(["stop1: interrupt+waitpid+cont, 1 busy thread", f(stop1),
           "%.1f-%.1f" % (F["stop1"]["p10"] / 1e3, F["stop1"]["p90"] / 1e3),
           f(F["stop1"]["cpu_median"] / 1e3)])
    t.row(["stopN: the same for %d threads (%d busy)" % (F["stopN_threads"], F["stopN_busy"]),
           f(stopN), "%.1f-%.1f" % (F["stopN"]["p10"] / 1e3, F["stopN"]["p90"] / 1e3),
           f(F["stopN"]["cpu_median"] / 1e3)])
    t.row(["wake: one timer wake-up (wall: how late it came)", f(fl["wake_late"]),
           "%.1f-%.1f" % (F["wake"]["p10"] / 1e3, F["wake"]["p90"] / 1e3), f(fl["wake"])])
    t.row(["stat: pread of /proc/PID/task/TID/stat after a sleep",
           f(F["stat"]["median"] / 1e3, "%.2f"),
           "%.2f-%.2f" % (F["stat"]["p10"] / 1e3, F["stat"]["p90"] / 1e3), f(fl["stat"], "%.2f")])
    t.row(["schedstat: the same of .../schedstat (run count)",
           f(F["schedstat"]["median"] / 1e3, "%.2f"),
           "%.2f-%.2f" % (F["schedstat"]["p10"] / 1e3, F["schedstat"]["p90"] / 1e3),
           f(fl["schedstat"], "%.2f")])
    for key, what in (("stat_group", "stat"), ("schedstat_group", "schedstat")):
        t.row(["%s of each of the stopN threads, 10 ms apart" % what,
               f(F[key]["median"] / 1e3, "%.2f"),
               "%.2f-%.2f" % (F[key]["p10"] / 1e3, F[key]["p90"] / 1e3),
               f(fl[key], "%.2f")])
    wake, stat, sched = fl["wake"], fl["stat"], fl["schedstat"]
    stop1_cpu = F["stop1"]["cpu_median"] / 1e3
    t.text("")
    t.text("A sample costs at least, in CPU: one wake-up (wake), the OS state of each running")
    t.text("thread (stat; a thread asleep since its last read: schedstat), one read, and, when")
    t.text("blocking, one stop of the thread(s) that must stop (stop1's tracer CPU).  These are")
    t.text("the 'floor' figures of the targets below.")

    # Cost per sample.
    t.section("Cost per sample: one busy thread, %d Hz for %g s, profiler user+sys CPU (wait4) / samples"
              % (P["cost_rate"], P["cost_seconds"]),
              "raw = all CPU / samples (as asked); steady = (CPU - CPU of attach-only runs on the same\n"
              "target and mode, median of %d) / (samples - their samples).  'nonblk --idle': without the\n"
              "OS state read per thread.  Multiples are of the steady figure. 'seen' = frames in the\n"
              "heaviest profiled stack." % P["cost_attach_repeats"])
    t.header(["interpreter", "depth", "mode", "samples", "late", "fail", "seen", "raw us",
              "steady us", "x read", "x stop1", "target"],
             [-20, 5, -13, 7, 5, 4, 4, 8, 9, 7, 7, -30])
    for row in res["cost"]:
        if "na" in row:
            t.row([row["interp"], row["depth"], row["mode"], "", "", "", "", "", "", "", "",
                   "N.A. " + row["na"].split(" (")[0]])
            continue
        tgt = ""
        v = tuple(int(x) for x in row["version"].split("."))
        if row["depth"] == 30 and v >= (3, 11) and row["mode"] == "nonblocking":
            limit = 4 * read
            ok = row["steady_us"] <= limit
            tgt = "%s <= 4 reads (%.1f us)" % (verdict(ok), limit)
            idle = next((x for x in res["cost"] if x["interp"] == row["interp"]
                         and x["depth"] == 30 and x["mode"] == "nonblk --idle"), None)
            targets.append(judge("non-blocking, depth 30, %s: <= 4x read" % row["interp"],
                                 row["steady_us"], limit, read,
                                 [("wake", wake), ("stat", stat), ("1 read", read)],
                                 "with --idle (no state read) %s us" %
                                 f(idle and idle.get("steady_us"))))
        if row["depth"] == 30 and v >= (3, 11) and row["mode"] == "blocking":
            limit = stop1 + 4 * read
            ok = row["steady_us"] <= limit
            tgt = "%s <= stop1+4 reads (%.1f us)" % (verdict(ok), limit)
            targets.append(judge("blocking, depth 30, %s: <= stop1 + 4x read" % row["interp"],
                                 row["steady_us"], limit, read,
                                 [("wake", wake), ("stat", stat), ("stop1 CPU", stop1_cpu),
                                  ("1 read", read)]))
        if row["frames_seen"] != row["depth"]:
            tgt = (tgt + " " if tgt else "") + "(depth seen %d!)" % row["frames_seen"]
        t.row([row["interp"], row["depth"], row["mode"], row["taken"], row["late"], row["failed"],
               row["frames_seen"], f(row["raw_us"]), f(row["steady_us"]),
               mult(row["steady_us"], read), mult(row["steady_us"], stop1), tgt])
    if not native:
        targets.append(("--native, depths %s" % ", ".join(map(str, NATIVE_DEPTHS)), None,
                        "not available yet (pyspy-c record has no --native)"))

    # Native merge.
    nm = res.get("native_merge") or []
    if nm:
        t.section("Native merge: --native for %g s on tests/native/%s"
                  % (P["native_merge_seconds"],
                     "; ".join("%s at %d Hz (%s)" % (w, rate, what)
                               for w, _, rate, what in NATIVE_MERGE_WORKLOADS)),
                  "thread samples whose C stack and Python stack merged, from the -v summary;"
                  " 'cut' merged with the C stack cut short")
        t.header(["workload", "interpreter", "samples", "stacks", "merged", "cut", "failed",
                  "merged %", "CPU us/sample", "target"], [-9, -20, 8, 8, 8, 6, 7, 9, 14, 7])
        for row in nm:
            wl = row.get("workload", "mixed.py")
            share = 100.0 * (row["merged"] or 0) / max(row["stacks"] or 1, 1)
            if wl == "churn.py":
                ok = bool(row["stacks"]) and share >= NATIVE_CHURN_MIN
                targets.append(("--native merged >= %g%% under thread churn, %s"
                                % (NATIVE_CHURN_MIN, row["interp"]), ok,
                                "%s of %s merged (%.2f%%), %s failed" % (
                                    row["merged"], row["stacks"], share, row["failed"])))
            else:
                ok = bool(row["stacks"]) and row["failed"] == 0
                targets.append(("--native merge failures = 0, %s" % row["interp"],
                                ok, "%s of %s merged, %s failed" % (
                                    row["merged"], row["stacks"], row["failed"])))
            t.row([wl, row["interp"], row["taken"], row["stacks"], row["merged"], row["partial"],
                   row["failed"], f(share, "%.2f"), f(row["cpu_us"]), "PASS" if ok else "FAIL"])

    # Threads.
    th = res["threads"]
    t.section("Threads: %d threads (%d busy, the rest sleeping or blocked on a lock), 100 Hz blocking, %s"
              % (th["threads"] or THREADS_TOTAL, th["busy"], th["interp"]),
              "%d interleaved pairs of the same work (%.2f s unprofiled), ratio profiled/unprofiled"
              % (th["n"], th["plain_median_s"]))
    t.header(["figure", "value", "x read", "x stop1", "x stopN"], [-46, 26, 8, 8, 8])
    t.row(["cost per sample, raw (all CPU / samples)", "%.1f us" % th["per_sample_us"],
           mult(th["per_sample_us"], read), mult(th["per_sample_us"], stop1),
           mult(th["per_sample_us"], stopN)])
    t.row(["cost per sample, steady (attach CPU taken off)", "%.1f us" % th["steady_us"],
           mult(th["steady_us"], read), mult(th["steady_us"], stop1), mult(th["steady_us"], stopN)])
    t.row(["samples taken / late / failed", "%d / %d / %d" % (th["taken"], th["late"], th["failed"]),
           "", "", ""])
    slow_pct = (th["median"] - 1) * 100
    t.row(["target slowdown, median [IQR] (95% CI)",
           "%+.2f%% [%+.2f..%+.2f] (+-%.2f)" % (slow_pct, (th["q1"] - 1) * 100,
                                               (th["q3"] - 1) * 100, th["ci95"] * 100), "", "", ""])
    t.row(["  min..max of the ratios", "%+.2f%%..%+.2f%%" % ((th["min"] - 1) * 100,
                                                        (th["max"] - 1) * 100), "", "", ""])
    t.row(["target time lost per sample", "%s us" % f(th["lost_per_sample_us"]),
           mult(th["lost_per_sample_us"], read), mult(th["lost_per_sample_us"], stop1),
           mult(th["lost_per_sample_us"], stopN)])
    limit = stop1 + 4 * read
    nthr = th["threads"] or THREADS_TOTAL
    targets.append(judge("blocking, %d threads (%d busy): <= stop1 + 4x read (*)"
                         % (nthr, th["busy"]), th["steady_us"], limit, read,
                         [("wake", wake), ("%d stat" % th["busy"], th["busy"] * fl["stat_group"]),
                          ("%d schedstat" % (nthr - th["busy"]),
                           (nthr - th["busy"]) * fl["schedstat_group"]),
                          ("stop1 CPU", stop1_cpu), ("1 read", read)]))
    ok = slow_pct <= 3.0
    targets.append(("50 threads, 4 busy, 100 Hz blocking: slowdown <= 3%", ok,
                    "%+.2f%% (IQR %+.2f..%+.2f%%)" % (slow_pct, (th["q1"] - 1) * 100,
                                                     (th["q3"] - 1) * 100)))

    # Sustained rate.
    t.section("Sustained rate: non-blocking, depth 30, %s, %g s each"
              % (res["sustained"][0]["interp"], P["sustained_seconds"]),
              "taken / asked, asked = rate x elapsed; CPU per sample at that rate.\n"
              "A sleep here ends %.0f us after its deadline (floor: wake): when less time than\n"
              "that is left, pyspy-c spins instead, so above some kHz it uses a whole CPU."
              % fl["wake_late"])
    t.header(["asked Hz", "taken", "asked", "taken/asked", "late", "failed", "us/sample",
              "x read", "target"], [8, 8, 8, 11, 7, 6, 9, 7, -22])
    for row in res["sustained"]:
        tg = ""
        if row["rate"] >= 10000:
            ok = row["ratio"] >= 0.95
            tg = "%s >= 95%%" % verdict(ok)
            targets.append(("%d kHz asked, non-blocking, depth 30: >= 95%% taken"
                            % (row["rate"] // 1000), ok,
                            "%.1f%% taken; %.1f us CPU per sample, period %.0f us"
                            % (row["ratio"] * 100, row["per_sample_us"], 1e6 / row["rate"])))
        t.row([row["rate"], row["taken"], "%.0f" % row["asked"], "%.1f%%" % (row["ratio"] * 100),
               row["late"], row["failed"], f(row["per_sample_us"]), mult(row["per_sample_us"], read),
               tg])

    # Target slowdown.
    t.section("Target slowdown: fixed CPU-bound work (work.py), blocking, %s"
              % res["slowdown"][0]["interp"],
              "interleaved pairs (order alternating), ratio = profiled / unprofiled elapsed time\n"
              "measured inside the target (monotonic clock); 95% CI of the median = McGill notch\n"
              "(1.58 IQR / sqrt(n)); 1% resolved: the CI is at most +-0.5%;\n"
              "lost/sample = target time lost per sample taken")
    t.header(["rate Hz", "pairs", "run s", "median", "IQR", "min..max", "95% CI",
              "1% resolved", "lost/sample", "x stop1"], [7, 5, 6, 8, 17, 17, 8, 11, 11, 7])
    for row in res["slowdown"]:
        t.row([row["rate"], row["n"], "%.2f" % row["plain_median_s"],
               "%+.2f%%" % ((row["median"] - 1) * 100),
               "%+.2f..%+.2f%%" % ((row["q1"] - 1) * 100, (row["q3"] - 1) * 100),
               "%+.2f..%+.2f%%" % ((row["min"] - 1) * 100, (row["max"] - 1) * 100),
               "+-%.2f%%" % (row["ci95"] * 100), "yes" if row["ci95"] <= 0.005 else "no",
               "%s us" % f(row["lost_per_sample_us"]), mult(row["lost_per_sample_us"], stop1)])

    # Accuracy.
    t.section("Accuracy: hot_a/hot_b share the CPU %d/%d (split.py), %d Hz blocking for %g s"
              % (ACCURACY_FRACTION * 100, 100 - ACCURACY_FRACTION * 100, ACCURACY_RATE,
                 P["accuracy_seconds"]),
              "truth = the CPU time (process_time) each function measured itself during the\n"
              "profiled run (pyspy-c's counts approximate CPU time); wall = the same by perf_counter;\n"
              "unprofiled = the CPU split of a run just before, without pyspy-c.\n"
              "error = |profile - truth|.  The %.3f ms alternation period is not a multiple of\n"
              "the sampling period, so samples sweep all its phases." % ACCURACY_PERIOD_MS)
    t.header(["interpreter", "truth a%", "wall a%", "unprofiled a%", "profile a%",
              "samples a/b", "error pp", "target"], [-20, 8, 8, 13, 10, 13, 8, -6])
    for row in res["accuracy"]:
        ok = row["error_pp"] is not None and row["error_pp"] <= 1.0
        targets.append(("accuracy <= 1 pp, %s" % row["interp"], ok,
                        "%s pp" % f(row["error_pp"], "%.2f")))
        t.row([row["interp"], "%.2f" % (row["truth"] * 100), "%.2f" % (row["truth_wall"] * 100),
               "%.2f" % (row["unprofiled"] * 100),
               f(row["profile"] and row["profile"] * 100, "%.2f"),
               "%d/%d" % (row["samples_a"], row["samples_b"]), f(row["error_pp"], "%.2f"),
               verdict(ok)])

    # Attach latency.
    t.section("Attach latency: pyspy-c record -v --rate 1000 --duration 0.001, depth-30 busy target",
              "All from the launch (posix_spawn) of pyspy-c; median [min-max] of %d launches\n"
              "on the same target (files in the page cache).\n"
              "ready:      its -v line 'pyspy-c: pid N: ...' read on its stderr: attached, interpreter\n"
              "            found; sampling starts right after it.\n"
              "first stop: the end of the first stop (>%d us without running, with a voluntary context\n"
              "            switch) the target saw on its own clock (gaps.py): the first sample of a\n"
              "            blocking profiler.  'stops': how many per launch (sample(s) + detach).\n"
              "exit-1ms:   until pyspy-c exited, minus the 1 ms duration: attach, first sample,\n"
              "            detach, output and exit: an upper bound of the first sample.\n"
              "The target is judged on 'first stop' (blocking) and on 'exit-1ms' (non-blocking)."
              % (P["attach_repeats"], GAP_THRESHOLD_US))
    t.header(["interpreter", "mode", "ready us", "first stop us", "exit-1ms us", "stops",
              "attach CPU us", "target"], [-20, -11, 17, 17, 17, 5, 13, -6])

    def span(v):
        v = [x for x in v if x is not None]
        if not v:
            return "-"
        return "%.0f [%.0f-%.0f]" % (statistics.median(v), min(v), max(v))

    for row in res["attach"]:
        rd, ex, fs = row["ready_us"], row["exit_us"], row["first_stop_us"]
        stops = statistics.median(len(g) for g in row["gaps"])
        if row["mode"] == "blocking" and not row.get("unclassified"):
            got = [x for x in fs if x is not None]
            judged = statistics.median(got) if got else None
            what = "first stop"
        elif row["mode"] == "blocking":
            # The workload could not tell stops from preemption: the upper bound.
            judged, what = statistics.median(ex), "no stop count in this Python: exit-1ms"
        else:
            judged, what = statistics.median(ex), "exit-1ms"
        ok = judged is not None and judged <= 10000
        t.row([row["interp"], row["mode"], span(rd), span(fs), span(ex), "%g" % stops,
               "%.0f" % statistics.median(row["cpu_us"]), verdict(ok)])
        targets.append(("first sample <= 10 ms after launch, %s %s" % (row["interp"], row["mode"]),
                        ok, "%s %s ms (ready %.1f ms)"
                        % (what, f(judged and judged / 1e3), statistics.median(rd) / 1e3)))

    # Memory.
    m = res["memory"]
    t.section("Memory: %s, %d Hz blocking for %g s, %d distinct stacks walked in turn (stacks.py)"
              % (m["interp"], m["rate"], m["seconds"], m["paths"] or 0),
              "pyspy-c run through bench/rusage (a fresh process: ru_maxrss from wait4 is its own);\n"
              "VmRSS read from /proc every %g s while it records; the peak can come after the\n"
              "recording, while the profile is written.%s" % (
                  P["memory_poll_seconds"],
                  "" if m["seconds"] == m["asked_seconds"] else
                  "\nSHORTENED from %g s to keep the run under 15 minutes." % m["asked_seconds"]))
    t.header(["figure", "value"], [-44, 60])
    t.row(["peak RSS (ru_maxrss)", "%.2f MB (%d KiB)" % (m["maxrss_kb"] / 1024, m["maxrss_kb"])])
    t.row(["VmRSS while recording: first / last / max", "%s / %s / %s KiB"
           % (m["rss_first_kb"], m["rss_last_kb"], m["rss_max_kb"])])
    t.row(["VmRSS growth over the second half", "%s KiB" % m["second_half_growth_kb"]])
    t.row(["samples taken / late / failed", "%d / %d / %d" % (m["taken"], m["late"], m["failed"])])
    t.row(["distinct stacks in the profile", "%d (the workload has %s)"
           % (m["distinct_stacks"], m["paths"])])
    if m["bound"]:
        t.row(["bound on distinct stacks (from the summary)", "%d" % m["bound"]])
        t.row(["samples merged into the pruned stack", "%d (summary) / %s (in the profile)"
               % (m["pruned_samples"], m["marker_samples"])])
    else:
        t.row(["bound on distinct stacks / pruning",
               "; ".join(m["pruning_reported"]) or "nothing reported in the summary"])
    ok = m["maxrss_kb"] <= 8 * 1024
    targets.append(("memory test: peak RSS <= 8 MB", ok, "%.2f MB (while recording: max %s KiB)"
                    % (m["maxrss_kb"] / 1024, m["rss_max_kb"])))
    # Flat "once the stack set is known": the bound was reached (stacks come
    # and go by pruning, memory must not) or every stack of the workload was
    # seen.  A run too short for either cannot tell.
    known = m["bound"] or (m["paths"] and m["distinct_stacks"] >= m["paths"])
    flat = m["second_half_growth_kb"] is not None and m["second_half_growth_kb"] <= 64
    if known:
        targets.append(("memory test: VmRSS flat over the second half (growth <= 64 KiB)",
                        flat, "%s KiB" % m["second_half_growth_kb"]))
    else:
        targets.append(("memory test: VmRSS flat over the second half (growth <= 64 KiB)",
                        None, "stack set not known in this run (%d of %s stacks seen, bound not "
                        "reached): %s KiB growth, not judged"
                        % (m["distinct_stacks"], m["paths"], m["second_half_growth_kb"])))
    if m["bound"]:
        ok = m["distinct_stacks"] <= m["bound"] + 1 and m["pruned_samples"] > 0
        targets.append(("memory test: bound on distinct stacks holds, pruning reported", ok,
                        "%d stacks written, bound %d; %d samples pruned, reported"
                        % (m["distinct_stacks"], m["bound"], m["pruned_samples"])))
    else:
        targets.append(("memory test: bound on distinct stacks holds, pruning reported", None,
                        "no pruning reported: %d distinct stacks kept (no bound, or not reached)"
                        % m["distinct_stacks"]))

    # Targets.
    t.section("Targets (this machine, %d CPUs), each checked against the floor of this run"
              % os.cpu_count(),
              "cost targets use the steady cost per sample.  (*) one thread had to stop: the GIL\n"
              "lets one of the 4 busy threads run Python at a time, and pyspy-c stops its holder\n"
              "(and, right after the GIL changed hands, the running threads); stopN (all 50) is in\n"
              "the threads table for comparison.  NOT REACHABLE HERE: the machine's floor for that\n"
              "sample (first table) alone exceeds the limit.")
    t.header(["target", "result", "figures"], [-72, 6, -50])
    for name, ok, figs in targets:
        t.row([name, "N.A." if ok is None else verdict(ok), figs])
    res["targets"] = [{"target": n, "result": "N.A." if ok is None else verdict(ok), "figures": fg}
                      for n, ok, fg in targets]
    noisy = sorted(k for k, v in res.get("foreign_load", {}).items() if v["other_pct"] > 10)
    if noisy:
        t.text("")
        t.text("WARNING: other processes used more than 10%% of the machine during: %s."
               % ", ".join("%s (%.0f%%)" % (k, res["foreign_load"][k]["other_pct"]) for k in noisy))
        t.text("Timing figures of those sections are unreliable; run again on a quiet machine.")
    return "\n".join(t.lines)


# -------------------------------------------------------------------- main

def main():
    t_start = T_START
    os.sched_setaffinity(0, {TRACER_CPU})
    if not os.access(PYSPY, os.X_OK):
        raise BenchError("no %s: run make" % PYSPY)
    for tool in (FLOOR, RUSAGE):
        if not os.access(tool, os.X_OK):
            raise BenchError("no %s: run bench/run" % tool)
    if os.cpu_count() < 2:
        raise BenchError("needs 2 CPUs (profiler and target pinned apart)")
    os.makedirs(OUT, exist_ok=True)

    interps = find_interpreters()
    wanted = os.environ.get("BENCH_PYTHONS")
    if wanted:
        ids = [w.strip() for w in wanted.split(",") if w.strip()]
        interps = [i for i in interps if i.id in ids]
    elif QUICK:
        quick = ("pyenv-2.7", "pyenv-3.12", "chroot-sid-3.14")
        interps = [i for i in interps if i.id in quick]
    if not interps:
        raise BenchError("no interpreter found")
    ref_id = os.environ.get("BENCH_REF", "pyenv-3.12")
    ref = next((i for i in interps if i.id == ref_id), None)
    if ref is None:
        ref = next((i for i in find_interpreters() if i.id == ref_id), interps[-1])
    native = native_available()
    log("interpreters: %s; reference %s; --native %s; %s run"
        % (", ".join(i.id for i in interps), ref.id, "available" if native else "not available yet",
           "quick" if QUICK else "full"))

    res = {"quick": QUICK, "machine": {"cpus": os.cpu_count(), "kernel": os.uname().release},
           "pyspy_c": PYSPY, "params": P, "interpreters": [
               {"id": i.id, "version": i.vstr, "argv": i.argv} for i in interps],
           "reference": ref.id, "native_available": native, "timings": {}}
    stage_chroots(interps + [ref])
    try:
        sections = [
            ("floor", lambda: section_floor(res)),
            ("cost", lambda: section_cost_attach(interps, native, res)),
            ("accuracy", lambda: section_accuracy(interps, res)),
            ("sustained", lambda: section_sustained(ref, res)),
            ("threads", lambda: section_threads(ref, res)),
            ("slowdown", lambda: section_slowdown(ref, res)),
            ("native merge", lambda: section_native_merge(interps, ref, res)),
            ("memory", lambda: section_memory(ref, res)),  # last: long, runs alone
        ]
        fl = None
        res["foreign_load"] = {}
        for name, fn in sections:
            t0 = time.monotonic()
            l0 = load_snapshot()
            out = fn()
            if name == "floor":
                fl = out
            other, steal = foreign_load(l0, load_snapshot())
            res["timings"][name] = round(time.monotonic() - t0, 1)
            res["foreign_load"][name] = {"other_pct": round(other, 1), "steal_pct": round(steal, 1)}
            log("%s done in %.1f s (other load %.0f%%, steal %.0f%%)"
                % (name, res["timings"][name], other, steal))
            if other > 10:
                log("warning: other processes used %.0f%% of the machine during %s: "
                    "its figures are unreliable" % (other, name))
    finally:
        kill_all()
        unstage_chroots(interps + [ref])
    res["floor_us"] = fl
    text = report(res, fl, interps, native)
    total = time.monotonic() - t_start
    res["timings"]["total"] = round(total, 1)
    head = ("pyspy-c benchmarks (%s run, %s); interpreters: %s\n"
            "section times (s): %s\n"
            "CPU used by other processes during each section, %% of the machine (steal): %s"
            % ("quick" if QUICK else "full", time.strftime("%Y-%m-%d %H:%M:%S"),
               ", ".join(i.id for i in interps),
               ", ".join("%s %g" % kv for kv in res["timings"].items()),
               ", ".join("%s %.0f%% (%.0f%%)" % (k, v["other_pct"], v["steal_pct"])
                         for k, v in res["foreign_load"].items())))
    text = head + "\n" + text + "\n"
    path = os.path.join(OUT, "results.json")
    with open(path, "w") as fh:
        json.dump(res, fh, indent=1, sort_keys=True)
    with open(os.path.join(OUT, "results.txt"), "w") as fh:
        fh.write(text)
    sys.stdout.write(text)
    sys.stdout.write("\nJSON: %s\n" % path)
    return 0


def on_signal(signum, frame):
    raise KeyboardInterrupt


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, on_signal)
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        kill_all()
        log("interrupted")
        sys.exit(130)
    except BenchError as e:
        kill_all()
        log("error: %s" % e)
        sys.exit(1)
