"""Many threads, a few of them busy: the work of the busy ones is timed.

usage: threads.py NTHREADS NBUSY

NTHREADS threads in all, the main one included: NBUSY workers that do CPU
work on command, the main thread waiting for commands on stdin, and the
rest idle, half of them sleeping (time.sleep) and half blocked on a lock
that is never released.
Commands on stdin:
  calibrate SECONDS   -> {"units": N}
  run N               -> {"elapsed": S}: every busy worker does N units;
                         S from the start until the last one finished
"""
import sys
import threading
import time

from wl import monotonic, ready, serve


def leaf(i):
    return (i * 7 + 3) % 1013


def unit():
    total = 0
    for j in range(20):
        for i in range(50):
            total += leaf(i)
    return total


class Worker(object):
    def __init__(self):
        self.go = threading.Semaphore(0)
        self.done = threading.Semaphore(0)
        self.units = 0
        t = threading.Thread(target=self.loop, name="busy")
        t.daemon = True
        t.start()

    def loop(self):
        while True:
            self.go.acquire()
            for _ in range(self.units):
                unit()
            self.done.release()


def sleeper():
    while True:
        time.sleep(3600)


def main():
    nthreads = int(sys.argv[1])
    nbusy = int(sys.argv[2])
    held = threading.Lock()
    held.acquire()
    workers = [Worker() for _ in range(nbusy)]
    idle = nthreads - 1 - nbusy
    for i in range(idle):
        if i % 2:
            t = threading.Thread(target=held.acquire, name="blocked")
        else:
            t = threading.Thread(target=sleeper, name="sleeping")
        t.daemon = True
        t.start()

    def run(n):
        t0 = monotonic()
        for w in workers:
            w.units = int(n)
            w.go.release()
        for w in workers:
            w.done.acquire()
        return {"elapsed": monotonic() - t0}

    def calibrate(seconds):
        seconds = float(seconds)
        n = 1
        while run(n)["elapsed"] < 0.05:
            n *= 2
        t = min(run(n)["elapsed"] for _ in range(3))
        return {"units": max(1, int(n * seconds / t))}

    time.sleep(0.2)  # every thread at its block point
    ready(threads=threading.active_count())
    serve({"run": run, "calibrate": calibrate})


main()
