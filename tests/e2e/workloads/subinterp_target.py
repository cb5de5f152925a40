"""Subinterpreter workload (3.12+).

usage: subinterp_target.py TRUTH_JSON READY_FD CONTROL_FD

The main thread makes a subinterpreter: concurrent.interpreters (3.14+),
else _interpreters (3.13), else _xxsubinterpreters (3.12), each with its
default configuration (a GIL of its own).  Threads:

  MainThread  <module> -> main -> main_spins: a one-line busy loop (main interpreter)
  sub-runner  run_sub -> the exec call (3.14+: Interpreter.exec) -> in the
              subinterpreter <module> (<string>, 3.14+ <script>) ->
              subinterp_inner.spin_sub: a one-line busy loop
  reporter    writes the ground truth, says b"R" on READY_FD, then waits
              for CONTROL_FD to read EOF or a byte and ends the process;
              excluded from the ground truth

Ground truth (TRUTH_JSON, as ground_truth.py writes it): the sub-runner's
frames are its outer ones, from the main interpreter's
sys._current_frames() (its main-interpreter thread state waits in the exec
call), then the subinterpreter's own (subinterp_inner.spin_sub); "outer" is
how many are outer, "api" which module made the subinterpreter.
"""
import os
import select
import sys
import threading

import wlcommon

REG = wlcommon.Registry()
SPIN = [True]
WLDIR = os.path.dirname(os.path.abspath(__file__))


def make_runner():
    """(api, run(code), id): run code in a new subinterpreter, in the calling
    thread; id is the interpreter's, as the module that made it says."""
    try:
        from concurrent import interpreters
    except ImportError:
        pass
    else:
        interp = interpreters.create()
        return "concurrent.interpreters", interp.exec, interp.id
    try:
        import _interpreters as mod
        api = "_interpreters"
    except ImportError:
        import _xxsubinterpreters as mod
        api = "_xxsubinterpreters"
    iid = mod.create()
    return api, lambda code: mod.run_string(iid, code), int(iid)


def spin_code(inner_path, spinning_fd):
    """The code a subinterpreter runs: subinterp_inner.spin_sub."""
    return ("import sys; sys.path.insert(0, %r); import subinterp_inner; "
            "subinterp_inner.spin_sub(%r, %d)" % (WLDIR, inner_path, spinning_fd))


def run_sub(run, code):
    # Its stack ends in the exec call, not at a # BUSY line: reported apart.
    REG.register("excluded")
    run(code)


def main_spins(flag):
    while flag[0]: pass  # BUSY


def report(truth_path, ready_fd, control_fd, spinning_fd, runners):
    """The reporter thread.  runners: [(thread, inner_path, meta)], meta a dict
    its runner thread fills: "api" (which module made its subinterpreter) and
    "interp" (the subinterpreter's id)."""
    REG.register("excluded")
    try:
        for _ in runners:
            r, _, _ = select.select([spinning_fd], [], [], 60)
            if not r or os.read(spinning_fd, 1) != b"S":
                raise RuntimeError("a subinterpreter never started spinning")
        frames = wlcommon.wait_until_all_at_block_points(REG)
        truth = wlcommon.ground_truth(REG, frames)
        for t in truth["threads"]:
            t["interp"] = "main"
        for thread, inner_path, meta in runners:
            with open(inner_path) as f:
                inner = __import__("json").load(f)
            outer = wlcommon.stack_of(frames[thread.ident])
            entry = [e for e in truth["excluded"] if e["ident"] == thread.ident][0]
            truth["excluded"].remove(entry)
            entry["kind"] = "busy"
            entry["frames"] = outer + inner
            entry["outer"] = len(outer)
            entry["interp"] = str(meta["interp"])
            truth["threads"].append(entry)
            truth["api"] = meta["api"]
        del frames
        wlcommon.write_json(truth_path, truth)
    except Exception as e:  # noqa: BLE001
        sys.stderr.write("%s: %r\n" % (os.path.basename(sys.argv[0]), e))
        sys.stderr.flush()
        os._exit(1)
    wlcommon.write_all(ready_fd, b"R")
    wlcommon.read_byte(control_fd)
    os._exit(0)


def main():
    truth_path = sys.argv[1]
    ready_fd = int(sys.argv[2])
    control_fd = int(sys.argv[3])
    inner_path = truth_path + ".inner"
    spin_r, spin_w = os.pipe()
    api, run, iid = make_runner()
    REG.expected = 3  # MainThread, sub-runner, reporter
    REG.register("busy")
    runner = wlcommon.start_thread("sub-runner", run_sub, run, spin_code(inner_path, spin_w))
    wlcommon.start_thread("reporter", report, truth_path, ready_fd, control_fd, spin_r,
                          [(runner, inner_path, {"api": api, "interp": iid})])
    main_spins(SPIN)


if __name__ == "__main__":
    main()
