#!/usr/bin/env python3
"""Demo targets for deploy/quickstart.sh (stdlib only; listens on 127.0.0.1 only).

Target server (default 127.0.0.1:18080), so a new user sees real green and red:
  /healthy        200 "ok"
  /status/NNN     answers with status NNN (100..599)
  /slow[?ms=N]    200 after N ms (default 1500, at most 30000)
  /flaky          200 for --flaky-up seconds, then 503 for --flaky-down seconds, repeating
  /               this list

Webhook receiver (default 127.0.0.1:18081), standing in for Slack and Teams: every POST is
answered like the real service (Slack: 200 "ok"; paths under /teams: 202, empty body) and
logged as one line with the message's headline, followed by the raw body, to --webhook-log.
"""
import argparse
import json
import math
import sys
import threading
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


def headline(data):
    """The human-readable line of a Slack or Teams message, best effort."""
    try:
        js = json.loads(data)
    except ValueError:
        return "(not JSON)"
    if isinstance(js, dict):
        if isinstance(js.get("text"), str):
            return js["text"]
        try:  # Teams Workflows: Adaptive Card in attachments
            body = js["attachments"][0]["content"]["body"]
            return " | ".join(b.get("text", "") for b in body if isinstance(b, dict)
                              and b.get("type") == "TextBlock")
        except (KeyError, IndexError, TypeError):
            pass
        for k in ("title", "summary"):
            if isinstance(js.get(k), str):
                return js[k]
    return "(no text)"


class Webhook(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "statusd-demo-webhook/1"
    out = None
    lock = threading.Lock()

    def do_POST(self):
        n = int(self.headers.get("Content-Length") or 0)
        data = self.rfile.read(min(n, 1 << 20)).decode("utf-8", "replace") if n > 0 else ""
        teams = self.path.startswith("/teams")
        code, body = (202, b"") if teams else (200, b"ok")
        with self.lock:
            self.out.write("%s %s %s: %s\n    %s\n" % (now(), "TEAMS" if teams else "SLACK",
                                                     self.path, headline(data), data))
            self.out.flush()
        self.send_response(code)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, fmt, *args):
        pass


def main():
    ap = argparse.ArgumentParser(description="StatusD demo targets and webhook receiver")
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=18080, help="targets port (0: none)")
    ap.add_argument("--webhook-port", type=int, default=18081, help="webhook port (0: none)")
    ap.add_argument("--webhook-log", default="-", help="file for received messages ('-': stdout)")
    ap.add_argument("--flaky-up", type=int, default=180, help="seconds /flaky is up")
    ap.add_argument("--flaky-down", type=int, default=120, help="seconds /flaky is down")
    a = ap.parse_args()
    Targets.flaky_up, Targets.flaky_down = max(1, a.flaky_up), max(1, a.flaky_down)
    Webhook.out = sys.stdout if a.webhook_log == "-" else open(a.webhook_log, "a")
    servers = []
    if a.port:
        servers.append(ThreadingHTTPServer((a.host, a.port), Targets))
    if a.webhook_port:
        servers.append(ThreadingHTTPServer((a.host, a.webhook_port), Webhook))
    for s in servers:
        s.daemon_threads = True
        threading.Thread(target=s.serve_forever, daemon=True).start()
    print("%s demo targets on http://%s:%d/, webhook receiver on http://%s:%d/ "
          "(log: %s)" % (now(), a.host, a.port, a.host, a.webhook_port, a.webhook_log),
          flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        for s in servers:
            s.shutdown()
    return 0


if __name__ == "__main__":
    import signal
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    sys.exit(main())
