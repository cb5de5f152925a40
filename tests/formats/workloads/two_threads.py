"""A CPU-bound workload for the output-format tests: two threads, each in
its own chain of nested functions with distinct names, so every format's
view of a recording can be checked for them.  The second thread's stack is
deep (beta_recurse calls itself DEPTH times), for the writers' handling of
deep stacks.

    python two_threads.py READY_FD

Writes "ready\\n" to READY_FD once both threads run their loops, then runs
until killed.  Python 2.7 and 3.x.
"""
import os
import sys
import threading


def alpha_leaf(n):
    total = 0
    for i in range(n):
        total += i * i
    return total


def alpha_middle(n):
    return alpha_leaf(n) + alpha_leaf(n // 2)


def alpha_outer():
    while True:
        alpha_middle(2000)


def beta_leaf(n):
    s = ""
    for i in range(n):
        s = str(i)
    return s


DEPTH = 60


def beta_recurse(depth):
    if depth == 0:
        while True:
            beta_leaf(500)
    return beta_recurse(depth - 1)


def beta_outer(started):
    started.set()
    beta_recurse(DEPTH)


def main():
    ready_fd = int(sys.argv[1])
    started = threading.Event()
    t = threading.Thread(target=beta_outer, args=(started,), name="beta-worker")
    t.daemon = True
    t.start()
    started.wait()
    os.write(ready_fd, b"ready\n")
    os.close(ready_fd)
    alpha_outer()


if __name__ == "__main__":
    main()
