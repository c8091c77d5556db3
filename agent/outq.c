/* A ring of result pointers in increasing seq order; each result carries its seq. Numbers are
 * usually consecutive, so a lookup tries position seq - first_seq before searching. */
#include "outq.h"

#include <errno.h>
#include <stdlib.h>

struct outq {
    probe_result_t **ring;
    size_t cap, head, len;
    uint64_t next_seq; /* the number of the next push */
    uint64_t dropped;
    const outq_observer_t *obs;
    void *obs_ctx;
};

outq_t *outq_new(size_t max_pending, uint64_t first_seq)
{
    if (max_pending == 0)
        return NULL;
    outq_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    self->ring = calloc(max_pending, sizeof *self->ring);
    if (!self->ring) {
        free(self);
        return NULL;
    }
    self->cap = max_pending;
    self->next_seq = first_seq;
    return self;
}

void outq_destroy(outq_t **p)
{
    if (!p || !*p)
        return;
    outq_t *self = *p;
    self->obs = NULL;
    outq_ack(self, UINT64_MAX);
    free(self->ring);
    free(self);
    *p = NULL;
}

void outq_observe(outq_t *self, const outq_observer_t *obs, void *ctx)
{
    self->obs = obs;
    self->obs_ctx = ctx;
}

static probe_result_t **s_slot(const outq_t *self, size_t pos)
{
    return &self->ring[(self->head + pos) % self->cap];
}

/* Frees the oldest result; returns its number. */
static uint64_t s_pop(outq_t *self)
{
    probe_result_t **slot = s_slot(self, 0);
    uint64_t seq = (*slot)->seq;
    probe_result_destroy(slot);
    self->head = (self->head + 1) % self->cap;
    self->len--;
    return seq;
}

static void s_released(outq_t *self, uint64_t through)
{
    if (self->obs && self->obs->released)
        self->obs->released(through, self->obs_ctx);
}

/* Appends res numbered seq (>= next_seq), dropping the oldest when full; 1 if dropped. */
static int s_append(outq_t *self, probe_result_t *res, uint64_t seq)
{
    int dropped = 0;
    uint64_t gone = 0;
    if (self->len == self->cap) {
        gone = s_pop(self);
        self->dropped++;
        dropped = 1;
    }
    res->seq = seq;
    *s_slot(self, self->len) = res;
    self->len++;
    self->next_seq = seq + 1;
    if (dropped)
        s_released(self, gone);
    return dropped;
}

int outq_push(outq_t *self, probe_result_t **r)
{
    probe_result_t *res = *r;
    *r = NULL;
    int dropped = s_append(self, res, self->next_seq);
    if (self->obs && self->obs->pushed)
        self->obs->pushed(res, self->obs_ctx);
    return dropped;
}

int outq_push_at(outq_t *self, probe_result_t **r, uint64_t seq)
{
    if (seq < self->next_seq || seq == UINT64_MAX)
        return -EINVAL;
    probe_result_t *res = *r;
    *r = NULL;
    return s_append(self, res, seq);
}

size_t outq_pos(const outq_t *self, uint64_t seq)
{
    if (self->len == 0)
        return 0;
    uint64_t first = (*s_slot(self, 0))->seq;
    if (seq <= first)
        return 0;
    /* seqs increase by at least one per position: seq sits at or before seq - first */
    size_t lo = 0, hi = self->len;
    if (seq - first < self->len) {
        if ((*s_slot(self, seq - first))->seq == seq)
            return seq - first;
        hi = seq - first;
    }
    while (lo < hi) { /* first position whose seq >= seq, in [lo, hi] */
        size_t mid = lo + (hi - lo) / 2;
        if ((*s_slot(self, mid))->seq < seq)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

const probe_result_t *outq_at(const outq_t *self, size_t pos)
{
    return pos < self->len ? *s_slot(self, pos) : NULL;
}

const probe_result_t *outq_get(const outq_t *self, uint64_t seq)
{
    const probe_result_t *r = outq_at(self, outq_pos(self, seq));
    return r && r->seq == seq ? r : NULL;
}

size_t outq_ack(outq_t *self, uint64_t through)
{
    size_t n = 0;
    uint64_t last = 0;
    while (self->len > 0 && (*s_slot(self, 0))->seq <= through) {
        last = s_pop(self);
        n++;
    }
    /* nothing pending at or below through: numbering simply continues */
    if (n > 0)
        s_released(self, last);
    return n;
}

void outq_renumber(outq_t *self, uint64_t first)
{
    for (size_t i = 0; i < self->len; i++)
        (*s_slot(self, i))->seq = first + i;
    self->next_seq = first + self->len;
    if (self->obs && self->obs->renumbered)
        self->obs->renumbered(self->obs_ctx);
}

size_t outq_len(const outq_t *self) { return self->len; }
uint64_t outq_first_seq(const outq_t *self)
{
    return self->len ? (*s_slot(self, 0))->seq : self->next_seq;
}
uint64_t outq_next_seq(const outq_t *self) { return self->next_seq; }
uint64_t outq_dropped(const outq_t *self) { return self->dropped; }
