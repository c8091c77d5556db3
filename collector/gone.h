/* gone: the agents that went away (disconnected) and since when, bounded; the table behind
 * forgetting an agent gone for good (ingest). One owner, no locking. */
#ifndef GONE_H
#define GONE_H

#include <stddef.h>
#include <stdint.h>

#include "sd_clock.h"

typedef struct gone_t gone_t;

/* An empty table of at most max agents (>= 1); NULL on allocation failure. */
gone_t *gone_new(size_t max);
/* Frees the table (NULL is fine) and sets *g to NULL. */
void gone_destroy(gone_t **g);

/* The agent went away at now (monotonic ms); an agent already gone keeps its earlier time.
 * When the table is full, the agent gone longest leaves it first: evict(its id, since when,
 * arg) is called once it has left. 0 or -ENOMEM (nothing recorded). */
int gone_mark(gone_t *g, const char *agent, sd_ms_t now,
              void (*evict)(const char *agent, sd_ms_t since, void *arg), void *arg);
/* The agent is back: it leaves the table (no-op when absent). */
void gone_clear(gone_t *g, const char *agent);
/* Every agent gone for at least after ms at now leaves the table; expired(its id, since
 * when, arg) is called for each once it has left (the table may be used from expired). */
void gone_expire(gone_t *g, sd_ms_t now, int64_t after,
                 void (*expired)(const char *agent, sd_ms_t since, void *arg), void *arg);
/* Agents in the table. */
size_t gone_size(const gone_t *g);

#endif
