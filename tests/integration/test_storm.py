"""Notification storms collapsed: real PostgreSQL, a collector, an agent, real HTTP targets
and two fake Slack receivers on one route (notificationPolicy.storm threshold 3, window 3 s).

  1. 20 assets behind one target go DOWN at once: each channel gets the first 3 DOWN pages
     at once (alone) and then one digest naming the other 17 - at most a handful of messages
     per channel, naming all 20, each once; the database has 20 DOWN rows per channel, all
     sent, 17 of them through one DIGEST row. The collector is SIGKILLed and restarted while
     the digests wait: they still go out, once.
  2. the 20 come back: likewise 3 RECOVERY pages alone and one digest naming the rest, each
     after the asset's DOWN.
  3. after the storm (the window has passed), one more asset on the same route goes down and
     comes back: exactly one DOWN and one RECOVERY per channel, alone - a storm never
     swallows the next real outage.
"""
import os
import re
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from harness import (check, log, measure, message_text, run_test, wait_for,  # noqa: E402
                     webhook_url)

N = 20
THRESHOLD = 3
WINDOW_S = 3
NAMES = ["Storm %02d" % (i + 1) for i in range(N)]
HANDFUL = 5


def asset(aid, name, url):
    return {"id": aid, "assetType": "http", "name": name, "address": url,
            "intervalSeconds": 1, "timeoutSeconds": 1, "expectedStatusCodes": [200],
            "metadata": {"tier": "edge"}}


def texts(hook, since=0):
    return [message_text(m) for m in hook.messages()[since:]]


def named(msgs):
    """The storm assets named in msgs."""
    return {n for n in NAMES if any(n in t for t in msgs)}


def digests(msgs, word):
    return [t for t in msgs if "%s (storm)" % word in t]


def count(pg, where):
    return int(pg.scalar("SELECT count(*) FROM notifications WHERE " + where))


def main(env):
    pg = env.start_pg()
    shared = env.target()
    lone = env.target()
    hooks = {"edge-chat": env.webhook(), "edge-ops": env.webhook()}
    manifest = {"assets": [asset("storm-%02d" % (i + 1), NAMES[i], shared.url("/s%d" % i))
                           for i in range(N)] + [asset("lone", "Lone asset", lone.url())]}
    notifiers = {
        "notifiers": {name: {"type": "slack", "webhookUrl": webhook_url(h)}
                      for name, h in hooks.items()},
        "notificationPolicy": {
            "onDown": [], "onRecovery": [], "throttleSeconds": 0,
            "routes": [{"match": {"tier": "edge"}, "onDown": ["edge-chat", "edge-ops"]}],
            "storm": {"threshold": THRESHOLD, "windowSeconds": WINDOW_S, "maxNames": 25}}}
    col = env.start_collector(pg, manifest, notifiers, heartbeat_ms=1000)
    agent = env.start_agent(col, "a-eu", "eu")
    live = [col, agent]
    wait_for(lambda: int(pg.scalar("SELECT count(*) FROM assets WHERE state = 'UP'")) == N + 1,
             60, "all %d assets UP" % (N + 1), interval=0.2, procs=live)
    check(all(h.messages() == [] for h in hooks.values()), "no message while all are up")

    # 1. the storm: 20 DOWN at once. While the digests wait for their window, the collector
    # is killed (SIGKILL) and started again: the digests still go out, once.
    t0 = time.monotonic()
    shared.set_status(503)
    # (the kill waits until the pages alone are marked sent: one killed between its delivery
    # and its mark would be delivered again after its lease, at least once by design, which
    # is not what this test is about)
    wait_for(lambda: count(pg, "event = 'DIGEST' AND status = 'pending'") == 2
             and all(len(h.messages()) >= THRESHOLD for h in hooks.values())
             and count(pg, "event = 'DOWN' AND digest_key IS NULL AND status = 'sent'")
             == 2 * THRESHOLD, 30,
             "the first %d pages alone sent and a pending digest per channel" % THRESHOLD,
             interval=0.05, procs=live)
    measure("target down -> first pages alone", time.monotonic() - t0)
    col.kill9()
    env.restart(col)
    log("collector killed and restarted while %d digests were pending"
        % count(pg, "event = 'DIGEST' AND status = 'pending'"))
    for name, h in hooks.items():
        wait_for(lambda: named(texts(h)) == set(NAMES), 30 + 2 * WINDOW_S,
                 "%s: messages naming all %d assets" % (name, N), interval=0.1, procs=live)
        measure("%s: target down -> all %d named" % (name, N), time.monotonic() - t0)
    wait_for(lambda: count(pg, "event = 'DOWN' AND status = 'sent'") == 2 * N, 10,
             "%d DOWN rows sent" % (2 * N), procs=live)
    down_counts = {}
    for name, h in hooks.items():
        msgs = texts(h)
        for t in msgs:
            log("%s: %s" % (name, re.sub(r"\s+", " ", t)[:160]))
        alone = [t for t in msgs if "(storm)" not in t]
        dig = digests(msgs, "DOWN")
        down_counts[name] = len(msgs)
        check(len(alone) == THRESHOLD, "%s: %d DOWN pages alone (want %d)" % (name, len(alone),
                                                                               THRESHOLD))
        check(1 <= len(dig) <= 2 and len(msgs) <= HANDFUL,
              "%s: %d messages for %d assets down (%d digests), at most %d" % (
                  name, len(msgs), N, len(dig), HANDFUL))
        check(any("%d more assets" % (N - THRESHOLD) in t for t in dig) or len(dig) == 2,
              "%s: the digest counts the %d collapsed pages" % (name, N - THRESHOLD))
        twice = [n for n in NAMES if sum(n in t for t in msgs) != 1]
        check(not twice, "%s: every asset named in exactly one DOWN message (not: %r)"
              % (name, twice))
    check(count(pg, "event = 'DIGEST' AND status = 'sent'") == sum(
        len(digests(texts(h), "DOWN")) for h in hooks.values()), "one DIGEST row per digest")
    check(count(pg, "event = 'DOWN' AND digest_key IS NOT NULL") == 2 * (N - THRESHOLD),
          "%d DOWN rows collapsed" % (2 * (N - THRESHOLD)))
    check(int(pg.scalar("SELECT count(*) FROM incident_events WHERE kind = 'notified'"
                        " AND detail ? 'digest'")) == 2 * (N - THRESHOLD),
          "each collapsed page is on its incident's timeline with its digest")

    # 2. the 20 come back
    t1 = time.monotonic()
    shared.set_status(200)
    for name, h in hooks.items():
        since = down_counts[name]
        wait_for(lambda: named([t for t in texts(h, since) if "RECOVER" in t]) == set(NAMES),
                 30 + 2 * WINDOW_S, "%s: recoveries naming all %d" % (name, N), interval=0.1,
                 procs=live)
        measure("%s: target up -> all %d named recovered" % (name, N), time.monotonic() - t1)
    wait_for(lambda: count(pg, "event = 'RECOVERY' AND status = 'sent'") == 2 * N, 10,
             "%d RECOVERY rows sent" % (2 * N), procs=live)
    rec_counts = {}
    for name, h in hooks.items():
        msgs = texts(h, down_counts[name])
        rec_counts[name] = len(h.messages())
        alone = [t for t in msgs if "(storm)" not in t]
        check(len(alone) == THRESHOLD and 1 <= len(digests(msgs, "RECOVERED")) <= 2
              and len(msgs) <= HANDFUL,
              "%s: %d RECOVERY messages (%d alone) for %d assets" % (name, len(msgs),
                                                                     len(alone), N))
    check(int(pg.scalar(
        "SELECT count(*) FROM notifications r JOIN notifications d ON d.incident_id ="
        " r.incident_id AND d.channel = r.channel AND d.event = 'DOWN'"
        " WHERE r.event = 'RECOVERY' AND r.sent_at < d.sent_at")) == 0,
          "every RECOVERY went out after its DOWN")
    check(count(pg, "status <> 'sent'") == 0, "no notification pending or dead")

    # 3. after the window: the next outage pages exactly once, alone
    wait_for(lambda: float(pg.scalar("SELECT extract(epoch FROM now() - max(created_at))"
                                     " FROM notifications WHERE event = 'RECOVERY'")) > WINDOW_S,
             WINDOW_S + 5, "the storm's window to pass since its last page", interval=0.2)
    t2 = time.monotonic()
    lone.set_status(503)
    for name, h in hooks.items():
        wait_for(lambda: any("Lone asset" in t and "DOWN" in t
                             for t in texts(h, rec_counts[name])),
                 30, "%s: DOWN of the lone asset" % name, interval=0.1, procs=live)
    measure("lone asset down -> DOWN page", time.monotonic() - t2)
    lone.set_status(200)
    for name, h in hooks.items():
        wait_for(lambda: any("Lone asset" in t and "RECOVER" in t
                             for t in texts(h, rec_counts[name])),
                 30, "%s: RECOVERY of the lone asset" % name, interval=0.1, procs=live)
    # watch two windows for a duplicate or a late digest
    watch_until = time.monotonic() + 2 * WINDOW_S
    while time.monotonic() < watch_until:
        extra = {n: len(texts(h, rec_counts[n])) for n, h in hooks.items()}
        if any(v > 2 for v in extra.values()):
            raise AssertionError("more than DOWN + RECOVERY for the next outage: %r" % extra)
        time.sleep(0.2)
    for name, h in hooks.items():
        msgs = texts(h, rec_counts[name])
        for t in msgs:
            log("%s after the storm: %s" % (name, re.sub(r"\s+", " ", t)[:120]))
        check(len(msgs) == 2 and "(storm)" not in "".join(msgs),
              "%s: exactly one DOWN and one RECOVERY for the next outage, alone (got %d)"
              % (name, len(msgs)))
    check(count(pg, "status <> 'sent'") == 0, "no notification pending or dead")
    for p in live:
        p.stop()
        check(p.returncode() == 0, "%s exited 0" % p.name)


if __name__ == "__main__":
    run_test(main)
