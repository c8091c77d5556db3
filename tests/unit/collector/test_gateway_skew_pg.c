/* Clock skew and agent liveness over the real gateway, ingest and engine actors on a real
 * tcp port and a real PostgreSQL: a fake agent whose clock is 5 minutes fast says Hello and
 * heartbeats; the estimate reaches agents.clock_skew_ms and
 * statusd_agent_clock_skew_seconds; the agent is not declared down while it heartbeats
 * (its clock is not judged), and once it falls silent for 3 heartbeat periods exactly one
 * AGENT_DOWN row per onDown channel is queued. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <czmq.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bus.h"
#include "collector.h"
#include "engine.h"
#include "gateway.h"
#include "ingest.h"
#include "metrics.h"
#include "sd_clock.h"
#include "statusd.pb-c.h"
#include "store.h"
#include "test_pg.h"

#define WAIT_MS 5000
#define SKEW_MS (5 * 60 * 1000)

typedef struct {
    collector_ctx_t ctx;
    sd_manifest_t manifest;
    sd_asset_t asset;
    sd_notifier_conf_t nc;
    char *chans[1];
    sd_notifiers_t notifiers;
    char *conninfo;
    char migrations[4096];
    PGconn *db;
    zactor_t *engine, *ingest, *gateway;
    char *endpoint;
} fx_t;

static long s_count(fx_t *fx, const char *sql)
{
    PGresult *r = PQexec(fx->db, sql);
    long n = -1;
    if (PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1)
        n = strtol(PQgetvalue(r, 0, 0), NULL, 10);
    PQclear(r);
    return n;
}

static int setup(void **state)
{
    fx_t *fx = calloc(1, sizeof *fx);
    snprintf(fx->migrations, sizeof fx->migrations, "%s/migrations",
             getenv("STATUSD_SOURCE_DIR"));
    fx->conninfo = test_pg_fresh_db("gwskew");
    assert_non_null(fx->conninfo);
    char err[512];
    store_t *s = store_new(fx->conninfo, err, sizeof err);
    assert_non_null(s);
    assert_int_equal(store_migrate(s, fx->migrations, err, sizeof err), 0);
    store_destroy(&s);
    fx->db = PQconnectdb(fx->conninfo);
    assert_int_equal(PQstatus(fx->db), CONNECTION_OK);
    fx->asset = (sd_asset_t){.id = "web", .asset_type = "http", .name = "Web",
                             .address = "https://example.com", .interval_seconds = 60,
                             .timeout_seconds = 5};
    fx->manifest = (sd_manifest_t){.assets = &fx->asset, .n_assets = 1};
    fx->nc = (sd_notifier_conf_t){.name = "slack-ops", .type = "slack",
                                  .webhook_url = "http://127.0.0.1:9/x"};
    fx->chans[0] = "slack-ops";
    fx->notifiers = (sd_notifiers_t){.notifiers = &fx->nc, .n_notifiers = 1,
                                     .on_down = fx->chans, .n_on_down = 1,
                                     .on_recovery = fx->chans, .n_on_recovery = 1};
    fx->ctx = (collector_ctx_t){.manifest = &fx->manifest, .notifiers = &fx->notifiers,
                                .db_conninfo = fx->conninfo, .bind = "tcp://127.0.0.1:*",
                                .migrations_dir = fx->migrations, .metrics = metrics_new(),
                                .heartbeat_ms = 1000, .retention_days = 30};
    fx->engine = engine_new(&fx->ctx);
    assert_non_null(fx->engine);
    fx->ingest = ingest_new(&fx->ctx);
    assert_non_null(fx->ingest);
    fx->gateway = gateway_new(&fx->ctx);
    assert_non_null(fx->gateway);
    fx->endpoint = gateway_endpoint(fx->gateway);
    assert_non_null(fx->endpoint);
    *state = fx;
    return 0;
}

static int teardown(void **state)
{
    fx_t *fx = *state;
    zactor_destroy(&fx->gateway);
    zactor_destroy(&fx->ingest);
    zactor_destroy(&fx->engine);
    metrics_destroy(&fx->ctx.metrics);
    PQfinish(fx->db);
    free(fx->endpoint);
    free(fx->conninfo);
    free(fx);
    return 0;
}

static void s_send_env(zsock_t *d, const Statusd__Envelope *env)
{
    size_t len = statusd__envelope__get_packed_size(env);
    zframe_t *f = zframe_new(NULL, len);
    statusd__envelope__pack(env, zframe_data(f));
    assert_int_equal(zframe_send(&f, d, 0), 0);
}

/* The next envelope within WAIT_MS, or NULL. */
static Statusd__Envelope *s_recv_env(zsock_t *d, int wait_ms)
{
    zpoller_t *p = zpoller_new(d, NULL);
    void *which = zpoller_wait(p, wait_ms);
    zpoller_destroy(&p);
    if (!which)
        return NULL;
    zframe_t *f = zframe_recv(d);
    Statusd__Envelope *env =
        f ? statusd__envelope__unpack(NULL, zframe_size(f), zframe_data(f)) : NULL;
    zframe_destroy(&f);
    return env;
}

static void s_hello(zsock_t *d, const char *id, const char *region, int64_t offset)
{
    Statusd__Hello h = STATUSD__HELLO__INIT;
    h.agent_id = (char *) id;
    h.region = (char *) region;
    h.version = "test";
    h.sent_at_ms = sd_wall_ms() + offset;
    Statusd__Envelope env = STATUSD__ENVELOPE__INIT;
    env.body_case = STATUSD__ENVELOPE__BODY_HELLO;
    env.hello = &h;
    s_send_env(d, &env);
}

static void s_heartbeat(zsock_t *d, int64_t at)
{
    Statusd__Heartbeat hb = STATUSD__HEARTBEAT__INIT;
    hb.sent_at_ms = at;
    Statusd__Envelope env = STATUSD__ENVELOPE__INIT;
    env.body_case = STATUSD__ENVELOPE__BODY_HEARTBEAT;
    env.heartbeat = &hb;
    s_send_env(d, &env);
}


static double s_metric(fx_t *fx, const char *series)
{
    char *text = metrics_render(fx->ctx.metrics), line[256];
    snprintf(line, sizeof line, "\n%s ", series);
    const char *p = text ? strstr(text, line) : NULL;
    double v = p ? atof(p + strlen(line)) : -1e18;
    free(text);
    return v;
}

static void test_skewed_agent(void **state)
{
    fx_t *fx = *state;
    zsock_t *d = zsock_new(ZMQ_DEALER);
    assert_non_null(d);
    zsock_set_linger(d, 0);
    assert_int_equal(zsock_connect(d, "%s", fx->endpoint), 0);
    s_hello(d, "fast-1", "eu", SKEW_MS);
    /* heartbeat (clock 5 min fast) every 200 ms for 4 s: more than 3 heartbeat periods */
    sd_ms_t t0 = sd_mono_ms();
    long skew = 0;
    int echoes = 0;
    while (sd_mono_ms() - t0 < 4000) {
        s_heartbeat(d, sd_wall_ms() + SKEW_MS);
        Statusd__Envelope *env;
        while ((env = s_recv_env(d, 200))) {
            echoes += env->body_case == STATUSD__ENVELOPE__BODY_HEARTBEAT;
            statusd__envelope__free_unpacked(env, NULL);
        }
    }
    skew = s_count(fx, "SELECT clock_skew_ms FROM agents WHERE id = 'fast-1'");
    double metric = s_metric(fx, "statusd_agent_clock_skew_seconds{agent=\"fast-1\"}");
    printf("estimated skew %ld ms (true %d ms, error %ld ms), metric %.3f s, %d echoes\n", skew,
           SKEW_MS, SKEW_MS - skew, metric, echoes);
    assert_true(echoes >= 10);
    assert_true(skew <= SKEW_MS && skew >= SKEW_MS - 100);
    assert_true(metric >= 299.9 && metric <= 300.0);
    /* heartbeating with a clock 5 minutes off: still up */
    assert_int_equal(s_count(fx, "SELECT count(*) FROM agents WHERE id = 'fast-1' AND connected"
                                 " AND liveness = 'up'"), 1);
    assert_int_equal(s_count(fx, "SELECT count(*) FROM notifications"), 0);
    assert_int_equal(s_metric(fx, "statusd_agent_up{agent=\"fast-1\",region=\"eu\"}"), 1);
    /* silence: one AGENT_DOWN row for the one onDown channel */
    t0 = sd_mono_ms();
    long n = 0;
    while ((n = s_count(fx, "SELECT count(*) FROM notifications WHERE event = 'AGENT_DOWN'")) < 1 &&
           sd_mono_ms() - t0 < 3000 + WAIT_MS)
        zclock_sleep(50);
    printf("AGENT_DOWN queued %" PRId64 " ms after the last heartbeat\n", sd_mono_ms() - t0);
    assert_int_equal(n, 1);
    assert_true(sd_mono_ms() - t0 >= 2500);
    assert_int_equal(s_metric(fx, "statusd_agent_up{agent=\"fast-1\",region=\"eu\"}"), 0);
    zsock_destroy(&d);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_skewed_agent, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
