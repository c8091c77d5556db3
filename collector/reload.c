/* reload: see reload.h. */
#include "reload.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "channel.h"
#include "sd_clock.h"
#include "sd_log.h"
#include "store.h"
#include "store_assets.h"

#define COMP "reload"

struct reload {
    pthread_mutex_t lock;      /* one reload at a time */
    const char *manifest_path, *notifiers_path, *conninfo;
    config_ref_t *config;
    metrics_t *metrics;
    health_t *health;
};

static void s_export(reload_t *r, bool ok, uint64_t generation, const char *err)
{
    health_config(r->health, ok, generation, err);
    if (!r->metrics)
        return;
    metrics_set(r->metrics, "statusd_config_last_reload_successful",
                "1 when the last configuration reload (or the start) succeeded, 0 when it was "
                "refused and the previous configuration stays in use.",
                NULL, ok ? 1 : 0);
    if (ok)
        metrics_set(r->metrics, "statusd_config_last_reload_success_timestamp_seconds",
                    "When the configuration in use was loaded (unix time).", NULL,
                    (double) sd_wall_ms() / 1000.0);
    metrics_set(r->metrics, "statusd_config_generation",
                "The configuration in use: 1 at start, one more per successful reload.", NULL,
                (double) generation);
}

reload_t *reload_new(const char *manifest_path, const char *notifiers_path,
                     const char *db_conninfo, config_ref_t *config, metrics_t *metrics,
                     health_t *health)
{
    reload_t *r = calloc(1, sizeof *r);
    if (!r)
        return NULL;
    if (pthread_mutex_init(&r->lock, NULL) != 0) {
        free(r);
        return NULL;
    }
    r->manifest_path = manifest_path;
    r->notifiers_path = notifiers_path;
    r->conninfo = db_conninfo;
    r->config = config;
    r->metrics = metrics;
    r->health = health;
    s_export(r, true, config_ref_generation(config), NULL);
    return r;
}

void reload_destroy(reload_t **p)
{
    if (!p || !*p)
        return;
    pthread_mutex_destroy(&(*p)->lock);
    free(*p);
    *p = NULL;
}

/* The new files, checked as at start; RELOAD_INVALID with the message otherwise. */
static reload_status_t s_load(reload_t *r, sd_manifest_t **m, sd_notifiers_t **n, char *err,
                              size_t errlen)
{
    char e[RELOAD_ERR_MAX - 64] = "";
    if (sd_manifest_load(r->manifest_path, m, e, sizeof e) != 0) {
        snprintf(err, errlen, "%s", e); /* names the file already */
        return RELOAD_INVALID;
    }
    if (sd_notifiers_load(r->notifiers_path, n, e, sizeof e) != 0) {
        snprintf(err, errlen, "%s", e);
        return RELOAD_INVALID;
    }
    if (channel_check_all(*n, e, sizeof e) != 0) {
        snprintf(err, errlen, "%s: %s", r->notifiers_path, e);
        return RELOAD_INVALID;
    }
    return RELOAD_OK;
}

/* The assets table before anyone sees the new manifest: a result of a new asset must find
 * its row. */
static reload_status_t s_sync(reload_t *r, const sd_manifest_t *m, char *err, size_t errlen)
{
    char e[RELOAD_ERR_MAX - 64] = "";
    store_t *s = store_new(r->conninfo, e, sizeof e);
    int rc = s ? store_assets_sync(s, m, e, sizeof e) : -EIO;
    store_destroy(&s);
    if (rc != 0) {
        snprintf(err, errlen, "database: %s", e);
        return RELOAD_DB_FAILED;
    }
    return RELOAD_OK;
}

reload_status_t reload_run(reload_t *r, const char *source, reload_result_t *out)
{
    memset(out, 0, sizeof *out);
    pthread_mutex_lock(&r->lock);
    sd_manifest_t *m = NULL;
    sd_notifiers_t *n = NULL;
    out->status = s_load(r, &m, &n, out->error, sizeof out->error);
    const config_snap_t *old = config_ref_get(r->config);
    if (out->status == RELOAD_OK) {
        config_diff(old->manifest, old->notifiers, m, n, &out->diff);
        out->status = s_sync(r, m, out->error, sizeof out->error);
    }
    if (out->status == RELOAD_OK && config_ref_swap(r->config, m, n, &out->generation) != 0) {
        snprintf(out->error, sizeof out->error, "out of memory");
        out->status = RELOAD_DB_FAILED;
    }
    if (out->status == RELOAD_OK) {
        m = NULL; /* the snapshot owns them now */
        n = NULL;
        const config_diff_t *d = &out->diff;
        sd_info(COMP, "configuration reloaded source=%s generation=%llu assets_added=%zu "
                      "assets_removed=%zu assets_changed=%zu notifiers_added=%zu "
                      "notifiers_removed=%zu notifiers_changed=%zu policy_changed=%s "
                      "maintenance_changed=%s",
                source, (unsigned long long) out->generation, d->assets_added,
                d->assets_removed, d->assets_changed, d->notifiers_added, d->notifiers_removed,
                d->notifiers_changed, d->policy_changed ? "yes" : "no",
                d->maintenance_changed ? "yes" : "no");
    } else {
        out->generation = old->generation;
        sd_error(COMP, "configuration reload refused source=%s generation=%llu (kept) err=%s",
                 source, (unsigned long long) out->generation, out->error);
    }
    s_export(r, out->status == RELOAD_OK, out->generation,
             out->status == RELOAD_OK ? NULL : out->error);
    if (r->metrics)
        metrics_add(r->metrics, "statusd_config_reloads_total",
                    "Configuration reloads (SIGHUP, POST /api/reload), by result.",
                    (const char *[]){"result", out->status == RELOAD_OK ? "success" : "failure",
                                     NULL},
                    1);
    config_snap_put(&old);
    pthread_mutex_unlock(&r->lock);
    sd_manifest_destroy(&m);
    sd_notifiers_destroy(&n);
    return out->status;
}
