/* The spool in the agent's loop: outq observer, sync and retry timers, the bounds. */
#include "spooler.h"

#include "sd_clock.h"
#include "sd_log.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define COMP "spool"
#define RETRY_MS 1000      /* a failed write is tried again after this */
#define CATCHUP_CHUNK 4096 /* results written per loop iteration while catching up */
#define WRITE_CHUNK 256    /* results per spool_append_many */
#define AGE_TICK_MS 5000   /* how often the age bound is applied */

struct spooler {
    loop_t *loop;
    outq_t *outq;
    spool_t *spool;
    char *dir;
    int64_t max_age_ms;
    int fsync_ms;
    loop_hook_t *hook;
    loop_timer_t sync_timer, retry_timer, age_timer;
    /* a write failed: the retry timer writes what the spool lacks, nothing else does */
    bool degraded;
    uint64_t caught_up; /* results written by the retries, this episode */
    bool sync_err_logged;
    uint64_t dropped, not_spooled, episodes;
};

/* --- bounds, failures --------------------------------------------------------------------- */

/* The spool dropped its records through seq for a bound: the results go from memory too. */
static void s_drop(spooler_t *self, uint64_t through, const char *bound)
{
    size_t n = outq_ack(self->outq, through);
    self->dropped += n;
    if (n > 0)
        sd_warn(COMP, "spool bound reached, oldest results dropped bound=%s records=%zu "
                "through_seq=%" PRIu64 " dropped_total=%" PRIu64, bound, n, through,
                self->dropped);
}

static void s_degrade(spooler_t *self, int rc)
{
    if (!self->degraded) {
        self->degraded = true;
        self->episodes++;
        self->caught_up = 0;
        sd_warn(COMP, "cannot write the spool, results are kept in memory only until it can "
                "(degraded) dir=%s error=%s pending=%zu", self->dir, strerror(-rc),
                outq_len(self->outq));
    }
    loop_timer_start_in(&self->retry_timer, RETRY_MS);
}

static void s_arm_sync(spooler_t *self)
{
    if (self->fsync_ms > 0 && !loop_timer_active(&self->sync_timer))
        loop_timer_start_in(&self->sync_timer, self->fsync_ms);
}

/* Writes the pending results numbered above what the spool holds, at most limit of them
 * (more: the retry timer goes on at once). 0, or the failed write's -errno (degraded). */
static int s_write_pending(spooler_t *self, size_t limit)
{
    size_t total = 0;
    for (;;) {
        if (spool_last_seq(self->spool) + 1 >= outq_next_seq(self->outq))
            break; /* all written (the usual case: one comparison) */
        size_t pos = outq_pos(self->outq, spool_last_seq(self->spool) + 1);
        size_t len = outq_len(self->outq);
        if (pos >= len)
            break;
        if (total >= limit) {
            loop_timer_start_in(&self->retry_timer, 0);
            return 0;
        }
        const probe_result_t *rs[WRITE_CHUNK];
        size_t n = len - pos < WRITE_CHUNK ? len - pos : WRITE_CHUNK, done = 0;
        for (size_t i = 0; i < n; i++)
            rs[i] = outq_at(self->outq, pos + i);
        uint64_t dropped_through = 0;
        int rc = spool_append_many(self->spool, rs, n, &done, &dropped_through);
        total += done;
        if (self->degraded)
            self->caught_up += done;
        if (done)
            s_arm_sync(self);
        if (dropped_through) /* frees older results than rs: rs is not used again */
            s_drop(self, dropped_through, "max_bytes");
        if (rc < 0) {
            s_degrade(self, rc);
            return rc;
        }
    }
    if (self->degraded) {
        self->degraded = false;
        sd_info(COMP, "spool writable again, results kept in memory written records=%" PRIu64
                " not_spooled_total=%" PRIu64, self->caught_up, self->not_spooled);
    }
    return 0;
}

void spooler_before_send(void *spooler)
{
    spooler_t *self = spooler;
    if (!self->degraded)
        s_write_pending(self, SIZE_MAX);
}

/* --- the outq observer ------------------------------------------------------------------- */

static void s_on_pushed(const probe_result_t *r, void *ctx)
{
    spooler_t *self = ctx;
    if (self->degraded)
        self->not_spooled++; /* else written before it can be sent (s_before_send) */
}

static void s_on_released(uint64_t through, void *ctx)
{
    spooler_t *self = ctx;
    spool_release(self->spool, through);
    s_arm_sync(self);
    if (self->degraded) /* space may be back */
        loop_timer_start_in(&self->retry_timer, 0);
}

static void s_on_renumbered(void *ctx)
{
    spooler_t *self = ctx;
    int rc = spool_reset(self->spool, outq_first_seq(self->outq) - 1);
    sd_info(COMP, "pending results renumbered, writing them again records=%zu%s%s",
            outq_len(self->outq), rc < 0 ? " error=" : "", rc < 0 ? strerror(-rc) : "");
}

static const outq_observer_t s_observer = {s_on_pushed, s_on_released, s_on_renumbered};

/* --- timers --------------------------------------------------------------------------- */

static void s_sync(spooler_t *self)
{
    int rc = spool_sync(self->spool);
    if (rc < 0 && !self->sync_err_logged) {
        sd_warn(COMP, "spool sync failed: a power cut may lose the results written since the "
                "last sync, a restart may replay acknowledged ones (the collector skips them) "
                "dir=%s error=%s (logged once)", self->dir, strerror(-rc));
        self->sync_err_logged = true;
    }
}

static void s_on_sync_timer(loop_t *loop, loop_timer_t *t, void *ctx)
{
    s_sync(ctx);
}

static void s_before_sleep(loop_t *loop, void *ctx)
{
    spooler_t *self = ctx;
    spooler_before_send(self);
    if (self->fsync_ms == 0 && spool_dirty(self->spool))
        s_sync(self);
}

static void s_on_retry(loop_t *loop, loop_timer_t *t, void *ctx)
{
    s_write_pending(ctx, CATCHUP_CHUNK);
}

static void s_on_age(loop_t *loop, loop_timer_t *t, void *ctx)
{
    spooler_t *self = ctx;
    uint64_t dropped_through = 0;
    spool_expire(self->spool, sd_wall_ms() - self->max_age_ms, &dropped_through);
    if (dropped_through)
        s_drop(self, dropped_through, "max_age");
    loop_timer_start_in(t, AGE_TICK_MS);
}

/* --- replay, lifecycle ------------------------------------------------------------------ */

typedef struct {
    outq_t *outq;
    size_t dropped;
} s_replay_t;

static int s_on_replayed(probe_result_t *r, void *ctx)
{
    s_replay_t *rp = ctx;
    int rc = outq_push_at(rp->outq, &r, r->seq);
    if (rc < 0) {
        probe_result_destroy(&r); /* not above the previous: the spool promises it is */
        return 0;
    }
    rp->dropped += (size_t) rc;
    return 0;
}

static void s_log_replay(spooler_t *self, const s_replay_t *rp)
{
    spool_stats_t st = spool_stats(self->spool);
    size_t n = outq_len(self->outq);
    sd_info(COMP, "spool opened dir=%s replayed=%" PRIu64 " pending=%zu first_seq=%" PRIu64
            " next_seq=%" PRIu64 " segments=%" PRIu64 " bytes=%" PRIu64 " floor=%" PRIu64,
            self->dir, st.replayed, n, outq_first_seq(self->outq), outq_next_seq(self->outq),
            st.segments, st.bytes, spool_floor(self->spool));
    if (st.corrupt)
        sd_warn(COMP, "spool held damaged data, skipped corrupt=%" PRIu64
                " corrupt_bytes=%" PRIu64 " torn=%" PRIu64 " dir=%s", st.corrupt,
                st.corrupt_bytes, st.torn, self->dir);
    if (rp->dropped)
        sd_warn(COMP, "spool held more results than --max-pending, oldest dropped "
                "records=%zu", rp->dropped);
}

spooler_t *spooler_new(loop_t *loop, outq_t *outq, const spooler_config_t *cfg,
                       uint64_t *replayed_through, char *err, size_t errlen)
{
    *replayed_through = 0;
    spooler_t *self = calloc(1, sizeof *self);
    if (!self || !(self->dir = strdup(cfg->dir))) {
        snprintf(err, errlen, "out of memory");
        free(self);
        return NULL;
    }
    self->loop = loop;
    self->outq = outq;
    self->max_age_ms = cfg->max_age_ms;
    self->fsync_ms = cfg->fsync_ms;
    loop_timer_init(loop, &self->sync_timer, s_on_sync_timer, self);
    loop_timer_init(loop, &self->retry_timer, s_on_retry, self);
    loop_timer_init(loop, &self->age_timer, s_on_age, self);
    spool_config_t scfg = {.max_bytes = cfg->max_bytes};
    int rc = 0;
    self->spool = spool_open(cfg->dir, &scfg, &rc);
    if (!self->spool) {
        snprintf(err, errlen, "cannot open the spool directory %s: %s", cfg->dir,
                 rc == -EWOULDBLOCK ? "another process uses it" : strerror(-rc));
        spooler_destroy(&self);
        return NULL;
    }
    uint64_t next = outq_next_seq(outq);
    outq_renumber(outq, 0); /* empty: replayed numbers may be below the clock's */
    s_replay_t rp = {outq, 0};
    rc = spool_replay(self->spool, s_on_replayed, &rp);
    if (rc < 0) {
        snprintf(err, errlen, "cannot read the spool directory %s: %s", cfg->dir,
                 strerror(-rc));
        spooler_destroy(&self);
        return NULL;
    }
    if (outq_len(outq) > 0) {
        *replayed_through = outq_next_seq(outq) - 1;
        if (rp.dropped)
            spool_release(self->spool, outq_first_seq(outq) - 1);
    } else {
        uint64_t after = spool_last_seq(self->spool) + 1;
        outq_renumber(outq, next > after ? next : after);
    }
    s_log_replay(self, &rp);
    self->hook = loop_hook_add(loop, s_before_sleep, self);
    if (!self->hook) {
        snprintf(err, errlen, "out of memory");
        spooler_destroy(&self);
        return NULL;
    }
    outq_observe(outq, &s_observer, self);
    loop_timer_start_in(&self->age_timer, 0);
    return self;
}

void spooler_destroy(spooler_t **p)
{
    if (!p || !*p)
        return;
    spooler_t *self = *p;
    if (self->spool && self->outq && self->hook) {
        s_write_pending(self, SIZE_MAX);
        s_sync(self);
        size_t lost = outq_len(self->outq) -
                      outq_pos(self->outq, spool_last_seq(self->spool) + 1);
        if (lost)
            sd_warn(COMP, "results held in memory only are lost at exit records=%zu", lost);
        outq_observe(self->outq, NULL, NULL);
        spool_stats_t st = spool_stats(self->spool);
        sd_info(COMP, "spool closed dir=%s pending=%zu segments=%" PRIu64 " bytes=%" PRIu64,
                self->dir, outq_len(self->outq), st.segments, st.bytes);
    }
    loop_timer_stop(&self->sync_timer);
    loop_timer_stop(&self->retry_timer);
    loop_timer_stop(&self->age_timer);
    loop_hook_remove(&self->hook);
    spool_close(&self->spool);
    free(self->dir);
    free(self);
    *p = NULL;
}

spooler_stats_t spooler_stats(const spooler_t *self)
{
    return (spooler_stats_t){.spool = spool_stats(self->spool),
                             .dropped = self->dropped,
                             .not_spooled = self->not_spooled,
                             .degraded_episodes = self->episodes,
                             .degraded = self->degraded};
}

void spooler_format_stats(const spooler_t *self, char *buf, size_t cap)
{
    spooler_stats_t s = spooler_stats(self);
    snprintf(buf, cap,
             " spool_bytes=%" PRIu64 " spool_segments=%" PRIu64 " spool_records_dropped=%" PRIu64
             " spool_corrupt=%" PRIu64 " spool_write_errors=%" PRIu64
             " spool_not_spooled=%" PRIu64 " spool_degraded=%d spool_syncs=%" PRIu64
             " spool_sync_errors=%" PRIu64,
             s.spool.bytes, s.spool.segments, s.dropped, s.spool.corrupt, s.spool.write_errors,
             s.not_spooled, s.degraded ? 1 : 0, s.spool.syncs, s.spool.sync_errors);
}

/* --- flag values -------------------------------------------------------------------------- */

/* A decimal number and what follows it; -EINVAL without digits or on overflow. */
static int s_number(const char *s, uint64_t *v, const char **rest)
{
    if (!s || !isdigit((unsigned char) *s))
        return -EINVAL;
    uint64_t n = 0;
    for (; isdigit((unsigned char) *s); s++) {
        if (n > (UINT64_MAX - 9) / 10)
            return -EINVAL;
        n = n * 10 + (uint64_t) (*s - '0');
    }
    *v = n;
    *rest = s;
    return 0;
}

int spooler_parse_bytes(const char *s, uint64_t *out)
{
    uint64_t n, mul = 1;
    const char *u;
    if (s_number(s, &n, &u) < 0)
        return -EINVAL;
    switch (tolower((unsigned char) *u)) {
    case 0: break;
    case 'k': mul = 1ULL << 10; u++; break;
    case 'm': mul = 1ULL << 20; u++; break;
    case 'g': mul = 1ULL << 30; u++; break;
    case 'b': break;
    default: return -EINVAL;
    }
    if (mul > 1 && tolower((unsigned char) *u) == 'i')
        u++;
    if (tolower((unsigned char) *u) == 'b')
        u++;
    if (*u || n > UINT64_MAX / mul)
        return -EINVAL;
    *out = n * mul;
    return 0;
}

int spooler_parse_duration_ms(const char *s, int64_t *out)
{
    uint64_t n, mul = 1000;
    const char *u;
    if (s_number(s, &n, &u) < 0)
        return -EINVAL;
    switch (*u) {
    case 0:
    case 's': break;
    case 'm': mul = 60 * 1000; break;
    case 'h': mul = 3600 * 1000; break;
    case 'd': mul = 86400 * 1000; break;
    default: return -EINVAL;
    }
    if ((*u && u[1]) || n > (uint64_t) INT64_MAX / mul)
        return -EINVAL;
    *out = (int64_t) (n * mul);
    return 0;
}
