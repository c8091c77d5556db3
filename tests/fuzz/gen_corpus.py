#!/usr/bin/python3
"""Writes the seed corpus of the fuzz harnesses into tests/fuzz/corpus/<name>/ (stdlib only,
plus the openssl command for the certificates). Run it again after changing a message or
format; the files are committed, so the fuzz tests need neither this script nor openssl.

  config     config/*.json and manifests/notifiers with every probe type, maintenance windows
             (one-off, weekly), flapping and notification policies
  wire       Envelopes an agent sends: Hello, ResultBatch, Heartbeat (proto/statusd.proto,
             encoded here field by field)
  uplink     Envelopes the collector sends: Ack, hello reply, Assignment, Heartbeat
  api        path, newline, limit argument, newline, body (tests/fuzz/fuzz_api.c)
  dns        replies of the tests' DNS server (tests/lib/dns_server.py), and compressed ones
  tcp_expect expected string, NUL, reply
  tls_name   one byte n, n bytes of host name, a DER certificate (made with openssl)
  spool      spool segment bytes (agent/spool_rec.h, encoded here): records, a torn tail,
             damage in the middle, and bare payloads (the harness wraps them in a header)
"""
import json
import os
import shutil
import struct
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(ROOT, "tests", "lib"))
import dns_server  # noqa: E402  (the tests' DNS server builds the replies)


def out_dir(name):
    d = os.path.join(HERE, "corpus", name)
    shutil.rmtree(d, ignore_errors=True)
    os.makedirs(d)
    return d


def write(d, name, data):
    with open(os.path.join(d, name), "wb") as f:
        f.write(data if isinstance(data, bytes) else data.encode())


# --- protobuf encoding (proto3, the wire types statusd.proto uses) -------------------------

def varint(n):
    n &= (1 << 64) - 1  # negative int64/int32: two's complement, ten bytes
    out = b""
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out += bytes([b | 0x80])
        else:
            return out + bytes([b])


def f_int(num, v):
    return varint(num << 3) + varint(v) if v else b""


def f_bytes(num, v):
    v = v.encode() if isinstance(v, str) else v
    return varint(num << 3 | 2) + varint(len(v)) + v


def f_str(num, v):
    return f_bytes(num, v) if v else b""


def f_packed(num, values):
    body = b"".join(varint(v) for v in values)
    return f_bytes(num, body) if values else b""


def hello(agent_id, region="", version="0.1.0", types=("http", "tcp"), av=0, first=0,
          sent=1765000000000, hb=5000):
    m = f_str(1, agent_id) + f_str(2, region) + f_str(3, version)
    m += b"".join(f_str(4, t) for t in types)
    m += f_int(5, av) + f_int(6, first) + f_int(7, sent) + f_int(8, hb)
    return f_bytes(1, m)


def phase(name, us):
    return f_str(1, name) + f_int(2, us)


def result(seq, asset, ok=True, latency=1234, code=200, reason="", phases=(), expiry=0,
           started=1765000000000):
    m = f_int(1, seq) + f_str(2, asset) + f_int(3, started) + f_int(4, 1 if ok else 0)
    m += f_int(5, latency) + f_int(6, code) + f_str(7, reason)
    m += b"".join(f_bytes(8, phase(n, us)) for n, us in phases)
    return m + f_int(9, expiry)


def batch(results):
    return f_bytes(3, b"".join(f_bytes(1, r) for r in results))


def heartbeat(sent=1765000000000, av=0, echo=0, hello_required=False):
    return f_bytes(5, f_int(1, sent) + f_int(2, av) + f_int(3, echo) +
                   f_int(4, 1 if hello_required else 0))


def ack(through, hello_reply=False):
    return f_bytes(4, f_int(1, through) + f_int(2, 1 if hello_reply else 0))


def spec(aid, typ, address, interval=60000, timeout=5000, codes=(), options=None, phase_ms=0):
    opts = json.dumps(options, separators=(",", ":")) if options else ""
    return (f_str(1, aid) + f_str(2, typ) + f_str(3, address) + f_int(4, interval) +
            f_int(5, timeout) + f_packed(6, codes) + f_str(7, opts) + f_int(8, phase_ms))


def assignment(version, specs):
    return f_bytes(2, f_int(1, version) + b"".join(f_bytes(2, s) for s in specs))


# --- the corpora ---------------------------------------------------------------------------

HTTP_OPTS = {"method": "POST", "headers": {"Content-Type": "application/json"},
             "body": "{\"user\": \"probe\"}", "bodyRegex": "\"token\": *\"[A-Za-z0-9]+\"",
             "bodyNotContains": "error", "followRedirects": False, "tlsVerify": True,
             "httpVersion": "2"}
ASSETS = [
    dict(id="api-login", assetType="http", name="Login API",
         address="https://api.example.com/login", intervalSeconds=60, timeoutSeconds=10,
         expectedStatusCodes=[200], **HTTP_OPTS),
    dict(id="redis", assetType="tcp", name="Redis", address="10.0.0.5:6379",
         intervalSeconds=30, timeoutSeconds=3, send="PING\r\n", expect="+PONG"),
    dict(id="www-cert", assetType="tls", name="www certificate", address="93.184.215.14:443",
         serverName="www.example.com", intervalSeconds=3600, timeoutSeconds=10,
         minDaysValid=21),
    dict(id="mx", assetType="dns", name="Mail exchanger", address="example.org",
         intervalSeconds=60, timeoutSeconds=5, recordType="MX", server="9.9.9.9",
         answerContains="mail.example.org", validRcodes=["NOERROR", "NXDOMAIN"],
         transport="tcp"),
    dict(id="gw", assetType="icmp", name="Gateway", address="10.0.0.1", intervalSeconds=30,
         timeoutSeconds=3, count=5, intervalMs=100, maxLossPercent=20),
    dict(id="api-prod", assetType="http", name="Production API",
         address="https://api.example.com/health", intervalSeconds=60, timeoutSeconds=5,
         metadata={"env": "prod", "owner": "platform-team"}, locations=["eu-west", "us-east"],
         quorum="majority", failureThreshold=2, successThreshold=1,
         incidentIntervalSeconds=10),
]
MAINTENANCE = [
    {"id": "db-upgrade", "assets": ["api-prod"], "reason": "PostgreSQL 16 upgrade",
     "start": "2026-12-01T22:00:00Z", "end": "2026-12-01T23:30:00Z"},
    {"id": "sunday-backup", "days": ["sun"], "start": "02:00", "end": "04:00",
     "timeZone": "Europe/Berlin"},
    {"days": ["mon", "thursday"], "start": "23:30", "durationMinutes": 45},
    {"start": "2026-12-01T23:00:00.250+01:00", "end": "2026-12-02T01:00:00-05:30"},
]
NOTIFIERS = {
    "notifiers": {
        "oncall-slack": {"type": "slack",
                         "webhookUrl": "https://hooks.slack.com/services/T000/B000/XXXX"},
        "teams": {"type": "teams", "webhookUrl": "https://example.webhook.office.com/x"}},
    "notificationPolicy": {"onDown": ["oncall-slack", "teams"], "onRecovery": ["teams"],
                           "throttleSeconds": 300, "repeatAlerts": False}}


def gen_config():
    d = out_dir("config")
    for f in ("manifest.json", "notifiers.json"):
        shutil.copy(os.path.join(ROOT, "config", f), os.path.join(d, f))
    for a in ASSETS:
        write(d, "asset-%s.json" % a["id"], json.dumps({"assets": [a]}, indent=1))
    write(d, "all-types.json", json.dumps({"assets": ASSETS}))
    write(d, "maintenance.json", json.dumps(
        {"assets": ASSETS[-1:], "maintenance": MAINTENANCE,
         "flapping": {"highThreshold": 50, "lowThreshold": 25, "recoveryHoldSeconds": 120}},
        indent=2))
    write(d, "notifiers-policy.json", json.dumps(NOTIFIERS, indent=2))
    write(d, "notifiers-min.json", json.dumps({"notifiers": {
        "s": {"type": "slack", "webhookUrl": "http://127.0.0.1:9/hook"}}}))
    write(d, "errors-dup-id.json", json.dumps({"assets": [ASSETS[1], ASSETS[1]]}))
    write(d, "errors-unknown.json", '{"assets": [{"id": "x", "assetType": "ftp"}], "extra": 1}')
    write(d, "errors-syntax.json", '{"assets": [\n  {"id": "x",\n   "name": "\\u00e9t\\u00e9",,}]')
    write(d, "rfc3339.txt", "2026-12-01T23:00:00.5+01:00")


def gen_wire():
    d = out_dir("wire")
    ph = [("dns", 1200), ("connect", 800), ("tls", 5300), ("processing", 900),
          ("transfer", 40)]
    write(d, "hello", hello("agent-eu-1", "eu-west", types=("http", "tcp", "tls", "dns", "icmp"),
                            av=1764999999000, first=1765000000000123))
    write(d, "hello-min", hello("a"))
    write(d, "hello-bad-id", hello("agent\x01\xff"))
    write(d, "heartbeat", heartbeat(av=1764999999000))
    write(d, "batch-one", batch([result(1765000000000001, "api-prod", phases=ph,
                                        expiry=1790000000)]))
    write(d, "batch-fail", batch([
        result(7, "redis", ok=False, code=0, latency=3000000,
               reason="reply does not contain \"+PONG\""),
        result(8, "mx", ok=False, code=3, reason="rcode NXDOMAIN not in [NOERROR]",
               phases=[("dns", 4000)]),
        result(9, "gw", ok=True, code=0, phases=[("icmp", 300)])]))
    write(d, "batch-many", batch([result(100 + i, "asset-%d" % (i % 7), phases=ph[:2])
                                  for i in range(40)]))
    write(d, "batch-dns-rcode-neg", batch([result(1, "mx", ok=False, code=-1,
                                                  reason="dns: timeout")]))
    write(d, "batch-utf8", batch([result(2, "caf\u00e9-\u6771\u4eac",
                                         reason="certificate is for \u00e9t\u00e9.example")]))
    write(d, "batch-bad-asset", batch([result(3, b"\xc3\x28")]))
    write(d, "ack-from-agent", ack(5))  # only the collector sends Acks
    write(d, "empty", b"")


def gen_uplink():
    d = out_dir("uplink")
    write(d, "ack", ack(1765000000000123))
    write(d, "hello-reply", ack(1765000000000000, hello_reply=True))
    write(d, "hello-reply-zero", ack(0, hello_reply=True))
    write(d, "ack-too-big", ack(1 << 63))
    write(d, "heartbeat", heartbeat(sent=1765000000100, av=1764999999000,
                                    echo=1764999999950))
    write(d, "heartbeat-hello-required", heartbeat(hello_required=True))
    specs = []
    for a in ASSETS:
        opts = {k: v for k, v in a.items() if k not in (
            "id", "assetType", "name", "address", "intervalSeconds", "timeoutSeconds",
            "expectedStatusCodes", "metadata", "locations", "quorum", "failureThreshold",
            "successThreshold", "incidentIntervalSeconds")}
        specs.append(spec(a["id"], a["assetType"], a["address"], a["intervalSeconds"] * 1000,
                          a["timeoutSeconds"] * 1000, a.get("expectedStatusCodes", ()), opts,
                          phase_ms=1234))
        write(d, "assignment-%s" % a["id"], assignment(1765000000000, specs[-1:]))
    write(d, "assignment-all", assignment(1765000000001, specs))
    write(d, "assignment-empty", assignment(1765000000002, []))
    write(d, "assignment-bad-options", assignment(3, [
        spec("x", "http", "http://h/", options={"method": 5}),
        spec("y", "dns", "n", options={"recordType": "SRV"}),
        spec("z", "ftp", "h:21")]))
    write(d, "hello-from-collector", hello("c"))  # only agents say Hello


def gen_api():
    d = out_dir("api")
    cases = {
        "events": ("/api/assets/api-prod/events", "100", ""),
        "events-utf8": ("/api/assets/\u00e9t\u00e9/events", "5", ""),
        "events-bad-utf8": (b"/api/assets/\xff/events", "1000", ""),
        "incident": ("/api/incidents/42", "", ""),
        "ack": ("/api/incidents/42/ack", "", '{"by": "alice", "note": "looking"}'),
        "ack-empty": ("/api/incidents/7/ack", "", ""),
        "maintenance": ("/api/maintenance", "", json.dumps(
            {"assetIds": ["api-prod", "redis"], "start": "2026-01-01T00:00:00Z",
             "end": "2026-01-01T01:00:00Z", "reason": "upgrade"})),
        "maintenance-all": ("/api/maintenance", "", json.dumps(
            {"assetIds": "all", "end": "2026-02-01T01:00:00+02:00"})),
        "maintenance-one": ("/api/maintenance/12", "", ""),
        "page": ("/", "", ""),
        "metrics": ("/metrics", "", ""),
        "health": ("/api/health", "", ""),
        "assets": ("/api/assets", "", ""),
        "agents": ("/api/agents", "", ""),
        "incidents": ("/api/incidents", "", ""),
        "unknown": ("/api/nothing/here", "0", '{"by": 1}'),
    }
    for name, (path, limit, body) in cases.items():
        p = path if isinstance(path, bytes) else path.encode()
        write(d, name, p + b"\n" + limit.encode() + b"\n" + body.encode())


def gen_dns():
    d = out_dir("dns")
    qid = 0x1234
    for name, qtype in [("a.test", 1), ("host.test", 28), ("alias.test", 1),
                        ("alias.test", 5), ("mx.test", 15), ("txt.test", 16), ("ns.test", 2),
                        ("soa.test", 6), ("1.0.0.10.in-addr.arpa", 12), ("nothing.test", 1),
                        ("servfail.test", 1), ("refused.test", 1)]:
        q = struct.pack(">HHHHHH", qid, 0x0100, 1, 0, 0, 0) + dns_server.enc_name(name) + \
            struct.pack(">HH", qtype, 1)
        r = dns_server.answer(q, True)
        write(d, "%s-%d" % (name, qtype), r)
    big = struct.pack(">HHHHHH", qid, 0x0100, 1, 0, 0, 0) + dns_server.enc_name("big.test") + \
        struct.pack(">HH", 16, 1)
    write(d, "big.test-tcp", dns_server.answer(big, True))
    # name compression: answers point back at the question's name (offset 12)
    q = dns_server.enc_name("c.test") + struct.pack(">HH", 1, 1)
    rrs = b"".join(b"\xc0\x0c" + struct.pack(">HHIH", t, 1, 60, len(rd)) + rd for t, rd in [
        (1, bytes([10, 0, 0, 1])), (5, b"\x05alias\xc0\x0c"),
        (15, b"\x00\x0a\x04mail\xc0\x0c"),
        (6, b"\x03ns1\xc0\x0c\x0ahostmaster\xc0\x0c" + struct.pack(">IIIII", 1, 2, 3, 4, 5))])
    write(d, "compressed", struct.pack(">HHHHHH", qid, 0x8180, 1, 4, 0, 0) + q + rrs)
    write(d, "loop-pointer", struct.pack(">HHHHHH", qid, 0x8180, 1, 1, 0, 0) + b"\xc0\x0c" +
          struct.pack(">HH", 1, 1) + b"\xc0\x0c" + struct.pack(">HHIH", 1, 1, 60, 4) +
          bytes(4))
    write(d, "header-only", struct.pack(">HHHHHH", qid, 0x8183, 0, 0, 0, 0))


def gen_tcp_expect():
    d = out_dir("tcp_expect")
    cases = {
        "redis": (b"+PONG", b"+PONG\r\n"),
        "smtp": (b"220 ", b"220 mail.example.org ESMTP ready\r\n"),
        "miss": (b"SSH-2.0", b"HTTP/1.1 400 Bad Request\r\n\r\n"),
        "controls": (b"\"quoted\"\\\r\n\x01\x7f", b"\x00\x01\"quoted\"\\\r\n\x01\x7f"),
        "utf8": ("caf\u00e9 \u6771\u4eac \U0001f600".encode(), "\u6771\u4eac".encode()),
        "long": (b"x" * 120, b"x" * 200),
        "empty-expect": (b"", b"anything"),
    }
    for name, (expect, reply) in cases.items():
        write(d, name, expect + b"\0" + reply)


def gen_tls_name():
    d = out_dir("tls_name")
    certs = {
        "san-dns": ("/CN=www.example.com", "subjectAltName=DNS:www.example.com,DNS:example.com",
                    "www.example.com"),
        "wildcard": ("/CN=example.org", "subjectAltName=DNS:*.example.org", "a.example.org"),
        "san-ip": ("/CN=10.0.0.1", "subjectAltName=IP:10.0.0.1,IP:::1", "10.0.0.1"),
        "cn-only": ("/CN=cn.example.net", None, "cn.example.net"),
        "cn-utf8": ("/CN=\u00e9t\u00e9.example/O=Caf\u00e9", None, "xn--t-9fa.example"),
        "mismatch": ("/CN=other.example", "subjectAltName=DNS:other.example", "www.example.com"),
        "no-names": ("/O=Nameless", None, "::1"),
    }
    with tempfile.TemporaryDirectory() as tmp:
        key = os.path.join(tmp, "k.pem")
        subprocess.run(["openssl", "ecparam", "-name", "prime256v1", "-genkey", "-noout",
                        "-out", key], check=True, capture_output=True)
        for name, (subj, ext, host) in certs.items():
            der = os.path.join(tmp, name + ".der")
            cmd = ["openssl", "req", "-x509", "-new", "-key", key, "-utf8", "-subj", subj,
                   "-days", "30", "-outform", "DER", "-out", der]
            if ext:
                cmd += ["-addext", ext]
            subprocess.run(cmd, check=True, capture_output=True)
            with open(der, "rb") as f:
                h = host.encode()
                write(d, name, bytes([len(h)]) + h + f.read())


# --- the agent's spool records (agent/spool_rec.h) -----------------------------------------

def crc32c(data, crc=0):
    crc ^= 0xFFFFFFFF
    for b in data:
        crc ^= b
        for _ in range(8):
            crc = (crc >> 1) ^ 0x82F63B78 if crc & 1 else crc >> 1
    return crc ^ 0xFFFFFFFF


def spool_payload(asset, started=1765000000123, ok=True, latency=1234, code=200, reason="",
                  phases=(), expiry=0):
    a, r = asset.encode(), reason.encode()
    out = struct.pack("<BBBBqIiq", 1, 1 if ok else 0, len(phases), 0, started, latency, code,
                      expiry)
    out += struct.pack("<H", len(a)) + a + struct.pack("<H", len(r)) + r
    for name, us in phases:
        n = name.encode()
        out += struct.pack("<B", len(n)) + n + struct.pack("<I", us)
    return out


def spool_record(seq, payload):
    head = struct.pack("<IQ", len(payload), seq)
    return b"SDR1" + head + struct.pack("<I", crc32c(payload, crc32c(head))) + payload


def gen_spool():
    d = out_dir("spool")
    http = [("connect", 120), ("tls", 2300), ("processing", 15000), ("transfer", 40)]
    pls = [spool_payload("api-prod", phases=http, expiry=1800000000),
           spool_payload("db", ok=False, code=-1, reason="connect: connection refused",
                         phases=[("connect", 80)]),
           spool_payload("mx", code=3, reason="rcode NXDOMAIN not in [NOERROR]",
                         phases=[("dns", 4000)]),
           spool_payload("gw", reason="", phases=[("rtt", 900)]),
           spool_payload("caf\u00e9", ok=False, code=503,
                         reason="status 503 not in [200] \u2026", phases=http[:2])]
    recs = [spool_record(1765000000000001 + i, p) for i, p in enumerate(pls)]
    seg = b"".join(recs)
    write(d, "segment", seg)
    write(d, "one-record", recs[0])
    write(d, "torn-tail", seg[:-7])
    write(d, "header-only", seg + recs[1][:20])
    mid = len(recs[0]) + 30
    write(d, "flipped-middle", seg[:mid] + bytes([seg[mid] ^ 0xFF]) + seg[mid + 1:])
    write(d, "garbage-between", recs[0] + b"SDR1SDR1\0\0garbage" + recs[1])
    for i, p in enumerate(pls):
        write(d, "payload-%d" % i, p)


def main():
    gen_config()
    gen_wire()
    gen_uplink()
    gen_api()
    gen_dns()
    gen_tcp_expect()
    gen_tls_name()
    gen_spool()
    for name in sorted(os.listdir(os.path.join(HERE, "corpus"))):
        n = len(os.listdir(os.path.join(HERE, "corpus", name)))
        print("corpus/%s: %d files" % (name, n))


if __name__ == "__main__":
    main()
