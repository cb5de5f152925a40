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
import os
import sys

import wlcommon
from subinterp_target import REG, SPIN, main_spins, make_runner, report, spin_code


def run_sub(meta, inner_path, spin_w):
    REG.register("excluded")
    meta["api"], run, meta["interp"] = make_runner()
    run(spin_code(inner_path, spin_w))


def main():
    truth_path = sys.argv[1]
    ready_fd = int(sys.argv[2])
    control_fd = int(sys.argv[3])
    n = int(sys.argv[4]) if len(sys.argv) > 4 else 3
    spin_r, spin_w = os.pipe()
    REG.expected = n + 2  # MainThread, sub-1..n, reporter
    REG.register("busy")
    runners = []
    for k in range(1, n + 1):
        inner_path = "%s.inner%d" % (truth_path, k)
        meta = {}
        runners.append((wlcommon.start_thread("sub-%d" % k, run_sub, meta, inner_path, spin_w),
                        inner_path, meta))
    wlcommon.start_thread("reporter", report, truth_path, ready_fd, control_fd, spin_r, runners)
    main_spins(SPIN)


if __name__ == "__main__":
    main()
