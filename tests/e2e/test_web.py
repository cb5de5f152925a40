"""pyspy-c web: the web app's page, assets and HTTP API (doc/CONTRACT.md "web").

The store is test_query's (`run-unit --write-store`, tests/unit/store_fixture.c:
hosts h1 and h2, services web and worker, pids 100 and 101 on h1 and 200 on
h2, 10-second windows from T0); every answer is checked against values
computed here again from that definition (test_query.expected for the stacks,
model() below for the counts), independently of the C code.  Frame names are
untrusted: hostile ones are written into a store copy by hand, and run for
real by an interpreter under serve + collect --web.
"""

import gzip
import json
import os
import re
import shutil
import sqlite3
import subprocess
import time
import uuid
from collections import Counter, defaultdict

import pytest

import e2elib
from e2elib import assert_error, run_profiler
from interpreters import REPO
from test_query import T0, WINDOWS, expected, run_unit, store, windows  # noqa: F401 (store: the fixture)
from test_serve import Agent, _python

CSP = ("default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
       "object-src 'none'; base-uri 'none'; frame-ancestors 'none'")
END = T0 + WINDOWS * 10


class Web(Agent):
    """pyspy-c web (or collect --web: command) in the background."""

    def __init__(self, procs, tmp_path, args, command=("web", "--listen", "127.0.0.1:0")):
        Agent.__init__(self, procs, tmp_path, args, command=command)

    def api(self, path, **kw):
        status, headers, body = self.request(path, **kw)
        assert status == 200, "GET %s: %d %r\n%s" % (path, status, body[:500], self.err())
        assert headers["content-type"] == "application/json", headers
        return json.loads(body.decode("utf-8"))


@pytest.fixture
def web(procs, tmp_path, store):  # noqa: F811 (the fixture, imported)
    return Web(procs, tmp_path, ["--store", store])


def model(lo, hi, service=None, host=None, pid=None, pruned=False):
    """[(minute, host, service, pid, samples, errors)] of the fixture's processes in [lo, hi);
    with pruned, also the pruned stack's sample of each window of h2 (pid 0: no process).
    Each process's stack has all its samples."""
    rows = []
    for i, minute, h, sv, pids, has_pruned in windows(lo, hi, service, host):
        rows += [(minute, h, sv, p, 10 + p % 7 + i % 5, i % 2) for p in pids if not pid or pid == p]
        if pruned and has_pruned and not pid:
            rows.append((minute, h, sv, 0, 1, 0))
    return rows


def folded_of(fg):
    """The folded text of a /api/v1/flamegraph answer (as test_query.expected writes it)."""
    texts = []
    for name, file, line in fg["frames"]:
        if file == "":
            texts.append(name)
        elif line is not None and line >= 0:
            texts.append("%s (%s:%d)" % (name, file, line))
        else:
            texts.append("%s (%s)" % (name, file))
    c = Counter()
    for count, frames in fg["stacks"]:
        c[";".join(texts[i] for i in frames)] += count
    return "".join("%s %d\n" % (s, n) for s, n in sorted(c.items()))


def test_info(web):
    info = web.api("/api/v1/info")
    assert info["version"].startswith("pyspy-c ")
    assert info["store"] == "sqlite"
    assert abs(info["now"] - time.time()) < 60
    assert info["first"] == T0 and info["last"] == END, info
    assert [(t["width"], t["retention"]) for t in info["tiers"]] == [
        (60, 2 * 86400), (600, 14 * 86400), (3600, 365 * 86400)]


@pytest.mark.parametrize("lo,hi,filters", [
    (T0, END, {}),
    (T0 + 7 * 60 + 5, T0 + 2 * 3600 + 13 * 60, {"service": "web"}),
    (T0 + 7 * 60 + 5, T0 + 2 * 3600 + 13 * 60, {"host": "h2"}),
    (T0 + 600, T0 + 1800, {"pid": 101}),
    (T0, T0 + 3600, {"service": "nope"}),
])
def test_flamegraph(web, lo, hi, filters):
    """The JSON flame graph and the folded download equal the fixture's stacks."""
    q = "from=%d&until=%d%s" % (lo, hi, "".join("&%s=%s" % kv for kv in sorted(filters.items())))
    fg = web.api("/api/v1/flamegraph?" + q)
    want = expected(lo, hi, **filters)
    assert folded_of(fg) == want
    rows = model(lo, hi, **filters)
    assert fg["taken"] == sum(r[4] for r in rows) and fg["errors"] == sum(r[5] for r in rows)
    assert fg["samples"] == sum(r[4] for r in model(lo, hi, pruned=True, **filters))
    assert fg["from"] == lo and fg["until"] == hi and fg["exact"] is True
    assert fg["spans"] and all(s["tier"] in ("1m", "10m", "1h") for s in fg["spans"]), fg["spans"]
    if not filters:
        # 7 min 5 s into an hour to 13 min past the second: every tier answers a part.
        fg2 = web.api("/api/v1/flamegraph?from=%d&until=%d" % (T0 + 425, T0 + 2 * 3600 + 780))
        assert set(s["tier"] for s in fg2["spans"]) == {"1m", "10m", "1h"}, fg2["spans"]
    status, h, body = web.request("/api/v1/flamegraph?format=folded&" + q)
    assert status == 200 and h["content-type"] == "text/plain; charset=utf-8"
    assert h["content-disposition"] == 'attachment; filename="pyspy-c-%d-%d.txt"' % (lo, hi)
    assert body.decode() == want
    full = web.api("/api/v1/flamegraph?full_filenames=1&" + q)
    assert folded_of(full) == expected(lo, hi, full=True, **filters)


def check_sums(w, lo, hi):
    """The whole fleet's flame graph (read from the sums per service) equals what was
    written, and the flame graphs of each service, each host and each pid (read from the
    counts of each process) added up."""
    def lines(**filters):
        q = "from=%d&until=%d%s" % (lo, hi, "".join("&%s=%s" % kv for kv in sorted(filters.items())))
        c = Counter()
        for line in folded_of(w.api("/api/v1/flamegraph?" + q)).splitlines():
            stack, n = line.rsplit(" ", 1)
            c[stack] += int(n)
        return c

    whole = lines()
    assert "".join("%s %d\n" % kv for kv in sorted(whole.items())) == expected(lo, hi)
    assert whole == lines(service="web") + lines(service="worker")
    assert whole == lines(host="h1") + lines(host="h2")
    by_pid = lines(pid=100) + lines(pid=101) + lines(pid=200)
    pruned = Counter({k: v for k, v in whole.items() if k.startswith("[pruned")})
    assert pruned and whole == by_pid + pruned


@pytest.mark.parametrize("lo,hi", [(T0, END), (T0 + 425, T0 + 2 * 3600 + 780), (T0 + 600, T0 + 660)])
def test_flamegraph_sums(web, lo, hi):
    check_sums(web, lo, hi)


def test_downloads(web):
    lo, hi = T0, T0 + 3600
    q = "from=%d&until=%d" % (lo, hi)
    want = Counter()
    for line in expected(lo, hi).splitlines():
        stack, n = line.rsplit(" ", 1)
        want[stack.split(";")[-1].split(" (")[0]] += int(n)
    status, h, body = web.request("/api/v1/flamegraph?format=speedscope&" + q)
    assert status == 200 and h["content-type"] == "application/json"
    assert h["content-disposition"] == 'attachment; filename="pyspy-c-%d-%d.speedscope.json"' % (lo, hi)
    ss = json.loads(body)
    frames = ss["shared"]["frames"]
    (prof,) = ss["profiles"]
    got = Counter()
    for stack, w in zip(prof["samples"], prof["weights"]):
        got[frames[stack[-1]]["name"]] += w
    assert got == want
    status, h, body = web.request("/api/v1/flamegraph?format=pprof&" + q)
    assert status == 200 and h["content-type"] == "application/octet-stream"
    assert h["content-disposition"] == 'attachment; filename="pyspy-c-%d-%d.pb.gz"' % (lo, hi)
    raw = gzip.decompress(body)
    for name in want:
        assert name.encode() in raw, name


def test_series(web):
    lo, hi = T0 + 300, T0 + 3 * 3600 - 300
    s = web.api("/api/v1/series?from=%d&until=%d" % (lo, hi))
    rows = model(lo, hi, pruned=True)
    for key, idx in (("services", 2), ("hosts", 1)):
        c = Counter()
        for r in rows:
            c[r[idx]] += r[4]
        assert s[key] == [{"name": n, "samples": v} for n, v in sorted(c.items(), key=lambda kv: -kv[1])]
    c = Counter()
    for r in rows:
        if r[3]:
            c[(r[3], r[1], r[2])] += r[4]
    assert s["pids"] == [{"pid": p, "host": h, "service": sv, "program": "python3 app.py",
                          "samples": v, "taken": v}
                         for (p, h, sv), v in sorted(c.items(), key=lambda kv: -kv[1])]
    s = web.api("/api/v1/series?from=%d&until=%d&host=h1" % (lo, hi))
    assert [h["name"] for h in s["hosts"]] == ["h1"] and sorted(p["pid"] for p in s["pids"]) == [100, 101]
    s = web.api("/api/v1/series?from=%d&until=%d" % (END + 3600, END + 7200))
    assert s["services"] == [] and s["hosts"] == [] and s["pids"] == []


@pytest.mark.parametrize("group,col", [("service", 2), ("host", 1)])
def test_timeline(web, group, col):
    for lo, hi, width, tier in ((T0 - 600, END + 600, 60, "1m"),
                                (int(time.time()) - 7 * 86400, int(time.time()), 600, "10m")):
        t = web.api("/api/v1/timeline?from=%d&until=%d&group=%s" % (lo, hi, group))
        assert (t["from"], t["until"], t["width"], t["tier"]) == (lo, hi, width, tier)
        rows = model(lo, hi, pruned=True)
        totals = Counter()
        for r in rows:
            totals[r[col]] += r[4]
        assert t["groups"] == [g for g, _ in sorted(totals.items(), key=lambda kv: -kv[1])]
        want = defaultdict(lambda: [0, 0])
        for r in rows:
            k = (r[0] - r[0] % width, t["groups"].index(r[col]))
            want[k][0] += r[4]
            want[k][1] += r[5]
        assert t["points"] == [[b, g, s, e] for (b, g), (s, e) in sorted(want.items())]
    t = web.api("/api/v1/timeline?from=%d&until=%d&service=worker" % (T0, END))
    assert t["groups"] == ["worker"] and all(p[1] == 0 for p in t["points"]) and len(t["points"]) == 180


def test_concurrent_requests(web):
    """Many requests at once (the page sends several): each answered as if alone.

    16 at once: the per-address bound (HTTP_MAX_PER_IP, doc/CONTRACT.md); one more
    from the same address is closed unanswered, and in a slow (sanitizer) build the
    24 of an earlier version overlapped past it."""
    import threading
    jobs = [("/api/v1/flamegraph?from=%d&until=%d" % (T0, END), folded_of, expected(T0, END)),
            ("/api/v1/flamegraph?from=%d&until=%d&host=h2" % (T0, T0 + 3600), folded_of,
             expected(T0, T0 + 3600, host="h2")),
            ("/api/v1/timeline?from=%d&until=%d" % (T0, END), lambda t: len(t["points"]), 360),
            ("/api/v1/series?from=%d&until=%d" % (T0, END), lambda s: len(s["pids"]), 3)] * 4
    errors = []

    def run(path, get, want):
        try:
            got = get(web.api(path))
            if got != want:
                errors.append((path, got, want))
        except Exception as e:  # noqa: BLE001 (reported below)
            errors.append((path, repr(e)))
    threads = [threading.Thread(target=run, args=j) for j in jobs]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not errors, errors[:3]


def test_page_and_assets(web):
    """/ is web/index.html; every file of web/ but its README is an asset, with its type."""
    types = {".html": "text/html", ".js": "application/javascript", ".css": "text/css",
             ".svg": "image/svg+xml", ".png": "image/png"}
    status, h, body = web.request("/")
    assert status == 200 and h["content-type"] == "text/html; charset=utf-8"
    assert body == open(os.path.join(REPO, "web", "index.html"), "rb").read()
    assert h["cache-control"] == "no-cache"
    names = []
    for root, _, files in os.walk(os.path.join(REPO, "web")):
        for f in files:
            names.append(os.path.relpath(os.path.join(root, f), os.path.join(REPO, "web")))
    assert "index.html" in names
    for name in names:
        status, h, body = web.request("/assets/" + name)
        if name == "README.md":
            assert status == 404
            continue
        assert status == 200, name
        assert body == open(os.path.join(REPO, "web", name), "rb").read(), name
        ext = os.path.splitext(name)[1]
        if ext in types:
            assert h["content-type"].split(";")[0] == types[ext], (name, h)
        assert h["cache-control"] == "no-cache"
    # Every response, errors too, carries the policy and nosniff.
    for path in ("/", "/assets/index.html", "/api/v1/info", "/nope", "/api/v1/series?pid=x"):
        status, h, body = web.request(path)
        assert h.get("content-security-policy") == CSP, (path, h)
        assert h.get("x-content-type-options") == "nosniff", (path, h)
    status, h, body = web.request("/", method="HEAD")
    assert status == 200 and body == b"" and h["content-type"].startswith("text/html")
    # The page's own state in its URL: any of its parameters, a long zoom path.
    page = ("/?from=-1h&until=now&service=web&host=h1&pid=100&group=host&q=work&zoom=" +
            "main%40app.py%3A1%3B" * 100 + "&cmp=1&a_from=-2h&a_until=-1h&b_from=-1h&b_until=now"
            "&cb=1&view=table")
    assert web.request(page)[0] == 200


BAD = [
    ("GET", "/nope", {}, 404, r"no such path"),
    ("GET", "/assets/nope.js", {}, 404, r"no such asset"),
    ("GET", "/assets/", {}, 404, r"no such asset"),
    ("GET", "/assets/../Makefile", {}, 404, r""),
    ("POST", "/api/v1/info", {}, 405, r"not allowed"),
    ("PUT", "/", {}, 405, r"not allowed"),
    ("GET", "/api/v1/info", {"Host": "evil.example"}, 421, r"Host"),
    ("GET", "/api/v1/flamegraph?from=yesterday", {}, 400, r"^bad value for 'from': expected a date"),
    ("GET", "/api/v1/flamegraph?until=2026-02-30", {}, 400, r"^bad value for 'until': no such date"),
    ("GET", "/api/v1/flamegraph?from=-1h&until=-2h", {}, 400, r"^bad value for 'from': it must be before"),
    ("GET", "/api/v1/flamegraph?from=now&until=now", {}, 400, r"'from'"),
    ("GET", "/api/v1/flamegraph?pid=abc", {}, 400, r"^bad value for 'pid'"),
    ("GET", "/api/v1/flamegraph?pid=0", {}, 400, r"^bad value for 'pid'"),
    ("GET", "/api/v1/flamegraph?pid=1.5", {}, 400, r"^bad value for 'pid'"),
    ("GET", "/api/v1/flamegraph?format=svg", {}, 400, r"^bad value for 'format'"),
    ("GET", "/api/v1/flamegraph?full_filenames=yes", {}, 400, r"^bad value for 'full_filenames'"),
    ("GET", "/api/v1/flamegraph?frm=1", {}, 400, r"^unknown query parameter 'frm'"),
    ("GET", "/api/v1/flamegraph?from=-1h&from=-2h", {}, 400, r"'from' given twice"),
    ("GET", "/api/v1/timeline?group=pid", {}, 400, r"^bad value for 'group'"),
    ("GET", "/api/v1/series?until=soon", {}, 400, r"^bad value for 'until'"),
    ("GET", "/api/v1/series?group=host", {}, 400, r"^unknown query parameter 'group'"),
    ("GET", "/api/v1/info?x=1", {}, 400, r"^unknown query parameter 'x'"),
    ("GET", "/api/v1/series?service=" + "a" * 5000, {}, 400, r"too long"),
    ("GET", "/api/v1/series?" + "&".join("p%d=1" % i for i in range(40)), {}, 400, r"too many"),
]


def test_bad_requests(web):
    """4xx with one line naming what is wrong; the server answers on."""
    for method, path, headers, want, pattern in BAD:
        status, h, body = web.request(path, method=method, headers=headers)
        text = body.decode()
        assert status == want, "%s %s: %d %r (want %d)" % (method, path[:80], status, text, want)
        assert text.endswith("\n") and text.count("\n") == 1 and len(text) < 400, (path[:80], text)
        assert re.search(pattern, text), (path[:80], text, pattern)
        assert h.get("content-security-policy") == CSP
    assert web.api("/api/v1/info")["first"] == T0


def test_usage_errors(tmp_path, store):  # noqa: F811
    run = run_profiler(tmp_path, ["web"], timeout=20)
    assert_error(run, 2, r"--store STORE is required")
    run = run_profiler(tmp_path, ["web", "--store", tmp_path / "missing.db"], timeout=20)
    assert_error(run, 8, r"cannot open '.*missing\.db'")
    junk = tmp_path / "junk.db"
    junk.write_bytes(b"not a database at all, just text" * 10)
    run = run_profiler(tmp_path, ["web", "--store", junk], timeout=20)
    assert_error(run, 8, r"not a pyspy-c store")
    for addr in ("0.0.0.0:0", "[::]:0"):
        run = run_profiler(tmp_path, ["web", "--store", store, "--listen", addr], timeout=20)
        assert_error(run, 2, r"token-file")
    run = run_profiler(tmp_path, ["web", "--store", store, "--listen", "nonsense"], timeout=20)
    assert_error(run, 2, r"--listen")
    run = run_profiler(tmp_path, ["web", "--store", store, "extra"], timeout=20)
    assert_error(run, 2, r"unexpected argument")


def test_token_and_cookie(procs, tmp_path, store):  # noqa: F811
    """--token-file: a bearer header, or the cookie a visit with ?token= sets."""
    tok = tmp_path / "token"
    secret = "s3cret;,\"-" + uuid.uuid4().hex
    tok.write_text(secret + "\n")
    os.chmod(str(tok), 0o644)
    run = run_profiler(tmp_path, ["web", "--store", store, "--token-file", tok], timeout=20)
    assert_error(run, 1, r"others can read")
    os.chmod(str(tok), 0o600)
    w = Web(procs, tmp_path, ["--store", store, "--token-file", tok])
    for path in ("/", "/api/v1/info", "/assets/index.html", "/nope"):
        status, h, body = w.request(path)
        assert status == 401 and h.get("www-authenticate") == "Bearer", (path, status, body)
        assert "?token=" in body.decode() and h.get("content-security-policy") == CSP
    for headers in ({"Authorization": "Bearer wrong"}, {"Authorization": "Bearer " + secret + "x"},
                    {"Cookie": "pyspyc_token=wrong"}, {"Cookie": "pyspyc_token=" + secret}):
        assert w.request("/api/v1/info", headers=headers)[0] == 401, headers
    assert w.request("/api/v1/info", headers={"Authorization": "Bearer " + secret})[0] == 200
    assert w.request("/?token=wrong")[0] == 401
    from urllib.parse import quote
    status, h, body = w.request("/?from=-1h&token=%s&q=a%%20b%%3Bc" % quote(secret, safe=""))
    assert status == 303, (status, body)
    assert h["location"] == "/?from=-1h&q=a%20b%3Bc", h
    cookie = h["set-cookie"]
    assert re.match(r"^pyspyc_token=[^;]+; Path=/; HttpOnly; SameSite=Strict$", cookie), cookie
    value = cookie.split(";")[0]
    for path in ("/", "/api/v1/info", "/api/v1/flamegraph?from=%d&until=%d" % (T0, END)):
        status, h, body = w.request(path, headers={"Cookie": "other=1; " + value})
        assert status == 200, (path, status, body)
    assert secret not in w.err(), "the token was logged"
    assert w.stop().rc == 0


def test_store_error_is_503(procs, tmp_path, store):  # noqa: F811
    """A store that breaks under a running server: 503 with one line, and the server lives on."""
    copy = tmp_path / "copy.db"
    shutil.copyfile(str(store), str(copy))
    w = Web(procs, tmp_path, ["--store", copy])
    assert w.api("/api/v1/info")["first"] == T0
    # Another process breaks it: no tiers (a store that is not pyspy-c's
    # any more), then no totals table (a database error).
    for sql in ("DELETE FROM tiers", "DROP TABLE totals"):
        db = sqlite3.connect(str(copy))
        db.execute(sql)
        db.commit()
        db.close()
        for path in ("/api/v1/info", "/api/v1/flamegraph?from=%d&until=%d" % (T0, END),
                     "/api/v1/series?from=%d&until=%d" % (T0, END),
                     "/api/v1/timeline?from=%d&until=%d" % (T0, END)):
            status, h, body = w.request(path)
            text = body.decode()
            assert status == 503, (sql, path, status, text)
            assert text.count("\n") == 1 and text.startswith("cannot "), text
            assert "copy.db" in text, text
    assert w.request("/")[0] == 200
    assert w.stop().rc == 0


def migrated(procs, tmp_path, store, version, undo):  # noqa: F811
    """A copy of the store made a store of schema 'version' by the statements 'undo':
    refused by pyspy-c web until a writer (run-unit --write-store) opens it, which
    migrates it; then pyspy-c web on it."""
    copy = tmp_path / ("v%d.db" % version)
    shutil.copyfile(str(store), str(copy))
    db = sqlite3.connect(str(copy))
    for sql in undo + ["PRAGMA user_version = %d" % version]:
        db.execute(sql)
    db.commit()
    db.close()
    run = run_profiler(tmp_path, ["web", "--store", copy], timeout=20)
    assert_error(run, 8, r"schema version %d is older .* with the collector" % version)
    p = subprocess.run([run_unit(), "--write-store", str(copy), str(T0), "0"],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=300)
    assert p.returncode == 0, p.stderr.decode()
    db = sqlite3.connect(str(copy))
    assert db.execute("SELECT COUNT(*) FROM series WHERE pid = -1").fetchone()[0] == 2
    assert db.execute("SELECT COUNT(*) FROM service_counts").fetchone()[0] > 0
    db.close()
    return Web(procs, tmp_path, ["--store", copy])


# What schema 3 added: the sums per service and their series.
UNDO_4 = ["DROP TABLE dictionary", "ALTER TABLE stacks DROP COLUMN last_used",
          "ALTER TABLE series DROP COLUMN last_used"]
UNDO_3 = UNDO_4 + ["DROP TABLE service_counts", "DELETE FROM series WHERE pid = -1"]


def test_store_of_schema_1(procs, tmp_path, store):  # noqa: F811
    """A store of schema 1 (no totals.stacked), once migrated: the timeline counts what
    it did before."""
    w = migrated(procs, tmp_path, store, 1, ["ALTER TABLE totals DROP COLUMN stacked"] + UNDO_3)
    t = w.api("/api/v1/timeline?from=%d&until=%d&group=host" % (T0, END))
    want = Counter()
    for r in model(T0, END, pruned=True):
        want[(r[0], t["groups"].index(r[1]))] += r[4]
    assert sorted(((b, g), s) for b, g, s, _ in t["points"]) == sorted(want.items())
    assert w.stop().rc == 0


def test_store_of_schema_2(procs, tmp_path, store):  # noqa: F811
    """A store of schema 2 (no sums per service), once migrated: the whole fleet's flame
    graph, read from the sums the migration built, equals what was written and the flame
    graphs of each service, host and pid added up."""
    w = migrated(procs, tmp_path, store, 2, UNDO_3)
    check_sums(w, T0, END)
    check_sums(w, T0 + 425, T0 + 2 * 3600 + 780)
    assert w.stop().rc == 0


# Hostile names, as bytes: markup, quotes and backslashes, the folded format's
# separators, control characters, and invalid UTF-8.
HOSTILE = {
    "work_0": (b"<script>alert(1)</script>", b'"><img src=x onerror=alert(1)>.py'),
    "work_1": (b'"><img src=x onerror=alert(1)>', b"C:\\dir\\it's \"q\".py"),
    "work_2": (b"ctl\x01\x1f\x7f tab\there nl\ncr\rsemi;end \xff\xfe bad \xc3\x28 \xed\xa0\x80 utf8",
               b"lib\xff.py"),
}


def test_hostile_names_from_the_store(procs, tmp_path, store):  # noqa: F811
    """Names the store holds come out JSON-escaped (invalid UTF-8 as U+FFFD) and intact in downloads."""
    copy = tmp_path / "hostile.db"
    shutil.copyfile(str(store), str(copy))
    db = sqlite3.connect(str(copy))
    for name, (new, file) in HOSTILE.items():
        n = db.execute("UPDATE funcs SET name = CAST(? AS TEXT), file = CAST(? AS TEXT),"
                       " short_file = CAST(? AS TEXT) WHERE name = ?",
                       (new, file, file, name)).rowcount
        assert n >= 1, name
    db.commit()
    db.close()
    w = Web(procs, tmp_path, ["--store", copy])
    lo, hi = T0, END
    q = "from=%d&until=%d" % (lo, hi)
    status, h, body = w.request("/api/v1/flamegraph?" + q)
    assert status == 200
    text = body.decode("utf-8")   # strict: valid UTF-8
    assert not re.search(r"[\x00-\x1f]", text.rstrip("\n")), "a raw control character"
    fg = json.loads(text)
    names = dict((n.decode("utf-8", "replace"), f.decode("utf-8", "replace")) for n, f in HOSTILE.values())
    got = dict((n, f) for n, f, _ in fg["frames"] if n in names)
    assert got == names, (got, names)
    # The counts are the fixture's, under the new names.
    want = Counter()
    for line in expected(lo, hi).splitlines():
        stack, n = line.rsplit(" ", 1)
        want[stack.split(";")[-1].split(" (")[0]] += int(n)
    by_name = Counter()
    for count, frames in fg["stacks"]:
        by_name[fg["frames"][frames[-1]][0]] += count
    for old, (new, _) in HOSTILE.items():
        assert by_name[new.decode("utf-8", "replace")] == want[old], old
    # folded: the bytes as they are, ';' and line breaks made '_' (flamegraph.pl's separators).
    status, h, body = w.request("/api/v1/flamegraph?format=folded&" + q)
    assert status == 200
    lines = []
    for line in expected(lo, hi).encode().splitlines():
        for old, (new, file) in HOSTILE.items():
            k = int(old[-1:])
            line = line.replace(b"work_%d (lib.py:%d)" % (k, 20 + k),
                                re.sub(rb"[;\n\r]", b"_", new) + b" (" + file + b":%d)" % (20 + k))
        lines.append(line + b"\n")
    assert body == b"".join(sorted(lines))
    status, h, body = w.request("/api/v1/flamegraph?format=speedscope&" + q)
    ss = json.loads(body.decode("utf-8"))
    assert set(names) <= set(f["name"] for f in ss["shared"]["frames"])
    status, h, body = w.request("/api/v1/flamegraph?format=pprof&" + q)
    raw = gzip.decompress(body)
    assert HOSTILE["work_0"][0] in raw and HOSTILE["work_1"][0] in raw
    # Filter values are bound, never SQL: a quote in a service name is a name.
    fg = w.api("/api/v1/flamegraph?%s&service=%s" % (q, "x%27%20OR%20%271%27%3D%271"))
    assert fg["stacks"] == [] and fg["samples"] == 0
    assert w.stop().rc == 0


HOSTILE_TARGET = r"""
import sys
NAMES = [u"<script>alert(1)</script>", u'"><img src=x onerror=alert(1)>',
         u"q'uo\"te \\back\\slash", u"ctl\x01\x1f tab\there nl\nend", u"lone\udcffsurrogate"]
FILE = u'"><img src=x onerror=alert(1)>.py'
SRC = '''
def leaf():
    x = 0
    for i in range(1000):
        x += i
    return x
def f4():
    while True:
        leaf()
def f3(): f4()
def f2(): f3()
def f1(): f2()
def f0(): f1()
'''
g = {}
exec(compile(SRC, FILE, "exec"), g)
for i, name in enumerate(NAMES):
    f = g["f%d" % i]
    kw = {"co_qualname": name} if sys.version_info >= (3, 11) else {}
    f.__code__ = f.__code__.replace(co_name=name, **kw)
sys.stdout.write("R\n"); sys.stdout.flush()
g["f0"]()
"""


def test_collect_web_live(procs, tmp_path):
    """collect --web serves the store while it fills, from a real agent and interpreter
    whose functions have hostile names: they arrive exactly, JSON-escaped."""
    interp = _python()
    marker = "pyspyc-web-test-" + uuid.uuid4().hex
    p = procs.start([interp.path, "-c", HOSTILE_TARGET, marker], stdout=subprocess.PIPE,
                    env=e2elib.target_env())
    assert e2elib.wait_readable(p.stdout.fileno(), 30), "hostile target did not start"
    assert p.stdout.read(2) == b"R\n"
    agent = Agent(procs, tmp_path, ["--match", re.escape(marker), "--window", "1"])
    store_path = tmp_path / "live.db"
    w = Web(procs, tmp_path, ["--store", store_path, "--agent", "127.0.0.1:%d host=hx service=live"
                              % agent.port, "--interval", "0.5"],
            command=("collect", "--web", "127.0.0.1:0"))
    names = [u"<script>alert(1)</script>", u'"><img src=x onerror=alert(1)>',
             u"q'uo\"te \\back\\slash", u"ctl\x01\x1f tab\there nl\nend", u"lone\ufffdsurrogate"]
    deadline = time.time() + 60
    while True:
        fg = w.api("/api/v1/flamegraph?from=-10m&until=%d" % (time.time() + 120))
        if fg["samples"] > 50:
            break
        assert time.time() < deadline, "no samples through collect --web:\n" + w.err() + agent.err()
        time.sleep(0.5)
    by_name = dict((n, f) for n, f, _ in fg["frames"])
    for n in names:
        assert n in by_name, (n, sorted(by_name))
        assert by_name[n] == u'"><img src=x onerror=alert(1)>.py'
    # Root first: <module>, then f0 .. f4 under their names, then leaf.
    chains = [[fg["frames"][i][0] for i in frames] for _, frames in fg["stacks"]]
    assert any(c[-len(names) - 1:] == names + ["leaf"] or c[-len(names):] == names for c in chains), chains
    s = w.api("/api/v1/series?from=-10m")
    assert [x["name"] for x in s["services"]] == ["live"] and [x["name"] for x in s["hosts"]] == ["hx"]
    assert [x["pid"] for x in s["pids"]] == [p.pid] and s["pids"][0]["program"].startswith(interp.path)
    t = w.api("/api/v1/timeline?from=-10m&group=host")
    assert t["groups"] == ["hx"] and sum(pt[2] for pt in t["points"]) > 0
    status, h, body = w.request("/api/v1/flamegraph?format=folded&from=-10m")
    assert status == 200 and b"<script>alert(1)</script> (\"><img src=x onerror=alert(1)>.py:" in body
    assert b"nl_end" in body   # the newline, replaced
    assert w.stop().rc == 0
    assert agent.stop().rc == 0
    e2elib.assert_not_harmed(p.pid)
