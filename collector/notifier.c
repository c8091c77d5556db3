/* notifier: the delivery actor (see notifier.h).
 *
 * DELIVERY RULES
 *  - Rows are leased from the outbox (store_outbox_lease: due, pending, not in flight here,
 *    channel not paused, a RECOVERY only after its incident's DOWN/REMINDER on that channel
 *    is sent or dead); the lease pushes next_attempt_at 60 s ahead, so a crash mid-send
 *    retries the row later (a receiver without dedup may then see it twice; HTTP has no
 *    exactly-once).
 *  - At most NOTIFIER_MAX_INFLIGHT requests run at once on one curl multi handle; one
 *    in-flight attempt per row. Timeouts: connect 5 s, total 15 s. No redirects.
 *  - Outcome per channel_ops classify: SENT -> status sent + incident event 'notified';
 *    RETRY -> attempts+1 and next_attempt_at = now + Retry-After (clamped to 1 s .. 1 h)
 *    or else exponential backoff with full jitter: uniform(1 s, min(5 min, 1 s * 2^attempts));
 *    a 429 also pauses every row of that channel (destination) for the same delay;
 *    DEAD -> status dead. A row still failing 24 h after it was queued is marked dead.
 *  - Polls every 1 s; a KICK on BUS_NOTIFY polls at once. Only this thread blocks on the
 *    database; HTTP never blocks (curl_multi_poll with the ZeroMQ fds as extra fds).
 * Metrics: statusd_notifications_sent_total{channel},
 * statusd_notifications_failed_total{channel,reason}, statusd_notifications_pending. */
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
#include "sd_clock.h"
#include "sd_log.h"
#include "store.h"
#include "store_outbox.h"

#define COMP "notifier"
#define NOTIFIER_MAX_INFLIGHT 32
#define POLL_MS 1000
#define LEASE_S 60
#define CONNECT_TIMEOUT_S 5
#define TOTAL_TIMEOUT_S 15
#define BACKOFF_BASE_MS 1000
#define BACKOFF_CAP_MS (5 * 60 * 1000)
#define RETRY_AFTER_MAX_MS (3600 * 1000)
#define GIVE_UP_MS ((int64_t) 24 * 3600 * 1000)
#define RESP_MAX 4096
#define MAX_PAUSED 64

typedef struct {
    outbox_row_t row;
    CURL *easy;
    struct curl_slist *headers;
    char *body;
    char resp[RESP_MAX + 1];
    size_t resp_len;
    const channel_ops_t *ops;
} delivery_t;

typedef struct {
    char *channel;
    sd_ms_t until;
} pause_t;

typedef struct {
    const collector_ctx_t *ctx;
    zsock_t *pipe;
    zsock_t *pull;
    store_t *store;
    CURLM *multi;
    delivery_t *inflight[NOTIFIER_MAX_INFLIGHT];
    size_t n_inflight;
    pause_t paused[MAX_PAUSED];
    size_t n_paused;
    sd_ms_t next_poll;
    uint64_t rng;
    bool db_failing;
    bool logged_full, logged_paused_full;
    bool terminated;
} self_t;

typedef struct {
    const collector_ctx_t *ctx;
    bool ok;
} start_t;

static void s_metric(self_t *self, const char *name, const char *help, const char *const *labels)
{
    if (self->ctx->metrics)
        metrics_add(self->ctx->metrics, name, help, labels, 1);
}

static void s_db_result(self_t *self, int rc, const char *what, const char *err)
{
    if (rc != 0 && !self->db_failing)
        sd_error(COMP, "%s failed err=%s (logged once per streak)", what, err);
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
    curl_slist_free_all(d->headers);
    free(d->body);
    free(d->row.asset_id);
    free(d->row.event);
    free(d->row.channel);
    free(d->row.payload);
    free(d);
    *p = NULL;
}

static size_t s_write_cb(char *ptr, size_t size, size_t nmemb, void *ud)
{
    delivery_t *d = ud;
    size_t n = size * nmemb, room = RESP_MAX - d->resp_len;
    size_t take = n < room ? n : room;
    memcpy(d->resp + d->resp_len, ptr, take);
    d->resp_len += take;
    d->resp[d->resp_len] = 0;
    return n; /* the excess is discarded, not an error */
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
        s_metric(self, "statusd_notifier_bound_hit_total", "Notifier bounds that were hit.",
                 (const char *[]){"bound", "paused_channels", NULL});
        if (!self->logged_paused_full)
            sd_warn(COMP, "too many paused channels max=%d (logged once)", MAX_PAUSED);
        self->logged_paused_full = true;
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

static void s_finish(self_t *self, delivery_t *d, channel_outcome_t o, const char *error)
{
    char err[512] = "";
    const outbox_row_t *r = &d->row;
    int rc = 0;
    const char *ch = r->channel;
    if (o.verdict == CHANNEL_RETRY && sd_wall_ms() - r->created_ms > GIVE_UP_MS) {
        o.verdict = CHANNEL_DEAD;
        o.reason = "gave_up";
    }
    if (o.verdict == CHANNEL_SENT) {
        rc = store_outbox_mark_sent(self->store, r->id, err, sizeof err);
        s_metric(self, "statusd_notifications_sent_total", "Notifications delivered, by channel.",
                 (const char *[]){"channel", ch, NULL});
        sd_info(COMP, "sent id=%lld event=%s channel=%s asset=%s attempt=%d", (long long) r->id,
                r->event, ch, r->asset_id, r->attempts + 1);
    } else if (o.verdict == CHANNEL_RETRY) {
        int64_t delay =
            o.retry_after_s >= 0 ? o.retry_after_s * 1000 : s_backoff_ms(self, r->attempts);
        if (delay < BACKOFF_BASE_MS)
            delay = BACKOFF_BASE_MS;
        if (delay > RETRY_AFTER_MAX_MS)
            delay = RETRY_AFTER_MAX_MS;
        if (strcmp(o.reason, "rate_limited") == 0)
            s_pause(self, ch, sd_mono_ms() + delay);
        rc = store_outbox_mark_retry(self->store, r->id, delay, error, err, sizeof err);
        sd_warn(COMP, "retry id=%lld channel=%s attempt=%d in_ms=%lld err=\"%s\"",
                (long long) r->id, ch, r->attempts + 1, (long long) delay, error);
    } else {
        rc = store_outbox_mark_dead(self->store, r->id, error, err, sizeof err);
        sd_error(COMP, "dead id=%lld event=%s channel=%s asset=%s reason=%s err=\"%s\"",
                 (long long) r->id, r->event, ch, r->asset_id, o.reason, error);
    }
    if (o.verdict != CHANNEL_RETRY)
        self->next_poll = sd_mono_ms(); /* a RECOVERY held back by this row may be due now */
    if (o.verdict != CHANNEL_SENT)
        s_metric(self, "statusd_notifications_failed_total",
                 "Failed notification attempts, by channel and reason.",
                 (const char *[]){"channel", ch, "reason", o.reason, NULL});
    s_db_result(self, rc, "record outcome", err);
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
        char error[400];
        channel_outcome_t o;
        if (code == CURLE_OK) {
            long status = 0;
            curl_off_t ra = -1;
            curl_easy_getinfo(d->easy, CURLINFO_RESPONSE_CODE, &status);
            if (curl_easy_getinfo(d->easy, CURLINFO_RETRY_AFTER, &ra) != CURLE_OK || ra <= 0)
                ra = -1;
            o = d->ops->classify(status, d->resp, d->resp_len, (long) ra);
            snprintf(error, sizeof error, "HTTP %ld: %.200s", status, d->resp);
        } else {
            o = channel_classify_transport((int) code);
            snprintf(error, sizeof error, "%s", curl_easy_strerror(code));
        }
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
    const sd_notifiers_t *n = self->ctx->notifiers;
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
    if (!nc || !d->ops || !nc->webhook_url) {
        snprintf(err, sizeof err, "no notifier '%s' of a known type in notifiers.json",
                 d->row.channel);
        s_finish(self, d, (channel_outcome_t){CHANNEL_DEAD, -1, "config_error"}, err);
        s_delivery_free(&d);
        return;
    }
    json_error_t je;
    json_t *ev = json_loads(d->row.payload, 0, &je);
    d->body = ev ? d->ops->render(ev, err, sizeof err) : NULL;
    json_decref(ev);
    d->easy = d->body ? curl_easy_init() : NULL;
    d->headers = curl_slist_append(NULL, "Content-Type: application/json");
    if (!d->body || !d->easy || !d->headers) {
        s_finish(self, d, (channel_outcome_t){CHANNEL_DEAD, -1, "render_error"},
                 *err ? err : "cannot build the request");
        s_delivery_free(&d);
        return;
    }
    CURL *e = d->easy;
    curl_easy_setopt(e, CURLOPT_URL, nc->webhook_url);
    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(e, CURLOPT_POST, 1L);
    curl_easy_setopt(e, CURLOPT_POSTFIELDS, d->body);
    curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE, (long) strlen(d->body));
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, d->headers);
    curl_easy_setopt(e, CURLOPT_USERAGENT, "statusd/" STATUSD_VERSION);
    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT, (long) CONNECT_TIMEOUT_S);
    curl_easy_setopt(e, CURLOPT_TIMEOUT, (long) TOTAL_TIMEOUT_S);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, s_write_cb);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, d);
    curl_easy_setopt(e, CURLOPT_PRIVATE, (char *) d);
    if (curl_multi_add_handle(self->multi, e) != CURLM_OK) {
        s_finish(self, d, (channel_outcome_t){CHANNEL_RETRY, -1, "internal"}, "curl_multi_add");
        s_delivery_free(&d);
        return;
    }
    self->inflight[self->n_inflight++] = d;
}

static void s_poll_outbox(self_t *self)
{
    char err[512] = "";
    if (store_ensure(self->store) != 0) {
        s_db_result(self, -EIO, "connect", "database unreachable");
        return;
    }
    s_expire_pauses(self, sd_mono_ms());
    size_t room = NOTIFIER_MAX_INFLIGHT - self->n_inflight;
    if (room == 0) {
        s_metric(self, "statusd_notifier_bound_hit_total", "Notifier bounds that were hit.",
                 (const char *[]){"bound", "inflight", NULL});
        if (!self->logged_full)
            sd_warn(COMP, "in-flight limit reached max=%d (logged once)", NOTIFIER_MAX_INFLIGHT);
        self->logged_full = true;
    }
    int64_t ids[NOTIFIER_MAX_INFLIGHT];
    const char *paused[MAX_PAUSED];
    for (size_t i = 0; i < self->n_inflight; i++)
        ids[i] = self->inflight[i]->row.id;
    for (size_t i = 0; i < self->n_paused; i++)
        paused[i] = self->paused[i].channel;
    outbox_row_t *rows = NULL;
    size_t n = 0;
    int rc = room ? store_outbox_lease(self->store, (int) room, LEASE_S, ids, self->n_inflight,
                                       paused, self->n_paused, &rows, &n, err, sizeof err)
                  : 0;
    s_db_result(self, rc, "lease", err);
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
    self->rng = (uint64_t) sd_wall_us() ^ ((uint64_t) sd_mono_us() << 20) ^ (uintptr_t) self;
    if (!self->rng)
        self->rng = 0x9E3779B97F4A7C15ULL;
    char err[512] = "";
    self->store = store_new(ctx->db_conninfo, err, sizeof err);
    if (!self->store) {
        sd_error(COMP, "cannot connect to the database err=%s", err);
        s_self_destroy(&self);
        return NULL;
    }
    self->pull = bus_pull(BUS_NOTIFY);
    self->multi = curl_multi_init();
    if (!self->pull || !self->multi) {
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
    self_t *self = s_self_new(pipe, start->ctx);
    start->ok = self != NULL;
    zsock_signal(pipe, 0);
    if (!self)
        return;
    self->next_poll = sd_mono_ms();
    struct curl_waitfd extra[2] = {{.fd = zsock_fd(pipe), .events = CURL_WAIT_POLLIN},
                                   {.fd = zsock_fd(self->pull), .events = CURL_WAIT_POLLIN}};
    while (!self->terminated) {
        s_drain_sockets(self);
        if (self->terminated)
            break;
        if (sd_mono_ms() >= self->next_poll) {
            s_poll_outbox(self);
            self->next_poll = sd_mono_ms() + POLL_MS;
        }
        int running = 0;
        curl_multi_perform(self->multi, &running);
        s_drain_done(self);
        long ct = -1;
        curl_multi_timeout(self->multi, &ct);
        sd_ms_t wait = self->next_poll - sd_mono_ms();
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
    /* libcurl's global init is not thread-safe: do it here, on the caller's thread
     * (reference counted, so main() may call it too) */
    curl_global_init(CURL_GLOBAL_DEFAULT);
    start_t start = {ctx, false};
    zactor_t *actor = zactor_new(s_notifier_actor, &start);
    if (actor && !start.ok)
        zactor_destroy(&actor);
    return actor;
}
