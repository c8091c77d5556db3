/* engine against a real PostgreSQL: RESULTS through BUS_ENGINE into a real engine actor.
 * One incident and one DOWN row per channel; recovery closes it with RECOVERY rows; a
 * restart during an open incident re-notifies nothing; outages/recoveries that happened
 * while the engine was down are caught up; throttling; malformed input is counted. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "bus.h"
#include "engine.h"
#include "sd_clock.h"
#include "statusd.pb-c.h"
#include "store.h"
#include "test_pg.h"

#define ASSET "api-prod"

typedef struct {
    char *conninfo;
    PGconn *db;
    sd_asset_t asset;
    sd_manifest_t manifest;
    sd_notifier_conf_t nc[2];
    char *chans[2];
    sd_notifiers_t notifiers;
    metrics_t *metrics;
    collector_ctx_t ctx;
    zsock_t *kicks;   /* stands in for the notifier */
    zsock_t *push;    /* stands in for ingest */
    zactor_t *engine;
    uint64_t seq;
} fx_t;

static PGresult *s_sql(fx_t *f, const char *sql)
{
    PGresult *r = PQexec(f->db, sql);
    ExecStatusType st = PQresultStatus(r);
    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK)
        fail_msg("%s: %s", sql, PQerrorMessage(f->db));
    return r;
}

static long s_count(fx_t *f, const char *sql)
{
    PGresult *r = s_sql(f, sql);
    long n = atol(PQgetvalue(r, 0, 0));
    PQclear(r);
    return n;
}

static int setup(void **state)
{
    fx_t *f = calloc(1, sizeof *f);
    f->conninfo = test_pg_fresh_db("engine");
    assert_non_null(f->conninfo);
    char err[512] = "", dir[1024];
    snprintf(dir, sizeof dir, "%s/migrations", getenv("STATUSD_SOURCE_DIR"));
    store_t *s = store_new(f->conninfo, err, sizeof err);
    assert_non_null(s);
    if (store_migrate(s, dir, err, sizeof err) != 0)
        fail_msg("migrate: %s", err);
    store_destroy(&s);
    f->db = PQconnectdb(f->conninfo);
    assert_int_equal(PQstatus(f->db), CONNECTION_OK);

    f->asset = (sd_asset_t){.id = ASSET, .asset_type = "http", .name = ASSET,
                            .address = "https://api.example.com/health",
                            .interval_seconds = 30, .timeout_seconds = 5,
                            .failure_threshold = 2, .success_threshold = 1};
    f->manifest = (sd_manifest_t){.assets = &f->asset, .n_assets = 1};
    f->nc[0] = (sd_notifier_conf_t){.name = "slack-ops", .type = "slack",
                                    .webhook_url = "http://127.0.0.1:9/x"};
    f->nc[1] = (sd_notifier_conf_t){.name = "teams-ops", .type = "teams",
                                    .webhook_url = "http://127.0.0.1:9/y"};
    f->chans[0] = "slack-ops";
    f->chans[1] = "teams-ops";
    f->notifiers = (sd_notifiers_t){.notifiers = f->nc, .n_notifiers = 2, .on_down = f->chans,
                                    .n_on_down = 2, .on_recovery = f->chans, .n_on_recovery = 2,
                                    .throttle_seconds = 0};
    f->metrics = metrics_new();
    f->ctx = (collector_ctx_t){.manifest = &f->manifest, .notifiers = &f->notifiers,
                               .db_conninfo = f->conninfo, .metrics = f->metrics};
    f->kicks = zsock_new_pull("@" BUS_NOTIFY);
    assert_non_null(f->kicks);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fx_t *f = *state;
    zactor_destroy(&f->engine);
    zsock_destroy(&f->push);
    zsock_destroy(&f->kicks);
    metrics_destroy(&f->metrics);
    PQfinish(f->db);
    free(f->conninfo);
    free(f);
    return 0;
}

static void s_start(fx_t *f)
{
    f->engine = engine_new(&f->ctx);
    assert_non_null(f->engine);
    /* an inproc PUSH does not follow its peer across an unbind/rebind: a new one per engine */
    zsock_destroy(&f->push);
    f->push = zsock_new_push(">" BUS_ENGINE);
    assert_non_null(f->push);
}

static void s_stop(fx_t *f)
{
    zactor_destroy(&f->engine);
    assert_null(f->engine);
}

/* Stores a result as ingest would (probe_events) and, when send, forwards it to the engine. */
static void s_result(fx_t *f, const char *asset, const char *agent, const char *region, bool ok,
                     int64_t ts, bool send)
{
    char seq[32], tss[32];
    snprintf(seq, sizeof seq, "%llu", (unsigned long long) ++f->seq);
    snprintf(tss, sizeof tss, "%lld", (long long) ts);
    const char *p[6] = {asset, agent, region, seq, tss, ok ? "t" : "f"};
    PGresult *r = PQexecParams(
        f->db,
        "INSERT INTO probe_events (asset_id, agent_id, region, seq, ts, success, latency_ms,"
        " code, message) VALUES ($1, $2, $3, $4::bigint, to_timestamp($5::double precision"
        " / 1000), $6::boolean, 12.5, CASE WHEN $6::boolean THEN 200 ELSE 503 END,"
        " CASE WHEN $6::boolean THEN NULL ELSE 'status 503 not in [200]' END)",
        6, NULL, p, NULL, NULL, 0);
    if (PQresultStatus(r) != PGRES_COMMAND_OK)
        fail_msg("insert probe_event: %s", PQerrorMessage(f->db));
    PQclear(r);
    if (!send)
        return;
    Statusd__ProbeResult pr = STATUSD__PROBE_RESULT__INIT;
    pr.seq = f->seq;
    pr.asset_id = (char *) asset;
    pr.started_at_ms = ts;
    pr.success = ok;
    pr.status_code = ok ? 200 : 503;
    pr.reason = ok ? "" : "status 503 not in [200]";
    Statusd__ProbeResult *prs[1] = {&pr};
    Statusd__ResultBatch b = STATUSD__RESULT_BATCH__INIT;
    b.n_results = 1;
    b.results = prs;
    size_t len = statusd__result_batch__get_packed_size(&b);
    uint8_t *buf = malloc(len ? len : 1);
    statusd__result_batch__pack(&b, buf);
    zmsg_t *m = zmsg_new();
    zmsg_addstr(m, "RESULTS");
    zmsg_addstr(m, agent);
    zmsg_addstr(m, region);
    zmsg_addmem(m, buf, len);
    free(buf);
    assert_int_equal(zmsg_send(&m, f->push), 0);
}

/* Waits until sql returns want (deadline); returns the elapsed ms. */
static sd_ms_t s_wait_count(fx_t *f, const char *sql, long want, int deadline_ms)
{
    sd_ms_t t0 = sd_mono_ms();
    long n = -1;
    while (sd_mono_ms() - t0 < deadline_ms) {
        n = s_count(f, sql);
        if (n == want)
            return sd_mono_ms() - t0;
        usleep(20 * 1000);
    }
    fail_msg("%s: got %ld, want %ld within %d ms", sql, n, want, deadline_ms);
    return -1;
}

/* The value of one rendered metric line (by prefix), or -1 when absent. */
static double s_metric(fx_t *f, const char *series)
{
    char *text = metrics_render(f->metrics), line[512];
    snprintf(line, sizeof line, "\n%s ", series);
    const char *p = text ? strstr(text, line) : NULL;
    double v = p ? atof(p + strlen(line)) : -1;
    free(text);
    return v;
}

/* Waits for the engine to have consumed everything pushed so far: an unknown-asset result
 * is counted only after every earlier message was processed (PUSH/PULL keep order). */
static void s_sync(fx_t *f)
{
    const char *series = "statusd_engine_results_dropped_total{reason=\"unknown_asset\"}";
    double before = s_metric(f, series);
    if (before < 0)
        before = 0;
    s_result(f, "no-such-asset", "sync", "x", true, sd_wall_ms(), true);
    sd_ms_t t0 = sd_mono_ms();
    while (s_metric(f, series) < before + 1) {
        if (sd_mono_ms() - t0 > 5000)
            fail_msg("engine did not process the sync message");
        usleep(10 * 1000);
    }
}

static int s_kicks(fx_t *f)
{
    int n = 0;
    while (zsock_events(f->kicks) & ZMQ_POLLIN) {
        char *s = zstr_recv(f->kicks);
        n += s && strcmp(s, "KICK") == 0;
        zstr_free(&s);
    }
    return n;
}

/* Two agents fail twice each: DOWN with quorum 2/2. Returns the first failure's time. */
static int64_t s_outage(fx_t *f, int64_t t, bool send)
{
    s_result(f, ASSET, "a1", "eu", false, t, send);
    s_result(f, ASSET, "a2", "us", false, t + 200, send);
    s_result(f, ASSET, "a1", "eu", false, t + 1000, send);
    s_result(f, ASSET, "a2", "us", false, t + 1200, send);
    return t;
}

static void s_recover(fx_t *f, int64_t t, bool send)
{
    s_result(f, ASSET, "a1", "eu", true, t, send);
    s_result(f, ASSET, "a2", "us", true, t + 100, send);
}

static void test_incident_lifecycle_and_restart(void **state)
{
    fx_t *f = *state;
    s_start(f);
    int64_t t0 = sd_wall_ms() - 10000;
    s_result(f, ASSET, "a1", "eu", true, t0 - 1000, true);
    s_result(f, ASSET, "a2", "us", true, t0 - 1000, true);
    s_sync(f);
    assert_int_equal(s_metric(f, "statusd_asset_up{asset=\"" ASSET "\"}"), 1);
    int64_t started = s_outage(f, t0, true);
    sd_ms_t took = s_wait_count(f, "SELECT count(*) FROM notifications WHERE event = 'DOWN'",
                                2, 5000);
    print_message("DOWN rows queued %lld ms after the 4th failure\n", (long long) took);
    s_sync(f);
    assert_int_equal(s_count(f, "SELECT count(*) FROM incidents"), 1);
    assert_int_equal(s_count(f, "SELECT count(*) FROM notifications"), 2);
    assert_int_equal(s_count(f, "SELECT count(DISTINCT channel) FROM notifications"), 2);
    char q[256];
    snprintf(q, sizeof q,
             "SELECT count(*) FROM incidents WHERE ended_at IS NULL AND"
             " (extract(epoch FROM started_at) * 1000)::bigint = %lld",
             (long long) started);
    long got = s_count(f, "SELECT (extract(epoch FROM started_at) * 1000)::bigint FROM incidents");
    print_message("incident started_at %ld, first failure %lld\n", got, (long long) started);
    assert_int_equal(s_count(f, q), 1); /* earliest first failure among DOWN voters */
    PGresult *r = s_sql(f, "SELECT summary, jsonb_array_length(details), details::text"
                           " FROM incidents");
    print_message("summary: %s\ndetails: %s\n", PQgetvalue(r, 0, 0), PQgetvalue(r, 0, 2));
    assert_string_equal(PQgetvalue(r, 0, 0),
                        ASSET " is DOWN: 2/2 agents fail: status 503 not in [200]");
    assert_string_equal(PQgetvalue(r, 0, 1), "2");
    PQclear(r);
    assert_int_equal(s_count(f, "SELECT count(*) FROM incident_events WHERE kind = 'opened'"), 1);
    assert_int_equal(s_count(f, "SELECT count(*) FROM assets WHERE state = 'DOWN'"), 1);
    r = s_sql(f, "SELECT payload->>'event', payload->>'asset_id', payload->>'reason',"
                 " (payload->>'incident_id')::bigint = incident_id FROM notifications LIMIT 1");
    assert_string_equal(PQgetvalue(r, 0, 0), "DOWN");
    assert_string_equal(PQgetvalue(r, 0, 1), ASSET);
    assert_string_equal(PQgetvalue(r, 0, 2), "status 503 not in [200]");
    assert_string_equal(PQgetvalue(r, 0, 3), "t");
    PQclear(r);
    assert_true(s_kicks(f) >= 1);
    assert_int_equal(s_metric(f, "statusd_asset_up{asset=\"" ASSET "\"}"), 0);
    assert_int_equal(s_metric(f, "statusd_incidents_open"), 1);
    assert_int_equal(s_metric(f, "statusd_asset_state{asset=\"" ASSET "\",state=\"DOWN\"}"), 1);
    assert_int_equal(s_metric(f, "statusd_notifications_queued_total{channel=\"slack-ops\"}"), 1);

    /* more failures: still one incident, no new rows */
    s_result(f, ASSET, "a1", "eu", false, t0 + 2000, true);
    s_sync(f);
    assert_int_equal(s_count(f, "SELECT count(*) FROM incidents"), 1);
    assert_int_equal(s_count(f, "SELECT count(*) FROM notifications"), 2);

    /* restart during the open incident: no new incident, no new DOWN row */
    s_stop(f);
    metrics_destroy(&f->metrics);
    f->metrics = metrics_new();
    f->ctx.metrics = f->metrics;
    s_start(f);
    s_result(f, ASSET, "a2", "us", false, t0 + 2200, true);
    s_sync(f);
    usleep(1200 * 1000); /* let one 1 s tick run over the rebuilt state, then check it */
    assert_int_equal(s_metric(f, "statusd_incidents_open"), 1);
    assert_int_equal(s_metric(f, "statusd_asset_up{asset=\"" ASSET "\"}"), 0);
    assert_int_equal(s_count(f, "SELECT count(*) FROM incidents"), 1);
    assert_int_equal(s_count(f, "SELECT count(*) FROM notifications"), 2);
    assert_int_equal(s_count(f, "SELECT count(*) FROM incident_events"), 1);

    /* recovery closes it with one RECOVERY row per channel */
    s_recover(f, t0 + 3000, true);
    took = s_wait_count(f, "SELECT count(*) FROM notifications WHERE event = 'RECOVERY'", 2,
                        5000);
    print_message("RECOVERY rows queued %lld ms after the successes\n", (long long) took);
    s_sync(f);
    assert_int_equal(s_count(f, "SELECT count(*) FROM incidents WHERE ended_at IS NOT NULL"), 1);
    assert_int_equal(s_count(f, "SELECT count(*) FROM incident_events WHERE kind = 'resolved'"),
                     1);
    assert_int_equal(s_count(f, "SELECT count(*) FROM assets WHERE state = 'UP'"), 1);
    assert_int_equal(s_metric(f, "statusd_incidents_open"), 0);
    assert_int_equal(s_metric(f, "statusd_asset_up{asset=\"" ASSET "\"}"), 1);
}

static void test_changes_while_engine_was_down(void **state)
{
    fx_t *f = *state;
    int64_t t0 = sd_wall_ms() - 20000;
    /* an outage that began while the engine was not running (results stored by ingest) */
    s_outage(f, t0, false);
    s_start(f);
    s_wait_count(f, "SELECT count(*) FROM notifications WHERE event = 'DOWN'", 2, 5000);
    assert_int_equal(s_count(f, "SELECT count(*) FROM incidents WHERE ended_at IS NULL"), 1);
    s_stop(f);
    /* it recovered while the engine was down: the restart closes it with a RECOVERY */
    s_recover(f, t0 + 5000, false);
    s_start(f);
    s_wait_count(f, "SELECT count(*) FROM notifications WHERE event = 'RECOVERY'", 2, 5000);
    assert_int_equal(s_count(f, "SELECT count(*) FROM incidents WHERE ended_at IS NULL"), 0);
    assert_int_equal(s_count(f, "SELECT count(*) FROM notifications WHERE event = 'DOWN'"), 2);
}

static void test_throttle_suppresses_down_and_its_recovery(void **state)
{
    fx_t *f = *state;
    f->notifiers.throttle_seconds = 3600;
    s_start(f);
    int64_t t0 = sd_wall_ms() - 20000;
    s_outage(f, t0, true);
    s_wait_count(f, "SELECT count(*) FROM notifications WHERE event = 'DOWN'", 2, 5000);
    s_recover(f, t0 + 3000, true);
    s_wait_count(f, "SELECT count(*) FROM notifications WHERE event = 'RECOVERY'", 2, 5000);
    /* a second outage inside the window: an incident, but no DOWN and later no RECOVERY */
    s_outage(f, t0 + 4000, true);
    s_wait_count(f, "SELECT count(*) FROM incidents WHERE ended_at IS NULL", 1, 5000);
    s_recover(f, t0 + 8000, true);
    s_wait_count(f, "SELECT count(*) FROM incidents WHERE ended_at IS NOT NULL", 2, 5000);
    s_sync(f);
    assert_int_equal(s_count(f, "SELECT count(*) FROM notifications"), 4);
    assert_int_equal(
        s_count(f, "SELECT count(*) FROM incident_events WHERE kind = 'notification_throttled'"),
        1);
}

static void test_malformed_is_counted(void **state)
{
    fx_t *f = *state;
    s_start(f);
    zmsg_t *m = zmsg_new();
    zmsg_addstr(m, "RESULTS");
    zmsg_addstr(m, "a1");
    zmsg_addstr(m, "eu");
    zmsg_addmem(m, "\xff\xff\xff\xff garbage", 13);
    zmsg_send(&m, f->push);
    zstr_send(f->push, "NONSENSE");
    s_sync(f);
    double n = s_metric(f, "statusd_engine_results_dropped_total{reason=\"malformed\"}");
    print_message("malformed counted: %.0f\n", n);
    assert_int_equal(n, 2);
    assert_int_equal(s_count(f, "SELECT count(*) FROM incidents"), 0);
}

static void test_repeat_alerts_queue_reminders(void **state)
{
    fx_t *f = *state;
    f->notifiers.throttle_seconds = 1;
    f->notifiers.repeat_alerts = true;
    s_start(f);
    int64_t t0 = sd_wall_ms() - 20000;
    s_outage(f, t0, true);
    s_wait_count(f, "SELECT count(*) FROM notifications WHERE event = 'DOWN'", 2, 5000);
    sd_ms_t took = s_wait_count(
        f, "SELECT count(*) FROM notifications WHERE event = 'REMINDER'", 2, 5000);
    print_message("first REMINDER rows %lld ms after the DOWN rows (throttleSeconds 1)\n",
                  (long long) took);
    assert_true(took >= 500);
    s_recover(f, t0 + 3000, true);
    s_wait_count(f, "SELECT count(*) FROM notifications WHERE event = 'RECOVERY'", 2, 5000);
    assert_true(s_count(f, "SELECT count(*) FROM incident_events WHERE kind = 'reminder'") >= 1);
    long n = s_count(f, "SELECT count(*) FROM notifications");
    usleep(1500 * 1000); /* a closed incident must not be reminded about */
    assert_int_equal(s_count(f, "SELECT count(*) FROM notifications"), n);
}

static void test_silence_is_not_recovery(void **state)
{
    fx_t *f = *state;
    f->asset.interval_seconds = 1; /* stale after 3 s of silence */
    s_start(f);
    int64_t t0 = sd_wall_ms();
    s_outage(f, t0 - 1500, true);
    s_wait_count(f, "SELECT count(*) FROM incidents WHERE ended_at IS NULL", 1, 5000);
    /* every agent falls silent: the verdict becomes UNKNOWN, the incident stays open */
    sd_ms_t took = s_wait_count(f, "SELECT count(*) FROM assets WHERE state = 'UNKNOWN'", 1,
                                8000);
    print_message("UNKNOWN %lld ms after the last result\n", (long long) took);
    assert_int_equal(s_count(f, "SELECT count(*) FROM incidents WHERE ended_at IS NULL"), 1);
    assert_int_equal(s_count(f, "SELECT count(*) FROM notifications WHERE event = 'RECOVERY'"),
                     0);
    assert_true(s_metric(f, "statusd_asset_up{asset=\"" ASSET "\"}") == -1); /* absent */
    /* the agents come back healthy: now it recovers */
    s_recover(f, sd_wall_ms(), true);
    s_wait_count(f, "SELECT count(*) FROM notifications WHERE event = 'RECOVERY'", 2, 5000);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_incident_lifecycle_and_restart, setup, teardown),
        cmocka_unit_test_setup_teardown(test_changes_while_engine_was_down, setup, teardown),
        cmocka_unit_test_setup_teardown(test_throttle_suppresses_down_and_its_recovery, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_repeat_alerts_queue_reminders, setup, teardown),
        cmocka_unit_test_setup_teardown(test_silence_is_not_recovery, setup, teardown),
        cmocka_unit_test_setup_teardown(test_malformed_is_counted, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
