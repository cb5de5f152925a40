"""Frame names as an attacker would choose them: functions named
<script>alert(1)</script> and "><img src=x onerror=alert(1)>, in a file
named <img src=x onerror=alert(2)>.py (code objects renamed with
code.replace).  The page must show them as text.  Prints "ready", ends by
itself after argv[1] seconds (default 300)."""

import sys
import time

NAMES = ["<script>alert(1)</script>", '"><img src=x onerror=alert(1)>']
FILE = "<img src=x onerror=alert(2)>.py"


def spin():
    x = 0
    for i in range(20000):
        x += i
    return x


def renamed(name):
    code = spin.__code__
    fields = {"co_name": name, "co_filename": FILE}
    if sys.version_info >= (3, 11):
        fields["co_qualname"] = name
    return type(spin)(code.replace(**fields), globals(), name)


def main():
    funcs = [renamed(n) for n in NAMES]
    end = time.time() + (float(sys.argv[1]) if len(sys.argv) > 1 else 300)
    sys.stdout.write("ready\n")
    sys.stdout.flush()
    while time.time() < end:
        for f in funcs:
            f()


if __name__ == "__main__":
    main()
