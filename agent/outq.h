/* outq: the agent's unacknowledged results, in sequence order. Each pushed result gets the
 * next per-agent sequence number (strictly increasing, never reused); pending results always
 * carry consecutive numbers first_seq .. next_seq-1. Bounded: when full, the oldest result
 * is dropped and counted. */
#ifndef OUTQ_H
#define OUTQ_H

#include "probe.h"

#include <stddef.h>
#include <stdint.h>

typedef struct outq outq_t;

/* An empty queue holding at most max_pending (>= 1) results, numbering from first_seq
 * (the agent passes wall-clock microseconds at start). NULL on ENOMEM/EINVAL. */
outq_t *outq_new(size_t max_pending, uint64_t first_seq);
void outq_destroy(outq_t **p);
/* Takes *r (sets *r = NULL) and gives it the next sequence number. Returns 1 when the oldest
 * pending result had to be dropped to make room, else 0. */
int outq_push(outq_t *self, probe_result_t **r);
/* The pending result with this sequence number, or NULL. */
const probe_result_t *outq_get(const outq_t *self, uint64_t seq);
/* Frees every pending result with seq <= through; returns how many. */
size_t outq_ack(outq_t *self, uint64_t through);
/* Renumbers all pending results to first, first+1, ... and continues numbering after them.
 * Only for a process that has not sent any result yet (see uplink). */
void outq_renumber(outq_t *self, uint64_t first);
size_t outq_len(const outq_t *self);
/* Lowest pending sequence number (next_seq when empty). */
uint64_t outq_first_seq(const outq_t *self);
uint64_t outq_next_seq(const outq_t *self);
/* Results dropped because the queue was full, since start. */
uint64_t outq_dropped(const outq_t *self);

#endif
