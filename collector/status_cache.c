/* status_cache: see status_cache.h. One mutex guards the snapshot, the settings and the
 * thread's flags; the build itself runs unlocked. */
#include "status_cache.h"

#include <errno.h>
#include <stdint.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "sd_clock.h"
#include "sd_log.h"
#include "store.h"
#include "store_api.h"
#include "store_status_page.h"

#define COMP "status-page"
#define STATEMENT_TIMEOUT_MS 30000

struct status_cache_t {
    pthread_mutex_t lock;
    pthread_cond_t cond;      /* the thread waits for want/stop, getters for a snapshot */
    pthread_t thread;
    bool started;
    char *conninfo;
    int refresh_ms;
    /* guarded by lock */
    bool want, stop;
    json_t *page;             /* settings of the latest get */
    uint64_t page_gen;        /* changes with page */
    char *snap;               /* the latest snapshot, or NULL */
    size_t snap_len;
    sd_ms_t snap_at;          /* when it was built (monotonic) */
    uint64_t builds;          /* builds finished, failed or not */
    char last_err[256];
};

/* One build: {"generatedAt", "page", "assets", "incidents", "maintenance"} as text. */
static char *s_build(store_t *s, json_t *page, char *err, size_t errlen)
{
    json_t *gb = json_object_get(page, "groupBy");
    int64_t now = sd_wall_ms();
    json_t *data = NULL;
    if (store_status_page(s, json_string_value(gb), json_is_true(json_object_get(page,
                          "showAddresses")), now, &data, err, errlen) != 0)
        return NULL;
    char at[40];
    sd_format_rfc3339(now, at, sizeof at);
    json_object_set_new(data, "generatedAt", json_string(at));
    json_object_set(data, "page", page);
    char *text = json_dumps(data, JSON_COMPACT | JSON_REAL_PRECISION(15));
    json_decref(data);
    if (!text)
        snprintf(err, errlen, "status page: out of memory");
    return text;
}

static void *s_run(void *arg)
{
    status_cache_t *c = arg;
    store_t *s = NULL;
    pthread_mutex_lock(&c->lock);
    while (!c->stop) {
        if (!c->want) {
            pthread_cond_wait(&c->cond, &c->lock);
            continue;
        }
        json_t *page = json_deep_copy(c->page);
        uint64_t gen = c->page_gen;
        pthread_mutex_unlock(&c->lock);

        char err[256] = "";
        sd_ms_t t0 = sd_mono_ms();
        if (!s && (s = store_new(c->conninfo, err, sizeof err)) != NULL)
            store_api_session_setup(s, STATEMENT_TIMEOUT_MS);
        char *text = s && page ? s_build(s, page, err, sizeof err) : NULL;
        if (!page)
            snprintf(err, sizeof err, "status page: out of memory");
        json_decref(page);
        sd_ms_t took = sd_mono_ms() - t0;

        pthread_mutex_lock(&c->lock);
        c->builds++;
        if (gen != c->page_gen) { /* the settings changed meanwhile: build again */
            free(text);
            continue;
        }
        c->want = false;
        if (text) {
            free(c->snap);
            c->snap = text;
            c->snap_len = strlen(text);
            c->snap_at = sd_mono_ms();
            c->last_err[0] = '\0';
            sd_debug(COMP, "built bytes=%zu ms=%lld", c->snap_len, (long long) took);
        } else {
            if (strcmp(c->last_err, err) != 0)
                sd_warn(COMP, "status page data not built err=%s", err);
            snprintf(c->last_err, sizeof c->last_err, "%s", err);
        }
        pthread_cond_broadcast(&c->cond);
    }
    pthread_mutex_unlock(&c->lock);
    store_destroy(&s);
    return NULL;
}

status_cache_t *status_cache_new(const char *conninfo, int refresh_ms, char *err,
                                 size_t errlen)
{
    status_cache_t *c = calloc(1, sizeof *c);
    if (!c || !(c->conninfo = strdup(conninfo ? conninfo : ""))) {
        free(c);
        snprintf(err, errlen, "status page cache: out of memory");
        return NULL;
    }
    c->refresh_ms = refresh_ms;
    pthread_mutex_init(&c->lock, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&c->cond, &ca);
    pthread_condattr_destroy(&ca);
    if (pthread_create(&c->thread, NULL, s_run, c) != 0) {
        snprintf(err, errlen, "status page cache: cannot start its thread");
        status_cache_destroy(&c);
        return NULL;
    }
    c->started = true;
    return c;
}

void status_cache_destroy(status_cache_t **p)
{
    status_cache_t *c = p ? *p : NULL;
    if (!c)
        return;
    if (c->started) {
        pthread_mutex_lock(&c->lock);
        c->stop = true;
        pthread_cond_broadcast(&c->cond);
        pthread_mutex_unlock(&c->lock);
        pthread_join(c->thread, NULL);
    }
    pthread_cond_destroy(&c->cond);
    pthread_mutex_destroy(&c->lock);
    json_decref(c->page);
    free(c->snap);
    free(c->conninfo);
    free(c);
    *p = NULL;
}

int status_cache_get(status_cache_t *c, const json_t *page, int wait_ms, char **body,
                     size_t *len, char *err, size_t errlen)
{
    pthread_mutex_lock(&c->lock);
    if (!c->page || !json_equal(c->page, (json_t *) page)) {
        json_decref(c->page);
        c->page = json_deep_copy(page);
        c->page_gen++;
        if (c->snap) {            /* other settings: the snapshot is not theirs */
            free(c->snap);
            c->snap = NULL;
        }
    }
    sd_ms_t now = sd_mono_ms();
    if (!c->snap || now - c->snap_at >= c->refresh_ms) {
        c->want = true;
        pthread_cond_broadcast(&c->cond);
    }
    uint64_t builds = c->builds;
    struct timespec until;
    clock_gettime(CLOCK_MONOTONIC, &until);
    until.tv_sec += wait_ms / 1000;
    until.tv_nsec += (long) (wait_ms % 1000) * 1000000L;
    if (until.tv_nsec >= 1000000000L) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000L;
    }
    /* none yet: wait for the build this call asked for (or one already running) */
    while (!c->snap && c->builds == builds && !c->stop)
        if (pthread_cond_timedwait(&c->cond, &c->lock, &until) == ETIMEDOUT)
            break;
    int rc = 0;
    if (c->snap) {
        *body = malloc(c->snap_len + 1);
        if (*body) {
            memcpy(*body, c->snap, c->snap_len + 1);
            *len = c->snap_len;
        } else {
            snprintf(err, errlen, "out of memory");
            rc = -ENOMEM;
        }
    } else if (c->last_err[0] && c->builds > builds) {
        snprintf(err, errlen, "%s", c->last_err);
        rc = -EIO;
    } else {
        snprintf(err, errlen, "the status page data is not ready yet");
        rc = -EAGAIN;
    }
    pthread_mutex_unlock(&c->lock);
    return rc;
}
