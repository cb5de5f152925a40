"""A stand-in for `pyspy-c serve`'s /v1/windows (pyspy-c.windows.v1), for
the collector's tests: windows of a known model, or misbehaviour on demand.

  fake_agent.py PORTFILE MODE AGENT INSTANCE NWINDOWS [MAXPER]

Binds 127.0.0.1 on a free port, writes it to PORTFILE, and serves
windows 1..NWINDOWS of agent number AGENT (at most MAXPER per answer).
Window i: start T0 + 10 (i - 1) s, one process (pid 100 + AGENT), stack
main;work_(i % 3) counted 10 + i % 7 times.  MODE: ok, hang (never
answers), garbage (200 with junk), hostile (a stack naming a function
the window does not have), longname (a function name the store refuses),
huge (an endless answer).
"""

import json
import os
import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

# Window 1's start (unix seconds): the test's, which keeps it recent (the store
# expires what is older than its retention, a year for the hourly tier).
T0 = int(os.environ.get("FAKE_AGENT_T0", "1765000800"))


def window(agent, i):
    pid = 100 + agent
    n = 10 + i % 7
    start = (T0 + 10 * (i - 1)) * 10**9
    return {
        "seq": i, "start_ns": start, "end_ns": start + 10 * 10**9,
        "samples": n, "errors": 0, "late": 0, "pruned": 0,
        "processes": [{"pid": pid, "start_time": 5, "program": "python3 app.py",
                       "python": "3.12.1", "samples": n, "errors": 0, "late": 0}],
        "functions": [{"name": "main", "file": "/srv/app.py", "short_file": "app.py",
                       "kind": "code"},
                      {"name": "work_%d" % (i % 3), "file": "/srv/app.py",
                       "short_file": "app.py", "kind": "code"}],
        "stacks": [{"process": 0, "count": n, "frames": [[0, 1], [1, 10 + i % 3]]}],
    }


def main():
    portfile, mode, agent, instance, nwin = sys.argv[1:6]
    agent, nwin = int(agent), int(nwin)
    maxper = int(sys.argv[6]) if len(sys.argv) > 6 else 1000

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def do_GET(self):
            if mode == "hang":
                time.sleep(3600)
                return
            q = parse_qs(urlparse(self.path).query)
            since = int(q.get("since", ["0"])[0])
            upto = min(nwin, since + min(maxper, int(q.get("max", ["100"])[0])))
            ws = [window(agent, i) for i in range(since + 1, upto + 1)]
            if mode == "hostile" and ws:
                ws[0]["stacks"][0]["frames"][0][0] = 99
            if mode == "longname" and ws:
                ws[-1]["functions"][0]["name"] = "x" * 5000
            doc = {"format": "pyspy-c.windows.v1", "instance": instance, "rate": 100,
                   "oldest_seq": 1, "newest_seq": nwin, "gap": False,
                   "next_since": upto if ws else since, "windows": ws}
            body = json.dumps(doc).encode()
            if mode == "garbage":
                body = b"<html>not json"
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            if mode == "huge":
                self.end_headers()
                try:
                    while True:
                        self.wfile.write(b" " * 65536)
                except OSError:
                    return
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    srv = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    srv.daemon_threads = True
    tmp = portfile + ".tmp"
    with open(tmp, "w") as f:
        f.write(str(srv.server_address[1]))
    os.rename(tmp, portfile)
    srv.serve_forever()


if __name__ == "__main__":
    main()
