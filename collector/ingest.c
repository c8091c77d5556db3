/* ingest: the store actor. Agents' hellos and result batches in, acks out after commit. */
#include "ingest.h"

#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "bus.h"
#include "gone.h"
#include "health.h"
#include "sd_clock.h"
#include "sd_log.h"
#include "sd_utf8.h"
#include "statusd.pb-c.h"
#include "store.h"
#include "agent_rules.h"
#include "store_agents.h"
#include "store_health.h"
#include "store_results.h"
#include "store_retention.h"
#include "store_rollups.h"

#define COMP "ingest"
/* reconnection attempts back off from the first to the last, doubling */
#define RECONNECT_MIN_MS 250
#define RECONNECT_MAX_MS 5000
#define UPKEEP_MS (3600 * 1000)
#define UPKEEP_RETRY_MS (300 * 1000)  /* after a failed retention sweep or rollup build */
/* agents whose batch streams are tracked at one time (see stream_t): one per agent connected
 * to the gateway (a HELLO or GONE ends it), and the gateway holds at most AGENT_TABLE_MAX */
#define MAX_STREAMS AGENT_TABLE_MAX
/* (agent, asset) pairs whose gauge handles are cached (see gauges_t); past it the gauges
 * are still set, only without the cache */
#define MAX_GAUGE_CACHE 200000
/* phases per result with a gauge, and the longest phase name given one */
#define MAX_PHASE_GAUGES 8
#define MAX_PHASE_NAME 32
/* the longest phase name whose handle is cached (the agent's are all shorter) */
#define CACHED_PHASE_NAME 15
/* agents disconnected and not yet forgotten (gone.h); past it the one gone longest is
 * forgotten at once */
#define MAX_GONE (2 * AGENT_TABLE_MAX)
/* agents with a table of cached gauges: the gateway's connected, plus as many gone and not
 * yet forgotten; past it an agent's gauges are set uncached */
#define MAX_GAUGE_AGENTS (AGENT_TABLE_MAX + MAX_GONE)
/* agents gone for good are looked for this often at most (and 4 times per forget period
 * at least) */
#define FORGET_SWEEP_MS 60000

/* The batches of one agent since its HELLO. An Ack means "everything through N is stored"
 * and last_seq makes anything at or below it a duplicate, so no batch may be stored after an
 * earlier one of the stream was lost: when a batch could not be stored (database failure),
 * or a batch starts above the previous one's end + 1 (one lost on the way, e.g. dropped by a
 * full queue; or results the agent itself dropped when its queue was full, which costs one
 * ack timeout), the stream is held: later batches are dropped unacked until the agent starts
 * over from its first unacknowledged result, after its ack timeout (a batch whose lowest seq
 * is at or below the highest one seen since) or on a new connection (HELLO). */
typedef struct {
    uint64_t prev_hi;  /* highest seq of the previous batch; 0 = none yet */
    bool held;
    uint64_t max_seen; /* while held: highest seq received */
    uint64_t dropped;  /* while held: batches dropped */
} stream_t;

/* The per-result gauges of one (agent, asset): handles resolved once, so a result costs one
 * hash lookup instead of formatting and hashing seven label sets (bench/RESULTS.md). */
typedef struct {
    metrics_handle_t success, duration, cert, code;
    struct {
        char name[CACHED_PHASE_NAME + 1];
        metrics_handle_t h;
    } phase[MAX_PHASE_GAUGES];
    size_t n_phases;
} gauges_t;

typedef struct {
    const collector_ctx_t *ctx;
    zsock_t *pipe;
    zsock_t *pull;
    zsock_t *to_gateway;
    zsock_t *to_engine;
    zpoller_t *poller;
    store_t *store;
    config_view_t view;      /* the manifest assets points into */
    zhashx_t *assets;        /* manifest asset ids: only these get per-asset gauges */
    zhashx_t *streams;       /* agent id -> stream_t (owned) */
    zhashx_t *gauges;        /* agent id -> zhashx_t of asset id -> gauges_t (owned) */
    size_t n_gauges;         /* gauges_t held in all of them */
    gone_t *gone;            /* agents GONE, and no HELLO since then */
    sd_ms_t next_forget_ms;
    sd_ms_t next_connect_ms;
    sd_ms_t reconnect_ms;     /* the wait after the next failed connection attempt */
    sd_ms_t next_upkeep_ms;
    sd_ms_t next_beat_write;  /* the health heartbeat row */
    uint64_t pipeline_seq;    /* RESULTS messages handed to the engine (health.h) */
    bool db_down_logged;
    bool unknown_asset_logged;
    bool malformed_logged;
    bool drop_logged;
    bool streams_full_logged;
    bool gauges_full_logged;
    bool phase_label_logged;
    bool terminated;
} self_t;

/* ---- metrics (a NULL registry is tolerated) -------------------------------------------- */

static void s_count(self_t *self, const char *name, const char *help,
                    const char *const *labels, double v)
{
    if (self->ctx->metrics)
        metrics_add(self->ctx->metrics, name, help, labels, v);
}

static void s_malformed(self_t *self, const char *why)
{
    s_count(self, "statusd_wire_malformed_total",
            "Messages dropped because they could not be decoded",
            (const char *[]){"component", COMP, NULL}, 1);
    if (!self->malformed_logged)
        sd_warn(COMP, "malformed message dropped why=%s (logged once)", why);
    else
        sd_debug(COMP, "malformed message dropped why=%s", why);
    self->malformed_logged = true;
}

/* No connection: the next attempt after a wait that doubles while attempts fail. */
static void s_reconnect_later(self_t *self)
{
    store_destroy(&self->store);
    if (self->reconnect_ms < RECONNECT_MIN_MS)
        self->reconnect_ms = RECONNECT_MIN_MS;
    self->next_connect_ms = sd_mono_ms() + self->reconnect_ms;
    self->reconnect_ms = self->reconnect_ms * 2 > RECONNECT_MAX_MS ? RECONNECT_MAX_MS
                                                                   : self->reconnect_ms * 2;
}

/* A failed database operation: counted, reported to health, logged once per streak (the
 * health report repeats it while it lasts); the connection is replaced when it dropped. */
static void s_store_error(self_t *self, const char *what, const char *err)
{
    s_count(self, "statusd_store_errors_total", "Failed database operations",
            (const char *[]){"component", COMP, NULL}, 1);
    health_db_failed(self->ctx->health, COMP, err);
    if (!self->db_down_logged)
        sd_error(COMP, "%s failed err=%s (results stay unacknowledged; logged once until a "
                       "write succeeds)", what, err);
    else
        sd_debug(COMP, "%s failed err=%s", what, err);
    self->db_down_logged = true;
    if (self->store && store_ensure(self->store) != 0)
        s_reconnect_later(self);
}

/* A successful write: the streak, if any, is over. */
static void s_store_ok(self_t *self)
{
    health_db_ok(self->ctx->health, COMP);
    if (self->db_down_logged)
        sd_info(COMP, "database writes succeed again");
    self->db_down_logged = false;
    self->reconnect_ms = RECONNECT_MIN_MS;
}

/* ---- database connection ------------------------------------------------------------- */

/* The retention rule of the other tables (store_retention.h), with the hourly upkeep. */
/* 0, or -1 with the failure in err. */
static int s_retention(self_t *self, char *err, size_t errlen)
{
    store_retention_counts_t n;
    int days = self->ctx->history_days > 0 ? self->ctx->history_days : HISTORY_DAYS_DEFAULT;
    if (store_retention_sweep(self->store, days, &n, err, errlen) != 0) {
        sd_warn(COMP, "retention sweep failed err=%s (tried again at the next upkeep)", err);
        return -1;
    }
    const struct {
        const char *table;
        int64_t n;
    } t[] = {{"incidents", n.incidents},
             {"incident_events", n.incident_events},
             {"notifications", n.notifications},
             {"asset_state_intervals", n.state_intervals},
             {"asset_rollups", n.rollups},
             {"maintenance_windows", n.maintenance_windows},
             {"agents", n.agents},
             {"collector_heartbeats", n.heartbeats}};
    for (size_t i = 0; i < sizeof t / sizeof *t; i++)
        if (t[i].n > 0) {
            s_count(self, "statusd_retention_deleted_total",
                    "Rows deleted by the retention rule (--history-days), by table.",
                    (const char *const[]){"table", t[i].table, NULL}, (double) t[i].n);
            sd_info(COMP, "retention: deleted %lld row(s) of %s older than %d days",
                    (long long) t[i].n, t[i].table, days);
        }
    return 0;
}

/* The rollups of the completed hours and days (store_rollups.h), on the ingest's connection
 * (the upkeep holds the ingest up while it runs: a bounded amount of work each time). From
 * each period's watermark: the last hour is built again (a result that came up to an hour
 * late is taken in), a day once, when it is over; at most `catchup` buckets per upkeep. The
 * first upkeep (no watermark) starts `catchup` buckets back, not at the oldest raw result. */
static int s_rollups(self_t *self, char *first_err, size_t errlen)
{
    int failed = 0;
    static const struct {
        rollup_period_t period;
        int64_t len_ms;
        int catchup;
        bool rebuild_last;
    } p[] = {{ROLLUP_HOUR, 3600000LL, 6, true}, {ROLLUP_DAY, 86400000LL, 2, false}};
    for (size_t k = 0; k < sizeof p / sizeof *p; k++) {
        char err[512] = "";
        int64_t now = sd_wall_ms(), until = 0, rows = 0;
        int64_t dirty = 0;
        int rc = store_rollups_watermark(self->store, p[k].period, &until, err, sizeof err);
        if (rc == 0)
            rc = store_rollups_dirty(self->store, p[k].period, &dirty, err, sizeof err);
        int64_t from = !until ? now - p[k].catchup * p[k].len_ms
                       : p[k].rebuild_last ? until - p[k].len_ms
                                           : until;
        /* a state written in the past made buckets stale: rebuilt first (store_rollups.h) */
        if (dirty && dirty < from)
            from = dirty;
        from -= from % p[k].len_ms;
        int64_t to = from + p[k].catchup * p[k].len_ms;
        if (to > now)
            to = now - now % p[k].len_ms; /* the buckets that are over */
        if (rc == 0 && to > from)
            rc = store_rollups_build(self->store, p[k].period, from, to, &rows, err,
                                     sizeof err);
        if (rc == 0 && to > from)
            rc = store_rollups_advance(self->store, p[k].period, to, err, sizeof err);
        if (rc == 0 && dirty && to > from)
            rc = store_rollups_clean(self->store, p[k].period, dirty, to, err, sizeof err);
        if (rc != 0) {
            sd_warn(COMP, "rollups not built period=%s err=%s (tried again at the next upkeep)",
                    p[k].period == ROLLUP_DAY ? "day" : "hour", err);
            if (!failed++)
                snprintf(first_err, errlen, "%s", err);
            continue;
        }
        if (rows > 0)
            sd_info(COMP, "rollups period=%s built=%lld rows up to %lld",
                    p[k].period == ROLLUP_DAY ? "day" : "hour", (long long) rows,
                    (long long) to);
    }
    return failed ? -1 : 0;
}

static void s_upkeep(self_t *self)
{
    char err[512] = "";
    int created = 0, dropped = 0;
    int rc = store_partitions_upkeep(self->store, self->ctx->retention_days, sd_wall_ms(),
                                     &created, &dropped, err, sizeof err);
    if (rc != 0) {
        /* rows already in the default partition for a day are not fatal: they stay there */
        sd_warn(COMP, "partition upkeep incomplete err=%s", err);
        if (store_ensure(self->store) != 0)
            s_reconnect_later(self);
    }
    if (created || dropped)
        sd_info(COMP, "partitions created=%d dropped=%d", created, dropped);
    /* retention and rollups report to /api/health (health_upkeep): failing twice in a row
     * turns it red; after a failure the upkeep is tried again in UPKEEP_RETRY_MS. (A partition
     * left incomplete is not counted: rows in the default partition are not fatal.) */
    char uerr[512] = "";
    bool ok = s_retention(self, uerr, sizeof uerr) == 0;
    char rerr[512] = "";
    if (s_rollups(self, rerr, sizeof rerr) != 0) {
        if (ok)
            snprintf(uerr, sizeof uerr, "rollups: %s", rerr);
        ok = false;
    }
    health_upkeep(self->ctx->health, ok, uerr);
    self->next_upkeep_ms = sd_mono_ms() + (ok ? UPKEEP_MS : UPKEEP_RETRY_MS);
}

/* True when a connection exists, connecting when the backoff allows (a connection that
 * dropped later is replaced by the store itself or through s_store_error). */
static bool s_db(self_t *self)
{
    if (self->store)
        return true;
    if (sd_mono_ms() < self->next_connect_ms)
        return false;
    char err[512] = "";
    self->store = store_new(self->ctx->db_conninfo, err, sizeof err);
    if (!self->store) {
        s_store_error(self, "connect", err);
        s_reconnect_later(self);
        return false;
    }
    sd_info(COMP, "database connected");
    return true;
}

/* The health heartbeat row (health.h): proves that ingest can write even when no result
 * arrives. */
static void s_beat_write(self_t *self)
{
    self->next_beat_write = sd_mono_ms() + health_write_interval_ms(self->ctx->health);
    if (!s_db(self))
        return;
    char err[512] = "";
    if (store_health_beat(self->store, COMP, err, sizeof err) == 0)
        s_store_ok(self);
    else
        s_store_error(self, "heartbeat", err);
}

/* ---- sending -------------------------------------------------------------------------- */

/* Sends without blocking; a full or absent peer, or one with its byte budget queued
 * (bus.h), drops the message (counted). */
static void s_send(self_t *self, zsock_t *sock, zmsg_t **msg, const char *to)
{
    int rc = bus_send(sock, msg);
    if (rc != 0) {
        const char *why = rc == -ENOBUFS ? "bytes" : "full";
        s_count(self, "statusd_bus_dropped_total",
                "Inproc messages dropped because the receiver was full, absent or past its "
                "byte budget",
                (const char *[]){"from", COMP, "to", to, "reason", why, NULL}, 1);
        if (!self->drop_logged)
            sd_warn(COMP, "bus message dropped to=%s reason=%s (logged once)", to, why);
        self->drop_logged = true;
    }
}

static void s_reply(self_t *self, const char *kind, const char *agent, uint64_t seq)
{
    char num[32];
    snprintf(num, sizeof num, "%" PRIu64, seq);
    zmsg_t *m = zmsg_new();
    zmsg_addstr(m, kind);
    zmsg_addstr(m, agent);
    zmsg_addstr(m, num);
    s_send(self, self->to_gateway, &m, "gateway");
}

/* ---- agents gone for good ------------------------------------------------------------ */

/* The families ingest labels with an agent: freed with it. The first ASSET_FAMILIES are
 * labelled with an asset too: freed when it leaves the manifest (a reload). */
#define ASSET_FAMILIES 6
static const char *const s_agent_families[] = {
    "statusd_probe_success",
    "statusd_probe_duration_seconds",
    "statusd_probe_phase_duration_seconds",
    "statusd_probe_cert_expiry_timestamp_seconds",
    "statusd_probe_http_status_code",
    "statusd_probe_dns_rcode",
    "statusd_results_received_total",
    "statusd_results_duplicate_total",
    "statusd_results_unknown_asset_total",
    "statusd_ingest_phase_labels_refused_total",
    "statusd_batches_held_back_total",
    "statusd_batch_gaps_total",
};

/* Frees what ingest holds about an agent that is gone for good: its stream, its cached
 * gauges, its series. The agents row stays (its last_seq keeps replays out). */
static void s_forget(self_t *self, const char *agent, const char *reason, sd_ms_t gone_ms)
{
    sd_info(COMP, "agent forgotten agent=%s disconnected_s=%lld reason=%s: gone for good",
            agent, (long long) (gone_ms / 1000), reason);
    zhashx_t *t = zhashx_lookup(self->gauges, agent);
    if (t) {
        self->n_gauges -= zhashx_size(t);
        zhashx_delete(self->gauges, agent);
    }
    zhashx_delete(self->streams, agent);
    metrics_t *m = self->ctx->metrics;
    for (size_t i = 0; m && i < sizeof s_agent_families / sizeof *s_agent_families; i++)
        metrics_remove_matching(m, s_agent_families[i], "agent", agent);
    s_count(self, "statusd_agents_forgotten_total",
            "Agents whose state was freed: gone for good (down or disconnected for "
            "--agent-forget-after), or to make room in a full table.",
            (const char *[]){"actor", COMP, "reason", reason, NULL}, 1);
}

static void s_forget_expired(const char *agent, sd_ms_t since, void *arg)
{
    self_t *self = arg;
    s_forget(self, agent, "gone", sd_mono_ms() - since);
}

static void s_forget_evicted(const char *agent, sd_ms_t since, void *arg)
{
    self_t *self = arg;
    s_forget(self, agent, "table_full", sd_mono_ms() - since);
}

/* Forgets the agents disconnected for the forget period (collector.h), every
 * FORGET_SWEEP_MS at most. */
static void s_forget_sweep(self_t *self, sd_ms_t now)
{
    if (now < self->next_forget_ms)
        return;
    int64_t after = collector_forget_ms(self->ctx);
    sd_ms_t every = after / 4 > FORGET_SWEEP_MS ? FORGET_SWEEP_MS : after / 4;
    self->next_forget_ms = now + (every > 0 ? every : 1);
    gone_expire(self->gone, now, after, s_forget_expired, self);
}

/* ---- handlers ------------------------------------------------------------------------- */

static void s_on_hello(self_t *self, zmsg_t *msg)
{
    char *agent = zmsg_popstr(msg), *region = zmsg_popstr(msg);
    char *version = zmsg_popstr(msg);
    char *period = zmsg_popstr(msg); /* optional: the period its silence is judged by, ms */
    if (!agent || !region || !version || !*agent) {
        s_malformed(self, "HELLO frames");
        free(agent);
        free(region);
        free(version);
        free(period);
        return;
    }
    /* a new connection: the agent sends again from its first unacknowledged result */
    zhashx_delete(self->streams, agent);
    gone_clear(self->gone, agent); /* back: not gone for good */
    if (s_db(self)) {
        uint64_t hwm = 0;
        char err[512] = "";
        int hb_ms = period ? (int) strtol(period, NULL, 10) : 0;
        /* the clock skew is not ingest's: the gateway estimates it, the engine stores it */
        if (store_agents_hello(self->store, agent, region, version, hb_ms, &hwm, err,
                               sizeof err) == 0)
            s_reply(self, "HWM", agent, hwm);
        else
            s_store_error(self, "agent hello", err);
    }
    free(agent);
    free(region);
    free(version);
    free(period);
}

static void s_on_gone(self_t *self, zmsg_t *msg)
{
    char *agent = zmsg_popstr(msg);
    char err[512] = "";
    if (agent) {
        zhashx_delete(self->streams, agent); /* it says HELLO before its next batch */
        /* its forget period starts (out of memory: it is never forgotten, nothing worse) */
        gone_mark(self->gone, agent, sd_mono_ms(), s_forget_evicted, self);
    }
    if (!agent)
        s_malformed(self, "GONE frames");
    else if (s_db(self) && store_agents_disconnected(self->store, agent, err, sizeof err) != 0)
        s_store_error(self, "agent disconnected", err);
    free(agent);
}

static void s_free_item(void **item)
{
    free(*item);
    *item = NULL;
}

static void s_zhashx_free(void **item)
{
    zhashx_destroy((zhashx_t **) item);
}

/* The agent's table of cached gauges (created when missing); NULL on allocation failure. */
static zhashx_t *s_agent_gauges(self_t *self, const char *agent)
{
    zhashx_t *t = zhashx_lookup(self->gauges, agent);
    if (t || zhashx_size(self->gauges) >= MAX_GAUGE_AGENTS)
        return t; /* NULL past the bound: uncached (s_gauges counts it) */
    t = zhashx_new();
    if (!t)
        return NULL;
    zhashx_set_destructor(t, s_free_item);
    zhashx_insert(self->gauges, agent, t);
    return t;
}

/* The cached gauges of (agent table, asset); NULL when the cache is full (counted, logged
 * once) or memory ran out: the caller then sets the gauges through a scratch entry. */
static gauges_t *s_gauges(self_t *self, zhashx_t *t, const char *asset)
{
    gauges_t *g = t ? zhashx_lookup(t, asset) : NULL;
    if (g || !t)
        return g;
    if (self->n_gauges >= MAX_GAUGE_CACHE) {
        s_count(self, "statusd_ingest_handle_cache_full_total",
                "Results whose per-probe series were set without the handle cache (full)",
                NULL, 1);
        if (!self->gauges_full_logged)
            sd_warn(COMP, "series handle cache full, per-probe series set uncached max=%d",
                    MAX_GAUGE_CACHE);
        self->gauges_full_logged = true;
        return NULL;
    }
    g = calloc(1, sizeof *g);
    if (g) {
        zhashx_insert(t, asset, g);
        self->n_gauges++;
    }
    return g;
}

/* The handle of the phase gauge named name in g (added when missing); NULL when g has
 * MAX_PHASE_GAUGES names already or the name is too long to cache. */
static metrics_handle_t *s_phase_handle(gauges_t *g, const char *name)
{
    if (strlen(name) > CACHED_PHASE_NAME)
        return NULL;
    for (size_t i = 0; i < g->n_phases; i++)
        if (strcmp(g->phase[i].name, name) == 0)
            return &g->phase[i].h;
    if (g->n_phases == MAX_PHASE_GAUGES)
        return NULL;
    snprintf(g->phase[g->n_phases].name, sizeof g->phase[0].name, "%s", name);
    return &g->phase[g->n_phases++].h;
}

/* Per-asset gauges of the latest result; only for assets of the manifest (bounded). t is
 * the agent's gauge table (NULL: uncached). */
static void s_result_metrics(self_t *self, zhashx_t *t, const char *agent, const char *region,
                             const Statusd__ProbeResult *r)
{
    const sd_asset_t *asset = zhashx_lookup(self->assets, r->asset_id);
    if (!asset) {
        s_count(self, "statusd_results_unknown_asset_total",
                "Results stored for an asset that is not in the manifest",
                (const char *[]){"agent", agent, NULL}, 1);
        if (!self->unknown_asset_logged)
            sd_warn(COMP, "result for an asset not in the manifest asset=%s agent=%s",
                    r->asset_id, agent);
        self->unknown_asset_logged = true;
        return;
    }
    metrics_t *m = self->ctx->metrics;
    if (!m)
        return;
    gauges_t scratch = {0}, *g = s_gauges(self, t, r->asset_id);
    if (!g)
        g = &scratch;
    const char *labels[] = {"asset", r->asset_id, "agent", agent, "region", region, NULL};
    metrics_set_cached(m, &g->success, "statusd_probe_success",
                       "1 when the latest probe succeeded, else 0", labels, r->success ? 1 : 0);
    metrics_set_cached(m, &g->duration, "statusd_probe_duration_seconds",
                       "Latency of the latest probe", labels, r->latency_us / 1e6);
    /* blackbox_exporter's meanings: phase durations of the latest probe, the leaf
     * certificate's notAfter, the HTTP status, the DNS rcode */
    for (size_t i = 0; i < r->n_phases && i < MAX_PHASE_GAUGES; i++) {
        const Statusd__Phase *ph = r->phases[i];
        if (!ph || !ph->name || !ph->name[0])
            continue;
        size_t nl = strlen(ph->name);
        if (nl > MAX_PHASE_NAME || !sd_utf8_valid(ph->name, nl)) {
            /* an agent's name, not ours: no label from it (the stored row keeps it, repaired) */
            s_count(self, "statusd_ingest_phase_labels_refused_total",
                    "Phase names not used as a metric label: not valid UTF-8 or longer than 32"
                    " bytes",
                    (const char *[]){"agent", agent, NULL}, 1);
            if (!self->phase_label_logged)
                sd_warn(COMP, "phase name refused as a metric label agent=%s bytes=%zu"
                              " (logged once)", agent, nl);
            self->phase_label_logged = true;
            continue;
        }
        metrics_handle_t *h = s_phase_handle(g, ph->name);
        const char *pl[] = {"asset", r->asset_id, "agent", agent, "region", region,
                            "phase", ph->name, NULL};
        if (h)
            metrics_set_cached(m, h, "statusd_probe_phase_duration_seconds",
                               "Duration of each phase of the latest probe", pl,
                               ph->duration_us / 1e6);
        else
            metrics_set(m, "statusd_probe_phase_duration_seconds",
                        "Duration of each phase of the latest probe", pl, ph->duration_us / 1e6);
    }
    if (r->cert_expiry_unix > 0)
        metrics_set_cached(
            m, &g->cert, "statusd_probe_cert_expiry_timestamp_seconds",
            "Expiry of the server's leaf certificate seen by the latest probe (unix time)",
            labels, (double) r->cert_expiry_unix);
    /* an asset has one type for the collector's life, so g->code names one family */
    const char *type = asset->asset_type ? asset->asset_type : "";
    if (strcmp(type, "http") == 0 && r->status_code > 0)
        metrics_set_cached(m, &g->code, "statusd_probe_http_status_code",
                           "HTTP status of the latest probe's final response", labels,
                           r->status_code);
    else if (strcmp(type, "dns") == 0 && r->status_code >= 0)
        metrics_set_cached(m, &g->code, "statusd_probe_dns_rcode",
                           "DNS rcode of the latest probe's reply", labels, r->status_code);
}

/* Hands one RESULTS message to the engine, numbered for the pipeline's health. */
static void s_to_engine(self_t *self, const char *agent, const char *region,
                        zframe_t **payload)
{
    char seq[24], stamp[24];
    snprintf(seq, sizeof seq, "%" PRIu64, ++self->pipeline_seq);
    snprintf(stamp, sizeof stamp, "%" PRId64, (int64_t) sd_mono_ms());
    zmsg_t *m = zmsg_new();
    zmsg_addstr(m, "RESULTS");
    zmsg_addstr(m, agent);
    zmsg_addstr(m, region);
    zmsg_append(m, payload);
    zmsg_addstr(m, seq);
    zmsg_addstr(m, stamp);
    health_results_forwarded(self->ctx->health, self->pipeline_seq);
    s_send(self, self->to_engine, &m, "engine");
}

/* Forwards the newly stored results (idx[0..n), in seq order) to the engine: *payload, the
 * batch's bytes as the agent sent them, when they are all of the batch in its own order
 * (the usual case; taken, *payload NULL afterwards); else only them, re-encoded as one
 * ResultBatch. */
static void s_forward(self_t *self, const char *agent, const char *region,
                      const Statusd__ResultBatch *batch, const size_t *idx, size_t n,
                      zframe_t **payload)
{
    bool whole = n == batch->n_results;
    for (size_t i = 0; whole && i < n; i++)
        whole = idx[i] == i;
    if (whole) {
        s_to_engine(self, agent, region, payload);
        return;
    }
    Statusd__ProbeResult **rs = malloc(n * sizeof *rs);
    if (!rs)
        return;
    for (size_t i = 0; i < n; i++)
        rs[i] = batch->results[idx[i]];
    Statusd__ResultBatch out = STATUSD__RESULT_BATCH__INIT;
    out.n_results = n;
    out.results = rs;
    size_t len = statusd__result_batch__get_packed_size(&out);
    zframe_t *part = zframe_new(NULL, len);
    if (part) {
        statusd__result_batch__pack(&out, zframe_data(part));
        s_to_engine(self, agent, region, &part);
    }
    free(rs);
}

/* Lowest and highest storable seq of a batch (UINT64_MAX and 0 when none): seqs beyond
 * BIGINT are skipped by the store and must not move the stream either. */
static void s_span(const Statusd__ResultBatch *b, uint64_t *lo, uint64_t *hi)
{
    *lo = UINT64_MAX;
    *hi = 0;
    for (size_t i = 0; i < b->n_results; i++) {
        if (!b->results[i] || b->results[i]->seq > (uint64_t) INT64_MAX)
            continue;
        uint64_t q = b->results[i]->seq;
        if (q < *lo)
            *lo = q;
        if (q > *hi)
            *hi = q;
    }
}

/* The agent's stream, created when missing; NULL when the table is full (counted). */
static stream_t *s_stream(self_t *self, const char *agent)
{
    stream_t *st = zhashx_lookup(self->streams, agent);
    if (st)
        return st;
    if (zhashx_size(self->streams) >= MAX_STREAMS) {
        s_count(self, "statusd_ingest_streams_full_total",
                "Batches of an agent whose stream could not be tracked (table full)", NULL, 1);
        if (!self->streams_full_logged)
            sd_warn(COMP, "stream table full, agent not tracked agent=%s max=%d", agent,
                    MAX_STREAMS);
        self->streams_full_logged = true;
        return NULL;
    }
    st = calloc(1, sizeof *st);
    if (st)
        zhashx_insert(self->streams, agent, st);
    return st;
}

static void s_hold(stream_t *st, const char *agent, uint64_t hi, const char *why)
{
    if (!st || st->held)
        return;
    st->held = true;
    st->max_seen = hi;
    st->dropped = 0;
    sd_info(COMP, "%s, holding back later batches until the agent resends agent=%s"
                  " through_seq=%" PRIu64, why, agent, hi);
}

static void s_held_back_count(self_t *self, const char *agent)
{
    s_count(self, "statusd_batches_held_back_total",
            "Result batches not stored because an earlier batch of the agent was lost"
            " (the agent resends both)",
            (const char *[]){"agent", agent, NULL}, 1);
}

/* True when the batch [lo, hi] must be dropped unacked (see stream_t). */
static bool s_held_back(self_t *self, stream_t *st, const char *agent, uint64_t lo,
                        uint64_t hi)
{
    if (!st || lo > hi) /* untracked, or an empty batch */
        return false;
    if (st->held) {
        if (lo > st->max_seen) {
            st->max_seen = hi > st->max_seen ? hi : st->max_seen;
            st->dropped++;
            st->prev_hi = hi;
            s_held_back_count(self, agent);
            return true;
        }
        /* the agent started over from its first unacknowledged result */
        sd_info(COMP, "agent resends, batches accepted again agent=%s from_seq=%" PRIu64
                      " dropped_meanwhile=%" PRIu64, agent, lo, st->dropped);
        st->held = false;
    } else if (st->prev_hi && lo > st->prev_hi + 1) {
        s_count(self, "statusd_batch_gaps_total",
                "Result batches that did not continue the previous one of the agent",
                (const char *[]){"agent", agent, NULL}, 1);
        s_hold(st, agent, hi, "batch does not continue the previous one");
        st->prev_hi = hi;
        s_held_back_count(self, agent);
        return true;
    }
    st->prev_hi = hi;
    return false;
}

/* 0 when stored (or malformed: dropped for good), else -errno (not stored, not acked).
 * payload: the batch's bytes, taken when they go on to the engine whole (s_forward). */
static int s_store_batch(self_t *self, const char *agent, const char *region,
                         Statusd__ResultBatch *batch, zframe_t **payload)
{
    size_t *idx = malloc((batch->n_results + 1) * sizeof *idx);
    size_t n_new = 0;
    uint64_t through = 0;
    char err[512] = "";
    if (!idx)
        return -ENOMEM;
    int rc = store_results_insert(self->store, agent, region, batch, idx, &n_new, &through, err,
                                  sizeof err);
    if (rc == -EINVAL) {
        s_malformed(self, err);
        rc = 0;
    } else if (rc != 0) {
        s_store_error(self, "store batch", err);
    } else {
        s_store_ok(self);
        s_reply(self, "ACK", agent, through);
        const char *labels[] = {"agent", agent, "region", region, NULL};
        s_count(self, "statusd_results_received_total", "Probe results newly stored", labels,
                (double) n_new);
        s_count(self, "statusd_results_duplicate_total",
                "Probe results received again and not stored twice", labels,
                (double) (batch->n_results - n_new));
        zhashx_t *t = self->ctx->metrics ? s_agent_gauges(self, agent) : NULL;
        for (size_t i = 0; i < n_new; i++)
            s_result_metrics(self, t, agent, region, batch->results[idx[i]]);
        if (n_new > 0)
            s_forward(self, agent, region, batch, idx, n_new, payload);
    }
    free(idx);
    return rc;
}

static void s_on_batch(self_t *self, zmsg_t *msg)
{
    char *agent = zmsg_popstr(msg), *region = zmsg_popstr(msg);
    zframe_t *payload = zmsg_pop(msg);
    Statusd__ResultBatch *batch = NULL;
    if (!agent || !region || !payload || !*agent)
        s_malformed(self, "BATCH frames");
    else if (!(batch = statusd__result_batch__unpack(NULL, zframe_size(payload),
                                                     zframe_data(payload))))
        s_malformed(self, "ResultBatch decode");
    if (batch) {
        uint64_t lo, hi;
        s_span(batch, &lo, &hi);
        stream_t *st = s_stream(self, agent);
        /* a held-back batch is dropped unacked: the agent resends it after the lost one */
        bool stored = false;
        if (!s_held_back(self, st, agent, lo, hi)) {
            stored = s_db(self) && s_store_batch(self, agent, region, batch, &payload) == 0;
            if (!stored)
                s_hold(st, agent, hi, "batch not stored");
        }
        /* not stored now (database away, or held back): the engine judges it anyway, so
         * verdicts go on while the database is away; it ignores what it has seen (by seq)
         * when the agent's resend is stored later */
        if (!stored && batch->n_results > 0) {
            s_count(self, "statusd_results_judged_unstored_total",
                    "Results handed to the alert engine before they could be stored (the "
                    "agent resends them until they are)",
                    NULL, (double) batch->n_results);
            s_to_engine(self, agent, region, &payload);
        }
    }
    if (batch)
        statusd__result_batch__free_unpacked(batch, NULL);
    zframe_destroy(&payload);
    free(agent);
    free(region);
}

static void s_on_bus(self_t *self)
{
    zmsg_t *msg = bus_recv(self->pull);
    if (!msg)
        return;
    char *kind = zmsg_popstr(msg);
    if (kind && strcmp(kind, "HELLO") == 0)
        s_on_hello(self, msg);
    else if (kind && strcmp(kind, "BATCH") == 0)
        s_on_batch(self, msg);
    else if (kind && strcmp(kind, "GONE") == 0)
        s_on_gone(self, msg);
    else
        s_malformed(self, "unknown bus command");
    free(kind);
    zmsg_destroy(&msg);
}

static void s_on_pipe(self_t *self)
{
    zmsg_t *msg = zmsg_recv(self->pipe);
    char *cmd = msg ? zmsg_popstr(msg) : NULL;
    if (!msg || (cmd && strcmp(cmd, "$TERM") == 0))
        self->terminated = true;
    free(cmd);
    zmsg_destroy(&msg);
}

/* ---- lifecycle ------------------------------------------------------------------------ */

/* Fills the table of manifest assets from the view. 0 or -ENOMEM. */
static int s_fill_assets(self_t *self)
{
    zhashx_purge(self->assets);
    const sd_manifest_t *m = self->view.manifest;
    for (size_t i = 0; m && i < m->n_assets; i++)
        if (zhashx_insert(self->assets, m->assets[i].id, &m->assets[i]) != 0 &&
            !zhashx_lookup(self->assets, m->assets[i].id))
            return -ENOMEM;
    return 0;
}

/* A reload (config_ref.h), before any message is handled: the table of manifest assets is
 * rebuilt; an asset that left the manifest loses its cached gauges and its series (its
 * results still in flight are stored, counted as unknown_asset, and get no gauge). */
static void s_on_reload(self_t *self)
{
    config_view_t old;
    if (!config_view_refresh(&self->view, self->ctx->config, &old))
        return;
    if (s_fill_assets(self) != 0)
        sd_error(COMP, "out of memory rebuilding the asset table: some assets get no gauges");
    size_t removed = 0;
    for (size_t i = 0; old.manifest && i < old.manifest->n_assets; i++) {
        const char *id = old.manifest->assets[i].id;
        if (zhashx_lookup(self->assets, id))
            continue;
        removed++;
        for (zhashx_t *t = zhashx_first(self->gauges); t; t = zhashx_next(self->gauges))
            if (zhashx_lookup(t, id)) {
                zhashx_delete(t, id);
                self->n_gauges--;
            }
        for (size_t f = 0; self->ctx->metrics && f < ASSET_FAMILIES; f++)
            metrics_remove_matching(self->ctx->metrics, s_agent_families[f], "asset", id);
    }
    sd_info(COMP, "configuration generation=%llu assets=%zu removed=%zu",
            (unsigned long long) self->view.generation, zhashx_size(self->assets), removed);
    config_view_release(&old);
}

static void s_self_destroy(self_t **p)
{
    self_t *self = *p;
    if (!self)
        return;
    zpoller_destroy(&self->poller);
    bus_close(&self->pull);
    bus_close(&self->to_gateway);
    bus_close(&self->to_engine);
    zhashx_destroy(&self->assets);
    config_view_release(&self->view);
    zhashx_destroy(&self->streams);
    zhashx_destroy(&self->gauges);
    gone_destroy(&self->gone);
    store_destroy(&self->store);
    free(self);
    *p = NULL;
}

static self_t *s_self_new(zsock_t *pipe, const collector_ctx_t *ctx)
{
    self_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    self->ctx = ctx;
    self->pipe = pipe;
    collector_view(ctx, &self->view);
    health_register(ctx->health, COMP, HEALTH_LOOP | HEALTH_WRITES);
    self->assets = zhashx_new();
    self->streams = zhashx_new();
    if (self->streams)
        zhashx_set_destructor(self->streams, s_free_item);
    self->gauges = zhashx_new();
    if (self->gauges)
        zhashx_set_destructor(self->gauges, s_zhashx_free);
    self->gone = gone_new(MAX_GONE);
    self->pull = bus_pull(BUS_INGEST);
    self->to_gateway = bus_push(BUS_ACKS, 0);
    self->to_engine = bus_push(BUS_ENGINE, 0);
    if (self->pull)
        self->poller = zpoller_new(pipe, self->pull, NULL);
    if (!self->assets || !self->streams || !self->gauges || !self->gone || !self->pull ||
        !self->to_gateway ||
        !self->to_engine || !self->poller) {
        s_self_destroy(&self);
        return NULL;
    }
    if (s_fill_assets(self) != 0) {
        s_self_destroy(&self);
        return NULL;
    }
    return self;
}

static void s_actor(zsock_t *pipe, void *args)
{
    self_t *self = s_self_new(pipe, (const collector_ctx_t *) args);
    zsock_signal(pipe, 0);
    if (!self) {
        /* ingest_new reads this, then destroys the actor with $TERM */
        zstr_send(pipe, "FAIL");
        char *cmd;
        while ((cmd = zstr_recv(pipe)) && strcmp(cmd, "$TERM") != 0)
            zstr_free(&cmd);
        zstr_free(&cmd);
        return;
    }
    zstr_send(pipe, "OK");
    while (!self->terminated) {
        health_beat(self->ctx->health, COMP);
        if (sd_mono_ms() >= self->next_upkeep_ms && s_db(self))
            s_upkeep(self);
        if (sd_mono_ms() >= self->next_beat_write)
            s_beat_write(self);
        s_forget_sweep(self, sd_mono_ms());
        sd_ms_t now = sd_mono_ms();
        /* without a connection, wake up to retry it (and the pending upkeep); at least
         * once a second for the health heartbeat */
        sd_ms_t wait = self->store ? self->next_upkeep_ms - now : self->next_connect_ms - now;
        if (wait > self->next_beat_write - now)
            wait = self->next_beat_write - now;
        if (wait < 0)
            wait = 0;
        void *which = zpoller_wait(self->poller, (int) (wait > 1000 ? 1000 : wait));
        s_on_reload(self);
        if (which == self->pipe)
            s_on_pipe(self);
        else if (which == self->pull)
            s_on_bus(self);
        else if (zpoller_terminated(self->poller))
            break;
    }
    s_self_destroy(&self);
}

zactor_t *ingest_new(const collector_ctx_t *ctx)
{
    zactor_t *actor = zactor_new(s_actor, (void *) ctx);
    if (!actor)
        return NULL;
    char *status = zstr_recv(actor);
    bool ok = status && strcmp(status, "OK") == 0;
    zstr_free(&status);
    if (!ok)
        zactor_destroy(&actor);
    return actor;
}
