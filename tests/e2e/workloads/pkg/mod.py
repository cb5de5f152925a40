"""Module inside a package (pkg/mod.py); valid on Python 2.7 and 3.x."""
import time


def pkg_sleep_forever():
    while True:
        time.sleep(3600)  # BLOCK
