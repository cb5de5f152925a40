"""`pyspy-c top`: the live view in a real terminal, the plain table, and its ways out.

The target is workloads/top_target.py: one thread spinning in spin_leaf (under
spin_outer), three waiting under one common_caller, the main thread waiting on
a pipe.  Without --idle only spin_leaf runs, so it heads the %Own ranking;
with --idle every thread counts in every sample, so common_caller has the
largest %Total (exactly 300%) and no own share, while each leaf's own share
is exactly 100%.  Both rankings follow from the stacks alone, not from timing.

The terminal is tmux (80x24, a private server), read with capture-pane and
driven with send-keys; the screen is polled until it shows what is awaited,
within a bound.  A shell around top records the terminal settings (stty -g)
before and after it, and its exit status.
"""

import os
import re
import signal
import subprocess
import time

import pytest

import e2elib
from e2elib import assert_error, assert_not_harmed, run_profiler
from interpreters import WORKLOADS, require

ROW_RE = re.compile(r"^ *([0-9.]+)% +([0-9.]+)% +([0-9.]+)s +([0-9.]+)s  (.+)$")


def _start(procs, interp, tmp_path):
    require(interp)
    return e2elib.start_ground_truth(procs, interp, tmp_path, script="top_target.py")


def _rows(lines):
    """(own %, total %, function) of every table row on a screen or in a table."""
    out = []
    for line in lines:
        m = ROW_RE.match(line)
        if m:
            out.append((float(m.group(1)), float(m.group(2)), m.group(5).strip()))
    return out


class Tmux(object):
    """One tmux server of our own running `sh run.sh COMMAND...` in an 80x24 pane."""

    def __init__(self, procs, tmp_path, argv, width=80, height=24):
        self.dir = str(tmp_path)
        self.sock = "pyspyc-top-%d-%d" % (os.getpid(), id(self))
        script = os.path.join(self.dir, "run.sh")
        with open(script, "w") as f:
            f.write('cd "$(dirname "$0")"\nstty -g > before\n"$@"\nstatus=$?\n'
                    'stty -g > after\necho $status > rc\nexec sleep 100000\n')
        self.pids = []
        procs.add_cleanup(self.kill)
        self.tmux("new-session", "-d", "-x", str(width), "-y", str(height), "sh", script,
                  *[str(a) for a in argv])
        self.pids = [int(self.tmux("display-message", "-p", "#{pane_pid}").strip()),
                     int(self.tmux("display-message", "-p", "#{pid}").strip())]

    def tmux(self, *args):
        return subprocess.run(["tmux", "-L", self.sock, "-f", "/dev/null"] + list(args),
                              check=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              timeout=30).stdout.decode("utf-8", "replace")

    def kill(self):
        for pid in self.pids:  # the pane's shell, then the server: by pid
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass

    def screen(self):
        return self.tmux("capture-pane", "-p").splitlines()

    def keys(self, *keys):
        self.tmux("send-keys", *keys)

    def wait_for(self, what, predicate, timeout=30):
        """Poll the screen until predicate(lines) holds; fail after timeout seconds."""
        deadline = time.monotonic() + timeout
        while True:
            lines = self.screen()
            if predicate(lines):
                return lines
            if time.monotonic() > deadline:
                raise AssertionError("the screen never showed %s; it shows:\n%s" % (
                    what, "\n".join(lines)))
            time.sleep(0.05)

    def exit_status(self, timeout=30):
        path = os.path.join(self.dir, "rc")
        deadline = time.monotonic() + timeout
        while not os.path.exists(path) or not e2elib.file_text(path).endswith("\n"):
            if time.monotonic() > deadline:
                raise AssertionError("top did not exit; the screen shows:\n" +
                                     "\n".join(self.screen()))
            time.sleep(0.05)
        return int(e2elib.file_text(path))

    def terminal_restored(self):
        before = e2elib.file_text(os.path.join(self.dir, "before"))
        after = e2elib.file_text(os.path.join(self.dir, "after"))
        assert before and before == after, "terminal settings changed by top: %r -> %r" % (
            before, after)
        lines = self.screen()
        assert not any(ROW_RE.match(l) for l in lines), (
            "the alternate screen is still shown after top ended:\n" + "\n".join(lines))


def _top_argv(w, *options):
    return [e2elib.require_binary(), "top", "--pid", w.pid] + list(options)


def _first_row(lines):
    rows = _rows(lines)
    return rows[0] if rows else None


def test_screen_busy_function_first_q_quits(procs, one_interp, tmp_path):
    """80x24: the busy function heads the list; the view fits; q exits 0, the terminal is
    put back, the target runs on untraced."""
    w = _start(procs, one_interp, tmp_path)
    t = Tmux(procs, tmp_path, _top_argv(w))
    lines = t.wait_for("a row for spin_leaf", lambda l: _first_row(l) is not None)
    screen = "\n".join(lines)
    assert _first_row(lines)[2] == "spin_leaf (top_target.py)", screen
    assert len(lines) <= 24 and all(len(l) <= 80 for l in lines), screen
    assert lines[0].startswith("pyspy-c top: pid %d, python %d.%d" % ((w.pid,) + one_interp.version)), screen
    assert re.match(r"^Samples: \d+ in [0-9.]+ s, \d+ late, \d+ failed$", lines[1]), screen
    assert re.match(r"^GIL: [0-9.]+%, GC: ([0-9.]+%|n/a), Active: [0-9.]+%, Threads: 6$", lines[2]), screen
    assert lines[4].split() == ["%Own", "%Total", "OwnTime", "TotalTime", "Function", "(filename)"], screen
    assert "q: quit" in lines[23], screen
    functions = set(r[2] for r in _rows(lines))
    idle = {"common_caller (top_target.py)", "wait_in_sleep (top_target.py)",
            "wait_in_select (top_target.py)", "wait_in_lock (top_target.py)",
            "main_waits_for_quit (top_target.py)"}
    assert not functions & idle, "waiting functions shown without --idle:\n" + screen
    t.keys("q")
    assert t.exit_status() == 0
    t.terminal_restored()
    assert_not_harmed(w.pid)


def test_sort_keys_ctrl_c(procs, one_interp, tmp_path):
    """--idle: by %Own a leaf comes first (100%); key 2 sorts by %Total: common_caller
    (300%, no own share) first; key 1 sorts back; Ctrl-C exits 0 and restores the terminal."""
    w = _start(procs, one_interp, tmp_path)
    t = Tmux(procs, tmp_path, _top_argv(w, "--idle"))
    lines = t.wait_for("rows", lambda l: _first_row(l) is not None)
    own, total, func = _first_row(lines)
    assert own == 100.0 and func != "common_caller (top_target.py)", "\n".join(lines)
    t.keys("2")
    lines = t.wait_for("common_caller first, sorted by %Total",
                       lambda l: "%Total" in l[-1] and _first_row(l)[2] == "common_caller (top_target.py)")
    own, total, func = _first_row(lines)
    assert (own, total) == (0.0, 300.0), "\n".join(lines)
    t.keys("1")
    t.wait_for("a leaf first again, sorted by %Own",
               lambda l: "%Own" in l[-1] and _first_row(l)[2] != "common_caller (top_target.py)")
    t.keys("C-c")
    assert t.exit_status() == 0
    t.terminal_restored()
    assert_not_harmed(w.pid)


def test_plain_table_when_not_a_terminal(procs, idle_interp, tmp_path):
    """stdout not a terminal: a plain table per interval (and the last, partial one),
    no escape sequences; the busy function first, the waiting ones absent."""
    w = _start(procs, idle_interp, tmp_path)
    # 2.7: every sample stops every thread, and a sleeper woken by a stop can be caught
    # runnable (the documented limit of the idle rule): read without stopping there.
    nonblocking = ["--nonblocking"] if idle_interp.version < (3, 0) else []
    run = run_profiler(tmp_path, ["top", "--pid", w.pid, "--duration", 2.5, "--delay", 1] +
                       nonblocking, env=e2elib.profiler_env(idle_interp))
    assert run.rc == 0 and run.err == "", run.describe()
    assert "\x1b" not in run.out, run.describe()
    tables = [b for b in run.out.split("\n\n") if b.strip()]
    # Each table: title, Samples, GIL line, blank, header, rows (the blank after the
    # GIL line splits each table in two halves).
    heads = [b for b in tables if b.startswith("pyspy-c top: pid %d" % w.pid)]
    bodies = [b for b in tables if b.lstrip().startswith("%Own")]
    assert heads and len(heads) == len(bodies), run.describe()
    for head in heads:
        lines = head.split("\n")
        assert re.match(r"^GIL: [0-9.]+%, GC: ([0-9.]+%|n/a), Active: [0-9.]+%, Threads: 6$", lines[2]), run.describe()
    for body in bodies:
        rows = _rows(body.split("\n"))
        assert rows and rows[0][2] == "spin_leaf (top_target.py)", run.describe()
        funcs = set(r[2] for r in rows)
        assert "spin_outer (top_target.py)" in funcs, run.describe()
        assert not any(f.startswith(("common_caller", "wait_in_", "main_waits")) for f in funcs), (
            run.describe())
    assert_not_harmed(w.pid)


def _background_top(procs, w, *options):
    """top writing its plain table to a pipe; returns (Popen, stdout fd) once the first
    table is out."""
    p = procs.start([e2elib.require_binary(), "top", "--pid", str(w.pid)] + [str(o) for o in options],
                    stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    fd = p.stdout.fileno()
    while "%Own" not in e2elib.read_line(fd, 60, "top's first table"):
        pass
    return p


def test_target_exit_ends_top(procs, one_interp, tmp_path):
    """The target exits: top says so on stderr and exits 0."""
    w = _start(procs, one_interp, tmp_path)
    p = _background_top(procs, w, "--delay", 0.2)
    os.write(w.control_fd, b"q")
    out, err = p.communicate(timeout=60)
    err = err.decode()
    assert p.returncode == 0, err
    # It was traced (top stops threads by default): how it ended is known.
    assert err == "pyspy-c: process %d exited (status 0)\n" % w.pid, err


def test_sigterm_ends_top_target_unharmed(procs, one_interp, tmp_path):
    """SIGTERM: top detaches and exits 0; the target runs on."""
    w = _start(procs, one_interp, tmp_path)
    p = _background_top(procs, w, "--delay", 0.2)
    p.send_signal(signal.SIGTERM)
    out, err = p.communicate(timeout=60)
    assert p.returncode == 0, err
    assert_not_harmed(w.pid)


@pytest.mark.parametrize("args", [
    ["top"],
    ["top", "--pid", "abc"],
    ["top", "--pid", "PID", "--delay", "0"],
    ["top", "--pid", "PID", "--delay", "x"],
    ["top", "--pid", "PID", "--rate", "0"],
    ["top", "--pid", "PID", "--bogus"],
    ["top", "--pid", "PID", "extra"],
    ["top", "--pid", "PID", "--pid", "PID"],
], ids=lambda a: " ".join(a))
def test_usage_errors(procs, one_interp, tmp_path, args):
    """Usage errors exit 2 with one line, before touching the target."""
    w = _start(procs, one_interp, tmp_path)
    run = run_profiler(tmp_path, [str(w.pid) if a == "PID" else a for a in args])
    assert_error(run, 2)
    assert_not_harmed(w.pid)


def test_no_such_process_and_not_python(procs, tmp_path):
    """top fails like record: exit 3 for a pid that does not exist, 5 for a non-Python one."""
    p = procs.start(["/bin/true"])
    p.wait()
    assert_error(run_profiler(tmp_path, ["top", "--pid", p.pid]), 3)
    sleeper = procs.start(["sleep", "100"])
    assert_error(run_profiler(tmp_path, ["top", "--pid", sleeper.pid]), 5)
    assert_not_harmed(sleeper.pid, "sleep")


def test_crash_restores_terminal_and_detaches(procs, one_interp, tmp_path):
    """top dies of SIGSEGV (a crash of the profiler): the terminal is put back first, the
    target is detached and runs on; the shell sees the signal (exit 128 + 11)."""
    w = _start(procs, one_interp, tmp_path)
    t = Tmux(procs, tmp_path, _top_argv(w, "--rate", 1000))
    t.wait_for("rows", lambda l: _first_row(l) is not None)
    kids = e2elib.children_of(t.pids[0])
    assert len(kids) == 1, "the pane's shell has children %s, expected top alone" % kids
    os.kill(kids[0], signal.SIGSEGV)
    assert t.exit_status() == 128 + signal.SIGSEGV
    t.terminal_restored()
    assert_not_harmed(w.pid)


def test_sigkill_leaves_target_running(procs, one_interp, tmp_path):
    """SIGKILL top at 1000 Hz, several times: the target is never left stopped or traced."""
    w = _start(procs, one_interp, tmp_path)
    for _ in range(4):
        p = _background_top(procs, w, "--rate", 1000, "--delay", 0.1)
        os.kill(p.pid, signal.SIGKILL)
        p.wait(timeout=30)
        p.stdout.close()
        p.stderr.close()
        assert_not_harmed(w.pid)


def test_program_plain_table_and_exit_status(one_interp, tmp_path):
    """top -- PROGRAM, not a terminal: tables of the program's busy function; pyspy-c
    ends when the program does, with its exit status."""
    truth = tmp_path / "truth.json"
    run = run_profiler(tmp_path, ["top", "--delay", 0.5, "--"] + one_interp.argv + [
        os.path.join(WORKLOADS, "spawn_target.py"), "busy", truth, 1.2, 5])
    assert run.rc == 5, run.describe()
    bodies = [b for b in run.out.split("\n\n") if b.lstrip().startswith("%Own")]
    assert bodies, run.describe()
    assert _rows(bodies[-1].split("\n"))[0][2] == "busy_loop (spawn_target.py)", run.describe()


def test_program_q_sends_sigint(procs, one_interp, tmp_path):
    """top -- PROGRAM in a terminal: q leaves the view; the program gets the SIGINT that
    Ctrl-C would have sent it (the keys went to the view), and its status is top's."""
    truth = tmp_path / "truth.json"
    t = Tmux(procs, tmp_path, [e2elib.require_binary(), "top", "--"] + one_interp.argv + [
        os.path.join(WORKLOADS, "spawn_target.py"), "until-sigint", truth, 60, 0])
    t.wait_for("a row for busy_loop", lambda l: _first_row(l) is not None and
               _first_row(l)[2] == "busy_loop (spawn_target.py)")
    t.keys("q")
    assert t.exit_status() == 3  # the program's KeyboardInterrupt handler
    t.terminal_restored()


def test_closed_pipe_ends_top(procs, one_interp, tmp_path):
    """`top | head`: the reader going away ends top as `q` would: exit 0, nothing on
    stderr, the target detached and unharmed."""
    w = _start(procs, one_interp, tmp_path)
    p = subprocess.run(["bash", "-c", 'set -o pipefail; "$0" top -p "$1" --delay 0.2 -d 30 '
                        '| head -n 2', e2elib.require_binary(), str(w.pid)],
                       capture_output=True, timeout=60, env=e2elib.profiler_env(one_interp))
    assert p.returncode == 0 and p.stderr == b"", (p.returncode, p.stderr)
    assert p.stdout.startswith(b"pyspy-c top: pid %d" % w.pid), p.stdout
    assert e2elib.tracer_pid(w.pid) == 0
    assert_not_harmed(w.pid)
