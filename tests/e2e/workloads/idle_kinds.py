"""Idle-classification workload.  Plain code, valid on Python 2.7 and 3.x.

usage: idle_kinds.py MODE TRUTH_JSON READY_FD CONTROL_FD

Threads that wait in different ways, and one or two that keep a CPU busy,
each named in Python with a name longer than the 15 bytes an OS thread name
(comm) can hold.  Writes the ground truth (wlcommon.ground_truth: every
thread's stack, OS thread id and Python name) to TRUTH_JSON once every
thread sits at its block point, then b"R" to READY_FD; exits when
CONTROL_FD reads EOF or a byte.

MODE "python" or "c" picks the busy thread, "both" runs the two:
  sleeper-in-time-sleep       time.sleep                   (idle)
  waiter-on-a-lock-acquire    lock.acquire()               (idle)
  selector-in-select-call     select.select on a pipe      (idle)
  reader-of-a-socket-recv     recv() on a socketpair       (idle)
  spinner-in-a-python-loop    a one-line Python loop       (busy, holds the GIL)  python, both
  spinner-in-c-compressing    zlib.compress of 64 MiB, in C,
                              the GIL released, in a loop  (busy)                 c, both
  MainThread                  os.read on CONTROL_FD        (idle)
  reporter                    writes the truth, then waits (excluded)
The C spinner is alone with the sleepers in mode "c": beside a Python
spinner it would wait for the GIL (asleep, so idle) after each call.
zlib.compress releases the GIL in every version; hashlib's sha256 does
not where there is no OpenSSL _hashlib (pyenv's 2.7).
"""
import os
import select
import socket
import sys
import threading
import time
import zlib

import wlcommon

REG = wlcommon.Registry()
SPIN = [True]


def sleeper():
    REG.register("blocked")
    while True: time.sleep(3600)  # BLOCK


def lock_waiter():
    lock = threading.Lock()
    lock.acquire()
    REG.register("blocked")
    lock.acquire()  # BLOCK


def selector():
    r, w = os.pipe()
    REG.register("blocked")
    select.select([r], [], [])  # BLOCK


def socket_reader():
    a, b = socket.socketpair()
    REG.register("blocked")
    a.recv(1)  # BLOCK


def python_spinner(flag):
    REG.register("busy")
    while flag[0]: pass  # BUSY


def c_spinner(flag):
    data = b"x" * (64 << 20)
    REG.register("busy")
    while flag[0]: zlib.compress(data, 1)  # BUSY


def main_waits_for_quit(fd):
    os.read(fd, 1)  # BLOCK


def main():
    mode = sys.argv[1]
    truth_path = sys.argv[2]
    ready_fd = int(sys.argv[3])
    control_fd = int(sys.argv[4])
    threads = [
        ("sleeper-in-time-sleep", sleeper),
        ("waiter-on-a-lock-acquire", lock_waiter),
        ("selector-in-select-call", selector),
        ("reader-of-a-socket-recv", socket_reader),
    ]
    if mode in ("python", "both"):
        threads.append(("spinner-in-a-python-loop", python_spinner))
    if mode in ("c", "both"):
        threads.append(("spinner-in-c-compressing", c_spinner))
    if mode not in ("python", "c", "both"):
        sys.stderr.write("idle_kinds: unknown mode %r\n" % mode)
        os._exit(2)
    REG.expected = len(threads) + 2  # + MainThread + reporter
    REG.register("blocked")
    for name, target in threads:
        if target in (python_spinner, c_spinner):
            wlcommon.start_thread(name, target, SPIN)
        else:
            wlcommon.start_thread(name, target)
    wlcommon.start_thread("reporter", wlcommon.reporter_main, REG, truth_path, ready_fd,
                          "idle_kinds")
    main_waits_for_quit(control_fd)
    SPIN[0] = False
    os._exit(0)


if __name__ == "__main__":
    main()
