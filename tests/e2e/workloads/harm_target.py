"""Target for the do-no-harm tests.  Plain code, valid on Python 2.7 and 3.x.

usage: harm_target.py MODE CMD_FD REPLY_FD

Every mode starts a sleeping thread and (except churn) a busy thread
(`harm_busy_loop`, a one-line spin loop), then writes "ready\\n" to REPLY_FD
and obeys one-byte commands read from CMD_FD (EOF means quit):

  ping     b"p" -> replies b"p";  b"q" -> exits 0
  signals  SIGUSR1 handler counts and acknowledges each signal with b"s";
           b"q" -> replies "count N\\n" and exits 0
  sleep    b"g" -> measures three time.sleep(1) (monotonic clock) and replies
           "slept T1 T2 T3\\n";  b"q" -> exits 0
  churn    b"g" -> starts and joins a thread, again and again, at least 3000
           times and for at least 2 seconds, replies "churned N\\n" and exits 0
"""
import os
import signal
import sys
import threading
import time

import wlcommon

SPIN = [True]
COUNT = [0]


def harm_busy_loop(flag):
    while flag[0]: pass  # BUSY


def harm_sleeper():
    while True:
        time.sleep(3600)


def on_sigusr1(signum, frame):
    COUNT[0] += 1
    wlcommon.write_all(REPLY_FD, b"s")


def sleep_measured():
    times = []
    for _ in range(3):
        t0 = wlcommon._monotonic()
        time.sleep(1)
        times.append(wlcommon._monotonic() - t0)
    return times


def churn_child():
    pass


def churn():
    n = 0
    t0 = wlcommon._monotonic()
    while n < 3000 or wlcommon._monotonic() - t0 < 2.0:
        t = threading.Thread(target=churn_child)
        t.start()
        t.join()
        n += 1
    return n


def serve(mode):
    while True:
        c = wlcommon.read_byte(CMD_FD)
        if c in (b"", b"q"):
            if mode == "signals":
                wlcommon.write_all(REPLY_FD, "count %d\n" % COUNT[0])
            return
        if c == b"p":
            wlcommon.write_all(REPLY_FD, b"p")
        elif c == b"g" and mode == "sleep":
            wlcommon.write_all(REPLY_FD, "slept %s\n" % " ".join("%.6f" % t for t in sleep_measured()))
        elif c == b"g" and mode == "churn":
            wlcommon.write_all(REPLY_FD, "churned %d\n" % churn())
            return


def main():
    global CMD_FD, REPLY_FD
    mode = sys.argv[1]
    CMD_FD = int(sys.argv[2])
    REPLY_FD = int(sys.argv[3])
    if mode == "signals":
        signal.signal(signal.SIGUSR1, on_sigusr1)
    if mode != "churn":  # a spinning thread would make each start()/join() wait for the GIL
        wlcommon.start_thread("busy", harm_busy_loop, SPIN)
    wlcommon.start_thread("sleeper", harm_sleeper)
    wlcommon.write_all(REPLY_FD, b"ready\n")
    serve(mode)
    SPIN[0] = False
    sys.stdout.flush()
    os._exit(0)


if __name__ == "__main__":
    main()
