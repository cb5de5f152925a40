"""record --subprocesses: child processes, present at attach time and created
during the recording, each rooted by `process PID:"COMMAND"`.

workloads/pool_target.py runs a multiprocessing pool of 4 workers; each
worker writes its pid and its stack as the interpreter sees it, then spins.
Every worker must be in the profile with exactly that stack under its own
process root.
"""

import glob
import json
import os
import re
import subprocess

import pytest

import e2elib

IDS = ["pyenv-2.7", "pyenv-3.8", "pyenv-3.11", "pyenv-3.12", "pyenv-3.13", "system-3.11",
       "chroot-sid-3.14"]
PROC_RE = re.compile(r'^process (\d+):"(.*)"$')
FRAME_RE = re.compile(r"^(.*) \((.*?)(?::(\d+))?\)$")
MIN_SAMPLES = 20  # per worker at 100 Hz over about a second, 4 workers on 2 cores


@pytest.fixture(params=IDS)
def sub_interp(request):
    import conftest
    interp = conftest.scenario_by_id(request.param)
    if interp.chroot:
        # multiprocessing's locks are POSIX semaphores, in /dev/shm.
        shm = os.path.join(interp.chroot, "dev", "shm")
        if not os.path.isdir(shm):
            os.makedirs(shm)
        subprocess.check_call(["mount", "--bind", "/dev/shm", shm])
        request.addfinalizer(lambda: subprocess.call(["umount", "-l", shm]))
    return interp


class Pool(object):
    """Where the pool workload and its files are, for the target and for us."""

    def __init__(self, interp, tmp_path):
        wl = interp.stage_workloads(tmp_path)
        self.script = wl + "/pool_target.py"
        t_dir, h_dir = interp.target_tmpdir(str(tmp_path))
        self.t_dir = t_dir + "/pool"
        self.dir = os.path.join(h_dir, "pool")
        os.mkdir(self.dir)
        os.chmod(self.dir, 0o777)
        self.root = interp.chroot


def methods(interp):
    return ["default"] if interp.version[0] == 2 else ["fork", "spawn"]


def parse(text):
    """Folded lines -> {pid: [(frames, count)]}, each line's first frame a process root."""
    out = {}
    for line in text.splitlines():
        body, count = line.rsplit(" ", 1)
        root, _, rest = body.partition(";")
        m = PROC_RE.match(root)
        assert m, "stack without a process root: %r" % line
        # Frames of a process still importing may have no line (an
        # instruction without one, where the interpreter says None too).
        frames = []
        parts = rest.split(";") if rest else []
        if parts[-1:] == [e2elib.GC_FRAME]:
            parts = parts[:-1]  # sampled while the collector ran (test_gc checks those)
        for part in parts:
            fm = FRAME_RE.match(part)
            assert fm, "malformed frame %r in %r" % (part, line)
            frames.append((fm.group(1), fm.group(2), int(fm.group(3)) if fm.group(3) else None))
        out.setdefault(int(m.group(1)), []).append((frames, int(count)))
    return out


def check(tmp_path, run, pool, allow_missing_parent=False):
    assert run.rc == 0, run.describe()
    got = parse(run.out)
    d = pool.dir
    truths = []
    for path in sorted(glob.glob(os.path.join(d, "worker-*.json"))):
        with open(path) as f:
            truths.append(json.load(f))
    assert len(truths) == 4, "workers' ground truth: %s" % os.listdir(d)
    errors = []
    for t in truths:
        want = [(n, e2elib.shorten(fn, pool.root), ln) for n, fn, ln in t["frames"]]
        mine = got.get(t["pid"])
        if not mine:
            errors.append("worker %d: not in the profile" % t["pid"])
            continue
        hits = sum(c for frames, c in mine if frames == want)
        if hits < MIN_SAMPLES:
            errors.append("worker %d: %d samples of its stack %s; its stacks: %s" % (
                t["pid"], hits, want, [(f, c) for f, c in mine][:5]))
    with open(os.path.join(d, "parent.json")) as f:
        parent = json.load(f)["pid"]
    if not allow_missing_parent and parent not in got:
        errors.append("the parent %d is not in the profile (idle is dropped: it must have "
                      "some samples at start-up)" % parent)
    assert not errors, "\n  ".join(errors) + "\n" + run.describe()


@pytest.mark.parametrize("method", ["first", "second"])
def test_pool_spawned(sub_interp, method, tmp_path):
    """record -s -- python pool_target.py: workers created during the recording, with
    each start method the version has (2.7: fork only; 3.x: fork, then spawn, which
    execs a new interpreter in each worker)."""
    have = methods(sub_interp)
    method = have[0] if method == "first" else have[-1]
    pool = Pool(sub_interp, tmp_path)
    out = str(tmp_path / "profile.folded")
    run = e2elib.run_profiler(tmp_path, ["record", "-s", "-r", "100", "-o", out, "--"] +
                              sub_interp.argv + [pool.script, pool.t_dir, method, "1.5"],
                              timeout=120)
    assert run.out == "ready\n", run.describe()  # the program's own output
    run.out = e2elib.file_text(out)
    check(tmp_path, run, pool)
    assert re.search(r"; [5-9] processes", run.err), run.describe()


def test_pool_attached(procs, sub_interp, tmp_path):
    """record -s --pid PARENT: workers that exist at attach time."""
    pool = Pool(sub_interp, tmp_path)
    method = methods(sub_interp)[0]
    p = procs.start(sub_interp.argv + [pool.script, pool.t_dir, method, "4"],
                    stdout=subprocess.PIPE, env=e2elib.target_env())
    assert e2elib.read_line(p.stdout.fileno(), 60, "ready from the pool") == "ready\n"
    run = e2elib.run_profiler(tmp_path, ["record", "-s", "-r", "100", "-d", "1.5", "-p", p.pid])
    # The parent only waits for results now: idle, dropped.
    check(tmp_path, run, pool, allow_missing_parent=True)
    for pid in [p.pid] + e2elib.children_of(p.pid):
        e2elib.assert_not_harmed(pid, "pool process")


def test_dump_subprocesses(procs, sub_interp, tmp_path):
    """dump -s --json: an array, the parent first, then each worker with its stack."""
    pool = Pool(sub_interp, tmp_path)
    d = pool.dir
    p = procs.start(sub_interp.argv + [pool.script, pool.t_dir, methods(sub_interp)[0], "4"],
                    stdout=subprocess.PIPE, env=e2elib.target_env())
    assert e2elib.read_line(p.stdout.fileno(), 60, "ready from the pool") == "ready\n"
    run = e2elib.run_profiler(tmp_path, ["dump", "-s", "--json", "-p", p.pid])
    assert run.rc == 0, run.describe()
    doc = json.loads(run.out)
    assert [x["pid"] for x in doc][0] == p.pid, run.describe()
    by_pid = dict((x["pid"], x) for x in doc)
    for path in glob.glob(os.path.join(d, "worker-*.json")):
        with open(path) as f:
            t = json.load(f)
        assert t["pid"] in by_pid, "worker %d not dumped\n%s" % (t["pid"], run.describe())
        (main,) = [th for th in by_pid[t["pid"]]["threads"] if th["frames"]]
        got = [[fr["function"], fr["file"], fr["line"]] for fr in reversed(main["frames"])]
        assert got == t["frames"], "worker %d:\n  expected %s\n  got      %s" % (
            t["pid"], t["frames"], got)
    for pid in [p.pid] + e2elib.children_of(p.pid):
        e2elib.assert_not_harmed(pid, "pool process")


CHURN = """
import subprocess, sys, time
code = '''
def f(n):
    return f(n - 1) + 1 if n else 0
while True:
    for d in (5, 50, 150, 10):
        f(d)
'''
n, seconds = int(sys.argv[1]), float(sys.argv[2])
if n == 0:  # one process: the churn is its own
    end = time.time() + seconds
    code = code.replace("while True:", "while time.time() < end:")
    exec(code)
    sys.exit(0)
kids = [subprocess.Popen([sys.executable, "-c", code]) for _ in range(n)]
time.sleep(seconds)
for k in kids:
    k.kill()
    k.wait()
"""
FAILED_RE = re.compile(r", (\d+) failed(?: \(([^)]*)\))?[;\n]")
LEFT_OUT_RE = re.compile(r"; (\d+) thread samples left out(?: \(([^)]*)\))?[;\n]")


@pytest.mark.parametrize("kids", [0, 3])
def test_failed_samples_have_reasons(one_interp, tmp_path, kids):
    """The summary says why samples failed, by reason, with one process and with several
    (and then in how many); stacks changing fast under --nonblocking at 1000 Hz make
    reads tear.  A torn thread is left out of its sample rather than failing the
    sample (the other threads are kept): that is counted, with its reason, too."""
    script = tmp_path / "churn.py"
    script.write_text(CHURN)
    for attempt in range(5):
        run = e2elib.run_profiler(
            tmp_path, ["record", "--nonblocking", "-r", "1000", "-d", "2"] +
            (["-s"] if kids else []) + ["-o", tmp_path / "p.folded", "--"] +
            one_interp.argv + [str(script), str(kids), "3"], timeout=120)
        assert run.rc == 0, run.describe()
        m = FAILED_RE.search(run.err)
        assert m, run.describe()
        if int(m.group(1)):
            break
        left = LEFT_OUT_RE.search(run.err)
        if left:
            assert int(left.group(1)) > 0 and left.group(2), (
                "thread samples left out without a reason\n" + run.describe())
            return
    else:
        pytest.fail("no sample failed and no thread was left out in 5 recordings: the "
                    "reasons cannot be checked\n" + run.describe())
    failed, why = int(m.group(1)), m.group(2)
    assert why, "failed samples without a reason\n" + run.describe()
    counts, _, procs_part = why.partition("; ")
    parts = [re.match(r"^(\d+): ([a-z].*)$", p) for p in counts.split(", ")]
    assert all(parts) and sum(int(p.group(1)) for p in parts) == failed, run.describe()
    if kids:
        pm = re.match(r"^in (\d+) of the processes$", procs_part)
        total = re.search(r"; (\d+) processes", run.err)
        assert pm and total and 1 <= int(pm.group(1)) <= int(total.group(1)), run.describe()
    else:
        assert procs_part == "", run.describe()
