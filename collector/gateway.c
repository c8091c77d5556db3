/* gateway: the ROUTER socket the agents connect to, and the table of connected agents. */
#include "gateway.h"

#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "agent_keys.h"
#include "agent_rules.h"
#include "assign.h"
#include "bus.h"
#include "config_diff.h"
#include "rate.h"
#include "sd_clock.h"
#include "sd_log.h"
#include "statusd.pb-c.h"
#include "wire_check.h"
#include "zap.h"

#define COMP "gateway"
#define AGENT_HWM 1000
#define MALFORMED_LOG_MS 10000
/* connections with a Hello rate bucket at once; keys whose refusal was logged */
#define MAX_HELLO_BUCKETS 65536
#define MAX_LOGGED_KEYS 4096

typedef struct {
    char *id;
    char *region;
    zframe_t *routing;       /* the DEALER's routing id on our ROUTER */
    char *route_key;         /* routing id in hex, key of by_route */
    char *key;               /* CURVE public key (Z85) of the connection; NULL in plain text */
    uint64_t hwm;            /* highest seq stored (from ingest's HWM and ACKs) */
    bool seq_logged;         /* a batch with a seq far ahead was refused and logged */
    sd_ms_t last_heard;
    sd_ms_t heartbeat_ms;    /* the period its silence is judged by (agent_heartbeat_ms) */
    uint64_t assignment_version; /* last Assignment version sent, 0 = none */
    bool hello_acked;
    agent_skew_t skew;       /* its clock skew samples: the gateway owns the estimate */
    /* a batch of this connection was dropped before ingest: accept nothing more from it and
     * stop answering heartbeats, so the agent reconnects, says Hello and resends everything
     * unacked (a later batch must never be acked past the lost one) */
    bool resync;
    bool assignment_due;     /* an interval of one of its assets changed: send a new plan */
} agent_t;

typedef struct {
    const collector_ctx_t *ctx;
    config_view_t view;      /* the manifest the plans are built from */
    zsock_t *pipe;
    zsock_t *router;
    zsock_t *acks;
    zsock_t *to_ingest;
    zsock_t *to_engine;
    zsock_t *intervals;      /* PULL on BUS_GATEWAY: INTERVAL from the engine */
    zpoller_t *poller;
    zhashx_t *fast;          /* asset id -> interval ms (uintptr_t) while it differs from the
                                manifest's (adaptive intervals); not owned values */
    bool assignments_due;
    zhashx_t *agents;        /* agent id -> agent_t (owned) */
    zhashx_t *by_route;      /* route key -> agent_t (borrowed) */
    uint64_t plan_version;
    sd_ms_t next_sweep_ms;
    sd_ms_t malformed_logged_ms;
    uint64_t malformed_since_log;
    bool unknown_logged, full_logged, drop_logged, large_logged;
    /* CURVE (ctx->server_cert): the admitted keys, the ZAP handler, keys logged as refused */
    agent_keys_t *keys;
    zsock_t *zap;
    zhashx_t *logged_keys;
    sd_ms_t next_keys_reload;
    zhashx_t *hello_rate;    /* route key -> rate_t (owned) */
    zhashx_t *refused;       /* route key -> refusal time (sd_ms_t): connections whose Hello
                                was refused get no answer at all, until they reconnect */
    bool terminated;
} self_t;

/* ---- metrics (a NULL registry is tolerated) -------------------------------------------- */

static void s_count(self_t *self, const char *name, const char *help,
                    const char *const *labels)
{
    if (self->ctx->metrics)
        metrics_add(self->ctx->metrics, name, help, labels, 1);
}

static void s_connected_gauge(self_t *self)
{
    if (self->ctx->metrics)
        metrics_set(self->ctx->metrics, "statusd_agents_connected",
                    "Agents connected to this collector", NULL,
                    (double) zhashx_size(self->agents));
}

static void s_malformed(self_t *self, const char *why)
{
    s_count(self, "statusd_wire_malformed_total",
            "Messages dropped because they could not be decoded",
            (const char *[]){"component", COMP, NULL});
    self->malformed_since_log++;
    sd_ms_t now = sd_mono_ms();
    if (self->malformed_logged_ms == 0 || now - self->malformed_logged_ms >= MALFORMED_LOG_MS) {
        sd_warn(COMP, "malformed message dropped why=%s dropped_since_last_log=%" PRIu64, why,
                self->malformed_since_log);
        self->malformed_logged_ms = now;
        self->malformed_since_log = 0;
    }
}

/* ---- agents table --------------------------------------------------------------------- */

static void s_agent_free(void **item)
{
    agent_t *a = (agent_t *) *item;
    if (!a)
        return;
    free(a->id);
    free(a->region);
    free(a->route_key);
    free(a->key);
    zframe_destroy(&a->routing);
    free(a);
    *item = NULL;
}

/* Counts a refused peer (statusd_agents_refused_total{reason}) and logs it once per key
 * (once per reason in plain text). */
static void s_count_refused(self_t *self, const char *reason)
{
    s_count(self, "statusd_agents_refused_total",
            "Connections, Hellos and messages refused: unknown or removed key, an agent id or "
            "region the certificate does not name, Hello floods, results numbered far ahead",
            (const char *[]){"reason", reason, NULL});
}

static void s_refuse(self_t *self, const char *key, const char *reason, const char *detail)
{
    s_count_refused(self, reason);
    char tag[160];
    snprintf(tag, sizeof tag, "%s/%s", key && *key ? key : "-", reason);
    if (zhashx_lookup(self->logged_keys, tag) || zhashx_size(self->logged_keys) >= MAX_LOGGED_KEYS)
        return;
    zhashx_insert(self->logged_keys, tag, (void *) 1);
    sd_warn(COMP, "agent refused reason=%s key=%s %s (logged once per key and reason)", reason,
            key && *key ? key : "-", detail ? detail : "");
}

/* Sends without blocking; a full or absent receiver, or one with its byte budget queued
 * (bus.h), drops the message (counted). */
static bool s_bus_send(self_t *self, zsock_t *sock, zmsg_t **msg, const char *to)
{
    int rc = bus_send(sock, msg);
    if (rc != 0) {
        const char *why = rc == -ENOBUFS ? "bytes" : "full";
        s_count(self, "statusd_bus_dropped_total",
                "Inproc messages dropped because the receiver was full, absent or past its "
                "byte budget",
                (const char *[]){"from", COMP, "to", to, "reason", why, NULL});
        if (!self->drop_logged)
            sd_warn(COMP, "bus message dropped to=%s reason=%s", to, why);
        self->drop_logged = true;
        return false;
    }
    return true;
}

/* ["AGENT", id, region, "UP"|"DOWN", last heard (collector wall ms)] */
static void s_engine_agent(self_t *self, const agent_t *a, const char *state)
{
    char heard[32];
    snprintf(heard, sizeof heard, "%" PRId64, sd_wall_ms() - (sd_mono_ms() - a->last_heard));
    zmsg_t *m = zmsg_new();
    zmsg_addstr(m, "AGENT");
    zmsg_addstr(m, a->id);
    zmsg_addstr(m, a->region);
    zmsg_addstr(m, state);
    zmsg_addstr(m, heard);
    s_bus_send(self, self->to_engine, &m, "engine");
}

/* One clock sample from a Hello or Heartbeat (agent wall ms, 0 = none); reports the
 * estimate to the engine, the one writer of agents.clock_skew_ms, as ["SKEW", id, skew_ms]
 * when it is due (agent_skew_report). */
static void s_skew_sample(self_t *self, agent_t *a, int64_t agent_sent_ms, sd_ms_t now)
{
    int64_t est;
    if (agent_skew_add(&a->skew, agent_sent_ms, sd_wall_ms()) != 0 ||
        !agent_skew_report(&a->skew, now, &est))
        return;
    char v[32];
    snprintf(v, sizeof v, "%" PRId64, est);
    zmsg_t *m = zmsg_new();
    zmsg_addstr(m, "SKEW");
    zmsg_addstr(m, a->id);
    zmsg_addstr(m, v);
    s_bus_send(self, self->to_engine, &m, "engine");
}

/* Forgets an agent: GONE to ingest, AGENT DOWN to the engine (when it was up). */
static void s_disconnect(self_t *self, agent_t *a, const char *why)
{
    sd_info(COMP, "agent disconnected agent=%s region=%s why=%s", a->id, a->region, why);
    zmsg_t *m = zmsg_new();
    zmsg_addstr(m, "GONE");
    zmsg_addstr(m, a->id);
    s_bus_send(self, self->to_ingest, &m, "ingest");
    if (a->hello_acked)
        s_engine_agent(self, a, "DOWN");
    zhashx_delete(self->by_route, a->route_key);
    zhashx_delete(self->agents, a->id);
    s_connected_gauge(self);
}

/* Still admitted: the connection's key has a certificate naming this agent (and region). */
static bool s_still_admitted(self_t *self, const agent_t *a)
{
    const agent_key_t *cert = agent_keys_lookup(self->keys, a->key);
    return cert && strcmp(cert->name, a->id) == 0 &&
           (!cert->region[0] || strcmp(cert->region, a->region) == 0);
}

/* Reads the agents directory again; agents whose certificate went away are cut off (their
 * next Hello is refused and their reconnect fails the handshake). */
static void s_reload_keys(self_t *self, bool first)
{
    size_t skipped = 0;
    char err[600];
    int rc = agent_keys_reload(self->keys, &skipped, err, sizeof err);
    if (rc < 0) {
        sd_error(COMP, "cannot read the agents directory, keeping the certificates read "
                 "before: %s", err);
        return;
    }
    if (rc == 0)
        return;
    if (skipped)
        sd_warn(COMP, "agents directory: %zu file(s) skipped, first: %s", skipped, err);
    sd_info(COMP, "agent certificates %s dir=%s admitted_keys=%zu", first ? "read" : "reloaded",
            self->ctx->agents_dir, agent_keys_count(self->keys));
    if (self->ctx->metrics)
        metrics_set(self->ctx->metrics, "statusd_agent_keys",
                    "Agent public keys admitted from the agents directory", NULL,
                    (double) agent_keys_count(self->keys));
    /* a key refused as unknown before may be admitted now: log its next refusal again */
    zlist_t *unknown = zlist_new();
    for (void *v = zhashx_first(self->logged_keys); v; v = zhashx_next(self->logged_keys)) {
        const char *tag = zhashx_cursor(self->logged_keys);
        size_t n = strlen(tag);
        if (n > 12 && strcmp(tag + n - 12, "/unknown_key") == 0)
            zlist_append(unknown, (void *) tag);
    }
    for (const char *t = zlist_first(unknown); t; t = zlist_next(unknown))
        zhashx_delete(self->logged_keys, t);
    zlist_destroy(&unknown);
    zlist_t *gone = zlist_new();
    for (agent_t *a = zhashx_first(self->agents); a; a = zhashx_next(self->agents))
        if (!s_still_admitted(self, a))
            zlist_append(gone, a);
    for (agent_t *a = zlist_first(gone); a; a = zlist_next(gone)) {
        s_count_refused(self, "revoked");
        s_disconnect(self, a, "certificate removed from the agents directory");
    }
    zlist_destroy(&gone);
}

static void s_sweep(self_t *self, sd_ms_t now)
{
    zlist_t *stale = zlist_new();
    for (agent_t *a = zhashx_first(self->agents); a; a = zhashx_next(self->agents))
        if (agent_silent(now - a->last_heard, a->heartbeat_ms, 0))
            zlist_append(stale, a);
    for (agent_t *a = zlist_first(stale); a; a = zlist_next(stale))
        s_disconnect(self, a,
                     "silent for " SD_LIMIT_STR(SD_SILENT_PERIODS) " heartbeat periods");
    zlist_destroy(&stale);
    /* a bucket that would be full again is the same as none */
    zlist_t *idle = zlist_new();
    for (rate_t *r = zhashx_first(self->hello_rate); r; r = zhashx_next(self->hello_rate))
        if (now - r->last >= (sd_ms_t) GATEWAY_HELLO_BURST * GATEWAY_HELLO_PERIOD_MS)
            zlist_append(idle, (void *) zhashx_cursor(self->hello_rate));
    for (const char *k = zlist_first(idle); k; k = zlist_next(idle))
        zhashx_delete(self->hello_rate, k);
    zlist_purge(idle);
    /* a refused connection is forgotten once it must have given up (silence) */
    for (void *t = zhashx_first(self->refused); t; t = zhashx_next(self->refused))
        if (now - (sd_ms_t) (uintptr_t) t > 10 * (sd_ms_t) self->ctx->heartbeat_ms + 60000)
            zlist_append(idle, (void *) zhashx_cursor(self->refused));
    for (const char *k = zlist_first(idle); k; k = zlist_next(idle))
        zhashx_delete(self->refused, k);
    zlist_destroy(&idle);
}

/* ---- to agents ------------------------------------------------------------------------ */

static void s_send_env(self_t *self, const agent_t *a, const Statusd__Envelope *env)
{
    size_t len = statusd__envelope__get_packed_size(env);
    zframe_t *payload = zframe_new(NULL, len);
    if (!payload)
        return;
    statusd__envelope__pack(env, zframe_data(payload));
    zmsg_t *m = zmsg_new();
    zframe_t *route = zframe_dup(a->routing);
    zmsg_append(m, &route);
    zmsg_append(m, &payload);
    /* ROUTER_MANDATORY is off: an unroutable or full peer drops, never blocks */
    if (zmsg_send(&m, self->router) != 0)
        zmsg_destroy(&m);
}

static void s_send_ack(self_t *self, const agent_t *a, uint64_t through, bool hello_reply)
{
    Statusd__Ack ack = STATUSD__ACK__INIT;
    ack.through_seq = through;
    ack.hello_reply = hello_reply;
    Statusd__Envelope env = STATUSD__ENVELOPE__INIT;
    env.body_case = STATUSD__ENVELOPE__BODY_ACK;
    env.ack = &ack;
    s_send_env(self, a, &env);
}

static uint32_t s_interval_of(const sd_asset_t *asset, void *arg)
{
    self_t *self = arg;
    return (uint32_t) (uintptr_t) zhashx_lookup(self->fast, asset->id);
}

static void s_send_assignment(self_t *self, agent_t *a)
{
    Statusd__Assignment *as = assign_build_with(self->view.manifest, a->region,
                                                self->plan_version, s_interval_of, self);
    if (!as) {
        sd_error(COMP, "out of memory building the assignment agent=%s", a->id);
        return;
    }
    Statusd__Envelope env = STATUSD__ENVELOPE__INIT;
    env.body_case = STATUSD__ENVELOPE__BODY_ASSIGNMENT;
    env.assignment = as;
    s_send_env(self, a, &env);
    a->assignment_version = as->version;
    sd_info(COMP, "assignment sent agent=%s region=%s version=%" PRIu64 " assets=%zu", a->id,
            a->region, as->version, as->n_assets);
    assign_destroy(&as);
}

/* ---- from agents ---------------------------------------------------------------------- */

/* A Hello allowed by the connection's rate bucket (created on its first Hello). */
static bool s_hello_allowed(self_t *self, const char *route_key, sd_ms_t now)
{
    rate_t *r = zhashx_lookup(self->hello_rate, route_key);
    if (!r) {
        if (zhashx_size(self->hello_rate) >= MAX_HELLO_BUCKETS || !(r = malloc(sizeof *r)))
            return false;
        rate_init(r, GATEWAY_HELLO_BURST, now);
        zhashx_insert(self->hello_rate, route_key, r);
    }
    return rate_take(r, GATEWAY_HELLO_BURST, GATEWAY_HELLO_PERIOD_MS, now);
}

/* With CURVE: true when the certificate of key names this agent id (and this region when it
 * names one); else refused and counted. */
static bool s_hello_admitted(self_t *self, const char *key, const Statusd__Hello *h)
{
    if (!self->keys)
        return true;
    const agent_key_t *cert = agent_keys_lookup(self->keys, key);
    char detail[400];
    if (!cert) {
        s_refuse(self, key, "unknown_key", "(its certificate is not in the agents directory)");
        return false;
    }
    if (strcmp(cert->name, h->agent_id) != 0) {
        snprintf(detail, sizeof detail, "certificate=%s name=%s claimed_id=%s", cert->file,
                 cert->name, h->agent_id);
        s_refuse(self, key, "wrong_id", detail);
        return false;
    }
    if (cert->region[0] && strcmp(cert->region, h->region) != 0) {
        snprintf(detail, sizeof detail, "certificate=%s region=%s claimed_region=%s",
                 cert->file, cert->region, h->region);
        s_refuse(self, key, "wrong_region", detail);
        return false;
    }
    return true;
}

/* h passed wire_check_hello (agent_id, region and version are bounded printable ASCII). */
static void s_on_hello(self_t *self, zframe_t *route, const char *ckey, const Statusd__Hello *h,
                       sd_ms_t now)
{
    char *key = zframe_strhex(route);
    if (!key)
        return;
    if (!s_hello_allowed(self, key, now)) {
        s_refuse(self, ckey, "hello_rate", "(more Hellos on one connection than allowed)");
        free(key);
        return;
    }
    if (!s_hello_admitted(self, ckey, h)) {
        if (zhashx_size(self->refused) < MAX_HELLO_BUCKETS)
            zhashx_update(self->refused, key, (void *) (uintptr_t) (now ? now : 1));
        free(key);
        return;
    }
    /* a connection that spoke for another agent id before: that agent is gone */
    agent_t *prev = zhashx_lookup(self->by_route, key);
    if (prev && strcmp(prev->id, h->agent_id) != 0)
        s_disconnect(self, prev, "connection now speaks for another agent");
    agent_t *a = zhashx_lookup(self->agents, h->agent_id);
    if (!a && zhashx_size(self->agents) >= AGENT_TABLE_MAX) {
        s_count(self, "statusd_agents_rejected_total",
                "Hellos dropped because the agent table is full", NULL);
        if (!self->full_logged)
            sd_warn(COMP, "agent table full, hello dropped agent=%s max=%d", h->agent_id,
                    AGENT_TABLE_MAX);
        self->full_logged = true;
        free(key);
        return;
    }
    if (!a) {
        a = calloc(1, sizeof *a);
        if (!a || !(a->id = strdup(h->agent_id))) {
            free(a);
            free(key);
            return;
        }
        zhashx_insert(self->agents, a->id, a);
    } else if (a->route_key) {
        /* a reconnect from a new routing id replaces the old one */
        zhashx_delete(self->by_route, a->route_key);
    }
    free(a->region);
    free(a->route_key);
    free(a->key);
    zframe_destroy(&a->routing);
    a->key = ckey ? strdup(ckey) : NULL;
    a->seq_logged = false;
    a->region = strdup(h->region);
    a->route_key = key;
    a->routing = zframe_dup(route);
    a->last_heard = now;
    a->resync = false;
    /* an agent configured slower than the collector is not silent between its heartbeats */
    sd_ms_t hb = agent_heartbeat_ms(self->ctx->heartbeat_ms, h->heartbeat_ms);
    a->heartbeat_ms = hb;
    zhashx_insert(self->by_route, a->route_key, a);
    s_connected_gauge(self);
    s_skew_sample(self, a, h->sent_at_ms, now);

    char period[32];
    snprintf(period, sizeof period, "%" PRId64, (int64_t) hb);
    zmsg_t *m = zmsg_new();
    zmsg_addstr(m, "HELLO");
    zmsg_addstr(m, a->id);
    zmsg_addstr(m, a->region);
    zmsg_addstr(m, h->version);
    zmsg_addstr(m, period); /* the period its silence is judged by (stored for restarts) */
    s_bus_send(self, self->to_ingest, &m, "ingest");
    sd_debug(COMP, "hello agent=%s region=%s version=%s holds_assignment=%" PRIu64, a->id,
             a->region, h->version, h->assignment_version);
}

/* b is the decoded batch (judged here); bytes/n its encoding in the agent's frame, which is
 * what ingest gets: the batch is not packed again on its way to the store and the engine. */
static void s_on_batch(self_t *self, agent_t *a, const Statusd__ResultBatch *b,
                       const uint8_t *bytes, size_t n)
{
    if (a->resync) {
        s_count(self, "statusd_batches_resync_dropped_total",
                "Batches ignored while their agent must reconnect after a lost batch", NULL);
        return;
    }
    /* a seq far ahead would raise the agent's high-water mark beyond every later result */
    uint64_t now_us = (uint64_t) sd_wall_ms() * 1000;
    uint64_t base = a->hwm > now_us ? a->hwm : now_us;
    for (size_t i = 0; i < b->n_results; i++) {
        if (b->results[i]->seq > base + (uint64_t) GATEWAY_SEQ_AHEAD_US) {
            char detail[200];
            snprintf(detail, sizeof detail, "agent=%s seq=%" PRIu64 " hwm=%" PRIu64
                     " (batch dropped)", a->id, b->results[i]->seq, a->hwm);
            if (!a->seq_logged)
                s_refuse(self, a->key, "seq_ahead", detail);
            else
                s_count_refused(self, "seq_ahead");
            a->seq_logged = true;
            return;
        }
    }
    zframe_t *payload = zframe_new(bytes, n);
    if (!payload)
        return;
    zmsg_t *m = zmsg_new();
    zmsg_addstr(m, "BATCH");
    zmsg_addstr(m, a->id);
    zmsg_addstr(m, a->region);
    zmsg_append(m, &payload);
    if (!s_bus_send(self, self->to_ingest, &m, "ingest")) {
        a->resync = true;
        sd_warn(COMP, "batch dropped before storage agent=%s: making it reconnect and resend",
                a->id);
    }
}

static void s_on_heartbeat(self_t *self, agent_t *a, const Statusd__Heartbeat *hb)
{
    if (a->resync)
        return; /* silence makes the agent reconnect */
    s_skew_sample(self, a, hb->sent_at_ms, sd_mono_ms());
    Statusd__Heartbeat out = STATUSD__HEARTBEAT__INIT;
    out.sent_at_ms = sd_wall_ms();
    out.echo_sent_at_ms = hb->sent_at_ms;
    out.assignment_version = a->assignment_version;
    Statusd__Envelope env = STATUSD__ENVELOPE__INIT;
    env.body_case = STATUSD__ENVELOPE__BODY_HEARTBEAT;
    env.heartbeat = &out;
    s_send_env(self, a, &env);
}

/* A message from an id that has not said Hello: dropped unanswered, so the agent's own
 * timeouts make it say Hello again. */
/* Answers a message from a connection that never said Hello (typically an agent of the
 * collector before a restart) with Heartbeat{hello_required}, so it says Hello at once. */
static void s_ask_hello(self_t *self, zframe_t *route)
{
    Statusd__Heartbeat hb = STATUSD__HEARTBEAT__INIT;
    hb.sent_at_ms = sd_wall_ms();
    hb.hello_required = true;
    Statusd__Envelope env = STATUSD__ENVELOPE__INIT;
    env.body_case = STATUSD__ENVELOPE__BODY_HEARTBEAT;
    env.heartbeat = &hb;
    size_t len = statusd__envelope__get_packed_size(&env);
    zframe_t *payload = zframe_new(NULL, len);
    if (!payload)
        return;
    statusd__envelope__pack(&env, zframe_data(payload));
    zmsg_t *m = zmsg_new();
    zframe_t *r = zframe_dup(route);
    zmsg_append(m, &r);
    zmsg_append(m, &payload);
    if (zmsg_send(&m, self->router) != 0)
        zmsg_destroy(&m);
}

static void s_unknown_peer(self_t *self, const char *what)
{
    s_count(self, "statusd_wire_unknown_peer_total",
            "Messages dropped because the sender has not said Hello",
            (const char *[]){"message", what, NULL});
    if (!self->unknown_logged)
        sd_warn(COMP, "message from an agent that has not said Hello dropped kind=%s", what);
    self->unknown_logged = true;
}

static void s_on_router(self_t *self)
{
    zmsg_t *msg = zmsg_recv(self->router);
    if (!msg)
        return;
    sd_ms_t now = sd_mono_ms();
    zframe_t *route = zmsg_pop(msg);
    zframe_t *body = zmsg_pop(msg);
    Statusd__Envelope *env = NULL;
    const char *why = NULL;
    char *rkey = route ? zframe_strhex(route) : NULL;
    agent_t *a = rkey ? zhashx_lookup(self->by_route, rkey) : NULL;
    bool refused = rkey && zhashx_lookup(self->refused, rkey);
    free(rkey);
    /* the sender is judged before its frame is decoded: its key must still be admitted
     * (a removed certificate cuts a connection off), and a connection that has not said
     * Hello may only send something as small as a Hello */
    const char *ckey = self->keys && body ? zframe_meta(body, "User-Id") : NULL;
    if (!route || !body || zmsg_size(msg) != 0) {
        s_malformed(self, "expected exactly one frame");
    } else if (refused) {
        s_count_refused(self, "refused_connection");
    } else if (self->keys && !agent_keys_lookup(self->keys, ckey)) {
        s_refuse(self, ckey, "unknown_key", "(message on a connection whose certificate is "
                 "no longer in the agents directory)");
        if (a)
            s_disconnect(self, a, "certificate removed");
    } else if (a && self->keys && (!a->key || strcmp(a->key, ckey) != 0)) {
        s_refuse(self, ckey, "wrong_key", "(routing id of another key)");
    } else if (!a && zframe_size(body) > GATEWAY_MAX_UNKNOWN_FRAME) {
        s_unknown_peer(self, "large frame");
        s_ask_hello(self, route);
    } else if (wire_check_envelope(zframe_data(body), zframe_size(body), &env, &why) != 0) {
        s_malformed(self, why);
    }
    if (env) {
        switch (env->body_case) {
        case STATUSD__ENVELOPE__BODY_HELLO:
            s_on_hello(self, route, ckey, env->hello, now);
            break;
        case STATUSD__ENVELOPE__BODY_RESULT_BATCH:
            if (!a) {
                s_unknown_peer(self, "result_batch");
                s_ask_hello(self, route);
            } else {
                a->last_heard = now;
                const uint8_t *bytes = NULL;
                size_t n = 0;
                /* wire_check_envelope refused a batch whose bytes are not in one place */
                if (wire_check_batch_bytes(zframe_data(body), zframe_size(body), &bytes, &n))
                    s_malformed(self, "result batch bytes not found");
                else
                    s_on_batch(self, a, env->result_batch, bytes, n);
            }
            break;
        case STATUSD__ENVELOPE__BODY_HEARTBEAT:
            if (!a) {
                s_unknown_peer(self, "heartbeat");
                s_ask_hello(self, route);
            } else {
                a->last_heard = now;
                s_on_heartbeat(self, a, env->heartbeat);
            }
            break;
        default:
            s_malformed(self, "unexpected or empty envelope body");
            break;
        }
        statusd__envelope__free_unpacked(env, NULL);
    }
    zframe_destroy(&route);
    zframe_destroy(&body);
    zmsg_destroy(&msg);
}

/* ---- from ingest ---------------------------------------------------------------------- */

static void s_on_acks(self_t *self)
{
    zmsg_t *msg = zmsg_recv(self->acks);
    if (!msg)
        return;
    char *kind = zmsg_popstr(msg), *id = zmsg_popstr(msg), *num = zmsg_popstr(msg);
    agent_t *a = id ? zhashx_lookup(self->agents, id) : NULL;
    uint64_t seq = num ? strtoull(num, NULL, 10) : 0;
    if (!kind || !num || !id) {
        s_malformed(self, "bus message from ingest");
    } else if (!a) {
        /* the agent went away meanwhile: it will Hello again and learn its hwm then */
    } else if (strcmp(kind, "HWM") == 0) {
        a->hwm = seq;
        s_send_ack(self, a, seq, true);
        s_send_assignment(self, a);
        a->hello_acked = true;
        s_engine_agent(self, a, "UP");
        sd_info(COMP, "agent connected agent=%s region=%s hwm=%" PRIu64, a->id, a->region, seq);
    } else if (strcmp(kind, "ACK") == 0) {
        a->hwm = seq > a->hwm ? seq : a->hwm;
        s_send_ack(self, a, seq, false);
    }
    free(kind);
    free(id);
    free(num);
    zmsg_destroy(&msg);
}

static void s_on_pipe(self_t *self)
{
    zmsg_t *msg = zmsg_recv(self->pipe);
    char *cmd = msg ? zmsg_popstr(msg) : NULL;
    if (!msg || (cmd && strcmp(cmd, "$TERM") == 0))
        self->terminated = true;
    else if (cmd && strcmp(cmd, "ENDPOINT") == 0)
        zstr_send(self->pipe, zsock_endpoint(self->router));
    free(cmd);
    zmsg_destroy(&msg);
}

/* ---- from the engine: adaptive intervals ---------------------------------------------- */

/* ["INTERVAL", asset_id, interval_ms]: remembers the asset's interval and marks the agents
 * that probe it; the new Assignments go out once the queue is drained (s_flush). */
static void s_on_interval(self_t *self)
{
    zmsg_t *msg = zmsg_recv(self->intervals);
    char *kind = msg ? zmsg_popstr(msg) : NULL, *id = msg ? zmsg_popstr(msg) : NULL;
    char *num = msg ? zmsg_popstr(msg) : NULL, *end = NULL;
    unsigned long ms = num ? strtoul(num, &end, 10) : 0;
    const sd_asset_t *asset = id ? sd_manifest_find(self->view.manifest, id) : NULL;
    if (!kind || strcmp(kind, "INTERVAL") != 0 || !num || *end || ms == 0 ||
        ms > SD_PROBE_INTERVAL_MAX_S * 1000UL || !asset) {
        s_malformed(self, "interval message from the engine");
    } else {
        uint32_t normal = (uint32_t) asset->interval_seconds * 1000;
        uint32_t before = (uint32_t) (uintptr_t) zhashx_lookup(self->fast, id);
        uint32_t now = ms == normal ? 0 : (uint32_t) ms;
        if (before != now) {
            if (now)
                zhashx_update(self->fast, id, (void *) (uintptr_t) now);
            else
                zhashx_delete(self->fast, id);
            for (agent_t *a = zhashx_first(self->agents); a; a = zhashx_next(self->agents))
                if (a->hello_acked && assign_applies(asset, a->region))
                    a->assignment_due = self->assignments_due = true;
            sd_info(COMP, "asset interval asset=%s interval_ms=%lu", id, ms);
        }
    }
    free(kind);
    free(id);
    free(num);
    zmsg_destroy(&msg);
}

/* True when an agent's plan may differ between manifests a and b: an asset added, removed,
 * or changed in what the agents do (config_diff.h). */
static bool s_plans_differ(const sd_manifest_t *a, const sd_manifest_t *b)
{
    size_t na = a ? a->n_assets : 0, nb = b ? b->n_assets : 0;
    if (na != nb)
        return true;
    for (size_t i = 0; i < nb; i++) {
        const sd_asset_t *was = sd_manifest_find(a, b->assets[i].id);
        if (!was || (config_diff_asset(a, was, b, &b->assets[i]) & CONFIG_ASSET_PROBE))
            return true;
    }
    return false;
}

/* A reload (config_ref.h): the adaptive interval of an asset that left the manifest or whose
 * interval changed is forgotten (the engine tells the new one), and every agent gets a new
 * plan (s_flush_assignments). Called before any message is handled, so an INTERVAL of a new
 * asset always finds it. */
static void s_on_reload(self_t *self)
{
    config_view_t old;
    if (!config_view_refresh(&self->view, self->ctx->config, &old))
        return;
    zlist_t *gone = zlist_new();
    for (void *v = zhashx_first(self->fast); gone && v; v = zhashx_next(self->fast)) {
        const char *id = zhashx_cursor(self->fast);
        const sd_asset_t *was = sd_manifest_find(old.manifest, id);
        const sd_asset_t *now = sd_manifest_find(self->view.manifest, id);
        if (!now || !was || now->interval_seconds != was->interval_seconds)
            zlist_append(gone, (void *) id);
    }
    for (const char *id = gone ? zlist_first(gone) : NULL; id; id = zlist_next(gone))
        zhashx_delete(self->fast, id);
    zlist_destroy(&gone);
    size_t n = 0;
    bool plans = s_plans_differ(old.manifest, self->view.manifest);
    for (agent_t *a = zhashx_first(self->agents); plans && a; a = zhashx_next(self->agents))
        if (a->hello_acked) {
            a->assignment_due = self->assignments_due = true;
            n++;
        }
    sd_info(COMP, "configuration generation=%llu: new plans for agents=%zu",
            (unsigned long long) self->view.generation, n);
    config_view_release(&old);
}

/* Sends the new plan to every agent marked by s_on_interval, under one new version. */
static void s_flush_assignments(self_t *self)
{
    if (!self->assignments_due)
        return;
    uint64_t wall = (uint64_t) sd_wall_ms();
    self->plan_version = wall > self->plan_version ? wall : self->plan_version + 1;
    for (agent_t *a = zhashx_first(self->agents); a; a = zhashx_next(self->agents)) {
        if (a->assignment_due)
            s_send_assignment(self, a);
        a->assignment_due = false;
    }
    self->assignments_due = false;
}

static void s_free_item(void **item)
{
    free(*item);
    *item = NULL;
}

/* ---- authentication ------------------------------------------------------------------- */

static bool s_judge_key(const char *key_z85, void *arg)
{
    self_t *self = arg;
    return agent_keys_lookup(self->keys, key_z85) != NULL;
}

/* One CURVE handshake to judge: refused keys are counted and logged once per key. */
static void s_on_zap(self_t *self)
{
    char key[41];
    int rc = zap_handle(self->zap, s_judge_key, self, key);
    if (rc == 0)
        s_refuse(self, key, "unknown_key", "(handshake refused: no certificate in the agents "
                 "directory)");
    else if (rc < 0)
        s_malformed(self, "authentication request");
}

/* ---- lifecycle ------------------------------------------------------------------------ */

static void s_self_destroy(self_t **p)
{
    self_t *self = *p;
    if (!self)
        return;
    zpoller_destroy(&self->poller);
    zsock_destroy(&self->router);
    zsock_destroy(&self->acks);
    bus_close(&self->to_ingest);
    bus_close(&self->to_engine);
    zsock_destroy(&self->intervals);
    zhashx_destroy(&self->fast);
    zhashx_destroy(&self->by_route);
    zhashx_destroy(&self->agents);
    zhashx_destroy(&self->hello_rate);
    zhashx_destroy(&self->refused);
    zhashx_destroy(&self->logged_keys);
    zap_destroy(&self->zap);
    agent_keys_destroy(&self->keys);
    config_view_release(&self->view);
    free(self);
    *p = NULL;
}

static zsock_t *s_router(const char *endpoint, const collector_ctx_t *ctx)
{
    zsock_t *s = zsock_new(ZMQ_ROUTER);
    if (!s)
        return NULL;
    zsock_set_router_mandatory(s, 0);
    zsock_set_sndhwm(s, AGENT_HWM);
    zsock_set_rcvhwm(s, BUS_HWM);
    zsock_set_sndtimeo(s, 0);
    zsock_set_linger(s, 0);
    size_t max = ctx->max_frame_bytes ? ctx->max_frame_bytes : GATEWAY_MAX_FRAME_DEFAULT;
    zsock_set_maxmsgsize(s, (int) max);
    if (ctx->server_cert) {
        /* every handshake is judged by our ZAP handler, bound before this socket */
        zsock_set_zap_domain(s, "statusd");
        zsock_set_curve_server(s, 1);
        zcert_apply(ctx->server_cert, s);
    }
    if (zsock_bind(s, "%s", endpoint) < 0) {
        sd_error(COMP, "cannot bind endpoint=%s err=%s", endpoint, zmq_strerror(zmq_errno()));
        zsock_destroy(&s);
    }
    return s;
}

static self_t *s_self_new(zsock_t *pipe, const collector_ctx_t *ctx)
{
    self_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    self->ctx = ctx;
    collector_view(ctx, &self->view);
    self->pipe = pipe;
    health_register(ctx->health, "gateway", HEALTH_LOOP);
    self->plan_version = (uint64_t) sd_wall_ms();
    self->agents = zhashx_new();
    self->by_route = zhashx_new();
    if (self->agents)
        zhashx_set_destructor(self->agents, s_agent_free);
    self->hello_rate = zhashx_new();
    self->logged_keys = zhashx_new();
    self->refused = zhashx_new();
    if (!self->hello_rate || !self->logged_keys || !self->refused) {
        s_self_destroy(&self);
        return NULL;
    }
    zhashx_set_destructor(self->hello_rate, s_free_item);
    if (ctx->server_cert) {
        self->keys = agent_keys_new(ctx->agents_dir);
        self->zap = zap_new();
        if (!self->keys || !self->zap) {
            sd_error(COMP, "cannot start the authentication handler (%s)",
                     self->keys ? "another one is bound in this process" : "out of memory");
            s_self_destroy(&self);
            return NULL;
        }
        s_reload_keys(self, true);
        self->next_keys_reload = sd_mono_ms() + GATEWAY_KEYS_RELOAD_MS;
    }
    self->router = s_router(ctx->bind ? ctx->bind : "tcp://*:5555", ctx);
    self->acks = bus_pull(BUS_ACKS);
    self->intervals = bus_pull(BUS_GATEWAY);
    self->fast = zhashx_new();
    self->to_ingest = bus_push(BUS_INGEST, 0);
    self->to_engine = bus_push(BUS_ENGINE, 0);
    if (self->router && self->acks && self->intervals) {
        self->poller = zpoller_new(pipe, self->router, self->acks, self->intervals, NULL);
        if (self->poller && self->zap)
            zpoller_add(self->poller, self->zap);
    }
    if (!self->agents || !self->by_route || !self->router || !self->acks || !self->intervals ||
        !self->fast ||
        !self->to_ingest || !self->to_engine || !self->poller) {
        s_self_destroy(&self);
        return NULL;
    }
    s_connected_gauge(self);
    return self;
}

static void s_actor(zsock_t *pipe, void *args)
{
    const collector_ctx_t *ctx = (const collector_ctx_t *) args;
    self_t *self = s_self_new(pipe, ctx);
    zsock_signal(pipe, 0);
    if (!self) {
        zstr_send(pipe, "FAIL");
        char *cmd;
        while ((cmd = zstr_recv(pipe)) && strcmp(cmd, "$TERM") != 0)
            zstr_free(&cmd);
        zstr_free(&cmd);
        return;
    }
    zstr_send(pipe, "OK");
    sd_ms_t period = agent_heartbeat_ms(ctx->heartbeat_ms, 0);
    sd_ms_t sweep_every = period / 2 > 50 ? period / 2 : 50;
    self->next_sweep_ms = sd_mono_ms() + sweep_every;
    while (!self->terminated) {
        health_beat(ctx->health, "gateway");
        sd_ms_t now = sd_mono_ms();
        int wait = self->next_sweep_ms > now ? (int) (self->next_sweep_ms - now) : 0;
        if (wait > 1000)
            wait = 1000; /* the health heartbeat goes round at least once a second */
        void *which = zpoller_wait(self->poller, wait);
        s_on_reload(self);
        if (which == self->pipe)
            s_on_pipe(self);
        else if (which == self->router)
            s_on_router(self);
        else if (which == self->acks)
            s_on_acks(self);
        else if (which && which == self->zap)
            s_on_zap(self);
        else if (which == self->intervals) {
            /* drain them all first: an outage of many assets is one new plan per agent */
            for (int i = 0; i < 1000 && (zsock_events(self->intervals) & ZMQ_POLLIN); i++)
                s_on_interval(self);
        }
        else if (zpoller_terminated(self->poller))
            break;
        s_flush_assignments(self);
        now = sd_mono_ms();
        if (now >= self->next_sweep_ms) {
            s_sweep(self, now);
            self->next_sweep_ms = now + sweep_every;
        }
        if (self->keys && now >= self->next_keys_reload) {
            s_reload_keys(self, false);
            self->next_keys_reload = now + GATEWAY_KEYS_RELOAD_MS;
        }
    }
    s_self_destroy(&self);
}

zactor_t *gateway_new(const collector_ctx_t *ctx)
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

char *gateway_endpoint(zactor_t *gateway)
{
    if (!gateway || zstr_send(gateway, "ENDPOINT") != 0)
        return NULL;
    return zstr_recv(gateway);
}
