"""pyspy-c query: the profile of a time range from a store.

The store is written by the unit-test binary (`run-unit --write-store PATH
T0 N`, tests/unit/store_fixture.c: two agents, hosts h1 and h2, services web
and worker, pids 100 and 101 on h1 and 200 on h2, N windows of 10 s each
from T0); the expected stacks are computed here again from that definition,
independently of the C code.  Contract: doc/CONTRACT.md "query and the
store"; exit 2 usage, 8 a store that cannot be used.
"""

import gzip
import os
import subprocess
import tempfile
import time
from collections import Counter

import pytest

from e2elib import assert_error, run_profiler
from interpreters import REPO

AGENTS = [("h1", "web", [100, 101], False), ("h2", "worker", [200], True)]
WINDOWS = 3 * 360                       # three hours
NOW = int(time.time())
T0 = NOW - NOW % 3600 - 3 * 3600        # three whole hours, ending at the last full hour


def run_unit():
    """The unit-test binary of the same build as the profiler (build-san/ with SANITIZE=1)."""
    path = os.environ.get("PYSPY_C_RUN_UNIT")
    if not path and os.environ.get("PYSPY_C"):
        beside = os.path.join(os.path.dirname(os.environ["PYSPY_C"]), "run-unit")
        path = beside if os.path.exists(beside) else None
    path = path or os.path.join(REPO, "tests", "unit", "run-unit")
    assert os.path.isfile(path) and os.access(path, os.X_OK), (
        "the unit-test binary %s writes the test stores: build it with `make unit`" % path)
    return path


def write_store(target):
    p = subprocess.run([run_unit(), "--write-store", str(target), str(T0), str(WINDOWS)],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=300)
    assert p.returncode == 0, "run-unit --write-store failed: %s" % p.stderr.decode()


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    path = tmp_path_factory.mktemp("store") / "fleet.db"
    write_store(path)
    return path


def windows(lo, hi, service=None, host=None):
    """(i, minute, host, service, pids, pruned) of the fixture's windows whose middle's
    minute is in [lo, hi) (rounded out to whole minutes, as the store answers)."""
    lo -= lo % 60
    hi = hi if hi % 60 == 0 else hi - hi % 60 + 60
    for ahost, aservice, pids, pruned in AGENTS:
        if (service and service != aservice) or (host and host != ahost):
            continue
        for i in range(1, WINDOWS + 1):
            start = T0 + 10 * (i - 1)
            minute = (start + 5) - (start + 5) % 60
            if lo <= minute < hi:
                yield i, minute, ahost, aservice, pids, pruned


def expected(lo, hi, service=None, host=None, pid=None, full=False):
    """Folded lines of the fixture's windows whose middle's minute is in [lo, hi)."""
    app, lib = ("/srv/app.py", "/srv/lib.py") if full else ("app.py", "lib.py")
    c = Counter()
    for i, _, _, _, pids, pruned in windows(lo, hi, service, host):
        for p in pids:
            if pid and pid != p:
                continue
            k = (i + p) % 3
            stack = "main (%s:1);handle (%s:10);work_%d (%s:%d)" % (app, app, k, lib, 20 + k)
            c[stack] += 10 + p % 7 + i % 5
        if pruned and not pid:
            c["[pruned: rare stacks]"] += 1
    return "".join("%s %d\n" % (s, n) for s, n in sorted(c.items()))


def query(tmp_path, store, *args):
    return run_profiler(tmp_path, ["query", "--store", store] + [str(a) for a in args])


def iso(t):
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))


def test_whole_range(tmp_path, store):
    run = query(tmp_path, store, "--from", T0, "--until", T0 + 3 * 3600)
    assert run.rc == 0, run.describe()
    assert run.out == expected(T0, T0 + 3 * 3600)
    assert run.out.count("\n") == 4   # work_0, work_1, work_2, pruned


def test_relative_times(tmp_path, store):
    # -6h..now holds every window; so does now-1d.  (Not -4h: T0 is fixed when the
    # module is imported, and a suite that crosses the next full hour before this
    # test runs would see -4h start after T0.)
    for start in ("-6h", "now-1d", "6h"):
        run = query(tmp_path, store, "--from", start)
        assert run.rc == 0, run.describe()
        assert run.out == expected(T0, T0 + 3 * 3600), start


def test_iso_times_and_filters(tmp_path, store):
    lo, hi = T0 + 7 * 60 + 5, T0 + 2 * 3600 + 13 * 60
    run = query(tmp_path, store, "--from", iso(lo), "--until", iso(hi), "--service", "web", "-v")
    assert run.rc == 0, run.describe()
    assert run.out == expected(lo, hi, service="web")
    # Each part from the coarsest tier that holds it exactly.
    assert "sqlite store: " in run.err and " 1m " in run.err and " 10m " in run.err \
        and " 1h " in run.err and "rounded" not in run.err, run.err
    run = query(tmp_path, store, "--from", lo, "--until", hi, "--host", "h2")
    assert run.out == expected(lo, hi, host="h2")
    run = query(tmp_path, store, "--from", T0 + 600, "--until", T0 + 1800, "--pid", 101,
                "--full-filenames")
    assert run.rc == 0, run.describe()
    assert run.out == expected(T0 + 600, T0 + 1800, pid=101, full=True)
    run = query(tmp_path, store, "--from", T0, "--until", T0 + 3600, "--service", "nope")
    assert run.rc == 0 and run.out == "", run.describe()


def test_other_formats(tmp_path, store):
    out = tmp_path / "p.pb.gz"
    run = query(tmp_path, store, "--from", T0, "--until", T0 + 3600, "-f", "pprof", "-o", out)
    assert run.rc == 0, run.describe()
    assert len(gzip.decompress(out.read_bytes())) > 0
    run = query(tmp_path, store, "--from", T0, "--until", T0 + 3600, "-f", "svg")
    assert run.rc == 0 and "<svg" in run.out and "work_2" in run.out, run.describe()


@pytest.mark.parametrize("args,pattern", [
    (["--from", "yesterday"], r"^bad --from 'yesterday': expected a date"),
    (["--from", "-1"], r"needs a unit"),
    (["--until", "2026-02-30"], r"^bad --until '2026-02-30': no such date"),
    (["--from", "-1h", "--until", "-2h"], r"^--from must be before --until"),
    (["--from", "now", "--until", "now"], r"^--from must be before --until"),
    (["-f", "chrometrace"], r"timeline"),
    (["-f", "speedscope"], r"timeline"),
    (["-f", "nope"], r"^unknown format 'nope'"),
])
def test_usage_errors(tmp_path, store, args, pattern):
    assert_error(query(tmp_path, store, *args), 2, pattern)


def test_no_store_given(tmp_path):
    assert_error(run_profiler(tmp_path, ["query", "--from", "-1h"]), 2, r"--store")


def test_missing_store(tmp_path):
    missing = tmp_path / "nothing.db"
    assert_error(query(tmp_path, missing), 8, r"^cannot open '.*nothing\.db': No such file")
    assert not missing.exists(), "query created the store"


def test_foreign_files(tmp_path, store):
    text = tmp_path / "notes.txt"
    text.write_text("not a database, but long enough to have a header\n")
    assert_error(query(tmp_path, text), 8, r"not a pyspy-c store \(not an SQLite database\)")
    empty = tmp_path / "empty.db"
    empty.write_bytes(b"")
    assert_error(query(tmp_path, empty), 8, r"not a pyspy-c store")
    # Another application's SQLite file: the store with its application_id changed.
    other = tmp_path / "other.db"
    data = bytearray(store.read_bytes())
    data[68:72] = b"\x12\x34\x56\x78"
    other.write_bytes(bytes(data))
    assert_error(query(tmp_path, other), 8, r"application_id 0x12345678")


def test_unknown_scheme(tmp_path):
    run = query(tmp_path, "mysql://db/x")
    assert_error(run, 8, r"unknown scheme")


def test_postgresql(tmp_path):
    """The same query against a PostgreSQL store (a server started here)."""
    script = os.path.join(REPO, "tests", "unit", "pg-server")
    # Not under pytest's directories: the server runs as the postgres user.
    d = tempfile.mkdtemp(prefix="pyspy-pg-")
    p = subprocess.run([script, "start", str(d)], stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, timeout=120)
    assert p.returncode == 0, "the PostgreSQL server did not start: %s" % p.stderr.decode()
    try:
        base = p.stdout.decode().strip().rsplit("/", 1)[0]
        subprocess.run([script, "createdb", str(d), "fleet"], check=True, timeout=60)
        url = base + "/fleet"
        write_store(url)
        run = query(tmp_path, url, "--from", T0 + 125, "--until", T0 + 2 * 3600 + 611, "-v")
        assert run.rc == 0, run.describe()
        assert run.out == expected(T0 + 125, T0 + 2 * 3600 + 611)
        assert "postgresql store: " in run.err, run.err
        assert_error(query(tmp_path, base + "/postgres", "--from", "-1h"), 8,
                     r"not a pyspy-c store \(an empty database\)")
    finally:
        subprocess.run([script, "stop", str(d)], timeout=120)
