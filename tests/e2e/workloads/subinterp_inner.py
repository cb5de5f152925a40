"""Code that subinterp_target.py runs inside its subinterpreter.

spin_sub writes the subinterpreter's own stack (traceback.extract_stack(),
root first) to TRUTH_PATH, its own frame at the line marked # BUSY it then
spins on, writes b"S" to SPINNING_FD (a pipe of the main interpreter: file
descriptors belong to the process) once it spins, and spins forever.
"""
import json
import linecache
import os
import traceback


def busy_line(code):
    """The line of code's function marked # BUSY."""
    lines = linecache.getlines(code.co_filename)
    for i in range(code.co_firstlineno - 1, len(lines)):
        if lines[i].rstrip().endswith("# BUSY"):
            return i + 1
    raise RuntimeError("no # BUSY line in %s" % code.co_name)


def spin_sub(truth_path, spinning_fd):
    frames = [{"name": f.name, "filename": f.filename, "lineno": f.lineno}
              for f in traceback.extract_stack()]
    frames[-1]["lineno"] = busy_line(spin_sub.__code__)
    with open(truth_path + ".tmp", "w") as f:
        json.dump(frames, f)
    os.rename(truth_path + ".tmp", truth_path)
    n = 0
    while n >= 0: n += 1 if n != 10000 else os.write(spinning_fd, b"S")  # BUSY
