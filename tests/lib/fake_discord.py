"""A fake Discord webhook (Execute Webhook) for tests; control protocol in fake_service.py.

Protocol as Discord answers it:
  * POST /api/webhooks/{id}/{token}: with ?wait=true, 200 and the message object (JSON with
    "id"); without it, 204 and nothing. A body that breaks an embed limit (title 256,
    description 4096, 25 fields, field name 256 / value 1024, 6000 in all) or is not JSON:
    400 {"code": 50035, "message": "Invalid Form Body"}. Another path: 404 code 10015.
  * fail kinds: "rate_limited" (retry_after, float seconds): 429 {"message", "retry_after",
    "global": false} with Retry-After (whole seconds, rounded up) and X-RateLimit-* headers;
    "unknown_webhook": 404 {"message": "Unknown Webhook", "code": 10015};
    "server_error": 502 with an HTML body.
"""
import math
import re
import sys

from fake_service import FakeService, json_answer

PATH = re.compile(r"^/api/webhooks/\d+/[\w-]+$")


def _too_big(doc):
    total = 0
    for e in doc.get("embeds") or []:
        t, d = e.get("title", ""), e.get("description", "")
        fields = e.get("fields") or []
        if len(t) > 256 or len(d) > 4096 or len(fields) > 25:
            return True
        total += len(t) + len(d)
        for f in fields:
            n, v = f.get("name", ""), f.get("value", "")
            if not n or not v or len(n) > 256 or len(v) > 1024:
                return True
            total += len(n) + len(v)
    return total > 6000


def answer(fake, req, scripted):
    kind = scripted and scripted.get("kind")
    if kind == "rate_limited":
        ra = float(scripted.get("retry_after", 1.5))
        return json_answer(429, {"message": "You are being rate limited.", "retry_after": ra,
                                 "global": False},
                           {"Retry-After": str(math.ceil(ra)), "X-RateLimit-Limit": "5",
                            "X-RateLimit-Remaining": "0", "X-RateLimit-Reset-After": str(ra),
                            "X-RateLimit-Bucket": "abcd1234"})
    if kind == "unknown_webhook" or not PATH.match(req["path"]):
        return json_answer(404, {"message": "Unknown Webhook", "code": 10015})
    if kind == "server_error":
        return 502, b"<html><body>502 Bad Gateway</body></html>", {"Content-Type": "text/html"}
    doc = req["json"]
    if not isinstance(doc, dict) or not doc.get("embeds") or _too_big(doc):
        return json_answer(400, {"code": 50035, "message": "Invalid Form Body"})
    if req["query"].get("wait") != ["true"]:
        return 204, b"", {}
    fake.state["n"] = fake.state.get("n", 0) + 1
    return json_answer(200, {"id": str(1180000000000000000 + fake.state["n"]), "type": 0,
                             "content": "", "embeds": doc["embeds"],
                             "webhook_id": req["path"].split("/")[3]})


if __name__ == "__main__":
    sys.exit(FakeService(answer).run())
