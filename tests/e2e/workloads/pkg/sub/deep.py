"""Module in a nested package (pkg/sub/deep.py); valid on Python 2.7 and 3.x."""
from pkg import mod


def deep_entry_point():
    mod.pkg_sleep_forever()
