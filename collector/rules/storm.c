/* storm: see storm.h. */
#include "storm.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    char *channel;
    storm_kind_t kind;
    int64_t *times;            /* ring of the last `threshold` page times */
    int n, head;               /* pages held, next slot */
    int64_t digest_start, digest_due; /* the open digest (due 0: none yet) */
} pair_t;

struct storm {
    int threshold;
    int64_t window_ms;
    pair_t pairs[STORM_CHANNELS_MAX];
    size_t n_pairs;
};

storm_t *storm_new(int threshold, int64_t window_ms)
{
    storm_t *s = calloc(1, sizeof *s);
    if (!s)
        return NULL;
    s->threshold = threshold < 0 ? 0 : threshold > STORM_THRESHOLD_MAX ? STORM_THRESHOLD_MAX
                                                                        : threshold;
    s->window_ms = window_ms > 0 ? window_ms : 1;
    return s;
}

void storm_destroy(storm_t **p)
{
    if (!p || !*p)
        return;
    for (size_t i = 0; i < (*p)->n_pairs; i++) {
        free((*p)->pairs[i].channel);
        free((*p)->pairs[i].times);
    }
    free(*p);
    *p = NULL;
}

/* The pair of (channel, kind), created when new; NULL when full or out of memory. */
static pair_t *s_pair(storm_t *s, const char *channel, storm_kind_t kind)
{
    for (size_t i = 0; i < s->n_pairs; i++)
        if (s->pairs[i].kind == kind && strcmp(s->pairs[i].channel, channel) == 0)
            return &s->pairs[i];
    if (s->n_pairs == STORM_CHANNELS_MAX)
        return NULL;
    pair_t *p = &s->pairs[s->n_pairs];
    memset(p, 0, sizeof *p);
    p->channel = strdup(channel);
    p->times = calloc((size_t) s->threshold, sizeof *p->times);
    if (!p->channel || !p->times) {
        free(p->channel);
        free(p->times);
        memset(p, 0, sizeof *p);
        return NULL;
    }
    p->kind = kind;
    s->n_pairs++;
    return p;
}

bool storm_admit(storm_t *s, const char *channel, storm_kind_t kind, int64_t now_ms,
                 storm_digest_t *d)
{
    if (!s || s->threshold == 0 || !channel)
        return false;
    pair_t *p = s_pair(s, channel, kind);
    if (!p)
        return false;
    /* the oldest of the last `threshold` pages: within the window, this is one too many */
    bool storm = p->n == s->threshold && now_ms - p->times[p->head] < s->window_ms;
    p->times[p->head] = now_ms;
    p->head = (p->head + 1) % s->threshold;
    if (p->n < s->threshold)
        p->n++;
    if (!storm)
        return false;
    bool first = p->digest_due == 0 || now_ms >= p->digest_due;
    if (first) {
        p->digest_start = now_ms;
        p->digest_due = now_ms + s->window_ms;
    }
    snprintf(d->key, sizeof d->key, "%s/%" PRId64, storm_kind_name(kind), p->digest_start);
    d->start_ms = p->digest_start;
    d->due_ms = p->digest_due;
    d->first = first;
    return true;
}

void storm_restore_page(storm_t *s, const char *channel, storm_kind_t kind, int64_t at_ms)
{
    pair_t *p = s && s->threshold && channel ? s_pair(s, channel, kind) : NULL;
    if (!p)
        return;
    p->times[p->head] = at_ms;
    p->head = (p->head + 1) % s->threshold;
    if (p->n < s->threshold)
        p->n++;
}

bool storm_restore_digest(storm_t *s, const char *channel, const char *key)
{
    storm_kind_t kind;
    const char *slash = key ? strchr(key, '/') : NULL;
    if (!s || !s->threshold || !channel || !slash)
        return false;
    if (strncmp(key, "DOWN/", 5) == 0)
        kind = STORM_DOWN;
    else if (strncmp(key, "RECOVERY/", 9) == 0)
        kind = STORM_RECOVERY;
    else
        return false;
    char *end = NULL;
    long long start = strtoll(slash + 1, &end, 10);
    if (end == slash + 1 || *end)
        return false;
    pair_t *p = s_pair(s, channel, kind);
    if (!p)
        return false;
    if (start + s->window_ms > p->digest_due) {
        p->digest_start = start;
        p->digest_due = start + s->window_ms;
    }
    return true;
}

bool storm_kind_of(const char *event, storm_kind_t *kind)
{
    if (event && (strcmp(event, "DOWN") == 0 || strcmp(event, "REMINDER") == 0)) {
        *kind = STORM_DOWN;
        return true;
    }
    if (event && strcmp(event, "RECOVERY") == 0) {
        *kind = STORM_RECOVERY;
        return true;
    }
    return false;
}

const char *storm_kind_name(storm_kind_t kind)
{
    return kind == STORM_RECOVERY ? "RECOVERY" : "DOWN";
}
