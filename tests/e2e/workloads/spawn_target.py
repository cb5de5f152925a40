"""Target of the spawn-mode tests (Python 2.7 and 3.x).

usage: spawn_target.py busy|until-sigint TRUTH_JSON SECONDS EXIT_CODE

Writes the stack of busy_loop() as the interpreter sees it to TRUTH_JSON,
then spins there for SECONDS and exits with EXIT_CODE.  until-sigint: a
KeyboardInterrupt is caught, reported on stderr, and ends it with exit 3.
"""
import json
import os
import sys
import time
import traceback


def busy_loop(path, seconds):
    end = time.time() + seconds
    first = True
    while time.time() < end:  # BUSY
        if first:
            first = False
            write_truth_here(path)


def write_truth_here(path):
    # The ground truth is busy_loop's frame at its loop line: replace the
    # caller's line (the call) by the loop's.
    frames = traceback.extract_stack()[:-1]
    names = [(fr[2], fr[0], fr[1]) for fr in frames]
    loop_line = [i for i, l in enumerate(open(__file__).read().split("\n"), 1) if "# BUSY" in l][0]
    names[-1] = (names[-1][0], names[-1][1], loop_line)
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump({"frames": [{"name": n, "filename": fn, "lineno": ln} for n, fn, ln in names]}, f)
    os.rename(tmp, path)


def main():
    mode, path, seconds, code = sys.argv[1], sys.argv[2], float(sys.argv[3]), int(sys.argv[4])
    if mode == "until-sigint":
        try:
            busy_loop(path, seconds)
        except KeyboardInterrupt:
            sys.stderr.write("caught KeyboardInterrupt\n")
            sys.stderr.flush()
            sys.exit(3)
    else:
        busy_loop(path, seconds)
    sys.exit(code)


if __name__ == "__main__":
    main()
