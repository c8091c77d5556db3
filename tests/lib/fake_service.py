"""The common part of the fake chat receivers (fake_discord.py, fake_telegram.py,
fake_ntfy.py): an HTTP server on 127.0.0.1 that records every request and answers through a
service module, and a control channel on stdin/stdout for the test that started it.

Control (one JSON object per line on stdin, one JSON line answered on stdout):
  {"cmd": "fail", "kind": K, "count": N, ...}  the next N requests get the service's error
                                               answer K (extra keys are K's parameters)
  {"cmd": "requests"}                          {"requests": [{"t", "path", "query",
                                               "headers", "body", "json", "status"}]}
  {"cmd": "stop"} or end of stdin               the server stops, the process exits
The first line printed is "PORT n". Stdlib only; run with /usr/bin/python3.

A service module provides answer(fake, req, scripted) -> (status, body_bytes, headers):
req is the recorded request dict, scripted the "fail" entry in force (None: serve normally).
"""
import http.server
import json
import socketserver
import sys
import threading
import time
import urllib.parse

MAX_BODY = 1 << 20


class _Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    allow_reuse_address = True


class FakeService:
    def __init__(self, answer, options=None):
        self.answer = answer
        self.options = options or {}
        self.state = {}              # the service's own memory (e.g. migrated chats)
        self._lock = threading.Lock()
        self._script = []            # [entry, remaining]
        self._requests = []
        handler = self._handler_class()
        self._server = _Server(("127.0.0.1", 0), handler)
        self.port = self._server.server_address[1]

    def _handler_class(self):
        fake = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, fmt, *args):
                pass

            def do_POST(self):
                fake._handle(self)

        return Handler

    def _handle(self, h):
        try:
            length = int(h.headers.get("Content-Length") or 0)
        except ValueError:
            length = -1
        raw = h.rfile.read(length) if 0 < length <= MAX_BODY else b""
        path, _, query = h.path.partition("?")
        body = raw.decode("utf-8", "replace")
        try:
            doc = json.loads(body)
        except ValueError:
            doc = None
        req = {"t": time.time(), "path": path, "query": urllib.parse.parse_qs(query),
               "headers": {k: v for k, v in h.headers.items()}, "body": body, "json": doc}
        with self._lock:
            scripted = None
            if self._script:
                scripted = self._script[0][0]
                self._script[0][1] -= 1
                if self._script[0][1] <= 0:
                    self._script.pop(0)
            status, out, headers = self.answer(self, req, scripted)
            req["status"] = status
            self._requests.append(req)
        h.send_response(status)
        h.send_header("Content-Type", headers.pop("Content-Type", "application/json"))
        h.send_header("Content-Length", str(len(out)))
        for k, v in headers.items():
            h.send_header(k, v)
        h.end_headers()
        h.wfile.write(out)

    def control(self, line):
        cmd = json.loads(line)
        if cmd.get("cmd") == "fail":
            with self._lock:
                self._script.append([cmd, int(cmd.get("count", 1))])
            return {"ok": True}
        if cmd.get("cmd") == "requests":
            with self._lock:
                return {"requests": list(self._requests)}
        return {"ok": False, "error": "unknown command"}

    def run(self):
        threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.1},
                         daemon=True).start()
        print("PORT %d" % self.port, flush=True)
        for line in sys.stdin:
            line = line.strip()
            if not line:
                continue
            if json.loads(line).get("cmd") == "stop":
                break
            print(json.dumps(self.control(line)), flush=True)
        self._server.shutdown()
        return 0


def json_answer(status, doc, headers=None):
    return status, json.dumps(doc).encode(), dict(headers or {})
