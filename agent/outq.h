/* outq: the agent's unacknowledged results, in sequence order. Each pushed result gets the
 * next per-agent sequence number (strictly increasing, never reused). Pending numbers are
 * consecutive except after outq_push_at, which skips numbers (results replayed from the
 * spool, where some records were lost): positions 0 .. len-1 address the pending results
 * whatever their numbers. Bounded: when full, the oldest result is dropped and counted.
 * One observer (the spool) may follow every change of the pending set. */
#ifndef OUTQ_H
#define OUTQ_H

#include "probe.h"

#include <stddef.h>
#include <stdint.h>

typedef struct outq outq_t;

/* Told about every change, after the queue is consistent again; a callback may call outq
 * functions itself (released then reports the nested change on its own). */
typedef struct {
    /* r is pending now, with its number (not called by outq_push_at) */
    void (*pushed)(const probe_result_t *r, void *ctx);
    /* every result numbered <= through is gone (acked, dropped when full, or released) */
    void (*released)(uint64_t through, void *ctx);
    /* every pending result got a new number (outq_renumber) */
    void (*renumbered)(void *ctx);
} outq_observer_t;

/* An empty queue holding at most max_pending (>= 1) results, numbering from first_seq
 * (the agent passes wall-clock microseconds at start). NULL on ENOMEM/EINVAL. */
outq_t *outq_new(size_t max_pending, uint64_t first_seq);
/* Frees the pending results without telling the observer. Accepts NULL. */
void outq_destroy(outq_t **p);
/* obs (NULL: none) is told about later changes; obs must outlive the queue or be removed. */
void outq_observe(outq_t *self, const outq_observer_t *obs, void *ctx);
/* Takes *r (sets *r = NULL) and gives it the next sequence number. Returns 1 when the oldest
 * pending result had to be dropped to make room, else 0. */
int outq_push(outq_t *self, probe_result_t **r);
/* Like outq_push, but *r keeps the number seq (>= outq_next_seq; the numbers skipped are
 * never used) and the observer is not told (the result came from the spool). 1 or 0 as
 * outq_push; -EINVAL (nothing taken) when seq is below outq_next_seq. */
int outq_push_at(outq_t *self, probe_result_t **r, uint64_t seq);
/* The pending result with this sequence number, or NULL. */
const probe_result_t *outq_get(const outq_t *self, uint64_t seq);
/* The position of the lowest pending number >= seq (outq_len when none). */
size_t outq_pos(const outq_t *self, uint64_t seq);
/* The pending result at position pos (0 = oldest), or NULL past the end. */
const probe_result_t *outq_at(const outq_t *self, size_t pos);
/* Frees every pending result with seq <= through; returns how many. */
size_t outq_ack(outq_t *self, uint64_t through);
/* Renumbers all pending results to first, first+1, ... and continues numbering after them.
 * Only for results no collector has stored (see uplink). */
void outq_renumber(outq_t *self, uint64_t first);
size_t outq_len(const outq_t *self);
/* Lowest pending sequence number (next_seq when empty). */
uint64_t outq_first_seq(const outq_t *self);
uint64_t outq_next_seq(const outq_t *self);
/* Results dropped because the queue was full, since start. */
uint64_t outq_dropped(const outq_t *self);

#endif
