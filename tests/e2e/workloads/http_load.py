"""HTTP load for tests/e2e/test_uwsgi.py (Python 3 standard library).

    python3 http_load.py URL CLIENTS

CLIENTS threads each GET URL in a loop, forever (a failed request is
retried after 10 ms: the server may still be starting).
"""
import sys
import threading
import time
import urllib.request


def client(url):
    while True:
        try:
            with urllib.request.urlopen(url, timeout=10) as r:
                r.read()
        except OSError:
            time.sleep(0.01)


url, clients = sys.argv[1], int(sys.argv[2])
for _ in range(clients):
    threading.Thread(target=client, args=(url,), daemon=True).start()
while True:
    time.sleep(3600)
