"""Several subinterpreters busy at once, each in a thread of its own (3.12+).

usage: subinterps_target.py TRUTH_JSON READY_FD CONTROL_FD [N]

Threads:

  MainThread  <module> -> main -> main_spins: a one-line busy loop (main interpreter)
  sub-K       (K = 1..N, default 3) run_sub: makes its own subinterpreter
              (subinterp_target.make_runner: concurrent.interpreters 3.14+,
              _interpreters 3.13, _xxsubinterpreters 3.12) and runs in it
              subinterp_inner.spin_sub, a one-line busy loop
  reporter    writes the ground truth, says b"R" on READY_FD, then waits
              for CONTROL_FD and ends the process; excluded

Ground truth (TRUTH_JSON, as ground_truth.py writes it): each sub-K's frames
are its outer ones, from the main interpreter's sys._current_frames(), then
the ones its subinterpreter wrote for itself (traceback.extract_stack());
"outer" is how many are outer, "interp" the id of the interpreter it runs
in, as the module that made it gave it; MainThread has "interp": "main".
"""
import json
import os
import select
import sys

import wlcommon
from subinterp_target import WLDIR, main_spins, make_runner

REG = wlcommon.Registry()
SPIN = [True]
RUNNERS = {}


def run_sub(k, inner_path, spin_w):
    REG.register("excluded")
    api, run, iid = make_runner()
    RUNNERS[k] = (api, iid)
    code = ("import sys; sys.path.insert(0, %r); import subinterp_inner; "
            "subinterp_inner.spin_sub(%r, %d)" % (WLDIR, inner_path, spin_w))
    run(code)


def report(truth_path, ready_fd, control_fd, spin_r, runners):
    REG.register("excluded")
    try:
        for _ in runners:
            r, _, _ = select.select([spin_r], [], [], 60)
            if not r or os.read(spin_r, 1) != b"S":
                raise RuntimeError("a subinterpreter never started spinning")
        frames = wlcommon.wait_until_all_at_block_points(REG)
        truth = wlcommon.ground_truth(REG, frames)
        for t in truth["threads"]:
            t["interp"] = "main"
        for k, (thread, inner_path) in sorted(runners.items()):
            with open(inner_path) as f:
                inner = json.load(f)
            outer = wlcommon.stack_of(frames[thread.ident])
            entry = [e for e in truth["excluded"] if e["ident"] == thread.ident][0]
            truth["excluded"].remove(entry)
            entry["kind"] = "busy"
            entry["frames"] = outer + inner
            entry["outer"] = len(outer)
            entry["interp"] = str(int(RUNNERS[k][1]))
            truth["threads"].append(entry)
            truth["api"] = RUNNERS[k][0]
        del frames
        wlcommon.write_json(truth_path, truth)
    except Exception as e:  # noqa: BLE001
        sys.stderr.write("subinterps_target: %r\n" % (e,))
        sys.stderr.flush()
        os._exit(1)
    wlcommon.write_all(ready_fd, b"R")
    wlcommon.read_byte(control_fd)
    os._exit(0)


def main():
    truth_path = sys.argv[1]
    ready_fd = int(sys.argv[2])
    control_fd = int(sys.argv[3])
    n = int(sys.argv[4]) if len(sys.argv) > 4 else 3
    spin_r, spin_w = os.pipe()
    REG.expected = n + 2  # MainThread, sub-1..n, reporter
    REG.register("busy")
    runners = {}
    for k in range(1, n + 1):
        inner_path = "%s.inner%d" % (truth_path, k)
        runners[k] = (wlcommon.start_thread("sub-%d" % k, run_sub, k, inner_path, spin_w),
                      inner_path)
    wlcommon.start_thread("reporter", report, truth_path, ready_fd, control_fd, spin_r, runners)
    main_spins(SPIN)


if __name__ == "__main__":
    main()
