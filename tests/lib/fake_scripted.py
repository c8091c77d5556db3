"""The shared part of the fake receivers that speak a service's own protocol
(fake_pagerduty.py, fake_signed_webhook.py): FakeWebhook's server, recording and scripting
(fail(status, count, retry_after, body, match)), with the protocol left to a subclass's
answer(path, headers, raw, doc) -> (status, body bytes, extra record fields), and a command
line: --port, --log, --fail STATUS:COUNT[:RETRY_AFTER] (in order), plus the subclass's own
options. The command line prints "listening http://127.0.0.1:PORT" once it accepts requests.
"""
import argparse
import json
import os
import signal
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from fake_webhook import MAX_BODY, FakeWebhook  # noqa: E402


class ScriptedFake(FakeWebhook):
    """A FakeWebhook whose normal answers come from answer(); scripted ones come first."""

    #: the body of a scripted answer without one, by status
    scripted_bodies = {}

    def answer(self, path, headers, raw, doc):
        raise NotImplementedError

    def _scripted(self, raw):
        with self._lock:
            for i, entry in enumerate(self._script):
                if entry[4] is None or entry[4] in raw:
                    entry[1] -= 1
                    if entry[1] <= 0:
                        self._script.pop(i)
                    return entry
        return None

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
        t = time.time()
        headers = {k.lower(): v for k, v in req.headers.items()}
        extra, reply_headers = {}, {}
        scripted = self._scripted(raw)
        if scripted:
            status, _, retry_after, out = scripted[:4]
            if out is None:
                out = self.scripted_bodies.get(status, "")
            if isinstance(out, str):
                out = out.encode()
            if retry_after is not None:
                reply_headers["Retry-After"] = str(retry_after)
            extra["scripted"] = True
        else:
            status, out, extra = self.answer(req.path, headers, raw, doc)
        try:
            req._reply(status, out, reply_headers)
        finally:
            rec = {"t": t, "done": time.time(), "path": req.path, "status": status,
                   "body": body, "json": doc, "headers": headers, "answer": out.decode(
                       "utf-8", "replace")}
            rec.update(extra)
            self._record(rec)


def main(cls, description, add_args=None, make=None, argv=None):
    """Runs cls from the command line until SIGTERM/SIGINT. add_args(parser) adds options;
    make(args) builds the receiver (default cls(port, host, log_path))."""
    ap = argparse.ArgumentParser(description=description)
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--log", help="append every request as a JSON line to this file")
    ap.add_argument("--fail", action="append", default=[],
                    help="STATUS:COUNT[:RETRY_AFTER], e.g. 500:2 or 429:1:3 (in order)")
    if add_args:
        add_args(ap)
    a = ap.parse_args(argv)
    fake = make(a) if make else cls(port=a.port, host=a.host, log_path=a.log)
    for spec in a.fail:
        parts = spec.split(":")
        fake.fail(int(parts[0]), int(parts[1]) if len(parts) > 1 else 1,
                  parts[2] if len(parts) > 2 else None)
    fake.start()
    print("listening %s" % fake.url(""), flush=True)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    stop.wait()
    fake.stop()
    return 0
