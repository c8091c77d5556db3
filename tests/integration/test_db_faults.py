"""Fault matrix: after each fault below, a NEW outage still pages exactly once.

One real PostgreSQL, one collector, two agents (regions eu and us, loopback), a fake Slack
receiver (tests/lib/fake_webhook.py) and one HTTP target per scenario, so each scenario's
incidents and messages are its own. Intervals 2 s, timeout 1 s, failureThreshold 2,
successThreshold 1, heartbeats 1 s, throttleSeconds 0, flapping.recoveryHoldSeconds 2.

The promise checked after every fault ("outage check"): the scenario's target answers 500
-> exactly one new incident and exactly one DOWN delivered within failureThreshold x
incident interval + 5 s = 2 x 2 + 5 = 9 s (incidentIntervalSeconds defaults to a quarter of
the interval, at least 5 s, never above the interval: 2 s here), its started_at within one
interval of the moment the target broke; the target answers 200 again -> the incident closes
and exactly one RECOVERY is delivered within successThreshold x interval + 5 s + the 2 s
recovery hold + the engine's 1 s tick = 10 s; and per agent the stored probe_events seq values
are first_seq..max with no duplicate and no gap.

  base  no fault: the outage check alone (proves the check can pass)
  a     PostgreSQL stopped with -m fast for 10 s, started: /api/health 503 while down, 200
        after; then the outage check
  b1    the same with -m immediate
  b2    the postmaster SIGKILLed (pid from postmaster.pid), its backends too, 10 s, started
  d     an incident is open; PostgreSQL restarted (-m fast, started at once): the same
        incident closes on recovery with one RECOVERY, no second DOWN
  e     the target breaks while PostgreSQL is down (10 s): once it is back the incident
        opens with started_at = the first failing probe (within one interval of the break)
        and exactly one DOWN goes out
  f1    the webhook answers 500, then 429 with Retry-After: 2, then 200: one DOWN
        delivered (3 requests, 1 successful; the Retry-After respected), one RECOVERY
  f2    the webhook answers 403 with a body that is not UTF-8: exactly one POST for that
        DOWN row, which ends 'dead' (SQL); the RECOVERY is still delivered once
  f3    the webhook hangs on the DOWN (the collector's 15 s client timeout): retried and
        delivered once later; one RECOVERY
  g     hostile text, four assets broken at once: bodyContains of 59 x "a" + "e-acute"
        (the reason's 60-byte cut splits the character), a redirect whose Location holds
        raw non-UTF-8 bytes, an asset named with 2,000 characters of multi-byte text, and a
        tls asset whose certificate SAN holds invalid UTF-8: each opens one incident and
        pages once, recovers with one RECOVERY; /metrics passes `promtool check metrics`
  final every asset's totals (one DOWN, one RECOVERY each; f2: its DOWN dead), no pending
        outbox row, no webhook request that is not JSON, /metrics through promtool, agents
        stopped with SIGTERM: per agent the stored seqs are exactly first_seq..max and
        cover everything the agent no longer held (its shutdown stats line)

A scenario that fails is reported (what was expected, what was seen, the collector's
warnings and errors during it), then the collector is restarted ("repair") so the next
scenario gets a fair run; the summary lists every scenario PASS/FAIL and the test fails if
any did. STATUSD_FAULTS=a,b1,... runs only those scenarios (base, final always run).
The 5-minute outage (c) is tests/integration/test_db_outage_long.py, which imports this file.
"""
import json
import os
import re
import select
import socket
import ssl
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from harness import (SLOW, WaitTimeout, check, free_port, http_get, log,  # noqa: E402
                     measure, run_test, wait_for)
from targets.certs import make_pki  # noqa: E402

INTERVAL = 2
TIMEOUT = 1
FAIL_T = 2
SUCC_T = 1
HB_MS = 1000
HOLD_S = 2              # flapping.recoveryHoldSeconds (set explicitly)
TICK_S = 1              # the engine judges held incidents once a second
DB_DOWN_S = 10
# incidentIntervalSeconds default: a quarter of the interval, >= 5 s, <= the interval
FAST_IV = min(INTERVAL, max(5, INTERVAL // 4))
DOWN_BOUND = FAIL_T * FAST_IV + 5.0                       # 9 s
UP_BOUND = SUCC_T * INTERVAL + 5.0 + HOLD_S + TICK_S      # 10 s
# A recovery also waits while the asset is restless (percent state change over the last 20
# check rounds >= flapping.lowThreshold, 25 % by default): state changes caused by a
# database outage (UP -> UNKNOWN -> UP, the backlog replayed) count too. That wait is
# bounded by the 20-round window; a recovery whose incident timeline shows such a hold
# may take that much longer.
RESTLESS_S = 20 * INTERVAL
GRACE = 10.0            # waits run this much past a bound, so a late event is measured
CLIENT_TIMEOUT_S = 15   # the notifier's total timeout per delivery (collector/notifier.c)
# the whole file must end before ctest's 600 s TIMEOUT even when scenarios fail
BUDGET_S = 540

ASSETS = [
    # id, name
    ("base", "Baseline target"),
    ("fault-a", "Target after pg fast stop"),
    ("fault-b1", "Target after pg immediate stop"),
    ("fault-b2", "Target after postmaster SIGKILL"),
    ("fault-d", "Target open across a pg restart"),
    ("fault-e", "Target broken while pg is down"),
    ("hook-500-429", "Target paged through 500 and 429"),
    ("hook-403", "Target paged into a 403"),
    ("hook-timeout", "Target paged into a hanging webhook"),
]
SPLIT_NEEDLE = "a" * 59 + "\u00e9"                       # the cut at 60 bytes splits the é
LONG_NAME = ("\u00e9\u65e5\U0001f600\u0416" * 500)[:2000]  # 2, 3, 4, 2 bytes per character
RAW_LOCATION = "ftp://h\xff\xfe\xc3.example/\xe2\x82"    # sent as these raw bytes (Latin-1)
BAD_SAN = b"bad\xff\xfe\xc3.example"
G_ASSETS = ["g-split-utf8", "g-raw-bytes", "g-long-name", "g-tls-san"]


class ScenarioFailed(AssertionError):
    pass


def fail(msg):
    raise ScenarioFailed(msg)


# --- a TLS target whose certificate can be swapped ---------------------------------------

class TlsTarget:
    """TLS on 127.0.0.1: each connection is handshaken with the current certificate (the
    tls probe reads the certificate and closes). set_cert() swaps it."""

    def __init__(self, cert, key):
        self.ctx = self._ctx(cert, key)
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.stopping = threading.Event()
        threading.Thread(target=self._serve, daemon=True, name="tls-target").start()

    @staticmethod
    def _ctx(cert, key):
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(cert, key)
        return ctx

    def set_cert(self, cert, key):
        self.ctx = self._ctx(cert, key)
        log("tls target %d now presents %s" % (self.port, os.path.basename(cert)))

    def _serve(self):
        while not self.stopping.is_set():
            r, _, _ = select.select([self.sock], [], [], 0.2)
            if not r:
                continue
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            threading.Thread(target=self._one, args=(conn, self.ctx), daemon=True).start()

    @staticmethod
    def _one(conn, ctx):
        conn.settimeout(3.0)
        try:
            with ctx.wrap_socket(conn, server_side=True) as s:
                while s.recv(4096):
                    pass
        except (OSError, ssl.SSLError):
            pass
        finally:
            conn.close()

    def stop(self):
        self.stopping.set()
        self.sock.close()


def bad_san_cert(pki_dir):
    """A leaf of make_pki's CA whose only SAN is the DNS name BAD_SAN (raw bytes that are
    not UTF-8); (cert, key)."""
    key, csr, crt = (os.path.join(pki_dir, "badsan" + e) for e in (".key", ".csr", ".pem"))
    run = lambda argv: subprocess.run(argv, check=True, stdout=subprocess.PIPE,  # noqa: E731
                                      stderr=subprocess.STDOUT)
    run(["openssl", "genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256",
         "-out", key])
    san = b"subjectAltName=DNS:" + BAD_SAN
    run([b"openssl", b"req", b"-new", b"-key", key.encode(), b"-out", csr.encode(),
         b"-subj", b"/CN=bad-san", b"-addext", san])
    run(["openssl", "ca", "-batch", "-notext", "-config", os.path.join(pki_dir, "ca.cnf"),
         "-cert", os.path.join(pki_dir, "ca.pem"), "-keyfile", os.path.join(pki_dir, "ca.key"),
         "-in", csr, "-out", crt, "-days", "365"])
    return crt, key


# --- the world the scenarios act on --------------------------------------------------------

class Asset:
    def __init__(self, aid, name, address, target, brk, fix, conf):
        self.id, self.name, self.address, self.target = aid, name, address, target
        self.brk, self.fix, self.conf = brk, fix, conf


def http_asset(env, aid, name, **extra):
    t = env.target()
    conf = dict({"id": aid, "assetType": "http", "name": name, "address": t.url("/health"),
                 "intervalSeconds": INTERVAL, "timeoutSeconds": TIMEOUT,
                 "expectedStatusCodes": [200], "failureThreshold": FAIL_T,
                 "successThreshold": SUCC_T}, **extra)
    return Asset(aid, name, conf["address"], t, lambda: t.set_status(500),
                 lambda: t.set_status(200), conf)


def kind_of(doc):
    """DOWN, RECOVERY, REMINDER, FLAPPING, STABLE or AGENT from a Slack message."""
    text = str(doc.get("text", "")) if isinstance(doc, dict) else ""
    for prefix, kind in (("\U0001f534 DOWN", "DOWN"), ("\u2705 RECOVERED", "RECOVERY"),
                         ("\U0001f501 STILL DOWN", "REMINDER"), ("\U0001f500 FLAPPING", "FLAPPING"),
                         ("\U0001f7f0 STABLE", "STABLE")):
        if text.startswith(prefix):
            return kind
    return "AGENT" if "AGENT" in text else "OTHER"


def address_of(doc):
    try:
        for f in doc["attachments"][0]["fields"]:
            if f.get("title") == "Address":
                return f.get("value")
    except (KeyError, IndexError, TypeError, AttributeError):
        pass
    return None


class World:
    def __init__(self, env):
        self.env = env
        self.assets = {}
        self.results = []               # (key, title, "PASS"/"FAIL"/"NOT RUN", detail)
        self.t_start = time.monotonic()
        self.first_seq = {}

    # --- the fake Slack receiver ---------------------------------------------------------
    def requests(self, aid, kind=None):
        """Requests the receiver got about asset aid (every attempt), oldest first."""
        addr = self.assets[aid].address
        out = []
        for m in self.hook.messages():
            doc = m.get("json")
            a = address_of(doc) if doc is not None else None
            if a == addr or (a is None and addr in (m.get("body") or "")):
                if kind is None or kind_of(doc) == kind:
                    out.append(m)
        return out

    def delivered(self, aid, kind):
        return sum(1 for m in self.requests(aid, kind) if m.get("status") == 200)

    # --- PostgreSQL ----------------------------------------------------------------------
    def incidents(self, aid):
        """[(id, open?, started_at unix s)] of the asset, oldest first."""
        return [(int(r[0]), r[1] == "t", float(r[2])) for r in self.pg.query(
            "SELECT id, ended_at IS NULL, extract(epoch FROM started_at) FROM incidents "
            "WHERE asset_id = '%s' ORDER BY id" % aid)]

    def open_ids(self, aid):
        return [i for i, o, _ in self.incidents(aid) if o]

    def outbox(self, aid):
        """[(event, status, attempts, last_error)] of the asset, oldest first."""
        return [(r[0], r[1], int(r[2]), r[3]) for r in self.pg.query(
            "SELECT event, status, attempts, coalesce(left(last_error, 120), '') FROM "
            "notifications WHERE asset_id = '%s' ORDER BY id" % aid)]

    def holds(self, iid):
        """[(reason, percent state change)] of the incident's recovery_held events."""
        return [(r[0], r[1]) for r in self.pg.query(
            "SELECT coalesce(detail->>'reason', '?'), coalesce(detail->>'percent_state_change',"
            " '') FROM incident_events WHERE incident_id = %d AND kind = 'recovery_held' "
            "ORDER BY id" % iid)]

    def seq_stats(self):
        rows = self.pg.query("SELECT agent_id, count(*), count(DISTINCT seq), min(seq), "
                             "max(seq) FROM probe_events GROUP BY agent_id ORDER BY agent_id")
        return {r[0]: {"n": int(r[1]), "distinct": int(r[2]), "min": int(r[3]),
                       "max": int(r[4])} for r in rows}

    def seq_gaps(self, agent, limit=5):
        """Where agent's stored seqs jump: [(missing count, after seq, probe time of the row
        before the gap, received time of the row after it)], at most `limit`."""
        return [(int(r[0]), int(r[1]), r[2], r[3]) for r in self.pg.query(
            "SELECT seq - prev - 1, prev, prev_ts, received_at FROM (SELECT seq, lag(seq) OVER w "
            "AS prev, to_char(lag(ts) OVER w, 'HH24:MI:SS.MS') AS prev_ts, "
            "to_char(received_at, 'HH24:MI:SS.MS') AS received_at FROM probe_events WHERE "
            "agent_id = '%s' WINDOW w AS (ORDER BY seq)) x WHERE seq - prev > 1 ORDER BY seq "
            "LIMIT %d" % (agent, limit))]

    def fresh(self, since_wall):
        """{agent: results received after since_wall (unix s)}"""
        return {r[0]: int(r[1]) for r in self.pg.query(
            "SELECT agent_id, count(*) FROM probe_events WHERE received_at > "
            "to_timestamp(%f) GROUP BY agent_id" % since_wall)}

    # --- the collector -------------------------------------------------------------------
    def health(self):
        return http_get(self.col.api + "/api/health", 2.0)[0]

    def metrics(self):
        st, text = http_get(self.col.api + "/metrics", 5.0)
        if st != 200:
            raise AssertionError("GET /metrics -> %d" % st)
        return text

    def engine_state(self, aid):
        """The engine's own view (statusd_asset_state{asset,state} == 1 in /metrics)."""
        for ln in self.metrics().splitlines():
            if ln.startswith("statusd_asset_state{") and 'asset="%s"' % aid in ln:
                m = re.search(r'state="([A-Z]+)"\}\s+([0-9.eE+-]+)$', ln)
                if m and float(m.group(2)) == 1.0:
                    return m.group(1)
        return None

    def procs(self):
        return [self.col] + self.agents

    def log_mark(self):
        return len(self.col.log_text())

    def log_since(self, mark, only_problems=True):
        lines = self.col.log_text()[mark:].splitlines()
        if only_problems:
            lines = [ln for ln in lines
                     if re.search(r"\b(WARN|ERROR|warn|error|warning|FATAL)\b", ln)]
        return lines

    def diag(self, aid):
        """One line of what the system shows about asset aid, for failure messages."""
        parts = []
        try:
            parts.append("engine state %s" % self.engine_state(aid))
        except Exception as e:  # noqa: BLE001
            parts.append("engine state ? (%r)" % e)
        try:
            parts.append("incidents %r" % [(i, "open" if o else "closed")
                                           for i, o, _ in self.incidents(aid)])
            parts.append("outbox %r" % self.outbox(aid))
            r = self.pg.query("SELECT coalesce(message, '') FROM probe_events WHERE asset_id = "
                              "'%s' AND NOT success ORDER BY ts DESC LIMIT 1" % aid)
            parts.append("last stored reason %r" % (r[0][0][:100] if r else None))
        except Exception as e:  # noqa: BLE001
            parts.append("database: %r" % e)
        parts.append("webhook requests %r" % [(kind_of(m.get("json")), m.get("status"))
                                              for m in self.requests(aid)])
        return "; ".join(parts)

    def wait(self, conds, timeout, extend=None):
        """Polls named conditions until all hold; returns {name: seconds until it first
        held}. After `timeout` (scaled by SLOW) it raises WaitTimeout naming the conditions
        not reached, unless extend = (predicate, seconds) and predicate() holds then: the
        deadline moves that much once. Fails at once when a process exits."""
        t0 = time.monotonic()
        deadline = t0 + timeout * SLOW
        seen = {}
        while True:
            for name, cond in conds.items():
                if name not in seen:
                    try:
                        if cond():
                            seen[name] = time.monotonic() - t0
                    except Exception:  # noqa: BLE001 - retried until the deadline
                        pass
            if len(seen) == len(conds):
                return seen
            for p in self.procs():
                if not p.alive():
                    raise AssertionError("%s exited (rc=%s); not reached: %s" % (
                        p.name, p.returncode(), ", ".join(n for n in conds if n not in seen)))
            if time.monotonic() > deadline:
                if extend and extend[0]():
                    log("extending the wait by %.0f s" % extend[1])
                    deadline += extend[1] * SLOW
                    extend = None
                    continue
                raise WaitTimeout("after %.0f s not reached: %s" % (
                    time.monotonic() - t0, ", ".join(n for n in conds if n not in seen)))
            time.sleep(0.1)


def setup(env, assets=None, extra_manifest=None, hold_s=HOLD_S):
    """PostgreSQL, the receiver, the targets, the collector and two agents; returns World."""
    w = World(env)
    w.pg = env.start_pg(commit_safe=True)   # a killed PostgreSQL loses no commit
    w.hook = env.webhook()
    for aid, name in (assets or ASSETS):
        w.assets[aid] = http_asset(env, aid, name)
    if extra_manifest:
        extra_manifest(w)
    manifest = {"assets": [a.conf for a in w.assets.values()],
                "flapping": {"recoveryHoldSeconds": hold_s}}
    notifiers = {"notifiers": {"slack": {"type": "slack",
                                         "webhookUrl": w.hook.url("/services/T0/B0/faults")}},
                 "notificationPolicy": {"onDown": ["slack"], "onRecovery": ["slack"],
                                        "throttleSeconds": 0, "repeatAlerts": False}}
    w.col = env.start_collector(w.pg, manifest, notifiers, heartbeat_ms=HB_MS)
    t0 = time.monotonic()
    w.agents = [env.start_agent(w.col, aid, region, heartbeat_ms=HB_MS)
                for aid, region in (("agent-eu", "eu"), ("agent-us", "us"))]
    for a in w.agents:
        m = a.wait_log(r"starting version=\S+ id=%s .*first_seq=(\d+)" % a.agent_id, 10)
        w.first_seq[a.agent_id] = int(m.group(1))
    wait_for(lambda: all(w.engine_state(aid) == "UP" for aid in w.assets), 30,
             "every asset UP in the engine (/metrics)", interval=0.2, procs=w.procs())
    measure("agents start -> every asset UP (%d assets, 2 agents)" % len(w.assets),
            time.monotonic() - t0)
    return w


# --- the outage check ------------------------------------------------------------------------

def snapshot(w, label, aids):
    """(incidents, DOWNs delivered) per asset before its outage; none may be open."""
    for aid in aids:
        if w.open_ids(aid):
            fail("%s: %s has an open incident before its outage: %s" % (label, aid, w.diag(aid)))
    return {aid: (len(w.incidents(aid)), w.delivered(aid, "DOWN")) for aid in aids}


def break_assets(w, label, aids, down_extra=0.0, since=None, expect_down=True, pre=None,
                 t_from=None):
    """Breaks each asset and waits for one new open incident per asset and one DOWN
    delivered each. With `since` the assets were broken already, at that unix time (pre:
    their snapshot() from before; t_from: the monotonic time the bound counts from).
    Returns {aid: {"incident": id, "wall": break time}}."""
    if pre is None:
        pre = snapshot(w, label, aids)
    if since is None:
        for aid in aids:
            st = w.engine_state(aid)
            if st != "UP":
                fail("%s: %s is %s in the engine before its outage (expected UP): %s"
                     % (label, aid, st, w.diag(aid)))
    t0 = time.monotonic()
    wall = since
    if since is None:
        wall = time.time()
        for aid in aids:
            w.assets[aid].brk()
    if t_from is not None:
        t0 = t_from
    conds = {}
    for aid in aids:
        n_inc, n_down = pre[aid]
        conds["%s incident" % aid] = (lambda a=aid, n=n_inc: len(w.incidents(a)) == n + 1
                                      and len(w.open_ids(a)) == 1)
        if expect_down:
            conds["%s DOWN" % aid] = lambda a=aid, n=n_down: w.delivered(a, "DOWN") >= n + 1
    bound = DOWN_BOUND + down_extra
    frm = "broken" if t_from is None else "PostgreSQL back"
    t_wait = time.monotonic()
    try:
        got = w.wait(conds, max(bound + GRACE - (t_wait - t0), 5.0))
    except WaitTimeout as e:
        fail("%s: expected one new incident%s per asset within %.0f s (%s); %s\n    %s"
             % (label, " and one DOWN" if expect_down else "", bound,
                "of the break" if t_from is None else "of PostgreSQL's return", e,
                "\n    ".join("%s: %s" % (aid, w.diag(aid)) for aid in aids)))
    got = {k: v + (t_wait - t0) for k, v in got.items()}   # measured from t0
    out = {}
    for aid in aids:
        n_inc, n_down = pre[aid]
        dt = got["%s incident" % aid]
        measure("%s: %s %s -> incident open (bound %.0f s)" % (label, aid, frm, DOWN_BOUND),
                dt)
        if expect_down:
            measure("%s: %s %s -> DOWN delivered (bound %.0f s)" % (label, aid, frm, bound),
                    got["%s DOWN" % aid])
            if got["%s DOWN" % aid] > bound:
                fail("%s: %s DOWN delivered after %.1f s, bound %.0f s"
                     % (label, aid, got["%s DOWN" % aid], bound))
        if dt > DOWN_BOUND:
            fail("%s: %s incident opened after %.1f s, bound %.0f s" % (label, aid, dt,
                                                                          DOWN_BOUND))
        incs = w.incidents(aid)
        iid, _, started = incs[-1]
        log("%s: %s incident %d started_at = break %+.2f s" % (label, aid, iid, started - wall))
        if not -1.0 <= started - wall <= INTERVAL + 0.5:
            fail("%s: %s incident %d started_at is %+.2f s from the break (expected the "
                 "first failing probe, within one interval, %d s)" % (label, aid, iid,
                                                                       started - wall,
                                                                       INTERVAL))
        if expect_down and w.delivered(aid, "DOWN") != n_down + 1:
            fail("%s: %s: %d DOWN delivered, expected exactly one: %s"
                 % (label, aid, w.delivered(aid, "DOWN") - n_down, w.diag(aid)))
        out[aid] = {"incident": iid, "wall": wall, "t0": t0}
    check(True, "%s: one incident%s each for %s" % (label, " and one DOWN" if expect_down
                                                     else "", ", ".join(aids)))
    return out


def recover_assets(w, label, opened, up_extra=0.0):
    """Repairs each asset of `opened` (from break_assets) and waits until its incident is
    closed and one RECOVERY delivered; then exactly one DOWN and one RECOVERY row each."""
    pre = {aid: w.delivered(aid, "RECOVERY") for aid in opened}
    for aid in opened:
        w.assets[aid].fix()
    conds = {}
    for aid, o in opened.items():
        conds["%s closed" % aid] = lambda a=aid, i=o["incident"]: (
            w.open_ids(a) == [] and (i, False) in [(x, y) for x, y, _ in w.incidents(a)])
        conds["%s RECOVERY" % aid] = lambda a=aid, n=pre[aid]: (
            w.delivered(a, "RECOVERY") >= n + 1)
    bound = UP_BOUND + up_extra

    def restless():
        return any(r in ("restless", "flapping") for o in opened.values()
                   for r, _ in w.holds(o["incident"]))
    try:
        got = w.wait(conds, bound + GRACE, extend=(restless, RESTLESS_S))
    except WaitTimeout as e:
        fail("%s: expected the incident closed and one RECOVERY within %.0f s of the repair "
             "(%.0f s with a restless hold); %s\n    %s" % (
                 label, bound, bound + RESTLESS_S, e, "\n    ".join(
                     "%s: %s; holds %r" % (aid, w.diag(aid), w.holds(o["incident"]))
                     for aid, o in opened.items())))
    for aid, o in opened.items():
        holds = w.holds(o["incident"])
        b = bound + (RESTLESS_S if set(r for r, _ in holds) & {"restless", "flapping"} else 0)
        measure("%s: %s repaired -> incident closed (bound %.0f s, hold %d s)"
                % (label, aid, b, HOLD_S), got["%s closed" % aid])
        measure("%s: %s repaired -> RECOVERY delivered" % (label, aid),
                got["%s RECOVERY" % aid])
        log("%s: %s recovery held for %r" % (label, aid, holds))
        for what in ("closed", "RECOVERY"):
            if got["%s %s" % (aid, what)] > b:
                fail("%s: %s %s after %.1f s, bound %.0f s (holds %r)"
                     % (label, aid, what, got["%s %s" % (aid, what)], b, holds))
        if w.delivered(aid, "RECOVERY") != pre[aid] + 1:
            fail("%s: %s: %d RECOVERY delivered, expected exactly one: %s"
                 % (label, aid, w.delivered(aid, "RECOVERY") - pre[aid], w.diag(aid)))
    check(True, "%s: closed with one RECOVERY each: %s" % (label, ", ".join(opened)))


def check_seqs(w, label):
    """Per agent: stored seqs are exactly first_seq..max (no duplicate, no gap)."""
    st = w.seq_stats()
    for aid, first in w.first_seq.items():
        s = st.get(aid)
        if not s:
            fail("%s: no stored result of %s" % (label, aid))
        if s["n"] != s["distinct"]:
            fail("%s: %s: %d rows but %d distinct seqs (stored twice)"
                 % (label, aid, s["n"], s["distinct"]))
        if s["min"] != first or s["max"] - s["min"] + 1 != s["n"]:
            fail("%s: %s: seqs %d..%d hold %d rows, first_seq %d (a gap: results lost); "
                 "gaps (missing, after seq, its probe time, next received): %r"
                 % (label, aid, s["min"], s["max"], s["n"], first, w.seq_gaps(aid)))
    log("%s: seqs contiguous: %s" % (label, ", ".join(
        "%s %d rows" % (a, s["n"]) for a, s in sorted(st.items()))))
    return st


# --- PostgreSQL faults -------------------------------------------------------------------------

def db_outage(w, label, how, down_s=DB_DOWN_S, during=None):
    """Stops PostgreSQL (how: "fast", "immediate" or "kill"), keeps it down for down_s
    seconds (during() runs right after the stop), then starts it again. Asserts /api/health
    503 while it is down and 200 after; waits until both agents' results are stored again.
    PostgreSQL is always started again, even when an assertion fails. Returns (unix time,
    monotonic time) at which PostgreSQL was started again."""
    if w.health() != 200:
        fail("%s: /api/health is not 200 before the fault" % label)
    t0 = time.monotonic()
    problems = []
    try:
        if how == "kill":
            pid = w.pg.crash()
            log("%s: postmaster pid %d and its backends SIGKILLed" % (label, pid))
        else:
            w.pg.stop(mode=how)
            log("%s: pg_ctl stop -m %s done" % (label, how))
        measure("%s: PostgreSQL %s took" % (label, "killed" if how == "kill" else
                                            "stopped -m " + how), time.monotonic() - t0)
        try:
            wait_for(lambda: w.health() == 503, max(min(down_s, 8), 3), "/api/health 503",
                     interval=0.1, procs=w.procs())
            measure("%s: PostgreSQL down -> /api/health 503" % label, time.monotonic() - t0)
        except WaitTimeout:
            problems.append("/api/health answered %s, not 503, while PostgreSQL was down"
                            % w.health())
        if during:
            during()
        left = t0 + down_s - time.monotonic()
        if left > 0:
            time.sleep(left)    # the scenario: PostgreSQL stays down this long
        if not problems and w.health() != 503:
            problems.append("/api/health turned %s while PostgreSQL was still down"
                            % w.health())
    finally:
        wall_up = time.time()
        t_up = time.monotonic()
        w.pg.start()
        measure("%s: PostgreSQL down for" % label, t_up - t0)
        measure("%s: PostgreSQL start (%s) took" % (label, "crash recovery" if how in
                                                     ("kill", "immediate") else "clean"),
                time.monotonic() - t_up)
    try:
        wait_for(lambda: w.health() == 200, 15, "/api/health 200", interval=0.1,
                 procs=w.procs())
        measure("%s: PostgreSQL back -> /api/health 200" % label, time.monotonic() - t_up)
    except WaitTimeout:
        problems.append("/api/health still %s 15 s after PostgreSQL was back" % w.health())
    try:
        wait_for(lambda: all(w.fresh(wall_up).get(a.agent_id, 0) >= 1 for a in w.agents),
                 20, "results of both agents stored after the restart", interval=0.2,
                 procs=w.procs())
        measure("%s: PostgreSQL back -> results of both agents stored" % label,
                time.monotonic() - t_up)
    except WaitTimeout:
        problems.append("no result of %s stored within 20 s of PostgreSQL's restart"
                        % [a.agent_id for a in w.agents
                           if not w.fresh(wall_up).get(a.agent_id)])
    if problems:
        fail("%s: %s" % (label, "; ".join(problems)))
    check(True, "%s: /api/health 503 while PostgreSQL was down, 200 after" % label)
    return wall_up, t_up


def wait_engine_up(w, label, aids):
    """After a database outage the assets are UNKNOWN (stale) until results flow again."""
    t0 = time.monotonic()
    try:
        wait_for(lambda: all(w.engine_state(a) == "UP" for a in aids), 3 * INTERVAL + 10,
                 "engine UP", interval=0.2, procs=w.procs())
    except WaitTimeout:
        fail("%s: the engine does not judge %s UP again (states %r)"
             % (label, aids, {a: w.engine_state(a) for a in aids}))
    measure("%s: PostgreSQL back -> engine judges the asset UP" % label, time.monotonic() - t0)


def db_fault_then_outage(w, key, how, aid):
    label = key
    db_outage(w, label, how)
    wait_engine_up(w, label, [aid])
    opened = break_assets(w, label, [aid])
    recover_assets(w, label, opened)
    check_seqs(w, label)


# --- scenarios ---------------------------------------------------------------------------------

def sc_base(w):
    recover_assets(w, "base", break_assets(w, "base", ["base"]))
    check_seqs(w, "base")


def sc_a(w):
    db_fault_then_outage(w, "a", "fast", "fault-a")


def sc_b1(w):
    db_fault_then_outage(w, "b1", "immediate", "fault-b1")


def sc_b2(w):
    db_fault_then_outage(w, "b2", "kill", "fault-b2")


def sc_d(w):
    aid = "fault-d"
    opened = break_assets(w, "d", [aid])
    iid = opened[aid]["incident"]
    db_outage(w, "d", "fast", down_s=0)
    st = w.engine_state(aid)
    log("d: after the restart the engine says %s; incidents %r" % (st, w.incidents(aid)))
    recover_assets(w, "d", opened)
    incs = w.incidents(aid)
    if [(i, o) for i, o, _ in incs] != [(iid, False)]:
        fail("d: expected only incident %d, closed; got %r" % (iid, incs))
    if w.delivered(aid, "DOWN") != 1:
        fail("d: %d DOWN delivered for %s, expected 1 (no repeat after the restart): %s"
             % (w.delivered(aid, "DOWN"), aid, w.diag(aid)))
    check(True, "d: incident %d, open across the restart, closed with one RECOVERY" % iid)
    check_seqs(w, "d")


def sc_e(w):
    aid = "fault-e"
    broke = {}

    def during():
        time.sleep(2.0)   # into the outage, so the break is plainly while PostgreSQL is down
        broke["wall"] = time.time()
        w.assets[aid].brk()
    pre = snapshot(w, "e", [aid])
    wall_up, t_up = db_outage(w, "e", "fast", during=during)
    log("e: target broken %.1f s before PostgreSQL was back" % (wall_up - broke["wall"]))
    # the bound counts from PostgreSQL's return: the failing results are stored only then
    opened = break_assets(w, "e", [aid], since=broke["wall"], pre=pre, t_from=t_up)
    recover_assets(w, "e", opened)
    check_seqs(w, "e")


def sc_f1(w):
    aid = "hook-500-429"
    addr = w.assets[aid].address
    w.hook.fail(500, 1, match=addr)
    w.hook.fail(429, 1, retry_after=2, match=addr)
    # attempt 1 waits uniform(1 s, 2 s) (full jitter), then the Retry-After of 2 s
    opened = break_assets(w, "f1", [aid], down_extra=2 + 2 + 1)
    reqs = w.requests(aid, "DOWN")
    statuses = [m.get("status") for m in reqs]
    log("f1: DOWN requests %r at %r" % (statuses, ["%.2f" % (m["t"] - reqs[0]["t"])
                                                    for m in reqs]))
    if statuses != [500, 429, 200]:
        fail("f1: DOWN requests answered %r, expected [500, 429, 200]" % statuses)
    gap = reqs[2]["t"] - reqs[1]["done"]
    measure("f1: 429 with Retry-After: 2 -> next request", gap)
    if gap < 2.0 - 0.05:
        fail("f1: retried %.2f s after the 429, before its Retry-After of 2 s" % gap)
    row = [r for r in w.outbox(aid) if r[0] == "DOWN"]
    if len(row) != 1 or row[0][1] != "sent":
        fail("f1: expected one DOWN row, sent: %r" % row)
    log("f1: DOWN row %r (3 attempts)" % (row,))
    recover_assets(w, "f1", opened)
    if [m.get("status") for m in w.requests(aid, "RECOVERY")] != [200]:
        fail("f1: RECOVERY requests %r, expected one" % [m.get("status") for m in
                                                          w.requests(aid, "RECOVERY")])
    check(True, "f1: 3 DOWN requests, 1 successful; one RECOVERY")


def sc_f2(w):
    aid = "hook-403"
    addr = w.assets[aid].address
    w.hook.fail(403, 1, body=b"invalid_token \xff\xfe\xc3(", match=addr)
    opened = break_assets(w, "f2", [aid], expect_down=False)
    t0 = time.monotonic()
    try:
        wait_for(lambda: [r[1] for r in w.outbox(aid) if r[0] == "DOWN"] == ["dead"], 10,
                 "the DOWN row dead", interval=0.1, procs=w.procs())
    except WaitTimeout:
        fail("f2: the DOWN row answered 403 (non-UTF-8 body) is not 'dead' 10 s later: %s"
             % w.diag(aid))
    measure("f2: incident open -> DOWN row dead", time.monotonic() - t0)
    recover_assets(w, "f2", opened)
    downs = [m.get("status") for m in w.requests(aid, "DOWN")]
    rows = w.outbox(aid)
    log("f2: DOWN requests %r; outbox %r" % (downs, rows))
    if downs != [403]:
        fail("f2: expected exactly one POST of the DOWN (403), got %r" % downs)
    if [(r[0], r[1]) for r in rows] != [("DOWN", "dead"), ("RECOVERY", "sent")]:
        fail("f2: outbox %r, expected DOWN dead then RECOVERY sent" % rows)
    check(True, "f2: one POST, row dead (last_error %r); RECOVERY delivered once" % rows[0][3])


def sc_f3(w):
    aid = "hook-timeout"
    addr = w.assets[aid].address
    w.hook.fail("hang", 1, match=addr)
    opened = break_assets(w, "f3", [aid], down_extra=CLIENT_TIMEOUT_S + 2 + 1)
    reqs = w.requests(aid, "DOWN")
    log("f3: DOWN requests %r" % [(m.get("status"), round(m["done"] - m["t"], 2))
                                  for m in reqs])
    if [m.get("status") for m in reqs] != [None, 200]:
        fail("f3: DOWN requests %r, expected one hung then one delivered"
             % [m.get("status") for m in reqs])
    measure("f3: hung request held until the collector gave up", reqs[0]["done"] - reqs[0]["t"])
    recover_assets(w, "f3", opened)
    check(True, "f3: the DOWN retried after the client timeout and delivered once")


def setup_hostile(w):
    """The g assets (added to the manifest at start; healthy until scenario g)."""
    env = w.env
    split = http_asset(env, "g-split-utf8", "Hostile split reason", bodyContains=SPLIT_NEEDLE)
    ok_body = ("<p>%s</p>\n" % SPLIT_NEEDLE).encode()
    split.target.set_body(ok_body)
    split.brk = lambda: split.target.set_body(b"<p>the needle is gone</p>\n")
    split.fix = lambda: split.target.set_body(ok_body)
    raw = http_asset(env, "g-raw-bytes", "Hostile raw bytes")

    def raw_brk():
        raw.target.set_body(b"moved \xff\xfe\n", headers=[("Location", RAW_LOCATION),
                                                           ("X-Junk", "\xff\xc3\x28")])
        raw.target.set_status(302)

    def raw_fix():
        raw.target.set_status(200)
        raw.target.set_body(None)
    raw.brk, raw.fix = raw_brk, raw_fix
    longn = http_asset(env, "g-long-name", LONG_NAME)
    pki = env.path("pki")
    os.makedirs(pki)
    certs = make_pki(pki)
    bad = bad_san_cert(pki)
    os.environ["SSL_CERT_FILE"] = certs["ca"]   # the agents trust the test CA
    tls = TlsTarget(*certs["valid"])
    env.servers.append(tls)
    conf = {"id": "g-tls-san", "assetType": "tls", "name": "Hostile certificate name",
            "address": "127.0.0.1:%d" % tls.port, "serverName": "localhost",
            "intervalSeconds": INTERVAL, "timeoutSeconds": TIMEOUT,
            "failureThreshold": FAIL_T, "successThreshold": SUCC_T}
    tasset = Asset("g-tls-san", conf["name"], conf["address"], tls,
                   lambda: tls.set_cert(*bad), lambda: tls.set_cert(*certs["valid"]), conf)
    for a in (split, raw, longn, tasset):
        w.assets[a.id] = a


def promtool_metrics(w, label):
    text = w.metrics()
    path = w.env.path("metrics-%s.txt" % label)
    with open(path, "w", encoding="utf-8", errors="surrogateescape") as f:
        f.write(text)
    r = subprocess.run(["promtool", "check", "metrics"], input=text.encode("utf-8",
                                                                          "surrogateescape"),
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    out = r.stdout.decode("utf-8", "replace").strip()
    log("%s: promtool check metrics (%d lines): exit %d %s" % (label, len(text.splitlines()),
                                                              r.returncode, out[:400]))
    if r.returncode != 0:
        fail("%s: promtool check metrics failed (exit %d): %s" % (label, r.returncode,
                                                                 out[:1000]))


def sc_g(w):
    opened = break_assets(w, "g", G_ASSETS)
    reasons = {}
    for aid in G_ASSETS:
        rows = w.pg.query("SELECT coalesce(message, '') FROM probe_events WHERE asset_id = "
                          "'%s' AND NOT success ORDER BY ts DESC LIMIT 1" % aid)
        reasons[aid] = rows[0][0] if rows else None
        log("g: %s stored reason %r" % (aid, reasons[aid]))
        docs = [m.get("json") for m in w.requests(aid, "DOWN")]
        if not docs or docs[0] is None:
            fail("g: %s: the DOWN request is not JSON" % aid)
        log("g: %s DOWN text %r" % (aid, str(docs[0].get("text"))[:200]))
    longtext = str(w.requests("g-long-name", "DOWN")[0]["json"].get("text"))
    if LONG_NAME[:100] not in longtext:
        fail("g: the DOWN of g-long-name does not name the asset: %r" % longtext[:200])
    if "a" * 50 not in (reasons["g-split-utf8"] or ""):
        fail("g: g-split-utf8's reason does not hold the needle: %r" % reasons["g-split-utf8"])
    promtool_metrics(w, "g")
    recover_assets(w, "g", opened)
    promtool_metrics(w, "g-after")


# key, title, function, (seconds it sleeps by design, seconds it waits for the system)
SCENARIOS = [
    ("base", "no fault: the outage check alone", sc_base, (0, 25)),
    ("a", "PostgreSQL stop -m fast for 10 s", sc_a, (DB_DOWN_S, 35)),
    ("b1", "PostgreSQL stop -m immediate for 10 s", sc_b1, (DB_DOWN_S, 35)),
    ("b2", "postmaster + backends SIGKILL, 10 s", sc_b2, (DB_DOWN_S, 35)),
    ("d", "PostgreSQL restart while an incident is open", sc_d, (0, 35)),
    ("e", "target breaks while PostgreSQL is down (10 s)", sc_e, (DB_DOWN_S, 40)),
    ("f1", "webhook 500, 429 + Retry-After, 200", sc_f1, (0, 35)),
    ("f2", "webhook 403 with a non-UTF-8 body", sc_f2, (0, 35)),
    ("f3", "webhook hangs (client timeout), then answers", sc_f3, (CLIENT_TIMEOUT_S, 35)),
    ("g", "hostile text: split UTF-8, raw bytes, long name, bad SAN", sc_g, (0, 40)),
]


def repair(w):
    """After a failed scenario: everything healthy again and a fresh collector."""
    log("=== repair: restoring targets, PostgreSQL and restarting the collector ===")
    t0 = time.monotonic()
    w.hook.reset()
    for a in w.assets.values():
        a.fix()
    if not w.pg.running():
        w.pg.start()
    w.col.stop(timeout=10)
    w.env.restart(w.col)
    try:
        wait_for(lambda: all(w.engine_state(aid) == "UP" for aid in w.assets)
                 and not any(w.open_ids(aid) for aid in w.assets), 30,
                 "every asset UP, no open incident", interval=0.2, procs=w.procs())
    except WaitTimeout as e:
        log("repair incomplete: %s" % e)
        return False
    measure("repair (collector restart, every asset UP, incidents closed)",
            time.monotonic() - t0)
    return True


def run_scenarios(w, scenarios, budget_s=BUDGET_S):
    """Runs each scenario (all, or those named in STATUSD_FAULTS), records PASS/FAIL with
    the reason, repairs after a failure; one that might not end within budget_s of the
    start is NOT RUN (so the file ends before ctest's timeout)."""
    only = [s for s in os.environ.get("STATUSD_FAULTS", "").split(",") if s]
    healthy = True
    for key, title, fn, (fixed_s, wait_s) in scenarios:
        if only and key not in only and key not in ("base", "final"):
            continue
        elapsed = time.monotonic() - w.t_start
        if not healthy:
            w.results.append((key, title, "NOT RUN", "repair after an earlier failure failed"))
            continue
        if elapsed + fixed_s + wait_s * SLOW > budget_s:
            w.results.append((key, title, "NOT RUN", "time budget (%.0f s used)" % elapsed))
            continue
        log("=== scenario %s: %s ===" % (key, title))
        mark = w.log_mark()
        t0 = time.monotonic()
        try:
            fn(w)
            w.results.append((key, title, "PASS", "%.1f s" % (time.monotonic() - t0)))
            log("=== scenario %s PASSED in %.1f s ===" % (key, time.monotonic() - t0))
        except (AssertionError, RuntimeError) as e:
            msg = str(e)
            probs = w.log_since(mark)
            w.results.append((key, title, "FAIL", msg))
            log("=== scenario %s FAILED after %.1f s ===\n  %s" % (key, time.monotonic() - t0,
                                                                  msg))
            log("collector warnings/errors during %s (%d):" % (key, len(probs)))
            for ln in probs[:30]:
                log("  | " + ln)
            if len(probs) > 30:
                log("  | ... %d more" % (len(probs) - 30))
            healthy = repair(w)
        seq_note(w, key)


def seq_note(w, key):
    """Logs whether the stored seqs are still contiguous after scenario `key` (the
    scenarios assert it themselves; this places a loss when one failed earlier)."""
    try:
        gaps = {a: w.seq_gaps(a) for a in w.first_seq}
    except Exception as e:  # noqa: BLE001
        log("seqs after %s: not readable (%r)" % (key, e))
        return
    bad = {a: g for a, g in gaps.items() if g}
    log("seqs after %s: %s" % (key, "contiguous" if not bad else "GAPS %r" % bad))


OWNER = {"base": "base", "fault-a": "a", "fault-b1": "b1", "fault-b2": "b2", "fault-d": "d",
         "fault-e": "e", "hook-500-429": "f1", "hook-403": "f2", "hook-timeout": "f3",
         **{aid: "g" for aid in G_ASSETS}}


def final_checks(w, expect_dead=(), owner=None, outages=None):
    """Totals over the whole run, outbox, receiver, /metrics, graceful stop and seqs.
    owner: {asset: scenario} (an asset of a scenario that failed or did not run is not
    totalled); outages: {asset: number of outages it had} (default 1 each)."""
    owner = OWNER if owner is None else owner
    failed = {k for k, _, r, _ in w.results if r != "PASS"}
    ran = {k for k, _, r, _ in w.results}
    problems = []
    for aid in w.assets:
        sc = owner.get(aid)
        if sc in failed or sc not in ran:
            continue
        n = (outages or {}).get(aid, 1)
        want = {"DOWN": 0 if aid in expect_dead else n, "RECOVERY": n}
        got = {k: w.delivered(aid, k) for k in want}
        if got != want:
            problems.append("%s: delivered %r over the whole run, expected %r"
                            % (aid, got, want))
        if len(w.incidents(aid)) != n or w.open_ids(aid):
            problems.append("%s: incidents %r, expected %d, closed" % (aid, w.incidents(aid), n))
    others = [kind_of(m.get("json")) for m in w.hook.messages()
              if address_of(m.get("json")) is None and m.get("json") is not None]
    if others:
        problems.append("messages about no asset (the agents never stopped): %r" % others)
    pending = w.pg.query("SELECT asset_id, event, status, attempts FROM notifications "
                         "WHERE status = 'pending' ORDER BY id")
    if pending:
        problems.append("outbox rows still pending at the end: %r" % pending)
    bad = [m for m in w.hook.messages() if m.get("json") is None]
    if bad:
        problems.append("%d webhook requests were not JSON: %r" % (len(bad), [
            m.get("body", "")[:120] for m in bad[:3]]))
    try:
        promtool_metrics(w, "final")
    except ScenarioFailed as e:
        problems.append(str(e))
    # graceful stop: every result an agent no longer held is stored exactly once
    mark = time.time()
    try:
        wait_for(lambda: all(w.fresh(mark).get(a.agent_id, 0) >= 1 for a in w.agents), 15,
                 "both agents' results flowing before the stop", interval=0.2)
    except WaitTimeout as e:
        problems.append(str(e))
    for a in w.agents:
        rc = a.stop(timeout=10)
        if rc != 0:
            problems.append("%s exited %s on SIGTERM" % (a.name, rc))
    st = w.seq_stats()
    for a in w.agents:
        lines = re.findall(r"stats .*? pending=(\d+) next_seq=(\d+)", a.log_text())
        if not lines:
            problems.append("%s: no stats line at shutdown" % a.agent_id)
            continue
        pending_n, next_seq = int(lines[-1][0]), int(lines[-1][1])
        s = st.get(a.agent_id, {"n": 0, "distinct": 0, "min": 0, "max": 0})
        first = w.first_seq[a.agent_id]
        log("final: %s first_seq %d next_seq %d pending %d; stored %d rows, %d distinct, "
            "%d..%d" % (a.agent_id, first, next_seq, pending_n, s["n"], s["distinct"],
                        s["min"], s["max"]))
        if s["n"] != s["distinct"]:
            problems.append("%s: %d rows, %d distinct seqs: stored twice" % (a.agent_id, s["n"],
                                                                              s["distinct"]))
        if s["min"] != first or s["max"] - s["min"] + 1 != s["n"]:
            problems.append("%s: stored seqs %d..%d (%d rows) are not exactly first_seq %d.."
                            "max: a gap; gaps (missing, after seq, its probe time, next "
                            "received): %r" % (a.agent_id, s["min"], s["max"], s["n"], first,
                                               w.seq_gaps(a.agent_id)))
        if not next_seq - 1 - pending_n <= s["max"] <= next_seq - 1:
            problems.append("%s: stored max seq %d, but the agent used up to %d and still "
                            "held %d at shutdown: %d results lost"
                            % (a.agent_id, s["max"], next_seq - 1, pending_n,
                               next_seq - 1 - pending_n - s["max"]))
    rc = w.col.stop(timeout=15)
    if rc != 0:
        problems.append("collector exited %s on SIGTERM" % rc)
    if problems:
        w.results.append(("final", "totals, outbox, promtool, seqs after a graceful stop",
                          "FAIL", "; ".join(problems)))
    else:
        w.results.append(("final", "totals, outbox, promtool, seqs after a graceful stop",
                          "PASS", ""))


def report(w):
    print("\n=== fault matrix ===", flush=True)
    for key, title, res, detail in w.results:
        print("  %-5s %-7s %s" % (key, res, title))
        if res != "PASS" and detail:
            for ln in detail.splitlines():
                print("                " + ln)
        elif detail:
            print("                " + detail)
    sys.stdout.flush()
    bad = [k for k, _, r, _ in w.results if r != "PASS"]
    if bad:
        raise AssertionError("fault matrix: %d of %d scenarios did not pass: %s"
                             % (len(bad), len(w.results), ", ".join(bad)))


def main(env):
    w = setup(env, extra_manifest=setup_hostile)
    try:
        run_scenarios(w, SCENARIOS)
        final_checks(w, expect_dead=("hook-403",))
    finally:
        report(w)


if __name__ == "__main__":
    run_test(main)
