"""Two threads, each running an event loop whose task spins.

  asyncio_threads.py TRUTH READY_FD CONTROL_FD

Thread "loop-a" runs asyncio.run(main("a")), thread "loop-b" main("b"); each
main() starts a task "spin-a" / "spin-b" (spin_outer -> busy_spin_here) and a
task "wait-a" / "wait-b" that sleeps, and awaits them.  Once both spinners
run, the ground truth (each thread's native id and running task) is written.
"""
import asyncio
import os
import sys
import threading

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import wlcommon  # noqa: E402

STATE = {"lock": threading.Lock(), "running": {}}


def busy_spin_here():
    n = 0
    while n >= 0: n += 1  # BUSY


async def spin_outer(tag):
    with STATE["lock"]:
        STATE["running"][tag] = {"native_id": wlcommon.native_tid(),
                                 "thread": threading.current_thread().name,
                                 "task": asyncio.current_task().get_name()}
        if len(STATE["running"]) == 2:
            truth = wlcommon.ground_truth(STATE["registry"], {})
            truth["threads"] = [{"ident": 0, "native_id": r["native_id"], "name": r["thread"],
                                 "kind": "busy"} for r in STATE["running"].values()]
            truth["running"] = STATE["running"]
            wlcommon.write_json(STATE["truth_path"], truth)
            wlcommon.write_all(STATE["ready_fd"], "R")
    busy_spin_here()  # SPIN_CALL


async def main(tag):
    waiter = asyncio.create_task(asyncio.sleep(3600), name="wait-" + tag)
    await asyncio.sleep(0)
    await asyncio.gather(waiter, asyncio.create_task(spin_outer(tag), name="spin-" + tag))


if __name__ == "__main__":
    STATE["truth_path"] = sys.argv[1]
    STATE["ready_fd"] = int(sys.argv[2])
    STATE["registry"] = wlcommon.Registry()
    threads = [threading.Thread(target=asyncio.run, args=(main(t),), name="loop-" + t,
                                daemon=True) for t in "ab"]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
