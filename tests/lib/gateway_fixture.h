/* gateway_fixture: the fixture of the gateway's database tests (test_gateway_pg,
 * test_gateway_skew_pg, test_gateway_adaptive_pg): a fresh database with the migrations,
 * the real ingest and gateway actors on tcp://127.0.0.1:* and, behind them, either the real
 * engine actor or a PULL bound on BUS_ENGINE standing in for it; and the wire helpers of a
 * DEALER speaking the agent protocol.
 *
 * Before including, define:
 *   GATEWAY_FIXTURE_DB_PREFIX     the prefix of the fresh database's name
 *   GATEWAY_FIXTURE_HEARTBEAT_MS  the collector's heartbeat period (ctx.heartbeat_ms)
 *   GATEWAY_FIXTURE_ENGINE_STANDIN  (optional) a PULL on BUS_ENGINE (fx->engine_standin)
 *                                 instead of the engine actor (fx->engine)
 * and, after including, implement s_configure(fx_t *fx): the test's assets and manifest
 * (and notifiers, setting fx->ctx.notifiers when it wants them), called before the actors
 * start. */
#ifndef GATEWAY_FIXTURE_H
#define GATEWAY_FIXTURE_H

#ifndef GATEWAY_FIXTURE_DB_PREFIX
#error "define GATEWAY_FIXTURE_DB_PREFIX before including gateway_fixture.h"
#endif
#ifndef GATEWAY_FIXTURE_HEARTBEAT_MS
#error "define GATEWAY_FIXTURE_HEARTBEAT_MS before including gateway_fixture.h"
#endif

typedef struct {
    collector_ctx_t ctx;
    sd_manifest_t manifest;
    sd_asset_t assets[2];
    sd_notifier_conf_t nc;
    char *chans[1];
    sd_notifiers_t notifiers;
    char *conninfo;
    char migrations[4096];
    PGconn *db;
    zactor_t *engine;         /* the engine actor, or */
    zsock_t *engine_standin;  /* GATEWAY_FIXTURE_ENGINE_STANDIN: a PULL in its place */
    zactor_t *ingest;
    zactor_t *gateway;
    char *endpoint;
} fx_t;

/* The test's manifest; see the head of this file. */
static void s_configure(fx_t *fx);

/* The single integer sql returns, or -1 (the error printed) when it does not return one. */
static inline long s_count(fx_t *fx, const char *sql)
{
    PGresult *r = PQexec(fx->db, sql);
    long n = -1;
    if (PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1)
        n = strtol(PQgetvalue(r, 0, 0), NULL, 10);
    else
        fprintf(stderr, "%s: %s\n", sql, PQerrorMessage(fx->db));
    PQclear(r);
    return n;
}

static inline int setup(void **state)
{
    fx_t *fx = calloc(1, sizeof *fx);
    const char *src = getenv("STATUSD_SOURCE_DIR");
    snprintf(fx->migrations, sizeof fx->migrations, "%s/migrations", src ? src : ".");
    fx->conninfo = test_pg_fresh_db(GATEWAY_FIXTURE_DB_PREFIX);
    assert_non_null(fx->conninfo);
    char err[512];
    store_t *s = store_new(fx->conninfo, err, sizeof err);
    assert_non_null(s);
    assert_int_equal(store_migrate(s, fx->migrations, err, sizeof err), 0);
    store_destroy(&s);
    fx->db = PQconnectdb(fx->conninfo);
    assert_int_equal(PQstatus(fx->db), CONNECTION_OK);

    s_configure(fx);
    fx->ctx.manifest = &fx->manifest;
    fx->ctx.db_conninfo = fx->conninfo;
    fx->ctx.bind = "tcp://127.0.0.1:*";
    fx->ctx.migrations_dir = fx->migrations;
    fx->ctx.metrics = metrics_new();
    fx->ctx.heartbeat_ms = GATEWAY_FIXTURE_HEARTBEAT_MS;
    fx->ctx.retention_days = 30;

    /* the order of main(): engine, ingest, gateway */
#ifdef GATEWAY_FIXTURE_ENGINE_STANDIN
    fx->engine_standin = zsock_new_pull(BUS_ENGINE); /* "@" by default for PULL: binds */
    assert_non_null(fx->engine_standin);
#else
    fx->engine = engine_new(&fx->ctx);
    assert_non_null(fx->engine);
#endif
    fx->ingest = ingest_new(&fx->ctx);
    assert_non_null(fx->ingest);
    fx->gateway = gateway_new(&fx->ctx);
    assert_non_null(fx->gateway);
    fx->endpoint = gateway_endpoint(fx->gateway);
    assert_non_null(fx->endpoint);
    printf("gateway bound at %s\n", fx->endpoint);
    *state = fx;
    return 0;
}

static inline int teardown(void **state)
{
    fx_t *fx = *state;
    zactor_destroy(&fx->gateway);
    zactor_destroy(&fx->ingest);
    zactor_destroy(&fx->engine);
    zsock_destroy(&fx->engine_standin);
    metrics_destroy(&fx->ctx.metrics);
    PQfinish(fx->db);
    free(fx->endpoint);
    free(fx->conninfo);
    free(fx);
    return 0;
}

/* ---- wire helpers ----------------------------------------------------------------------- */

/* A DEALER connected to the gateway (linger 0). */
static inline zsock_t *s_dealer(fx_t *fx)
{
    zsock_t *d = zsock_new(ZMQ_DEALER);
    assert_non_null(d);
    zsock_set_linger(d, 0);
    assert_int_equal(zsock_connect(d, "%s", fx->endpoint), 0);
    return d;
}

static inline void s_send_env(zsock_t *d, const Statusd__Envelope *env)
{
    size_t len = statusd__envelope__get_packed_size(env);
    zframe_t *f = zframe_new(NULL, len);
    statusd__envelope__pack(env, zframe_data(f));
    assert_int_equal(zframe_send(&f, d, 0), 0);
}

/* The next envelope within wait_ms, or NULL. */
static inline Statusd__Envelope *s_recv_env(zsock_t *d, int wait_ms)
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

/* Hello announcing heartbeat_ms (0: none, the collector's applies), stamped sent_at_ms by
 * the agent's clock. */
static inline void s_hello_at(zsock_t *d, const char *id, const char *region,
                              uint32_t heartbeat_ms, int64_t sent_at_ms)
{
    Statusd__Hello h = STATUSD__HELLO__INIT;
    h.heartbeat_ms = heartbeat_ms;
    h.agent_id = (char *) id;
    h.region = (char *) region;
    h.version = "test";
    h.sent_at_ms = sent_at_ms;
    Statusd__Envelope env = STATUSD__ENVELOPE__INIT;
    env.body_case = STATUSD__ENVELOPE__BODY_HELLO;
    env.hello = &h;
    s_send_env(d, &env);
}

static inline void s_heartbeat(zsock_t *d, int64_t at)
{
    Statusd__Heartbeat hb = STATUSD__HEARTBEAT__INIT;
    hb.sent_at_ms = at;
    Statusd__Envelope env = STATUSD__ENVELOPE__INIT;
    env.body_case = STATUSD__ENVELOPE__BODY_HEARTBEAT;
    env.heartbeat = &hb;
    s_send_env(d, &env);
}

#endif
