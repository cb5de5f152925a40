"""WSGI application for tests/e2e/test_uwsgi.py, run by uWSGI's python3 plugin.

Every request runs application() -> handle() -> spin(), which spins in
Python for SPIN_SECONDS.  The first request a thread serves writes, from
inside spin(), what that thread knows of itself to
$PYSPY_TEST_TRUTH_DIR/PID-TID.json (written whole, then renamed): the pid,
its OS thread id, and its stack as traceback reports it, root first.

uWSGI imports this module in its master and forks the workers from it
(without --lazy-apps): the workers never call PyOS_AfterFork_Child.
"""
import json
import os
import threading
import time
import traceback

SPIN_SECONDS = 0.05
TRUTH_DIR = os.environ["PYSPY_TEST_TRUTH_DIR"]
_written = set()


def write_truth():
    pid, tid = os.getpid(), threading.get_native_id()
    frames = [{"name": f.name, "filename": f.filename, "lineno": f.lineno}
              for f in traceback.extract_stack()[:-1]]  # up to spin()
    path = os.path.join(TRUTH_DIR, "%d-%d.json" % (pid, tid))
    with open(path + ".tmp", "w") as f:
        json.dump({"pid": pid, "tid": tid, "frames": frames}, f)
    os.rename(path + ".tmp", path)


def spin(seconds):
    end = time.monotonic() + seconds
    if threading.get_ident() not in _written:
        _written.add(threading.get_ident())
        write_truth()
    while time.monotonic() < end:
        pass


def handle():
    spin(SPIN_SECONDS)
    return b"ok\n"


def application(environ, start_response):
    body = handle()
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [body]
