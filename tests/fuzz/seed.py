#!/usr/bin/python3
"""Write the seed corpora of the fuzz targets from this machine's interpreters.

    /usr/bin/python3 tests/fuzz/seed.py [TARGET...]   (from anywhere; root for the chroots)

Seeds are made in a temporary folder, then merged into tests/fuzz/corpus/TARGET/
by the fuzz target itself (libFuzzer's -merge=1: only inputs that add coverage
are kept), so build the targets first (make fuzz-build).  Files are named by
the hash of their content.  The corpus is committed: a fresh machine replays
the same inputs.

  linetable      every code object of the standard library's `json` package
                 (a few hundred tables), compiled by each interpreter, in
                 fuzz_linetable's input format
  pystr          string and bytes headers as each interpreter lays them out,
                 copied from live objects with ctypes (ASCII, 2- and 4-byte
                 kinds), for each layout of fuzz_pystr
  debug_offsets  the first 4096 bytes of _PyRuntime (`.PyRuntime` section) of
                 every 3.13+ interpreter
  walk           memory images of one sample (thread lists, frames, code
                 objects, names, line tables, thread names, locals) of a
                 small threaded program on every interpreter, saved by
                 build-fuzz/snapshot while the program is stopped
  timearg        times as users write them, and an agents file
  feed           /v1/windows answers of a real pyspy-c serve agent
  elfsym         small ELF files built with gcc: an executable and a shared
                 library holding a _PyRuntime in a .PyRuntime section,
                 stripped and not
  core           cores of a sleeping interpreter (pyenv 2.7 and 3.11, Debian's
                 3.11), made by gcore and by the kernel (os.abort() with
                 RLIMIT_CORE raised), shrunk under 64 KiB: every note kept,
                 the segments' memory left out but for the top of the stack
                 of the thread that dumped
  http           the requests of tests/e2e/test_serve.py and test_web.py (and
                 a few more of each route), in fuzz_http's line format
  native         small ELF files with their stacks of return addresses: a few
                 extension modules of the pyenv interpreters (with DWARF),
                 small libraries of the machine, the vdso, and a program built
                 by gcc with inlined calls (with DWARF, and stripped)
"""
import glob
import hashlib
import os
import shutil
import struct
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
CORPUS = os.path.join(HERE, "corpus")
CHROOTS = os.path.join(REPO, ".cache", "chroots")


def interpreters():
    """(name, argv prefix, path of the binary on the host) of every interpreter found."""
    found = []
    for py in sorted(glob.glob("/root/.pyenv/versions/*/bin/python[23].*[0-9]")):
        found.append((os.path.basename(py), [py], py))
    if os.path.exists("/usr/bin/python3.11"):
        found.append(("system-3.11", ["/usr/bin/python3.11"], "/usr/bin/python3.11"))
    for suite in ("trixie", "sid"):
        root = os.path.join(CHROOTS, suite)
        for py in sorted(glob.glob(os.path.join(root, "usr/bin/python3.[0-9]*"))):
            if py.endswith("-config") or not os.access(py, os.X_OK):
                continue
            inside = py[len(root):]
            found.append(("%s-%s" % (suite, os.path.basename(py)), ["chroot", root, inside], py))
    return found


STAGE = tempfile.mkdtemp(prefix="pyspy-c-seeds-")


def save(target, data):
    d = os.path.join(STAGE, target)
    if not os.path.isdir(d):
        os.makedirs(d)
    name = "seed-" + hashlib.sha1(data).hexdigest()[:16]
    path = os.path.join(d, name)
    if not os.path.exists(path):
        with open(path, "wb") as f:
            f.write(data)
        return 1
    return 0


# Runs inside each interpreter (2.7 to 3.15): prints hex lines "fmt first table".
LINETABLE_PROBE = r'''
import sys, os, json
v = sys.version_info[:2]
fmt = 0 if v < (3, 0) else 1 if v < (3, 10) else 2 if v < (3, 11) else 3
seen = 0
def walk(co):
    global seen
    if seen >= 300:
        return
    t = getattr(co, "co_linetable", None) if v >= (3, 10) else co.co_lnotab
    if t is not None:
        sys.stdout.write("%d %d %s\n" % (fmt, co.co_firstlineno, bytearray(t).__repr__()[12:-2] if False else "".join("%02x" % b for b in bytearray(t))))
        seen += 1
    for c in co.co_consts:
        if hasattr(c, "co_code"):
            walk(c)
d = os.path.dirname(json.__file__)
for n in sorted(os.listdir(d)):
    if n.endswith(".py"):
        with open(os.path.join(d, n)) as f:
            walk(compile(f.read(), n, "exec"))
'''

# Headers of live str/bytes objects: "kind hex" lines (kind: u = str, b = bytes).
PYSTR_PROBE = r'''
import sys, ctypes
def raw(o):
    n = sys.getsizeof(o)
    return bytearray(ctypes.string_at(id(o), n))
objs = [("u", "abc"), ("u", "x" * 300), ("u", u"\u00e9t\u00e9"), ("u", u"\u4e2d\u6587"),
        ("u", u"\U0001f600 ok"), ("u", ""), ("b", b"bytes!"), ("b", b"")]
if sys.version_info[0] == 2:
    objs = [("b", "abc"), ("b", "x" * 300), ("u", u"\u00e9t\u00e9"), ("u", u"\U0001f600")]
for k, o in objs:
    sys.stdout.write("%s %s\n" % (k, "".join("%02x" % b for b in raw(o))))
'''


def seed_linetable(interps):
    n = 0
    for name, argv, _ in interps:
        try:
            out = subprocess.run(argv + ["-c", LINETABLE_PROBE], stdout=subprocess.PIPE,
                                 stderr=subprocess.DEVNULL, timeout=120).stdout.decode()
        except (OSError, subprocess.TimeoutExpired):
            continue
        for line in out.splitlines():
            fmt, first, tbl = line.split(" ") if line.count(" ") == 2 else (None, None, None)
            if fmt is None:
                continue
            table = bytes.fromhex(tbl)
            for off in (0, len(table), 2 * len(table) + 6):
                n += save("linetable", struct.pack("<BiI", int(fmt), int(first), off) + table)
    return n


def seed_pystr(interps):
    from_layout = {}  # layout index chosen by version order of py_layouts: any index is tried
    n = 0
    for name, argv, _ in interps:
        try:
            out = subprocess.run(argv + ["-c", PYSTR_PROBE], stdout=subprocess.PIPE,
                                 stderr=subprocess.DEVNULL, timeout=60).stdout.decode()
        except (OSError, subprocess.TimeoutExpired):
            continue
        for line in out.splitlines():
            if " " not in line:
                continue
            kind, hexdata = line.split(" ", 1)
            data = bytes.fromhex(hexdata)
            for layout in range(12):  # fuzz_pystr takes the index modulo the number of layouts
                n += save("pystr", bytes([0, layout]) + data)
    del from_layout
    return n


def section_bytes(path, section, limit):
    with tempfile.NamedTemporaryFile() as tmp:
        r = subprocess.run(["objcopy", "-O", "binary", "--only-section=" + section, path, tmp.name],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        if r.returncode != 0:
            return None
        with open(tmp.name, "rb") as f:
            return f.read(limit)


def seed_debug_offsets(interps):
    n = 0
    files = set()
    for _, _, path in interps:
        files.add(os.path.realpath(path))
        d = os.path.dirname(os.path.dirname(path))
        for lib in glob.glob(os.path.join(d, "lib", "libpython3.1[3-9]*.so.1.0")) + \
                glob.glob(os.path.join(d, "lib", "x86_64-linux-gnu", "libpython3.1[3-9]*.so.1.0")):
            files.add(os.path.realpath(lib))
    for f in sorted(files):
        data = section_bytes(f, ".PyRuntime", 4096)
        if data and data.startswith(b"xdebugpy"):
            n += save("debug_offsets", data)
    return n


ELF_SRC = r'''
struct rt { char cookie[8]; unsigned long version; char rest[240]; };
__attribute__((section(".PyRuntime"), used)) struct rt _PyRuntime = { "xdebugpy", 0x030d00f0 };
int PyCode_Type[8] = { 1 };
const char *Py_GetVersion(void) { return "3.13.0 (fuzz seed)"; }
'''


def seed_elfsym():
    n = 0
    with tempfile.TemporaryDirectory() as d:
        src = os.path.join(d, "s.c")
        with open(src, "w") as f:
            f.write(ELF_SRC + "int main(void) { return 0; }\n")
        for kind, flags in (("exe", []), ("so", ["-shared", "-fPIC"])):
            out = os.path.join(d, kind)
            if subprocess.run(["gcc", "-Os", "-g0"] + flags + ["-o", out, src]).returncode != 0:
                continue
            with open(out, "rb") as f:
                n += save("elfsym", f.read())
            subprocess.run(["strip", "--strip-all", out])
            with open(out, "rb") as f:
                n += save("elfsym", f.read())
    return n


# Threads with names, a few frames deep, locals of every kind dump shows.
WALK_PROBE = r'''
import sys, threading, time
def leaf(depth, n=7, f=2.5, s="caf\u00e9", b=b"raw", d={"k": 1}, l=[1, 2], u=u"\u4e2d"):
    if depth:
        return leaf(depth - 1)
    sys.stdout.write("ready\n")
    sys.stdout.flush()
    x = 0
    while True:
        x += 1
def sleeper(k):
    big = 2 ** 70
    while True:
        time.sleep(0.01)
for i in range(2):
    t = threading.Thread(target=sleeper, args=(i,), name="worker-%d" % i)
    t.daemon = True
    t.start()
leaf(4)
'''


def seed_walk(interps):
    n = 0
    snap = os.path.join(REPO, "build-fuzz", "snapshot")
    for name, argv, _ in interps:
        p = subprocess.Popen(argv + ["-c", WALK_PROBE], stdout=subprocess.PIPE,
                             stderr=subprocess.DEVNULL)
        try:
            if p.stdout.readline().strip() != b"ready":
                continue
            with tempfile.NamedTemporaryFile() as tmp:
                for _ in range(3):  # a few moments of the same program
                    if subprocess.run([snap, str(p.pid), tmp.name],
                                      stderr=subprocess.DEVNULL).returncode == 0:
                        with open(tmp.name, "rb") as f:
                            n += save("walk", f.read())
        finally:
            p.kill()
            p.wait()
    return n


TIMEARG_SEEDS = [b"-1h", b"now-15m", b"30m", b"-1h30m", b"2026-12-05T14:00:00Z",
                 b"2026-12-05 14:00", b"1796526600", b"now", b"2026-12-05T14:00:00+02:00",
                 b"web-1.internal:16384 service=web token=/etc/pyspy-c/web.token\n"
                 b"# a comment\n[::1]:9 host=h\n"]


def seed_timearg():
    return sum(save("timearg", s) for s in TIMEARG_SEEDS)


def seed_feed(interps):
    """/v1/windows answers of a real agent sampling a real program."""
    import json
    import re
    import urllib.request
    py = next((a for n, a, _ in interps if n == "python3.12"), None)
    if py is None:
        return 0
    target = subprocess.Popen(py + ["-c", WALK_PROBE], stdout=subprocess.PIPE,
                              stderr=subprocess.DEVNULL)
    agent = None
    n = 0
    try:
        target.stdout.readline()
        agent = subprocess.Popen([os.path.join(REPO, "pyspy-c"), "serve", "--pid", str(target.pid),
                                  "--window", "1", "--listen", "127.0.0.1:0"],
                                 stderr=subprocess.PIPE)
        port = None
        for _ in range(50):
            line = agent.stderr.readline().decode()
            m = re.search(r"listening on http://127.0.0.1:(\d+)", line)
            if m:
                port = int(m.group(1))
                break
        if port is None:
            return 0
        import time
        time.sleep(3.5)
        for since in (0, 1):
            with urllib.request.urlopen("http://127.0.0.1:%d/v1/windows?since=%d" % (port, since),
                                        timeout=10) as r:
                body = r.read()
            json.loads(body)
            n += save("feed", body)
    finally:
        for p in (agent, target):
            if p:
                p.kill()
                p.wait()
    return n


def shrink_core(data, keep=16384):
    """A core with its notes and segment table, without the segments' memory but
    for the last `keep` bytes of the segment holding the first thread's stack
    pointer (auxv, environment and arguments at the top of the stack)."""
    phoff, = struct.unpack_from("<Q", data, 32)
    phnum, = struct.unpack_from("<H", data, 56)
    phdrs = [list(struct.unpack_from("<IIQQQQQQ", data, phoff + 56 * i)) for i in range(phnum)]
    notes = [p for p in phdrs if p[0] == 4]
    rsp = None
    for p in notes:
        blob, pos = data[p[2]:p[2] + p[5]], 0
        while pos + 12 <= len(blob) and rsp is None:
            nsz, dsz, typ = struct.unpack_from("<III", blob, pos)
            desc = pos + 12 + ((nsz + 3) & ~3)
            if typ == 1 and dsz >= 112 + 27 * 8:
                rsp, = struct.unpack_from("<Q", blob, desc + 112 + 19 * 8)
            pos = desc + ((dsz + 3) & ~3)
    out = bytearray(data[:64])
    body = bytearray()
    base = 64 + 56 * phnum
    table = []
    for p in phdrs:
        typ, flags, off, vaddr, paddr, filesz, memsz, align = p
        if typ == 4:
            table.append([typ, flags, base + len(body), vaddr, paddr, filesz, memsz, align])
            body += data[off:off + filesz]
        elif typ == 1 and rsp is not None and vaddr <= rsp < vaddr + memsz and filesz >= keep:
            table.append([typ, flags, base + len(body), vaddr + memsz - keep, paddr, keep, keep,
                          align])
            body += data[off + filesz - keep:off + filesz]
        else:
            table.append([typ, flags, base + len(body), vaddr, paddr, 0, memsz, align])
    for p in table:
        out += struct.pack("<IIQQQQQQ", *p)
    return bytes(out + body)


def seed_core(interps):
    n = 0
    wanted = [i for i in interps if i[0] in ("python2.7", "python3.11", "system-3.11")]
    gcore = shutil.which("gcore")
    for name, argv, _ in wanted:
        d = tempfile.mkdtemp(prefix="core-", dir=STAGE)
        p = subprocess.Popen(argv + ["-c", "import time; time.sleep(60)"])
        try:
            if gcore:
                import time
                time.sleep(1)
                subprocess.run([gcore, "-o", os.path.join(d, "g"), str(p.pid)],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        finally:
            p.kill()
            p.wait()
        import resource
        subprocess.run(argv + ["-c", "import os; os.abort()"], cwd=d, preexec_fn=lambda:
                       resource.setrlimit(resource.RLIMIT_CORE, (-1, -1)))
        for f in os.listdir(d):
            with open(os.path.join(d, f), "rb") as fh:
                data = fh.read()
            if data[:4] == b"\x7fELF" and data[16:18] == b"\x04\x00":
                small = shrink_core(data)
                if len(small) <= 65536:
                    n += save("core", small)
        shutil.rmtree(d)
    return n


# Requests of tests/e2e/test_serve.py and test_web.py, for fuzz_http:
# (server: 0 serve, 1 serve with a token, 2 web, 3 web with a token,
#  method, path and query as sent, headers).
HTTP_TOKEN = "fuzz-token-0123456789abcdef"
HTTP_REQUESTS = [
    (0, "GET", "/?seconds=2", {}), (0, "GET", "/?seconds=600", {}),
    (0, "GET", "/?processes=1", {}), (0, "GET", "/?pid=100&match=app", {}),
    (0, "GET", "/stacks?from=-2&full_filenames=1", {}),
    (0, "GET", "/stacks?format=speedscope&from=-30", {}),
    (0, "GET", "/stacks?from=-30&format=svg", {}), (0, "GET", "/stacks?format=pprof", {}),
    (0, "GET", "/stacks?format=chrometrace", {}), (0, "GET", "/stacks?format=nonsense", {}),
    (0, "GET", "/stacks?from=-10&until=-20", {}), (0, "GET", "/stacks?match=(", {}),
    (0, "GET", "/stacks?match=(a*)*%5C1", {}), (0, "GET", "/stacks?pid=-3", {}),
    (0, "GET", "/stacks?processes=1&match=^python", {}),
    (0, "GET", "/debug/pprof/profile?seconds=1", {}),
    (0, "GET", "/targets", {}), (0, "GET", "/v1/info", {}), (0, "HEAD", "/v1/info", {}),
    (0, "GET", "/v1/windows?since=0", {}), (0, "GET", "/v1/windows?since=0&max=1000", {}),
    (0, "GET", "/v1/windows?since=1&max=1", {}), (0, "GET", "/v1/windows?max=0", {}),
    (0, "GET", "/v1/windows?since=-1", {}), (0, "GET", "/v1/windows?since=x", {}),
    (0, "GET", "/metrics", {}), (0, "GET", "/healthz", {"Host": "localhost:8123"}),
    (0, "GET", "/healthz", {"Host": "evil.example"}), (0, "POST", "/metrics", {}),
    (0, "GET", "/nope", {}),
    (1, "GET", "/metrics", {"Authorization": "Bearer " + HTTP_TOKEN}),
    (1, "GET", "/metrics", {"Authorization": "Bearer wrong"}),
    (1, "GET", "/v1/windows?since=0", {"Authorization": "bearer " + HTTP_TOKEN}),
    (2, "GET", "/api/v1/info", {}), (2, "GET", "/", {}), (2, "HEAD", "/", {}),
    (2, "GET", "/?view=flame&zoom=a;b&q=x", {}),
    (2, "GET", "/assets/index.html", {}), (2, "GET", "/assets/nope.js", {}),
    (2, "GET", "/assets/../Makefile", {}), (2, "POST", "/api/v1/info", {}),
    (2, "GET", "/api/v1/info", {"Host": "evil.example"}),
    (2, "GET", "/api/v1/flamegraph", {}), (2, "GET", "/api/v1/flamegraph?from=-1h", {}),
    (2, "GET", "/api/v1/flamegraph?format=folded&from=-1h&host=h1", {}),
    (2, "GET", "/api/v1/flamegraph?format=speedscope&service=web", {}),
    (2, "GET", "/api/v1/flamegraph?format=pprof&pid=100", {}),
    (2, "GET", "/api/v1/flamegraph?full_filenames=1&from=now-30m&until=now", {}),
    (2, "GET", "/api/v1/flamegraph?from=yesterday", {}),
    (2, "GET", "/api/v1/flamegraph?until=2026-02-30", {}),
    (2, "GET", "/api/v1/flamegraph?from=-1h&until=-2h", {}),
    (2, "GET", "/api/v1/flamegraph?from=now&until=now", {}),
    (2, "GET", "/api/v1/flamegraph?pid=abc", {}), (2, "GET", "/api/v1/flamegraph?pid=1.5", {}),
    (2, "GET", "/api/v1/flamegraph?format=svg", {}),
    (2, "GET", "/api/v1/flamegraph?full_filenames=yes", {}),
    (2, "GET", "/api/v1/flamegraph?frm=1", {}),
    (2, "GET", "/api/v1/flamegraph?from=-1h&from=-2h", {}),
    (2, "GET", "/api/v1/timeline?group=host&from=-1h", {}),
    (2, "GET", "/api/v1/timeline?from=2026-01-01T00:00:00Z&until=%2B1d&service=worker", {}),
    (2, "GET", "/api/v1/timeline?group=pid", {}),
    (2, "GET", "/api/v1/series?from=-1h&until=now", {}),
    (2, "GET", "/api/v1/series?host=h1&pid=", {}), (2, "GET", "/api/v1/series?until=soon", {}),
    (2, "GET", "/api/v1/series?group=host", {}), (2, "GET", "/api/v1/info?x=1", {}),
    (2, "GET", "/api/v1/series?service=" + "a" * 5000, {}),
    (2, "GET", "/api/v1/series?" + "&".join("p%d=1" % i for i in range(40)), {}),
    (3, "GET", "/api/v1/info", {"Authorization": "Bearer " + HTTP_TOKEN}),
    (3, "GET", "/api/v1/info", {"Cookie": HTTP_TOKEN}),
    (3, "GET", "/?token=" + HTTP_TOKEN + "&view=x%20y", {}),
    (3, "GET", "/api/v1/series?token=wrong", {}), (3, "GET", "/nope", {}),
]


def seed_http():
    import urllib.parse
    n = 0
    for server, method, target, headers in HTTP_REQUESTS:
        path, _, query = target.partition("?")
        lines = [b"S%d" % server, b"M" + method.encode(),
                 b"U" + urllib.parse.unquote_to_bytes(path)]
        for name, tag in (("Host", b"H"), ("Authorization", b"A"), ("Cookie", b"C")):
            if name in headers:
                lines.append(tag + headers[name].encode())
        for part in query.split("&") if query else []:
            k, eq, v = part.partition("=")
            lines.append(b"Q" + urllib.parse.unquote_to_bytes(k) +
                         (b"=" + urllib.parse.unquote_to_bytes(v) if eq else b""))
        n += save("http", b"\n".join(lines) + b"\n")
    return n


NATIVE_SRC = r"""
#include <stdlib.h>
static inline __attribute__((always_inline)) int inner(int x) { return x * 3 + (x >> 2); }
__attribute__((noinline)) int leaf(int x) { return inner(x) + (int)random(); }
__attribute__((noinline)) int middle(int x) { return leaf(x + 1) * 2 + inner(x); }
__attribute__((noinline)) int outer(int x) { int a[16]; a[x & 15] = middle(x); return a[3]; }
int main(int argc, char **argv) { (void)argv; return outer(argc); }
"""


def native_input(image, rip, returns):
    """fuzz_native's input: the image, a stack of return addresses, rip."""
    base = 0x7f1200000000
    stack = b"".join(struct.pack("<Q", base + r) for r in returns) + b"\0" * 64
    return image + stack + struct.pack("<IH", rip, len(stack))


def function_addresses(path):
    """(address, size) of the defined functions of an ELF file, by nm."""
    out = subprocess.run(["nm", "-S", "--defined-only", path], stdout=subprocess.PIPE,
                         stderr=subprocess.DEVNULL).stdout.decode("ascii", "replace")
    if not out.strip():
        out = subprocess.run(["nm", "-D", "-S", "--defined-only", path], stdout=subprocess.PIPE,
                             stderr=subprocess.DEVNULL).stdout.decode("ascii", "replace")
    found = []
    for line in out.splitlines():
        f = line.split()
        if len(f) == 4 and f[2] in "tTwW":
            found.append((int(f[0], 16), int(f[1], 16)))
    return sorted(set(found))


def seed_native(interps):
    files = []
    for py in sorted(glob.glob("/root/.pyenv/versions/*/lib/python*/lib-dynload/*.so")):
        if os.path.getsize(py) <= 60000:
            files.append(py)
    files = files[::7][:12]
    for lib in sorted(glob.glob("/usr/lib/x86_64-linux-gnu/lib*.so.*")):
        if os.path.isfile(lib) and not os.path.islink(lib) and os.path.getsize(lib) <= 40000:
            files.append(lib)
    files = files[:20]
    d = tempfile.mkdtemp(prefix="native-", dir=STAGE)
    src = os.path.join(d, "prog.c")
    with open(src, "w") as f:
        f.write(NATIVE_SRC)
    for opts in (["-O2", "-g"], ["-O1", "-g", "-fno-omit-frame-pointer"], ["-O2", "-g", "-s"]):
        out = os.path.join(d, "prog%d" % len(files))
        if subprocess.run(["gcc"] + opts + ["-o", out, src]).returncode == 0:
            files.append(out)
    n = 0
    for path in files:
        with open(path, "rb") as f:
            image = f.read()
        funcs = function_addresses(path)
        if not funcs:
            n += save("native", native_input(image, 0x1000, [0x1100, 0x1200]))
            continue
        for i in range(min(3, len(funcs))):
            rip = funcs[i * len(funcs) // 3][0]
            rets = [a + min(s, 16) // 2 for a, s in funcs[::max(1, len(funcs) // 4)]][:4]
            n += save("native", native_input(image, rip, rets))
    # The vdso of a process of ours: a real image with unwind tables, no DWARF.
    with open("/proc/self/maps") as f:
        for line in f:
            if line.rstrip().endswith("[vdso]"):
                lo, hi = (int(x, 16) for x in line.split()[0].split("-"))
                with open("/proc/self/mem", "rb") as mem:
                    mem.seek(lo)
                    image = mem.read(hi - lo)
                n += save("native", native_input(image, 0x800, [0x900, 0xa00]))
    shutil.rmtree(d)
    return n


def main():
    interps = interpreters()
    wanted = sys.argv[1:]
    print("interpreters: %s" % ", ".join(i[0] for i in interps))
    for target, fn in (("linetable", lambda: seed_linetable(interps)),
                       ("pystr", lambda: seed_pystr(interps)),
                       ("debug_offsets", lambda: seed_debug_offsets(interps)),
                       ("elfsym", seed_elfsym),
                       ("walk", lambda: seed_walk(interps)),
                       ("timearg", seed_timearg),
                       ("feed", lambda: seed_feed(interps)),
                       ("core", lambda: seed_core(interps)),
                       ("http", seed_http),
                       ("native", lambda: seed_native(interps))):
        if wanted and target not in wanted:
            continue
        made = fn()
        fuzzer = os.path.join(REPO, "build-fuzz", "fuzz_" + target)
        dest = os.path.join(CORPUS, target)
        if not os.path.isdir(dest):
            os.makedirs(dest)
        before = len(os.listdir(dest))
        if not os.access(fuzzer, os.X_OK):
            print("seed.py: %s not built (make fuzz-build)" % fuzzer, file=sys.stderr)
            return 1
        subprocess.run([fuzzer, "-merge=1", "-max_len=%d" % (1 << 20), dest,
                        os.path.join(STAGE, target)],
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
        print("%-14s %5d made, %4d kept (corpus: %d files)" % (
            target, made, len(os.listdir(dest)) - before, len(os.listdir(dest))))
    shutil.rmtree(STAGE)
    return 0


if __name__ == "__main__":
    sys.exit(main())
