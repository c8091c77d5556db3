/* store_status_page and status_cache against a real PostgreSQL, on a scripted history
 * relative to today: the daily bars (a 2-hour outage 3 days ago: 22/24 up, 7200 s down, one
 * incident; a maintenance hour yesterday), the windows, groups, hidden addresses, the public
 * timeline (internal event kinds left out), the hourly latency, maintenance windows. Then
 * the rollups are built and the raw intervals they cover deleted: the figures must stay the
 * same to the millisecond (the long ranges are read from the rollups). The cache serves a
 * snapshot and builds again only when it is older than its refresh period. */
#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <time.h>
#include <zlib.h>

#include "sd_clock.h"
#include "status_cache.h"
#include "store_api.h"
#include "store_assets.h"
#include "store_rollups.h"
#include "store_status_page.h"

#define STORE_FIXTURE_DB_PREFIX "statuspage"
#include "store_fixture.h"

#define H 3600000LL
#define D 86400000LL

static int64_t s_today;   /* today's UTC midnight, unix ms */

/* ts(offset ms from today's midnight) as SQL */
static const char *s_at(char *buf, size_t len, int64_t off)
{
    snprintf(buf, len, "to_timestamp(%.3f)", (double) (s_today + off) / 1000.0);
    return buf;
}

static void s_seed(void)
{
    char a[6][64], sql[2048];
    s_exec("INSERT INTO assets (id, name, address, metadata) VALUES"
           " ('api', 'Public API', 'https://secret.example/api', '{\"tier\": \"Core\"}'),"
           " ('web', 'Web', 'https://secret.example/', '{\"tier\": \"Edge\"}'),"
           " ('gone', 'Gone', 'x', NULL)");
    s_exec("UPDATE assets SET in_manifest = false WHERE id = 'gone'");
    snprintf(sql, sizeof sql,
             "INSERT INTO asset_state_intervals (asset_id, state, started_at, ended_at) VALUES"
             " ('api', 'UP', %s, %s), ('api', 'DOWN', %s, %s), ('api', 'UP', %s, %s),"
             " ('api', 'MAINTENANCE', %s, %s), ('api', 'UP', %s, NULL),"
             " ('web', 'UP', %s, NULL)",
             s_at(a[0], 64, -5 * D), s_at(a[1], 64, -3 * D + 10 * H), a[1],
             s_at(a[2], 64, -3 * D + 12 * H), a[2], s_at(a[3], 64, -1 * D), a[3],
             s_at(a[4], 64, -1 * D + H), a[4], s_at(a[5], 64, -2 * D));
    s_exec(sql);
    snprintf(sql, sizeof sql,
             "INSERT INTO incidents (asset_id, summary, started_at, ended_at) VALUES"
             " ('api', 'API is DOWN', %s, %s)",
             s_at(a[0], 64, -3 * D + 10 * H), s_at(a[1], 64, -3 * D + 12 * H));
    s_exec(sql);
    snprintf(sql, sizeof sql,
             "INSERT INTO incident_events (incident_id, kind, detail, at) VALUES"
             " (1, 'opened', '{\"why\": \"eu-1 saw 10.0.0.1 refuse\"}', %s),"
             " (1, 'notified', '\"slack-ops\"', %s), (1, 'resolved', '{}', %s)",
             s_at(a[0], 64, -3 * D + 10 * H), a[0], s_at(a[1], 64, -3 * D + 12 * H));
    s_exec(sql);
    /* results of api from eu and us every minute over the last 3 hours: 20 ms eu, 40 ms us */
    s_exec("INSERT INTO probe_events (asset_id, agent_id, region, seq, ts, success, latency_ms)"
           " SELECT 'api', 'agent-' || r, r, i, now() - i * interval '1 minute', true,"
           " CASE WHEN r = 'eu' THEN 20 ELSE 40 END"
           " FROM generate_series(0, 179) i, unnest(ARRAY['eu', 'us']) r");
    s_exec("INSERT INTO maintenance_windows (name, asset_ids, starts_at, ends_at, reason)"
           " VALUES ('db upgrade', ARRAY['api'], now() + interval '1 day',"
           " now() + interval '1 day 1 hour', 'planned')");
}

static int s_group_setup(void **state)
{
    if (s_setup(state) != 0)
        return -1;
    int64_t now = sd_wall_ms();
    s_today = now - now % D;
    s_seed();
    return 0;
}

static json_t *s_page(int64_t now)
{
    json_t *out = NULL;
    char err[512] = "";
    int rc = store_status_page(s_store, "tier", false, now, &out, err, sizeof err);
    if (rc)
        fail_msg("store_status_page: %s", err);
    return out;
}

static json_t *s_asset(json_t *page, const char *id)
{
    size_t i;
    json_t *a;
    json_array_foreach(json_object_get(page, "assets"), i, a)
        if (strcmp(json_string_value(json_object_get(a, "id")), id) == 0)
            return a;
    return NULL;
}

static double s_dnum(json_t *o, const char *k)
{
    return json_number_value(json_object_get(o, k));
}

static void s_check_scripted(json_t *page)
{
    json_t *api = s_asset(page, "api"), *web = s_asset(page, "web");
    assert_non_null(api);
    assert_non_null(web);
    assert_null(s_asset(page, "gone"));
    assert_int_equal(json_array_size(json_object_get(page, "assets")), 2);
    assert_null(json_object_get(api, "address"));
    assert_string_equal(json_string_value(json_object_get(api, "group")), "Core");
    json_t *daily = json_object_get(api, "daily");
    json_t *dup = json_object_get(daily, "uptime");
    assert_int_equal(json_array_size(dup), STATUS_PAGE_DAYS);
    int od = STATUS_PAGE_DAYS - 1 - 3, md = STATUS_PAGE_DAYS - 1 - 1;
    char *txt = json_dumps(daily, JSON_COMPACT);
    print_message("api daily: %.300s...\n", txt);
    free(txt);
    /* the outage day: 22 of 24 hours up, 7200 s down, one incident */
    assert_true(fabs(json_number_value(json_array_get(dup, od)) - 22.0 / 24.0) < 1e-6);
    assert_true(json_number_value(json_array_get(json_object_get(daily, "downSeconds"), od)) ==
                7200);
    assert_int_equal(json_number_value(json_array_get(json_object_get(daily, "incidents"), od)),
                     1);
    /* yesterday: an hour of maintenance, up otherwise */
    assert_true(json_number_value(json_array_get(json_object_get(daily, "maintenanceSeconds"),
                                                 md)) == 3600 &&
                json_number_value(json_array_get(dup, md)) == 1);
    assert_true(json_is_null(json_array_get(dup, 0)));
    char day0[16];
    int64_t d0 = s_today - (STATUS_PAGE_DAYS - 1) * D;
    time_t t = (time_t) (d0 / 1000);
    strftime(day0, sizeof day0, "%Y-%m-%d", gmtime(&t));
    assert_string_equal(json_string_value(json_object_get(daily, "start")), day0);
    assert_true(json_is_null(
        json_array_get(json_object_get(json_object_get(web, "daily"), "uptime"), od)));
    json_t *up = json_object_get(api, "uptime");
    assert_true(s_dnum(up, "24h") == 1);
    /* 7 days: 5 days of history with 2 hours down */
    double u7 = s_dnum(up, "7d");
    print_message("api uptime 7d %.6f 90d %.6f\n", u7, s_dnum(up, "90d"));
    assert_true(u7 > 0.98 && u7 < 0.99 && s_dnum(up, "90d") == u7);
    /* latency: the last 3 hours have eu 20 and us 40 ms: p50 30 */
    json_t *lat = json_object_get(api, "latency");
    json_t *p50 = json_object_get(lat, "p50");
    assert_int_equal(json_array_size(p50), STATUS_PAGE_HOURS);
    assert_true(json_number_value(json_array_get(p50, STATUS_PAGE_HOURS - 2)) == 30);
    assert_true(json_number_value(json_array_get(json_object_get(lat, "samples"),
                                                 STATUS_PAGE_HOURS - 2)) == 120);
    assert_true(json_is_null(json_array_get(p50, 0)));
    json_t *res = json_object_get(api, "results");
    assert_int_equal(json_array_size(res), 2);
    assert_null(json_object_get(json_array_get(res, 0), "agent"));
    /* the incident, its public timeline only */
    json_t *inc = json_array_get(json_object_get(page, "incidents"), 0);
    assert_string_equal(json_string_value(json_object_get(inc, "assetName")), "Public API");
    json_t *tl = json_object_get(inc, "timeline");
    assert_int_equal(json_array_size(tl), 2);
    assert_string_equal(json_string_value(json_object_get(json_array_get(tl, 0), "kind")),
                        "opened");
    assert_null(json_object_get(json_array_get(tl, 0), "detail"));
    json_t *mw = json_array_get(json_object_get(page, "maintenance"), 0);
    assert_string_equal(json_string_value(json_object_get(mw, "name")), "db upgrade");
    assert_false(json_is_true(json_object_get(mw, "active")));
    txt = json_dumps(page, 0);
    print_message("data: %zu bytes for 2 assets\n", strlen(txt));
    assert_null(strstr(txt, "secret.example"));
    assert_null(strstr(txt, "10.0.0.1"));
    assert_null(strstr(txt, "slack-ops"));
    free(txt);
}

/* The assets' figures that must not depend on where they are read from. */
static json_t *s_figures(json_t *page)
{
    json_t *f = json_object();
    size_t i;
    json_t *a;
    json_array_foreach(json_object_get(page, "assets"), i, a) {
        json_t *d = json_deep_copy(json_object_get(a, "daily"));
        json_t *l = json_deep_copy(json_object_get(a, "latency"));
        json_object_set_new(f, json_string_value(json_object_get(a, "id")),
                            json_pack("{s:O, s:o, s:o}", "uptime", json_object_get(a, "uptime"),
                                      "daily", d, "latency", l));
    }
    return f;
}

static void test_scripted_then_rollups(void **st)
{
    (void) st;
    /* a fixed "now" for both reads: the open intervals still grow with the database's now() */
    int64_t now = sd_wall_ms();
    json_t *raw = s_page(now);
    s_check_scripted(raw);

    char err[512] = "";
    int64_t rows = 0, hour_top = now - now % H;
    assert_int_equal(store_rollups_build(s_store, ROLLUP_HOUR, s_today - 6 * D, hour_top, &rows,
                                         err, sizeof err), 0);
    assert_int_equal(store_rollups_advance(s_store, ROLLUP_HOUR, hour_top, err, sizeof err), 0);
    assert_int_equal(store_rollups_build(s_store, ROLLUP_DAY, s_today - 6 * D, s_today, &rows,
                                         err, sizeof err), 0);
    assert_int_equal(store_rollups_advance(s_store, ROLLUP_DAY, s_today, err, sizeof err), 0);
    /* the history the daily rollups hold is gone from the raw table: read from rollups only */
    char a[64], sql[256];
    snprintf(sql, sizeof sql, "DELETE FROM asset_state_intervals WHERE ended_at <= %s",
             s_at(a, sizeof a, -2 * D));
    s_exec(sql);
    assert_true(s_num("SELECT count(*) FROM asset_state_intervals WHERE asset_id = 'api'") == 3);
    json_t *rolled = s_page(now);
    s_check_scripted(rolled);
    json_t *f1 = s_figures(raw), *f2 = s_figures(rolled);
    char *t1 = json_dumps(f1, JSON_SORT_KEYS | JSON_COMPACT);
    char *t2 = json_dumps(f2, JSON_SORT_KEYS | JSON_COMPACT);
    if (!json_equal(f1, f2))
        fail_msg("raw and rollup figures differ:\n%s\n%s", t1, t2);
    free(t1);
    free(t2);
    json_decref(f1);
    json_decref(f2);

    /* GET /api/assets and the uptime route read the same history */
    json_t *assets = NULL;
    assert_int_equal(store_api_assets(s_store, &assets, err, sizeof err), 0);
    json_t *u7 = json_object_get(json_object_get(json_array_get(assets, 0), "uptime"), "7d");
    print_message("GET /api/assets api 7d %.6f\n", json_number_value(u7));
    assert_true(fabs(json_number_value(u7) -
                     s_dnum(json_object_get(s_asset(rolled, "api"), "uptime"), "7d")) < 2e-6);
    json_decref(assets);
    json_t *one = NULL;
    assert_int_equal(store_api_uptime(s_store, "api", s_today - 3 * D, s_today - 2 * D, &one,
                                      err, sizeof err), 0);
    assert_true(s_dnum(one, "downSeconds") == 7200 && s_dnum(one, "upSeconds") == 79200);
    json_decref(one);
    json_decref(raw);
    json_decref(rolled);
}

/* A state written with a time in the past (a DOWN from its first failing probe) inside
 * rollups already built: the reader must not use the stale rollups (the engine's statement
 * marks them, migration 010), and once the upkeep rebuilt them the mark is gone and the
 * figures are the same. Also: every session is in UTC whatever the database's default, and
 * the uptime of an asset removed from the manifest is still its history. */
static void test_backdated_state(void **st)
{
    (void) st;
    char err[512] = "";
    /* api's last interval: UP since yesterday 01:00; DOWN since yesterday 03:00, decided now */
    assert_int_equal(store_assets_set_state(s_store, "api", "DOWN", "late quorum",
                                            s_today - D + 3 * H, err, sizeof err), 0);
    int64_t dirty_day = 0, dirty_hour = 0;
    assert_int_equal(store_rollups_dirty(s_store, ROLLUP_DAY, &dirty_day, err, sizeof err), 0);
    assert_int_equal(store_rollups_dirty(s_store, ROLLUP_HOUR, &dirty_hour, err, sizeof err), 0);
    print_message("stale from: day %+lld h, hour %+lld h (relative to today)\n",
                  (long long) (dirty_day - s_today) / H, (long long) (dirty_hour - s_today) / H);
    assert_true(dirty_day == s_today - D && dirty_hour == s_today - D + 3 * H);
    int64_t now = sd_wall_ms();
    json_t *page = s_page(now);
    json_t *daily = json_object_get(s_asset(page, "api"), "daily");
    int y = STATUS_PAGE_DAYS - 2;
    double up = json_number_value(json_array_get(json_object_get(daily, "uptime"), y));
    double down = json_number_value(json_array_get(json_object_get(daily, "downSeconds"), y));
    print_message("yesterday after the late DOWN: uptime %.6f, down %.0f s\n", up, down);
    /* 1 h maintenance, 2 h up, 21 h down */
    assert_true(fabs(up - 2.0 / 23.0) < 1e-6 && down == 21 * 3600);
    /* the upkeep rebuilds from the marks and clears them: the same figures */
    int64_t hour_top = now - now % H, rows = 0;
    assert_int_equal(store_rollups_build(s_store, ROLLUP_DAY, dirty_day, s_today, &rows, err,
                                         sizeof err), 0);
    assert_int_equal(store_rollups_clean(s_store, ROLLUP_DAY, dirty_day, s_today, err,
                                         sizeof err), 0);
    assert_int_equal(store_rollups_build(s_store, ROLLUP_HOUR, dirty_hour, hour_top, &rows, err,
                                         sizeof err), 0);
    assert_int_equal(store_rollups_clean(s_store, ROLLUP_HOUR, dirty_hour, hour_top, err,
                                         sizeof err), 0);
    assert_int_equal(store_rollups_dirty(s_store, ROLLUP_DAY, &dirty_day, err, sizeof err), 0);
    assert_int_equal(dirty_day, 0);
    json_t *again = s_page(now);
    json_t *f1 = s_figures(page), *f2 = s_figures(again);
    assert_true(json_equal(f1, f2));
    json_decref(f1);
    json_decref(f2);
    json_decref(page);
    json_decref(again);
    /* a mark lowered while a rebuild ran is kept */
    assert_int_equal(store_assets_set_state(s_store, "web", "DOWN", "late", s_today - D + 5 * H,
                                            err, sizeof err), 0);
    assert_int_equal(store_rollups_dirty(s_store, ROLLUP_HOUR, &dirty_hour, err, sizeof err), 0);
    assert_int_equal(store_rollups_clean(s_store, ROLLUP_HOUR, dirty_hour - H, hour_top, err,
                                         sizeof err), 0);
    int64_t still = 0;
    assert_int_equal(store_rollups_dirty(s_store, ROLLUP_HOUR, &still, err, sizeof err), 0);
    assert_true(still == dirty_hour);

    /* UTC in every session, whatever the database says */
    PGconn *pc = store_conn(s_store);
    char sql[256], ci[512];
    snprintf(sql, sizeof sql, "ALTER DATABASE %s SET TimeZone = 'Europe/Berlin'", PQdb(pc));
    s_exec(sql);
    snprintf(ci, sizeof ci, "host=%s port=%s dbname=%s user=%s", PQhost(pc), PQport(pc),
             PQdb(pc), PQuser(pc));
    store_t *other = store_new(ci, err, sizeof err);
    assert_non_null(other);
    PGresult *r = PQexec(store_conn(other), "SHOW TimeZone");
    print_message("session TimeZone: %s\n", PQgetvalue(r, 0, 0));
    assert_string_equal(PQgetvalue(r, 0, 0), "UTC");
    PQclear(r);
    store_destroy(&other);

    /* an asset removed from the manifest keeps its figures on the uptime route */
    s_exec("UPDATE assets SET in_manifest = false WHERE id = 'web'");
    json_t *one = NULL;
    assert_int_equal(store_api_uptime(s_store, "web", s_today - 2 * D, s_today, &one, err,
                                      sizeof err), 0);
    print_message("removed asset: up %.0f s\n", s_dnum(one, "upSeconds"));
    assert_true(s_dnum(one, "upSeconds") > 100000);
    json_decref(one);
    s_exec("UPDATE assets SET in_manifest = true WHERE id = 'web'");
}

static void test_cache(void **st)
{
    (void) st;
    char err[512] = "";
    PGconn *pc = store_conn(s_store);
    char ci[512];
    snprintf(ci, sizeof ci, "host=%s port=%s dbname=%s user=%s", PQhost(pc), PQport(pc),
             PQdb(pc), PQuser(pc));
    status_cache_t *c = status_cache_new(ci, 60000, err, sizeof err);
    assert_non_null(c);
    json_t *page = json_pack("{s:s, s:n, s:s, s:b}", "title", "T", "description", "groupBy",
                             "tier", "showAddresses", 1);
    char *body = NULL;
    size_t len = 0;
    sd_ms_t t0 = sd_mono_ms();
    assert_int_equal(status_cache_get(c, page, 15000, NULL, &body, &len, err, sizeof err), 0);
    print_message("first snapshot: %zu bytes in %lld ms\n", len, (long long) (sd_mono_ms() - t0));
    json_t *d = json_loads(body, 0, NULL);
    assert_non_null(d);
    assert_string_equal(json_string_value(json_object_get(json_object_get(d, "page"), "title")),
                        "T");
    assert_non_null(json_object_get(d, "generatedAt"));
    /* showAddresses: the address is there */
    assert_non_null(strstr(body, "secret.example"));
    json_decref(d);
    /* the same snapshot again (not older than 60 s) */
    char *again = NULL;
    assert_int_equal(status_cache_get(c, page, 0, NULL, &again, &len, err, sizeof err), 0);
    assert_string_equal(body, again);
    free(again);
    /* gzip: the same bytes once inflated */
    bool gz = true;
    size_t zlen = 0;
    assert_int_equal(status_cache_get(c, page, 0, &gz, &again, &zlen, err, sizeof err), 0);
    assert_true(gz);
    char *plain = malloc(len + 1);
    z_stream z = {0};
    assert_int_equal(inflateInit2(&z, 15 + 16), Z_OK);
    z.next_in = (Bytef *) again;
    z.avail_in = (uInt) zlen;
    z.next_out = (Bytef *) plain;
    z.avail_out = (uInt) len + 1;
    assert_int_equal(inflate(&z, Z_FINISH), Z_STREAM_END);
    assert_int_equal(z.total_out, len);
    inflateEnd(&z);
    plain[len] = '\0';
    assert_string_equal(plain, body);
    print_message("gzip: %zu of %zu bytes\n", zlen, len);
    free(plain);
    free(again);
    free(body);
    /* other settings: a new snapshot, built for them */
    json_object_set_new(page, "showAddresses", json_false());
    assert_int_equal(status_cache_get(c, page, 15000, NULL, &body, &len, err, sizeof err), 0);
    assert_null(strstr(body, "secret.example"));
    free(body);
    json_decref(page);
    status_cache_destroy(&c);
    assert_null(c);
    /* a snapshot older than the refresh period is rebuilt for the requests after it: a
     * state written now shows within a deadline (the stale one is served meanwhile) */
    c = status_cache_new(ci, 200, err, sizeof err);
    assert_non_null(c);
    page = json_pack("{s:s, s:n, s:s, s:b}", "title", "T", "description", "groupBy", "tier",
                     "showAddresses", 0);
    assert_int_equal(status_cache_get(c, page, 15000, NULL, &body, &len, err, sizeof err), 0);
    assert_null(strstr(body, "\"state\":\"MAINTENANCE\""));
    free(body);
    s_exec("UPDATE assets SET state = 'MAINTENANCE' WHERE id = 'web'");
    sd_ms_t t1 = sd_mono_ms();
    bool seen = false;
    while (!seen && sd_mono_ms() - t1 < 10000) {
        assert_int_equal(status_cache_get(c, page, 0, NULL, &body, &len, err, sizeof err), 0);
        seen = strstr(body, "\"state\":\"MAINTENANCE\"") != NULL;
        free(body);
        if (!seen) {
            struct timespec ts = {0, 20 * 1000000L};  /* polling, not a wait for the result */
            nanosleep(&ts, NULL);
        }
    }
    print_message("a state change reached the snapshot after %lld ms (refresh 200 ms)\n",
                  (long long) (sd_mono_ms() - t1));
    assert_true(seen);
    s_exec("UPDATE assets SET state = 'UNKNOWN' WHERE id = 'web'");
    /* destroyed while a build runs: joins it, nothing leaks (LSan in the ASan build) */
    json_object_set_new(page, "title", json_string("other settings: a new build"));
    /* (the build just asked for runs now; were the thread to finish it within the call's
     * zero wait, the answer is that snapshot) */
    int got = status_cache_get(c, page, 0, NULL, &body, &len, err, sizeof err);
    assert_true(got == -EAGAIN || got == 0);
    if (got == 0)
        free(body);
    status_cache_destroy(&c);
    assert_null(c);
    json_decref(page);

    /* no database: a clear error, no crash */
    c = status_cache_new("host=127.0.0.1 port=1 connect_timeout=2", 1000, err, sizeof err);
    page = json_pack("{s:s}", "title", "T");
    int rc = status_cache_get(c, page, 10000, NULL, &body, &len, err, sizeof err);
    print_message("no database: rc=%d %s\n", rc, err);
    assert_int_equal(rc, -EIO);
    json_decref(page);
    status_cache_destroy(&c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_scripted_then_rollups),
        cmocka_unit_test(test_backdated_state),
        cmocka_unit_test(test_cache),
    };
    return cmocka_run_group_tests(tests, s_group_setup, s_teardown);
}
