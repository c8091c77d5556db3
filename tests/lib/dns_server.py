#!/usr/bin/python3
"""A small authoritative DNS server for the tests (stdlib only), UDP and TCP on one port of
127.0.0.1 (or --v6: ::1). Prints "PORT <n>" on stdout once both listen, then serves until
SIGTERM or stdin closes. Zone (all under .test):

  a.test            A 10.0.0.1
  host.test         A 127.0.0.1, AAAA ::1        (probes connect to local servers by name)
  v6.test           AAAA ::1
  alias.test        CNAME alias2.test -> CNAME a.test -> A 10.0.0.1 (chain in the answer)
  mx.test           MX 10 mail.test
  txt.test          TXT "v=spf1 -all"
  ns.test           NS ns1.test
  soa.test          SOA ns1.test hostmaster.test 2024010101 3600 600 86400 60
  1.0.0.10.in-addr.arpa  PTR a.test
  wrong.test        A 10.9.9.9
  servfail.test     SERVFAIL;  refused.test  REFUSED
  big.test          UDP: truncated (TC, no answer); TCP: TXT "via-tcp" + 40 TXT records
  tcponly.test      UDP: no reply at all; TCP: A 10.0.0.2
  silent.test       no reply on UDP or TCP
  anything else     NXDOMAIN
Every query is counted; "STATS" on stdin prints "udp=N tcp=M".
"""
import socket
import struct
import sys
import threading

A, NS, CNAME, SOA, PTR, MX, TXT, AAAA = 1, 2, 5, 6, 12, 15, 16, 28
COUNTS = {"udp": 0, "tcp": 0}
LOCK = threading.Lock()


def enc_name(name):
    out = b""
    for label in name.rstrip(".").split("."):
        if label:
            out += bytes([len(label)]) + label.encode()
    return out + b"\0"


def rr(name, rtype, rdata, ttl=300):
    return enc_name(name) + struct.pack(">HHIH", rtype, 1, ttl, len(rdata)) + rdata


def ip4(s):
    return socket.inet_pton(socket.AF_INET, s)


def ip6(s):
    return socket.inet_pton(socket.AF_INET6, s)


def txt(*strings):
    return b"".join(bytes([len(s)]) + s.encode() for s in strings)


ZONE = {
    ("a.test", A): [ip4("10.0.0.1")],
    ("host.test", A): [ip4("127.0.0.1")],
    ("host.test", AAAA): [ip6("::1")],
    ("v6.test", AAAA): [ip6("::1")],
    ("mx.test", MX): [struct.pack(">H", 10) + enc_name("mail.test")],
    ("txt.test", TXT): [txt("v=spf1 -all")],
    ("ns.test", NS): [enc_name("ns1.test")],
    ("soa.test", SOA): [enc_name("ns1.test") + enc_name("hostmaster.test") +
                        struct.pack(">IIIII", 2024010101, 3600, 600, 86400, 60)],
    ("1.0.0.10.in-addr.arpa", PTR): [enc_name("a.test")],
    ("wrong.test", A): [ip4("10.9.9.9")],
}
CNAMES = {"alias.test": "alias2.test", "alias2.test": "a.test"}
NAMES = {n for (n, _) in ZONE} | set(CNAMES) | {"big.test", "tcponly.test"}


def parse_question(q):
    if len(q) < 12:
        return None
    qid, flags, qd = struct.unpack(">HHH", q[:6])
    if qd != 1:
        return None
    i, labels = 12, []
    while i < len(q) and q[i]:
        n = q[i]
        labels.append(q[i + 1:i + 1 + n].decode("ascii", "replace").lower())
        i += 1 + n
    if i + 5 > len(q):
        return None
    qtype, = struct.unpack(">H", q[i + 1:i + 3])
    return qid, flags, ".".join(labels), qtype, q[12:i + 5]


def answer(q, tcp):
    p = parse_question(q)
    if not p:
        return None
    qid, flags, name, qtype, question = p
    if name == "silent.test" or (name == "tcponly.test" and not tcp):
        return None
    rcode, tc, answers = 0, 0, []
    if name == "servfail.test":
        rcode = 2
    elif name == "refused.test":
        rcode = 5
    elif name == "big.test" and qtype == TXT:
        if tcp:
            answers = [rr(name, TXT, txt("via-tcp"))] + [
                rr(name, TXT, txt("filler record number %02d " % i + "x" * 40)) for i in range(40)]
        else:
            tc = 1
    elif name == "tcponly.test" and qtype == A:
        answers = [rr(name, A, ip4("10.0.0.2"))]
    else:
        cur = name
        for _ in range(8):
            if cur in CNAMES and qtype != CNAME:
                answers.append(rr(cur, CNAME, enc_name(CNAMES[cur])))
                cur = CNAMES[cur]
                continue
            if cur in CNAMES and qtype == CNAME:
                answers.append(rr(cur, CNAME, enc_name(CNAMES[cur])))
            break
        answers += [rr(cur, qtype, d) for d in ZONE.get((cur, qtype), [])]
        if not answers and name not in NAMES:
            rcode = 3
    rflags = 0x8000 | 0x0400 | (tc << 9) | (flags & 0x0100) | rcode
    return struct.pack(">HHHHHH", qid, rflags, 1, len(answers), 0, 0) + question + b"".join(answers)


def serve_udp(sock):
    while True:
        q, peer = sock.recvfrom(4096)
        with LOCK:
            COUNTS["udp"] += 1
        r = answer(q, False)
        if r is not None:
            sock.sendto(r, peer)


def recv_exact(c, n):
    b = b""
    while len(b) < n:
        chunk = c.recv(n - len(b))
        if not chunk:
            return None
        b += chunk
    return b


def serve_tcp_conn(c):
    held = False
    try:
        while True:
            h = recv_exact(c, 2)
            if not h:
                return
            q = recv_exact(c, struct.unpack(">H", h)[0])
            if q is None:
                return
            with LOCK:
                COUNTS["tcp"] += 1
            r = answer(q, True)
            if r is None:
                held = True
                continue  # silent: keep the connection open, never answer
            c.sendall(struct.pack(">H", len(r)) + r)
    except OSError:
        pass
    finally:
        if not held:
            c.close()


def serve_tcp(sock):
    while True:
        c, _ = sock.accept()
        threading.Thread(target=serve_tcp_conn, args=(c,), daemon=True).start()


def main():
    fam, host = (socket.AF_INET6, "::1") if "--v6" in sys.argv else (socket.AF_INET, "127.0.0.1")
    for _ in range(50):
        u = socket.socket(fam, socket.SOCK_DGRAM)
        u.bind((host, 0))
        port = u.getsockname()[1]
        t = socket.socket(fam, socket.SOCK_STREAM)
        t.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            t.bind((host, port))
            break
        except OSError:
            u.close()
            t.close()
    t.listen(64)
    threading.Thread(target=serve_udp, args=(u,), daemon=True).start()
    threading.Thread(target=serve_tcp, args=(t,), daemon=True).start()
    print("PORT %d" % port, flush=True)
    for line in sys.stdin:
        if line.strip() == "STATS":
            with LOCK:
                print("udp=%d tcp=%d" % (COUNTS["udp"], COUNTS["tcp"]), flush=True)
    # stdin closed: the test is done


if __name__ == "__main__":
    main()
