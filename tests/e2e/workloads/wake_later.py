"""A process that sleeps, then wakes and spins (test_idle.py, the unchanged-sample rule).

usage: wake_later.py TRUTH_JSON READY_FD CONTROL_FD

Two threads sleep in system calls: "sleeper" for ever, MainThread in a read
of CONTROL_FD.  While both sleep, nothing of the process runs, and a sampler
may take its samples without reading it (every thread idle in the last, none
given a CPU since).  When a byte arrives, MainThread spins in
spin_after_wake() for ever: every sample from then on must show it, the
first ones included.
"""
import sys
import threading

import wlcommon


def spin_after_wake():
    x = 0
    while True:
        x = (x + 1) & 0xFFFF  # BUSY


def main():
    truth_path = sys.argv[1]
    ready_fd, control_fd = int(sys.argv[2]), int(sys.argv[3])
    reg = wlcommon.Registry()
    reg.expected = 2
    reg.register("excluded")
    wlcommon.start_thread("sleeper", lambda: (reg.register("excluded"), threading.Event().wait()))
    reg.all_registered.wait(30)
    wlcommon.write_json(truth_path, wlcommon.ground_truth(reg, {}))
    wlcommon.write_all(ready_fd, b"R")
    wlcommon.read_byte(control_fd)
    spin_after_wake()


if __name__ == "__main__":
    main()
