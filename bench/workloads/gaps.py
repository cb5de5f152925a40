"""A single busy thread at a known depth that notices when it is stopped.

usage: gaps.py DEPTH THRESHOLD_US

Like depth.py, but the innermost frame spins reading the clock: any gap
between two readings longer than THRESHOLD_US (the thread did not run: a
ptrace stop, or another process on its CPU) is recorded with its start.
With each gap goes the number of voluntary context switches the process
made meanwhile (getrusage ru_nvcsw): a thread that spins never sleeps, so a
gap with one is a stop (a ptrace stop is a voluntary switch), and a gap
without one is preemption by another process.
Every 1024 turns it looks for a command on stdin (without blocking):
  gaps SINCE   -> {"clock": NAME, "gaps": [[START, LENGTH, VOLUNTARY], ...]}:
                  the gaps that started at or after SINCE (seconds, clock
                  NAME: "monotonic", or "time" on Python 2.7), oldest first
  quit
The first stop after pyspy-c is launched is its first sample (pyspy-c stops
a blocking target only to sample it, and to detach at the end).
A Python without the resource module (Debian's bare python3.15, in a
chroot without /proc) cannot count them: VOLUNTARY is then -1 (unknown).
"""
import json
import select
import sys
import time

from wl import ready, say

try:
    import resource
except ImportError:
    resource = None

try:
    clock, clock_name = time.monotonic, "monotonic"
except AttributeError:  # Python 2.7
    clock, clock_name = time.time, "time"


def answer(line, gaps):
    words = line.split()
    if not words:
        return True
    if words[0] == "quit":
        return False
    if words[0] == "gaps":
        since = float(words[1])
        say(json.dumps({"clock": clock_name, "gaps": [g for g in gaps if g[0] >= since]}))
    else:
        say(json.dumps({"error": "unknown command %r" % words[0]}))
    return True


def voluntary():
    if resource is None:
        return None
    return resource.getrusage(resource.RUSAGE_SELF).ru_nvcsw


def spin(threshold):
    gaps = []
    stdin = sys.stdin
    vol = voluntary()
    last = clock()
    n = 0
    while True:  # BUSY
        t = clock()
        if t - last > threshold:
            v = voluntary()
            gaps.append([last, t - last, -1 if v is None else v - vol])
            vol = v
            if len(gaps) > 10000:
                del gaps[:5000]
            t = clock()
        last = t
        n += 1
        if n & 1023 == 0 and select.select([stdin], [], [], 0)[0]:
            line = stdin.readline()
            if not line or not answer(line, gaps):
                return
            vol = voluntary()
            last = clock()


def descend(n, threshold):
    if n > 1:
        descend(n - 1, threshold)
        return
    ready(clock=clock_name)
    spin(threshold)


def main():
    depth = int(sys.argv[1])
    threshold = float(sys.argv[2]) / 1e6
    if depth < 3:
        raise SystemExit("DEPTH must be at least 3")
    sys.setrecursionlimit(max(1000, depth + 100))
    # <module> and main() are two frames, each descend() one more.
    descend(depth - 2, threshold)


main()
