/* store_rollups against a real PostgreSQL: hourly and daily rollups per asset and per
 * location equal the raw aggregates of the same data (samples, successes, latency
 * percentiles of the successful results, seconds in each state cut at the bucket's edges);
 * building again is idempotent and takes a late result in; a bucket not yet over is left
 * alone; the watermark never goes back. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "sd_clock.h"
#include "store_rollups.h"

#define STORE_FIXTURE_DB_PREFIX "rollups"
#include "store_fixture.h"

/* 2026-11-01T00:00:00Z */
#define T0 1793491200000LL
#define HOUR 3600000LL

/* Results of "api" from eu and us every 30 s over 3 hours from T0 (latency 10 + i % 50 ms,
 * every 7th a failure), and of "web" from eu in the first hour; api DOWN from 01:20 to
 * 01:50, MAINTENANCE from 02:30 to 02:40, UP otherwise. */
static void s_seed(void)
{
    s_exec("INSERT INTO assets (id, name, address) VALUES ('api', 'API', 'x'), ('web', 'W', 'y')");
    char sql[600];
    snprintf(sql, sizeof sql,
             "INSERT INTO probe_events (asset_id, agent_id, region, seq, ts, success, latency_ms)"
             " SELECT 'api', 'a-' || r, r, i, to_timestamp(%lld + i * 30), i %% 7 <> 0,"
             " 10 + i %% 50 + CASE WHEN r = 'us' THEN 5 ELSE 0 END"
             " FROM generate_series(0, 359) i, unnest(ARRAY['eu', 'us']) r",
             T0 / 1000);
    s_exec(sql);
    snprintf(sql, sizeof sql,
             "INSERT INTO probe_events (asset_id, agent_id, region, seq, ts, success, latency_ms)"
             " SELECT 'web', 'a-eu', 'eu', 1000 + i, to_timestamp(%lld + i * 60), true, 100 + i"
             " FROM generate_series(0, 59) i",
             T0 / 1000);
    s_exec(sql);
    snprintf(sql, sizeof sql,
             "INSERT INTO asset_state_intervals (asset_id, state, started_at, ended_at) VALUES"
             " ('api', 'UP', to_timestamp(%lld), to_timestamp(%lld)),"
             " ('api', 'DOWN', to_timestamp(%lld), to_timestamp(%lld)),"
             " ('api', 'UP', to_timestamp(%lld), to_timestamp(%lld)),"
             " ('api', 'MAINTENANCE', to_timestamp(%lld), to_timestamp(%lld)),"
             " ('api', 'UP', to_timestamp(%lld), NULL)",
             T0 / 1000 - 600, T0 / 1000 + 4800, T0 / 1000 + 4800, T0 / 1000 + 6600,
             T0 / 1000 + 6600, T0 / 1000 + 9000, T0 / 1000 + 9000, T0 / 1000 + 9600,
             T0 / 1000 + 9600);
    s_exec(sql);
}

/* Every rollup row of period equals the aggregate of the raw rows in its bucket. */
static void s_equal_raw(const char *period)
{
    char sql[2000];
    snprintf(sql, sizeof sql,
             "SELECT count(*) FROM asset_rollups ro"
             " LEFT JOIN LATERAL (SELECT count(*) AS n, count(*) FILTER (WHERE success) AS ok,"
             "  percentile_cont(0.5) WITHIN GROUP (ORDER BY latency_ms) FILTER (WHERE success) p50,"
             "  percentile_cont(0.95) WITHIN GROUP (ORDER BY latency_ms) FILTER (WHERE success) p95,"
             "  percentile_cont(0.99) WITHIN GROUP (ORDER BY latency_ms) FILTER (WHERE success) p99"
             "  FROM probe_events pe WHERE pe.asset_id = ro.asset_id"
             "   AND (ro.location = '' OR pe.region = ro.location)"
             "   AND pe.ts >= ro.bucket AND pe.ts < ro.bucket + interval '1 %s') raw ON true"
             " WHERE ro.period = '%s' AND NOT (ro.samples = raw.n AND ro.successes = raw.ok"
             "  AND ro.latency_p50 IS NOT DISTINCT FROM raw.p50"
             "  AND ro.latency_p95 IS NOT DISTINCT FROM raw.p95"
             "  AND ro.latency_p99 IS NOT DISTINCT FROM raw.p99)",
             period, period);
    double bad = s_num(sql);
    snprintf(sql, sizeof sql, "SELECT count(*) FROM asset_rollups WHERE period = '%s'", period);
    print_message("%s rollups: %.0f rows, %.0f differ from the raw aggregates\n", period,
                  s_num(sql), bad);
    assert_true(bad == 0);
}

static void test_rollups(void **state)
{
    (void) state;
    s_seed();
    char err[256] = "";
    int64_t rows = 0;
    /* hours 00, 01, 02 of the day (and one more that has no data) */
    assert_int_equal(store_rollups_build(s_store, ROLLUP_HOUR, T0, T0 + 4 * HOUR, &rows, err,
                                         sizeof err),
                     0);
    print_message("hours built: %lld rows\n", (long long) rows);
    /* api: 3 hours x (eu, us, all); web: 1 hour x (eu, all); api's UP interval still open
     * gives state rows for hour 03 too */
    assert_int_equal(rows, 3 * 3 + 2 + 1);
    s_equal_raw("hour");
    assert_true(s_num("SELECT samples FROM asset_rollups WHERE asset_id = 'api' AND period ="
                      " 'hour' AND location = '' AND bucket = '2026-11-01T00:00:00Z'") == 240);
    /* state seconds cut at the hour's edges: 01:00-02:00 has 20 min UP, 30 DOWN, 10 UP */
    assert_true(s_num("SELECT down_seconds FROM asset_rollups WHERE asset_id = 'api' AND"
                      " period = 'hour' AND location = '' AND bucket = '2026-11-01T01:00:00Z'") ==
                1800);
    assert_true(s_num("SELECT up_seconds FROM asset_rollups WHERE asset_id = 'api' AND"
                      " period = 'hour' AND location = '' AND bucket = '2026-11-01T01:00:00Z'") ==
                1800);
    assert_true(s_num("SELECT maintenance_seconds FROM asset_rollups WHERE asset_id = 'api'"
                      " AND period = 'hour' AND location = '' AND"
                      " bucket = '2026-11-01T02:00:00Z'") == 600);
    /* state seconds only on the all-locations rows */
    assert_true(s_num("SELECT sum(up_seconds + down_seconds) FROM asset_rollups WHERE"
                      " location <> ''") == 0);

    /* the day: equal to the raw aggregates, and to the sum of its hours' state seconds */
    assert_int_equal(store_rollups_build(s_store, ROLLUP_DAY, T0, T0 + 24 * HOUR, &rows, err,
                                         sizeof err),
                     0);
    s_equal_raw("day");
    assert_true(s_num("SELECT down_seconds FROM asset_rollups WHERE asset_id = 'api' AND"
                      " period = 'day' AND location = ''") == 1800);

    /* a late result: building again takes it in, and changes nothing else */
    char sql[400];
    snprintf(sql, sizeof sql,
             "INSERT INTO probe_events (asset_id, agent_id, region, seq, ts, success, latency_ms)"
             " VALUES ('web', 'a-eu', 'eu', 5000, to_timestamp(%lld), false, 1)",
             T0 / 1000 + 10);
    s_exec(sql);
    double before = s_num("SELECT count(*) FROM asset_rollups");
    assert_int_equal(store_rollups_build(s_store, ROLLUP_HOUR, T0, T0 + 4 * HOUR, &rows, err,
                                         sizeof err),
                     0);
    assert_true(s_num("SELECT count(*) FROM asset_rollups") == before);
    assert_true(s_num("SELECT samples FROM asset_rollups WHERE asset_id = 'web' AND period ="
                      " 'hour' AND location = 'eu'") == 61);
    s_equal_raw("hour");

    /* a bucket not yet over is not built */
    int64_t now = sd_wall_ms();
    assert_int_equal(store_rollups_build(s_store, ROLLUP_HOUR, now - now % HOUR, now, &rows,
                                         err, sizeof err),
                     0);
    assert_int_equal(rows, 0);

    /* the watermark */
    int64_t w = -1;
    assert_int_equal(store_rollups_watermark(s_store, ROLLUP_HOUR, &w, err, sizeof err), 0);
    assert_int_equal(w, 0);
    assert_int_equal(store_rollups_advance(s_store, ROLLUP_HOUR, T0 + 4 * HOUR, err,
                                           sizeof err),
                     0);
    assert_int_equal(store_rollups_advance(s_store, ROLLUP_HOUR, T0, err, sizeof err), 0);
    assert_int_equal(store_rollups_watermark(s_store, ROLLUP_HOUR, &w, err, sizeof err), 0);
    assert_int_equal(w, T0 + 4 * HOUR);
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_rollups)};
    return cmocka_run_group_tests(tests, s_setup, s_teardown);
}
