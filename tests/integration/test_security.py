"""Agents are authenticated (CURVE), and a hostile or broken peer cannot hurt the collector.

Real PostgreSQL, a collector with --cert/--agents-dir, two enrolled agents (a-eu in region
eu, a-us in region us) probing a local HTTP target, and a fake Slack receiver.

  1. intruders: an agent in plain text, an agent whose certificate is not in the agents dir,
     an admitted key that says Hello as another agent id, one that claims another region,
     and a raw plain-text ZeroMQ DEALER (tests/lib/hostile_peer.c): none gets an assignment,
     none appears in /api/agents, nothing of theirs is stored; the refusals are counted by
     reason in statusd_agents_refused_total and logged
  2. hostile inputs from an admitted key: Hellos as a-eu (takeover), a Hello flood, a result
     numbered INT64_MAX (refused; a later result of the same agent is still stored), a frame
     over --max-frame-bytes, 1 MiB frames of empty results (decode ~50x their size): the
     collector stays under RSS_BOUND_MB, a-eu keeps its connection (no AGENT_DOWN), the real
     agents' results keep being stored, and no page is sent about the asset or the real
     agents (the hostile key's own comings and goings are paged as AGENT DOWN/UP mallory)
  3. revocation: a-us's certificate leaves the agents dir; without a restart a-us is cut off
     (AGENT_DOWN, its results stop); rotation: a new certificate naming a-us is added and
     a-us, restarted with the new key, is stored again
  4. after all of it, the target goes 503: exactly one DOWN page for the asset; back to 200:
     exactly one RECOVERY
"""
import json
import os
import re
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from harness import (BUILD_DIR, SLOW, check, classify_message, http_get,  # noqa
                     http_get_json, log, measure, message_text, run_test, timed_wait,
                     webhook_url)

HOSTILE_BIN = os.environ.get("STATUSD_HOSTILE_BIN") or os.path.join(BUILD_DIR, "hostile_peer")
ASSET = "web"
# the collector's peak RSS during the hostile phase stays below this (its own baseline is
# ~20 MB; one decode of a frame within the element bounds allocates at most ~10 MiB plus
# twice the frame, and frames are judged one at a time)
RSS_BOUND_MB = 150
MAX_FRAME = 2 * 1024 * 1024


def metric(col, name, **labels):
    """Sum of the samples of name whose labels include labels (0 when none)."""
    _, body = http_get(col.api + "/metrics")
    total = 0.0
    for line in body.splitlines():
        if not line.startswith(name + "{") and not line.startswith(name + " "):
            continue
        if all('%s="%s"' % (k, v) in line for k, v in labels.items()):
            total += float(line.rsplit(" ", 1)[1])
    return total


def agents_listed(col):
    obj = http_get_json(col.api + "/api/agents")
    items = obj if isinstance(obj, list) else obj.get("agents", [])
    return {a["id"]: a for a in items}


def stored(pg, agent):
    return int(pg.scalar("SELECT count(*) FROM probe_events WHERE agent_id = '%s'" % agent))


def agents_stored(pg):
    return {r[0] for r in pg.query("SELECT DISTINCT agent_id FROM probe_events")}


def hostile(env, col, mode, arg=None, cert=None, agent_id="hostile", region="eu", wait_ms=2500):
    argv = [HOSTILE_BIN, "--endpoint", col.endpoint, "--id", agent_id, "--region", region,
            "--wait-ms", str(wait_ms)]
    if cert:
        pub, _ = env.collector_cert()
        argv += ["--cert", cert, "--collector-cert", pub]
    argv += [mode] + ([str(arg)] if arg is not None else [])
    t0 = time.monotonic()
    r = subprocess.run(argv, capture_output=True, text=True, timeout=120)
    lines = [json.loads(x) for x in r.stdout.splitlines() if x.startswith("{")]
    out = {}
    for x in lines:
        out.update(x)
    log("hostile %s %s as %s/%s: %s (%.1f s) %s" % (mode, arg or "", agent_id, region, out,
                                                     time.monotonic() - t0, r.stderr.strip()))
    check(r.returncode == 0, "hostile_peer %s ran (rc=%d)" % (mode, r.returncode))
    return out


def pages_about_real(slack, allow_us_revocation=False):
    """Pages about the asset or the enrolled agents. The hostile key's own connections come
    and go, and an admitted agent that goes silent is paged (AGENT DOWN/UP mallory): that is
    the engine working, not the attack succeeding. Revoking a-us pages its AGENT DOWN."""
    out = []
    for m in slack.messages():
        text = (m.get("json") or {}).get("text", "")
        if "mallory" in text:
            continue
        if allow_us_revocation and "AGENT" in text and "a-us" in text:
            continue
        out.append(text)
    return out


def rss_mb(pid):
    with open("/proc/%d/status" % pid) as f:
        m = re.search(r"VmHWM:\s+(\d+) kB", f.read())
    return int(m.group(1)) / 1024.0


def forged_secret(env, name, claimed_name, claimed_region):
    """An admitted certificate `name`, whose secret file is edited to claim another name or
    region: the agent binary believes it, the collector reads its own copy."""
    env.enrol(name, "us" if claimed_region != "us" else "eu")
    _, sec = env.keygen(name, dirname="agent-keys")
    forged = env.path("forged-%s.cert_secret" % name)
    text = open(sec).read()
    text = re.sub(r'name = "[^"]*"', 'name = "%s"' % claimed_name, text)
    text = re.sub(r'region = "[^"]*"', 'region = "%s"' % claimed_region, text)
    with open(forged, "w") as f:
        f.write(text)
    os.chmod(forged, 0o600)
    return forged


def main(env):
    pg = env.start_pg()
    target = env.target()
    slack = env.webhook()
    manifest = {"assets": [{
        "id": ASSET, "assetType": "http", "name": "Web", "address": target.url("/health"),
        "intervalSeconds": 1, "timeoutSeconds": 1, "expectedStatusCodes": [200]}]}
    notifiers = {"notifiers": {"slack": {"type": "slack", "webhookUrl": webhook_url(slack)}},
                 "notificationPolicy": {"onDown": ["slack"], "onRecovery": ["slack"],
                                        "throttleSeconds": 0, "repeatAlerts": False}}
    # enrol the real agents before the collector starts (they connect at once)
    env.enrol("a-eu", "eu")
    env.enrol("a-us", "us")
    col = env.start_collector(pg, manifest, notifiers, heartbeat_ms=1000,
                              extra=["--max-frame-bytes", str(MAX_FRAME)])
    a_eu = env.start_agent(col, "a-eu", "eu")
    a_us = env.start_agent(col, "a-us", "us")
    timed_wait(lambda: stored(pg, "a-eu") > 0 and stored(pg, "a-us") > 0, 20 * SLOW,
               "results of both enrolled agents stored")

    # --- 1. intruders ------------------------------------------------------------------
    plain = env.start_agent(col, "intruder-plain", "eu", secure=False)
    pub, sec = env.keygen("stranger", "eu", dirname="stranger-keys")  # never enrolled
    stranger = env.proc("agent-stranger", [
        os.environ.get("STATUSD_AGENT_BIN") or os.path.join(BUILD_DIR, "statusd-agent"),
        "--collector", col.endpoint, "--cert", sec, "--collector-cert", env.collector_cert()[0],
        "--heartbeat-ms", "1000"], cwd=env.dir).start()
    # an admitted key (mallory) whose agent says Hello as a-eu, one (regio) that claims eu
    mallory = forged_secret(env, "mallory", "a-eu", "eu")
    regio = forged_secret(env, "regio", "regio", "eu")
    agent_bin = os.environ.get("STATUSD_AGENT_BIN") or os.path.join(BUILD_DIR, "statusd-agent")
    forged = []
    for name, cert in (("mallory", mallory), ("regio", regio)):
        forged.append(env.proc("agent-forged-" + name, [
            agent_bin, "--collector", col.endpoint, "--cert", cert,
            "--collector-cert", env.collector_cert()[0], "--heartbeat-ms", "1000"],
            cwd=env.dir).start())
    raw = hostile(env, col, "hello", agent_id="raw-dealer", region="eu")
    check(raw["hello_replies"] == 0 and raw["assignments"] == 0 and raw["heartbeats"] == 0,
          "a raw plain-text DEALER gets nothing back (%s)" % raw)

    def refused_all():
        return (metric(col, "statusd_agents_refused_total", reason="unknown_key") >= 1 and
                metric(col, "statusd_agents_refused_total", reason="wrong_id") >= 1 and
                metric(col, "statusd_agents_refused_total", reason="wrong_region") >= 1)
    timed_wait(refused_all, 20 * SLOW, "refusals counted: unknown_key, wrong_id, wrong_region")
    t_settle = time.monotonic() + 3
    timed_wait(lambda: time.monotonic() >= t_settle, 10, "3 s more of intruders retrying")
    listed = set(agents_listed(col))
    log("/api/agents: %s; agents with stored results: %s" % (sorted(listed),
                                                           sorted(agents_stored(pg))))
    check(listed == {"a-eu", "a-us"}, "only the enrolled agents are listed (%s)" % listed)
    check(agents_stored(pg) == {"a-eu", "a-us"}, "only the enrolled agents' results are stored")
    for p, why in ((plain, "handshake with the collector failed"),
                   (stranger, "the collector refused this agent's key")):
        text = open(p.logpath, errors="replace").read()
        check(why in text, "%s logs %r" % (p.name, why))
        check("assignment applied" not in text, "%s never got an assignment" % p.name)
    for p in forged:
        check("assignment applied" not in open(p.logpath, errors="replace").read(),
              "%s (admitted key, forged claim) never got an assignment" % p.name)
    colog = open(col.logpath, errors="replace").read()
    for reason in ("unknown_key", "wrong_id", "wrong_region"):
        check(colog.count("agent refused reason=%s" % reason) >= 1,
              "the collector logs the refusal %s" % reason)
    n_logged = len(re.findall(r"agent refused reason=wrong_id", colog))
    check(n_logged == 1, "a refusal is logged once per key (wrong_id logged %d times)" % n_logged)
    for p in [plain, stranger] + forged:
        p.stop()

    # --- 2. hostile inputs from an admitted key -------------------------------------------
    _, msec = env.keygen("mallory", dirname="agent-keys")   # mallory's real certificate
    eu_before, us_before = stored(pg, "a-eu"), stored(pg, "a-us")
    takeover = hostile(env, col, "hello-flood", 50, cert=msec, agent_id="a-eu", region="eu")
    check(takeover["hello_replies"] == 0 and takeover["assignments"] == 0,
          "Hellos as a-eu from mallory's key get nothing (%s)" % takeover)
    flood = hostile(env, col, "hello-flood", 2000, cert=msec, agent_id="mallory", region="us")
    check(1 <= flood["hello_replies"] <= 20, "a flood of 2000 Hellos is answered only a few "
          "times (%d)" % flood["hello_replies"])
    check(metric(col, "statusd_agents_refused_total", reason="hello_rate") >= 1000,
          "the flood is counted (hello_rate)")
    jump = hostile(env, col, "seq-jump", ASSET, cert=msec, agent_id="mallory", region="us")
    check(jump.get("good_seq") and jump["max_ack"] == jump["good_seq"],
          "after a refused seq INT64_MAX, mallory's next result is acked (%s)" % jump)
    rows = pg.query("SELECT seq FROM probe_events WHERE agent_id = 'mallory'")
    seqs = sorted(int(r[0]) for r in rows)
    log("mallory's stored seqs: %s" % seqs)
    check(seqs and max(seqs) < 2 ** 62, "no result numbered INT64_MAX was stored (%s)" % seqs)
    check(metric(col, "statusd_agents_refused_total", reason="seq_ahead") >= 1,
          "the seq jump is counted (seq_ahead)")
    big = hostile(env, col, "big-frame", MAX_FRAME + 1024, cert=msec, agent_id="mallory",
                  region="us")
    check(big["acks"] == 0, "a frame over --max-frame-bytes is not acked (%s)" % big)
    def dropped_undecoded():
        # refused by the element bounds (malformed), or, once the bomber's connection was
        # declared silent (it sends no heartbeats), as a large frame of an unknown sender
        return (metric(col, "statusd_wire_malformed_total") +
                metric(col, "statusd_wire_unknown_peer_total"))
    malformed0 = dropped_undecoded()
    bomb = hostile(env, col, "bomb", 40, cert=msec, agent_id="mallory", region="us",
                   wait_ms=4000)
    timed_wait(lambda: dropped_undecoded() - malformed0 >= 40,
               20 * SLOW, "40 frames of empty results refused before decoding")
    peak = rss_mb(col.pid)
    measure("collector peak RSS after the hostile inputs (MB)", peak)
    check(peak < RSS_BOUND_MB, "collector peak RSS %.1f MB < %d MB" % (peak, RSS_BOUND_MB))
    check(bomb["acks"] == 0, "no bomb frame is acked")
    timed_wait(lambda: stored(pg, "a-eu") > eu_before + 3 and stored(pg, "a-us") > us_before + 3,
               15 * SLOW, "the enrolled agents' results keep being stored")
    colog = open(col.logpath, errors="replace").read()
    check("agent disconnected agent=a-eu" not in colog,
          "a-eu kept its connection through the takeover attempts")
    check(pages_about_real(slack) == [], "no page about the real agents or the asset (%s)"
          % pages_about_real(slack))

    # --- 3. revocation and rotation -----------------------------------------------------
    os.unlink(os.path.join(env.agents_dir(), "a-us.cert"))
    t0 = time.monotonic()
    timed_wait(lambda: "agent disconnected agent=a-us" in open(col.logpath).read(),
               10 * SLOW, "a-us cut off after its certificate was removed")
    measure("certificate removed -> a-us disconnected", time.monotonic() - t0)
    timed_wait(lambda: "the collector refused this agent's key" in open(a_us.logpath).read(),
               15 * SLOW, "a-us's reconnect refused at the handshake")
    n_us = stored(pg, "a-us")
    settle = time.monotonic() + 3
    timed_wait(lambda: time.monotonic() >= settle, 10, "3 s with a-us revoked")
    check(stored(pg, "a-us") == n_us, "nothing more of a-us is stored after revocation "
          "(%d -> %d)" % (n_us, stored(pg, "a-us")))
    a_us.stop()
    # rotation: a new key pair naming a-us goes in, a-us restarts with it
    rpub, rsec = env.keygen("a-us-2027", "us", dirname="rotated")
    text = open(rpub).read().replace('name = "a-us-2027"', 'name = "a-us"')
    with open(os.path.join(env.agents_dir(), "a-us-2027.cert"), "w") as f:
        f.write(text)
    stext = open(rsec).read().replace('name = "a-us-2027"', 'name = "a-us"')
    with open(rsec, "w") as f:
        f.write(stext)
    rotated = env.proc("agent-a-us-rotated", [
        agent_bin, "--collector", col.endpoint, "--cert", rsec,
        "--collector-cert", env.collector_cert()[0], "--heartbeat-ms", "1000"],
        cwd=env.dir).start()
    timed_wait(lambda: stored(pg, "a-us") > n_us, 20 * SLOW, "a-us stored again with its "
               "rotated key")
    check(pages_about_real(slack, allow_us_revocation=True) == [],
          "no page about the asset (%s)" % pages_about_real(slack, True))

    # --- 4. after all of it, a real outage still pages exactly once ------------------------
    def asset_pages(kind):
        return [m for m in slack.messages() if classify_message(m) == kind
                and not re.search(r"AGENT[ _](DOWN|UP)", message_text(m).upper())]
    target.set_status(503)
    t0 = time.monotonic()
    timed_wait(lambda: len(asset_pages("DOWN")) >= 1, 30 * SLOW, "the asset's DOWN page")
    measure("target 503 -> DOWN page", time.monotonic() - t0)
    target.set_status(200)
    t0 = time.monotonic()
    timed_wait(lambda: len(asset_pages("RECOVERY")) >= 1, 60 * SLOW, "the asset's RECOVERY")
    measure("target 200 -> RECOVERY page", time.monotonic() - t0)
    check(len(asset_pages("DOWN")) == 1 and len(asset_pages("RECOVERY")) == 1,
          "exactly one DOWN and one RECOVERY for the asset (%d, %d)"
          % (len(asset_pages("DOWN")), len(asset_pages("RECOVERY"))))
    for p in (a_eu, rotated, col):
        check(p.stop() == 0, "%s exits 0" % p.name)


if __name__ == "__main__":
    run_test(main)
