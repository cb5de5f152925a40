"""Ground-truth workload.  Plain code, valid on Python 2.7 and 3.x.

usage: ground_truth.py TRUTH_JSON READY_FD CONTROL_FD

Starts threads that reach known stacks and stay there, writes the exact stack
of every thread (from sys._current_frames + traceback.extract_stack) to
TRUTH_JSON, then writes b"R" to READY_FD.  Exits when CONTROL_FD reads EOF or
a byte (or when killed).

Threads (names are the Python thread names):
  MainThread     <module> -> main -> main_waits_for_quit: os.read
  nested-event   outer_alpha -> middle_beta -> inner_gamma_waits: Event().wait()
  generator      consume_generator -> gen_reads_pipe (a generator): os.read
  method-lock    Worker.method_blocks_on_lock: lock.acquire()
  pkg-sleeper    pkg/sub/deep.py deep_entry_point -> pkg/mod.py pkg_sleep_forever: time.sleep
  lambda         call_a_lambda -> <lambda>: os.read
  listcomp       use_a_comprehension -> <listcomp> (inlined in 3.12+): os.read
  genexpr        use_a_genexpr -> <genexpr>: os.read
  recursive      recurse_deeply x 25: os.read
  spinner        spin_thread_main -> busy_spin_here: one-line while loop (busy)
  reporter       writes the ground truth, then waits; excluded from it
"""
import os
import sys
import threading

import wlcommon
from pkg.sub import deep

REG = wlcommon.Registry()
SPIN = [True]
RECURSION = 25


def outer_alpha():
    ev = threading.Event()
    REG.register("blocked", event=ev)

    def middle_beta():
        def inner_gamma_waits():
            ev.wait()  # BLOCK
        inner_gamma_waits()
    middle_beta()


def gen_reads_pipe(fd):
    yield 1
    os.read(fd, 1)  # BLOCK
    yield 2


def consume_generator():
    r, w = os.pipe()
    REG.register("blocked")
    for _ in gen_reads_pipe(r):
        pass


class Worker(object):
    def __init__(self):
        self.lock = threading.Lock()
        self.lock.acquire()

    def method_blocks_on_lock(self):
        REG.register("blocked")
        self.lock.acquire()  # BLOCK


def pkg_thread_main():
    REG.register("blocked")
    deep.deep_entry_point()


def call_a_lambda():
    r, w = os.pipe()
    REG.register("blocked")
    (lambda: os.read(r, 1))()  # BLOCK


def use_a_comprehension():
    r, w = os.pipe()
    REG.register("blocked")
    return [os.read(r, 1) for _ in range(1)]  # BLOCK


def use_a_genexpr():
    r, w = os.pipe()
    REG.register("blocked")
    return list(os.read(r, 1) for _ in range(1))  # BLOCK


def recurse_deeply(n, fd):
    if n > 1:
        return recurse_deeply(n - 1, fd)
    os.read(fd, 1)  # BLOCK


def recursive_main():
    r, w = os.pipe()
    REG.register("blocked")
    recurse_deeply(RECURSION, r)


def busy_spin_here(flag):
    while flag[0]: pass  # BUSY


def spin_thread_main():
    REG.register("busy")
    busy_spin_here(SPIN)


def main_waits_for_quit(fd):
    os.read(fd, 1)  # BLOCK


def main():
    truth_path = sys.argv[1]
    ready_fd = int(sys.argv[2])
    control_fd = int(sys.argv[3])
    threads = [
        ("nested-event", outer_alpha),
        ("generator", consume_generator),
        ("method-lock", Worker().method_blocks_on_lock),
        ("pkg-sleeper", pkg_thread_main),
        ("lambda", call_a_lambda),
        ("listcomp", use_a_comprehension),
        ("genexpr", use_a_genexpr),
        ("recursive", recursive_main),
        ("spinner", spin_thread_main),
    ]
    REG.expected = len(threads) + 2  # + MainThread + reporter
    REG.register("blocked")
    for name, target in threads:
        wlcommon.start_thread(name, target)
    wlcommon.start_thread("reporter", wlcommon.reporter_main, REG, truth_path, ready_fd,
                          "ground_truth")
    main_waits_for_quit(control_fd)
    SPIN[0] = False
    os._exit(0)


if __name__ == "__main__":
    main()
