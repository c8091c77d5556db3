"""A fake receiver of StatusD's generic webhook that checks Standard Webhooks signatures with
its own code (stdlib hmac, hashlib, base64; not StatusD's), for tests (/usr/bin/python3).

With a secret (--secret-file: its first line; "whsec_<base64>" is base64-decoded into the
key, any other secret is used as its bytes), every request must carry webhook-id,
webhook-timestamp (within 5 minutes of now, as the reference library requires) and
webhook-signature, a space-separated list of "v1,<base64 HMAC-SHA256(key,
id.timestamp.body)>" of which one must match: else 401 {"error": "..."}. A valid request
with a JSON body is answered 200 {"ok": true}; a body that is not JSON, 400. Every recorded
request carries "verified" (true, false, or null without a secret) and "why" when refused.
Scripted answers (fail()) come first.

CLI: python3 fake_signed_webhook.py --port 0 --log /tmp/hook.jsonl --secret-file /tmp/s
                                    [--fail 503:1] [--fail 429:1:2]
"""
import base64
import hashlib
import hmac
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from fake_scripted import ScriptedFake, main  # noqa: E402

TOLERANCE_S = 5 * 60


def key_of(secret):
    """The HMAC key of a Standard Webhooks secret."""
    if secret.startswith("whsec_"):
        return base64.b64decode(secret[len("whsec_"):], validate=True)
    return secret.encode()


def verify(key, headers, raw, now=None):
    """None when the request is signed with key, else why not."""
    msg_id, ts, sigs = (headers.get("webhook-id"), headers.get("webhook-timestamp"),
                        headers.get("webhook-signature"))
    if not msg_id or not ts or not sigs:
        return "missing webhook-id, webhook-timestamp or webhook-signature"
    try:
        ts_i = int(ts)
    except ValueError:
        return "webhook-timestamp is not an integer"
    if abs((now or time.time()) - ts_i) > TOLERANCE_S:
        return "webhook-timestamp too far from now"
    want = base64.b64encode(hmac.new(key, msg_id.encode() + b"." + ts.encode() + b"." + raw,
                                     hashlib.sha256).digest()).decode()
    for sig in sigs.split(" "):
        version, _, value = sig.partition(",")
        if version == "v1" and hmac.compare_digest(value, want):
            return None
    return "no matching signature"


class FakeSignedWebhook(ScriptedFake):
    scripted_bodies = {429: '{"error":"slow down"}', 503: '{"error":"unavailable"}'}

    def __init__(self, *a, secret=None, **kw):
        super().__init__(*a, **kw)
        self.key = key_of(secret) if secret is not None else None

    def url(self, path="/hooks/statusd"):
        return super().url(path)

    def answer(self, path, headers, raw, doc):
        if self.key is not None:
            why = verify(self.key, headers, raw)
            if why:
                return 401, json.dumps({"error": why}).encode(), {"verified": False, "why": why}
        verified = None if self.key is None else True
        if doc is None:
            return 400, b'{"error":"body is not JSON"}', {"verified": verified}
        return 200, b'{"ok":true}', {"verified": verified}


def _make(a):
    secret = None
    if a.secret_file:
        with open(a.secret_file, encoding="utf-8") as f:
            secret = f.readline().rstrip("\r\n")
    return FakeSignedWebhook(port=a.port, host=a.host, log_path=a.log, secret=secret)


if __name__ == "__main__":
    sys.exit(main(FakeSignedWebhook, "fake Standard Webhooks receiver",
                  add_args=lambda ap: ap.add_argument("--secret-file"), make=_make))
