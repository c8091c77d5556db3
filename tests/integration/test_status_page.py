"""The public status page in headless Chromium: real PostgreSQL, a real collector (no agents:
the history is scripted straight into PostgreSQL), Debian's chromium driven over the DevTools
protocol (tests/lib/browser.py).

  1. A scripted history: "api" (group Backend) UP for 20 days but for a 2-hour outage 3 days
     ago with its incident (opened, a vote, notified, acknowledged, resolved), "web" (group
     Frontend) UP for 20 days, their hour and day rollups with latencies, an upcoming and a
     past maintenance window; "fresh" (no group) gets the quickstart's demo history
     (deploy/demo_history.sql, applied to this database, run twice: seeded once).
  2. The DOM after load (the page's one request, api/status-page/data): 90 bars per asset, the
     outage day's bar labelled "DAY: 91.66 % uptime, 1 incident, 2 h down" and coloured below
     95 %, the 24 h / 7 d / 30 d / 90 d figures as the data gives them (and the data's 7 d and
     30 d figures as the history implies), groups under their headings, the incident with its
     public timeline (no vote, no agent), the upcoming window and not the past one, the demo
     notice, no address anywhere, the landmarks, the skip link, lang; the fresh asset's 14 demo
     days have data. No console error, no CSP violation.
  3. axe-core (npm, pinned, installed into the build tree): no violation of its WCAG 2.1 A
     and AA and best-practice rules (contrast, landmarks, names, ARIA).
  4. Keyboard and pointer: Tab reaches the skip link, which moves focus to main; the next Tab
     a bar strip (one tab stop per asset) with its tooltip shown; ArrowLeft / Home / End move
     between days; the next Tab the next asset's strip; a refresh keeps the focused bar; the
     tooltip also shows on hover.
  5. Screenshots at 1280 and 375 px wide (kept in the build dir): decoded (zlib), not blank
     (many colours, 5 % of the pixels or more neither background nor white); the outage
     bar's red and the green of the UP days are painted; at 375 px no sideways scrolling.
  6. The same data with 120 more assets (rendered in the page): its groups closed, no bar
     built until Enter opens one.
The gcc build only (it mostly waits on a browser): STATUSD_ASAN_SKIP in tests/run.sh.
"""
import calendar
import html.parser
import os
import shutil
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from browser import Browser, png_pixels  # noqa: E402
from harness import (BUILD_DIR, SOURCE_DIR, check, http_get, http_get_json, log,  # noqa: E402
                     measure, run_test, wait_for)
from npm_pkg import npm_package  # noqa: E402

DAY = 86400
# the accessibility checks: axe-core (npm, this version, installed into the build tree)
AXE, AXE_VERSION = "axe-core", "4.14.1"
SECRET = "secret-host.internal.example"
NOTICE = "Scripted history of the status page test"


def iso_day(t):
    return time.strftime("%Y-%m-%d", time.gmtime(t))


def ts(t):
    return "to_timestamp(%.3f)" % t


def pct(v):
    """The page's figure: truncated to 2 decimals, never rounded up to 100 %."""
    if v is None:
        return "\u2014"
    return "100 %" if v >= 1 else "%.2f %%" % (int(v * 10000 + 1e-6) / 100)


class Dom(html.parser.HTMLParser):
    """The elements of an HTML text: (tag, attrs dict, text inside, depth-first index)."""

    def __init__(self, text):
        super().__init__(convert_charrefs=True)
        self.els, self.stack = [], []
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        e = {"tag": tag, "attrs": dict(attrs), "text": "", "parents": list(self.stack)}
        self.els.append(e)
        if tag not in ("meta", "link", "br", "img", "input"):
            self.stack.append(e)

    def handle_endtag(self, tag):
        if any(e["tag"] == tag for e in self.stack):
            while self.stack.pop()["tag"] != tag:
                pass

    def handle_data(self, data):
        for e in self.stack:
            e["text"] += data

    def find(self, tag=None, cls=None, **attrs):
        out = []
        for e in self.els:
            a = e["attrs"]
            if tag and e["tag"] != tag:
                continue
            if cls and cls not in (a.get("class") or "").split():
                continue
            if any(a.get(k.replace("_", "-")) != v for k, v in attrs.items()):
                continue
            out.append(e)
        return out

    def inside(self, outer, tag=None, cls=None, **attrs):
        return [e for e in self.find(tag, cls, **attrs) if outer in e["parents"]]


def script_history(pg, now):
    """Writes the scripted history; returns (outage start, outage end, history start, end)."""
    today = now - now % DAY
    start, end = today - 20 * DAY, now
    out_s, out_e = today - 3 * DAY + 10 * 3600, today - 3 * DAY + 12 * 3600
    # the collector may have opened intervals already: the scripted ones end where they begin
    first = pg.scalar("SELECT extract(epoch FROM min(started_at)) FROM asset_state_intervals")
    if first:
        end = min(end, float(first))
    sql = ["INSERT INTO asset_state_intervals (asset_id, state, started_at, ended_at) VALUES"
           " ('api', 'UP', %s, %s), ('api', 'DOWN', %s, %s), ('api', 'UP', %s, %s),"
           " ('web', 'UP', %s, %s)" % (ts(start), ts(out_s), ts(out_s), ts(out_e), ts(out_e),
                                        ts(end), ts(start), ts(end))]
    # the rollups of the complete buckets, from those intervals (as the upkeep builds them),
    # latencies 40-58 ms (p50) and 2.5 times that (p95); the collector's upkeep may have built
    # some of them already (from no intervals, or from these in the last hours, without
    # latencies)
    sql.append(
        "INSERT INTO asset_rollups (asset_id, period, bucket, location, samples, successes,"
        " latency_p50, latency_p95, latency_p99, up_seconds, down_seconds)"
        " SELECT a.id, p.period, b.bucket, '', 60, 60,"
        "  40 + 3 * (extract(hour FROM b.bucket)::int %% 7),"
        "  2.5 * (40 + 3 * (extract(hour FROM b.bucket)::int %% 7)), 200,"
        "  COALESCE(sum(s.secs) FILTER (WHERE i.state = 'UP'), 0),"
        "  COALESCE(sum(s.secs) FILTER (WHERE i.state = 'DOWN'), 0)"
        " FROM (VALUES ('api'), ('web')) a(id)"
        " CROSS JOIN (VALUES ('hour', interval '1 hour'), ('day', interval '1 day')) p(period, len)"
        " CROSS JOIN LATERAL generate_series(%s, %s - p.len, p.len) b(bucket)"
        " JOIN asset_state_intervals i ON i.asset_id = a.id AND i.ended_at IS NOT NULL"
        "  AND i.started_at < b.bucket + p.len AND i.ended_at > b.bucket"
        " CROSS JOIN LATERAL (SELECT extract(epoch FROM LEAST(i.ended_at, b.bucket + p.len)"
        "  - GREATEST(i.started_at, b.bucket))::float8 AS secs) s"
        " GROUP BY a.id, p.period, b.bucket"
        " ON CONFLICT (asset_id, period, bucket, location) DO UPDATE SET"
        "  samples = EXCLUDED.samples, successes = EXCLUDED.successes,"
        "  latency_p50 = EXCLUDED.latency_p50, latency_p95 = EXCLUDED.latency_p95,"
        "  up_seconds = EXCLUDED.up_seconds, down_seconds = EXCLUDED.down_seconds"
        % (ts(start), ts(end)))
    # the outage's incident: the public events, and a vote and a notification that are not
    sql.append(
        "WITH i AS (INSERT INTO incidents (asset_id, severity, summary, started_at, detected_at,"
        "  ended_at, acknowledged_at, details) VALUES ('api', 'critical',"
        "  'Public API is DOWN from 2 of 2 locations (2/2 agents fail): HTTP 503',"
        "  %s, %s, %s, %s, '[{\"agent\": \"agent-hidden-name\", \"region\": \"eu\"}]')"
        "  RETURNING id)"
        " INSERT INTO incident_events (incident_id, at, kind, detail)"
        " SELECT i.id, e.at, e.kind, e.detail::jsonb FROM i, (VALUES"
        "  (%s, 'opened', '{}'), (%s, 'vote', '{\"agent\": \"agent-hidden-name\"}'),"
        "  (%s, 'notified', '{\"channel\": \"hidden-channel\"}'),"
        "  (%s, 'acknowledged', '{\"by\": \"hidden-token\"}'), (%s, 'resolved', '{}'))"
        "  AS e(at, kind, detail)"
        % (ts(out_s), ts(out_s + 30), ts(out_e), ts(out_s + 600), ts(out_s), ts(out_s + 5),
           ts(out_s + 40), ts(out_s + 600), ts(out_e)))
    # an upcoming window and one that is over
    sql.append(
        "INSERT INTO maintenance_windows (source, name, asset_ids, starts_at, ends_at, reason)"
        " VALUES ('api', 'db-upgrade', ARRAY['api'], %s, %s, 'Database upgrade'),"
        " ('api', 'old-window', ARRAY['web'], %s, %s, 'long past')"
        % (ts(today + DAY + 2 * 3600), ts(today + DAY + 4 * 3600), ts(today - 5 * DAY),
           ts(today - 5 * DAY + 3600)))
    pg.psql("BEGIN; " + "; ".join(sql) + "; COMMIT")
    down = pg.scalar("SELECT down_seconds FROM asset_rollups WHERE asset_id = 'api' AND"
                     " period = 'day' AND bucket = %s" % ts(today - 3 * DAY))
    check(float(down) == 7200, "the outage day's rollup: %s s down" % down)
    return out_s, out_e, start, end


def demo_seed(pg, *args):
    """Runs deploy/demo_history.sql (args: more psql options); returns its notices."""
    r = subprocess.run([os.path.join(pg.bindir, "psql"), "-X", "-q", "-v", "ON_ERROR_STOP=1"]
                       + list(args) + [pg.conninfo, "-f", os.path.join(SOURCE_DIR, "deploy",
                                                                       "demo_history.sql")],
                       capture_output=True, text=True)
    check(r.returncode == 0, "deploy/demo_history.sql %sran (%s)" % (" ".join(args) + " "
                                                                     if args else "",
                                                                     r.stderr.strip()))
    return r.stderr.strip()


def png_check(png, what, min_colours=20, min_busy=0.05, bg=(0xf4, 0xf5, 0xf7)):
    w, h, rows = png_pixels(png)
    colours = {p for row in rows for p in row}
    busy = sum(1 for row in rows for p in row if p != bg and p != (255, 255, 255)) / (w * h)
    log("%s: %dx%d, %d colours, %.0f %% of pixels neither background nor white"
        % (what, w, h, len(colours), busy * 100))
    check(len(colours) >= min_colours and busy >= min_busy,
          "%s is not blank (%d colours, %.0f %% busy)" % (what, len(colours), busy * 100))


def main(env):
    if not shutil.which("chromium") and not os.environ.get("STATUSD_CHROMIUM"):
        raise AssertionError("chromium is not installed (tests/run.sh installs Debian's "
                             "chromium)")
    pg = env.start_pg()

    def asset(aid, name, team=None):
        a = {"id": aid, "assetType": "http", "name": name,
             "address": "https://%s-%s/health" % (aid, SECRET), "intervalSeconds": 60,
             "timeoutSeconds": 5, "expectedStatusCodes": [200]}
        if team:
            a["metadata"] = {"team": team}
        return a
    manifest = {"assets": [asset("api", "Public API", "Backend"),
                           asset("web", "Website", "Frontend"),
                           asset("fresh", "Fresh service")],
                "statusPage": {"title": "Acme status", "description": "Scripted history",
                               "groupBy": "team", "showAddresses": False,
                               "demoNotice": NOTICE}}
    notifiers = {"notifiers": {}, "notificationPolicy": {"onDown": [], "onRecovery": []}}
    col = env.start_collector(pg, manifest, notifiers)
    wait_for(lambda: pg.scalar("SELECT count(*) FROM assets WHERE in_manifest") == "3", 10,
             "the manifest's assets in PostgreSQL", procs=[col])
    now = time.time()
    out_s, out_e, h_start, h_end = script_history(pg, now)
    seeded = demo_seed(pg)
    again = demo_seed(pg)
    check("seeded 1 asset" in seeded and "already seeded once" in again,
          "the demo history seeds the asset without history, once (%r / %r)" % (seeded, again))

    # --- the data the page loads ------------------------------------------------------------
    data = http_get_json(col.api + "/api/status-page/data")
    st, page_html = http_get(col.api + "/")
    check(st == 200 and "api/status-page/data" in page_html, "GET / serves the page")
    by_id = {a["id"]: a for a in data["assets"]}
    api = by_id["api"]
    check(SECRET not in str(data), "no address in the data (showAddresses false)")
    want7 = 1 - 7200 / (7 * DAY - (time.time() - h_end))  # no verdict since h_end
    log("api uptime %r; 7d expected %.6f" % (api["uptime"], want7))
    check(abs(api["uptime"]["7d"] - want7) < 2e-4,
          "api 7 d uptime %.6f = 1 - 2 h / 7 d" % api["uptime"]["7d"])
    want30 = 1 - 7200 / (h_end - h_start)
    check(abs(api["uptime"]["30d"] - want30) < 1e-3,
          "api 30 d uptime %.6f = 1 - 2 h / 20 days" % api["uptime"]["30d"])
    out_day = iso_day(out_s)
    daily = api["daily"]  # columns: entry k is daily["start"] + k days
    first = calendar.timegm(time.strptime(daily["start"], "%Y-%m-%d"))
    k = round((out_s - out_s % DAY - first) / DAY)
    check(len(daily["uptime"]) == 90 and iso_day(first + 89 * DAY) == iso_day(now),
          "the data's 90 days end today")
    check(abs(daily["uptime"][k] - 22 / 24) < 1e-4 and daily["incidents"][k] == 1,
          "the data's outage day %s: uptime %.6f, %d incident" % (out_day, daily["uptime"][k],
                                                                  daily["incidents"][k]))

    # --- the page in Chromium -----------------------------------------------------------------
    t0 = time.monotonic()
    b = Browser(env)
    measure("chromium started", time.monotonic() - t0)
    t0 = time.monotonic()
    # no smooth scrolling: the page honours prefers-reduced-motion
    b.send("Emulation.setEmulatedMedia", {"features": [{"name": "prefers-reduced-motion",
                                                        "value": "reduce"}]})
    b.open(col.api + "/")
    wait_for(lambda: b.eval("document.body && document.body.getAttribute('data-loaded')") == "1",
             10, "the page loaded its data", procs=[col, b.proc])
    measure("page loaded and rendered", time.monotonic() - t0)
    raw = b.eval("document.documentElement.outerHTML")
    dom = Dom(raw)

    check(dom.find("html")[0]["attrs"].get("lang") == "en", "html lang=en")
    for tag in ("header", "nav", "main", "footer"):
        check(len(dom.find(tag)) == 1, "landmark <%s>" % tag)
    check(dom.find("nav")[0]["attrs"].get("aria-label"), "the nav has a name")
    skip = dom.find("a", "skip")
    check(skip and skip[0]["attrs"].get("href") == "#main", "a skip link to #main")
    banner = dom.find(role="status")
    check(banner and banner[0]["text"].strip(), "the overall banner (role=status): %r"
          % banner[0]["text"].strip())
    check(dom.find("h1")[0]["text"] == "Acme status", "the title")
    demo = dom.find(id="demo")[0]
    check(data["page"]["demoNotice"] == NOTICE and "hidden" not in demo["attrs"]
          and NOTICE in demo["text"] and "Demo data" in demo["text"],
          "the demo notice: %r" % demo["text"])
    h2 = [e["text"] for e in dom.find("h2")]
    check(len(h2) == 3, "three sections with headings: %r" % h2)
    groups = [e["text"] for e in dom.inside(dom.find(id="assets")[0], "h3")]
    check(groups == ["Backend", "Frontend", "Other"], "group headings %r" % groups)
    for secret in (SECRET, "agent-hidden-name", "hidden-channel", "hidden-token"):
        check(secret not in raw, "%r is nowhere on the page" % secret)

    cards = {c["attrs"]["data-asset"]: c for c in dom.find("article", "asset")}
    check(sorted(cards) == ["api", "fresh", "web"], "one card per asset")
    for aid, card in cards.items():
        bars = dom.inside(card, cls="bar")
        check(len(bars) == 90, "%s: 90 daily bars" % aid)
        labels = [x["attrs"]["aria-label"] for x in bars]
        check(labels[-1].startswith(iso_day(now) + " (today so far): "),
              "%s: the last bar is today: %r" % (aid, labels[-1]))
        figures = [x["text"] for x in dom.inside(card, "dd")]
        want = [pct(by_id[aid]["uptime"][k]) for k in ("24h", "7d", "30d", "90d")]
        check(figures == want, "%s: uptime figures %r" % (aid, figures))
        check(dom.inside(card, "svg", role="img"), "%s: a response-time chart" % aid)
    api_bars = dom.inside(cards["api"], cls="bar")
    outage = [x for x in api_bars if x["attrs"]["data-date"] == out_day][0]
    check(outage["attrs"]["aria-label"] == "%s: 91.66 %% uptime, 1 incident, 2 h down" % out_day
          and "b-low" in outage["attrs"]["class"],
          "the outage day's bar: %r (%s)" % (outage["attrs"]["aria-label"],
                                             outage["attrs"]["class"]))
    ok_day = iso_day(now - 10 * DAY)
    ok_bar = [x for x in api_bars if x["attrs"]["data-date"] == ok_day][0]
    check(ok_bar["attrs"]["aria-label"] == ok_day + ": 100 % uptime"
          and "b-100" in ok_bar["attrs"]["class"], "a full day: %r" % ok_bar["attrs"]["aria-label"])
    old = [x for x in api_bars if x["attrs"]["data-date"] == iso_day(now - 40 * DAY)][0]
    check(old["attrs"]["aria-label"].endswith(": no data") and "b-none" in old["attrs"]["class"],
          "a day before the history: %r" % old["attrs"]["aria-label"])
    fresh = [x["attrs"]["aria-label"] for x in dom.inside(cards["fresh"], cls="bar")]
    demo_days = [x for x in fresh[-15:-1] if "uptime" in x]
    check(len(demo_days) == 14, "the fresh asset's 14 demo days have data (%d)" % len(demo_days))
    chart = dom.inside(cards["api"], "figcaption")[0]["text"]
    check("median" in chart and "ms" in chart, "the chart's summary: %r" % chart)

    incidents = dom.find("article", "incident")
    titles = [dom.inside(i, "h3")[0]["text"] for i in incidents]
    log("incidents: %r" % titles)
    mine = [i for i in incidents if "Public API is DOWN" in dom.inside(i, "h3")[0]["text"]]
    check(len(incidents) == 2 and len(mine) == 1,
          "the scripted incident and the demo one are listed")
    steps = [li["text"] for li in dom.inside(mine[0], "li")]
    hm = [time.strftime("%H:%M", time.gmtime(t)) for t in (out_s, out_s + 600, out_e)]
    check(len(steps) == 3 and steps[0].startswith("Investigating") and hm[0] in steps[0]
          and steps[1].startswith("Identified") and hm[1] in steps[1]
          and steps[2].startswith("Resolved") and hm[2] in steps[2],
          "its public timeline: %r" % steps)
    meta = dom.inside(mine[0], "p", "meta")[0]["text"]
    check("Public API" in meta and "lasted 2 h" in meta, "its asset and duration: %r" % meta)
    maint = dom.find(id="maint")[0]["text"]
    check("db-upgrade" in maint and "Scheduled" in maint and "Affects: Public API" in maint
          and "old-window" not in maint, "the upcoming window, not the past one: %r"
          % maint.strip())

    # --- accessibility: axe-core's WCAG 2.1 A and AA rules (contrast, landmarks, names, ARIA)
    with open(os.path.join(npm_package(AXE, AXE_VERSION, "npm-axe-core"), "axe.min.js")) as f:
        b.eval(f.read() + "\n;1")
    t0 = time.monotonic()
    found = b.eval("axe.run(document, {runOnly: {type: 'tag', values: ['wcag2a', 'wcag2aa',"
                   " 'wcag21a', 'wcag21aa', 'best-practice']}}).then(r => [r.passes.length,"
                   " r.violations.map(v => v.id + ' (' + v.impact + ', ' + v.nodes.length"
                   " + ' nodes): ' + v.help + ' e.g. ' + v.nodes[0].html.slice(0, 160))])")
    measure("axe-core run", time.monotonic() - t0)
    check(not found[1], "axe-core %s: %d rules pass, no violation %r"
          % (AXE_VERSION, found[0], found[1]))

    # --- keyboard and pointer -------------------------------------------------------------
    b.key("Tab")
    check(b.eval("document.activeElement.className") == "skip", "Tab: the skip link")
    b.key("Enter")
    wait_for(lambda: b.eval("document.activeElement.id") == "main", 3, "focus on main")
    b.key("Tab")
    k = b.eval("document.activeElement.getAttribute('data-k')")
    check(k == "bar|api|" + iso_day(now), "Tab: api's strip, on today (%r)" % k)
    check(b.eval("!document.getElementById('tip').hidden"), "the tooltip shows on focus")
    b.key("ArrowLeft")
    k = b.eval("document.activeElement.getAttribute('data-k')")
    check(k == "bar|api|" + iso_day(now - DAY), "ArrowLeft: yesterday (%r)" % k)
    tip = b.eval("document.getElementById('tip').textContent")
    check(tip.startswith(iso_day(now - DAY)), "the tooltip follows: %r" % tip)
    b.key("Home")
    check(b.eval("document.activeElement.getAttribute('data-date')") == daily["start"],
          "Home: 90 days ago")
    b.key("End")
    b.key("ArrowLeft")
    k = b.eval("document.activeElement.getAttribute('data-k')")
    k2 = b.eval("lastKey = null, refresh().then(() =>"
                " document.activeElement.getAttribute('data-k'))")
    check(k2 == k, "a refresh keeps the focused bar (%r)" % k2)
    b.key("Tab")
    k = b.eval("document.activeElement.getAttribute('data-k')") or ""
    check(k.startswith("bar|web|"), "Tab: the next asset's strip, one tab stop each (%r)" % k)
    b.key("Escape")
    check(b.eval("document.getElementById('tip').hidden"), "Escape hides the tooltip")

    def hover():
        r = b.eval("(() => { const e = document.querySelector('[data-k=\"bar|api|%s\"]');"
                   " e.scrollIntoView({block: 'center', behavior: 'instant'});"
                   " const r = e.getBoundingClientRect();"
                   " return [r.left + r.width / 2, r.top + r.height / 2]; })()" % out_day)
        b.mouse_move(0, 0)
        b.mouse_move(r[0], r[1])
        return b.eval("document.getElementById('tip').hidden ? '' :"
                      " document.getElementById('tip').textContent")
    tip = wait_for(hover, 5, "a tooltip on hover", interval=0.1)
    check("91.66 % uptime" in tip, "hovering the outage day shows its tooltip: %r" % tip)

    # --- screenshots ------------------------------------------------------------------------
    b.mouse_move(0, 0)
    b.eval("window.scrollTo({top: 0, behavior: 'instant'}), document.activeElement.blur(), 1")
    outdir = os.path.join(BUILD_DIR, "test-artifacts")
    os.makedirs(outdir, exist_ok=True)
    rect = b.eval("(() => { const r = document.querySelector('[data-asset=\"api\"] .bars')"
                  ".getBoundingClientRect(); return [r.left, r.top + window.scrollY, r.width,"
                  " r.height]; })()")
    for width in (1280, 375):
        b.viewport(width, 900, mobile=width < 600)
        sw = b.eval("[document.documentElement.scrollWidth, document.documentElement.clientWidth]")
        check(sw[0] <= sw[1], "%d px wide: no sideways scrolling (%r)" % (width, sw))
        png = b.screenshot()
        path = os.path.join(outdir, "status-page-%d.png" % width)
        with open(path, "wb") as f:
            f.write(png)
        log("screenshot %s (%d bytes)" % (path, len(png)))
        full_h = b.eval("document.documentElement.scrollHeight")
        # decoded at a quarter of the size (pure Python decoding: 0.2 s, not 3 s)
        small = b.capture(captureBeyondViewport=True, clip={
            "x": 0, "y": 0, "width": width, "height": full_h, "scale": 0.25})
        png_check(small, "%d px page" % width)
        if width == 1280:
            bars_png = b.capture(captureBeyondViewport=True, clip={
                "x": rect[0], "y": rect[1], "width": rect[2], "height": rect[3], "scale": 1})
            _, _, rows = png_pixels(bars_png)
            px = [p for row in rows for p in row]
            green = sum(1 for p in px if p == (0x2b, 0x8a, 0x3e))
            red = sum(1 for p in px if p == (0xc9, 0x2a, 0x2a))
            grey = sum(1 for p in px if p == (0xce, 0xd4, 0xda))
            log("api's bars: %d px green, %d red, %d grey of %d" % (green, red, grey, len(px)))
            check(red > 0 and green > 5 * red and grey > green,
                  "the bars are painted: green days, the red outage day, grey days without data")
    # --- a large page (more than 100 assets): groups closed, cards built when opened ---------
    b.viewport(1280, 900)
    got = b.eval("fetch('api/status-page/data').then(r => r.json()).then(d => {"
                 " for (let i = 0; i < 120; i++) d.assets.push(Object.assign({}, d.assets[1],"
                 " {id: 'copy' + i})); render(d); return [document.querySelectorAll("
                 "'details.group').length, document.querySelectorAll('.bar').length,"
                 " document.querySelector('summary').textContent]; })")
    check(got[0] == 3 and got[1] == 0, "123 assets: 3 closed groups, no bars built (%r)" % got)
    b.eval("document.querySelector('summary').focus(), 1")
    b.key("Enter")
    n = wait_for(lambda: b.eval("document.querySelectorAll('details[open] .bar').length"), 3,
                 "the opened group's cards")
    check(n == 90, "Enter opens the first group (Backend: 1 asset): %d bars" % n)
    check(not [p for p in b.problems if "favicon" not in p],
          "no console error or CSP violation: %r" % b.problems)
    b.close()

    # --- the demo history removed: the scripted history stays -------------------------------
    def counts():
        return pg.query("SELECT (SELECT count(*) FROM asset_state_intervals WHERE asset_id ="
                        " 'fresh' AND ended_at IS NOT NULL),"
                        " (SELECT count(*) FROM asset_state_intervals WHERE asset_id = 'api'),"
                        " (SELECT count(*) FROM incidents),"
                        " (SELECT count(*) FROM asset_rollups WHERE asset_id = 'fresh'),"
                        " to_regclass('statusd_demo_history') IS NULL")[0]
    before = counts()
    demo_seed(pg, "-v", "remove=1")
    after = counts()
    log("fresh intervals, api intervals, incidents, fresh rollups, table gone: %r -> %r"
        % (before, after))
    check(int(before[0]) >= 3 and after[0] == "0" and after[1] == before[1]
          and int(after[2]) == int(before[2]) - 1 and int(before[3]) > 300
          and after[3] == "0" and after[4] == "t",
          "-v remove=1 removes the demo history (intervals, rollups, its incident, the table) "
          "and nothing else")


if __name__ == "__main__":
    run_test(main)
