/* store_agents: the agents table, its only writer: connection state, liveness, clock skew,
 * isolation, and the high-water mark of stored results (which store_results_insert moves in
 * its own transaction through store_agents_lock_seq / store_agents_advance_seq). */
#ifndef STORE_AGENTS_H
#define STORE_AGENTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sd_config.h"
#include "store.h"

/* Upserts an agent on Hello: region, version, last_seen = now(), connected = true,
 * clock_skew_ms, heartbeat_ms (the period its silence is judged by; <= 0 keeps the stored
 * one). *last_seq (written on success) = the highest stored seq. 0 or -EIO. */
int store_agents_hello(store_t *s, const char *agent_id, const char *region,
                       const char *version, int64_t clock_skew_ms, int heartbeat_ms,
                       uint64_t *last_seq, char *err, size_t errlen);
/* connected = false, last_seen = now() for one agent; 0 or -EIO (0 also when absent). */
int store_agents_disconnected(store_t *s, const char *agent_id, char *err, size_t errlen);
/* connected = false for every agent (collector start). 0 or -EIO. */
int store_agents_all_disconnected(store_t *s, char *err, size_t errlen);

/* Liveness notification state (migration 002: agents.liveness 'up'|'down').
 * store_agents_mark_down: liveness 'up' -> 'down', down_since = last_heard_ms (0: now()).
 * store_agents_mark_up: 'down' -> 'up'. Each sets *changed (true only when this call made
 * the transition, so a repeated message or a collector restart changes nothing) and, on a
 * change, fills *info. An agent without a row never changes. Run inside the caller's
 * transaction.
 * 0 or -EIO. */
typedef struct {
    char region[129];
    char version[65];
    int64_t down_since_ms;     /* mark_up: when it was last heard before going down */
} store_agent_info_t;
int store_agents_mark_down(store_t *s, const char *agent_id, const char *region,
                           int64_t last_heard_ms, bool *changed, store_agent_info_t *info,
                           char *err, size_t errlen);
int store_agents_mark_up(store_t *s, const char *agent_id, const char *region, bool *changed,
                         store_agent_info_t *info, char *err, size_t errlen);
/* agents.clock_skew_ms (agent clock minus collector clock). 0, -ENOENT when the agent has
 * no row yet (ingest writes it at the agent's Hello), or -EIO. */
int store_agents_set_skew(store_t *s, const char *agent_id, int64_t skew_ms, char *err,
                          size_t errlen);
/* When the agent was last heard as far as the database knows (wall ms in *ms, 0 when it
 * has no row): the newest of agents.last_seen (its Hello or disconnect) and the receive
 * time of its newest stored result. For an agent that went silent while no collector ran.
 * 0 or -EIO. */
int store_agents_last_heard(store_t *s, const char *agent_id, int64_t *ms, char *err,
                            size_t errlen);
/* One agents row as the engine loads it at its start. */
typedef struct {
    const char *id;
    const char *region;
    bool up;                   /* liveness 'up' */
    int64_t clock_skew_ms;
    int heartbeat_ms;          /* 0: unknown */
    int64_t down_since_ms;     /* wall ms, 0: none */
} store_agent_row_t;
/* Calls cb for every agents row except those gone for good: liveness 'down' since longer
 * than forget_ms ago (forget_ms <= 0: every row). The 'up' ones come first, then the down
 * ones, most recently down first, so a caller that can hold only so many keeps the ones
 * that matter. 0 or -EIO. */
int store_agents_load(store_t *s, int64_t forget_ms,
                      void (*cb)(const store_agent_row_t *row, void *arg), void *arg, char *err,
                      size_t errlen);

/* agents.isolated / isolated_since. 0 or -EIO (0 also when the agent has no row). */
int store_agents_set_isolated(store_t *s, const char *agent_id, bool isolated, char *err,
                              size_t errlen);
/* Calls cb(agent_id) for every isolated agent (engine start). 0 or -EIO. */
int store_agents_load_isolated(store_t *s, void (*cb)(const char *agent_id, void *arg),
                               void *arg, char *err, size_t errlen);

/* For a result batch's transaction: locks the agent's row (inserting it with region,
 * connected, when missing; last_seen = now()) until the transaction ends and writes its
 * last_seq into *last_seq. 0 or -EIO. */
int store_agents_lock_seq(store_t *s, const char *agent_id, const char *region,
                          uint64_t *last_seq, char *err, size_t errlen);
/* last_seq = seq when that is higher. 0 or -EIO. */
int store_agents_advance_seq(store_t *s, const char *agent_id, uint64_t seq, char *err,
                             size_t errlen);

#endif
