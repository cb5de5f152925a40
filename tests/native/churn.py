"""Thread churn (Python 2.7 and 3.x): threads started and joined all the time.

    python churn.py [READY_FD]

Writes "ready" to READY_FD (default 1) once the first round of threads is
joined, then forever: start 4 threads that each add up 10000 numbers, join
them, sleep 1 ms.  At any moment some thread states belong to threads the
OS has not started yet, or that have finished, and the main thread is
creating or joining them (issue 12: their samples must not fail to merge
with --native).
"""
import os
import sys
import threading
import time


# 10000: enough work that a 3 s recording at 500 Hz catches the workers
# running in hundreds of samples (with 2000, only 20 to 70 of 1500, and a
# busy machine took that under the test's 10).
def work():
    s = 0
    for i in range(10000):
        s += i
    return s


def round_of_threads():
    ts = [threading.Thread(target=work) for _ in range(4)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()


round_of_threads()
os.write(int(sys.argv[1]) if len(sys.argv) > 1 else 1, b"ready\n")
while True:
    round_of_threads()
    time.sleep(0.001)
