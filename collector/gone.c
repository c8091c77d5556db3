/* gone: agents gone away and since when (gone.h). A hash of id -> time; the full-table
 * eviction and the expiry scan it (both rare: a sweep a minute, an eviction only past the
 * bound). Callbacks run after the entry left, on a copy of its id. */
#include "gone.h"

#include <czmq.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

struct gone_t {
    zhashx_t *since;   /* agent id -> sd_ms_t (owned) */
    size_t max;
};

static void s_free_item(void **item)
{
    free(*item);
    *item = NULL;
}

gone_t *gone_new(size_t max)
{
    gone_t *g = calloc(1, sizeof *g);
    if (!g || !(g->since = zhashx_new())) {
        free(g);
        return NULL;
    }
    zhashx_set_destructor(g->since, s_free_item);
    g->max = max > 0 ? max : 1;
    return g;
}

void gone_destroy(gone_t **p)
{
    if (!p || !*p)
        return;
    zhashx_destroy(&(*p)->since);
    free(*p);
    *p = NULL;
}

/* Removes agent and calls cb(copy of its id, since, arg) afterwards. */
static void s_leave(gone_t *g, const char *agent, sd_ms_t since,
                    void (*cb)(const char *, sd_ms_t, void *), void *arg)
{
    char *id = strdup(agent);
    zhashx_delete(g->since, agent);
    if (id && cb)
        cb(id, since, arg);
    free(id);
}

int gone_mark(gone_t *g, const char *agent, sd_ms_t now,
              void (*evict)(const char *agent, sd_ms_t since, void *arg), void *arg)
{
    if (zhashx_lookup(g->since, agent))
        return 0;
    if (zhashx_size(g->since) >= g->max) {
        const char *oldest = NULL;
        sd_ms_t oldest_ms = 0;
        for (sd_ms_t *t = zhashx_first(g->since); t; t = zhashx_next(g->since))
            if (!oldest || *t < oldest_ms) {
                oldest = zhashx_cursor(g->since);
                oldest_ms = *t;
            }
        if (oldest)
            s_leave(g, oldest, oldest_ms, evict, arg);
    }
    sd_ms_t *t = malloc(sizeof *t);
    if (!t)
        return -ENOMEM;
    *t = now;
    if (zhashx_insert(g->since, agent, t) != 0) {
        free(t);
        return -ENOMEM;
    }
    return 0;
}

void gone_clear(gone_t *g, const char *agent)
{
    zhashx_delete(g->since, agent);
}

void gone_expire(gone_t *g, sd_ms_t now, int64_t after,
                 void (*expired)(const char *agent, sd_ms_t since, void *arg), void *arg)
{
    zlist_t *due = zlist_new();
    if (!due)
        return;
    zlist_autofree(due);
    for (sd_ms_t *t = zhashx_first(g->since); t; t = zhashx_next(g->since))
        if (now - *t >= after)
            zlist_append(due, (void *) zhashx_cursor(g->since)); /* copied: autofree */
    for (char *id = zlist_first(due); id; id = zlist_next(due)) {
        sd_ms_t *t = zhashx_lookup(g->since, id);
        if (t)
            s_leave(g, id, *t, expired, arg);
    }
    zlist_destroy(&due);
}

size_t gone_size(const gone_t *g)
{
    return g ? zhashx_size(g->since) : 0;
}
