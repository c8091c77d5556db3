/* config_ref: see config_ref.h. The references are atomic, so a snapshot can be put from
 * any thread; the holder's mutex only orders get against swap. */
#include "config_ref.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    config_snap_t pub;         /* first: a config_snap_t * is a snap_t * */
    atomic_int refs;
    sd_manifest_t *manifest;   /* owned */
    sd_notifiers_t *notifiers; /* owned */
} snap_t;

struct config_ref {
    pthread_mutex_t lock;
    snap_t *current;           /* the holder's reference */
    atomic_uint_fast64_t generation;
};

static snap_t *s_snap_new(sd_manifest_t *m, sd_notifiers_t *n, uint64_t generation)
{
    snap_t *s = calloc(1, sizeof *s);
    if (!s)
        return NULL;
    atomic_init(&s->refs, 1);
    s->manifest = m;
    s->notifiers = n;
    s->pub = (config_snap_t){.manifest = m, .notifiers = n, .generation = generation};
    return s;
}

const config_snap_t *config_snap_ref(const config_snap_t *s)
{
    if (s)
        atomic_fetch_add(&((snap_t *) s)->refs, 1);
    return s;
}

void config_snap_put(const config_snap_t **p)
{
    if (!p || !*p)
        return;
    snap_t *s = (snap_t *) *p;
    *p = NULL;
    if (atomic_fetch_sub(&s->refs, 1) != 1)
        return;
    sd_manifest_destroy(&s->manifest);
    sd_notifiers_destroy(&s->notifiers);
    free(s);
}

config_ref_t *config_ref_new(sd_manifest_t *m, sd_notifiers_t *n)
{
    config_ref_t *r = calloc(1, sizeof *r);
    if (!r)
        return NULL;
    if (pthread_mutex_init(&r->lock, NULL) != 0) {
        free(r);
        return NULL;
    }
    if (!(r->current = s_snap_new(m, n, 1))) {
        pthread_mutex_destroy(&r->lock);
        free(r);
        return NULL;
    }
    atomic_init(&r->generation, 1);
    return r;
}

void config_ref_destroy(config_ref_t **p)
{
    if (!p || !*p)
        return;
    config_ref_t *r = *p;
    const config_snap_t *cur = &r->current->pub;
    config_snap_put(&cur);
    pthread_mutex_destroy(&r->lock);
    free(r);
    *p = NULL;
}

const config_snap_t *config_ref_get(config_ref_t *r)
{
    pthread_mutex_lock(&r->lock);
    const config_snap_t *s = config_snap_ref(&r->current->pub);
    pthread_mutex_unlock(&r->lock);
    return s;
}

uint64_t config_ref_generation(const config_ref_t *r)
{
    return r ? atomic_load(&((config_ref_t *) r)->generation) : 0;
}

int config_ref_swap(config_ref_t *r, sd_manifest_t *m, sd_notifiers_t *n,
                    uint64_t *generation)
{
    pthread_mutex_lock(&r->lock);
    uint64_t g = r->current->pub.generation + 1;
    snap_t *s = s_snap_new(m, n, g);
    if (!s) {
        pthread_mutex_unlock(&r->lock);
        return -ENOMEM;
    }
    const config_snap_t *old = &r->current->pub;
    r->current = s;
    /* published after the snapshot: whoever sees the new number gets the new snapshot */
    atomic_store(&r->generation, g);
    pthread_mutex_unlock(&r->lock);
    config_snap_put(&old);
    if (generation)
        *generation = g;
    return 0;
}

void config_view_init(config_view_t *v, config_ref_t *holder, const sd_manifest_t *m,
                      const sd_notifiers_t *n)
{
    memset(v, 0, sizeof *v);
    if (!holder) {
        v->manifest = m;
        v->notifiers = n;
        return;
    }
    v->snap = config_ref_get(holder);
    v->manifest = v->snap->manifest;
    v->notifiers = v->snap->notifiers;
    v->generation = v->snap->generation;
}

bool config_view_refresh(config_view_t *v, config_ref_t *holder, config_view_t *old)
{
    memset(old, 0, sizeof *old);
    if (!holder || config_ref_generation(holder) == v->generation)
        return false;
    *old = *v;
    config_view_init(v, holder, NULL, NULL);
    if (v->generation == old->generation) { /* raced back to the same one: nothing new */
        config_view_release(v);
        *v = *old;
        memset(old, 0, sizeof *old);
        return false;
    }
    return true;
}

void config_view_release(config_view_t *v)
{
    config_snap_put(&v->snap);
    memset(v, 0, sizeof *v);
}
