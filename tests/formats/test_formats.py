"""Output formats, checked by the tools that read them.

Each test records a real workload (workloads/two_threads.py: two threads in
nested functions with distinct names, one of them 60 frames deep) with a
real interpreter, in one format, and with PYSPY_C_ALSO_FOLDED the folded
stacks of the same recording; then the format's consumer reads the output
and what it sees is compared with the folded stacks:

  folded       a strict parser of flamegraph.pl's rules
  speedscope   speedscope's own file-format JSON schema (from its npm
               package), validated by ajv; stacks and weights vs folded
  chrometrace  parsed here: slices nest, timestamps increase, samples per
               slice add up to the folded counts
  pprof        `go tool pprof -top` and `-raw` (Debian's golang-go): totals,
               top functions, period, file names and lines
  svg          Debian's Chromium, headless, driven by playwright-core:
               renders, hover, search, click to zoom, reset; screenshots
               are kept in tests/formats/artifacts/
  --interval   folded blocks arrive on a pipe while recording

npm packages (package.json, package-lock.json) are installed into
tests/formats/node_modules with `npm ci` when missing or stale.  A missing
tool (node, npm, go, chromium) fails the test that needs it, by name.

Run with:  /usr/bin/python3 -m pytest tests/formats
The binary is $PYSPY_C, default <repo>/pyspy-c.  The interpreter is
$PYSPY_FORMATS_PYTHON, or the first of CANDIDATE_PYTHONS found.
"""

import collections
import hashlib
import json
import os
import pty
import re
import select
import shutil
import signal
import subprocess
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
ARTIFACTS = HERE / "artifacts"
WORKLOAD = HERE / "workloads" / "two_threads.py"
FORMATS = ["folded", "speedscope", "chrometrace", "svg", "pprof"]
CANDIDATE_PYTHONS = [
    "/root/.pyenv/versions/3.12.1/bin/python3.12",
    "/usr/bin/python3.11",
    "/root/.pyenv/versions/3.11.7/bin/python3.11",
]
RATE = 200          # Hz
PERIOD_MS = 1000.0 / RATE
DURATION = 2        # seconds per recording
DEPTH = 60          # beta_recurse frames in the workload

FRAME_RE = re.compile(r"^(?P<name>.+) \((?P<file>[^()]+):(?P<line>[0-9]+)\)$")


def binary():
    path = os.environ.get("PYSPY_C") or str(REPO / "pyspy-c")
    if not os.access(path, os.X_OK):
        pytest.fail(f"pyspy-c binary not found at {path}: run `make`, or set PYSPY_C")
    return path


def require_tool(name, path=None, package=None):
    """The tool's path; fails the test, naming the tool, when it is missing."""
    found = path if path and os.access(path, os.X_OK) else shutil.which(name)
    if not found:
        pytest.fail(f"consumer tool '{name}' not found"
                    + (f" (Debian package {package}; `tests/deps test` installs it)"
                       if package else ""))
    return found


# ---------------------------------------------------------------------------
# Folded stacks, strictly


def parse_folded_strict(text):
    """{stack: count} from folded text, enforcing flamegraph.pl's rules.

    Each line: frames separated by ';' (none empty, none with a newline or
    CR), one space, a single positive integer, a newline.  The stack part
    must not itself end in a number (flamegraph.pl would read the line as
    a differential "stack count1 count2").  Lines sorted bytewise, no
    duplicates."""
    if text == "":
        return {}
    assert text.endswith("\n"), f"no final newline: {text[-200:]!r}"
    lines = text[:-1].split("\n")
    raw = [l.encode("utf-8", "surrogateescape") for l in lines]
    assert raw == sorted(raw), "lines not sorted bytewise"
    stacks = {}
    for line in lines:
        assert "\r" not in line and "\0" not in line, f"CR or NUL in {line!r}"
        m = re.fullmatch(r"(.+) ([1-9][0-9]*)", line)
        assert m, f"not 'STACK COUNT': {line!r}"
        stack, count = m.group(1), int(m.group(2))
        assert not stack.endswith(" "), f"two spaces before the count: {line!r}"
        assert not re.search(r"\s[0-9]+(\.[0-9]*)?$", stack), (
            f"stack ends in a number, flamegraph.pl would see two counts: {line!r}")
        frames = stack.split(";")
        assert all(frames), f"empty frame in {line!r}"
        assert stack not in stacks, f"duplicate stack {stack!r}"
        stacks[stack] = count
    return stacks


def leaf_counts(stacks):
    out = collections.Counter()
    for stack, count in stacks.items():
        out[stack.split(";")[-1]] += count
    return out


def func_name(frame):
    m = FRAME_RE.match(frame)
    return m.group("name") if m else frame


# ---------------------------------------------------------------------------
# Fixtures: the workload, the npm packages


def pick_python():
    env = os.environ.get("PYSPY_FORMATS_PYTHON")
    for path in ([env] if env else CANDIDATE_PYTHONS):
        if os.access(path, os.X_OK):
            return path
    pytest.fail("no interpreter for the format tests: tried "
                + ", ".join([env] if env else CANDIDATE_PYTHONS))


class Workload:
    def __init__(self, python):
        self.python = python
        ready_r, ready_w = os.pipe()
        env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
        env["PYTHONDONTWRITEBYTECODE"] = "1"
        self.proc = subprocess.Popen([python, str(WORKLOAD), str(ready_w)],
                                     pass_fds=[ready_w], env=env, cwd="/",
                                     stdin=subprocess.DEVNULL)
        os.close(ready_w)
        try:
            r, _, _ = select.select([ready_r], [], [], 30)
            got = os.read(ready_r, 16) if r else b""
        finally:
            os.close(ready_r)
        if got != b"ready\n":
            self.stop()
            pytest.fail(f"workload {WORKLOAD.name} under {python} did not start "
                        f"(exit {self.proc.poll()}, got {got!r})")
        self.pid = self.proc.pid

    def stop(self):
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=30)


@pytest.fixture(scope="module")
def workload():
    w = Workload(pick_python())
    yield w
    w.stop()


@pytest.fixture(scope="session")
def node_modules():
    """tests/formats/node_modules, installed from package-lock.json by
    `npm ci` unless already installed from the same lock file."""
    require_tool("node", package="nodejs")
    npm = require_tool("npm", package="npm")
    lock = HERE / "package-lock.json"
    stamp = HERE / "node_modules" / ".pyspy-lock-sha256"
    digest = hashlib.sha256(lock.read_bytes()).hexdigest()
    wanted = ["speedscope", "ajv", "playwright-core"]
    if not (stamp.exists() and stamp.read_text() == digest
            and all((HERE / "node_modules" / p / "package.json").exists() for p in wanted)):
        proc = subprocess.run([npm, "ci", "--no-audit", "--no-fund", "--loglevel=error"],
                              cwd=HERE, capture_output=True, text=True, timeout=600)
        assert proc.returncode == 0, f"npm ci failed:\n{proc.stdout}\n{proc.stderr}"
        stamp.write_text(digest)
    return HERE / "node_modules"


@pytest.fixture(scope="session")
def artifacts():
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS


def record(workload, tmp_path, fmt, *extra, duration=DURATION, rate=RATE):
    """Record in format fmt into a file; returns (path, folded stacks of the
    same recording, stderr)."""
    out = tmp_path / f"profile.{fmt}"
    folded = tmp_path / f"same-recording-{fmt}.folded"
    env = dict(os.environ, PYSPY_C_ALSO_FOLDED=str(folded))
    argv = [binary(), "record", "-p", str(workload.pid), "-d", str(duration), "-r", str(rate),
            "-f", fmt, "-o", str(out), *extra]
    proc = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=120,
                          stdin=subprocess.DEVNULL)
    assert proc.returncode == 0, f"{' '.join(argv)}: exit {proc.returncode}\n{proc.stderr}"
    assert out.exists() and out.stat().st_size > 0, f"no output in {out}"
    stacks = parse_folded_strict(folded.read_text(encoding="utf-8"))
    assert sum(stacks.values()) > 100, f"too few samples to compare: {stacks}"
    return out, stacks, proc.stderr


@pytest.fixture(scope="module")
def recorded(workload, tmp_path_factory):
    """recorded(fmt): one recording per format for the whole module."""
    cache = {}
    tmp = tmp_path_factory.mktemp("recordings")

    def get(fmt):
        if fmt not in cache:
            cache[fmt] = record(workload, tmp, fmt)
        return cache[fmt]
    return get


@pytest.fixture(scope="module")
def browser(recorded, node_modules, artifacts):
    """What Chromium showed of the SVG, and what the speedscope app made of
    the speedscope file and of the Chrome trace (one browser start for all;
    see browser_check.js)."""
    require_tool("chromium", "/usr/bin/chromium", package="chromium")
    node = require_tool("node", package="nodejs")
    svg = recorded("svg")[0]
    speedscope = recorded("speedscope")[0]
    trace = recorded("chrometrace")[0]
    proc = subprocess.run([node, str(HERE / "browser_check.js"), str(artifacts), str(svg),
                           "alpha_leaf", "alpha_middle", str(speedscope), str(trace)],
                          capture_output=True, text=True, timeout=300, cwd=HERE)
    assert proc.returncode == 0, (
        f"browser_check.js failed:\n{proc.stderr}\n{proc.stdout[:2000]}")
    return json.loads(proc.stdout)


def assert_workload_seen(stacks):
    names = {func_name(f) for s in stacks for f in s.split(";")}
    for want in ("alpha_leaf", "alpha_middle", "alpha_outer", "beta_leaf", "beta_recurse"):
        assert want in names, f"{want} not in the recording: {sorted(names)}"


# ---------------------------------------------------------------------------
# folded


def test_folded_round_trips_strict_parser(workload, tmp_path):
    argv = [binary(), "record", "-p", str(workload.pid), "-d", str(DURATION), "-r", str(RATE)]
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=120,
                          stdin=subprocess.DEVNULL)
    assert proc.returncode == 0, proc.stderr
    stacks = parse_folded_strict(proc.stdout)
    assert_workload_seen(stacks)
    for stack in stacks:
        for frame in stack.split(";"):
            assert FRAME_RE.match(frame), f"frame not 'NAME (FILE:LINE)': {frame!r}"
    # Written back as text, the parsed stacks give the same bytes.
    again = "".join(sorted(f"{s} {c}\n" for s, c in stacks.items()))
    assert sorted(again.splitlines()) == sorted(proc.stdout.splitlines())
    # The end summary: samples, late, failed, effective rate, duration.
    assert re.search(r"^pyspy-c: [0-9]+ samples in [0-9.]+ s \([0-9.]+/s effective, "
                     r"[0-9.]+/s asked\); [0-9]+ late, [0-9]+ failed", proc.stderr, re.M), (
        proc.stderr)


def test_quiet_keeps_stderr_empty(workload):
    argv = [binary(), "record", "-p", str(workload.pid), "-d", "0.3", "-q"]
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=60,
                          stdin=subprocess.DEVNULL)
    assert proc.returncode == 0
    assert proc.stderr == "", f"--quiet printed: {proc.stderr!r}"
    assert parse_folded_strict(proc.stdout)


# ---------------------------------------------------------------------------
# speedscope


def test_speedscope_validates_and_matches_folded(recorded, node_modules):
    path, stacks, _ = recorded("speedscope")
    node = require_tool("node", package="nodejs")
    proc = subprocess.run([node, str(HERE / "validate_speedscope.js"), str(path)],
                          capture_output=True, text=True, timeout=120, cwd=HERE)
    results = [json.loads(l) for l in proc.stdout.splitlines() if l.startswith("{")]
    assert results and "speedscope" in results[0]["schema"], proc.stdout + proc.stderr
    assert proc.returncode == 0 and results[0]["valid"], (
        f"speedscope schema rejects the file: {json.dumps(results, indent=1)[:4000]}"
        f"\n{proc.stderr}")

    data = json.loads(path.read_text(encoding="utf-8"))
    frames = data["shared"]["frames"]
    for f in frames:
        assert "file" in f and "line" in f, f"frame without file or line: {f}"
    texts = [f"{f['name']} ({f['file']}:{f['line']})" for f in frames]
    assert len(data["profiles"]) == 2, [p["name"] for p in data["profiles"]]
    seen = collections.Counter()
    for prof in data["profiles"]:
        assert prof["type"] == "sampled" and prof["unit"] == "milliseconds"
        assert len(prof["samples"]) == len(prof["weights"])
        assert prof["endValue"] >= prof["startValue"]
        names = set()
        for sample, weight in zip(prof["samples"], prof["weights"]):
            count = weight / PERIOD_MS
            assert abs(count - round(count)) < 1e-6 and round(count) >= 1, weight
            seen[";".join(texts[i] for i in sample)] += round(count)
            names.update(func_name(texts[i]) for i in sample)
        # one profile per thread: each sees only its own thread's functions
        assert ("alpha_leaf" in names) != ("beta_leaf" in names), (prof["name"], names)
    assert dict(seen) == stacks, "speedscope stacks differ from folded"
    # The main thread (tid = pid) first.
    first = {func_name(texts[i]) for s in data["profiles"][0]["samples"] for i in s}
    assert "alpha_leaf" in first, data["profiles"][0]["name"]


def test_speedscope_opens_in_speedscope(browser, recorded, workload):
    seen = browser["speedscope"]
    assert seen["errors"] == [], seen["errors"]
    assert seen["warnings"] == [], seen["warnings"][:20]
    assert seen["title"].endswith(f"(pid {workload.pid}) - speedscope"), seen["title"]
    assert WORKLOAD.name in seen["title"]
    # The header names the first profile (the main thread) of two.
    assert re.search(rf'thread "[^"]*" \({workload.pid}\) \(1/2\)', seen["header"]), (
        seen["header"][:500])


# ---------------------------------------------------------------------------
# Chrome trace


def test_chrometrace_nests_and_matches_folded(recorded, workload):
    path, stacks, _ = recorded("chrometrace")
    data = json.loads(path.read_text(encoding="utf-8"))
    events = data["traceEvents"]
    assert isinstance(events, list) and events
    start = data["otherData"]["start"]
    t0 = time.mktime(time.strptime(start[:19], "%Y-%m-%dT%H:%M:%S")) - time.timezone
    assert abs(t0 - time.time()) < 120, f"start {start} is not now"

    thread_names = {e["tid"]: e["args"]["name"] for e in events
                    if e["ph"] == "M" and e["name"] == "thread_name"}
    slices = [e for e in events if e["ph"] == "X"]
    assert {e["ph"] for e in events} <= {"M", "X"}
    prefixes = {";".join(s.split(";")[:k]) for s in stacks for k in range(1, len(s.split(";")) + 1)}
    leaf = collections.Counter()
    per_thread = collections.defaultdict(list)
    for e in slices:
        assert e["pid"] == workload.pid
        assert e["tid"] in thread_names, f"no thread_name for tid {e['tid']}"
        assert isinstance(e["ts"], int) and isinstance(e["dur"], int), e
        assert e["dur"] > 0 and e["ts"] >= 0, e
        assert e["args"]["samples"] >= 1, e
        per_thread[e["tid"]].append(e)
    assert len(per_thread) == 2, thread_names
    eps = 0  # whole microseconds: slices that touch, touch exactly
    merged = 0
    for tid, evs in per_thread.items():
        open_ = []   # [end, name, samples, children's samples]
        last_ts = -1.0

        def close(entry):
            own = entry[2] - entry[3]
            assert own >= 0, f"children have more samples than {entry[1]}"
            if own:
                leaf[entry[1]] += own

        for e in evs:
            assert e["ts"] >= last_ts, f"timestamps go back on tid {tid}: {e}"
            last_ts = e["ts"]
            end = e["ts"] + e["dur"]
            while open_ and open_[-1][0] <= e["ts"] + eps:
                close(open_.pop())
            if open_:
                assert end <= open_[-1][0] + eps, f"{e} overlaps its parent's end {open_[-1]}"
                open_[-1][3] += e["args"]["samples"]
            path_names = ";".join([o[1] for o in open_] + [e["name"]])
            assert path_names in prefixes, f"slice path not in the folded stacks: {path_names}"
            open_.append([end, e["name"], e["args"]["samples"], 0])
            if e["args"]["samples"] > 1:
                merged += 1
        while open_:
            close(open_.pop())
    assert merged, "no slice merges two samples"
    assert dict(leaf) == dict(leaf_counts(stacks)), "samples per leaf differ from folded"
    depth = max(len(s.split(";")) for s in stacks)
    assert depth >= DEPTH, f"the deep thread's stack is only {depth} deep"


def test_chrometrace_opens_in_a_trace_reader(browser, workload):
    """speedscope's Trace Event importer replays the slices as begin/end
    events and warns about any that do not nest exactly."""
    seen = browser["chrometrace"]
    assert seen["errors"] == [], seen["errors"]
    assert seen["warnings"] == [], seen["warnings"][:20]
    assert seen["title"].endswith(" - speedscope"), seen["title"]
    assert re.search(rf'thread "[^"]*" \({workload.pid}\) \(tid {workload.pid}\) \(1/2\)',
                     seen["header"]), seen["header"][:500]


# ---------------------------------------------------------------------------
# pprof


def go_env(tmp):
    env = dict(os.environ)
    env.update(GOCACHE=str(tmp / "gocache"), GOPATH=str(tmp / "gopath"), GOFLAGS="",
               GOPROXY="off", GOTOOLCHAIN="local", HOME=str(tmp), PPROF_TMPDIR=str(tmp),
               GOTELEMETRY="off")
    return env


def test_pprof_matches_folded_in_go_tool_pprof(recorded, tmp_path):
    go = require_tool("go", "/usr/bin/go", package="golang-go")
    path, stacks, _ = recorded("pprof")
    assert path.read_bytes()[:2] == b"\x1f\x8b", "not gzipped"
    env = go_env(tmp_path)

    proc = subprocess.run([go, "tool", "pprof", "-top", "-sample_index=samples",
                           "-nodecount=1000", str(path)],
                          capture_output=True, text=True, timeout=120, env=env)
    assert proc.returncode == 0, proc.stderr
    total = sum(stacks.values())
    m = re.search(r"Showing nodes accounting for ([0-9]+), 100% of ([0-9]+) total", proc.stdout)
    assert m and int(m.group(1)) == total and int(m.group(2)) == total, (
        f"folded total {total}\n{proc.stdout}")
    flat, cum = {}, {}
    for line in proc.stdout.splitlines():
        r = re.match(r"^\s*([0-9]+)\s+[0-9.]+%\s+[0-9.]+%\s+([0-9]+)\s+[0-9.]+%\s+(.+)$", line)
        if r:
            flat[r.group(3)] = int(r.group(1))
            cum[r.group(3)] = int(r.group(2))
    want_flat, want_cum = collections.Counter(), collections.Counter()
    for stack, count in stacks.items():
        names = [func_name(f) for f in stack.split(";")]
        want_flat[names[-1]] += count
        for n in set(names):
            want_cum[n] += count
    assert {k: v for k, v in flat.items() if v} == dict(want_flat), proc.stdout
    assert cum == dict(want_cum), proc.stdout
    top = sorted(flat, key=lambda k: (-flat[k], k))[:2]
    assert top == sorted(want_flat, key=lambda k: (-want_flat[k], k))[:2]
    assert set(top) == {"alpha_leaf", "beta_leaf"}, top

    raw = subprocess.run([go, "tool", "pprof", "-raw", str(path)],
                         capture_output=True, text=True, timeout=120, env=env)
    assert raw.returncode == 0, raw.stderr
    assert re.search(r"^PeriodType: cpu nanoseconds$", raw.stdout, re.M), raw.stdout[:2000]
    assert re.search(rf"^Period: {int(1e9 / RATE)}$", raw.stdout, re.M), raw.stdout[:2000]
    assert "samples/count cpu/nanoseconds" in raw.stdout
    locations = set(re.findall(r"^\s+[0-9]+: 0x0 M=1 (\S+) (\S+):([0-9]+) s=0", raw.stdout, re.M))
    for stack in stacks:
        for frame in stack.split(";"):
            f = FRAME_RE.match(frame)
            assert (f.group("name"), f.group("file"), f.group("line")) in locations, (
                f"{frame} is no pprof location:\n{raw.stdout[-3000:]}")


def test_pprof_refuses_a_terminal(workload):
    master, slave = pty.openpty()
    try:
        proc = subprocess.run([binary(), "record", "-p", str(workload.pid), "-f", "pprof"],
                              stdout=slave, stderr=subprocess.PIPE, text=True, timeout=30,
                              stdin=subprocess.DEVNULL)
    finally:
        os.close(slave)
        os.close(master)
    assert proc.returncode == 2, proc.stderr
    assert re.fullmatch(r"pyspy-c: pprof output is binary: write it to a file with -o FILE"
                        r"[^\n]*\n", proc.stderr), proc.stderr


# ---------------------------------------------------------------------------
# SVG


def svg_titles(root):
    return [g.find("s:title", SVG_NS).text for g in root.iter("{http://www.w3.org/2000/svg}g")
            if g.get("class") == "f"]


SVG_NS = {"s": "http://www.w3.org/2000/svg"}


def test_svg_file_is_self_contained(recorded, workload, artifacts):
    path, stacks, _ = recorded("svg")
    text = path.read_text(encoding="utf-8")
    shutil.copy(path, artifacts / "flamegraph.svg")

    # Well-formed, self-contained.
    root = ET.fromstring(text)
    assert root.tag == "{http://www.w3.org/2000/svg}svg"
    assert not re.search(r"""(?:href|src)\s*=\s*["'](?!#)""", text), "external reference"
    assert "url(" not in text and "@import" not in text and "@font-face" not in text
    for url in re.findall(r"https?://[^\s\"'<>]+", text):
        assert url in ("http://www.w3.org/2000/svg", "http://www.w3.org/1999/xhtml"), url
    total = sum(stacks.values())
    titles = svg_titles(root)
    assert titles[0] == f"all\n{total} samples, 100.00%", titles[0]
    # Title: the command; subtitle: the totals.
    heads = {t.get("id"): "".join(t.itertext())
             for t in root.iter("{http://www.w3.org/2000/svg}text")
             if t.get("id") in ("title", "sub")}
    assert WORKLOAD.name in heads["title"], heads
    assert re.search(rf"pid {workload.pid}, [0-9]+ samples in [0-9.]+ s at {RATE} Hz "
                     rf"\([0-9]+ failed\): {total} thread stacks", heads["sub"]), heads
    # The deep stack is drawn down to its leaf.
    assert sum(1 for t in titles if t.startswith("beta_recurse ")) >= DEPTH, "deep stack cut"


def test_svg_in_chromium(browser, recorded):
    path, stacks, _ = recorded("svg")
    titles = svg_titles(ET.fromstring(path.read_text(encoding="utf-8")))
    total = sum(stacks.values())
    seen = browser["svg"]
    assert seen["errors"] == [], seen["errors"]
    assert seen["requests"] == [], f"the SVG loaded: {seen['requests']}"

    # Renders: every frame, the root across the whole width.
    frames = seen["rendered"]["frames"]
    assert seen["rendered"]["count"] == len(titles)
    box = seen["rendered"]["root"]
    assert box and box["width"] > 1000 and box["height"] > 10, box
    assert frames[0]["name"] == "all" and abs(frames[0]["w"] - 1180) < 0.01

    # Hover names the frame and its share.
    assert re.search(r"^alpha_middle \(.*\) \u2014 [0-9]+ samples?, [0-9.]+%$", seen["hover"]), (
        seen["hover"])

    # Search highlights exactly the frames of the function, and sums their share.
    want_hits = sorted(f["name"] for f in frames if "alpha_leaf" in f["name"].lower())
    assert want_hits and sorted(seen["search"]["hits"]) == want_hits, seen["search"]
    share = 100.0 * sum(c for s, c in stacks.items() if "alpha_leaf (" in s) / total
    m = re.fullmatch(r"matched: ([0-9.]+)% of samples", seen["search"]["matched"])
    assert m and abs(float(m.group(1)) - share) < 0.6, (seen["search"]["matched"], share)

    # A click zooms: the frame spans the width, other subtrees are hidden.
    z = seen["zoom"]["target"]
    assert z and abs(z["x"] - 10) < 0.01 and abs(z["w"] - 1180) < 0.01, z
    visible = [v["name"] for v in seen["zoom"]["visible"]]
    assert not any(n.startswith("beta_") for n in visible), visible
    assert any(n.startswith("alpha_leaf ") for n in visible), visible
    assert seen["reset"]["same"], "Reset zoom did not restore the graph"

    for shot in ("flamegraph.png", "flamegraph-search-zoom.png", "speedscope.png",
                 "chrometrace-in-speedscope.png"):
        png = (ARTIFACTS / shot).read_bytes()
        assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 10000, shot


# ---------------------------------------------------------------------------
# Streaming folded output


HEADER_RE = re.compile(r"^# window start=([0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:"
                       r"[0-9]{2}\.[0-9]{3})Z seconds=([0-9]+\.[0-9]{3}) samples=([0-9]+)$")


def iso_seconds(stamp):
    day, frac = stamp.split(".")
    t = time.mktime(time.strptime(day, "%Y-%m-%dT%H:%M:%S")) - time.timezone
    return t + int(frac) / 1000


def test_interval_streams_folded_blocks(workload):
    interval, duration = 0.5, 2.2
    argv = [binary(), "record", "-p", str(workload.pid), "--interval", str(interval),
            "-d", str(duration), "-r", "100"]
    started = time.monotonic()
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            stdin=subprocess.DEVNULL)
    try:
        # The first block arrives while the recording goes on.
        r, _, _ = select.select([proc.stdout], [], [], 10)
        first_at = time.monotonic() - started
        assert r, "no output within 10 s"
        assert proc.poll() is None, "the profiler had already exited: output was not streamed"
        assert first_at < duration - 0.5, f"first block only after {first_at:.2f} s"
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait()
    assert proc.returncode == 0, err
    text = out.decode("utf-8")
    blocks = []
    for line in text.splitlines(keepends=True):
        if line.startswith("#"):
            m = HEADER_RE.match(line.rstrip("\n"))
            assert m, f"bad window header {line!r}"
            blocks.append([m, ""])
        else:
            assert blocks, f"output does not start with a header: {text[:200]!r}"
            blocks[-1][1] += line
    assert len(blocks) == 5, f"{len(blocks)} blocks: {[b[0].group(0) for b in blocks]}"
    starts = [iso_seconds(b[0].group(1)) for b in blocks]
    for a, b in zip(starts, starts[1:]):
        assert abs((b - a) - interval) < 0.0021, starts
    assert abs(starts[0] - time.time()) < 120
    for m, body in blocks[:-1]:
        assert m.group(2) == "0.500", m.group(0)
    assert 0.1 < float(blocks[-1][0].group(2)) < 0.45, blocks[-1][0].group(0)
    taken = 0
    for m, body in blocks:
        stacks = parse_folded_strict(body)
        samples = int(m.group(3))
        taken += samples
        assert samples == 0 or stacks, m.group(0)
        # each sample counts at most one stack per thread
        assert sum(stacks.values()) <= 2 * samples, (m.group(0), sum(stacks.values()))
    for m, _ in blocks[:-1]:
        assert int(m.group(3)) >= 40, m.group(0)
    s = re.search(r"^pyspy-c: ([0-9]+) samples in", err.decode(), re.M)
    assert s and int(s.group(1)) == taken, (err, taken)


# ---------------------------------------------------------------------------
# Usage


def run_usage(*args):
    proc = subprocess.run([binary(), "record", *args], capture_output=True, text=True,
                          timeout=30, stdin=subprocess.DEVNULL)
    return proc


@pytest.mark.parametrize("fmt", ["speedscope", "chrometrace", "svg", "pprof"])
def test_interval_needs_folded(fmt):
    proc = run_usage("-p", "1", "-f", fmt, "--interval", "1", "-o", os.devnull)
    assert proc.returncode == 2, proc.stderr
    assert re.fullmatch(rf"pyspy-c: --interval [^\n]*--format {fmt}\n", proc.stderr), proc.stderr


def test_unknown_format_lists_formats():
    proc = run_usage("-p", "1", "--format", "flame")
    assert proc.returncode == 2
    assert proc.stderr == ("pyspy-c: unknown format 'flame' (expected one of: "
                           + ", ".join(FORMATS) + ")\n"), proc.stderr


def test_formats_documented():
    """--help, the man page and every completion name all five formats."""
    help_text = subprocess.run([binary(), "record", "--help"], capture_output=True, text=True,
                               timeout=30).stdout
    docs = {
        "record --help": help_text,
        "man/pyspy-c.1": (REPO / "man" / "pyspy-c.1").read_text(encoding="utf-8"),
        "README.md": (REPO / "README.md").read_text(encoding="utf-8"),
        "doc/CONTRACT.md": (REPO / "doc" / "CONTRACT.md").read_text(encoding="utf-8"),
        "completions/pyspy-c.bash": (REPO / "completions" / "pyspy-c.bash").read_text(),
        "completions/_pyspy-c": (REPO / "completions" / "_pyspy-c").read_text(),
        "completions/pyspy-c.fish": (REPO / "completions" / "pyspy-c.fish").read_text(),
    }
    for name, text in docs.items():
        missing = [f for f in FORMATS if not re.search(rf"\b{f}\b", text)]
        assert not missing, f"{name} does not name {missing}"


@pytest.mark.parametrize("shell", ["bash", "zsh", "fish"])
def test_completions_offer_formats(shell):
    """The shells themselves complete `pyspy-c record --format <TAB>`."""
    exe = shutil.which(shell)
    if exe is None:
        pytest.fail(f"shell '{shell}' not found (tests/deps test installs it)")
    comp = REPO / "completions"
    line = "pyspy-c record -p 1 --format "
    if shell == "bash":
        script = r'''
            source "$1" || exit 3
            line=$2
            read -ra COMP_WORDS <<<"$line"; COMP_WORDS+=("")
            COMP_CWORD=$((${#COMP_WORDS[@]} - 1)); COMP_LINE=$line; COMP_POINT=${#line}
            COMPREPLY=()
            _pyspy_c pyspy-c "" "${COMP_WORDS[COMP_CWORD-1]}"
            printf '%s\n' "${COMPREPLY[@]}"
        '''
        argv = [exe, "--norc", "--noprofile", "-c", script, "bash",
                str(comp / "pyspy-c.bash"), line]
    elif shell == "zsh":
        argv = [exe, "-f", str(REPO / "tests" / "docs" / "zsh-complete.zsh"), str(comp), line]
    else:
        argv = [exe, "--no-config", "-c",
                "source $argv[1]; or exit 3; complete --do-complete=$argv[2]",
                str(comp / "pyspy-c.fish"), line]
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    offered = {re.split(r"\s|\t", l.strip(), maxsplit=1)[0]
               for l in proc.stdout.splitlines() if l.strip()}
    assert set(FORMATS) <= offered, f"{shell} offers {sorted(offered)}"
