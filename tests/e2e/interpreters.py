"""Discovery of the Python interpreters (scenarios) the end-to-end tests run against.

Every scenario has a stable id used as the pytest parametrisation id.

Core scenarios (every test of test_record.py, and the harm tests on HARM_IDS):

    pyenv-X.Y            /root/.pyenv/versions/*/bin/pythonX.Y
    system-3.11          Debian's /usr/bin/python3.11 (static, stripped)
    chroot-SUITE-X.Y     `chroot DIR python3` in a debootstrapped Debian SUITE
    env-PATH             extra interpreters from $PYSPY_TEST_PYTHONS
                         (colon separated; `chroot:DIR` entries are chroots)

Extra scenarios ("issue 3": every CPython in use; the main ground-truth
comparisons of test_record.py and test_verbose.py only):

    chroot-sid-3.14          `chroot SID python3` (Debian sid)
    chroot-sid-3.15          `chroot SID python3.15`
    renamed-system-3.11      /usr/bin/python3.11 copied to TMP/x/worker
    renamed-pyenv-3.6        pyenv's bin/python3.6 copied to TMP/x/worker36
                             (loads its libpython through its absolute RPATH)
    embedded-gdb-3.11        gdb's embedded libpython3.11 (`gdb -batch -ex 'python ...'`)
    container-sid-3.14       `unshare --pid --mount --fork chroot SID python3`:
                             the target is PID 1 of a new PID namespace
    find-section-BASE        BASE profiled with PYSPY_C_FIND=section
    find-scan-BASE           BASE profiled with PYSPY_C_FIND=scan,version-scan

Interpreters are always run by their full path: `python3` on PATH is a pyenv
shim whose pid is not the interpreter's.

This module uses only the Python 3.11 standard library.
"""

import atexit
import fcntl
import glob
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
WORKLOADS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "workloads")
CHROOT_CACHE = os.path.join(REPO, ".cache", "chroots")
PYENV_ROOT = "/root/.pyenv/versions"
SYSTEM_PYTHON = "/usr/bin/python3.11"
GDB = "/usr/bin/gdb"
UNSHARE = "/usr/bin/unshare"
CHROOT_SUITE = "trixie"
SID = "sid"
SID_EXTRA_PYTHON = "python3.15"

# Debian suites built once into .cache/chroots/SUITE: the packages debootstrap
# includes, and the files (relative to the root) that must exist for the chroot
# to count as complete, each with the package that provides it.
CHROOTS = {
    CHROOT_SUITE: {"include": ["python3"],
                   "needs": [("usr/bin/python3", "python3")]},
    # libpython3.X-stdlib: the rest of the standard library, for the
    # subinterpreter tests (concurrent.interpreters, _interpreters).
    SID: {"include": ["python3", SID_EXTRA_PYTHON + "-minimal",
                      "lib" + SID_EXTRA_PYTHON + "-stdlib"],
          "needs": [("usr/bin/python3", "python3"),
                    ("usr/bin/" + SID_EXTRA_PYTHON, SID_EXTRA_PYTHON + "-minimal"),
                    ("usr/lib/%s/concurrent/interpreters/__init__.py" % SID_EXTRA_PYTHON,
                     "lib" + SID_EXTRA_PYTHON + "-stdlib")]},
}

# Which core scenarios get the extra discovery-method scenarios.
FIND_SECTION_BASES = ["pyenv-3.10", "pyenv-3.11", "pyenv-3.12", "pyenv-3.13", "system-3.11"]
FIND_SCAN_BASES = ["pyenv-2.7", "pyenv-3.6", "pyenv-3.9", "pyenv-3.12", "system-3.11"]
FIND_MODES = {
    # name: (PYSPY_C_FIND value, expected "interpreter found by ...", forced "version from ...")
    "section": ("section", "section .PyRuntime", None),
    "scan": ("scan,version-scan", "scan of writable data", "version string in memory"),
}

# What this machine must provide.  A missing one makes test_matrix_complete fail.
EXPECTED_CORE = (
    ["pyenv-2.7"]
    + ["pyenv-3.%d" % minor for minor in range(6, 14)]
    + ["system-3.11", "chroot-trixie-3.13"]
)
EXPECTED_EXTRA = (
    ["chroot-sid-3.14", "chroot-sid-3.15",
     "renamed-system-3.11", "renamed-pyenv-3.6",
     "embedded-gdb-3.11",
     "container-sid-3.14"]
    + ["find-section-" + b for b in FIND_SECTION_BASES]
    + ["find-scan-" + b for b in FIND_SCAN_BASES]
)
EXPECTED = EXPECTED_CORE + EXPECTED_EXTRA

# The interpreters of the idle-classification, --gil and thread-name tests
# (test_idle.py); each must be found, or its tests fail naming it.
IDLE_IDS = ["pyenv-2.7", "pyenv-3.8", "pyenv-3.11", "pyenv-3.12", "pyenv-3.13",
            "chroot-sid-3.14"]

# The interpreters of the self-corrupting target (test_corrupt.py, issue 16).
CORRUPT_IDS = ["pyenv-2.7", "pyenv-3.8", "pyenv-3.11", "pyenv-3.12", "pyenv-3.13",
               "chroot-sid-3.14"]

# The smaller set the (slower) harm tests run on.
HARM_IDS = ["pyenv-3.6", "pyenv-3.10", "pyenv-3.12", "pyenv-3.13", "system-3.11"]

# Where the workload files are placed inside a chroot (as seen from inside it).
CHROOT_WORKDIR = "/tmp"


class Missing(object):
    """An expected interpreter that was not found; a test given it fails, naming it."""

    def __init__(self, sid, problems):
        self.id = sid
        self.problems = [p for p in problems if sid in p] or problems

    def require(self):
        raise AssertionError("interpreter %s not found: %s" % (
            self.id, "; ".join(self.problems) or "not discovered on this machine"))


def require(interp):
    """Fail (never skip) a test whose interpreter is Missing."""
    if isinstance(interp, Missing):
        interp.require()
    return interp


class Interpreter(object):
    """One scenario: how to start a Python workload and where its files live.

    launch is how the workload starts:
      "exec"       argv + [script, args...]; the Popen pid is the interpreter
                   (chroot execs python)
      "gdb"        gdb -nx -batch -ex 'python ...' runs the script in gdb's
                   embedded Python; the gdb pid is the target
      "container"  unshare --pid --mount --fork chroot ROOT python3 script ...;
                   the target is unshare's child, PID 1 in its PID namespace
    linkage is what the profiler must report: "shared" (libpython) or "static".
    profiler_env is added to the profiler's environment (PYSPY_C_FIND).
    core scenarios run every ground-truth test; the others only the main ones.
    """

    def __init__(self, sid, argv, version, chroot=None, path=None, launch="exec",
                 linkage=None, core=True, profiler_env=None, find=None, base=None):
        self.id = sid
        self.argv = list(argv)  # command prefix that runs python
        self.version = version  # (major, minor)
        self.chroot = chroot  # host path of the chroot's root directory, or None
        self.path = path  # the target process's executable as seen from the host
        self.launch = launch
        self.linkage = linkage
        self.core = core
        self.profiler_env = dict(profiler_env or {})
        self.find = find  # None or a key of FIND_MODES
        self.base = base  # the scenario this one derives from (find-*)

    def __repr__(self):
        return "Interpreter(%s, %r, %s)" % (self.id, self.argv, self.version)

    @property
    def vstr(self):
        return "%d.%d" % self.version

    def describe(self):
        """How the scenario runs, for the terminal summary."""
        env = " ".join("%s=%s" % kv for kv in sorted(self.profiler_env.items()))
        if self.launch == "gdb":
            how = " ".join(self.argv) + " -ex 'python <run SCRIPT as __main__ with sys.argv>'"
        elif self.launch == "container":
            how = " ".join(self.command("SCRIPT")[:-1])
        else:
            how = " ".join(self.argv)
        return (env + " pyspy-c; target: " + how) if env else how

    def derive(self, sid, **changes):
        d = Interpreter(sid, self.argv, self.version, chroot=self.chroot, path=self.path,
                        launch=self.launch, linkage=self.linkage, core=self.core,
                        profiler_env=self.profiler_env, find=self.find, base=self.id)
        for k, v in changes.items():
            setattr(d, k, v)
        return d

    def host_path(self, target_path):
        """A path as seen by the target -> the same file as seen from the host."""
        if self.chroot is None:
            return target_path
        return os.path.join(self.chroot, target_path.lstrip("/"))

    def stage_workloads(self, tmpdir):
        """Return the workloads directory as seen by the target.

        Host interpreters use tests/e2e/workloads in place.  A chroot gets the
        workload files copied into its /tmp (files and the pkg/ package),
        replacing older copies.  tmpdir is a per-test host temp directory.
        """
        if self.chroot is None:
            return WORKLOADS
        dst = os.path.join(self.chroot, CHROOT_WORKDIR.lstrip("/"))
        if not os.path.isdir(dst):
            os.makedirs(dst)
            os.chmod(dst, 0o1777)
        for name in os.listdir(WORKLOADS):
            src = os.path.join(WORKLOADS, name)
            if name == "__pycache__" or name.endswith(".pyc"):
                continue
            target = os.path.join(dst, name)
            if os.path.isdir(src):
                if os.path.isdir(target):
                    shutil.rmtree(target)
                shutil.copytree(src, target, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
            else:
                shutil.copyfile(src, target)
        return CHROOT_WORKDIR

    def target_tmpdir(self, host_tmpdir):
        """A directory both sides can use: (path seen by target, path on host)."""
        if self.chroot is None:
            return host_tmpdir, host_tmpdir
        d = tempfile.mkdtemp(prefix="pyspyc-e2e-", dir=os.path.join(self.chroot, "tmp"))
        os.chmod(d, 0o755)
        return "/tmp/" + os.path.basename(d), d

    def command(self, script, *args):
        args = [str(a) for a in args]
        if self.launch == "gdb":
            # gdb's `python` command runs in __main__ (so `if __name__ ==
            # "__main__"` holds); sys.argv and sys.path[0] are set as a
            # `python SCRIPT ARGS` run would set them.
            code = ("import sys; sys.argv = %r; sys.path.insert(0, %r); "
                    "exec(compile(open(%r).read(), %r, 'exec'))"
                    % ([script] + args, os.path.dirname(script), script, script))
            return self.argv + ["-ex", "python " + code]
        if self.launch == "container":
            return [UNSHARE, "--pid", "--mount", "--fork", "--kill-child=SIGKILL"] + \
                self.argv + [script] + args
        return self.argv + [script] + args

    def code_command(self, code):
        """argv that runs the one-line Python `code` in this scenario's interpreter."""
        if self.launch == "gdb":
            return self.argv + ["-ex", "python " + code]
        return self.argv + ["-c", code]


def _read_version(argv, code_command=None):
    code = "import sys; print(sys.version_info[:2])"
    cmd = code_command(code) if code_command else list(argv) + ["-c", code]
    out = subprocess.run(
        cmd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        timeout=60,
        check=True,
    ).stdout.decode()
    m = re.search(r"^\((\d+), (\d+)\)\s*$", out, re.M)
    if not m:
        raise RuntimeError("cannot parse version from %r" % out)
    return (int(m.group(1)), int(m.group(2)))


# Where build_chroot() says what it is doing (a chroot takes minutes to build,
# and the test run would look hung): a function of one line of text, set by
# conftest.py to write to the terminal past pytest's output capture; stderr
# when None.
PROGRESS = None


def _say(msg):
    if PROGRESS is not None:
        PROGRESS(msg)
    else:
        sys.stderr.write(msg + "\n")
        sys.stderr.flush()


def _minutes(seconds):
    return "%d min %02d s" % divmod(int(seconds + 0.5), 60)


def _mounts_under(path):
    path = os.path.realpath(path)
    found = []
    with open("/proc/self/mounts") as f:
        for line in f:
            mp = line.split()[1].replace("\\040", " ")
            if mp == path or mp.startswith(path + "/"):
                found.append(mp)
    return sorted(found, key=len, reverse=True)


def _remove_tree(path):
    """rm -rf that first unmounts anything left mounted inside (never crosses mounts)."""
    for mp in _mounts_under(path):
        subprocess.run(["umount", "-l", mp], check=False)
    if _mounts_under(path):
        raise RuntimeError("cannot remove %s: still has mounts" % path)
    shutil.rmtree(path, ignore_errors=True)


def _missing(root, suite):
    """Packages whose files a SUITE chroot at root lacks (all of them if no root)."""
    return [pkg for rel, pkg in CHROOTS[suite]["needs"]
            if not os.path.exists(os.path.join(root, rel))]


def chroot_ready(root, suite=CHROOT_SUITE):
    return not _missing(root, suite)


def _run_logged(argv, logfile, timeout, what):
    """Run argv (own session, output appended to logfile); kill its group on any failure."""
    with open(logfile, "a") as lf:
        lf.write("$ %s\n" % " ".join(argv))
        lf.flush()
        env = dict(os.environ, DEBIAN_FRONTEND="noninteractive", LC_ALL="C")
        p = subprocess.Popen(argv, stdout=lf, stderr=subprocess.STDOUT,
                             stdin=subprocess.DEVNULL, start_new_session=True, env=env)
        try:
            rc = p.wait(timeout=timeout)
        except BaseException:
            os.killpg(p.pid, signal.SIGKILL)  # the tool and what it runs (dpkg)
            p.wait()
            raise
    if rc != 0:
        with open(logfile) as lf:
            tail = "".join(lf.readlines()[-5:])
        raise RuntimeError("%s failed (exit %s), see %s:\n%s" % (what, rc, logfile, tail))


def _complete_chroot(root, suite, logfile):
    """A complete base chroot lacking some packages (e.g. a sid built by hand with
    python3 only): install them with apt-get inside.  Raises on failure."""
    pkgs = _missing(root, suite)
    _say("chroot %s: installing %s with apt-get into %s (log: %s)" % (
        suite, " ".join(pkgs), root, logfile))
    _run_logged(["chroot", root, "apt-get", "-o", "DPkg::Lock::Timeout=600",  # wait for a running apt
                 "install", "-y", "--no-install-recommends"] + pkgs,
                logfile, 1800, "apt-get install %s in %s" % (" ".join(pkgs), root))
    if not chroot_ready(root, suite):
        raise RuntimeError("%s still lacks %s after apt-get install" % (
            root, ", ".join(_missing(root, suite))))


def build_chroot(suite=CHROOT_SUITE, log=None):
    """Build (once) a minimal Debian SUITE chroot (CHROOTS[suite]) and return its path.

    debootstrap runs into a temporary directory that is renamed only when the
    build completed, so an interrupted build is never taken for a cached one.
    A lock file serialises concurrent test sessions.  A finished chroot that
    lacks some of the packages (built before they were wanted) gets them with
    apt-get; if that fails it is rebuilt, and replaced only once the rebuild
    succeeded.
    """
    final = os.path.join(CHROOT_CACHE, suite)
    if chroot_ready(final, suite):
        return final
    if not os.path.isdir(CHROOT_CACHE):
        os.makedirs(CHROOT_CACHE)
    logfile = log or os.path.join(CHROOT_CACHE, "%s.build.log" % suite)
    with open(os.path.join(CHROOT_CACHE, ".%s.lock" % suite), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if chroot_ready(final, suite):
            return final
        for old in glob.glob(os.path.join(CHROOT_CACHE, ".%s.tmp-*" % suite)) + \
                glob.glob(os.path.join(CHROOT_CACHE, ".%s.old-*" % suite)):
            _remove_tree(old)  # interrupted earlier builds
        if os.path.exists(os.path.join(final, "usr", "bin", "python3")):
            with open(logfile, "w"):
                pass
            start = time.monotonic()
            try:
                _complete_chroot(final, suite, logfile)
                _say("chroot %s: done in %s" % (suite, _minutes(time.monotonic() - start)))
                return final
            except Exception as e:  # noqa: BLE001 (rebuild below)
                _say("chroot %s: apt-get failed (%s): rebuilding it" % (
                    suite, str(e).splitlines()[0]))
        elif os.path.lexists(final):  # a broken leftover, not a finished build
            _remove_tree(final)
        if shutil.which("debootstrap") is None:
            raise RuntimeError("debootstrap is not installed (apt-get install debootstrap)")
        tmp = tempfile.mkdtemp(prefix=".%s.tmp-" % suite, dir=CHROOT_CACHE)
        os.chmod(tmp, 0o755)
        start = time.monotonic()
        _say("chroot %s: building Debian %s with debootstrap into %s, once (first run "
             "only: several minutes and a few hundred MB of packages; log: %s)" % (
                 suite, suite, final, logfile))
        try:
            with open(logfile, "a"):
                pass
            _run_logged(["debootstrap", "--variant=minbase",
                         "--include=" + ",".join(CHROOTS[suite]["include"]), suite, tmp],
                        logfile, 1800, "debootstrap %s" % suite)
            if not chroot_ready(tmp, suite):
                raise RuntimeError("debootstrap %s: chroot lacks %s, see %s" % (
                    suite, ", ".join(_missing(tmp, suite)), logfile))
            if _mounts_under(tmp):
                for mp in _mounts_under(tmp):
                    subprocess.run(["umount", "-l", mp], check=False)
            if os.path.lexists(final):  # an incomplete chroot the rebuild replaces
                old = tempfile.mkdtemp(prefix=".%s.old-" % suite, dir=CHROOT_CACHE)
                os.rename(final, os.path.join(old, suite))
                os.rename(tmp, final)
                _remove_tree(old)
            else:
                os.rename(tmp, final)
        except BaseException as e:
            _remove_tree(tmp)
            _say("chroot %s: failed after %s: %s" % (
                suite, _minutes(time.monotonic() - start),
                (str(e).splitlines() or [type(e).__name__])[0]))
            raise
        _say("chroot %s: built in %s" % (suite, _minutes(time.monotonic() - start)))
    return final


def _chroot_interpreter(root, sid_prefix, python="python3", **kw):
    argv = ["chroot", root, python]
    version = _read_version(argv)
    real = os.path.realpath(os.path.join(root, "usr", "bin", python))
    return Interpreter("%s-%d.%d" % (sid_prefix, version[0], version[1]), argv, version,
                       chroot=root, path=real, **kw)


def env_entries(value):
    """Split $PYSPY_TEST_PYTHONS: colon separated, `chroot:DIR` is one entry."""
    entries = []
    parts = value.split(":")
    i = 0
    while i < len(parts):
        part = parts[i].strip()
        if part == "chroot" and i + 1 < len(parts):
            entries.append("chroot:" + parts[i + 1].strip())
            i += 2
            continue
        if part:
            entries.append(part)
        i += 1
    return entries


_RENAMED_DIR = None


def _renamed_dir():
    """A temporary directory TMP/x for renamed copies, removed when the process exits."""
    global _RENAMED_DIR
    if _RENAMED_DIR is None:
        top = tempfile.mkdtemp(prefix="pyspyc-e2e-renamed-")
        atexit.register(shutil.rmtree, top, True)
        _RENAMED_DIR = os.path.join(top, "x")
        os.mkdir(_RENAMED_DIR)
    return _RENAMED_DIR


def _renamed(src, name, sid, linkage):
    dst = os.path.join(_renamed_dir(), name)
    shutil.copy2(src, dst)
    version = _read_version([dst])
    return Interpreter("%s-%d.%d" % ((sid,) + version), [dst], version, path=dst,
                       linkage=linkage, core=False)


def _embedded_gdb():
    if not os.access(GDB, os.X_OK):
        raise RuntimeError("%s not found (apt-get install gdb)" % GDB)
    argv = [GDB, "-nx", "-batch"]
    probe = Interpreter("embedded-gdb", argv, None, path=GDB, launch="gdb")
    version = _read_version(argv, probe.code_command)
    return Interpreter("embedded-gdb-%d.%d" % version, argv, version, path=GDB, launch="gdb",
                       linkage="shared", core=False)


def discover():
    """Return (interpreters, problems): every scenario found, and why expected ones are not."""
    found = []
    problems = []

    def attempt(what, fn):
        try:
            r = fn()
        except Exception as e:  # noqa: BLE001
            problems.append("%s: %s" % (what, e))
            return None
        if r is not None:
            found.append(r)
        return r

    pyenv = []
    for path in glob.glob(os.path.join(PYENV_ROOT, "*", "bin", "python[0-9].*")):
        if not re.match(r"^python\d+\.\d+$", os.path.basename(path)):
            continue  # skip python3.6m, python3.x-config, -gdb.py
        if not os.access(path, os.X_OK):
            continue
        try:
            version = _read_version([path])
        except Exception as e:  # noqa: BLE001
            problems.append("%s does not run: %s" % (path, e))
            continue
        pyenv.append((version, path))
    pyenv.sort()
    seen = set()
    pyenv_by_version = {}
    for version, path in pyenv:
        sid = "pyenv-%d.%d" % version
        if sid in seen:  # two builds of the same X.Y: name the second by its dir
            sid = "pyenv-" + os.path.basename(os.path.dirname(os.path.dirname(path)))
        else:
            pyenv_by_version[version] = path
        seen.add(sid)
        found.append(Interpreter(sid, [path], version, path=path, linkage="shared"))

    if os.access(SYSTEM_PYTHON, os.X_OK):
        try:
            version = _read_version([SYSTEM_PYTHON])
            found.append(Interpreter("system-%d.%d" % version, [SYSTEM_PYTHON], version,
                                     path=SYSTEM_PYTHON, linkage="static"))
        except Exception as e:  # noqa: BLE001
            problems.append("%s does not run: %s" % (SYSTEM_PYTHON, e))

    sid_root = None
    if os.environ.get("PYSPY_TEST_NO_CHROOT"):
        problems.append("chroots %s, %s not built: PYSPY_TEST_NO_CHROOT is set" % (
            CHROOT_SUITE, SID))
    else:
        attempt("chroot %s" % CHROOT_SUITE, lambda: _chroot_interpreter(
            build_chroot(CHROOT_SUITE), "chroot-" + CHROOT_SUITE, linkage="static"))
        try:
            sid_root = build_chroot(SID)
        except Exception as e:  # noqa: BLE001
            problems.append("chroot %s: %s" % (SID, e))

    for entry in env_entries(os.environ.get("PYSPY_TEST_PYTHONS", "")):
        try:
            if entry.startswith("chroot:"):
                root = os.path.abspath(entry[len("chroot:"):])
                interp = _chroot_interpreter(root, "env-" + entry)
                interp.id = "env-" + entry
            else:
                path = os.path.abspath(entry)
                version = _read_version([path])
                interp = Interpreter("env-" + entry, [path], version, path=path)
            found.append(interp)
        except Exception as e:  # noqa: BLE001
            problems.append("PYSPY_TEST_PYTHONS entry %s: %s" % (entry, e))

    # ---- extra scenarios
    if sid_root is not None:
        sid3 = attempt("chroot %s python3" % SID, lambda: _chroot_interpreter(
            sid_root, "chroot-" + SID, linkage="static", core=False))
        attempt("chroot %s %s" % (SID, SID_EXTRA_PYTHON), lambda: _chroot_interpreter(
            sid_root, "chroot-" + SID, SID_EXTRA_PYTHON, linkage="static", core=False))
        if sid3 is not None:
            if not os.access(UNSHARE, os.X_OK):
                problems.append("container: %s not found (apt-get install util-linux)" % UNSHARE)
            else:
                found.append(sid3.derive("container-%s-%s" % (SID, sid3.vstr), launch="container"))
    if os.access(SYSTEM_PYTHON, os.X_OK):
        attempt("renamed %s" % SYSTEM_PYTHON,
                lambda: _renamed(SYSTEM_PYTHON, "worker", "renamed-system", "static"))
    if (3, 6) in pyenv_by_version:
        attempt("renamed %s" % pyenv_by_version[(3, 6)],
                lambda: _renamed(pyenv_by_version[(3, 6)], "worker36", "renamed-pyenv", "shared"))
    attempt("embedded gdb", _embedded_gdb)

    by_id = dict((i.id, i) for i in found)
    for mode, bases in (("section", FIND_SECTION_BASES), ("scan", FIND_SCAN_BASES)):
        for b in bases:
            if b in by_id:
                found.append(by_id[b].derive(
                    "find-%s-%s" % (mode, b), core=False, find=mode,
                    profiler_env={"PYSPY_C_FIND": FIND_MODES[mode][0]}))

    ids = [i.id for i in found]
    for sid in sorted(set(x for x in ids if ids.count(x) > 1)):
        problems.append("scenario id %s is used twice" % sid)
    for sid in EXPECTED:
        if sid not in ids:
            problems.append("expected interpreter %s not found" % sid)
    return found, problems


_DISCOVERED = None


def discovered():
    """discover(), computed once per process (a pytest session)."""
    global _DISCOVERED
    if _DISCOVERED is None:
        _DISCOVERED = discover()
    return _DISCOVERED


def discovered_if_done():
    return _DISCOVERED


def core(interps):
    return [i for i in interps if i.core]


# Scenarios of the --native tests besides the core ones: the newest
# interpreters, and a target in its own PID namespace (its threads are
# unwound by host tid).
NATIVE_EXTRA_IDS = ["chroot-sid-3.14", "chroot-sid-3.15", "container-sid-3.14"]


def native(interps):
    return [i for i in interps if i.core or i.id in NATIVE_EXTRA_IDS]


if __name__ == "__main__":
    interps, probs = discover()
    for i in interps:
        print(i.id, i.describe(), i.version, "core" if i.core else "extra")
    for p in probs:
        print("PROBLEM:", p)
