"""asyncio tasks whose memory this program corrupts (ctypes) before it spins.

  asyncio_corrupt.py TRUTH READY_FD CONTROL_FD

Tasks, each suspended in an await the event loop never resumes (the spinner
keeps the loop to itself, and the collector is off, so nothing of Python
touches what was corrupted):
  "healthy"   healthy_outer -> healthy_inner -> asyncio.sleep
  "bad-name"  its name pointer points into unmapped memory
  "bad-coro"  its coroutine pointer points into unmapped memory
  "looping"   loop_outer awaits loop_inner, whose awaited object is made
              loop_outer itself: an await chain that loops
  "spinner"   writes the ground truth, then spins
"""
import asyncio
import ctypes
import gc
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import wlcommon  # noqa: E402

STATE = {}


def unmapped_address():
    libc = ctypes.CDLL(None, use_errno=True)
    libc.mmap.restype = ctypes.c_void_p
    libc.mmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int, ctypes.c_int,
                          ctypes.c_int, ctypes.c_long]
    addr = libc.mmap(None, 1 << 20, 0, 0x02 | 0x20, -1, 0)  # PROT_NONE, private anonymous
    if not addr or addr == ctypes.c_void_p(-1).value:
        raise RuntimeError("mmap failed: errno %d" % ctypes.get_errno())
    return addr + 4096


def word(addr):
    return ctypes.c_uint64.from_address(addr).value


def poke(addr, value):
    ctypes.c_uint64.from_address(addr).value = value


def field(obj, value, size=None):
    """Address of the word of obj's memory that points at value."""
    base, size = id(obj), size or obj.__sizeof__()
    for off in range(0, size - 7, 8):
        if word(base + off) == id(value):
            return base + off
    raise RuntimeError("no pointer to %r in %r" % (value, obj))


async def healthy_inner():
    await asyncio.sleep(3600)


async def healthy_outer():
    await healthy_inner()


async def plain():
    await asyncio.sleep(3600)


async def loop_inner():
    await asyncio.sleep(3600)


async def loop_outer():
    await loop_inner()


def chain(coro):
    out = []
    while coro is not None and asyncio.iscoroutine(coro) and coro.cr_frame is not None:
        out.append({"name": coro.cr_code.co_name, "filename": coro.cr_code.co_filename,
                    "lineno": coro.cr_frame.f_lineno})
        coro = coro.cr_await
    return out


async def spinner(tasks):
    truth = wlcommon.ground_truth(STATE["registry"], {})
    truth["threads"] = [{"ident": 0, "native_id": wlcommon.native_tid(), "name": "MainThread",
                         "kind": "busy"}]
    truth["chains"] = dict((t.get_name(), chain(t.get_coro())) for t in asyncio.all_tasks())
    bad = unmapped_address()
    poke(field(tasks["bad-name"], tasks["bad-name"].get_name(), 512), bad)
    poke(field(tasks["bad-coro"], tasks["bad-coro"].get_coro(), 512), bad)
    outer = tasks["looping"].get_coro()
    inner = outer.cr_await
    holder = inner if sys.version_info >= (3, 11) else inner.cr_frame
    poke(field(holder, inner.cr_await), id(outer))
    wlcommon.write_json(STATE["truth_path"], truth)
    wlcommon.write_all(STATE["ready_fd"], "R")
    n = 0
    while n >= 0: n += 1  # BUSY


async def main():
    tasks = {}
    for name, fn in (("healthy", healthy_outer), ("bad-name", plain), ("bad-coro", plain),
                     ("looping", loop_outer)):
        tasks[name] = asyncio.create_task(fn(), name=name)
    for _ in range(5):
        await asyncio.sleep(0)
    await asyncio.create_task(spinner(tasks), name="spinner")


if __name__ == "__main__":
    STATE["truth_path"] = sys.argv[1]
    STATE["ready_fd"] = int(sys.argv[2])
    STATE["registry"] = wlcommon.Registry()
    gc.disable()
    asyncio.run(main())
