"""One worker of the fleet demo (make demo-fleet, demo/fleet/run).

It serves ten "requests" a second: parses one, prices its items, renders
a page.  At REGRESS_AT (unix seconds, the same for every worker) a
"release" changes render_page to escape every row with escape_slowly, a
new function several times slower than the old one: the regression the
web app's timeline and diff should find.  Prints "ready" once serving.

    worker.py NAME REGRESS_AT
"""
import json
import random
import sys
import time

RATE = 10.0   # requests per second, on average


def parse_request(i):
    body = json.dumps({"id": i, "user": "user%d" % (i % 97), "items": list(range(20 + i % 30))})
    return json.loads(body)


def lookup_prices(items):
    total = 0
    for item in items:
        price = 0
        for k in range(4000):
            price += (item * 31 + k) % 17
        total += price
    return total


def escape_fast(text):
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def escape_slowly(text):
    # The regression: a character at a time, looked up in a table built every call.
    table = dict((c, "&#%d;" % ord(c)) for c in "&<>\"'")
    out = []
    for _ in range(400):
        out = []
        for c in text:
            out.append(table.get(c, c))
    return "".join(out)


def render_page(req, total, regressed):
    escape = escape_slowly if regressed else escape_fast
    rows = [escape("<li>item %d of %s & co</li>" % (item, req["user"])) for item in req["items"]]
    return "<ul>%s</ul><p>%d</p>" % ("".join(rows), total)


def handle(i, regressed):
    req = parse_request(i)
    total = lookup_prices(req["items"])
    return render_page(req, total, regressed)


def main():
    regress_at = float(sys.argv[2])
    sys.stdout.write("ready\n")
    sys.stdout.flush()
    i = 0
    next_t = time.time()
    while True:
        handle(i, time.time() >= regress_at)
        i += 1
        # Arrivals at random: a fixed 100 ms beat would keep each request at one
        # phase of the agents' 10 ms ticks, and the samples would miss or hit it
        # every time (aliasing) instead of in proportion to its time.
        next_t += random.expovariate(RATE)
        delay = next_t - time.time()
        if delay > 0:
            time.sleep(delay)
        else:
            next_t = time.time()


if __name__ == "__main__":
    main()
