"""The interpreter matrix itself: a silently shrinking matrix is a failure."""

import interpreters


def test_matrix_complete():
    found, problems = interpreters.discovered()
    ids = [i.id for i in found]
    missing = [sid for sid in interpreters.EXPECTED if sid not in ids]
    assert not missing and not problems, (
        "interpreter matrix incomplete; missing: %s\nproblems:\n  %s\nfound: %s"
        % (", ".join(missing) or "-", "\n  ".join(problems) or "-", ", ".join(ids))
    )


def test_scenario_versions():
    """Every scenario id names the version the interpreter reports."""
    for i in interpreters.discovered()[0]:
        if not i.id.startswith("env-"):
            assert i.id.endswith("-" + i.vstr) or i.id.startswith("pyenv-%s." % i.vstr), (i.id, i.version)


def test_extra_scenarios_expected():
    """The "every CPython in use" scenarios are part of the expected matrix."""
    for sid in ("chroot-sid-3.14", "chroot-sid-3.15", "renamed-system-3.11", "renamed-pyenv-3.6",
                "embedded-gdb-3.11", "container-sid-3.14", "find-section-pyenv-3.10",
                "find-section-system-3.11", "find-scan-pyenv-2.7", "find-scan-system-3.11"):
        assert sid in interpreters.EXPECTED, sid
