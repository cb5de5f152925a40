"""uWSGI workers (issue 12, item 6), with Debian's uWSGI and its python3 plugin,
which embeds Debian's stripped libpython3.11.

    uwsgi --plugin python3 --http-socket 127.0.0.1:PORT --wsgi-file uwsgi_app.py
          --master --processes 2 --threads 2

loads the application in the master and forks the workers from it, and the
workers never call PyOS_AfterFork_Child: the state of each worker's main
thread keeps the master's native_thread_id.  workloads/http_load.py keeps
all four cores busy; workloads/uwsgi_app.py spins in application() ->
handle() -> spin() and writes, from each thread that serves a request, its
pid, its OS thread id and its stack as traceback reports it.  The profile of
a worker must show exactly those frames under the thread's own tid (the
main thread's is the worker's pid, never the master's), merge with --native,
and, from the master with --subprocesses, put each worker under its own
process root.
"""

import glob
import json
import os
import re
import signal
import socket
import subprocess
import time

import pytest

import e2elib
from interpreters import WORKLOADS

UWSGI = "/usr/bin/uwsgi"
PLUGIN_DIR = "/usr/lib/uwsgi/plugins"
HOST_PYTHON = "/usr/bin/python3"
APP = os.path.join(WORKLOADS, "uwsgi_app.py")
WORKERS = 2
THREADS = 2
DURATION = 2
RATE = 100
MIN_SAMPLES = 10  # of a worker's main thread in its own request stack, of about 100
MIN_MERGED = 99.0
PROC_RE = re.compile(r'^process (\d+):"(.*)"$')
THREAD_RE = re.compile(r'^thread "(.*)" \((\d+)\)$')
FRAME_RE = re.compile(r"^(.*) \((.*?)(?::(\d+))?\)$")
MERGED_RE = re.compile(r"^pyspy-c: native: (\d+) of (\d+) stacks merged", re.M)


def _free_port():
    s = socket.socket()
    try:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
    finally:
        s.close()


def _cmdline(pid):
    try:
        with open("/proc/%d/cmdline" % pid, "rb") as f:
            return f.read().split(b"\0")
    except (IOError, OSError):
        return []


class Uwsgi(object):
    """A uWSGI master, its workers (by pid) and the ground truth they wrote."""

    def __init__(self, procs, tmp_path, workers=WORKERS, threads=THREADS):
        assert os.access(UWSGI, os.X_OK), "%s not found: install uwsgi-core" % UWSGI
        assert glob.glob(os.path.join(PLUGIN_DIR, "python3*_plugin.so")), (
            "uWSGI's python3 plugin not found in %s: install uwsgi-plugin-python3" % PLUGIN_DIR)
        self.truth_dir = str(tmp_path / "truth")
        os.mkdir(self.truth_dir)
        self.log_path = str(tmp_path / "uwsgi.log")
        port = _free_port()
        env = e2elib.target_env()
        env["PYSPY_TEST_TRUTH_DIR"] = self.truth_dir
        self.argv = [UWSGI, "--plugin", "python3", "--http-socket", "127.0.0.1:%d" % port,
                     "--wsgi-file", APP, "--master", "--processes", str(workers)]
        if threads > 1:
            self.argv += ["--threads", str(threads)]
        self.nworkers, self.nthreads = workers, threads
        with open(self.log_path, "wb") as log:
            self.master = subprocess.Popen(self.argv, stdin=subprocess.DEVNULL, stdout=log,
                                           stderr=log, env=env, cwd="/")
        self.workers = []
        procs.add_cleanup(self.stop)
        procs.start([HOST_PYTHON, os.path.join(WORKLOADS, "http_load.py"),
                     "http://127.0.0.1:%d/" % port, str(workers * threads + 2)],
                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.truth = self._wait_ready()

    def log(self):
        return e2elib.file_text(self.log_path)

    def _wait_ready(self, timeout=60):
        """Every thread of every worker has served a request and written its truth."""
        deadline = time.monotonic() + timeout
        while True:
            assert self.master.poll() is None, "uwsgi exited (%s):\n%s" % (
                self.master.returncode, self.log())
            self.workers = e2elib.children_of(self.master.pid)
            truth = {}
            for path in glob.glob(os.path.join(self.truth_dir, "*.json")):
                with open(path) as f:
                    t = json.load(f)
                truth[(t["pid"], t["tid"])] = t
            if len(self.workers) == self.nworkers and \
                    len(truth) == self.nworkers * self.nthreads and \
                    set(p for p, _ in truth) == set(self.workers):
                return truth
            assert time.monotonic() < deadline, (
                "uwsgi workers %s did not all serve requests in %ds (truth from %s):\n%s" % (
                    self.workers, timeout, sorted(truth), self.log()))
            time.sleep(0.1)

    def stop(self):
        """SIGINT: the master kills its workers and exits; then SIGKILL, by pid, whatever
        of ours is left (a worker still the master's child, or orphaned to init)."""
        if self.master.poll() is None:
            os.kill(self.master.pid, signal.SIGINT)
            try:
                self.master.wait(timeout=15)
            except subprocess.TimeoutExpired:
                pass
        for pid in self.workers:
            if e2elib.alive(pid) and e2elib.ppid_of(pid) in (self.master.pid, 1) and \
                    _cmdline(pid)[:1] == [UWSGI.encode()]:
                os.kill(pid, signal.SIGKILL)
        if self.master.poll() is None:
            os.kill(self.master.pid, signal.SIGKILL)
        self.master.wait()

    def expected(self, pid, tid):
        t = self.truth[(pid, tid)]
        return [(f["name"], f["filename"], f["lineno"]) for f in t["frames"]]


def parse(text, processes=False):
    """Folded lines -> [(pid or None, (thread name, tid), frames, count)]."""
    out = []
    for line in text.splitlines():
        body, count = line.rsplit(" ", 1)
        parts = body.split(";")
        pid = None
        if processes:
            m = PROC_RE.match(parts.pop(0))
            assert m, "stack without a process root: %r" % line
            pid = int(m.group(1))
        m = THREAD_RE.match(parts.pop(0))
        assert m, "stack without a thread root: %r" % line
        frames = []
        if parts[-1:] == [e2elib.GC_FRAME]:
            parts = parts[:-1]  # sampled while the collector ran (test_gc checks those)
        for part in parts:
            fm = FRAME_RE.match(part)
            assert fm, "malformed frame %r in %r" % (part, line)
            frames.append((fm.group(1), fm.group(2), int(fm.group(3)) if fm.group(3) else None))
        out.append((pid, (m.group(1), int(m.group(2))), frames, int(count)))
    return out


def spin_lines():
    """The lines of spin()'s body, its loop last."""
    with open(APP) as f:
        src = f.read().splitlines()
    first = src.index("def spin(seconds):") + 2
    loop = next(i for i, l in enumerate(src, 1) if l.strip().startswith("while time.monotonic()"))
    return tuple(range(first, loop + 2))


def python_frames(frames):
    """The application's frames of a (merged) stack."""
    return [f for f in frames if f[1] == APP]


def check_worker(u, stacks, pid, run):
    """Every thread of worker pid is labelled with one of its own tids, and the
    stacks in spin() are exactly the ground truth of that thread (the leaf in
    spin()'s body); the main thread (tid = pid) has enough of them."""
    tids = set(e2elib.task_states(pid))
    errors = []
    hits = {}
    for _, (name, tid), frames, count in stacks:
        if tid not in tids:
            errors.append("thread %r (%d) is not a thread of worker %d (%s; the master is %d)"
                          % (name, tid, pid, sorted(tids), u.master.pid))
            continue
        py = python_frames(frames)
        if not py or py[-1][0] != "spin":
            continue
        if (pid, tid) not in u.truth:
            errors.append("thread %d of worker %d ran spin() but wrote no truth" % (tid, pid))
            continue
        want = u.expected(pid, tid)
        if py[:-1] != want[:-1] or py[-1][:2] != want[-1][:2] or py[-1][2] not in spin_lines():
            errors.append("worker %d thread %d: expected %s (leaf on line %s), got %s" % (
                pid, tid, want, spin_lines(), py))
            continue
        hits[tid] = hits.get(tid, 0) + count
    if hits.get(pid, 0) < MIN_SAMPLES:
        errors.append("worker %d: %d samples of its main thread (tid %d) in spin(); by thread: %s"
                      % (pid, hits.get(pid, 0), pid, hits))
    assert not errors, "\n  ".join(errors) + "\n" + run.describe() + u.log()[-2000:]


def _record(tmp_path, pid, *args):
    run = e2elib.run_profiler(tmp_path, ["record", "-p", pid, "-d", DURATION, "-r", RATE,
                                         "--full-filenames", "--threads"] + list(args))
    assert run.rc == 0, run.describe()
    return run


@pytest.fixture
def uwsgi(procs, tmp_path):
    return Uwsgi(procs, tmp_path)


def test_uwsgi_worker_threads(uwsgi, tmp_path):
    """record --threads on a worker: its threads under their own tids (the main
    thread's state still holds the master's native_thread_id), with the frames each
    thread reported."""
    for pid in uwsgi.workers:
        run = _record(tmp_path, pid)
        check_worker(uwsgi, parse(run.out), pid, run)
        e2elib.assert_not_harmed(pid, "uwsgi worker")


def test_uwsgi_worker_nonblocking(uwsgi, tmp_path):
    """The same without stopping the worker (no thread's registers to read): its
    threads are found through glibc's struct pthread."""
    pid = uwsgi.workers[0]
    run = _record(tmp_path, pid, "--nonblocking")
    check_worker(uwsgi, parse(run.out), pid, run)


@pytest.mark.parametrize("mode", [[], ["--nonblocking"], ["--native"]],
                         ids=["blocking", "nonblocking", "native"])
def test_uwsgi_single_thread_worker(procs, tmp_path, mode):
    """A worker of one thread (no --threads): the same, also before any of its
    threads was stopped (--nonblocking), when the one state with a pthread_t but no
    thread can only be the process's one thread."""
    u = Uwsgi(procs, tmp_path, workers=1, threads=1)
    (pid,) = u.workers
    run = _record(tmp_path, pid, *mode)
    assert "merge failed" not in run.out + run.err, run.describe()
    check_worker(u, parse(run.out), pid, run)


def test_uwsgi_worker_native(uwsgi, tmp_path):
    """record --native on a worker: the C stacks of uWSGI and its plugin merge with
    the application's frames (>= 99%), nothing is "[native merge failed]"."""
    for pid in uwsgi.workers:
        run = _record(tmp_path, pid, "--native", "-v")
        assert "merge failed" not in run.out + run.err, run.describe()
        m = MERGED_RE.search(run.err)
        assert m, "no merge summary\n" + run.describe()
        merged, stacks = int(m.group(1)), int(m.group(2))
        assert stacks and 100.0 * merged / stacks >= MIN_MERGED, (
            "%d of %d stacks merged\n%s" % (merged, stacks, run.describe()))
        stacks = parse(run.out)
        check_worker(uwsgi, stacks, pid, run)
        # The application runs inside the plugin's C code.
        for _, _, frames, _ in stacks:
            names = [f[0] for f in frames]
            if "application" in names:
                assert "uwsgi_request_wsgi" in names[:names.index("application")], frames
        e2elib.assert_not_harmed(pid, "uwsgi worker")


def test_uwsgi_subprocesses(uwsgi, tmp_path):
    """record --subprocesses --pid MASTER: each worker under its own process root,
    its threads under their own tids, with their own frames."""
    run = _record(tmp_path, uwsgi.master.pid, "--subprocesses")
    stacks = parse(run.out, processes=True)
    roots = set(pid for pid, _, _, _ in stacks)
    assert set(uwsgi.workers) <= roots, "workers %s, process roots %s\n%s" % (
        uwsgi.workers, sorted(roots), run.describe())
    for pid in uwsgi.workers:
        check_worker(uwsgi, [s for s in stacks if s[0] == pid], pid, run)
    for pid in [uwsgi.master.pid] + uwsgi.workers:
        e2elib.assert_not_harmed(pid, "uwsgi process")
