/* agent_rules: what the collector believes about a connected agent, decided in one place:
 * the heartbeat period its silence is judged by, when it counts as silent, its clock skew
 * estimate, and how many agents the collector tracks. The gateway, ingest and the engine
 * call these and keep no rule of their own. Pure logic: no I/O, no clock reads, no logging;
 * the caller passes every time in. */
#ifndef AGENT_RULES_H
#define AGENT_RULES_H

#include <stdbool.h>
#include <stdint.h>

#include "sd_limits.h"

/* Most agents the collector tracks at once: the gateway's connected agents (a Hello beyond
 * it is refused), the engine's liveness table (it forgets a gone agent to make room) and
 * ingest's per-agent tables (sized from it). */
#define AGENT_TABLE_MAX 10000

/* A period announced in a Hello is honoured only from this up to SD_HEARTBEAT_MS_MAX (the
 * agent accepts shorter ones, but a collector judging faster than 1 s is a test setting,
 * not a slower agent to make room for). */
#define AGENT_HEARTBEAT_HONOURED_MIN_MS 1000

/* The heartbeat period an agent is judged by: its own announced_ms when it is within
 * AGENT_HEARTBEAT_HONOURED_MIN_MS..SD_HEARTBEAT_MS_MAX and longer than the collector's,
 * else the collector's (collector_ms <= 0: SD_HEARTBEAT_MS_DEFAULT). An agent slower than
 * the collector is not silent between its heartbeats; a faster one is judged by the
 * collector's period. announced_ms <= 0: unknown (the collector's). Idempotent: a period
 * this returned, passed again as announced_ms, gives the same period. */
int64_t agent_heartbeat_ms(int64_t collector_ms, int64_t announced_ms);

/* How long an agent judged by period_ms may stay unheard before it counts as gone:
 * SD_SILENT_PERIODS periods plus grace_ms (< 0: 0). The gateway passes no grace; the engine
 * awaiting an agent that was up before a rebuild passes the agents' reconnect backoff
 * (SD_RESTART_GRACE_MS), since a living agent retries up to that much later. */
int64_t agent_silence_ms(int64_t period_ms, int64_t grace_ms);

/* True when an agent unheard for unheard_ms is past agent_silence_ms(period_ms, grace_ms). */
bool agent_silent(int64_t unheard_ms, int64_t period_ms, int64_t grace_ms);

/* Clock skew estimator. Each sample is the agent's send time minus the collector's receive
 * time (both wall ms) = clock offset - one-way delay, so the largest of the last
 * AGENT_SKEW_SAMPLES is the least delayed and the estimate. It is worth reporting when none
 * was reported yet, when it moved by AGENT_SKEW_REPORT_MS or more since the last report,
 * or AGENT_SKEW_REFRESH_MS after the last report. */
#define AGENT_SKEW_SAMPLES 8
#define AGENT_SKEW_REPORT_MS 25
#define AGENT_SKEW_REFRESH_MS 60000

typedef struct {
    int64_t sample[AGENT_SKEW_SAMPLES]; /* ring */
    int n, next;
    bool reported;           /* an estimate was reported */
    int64_t reported_ms;     /* the last reported estimate */
    int64_t reported_mono;   /* when (caller's monotonic ms) */
} agent_skew_t;

/* Adds one sample (agent_sent_ms: the agent's wall clock in its message; received_wall_ms:
 * the collector's wall clock on receipt). 0, or -EINVAL (nothing added) when agent_sent_ms
 * <= 0 (the message carried no clock). A zeroed agent_skew_t is an empty estimator. */
int agent_skew_add(agent_skew_t *s, int64_t agent_sent_ms, int64_t received_wall_ms);

/* The estimate (agent clock minus collector clock, ms); 0 without samples. */
int64_t agent_skew_estimate(const agent_skew_t *s);

/* True when the estimate is due for a report at now_mono (see above); then *estimate is
 * set and the report is recorded as made. False without samples or when not due. */
bool agent_skew_report(agent_skew_t *s, int64_t now_mono, int64_t *estimate);

#endif
