/* notifier: the delivery actor (see notifier.h).
 *
 * DELIVERY RULES
 *  - Rows are leased from the outbox (store_outbox_lease: due, pending, not in flight here,
 *    outcome not held here, channel not paused, a RECOVERY only after its incident's
 *    DOWN/REMINDER on that channel is sent or dead); the lease pushes next_attempt_at
 *    lease_s (60 s) ahead, so a crash mid-send retries the row later (a receiver without
 *    dedup may then see it twice; HTTP has no exactly-once).
 *  - A channel's request is an HTTP POST or a mail over SMTP (channel.h): for SMTP the
 *    envelope, credentials and TLS mode come from the request, the message is streamed as
 *    DATA, and the reply code (CURLINFO_RESPONSE_CODE, also after a failed transfer) and
 *    the server's last 4yz/5yz reply text are what is classified and stored.
 *  - At most NOTIFIER_MAX_INFLIGHT requests run at once on one curl multi handle; one
 *    in-flight attempt per row. Timeouts: connect 5 s, total 15 s. No redirects.
 *  - Outcome per channel_ops classify (each channel's table): SENT -> status sent +
 *    incident event 'notified'; RETRY -> attempts+1 and next_attempt_at = now + Retry-After
 *    (clamped to 1 s .. 1 h) or else exponential backoff with full jitter:
 *    uniform(1 s, min(5 min, 1 s * 2^attempts)); a 429 (or Teams' 200 "HTTP error 429")
 *    also pauses every row of that channel (destination) for the same delay; DEAD -> status
 *    dead. A row still failing 24 h after it was queued is marked dead.
 *  - An outcome is known once the answer is classified: it is written through outcomes.c,
 *    which holds it in memory when the database cannot take it and writes it at a later
 *    poll (backoff 1 s .. 30 s), before anything new is leased. A held row is excluded from
 *    leases: a known outcome is never sent again. Leasing stops short of the bound on held
 *    outcomes, so one is never dropped while the notifier runs.
 *  - Every error text (answer bodies, libcurl and libpq messages) is made one line of
 *    valid UTF-8, bounded, before it is logged or stored: PostgreSQL refuses invalid UTF-8,
 *    and a row whose outcome cannot be written would be sent again.
 *  - Polls every 1 s; a KICK on BUS_NOTIFY polls at once. A failed database call (the
 *    connection dropped) is retried at the next poll after store_ensure reconnects. Only
 *    this thread blocks on the database; HTTP never blocks (curl_multi_poll with the ZeroMQ
 *    fds as extra fds).
 * Metrics: statusd_notifications_sent_total{channel},
 * statusd_notifications_failed_total{channel,reason}, statusd_notifications_pending,
 * statusd_notifications_unrecorded (outcomes held in memory),
 * statusd_notifications_record_failed_total (outcomes that had to be held). */
#include "notifier.h"

#include <curl/curl.h>
#include <errno.h>
#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bus.h"
#include "channel.h"
#include "channel_curl.h"
#include "digest.h"
#include "health.h"
#include "outcomes.h"
#include "sd_clock.h"
#include "sd_log.h"
#include "sd_utf8.h"
#include "store.h"
#include "store_health.h"
#include "store_outbox.h"

#define COMP "notifier"
#define NOTIFIER_MAX_INFLIGHT 32
/* outcomes held while the database is away: room for several in-flight rounds */
#define MAX_HELD (8 * NOTIFIER_MAX_INFLIGHT)
#define POLL_MS 1000
#define DUE_MARGIN_MS 50
#define LEASE_S 60
#define CONNECT_TIMEOUT_MS 5000
#define TOTAL_TIMEOUT_MS 15000
#define BACKOFF_BASE_MS 1000
#define BACKOFF_CAP_MS (5 * 60 * 1000)
#define RETRY_AFTER_MAX_MS (3600 * 1000)
#define GIVE_UP_MS ((int64_t) 24 * 3600 * 1000)
#define ERR_MAX 512      /* bytes of an error text, logged and stored */
#define MAX_PAUSED 64

typedef struct {
    outbox_row_t row;
    CURL *easy;
    channel_curl_t cc;         /* the request, its curl lists and the answer */
    const channel_ops_t *ops;
    const json_t *conf;        /* the notifier's notifiers.json object (ops->learn) */
    const config_snap_t *snap; /* the configuration conf belongs to, held until it ends */
} delivery_t;

typedef struct {
    char *channel;
    sd_ms_t until;
} pause_t;

typedef struct {
    const collector_ctx_t *ctx;
    config_view_t view;        /* the notifiers of the next delivery (a reload: the new ones) */
    notifier_opts_t opts;
    zsock_t *pipe;
    zsock_t *pull;
    store_t *store;
    outcomes_t *outcomes;
    CURLM *multi;
    delivery_t *inflight[NOTIFIER_MAX_INFLIGHT];
    size_t n_inflight;
    pause_t paused[MAX_PAUSED];
    size_t n_paused;
    sd_ms_t next_poll;
    sd_ms_t next_due; /* the earliest retry known to come due, 0: none (polls meet it) */
    uint64_t rng;
    bool db_failing;
    sd_ms_t next_beat_write;   /* the health heartbeat row (health.h) */
    bool logged_full, logged_paused_full, logged_held_full;
    bool terminated;
} self_t;

typedef struct {
    const collector_ctx_t *ctx;
    notifier_opts_t opts;
    bool ok;
} start_t;

static void s_metric(self_t *self, const char *name, const char *help, const char *const *labels)
{
    if (self->ctx->metrics)
        metrics_add(self->ctx->metrics, name, help, labels, 1);
}

static void s_bound_hit(self_t *self, const char *bound, bool *logged, const char *what, int max)
{
    s_metric(self, "statusd_notifier_bound_hit_total", "Notifier bounds that were hit.",
             (const char *[]){"bound", bound, NULL});
    if (!*logged)
        sd_warn(COMP, "%s max=%d (logged once)", what, max);
    *logged = true;
}

static void s_db_result(self_t *self, int rc, const char *what, const char *err)
{
    char safe[ERR_MAX];
    sd_utf8_scopy(safe, sizeof safe, err, SD_UTF8_ONE_LINE | SD_UTF8_ELLIPSIS);
    if (rc != 0)
        health_db_failed(self->ctx->health, COMP, safe);
    if (rc != 0 && !self->db_failing)
        sd_error(COMP, "%s failed err=\"%s\" (logged once per streak)", what, safe);
    else if (rc == 0 && self->db_failing)
        sd_info(COMP, "database usable again");
    self->db_failing = rc != 0;
}

static void s_delivery_free(delivery_t **p)
{
    if (!p || !*p)
        return;
    delivery_t *d = *p;
    if (d->easy)
        curl_easy_cleanup(d->easy);
    channel_curl_release(&d->cc);
    free(d->row.asset_id);
    free(d->row.event);
    free(d->row.channel);
    free(d->row.payload);
    config_snap_put(&d->snap);
    free(d);
    *p = NULL;
}

/* ---- pausing (per destination on 429) ------------------------------------------------ */

static void s_pause(self_t *self, const char *channel, sd_ms_t until)
{
    for (size_t i = 0; i < self->n_paused; i++)
        if (strcmp(self->paused[i].channel, channel) == 0) {
            if (until > self->paused[i].until)
                self->paused[i].until = until;
            return;
        }
    if (self->n_paused == MAX_PAUSED) {
        s_bound_hit(self, "paused_channels", &self->logged_paused_full,
                    "too many paused channels", MAX_PAUSED);
        return;
    }
    char *c = strdup(channel);
    if (c)
        self->paused[self->n_paused++] = (pause_t){c, until};
}

static void s_expire_pauses(self_t *self, sd_ms_t now)
{
    for (size_t i = 0; i < self->n_paused;) {
        if (self->paused[i].until <= now) {
            free(self->paused[i].channel);
            self->paused[i] = self->paused[--self->n_paused];
        } else {
            i++;
        }
    }
}

/* ---- outcomes ------------------------------------------------------------------------ */

/* xorshift64*: a private generator, so the jitter neither touches nor depends on the
 * process-wide random() state */
static uint64_t s_rand(self_t *self)
{
    uint64_t x = self->rng;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    self->rng = x;
    return x * 0x2545F4914F6CDD1DULL;
}

static int64_t s_backoff_ms(self_t *self, int attempts)
{
    int64_t cap = BACKOFF_BASE_MS;
    for (int i = 0; i < attempts && cap < BACKOFF_CAP_MS; i++)
        cap *= 2;
    if (cap > BACKOFF_CAP_MS)
        cap = BACKOFF_CAP_MS;
    int64_t d = (int64_t) (s_rand(self) % (uint64_t) (cap + 1)); /* full jitter */
    return d < BACKOFF_BASE_MS ? BACKOFF_BASE_MS : d;
}

/* Writes the known outcome; when the database cannot take it, outcomes.c holds it and the
 * row stays excluded from leases until a later poll writes it. */
static void s_record(self_t *self, const outbox_row_t *r, channel_verdict_t v, int64_t delay,
                     const char *error)
{
    char err[ERR_MAX] = "";
    int rc = outcomes_record(self->outcomes, self->store, r->id, v, delay, error, sd_mono_ms(),
                             err, sizeof err);
    if (rc == -EIO) {
        s_metric(self, "statusd_notifications_record_failed_total",
                 "Delivery outcomes the database could not take at once (held, written later).",
                 NULL);
        sd_warn(COMP, "outcome of id=%lld held until the database takes it", (long long) r->id);
    } else if (rc == -ENOSPC) {
        s_bound_hit(self, "held_outcomes", &self->logged_held_full,
                    "held outcomes full, the row will be sent again", MAX_HELD);
    }
    s_db_result(self, rc, "record outcome", err);
}

/* Applies the verdict of one attempt: logs it, counts it, records it. error: any bytes. */
static void s_finish(self_t *self, delivery_t *d, channel_outcome_t o, const char *raw_error)
{
    const outbox_row_t *r = &d->row;
    const char *ch = r->channel;
    char error[ERR_MAX];
    sd_utf8_scopy(error, sizeof error, raw_error, SD_UTF8_ONE_LINE | SD_UTF8_ELLIPSIS);
    if (o.verdict == CHANNEL_RETRY && sd_wall_ms() - r->created_ms > GIVE_UP_MS) {
        o.verdict = CHANNEL_DEAD;
        o.reason = "gave_up";
    }
    int64_t delay = 0;
    if (o.verdict == CHANNEL_SENT) {
        s_metric(self, "statusd_notifications_sent_total", "Notifications delivered, by channel.",
                 (const char *[]){"channel", ch, NULL});
        sd_info(COMP, "sent id=%lld event=%s channel=%s asset=%s attempt=%d", (long long) r->id,
                r->event, ch, r->asset_id, r->attempts + 1);
    } else if (o.verdict == CHANNEL_RETRY) {
        delay = o.retry_after_s >= 0 ? o.retry_after_s * 1000 : s_backoff_ms(self, r->attempts);
        if (delay < BACKOFF_BASE_MS)
            delay = BACKOFF_BASE_MS;
        if (delay > RETRY_AFTER_MAX_MS)
            delay = RETRY_AFTER_MAX_MS;
        if (strcmp(o.reason, "rate_limited") == 0)
            s_pause(self, ch, sd_mono_ms() + delay);
        /* poll when it is due rather than up to POLL_MS later; the margin covers the
         * database's clock reading the due time a little after ours */
        sd_ms_t due = sd_mono_ms() + delay + DUE_MARGIN_MS;
        if (!self->next_due || due < self->next_due)
            self->next_due = due;
        sd_warn(COMP, "retry id=%lld channel=%s attempt=%d reason=%s in_ms=%lld err=\"%s\"",
                (long long) r->id, ch, r->attempts + 1, o.reason, (long long) delay, error);
    } else {
        sd_error(COMP, "dead id=%lld event=%s channel=%s asset=%s reason=%s err=\"%s\"",
                 (long long) r->id, r->event, ch, r->asset_id, o.reason, error);
    }
    if (o.verdict != CHANNEL_SENT)
        s_metric(self, "statusd_notifications_failed_total",
                 "Failed notification attempts, by channel and reason.",
                 (const char *[]){"channel", ch, "reason", o.reason, NULL});
    s_record(self, r, o.verdict, delay, error);
    if (o.verdict != CHANNEL_RETRY)
        self->next_poll = sd_mono_ms(); /* a RECOVERY held back by this row may be due now */
}

static void s_drain_done(self_t *self)
{
    CURLMsg *m;
    int left;
    while ((m = curl_multi_info_read(self->multi, &left))) {
        if (m->msg != CURLMSG_DONE)
            continue;
        delivery_t *d = NULL;
        curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **) &d);
        CURLcode code = m->data.result;
        curl_multi_remove_handle(self->multi, m->easy_handle);
        char error[ERR_MAX];
        char note[ERR_MAX] = "";
        channel_outcome_t o = channel_curl_outcome(d->ops, d->conf, d->easy, (int) code, &d->cc,
                                                   error, sizeof error, note, sizeof note);
        if (*note)
            sd_warn(COMP, "notifier %s: %s", d->row.channel, note);
        for (size_t i = 0; i < self->n_inflight; i++)
            if (self->inflight[i] == d) {
                self->inflight[i] = self->inflight[--self->n_inflight];
                break;
            }
        s_finish(self, d, o, error);
        s_delivery_free(&d);
    }
}

/* ---- starting deliveries ------------------------------------------------------------- */

static const sd_notifier_conf_t *s_notifier(const self_t *self, const char *name)
{
    const sd_notifiers_t *n = self->view.notifiers;
    for (size_t i = 0; n && i < n->n_notifiers; i++)
        if (n->notifiers[i].name && strcmp(n->notifiers[i].name, name) == 0)
            return &n->notifiers[i];
    return NULL;
}

/* Takes ownership of row's strings. 0 when the request is running; otherwise the row was
 * already classified (dead: unknown channel, render error). */
static void s_start(self_t *self, outbox_row_t *row)
{
    delivery_t *d = calloc(1, sizeof *d);
    if (!d)
        return; /* the lease expires and the row is retried */
    d->row = *row;
    memset(row, 0, sizeof *row);
    char err[256] = "";
    const sd_notifier_conf_t *nc = s_notifier(self, d->row.channel);
    d->ops = nc ? channel_find(nc->type) : NULL;
    d->conf = nc ? nc->raw : NULL;
    d->snap = config_snap_ref(self->view.snap);
    if (!nc || !d->ops || (!d->ops->prepare && !nc->webhook_url)) {
        snprintf(err, sizeof err, "no notifier '%s' of a known type in notifiers.json",
                 d->row.channel);
        s_finish(self, d, (channel_outcome_t){CHANNEL_DEAD, -1, "config_error"}, err);
        s_delivery_free(&d);
        return;
    }
    json_error_t je;
    json_t *ev = json_loads(d->row.payload, 0, &je);
    if (ev && strcmp(d->row.event, "DIGEST") == 0) {
        /* a storm digest: one message naming the pages collapsed into it */
        size_t members = 0;
        json_t *digest = digest_event(ev, &members);
        json_decref(ev);
        ev = digest;
        if (ev && members == 0) {
            /* its pages all went out another way: nothing to say */
            json_decref(ev);
            sd_info(COMP, "empty digest id=%lld channel=%s: nothing to send",
                    (long long) d->row.id, d->row.channel);
            s_record(self, &d->row, CHANNEL_SENT, 0, "");
            s_delivery_free(&d);
            return;
        }
        if (ev)
            sd_info(COMP, "digest id=%lld channel=%s: %zu collapsed page(s) in one message",
                    (long long) d->row.id, d->row.channel, members);
    }
    channel_msg_t msg = {.row_id = d->row.id, .incident_id = d->row.incident_id,
                         .attempts = d->row.attempts, .now_ms = sd_wall_ms()};
    int rc = ev ? channel_prepare(d->ops, nc->raw, nc->webhook_url, ev, &msg, &d->cc.req, err,
                                  sizeof err)
                : -EINVAL;
    json_decref(ev);
    d->easy = rc == 0 ? curl_easy_init() : NULL;
    if (rc == 0 && (!d->easy || channel_curl_setup(d->easy, &d->cc,
                                                   (long) self->opts.connect_timeout_ms,
                                                   (long) self->opts.timeout_ms) != 0))
        rc = -ENOMEM;
    if (rc != 0) {
        s_finish(self, d, (channel_outcome_t){CHANNEL_DEAD, -1, "render_error"},
                 *err ? err : "cannot build the request");
        s_delivery_free(&d);
        return;
    }
    CURL *e = d->easy;
    curl_easy_setopt(e, CURLOPT_PRIVATE, (char *) d);
    if (curl_multi_add_handle(self->multi, e) != CURLM_OK) {
        s_finish(self, d, (channel_outcome_t){CHANNEL_RETRY, -1, "internal"}, "curl_multi_add");
        s_delivery_free(&d);
        return;
    }
    self->inflight[self->n_inflight++] = d;
}

/* Writes the held outcomes when their backoff allows: outcomes_flush's 0, -EAGAIN, -EIO. */
static int s_flush_held(self_t *self)
{
    char err[ERR_MAX] = "";
    size_t written = 0;
    int rc = outcomes_flush(self->outcomes, self->store, sd_mono_ms(), &written, err, sizeof err);
    if (written)
        sd_info(COMP, "wrote %zu held outcome(s), %zu still held", written,
                outcomes_held(self->outcomes));
    if (rc != -EAGAIN)
        s_db_result(self, rc, "record held outcomes", err);
    if (self->ctx->metrics)
        metrics_set(self->ctx->metrics, "statusd_notifications_unrecorded",
                    "Delivery outcomes known but not yet written to the database.", NULL,
                    (double) outcomes_held(self->outcomes));
    return rc;
}

/* How many rows to lease now: free in-flight places, with a held-outcome place kept for
 * every request in flight or leased (so a known outcome is never dropped). */
static size_t s_lease_room(self_t *self)
{
    size_t room = NOTIFIER_MAX_INFLIGHT - self->n_inflight;
    size_t spare = outcomes_room(self->outcomes);
    spare = spare > self->n_inflight ? spare - self->n_inflight : 0;
    if (spare < room) {
        room = spare;
        s_bound_hit(self, "held_outcomes", &self->logged_held_full,
                    "held outcomes near full, leasing less", MAX_HELD);
    }
    if (self->n_inflight == NOTIFIER_MAX_INFLIGHT)
        s_bound_hit(self, "inflight", &self->logged_full, "in-flight limit reached",
                    NOTIFIER_MAX_INFLIGHT);
    return room;
}

static void s_poll_outbox(self_t *self)
{
    char err[ERR_MAX] = "";
    if (store_ensure(self->store) != 0) {
        s_db_result(self, -EIO, "connect", "database unreachable");
        return;
    }
    /* known outcomes first; when the database just refused them, lease nothing either (the
     * held rows stay excluded from leases while they wait for the next try) */
    if (s_flush_held(self) == -EIO)
        return;
    s_expire_pauses(self, sd_mono_ms());
    size_t room = s_lease_room(self);
    int64_t ids[NOTIFIER_MAX_INFLIGHT + MAX_HELD];
    const char *paused[MAX_PAUSED];
    size_t n_ids = 0;
    for (size_t i = 0; i < self->n_inflight; i++)
        ids[n_ids++] = self->inflight[i]->row.id;
    n_ids += outcomes_ids(self->outcomes, ids + n_ids, MAX_HELD);
    for (size_t i = 0; i < self->n_paused; i++)
        paused[i] = self->paused[i].channel;
    outbox_row_t *rows = NULL;
    size_t n = 0;
    int rc = room ? store_outbox_lease(self->store, (int) room, self->opts.lease_s, ids, n_ids,
                                       paused, self->n_paused, &rows, &n, err, sizeof err)
                  : 0;
    s_db_result(self, rc, "lease", err);
    if (rc == 0 && sd_mono_ms() >= self->next_beat_write) {
        /* the health heartbeat row: proof that the notifier can write while idle */
        self->next_beat_write = sd_mono_ms() + health_write_interval_ms(self->ctx->health);
        int brc = store_health_beat(self->store, COMP, err, sizeof err);
        s_db_result(self, brc, "heartbeat", err);
        if (brc == 0)
            health_db_ok(self->ctx->health, COMP);
    }
    for (size_t i = 0; rc == 0 && i < n; i++)
        s_start(self, &rows[i]);
    store_outbox_rows_free(rows, n);
    int64_t pending = 0;
    if (store_outbox_pending(self->store, &pending, err, sizeof err) == 0 && self->ctx->metrics)
        metrics_set(self->ctx->metrics, "statusd_notifications_pending",
                    "Outbox rows not yet sent or dead.", NULL, (double) pending);
}

/* ---- actor --------------------------------------------------------------------------- */

static void s_self_destroy(self_t **p)
{
    if (!p || !*p)
        return;
    self_t *self = *p;
    for (size_t i = 0; i < self->n_inflight; i++) {
        curl_multi_remove_handle(self->multi, self->inflight[i]->easy);
        s_delivery_free(&self->inflight[i]); /* the lease expires; the row is retried */
    }
    for (size_t i = 0; i < self->n_paused; i++)
        free(self->paused[i].channel);
    if (self->multi)
        curl_multi_cleanup(self->multi);
    zsock_destroy(&self->pull);
    /* held outcomes are lost here: their rows are sent again once their lease expires */
    outcomes_destroy(&self->outcomes);
    store_destroy(&self->store);
    config_view_release(&self->view);
    free(self);
    *p = NULL;
}

static self_t *s_self_new(zsock_t *pipe, const start_t *start)
{
    self_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    const collector_ctx_t *ctx = start->ctx;
    self->ctx = ctx;
    collector_view(ctx, &self->view);
    self->opts = start->opts;
    health_register(ctx->health, COMP, HEALTH_LOOP | HEALTH_WRITES);
    self->pipe = pipe;
    self->rng = (uint64_t) sd_wall_us() ^ ((uint64_t) sd_mono_us() << 20) ^ (uintptr_t) self;
    if (!self->rng)
        self->rng = 0x9E3779B97F4A7C15ULL;
    char err[ERR_MAX] = "";
    self->store = store_new(ctx->db_conninfo, err, sizeof err);
    if (!self->store) {
        sd_utf8_fix(err, sizeof err - 1, SD_UTF8_ONE_LINE);
        sd_error(COMP, "cannot connect to the database err=\"%s\"", err);
        s_self_destroy(&self);
        return NULL;
    }
    self->outcomes = outcomes_new(MAX_HELD);
    self->pull = bus_pull(BUS_NOTIFY);
    self->multi = curl_multi_init();
    if (!self->outcomes || !self->pull || !self->multi) {
        sd_error(COMP, "cannot bind endpoint=%s", BUS_NOTIFY);
        s_self_destroy(&self);
        return NULL;
    }
    return self;
}

/* Reads every queued message of both sockets (their fds are edge-triggered). */
static void s_drain_sockets(self_t *self)
{
    while (zsock_events(self->pipe) & ZMQ_POLLIN) {
        zmsg_t *m = zmsg_recv(self->pipe);
        char *cmd = m ? zmsg_popstr(m) : NULL;
        if (!cmd || strcmp(cmd, "$TERM") == 0)
            self->terminated = true;
        free(cmd);
        zmsg_destroy(&m);
        if (self->terminated)
            return;
    }
    while (zsock_events(self->pull) & ZMQ_POLLIN) {
        zmsg_t *m = zmsg_recv(self->pull);
        zmsg_destroy(&m);
        self->next_poll = sd_mono_ms(); /* KICK (anything else is harmless: poll now) */
    }
}

static void s_notifier_actor(zsock_t *pipe, void *args)
{
    start_t *start = args;
    self_t *self = s_self_new(pipe, start);
    start->ok = self != NULL;
    zsock_signal(pipe, 0);
    if (!self)
        return;
    self->next_poll = sd_mono_ms();
    struct curl_waitfd extra[2] = {{.fd = zsock_fd(pipe), .events = CURL_WAIT_POLLIN},
                                   {.fd = zsock_fd(self->pull), .events = CURL_WAIT_POLLIN}};
    while (!self->terminated) {
        health_beat(self->ctx->health, COMP);
        /* a reload: the next delivery uses the new notifiers; one in flight keeps its own */
        config_view_t old;
        config_view_refresh(&self->view, self->ctx->config, &old);
        config_view_release(&old);
        s_drain_sockets(self);
        if (self->terminated)
            break;
        if (self->next_due && sd_mono_ms() >= self->next_due) {
            self->next_due = 0;
            self->next_poll = sd_mono_ms();
        }
        if (sd_mono_ms() >= self->next_poll) {
            /* before the poll, so that a poll asking for another one at once is heard */
            self->next_poll = sd_mono_ms() + POLL_MS;
            s_poll_outbox(self);
        }
        int running = 0;
        curl_multi_perform(self->multi, &running);
        s_drain_done(self);
        long ct = -1;
        curl_multi_timeout(self->multi, &ct);
        sd_ms_t wait = self->next_poll - sd_mono_ms();
        if (self->next_due && self->next_due - sd_mono_ms() < wait)
            wait = self->next_due - sd_mono_ms();
        if (ct >= 0 && ct < wait)
            wait = ct;
        if (wait < 0)
            wait = 0;
        /* drain again: a send may have made a socket readable without an fd edge */
        if ((zsock_events(pipe) & ZMQ_POLLIN) || (zsock_events(self->pull) & ZMQ_POLLIN))
            continue;
        curl_multi_poll(self->multi, extra, 2, (int) wait, NULL);
    }
    s_self_destroy(&self);
}

zactor_t *notifier_new(const collector_ctx_t *ctx)
{
    return notifier_new_opts(ctx, NULL);
}

zactor_t *notifier_new_opts(const collector_ctx_t *ctx, const notifier_opts_t *opts)
{
    start_t start = {ctx, opts ? *opts : (notifier_opts_t){0}, false};
    notifier_opts_t *o = &start.opts;
    if (o->lease_s <= 0)
        o->lease_s = LEASE_S;
    if (o->connect_timeout_ms <= 0)
        o->connect_timeout_ms = CONNECT_TIMEOUT_MS;
    if (o->timeout_ms <= 0)
        o->timeout_ms = TOTAL_TIMEOUT_MS;
    /* a lease shorter than a request would let a row in flight be leased again elsewhere */
    if ((int64_t) o->lease_s * 1000 < (int64_t) o->timeout_ms + 1000)
        o->lease_s = o->timeout_ms / 1000 + 2;
    /* libcurl's global init is not thread-safe: do it here, on the caller's thread
     * (reference counted, so main() may call it too) */
    curl_global_init(CURL_GLOBAL_DEFAULT);
    zactor_t *actor = zactor_new(s_notifier_actor, &start);
    if (actor && !start.ok)
        zactor_destroy(&actor);
    return actor;
}
