"""A fixed amount of CPU-bound work, timed by the target itself.

usage: work.py

Commands on stdin:
  calibrate SECONDS   -> {"units": N}: about how many units take SECONDS
  run N               -> {"elapsed": S}: do N units, S by the monotonic clock
The work is plain Python: small functions calling each other a few levels
deep, integer arithmetic, list and dict operations.
"""
from wl import monotonic, ready, serve


def leaf(i):
    return (i * 7 + 3) % 1013


def middle(k):
    acc = 0
    for i in range(k):
        acc += leaf(i)
    return acc


def unit():
    d = {}
    total = 0
    for j in range(20):
        total += middle(50)
        d[j] = total & 0xFF
    return total + len(d)


def run(n):
    n = int(n)
    t0 = monotonic()
    for _ in range(n):
        unit()
    return {"elapsed": monotonic() - t0}


def calibrate(seconds):
    seconds = float(seconds)
    n = 1
    while run(n)["elapsed"] < 0.05:
        n *= 2
    # The fastest of a few runs: a run slowed by another process would
    # make the unit look longer than it is.
    t = min(run(n)["elapsed"] for _ in range(3))
    return {"units": max(1, int(n * seconds / t))}


ready()
serve({"run": run, "calibrate": calibrate})
