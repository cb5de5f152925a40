"""Workload for the native-stack tests (Python 2.7 and 3.x).

    python workload.py EXTDIR READY_FD TRUTH_JSON [--no-thread]

<module> -> outer() -> spin.call_back(middle) (C) -> middle()
-> spin.spin(READY_FD, probe) (C), which calls probe() to write the Python
stack as the interpreter sees it to TRUTH_JSON, then writes "ready" and
spins in C forever, holding the GIL.  Unless --no-thread, a C-only thread
spinning in native_spin_forever() is started first.
"""
import json
import os
import sys
import traceback

sys.path.insert(0, sys.argv[1])
import spin  # noqa: E402

READY_FD = int(sys.argv[2])
TRUTH = sys.argv[3]


def probe():
    """The ground truth: every frame but this one, root first."""
    frames = [list(tuple(f)[:3]) for f in traceback.extract_stack()[:-1]]
    with open(TRUTH + ".tmp", "w") as f:
        json.dump({"pid": os.getpid(), "version": list(sys.version_info[:3]),
                   "frames": [{"file": fn, "line": ln, "name": name} for fn, ln, name in frames]},
                  f)
    os.rename(TRUTH + ".tmp", TRUTH)


def middle():
    spin.spin(READY_FD, probe)


def outer():
    spin.call_back(middle)


if "--no-thread" not in sys.argv:
    spin.start_native_thread()
outer()
