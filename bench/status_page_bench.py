#!/usr/bin/python3
"""status_page_bench: the status page's data and the uptime of every asset at scale. Not a test.

    bench/status_page_bench.py [--assets 10000] [--days 90] [--requests 20]

One run: a private PostgreSQL (tests/lib/pgtmp.py) and a real statusd-collector (RelWithDebInfo
build; STATUSD_BUILD_DIR, default build/) with --assets http assets (nothing probes them: no
agent runs). Then --days days of history are written straight into PostgreSQL, as the engine
and the hourly upkeep would have left them:
  - asset_state_intervals: a day-long UP interval per asset and day, and on every 7th day
    (staggered by asset) a 10-minute DOWN at noon (UP, DOWN, UP), plus an incident with an
    opened and a resolved event; every 20th asset flaps between UP and DEGRADED every 30
    minutes (48 intervals a day: what makes the raw history long);
  - asset_rollups: a daily row per asset, day and location ('' and two regions) for every
    past day, hourly rows for the last 3 days and today up to an hour before the last whole
    hour; the watermarks there (days: today's midnight), so the reader takes the last hour
    or two from the raw intervals (today's intervals are seeded up to the hour watermark);
  - probe_events: two regions every 5 minutes over the last 2 hours.

Measured, side by side, with the rollups read (watermarks set) and without them (watermarks
removed: every figure from the raw intervals, as before the rollups were read):
  - GET /api/status-page/data: the first request (it waits for the first build: the build
    time), then --requests requests served from the snapshot (p50, max), and the answer's size;
  - GET /api/uptime?from=<30 days ago> (the 30-day uptime of every asset) and GET /api/assets
    (every asset with its 24 h, 7 d and 30 d uptime and latest results): --requests // 4
    requests each (p50, max).
Targets (issue 13): the status page's data in under 200 ms, the 30-day uptime of all assets in
under 1 s.
"""
import argparse
import json
import os
import statistics
import sys
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "lib"))
import harness  # noqa: E402
from harness import TestEnv  # noqa: E402

DAY = 86400


def get(url, timeout=120):
    t0 = time.monotonic()
    with urllib.request.urlopen(url, timeout=timeout) as r:
        body = r.read()
        st = r.status
    return st, body, time.monotonic() - t0


def seed(pg, n, days, prefix):
    now = time.time()
    d0 = int(now // DAY * DAY)
    sqls = [
        # history before today: UP all day, or UP/DOWN 10 min at noon/UP on every 7th day;
        # every 20th asset flaps between UP and DEGRADED every 30 minutes (48 intervals a day)
        "INSERT INTO asset_state_intervals (asset_id, state, started_at, ended_at)"
        " SELECT '%(p)s' || i, s.state, to_timestamp(%(d0)d + d * 86400 + s.a),"
        "  to_timestamp(%(d0)d + d * 86400 + s.b)"
        " FROM generate_series(0, %(n1)d) i, generate_series(-%(days)d, -1) d,"
        "  LATERAL (SELECT * FROM (VALUES ('UP', 0, 86400, false), ('UP', 0, 43200, true),"
        "   ('DOWN', 43200, 43800, true), ('UP', 43800, 86400, true)) v(state, a, b, down)"
        "   WHERE v.down = ((i + d) %% 7 = 0)) s WHERE i %% 20 <> 0",
        "INSERT INTO asset_state_intervals (asset_id, state, started_at, ended_at)"
        " SELECT '%(p)s' || i, CASE WHEN k %% 2 = 0 THEN 'UP' ELSE 'DEGRADED' END,"
        "  to_timestamp(%(d0)d + d * 86400 + k * 1800),"
        "  to_timestamp(%(d0)d + d * 86400 + (k + 1) * 1800)"
        " FROM generate_series(0, %(n1)d, 20) i, generate_series(-%(days)d, -1) d,"
        "  generate_series(0, 47) k",
        "INSERT INTO incidents (asset_id, summary, started_at, detected_at, ended_at)"
        " SELECT '%(p)s' || i, 'DOWN from 2 of 2 locations', to_timestamp(%(d0)d + d * 86400"
        "  + 43200), to_timestamp(%(d0)d + d * 86400 + 43230),"
        "  to_timestamp(%(d0)d + d * 86400 + 43800)"
        " FROM generate_series(0, %(n1)d) i, generate_series(-%(days)d, -1) d"
        " WHERE (i + d) %% 7 = 0 AND i %% 20 <> 0",
        "INSERT INTO incident_events (incident_id, kind, detail, at)"
        " SELECT id, k.kind, '{}', CASE WHEN k.kind = 'opened' THEN started_at ELSE ended_at END"
        " FROM incidents, (VALUES ('opened'), ('resolved')) k(kind)",
        # daily rollups (all locations and two regions), hourly ones for the last 3 days
        "INSERT INTO asset_rollups (asset_id, period, bucket, location, samples, successes,"
        "  latency_p50, latency_p95, latency_p99, up_seconds, degraded_seconds, down_seconds)"
        " SELECT '%(p)s' || i, 'day', to_timestamp(%(d0)d + d * 86400), l, 576, 574, 21, 40, 55,"
        "  CASE WHEN l <> '' THEN 0 WHEN i %% 20 = 0 THEN 43200"
        "   WHEN (i + d) %% 7 = 0 THEN 85800 ELSE 86400 END,"
        "  CASE WHEN l = '' AND i %% 20 = 0 THEN 43200 ELSE 0 END,"
        "  CASE WHEN l <> '' OR i %% 20 = 0 THEN 0 WHEN (i + d) %% 7 = 0 THEN 600 ELSE 0 END"
        " FROM generate_series(0, %(n1)d) i, generate_series(-%(days)d, -1) d,"
        "  unnest(ARRAY['', 'eu', 'us']) l",
        "INSERT INTO asset_rollups (asset_id, period, bucket, location, samples, successes,"
        "  latency_p50, latency_p95, latency_p99, up_seconds, degraded_seconds)"
        " SELECT '%(p)s' || i, 'hour', h, l, 24, 24, 21, 40, 55,"
        "  CASE WHEN l <> '' THEN 0 WHEN i %% 20 = 0 THEN 1800 ELSE 3600 END,"
        "  CASE WHEN l = '' AND i %% 20 = 0 THEN 1800 ELSE 0 END"
        " FROM generate_series(0, %(n1)d) i, generate_series(to_timestamp(%(d0)d - 3 * 86400),"
        "  to_timestamp(%(d0)d - 3600), interval '1 hour') h,"
        "  unnest(ARRAY['', 'eu', 'us']) l"
        " ON CONFLICT DO NOTHING",
        "INSERT INTO probe_events (asset_id, agent_id, region, seq, ts, success, latency_ms)"
        " SELECT '%(p)s' || i, 'bench-' || r, r, i * 100 + k, now() - k * interval '5 minutes',"
        "  true, 15 + (i + k) %% 20"
        " FROM generate_series(0, %(n1)d) i, generate_series(0, 23) k,"
        "  unnest(ARRAY['eu', 'us']) r",
        # today up to an hour before the last whole hour (where the hour watermark will be):
        # its intervals and hourly rollups; after it, the raw history the collector writes
        "INSERT INTO asset_state_intervals (asset_id, state, started_at, ended_at)"
        " SELECT '%(p)s' || i, 'UP', to_timestamp(%(d0)d), to_timestamp(%(h1)d)"
        " FROM generate_series(0, %(n1)d) i WHERE i %% 20 <> 0 AND %(h1)d > %(d0)d",
        "INSERT INTO asset_state_intervals (asset_id, state, started_at, ended_at)"
        " SELECT '%(p)s' || i, CASE WHEN k %% 2 = 0 THEN 'UP' ELSE 'DEGRADED' END,"
        "  to_timestamp(%(d0)d + k * 1800), to_timestamp(%(d0)d + (k + 1) * 1800)"
        " FROM generate_series(0, %(n1)d, 20) i,"
        "  generate_series(0, (%(h1)d - %(d0)d) / 1800 - 1) k",
        "INSERT INTO asset_rollups (asset_id, period, bucket, location, samples, successes,"
        "  latency_p50, latency_p95, latency_p99, up_seconds, degraded_seconds)"
        " SELECT '%(p)s' || i, 'hour', to_timestamp(h), l, 24, 24, 21, 40, 55,"
        "  CASE WHEN l <> '' THEN 0 WHEN i %% 20 = 0 THEN 1800 ELSE 3600 END,"
        "  CASE WHEN l = '' AND i %% 20 = 0 THEN 1800 ELSE 0 END"
        " FROM generate_series(0, %(n1)d) i, generate_series(%(d0)d, %(h1)d - 3600, 3600) h,"
        "  unnest(ARRAY['', 'eu', 'us']) l",
        "VACUUM ANALYZE",  # months-old rows are all-visible: index-only scans read no heap
    ]
    h1 = max(d0, int(now // 3600 * 3600) - 3600)
    args = {"p": prefix, "d0": d0, "h1": h1, "n1": n - 1, "days": days - 1}
    for sql in sqls:
        t0 = time.monotonic()
        pg.psql(sql % args)
        print("  seeded in %5.1f s: %s" % (time.monotonic() - t0, sql[:70]), flush=True)
    for k, v in (("intervals", "asset_state_intervals"), ("rollups", "asset_rollups"),
                 ("incidents", "incidents"), ("results", "probe_events")):
        print("  %-10s %10s rows" % (k, pg.scalar("SELECT count(*) FROM %s" % v)))


def set_watermarks(pg, on):
    if on:
        # as the seed left them: days to today's midnight, hours to an hour before the last
        # whole hour (or midnight)
        pg.psql("INSERT INTO rollup_watermarks (period, built_until) VALUES"
                " ('day', date_trunc('day', now(), 'UTC')),"
                " ('hour', GREATEST(date_trunc('day', now(), 'UTC'),"
                "  date_trunc('hour', now()) - interval '1 hour'))"
                " ON CONFLICT (period) DO UPDATE SET built_until = EXCLUDED.built_until,"
                " dirty_from = NULL")
    else:
        pg.psql("DELETE FROM rollup_watermarks")


def quiet(pg, timeout=120):
    """Waits until the collector's own start-up work (the upkeep's rollups and retention) is
    over: no statement of it active for a second."""
    t0 = time.monotonic()
    calm = 0
    while time.monotonic() - t0 < timeout and calm < 10:
        busy = int(pg.scalar("SELECT count(*) FROM pg_stat_activity WHERE state = 'active'"
                             " AND application_name = 'statusd-collector'"))
        calm = calm + 1 if busy == 0 else 0
        time.sleep(0.1)
    print("  collector quiet after %.1f s" % (time.monotonic() - t0), flush=True)


def measure(col, requests):
    res = {}
    st, body, first = get(col.api + "/api/status-page/data")
    assert st == 200, st
    data = json.loads(body)
    res["page_first_s"] = first
    res["page_bytes"] = len(body)
    req = urllib.request.Request(col.api + "/api/status-page/data",
                                 headers={"Accept-Encoding": "gzip"})
    with urllib.request.urlopen(req, timeout=60) as r:
        res["page_gzip_bytes"] = len(r.read())
    res["page_assets"] = len(data["assets"])
    times = [get(col.api + "/api/status-page/data")[2] for _ in range(requests)]
    res["page_p50_s"] = statistics.median(times)
    res["page_max_s"] = max(times)
    times = []
    for _ in range(max(2, requests // 4)):
        st, body, t = get(col.api + "/api/assets")
        assert st == 200, st
        times.append(t)
    assets = json.loads(body)
    res["assets_p50_s"] = statistics.median(times)
    res["assets_max_s"] = max(times)
    res["assets_n"] = len(assets)
    with_30d = [a for a in assets if a["uptime"]["30d"] is not None]
    res["assets_30d_mean"] = (sum(a["uptime"]["30d"] for a in with_30d) / len(with_30d)
                              if with_30d else None)
    frm = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() - 30 * DAY))
    times = []
    for _ in range(max(2, requests // 4)):
        st, body, t = get(col.api + "/api/uptime?from=" + frm)
        assert st == 200, st
        times.append(t)
    res["uptime30_p50_s"] = statistics.median(times)
    res["uptime30_max_s"] = max(times)
    up = json.loads(body)
    res["uptime30_n"] = len(up)
    a0 = data["assets"][0]
    res["sample"] = {"uptime": a0["uptime"], "bar_-7": {k: v[-8] for k, v in a0["daily"].items()
                                                         if isinstance(v, list)}}
    return res


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--assets", type=int, default=10000)
    ap.add_argument("--days", type=int, default=90)
    ap.add_argument("--requests", type=int, default=20)
    ap.add_argument("--explain", metavar="FILE",
                    help="log the plans of statements over 100 ms (auto_explain) into FILE")
    args = ap.parse_args()
    env = TestEnv("status-page-bench")
    prefix = "scale-"
    try:
        pg = env.start_pg()
        assets = [{"id": "%s%d" % (prefix, i), "assetType": "http", "name": "scale %d" % i,
                   "address": "http://127.0.0.1:9/a/%d" % i, "intervalSeconds": 3600,
                   "timeoutSeconds": 5, "metadata": {"team": "t%d" % (i % 10)}}
                  for i in range(args.assets)]
        manifest = {"assets": assets, "statusPage": {"title": "bench", "groupBy": "team"}}
        notifiers = {"notifiers": {}, "notificationPolicy": {"onDown": [], "onRecovery": []}}
        col = env.start_collector(pg, manifest, notifiers, secure=False,
                                  extra=["--log-level", "warn"])
        print("collector up with %d assets; seeding %d days" % (args.assets, args.days),
              flush=True)
        t0 = time.monotonic()
        seed(pg, args.assets, args.days, prefix)
        print("seeded in %.1f s" % (time.monotonic() - t0), flush=True)
        if args.explain:
            pg.psql("ALTER DATABASE %s SET session_preload_libraries = 'auto_explain'"
                    % pg.dbname)
            pg.psql("ALTER DATABASE %s SET auto_explain.log_min_duration = 100" % pg.dbname)
            pg.psql("ALTER DATABASE %s SET auto_explain.log_analyze = on" % pg.dbname)
        out = {}
        for label, on in (("rollups", True), ("raw only", False)):
            set_watermarks(pg, on)
            col.stop()          # a new process: the first request builds a new snapshot
            env.restart(col)
            quiet(pg)
            out[label] = measure(col, args.requests)
            print("%s: %s" % (label, json.dumps(out[label])), flush=True)
        print()
        print("%-44s %14s %14s" % ("", "rollups", "raw only"))
        rows = [("status page data: first request (build) s", "page_first_s"),
                ("status page data: served p50 s", "page_p50_s"),
                ("status page data: served max s", "page_max_s"),
                ("status page data: bytes", "page_bytes"),
                ("status page data: bytes gzip'd", "page_gzip_bytes"),
                ("GET /api/uptime?from=30 days ago p50 s", "uptime30_p50_s"),
                ("GET /api/uptime?from=30 days ago max s", "uptime30_max_s"),
                ("GET /api/assets (24h/7d/30d, results) p50 s", "assets_p50_s"),
                ("GET /api/assets max s", "assets_max_s"),
                ("mean 30-day uptime of all assets", "assets_30d_mean")]
        for name, k in rows:
            vals = [out[lbl][k] for lbl in ("rollups", "raw only")]
            print("%-44s %14s %14s" % (name, *[("%.4f" % v) if isinstance(v, float) else v
                                              for v in vals]))
        if args.explain:
            with open(os.path.join(pg.dir, "postgres.log")) as f, open(args.explain, "w") as o:
                o.write(f.read())
            print("plans: %s" % args.explain)
    finally:
        env.cleanup()


if __name__ == "__main__":
    main()
