"""Two functions sharing the CPU in a known ratio; each times itself.

usage: split.py FRACTION PERIOD_MS

Commands on stdin:
  run SECONDS   -> {"a": Ta, "b": Tb, "cpu_a": Ca, "cpu_b": Cb}
For SECONDS, time is cut into periods of PERIOD_MS on an absolute schedule:
hot_a() spins for the first FRACTION of each period, hot_b() for the rest.
Ta and Tb are the wall times (perf_counter) spent inside each function as
measured by the function itself, Ca and Cb the CPU times (process time).
The period should not be a simple multiple of the sampling period, so that
samples fall on every phase of it.
"""
import sys

from wl import perf_counter, process_time, ready, serve


def hot_a(until, acc):
    t0 = perf_counter()
    c0 = process_time()
    while perf_counter() < until:
        pass
    acc[0] += perf_counter() - t0
    acc[2] += process_time() - c0


def hot_b(until, acc):
    t0 = perf_counter()
    c0 = process_time()
    while perf_counter() < until:
        pass
    acc[1] += perf_counter() - t0
    acc[3] += process_time() - c0


def main():
    fraction = float(sys.argv[1])
    period = float(sys.argv[2]) / 1000.0

    def run(seconds):
        acc = [0.0, 0.0, 0.0, 0.0]
        start = perf_counter()
        end = start + float(seconds)
        k = 0
        while True:
            base = start + k * period
            if base >= end:
                break
            hot_a(base + fraction * period, acc)
            hot_b(base + period, acc)
            k += 1
        return {"a": acc[0], "b": acc[1], "cpu_a": acc[2], "cpu_b": acc[3]}

    ready()
    serve({"run": run})


main()
