"""Workload for the merge success rate on a long run (Python 2.7 and 3.x).

    python mixed.py EXTDIR READY_FD

Writes "ready" to READY_FD, then loops forever over stacks that go back and
forth between Python and C: recursion, sorted(key=...), map(), the
extension's call_back(), generators, __init__, json with a default hook.
"""
import json
import os
import sys

sys.path.insert(0, sys.argv[1])
import spin  # noqa: E402

READY_FD = int(sys.argv[2])


def leaf(x):
    s = 0
    for i in range(200):
        s += i * x
    return s


def rec(n):
    if n == 0:
        return leaf(n)
    return rec(n - 1) + 1


def via_sort():
    return sorted(range(50), key=leaf)


def via_map():
    return list(map(rec, range(8)))


def via_ext():
    return spin.call_back(lambda: rec(5))


def gen():
    for i in range(20):
        yield leaf(i)


def via_gen():
    return sum(gen())


class K(object):
    def __init__(self):
        self.v = rec(3)


def via_init():
    return K()


def via_json():
    return json.dumps({"a": [object() for _ in range(5)]}, default=lambda o: leaf(3))


os.write(READY_FD, b"ready\n")
while True:
    for f in (via_sort, via_map, via_ext, via_gen, via_init, via_json):
        f()
