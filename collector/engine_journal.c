/* engine_journal: the alert engine's decisions on their way to the database.
 *
 * The engine decides in memory (open or close an incident, a reminder, FLAPPING/STABLE, a
 * timeline event) and appends the decision to this journal; the journal writes the oldest
 * entry first, each in one transaction with all its rows (incident, events, outbox rows)
 * and its key in engine_decisions. While the database is away the engine goes on deciding
 * from the results it receives and the journal grows; when the database is back it is
 * written in order, so an outage that began (and even one that ended) while the database
 * was away still gets its incident, with started_at at its first failing probe, and its
 * DOWN and RECOVERY, exactly once:
 *  - a commit whose reply was lost with the connection is retried; its key is found in
 *    engine_decisions and it is not applied again;
 *  - an entry the database refuses for its data (SQLSTATE class 22/23/42/44, which cannot
 *    succeed on retry) is retried DATA_RETRIES times, then dropped, logged as an error and
 *    counted (statusd_engine_decisions_dropped_total); when an incident's opening is
 *    dropped, so is everything after it about that incident;
 *  - best-effort entries (vote and recovery-hold events) are one INSERT each, without a key
 *    (a duplicate is harmless), dropped at the first refusal and, past BEST_EFFORT_MAX
 *    queued, not queued at all (counted).
 * A failed flush is retried with every decision and every tick; the store's own backoff
 * keeps a dead database from being hammered. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "channel.h"
#include "engine_priv.h"
#include "health.h"
#include "sd_log.h"
#include "store_assets.h"
#include "store_decisions.h"
#include "store_incidents.h"
#include "store_outbox.h"

#define COMP ENGINE_COMP
#define MAX_STEPS 5
#define DATA_RETRIES 3
#define BEST_EFFORT_MAX 10000

typedef enum { STEP_OPEN, STEP_CLOSE, STEP_EVENT, STEP_OUTBOX, STEP_FLAPPING } step_kind_t;

typedef struct {
    step_kind_t kind;
    char *text;        /* OPEN: summary; EVENT: kind; OUTBOX: event name */
    char *json;        /* OPEN: details; EVENT: detail */
    json_t *payload;   /* OUTBOX: the payload, incident_id set when written */
    json_t *to;        /* OUTBOX: the channels (array of names); NULL: the asset's (flag) */
    json_t *digests;   /* OUTBOX: channel -> {"key", "start", "due"} for the channels on which
                          this page is collapsed into a storm digest (storm.h); NULL: none */
    bool flag;         /* OUTBOX: onDown channels (else onRecovery); FLAPPING: the flag */
} step_t;

/* The channels of an OUTBOX step: its own list, else the asset's onDown/onRecovery. */
static size_t s_step_channels(const self_t *self, const e_op_t *op, const step_t *st,
                              const char **buf, size_t cap, const char *const **names);

struct e_op {
    e_op_t *next;
    self_t *self;
    const char *what;
    e_asset_t *asset;
    e_incident_t *inc;
    int64_t at_wall;
    bool best_effort;
    int refusals;
    uint64_t seq;              /* self->op_seq when it was made */
    step_t steps[MAX_STEPS];
    size_t n_steps;
    char key[64];
};

/* ---- incidents ----------------------------------------------------------------------- */

e_incident_t *engine_incident_new(int64_t started_ms)
{
    e_incident_t *inc = calloc(1, sizeof *inc);
    if (inc) {
        inc->refs = 1;
        inc->started_ms = started_ms;
    }
    return inc;
}

e_incident_t *engine_incident_ref(e_incident_t *inc)
{
    if (inc)
        inc->refs++;
    return inc;
}

void engine_incident_unref(e_incident_t **inc)
{
    if (!inc || !*inc)
        return;
    if (--(*inc)->refs == 0)
        free(*inc);
    *inc = NULL;
}

/* ---- entries ------------------------------------------------------------------------- */

e_op_t *engine_op_new(self_t *self, const char *what, e_asset_t *a, e_incident_t *inc,
                      int64_t at_wall, bool best_effort)
{
    e_op_t *op = calloc(1, sizeof *op);
    if (!op)
        return NULL;
    op->self = self;
    op->what = what;
    op->asset = a;
    op->inc = engine_incident_ref(inc);
    op->at_wall = at_wall;
    op->best_effort = best_effort;
    op->seq = ++self->op_seq;
    snprintf(op->key, sizeof op->key, "%s-%" PRIu64, self->boot_id, op->seq);
    return op;
}

void engine_op_destroy(e_op_t **p)
{
    if (!p || !*p)
        return;
    e_op_t *op = *p;
    for (size_t i = 0; i < op->n_steps; i++) {
        free(op->steps[i].text);
        free(op->steps[i].json);
        json_decref(op->steps[i].payload);
        json_decref(op->steps[i].to);
        json_decref(op->steps[i].digests);
    }
    engine_incident_unref(&op->inc);
    free(op);
    *p = NULL;
}

static step_t *s_step(e_op_t *op, step_kind_t kind)
{
    if (!op || op->n_steps == MAX_STEPS)
        return NULL;
    step_t *st = &op->steps[op->n_steps];
    memset(st, 0, sizeof *st);
    st->kind = kind;
    return st;
}

/* Commits the step (n_steps++) when every copy succeeded. */
static int s_keep(e_op_t *op, step_t *st, bool ok)
{
    if (!ok) {
        free(st->text);
        free(st->json);
        json_decref(st->payload);
        json_decref(st->to);
        json_decref(st->digests);
        memset(st, 0, sizeof *st);
        return -ENOMEM;
    }
    op->n_steps++;
    return 0;
}

int engine_op_open(e_op_t *op, const char *summary, const char *details_json)
{
    step_t *st = s_step(op, STEP_OPEN);
    if (!st)
        return -E2BIG;
    st->text = strdup(summary ? summary : "");
    st->json = strdup(details_json ? details_json : "[]");
    return s_keep(op, st, st->text && st->json);
}

int engine_op_close(e_op_t *op)
{
    step_t *st = s_step(op, STEP_CLOSE);
    return st ? s_keep(op, st, true) : -E2BIG;
}

int engine_op_event(e_op_t *op, const char *kind, const char *detail_json)
{
    step_t *st = s_step(op, STEP_EVENT);
    if (!st)
        return -E2BIG;
    st->text = strdup(kind);
    st->json = detail_json ? strdup(detail_json) : NULL;
    return s_keep(op, st, st->text && (!detail_json || st->json));
}

/* True when pages to notifier name may be collapsed (its channel takes digests). */
static bool s_collapses(const self_t *self, const char *name)
{
    const sd_notifier_conf_t *nc = sd_notifiers_find(self->view.notifiers, name);
    const channel_ops_t *ops = nc ? channel_find(nc->type) : NULL;
    return ops && !ops->no_digest;
}

/* An asset's DOWN, REMINDER or RECOVERY page counts towards its channels' storms
 * (storm.h): on a channel in a storm it joins the channel's digest instead of going alone.
 * Decided now, when the page is decided, so the journal writes what was decided. */
static int s_storm(e_op_t *op, step_t *st)
{
    self_t *self = op->self;
    storm_kind_t kind;
    if (!op->asset || !st->to || !storm_kind_of(st->text, &kind))
        return 0;
    for (size_t i = 0; i < json_array_size(st->to); i++) {
        const char *ch = json_string_value(json_array_get(st->to, i));
        storm_digest_t d;
        if (!ch || !s_collapses(self, ch) || !storm_admit(self->storm, ch, kind, op->at_wall, &d))
            continue;
        if (!st->digests && !(st->digests = json_object()))
            return -ENOMEM;
        if (json_object_set_new(st->digests, ch,
                                json_pack("{s:s, s:I, s:I}", "key", d.key, "start",
                                          (json_int_t) d.start_ms, "due",
                                          (json_int_t) d.due_ms)) != 0)
            return -ENOMEM;
        engine_count(self, "statusd_notifications_collapsed_total",
                     "Pages collapsed into a storm digest instead of going alone, by channel "
                     "(notificationPolicy.storm).",
                     "channel", ch, 1);
        if (d.first)
            sd_warn(COMP, "notification storm channel=%s kind=%s: more than %d pages within "
                          "%d s; the rest go in one digest due in %d s (asset=%s first "
                          "collapsed)",
                    ch, storm_kind_name(kind), self->view.notifiers->storm_threshold,
                    self->view.notifiers->storm_window_seconds,
                    (int) ((d.due_ms - op->at_wall) / 1000), op->asset->conf->id);
    }
    return 0;
}

int engine_op_outbox(e_op_t *op, bool down_channels, const char *event, json_t *payload)
{
    const char *const *names = NULL;
    size_t n = op ? engine_channels(op->self, op->asset, down_channels, &names) : 0;
    return engine_op_outbox_to(op, names, n, event, payload);
}

int engine_op_outbox_to(e_op_t *op, const char *const *names, size_t n, const char *event,
                        json_t *payload)
{
    step_t *st = s_step(op, STEP_OUTBOX);
    if (!st) {
        json_decref(payload);
        return -E2BIG;
    }
    st->to = json_array();
    for (size_t i = 0; st->to && i < n; i++)
        json_array_append_new(st->to, json_string(names[i]));
    st->text = strdup(event);
    st->payload = payload;
    return s_keep(op, st, st->text && payload && st->to && s_storm(op, st) == 0);
}

static size_t s_step_channels(const self_t *self, const e_op_t *op, const step_t *st,
                              const char **buf, size_t cap, const char *const **names)
{
    if (!st->to)
        return engine_channels(self, op->asset, st->flag, names);
    size_t n = 0;
    for (; n < cap && n < json_array_size(st->to); n++)
        buf[n] = json_string_value(json_array_get(st->to, n));
    *names = buf;
    return n;
}

int engine_op_flapping(e_op_t *op, bool flapping)
{
    step_t *st = s_step(op, STEP_FLAPPING);
    if (!st)
        return -E2BIG;
    st->flag = flapping;
    return s_keep(op, st, true);
}

/* ---- applying ------------------------------------------------------------------------ */

typedef struct {
    size_t queued;          /* outbox rows written */
    bool adopted;           /* the opening found an open incident and took it over */
} applied_t;

/* A page collapsed into its channel's storm digest d ({"key", "start", "due"}): the member
 * row, and the digest row unless the digest has it already. */
static int s_enqueue_collapsed(self_t *self, const char *asset, int64_t incident_id,
                               const char *event, const char *channel, const char *payload,
                               const json_t *d, char *err, size_t errlen)
{
    const sd_notifiers_t *nf = self->view.notifiers;
    storm_kind_t kind = STORM_DOWN;
    storm_kind_of(event, &kind);
    char since[40];
    int64_t start = (int64_t) json_integer_value(json_object_get(d, "start"));
    sd_format_rfc3339(start, since, sizeof since);
    json_t *dp = json_pack("{s:s, s:s, s:s, s:s, s:i, s:i, s:i}", "event", "DIGEST", "of",
                           storm_kind_name(kind), "channel", channel, "since", since,
                           "threshold", nf->storm_threshold, "window_seconds",
                           nf->storm_window_seconds, "max_names", nf->storm_max_names);
    char *digest = dp ? json_dumps(dp, JSON_COMPACT) : NULL;
    json_decref(dp);
    if (!digest) {
        snprintf(err, errlen, "out of memory");
        return -ENOMEM;
    }
    int rc = store_outbox_enqueue_collapsed(
        self->store, incident_id, asset, event, channel, payload,
        json_string_value(json_object_get(d, "key")),
        (int64_t) json_integer_value(json_object_get(d, "due")), digest, err, errlen);
    free(digest);
    return rc;
}

/* One outbox step: a row per channel, the payload naming the incident. */
static int s_apply_outbox(self_t *self, e_op_t *op, step_t *st, applied_t *out, char *err,
                          size_t errlen)
{
    const char *const *names, *buf[ENGINE_CHANNELS_MAX];
    size_t n = s_step_channels(self, op, st, buf, ENGINE_CHANNELS_MAX, &names);
    int64_t id = op->inc ? op->inc->db_id : 0;
    if (id > 0)
        json_object_set_new(st->payload, "incident_id", json_integer(id));
    char *payload = json_dumps(st->payload, JSON_COMPACT);
    if (!payload) {
        snprintf(err, errlen, "out of memory");
        return -ENOMEM;
    }
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < n; i++) {
        const char *asset = op->asset ? op->asset->conf->id : NULL;
        json_t *d = st->digests ? json_object_get(st->digests, names[i]) : NULL;
        if (d)
            rc = s_enqueue_collapsed(self, asset, id, st->text, names[i], payload, d, err,
                                     errlen);
        else
            rc = store_outbox_enqueue(self->store, id, asset, st->text, names[i], payload, err,
                                      errlen);
        out->queued += rc == 0;
    }
    free(payload);
    return rc;
}

/* The asset already has an open incident we did not know (another writer): take it over
 * instead of opening a second one. Its own notifications stand; nothing else is written. */
static int s_adopt(self_t *self, e_op_t *op, applied_t *out, char *err, size_t errlen)
{
    int64_t id = 0, started = 0;
    int rc = store_incidents_find_open(self->store, op->asset->conf->id, &id, &started, err,
                                       errlen);
    if (rc == 0) {
        op->inc->db_id = id;
        op->inc->started_ms = started;
        out->adopted = true;
    }
    return rc;
}

/* The entry's steps, in the open transaction. */
static int s_apply_steps(self_t *self, e_op_t *op, applied_t *out, char *err, size_t errlen)
{
    const char *asset = op->asset ? op->asset->conf->id : NULL;
    int64_t opened_id = 0;
    for (size_t i = 0; i < op->n_steps; i++) {
        step_t *st = &op->steps[i];
        int64_t id = op->inc ? (opened_id ? opened_id : op->inc->db_id) : 0;
        int rc = 0;
        switch (st->kind) {
        case STEP_OPEN:
            rc = store_incidents_open(self->store, asset, op->inc->started_ms, op->at_wall,
                                      st->text, st->json, &opened_id, err, errlen);
            if (rc == 0)
                op->inc->db_id = opened_id; /* undone by the caller if the commit fails */
            break;
        case STEP_CLOSE:
            rc = store_incidents_close(self->store, id, op->at_wall, err, errlen);
            if (rc == -EALREADY)
                rc = 0; /* closed by someone else meanwhile: nothing to undo */
            break;
        case STEP_EVENT:
            rc = id ? store_incidents_event_at(self->store, id, st->text, st->json, op->at_wall,
                                               err, errlen)
                    : 0;
            break;
        case STEP_OUTBOX:
            rc = s_apply_outbox(self, op, st, out, err, errlen);
            break;
        case STEP_FLAPPING:
            rc = store_assets_set_flapping(self->store, asset, st->flag, err, errlen);
            break;
        }
        if (rc != 0)
            return rc;
    }
    return store_decisions_record(self->store, op->key, op->inc ? op->inc->db_id : 0, err,
                                  errlen);
}

/* Writes one entry. 0 when it is in the database (now, or already before). */
static int s_apply(self_t *self, e_op_t *op, applied_t *out, char *err, size_t errlen)
{
    if (op->best_effort) {
        /* one timeline event: a duplicate after a lost COMMIT reply is harmless, so no key
         * and no transaction of its own (one round trip, not five) */
        return store_incidents_event_at(self->store, op->inc ? op->inc->db_id : 0,
                                        op->steps[0].text, op->steps[0].json, op->at_wall, err,
                                        errlen);
    }
    bool found = false;
    int64_t recorded = 0;
    int64_t id_before = op->inc ? op->inc->db_id : 0;
    int rc = store_begin(self->store, err, errlen);
    if (rc == 0)
        rc = store_decisions_lookup(self->store, op->key, &found, &recorded, err, errlen);
    if (rc == 0 && found) {
        /* a commit whose reply was lost: it is in; learn the incident it opened */
        store_rollback(self->store);
        if (op->inc && recorded > 0)
            op->inc->db_id = recorded;
        sd_info(COMP, "decision already written key=%s what=%s", op->key, op->what);
        return 0;
    }
    if (rc == 0)
        rc = s_apply_steps(self, op, out, err, errlen);
    if (rc == -EEXIST && op->n_steps && op->steps[0].kind == STEP_OPEN) {
        store_rollback(self->store);
        memset(out, 0, sizeof *out);
        rc = store_begin(self->store, err, errlen);
        if (rc == 0)
            rc = s_adopt(self, op, out, err, errlen);
        if (rc == 0)
            rc = store_decisions_record(self->store, op->key, op->inc->db_id, err, errlen);
    }
    if (rc == 0)
        rc = store_commit(self->store, err, errlen);
    if (rc != 0) {
        store_rollback(self->store);
        if (op->inc)
            op->inc->db_id = id_before;
        out->queued = 0;
        out->adopted = false;
    }
    return rc;
}

static void s_count(self_t *self, const char *name, const char *help, const char *k,
                    const char *v)
{
    engine_count(self, name, help, k, v, 1);
}

/* Bookkeeping after an entry was written. */
static void s_written(self_t *self, e_op_t *op, const applied_t *ap)
{
    engine_db_ok(self);
    if (ap->adopted)
        sd_warn(COMP, "incident already open in the database, adopted asset=%s incident=%" PRId64
                      " (its notifications stand)",
                op->asset->conf->id, op->inc->db_id);
    if (ap->queued > 0) {
        for (size_t i = 0; i < op->n_steps; i++) {
            if (op->steps[i].kind != STEP_OUTBOX)
                continue;
            const char *const *names, *buf[ENGINE_CHANNELS_MAX];
            size_t n = s_step_channels(self, op, &op->steps[i], buf, ENGINE_CHANNELS_MAX,
                                       &names);
            for (size_t c = 0; c < n; c++)
                s_count(self, "statusd_notifications_queued_total",
                        "Notifications written to the outbox, by channel.", "channel",
                        names[c]);
        }
        engine_kick(self);
    }
    int64_t late = sd_wall_ms() - op->at_wall;
    if (late > 5000)
        sd_info(COMP, "decision written late what=%s asset=%s late_ms=%" PRId64 " queued=%zu",
                op->what, op->asset ? op->asset->conf->id : "-", late, ap->queued);
}

/* Drops the head entry for good (refused by the database for its data). */
static void s_drop(self_t *self, e_op_t *op, const char *err)
{
    if (op->inc && op->n_steps && op->steps[0].kind == STEP_OPEN)
        op->inc->lost = true;
    s_count(self, "statusd_engine_decisions_dropped_total",
            "Decisions of the alert engine the database refused for their data (or, for "
            "best-effort timeline events, at all), by what they were.",
            "what", op->what);
    if (op->best_effort)
        sd_warn(COMP, "%s not stored asset=%s err=%s", op->what,
                op->asset ? op->asset->conf->id : "-", err);
    else
        sd_error(COMP, "%s refused by the database, dropped after %d attempts asset=%s "
                       "key=%s err=%s",
                 op->what, op->refusals, op->asset ? op->asset->conf->id : "-", op->key, err);
}

static e_op_t *s_pop(self_t *self)
{
    e_op_t *op = self->journal_head;
    if (!op)
        return NULL;
    self->journal_head = op->next;
    if (!self->journal_head)
        self->journal_tail = NULL;
    self->journal_len--;
    if (op->best_effort)
        self->journal_best_effort--;
    return op;
}

static void s_pop_free(self_t *self)
{
    e_op_t *op = s_pop(self);
    engine_op_destroy(&op);
}

static void s_metrics(self_t *self)
{
    if (self->ctx->metrics)
        metrics_set(self->ctx->metrics, "statusd_engine_decisions_pending",
                    "Decisions of the alert engine not yet written to the database (the "
                    "database is away, or refused them).",
                    NULL, (double) self->journal_len);
}

void engine_journal_flush(self_t *self)
{
    char err[512];
    while (self->journal_head) {
        e_op_t *op = self->journal_head;
        if (op->inc && op->inc->lost) {
            /* its opening was dropped: there is nothing to attach this to */
            s_pop_free(self);
            continue;
        }
        applied_t ap = {0, false};
        err[0] = 0;
        if (s_apply(self, op, &ap, err, sizeof err) == 0) {
            s_written(self, op, &ap);
            s_pop_free(self);
            continue;
        }
        /* refused for its data: retrying unchanged cannot help (a best-effort event is
         * dropped at once, an essential decision after DATA_RETRIES flushes) */
        if (store_error_is_data(self->store) &&
            (op->best_effort || ++op->refusals >= DATA_RETRIES)) {
            s_drop(self, op, err);
            s_pop_free(self);
            continue;
        }
        engine_db_failed(self, op->what, op->asset ? op->asset->conf->id : "-", err);
        break;
    }
    s_metrics(self);
}

void engine_journal_push(self_t *self, e_op_t *op)
{
    if (!op)
        return;
    if (op->best_effort && self->journal_best_effort >= BEST_EFFORT_MAX) {
        s_count(self, "statusd_engine_decisions_dropped_total",
                "Decisions of the alert engine the database refused for their data (or, for "
                "best-effort timeline events, at all), by what they were.",
                "what", op->what);
        engine_op_destroy(&op);
        return;
    }
    if (self->journal_tail)
        self->journal_tail->next = op;
    else
        self->journal_head = op;
    self->journal_tail = op;
    self->journal_len++;
    self->journal_best_effort += op->best_effort;
    engine_journal_flush(self);
}

uint64_t engine_journal_oldest(const self_t *self)
{
    return self->journal_head ? self->journal_head->seq : 0;
}

void engine_journal_clear(self_t *self)
{
    e_op_t *op;
    while ((op = s_pop(self)))
        engine_op_destroy(&op);
}

void engine_incident_event(self_t *self, e_asset_t *a, const char *kind, json_t *detail,
                           int64_t at_wall)
{
    char *text = detail ? json_dumps(detail, JSON_COMPACT) : NULL;
    json_decref(detail);
    if (!a->inc || (detail && !text)) {
        free(text);
        return;
    }
    e_op_t *op = engine_op_new(self, kind, a, a->inc, at_wall, true);
    if (op && engine_op_event(op, kind, text) != 0)
        engine_op_destroy(&op);
    free(text);
    engine_journal_push(self, op);
}
