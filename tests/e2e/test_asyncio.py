"""asyncio tasks: dump --async and record --async (issue 17).

workloads/asyncio_tasks.py runs one event loop with tasks at known await
chains (nested awaits, a task awaiting a task, a gather, a TaskGroup on 3.11+, a task of a subclass
of asyncio.Task)
and a task "spinner" that spins; it writes the ground truth from inside the
target before it spins: asyncio.all_tasks(), each task's name and coroutine
chain (get_coro(), then cr_await), the tasks each one awaits (its _fut_waiter,
a gather's children, a TaskGroup's tasks), asyncio.current_task() and the
spinner's stack.

dump --async --json must list exactly those tasks, with their chains (function,
file, line), who awaits whom, and the spinner running on the main thread;
the text form draws the same tree.  record --async must show the spinner's
frames under 'task "spinner"' with the event loop's frames gone.  A version
without the view fails with one line and exit 6.

Every scenario of IDS must be found; a missing one fails its tests by name.
"""

import json
import re

import pytest

import e2elib

IDS = ["pyenv-3.8", "pyenv-3.9", "pyenv-3.10", "pyenv-3.11", "system-3.11", "pyenv-3.12",
       "pyenv-3.13", "chroot-trixie-3.13", "chroot-sid-3.14", "chroot-sid-3.15"]
UNSUPPORTED_IDS = ["pyenv-2.7", "pyenv-3.7"]
TASK_LINE_RE = re.compile(r'^( *)task "(.*)" \((\w+)(?:, thread (\d+))?\)( \(shown above\))?$')


def _scenario(request):
    import conftest
    return conftest.scenario_by_id(request.param)


@pytest.fixture(params=IDS)
def async_interp(request):
    return _scenario(request)


@pytest.fixture(params=UNSUPPORTED_IDS)
def old_interp(request):
    return _scenario(request)


def _start(procs, interp, tmp_path):
    w = e2elib.start_ground_truth(procs, interp, tmp_path, script="asyncio_tasks.py")
    names = sorted(t["name"] for t in w.truth["tasks"])
    want = ["Task-1", "child-t", "gather-1", "gather-2", "gatherer", "parent-t", "spinner",
            "sub-task", "worker-a"]
    if interp.version >= (3, 11):
        want = sorted(want + ["tg-child-1", "tg-child-2", "tg-owner"])
    assert names == want, "the workload's tasks are %s, expected %s" % (names, want)
    assert w.truth["current_task"] == "spinner"
    return w


def _marker_line(path, marker):
    with open(path) as f:
        for n, line in enumerate(f, 1):
            if line.rstrip().endswith(marker):
                return n
    raise AssertionError("no %r in %s" % (marker, path))


def _dump(w, tmp_path, *options):
    run = e2elib.run_profiler(tmp_path, ["dump", "--pid", w.pid, "--async"] + list(options),
                              env=e2elib.profiler_env(w.interp))
    assert run.rc == 0, "dump --async failed\n" + run.describe()
    return run


def test_dump_json_tasks(procs, async_interp, tmp_path):
    """Every task once, its name, state, await chain and the tasks it awaits,
    as the target itself reports them; the spinner runs on the main thread."""
    w = _start(procs, async_interp, tmp_path)
    run = _dump(w, tmp_path, "--json", "--full-filenames")
    doc = json.loads(run.out)
    tasks = doc["tasks"]
    by_addr = dict((t["address"], t) for t in tasks)
    got = dict((t["name"], t) for t in tasks)
    assert sorted(t["name"] for t in tasks) == sorted(t["name"] for t in w.truth["tasks"]), (
        "tasks %s, expected %s\n%s" % (sorted(got), [t["name"] for t in w.truth["tasks"]],
                                       run.describe()))
    main = w.truth["threads"][0]
    for truth in w.truth["tasks"]:
        t = got[truth["name"]]
        assert t["address"] == truth["address"], "task %r at %#x, the target says %#x" % (
            truth["name"], t["address"], truth["address"])
        want = [(c["name"], c["filename"], c["lineno"]) for c in truth["chain"]]
        have = [(c["function"], c["file"], c["line"]) for c in t["chain"]]
        assert have == want and not t["chain_cut"], (
            "task %r: await chain\n  %s\nexpected\n  %s\n%s" % (
                truth["name"], have, want, run.describe()))
        awaits = sorted(by_addr[a]["name"] for a in t["awaits"])
        assert awaits == truth["awaits"], "task %r awaits %s, expected %s\n%s" % (
            truth["name"], awaits, truth["awaits"], run.describe())
        for a in t["awaits"]:
            assert t["address"] in by_addr[a]["awaited_by"], (
                "%r awaits %r, which does not list it in awaited_by" % (
                    t["name"], by_addr[a]["name"]))
        if truth["name"] == w.truth["current_task"]:
            assert t["state"] == "running" and t["tid"] == main["native_id"], (
                "the spinner runs on thread %s: %s" % (main["native_id"], t))
        else:
            assert t["state"] == "pending" and t["tid"] == 0, (
                "task %r should be pending: %s" % (truth["name"], t))
    # The main thread's stack: the running task's frames under its label.
    thread = [t for t in doc["threads"] if t["tid"] == main["native_id"]][0]
    functions = [f["function"] for f in reversed(thread["frames"])]
    assert functions == ['task "spinner"', "spin_outer", "spin_inner", "busy_spin_here"], (
        "main thread's frames %s\n%s" % (functions, run.describe()))


def test_dump_text_tree(procs, async_interp, tmp_path):
    """The text form: each task under every task that awaits it (in full the
    first time), its await chain below it, outermost first."""
    w = _start(procs, async_interp, tmp_path)
    run = _dump(w, tmp_path)
    assert "\nTasks: %d (1 running)\n" % len(w.truth["tasks"]) in run.out, run.describe()
    lines = run.out.split("\nTasks: ", 1)[1].splitlines()[1:]
    stack = []  # (depth, name)
    parents = {}
    chains = {}
    current = None
    for line in lines:
        m = TASK_LINE_RE.match(line)
        if not m:
            assert current is not None and line.startswith(" "), "stray line %r\n%s" % (
                line, run.describe())
            chains.setdefault(current, []).append(line.strip())
            continue
        depth = len(m.group(1)) // 4
        name = m.group(2)
        while stack and stack[-1][0] >= depth:
            stack.pop()
        parents.setdefault(name, set())
        if stack:
            parents[name].add(stack[-1][1])
        stack.append((depth, name))
        current = None if m.group(5) else name
        if m.group(5) is None:
            assert name not in chains, "task %r shown in full twice" % name
            chains[name] = []
            assert m.group(3) == ("running" if name == "spinner" else "pending"), line
    truth = dict((t["name"], t) for t in w.truth["tasks"])
    for name, t in truth.items():
        awaiters = set(n for n, o in truth.items() if name in o["awaits"])
        assert parents.get(name) == awaiters, "task %r shown under %s, awaited by %s\n%s" % (
            name, parents.get(name), awaiters, run.describe())
        want = ["%s (%s:%d)" % (c["name"], e2elib.shorten(c["filename"], w.interp.chroot),
                                c["lineno"]) for c in t["chain"]]
        assert chains[name] == want, "task %r: chain %s, expected %s\n%s" % (
            name, chains[name], want, run.describe())


def test_record_async(procs, async_interp, tmp_path):
    """record --async: the spinner's samples are its own frames under
    'task "spinner"', without the event loop's; without --async the event
    loop's frames are there."""
    w = _start(procs, async_interp, tmp_path)
    source = [f["filename"] for f in w.truth["spinner_stack"] if f["name"] == "spin_inner"][0]
    host_source = source if not w.interp.chroot else w.interp.chroot + source
    main = w.truth["threads"][0]
    spin_outer = [f for f in w.truth["spinner_stack"] if f["name"] == "spin_outer"][0]
    want = ['thread "MainThread" (%d)' % main["native_id"], 'task "spinner"',
            "spin_outer (%s:%d)" % (source, spin_outer["lineno"]),
            "spin_inner (%s:%d)" % (source, _marker_line(host_source, "# SPIN_CALL")),
            "busy_spin_here (%s:%d)" % (source, _marker_line(host_source, "# BUSY"))]
    for options, asynchronous in ((["--async"], True), (["--async", "--nonblocking"], True),
                                  ([], False)):
        run = e2elib.run_profiler(
            tmp_path, ["record", "--pid", w.pid, "--duration", 2, "--threads",
                       "--full-filenames"] + options, env=e2elib.profiler_env(w.interp))
        assert run.rc == 0, "record failed\n" + run.describe()
        stacks = [line.rsplit(" ", 1) for line in run.out.splitlines()]
        # What is checked is every stack's shape: a loaded machine may take few samples.
        assert stacks and sum(int(c) for _, c in stacks) >= 5, run.describe()
        for frames, _count in stacks:
            frames = frames.split(";")
            if asynchronous:
                assert frames == want, "stack\n  %s\nexpected\n  %s\n%s" % (
                    frames, want, run.describe())
            else:
                assert frames[0] == want[0] and frames[-3:] == want[2:] and \
                    any(f.startswith("_run_once ") for f in frames), (
                        "without --async the event loop's frames are kept\n" + run.describe())


def test_not_with_native(procs, async_interp, tmp_path):
    """--async with --native: a usage error (the C stacks are not merged with a
    task's frames), for record and dump; the target runs on."""
    w = e2elib.start_ground_truth(procs, async_interp, tmp_path)
    for cmd in (["dump"], ["record", "--duration", 1]):
        for native in ("--native", "--native-all"):
            run = e2elib.run_profiler(tmp_path, cmd + ["--pid", w.pid, "--async", native],
                                      env=e2elib.profiler_env(w.interp))
            e2elib.assert_error(run, 2, r"^--async cannot be used with --native")
    e2elib.assert_not_harmed(w.pid)


def test_not_asyncio(procs, async_interp, tmp_path):
    """A process that never imported asyncio has no tasks: an empty list."""
    w = e2elib.start_ground_truth(procs, async_interp, tmp_path)
    run = _dump(w, tmp_path)
    assert "\nTasks: 0 (0 running)\n" in run.out, run.describe()
    run = _dump(w, tmp_path, "--json")
    assert json.loads(run.out)["tasks"] == [], run.describe()


def test_unsupported_version(procs, old_interp, tmp_path):
    """--async on a version without the view: one line, exit 6 (unsupported
    version), for dump and record."""
    w = e2elib.start_ground_truth(procs, old_interp, tmp_path)
    for cmd in (["dump"], ["record", "--duration", 1]):
        run = e2elib.run_profiler(tmp_path, cmd + ["--pid", w.pid, "--async"],
                                  env=e2elib.profiler_env(w.interp))
        e2elib.assert_error(run, 6, r"^--async: pid \d+ runs Python %d\.%d, whose asyncio tasks "
                            r"pyspy-c cannot read \(supported: 3\.8 to 3\.15" % old_interp.version)
        e2elib.assert_not_harmed(w.pid)


BOUND_IDS = ["pyenv-3.8", "pyenv-3.12", "chroot-sid-3.14"]


@pytest.fixture(params=BOUND_IDS)
def bound_interp(request):
    return _scenario(request)


def test_bounds(procs, bound_interp, tmp_path):
    """20000 tasks awaited by one gather, and a chain of 302 coroutines: every
    task is listed, the deep chain is cut at 256 with a mark, the dump and a
    recording still work (the time the target was stopped is in -v's output,
    not asserted)."""
    w = e2elib.start_ground_truth(procs, bound_interp, tmp_path, script="asyncio_many.py",
                                  args=(20000, 300), timeout=120)
    assert w.truth["ntasks"] == 20003 and w.truth["chains"]["deep"] == 302, w.truth["chains"]
    run = _dump(w, tmp_path, "--json", "-v")
    tasks = json.loads(run.out)["tasks"]
    assert len(tasks) == 20003, "%d tasks listed\n%s" % (len(tasks), run.describe())
    got = dict((t["name"], t) for t in tasks)
    assert len(got["deep"]["chain"]) == 256 and got["deep"]["chain_cut"], (
        "deep chain: %d links, cut %s" % (len(got["deep"]["chain"]), got["deep"]["chain_cut"]))
    assert all(f["function"] == "deep" for f in got["deep"]["chain"])
    assert len(got["Task-1"]["awaits"]) == 20002, len(got["Task-1"]["awaits"])
    assert got["spinner"]["state"] == "running"
    text = _dump(w, tmp_path)
    assert "\nTasks: 20003 (1 running)\n" in text.out and "[await chain cut]" in text.out, (
        text.describe())
    rec = e2elib.run_profiler(tmp_path, ["record", "--pid", w.pid, "--duration", 2, "--async"],
                              env=e2elib.profiler_env(w.interp))
    assert rec.rc == 0 and all(line.startswith('task "spinner";spinner ')
                               for line in rec.out.splitlines()) and rec.out, rec.describe()


def test_loops_in_threads(procs, async_interp, tmp_path):
    """Two threads, each with its own event loop and spinning task: each thread's
    samples are under its own task, and dump --async says which thread runs
    which task."""
    w = e2elib.start_ground_truth(procs, async_interp, tmp_path, script="asyncio_threads.py")
    running = w.truth["running"]
    run = e2elib.run_profiler(tmp_path, ["record", "--pid", w.pid, "--duration", 2, "--threads",
                                         "--async", "--function"],
                              env=e2elib.profiler_env(w.interp))
    assert run.rc == 0, run.describe()
    seen = set()
    for line in run.out.splitlines():
        frames = line.rsplit(" ", 1)[0].split(";")
        label = re.match(r'^thread "(.*)" \((\d+)\)$', frames[0])
        assert label, line
        tag = label.group(1)[-1]
        assert tag in running and int(label.group(2)) == running[tag]["native_id"], line
        assert frames[1:] == ['task "spin-%s"' % tag, "spin_outer (asyncio_threads.py)",
                              "busy_spin_here (asyncio_threads.py)"], (
            "thread %r: %s\n%s" % (label.group(1), frames, run.describe()))
        seen.add(tag)
    assert seen == {"a", "b"}, run.describe()
    doc = json.loads(_dump(w, tmp_path, "--json").out)
    got = dict((t["name"], t) for t in doc["tasks"])
    for tag, r in running.items():
        assert got["spin-" + tag]["state"] == "running" and \
            got["spin-" + tag]["tid"] == r["native_id"], got
        assert got["wait-" + tag]["state"] == "pending" and got["wait-" + tag]["tid"] == 0, got


BROKEN_IDS = ["pyenv-3.8", "pyenv-3.11", "pyenv-3.12", "pyenv-3.13", "chroot-sid-3.14",
               "chroot-sid-3.15"]


@pytest.fixture(params=BROKEN_IDS)
def broken_interp(request):
    return _scenario(request)


def test_corrupt_tasks(procs, broken_interp, tmp_path):
    """Tasks whose memory is corrupt (a name or coroutine pointer into unmapped
    memory, an await chain that loops): each costs what it is ('?', a cut
    chain with its mark), the healthy ones are exact, nothing fails, the
    target runs on."""
    w = e2elib.start_ground_truth(procs, broken_interp, tmp_path, script="asyncio_corrupt.py")
    run = _dump(w, tmp_path, "--json", "--full-filenames")
    got = dict((t["name"], t) for t in json.loads(run.out)["tasks"])
    assert sorted(got) == ["?", "Task-1", "bad-coro", "healthy", "looping", "spinner"], (
        run.describe())

    def chain(name):
        return [(c["name"], c["filename"], c["lineno"]) for c in w.truth["chains"][name]]

    def have(name):
        return [(c["function"], c["file"], c["line"]) for c in got[name]["chain"]]

    assert have("healthy") == chain("healthy") and not got["healthy"]["chain_cut"], run.describe()
    assert have("?") == chain("bad-name") and not got["?"]["chain_cut"], run.describe()
    assert have("bad-coro") == [] and got["bad-coro"]["chain_cut"], run.describe()
    assert have("looping") == chain("looping")[:2] and got["looping"]["chain_cut"], (
        run.describe())
    assert got["spinner"]["state"] == "running", run.describe()
    text = _dump(w, tmp_path)
    assert text.out.count("[await chain cut]") == 2, text.describe()
    rec = e2elib.run_profiler(tmp_path, ["record", "--pid", w.pid, "--duration", 2, "--async"],
                              env=e2elib.profiler_env(w.interp))
    assert rec.rc == 0 and rec.out and all(line.startswith('task "spinner";spinner ')
                                           for line in rec.out.splitlines()), rec.describe()
    e2elib.assert_not_harmed(w.pid)
