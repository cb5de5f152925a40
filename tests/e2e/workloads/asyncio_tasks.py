"""asyncio tasks at known await chains, for dump --async and record --async.

  asyncio_tasks.py TRUTH READY_FD CONTROL_FD

The main thread runs one event loop (asyncio.run(main())).  main() starts:
  "worker-a"   worker_a -> middle_a -> asyncio.sleep      (nested awaits)
  "parent-t"   parent_t awaits the task "child-t" (child_t -> asyncio.sleep)
  "gatherer"   gatherer awaits asyncio.gather of "gather-1" and "gather-2"
  "tg-owner"   (3.11+) an asyncio.TaskGroup with "tg-child-1" and "tg-child-2"
  "sub-task"   a task of a subclass of asyncio.Task (sub_task -> asyncio.sleep)
  "spinner"    spin_outer -> spin_inner -> busy_spin_here: runs forever
then waits for them all (gather, as a task named "Task-1" by asyncio.run).
Once every other task is suspended, the spinner writes the ground truth, taken
inside the target, and then spins: asyncio.all_tasks(), each task's name,
whether it is done, its coroutine chain (get_coro(), then cr_await while it is
a coroutine: the function, file and line of each frame), the task each one
awaits (its _fut_waiter if a task, the children of a gather, the tasks of a
TaskGroup), asyncio.current_task(), and the spinner's own stack.
"""
import asyncio
import os
import sys
import threading
import traceback

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import wlcommon  # noqa: E402

STATE = {}


async def middle_a():
    await asyncio.sleep(3600)  # AWAIT


async def worker_a():
    await middle_a()


async def child_t():
    await asyncio.sleep(3600)  # AWAIT


async def parent_t():
    child = asyncio.create_task(child_t(), name="child-t")
    STATE["children"]["parent-t"] = [child]
    await child


async def gathered(n):
    await asyncio.sleep(3600 + n)  # AWAIT


async def gatherer():
    kids = [asyncio.create_task(gathered(1), name="gather-1"),
            asyncio.create_task(gathered(2), name="gather-2")]
    STATE["children"]["gatherer"] = kids
    await asyncio.gather(*kids)


async def tg_child(n):
    await asyncio.sleep(3600 + n)  # AWAIT


async def tg_owner():
    async with asyncio.TaskGroup() as tg:
        STATE["children"]["tg-owner"] = [tg.create_task(tg_child(1), name="tg-child-1"),
                                         tg.create_task(tg_child(2), name="tg-child-2")]


class SubTask(asyncio.Task):
    pass


async def sub_task():
    await asyncio.sleep(3600)  # AWAIT


def busy_spin_here():
    n = 0
    while n >= 0: n += 1  # BUSY


def coro_chain(task):
    """The task's coroutine and what it awaits, while that is a coroutine."""
    out = []
    c = task.get_coro()
    for _ in range(100):
        if c is None or not asyncio.iscoroutine(c) or c.cr_frame is None:
            break
        out.append({"name": c.cr_code.co_name, "filename": c.cr_code.co_filename,
                    "lineno": c.cr_frame.f_lineno})
        c = c.cr_await
    return out


def awaited_tasks(task, tasks):
    """The tasks this one waits for, as asyncio itself knows them."""
    w = getattr(task, "_fut_waiter", None)
    if w is None:
        return []
    if w in tasks:
        return [w]
    kids = getattr(w, "_children", None)  # a gather's future
    if kids is not None:
        return [k for k in kids if k in tasks]
    return []


def report():
    tasks = asyncio.all_tasks()
    names = {t: t.get_name() for t in tasks}
    out = []
    for t in tasks:
        awaits = [names[k] for k in awaited_tasks(t, tasks)]
        declared = [names[k] for k in STATE["children"].get(names[t], [])]
        if names[t] == "tg-owner":
            awaits = declared  # it waits on a plain future: the group's tasks are its
        out.append({"name": names[t], "done": t.done(), "chain": coro_chain(t),
                    "awaits": sorted(awaits), "declared": sorted(declared),
                    "address": id(t)})
    me = threading.current_thread()
    truth = wlcommon.ground_truth(STATE["registry"], {})
    truth["threads"] = [{"ident": me.ident, "native_id": wlcommon.native_tid(),
                         "name": me.name, "kind": "busy"}]
    truth["tasks"] = sorted(out, key=lambda x: x["name"])
    truth["current_task"] = asyncio.current_task().get_name()
    frames = []
    for filename, lineno, name, _line in traceback.extract_stack(sys._getframe(1)):
        frames.append({"name": name, "filename": filename, "lineno": lineno})
    truth["spinner_stack"] = frames
    wlcommon.write_json(STATE["truth_path"], truth)
    wlcommon.write_all(STATE["ready_fd"], "R")


async def spin_inner():
    report()
    busy_spin_here()  # SPIN_CALL


async def spin_outer():
    await spin_inner()


async def main():
    STATE["children"] = {}
    tasks = [asyncio.create_task(worker_a(), name="worker-a"),
             asyncio.create_task(parent_t(), name="parent-t"),
             asyncio.create_task(gatherer(), name="gatherer")]
    if sys.version_info >= (3, 11):
        tasks.append(asyncio.create_task(tg_owner(), name="tg-owner"))
    tasks.append(SubTask(sub_task(), name="sub-task"))
    # Let every task reach its await (a few rounds of the loop), then spin.
    for _ in range(20):
        await asyncio.sleep(0)
    tasks.append(asyncio.create_task(spin_outer(), name="spinner"))
    await asyncio.gather(*tasks)


def run():
    STATE["truth_path"] = sys.argv[1]
    STATE["ready_fd"] = int(sys.argv[2])
    STATE["registry"] = wlcommon.Registry()
    asyncio.run(main())


if __name__ == "__main__":
    run()
