"""A fake ntfy server (publish) for tests; control protocol in fake_service.py.

Usage: fake_ntfy.py [TOKEN]. Protocol as ntfy answers it:
  * POST /<topic> with the message as the body and Title / Priority / Tags headers (an
    RFC 2047 encoded Title is decoded): 200 {"id", "time", "expires", "event": "message",
    "topic", "title", "message", "priority", "tags"}. With TOKEN, a request without
    "Authorization: Bearer TOKEN" gets 401 {"code": 40101, "http": 401, "error":
    "unauthorized"}; a body over 4096 bytes: 413 {"code": 41301}.
  * Errors are JSON {"code", "http", "error", "link"}; no Retry-After, ever.
  * fail kinds: "rate_limited": 429 code 42901; "quota": 429 code 42908;
    "unauthorized": 401 code 40101; "server_error": 500 code 50001.
"""
import email.header
import sys
import time

from fake_service import FakeService, json_answer

ERRORS = {
    "rate_limited": (429, 42901, "limit reached: too many requests"),
    "quota": (429, 42908, "limit reached: daily message quota reached"),
    "unauthorized": (401, 40101, "unauthorized"),
    "server_error": (500, 50001, "internal server error"),
    "too_large": (413, 41301, "message too large"),
}


def _error(kind):
    status, code, text = ERRORS[kind]
    return json_answer(status, {"code": code, "http": status, "error": text,
                                "link": "https://ntfy.sh/docs/publish/"})


def _decode(value):
    parts = email.header.decode_header(value or "")
    return "".join(p.decode(c or "utf-8") if isinstance(p, bytes) else p for p, c in parts)


def answer(fake, req, scripted):
    if scripted:
        return _error(scripted["kind"])
    token = fake.options.get("token")
    if token and req["headers"].get("Authorization") != "Bearer " + token:
        return _error("unauthorized")
    raw = req["body"].encode()
    if len(raw) > 4096:
        return _error("too_large")
    title = _decode(req["headers"].get("Title"))
    req["title"] = title
    fake.state["n"] = fake.state.get("n", 0) + 1
    now = int(time.time())
    return json_answer(200, {"id": "msg%07d" % fake.state["n"], "time": now,
                             "expires": now + 43200, "event": "message",
                             "topic": req["path"].lstrip("/"), "title": title,
                             "message": req["body"],
                             "priority": int(req["headers"].get("Priority") or 3),
                             "tags": (req["headers"].get("Tags") or "").split(",")})


if __name__ == "__main__":
    sys.exit(FakeService(answer, {"token": sys.argv[1] if len(sys.argv) > 1 else None}).run())
