/* engine agent liveness, clock skew and the incident timeline against a real PostgreSQL:
 * AGENT DOWN/UP through BUS_ENGINE -> exactly one AGENT_DOWN/AGENT_UP outbox row per
 * channel, nothing on repeats or after a restart; the notifier's lease holds an AGENT_UP
 * back until its AGENT_DOWN is done; SKEW moves agents.clock_skew_ms and the metric, and
 * an agent 5 minutes fast opens an incident whose started_at is on the collector's clock;
 * vote changes during an open incident join its timeline; statusd_asset_down_votes. */
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
#include "store_outbox.h"
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
    f->conninfo = test_pg_fresh_db("engag");
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

static void s_agent_msg(fx_t *f, const char *agent, const char *region, const char *st,
                        int64_t heard)
{
    zmsg_t *m = zmsg_new();
    zmsg_addstr(m, "AGENT");
    zmsg_addstr(m, agent);
    zmsg_addstr(m, region);
    zmsg_addstr(m, st);
    zmsg_addstrf(m, "%lld", (long long) heard);
    assert_int_equal(zmsg_send(&m, f->push), 0);
}

static void s_agent_row(fx_t *f, const char *agent, const char *region)
{
    const char *p[2] = {agent, region};
    PGresult *r = PQexecParams(f->db,
                               "INSERT INTO agents (id, region, version, connected)"
                               " VALUES ($1, $2, '0.1.0', true)",
                               2, NULL, p, NULL, NULL, 0);
    assert_int_equal(PQresultStatus(r), PGRES_COMMAND_OK);
    PQclear(r);
}

static void test_agent_down_up_once_per_channel(void **state)
{
    fx_t *f = *state;
    s_agent_row(f, "agent-eu-1", "eu-west");
    s_start(f);
    int64_t heard = sd_wall_ms() - 15000;
    s_agent_msg(f, "agent-eu-1", "eu-west", "DOWN", heard);
    sd_ms_t took = s_wait_count(
        f, "SELECT count(*) FROM notifications WHERE event = 'AGENT_DOWN'", 2, 5000);
    print_message("AGENT_DOWN rows %lld ms after the message\n", (long long) took);
    s_agent_msg(f, "agent-eu-1", "eu-west", "DOWN", heard); /* a repeat: nothing */
    s_sync(f);
    assert_int_equal(s_count(f, "SELECT count(*) FROM notifications"), 2);
    assert_int_equal(s_count(f, "SELECT count(DISTINCT channel) FROM notifications"), 2);
    assert_int_equal(s_count(f, "SELECT count(*) FROM notifications WHERE asset_id IS NULL"
                                " AND incident_id IS NULL AND agent_id = 'agent-eu-1'"), 2);
    PGresult *r = s_sql(f, "SELECT payload->>'agent', payload->>'region', payload->>'version',"
                           " (extract(epoch FROM (payload->>'silent_since')::timestamptz)"
                           " * 1000)::bigint FROM notifications LIMIT 1");
    assert_string_equal(PQgetvalue(r, 0, 0), "agent-eu-1");
    assert_string_equal(PQgetvalue(r, 0, 1), "eu-west");
    assert_string_equal(PQgetvalue(r, 0, 2), "0.1.0");
    assert_true(llabs(atoll(PQgetvalue(r, 0, 3)) - heard) <= 1);
    PQclear(r);
    assert_int_equal(s_metric(f, "statusd_agent_up{agent=\"agent-eu-1\",region=\"eu-west\"}"), 0);
    assert_true(s_kicks(f) >= 1);

    /* the lease holds the AGENT_UP back while its AGENT_DOWN is pending on that channel */
    s_agent_msg(f, "agent-eu-1", "eu-west", "UP", sd_wall_ms());
    s_wait_count(f, "SELECT count(*) FROM notifications WHERE event = 'AGENT_UP'", 2, 5000);
    char err[512] = "";
    store_t *st = store_new(f->conninfo, err, sizeof err);
    assert_non_null(st);
    outbox_row_t *rows = NULL;
    size_t n = 0;
    assert_int_equal(store_outbox_lease(st, 10, 60, NULL, 0, NULL, 0, &rows, &n, err, sizeof err),
                     0);
    for (size_t i = 0; i < n; i++) {
        print_message("leased %s %s for %s\n", rows[i].event, rows[i].channel, rows[i].asset_id);
        assert_string_equal(rows[i].event, "AGENT_DOWN");
        assert_string_equal(rows[i].asset_id, "agent-eu-1");
    }
    assert_int_equal(n, 2);
    for (size_t i = 0; i < n; i++)
        assert_int_equal(store_outbox_mark_sent(st, rows[i].id, err, sizeof err), 0);
    store_outbox_rows_free(rows, n);
    PQclear(s_sql(f, "UPDATE notifications SET next_attempt_at = now()"));
    assert_int_equal(store_outbox_lease(st, 10, 60, NULL, 0, NULL, 0, &rows, &n, err, sizeof err),
                     0);
    assert_int_equal(n, 2);
    for (size_t i = 0; i < n; i++)
        assert_string_equal(rows[i].event, "AGENT_UP");
    store_outbox_rows_free(rows, n);
    store_destroy(&st);
    assert_int_equal(s_count(f, "SELECT count(*) FROM incident_events"), 0);
    assert_int_equal(s_metric(f, "statusd_agent_up{agent=\"agent-eu-1\",region=\"eu-west\"}"), 1);
    r = s_sql(f, "SELECT payload->>'down_seconds' FROM notifications WHERE event = 'AGENT_UP'");
    print_message("AGENT_UP down_seconds=%s\n", PQgetvalue(r, 0, 0));
    assert_true(atoi(PQgetvalue(r, 0, 0)) >= 14);
    PQclear(r);
}

static void test_restart_sends_nothing_but_remembers_down(void **state)
{
    fx_t *f = *state;
    s_agent_row(f, "a1", "eu");
    s_agent_row(f, "a2", "us");
    s_start(f);
    s_agent_msg(f, "a2", "us", "DOWN", sd_wall_ms());
    s_wait_count(f, "SELECT count(*) FROM notifications WHERE event = 'AGENT_DOWN'", 2, 5000);
    /* collector restart: every agent reconnects; only a2's AGENT_DOWN was queued */
    s_stop(f);
    s_start(f);
    s_agent_msg(f, "a1", "eu", "UP", sd_wall_ms());
    s_sync(f);
    assert_int_equal(s_count(f, "SELECT count(*) FROM notifications"), 2);
    s_agent_msg(f, "a2", "us", "UP", sd_wall_ms());
    s_wait_count(f, "SELECT count(*) FROM notifications WHERE event = 'AGENT_UP'", 2, 5000);
    /* and once more: a restart where everyone was up sends nothing at all */
    s_stop(f);
    s_start(f);
    s_agent_msg(f, "a1", "eu", "UP", sd_wall_ms());
    s_agent_msg(f, "a2", "us", "UP", sd_wall_ms());
    s_sync(f);
    assert_int_equal(s_count(f, "SELECT count(*) FROM notifications"), 4);
    assert_int_equal(s_count(f, "SELECT count(*) FROM notifications WHERE asset_id IS NOT NULL"),
                     0);
}

static void s_skew_msg(fx_t *f, const char *agent, int64_t skew)
{
    zmsg_t *m = zmsg_new();
    zmsg_addstr(m, "SKEW");
    zmsg_addstr(m, agent);
    zmsg_addstrf(m, "%lld", (long long) skew);
    assert_int_equal(zmsg_send(&m, f->push), 0);
}

/* a1's clock is 5 minutes fast, a2's is right: the incident starts at a1's first failure
 * on the collector's clock, and a1 is neither stale nor reordered. Vote changes during
 * the incident are timeline events. */
static void test_skewed_agent_and_vote_events(void **state)
{
    fx_t *f = *state;
    const int64_t skew = 5 * 60 * 1000;
    s_agent_row(f, "a1", "eu");
    s_agent_row(f, "a2", "us");
    s_start(f);
    s_skew_msg(f, "a1", skew);
    s_sync(f);
    assert_int_equal(s_count(f, "SELECT clock_skew_ms FROM agents WHERE id = 'a1'"), skew);
    assert_int_equal(s_metric(f, "statusd_agent_clock_skew_seconds{agent=\"a1\"}"), 300);
    int64_t t0 = sd_wall_ms() - 10000; /* true (collector) time of a1's first failure */
    s_result(f, ASSET, "a1", "eu", false, t0 + skew, true);
    s_result(f, ASSET, "a2", "us", false, t0 + 500, true);
    s_result(f, ASSET, "a1", "eu", false, t0 + 1000 + skew, true);
    s_result(f, ASSET, "a2", "us", false, t0 + 1500, true);
    s_wait_count(f, "SELECT count(*) FROM incidents WHERE ended_at IS NULL", 1, 5000);
    long started = s_count(f, "SELECT (extract(epoch FROM started_at) * 1000)::bigint"
                              " FROM incidents");
    print_message("started_at %ld, a1's first failure on the collector clock %lld (agent clock "
                  "%lld)\n", started, (long long) t0, (long long) (t0 + skew));
    assert_int_equal(started, t0);
    assert_int_equal(s_metric(f, "statusd_asset_down_votes{asset=\"" ASSET "\"}"), 2);
    /* a1 recovers (DEGRADED closes the incident: 1 of 2 down) - its vote change is an event */
    s_result(f, ASSET, "a1", "eu", true, t0 + 2000 + skew, true);
    s_wait_count(f, "SELECT count(*) FROM incidents WHERE ended_at IS NOT NULL", 1, 5000);
    s_sync(f);
    PGresult *r = s_sql(f, "SELECT kind, detail->>'agent', detail->>'from', detail->>'to'"
                           " FROM incident_events ORDER BY at, id");
    for (int i = 0; i < PQntuples(r); i++)
        print_message("timeline %d: %s %s %s->%s\n", i, PQgetvalue(r, i, 0),
                      PQgetvalue(r, i, 1), PQgetvalue(r, i, 2), PQgetvalue(r, i, 3));
    assert_int_equal(PQntuples(r), 3);
    assert_string_equal(PQgetvalue(r, 0, 0), "opened");
    assert_string_equal(PQgetvalue(r, 1, 0), "vote");
    assert_string_equal(PQgetvalue(r, 1, 1), "a1");
    assert_string_equal(PQgetvalue(r, 1, 2), "DOWN");
    assert_string_equal(PQgetvalue(r, 1, 3), "UP");
    assert_string_equal(PQgetvalue(r, 2, 0), "resolved");
    PQclear(r);
    assert_int_equal(s_metric(f, "statusd_asset_down_votes{asset=\"" ASSET "\"}"), 1);
    /* an older sequence number (a replay) changes nothing even with a newer timestamp */
    assert_int_equal(s_count(f, "SELECT count(*) FROM incidents"), 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_agent_down_up_once_per_channel, setup, teardown),
        cmocka_unit_test_setup_teardown(test_restart_sends_nothing_but_remembers_down, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_skewed_agent_and_vote_events, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
