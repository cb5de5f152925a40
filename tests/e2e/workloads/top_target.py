"""Workload of the top tests.  Plain code, valid on Python 2.7 and 3.x.

usage: top_target.py TRUTH_JSON READY_FD CONTROL_FD

Threads started with the low-level thread module, so that no threading
frames sit under them and their whole stacks are these functions:
  spinner      spin_outer -> spin_leaf: a one-line busy loop        (busy)
  3 waiters    common_caller -> wait_in_sleep / wait_in_select /
               wait_in_lock                                       (blocked)
  MainThread   <module> -> main -> main_waits_for_quit: os.read on CONTROL_FD
  reporter     (threading) writes the ground truth, then waits    (excluded)
Writes the ground truth (wlcommon) to TRUTH_JSON and b"R" to READY_FD once
every thread is at its block point; exits when CONTROL_FD reads a byte or
EOF.

So, without --idle, spin_leaf is the only function running itself; with
--idle (every thread in every sample), common_caller has the largest total
share (three threads) and no own share, while the leaves all have the
same own share (one thread each).
"""
import os
import select
import sys
import threading
import time

try:
    import _thread
except ImportError:  # Python 2.7
    import thread as _thread

import wlcommon

REG = wlcommon.Registry()
SPIN = [True]


def spin_leaf(flag):
    while flag[0]: pass  # BUSY


def spin_outer(flag):
    REG.register("busy")
    spin_leaf(flag)


def wait_in_sleep():
    while True: time.sleep(3600)  # BLOCK


def wait_in_select():
    r, w = os.pipe()
    select.select([r], [], [])  # BLOCK


def wait_in_lock():
    lock = threading.Lock()
    lock.acquire()
    lock.acquire()  # BLOCK


def common_caller(leaf):
    REG.register("blocked")
    leaf()


def main_waits_for_quit(fd):
    os.read(fd, 1)  # BLOCK


def main():
    truth_path = sys.argv[1]
    ready_fd = int(sys.argv[2])
    control_fd = int(sys.argv[3])
    REG.expected = 1 + 3 + 2  # spinner, waiters, MainThread, reporter
    REG.register("blocked")
    _thread.start_new_thread(spin_outer, (SPIN,))
    for leaf in (wait_in_sleep, wait_in_select, wait_in_lock):
        _thread.start_new_thread(common_caller, (leaf,))
    wlcommon.start_thread("reporter", wlcommon.reporter_main, REG, truth_path, ready_fd,
                          "top_target")
    main_waits_for_quit(control_fd)
    SPIN[0] = False
    os._exit(0)


if __name__ == "__main__":
    main()
