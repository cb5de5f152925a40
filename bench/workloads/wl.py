"""Helpers shared by the benchmark workloads.  Valid on Python 2.7 and 3.x.

Every workload takes its parameters on the command line, prints "ready" on
stdout once it is in the state to be measured, and then either spins for
ever (the benchmark kills it) or serves commands read one per line on
stdin, answering each with one JSON line on stdout ("quit" or end of input
ends it).
"""
import json
import sys
import time

try:
    monotonic = time.monotonic
except AttributeError:  # Python 2.7
    monotonic = time.time

try:
    perf_counter = time.perf_counter
except AttributeError:  # Python 2.7
    perf_counter = time.time

try:
    process_time = time.process_time
except AttributeError:  # Python 2.7: CPU time on Linux
    process_time = time.clock


def say(text):
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


def ready(**info):
    """Tell the benchmark the workload is in its measured state."""
    if info:
        say("ready " + json.dumps(info, sort_keys=True))
    else:
        say("ready")


def serve(handlers):
    """Answer commands "NAME ARG..." from stdin until "quit" or end of input."""
    while True:
        line = sys.stdin.readline()
        if not line:
            return
        words = line.split()
        if not words:
            continue
        if words[0] == "quit":
            return
        handler = handlers.get(words[0])
        if handler is None:
            say(json.dumps({"error": "unknown command %r" % words[0]}))
            continue
        say(json.dumps(handler(*words[1:]), sort_keys=True))
