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
#include <zlib.h>

#include "sd_clock.h"
#include "sd_log.h"
#include "store.h"
#include "store_status_page.h"

#define COMP "status-page"
#define STATEMENT_TIMEOUT "30000"  /* ms */

/* One built snapshot, shared by the cache and the requests copying it (reference counted:
 * a request copies it outside the lock, a new build replaces it meanwhile). */
typedef struct {
    int refs;                 /* guarded by the cache's lock */
    char *text;
    size_t len;
    unsigned char *gz;        /* the same, gzip-compressed (NULL: compression failed) */
    size_t gz_len;
} snap_t;

static void s_snap_free(snap_t *p)
{
    if (!p)
        return;
    free(p->text);
    free(p->gz);
    free(p);
}

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
    snap_t *snap;             /* the latest snapshot, or NULL */
    sd_ms_t snap_at;          /* when it was built (monotonic) */
    sd_ms_t failed_at;        /* when the last build failed (monotonic; 0: it did not) */
    sd_ms_t build_ms;         /* how long the last build took */
    uint64_t builds;          /* builds finished, failed or not */
    char last_err[256];
};

/* Drops one reference (under the lock). */
static void s_snap_put(snap_t *p)
{
    if (p && --p->refs == 0)
        s_snap_free(p);
}

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

/* text as gzip (level 6), or NULL. 10,000 assets: about 20 MB become about 1 MB. */
static unsigned char *s_gzip(const char *text, size_t len, size_t *out_len)
{
    z_stream z = {0};
    if (deflateInit2(&z, 6, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK)
        return NULL;
    uLong cap = deflateBound(&z, (uLong) len);
    unsigned char *out = malloc(cap);
    z.next_in = (Bytef *) text;
    z.avail_in = (uInt) len;
    z.next_out = out;
    z.avail_out = (uInt) cap;
    int rc = out ? deflate(&z, Z_FINISH) : Z_MEM_ERROR;
    *out_len = z.total_out;
    deflateEnd(&z);
    if (rc != Z_STREAM_END) {
        free(out);
        return NULL;
    }
    return out;
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
        /* a build aggregates a million rows at 10,000 assets (about 130 MB of hash table):
         * room for it in memory, not on disk */
        if (!s && (s = store_new(c->conninfo, err, sizeof err)) != NULL)
            store_set_session_sql(s, "SET statement_timeout = " STATEMENT_TIMEOUT
                                     "; SET work_mem = '256MB'");
        char *text = s && page ? s_build(s, page, err, sizeof err) : NULL;
        size_t gz_len = 0;
        unsigned char *gz = text ? s_gzip(text, strlen(text), &gz_len) : NULL;
        if (!page)
            snprintf(err, sizeof err, "status page: out of memory");
        json_decref(page);
        sd_ms_t took = sd_mono_ms() - t0;

        snap_t *snap = text ? calloc(1, sizeof *snap) : NULL;
        if (snap)
            *snap = (snap_t) {.refs = 1, .text = text, .len = strlen(text), .gz = gz,
                              .gz_len = gz_len};
        else if (text) {
            free(text);
            free(gz);
            snprintf(err, sizeof err, "status page: out of memory");
        }

        pthread_mutex_lock(&c->lock);
        c->builds++;
        if (gen != c->page_gen) { /* the settings changed meanwhile: build again */
            s_snap_free(snap);
            pthread_cond_broadcast(&c->cond);
            continue;
        }
        c->want = false;
        if (snap) {
            s_snap_put(c->snap);
            c->snap = snap;
            c->snap_at = sd_mono_ms();
            c->failed_at = 0;
            c->build_ms = took;
            c->last_err[0] = '\0';
            sd_debug(COMP, "built bytes=%zu gzip=%zu ms=%lld", snap->len, snap->gz_len,
                     (long long) took);
        } else {
            c->failed_at = sd_mono_ms();
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
    s_snap_put(c->snap);
    free(c->conninfo);
    free(c);
    *p = NULL;
}

int status_cache_get(status_cache_t *c, const json_t *page, int wait_ms, bool *gzip,
                     char **body, size_t *len, char *err, size_t errlen)
{
    pthread_mutex_lock(&c->lock);
    if (!c->page || !json_equal(c->page, (json_t *) page)) {
        json_decref(c->page);
        c->page = json_deep_copy(page);
        c->page_gen++;
        s_snap_put(c->snap);      /* other settings: the snapshot is not theirs */
        c->snap = NULL;
        c->failed_at = 0;
    }
    sd_ms_t now = sd_mono_ms();
    /* stale after the refresh period, or five builds' time when building is slow (10,000
     * assets): the database spends at most a fifth of its time on the page. A failed build
     * is not tried again sooner than that either (a database in trouble gets no more load
     * from the page), and then nobody waits for it. */
    sd_ms_t max_age = c->build_ms * 5 > c->refresh_ms ? c->build_ms * 5 : c->refresh_ms;
    bool backoff = c->failed_at && now - c->failed_at < max_age;
    if ((!c->snap || now - c->snap_at >= max_age) && !backoff) {
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
    while (!c->snap && !backoff && c->builds == builds && !c->stop)
        if (pthread_cond_timedwait(&c->cond, &c->lock, &until) == ETIMEDOUT)
            break;
    snap_t *snap = c->snap;
    int rc = 0;
    if (snap) {
        snap->refs++;
    } else if (c->last_err[0] && (backoff || c->builds > builds)) {
        snprintf(err, errlen, "%s", c->last_err);
        rc = -EIO;
    } else {
        snprintf(err, errlen, "the status page data is not ready yet");
        rc = -EAGAIN;
    }
    pthread_mutex_unlock(&c->lock);
    if (!snap)
        return rc;
    /* the copy outside the lock: 25 MB at 10,000 assets must not hold the other readers */
    bool z = gzip && *gzip && snap->gz;
    const void *src = z ? (const void *) snap->gz : snap->text;
    size_t n = z ? snap->gz_len : snap->len;
    if (gzip)
        *gzip = z;
    *body = malloc(n + 1);
    if (*body) {
        memcpy(*body, src, n);
        (*body)[n] = '\0';
        *len = n;
    } else {
        snprintf(err, errlen, "out of memory");
        rc = -ENOMEM;
    }
    pthread_mutex_lock(&c->lock);
    s_snap_put(snap);
    pthread_mutex_unlock(&c->lock);
    return rc;
}
