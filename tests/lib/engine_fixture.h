/* engine_fixture: the fixture of the engine's database tests (test_engine_pg,
 * test_engine_agents_pg): a fresh database with the migrations, a metrics registry, a real
 * engine actor fed through BUS_ENGINE, a PULL standing in for the notifier, and helpers to
 * feed results and wait for rows. Define ENGINE_FIXTURE_DB_PREFIX before including. */
/* Optional knobs, for a test with a manifest of its own (test_engine_semantics_pg):
 *   ENGINE_FIXTURE_EXTRA_FIELDS      more members of fx_t (e.g. the test's assets)
 *   ENGINE_FIXTURE_CONFIGURE         setup calls s_configure(fx_t *f), which the test
 *                                    implements, once the default manifest is in place: it
 *                                    may replace f->manifest and f->notifiers (ctx points
 *                                    at them)
 *   ENGINE_FIXTURE_OWN_SYNC_RESULT   s_sync sends its unknown-asset result with
 *                                    s_sync_result(fx_t *f), which the test implements,
 *                                    instead of s_result (which also stores a row) */
#ifndef ENGINE_FIXTURE_H
#define ENGINE_FIXTURE_H

#ifndef ENGINE_FIXTURE_DB_PREFIX
#define ENGINE_FIXTURE_DB_PREFIX "engine"
#endif

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
#ifdef ENGINE_FIXTURE_EXTRA_FIELDS
    ENGINE_FIXTURE_EXTRA_FIELDS
#endif
} fx_t;

#ifdef ENGINE_FIXTURE_CONFIGURE
static void s_configure(fx_t *f);
#endif
#ifdef ENGINE_FIXTURE_OWN_SYNC_RESULT
static void s_sync_result(fx_t *f);
#endif

static inline PGresult *s_sql(fx_t *f, const char *sql)
{
    PGresult *r = PQexec(f->db, sql);
    ExecStatusType st = PQresultStatus(r);
    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK)
        fail_msg("%s: %s", sql, PQerrorMessage(f->db));
    return r;
}

static inline long s_count(fx_t *f, const char *sql)
{
    PGresult *r = s_sql(f, sql);
    long n = atol(PQgetvalue(r, 0, 0));
    PQclear(r);
    return n;
}

static inline int setup(void **state)
{
    fx_t *f = calloc(1, sizeof *f);
    f->conninfo = test_pg_fresh_db(ENGINE_FIXTURE_DB_PREFIX);
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
#ifdef ENGINE_FIXTURE_CONFIGURE
    s_configure(f);
#endif
    *state = f;
    return 0;
}

static inline int teardown(void **state)
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

static inline void s_start(fx_t *f)
{
    f->engine = engine_new(&f->ctx);
    assert_non_null(f->engine);
    /* an inproc PUSH does not follow its peer across an unbind/rebind: a new one per engine */
    zsock_destroy(&f->push);
    f->push = zsock_new_push(">" BUS_ENGINE);
    assert_non_null(f->push);
}

static inline void s_stop(fx_t *f)
{
    zactor_destroy(&f->engine);
    assert_null(f->engine);
}

/* Sends one result to the engine as ingest forwards it (a batch of one; no row). */
static inline void s_send_result(fx_t *f, const char *agent, const char *region,
                                 Statusd__ProbeResult *pr)
{
    Statusd__ProbeResult *prs[1] = {pr};
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

/* Stores a result as ingest would (probe_events) and, when send, forwards it to the engine. */
static inline void s_result(fx_t *f, const char *asset, const char *agent, const char *region, bool ok,
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
    s_send_result(f, agent, region, &pr);
}

/* Agents a1 (eu) and a2 (us) fail twice each from t: DOWN with quorum 2/2. */
static inline void s_outage2(fx_t *f, int64_t t)
{
    s_result(f, ASSET, "a1", "eu", false, t, true);
    s_result(f, ASSET, "a2", "us", false, t + 200, true);
    s_result(f, ASSET, "a1", "eu", false, t + 1000, true);
    s_result(f, ASSET, "a2", "us", false, t + 1200, true);
}

/* a1 and a2 succeed once each from t: UP. */
static inline void s_recover2(fx_t *f, int64_t t)
{
    s_result(f, ASSET, "a1", "eu", true, t, true);
    s_result(f, ASSET, "a2", "us", true, t + 100, true);
}

/* Waits until sql returns want (deadline); returns the elapsed ms. */
static inline sd_ms_t s_wait_count(fx_t *f, const char *sql, long want, int deadline_ms)
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
static inline double s_metric(fx_t *f, const char *series)
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
static inline void s_sync(fx_t *f)
{
    const char *series = "statusd_engine_results_dropped_total{reason=\"unknown_asset\"}";
    double before = s_metric(f, series);
    if (before < 0)
        before = 0;
#ifdef ENGINE_FIXTURE_OWN_SYNC_RESULT
    s_sync_result(f);
#else
    s_result(f, "no-such-asset", "sync", "x", true, sd_wall_ms(), true);
#endif
    sd_ms_t t0 = sd_mono_ms();
    while (s_metric(f, series) < before + 1) {
        if (sd_mono_ms() - t0 > 5000)
            fail_msg("engine did not process the sync message");
        usleep(10 * 1000);
    }
}

/* Waits until a rendered metric series has the value want (deadline); returns elapsed ms. */
static inline sd_ms_t s_wait_metric(fx_t *f, const char *series, double want, int deadline_ms)
{
    sd_ms_t t0 = sd_mono_ms();
    double v = -1;
    while (sd_mono_ms() - t0 < deadline_ms) {
        if ((v = s_metric(f, series)) == want) {
            print_message("%s = %g after %lld ms\n", series, v, (long long) (sd_mono_ms() - t0));
            return sd_mono_ms() - t0;
        }
        usleep(20 * 1000);
    }
    fail_msg("%s: %g, want %g within %d ms", series, v, want, deadline_ms);
    return -1;
}

/* ["AGENT", id, region, "UP"|"DOWN", last heard wall ms] as the gateway sends it. */
static inline void s_agent_msg(fx_t *f, const char *agent, const char *region, const char *st,
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

/* ["SKEW", id, skew ms] as the gateway sends it after a Hello or heartbeat. */
static inline void s_skew_msg(fx_t *f, const char *agent, int64_t skew)
{
    zmsg_t *m = zmsg_new();
    zmsg_addstr(m, "SKEW");
    zmsg_addstr(m, agent);
    zmsg_addstrf(m, "%lld", (long long) skew);
    assert_int_equal(zmsg_send(&m, f->push), 0);
}

/* An agents row as ingest writes it at Hello (liveness 'up', connected). */
static inline void s_agent_row(fx_t *f, const char *agent, const char *region)
{
    const char *p[2] = {agent, region};
    PGresult *r = PQexecParams(f->db,
                               "INSERT INTO agents (id, region, version, connected)"
                               " VALUES ($1, $2, '0.1.0', true)",
                               2, NULL, p, NULL, NULL, 0);
    assert_int_equal(PQresultStatus(r), PGRES_COMMAND_OK);
    PQclear(r);
}

static inline int s_kicks(fx_t *f)
{
    int n = 0;
    while (zsock_events(f->kicks) & ZMQ_POLLIN) {
        char *s = zstr_recv(f->kicks);
        n += s && strcmp(s, "KICK") == 0;
        zstr_free(&s);
    }
    return n;
}

#endif
