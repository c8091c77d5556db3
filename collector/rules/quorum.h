/* quorum: per-asset, per-agent vote state and the asset verdict by location. Pure logic:
 * no I/O, no clock reads, no logging; the caller passes every time in.
 *
 * An agent's vote is DOWN after failure_threshold consecutive failures, UP after
 * success_threshold consecutive successes, otherwise its previous vote (a new agent is
 * UNKNOWN until it reaches a threshold). A success slower than max_latency_ms counts as a
 * failure ("latency N ms above maxLatencyMs M"); one slower than degraded_latency_ms marks
 * the agent slow (its vote stays UP). An agent with no result received for more than
 * 3 intervals is stale, an excluded (isolated) one does not vote: neither is live.
 *
 * A location is a region. Its vote is DOWN when more than half of its live agents vote DOWN.
 * The asset's configured locations are the conf's locations plus every region of a tracked
 * agent. The quorum counts locations: conf.quorum N > 0 is clamped to the configured
 * locations; 0 ("majority") is a majority of the locations with a live agent, at least 2
 * when 2 or more are configured. The verdict: UNKNOWN when no live agent has a vote; DOWN
 * when down locations >= quorum; UNCONFIRMED when some location sees DOWN but fewer
 * locations are live than the quorum needs (a lone location never confirms an outage of an
 * asset probed from several); DEGRADED when a live agent votes DOWN or is slow; else UP. */
#ifndef QUORUM_H
#define QUORUM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sd_clock.h"

typedef enum { QUORUM_VOTE_UNKNOWN = 0, QUORUM_VOTE_UP, QUORUM_VOTE_DOWN } quorum_vote_t;
typedef enum {
    QUORUM_UNKNOWN = 0,
    QUORUM_UP,
    QUORUM_DEGRADED,
    QUORUM_DOWN,
    QUORUM_UNCONFIRMED,
} quorum_state_t;

#define QUORUM_MAX_AGENTS_DEFAULT 256
#define QUORUM_REASON_MAX 256  /* the verdict's reason, bytes incl. NUL */
#define QUORUM_REGION_MAX 64    /* a location name kept, bytes incl. NUL */
#define QUORUM_ERROR_MAX 256   /* last error kept per agent, bytes incl. NUL; made valid
                                  one-line UTF-8, cut at a character boundary with "…" */

typedef struct {
    int failure_threshold;     /* <= 0: 2 */
    int success_threshold;     /* <= 0: 1 */
    int quorum;                /* locations; 0: majority (see above) */
    int64_t interval_ms;       /* probe interval; stale after 3 of them */
    int max_agents;            /* bound on tracked agents; <= 0: QUORUM_MAX_AGENTS_DEFAULT */
    char *const *locations;    /* the asset's configured locations (copied); NULL: none */
    size_t n_locations;
    int64_t degraded_latency_ms; /* > 0: a slower success makes the agent slow */
    int64_t max_latency_ms;    /* > 0: a slower success counts as a failure */
} quorum_conf_t;

typedef struct {
    const char *agent_id;
    const char *region;
    bool success;
    int64_t started_at_ms;     /* probe start, agent wall clock (unix ms) */
    const char *error;         /* one line; NULL or "" on success */
    int64_t latency_ms;        /* the probe's latency; <= 0 unknown (never judged slow) */
    uint64_t seq;              /* the agent's sequence number; 0 = unknown (ordered by
                                  started_at_ms then). Results are ordered by seq, i.e. in
                                  the order the agent produced and the collector received
                                  them, so an agent clock that jumps does not reorder them */
} quorum_result_t;

typedef struct {
    quorum_state_t state;
    int down_votes;
    int up_votes;
    int live;                  /* non-stale agents, whatever their vote */
    int voters;                /* live agents voting UP or DOWN */
    int slow_votes;            /* live agents voting UP whose last success was slow */
    int quorum;                /* the effective quorum used, in locations */
    int locations;             /* configured locations */
    int live_locations;        /* locations with a live agent */
    int down_locations;        /* locations whose live agents' majority votes DOWN */
    int64_t started_at_ms;     /* earliest first failure among DOWN voters; 0 when none */
    char reason[QUORUM_REASON_MAX]; /* one line saying why (valid UTF-8) */
} quorum_eval_t;

typedef struct {
    const char *agent_id;      /* valid until the next quorum_apply/quorum_destroy */
    const char *region;
    const char *last_error;    /* "" when the last result succeeded */
    quorum_vote_t vote;
    bool stale;
    bool excluded;             /* quorum_set_excluded: tracked, but not live and no vote */
    bool slow;                 /* its last success was slower than degraded_latency_ms */
    int64_t latency_ms;        /* its last result's latency, <= 0 unknown */
    int consecutive_failures;
    int consecutive_successes;
    int64_t last_result_ms;    /* wall ms of the last result's probe start */
    int64_t first_failure_ms;  /* first failure of the failure run behind a DOWN vote, else 0 */
} quorum_agent_t;

typedef struct quorum_t quorum_t;

/* A new, empty vote table (conf's locations are copied); NULL on allocation failure. */
quorum_t *quorum_new(const quorum_conf_t *conf);
void quorum_destroy(quorum_t **q);

/* Records one result, received at monotonic time received_mono (staleness is judged by
 * it, never by the agent's clock). Returns 0; 1 when the result is not newer than the
 * agent's last one (seq, or started_at_ms when seq is 0) and was ignored (replays); -EINVAL on a
 * missing agent id; -ENOSPC when a new agent would exceed max_agents; -ENOMEM. */
int quorum_apply(quorum_t *q, const quorum_result_t *r, sd_ms_t received_mono);

/* The agent's current vote; QUORUM_VOTE_UNKNOWN when it is not tracked. */
quorum_vote_t quorum_agent_vote(const quorum_t *q, const char *agent_id);

/* True when the agent is tracked and not stale at now_mono (it counts in the verdict unless
 * excluded); false for an untracked or stale agent, whose removal changes no verdict. */
bool quorum_agent_live(const quorum_t *q, const char *agent_id, sd_ms_t now_mono);

/* Removes an agent's state (e.g. it left the asset's assignment); no-op when absent. */
void quorum_forget(quorum_t *q, const char *agent_id);

/* Excludes an agent from the verdict (an isolated agent) or counts it again: an excluded
 * agent keeps its run and vote but is neither live nor a voter. True when this changed
 * anything; false for an untracked agent or no change. */
bool quorum_set_excluded(quorum_t *q, const char *agent_id, bool excluded);

/* The asset's verdict at monotonic time now_mono (q's per-location tallies are scratch). */
void quorum_evaluate(quorum_t *q, sd_ms_t now_mono, quorum_eval_t *out);

/* Number of tracked agents, and agent i's summary at now_mono (0, or -ERANGE). */
size_t quorum_agent_count(const quorum_t *q);
int quorum_agent_at(const quorum_t *q, size_t i, sd_ms_t now_mono, quorum_agent_t *out);

/* "UNKNOWN", "UP", "DEGRADED", "DOWN", "UNCONFIRMED" */
const char *quorum_state_name(quorum_state_t s);
const char *quorum_vote_name(quorum_vote_t v);     /* "UNKNOWN", "UP", "DOWN" */
/* Parses a state name; QUORUM_UNKNOWN for anything else. */
quorum_state_t quorum_state_parse(const char *s);

#endif
