"""pytest configuration for the pyspy-c end-to-end suite.

Fixtures and parametrisation:
  interp        every core interpreter scenario found (ground-truth tests)
  scenario      every scenario found, core and extra (the main ground-truth
                comparisons and test_verbose.py)
  harm_interp   the subset interpreters.HARM_IDS (slower do-no-harm tests)
  native_interp the core scenarios and interpreters.NATIVE_EXTRA_IDS (--native)
  idle_interp   interpreters.IDLE_IDS, each found or a Missing that fails the test
  corrupt_interp interpreters.CORRUPT_IDS, the same way (the self-corrupting target)
  one_interp    a single interpreter for the error-path tests
  procs         every process a test starts; killed (by pid) and reaped at teardown

Interpreters are discovered once per session (interpreters.discover(); this
builds the Debian trixie chroot on first use).  The terminal summary lists
every interpreter tested and any expected one that is missing.
"""

import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import e2elib  # noqa: E402
import interpreters  # noqa: E402

_TESTED = {}
discovered = interpreters.discovered
_CONFIG = None


def _progress(msg):
    """One line straight to the terminal (or the log CI keeps), even while pytest
    captures output: building a chroot during collection takes minutes, and a silent
    run looks hung."""
    pm = _CONFIG.pluginmanager
    capman = pm.getplugin("capturemanager")
    tr = pm.getplugin("terminalreporter")
    if capman is None or tr is None:
        sys.__stderr__.write("pyspy-c tests: %s\n" % msg)
        sys.__stderr__.flush()
        return
    with capman.global_and_fixture_disabled():
        tr.ensure_newline()
        tr.write("pyspy-c tests: %s\n" % msg, flush=True)


def pytest_configure(config):
    global _CONFIG
    _CONFIG = config
    interpreters.PROGRESS = _progress


def pytest_unconfigure(config):
    interpreters.PROGRESS = None


def _by_id():
    return dict((i.id, i) for i in discovered()[0])


def pytest_generate_tests(metafunc):
    if "interp" in metafunc.fixturenames:
        found = interpreters.core(discovered()[0])
        metafunc.parametrize("interp", found, ids=[i.id for i in found])
    if "scenario" in metafunc.fixturenames:
        found = discovered()[0]
        metafunc.parametrize("scenario", found, ids=[i.id for i in found])
    if "harm_interp" in metafunc.fixturenames:
        by_id = _by_id()
        found = [by_id[i] for i in interpreters.HARM_IDS if i in by_id]
        metafunc.parametrize("harm_interp", found, ids=[i.id for i in found])
    if "native_interp" in metafunc.fixturenames:
        found = interpreters.native(discovered()[0])
        metafunc.parametrize("native_interp", found, ids=[i.id for i in found])
    if "idle_interp" in metafunc.fixturenames:
        by_id = _by_id()
        found, problems = discovered()
        params = [by_id.get(i) or interpreters.Missing(i, problems) for i in interpreters.IDLE_IDS]
        metafunc.parametrize("idle_interp", params, ids=interpreters.IDLE_IDS)
    if "corrupt_interp" in metafunc.fixturenames:
        by_id = _by_id()
        found, problems = discovered()
        params = [by_id.get(i) or interpreters.Missing(i, problems) for i in interpreters.CORRUPT_IDS]
        metafunc.parametrize("corrupt_interp", params, ids=interpreters.CORRUPT_IDS)
    if "one_interp" in metafunc.fixturenames:
        by_id = _by_id()
        pick = [by_id[i] for i in ("pyenv-3.12", "system-3.11", "pyenv-3.11") if i in by_id]
        pick = pick[:1] or interpreters.core(discovered()[0])[:1]
        metafunc.parametrize("one_interp", pick, ids=[i.id for i in pick])


def pytest_runtest_setup(item):
    callspec = getattr(item, "callspec", None)
    if callspec is None:
        return
    for key in ("interp", "scenario", "harm_interp", "native_interp", "one_interp", "idle_interp"):
        interp = callspec.params.get(key)
        if interp is not None and not isinstance(interp, interpreters.Missing):
            _TESTED[interp.id] = interp


def scenario_by_id(sid):
    """The scenario named sid for a test parametrised by id, recorded as tested;
    the test fails, naming it, when this machine does not have it."""
    found = _by_id()
    if sid not in found:
        pytest.fail("interpreter %s not found on this machine" % sid)
    _TESTED[sid] = found[sid]
    return found[sid]


@pytest.fixture
def procs():
    p = e2elib.Processes()
    yield p
    p.cleanup()


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    done = interpreters.discovered_if_done()
    if done is None:
        return
    tr = terminalreporter
    tr.section("pyspy-c interpreters")
    if _TESTED:
        order = [i.id for i in done[0]]
        ids = sorted(_TESTED, key=lambda s: order.index(s) if s in order else len(order))
        tr.write_line("interpreters tested (%d): %s" % (len(ids), ", ".join(ids)))
        for sid in ids:
            i = _TESTED[sid]
            tr.write_line("  %-26s Python %-5s %s" % (sid, i.vstr, i.describe()))
    else:
        tr.write_line("interpreters tested (0): none")
    for problem in done[1]:
        tr.write_line("MISSING: " + problem)
