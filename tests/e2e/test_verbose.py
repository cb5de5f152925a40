"""`record --verbose`: the one line that says what was found at attach, on every scenario.

    pyspy-c: pid N: python X.Y[.Z] (shared|static build, ..., layout from ...) in 'MODULE',
        interpreter found by METHOD[; layout notes: ...]

is checked against the target itself: the version against its own
sys.version_info (from the ground-truth workload), shared vs static against
the scenario (pyenv and gdb's libpython: shared; Debian's python3.X binaries:
static) and against what /proc/PID/maps shows mapped, MODULE against the
libpython mapped (shared) or /proc/PID/exe (static), METHOD against the
scenario (PYSPY_C_FIND forces one).  For 3.13+ the layout comes from the
target's _Py_DebugOffsets; up to 3.13 there must be no "layout notes" (for
3.13 that would mean the built-in 3.13 table disagrees with a live 3.13
process's own _Py_DebugOffsets).
"""

import os
import re

import e2elib
import interpreters

ATTACH_RE = re.compile(r"^pyspy-c: pid (\d+): python (\d+)\.(\d+)(?:\.(\d+))? \((shared|static) build[,)]")
FOUND_BY_RE = re.compile(r", interpreter found by ([^;]+?)(?:; layout notes: .*)?$")


def _mapped_libpythons(pid):
    paths = set()
    with open("/proc/%d/maps" % pid) as f:
        for line in f:
            parts = line.split(None, 5)
            if len(parts) == 6:
                path = parts[5].rstrip("\n")
                if os.path.basename(path).startswith("libpython"):
                    paths.add(path)
    return sorted(paths)


def _expected_module(w):
    """The file holding the interpreter, as the profiler (in the host) sees it."""
    libs = _mapped_libpythons(w.pid)
    if w.interp.linkage == "shared":
        assert len(libs) == 1, "scenario %s: expected one libpython mapped in pid %d, found %s" % (
            w.interp.id, w.pid, libs)
        want = "libpython%d.%d" % w.interp.version
        assert os.path.basename(libs[0]).startswith(want), (w.interp.id, libs, want)
        return libs[0]
    assert w.interp.linkage == "static", w.interp
    assert not libs, "scenario %s is static but pid %d maps %s" % (w.interp.id, w.pid, libs)
    return os.readlink("/proc/%d/exe" % w.pid)


def _expected_method(interp):
    if interp.find:
        return interpreters.FIND_MODES[interp.find][1]
    if interp.version <= (3, 6):
        return "symbol interp_head"  # 2.7, 3.6: no _PyRuntime yet
    return "symbol _PyRuntime"


def test_verbose_attach_line(procs, scenario, tmp_path):
    w = e2elib.start_ground_truth(procs, scenario, tmp_path)
    run = e2elib.run_profiler(tmp_path, ["record", "-v", "--pid", w.pid, "--duration", "0.2"],
                              env=e2elib.profiler_env(scenario))
    assert run.rc == 0, run.describe()
    lines = [l for l in run.err.splitlines() if re.match(r"^pyspy-c: pid \d+: python", l)]
    assert len(lines) == 1, "expected exactly one attach line 'pyspy-c: pid N: python ...' on stderr\n" + \
        run.describe()
    line = lines[0]
    errors = []
    m = ATTACH_RE.match(line)
    assert m, "attach line does not start 'pyspy-c: pid N: python X.Y[.Z] (shared|static build'\n" + \
        run.describe()
    pid, major, minor, micro, linkage = m.groups()
    if int(pid) != w.pid:
        errors.append("pid %s, expected %d" % (pid, w.pid))
    have = w.truth["version_full"]
    if (int(major), int(minor)) != tuple(have[:2]) or (micro is not None and int(micro) != have[2]):
        errors.append("version %s.%s%s, the target's sys.version_info says %d.%d.%d" % (
            major, minor, "" if micro is None else "." + micro, have[0], have[1], have[2]))
    if linkage != scenario.linkage:
        errors.append("says %s build, expected %s" % (linkage, scenario.linkage))
    module = _expected_module(w)
    if " in '%s', " % module not in line:
        errors.append("module: expected \" in '%s', \"" % module)
    fm = FOUND_BY_RE.search(line)
    method = _expected_method(scenario)
    if not fm or fm.group(1) != method:
        errors.append("method: expected 'interpreter found by %s', got %r" % (
            method, fm and fm.group(1)))
    if scenario.find and interpreters.FIND_MODES[scenario.find][2]:
        want = "version from " + interpreters.FIND_MODES[scenario.find][2]
        if want not in line:
            errors.append("expected %r (PYSPY_C_FIND=%s)" % (want, scenario.profiler_env["PYSPY_C_FIND"]))
    if scenario.version >= (3, 13) and "layout from _Py_DebugOffsets" not in line:
        errors.append("3.13+: expected 'layout from _Py_DebugOffsets'")
    if scenario.version <= (3, 13) and "layout notes" in line:
        errors.append("unexpected layout notes (the built-in table disagrees with the target)")
    assert not errors, "%s: verbose attach line wrong:\n  %s\n  line: %s\n\n%s" % (
        scenario.id, "\n  ".join(errors), line, run.describe())
