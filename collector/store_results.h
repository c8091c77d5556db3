/* store_results: raw probe results into probe_events, exactly once per (agent, seq). */
#ifndef STORE_RESULTS_H
#define STORE_RESULTS_H

#include <stddef.h>
#include <stdint.h>

#include "sd_limits.h"
#include "statusd.pb-c.h"
#include "store.h"

/* Most results one batch may carry; ingest drops (and counts) larger batches. */
#define STORE_RESULTS_MAX_BATCH SD_BATCH_RESULTS_MAX /* sd_limits.h: what a batch may hold */
/* The longest reason stored (probe_events.message), in bytes; the agent's are at most 199. */
#define STORE_RESULTS_REASON_MAX 1024

/* Stores a batch in ONE transaction: locks the agents row (inserting it if missing, with
 * region), reads last_seq, inserts the results with seq > last_seq (each seq once, in
 * ascending seq order whatever the batch order; a seq above INT64_MAX does not fit the
 * BIGINT column and is skipped), sets last_seq to the highest stored seq and commits.
 * Row mapping: ts = started_at_ms (now when out of range, or more than 24 h ahead of the
 * collector's clock, so a row never lands in a day without a partition),
 * latency_ms = latency_us/1000, code = status_code (NULL when 0), message = reason (NULL
 * when empty), phases = JSONB object {"<phase name>": milliseconds, ...} (NULL when none),
 * cert_expiry when nonzero. Every string is made valid UTF-8 (an invalid byte becomes
 * U+FFFD, sd_utf8), so a batch can never poison the queue; the reason is also made one line
 * (control characters become spaces) and cut at STORE_RESULTS_REASON_MAX bytes, asset ids
 * at 128 and phase names at 64, each at a character boundary with "…".
 * Outputs, written only on success: *n_new = number of results stored; new_idx (capacity
 * batch->n_results, may be NULL) = their indexes in batch->results, in seq order;
 * *through_seq = the batch's highest seq (also when everything was a duplicate; 0 for an empty batch).
 * Returns 0, -EINVAL (batch too large), or -EIO with the server message in err (the
 * transaction is rolled back; nothing is stored and the caller must not ack). */
int store_results_insert(store_t *s, const char *agent_id, const char *region,
                         const Statusd__ResultBatch *batch, size_t *new_idx, size_t *n_new,
                         uint64_t *through_seq, char *err, size_t errlen);

/* One stored probe result, for the restart replay. */
typedef struct {
    const char *asset_id;
    const char *agent_id;
    const char *region;
    int64_t ts_ms;           /* probe start, agent clock */
    int64_t received_ms;     /* when the collector stored it (collector clock) */
    int64_t clock_skew_ms;   /* agents.clock_skew_ms: agent clock minus collector clock */
    uint64_t seq;
    bool success;
    int64_t latency_ms;      /* the probe's latency, rounded up */
    const char *error;       /* message, or "status N" when only a code is known; "" on success */
} store_recent_result_t;

/* Calls cb for the newest per_agent results of every (asset, agent) received within the
 * last window_ms (and probed within the last window_ms + 1 h, for partition pruning),
 * ordered by asset, agent and seq ascending (the order the agent produced them).
 * 0 or -EIO. */
int store_results_recent(store_t *s, int64_t window_ms, int per_agent,
                         void (*cb)(const store_recent_result_t *r, void *arg),
                         void *arg, char *err, size_t errlen);

#endif
