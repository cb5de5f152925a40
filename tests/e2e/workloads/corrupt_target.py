"""A target that corrupts itself (issue 16).  Plain code, valid on Python 2.7 and 3.x.

usage: corrupt_target.py TRUTH_JSON READY_FD CONTROL_FD

Healthy threads, whose exact stacks go to TRUTH_JSON as ground_truth.py
writes them:
  MainThread     <module> -> main -> main_waits_for_quit: os.read
  healthy-spin   healthy_spinner: a one-line busy loop

Threads whose memory this program corrupts through ctypes before they run
(code objects) or while they wait forever (frames).  The interpreter never
reads what is corrupted while they run, so the program lives on; a profiler
reading it meets every kind of lie:
  bad-name       spin_bad_name: co_name points at a str claiming 2**40 characters
  bad-file       spin_bad_file: co_filename points into unmapped memory
  bad-lines      spin_bad_lines: the line table is a bytes object claiming 2**40 bytes
  bad-qualname   spin_bad_qualname: co_qualname is the code object itself (3.11+;
                 before, co_name is) -- a pointer to an object of the wrong type
  broken-chain   chain_outer -> chain_mid -> chain_inner (waits): chain_mid's
                 caller link points into unmapped memory
  cycle          cycle_outer -> cycle_mid -> cycle_inner (waits): cycle_outer's
                 caller link points back to cycle_inner, a cycle
and the list of thread states: the main thread's (the last) 'next' points
into unmapped memory.

TRUTH_JSON also holds, under "corrupt", what was done and the line of each
corrupted thread's wait, for the test to check the degraded stacks; garbage
collection is off, so no collection walks what was corrupted.
"""
import ctypes
import gc
import os
import sys
import threading

import wlcommon

REG = wlcommon.Registry()
SPIN = [True]
KEEP = []          # fake objects: alive as long as the process
CORRUPT = {}       # what was done, for the truth file
PTR = 8
V = sys.version_info[:2]


def unmapped_address():
    """An address no read can succeed at, now or later: inside a region mapped
    PROT_NONE and kept (a chroot may have no /proc to look for a hole)."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.mmap.restype = ctypes.c_void_p
    libc.mmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int, ctypes.c_int,
                          ctypes.c_int, ctypes.c_long]
    # PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS
    addr = libc.mmap(None, 1 << 20, 0, 0x02 | 0x20, -1, 0)
    if not addr or addr == ctypes.c_void_p(-1).value:
        raise RuntimeError("mmap failed: errno %d" % ctypes.get_errno())
    return addr + 4096


UNMAPPED = None


def word(addr):
    return ctypes.c_uint64.from_address(addr).value


def poke(addr, value):
    ctypes.c_uint64.from_address(addr).value = value


def offset_of(base, size, value, last=False):
    """Offset of the first (or last) aligned word in [base, base+size) equal to value."""
    found = [off for off in range(0, size, PTR) if word(base + off) == value]
    if not found:
        raise RuntimeError("word %#x not found in %d bytes at %#x" % (value, size, base))
    return found[-1] if last else found[0]


def fake_sized(obj, size):
    """A copy of obj's memory whose length field (after the object header,
    offset 16 in str, bytes and 2.7 str) claims 'size'."""
    n = sys.getsizeof(obj)
    buf = ctypes.create_string_buffer(ctypes.string_at(id(obj), n), n + 64)
    KEEP.append(buf)
    addr = ctypes.addressof(buf)
    poke(addr + 16, size)
    return addr


def code_field(code, value_obj, last=False):
    """Address of the field of 'code' that points at value_obj (the last such
    field: co_qualname, which holds the same string as co_name before it)."""
    size = sys.getsizeof(code) if V >= (3, 11) else 128
    return id(code) + offset_of(id(code), size, id(value_obj), last)


def spin_bad_name(flag):
    while flag[0]: pass  # BUSY


def spin_bad_file(flag):
    while flag[0]: pass  # BUSY


def spin_bad_lines(flag):
    while flag[0]: pass  # BUSY


def spin_bad_qualname(flag):
    while flag[0]: pass  # BUSY


def healthy_spinner(flag):
    REG.register("busy")
    while flag[0]: pass  # BUSY


def busy_line(fn):
    co = fn.__code__
    return co.co_firstlineno + 1


def corrupt_code():
    long_name = fake_sized(spin_bad_name.__name__, 1 << 40)
    poke(code_field(spin_bad_name.__code__, spin_bad_name.__code__.co_name), long_name)
    co = spin_bad_file.__code__
    poke(code_field(co, co.co_filename), UNMAPPED)
    co = spin_bad_lines.__code__
    table = co.co_linetable if V >= (3, 10) else co.co_lnotab
    poke(code_field(co, table), fake_sized(table, 1 << 40))
    co = spin_bad_qualname.__code__
    if V >= (3, 11):
        poke(code_field(co, co.co_qualname, last=True), id(co))
        CORRUPT["bad-qualname"] = "co_qualname"
    else:
        poke(code_field(co, co.co_name), id(co))
        CORRUPT["bad-qualname"] = "co_name"
    for name, fn in (("bad-name", spin_bad_name), ("bad-file", spin_bad_file),
                     ("bad-lines", spin_bad_lines), ("bad-qualname", spin_bad_qualname)):
        CORRUPT[name + ":line"] = busy_line(fn)


# Frames of the waiting threads, kept by the threads themselves.
FRAMES = {}
RELEASE = threading.Lock()
RELEASE.acquire()          # never released: the waiters wait forever


def chain_inner(key, ready):
    FRAMES[key + ":inner"] = sys._getframe()
    ready.set()
    RELEASE.acquire()  # BLOCK


def chain_mid(key, ready):
    FRAMES[key + ":mid"] = sys._getframe()
    chain_inner(key, ready)


def chain_outer(key, ready):
    FRAMES[key + ":outer"] = sys._getframe()
    chain_mid(key, ready)


def cycle_inner(key, ready):
    FRAMES[key + ":inner"] = sys._getframe()
    ready.set()
    RELEASE.acquire()  # BLOCK


def cycle_mid(key, ready):
    FRAMES[key + ":mid"] = sys._getframe()
    cycle_inner(key, ready)


def cycle_outer(key, ready):
    FRAMES[key + ":outer"] = sys._getframe()
    cycle_mid(key, ready)


def frame_link(frame):
    """Address of the word holding the frame's caller link, and what it holds.

    Up to 3.10 the frame object's f_back; from 3.11 the 'previous' pointer of
    the interpreter frame (the frame object's f_frame, after f_back)."""
    if V < (3, 11):
        back = frame.f_back
        return id(frame) + offset_of(id(frame), 64, id(back)), id(back)
    iframe = word(id(frame) + 24)
    caller = word(id(frame.f_back) + 24)
    return iframe + offset_of(iframe, 128, caller), caller


def iframe_of(frame):
    return id(frame) if V < (3, 11) else word(id(frame) + 24)


def corrupt_frames():
    link, _ = frame_link(FRAMES["broken:mid"])
    poke(link, UNMAPPED)
    link, _ = frame_link(FRAMES["cycle:outer"])
    poke(link, iframe_of(FRAMES["cycle:inner"]))
    CORRUPT["broken-chain:line"] = chain_inner.__code__.co_firstlineno + 3
    CORRUPT["cycle:line"] = cycle_inner.__code__.co_firstlineno + 3


def own_thread_state():
    get = ctypes.pythonapi.PyThreadState_Get
    get.restype = ctypes.c_void_p
    return get()


def corrupt_thread_list(ts):
    # 2.7: next is the first field; 3.x: prev, then next.
    off = 0 if V < (3, 0) else PTR
    if word(ts + off) != 0:
        CORRUPT["thread-list"] = "skipped: the main thread's state is not the last"
        return
    poke(ts + off, UNMAPPED)
    CORRUPT["thread-list"] = "next of the main thread's state"


def main_waits_for_quit(fd):
    REG.register("blocked")
    os.read(fd, 1)  # BLOCK


def main():
    global UNMAPPED
    truth_path, ready_fd, control_fd = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    UNMAPPED = unmapped_address()
    CORRUPT["unmapped"] = UNMAPPED
    REG.expected = 3
    gc.disable()
    corrupt_code()
    for name, fn in (("bad-name", spin_bad_name), ("bad-file", spin_bad_file),
                     ("bad-lines", spin_bad_lines), ("bad-qualname", spin_bad_qualname),
                     ("healthy-spin", healthy_spinner)):
        t = threading.Thread(target=fn, args=(SPIN,), name=name)
        t.daemon = True
        t.start()
    for key, fn in (("broken", chain_outer), ("cycle", cycle_outer)):
        ev = threading.Event()
        t = threading.Thread(target=fn, args=(key, ev), name="broken-chain" if key == "broken" else "cycle")
        t.daemon = True
        t.start()
        ev.wait()
    main_ts = own_thread_state()
    # Ground truth of the healthy threads, before the thread list is corrupted
    # (sys._current_frames walks it).
    holder = {}

    def report():
        wlcommon.wait_until_all_at_block_points(REG)
        truth = wlcommon.ground_truth(REG, sys._current_frames())
        corrupt_frames()
        holder["truth"] = truth
    t = threading.Thread(target=report, name="reporter")
    t.start()
    main_thread_waits(control_fd, t, holder, truth_path, ready_fd, main_ts)


def main_thread_waits(control_fd, reporter, holder, truth_path, ready_fd, main_ts):
    r, w = os.pipe()

    def finish():
        REG.register("excluded")
        reporter.join()
        corrupt_thread_list(main_ts)
        truth = holder["truth"]
        truth["corrupt"] = CORRUPT
        wlcommon.write_json(truth_path, truth)
        wlcommon.write_all(ready_fd, b"R")
        os.read(control_fd, 1)
        os._exit(0)
    t = threading.Thread(target=finish, name="finisher")
    t.daemon = True
    t.start()
    main_waits_for_quit(r)


if __name__ == "__main__":
    main()
