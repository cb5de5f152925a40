"""Target of the --subprocesses tests (Python 2.7 and 3.x).

usage: pool_target.py DIR START_METHOD SECONDS

A multiprocessing pool of 4 workers (START_METHOD: fork, spawn, or
"default") each runs worker_spin(): it writes its pid and its stack as
the interpreter sees it to DIR/worker-PID.json, then spins in
spin_here() for SECONDS.  The parent writes DIR/parent.json (its pid),
and "ready" on stdout once all four workers have written theirs.
"""
import json
import multiprocessing
import os
import sys
import time
import traceback

def _line(marker):
    with open(__file__) as f:
        return [i for i, l in enumerate(f.read().split("\n"), 1) if l.endswith(marker)][0]


LOOP_LINE = _line("# SPIN")
CALL_LINE = _line("# CALL")


def write_json(path, data):
    with open(path + ".tmp", "w") as f:
        json.dump(data, f)
    os.rename(path + ".tmp", path)


def spin_here(seconds):
    end = time.time() + seconds
    while time.time() < end: pass  # SPIN


def worker_spin(args):
    d, seconds = args
    # spin_here's frame as it will be: the caller's stack plus spin_here at its loop.
    frames = [[f[2], f[0], f[1]] for f in traceback.extract_stack()]
    frames[-1][2] = CALL_LINE
    frames.append(["spin_here", os.path.abspath(__file__), LOOP_LINE])
    write_json(os.path.join(d, "worker-%d.json" % os.getpid()),
               {"pid": os.getpid(), "frames": frames})
    spin_here(seconds)  # CALL
    return os.getpid()


def main():
    d, method, seconds = sys.argv[1], sys.argv[2], float(sys.argv[3])
    if method != "default":
        multiprocessing.set_start_method(method)
    write_json(os.path.join(d, "parent.json"), {"pid": os.getpid()})
    pool = multiprocessing.Pool(4)
    result = pool.map_async(worker_spin, [(d, seconds)] * 4, chunksize=1)
    while len([n for n in os.listdir(d) if n.startswith("worker-") and n.endswith(".json")]) < 4:
        time.sleep(0.01)
    sys.stdout.write("ready\n")
    sys.stdout.flush()
    result.get(600)
    pool.close()
    pool.join()


if __name__ == "__main__":
    main()
