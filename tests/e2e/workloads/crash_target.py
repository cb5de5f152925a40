"""Crash workload (tests/e2e/test_core.py).  Plain code, valid on Python 2.7 and 3.x.

usage: crash_target.py abort|segv TRUTH_JSON READY_FD CONTROL_FD

ground_truth.py's threads at their known stacks (MainThread, nested-event,
generator, ... spinner), plus a "crasher" thread (excluded from the ground
truth) that waits until every thread is at its block point, writes their
stacks (sys._current_frames + traceback.extract_stack) to TRUTH_JSON, writes
b"R" to READY_FD, and then crashes the whole process from inside:
  abort  os.abort(): SIGABRT
  segv   a read of address 0 through ctypes: SIGSEGV
The caller enables core dumps (RLIMIT_CORE); the workload works in the
directory of TRUTH_JSON, where a relative core_pattern puts the core (chroot(1)
starts it in the chroot's /, which is not the test's).
"""
import os
import sys

import ground_truth as gt
import wlcommon


def crash_now(mode):
    if mode == "abort":
        os.abort()  # CRASH
    import ctypes
    ctypes.string_at(0)  # CRASH


def crasher_main(mode, truth_path, ready_fd):
    gt.REG.register("excluded")
    try:
        frames = wlcommon.wait_until_all_at_block_points(gt.REG)
        wlcommon.write_json(truth_path, wlcommon.ground_truth(gt.REG, frames))
        del frames
    except Exception as e:  # noqa: BLE001
        sys.stderr.write("crash_target: %s\n" % e)
        sys.stderr.flush()
        os._exit(1)
    wlcommon.write_all(ready_fd, b"R")
    crash_now(mode)


def main():
    mode = sys.argv[1]
    truth_path = sys.argv[2]
    ready_fd = int(sys.argv[3])
    control_fd = int(sys.argv[4])
    os.chdir(os.path.dirname(os.path.abspath(truth_path)))
    threads = [
        ("nested-event", gt.outer_alpha),
        ("generator", gt.consume_generator),
        ("method-lock", gt.Worker().method_blocks_on_lock),
        ("pkg-sleeper", gt.pkg_thread_main),
        ("lambda", gt.call_a_lambda),
        ("listcomp", gt.use_a_comprehension),
        ("genexpr", gt.use_a_genexpr),
        ("recursive", gt.recursive_main),
        ("spinner", gt.spin_thread_main),
    ]
    gt.REG.expected = len(threads) + 2  # + MainThread + crasher
    gt.REG.register("blocked")
    for name, target in threads:
        wlcommon.start_thread(name, target)
    wlcommon.start_thread("crasher", crasher_main, mode, truth_path, ready_fd)
    gt.main_waits_for_quit(control_fd)
    os._exit(0)


if __name__ == "__main__":
    main()
