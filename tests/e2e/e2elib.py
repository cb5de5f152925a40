"""Helpers for the end-to-end tests: processes, the profiler, folded output.

Python 3.11 standard library only.
"""

import errno
import json
import os
import re
import select
import signal
import subprocess
import tempfile
import time

from interpreters import REPO


def binary():
    return os.environ.get("PYSPY_C") or os.path.join(REPO, "pyspy-c")


def require_binary():
    path = binary()
    assert os.path.isfile(path) and os.access(path, os.X_OK), (
        "profiler binary %s not found or not executable (build it with `make`, or set PYSPY_C)" % path
    )
    return path


def target_env():
    """Environment for targets: no PYTHON* settings leaking in, no .pyc written."""
    env = dict((k, v) for k, v in os.environ.items() if not k.startswith("PYTHON"))
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    env["LC_ALL"] = "C"
    return env


# --------------------------------------------------------------------------
# processes


def alive(pid):
    """True while pid exists and is not a zombie."""
    try:
        return proc_state(pid) not in ("Z", "X")
    except (IOError, OSError):
        return False


def proc_state(pid, tid=None):
    path = "/proc/%d/stat" % pid if tid is None else "/proc/%d/task/%d/stat" % (pid, tid)
    with open(path) as f:
        data = f.read()
    return data[data.rindex(")") + 2:].split()[0]


def task_states(pid):
    """{tid: state letter} for every thread of pid."""
    out = {}
    for name in os.listdir("/proc/%d/task" % pid):
        try:
            out[int(name)] = proc_state(pid, int(name))
        except (IOError, OSError):
            pass  # thread just exited
    return out


def task_comm(pid, tid):
    try:
        with open("/proc/%d/task/%d/comm" % (pid, tid)) as f:
            return f.read().rstrip("\n")
    except (IOError, OSError):
        return None


def ppid_of(pid):
    """The parent pid of pid, or None if it is gone."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            data = f.read()
    except (IOError, OSError):
        return None
    return int(data[data.rindex(")") + 2:].split()[1])


def children_of(pid):
    """Pids whose parent is pid (from /proc/PID/task/*/children, else a /proc scan)."""
    kids = []
    try:
        for tid in os.listdir("/proc/%d/task" % pid):
            with open("/proc/%d/task/%s/children" % (pid, tid)) as f:
                kids.extend(int(x) for x in f.read().split())
        return sorted(kids)
    except (IOError, OSError):
        pass
    for name in os.listdir("/proc"):
        if name.isdigit() and ppid_of(int(name)) == pid:
            kids.append(int(name))
    return sorted(kids)


def ns_tid_map(pid):
    """{tid in the target's innermost PID namespace: host tid} for every thread of pid,
    from the NSpid: lines of /proc/PID/task/*/status."""
    out = {}
    for name in os.listdir("/proc/%d/task" % pid):
        try:
            with open("/proc/%d/task/%s/status" % (pid, name)) as f:
                for line in f:
                    if line.startswith("NSpid:"):
                        ids = [int(x) for x in line.split()[1:]]
                        assert ids[0] == int(name), (name, line)
                        out[ids[-1]] = ids[0]
        except (IOError, OSError):
            pass  # thread just exited
    return out


def tracer_pid(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("TracerPid:"):
                return int(line.split()[1])
    return 0


def assert_not_harmed(pid, what="target"):
    """No thread of pid stopped (t: a ptrace stop, T: job control), none traced.  A thread
    caught for a moment in D (a page fault, creating or ending a thread: seen once on the
    churn workload in its PID namespace) or ending (Z, X) is running its own course."""
    assert alive(pid), "%s %d is gone (state %s)" % (what, pid, _state_or_none(pid))
    states = task_states(pid)
    bad = dict((tid, st) for tid, st in states.items() if st in ("t", "T"))
    assert not bad, "%s %d has stopped threads (t/T): %s" % (what, pid, bad)
    tp = tracer_pid(pid)
    assert tp == 0, "%s %d is still traced by pid %d" % (what, pid, tp)


def _state_or_none(pid):
    try:
        return proc_state(pid)
    except (IOError, OSError):
        return None


class Processes(object):
    """Every process a test starts; all are ended by pid (SIGKILL + wait) at teardown."""

    def __init__(self):
        self.procs = []
        self.cleanups = []
        self.children = []  # (parent Popen, pid): grandchildren, e.g. a namespace's init

    def kill_child_of(self, parent, pid):
        """At teardown, SIGKILL pid (a child of the Popen parent) before anything else.

        Used for the PID-namespace init a container scenario starts: it ignores
        every signal but SIGKILL.  It is killed only while still an unreaped child
        of parent, so its pid cannot have been reused.
        """
        self.children.append((parent, pid))

    def start(self, argv, **kw):
        kw.setdefault("stdin", subprocess.DEVNULL)
        p = subprocess.Popen(argv, **kw)
        self.procs.append(p)
        return p

    def add_cleanup(self, fn):
        self.cleanups.append(fn)

    def cleanup(self):
        for parent, pid in reversed(self.children):
            if parent.poll() is None and ppid_of(pid) == parent.pid:
                try:
                    os.kill(pid, signal.SIGKILL)
                except OSError as e:
                    if e.errno != errno.ESRCH:
                        raise
        # last started first: tracers (strace) end before the processes they trace
        for p in reversed(self.procs):
            if p.poll() is None:
                try:
                    os.kill(p.pid, signal.SIGKILL)
                except OSError as e:
                    if e.errno != errno.ESRCH:
                        raise
            try:
                p.wait(timeout=30)
            except subprocess.TimeoutExpired:
                pass
        for fn in reversed(self.cleanups):
            fn()


def wait_readable(fd, timeout):
    r, _, _ = select.select([fd], [], [], timeout)
    return bool(r)


def read_exactly(fd, n, timeout, what="data"):
    """Read n bytes from fd, failing after timeout seconds in all."""
    deadline = time.monotonic() + timeout
    buf = b""
    while len(buf) < n:
        left = deadline - time.monotonic()
        if left <= 0 or not wait_readable(fd, left):
            raise AssertionError("timed out after %.1fs waiting for %s (got %r)" % (timeout, what, buf))
        chunk = os.read(fd, n - len(buf))
        if not chunk:
            raise AssertionError("EOF while waiting for %s (got %r)" % (what, buf))
        buf += chunk
    return buf


def read_line(fd, timeout, what="a line"):
    deadline = time.monotonic() + timeout
    buf = b""
    while not buf.endswith(b"\n"):
        left = deadline - time.monotonic()
        if left <= 0 or not wait_readable(fd, left):
            raise AssertionError("timed out after %.1fs waiting for %s (got %r)" % (timeout, what, buf))
        c = os.read(fd, 1)
        if not c:
            raise AssertionError("EOF while waiting for %s (got %r)" % (what, buf))
        buf += c
    return buf.decode()


def file_text(path):
    try:
        with open(path, "rb") as f:
            return f.read().decode("utf-8", "replace")
    except (IOError, OSError):
        return ""


# --------------------------------------------------------------------------
# workloads


class Workload(object):
    """A running workload, its pid, pipes and (for ground_truth.py) its ground truth."""

    def __init__(self, interp, proc, log_path):
        self.interp = interp
        self.proc = proc
        self.pid = proc.pid  # the target as seen from the host (profiler)
        self.log_path = log_path
        self.truth = None
        self.comm = {}
        self.ns_tids = {}  # container: {host tid: namespace-local tid}

    def find_target(self, procs):
        """Set self.pid to the interpreter process.  For a container scenario that is
        the only child of unshare; it is SIGKILLed by its host pid at teardown."""
        if self.interp.launch != "container":
            return
        kids = children_of(self.proc.pid)
        assert len(kids) == 1, "unshare %d has children %s, expected exactly one (the python)" % (
            self.proc.pid, kids)
        self.pid = kids[0]
        procs.kill_child_of(self.proc, self.pid)

    def log(self):
        return file_text(self.log_path)

    def state(self):
        """For a failure message: is the target still there, and what did it print."""
        rc = self.proc.poll()
        try:
            with open("/proc/%d/stat" % self.pid) as f:
                stat = f.read().rsplit(")", 1)[1].split()[0]
        except (IOError, OSError) as e:
            stat = "gone (%s)" % e.strerror
        return "--- workload %s pid %d: %s, /proc state %s; its output ---\n%s" % (
            self.interp.id, self.pid, "running" if rc is None else "exited %s" % rc, stat,
            self.log()[-3000:])

    def check_is_interpreter(self):
        """The pid we profile is the interpreter itself (not a shim, not chroot)."""
        exe = os.path.realpath("/proc/%d/exe" % self.pid)
        want = os.path.realpath(self.interp.path)
        assert exe == want, "pid %d runs %s, expected the interpreter %s" % (self.pid, exe, want)


def start_ground_truth(procs, interp, tmpdir, timeout=60, script="ground_truth.py", args=()):
    """Start workloads/SCRIPT ARGS... TRUTH READY_FD CONTROL_FD (ground_truth.py by
    default) and wait until it reported its ground truth."""
    wldir = interp.stage_workloads(tmpdir)
    t_dir, h_dir = interp.target_tmpdir(str(tmpdir))
    if interp.chroot:
        procs.add_cleanup(lambda: _rmtree(h_dir))
    ready_r, ready_w = os.pipe()
    ctl_r, ctl_w = os.pipe()
    log_path = os.path.join(str(tmpdir), script.replace(".py", ".log"))
    with open(log_path, "wb") as log:
        p = procs.start(
            interp.command(wldir + "/" + script, *(list(args) + [t_dir + "/truth.json", ready_w, ctl_r])),
            pass_fds=[ready_w, ctl_r], env=target_env(), stdout=log, stderr=log, cwd="/",
        )
    os.close(ready_w)
    os.close(ctl_r)
    procs.add_cleanup(lambda: _close(ready_r, ctl_w))
    w = Workload(interp, p, log_path)
    w.control_fd = ctl_w
    w.host_truth = os.path.join(h_dir, "truth.json")  # where the host reads what it writes
    if not wait_readable(ready_r, timeout) or os.read(ready_r, 1) != b"R":
        raise AssertionError(
            "workload %s did not become ready (exit %s):\n%s" % (interp.id, p.poll(), w.log())
        )
    w.find_target(procs)
    with open(os.path.join(h_dir, "truth.json")) as f:
        w.truth = json.load(f)
    if interp.launch == "container":
        _to_host_tids(w)
    else:
        assert w.truth["pid"] == p.pid, (
            "workload pid %s != Popen pid %s (chroot must exec python)" % (w.truth["pid"], p.pid))
    w.check_is_interpreter()
    assert tuple(w.truth["version"]) == interp.version
    for t in w.truth["threads"] + w.truth["excluded"]:
        if t["native_id"]:
            w.comm[t["native_id"]] = task_comm(w.pid, t["native_id"])
    return w


def _to_host_tids(w):
    """Container: the workload reported namespace-local pid and tids; map them to host ids
    (what the profiler, in the host namespace, must print) through NSpid."""
    ns_to_host = ns_tid_map(w.pid)
    assert w.truth["pid"] == 1, "the container's python has pid %s in its namespace, expected 1" % (
        w.truth["pid"],)
    assert ns_to_host.get(1) == w.pid, "NSpid of %d does not map namespace pid 1 to it: %s" % (
        w.pid, ns_to_host)
    w.truth["ns_pid"] = w.truth["pid"]
    w.truth["pid"] = w.pid
    for t in w.truth["threads"] + w.truth["excluded"]:
        ns = t["native_id"]
        assert ns in ns_to_host, "thread %r: namespace tid %s not among the target's threads %s" % (
            t["name"], ns, ns_to_host)
        t["ns_native_id"] = ns
        t["native_id"] = ns_to_host[ns]
        w.ns_tids[ns_to_host[ns]] = ns


class HarmTarget(Workload):
    def send(self, cmd):
        os.write(self.cmd_fd, cmd)

    def ping(self, timeout=5):
        self.send(b"p")
        assert read_exactly(self.reply_fd, 1, timeout, "ping reply from target") == b"p"


def start_harm_target(procs, interp, tmpdir, mode, timeout=60):
    wldir = interp.stage_workloads(tmpdir)
    cmd_r, cmd_w = os.pipe()
    reply_r, reply_w = os.pipe()
    log_path = os.path.join(str(tmpdir), "harm_target.log")
    with open(log_path, "wb") as log:
        p = procs.start(
            interp.command(wldir + "/harm_target.py", mode, cmd_r, reply_w),
            pass_fds=[cmd_r, reply_w], env=target_env(), stdout=log, stderr=log, cwd="/",
        )
    os.close(cmd_r)
    os.close(reply_w)
    procs.add_cleanup(lambda: _close(cmd_w, reply_r))
    w = HarmTarget(interp, p, log_path)
    w.cmd_fd = cmd_w
    w.reply_fd = reply_r
    try:
        line = read_line(reply_r, timeout, "ready from harm target")
    except AssertionError as e:
        raise AssertionError("%s (exit %s):\n%s" % (e, p.poll(), w.log()))
    assert line == "ready\n", line
    w.check_is_interpreter()
    return w


def _close(*fds):
    for fd in fds:
        try:
            os.close(fd)
        except OSError:
            pass


def _rmtree(path):
    import shutil
    shutil.rmtree(path, ignore_errors=True)


# --------------------------------------------------------------------------
# the profiler


class Run(object):
    def __init__(self, argv, rc, out, err, env=None):
        self.env = env
        self.argv = argv
        self.rc = rc
        self.out = out
        self.err = err

    def describe(self):
        env = " ".join("%s=%s" % (k, v) for k, v in sorted((self.env or {}).items())
                       if k.startswith("PYSPY_C"))
        return "$ %s%s\nexit %s\n--- stderr ---\n%s--- stdout (first 3000 chars) ---\n%s" % (
            env + " " if env else "", " ".join(self.argv), self.rc, self.err, self.out[:3000])


def profiler_env(interp):
    """The profiler's environment for a scenario: ours, without PYSPY_C_FIND unless the
    scenario sets it."""
    env = dict((k, v) for k, v in os.environ.items() if k != "PYSPY_C_FIND")
    env.update(interp.profiler_env)
    return env


def run_profiler(tmpdir, args, timeout=60, prefix=(), binary_path=None, env=None):
    """Run pyspy-c ARGS to completion; stdout and stderr go through files."""
    argv = list(prefix) + [binary_path or require_binary()] + [str(a) for a in args]
    out_path = tempfile.mktemp(prefix="prof-out-", dir=str(tmpdir))
    err_path = tempfile.mktemp(prefix="prof-err-", dir=str(tmpdir))
    with open(out_path, "wb") as out, open(err_path, "wb") as err:
        p = subprocess.Popen(argv, stdout=out, stderr=err, stdin=subprocess.DEVNULL, env=env)
        try:
            rc = p.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.kill(p.pid, signal.SIGKILL)
            p.wait()
            raise AssertionError("profiler did not finish within %ss: %s\n%s" % (
                timeout, " ".join(argv), file_text(err_path)))
    return Run(argv, rc, file_text(out_path), file_text(err_path), env=env)


class Background(object):
    """A profiler running in the background; stdout/stderr go to files."""

    def __init__(self, procs, tmpdir, args, **kw):
        self.argv = [require_binary()] + [str(a) for a in args]
        self.out_path = tempfile.mktemp(prefix="prof-out-", dir=str(tmpdir))
        self.err_path = tempfile.mktemp(prefix="prof-err-", dir=str(tmpdir))
        with open(self.out_path, "wb") as out, open(self.err_path, "wb") as err:
            self.proc = procs.start(self.argv, stdout=out, stderr=err, **kw)
        self.pid = self.proc.pid

    def still_running_after(self, seconds):
        """Wait up to `seconds` for the profiler to exit; fail if it did."""
        try:
            rc = self.proc.wait(timeout=seconds)
        except subprocess.TimeoutExpired:
            return
        raise AssertionError("profiler exited early:\n" + self.result(rc).describe())

    def wait(self, timeout=30):
        try:
            rc = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.kill(self.pid, signal.SIGKILL)
            self.proc.wait()
            raise AssertionError("profiler %s did not exit within %ss:\n%s" % (
                " ".join(self.argv), timeout, file_text(self.err_path)))
        return self.result(rc)

    def result(self, rc):
        return Run(self.argv, rc, file_text(self.out_path), file_text(self.err_path))


def assert_error(run, code, pattern=None):
    """Exit code `code` and exactly one error line `pyspy-c: <message>` on stderr."""
    assert run.rc == code, "expected exit %d\n%s" % (code, run.describe())
    lines = run.err.splitlines()
    assert len(lines) == 1, "expected exactly one line on stderr\n" + run.describe()
    line = lines[0]
    assert line.startswith("pyspy-c: "), "error line must start with 'pyspy-c: '\n" + run.describe()
    msg = line[len("pyspy-c: "):]
    assert msg and not msg.endswith("."), "message must not end with a full stop\n" + run.describe()
    assert not msg[0].isupper(), "message must start lowercase\n" + run.describe()
    if pattern is not None:
        assert re.search(pattern, msg), "message does not match %r\n%s" % (pattern, run.describe())
    return msg


# --------------------------------------------------------------------------
# folded output

LINE_RE = re.compile(r"^(.+) ([1-9][0-9]*)$")
THREAD_RE = re.compile(r'^thread "(.*)" \(([0-9]+)\)(?: \[interp (main|[0-9]+|\?)\])?$')
GC_FRAME = "<GC>"
FRAME_RE = re.compile(r"^(\S+) \((.+):([0-9]+)\)$")
FUNC_FRAME_RE = re.compile(r"^(\S+) \((.+)\)$")


class Stack(object):
    def __init__(self, frames, count, thread=None, interp=None, gc=False):
        self.frames = frames  # python frames, root first: (name, file, line or None)
        self.count = count
        self.thread = thread  # (name, tid) with --threads
        self.interp = interp  # with --threads in a process of several interpreters:
        #                       "main" or the interpreter's id (a string)
        self.gc = gc          # the <GC> frame was on top (not in frames)

    def __repr__(self):
        return "Stack(%r%s, %r, %d%s)" % (self.thread, " [interp %s]" % self.interp
                                          if self.interp else "", self.frames, self.count,
                                          ", <GC>" if self.gc else "")


def parse_folded(text, threads, function=False, no_line_ok=False):
    """Parse folded output strictly; returns a list of Stack.

    Each line is `FRAME;...;FRAME COUNT`; lines sorted bytewise, no duplicates,
    every line ends with a newline.  With threads, the first frame is
    `thread "NAME" (TID)` (followed by ` [interp ID]` in a process of several
    interpreters) and there is no other thread frame.  A `<GC>` frame on top
    (the garbage collector ran) is taken off the frames and noted in Stack.gc:
    a workload that allocates may be sampled while it collects.
    """
    if text == "":
        return []
    assert text.endswith("\n"), "output does not end with a newline: %r" % text[-200:]
    lines = text[:-1].split("\n")
    raw = [line.encode("utf-8", "surrogateescape") for line in lines]
    assert raw == sorted(raw), "lines are not sorted bytewise:\n" + text[:3000]
    keys = []
    stacks = []
    for line in lines:
        m = LINE_RE.match(line)
        assert m, "malformed line (want 'FRAMES COUNT'): %r" % line
        key, count = m.group(1), int(m.group(2))
        keys.append(key)
        parts = key.split(";")
        assert all(parts), "empty frame in line %r" % line
        thread = interp = None
        if threads:
            tm = THREAD_RE.match(parts[0])
            assert tm, "first frame is not 'thread \"NAME\" (TID)': %r" % line
            thread = (tm.group(1), int(tm.group(2)))
            interp = tm.group(3)
            parts = parts[1:]
        gc = parts[-1:] == [GC_FRAME]
        if gc:
            parts = parts[:-1]
        frames = []
        for part in parts:
            assert not THREAD_RE.match(part), "unexpected thread frame %r in %r" % (part, line)
            if function:
                fm = FUNC_FRAME_RE.match(part)
                assert fm and not FRAME_RE.match(part), "malformed --function frame %r in %r" % (part, line)
                frames.append((fm.group(1), fm.group(2), None))
            else:
                fm = FRAME_RE.match(part)
                if not fm and no_line_ok and FUNC_FRAME_RE.match(part):
                    # An instruction without a line (the interpreter says None
                    # too), as in a process still starting.
                    fm = FUNC_FRAME_RE.match(part)
                    frames.append((fm.group(1), fm.group(2), None))
                    continue
                assert fm, "malformed frame %r in %r (want 'FUNCTION (FILE:LINE)')" % (part, line)
                frames.append((fm.group(1), fm.group(2), int(fm.group(3))))
        stacks.append(Stack(frames, count, thread, interp, gc))
    assert len(set(keys)) == len(keys), "duplicate stacks in output"
    return stacks


def shorten(filename, root=None):
    """The contract's short file name, judged on the target's file system (root)."""
    if not filename.startswith("/"):
        return filename
    d = os.path.dirname(filename)
    while d != "/":
        host_d = d if root is None else os.path.join(root, d.lstrip("/"))
        if not os.path.exists(os.path.join(host_d, "__init__.py")):
            break
        d = os.path.dirname(d)
    return filename[len(d):].lstrip("/")


def escape(s):
    return s.replace(";", "_").replace("\n", "_")


def format_frames(frames):
    out = []
    for name, filename, line in frames:
        if line is None:
            out.append("%s (%s)" % (name, filename))
        else:
            out.append("%s (%s:%d)" % (name, filename, line))
    return out


def expected_frames(truth_thread, full, function, root=None):
    frames = []
    for f in truth_thread["frames"]:
        filename = f["filename"] if full else shorten(f["filename"], root)
        frames.append((escape(f["name"]), escape(filename), None if function else f["lineno"]))
    return frames
