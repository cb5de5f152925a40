"""Workload for the native-sample benchmark (Python 2.7 and 3.x).

    python deep.py EXTDIR READY_FD DEPTH

Recurses so that the stack holds DEPTH Python frames (<module> included),
then spins in C (spin.spin) forever.
"""
import sys

sys.path.insert(0, sys.argv[1])
import spin  # noqa: E402

READY_FD = int(sys.argv[2])
DEPTH = int(sys.argv[3])
sys.setrecursionlimit(max(1000, DEPTH + 100))


def rec(n):
    if n <= 2:
        spin.spin(READY_FD)
    rec(n - 1)


rec(DEPTH)
