"""A small service for the browser tests: requests spend their time in
shop_parse_order and shop_checkout until the regression moment (unix
seconds, argv[2]), and from then on also in shop_render_invoice_slow, a
function that never ran before.  argv[1] names the entry function (run_alpha
or run_beta: which host's process a flame graph shows).  It prints "ready"
once running, and ends by itself after argv[3] seconds (default 300) so that
a test run that died cannot leave it spinning."""

import sys
import time


def spin(n):
    x = 0
    for i in range(n):
        x += i * i
    return x


def shop_parse_order():
    return spin(3000)


def shop_checkout():
    return spin(6000)


def shop_render_invoice_slow():
    return spin(12000)


def shop_handle_request(regressed):
    shop_parse_order()
    shop_checkout()
    if regressed:
        shop_render_invoice_slow()


def serve(regress_at, end):
    while True:
        now = time.time()
        if now >= end:
            return
        shop_handle_request(now >= regress_at)


def run_alpha(regress_at, end):
    serve(regress_at, end)


def run_beta(regress_at, end):
    serve(regress_at, end)


def main():
    entry = {"run_alpha": run_alpha, "run_beta": run_beta}[sys.argv[1]]
    regress_at = float(sys.argv[2])
    end = time.time() + (float(sys.argv[3]) if len(sys.argv) > 3 else 300)
    sys.stdout.write("ready\n")
    sys.stdout.flush()
    entry(regress_at, end)


if __name__ == "__main__":
    main()
