"""Garbage collection workload (3.x; on 2.7 without gc.callbacks, no timings).

usage: gc_target.py TRUTH_JSON READY_FD CONTROL_FD

The main thread ("MainThread") makes reference cycles without end
(churn -> make_cycle), keeping the last few thousand alive so that they
reach the older generations, over a large set of live containers that every
full collection traverses: the collector runs often, and for a good share
of the time.  A second thread ("sleeper") waits, never waking, and must
never carry <GC>.

Ground truth, from inside: a gc.callbacks callback (3.3+) notes the
monotonic time of each "start" and "stop" and, at "start", the stack of the
frame that triggered the collection (sys._getframe(1) chain, root first,
as (function, file, line)).  Every 20 ms the main thread appends
"MONOTONIC GC_SECONDS COLLECTIONS" to TRUTH_JSON.times, and rewrites
TRUTH_JSON.stacks (JSON: the distinct stacks seen at "start") when new ones
appeared; so a test reads the collector's time over any window it chooses.
TRUTH_JSON holds what start_ground_truth checks (pid, version, threads).
"""
import gc
import json
import os
import sys
import threading
import time

try:
    monotonic = time.monotonic
except AttributeError:  # 2.7
    monotonic = time.time

import wlcommon

STATE = {"t0": 0.0, "total": 0.0, "n": 0, "new": False}
STACKS = set()


def on_gc(phase, info):
    t = monotonic()
    if phase == "start":
        STATE["t0"] = t
        try:
            f = sys._getframe(1)
        except ValueError:  # a collection with no Python frame under it (at exit)
            return
        stack = []
        while f is not None:
            stack.append((f.f_code.co_name, f.f_code.co_filename, f.f_lineno))
            f = f.f_back
        stack = tuple(reversed(stack))
        if stack not in STACKS:
            STACKS.add(stack)
            STATE["new"] = True
    else:
        STATE["total"] += t - STATE["t0"]
        STATE["n"] += 1


def make_cycle(i):
    a = {"i": i}
    b = [a, i]
    a["b"] = b
    return a


def report(times, stacks_path):
    times.write("%.6f %.6f %d\n" % (monotonic(), STATE["total"], STATE["n"]))
    times.flush()
    if STATE["new"]:
        STATE["new"] = False
        # A copy first, in one C call: iterating STACKS itself allocates, a
        # collection that triggers runs on_gc, which may add the stack it is
        # called from, and the iteration would end in "RuntimeError: Set
        # changed size during iteration" (it did: in CI, twice in a run, the
        # workload died just after start-up; here, once in 300 starts with
        # the report times varied, none in 400 with the copy).  The copy's
        # own allocation happens before it reads the set.
        wlcommon.write_json(stacks_path, sorted(list(s) for s in STACKS.copy()))


def churn(times, stacks_path):
    keep = [None] * 5000
    i = 0
    next_report = monotonic()
    while True:
        keep[i % 5000] = make_cycle(i)
        i += 1
        if i % 200 == 0 and monotonic() >= next_report:
            report(times, stacks_path)
            next_report = monotonic() + 0.02


def sleeper(reg):
    # Waits without ever waking: a thread that took the GIL while the
    # collector runs its Python callback would be taken for the collector's
    # (a documented limit), which this test does not measure.
    reg.register("excluded")
    threading.Event().wait()


def main():
    truth_path = sys.argv[1]
    ready_fd = int(sys.argv[2])
    reg = wlcommon.Registry()
    reg.expected = 2
    reg.register("excluded")
    wlcommon.start_thread("sleeper", sleeper, reg)
    live = [[i] for i in range(150000)]  # traversed by every full collection
    if hasattr(gc, "callbacks"):
        gc.callbacks.append(on_gc)
    reg.all_registered.wait(30)
    # Both threads are listed without frames ("excluded"): their stacks are the collector's.
    truth = wlcommon.ground_truth(reg, {})
    truth["callbacks"] = hasattr(gc, "callbacks")
    wlcommon.write_json(truth_path, truth)
    with open(truth_path + ".times", "w") as times:
        wlcommon.write_all(ready_fd, b"R")
        churn(times, truth_path + ".stacks")
    del live


if __name__ == "__main__":
    main()
