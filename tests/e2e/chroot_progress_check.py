"""Not collected by the suite (no test_ prefix): run by test_harness.py's
test_chroot_build_progress_is_shown in a pytest of its own, with a fake
debootstrap first on PATH and PYSPY_TEST_FAKE_CHROOTS as the chroot cache.

It builds a chroot while its module is collected, as interpreters.discover()
does from conftest.py, so that the test sees what a run of tests/run shows
then, with pytest capturing output and no terminal.
"""

import os

import interpreters

interpreters.CHROOT_CACHE = os.environ["PYSPY_TEST_FAKE_CHROOTS"]
ROOT = interpreters.build_chroot(interpreters.CHROOT_SUITE)


def test_fake_chroot_built():
    assert os.path.exists(os.path.join(ROOT, "usr", "bin", "python3"))
