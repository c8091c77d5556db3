/* The scheduler: one embedded loop timer per asset, keyed by monotonic time; assets by id
 * in a hash so a new plan is a diff, not a restart. */
#include "scheduler.h"

#include <czmq.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SCHED_MIN_INTERVAL_MS 50
/* A probe must finish by its timeout; one still running at a due time this long after its
 * start (2 x timeout + grace) is hung: cancelled and reported as a failure, so a probe bug
 * cannot silence an asset for good. */
#define SCHED_HUNG_GRACE_MS 1000

typedef struct {
    sched_t *owner;
    probe_spec_t spec; /* owned copy */
    const struct probe_ops *ops;
    void *opts;
    loop_timer_t timer;
    probe_run_t *run;  /* in flight, or NULL */
    sd_ms_t run_started;
    sd_ms_t next_due;
    uint64_t starts, skips;
    bool seen;
    bool retired;      /* left the plan with a run in flight: kept until that run reports */
} s_entry_t;

struct sched {
    probe_env_t env;
    sched_result_fn *cb;
    void *cb_ctx;
    zhashx_t *assets; /* asset id -> s_entry_t* (not owned by the hash) */
    zlistx_t *retired; /* s_entry_t* out of the plan whose last run is still in flight */
    const struct probe_ops *(*lookup)(const char *name);
    sched_stats_t stats;
};

static void s_spec_free(probe_spec_t *s)
{
    free(s->asset_id);
    free(s->type);
    free(s->address);
    free(s->expected_status_codes);
    free(s->options_json);
    memset(s, 0, sizeof *s);
}

static int s_spec_copy(probe_spec_t *dst, const probe_spec_t *src)
{
    memset(dst, 0, sizeof *dst);
    dst->asset_id = strdup(src->asset_id ? src->asset_id : "");
    dst->type = strdup(src->type ? src->type : "");
    dst->address = strdup(src->address ? src->address : "");
    dst->options_json = strdup(src->options_json ? src->options_json : "");
    dst->interval_ms = src->interval_ms;
    dst->timeout_ms = src->timeout_ms;
    dst->phase_offset_ms = src->phase_offset_ms;
    if (src->n_expected_status_codes) {
        dst->expected_status_codes = calloc(src->n_expected_status_codes, sizeof(uint32_t));
        if (dst->expected_status_codes) {
            memcpy(dst->expected_status_codes, src->expected_status_codes,
                   src->n_expected_status_codes * sizeof(uint32_t));
            dst->n_expected_status_codes = src->n_expected_status_codes;
        }
    }
    if (!dst->asset_id || !dst->type || !dst->address || !dst->options_json ||
        (src->n_expected_status_codes && !dst->expected_status_codes)) {
        s_spec_free(dst);
        return -ENOMEM;
    }
    return 0;
}

static bool s_str_eq(const char *a, const char *b) { return strcmp(a ? a : "", b ? b : "") == 0; }

static bool s_spec_equal(const probe_spec_t *a, const probe_spec_t *b)
{
    return s_str_eq(a->type, b->type) && s_str_eq(a->address, b->address) &&
           s_str_eq(a->options_json, b->options_json) && a->interval_ms == b->interval_ms &&
           a->timeout_ms == b->timeout_ms && a->phase_offset_ms == b->phase_offset_ms &&
           a->n_expected_status_codes == b->n_expected_status_codes &&
           (a->n_expected_status_codes == 0 ||
            memcmp(a->expected_status_codes, b->expected_status_codes,
                   a->n_expected_status_codes * sizeof(uint32_t)) == 0);
}

static void s_entry_destroy(s_entry_t **p)
{
    if (!p || !*p)
        return;
    s_entry_t *e = *p;
    loop_timer_stop(&e->timer);
    if (e->run) {
        e->ops->cancel(e->run);
        e->run = NULL;
        e->owner->stats.in_flight--;
    }
    if (e->ops && e->opts)
        e->ops->free_options(e->opts);
    s_spec_free(&e->spec);
    free(e);
    *p = NULL;
}

static void s_on_done(probe_result_t *r, void *ctx)
{
    s_entry_t *e = ctx;
    sched_t *self = e->owner;
    e->run = NULL;
    self->stats.in_flight--;
    if (e->retired) {
        /* the plan dropped or changed this asset while it ran: its result still counts */
        void *h = zlistx_find(self->retired, e);
        if (h)
            zlistx_delete(self->retired, h);
        s_entry_destroy(&e);
    }
    self->cb(r, self->cb_ctx);
}

/* Takes e out of the plan: destroyed now, or, with a run in flight, when that run reports,
 * so an assignment change never loses a result. */
static void s_retire(sched_t *self, s_entry_t *e)
{
    loop_timer_stop(&e->timer);
    if (e->run && zlistx_add_end(self->retired, e)) {
        e->retired = true;
        return;
    }
    s_entry_destroy(&e);
}

static void s_start(s_entry_t *e)
{
    sched_t *self = e->owner;
    char err[PROBE_REASON_MAX] = "";
    e->starts++;
    self->stats.started++;
    int rc = e->ops->start(&self->env, &e->spec, e->opts, s_on_done, e, &e->run, err, sizeof err);
    if (rc == 0) {
        self->stats.in_flight++;
        e->run_started = loop_now(self->env.loop);
        return;
    }
    e->run = NULL;
    self->stats.start_failed++;
    probe_result_t *r = probe_result_new(e->spec.asset_id);
    if (!r)
        return;
    probe_result_set_reason(r, "cannot start probe: %s", err[0] ? err : strerror(-rc));
    self->cb(r, self->cb_ctx);
}

static void s_on_timer(loop_t *loop, loop_timer_t *t, void *ctx)
{
    s_entry_t *e = ctx;
    sd_ms_t now = loop_now(loop);
    sd_ms_t interval = e->spec.interval_ms;
    e->next_due += interval; /* start to start from the due time: drift-free */
    if (e->next_due <= now) {
        /* the loop stalled (or the host slept) past whole periods: skip them */
        uint64_t missed = (uint64_t) ((now - e->next_due) / interval) + 1;
        e->next_due += (sd_ms_t) missed * interval;
        e->skips += missed;
        e->owner->stats.skipped += missed;
    }
    loop_timer_start(&e->timer, e->next_due);
    if (e->run) {
        sd_ms_t limit = 2 * (sd_ms_t) (e->spec.timeout_ms ? e->spec.timeout_ms : interval) +
                        SCHED_HUNG_GRACE_MS;
        sd_ms_t ran = now - e->run_started;
        if (ran < limit) {
            e->skips++;
            e->owner->stats.skipped++;
            return;
        }
        e->ops->cancel(e->run);
        e->run = NULL;
        e->owner->stats.in_flight--;
        e->owner->stats.hung++;
        probe_result_t *r = probe_result_new(e->spec.asset_id);
        if (r) {
            r->latency_us = ran >= UINT32_MAX / 1000 ? UINT32_MAX : (uint32_t) ran * 1000;
            probe_result_set_reason(r, "probe did not finish within %lld ms, cancelled",
                                    (long long) ran);
            e->owner->cb(r, e->owner->cb_ctx);
        }
    }
    s_start(e);
}

/* First run: the next wall-clock instant with unix_ms % interval == phase offset. Computed
 * in microseconds and rounded up, so the run is never early on the wall clock. */
static void s_schedule_first(s_entry_t *e)
{
    int64_t wall_us = sd_wall_us();
    int64_t mono_us = sd_mono_us();
    int64_t interval = e->spec.interval_ms;
    int64_t offset = e->spec.phase_offset_ms % interval;
    int64_t wall = wall_us / 1000;
    int64_t target = wall - (wall % interval) + offset;
    if (target * 1000 < wall_us)
        target += interval;
    int64_t due_us = mono_us + (target * 1000 - wall_us);
    e->next_due = (due_us + 999) / 1000;
    loop_timer_start(&e->timer, e->next_due);
}

static s_entry_t *s_entry_new(sched_t *self, const probe_spec_t *spec, char *err, size_t errlen)
{
    const struct probe_ops *ops = self->lookup(spec->type);
    if (!ops) {
        snprintf(err, errlen, "asset %s: unknown probe type \"%s\"", spec->asset_id, spec->type);
        return NULL;
    }
    if (spec->interval_ms < SCHED_MIN_INTERVAL_MS) {
        snprintf(err, errlen, "asset %s: interval_ms %u below %d", spec->asset_id,
                 spec->interval_ms, SCHED_MIN_INTERVAL_MS);
        return NULL;
    }
    s_entry_t *e = calloc(1, sizeof *e);
    if (!e)
        return NULL;
    e->owner = self;
    e->ops = ops;
    loop_timer_init(self->env.loop, &e->timer, s_on_timer, e);
    if (s_spec_copy(&e->spec, spec) < 0) {
        free(e);
        return NULL;
    }
    char perr[160] = "";
    if (ops->parse_options(e->spec.options_json, &e->opts, perr, sizeof perr) < 0) {
        snprintf(err, errlen, "asset %s: %s", spec->asset_id, perr);
        e->opts = NULL;
        s_entry_destroy(&e);
        return NULL;
    }
    return e;
}

sched_t *sched_new(const probe_env_t *env, sched_result_fn *cb, void *ctx)
{
    sched_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    self->env = *env;
    self->cb = cb;
    self->cb_ctx = ctx;
    self->lookup = probe_find;
    self->assets = zhashx_new();
    self->retired = zlistx_new();
    if (!self->assets || !self->retired) {
        zhashx_destroy(&self->assets);
        zlistx_destroy(&self->retired);
        free(self);
        return NULL;
    }
    return self;
}

void sched_destroy(sched_t **p)
{
    if (!p || !*p)
        return;
    sched_t *self = *p;
    if (self->assets) {
        for (s_entry_t *e = zhashx_first(self->assets); e; e = zhashx_next(self->assets))
            s_entry_destroy(&e);
        zhashx_destroy(&self->assets);
    }
    if (self->retired) {
        for (s_entry_t *e = zlistx_first(self->retired); e; e = zlistx_next(self->retired))
            s_entry_destroy(&e);
        zlistx_destroy(&self->retired);
    }
    free(self);
    *p = NULL;
}

void sched_set_lookup(sched_t *self, const struct probe_ops *(*lookup)(const char *name))
{
    self->lookup = lookup ? lookup : probe_find;
}

int sched_apply(sched_t *self, const probe_spec_t *specs, size_t n, char *err, size_t errlen)
{
    char first_err[256] = "";
    uint64_t invalid = 0;
    for (s_entry_t *e = zhashx_first(self->assets); e; e = zhashx_next(self->assets))
        e->seen = false;
    for (size_t i = 0; i < n; i++) {
        const probe_spec_t *spec = &specs[i];
        s_entry_t *old = zhashx_lookup(self->assets, spec->asset_id ? spec->asset_id : "");
        if (old && s_spec_equal(&old->spec, spec)) {
            old->seen = true; /* unchanged: keeps its schedule and any run in flight */
            continue;
        }
        char msg[256] = "";
        s_entry_t *e = s_entry_new(self, spec, msg, sizeof msg);
        if (!e) {
            if (!msg[0])
                return -ENOMEM;
            invalid++;
            if (!first_err[0])
                snprintf(first_err, sizeof first_err, "%s", msg);
            continue; /* an invalid new version leaves the old one (if any) unseen: removed */
        }
        if (old) {
            zhashx_delete(self->assets, old->spec.asset_id);
            s_retire(self, old);
        }
        if (zhashx_insert(self->assets, e->spec.asset_id, e) != 0) {
            s_entry_destroy(&e);
            return -ENOMEM;
        }
        e->seen = true;
        s_schedule_first(e);
    }
    /* removed assets: collect first, the hash must not change while iterating */
    zlistx_t *gone = zlistx_new();
    if (!gone)
        return -ENOMEM;
    for (s_entry_t *e = zhashx_first(self->assets); e; e = zhashx_next(self->assets))
        if (!e->seen)
            zlistx_add_end(gone, e);
    for (s_entry_t *e = zlistx_first(gone); e; e = zlistx_next(gone)) {
        zhashx_delete(self->assets, e->spec.asset_id);
        s_retire(self, e);
    }
    zlistx_destroy(&gone);
    self->stats.invalid = invalid;
    self->stats.assets = zhashx_size(self->assets);
    if (err && errlen)
        snprintf(err, errlen, "%s", first_err);
    return (int) self->stats.assets;
}

int sched_apply_assignment(sched_t *self, const Statusd__Assignment *a, char *err,
                           size_t errlen)
{
    size_t n = a->n_assets;
    probe_spec_t *specs = calloc(n ? n : 1, sizeof *specs);
    if (!specs)
        return -ENOMEM;
    for (size_t i = 0; i < n; i++) {
        const Statusd__AssetSpec *as = a->assets[i];
        specs[i] = (probe_spec_t){
            .asset_id = as->id,
            .type = as->type,
            .address = as->address,
            .interval_ms = as->interval_ms,
            .timeout_ms = as->timeout_ms,
            .expected_status_codes = as->expected_status_codes,
            .n_expected_status_codes = as->n_expected_status_codes,
            .options_json = as->options_json,
            .phase_offset_ms = as->phase_offset_ms,
        };
    }
    int rc = sched_apply(self, specs, n, err, errlen);
    free(specs);
    return rc;
}

sched_stats_t sched_stats(const sched_t *self) { return self->stats; }

int64_t sched_asset_starts(const sched_t *self, const char *asset_id)
{
    s_entry_t *e = zhashx_lookup(self->assets, asset_id);
    return e ? (int64_t) e->starts : -1;
}

sd_ms_t sched_asset_next_due(const sched_t *self, const char *asset_id)
{
    s_entry_t *e = zhashx_lookup(self->assets, asset_id);
    return e ? e->next_due : -1;
}
