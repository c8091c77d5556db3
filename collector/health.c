/* health: the collector's self-watch (see health.h). */
#include "health.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sd_utf8.h"

#define ERR_MAX 300

typedef struct {
    const char *name;
    unsigned flags;
    sd_ms_t beat_mono, db_ok_mono;
    int64_t beat_wall, db_ok_wall;     /* 0: never */
    char err[ERR_MAX + 1];             /* the last failure, "" none since the last success */
} part_t;

struct health_t {
    pthread_mutex_t mu;
    int stuck_ms, db_ms;
    part_t parts[HEALTH_MAX_PARTS];
    size_t n_parts;
    /* the result pipeline */
    uint64_t forwarded, evaluated;
    sd_ms_t pending_since;             /* when the oldest unevaluated message was forwarded */
    sd_ms_t progress_at;               /* the engine's last evaluation */
    sd_ms_t lag_ms;                    /* how long that message had waited */
    /* the hourly upkeep (health_upkeep) */
    bool upkeep_known;
    int upkeep_failures;               /* in a row */
    char upkeep_err[ERR_MAX + 1];
    /* the configuration (health_config) */
    bool config_known, config_ok;
    uint64_t config_generation;
    char config_err[ERR_MAX + 1];
};

health_t *health_new(int stuck_ms, int db_ms)
{
    health_t *h = calloc(1, sizeof *h);
    if (!h)
        return NULL;
    if (pthread_mutex_init(&h->mu, NULL) != 0) {
        free(h);
        return NULL;
    }
    h->stuck_ms = stuck_ms > 0 ? stuck_ms : HEALTH_STUCK_MS_DEFAULT;
    h->db_ms = db_ms > 0 ? db_ms : HEALTH_DB_MS_DEFAULT;
    return h;
}

void health_destroy(health_t **h)
{
    if (!h || !*h)
        return;
    pthread_mutex_destroy(&(*h)->mu);
    free(*h);
    *h = NULL;
}

/* Called with mu held. */
static part_t *s_find(health_t *h, const char *name)
{
    for (size_t i = 0; i < h->n_parts; i++)
        if (strcmp(h->parts[i].name, name) == 0)
            return &h->parts[i];
    return NULL;
}

int health_register(health_t *h, const char *part, unsigned flags)
{
    if (!h || !part)
        return -EINVAL;
    sd_ms_t now = sd_mono_ms();
    int64_t wall = sd_wall_ms();
    pthread_mutex_lock(&h->mu);
    part_t *p = s_find(h, part);
    if (!p && h->n_parts < HEALTH_MAX_PARTS)
        p = &h->parts[h->n_parts++];
    if (p)
        /* a new part counts as having beaten and written now: it has its full time */
        *p = (part_t){.name = part, .flags = flags, .beat_mono = now, .db_ok_mono = now,
                      .beat_wall = wall};
    pthread_mutex_unlock(&h->mu);
    return p ? 0 : -ENOSPC;
}

void health_beat(health_t *h, const char *part)
{
    if (!h)
        return;
    sd_ms_t now = sd_mono_ms();
    int64_t wall = sd_wall_ms();
    pthread_mutex_lock(&h->mu);
    part_t *p = s_find(h, part);
    if (p) {
        p->beat_mono = now;
        p->beat_wall = wall;
    }
    pthread_mutex_unlock(&h->mu);
}

void health_db_ok(health_t *h, const char *part)
{
    if (!h)
        return;
    sd_ms_t now = sd_mono_ms();
    int64_t wall = sd_wall_ms();
    pthread_mutex_lock(&h->mu);
    part_t *p = s_find(h, part);
    if (p) {
        p->db_ok_mono = now;
        p->db_ok_wall = wall;
        p->err[0] = 0;
    }
    pthread_mutex_unlock(&h->mu);
}

void health_db_failed(health_t *h, const char *part, const char *err)
{
    if (!h)
        return;
    pthread_mutex_lock(&h->mu);
    part_t *p = s_find(h, part);
    if (p)
        sd_utf8_scopy(p->err, sizeof p->err, err && *err ? err : "database write failed",
                      SD_UTF8_ONE_LINE | SD_UTF8_ELLIPSIS);
    pthread_mutex_unlock(&h->mu);
}

int health_write_interval_ms(const health_t *h)
{
    int ms = h ? h->db_ms / 4 : 5000;
    return ms < 1000 ? 1000 : ms > 5000 ? 5000 : ms;
}

void health_results_forwarded(health_t *h, uint64_t n)
{
    if (!h)
        return;
    sd_ms_t now = sd_mono_ms();
    pthread_mutex_lock(&h->mu);
    if (h->evaluated >= h->forwarded)
        h->pending_since = now; /* nothing was waiting: this one is the oldest */
    h->forwarded = n;
    pthread_mutex_unlock(&h->mu);
}

void health_results_evaluated(health_t *h, uint64_t n, sd_ms_t forwarded_at)
{
    if (!h)
        return;
    sd_ms_t now = sd_mono_ms();
    pthread_mutex_lock(&h->mu);
    if (n > h->evaluated)
        h->evaluated = n;
    h->progress_at = now;
    h->lag_ms = forwarded_at > 0 && now > forwarded_at ? now - forwarded_at : 0;
    pthread_mutex_unlock(&h->mu);
}

/* One part's verdict at now (mu held): NULL when ok, else the status, with reason. */
static const char *s_judge(const health_t *h, const part_t *p, sd_ms_t now, char *reason,
                           size_t len)
{
    if ((p->flags & HEALTH_LOOP) && now - p->beat_mono > h->stuck_ms) {
        snprintf(reason, len, "its loop has not run for %lld s (limit %d s)",
                 (long long) ((now - p->beat_mono) / 1000), h->stuck_ms / 1000);
        return "stuck";
    }
    if ((p->flags & HEALTH_WRITES) && now - p->db_ok_mono > h->db_ms) {
        snprintf(reason, len, "no successful database write for %lld s (limit %d s): %s",
                 (long long) ((now - p->db_ok_mono) / 1000), h->db_ms / 1000,
                 p->err[0] ? p->err : "no write attempted");
        return "db_failing";
    }
    return NULL;
}

/* The pipeline's verdict at now (mu held): NULL when ok. */
static const char *s_judge_results(const health_t *h, sd_ms_t now, char *reason, size_t len)
{
    if (h->forwarded > h->evaluated) {
        sd_ms_t since = h->pending_since > h->progress_at ? h->pending_since : h->progress_at;
        if (now - since > h->stuck_ms) {
            snprintf(reason, len, "results stored %lld s ago are not evaluated yet (limit %d s)",
                     (long long) ((now - since) / 1000), h->stuck_ms / 1000);
            return "stuck";
        }
    }
    if (h->lag_ms > h->stuck_ms && now - h->progress_at <= h->stuck_ms) {
        snprintf(reason, len, "the engine evaluates results %lld s after they are stored "
                              "(limit %d s)",
                 (long long) (h->lag_ms / 1000), h->stuck_ms / 1000);
        return "lagging";
    }
    return NULL;
}

static double s_age_s(sd_ms_t now, sd_ms_t then)
{
    return (double) (now - then) / 1000.0;
}

void health_upkeep(health_t *h, bool ok, const char *err)
{
    if (!h)
        return;
    pthread_mutex_lock(&h->mu);
    h->upkeep_known = true;
    h->upkeep_failures = ok ? 0 : h->upkeep_failures + 1;
    if (ok)
        h->upkeep_err[0] = 0;
    else
        sd_utf8_scopy(h->upkeep_err, sizeof h->upkeep_err, err ? err : "failed",
                      SD_UTF8_ONE_LINE | SD_UTF8_ELLIPSIS);
    pthread_mutex_unlock(&h->mu);
}

void health_config(health_t *h, bool ok, uint64_t generation, const char *err)
{
    if (!h)
        return;
    pthread_mutex_lock(&h->mu);
    h->config_known = true;
    h->config_ok = ok;
    h->config_generation = generation;
    h->config_err[0] = 0;
    if (!ok && err)
        sd_utf8_scopy(h->config_err, sizeof h->config_err, err,
                      SD_UTF8_ONE_LINE | SD_UTF8_ELLIPSIS);
    pthread_mutex_unlock(&h->mu);
}

bool health_check(health_t *h, sd_ms_t now, json_t **report)
{
    if (report)
        *report = NULL;
    if (!h)
        return true;
    json_t *parts = report ? json_object() : NULL, *bad = report ? json_array() : NULL;
    bool healthy = true;
    char reason[512];
    pthread_mutex_lock(&h->mu);
    for (size_t i = 0; i < h->n_parts; i++) {
        const part_t *p = &h->parts[i];
        reason[0] = 0;
        const char *st = s_judge(h, p, now, reason, sizeof reason);
        healthy = healthy && !st;
        if (!parts)
            continue;
        json_t *o = json_pack("{s:s}", "status", st ? st : "ok");
        if (st)
            json_object_set_new(o, "reason", json_string(reason));
        if (p->flags & HEALTH_LOOP)
            json_object_set_new(o, "heartbeat_age_seconds", json_real(s_age_s(now, p->beat_mono)));
        if (p->flags & HEALTH_WRITES)
            json_object_set_new(o, "last_db_write_age_seconds",
                                json_real(s_age_s(now, p->db_ok_mono)));
        if ((p->flags & HEALTH_WRITES) && p->err[0])
            json_object_set_new(o, "last_db_error", json_string(p->err));
        json_object_set_new(parts, p->name, o);
        if (st)
            json_array_append_new(bad, json_string(p->name));
    }
    reason[0] = 0;
    const char *rst = s_judge_results(h, now, reason, sizeof reason);
    healthy = healthy && !rst;
    json_t *results = NULL;
    if (report) {
        results = json_pack("{s:s, s:I, s:f}", "status", rst ? rst : "ok", "pending",
                            (json_int_t) (h->forwarded - h->evaluated), "lag_seconds",
                            (double) h->lag_ms / 1000.0);
        if (rst) {
            json_object_set_new(results, "reason", json_string(reason));
            json_array_append_new(bad, json_string("results"));
        }
    }
    bool upkeep_bad = h->upkeep_failures >= HEALTH_UPKEEP_FAILURES;
    healthy = healthy && !upkeep_bad;
    json_t *upkeep = NULL;
    if (report && h->upkeep_known) {
        upkeep = json_pack("{s:s, s:i}", "status",
                           upkeep_bad ? "failing" : h->upkeep_failures ? "retrying" : "ok",
                           "failures_in_a_row", h->upkeep_failures);
        if (h->upkeep_err[0])
            json_object_set_new(upkeep, "last_error", json_string(h->upkeep_err));
        if (upkeep_bad)
            json_array_append_new(bad, json_string("upkeep"));
    }
    json_t *config = NULL;
    if (report && h->config_known) {
        config = json_pack("{s:s, s:I}", "status", h->config_ok ? "ok" : "reload_failed",
                           "generation", (json_int_t) h->config_generation);
        if (!h->config_ok)
            json_object_set_new(config, "error", json_string(h->config_err));
    }
    pthread_mutex_unlock(&h->mu);
    if (report) {
        *report = json_pack("{s:s, s:o, s:o, s:o}", "status", healthy ? "healthy" : "unhealthy",
                            "unhealthy", bad, "parts", parts, "results", results);
        if (*report && upkeep)
            json_object_set_new(*report, "upkeep", upkeep);
        else
            json_decref(upkeep);
        if (*report && config)
            json_object_set_new(*report, "config", config);
        else
            json_decref(config);
    }
    return healthy;
}

void health_export(health_t *h, metrics_t *m)
{
    if (!h || !m)
        return;
    sd_ms_t now = sd_mono_ms();
    char reason[512];
    bool all = true;
    pthread_mutex_lock(&h->mu);
    for (size_t i = 0; i < h->n_parts; i++) {
        const part_t *p = &h->parts[i];
        const char *labels[] = {"actor", p->name, NULL};
        bool ok = !s_judge(h, p, now, reason, sizeof reason);
        all = all && ok;
        if (p->flags & HEALTH_LOOP)
            metrics_set(m, "statusd_actor_heartbeat_timestamp_seconds",
                        "When the part's loop last went round (unix time).", labels,
                        (double) p->beat_wall / 1000.0);
        if ((p->flags & HEALTH_WRITES) && p->db_ok_wall)
            metrics_set(m, "statusd_actor_last_db_write_timestamp_seconds",
                        "When the part last wrote to the database successfully (unix time).",
                        labels, (double) p->db_ok_wall / 1000.0);
        metrics_set(m, "statusd_actor_healthy",
                    "1 while the part is healthy (see /api/health for why not).", labels, ok);
    }
    bool results_ok = !s_judge_results(h, now, reason, sizeof reason);
    metrics_set(m, "statusd_engine_results_pending",
                "Result messages stored by ingest and not yet evaluated by the engine.", NULL,
                (double) (h->forwarded - h->evaluated));
    metrics_set(m, "statusd_engine_results_lag_seconds",
                "How long the result batch the engine evaluated last had waited since it was "
                "stored.",
                NULL, (double) h->lag_ms / 1000.0);
    bool upkeep_ok = h->upkeep_failures < HEALTH_UPKEEP_FAILURES;
    metrics_set(m, "statusd_upkeep_failures",
                "Hourly upkeeps (partitions, retention, rollups) failed in a row (0 after one "
                "succeeds).",
                NULL, (double) h->upkeep_failures);
    pthread_mutex_unlock(&h->mu);
    metrics_set(m, "statusd_collector_healthy",
                "1 while /api/health answers 200: every part healthy.", NULL,
                all && results_ok && upkeep_ok);
}
