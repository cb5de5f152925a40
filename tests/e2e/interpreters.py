"""Discovery of the Python interpreters the end-to-end tests run against.

Every interpreter is a *scenario* with a stable id used as the pytest
parametrisation id:

    pyenv-X.Y            /root/.pyenv/versions/*/bin/pythonX.Y
    system-3.11          Debian's /usr/bin/python3.11 (static, stripped)
    chroot-SUITE-X.Y     `chroot DIR python3` in a debootstrapped Debian SUITE
    env-PATH             extra interpreters from $PYSPY_TEST_PYTHONS
                         (colon separated; `chroot:DIR` entries are chroots)

Interpreters are always run by their full path: `python3` on PATH is a pyenv
shim whose pid is not the interpreter's.

This module uses only the Python 3.11 standard library.
"""

import fcntl
import glob
import os
import re
import shutil
import signal
import subprocess
import tempfile

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
WORKLOADS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "workloads")
CHROOT_CACHE = os.path.join(REPO, ".cache", "chroots")
PYENV_ROOT = "/root/.pyenv/versions"
SYSTEM_PYTHON = "/usr/bin/python3.11"
CHROOT_SUITE = "trixie"

# What this machine must provide.  A missing one makes test_matrix_complete fail.
EXPECTED = (
    ["pyenv-2.7"]
    + ["pyenv-3.%d" % minor for minor in range(6, 14)]
    + ["system-3.11", "chroot-trixie-3.13"]
)

# The smaller set the (slower) harm tests run on.
HARM_IDS = ["pyenv-3.6", "pyenv-3.10", "pyenv-3.12", "pyenv-3.13", "system-3.11"]

# Where the workload files are placed inside a chroot (as seen from inside it).
CHROOT_WORKDIR = "/tmp"


class Interpreter(object):
    """One scenario: how to start a Python workload and where its files live."""

    def __init__(self, sid, argv, version, chroot=None, path=None):
        self.id = sid
        self.argv = list(argv)  # command prefix that runs python
        self.version = version  # (major, minor)
        self.chroot = chroot  # host path of the chroot's root directory, or None
        self.path = path  # the interpreter binary as seen from the host

    def __repr__(self):
        return "Interpreter(%s, %r, %s)" % (self.id, self.argv, self.version)

    @property
    def vstr(self):
        return "%d.%d" % self.version

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
        return self.argv + [script] + [str(a) for a in args]


def _read_version(argv):
    out = subprocess.run(
        list(argv) + ["-c", "import sys; print(sys.version_info[:2])"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        timeout=60,
        check=True,
    ).stdout.decode()
    m = re.match(r"^\((\d+), (\d+)\)\s*$", out)
    if not m:
        raise RuntimeError("cannot parse version from %r" % out)
    return (int(m.group(1)), int(m.group(2)))


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


def chroot_ready(root):
    return os.path.exists(os.path.join(root, "usr", "bin", "python3"))


def build_chroot(suite=CHROOT_SUITE, log=None):
    """Build (once) a minimal Debian SUITE chroot with python3 and return its path.

    debootstrap runs into a temporary directory that is renamed only when the
    build completed, so an interrupted build is never taken for a cached one.
    A lock file serialises concurrent test sessions.
    """
    final = os.path.join(CHROOT_CACHE, suite)
    if chroot_ready(final):
        return final
    if not os.path.isdir(CHROOT_CACHE):
        os.makedirs(CHROOT_CACHE)
    with open(os.path.join(CHROOT_CACHE, ".%s.lock" % suite), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if chroot_ready(final):
            return final
        if os.path.lexists(final):  # a broken leftover, not a finished build
            _remove_tree(final)
        for old in glob.glob(os.path.join(CHROOT_CACHE, ".%s.tmp-*" % suite)):
            _remove_tree(old)  # interrupted earlier builds
        if shutil.which("debootstrap") is None:
            raise RuntimeError("debootstrap is not installed (apt-get install debootstrap)")
        tmp = tempfile.mkdtemp(prefix=".%s.tmp-" % suite, dir=CHROOT_CACHE)
        os.chmod(tmp, 0o755)
        logfile = log or os.path.join(CHROOT_CACHE, "%s.build.log" % suite)
        try:
            with open(logfile, "w") as lf:
                p = subprocess.Popen(
                    ["debootstrap", "--variant=minbase", "--include=python3", suite, tmp],
                    stdout=lf,
                    stderr=subprocess.STDOUT,
                    stdin=subprocess.DEVNULL,
                    start_new_session=True,
                )
                try:
                    rc = p.wait(timeout=1800)
                except BaseException:
                    os.killpg(p.pid, signal.SIGKILL)  # debootstrap and the dpkg it runs
                    p.wait()
                    raise
            if rc != 0 or not chroot_ready(tmp):
                with open(logfile) as lf:
                    tail = "".join(lf.readlines()[-5:])
                raise RuntimeError(
                    "debootstrap %s failed (exit %s), see %s:\n%s" % (suite, rc, logfile, tail)
                )
            if _mounts_under(tmp):
                for mp in _mounts_under(tmp):
                    subprocess.run(["umount", "-l", mp], check=False)
            os.rename(tmp, final)
        except BaseException:
            _remove_tree(tmp)
            raise
    return final


def _chroot_interpreter(root, sid_prefix):
    argv = ["chroot", root, "python3"]
    version = _read_version(argv)
    real = os.path.realpath(os.path.join(root, "usr", "bin", "python3"))
    return Interpreter("%s-%d.%d" % (sid_prefix, version[0], version[1]), argv, version,
                       chroot=root, path=real)


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


def discover():
    """Return (interpreters, problems): every scenario found, and why expected ones are not."""
    found = []
    problems = []

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
    for version, path in pyenv:
        sid = "pyenv-%d.%d" % version
        if sid in seen:  # two builds of the same X.Y: name the second by its dir
            sid = "pyenv-" + os.path.basename(os.path.dirname(os.path.dirname(path)))
        seen.add(sid)
        found.append(Interpreter(sid, [path], version, path=path))

    if os.access(SYSTEM_PYTHON, os.X_OK):
        try:
            version = _read_version([SYSTEM_PYTHON])
            found.append(Interpreter("system-%d.%d" % version, [SYSTEM_PYTHON], version,
                                     path=SYSTEM_PYTHON))
        except Exception as e:  # noqa: BLE001
            problems.append("%s does not run: %s" % (SYSTEM_PYTHON, e))

    if os.environ.get("PYSPY_TEST_NO_CHROOT"):
        problems.append("chroot %s not built: PYSPY_TEST_NO_CHROOT is set" % CHROOT_SUITE)
    else:
        try:
            root = build_chroot(CHROOT_SUITE)
            found.append(_chroot_interpreter(root, "chroot-" + CHROOT_SUITE))
        except Exception as e:  # noqa: BLE001
            problems.append("chroot %s: %s" % (CHROOT_SUITE, e))

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

    ids = set(i.id for i in found)
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


if __name__ == "__main__":
    interps, probs = discover()
    for i in interps:
        print(i.id, i.argv, i.version)
    for p in probs:
        print("PROBLEM:", p)
