#!/usr/bin/python3
"""fake_smtp: a scripted SMTP server for the email channel's tests (Debian's python3-aiosmtpd).

  fake_smtp.py --log FILE [--script JSON] [--user NAME --password PW]

Listens on 127.0.0.1, an ephemeral port, printed alone on the first line of stdout once it
accepts connections. Speaks real SMTP through aiosmtpd (EHLO, AUTH PLAIN/LOGIN when --user is
given, MAIL, RCPT, DATA with dot-unstuffing, QUIT); no STARTTLS is offered.

--script is a JSON list of rules, tried in order at each MAIL, RCPT and DATA:
  {"stage": "mail"|"rcpt"|"data", "reply": "451 4.3.0 try again later",
   "match": "bob@" (optional: a substring of the address, for mail/rcpt), "times": 1}
The first rule of the stage whose match fits and whose times is not used up answers instead
of 250 ("times": -1 never runs out). So a recipient can be refused (550 per recipient) or the
message as a whole (451 or 550 after DATA).

Every answer is appended to --log as one JSON line: {"stage", "reply", "address"?, "t"}. An
accepted message adds "accepted": true, the envelope, the login, and the message parsed with
Python's email package: subject (decoded), message_id, in_reply_to, references, from, to,
date, header_names, content_type, plain and html (decoded parts), defects, and facts about
the raw bytes: max_line (longest line), bare_lf / bare_cr (line ends other than CRLF),
dot_lines (lines starting with "." after unstuffing).
"""
import argparse
import asyncio
import email
import email.policy
import json
import logging
import re
import sys
import threading
import time
import warnings

from aiosmtpd.smtp import SMTP, AuthResult

LOCK = threading.Lock()


class Handler:
    def __init__(self, log, rules):
        self.log = log
        self.rules = rules

    def _record(self, rec):
        rec["t"] = time.monotonic()
        with LOCK, open(self.log, "a", encoding="utf-8") as f:
            f.write(json.dumps(rec) + "\n")

    def _scripted(self, stage, address=""):
        for r in self.rules:
            if r.get("stage") != stage or r.get("times", 1) == 0:
                continue
            if r.get("match") and r["match"] not in address:
                continue
            if r.get("times", 1) > 0:
                r["times"] = r.get("times", 1) - 1
            return r["reply"]
        return None

    async def handle_MAIL(self, server, session, envelope, address, mail_options):
        reply = self._scripted("mail", address) or "250 OK"
        if reply.startswith("250"):
            envelope.mail_from = address
        self._record({"stage": "mail", "reply": reply, "address": address})
        return reply

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        reply = self._scripted("rcpt", address) or "250 OK"
        if reply.startswith("250"):
            envelope.rcpt_tos.append(address)
        self._record({"stage": "rcpt", "reply": reply, "address": address})
        return reply

    async def handle_DATA(self, server, session, envelope):
        reply = self._scripted("data") or "250 2.0.0 queued"
        rec = {"stage": "data", "reply": reply}
        if reply.startswith("250"):
            rec.update(accepted=True, mail_from=envelope.mail_from,
                       rcpt_tos=list(envelope.rcpt_tos), login=_login(session))
            rec.update(_parse(envelope.original_content or envelope.content))
        self._record(rec)
        return reply


def _login(session):
    data = getattr(session, "auth_data", None)
    login = getattr(data, "login", None)
    return login.decode("utf-8", "replace") if isinstance(login, bytes) else None


def _parse(raw):
    lines = raw.split(b"\r\n")
    out = {
        "size": len(raw),
        "max_line": max(len(l) for l in lines),
        "bare_lf": sum(l.count(b"\n") for l in lines),
        "bare_cr": sum(l.count(b"\r") for l in lines),
        "dot_lines": sum(1 for l in lines if l.startswith(b".")),
    }
    msg = email.message_from_bytes(raw, policy=email.policy.default)
    header_block = raw.split(b"\r\n\r\n", 1)[0].decode("ascii", "replace")
    out.update(
        subject=str(msg.get("subject", "")),
        message_id=str(msg.get("message-id", "")),
        in_reply_to=str(msg.get("in-reply-to", "")),
        references=str(msg.get("references", "")),
        from_=str(msg.get("from", "")),
        to=str(msg.get("to", "")),
        date=str(msg.get("date", "")),
        header_names=re.findall(r"^([^\s:]+):", header_block, re.M),
        content_type=msg.get_content_type(),
        defects=[str(d) for part in msg.walk() for d in part.defects],
    )
    for kind in ("plain", "html"):
        part = msg.get_body((kind,))
        out[kind] = part.get_content() if part is not None else None
        out[kind + "_cte"] = part.get("content-transfer-encoding", "") if part else ""
    return out


class Auth:
    def __init__(self, user, password):
        self.user, self.password = user.encode(), password.encode()

    def __call__(self, server, session, envelope, mechanism, auth_data):
        ok = auth_data.login == self.user and auth_data.password == self.password
        return AuthResult(success=ok, handled=False, auth_data=auth_data if ok else None)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--log", required=True)
    ap.add_argument("--script", default="[]")
    ap.add_argument("--user")
    ap.add_argument("--password")
    a = ap.parse_args()
    # AUTH without TLS is what the test wants (the channel's "starttls": "off")
    warnings.filterwarnings("ignore", message="Requiring AUTH while not requiring TLS")
    warnings.filterwarnings("ignore", category=DeprecationWarning)  # aiosmtpd's own login_data
    logging.getLogger("mail.log").setLevel(logging.ERROR)
    handler = Handler(a.log, json.loads(a.script))
    auth = Auth(a.user, a.password) if a.user else None
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)

    def factory():
        return SMTP(handler, hostname="fake-smtp", decode_data=False, authenticator=auth,
                    auth_required=auth is not None, auth_require_tls=False)

    server = loop.run_until_complete(loop.create_server(factory, "127.0.0.1", 0))
    print(server.sockets[0].getsockname()[1], flush=True)
    try:
        loop.run_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    sys.exit(main())
