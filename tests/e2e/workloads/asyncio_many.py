"""Many asyncio tasks and one very deep await chain, for the bounds of --async.

  asyncio_many.py NTASKS DEPTH TRUTH READY_FD CONTROL_FD

main() ("Task-1") starts NTASKS tasks "idle-N" that sleep, one task "deep"
whose coroutine awaits itself recursively DEPTH times before it sleeps (an
await chain of DEPTH + 2 coroutines), and "spinner", which writes the ground
truth (every task's name and its chain length through cr_await) and spins.
main() waits for all of them with asyncio.gather.
"""
import asyncio
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import wlcommon  # noqa: E402

STATE = {}


async def idle(n):
    await asyncio.sleep(3600 + n)


async def deep(n):
    if n:
        await deep(n - 1)
    else:
        await asyncio.sleep(3600)


def chain_length(task):
    c, n = task.get_coro(), 0
    while c is not None and asyncio.iscoroutine(c) and c.cr_frame is not None:
        n += 1
        c = c.cr_await
    return n


async def spinner():
    tasks = asyncio.all_tasks()
    me = wlcommon.native_tid()
    truth = wlcommon.ground_truth(STATE["registry"], {})
    truth["threads"] = [{"ident": 0, "native_id": me, "name": "MainThread", "kind": "busy"}]
    truth["ntasks"] = len(tasks)
    truth["chains"] = dict((t.get_name(), chain_length(t)) for t in tasks
                           if not t.get_name().startswith("idle-"))
    wlcommon.write_json(STATE["truth_path"], truth)
    wlcommon.write_all(STATE["ready_fd"], "R")
    n = 0
    while n >= 0: n += 1  # BUSY


async def main():
    tasks = [asyncio.create_task(idle(i), name="idle-%d" % i) for i in range(STATE["ntasks"])]
    tasks.append(asyncio.create_task(deep(STATE["depth"]), name="deep"))
    for _ in range(5):
        await asyncio.sleep(0)
    tasks.append(asyncio.create_task(spinner(), name="spinner"))
    await asyncio.gather(*tasks)


if __name__ == "__main__":
    STATE["ntasks"] = int(sys.argv[1])
    STATE["depth"] = int(sys.argv[2])
    STATE["truth_path"] = sys.argv[3]
    STATE["ready_fd"] = int(sys.argv[4])
    STATE["registry"] = wlcommon.Registry()
    sys.setrecursionlimit(10000)
    asyncio.run(main())
