"""A fake Telegram Bot API (sendMessage) for tests; control protocol in fake_service.py.

Usage: fake_telegram.py TOKEN. Protocol as Telegram answers it (always JSON):
  * POST /bot<TOKEN>/sendMessage with JSON {chat_id, text, parse_mode}: 200
    {"ok": true, "result": {"message_id", "chat": {"id"}, "text"}}. Another token: 401
    {"ok": false, "error_code": 401, "description": "Unauthorized"}; another method: 404.
    parse_mode HTML with a tag other than b/i/u/s/a/code/pre, or unbalanced: 400 "can't
    parse entities"; text over 4096 characters once entities are parsed: 400 "message is
    too long"; no chat_id or text: 400.
  * A chat that migrated (see "migrate") answers 400 with parameters.migrate_to_chat_id for
    every message to its old id.
  * fail kinds: "rate_limited" (retry_after, seconds): 429 "Too Many Requests: retry after
    N" with parameters.retry_after; "migrate" (to): chat_id of this request moves to `to`;
    "blocked": 403 "Forbidden: bot was blocked by the user"; "server_error": 502.
"""
import html
import re
import sys

from fake_service import FakeService, json_answer

TAG = re.compile(r"<(/?)([a-z-]+)[^>]*>")
ALLOWED = {"b", "strong", "i", "em", "u", "ins", "s", "strike", "del", "a", "code", "pre",
           "tg-spoiler", "blockquote"}


def _error(code, desc, params=None):
    doc = {"ok": False, "error_code": code, "description": desc}
    if params:
        doc["parameters"] = params
    return json_answer(code, doc)


def _parse_html(text):
    """The text as shown (tags removed, entities decoded), or None when it cannot parse."""
    stack = []
    for m in TAG.finditer(text):
        closing, name = m.group(1) == "/", m.group(2)
        if name not in ALLOWED:
            return None
        if closing:
            if not stack or stack.pop() != name:
                return None
        else:
            stack.append(name)
    if stack or re.search(r"&(?!(amp|lt|gt|quot|#\d+);)", text):
        return None
    return html.unescape(TAG.sub("", text))


def answer(fake, req, scripted):
    token = fake.options["token"]
    if not req["path"].startswith("/bot%s/" % token):
        return _error(401, "Unauthorized")
    if not req["path"].endswith("/sendMessage"):
        return _error(404, "Not Found")
    doc = req["json"] if isinstance(req["json"], dict) else {}
    chat = doc.get("chat_id")
    kind = scripted and scripted.get("kind")
    moved = fake.state.setdefault("moved", {})
    if kind == "migrate":
        moved[str(chat)] = scripted["to"]
    if str(chat) in moved:
        return _error(400, "Bad Request: group chat was upgraded to a supergroup chat",
                      {"migrate_to_chat_id": moved[str(chat)]})
    if kind == "rate_limited":
        ra = int(scripted.get("retry_after", 2))
        return _error(429, "Too Many Requests: retry after %d" % ra, {"retry_after": ra})
    if kind == "blocked":
        return _error(403, "Forbidden: bot was blocked by the user")
    if kind == "server_error":
        return 502, b"<html>502 Bad Gateway</html>", {"Content-Type": "text/html"}
    text = doc.get("text")
    if chat is None or not isinstance(text, str) or not text:
        return _error(400, "Bad Request: message text is empty")
    shown = _parse_html(text) if doc.get("parse_mode") == "HTML" else text
    if shown is None:
        return _error(400, "Bad Request: can't parse entities")
    if len(shown) > 4096:
        return _error(400, "Bad Request: message is too long")
    fake.state["n"] = fake.state.get("n", 0) + 1
    return json_answer(200, {"ok": True, "result": {"message_id": fake.state["n"],
                                                    "chat": {"id": chat}, "text": shown}})


if __name__ == "__main__":
    sys.exit(FakeService(answer, {"token": sys.argv[1]}).run())
