"""A busy program that goes through many distinct stacks, over and over.

usage: stacks.py MIDS LEAVES

Generates MIDS functions mid_<m> and LEAVES functions leaf_<l>; the main
loop walks all MIDS * LEAVES pairs in turn, for ever, calling mid_<m>, which
calls leaf_<l>, which spins for about 100 us, below a fixed chain of frames.
Every function body is a single line, so each pair is one distinct stack
(line numbers included) and the stacks caught between two calls are few
and frequent: after a minute or two at 1 kHz every stack has been seen, and
the set of distinct stacks stays the same from then on.
"""
import sys

from wl import perf_counter, ready

mids = int(sys.argv[1])
leaves = int(sys.argv[2])
SPIN = 100e-6
CHAIN = 8

src = []
for l in range(leaves):
    src.append("def leaf_%d(end):" % l)
    src.append("    while clock() < end: pass")
for m in range(mids):
    src.append("def mid_%d(leaf):" % m)
    src.append("    return leaf(clock() + SPIN)")
ns = {"clock": perf_counter, "SPIN": SPIN}
exec(compile("\n".join(src) + "\n", "generated_stacks.py", "exec"), ns)
mid_funcs = [ns["mid_%d" % m] for m in range(mids)]
leaf_funcs = [ns["leaf_%d" % l] for l in range(leaves)]


def walk(pairs):
    while True:
        for mid, leaf in pairs:
            mid(leaf)


def chain(n, pairs):
    return chain(n - 1, pairs) if n else walk(pairs)


def main():
    pairs = [(mid, leaf) for mid in mid_funcs for leaf in leaf_funcs]
    ready(stacks=len(pairs))
    chain(CHAIN, pairs)


main()
