"""End to end: real PostgreSQL, one collector, two agents (regions eu and us), a local HTTP
target and a fake Slack receiver.

  1. results from both agents reach Postgres; /api routes answer; /metrics has
     statusd_probe_success for both agents
  2. target -> 503: exactly one incident opens, exactly one DOWN reaches Slack
  3. target -> 200: the incident closes, exactly one RECOVERY reaches Slack
  4. collector SIGKILL + restart: per agent no result lost or duplicated (no seq gap), and
     results probed while the collector was down arrive after the restart
  5. SIGTERM stops every process with exit code 0 (in the sanitizer build: no leak)
"""
import json
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from harness import (check, classify_message, http_get, http_get_json, log, measure,  # noqa
                     run_test, timed_wait, wait_all, wait_for, webhook_url)

ASSET = "web"
AGENTS = (("a-eu", "eu"), ("a-us", "us"))
# Absence is asserted by watching for this long after the expected event (probes run every
# 1 s, so several more failing/succeeding rounds happen in this window).
SETTLE_S = 4.0


def as_list(obj, key):
    """API lists may be bare arrays or wrapped in an object."""
    if isinstance(obj, list):
        return obj
    if isinstance(obj, dict):
        for k in (key, "items", "data"):
            if isinstance(obj.get(k), list):
                return obj[k]
    raise AssertionError("expected a list (or {%r: [...]}), got %r" % (key, obj))


def per_agent_stats(pg):
    rows = pg.query("SELECT agent_id, count(*), count(DISTINCT seq), min(seq), max(seq), "
                    "sum(CASE WHEN success THEN 1 ELSE 0 END) FROM probe_events "
                    "WHERE asset_id = '%s' GROUP BY agent_id ORDER BY agent_id" % ASSET)
    return {r[0]: {"n": int(r[1]), "distinct": int(r[2]), "min": int(r[3]), "max": int(r[4]),
                   "ok": int(r[5])} for r in rows}


def open_incidents(pg):
    return int(pg.scalar("SELECT count(*) FROM incidents WHERE asset_id = '%s' "
                         "AND ended_at IS NULL" % ASSET))


def all_incidents(pg):
    return int(pg.scalar("SELECT count(*) FROM incidents WHERE asset_id = '%s'" % ASSET))


def kinds(hook):
    return [classify_message(m) for m in hook.messages()]


def main(env):
    pg = env.start_pg()
    target = env.target()
    slack = env.webhook()
    manifest = {"assets": [{
        "id": ASSET, "assetType": "http", "name": "Test web", "address": target.url("/health"),
        "intervalSeconds": 1, "timeoutSeconds": 1, "expectedStatusCodes": [200],
        "metadata": {"env": "test"}}]}
    notifiers = {"notifiers": {"slack": {"type": "slack", "webhookUrl": webhook_url(slack)}},
                 "notificationPolicy": {"onDown": ["slack"], "onRecovery": ["slack"],
                                        "throttleSeconds": 60, "repeatAlerts": False}}
    col = env.start_collector(pg, manifest, notifiers, heartbeat_ms=1000)
    agents = [env.start_agent(col, aid, region) for aid, region in AGENTS]
    live = [col] + agents

    # 1. results from both agents reach Postgres
    t0 = time.monotonic()
    for aid, _ in AGENTS:
        wait_for(lambda: per_agent_stats(pg).get(aid, {}).get("ok", 0) >= 1, 30,
                 "a successful result of agent %s in probe_events" % aid, interval=0.1,
                 procs=live)
        measure("agent %s start -> first result in Postgres" % aid, time.monotonic() - t0)
    regions = dict(pg.query("SELECT DISTINCT agent_id, region FROM probe_events"))
    check(regions == {a: r for a, r in AGENTS}, "probe_events regions %r" % regions)
    wait_for(lambda: all(per_agent_stats(pg).get(a, {}).get("ok", 0) >= 3 for a, _ in AGENTS),
             30, "3 successful results per agent", interval=0.1, procs=live)

    # the API
    health = http_get(col.api + "/api/health")
    check(health[0] == 200, "GET /api/health -> 200 (%s)" % health[1].strip()[:200])
    assets = as_list(http_get_json(col.api + "/api/assets"), "assets")
    check(any(isinstance(a, dict) and a.get("id") == ASSET for a in assets),
          "GET /api/assets lists %r" % ASSET)
    events = as_list(http_get_json(col.api + "/api/assets/%s/events?limit=5" % ASSET),
                     "events")
    check(1 <= len(events) <= 5, "GET /api/assets/%s/events?limit=5 -> %d events"
          % (ASSET, len(events)))
    st, body = http_get(col.api + "/api/assets/no-such-asset/events?limit=5")
    check(st == 404 or (st == 200 and as_list(json.loads(body), "events") == []),
          "events of an unknown asset -> 404 or an empty list (got %d)" % st)
    incs = as_list(http_get_json(col.api + "/api/incidents"), "incidents")
    check(incs == [], "GET /api/incidents: no open incident while up")

    def metrics_has_both():
        st, text = http_get(col.api + "/metrics")
        lines = [ln for ln in text.splitlines() if ln.startswith("statusd_probe_success{")]
        return st == 200 and all(any('agent="%s"' % a in ln and 'asset="%s"' % ASSET in ln
                                     for ln in lines) for a, _ in AGENTS) and lines
    lines, dt = timed_wait(metrics_has_both, 15, "/metrics statusd_probe_success for both "
                           "agents", interval=0.2, procs=live)
    for ln in lines:
        log("  " + ln)
    check(all(float(ln.split()[-1]) == 1.0 for ln in lines),
          "statusd_probe_success is 1 for both agents while up")

    # 2. down: exactly one incident, exactly one DOWN message
    check(open_incidents(pg) == 0 and kinds(slack) == [], "no incident, no message yet")
    target.set_status(503)
    for what, dt in wait_all({
            "target 503 -> incident open in Postgres": lambda: open_incidents(pg) == 1,
            "target 503 -> DOWN delivered to Slack": lambda: "DOWN" in kinds(slack)},
            20, procs=live).items():
        measure(what, dt)
    time.sleep(SETTLE_S)  # more failing rounds: must not open or notify again
    check(all_incidents(pg) == 1, "exactly one incident (%d)" % all_incidents(pg))
    check(kinds(slack) == ["DOWN"], "exactly one message, DOWN (%r)" % kinds(slack))
    incs = as_list(http_get_json(col.api + "/api/incidents"), "incidents")
    check(len(incs) == 1, "GET /api/incidents lists the open incident")
    n = pg.scalar("SELECT count(*) FROM notifications WHERE event='DOWN' AND channel='slack' "
                  "AND status='sent'")
    check(n == "1", "one DOWN notification row, status sent (%s)" % n)

    # 3. recovery: incident closes, exactly one RECOVERY message
    target.set_status(200)
    for what, dt in wait_all({
            "target 200 -> incident closed in Postgres": lambda: open_incidents(pg) == 0,
            "target 200 -> RECOVERY delivered to Slack": lambda: "RECOVERY" in kinds(slack)},
            20, procs=live).items():
        measure(what, dt)
    time.sleep(SETTLE_S)
    check(all_incidents(pg) == 1, "still exactly one incident, closed")
    check(kinds(slack) == ["DOWN", "RECOVERY"],
          "exactly one DOWN then one RECOVERY (%r)" % kinds(slack))
    incs = as_list(http_get_json(col.api + "/api/incidents?state=all"), "incidents")
    check(len(incs) == 1, "GET /api/incidents?state=all lists the closed incident")
    check(as_list(http_get_json(col.api + "/api/incidents"), "incidents") == [],
          "GET /api/incidents: no open incident after recovery")

    # 4. SIGKILL the collector; results probed meanwhile arrive after the restart
    before = per_agent_stats(pg)
    log("before kill: %r" % before)
    kill_wall = pg.scalar("SELECT now()")
    col.kill9()
    time.sleep(3.0)  # the outage: ~3 probe rounds per agent happen with no collector
    restart_wall = pg.scalar("SELECT now()")
    for a in agents:
        check(a.alive(), "agent %s survives the collector's death" % a.agent_id)
    t_restart = time.monotonic()
    env.restart(col)

    def caught_up():
        rows = dict(pg.query(
            "SELECT agent_id, count(*) FROM probe_events WHERE asset_id = '%s' AND ts > '%s' "
            "AND ts < '%s' AND received_at > '%s' GROUP BY agent_id"
            % (ASSET, kill_wall, restart_wall, restart_wall)))
        return all(int(rows.get(a, 0)) >= 2 for a, _ in AGENTS) and rows
    rows, _ = timed_wait(caught_up, 30, "results probed during the outage to be stored "
                         "after the restart (>= 2 per agent)", interval=0.1, procs=live)
    measure("collector restart -> outage results stored", time.monotonic() - t_restart)
    log("results probed while the collector was down: %r" % rows)
    # and new results keep flowing after the replay
    mark = per_agent_stats(pg)
    wait_for(lambda: all(per_agent_stats(pg)[a]["max"] >= mark[a]["max"] + 2
                         for a, _ in AGENTS), 15, "new results after the replay",
             interval=0.1, procs=live)
    after = per_agent_stats(pg)
    log("after restart: %r" % after)
    for aid, _ in AGENTS:
        s = after[aid]
        check(s["n"] == s["distinct"], "%s: no duplicate seq (%d rows, %d distinct)"
              % (aid, s["n"], s["distinct"]))
        check(s["max"] - s["min"] + 1 == s["n"], "%s: no seq gap (min %d, max %d, %d rows)"
              % (aid, s["min"], s["max"], s["n"]))
        check(s["max"] > before[aid]["max"], "%s: seq advanced past the kill (%d -> %d)"
              % (aid, before[aid]["max"], s["max"]))
    last = dict(pg.query("SELECT id, last_seq FROM agents"))
    for aid, _ in AGENTS:
        check(int(last.get(aid, -1)) >= before[aid]["max"],
              "agents.last_seq of %s is recorded (%s)" % (aid, last.get(aid)))
    check(all_incidents(pg) == 1 and open_incidents(pg) == 0,
          "the restart opened no new incident")
    check(kinds(slack) == ["DOWN", "RECOVERY"], "the restart sent no message")

    # 5. clean shutdown
    for p in agents + [col]:
        rc = p.stop(timeout=10)
        check(rc == 0, "%s exits 0 on SIGTERM (rc=%s)" % (p.name, rc))


if __name__ == "__main__":
    run_test(main)
