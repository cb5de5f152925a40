"""Threads and child processes that start and end all the time (Python 2.7 and 3.x).

usage: churn_procs.py

Every round starts 4 threads that do a little work and end, and every
tenth round a child Python process that works a little, sleeps half a
second and exits (light: the benchmark runs for an hour).
Prints "ready" once the first round is done; runs until killed.
"""
import subprocess
import sys
import threading
import time


def work(n):
    s = 0
    for i in range(n):
        s += i
    return s


def main():
    kids = []
    rounds = 0
    while True:
        ts = [threading.Thread(target=work, args=(20000,)) for _ in range(4)]
        for t in ts:
            t.start()
        for t in ts:
            t.join()
        if rounds % 10 == 0:
            kids.append(subprocess.Popen([sys.executable, "-c",
                                          "import time\nsum(range(100000))\n"
                                          "time.sleep(0.5)\n"]))
        kids = [k for k in kids if k.poll() is None]
        if rounds == 0:
            sys.stdout.write("ready\n")
            sys.stdout.flush()
        rounds += 1
        time.sleep(0.02)


if __name__ == "__main__":
    main()
