/* A ring of result pointers; seq of slot i (from head) is first_seq + i. */
#include "outq.h"

#include <stdlib.h>

struct outq {
    probe_result_t **ring;
    size_t cap, head, len;
    uint64_t first_seq; /* seq of ring[head] (next_seq when empty) */
    uint64_t dropped;
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
    self->first_seq = first_seq;
    return self;
}

void outq_destroy(outq_t **p)
{
    if (!p || !*p)
        return;
    outq_t *self = *p;
    outq_ack(self, UINT64_MAX);
    free(self->ring);
    free(self);
    *p = NULL;
}

static void s_pop(outq_t *self)
{
    probe_result_destroy(&self->ring[self->head]);
    self->head = (self->head + 1) % self->cap;
    self->len--;
    self->first_seq++;
}

int outq_push(outq_t *self, probe_result_t **r)
{
    int dropped = 0;
    if (self->len == self->cap) {
        s_pop(self);
        self->dropped++;
        dropped = 1;
    }
    probe_result_t *res = *r;
    *r = NULL;
    res->seq = self->first_seq + self->len;
    self->ring[(self->head + self->len) % self->cap] = res;
    self->len++;
    return dropped;
}

const probe_result_t *outq_get(const outq_t *self, uint64_t seq)
{
    if (seq < self->first_seq || seq - self->first_seq >= self->len)
        return NULL;
    return self->ring[(self->head + (seq - self->first_seq)) % self->cap];
}

size_t outq_ack(outq_t *self, uint64_t through)
{
    size_t n = 0;
    while (self->len > 0 && self->first_seq <= through) {
        s_pop(self);
        n++;
    }
    /* nothing pending at or below through: numbering simply continues */
    return n;
}

void outq_renumber(outq_t *self, uint64_t first)
{
    self->first_seq = first;
    for (size_t i = 0; i < self->len; i++)
        self->ring[(self->head + i) % self->cap]->seq = first + i;
}

size_t outq_len(const outq_t *self) { return self->len; }
uint64_t outq_first_seq(const outq_t *self) { return self->first_seq; }
uint64_t outq_next_seq(const outq_t *self) { return self->first_seq + self->len; }
uint64_t outq_dropped(const outq_t *self) { return self->dropped; }
