#!/usr/bin/python3
"""Differential test: statusd-agent and Prometheus blackbox_exporter give the same verdict.

Every target is local: Debian's nginx (plain HTTP and four HTTPS servers: a certificate of the
test's CA, a self-signed one, an expired one, one for another host name), small servers of
the test's own (a reply slower than the timeout, a TCP banner), tests/lib/dns_server.py
(NXDOMAIN, SERVFAIL, a wrong answer, CNAME chains) and ICMP addresses. The whole test runs in
a network namespace of its own (it re-executes itself under `unshare --net`), where it adds a
veth link with a neighbour that never answers ARP (198.51.100.2, a dead host) and a blackhole
route (192.0.2.0/24): both probers see the same network, and nothing leaks to the host's.

One real collector (with PostgreSQL) and one real agent probe every case from one manifest;
blackbox_exporter (Debian's prometheus-blackbox-exporter) gets one module per case with
equivalent settings and is asked /probe?module=CASE&target=... . The test asserts the two
success verdicts, prints a table (case | agent | blackbox | note) and fails naming every case
where a prober's verdict is not the expected one. Where the two differ by design, the case
says why and the designed difference is what is asserted.
"""
import json
import os
import re
import shutil
import subprocess
import sys
import threading
import time
import urllib.parse

NETNS_ENV = "STATUSD_BBE_IN_NETNS"

if __name__ == "__main__" and os.environ.get(NETNS_ENV) != "1":
    # A private network namespace: ICMP to a dead host and a blackhole route without touching
    # the host's network, and every port is free. unshare keeps the pid (it execs in place).
    if os.geteuid() != 0 or not shutil.which("unshare"):
        print("FAIL: this test needs root and unshare(1) to make its own network namespace")
        sys.exit(1)
    os.environ[NETNS_ENV] = "1"
    sys.stdout.flush()
    os.execvp("unshare", ["unshare", "--net", "--", sys.executable,
                          os.path.abspath(__file__)] + sys.argv[1:])

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from harness import (check, free_port, http_get, http_get_json, log, measure,  # noqa: E402
                     run_test, wait_for)
from targets import certs  # noqa: E402
from targets.nginx import Nginx  # noqa: E402
from targets.servers import Banner, DnsServer, SlowHttp  # noqa: E402

BLACKBOX_BIN = "/usr/bin/prometheus-blackbox-exporter"
DEAD_VETH = "198.51.100.2"    # on-link neighbour that never answers ARP
LIVE_VETH = "198.51.100.1"    # our own end of the veth link
BLACKHOLE = "192.0.2.1"       # TEST-NET-1, routed to a blackhole
INTERVAL = 4                  # agent interval (s); every case runs at least once in it


def sh(*argv):
    r = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    if r.returncode != 0:
        raise AssertionError("%s: %s" % (" ".join(argv), r.stdout.decode(errors="replace")))


def setup_netns():
    sh("ip", "link", "set", "lo", "up")
    sh("ip", "link", "add", "sdbb0", "type", "veth", "peer", "name", "sdbb1")
    sh("ip", "addr", "add", LIVE_VETH + "/24", "dev", "sdbb0")
    sh("ip", "link", "set", "sdbb0", "up")
    sh("ip", "link", "set", "sdbb1", "up")
    sh("ip", "route", "add", "blackhole", "192.0.2.0/24")
    log("network namespace: lo up, veth %s/24 (dead neighbour %s), blackhole 192.0.2.0/24"
        % (LIVE_VETH, DEAD_VETH))


# --- the cases ------------------------------------------------------------------------------

class Case:
    """One target probed by both. agent: the asset's type-specific manifest fields (plus
    assetType/address/timeoutSeconds); bb: (prober, module settings, target). expect: the
    verdicts (agent, blackbox); differ: why they differ by design (None: they must agree)."""

    def __init__(self, name, agent, bb, expect, differ=None):
        self.name, self.agent, self.bb, self.differ = name, agent, bb, differ
        self.expect = expect if isinstance(expect, tuple) else (expect, expect)
        self.got_agent = self.got_bb = None
        self.agent_msg = self.bb_msg = ""


def build_cases(ng, pki, slow, banner, dns, closed_port):
    ip4 = {"preferred_ip_protocol": "ip4", "ip_protocol_fallback": False}
    tls_ca = {"ca_file": pki["ca"]}
    tls_skip = {"ca_file": pki["ca"], "insecure_skip_verify": True}
    cases = []

    def http(name, url, expect, agent_opts=None, bb_opts=None, timeout=3, differ=None):
        a = {"assetType": "http", "address": url, "timeoutSeconds": timeout}
        a.update(agent_opts or {})
        m = dict(ip4)
        if url.startswith("https:"):
            m["tls_config"] = tls_ca
        m.update(bb_opts or {})
        cases.append(Case(name, a, ("http", m, url, timeout), expect, differ))

    u = ng.url
    http("http-200", u("/200"), True)
    http("http-204-no-content", u("/204"), True)
    http("http-301-followed", u("/301"), True)
    http("http-301-not-followed-expect-301", u("/301"), True,
         {"followRedirects": False, "expectedStatusCodes": [301]},
         {"follow_redirects": False, "valid_status_codes": [301]})
    http("http-301-not-followed-default", u("/301"), (True, False),
         {"followRedirects": False}, {"follow_redirects": False},
         differ="no expectedStatusCodes: StatusD counts any status < 400 as up (the seed's "
                "rule); blackbox_exporter's default is 2xx only")
    http("http-301-followed-to-404", u("/301to404"), False)
    http("http-404", u("/404"), False)
    http("http-404-expected", u("/404"), True, {"expectedStatusCodes": [404]},
         {"valid_status_codes": [404]})
    http("http-500", u("/500"), False)
    http("http-redirect-loop", u("/loop"), False, {"maxRedirects": 10})
    http("http-slower-than-timeout", "http://127.0.0.1:%d/slow" % slow.port, False, timeout=1)
    http("http-connection-refused", "http://127.0.0.1:%d/" % closed_port, False)
    http("http-head", u("/200"), True, {"method": "HEAD"}, {"method": "HEAD"})
    http("http-post", u("/200"), True, {"method": "POST", "body": "ping=1"},
         {"method": "POST", "body": "ping=1"})
    http("http-body-contains", u("/200"), True, {"bodyContains": "healthy"},
         {"fail_if_body_not_matches_regexp": ["healthy"]})
    http("http-body-contains-mismatch", u("/200"), False, {"bodyContains": "unicorn"},
         {"fail_if_body_not_matches_regexp": ["unicorn"]})
    http("http-body-not-contains-present", u("/200"), False, {"bodyNotContains": "healthy"},
         {"fail_if_body_matches_regexp": ["healthy"]})
    http("http-body-regex", u("/200"), True, {"bodyRegex": "version=[0-9]+\\.[0-9]+"},
         {"fail_if_body_not_matches_regexp": ["version=[0-9]+\\.[0-9]+"]})
    http("http-body-regex-mismatch", u("/200"), False,
         {"bodyRegex": "version=[0-9]+\\.[0-9]+\\.[0-9]+"},
         {"fail_if_body_not_matches_regexp": ["version=[0-9]+\\.[0-9]+\\.[0-9]+"]})
    http("http-body-not-regex", u("/200"), False, {"bodyNotRegex": "status [a-z]+"},
         {"fail_if_body_matches_regexp": ["status [a-z]+"]})
    for cert in ("valid", "selfsigned", "expired", "wronghost"):
        url = u("/200", tls=cert, host="localhost")
        http("https-%s-verify" % cert, url, cert == "valid")
        http("https-%s-no-verify" % cert, url, True, {"tlsVerify": False},
             {"tls_config": tls_skip})

    def tcp(name, addr, expect, agent_opts=None, bb_opts=None, atype="tcp", differ=None):
        a = {"assetType": atype, "address": addr, "timeoutSeconds": 3}
        a.update(agent_opts or {})
        m = dict(ip4)
        m.update(bb_opts or {})
        cases.append(Case(name, a, ("tcp", m, addr, 3), expect, differ))

    tcp("tcp-open", "127.0.0.1:%d" % ng.http_port, True)
    tcp("tcp-closed", "127.0.0.1:%d" % closed_port, False)
    tcp("tcp-banner-expect", "127.0.0.1:%d" % banner.port, True, {"expect": "220"},
        {"query_response": [{"expect": "220"}]})
    tcp("tcp-banner-mismatch", "127.0.0.1:%d" % banner.port, False, {"expect": "250"},
        {"query_response": [{"expect": "250"}]})
    tcp("tcp-send-expect", "127.0.0.1:%d" % banner.port, True,
        {"send": "PING\r\n", "expect": "+PONG"},
        {"query_response": [{"send": "PING"}, {"expect": "\\+PONG"}]})
    for cert, ok in (("valid", True), ("selfsigned", False)):
        tcp("tcp-tls-%s" % cert, "localhost:%d" % ng.tls_ports[cert], ok, {"tls": True},
            {"tls": True, "tls_config": tls_ca})
    for cert, ok in (("valid", True), ("expired", False), ("wronghost", False),
                     ("selfsigned", False)):
        tcp("tls-%s" % cert, "localhost:%d" % ng.tls_ports[cert], ok, None,
            {"tls": True, "tls_config": tls_ca}, atype="tls")
    tcp("tls-expires-in-5-days", "localhost:%d" % ng.tls_ports["near"], (False, True),
        {"minDaysValid": 14}, {"tls": True, "tls_config": tls_ca}, atype="tls",
        differ="StatusD's tls probe fails under minDaysValid; blackbox_exporter only "
               "exports probe_ssl_earliest_cert_expiry and leaves the threshold to an alert rule")

    server = "127.0.0.1:%d" % dns.port

    def dnsc(name, qname, expect, qtype="A", rcodes=None, contains=None):
        a = {"assetType": "dns", "address": qname, "timeoutSeconds": 3, "server": server,
             "recordType": qtype}
        m = dict(ip4, query_name=qname, query_type=qtype, transport_protocol="udp")
        if rcodes:
            a["validRcodes"] = rcodes
            m["valid_rcodes"] = rcodes
        if contains:
            a["answerContains"] = contains
            m["validate_answer_rrs"] = {"fail_if_none_matches_regexp": [re.escape(contains)]}
        cases.append(Case(name, a, ("dns", m, server, 3), expect))

    dnsc("dns-a", "a.test", True, contains="10.0.0.1")
    dnsc("dns-nxdomain", "nope.test", False)
    dnsc("dns-nxdomain-expected", "nope.test", True, rcodes=["NXDOMAIN"])
    dnsc("dns-servfail", "servfail.test", False)
    dnsc("dns-wrong-answer", "wrong.test", False, contains="10.0.0.1")
    dnsc("dns-cname-chain-a", "alias.test", True, contains="10.0.0.1")
    dnsc("dns-cname-chain-link", "alias.test", True, contains="alias2.test")
    dnsc("dns-mx", "mx.test", True, qtype="MX", contains="mail.test")

    def icmp(name, addr, expect):
        a = {"assetType": "icmp", "address": addr, "timeoutSeconds": 2, "count": 1}
        cases.append(Case(name, a, ("icmp", dict(ip4), addr, 2), expect))

    icmp("icmp-loopback-live", "127.0.0.1", True)
    icmp("icmp-veth-live", LIVE_VETH, True)
    icmp("icmp-veth-dead-host", DEAD_VETH, False)
    icmp("icmp-blackhole-route", BLACKHOLE, False)
    return cases


# --- blackbox_exporter ----------------------------------------------------------------------

def blackbox_config(cases):
    mods = {}
    for c in cases:
        prober, settings, _, timeout = c.bb
        mods[c.name] = {"prober": prober, "timeout": "%ds" % timeout, prober: settings}
    return {"modules": mods}   # JSON is YAML


def blackbox_probe(url, case):
    _, _, target, timeout = case.bb
    q = urllib.parse.urlencode({"module": case.name, "target": target, "debug": "true"})
    status, body = http_get("%s/probe?%s" % (url, q), timeout=timeout + 10)
    if status != 200:
        raise AssertionError("blackbox /probe for %s -> %d: %s" % (case.name, status, body))
    m = re.search(r"^probe_success (\d)", body, re.M)
    if not m:
        raise AssertionError("no probe_success for %s in: %s" % (case.name, body[:2000]))
    case.got_bb = m.group(1) == "1"
    # its reason: the first error line of the probe's log other than the final "Probe failed"
    for line in body.split("\n\n\n", 1)[0].splitlines():
        if "level=error" in line and 'msg="Probe failed"' not in line:
            msg = re.search(r'msg="((?:[^"\\]|\\.)*)"', line)
            err = re.search(r'err="((?:[^"\\]|\\.)*)"', line)
            case.bb_msg = ": ".join(m.group(1).replace('\\"', '"') for m in (msg, err) if m)
            break


# --- the test -------------------------------------------------------------------------------

def main(env):
    setup_netns()
    if not os.access(BLACKBOX_BIN, os.X_OK):
        raise AssertionError("%s not found: install prometheus-blackbox-exporter" % BLACKBOX_BIN)
    t0 = time.monotonic()
    pki = certs.make_pki(env.path("pki"))
    ng = Nginx(env.path("nginx"), tls={k: pki[k] for k in ("valid", "selfsigned", "expired",
                                                           "wronghost", "near")})
    ng.start(env)
    slow = SlowHttp(2.5).start()
    banner = Banner().start()
    dns = DnsServer().start()
    env.servers.extend([slow, banner, dns])
    closed_port = free_port()   # nothing listens there: connection refused
    cases = build_cases(ng, pki, slow, banner, dns, closed_port)
    names = [c.name for c in cases]
    check(len(set(names)) == len(names) and len(cases) >= 25,
          "%d distinct cases (at least 25)" % len(cases))
    measure("targets up (PKI, nginx, slow, banner, DNS)", time.monotonic() - t0)

    # blackbox_exporter: one module per case
    cfg = env.write_json("blackbox.yml", blackbox_config(cases))
    r = subprocess.run([BLACKBOX_BIN, "--config.file=" + cfg, "--config.check"],
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    if r.returncode != 0:
        raise AssertionError("blackbox.yml rejected: %s" % r.stdout.decode(errors="replace"))
    bb_port = free_port()
    bb = env.proc("blackbox", [BLACKBOX_BIN, "--config.file=" + cfg,
                               "--web.listen-address=127.0.0.1:%d" % bb_port,
                               "--log.level=warn"]).start()
    bb_url = "http://127.0.0.1:%d" % bb_port
    wait_for(lambda: http_get(bb_url + "/-/healthy", 1.0)[0] == 200, 15,
             "blackbox_exporter to answer /-/healthy", procs=[bb])

    # the agent: one collector, one agent, every case an asset; the test CA via SSL_CERT_FILE
    os.environ["SSL_CERT_FILE"] = pki["ca"]
    assets = []
    for c in cases:
        a = {"id": c.name, "name": c.name, "intervalSeconds": INTERVAL,
             "failureThreshold": 1}
        a.update(c.agent)
        assets.append(a)
    pg = env.start_pg()
    col = env.start_collector(pg, {"assets": assets},
                              {"notifiers": {}, "notificationPolicy": {"onDown": [],
                                                                       "onRecovery": []}})
    agent = env.start_agent(col, "bbe-agent", "local")

    # blackbox meanwhile, all cases in parallel (they are independent /probe requests)
    t1 = time.monotonic()
    errors = []

    def bbrun(c):
        try:
            blackbox_probe(bb_url, c)
        except Exception as e:  # noqa: BLE001 - reported below
            errors.append("%s: %s" % (c.name, e))
    threads = [threading.Thread(target=bbrun, args=(c,)) for c in cases]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    if errors:
        raise AssertionError("blackbox_exporter: " + "; ".join(errors))
    measure("blackbox_exporter: %d probes" % len(cases), time.monotonic() - t1)

    def agent_results():
        got = {}
        for a in http_get_json(col.api + "/api/assets"):
            for res in a.get("results") or []:
                got[a["id"]] = res
        return got if len(got) == len(cases) else None
    got = wait_for(agent_results, INTERVAL * 3 + 10, "a result of every case from the agent",
                   interval=0.25, procs=[col, agent])
    measure("agent: first result of all %d cases" % len(cases), time.monotonic() - t1)
    flaky = []
    for c in cases:
        c.got_agent = bool(got[c.name]["success"])
        c.agent_msg = got[c.name].get("message") or ""
        evs = http_get_json("%s/api/assets/%s/events?limit=10" % (col.api, c.name))
        seen = {bool(e["success"]) for e in evs}
        if len(seen) > 1:
            flaky.append("%s: agent results disagree with each other: %s"
                         % (c.name, [(e["success"], e["message"]) for e in evs]))

    # the table, then the verdict
    w = max(len(c.name) for c in cases)
    print("\n%-*s | agent | blackbox | note" % (w, "case"))
    print("%s-+-------+----------+-----" % ("-" * w))
    bad = list(flaky)
    for c in cases:
        ok = (c.got_agent, c.got_bb) == c.expect
        note = []
        if c.differ:
            note.append("differs by design: " + c.differ)
        if not ok:
            note.append("EXPECTED agent=%s blackbox=%s" % c.expect)
            bad.append("%s: expected agent=%s blackbox=%s, got agent=%s (%s) blackbox=%s (%s)"
                       % (c.name, c.expect[0], c.expect[1], c.got_agent, c.agent_msg,
                          c.got_bb, c.bb_msg))
        if c.agent_msg:
            note.append("agent: " + c.agent_msg)
        if c.bb_msg and not c.got_bb:
            note.append("blackbox: " + c.bb_msg[:100])
        print("%-*s | %-5s | %-8s | %s" % (w, c.name, "up" if c.got_agent else "DOWN",
                                          "up" if c.got_bb else "DOWN", "; ".join(note)))
    agree = sum(1 for c in cases if c.got_agent == c.got_bb)
    print("\n%d cases: %d agree, %d differ by design, %d wrong\n"
          % (len(cases), agree, sum(1 for c in cases if c.differ), len(bad)))
    if bad:
        raise AssertionError("verdicts not as expected:\n  " + "\n  ".join(bad))
    # the comparison can fail: both probers saw real successes and real failures
    check(any(c.got_agent for c in cases) and any(not c.got_agent for c in cases)
          and any(c.got_bb for c in cases) and any(not c.got_bb for c in cases),
          "both probers reported successes and failures")


if __name__ == "__main__":
    run_test(main)
