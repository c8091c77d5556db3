#!/usr/bin/env python3
"""Demo targets for deploy/quickstart.sh (stdlib only; listens on 127.0.0.1 only).

Target server (default 127.0.0.1:18080), so a new user sees real green and red:
  /healthy        200 "ok"
  /status/NNN     answers with status NNN (100..599)
  /slow[?ms=N]    200 after N ms (default 1500, at most 30000)
  /flaky          200 for --flaky-up seconds, then 503 for --flaky-down seconds, repeating
  /               this list

The fake Slack/Teams receiver that quickstart starts beside it is tests/lib/fake_webhook.py.
"""
import argparse
import math
import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

T0 = time.monotonic()


def now():
    return time.strftime("%Y-%m-%dT%H:%M:%S")


class Targets(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "statusd-demo-targets/1"
    flaky_up = 180
    flaky_down = 120

    def reply(self, code, text):
        body = (text + "\n").encode() if code not in (204, 304) and code >= 200 else b""
        self.send_response(code)
        self.send_header("Content-Type", "text/plain; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def do_GET(self):
        u = urlparse(self.path)
        p = u.path.rstrip("/") or "/"
        if p == "/healthy":
            return self.reply(200, "ok")
        if p.startswith("/status/"):
            try:
                code = int(p.split("/")[2])
            except ValueError:
                code = 0
            if not 100 <= code <= 599 or 100 <= code < 200:
                return self.reply(400, "status must be 200..599")
            return self.reply(code, "status %d" % code)
        if p == "/slow":
            try:
                ms = int(parse_qs(u.query).get("ms", ["1500"])[0])
            except ValueError:
                ms = 1500
            ms = max(0, min(ms, 30000))
            time.sleep(ms / 1000.0)
            return self.reply(200, "slow ok after %d ms" % ms)
        if p == "/flaky":
            period = self.flaky_up + self.flaky_down
            t = (time.monotonic() - T0) % period
            if t < self.flaky_up:
                return self.reply(200, "flaky: up, going down in %d s" % math.ceil(self.flaky_up - t))
            return self.reply(503, "flaky: down, back up in %d s" % math.ceil(period - t))
        if p == "/":
            return self.reply(200, __doc__.split("\n\n")[1])
        return self.reply(404, "not found: %s" % p)

    do_HEAD = do_GET

    def log_message(self, fmt, *args):
        sys.stdout.write("%s targets %s %s\n" % (now(), self.address_string(), fmt % args))
        sys.stdout.flush()


def main():
    ap = argparse.ArgumentParser(description="StatusD demo targets")
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=18080)
    ap.add_argument("--flaky-up", type=int, default=180, help="seconds /flaky is up")
    ap.add_argument("--flaky-down", type=int, default=120, help="seconds /flaky is down")
    a = ap.parse_args()
    Targets.flaky_up, Targets.flaky_down = max(1, a.flaky_up), max(1, a.flaky_down)
    srv = ThreadingHTTPServer((a.host, a.port), Targets)
    srv.daemon_threads = True
    print("%s demo targets on http://%s:%d/ (/flaky: up %d s, down %d s)"
          % (now(), a.host, a.port, Targets.flaky_up, Targets.flaky_down), flush=True)
    try:
        srv.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        srv.server_close()
    return 0


if __name__ == "__main__":
    import signal
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    sys.exit(main())
