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
        if i.id.startswith(("pyenv-", "system-", "chroot-")):
            assert i.id.endswith("-" + i.vstr) or i.id.startswith("pyenv-%s." % i.vstr), (i.id, i.version)
