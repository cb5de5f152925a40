"""Helpers shared by the workloads.  Plain code, valid on Python 2.7 and 3.x.

Ground truth is taken from inside the target: sys._current_frames() and
traceback.extract_stack() give, for every thread, the exact stack (root first)
that a correct profiler must report.

A thread is only reported once it sits at its *block point*: the line of the
workload marked `# BLOCK` (a blocking call into C: os.read, time.sleep,
lock.acquire, which add no Python frame) or `# BUSY` (a one-line spin loop), or,
for threading.Event().wait(), the final `waiter.acquire()` inside threading.py
after the waiter was queued.  From there on the thread's Python stack no longer
changes, so what the profiler samples later must equal it.
"""
import json
import linecache
import os
import sys
import threading
import time
import traceback

try:
    _monotonic = time.monotonic
except AttributeError:  # Python 2.7
    _monotonic = time.time

_libc_syscall = None


def native_tid():
    """The OS thread id of the calling thread, or None if it cannot be had."""
    get = getattr(threading, "get_native_id", None)
    if get is not None:
        return get()
    global _libc_syscall
    try:
        import platform
        nr = {"x86_64": 186, "aarch64": 178, "i686": 224, "i386": 224}.get(platform.machine())
        if nr is None:
            return None
        if _libc_syscall is None:
            import ctypes
            _libc_syscall = ctypes.CDLL(None, use_errno=True).syscall
        tid = _libc_syscall(nr)
        return tid if tid > 0 else None
    except Exception:  # noqa: BLE001 (no ctypes: the tests only check the shape)
        return None


class Registry(object):
    """Threads of a workload: ident -> what the ground truth says about them."""

    def __init__(self):
        self.lock = threading.Lock()
        self.threads = {}
        self.all_registered = threading.Event()
        self.expected = None

    def register(self, kind, event=None):
        """Called by each thread itself, first thing, before it heads for its block point."""
        t = threading.current_thread()
        info = {
            "ident": threading.current_thread().ident,
            "native_id": native_tid(),
            "name": t.name,
            "kind": kind,  # "blocked", "busy" or "excluded"
            "event": event,
        }
        with self.lock:
            self.threads[info["ident"]] = info
            if self.expected is not None and len(self.threads) >= self.expected:
                self.all_registered.set()
        return info


def _event_waiters(event):
    cond = getattr(event, "_cond", None)
    if cond is None:
        cond = getattr(event, "_Event__cond")  # Python 2.7
    if hasattr(cond, "_waiters"):
        return len(cond._waiters)
    return len(cond._Condition__waiters)  # Python 2.7


def _line_text(frame):
    return linecache.getline(frame.f_code.co_filename, frame.f_lineno).strip()


def at_block_point(frame, info):
    text = _line_text(frame)
    if info["kind"] == "busy":
        return text.endswith("# BUSY")
    if info.get("event") is not None:
        return text.startswith("waiter.acquire()") and _event_waiters(info["event"]) > 0
    return text.endswith("# BLOCK")


def wait_until_all_at_block_points(registry, timeout=30.0):
    """Poll sys._current_frames() until every registered thread sits at its block point.

    Entering a blocking system call cannot be signalled by the thread itself, so
    this polls, yielding the GIL for 1 ms between looks, bounded by timeout.
    """
    deadline = _monotonic() + timeout
    if not registry.all_registered.wait(timeout):
        raise RuntimeError("not all threads registered")
    while True:
        frames = sys._current_frames()
        pending = []
        for ident, info in registry.threads.items():
            if info["kind"] == "excluded":
                continue
            f = frames.get(ident)
            if f is None or not at_block_point(f, info):
                pending.append(info["name"])
        if not pending:
            return frames
        if _monotonic() > deadline:
            raise RuntimeError("threads never reached their block points: %s" % pending)
        time.sleep(0.001)


SIMPLE_TYPES = (type(None), bool, int, str, bytes) + ((long, unicode) if sys.version_info[0] == 2 else ())  # noqa: F821


def locals_of(frame):
    """The frame's variables as the interpreter sees them: argument names, every
    name it may show (co_varnames, cells, free variables), and repr() of the set
    local variables of simple types (None, bool, int, str, bytes; short)."""
    code = frame.f_code
    nargs = code.co_argcount + getattr(code, "co_kwonlyargcount", 0)
    nargs += bool(code.co_flags & 0x4) + bool(code.co_flags & 0x8)  # *args, **kw
    values = {}
    for name, value in list(frame.f_locals.items()):
        if name in code.co_varnames and isinstance(value, SIMPLE_TYPES):
            r = repr(value)
            if sys.version_info[0] == 2 and isinstance(value, unicode):  # noqa: F821
                continue
            if len(r) <= 40:
                values[name] = r
    return {"args": list(code.co_varnames[:nargs]),
            "names": list(code.co_varnames + code.co_cellvars + code.co_freevars),
            "values": values}


def stack_of(frame):
    out = []
    summary = traceback.extract_stack(frame)
    frames = []
    f = frame
    while f is not None:
        frames.append(f)
        f = f.f_back
    frames.reverse()
    assert len(frames) == len(summary)
    for f, (filename, lineno, name, _line) in zip(frames, summary):
        out.append({"name": name, "filename": filename, "lineno": lineno,
                    "locals": locals_of(f)})
    return out


def ground_truth(registry, frames):
    threads = []
    excluded = []
    for ident, info in sorted(registry.threads.items()):
        entry = {
            "ident": ident,
            "native_id": info["native_id"],
            "name": info["name"],
            "kind": info["kind"],
        }
        if info["kind"] == "excluded":
            excluded.append(entry)
            continue
        entry["frames"] = stack_of(frames[ident])
        threads.append(entry)
    return {
        "pid": os.getpid(),
        "version": list(sys.version_info[:2]),
        "version_full": list(sys.version_info[:3]),
        "version_text": sys.version.split()[0],
        "executable": sys.executable,
        "native_ids": hasattr(threading, "get_native_id"),
        "threads": threads,
        "excluded": excluded,
    }


def write_json(path, data):
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(data, f, indent=1, sort_keys=True)
    os.rename(tmp, path)


def write_all(fd, data):
    if not isinstance(data, bytes):
        data = data.encode("ascii")
    while data:
        n = os.write(fd, data)
        data = data[n:]


def read_byte(fd):
    """os.read(fd, 1) that survives EINTR on Python 2.7 (3.5+ retries by itself)."""
    while True:
        try:
            return os.read(fd, 1)
        except OSError as e:
            import errno
            if e.errno != errno.EINTR:
                raise


def reporter_main(registry, truth_path, ready_fd, what="workload"):
    """The reporter thread of a workload: wait until every thread is at its block
    point, write the ground truth, say b"R", then wait forever (excluded from the
    ground truth)."""
    registry.register("excluded")
    try:
        frames = wait_until_all_at_block_points(registry)
        write_json(truth_path, ground_truth(registry, frames))
        del frames
    except Exception as e:  # noqa: BLE001
        sys.stderr.write("%s: %s\n" % (what, e))
        sys.stderr.flush()
        os._exit(1)
    write_all(ready_fd, b"R")
    threading.Event().wait()


def start_thread(name, target, *args):
    t = threading.Thread(target=target, args=args, name=name)
    t.daemon = True
    t.start()
    return t
