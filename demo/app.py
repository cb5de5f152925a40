"""A small stand-in for a real service, for pyspy-c's demo.

It handles "requests" forever: parses JSON, renders a template, scores
words with a regex, and now and then does something slow on purpose, so
the profile has a clear hot spot.  Runs on Python 2.7 and 3.x.  Prints
"ready" once it is serving.
"""
import json
import re
import sys
import threading
import time

WORD = re.compile(r"[a-z]+")


def parse_request(i):
    body = json.dumps({"id": i, "user": "user%d" % (i % 97), "items": list(range(i % 50))})
    return json.loads(body)


def render(req):
    rows = ["<li>%s</li>" % item for item in req["items"]]
    return "<ul>%s</ul>" % "".join(rows)


def score(text):
    return sum(len(w) for w in WORD.findall(text))


def slow_primes(limit):
    primes = []
    for n in range(2, limit):
        if all(n % p for p in primes if p * p <= n):
            primes.append(n)
    return primes


def handle(i):
    req = parse_request(i)
    page = render(req)
    total = score(page)
    if i % 10 == 0:
        total += len(slow_primes(3000))
    return total


def housekeeping(stop):
    while not stop.wait(0.5):
        pass


def main():
    stop = threading.Event()
    t = threading.Thread(target=housekeeping, args=(stop,), name="housekeeping")
    t.daemon = True
    t.start()
    sys.stdout.write("ready\n")
    sys.stdout.flush()
    i = 0
    while True:
        handle(i)
        i += 1


if __name__ == "__main__":
    main()
