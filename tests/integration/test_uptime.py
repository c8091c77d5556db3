"""Time-weighted uptime from a real outage of known length: real PostgreSQL, a collector, an
agent and two HTTP targets.

  1. "web" is taken down for 6 s, and the collector is SIGKILLed and restarted in the middle
     of it: GET /api/assets/web/uptime over the test's interval reports
     downSeconds equal to the outage the probes saw (first failing probe to first succeeding
     one) within 0.5 s and to the 6 s the target was down within 1.5 s (one probe interval),
     the figure (observed - down) / observed, and the incident.
  2. "maint" is taken down for 6 s inside a maintenance window (POST /api/maintenance): the
     window's time is maintenanceSeconds, not downSeconds; its uptime stays 1.
  3. GET /api/assets carries each asset's 24 h / 7 d / 30 d figures; GET /api/assets/web/uptime
     with a bad range answers 400.
  4. Badges: /badge/web/status.svg and /badge/web/uptime.svg?window=24h are SVG that an XML
     parser reads, with the state and the 24 h figure (truncated to 2 decimals) and cache
     headers; a bad window is 400, an unknown asset 404.
"""
import json
import os
import re
import sys
import time
import urllib.parse
import urllib.error
import urllib.request
import xml.etree.ElementTree as ET

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from harness import (check, http_get, http_get_json, http_request, log, measure,  # noqa: E402
                     run_test, wait_for)

TOKEN = "uptime-test-token-0123456789abcdef"
OUTAGE_S = 6.0


def rfc3339(t):
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t)) + ".%03dZ" % int(t % 1 * 1000)


def post(url, body):
    st, text = http_request(url, "POST", body, {"Authorization": "Bearer " + TOKEN})
    return st, json.loads(text or "null")


def uptime(col, asset, t_from, t_to):
    q = urllib.parse.urlencode({"from": rfc3339(t_from), "to": rfc3339(t_to)})
    return http_get_json(col.api + "/api/assets/%s/uptime?%s" % (asset, q))


def state(pg, asset):
    return pg.scalar("SELECT state FROM assets WHERE id = '%s'" % asset)


def probe_truth(pg, asset, since):
    """Seconds from the first failing probe after `since` to the first success after it."""
    first_fail = float(pg.scalar(
        "SELECT extract(epoch FROM min(ts)) FROM probe_events WHERE asset_id = '%s'"
        " AND NOT success AND ts >= to_timestamp(%f)" % (asset, since)))
    first_ok = float(pg.scalar(
        "SELECT extract(epoch FROM min(ts)) FROM probe_events WHERE asset_id = '%s'"
        " AND success AND ts > to_timestamp(%f)" % (asset, first_fail)))
    return first_ok - first_fail


def outage(env, pg, col, target, asset, live, kill=False):
    """Takes target down for OUTAGE_S (measured by the test's clock) and waits until the
    asset is UP again; returns (break time, repair time). kill: the collector is SIGKILLed
    and started again in the middle of the outage."""
    t1 = time.time()
    target.set_status(503)
    wait_for(lambda: state(pg, asset) in ("DOWN", "MAINTENANCE") and time.time() - t1 >= 0.1,
             15, "%s DOWN" % asset, interval=0.05, procs=live)
    if kill:
        col.kill9()
        env.restart(col)
        log("collector killed and restarted %.1f s into the outage" % (time.time() - t1))
    wait_for(lambda: time.time() - t1 >= OUTAGE_S, OUTAGE_S + 1, "the outage's length",
             interval=0.01)
    t2 = time.time()
    target.set_status(200)
    return t1, t2


def main(env):
    pg = env.start_pg()
    web, other = env.target(), env.target()
    tokens = env.path("tokens")
    with open(tokens, "w") as f:
        f.write(TOKEN + "\n")

    def asset(aid, url):
        return {"id": aid, "assetType": "http", "name": aid, "address": url,
                "intervalSeconds": 1, "timeoutSeconds": 1, "expectedStatusCodes": [200]}
    manifest = {"assets": [asset("web", web.url()), asset("maint", other.url())]}
    notifiers = {"notifiers": {}, "notificationPolicy": {"onDown": [], "onRecovery": []}}
    col = env.start_collector(pg, manifest, notifiers, extra=["--api-token-file", tokens])
    agent = env.start_agent(col, "a-eu", "eu")
    live = [col, agent]
    wait_for(lambda: state(pg, "web") == "UP" and state(pg, "maint") == "UP", 30,
             "both assets UP", interval=0.1, procs=live)
    t_start = time.time()
    wait_for(lambda: time.time() - t_start >= 2, 3, "2 s of UP history", interval=0.05)

    # 1. a 6 s outage, with the collector SIGKILLed and restarted in the middle of it
    t1, t2 = outage(env, pg, col, web, "web", live, kill=True)
    wait_for(lambda: state(pg, "web") == "UP", 15, "web UP again", interval=0.05, procs=live)
    measure("web: repair -> UP", time.time() - t2)
    t_end = time.time() + 1
    wait_for(lambda: time.time() >= t_end, 2, "the interval's end", interval=0.05)
    u = uptime(col, "web", t_start, t_end)
    log("web uptime over %.1f s: %s" % (t_end - t_start, json.dumps(u)[:300]))
    truth = probe_truth(pg, "web", t1 - 0.5)
    observed = u["upSeconds"] + u["downSeconds"]
    log("down %.3f s; the probes saw %.3f s; the target was down %.3f s"
        % (u["downSeconds"], truth, t2 - t1))
    check(abs(u["downSeconds"] - truth) < 0.5,
          "downSeconds %.3f within 0.5 s of the probes' outage %.3f" % (u["downSeconds"], truth))
    check(abs(u["downSeconds"] - (t2 - t1)) < 1.5,
          "downSeconds %.3f within one probe interval of the %.3f s outage"
          % (u["downSeconds"], t2 - t1))
    check(abs(observed - (t_end - t_start)) < 1.0 and u["unknownSeconds"] < 0.5,
          "observed %.3f s of %.3f s (unknown %.3f)" % (observed, t_end - t_start,
                                                        u["unknownSeconds"]))
    want = (observed - u["downSeconds"]) / observed
    check(abs(u["uptime"] - want) < 1e-4, "uptime %.6f = up / (up + down) %.6f"
          % (u["uptime"], want))
    check(len(u["incidents"]) == 1 and u["incidents"][0]["endedAt"],
          "the outage's incident is listed (%r)" % u["incidents"])

    # 2. an outage inside a maintenance window
    st, w = post(col.api + "/api/maintenance",
                 {"assetIds": ["maint"], "end": rfc3339(time.time() + 3600),
                  "reason": "uptime test"})
    check(st == 201 or st == 200, "maintenance window created (%d %r)" % (st, w))
    wait_for(lambda: state(pg, "maint") == "MAINTENANCE", 10, "maint in MAINTENANCE",
             interval=0.05, procs=live)
    m_start = time.time()
    outage(env, pg, col, other, "maint", live)
    wait_for(lambda: int(pg.scalar("SELECT count(*) FROM probe_events WHERE asset_id = 'maint'"
                                   " AND success AND ts > now() - interval '1 second'")) > 0,
             10, "maint answering again", interval=0.1, procs=live)
    m_end = time.time()
    mu = uptime(col, "maint", t_start, m_end)
    log("maint: %s" % json.dumps(mu)[:300])
    check(mu["downSeconds"] == 0, "no down time inside the window (%r)" % mu["downSeconds"])
    check(abs(mu["maintenanceSeconds"] - (m_end - m_start)) < 1.5,
          "maintenanceSeconds %.3f ~ the window so far %.3f" % (mu["maintenanceSeconds"],
                                                                 m_end - m_start))
    check(mu["uptime"] == 1, "uptime 1 (maintenance is not downtime)")

    # 3. the list's figures and a bad range
    assets = {a["id"]: a for a in http_get_json(col.api + "/api/assets")}
    log("list figures: %r" % {k: v["uptime"] for k, v in assets.items()})
    check(0 < assets["web"]["uptime"]["24h"] < 1 and assets["maint"]["uptime"]["24h"] == 1,
          "GET /api/assets: web below 1, maint 1 over 24 h")
    st, _ = http_get(col.api + "/api/assets/web/uptime?from=2026-13-01T00:00:00Z")
    check(st == 400, "a bad range -> 400 (%d)" % st)

    # the status page's data (served from a snapshot at most 10 s old): the same outage
    data = http_get_json(col.api + "/api/status-page/data")
    sweb = [a for a in data["assets"] if a["id"] == "web"][0]
    days = sweb["daily"]
    log("status page data: web today uptime %r down %r s, 24h %r (list: %r)"
        % (days["uptime"][-1], days["downSeconds"][-1], sweb["uptime"]["24h"],
           assets["web"]["uptime"]["24h"]))
    check(len(days["uptime"]) == 90 and 0 < days["uptime"][-1] < 1
          and days["downSeconds"][-1] >= 5 and days["incidents"][-1] == 1
          and "address" not in sweb,
          "status page data: web's bar for today shows the outage, no address")
    check(abs(sweb["uptime"]["24h"] - assets["web"]["uptime"]["24h"]) < 0.01,
          "status page data: the 24 h figure agrees with GET /api/assets")

    # 4. badges
    def badge(path):
        try:
            with urllib.request.urlopen(col.api + path, timeout=5) as r:
                return r.status, dict(r.headers), r.read().decode()
        except urllib.error.HTTPError as e:
            return e.code, dict(e.headers), e.read().decode()
    st, hd, svg = badge("/badge/web/status.svg")
    texts = [t.text for t in ET.fromstring(svg).iter("{http://www.w3.org/2000/svg}text")]
    log("status badge: %d %s %s %r" % (st, hd.get("Content-Type"), hd.get("Cache-Control"),
                                       texts))
    check(st == 200 and hd.get("Content-Type", "").startswith("image/svg+xml")
          and hd.get("Cache-Control") == "max-age=30" and "up" in texts and "status" in texts,
          "status badge: an SVG saying up, cached 30 s")
    st, hd, svg = badge("/badge/web/uptime.svg?window=24h")
    texts = [t.text for t in ET.fromstring(svg).iter("{http://www.w3.org/2000/svg}text")]
    figure = http_get_json(col.api + "/api/assets")
    w24 = [a for a in figure if a["id"] == "web"][0]["uptime"]["24h"]
    shown = [t for t in texts if t.endswith("%")]
    log("uptime badge: %d %s %r (24 h figure %.6f)" % (st, hd.get("Cache-Control"), texts, w24))
    # the figure grows while the asset stays up: the two reads may differ by a few 0.01 %
    check(st == 200 and hd.get("Cache-Control") == "max-age=300" and "uptime 24h" in texts
          and shown and re.fullmatch(r"\d+\.\d\d%", shown[0])
          and abs(float(shown[0][:-1]) - 100 * w24) < 0.2,
          "uptime badge: %s over 24h (figure %.4f %%), cached 300 s"
          % (shown[0] if shown else None, 100 * w24))
    # the same answers through the recording helper, for the OpenAPI check
    for path in ("/badge/web/status.svg", "/badge/web/uptime.svg?window=7d"):
        check(http_get(col.api + path)[0] == 200, "GET %s -> 200" % path)
    st, _ = http_get(col.api + "/badge/web/uptime.svg?window=1y")
    check(st == 400, "a bad window -> 400 (%d)" % st)
    st, _ = http_get(col.api + "/badge/nope/status.svg")
    check(st == 404, "an unknown asset's badge -> 404 (%d)" % st)
    # the hourly upkeep ran at start: rollups and the retention sweep without an error
    check(int(pg.scalar("SELECT count(*) FROM rollup_watermarks")) == 2,
          "the upkeep built the rollups (a watermark per period)")
    bad = [ln for ln in col.log_text().splitlines()
           if "rollups not built" in ln or "retention sweep failed" in ln]
    check(not bad, "no rollup or retention error in the collector's log: %r" % bad[:3])
    for p in live:
        p.stop()
        check(p.returncode() == 0, "%s exited 0" % p.name)


if __name__ == "__main__":
    run_test(main)
