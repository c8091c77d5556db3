"""A fake Slack / Teams webhook receiver for integration tests (stdlib only).

Protocols (as the real services answer):
  * Slack incoming webhook: POST JSON -> 200 "ok"; a body that is not JSON -> 400
    "invalid_payload". Any path not under /teams/ is treated as Slack.
  * Teams Workflows: POST JSON to /teams/... -> 202 with an empty body (400 on bad JSON).
Scripting: fail(status, count, retry_after=None, body=None, match=None) makes the next
`count` requests answer `status` (e.g. 429 with a Retry-After header, or 500) before normal
service resumes. `body` may be bytes (sent as they are, e.g. not UTF-8). With `match` (a
string or bytes) only requests whose body contains it use the entry, so one asset's
deliveries can be scripted while others are served normally. fail("hang", count) makes
requests hang: read, never answered, held until the client gives up (its timeout) or the
receiver stops; they are recorded with status None and "hung": true.
Every received request is recorded: kept in memory (messages()) and, when a log file is
given, appended to it as one JSON line {"t": unix_s, "path", "status", "body", "json"}
("t" is when it arrived; "done" when it was answered or the client gave up).

Module use:
    hook = FakeWebhook(port=0, log_path="/tmp/hook.jsonl").start()
    url = hook.url("/services/T/B/x")          # Slack
    hook.fail(429, 1, retry_after=2)
    ...; hook.wait_for(2, timeout=10); hook.messages(); hook.stop()
CLI:
    python3 fake_webhook.py --port 8099 --log /tmp/hook.jsonl [--fail 500:2] [--fail 429:1:3]
                            [--fail hang:1]
"""
import argparse
import http.server
import json
import select
import signal
import socketserver
import sys
import threading
import time

MAX_BODY = 1 << 20


class _Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    allow_reuse_address = True


class FakeWebhook:
    def __init__(self, port=0, host="127.0.0.1", log_path=None):
        self.host = host
        self.port = port
        self.log_path = log_path
        self._lock = threading.Lock()
        self._cond = threading.Condition(self._lock)
        self._script = []          # list of [status, remaining, retry_after, body, match]
        self._messages = []
        self._server = None
        self._thread = None
        self._stopping = threading.Event()

    # ---- control ----------------------------------------------------------------------
    def start(self):
        hook = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, fmt, *args):  # quiet
                pass

            def do_POST(self):
                hook._handle(self)

            def do_GET(self):
                self._reply(405, b"method_not_allowed")

            def _reply(self, status, body, headers=None):
                self.send_response(status)
                self.send_header("Content-Type", "text/plain")
                self.send_header("Content-Length", str(len(body)))
                for k, v in (headers or {}).items():
                    self.send_header(k, v)
                self.end_headers()
                if body:
                    self.wfile.write(body)

        self._server = _Server((self.host, self.port), Handler)
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever,
                                        kwargs={"poll_interval": 0.1}, daemon=True)
        self._thread.start()
        return self

    def stop(self):
        self._stopping.set()  # releases hung requests
        if self._server:
            self._server.shutdown()
            self._server.server_close()
            self._thread.join(timeout=5)
            self._server = None

    def url(self, path="/services/T000/B000/xxxx"):
        return "http://%s:%d%s" % (self.host, self.port, path)

    def fail(self, status, count=1, retry_after=None, body=None, match=None):
        """The next `count` requests (after earlier scripted ones; with `match`, only those
        whose body contains it) answer `status`, or hang unanswered when status is "hang".
        body: str or bytes (sent as is)."""
        if isinstance(match, str):
            match = match.encode()
        with self._lock:
            self._script.append([status if status == "hang" else int(status), int(count),
                                 retry_after, body, match])

    def reset(self):
        """Forgets every scripted answer not used yet (recorded requests are kept)."""
        with self._lock:
            self._script = []

    def messages(self):
        """Every request so far: dicts with t, path, status, body, json."""
        with self._lock:
            return list(self._messages)

    def wait_for(self, n, timeout=10.0):
        """Waits until at least n requests arrived; returns them (raises on timeout)."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while len(self._messages) < n:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError("%d requests after %.1fs, wanted %d"
                                       % (len(self._messages), timeout, n))
                self._cond.wait(left)
            return list(self._messages)

    # ---- protocol ---------------------------------------------------------------------
    def _handle(self, req):
        try:
            length = int(req.headers.get("Content-Length") or 0)
        except ValueError:
            length = -1
        if length < 0 or length > MAX_BODY:
            req._reply(413, b"payload_too_large")
            return
        raw = req.rfile.read(length) if length else b""
        body = raw.decode("utf-8", "replace")
        try:
            doc = json.loads(body)
        except ValueError:
            doc = None
        teams = req.path.startswith("/teams/")
        headers = {}
        with self._lock:
            scripted = None
            for i, entry in enumerate(self._script):
                if entry[4] is None or entry[4] in raw:
                    scripted = entry
                    entry[1] -= 1
                    if entry[1] <= 0:
                        self._script.pop(i)
                    break
        if scripted and scripted[0] == "hang":
            self._hang(req, body, doc)
            return
        if scripted:
            status, _, retry_after, sbody = scripted[:4]
            out = (sbody if sbody is not None else
                   {429: "rate_limited", 500: "rollup_error", 404: "channel_not_found"}
                   .get(status, ""))
            if isinstance(out, str):
                out = out.encode()
            if retry_after is not None:
                headers["Retry-After"] = str(retry_after)
        elif doc is None:
            status, out = 400, (b"" if teams else b"invalid_payload")
        elif teams:
            status, out = 202, b""
        else:
            status, out = 200, b"ok"
        t = time.time()
        try:
            req._reply(status, out, headers)
        finally:
            self._record({"t": t, "done": time.time(), "path": req.path, "status": status,
                          "body": body, "json": doc})

    def _hang(self, req, body, doc):
        """Reads nothing more and answers nothing until the client closes the connection
        (its timeout) or the receiver stops; then records the request as hung."""
        t = time.time()
        sock = req.connection
        while not self._stopping.is_set():
            r, _, _ = select.select([sock], [], [], 0.2)
            if r:
                try:
                    if not sock.recv(4096):
                        break  # the client gave up
                except OSError:
                    break
        req.close_connection = True
        self._record({"t": t, "done": time.time(), "path": req.path, "status": None,
                      "hung": True, "body": body, "json": doc})

    def _record(self, rec):
        with self._cond:
            self._messages.append(rec)
            if self.log_path:
                with open(self.log_path, "a", encoding="utf-8") as f:
                    f.write(json.dumps(rec) + "\n")
            self._cond.notify_all()


def main(argv=None):
    ap = argparse.ArgumentParser(description="fake Slack/Teams webhook receiver")
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--log", help="append every request as a JSON line to this file")
    ap.add_argument("--fail", action="append", default=[],
                    help="STATUS:COUNT[:RETRY_AFTER], e.g. 500:2 or 429:1:3 (in order); "
                    "hang:COUNT never answers")
    a = ap.parse_args(argv)
    hook = FakeWebhook(port=a.port, host=a.host, log_path=a.log)
    for spec in a.fail:
        parts = spec.split(":")
        hook.fail(parts[0] if parts[0] == "hang" else int(parts[0]),
                  int(parts[1]) if len(parts) > 1 else 1, parts[2] if len(parts) > 2 else None)
    hook.start()
    print("listening %s" % hook.url(""), flush=True)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    stop.wait()
    hook.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
