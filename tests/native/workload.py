"""Workload for the native-stack tests (Python 2.7 and 3.x).

    python workload.py EXTDIR READY_FD [--no-thread]

<module> -> outer() -> spin.call_back(middle) (C) -> middle()
-> spin.spin(READY_FD) (C), which writes "ready" and spins in C forever.
Unless --no-thread, a C-only thread is started first.
"""
import sys

sys.path.insert(0, sys.argv[1])
import spin  # noqa: E402

READY_FD = int(sys.argv[2])


def middle():
    spin.spin(READY_FD)  # LINE:middle


def outer():
    spin.call_back(middle)  # LINE:outer


if "--no-thread" not in sys.argv:
    spin.start_native_thread()
outer()  # LINE:module
