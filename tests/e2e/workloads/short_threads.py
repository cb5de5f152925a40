"""Short-lived named threads, started and joined again and again (issue 12:
their Python names must be read when they are first seen).  Plain code,
valid on Python 2.7 and 3.x.

usage: short_threads.py SECONDS

Writes "ready" on stdout, then for SECONDS starts four threads named
"short-lived-worker-N", each running short_work() (a fraction of a
millisecond of Python), joins them, and again; then exits 0.
"""
import sys
import threading
import time


def short_work():
    s = 0
    for i in range(10000):
        s += i
    return s


def main():
    seconds = float(sys.argv[1])
    sys.stdout.write("ready\n")
    sys.stdout.flush()
    end = time.time() + seconds
    n = 0
    while time.time() < end:
        ts = [threading.Thread(target=short_work, name="short-lived-worker-%d" % (n + k))
              for k in range(4)]
        n += 4
        for t in ts:
            t.start()
        for t in ts:
            t.join()


main()
