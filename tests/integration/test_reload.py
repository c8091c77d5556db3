"""Configuration hot reload (SIGHUP and POST /api/reload) under agent load: real PostgreSQL,
a collector, two agents in two regions probing every second, real HTTP targets and two fake
Slack receivers.

  a  valid reload by SIGHUP: "fresh" is added (probed by both agents, listed by GET
     /api/assets), "doomed" is removed while its incident is open and paged (the incident
     closes with the reason "removed from the manifest", nobody gets a RECOVERY for it, and
     the agents stop probing it),
     "changed" is renamed while its incident is open (same asset row, same incident, still
     open), a maintenance window is added to the manifest (GET /api/maintenance lists it),
     and the notifier "ops" moves to another webhook URL (the next pages go there: the
     RECOVERY of "changed" and the DOWN of (d)).
  b  refused reloads by POST /api/reload: a syntax error and an unknown field each answer
     422 naming the file, line and field; GET /api/assets is unchanged, the agents keep
     probing, statusd_config_last_reload_successful is 0 and /api/health says why (still
     200); without a token 401; then a good reload answers 200 (generation 3) and the gauge
     is 1 again.
  c  no result lost or duplicated for the assets kept across the reloads: each of "keep-a"
     and "keep-b" has its own target and is probed by one agent; the rows stored equal the
     requests its target received, and no (agent, seq) is stored twice.
  d  after all that, a new outage ("later") pages exactly once, at the new URL.
"""
import json
import os
import re
import signal
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from harness import (check, http_get, http_get_json, http_request, log, measure,  # noqa: E402
                     message_text, run_test, wait_for, webhook_url)

TOKEN = "reload-test-token-0123456789abcdef"


def asset(aid, name, url, locations=None, **extra):
    a = {"id": aid, "assetType": "http", "name": name, "address": url, "intervalSeconds": 1,
         "timeoutSeconds": 1, "expectedStatusCodes": [200]}
    if locations:
        a["locations"] = locations
    a.update(extra)
    return a


def notifiers(hook):
    return {"notifiers": {"ops": {"type": "slack", "webhookUrl": webhook_url(hook)}},
            "notificationPolicy": {"onDown": ["ops"], "onRecovery": ["ops"],
                                   "throttleSeconds": 0, "storm": {"threshold": 0}}}


def post_reload(col, token=TOKEN):
    st, text = http_request(col.api + "/api/reload", "POST", b"",
                            {"Authorization": "Bearer " + token} if token else {}, timeout=15)
    return st, json.loads(text or "null")


def metric(col, name):
    st, text = http_get(col.api + "/metrics")
    m = re.search(r"^%s (\S+)$" % re.escape(name), text, re.M)
    return float(m.group(1)) if m else None


def asset_ids(col):
    return sorted(a["id"] for a in http_get_json(col.api + "/api/assets"))


def texts(hook):
    return [message_text(m) for m in hook.messages()]


def pages(hook, name, word):
    """Messages of hook about asset `name` whose text says `word` (DOWN or RECOVER)."""
    return [t for t in texts(hook) if name in t and word in t.upper()]


def rows(pg, aid):
    return int(pg.scalar("SELECT count(*) FROM probe_events WHERE asset_id = '%s'" % aid))


def open_incident(pg, aid):
    v = pg.scalar("SELECT id FROM incidents WHERE asset_id = '%s' AND ended_at IS NULL" % aid)
    return int(v) if v else None


def main(env):
    pg = env.start_pg()
    t_a, t_b, t_doomed, t_changed, t_later, t_fresh = (env.target() for _ in range(6))
    hook1, hook2 = env.webhook(), env.webhook()
    kept = [asset("keep-a", "Keep A", t_a.url("/keep-a"), ["ra"]),
            asset("keep-b", "Keep B", t_b.url("/keep-b"), ["rb"]),
            asset("later", "Later", t_later.url("/later"))]
    v1 = {"assets": kept + [asset("doomed", "Doomed", t_doomed.url("/doomed")),
                            asset("changed", "Changed", t_changed.url("/changed"))]}
    soon = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + 3600))
    later_ = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + 7200))
    v2 = {"assets": kept + [asset("changed", "Changed v2", t_changed.url("/changed"),
                                  metadata={"team": "web"}),
                            asset("fresh", "Fresh", t_fresh.url("/fresh"))],
          "maintenance": [{"id": "after-reload", "assets": ["keep-a"], "reason": "planned",
                           "start": soon, "end": later_}]}
    mpath = env.write_json("manifest.json", v1)
    npath = env.write_json("notifiers.json", notifiers(hook1))
    tokens = env.write_text("tokens", TOKEN + "\n")
    col = env.start_collector(pg, mpath, npath, extra=["--api-token-file", tokens])
    agents = [env.start_agent(col, "a-ra", "ra"), env.start_agent(col, "a-rb", "rb")]
    live = [col] + agents
    t0 = time.monotonic()
    check(metric(col, "statusd_config_last_reload_successful") == 1.0,
          "at start statusd_config_last_reload_successful is 1")
    wait_for(lambda: int(pg.scalar("SELECT count(*) FROM assets WHERE state = 'UP'")) == 5, 30,
             "all 5 assets UP", interval=0.1, procs=live)
    measure("start -> 5 assets UP", time.monotonic() - t0)

    # two open, paged incidents
    t_doomed.set_status(503)
    t_changed.set_status(503)
    wait_for(lambda: pages(hook1, "Doomed", "DOWN") and pages(hook1, "Changed", "DOWN"), 20,
             "DOWN pages of doomed and changed at the first URL", interval=0.1, procs=live)
    doomed_inc, changed_inc = open_incident(pg, "doomed"), open_incident(pg, "changed")
    check(doomed_inc and changed_inc, "incidents open: doomed %s, changed %s"
          % (doomed_inc, changed_inc))

    # a. a valid reload by SIGHUP
    env.write_json("manifest.json", v2)
    env.write_json("notifiers.json", notifiers(hook2))
    t1 = time.monotonic()
    col.signal(signal.SIGHUP)
    wait_for(lambda: metric(col, "statusd_config_generation") == 2.0, 10,
             "generation 2 after SIGHUP", interval=0.05, procs=live)
    col.wait_log(r"configuration reloaded source=SIGHUP generation=2 assets_added=1 "
                 r"assets_removed=1 assets_changed=1 notifiers_added=0 notifiers_removed=0 "
                 r"notifiers_changed=1", 5)
    wait_for(lambda: open_incident(pg, "doomed") is None, 10,
             "the incident of the removed asset closed", interval=0.05, procs=live)
    measure("SIGHUP -> incident of the removed asset closed", time.monotonic() - t1)
    reason = pg.scalar("SELECT detail->>'reason' FROM incident_events WHERE incident_id = %d"
                       " AND kind = 'resolved'" % doomed_inc)
    check(reason == "removed from the manifest", "its 'resolved' event says %r" % reason)
    check(int(pg.scalar("SELECT count(*) FROM notifications WHERE asset_id = 'doomed'"
                        " AND event = 'RECOVERY'")) == 0, "no RECOVERY row for doomed")
    wait_for(lambda: asset_ids(col) == ["changed", "fresh", "keep-a", "keep-b", "later"], 10,
             "GET /api/assets lists fresh and not doomed", interval=0.1, procs=live)
    st, _ = http_get(col.api + "/api/assets/doomed")
    check(st == 404, "GET /api/assets/doomed: 404 (%d)" % st)
    wait_for(lambda: int(pg.scalar("SELECT count(DISTINCT agent_id) FROM probe_events"
                                   " WHERE asset_id = 'fresh'")) == 2
             and pg.scalar("SELECT state FROM assets WHERE id = 'fresh'") == "UP", 15,
             "fresh probed by both agents and UP", interval=0.1, procs=live)
    measure("SIGHUP -> new asset UP", time.monotonic() - t1)
    doomed_hits = t_doomed.hits  # both agents have the new plan (they probe fresh)
    wait_for(lambda: [w["name"] for w in http_get_json(col.api + "/api/maintenance")]
             == ["after-reload"], 5, "the manifest's new maintenance window listed",
             interval=0.1, procs=live)
    check(open_incident(pg, "changed") == changed_inc,
          "changed keeps its open incident %s" % changed_inc)
    row = pg.query("SELECT name, metadata->>'team' FROM assets WHERE id = 'changed'")[0]
    check(row == ["Changed v2", "web"], "changed's row updated in place: %r" % row)

    # b. refused reloads: a syntax error, an unknown field; the old configuration stays
    before = rows(pg, "keep-a")
    lines = json.dumps(v2, indent=2).splitlines()
    bad_line = next(i for i, l in enumerate(lines) if '"Fresh"' in l)
    broken = lines[:bad_line] + [lines[bad_line] + ","] + lines[bad_line + 1:]
    env.write_text("manifest.json", "\n".join(broken) + "\n")
    st, body = post_reload(col)
    log("syntax error: %d %r" % (st, body))
    check(st == 422 and "manifest.json:%d:" % (bad_line + 1) in body["error"],
          "syntax error: 422 naming manifest.json:%d (%s)" % (bad_line + 1, body))
    unknown = json.loads(json.dumps(v2))
    unknown["assets"][4]["colour"] = "red"
    text = json.dumps(unknown, indent=2)
    env.write_text("manifest.json", text + "\n")
    st, body = post_reload(col)
    log("unknown field: %d %r" % (st, body))
    line = text[:text.index('"colour"')].count("\n") + 1
    check(st == 422 and "manifest.json:%d:" % line in body["error"]
          and "assets[4].colour" in body["error"],
          "unknown field: 422 naming manifest.json:%d and assets[4].colour" % line)
    check(metric(col, "statusd_config_last_reload_successful") == 0.0
          and metric(col, "statusd_config_generation") == 2.0,
          "statusd_config_last_reload_successful 0, generation still 2")
    health = http_get_json(col.api + "/api/health")
    check(health["config"]["status"] == "reload_failed" and "colour" in health["config"]["error"]
          and health["status"] == "healthy", "/api/health 200 with config %r" % health["config"])
    check(asset_ids(col) == ["changed", "fresh", "keep-a", "keep-b", "later"],
          "GET /api/assets unchanged")
    st, _ = post_reload(col, token=None)
    check(st == 401, "POST /api/reload without a token: 401")
    wait_for(lambda: rows(pg, "keep-a") >= before + 2, 5, "keep-a still probed",
             interval=0.1, procs=live)
    env.write_json("manifest.json", v2)
    st, body = post_reload(col)
    check(st == 200 and body["generation"] == 3 and body["reloaded"] is True
          and body["assetsAdded"] == body["assetsRemoved"] == body["assetsChanged"] == 0,
          "a good reload: 200 %r" % body)
    check(metric(col, "statusd_config_last_reload_successful") == 1.0
          and http_get_json(col.api + "/api/health")["config"]["status"] == "ok",
          "statusd_config_last_reload_successful back to 1, /api/health config ok")

    # d. the next pages go to the new URL: the RECOVERY of changed, then one new outage
    t_changed.set_status(200)
    wait_for(lambda: pages(hook2, "Changed v2", "RECOVER"), 15,
             "the RECOVERY of changed at the new URL", interval=0.1, procs=live)
    t2 = time.monotonic()
    t_later.set_status(503)
    wait_for(lambda: pages(hook2, "Later", "DOWN"), 15, "the DOWN of later at the new URL",
             interval=0.1, procs=live)
    measure("target down -> DOWN page after the reloads", time.monotonic() - t2)
    wait_for(lambda: pg.scalar("SELECT string_agg(status, ',') FROM notifications"
                               " WHERE asset_id = 'later'") == "sent", 10,
             "one DOWN row of later, sent", interval=0.1, procs=live)
    check(len(pages(hook2, "Later", "DOWN")) == 1, "later paged exactly once")
    for t in texts(hook1) + texts(hook2):
        log("page: %s" % re.sub(r"\s+", " ", t)[:140])
    check(len(texts(hook1)) == 2, "the first URL got only the 2 DOWN pages before the reload")
    check(not pages(hook1, "Doomed", "RECOVER") and not pages(hook2, "Doomed", "RECOVER"),
          "no RECOVERY for the removed asset anywhere")
    check(t_doomed.hits - doomed_hits <= 2, "the agents stopped probing the removed asset "
          "(%d requests after both had the new plan)" % (t_doomed.hits - doomed_hits))

    # c. results: none lost, none twice, for the assets kept across the reloads
    for aid, target in (("keep-a", t_a), ("keep-b", t_b)):
        got = {}

        def same():
            got["rows"], got["hits"] = rows(pg, aid), target.hits
            return got["rows"] == got["hits"]
        wait_for(same, 5, "%s: rows stored == requests its target received" % aid,
                 interval=0.02, procs=live)
        log("%s: %d rows stored, %d requests received" % (aid, got["rows"], got["hits"]))
        dup = int(pg.scalar("SELECT count(*) - count(DISTINCT (agent_id, seq)) FROM probe_events"
                            " WHERE asset_id = '%s'" % aid))
        check(dup == 0, "%s: no (agent, seq) stored twice" % aid)
    measure("test body", time.monotonic() - t0)


if __name__ == "__main__":
    run_test(main)
