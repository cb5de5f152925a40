"""A single busy thread at a known stack depth.

usage: depth.py DEPTH

The main thread recurses until the interpreter's stack holds exactly DEPTH
Python frames (the module's own frame included), prints "ready" and spins
in the innermost frame for ever, without calls, so every sample sees the
same stack.
"""
import sys

from wl import ready


def descend(n):
    if n > 1:
        descend(n - 1)
        return
    ready()
    x = 0
    while True:  # BUSY
        x = (x + 1) & 0xFFFF


def main():
    depth = int(sys.argv[1])
    if depth < 3:
        raise SystemExit("DEPTH must be at least 3")
    sys.setrecursionlimit(max(1000, depth + 100))
    # <module> and main() are two frames, each descend() one more.
    descend(depth - 2)


main()
