/* quorum: see quorum.h. Agents and locations are kept in small arrays per asset (a handful
 * of regions), so a linear search is the right data structure. */
#include "quorum.h"

#include "sd_utf8.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define AGENT_ID_MAX 128
#define REGION_MAX QUORUM_REGION_MAX

/* A location: configured (the asset's locations) or the region of a tracked agent. */
typedef struct {
    char name[REGION_MAX];
    bool configured;
    int agents;                /* tracked agents in it */
    int live, down, up;        /* evaluation scratch */
} loc_t;

typedef struct {
    char *agent_id;
    char region[REGION_MAX];
    char last_error[QUORUM_ERROR_MAX];
    quorum_vote_t vote;
    int fails;                 /* consecutive failures */
    int oks;                   /* consecutive successes */
    int64_t run_first_fail_ms; /* first failure of the current failure run, 0 when none */
    int64_t down_since_ms;     /* first failure of the run that made the vote DOWN */
    int64_t last_result_ms;    /* wall ms of the last result's probe start */
    uint64_t last_seq;         /* 0 until a result with a sequence number */
    sd_ms_t received_mono;
    bool excluded;             /* isolated: does not vote (quorum_set_excluded) */
    bool slow;                 /* last success slower than degraded_latency_ms */
    int64_t latency_ms;
    size_t loc;                /* index into locs */
} agent_t;

struct quorum_t {
    quorum_conf_t conf;
    agent_t *agents;
    size_t n;
    size_t cap;
    loc_t *locs;
    size_t n_locs;
    size_t locs_cap;
};

/* The index of location name, added when new (reusing an unused unconfigured slot); 0 or
 * -ENOMEM. */
static int s_loc(quorum_t *q, const char *name, bool configured, size_t *idx)
{
    char n[REGION_MAX];
    sd_utf8_scopy(n, sizeof n, name ? name : "", SD_UTF8_ONE_LINE);
    size_t free_slot = SIZE_MAX;
    for (size_t i = 0; i < q->n_locs; i++) {
        if (strcmp(q->locs[i].name, n) == 0) {
            q->locs[i].configured |= configured;
            *idx = i;
            return 0;
        }
        if (free_slot == SIZE_MAX && !q->locs[i].configured && q->locs[i].agents == 0)
            free_slot = i;
    }
    if (free_slot == SIZE_MAX) {
        if (q->n_locs == q->locs_cap) {
            size_t cap = q->locs_cap ? q->locs_cap * 2 : 4;
            loc_t *l = realloc(q->locs, cap * sizeof *l);
            if (!l)
                return -ENOMEM;
            q->locs = l;
            q->locs_cap = cap;
        }
        free_slot = q->n_locs++;
    }
    loc_t *l = &q->locs[free_slot];
    memset(l, 0, sizeof *l);
    memcpy(l->name, n, sizeof n);
    l->configured = configured;
    *idx = free_slot;
    return 0;
}

quorum_t *quorum_new(const quorum_conf_t *conf)
{
    quorum_t *q = calloc(1, sizeof *q);
    if (!q)
        return NULL;
    q->conf = *conf;
    if (q->conf.failure_threshold <= 0)
        q->conf.failure_threshold = 2;
    if (q->conf.success_threshold <= 0)
        q->conf.success_threshold = 1;
    if (q->conf.quorum < 0)
        q->conf.quorum = 0;
    if (q->conf.max_agents <= 0)
        q->conf.max_agents = QUORUM_MAX_AGENTS_DEFAULT;
    if (q->conf.interval_ms <= 0)
        q->conf.interval_ms = 60000;
    q->conf.locations = NULL; /* copied into locs */
    for (size_t i = 0; i < conf->n_locations && conf->locations; i++) {
        size_t idx;
        if (conf->locations[i] && s_loc(q, conf->locations[i], true, &idx) != 0) {
            quorum_destroy(&q);
            return NULL;
        }
    }
    return q;
}

void quorum_destroy(quorum_t **qp)
{
    if (!qp || !*qp)
        return;
    quorum_t *q = *qp;
    for (size_t i = 0; i < q->n; i++)
        free(q->agents[i].agent_id);
    free(q->agents);
    free(q->locs);
    free(q);
    *qp = NULL;
}

static agent_t *s_find(const quorum_t *q, const char *agent_id)
{
    for (size_t i = 0; i < q->n; i++)
        if (strcmp(q->agents[i].agent_id, agent_id) == 0)
            return &q->agents[i];
    return NULL;
}

/* The agent's text as kept here: valid one-line UTF-8 cut at a character boundary (the
 * engine puts it into incidents, notifications and the API, all of which refuse a cut
 * character). */
static void s_copy(char *dst, size_t len, const char *src, unsigned flags)
{
    sd_utf8_scopy(dst, len, src, SD_UTF8_ONE_LINE | flags);
}

static int s_add(quorum_t *q, const char *agent_id, const char *region, agent_t **out)
{
    if (q->n >= (size_t) q->conf.max_agents)
        return -ENOSPC;
    size_t loc;
    if (s_loc(q, region, false, &loc) != 0)
        return -ENOMEM;
    if (q->n == q->cap) {
        size_t cap = q->cap ? q->cap * 2 : 4;
        agent_t *a = realloc(q->agents, cap * sizeof *a);
        if (!a)
            return -ENOMEM;
        q->agents = a;
        q->cap = cap;
    }
    agent_t *a = &q->agents[q->n];
    memset(a, 0, sizeof *a);
    a->agent_id = strndup(agent_id, AGENT_ID_MAX);
    if (!a->agent_id)
        return -ENOMEM;
    s_copy(a->region, sizeof a->region, region ? region : "", 0);
    a->loc = loc;
    q->locs[loc].agents++;
    q->n++;
    *out = a;
    return 0;
}

/* The agent moved to another region (its new Hello said so). */
static int s_move(quorum_t *q, agent_t *a, const char *region)
{
    char r[REGION_MAX];
    s_copy(r, sizeof r, region ? region : "", 0);
    if (strcmp(r, a->region) == 0)
        return 0;
    size_t loc;
    q->locs[a->loc].agents--;
    if (s_loc(q, r, false, &loc) != 0) {
        q->locs[a->loc].agents++;
        return -ENOMEM;
    }
    memcpy(a->region, r, sizeof r);
    a->loc = loc;
    q->locs[loc].agents++;
    return 0;
}

int quorum_apply(quorum_t *q, const quorum_result_t *r, sd_ms_t received_mono)
{
    if (!q || !r || !r->agent_id || !*r->agent_id)
        return -EINVAL;
    agent_t *a = s_find(q, r->agent_id);
    if (!a) {
        int rc = s_add(q, r->agent_id, r->region, &a);
        if (rc < 0)
            return rc;
    } else if ((r->seq && a->last_seq) ? r->seq <= a->last_seq
                                      : r->started_at_ms < a->last_result_ms) {
        return 1;
    } else if (s_move(q, a, r->region) != 0) {
        return -ENOMEM;
    }
    if (r->seq)
        a->last_seq = r->seq;
    a->last_result_ms = r->started_at_ms;
    a->received_mono = received_mono;
    a->latency_ms = r->latency_ms;
    bool success = r->success;
    const char *error = r->error;
    char slow_err[96];
    if (success && q->conf.max_latency_ms > 0 && r->latency_ms > q->conf.max_latency_ms) {
        snprintf(slow_err, sizeof slow_err, "latency %" PRId64 " ms above maxLatencyMs %" PRId64,
                 r->latency_ms, q->conf.max_latency_ms);
        success = false;
        error = slow_err;
    }
    a->slow = success && q->conf.degraded_latency_ms > 0 &&
              r->latency_ms > q->conf.degraded_latency_ms;
    if (success) {
        a->fails = 0;
        a->run_first_fail_ms = 0;
        a->last_error[0] = 0;
        if (a->oks < q->conf.success_threshold)
            a->oks++;
        if (a->oks >= q->conf.success_threshold) {
            a->vote = QUORUM_VOTE_UP;
            a->down_since_ms = 0;
        }
    } else {
        a->oks = 0;
        if (a->fails == 0)
            a->run_first_fail_ms = r->started_at_ms;
        if (a->fails < q->conf.failure_threshold)
            a->fails++;
        s_copy(a->last_error, sizeof a->last_error,
               error && *error ? error : "probe failed", SD_UTF8_ELLIPSIS);
        if (a->fails >= q->conf.failure_threshold && a->vote != QUORUM_VOTE_DOWN) {
            a->vote = QUORUM_VOTE_DOWN;
            a->down_since_ms = a->run_first_fail_ms;
        }
    }
    return 0;
}

quorum_vote_t quorum_agent_vote(const quorum_t *q, const char *agent_id)
{
    const agent_t *a = q && agent_id ? s_find(q, agent_id) : NULL;
    return a ? a->vote : QUORUM_VOTE_UNKNOWN;
}

void quorum_forget(quorum_t *q, const char *agent_id)
{
    agent_t *a = q && agent_id ? s_find(q, agent_id) : NULL;
    if (!a)
        return;
    free(a->agent_id);
    q->locs[a->loc].agents--;
    size_t i = (size_t) (a - q->agents);
    memmove(&q->agents[i], &q->agents[i + 1], (q->n - i - 1) * sizeof *a);
    q->n--;
}

static bool s_stale(const quorum_t *q, const agent_t *a, sd_ms_t now_mono)
{
    return now_mono - a->received_mono > 3 * q->conf.interval_ms;
}

bool quorum_agent_live(const quorum_t *q, const char *agent_id, sd_ms_t now_mono)
{
    const agent_t *a = q && agent_id ? s_find(q, agent_id) : NULL;
    return a && !s_stale(q, a, now_mono);
}

/* Appends ", name" (or "name" first) to buf, cut with "…" when it does not fit. */
static void s_append_name(char *buf, size_t len, const char *name)
{
    size_t used = strlen(buf);
    if (used + 8 >= len)
        return;
    if (used)
        snprintf(buf + used, len - used, ", ");
    used = strlen(buf);
    sd_utf8_scopy(buf + used, len - used, name, SD_UTF8_ONE_LINE | SD_UTF8_ELLIPSIS);
}

static void s_reason(const quorum_t *q, quorum_eval_t *out)
{
    char down[96] = "", slow[96] = "";
    int64_t slowest = 0;
    for (size_t i = 0; i < q->n_locs; i++)
        if (q->locs[i].live > 0 && q->locs[i].down * 2 > q->locs[i].live)
            s_append_name(down, sizeof down, q->locs[i].name);
    for (size_t i = 0; i < q->n; i++) {
        const agent_t *a = &q->agents[i];
        if (a->slow && a->vote == QUORUM_VOTE_UP && q->locs[a->loc].live > 0) {
            if (!strstr(slow, a->region))
                s_append_name(slow, sizeof slow, a->region);
            slowest = a->latency_ms > slowest ? a->latency_ms : slowest;
        }
    }
    char *r = out->reason;
    size_t len = sizeof out->reason;
    switch (out->state) {
    case QUORUM_UNKNOWN:
        snprintf(r, len, "no live agent has a vote (%d of %d locations live)",
                 out->live_locations, out->locations);
        break;
    case QUORUM_DOWN:
        snprintf(r, len, "DOWN from %d of %d locations (%s); quorum %d", out->down_locations,
                 out->locations, down, out->quorum);
        break;
    case QUORUM_UNCONFIRMED:
        snprintf(r, len, "DOWN from %d of %d locations (%s) but only %d %s a live agent; quorum "
                 "needs %d", out->down_locations, out->locations, down, out->live_locations,
                 out->live_locations == 1 ? "has" : "have", out->quorum);
        break;
    case QUORUM_DEGRADED:
        if (out->down_locations > 0)
            snprintf(r, len, "DOWN from %d of %d locations (%s); quorum needs %d",
                     out->down_locations, out->locations, down, out->quorum);
        else if (out->down_votes > 0)
            snprintf(r, len, "%d of %d live agents fail, no location's majority",
                     out->down_votes, out->live);
        else
            snprintf(r, len, "slow from %s: %" PRId64 " ms above degradedLatencyMs %" PRId64,
                     slow, slowest, q->conf.degraded_latency_ms);
        break;
    default:
        snprintf(r, len, "UP from %d of %d locations", out->live_locations, out->locations);
        break;
    }
    /* the names are valid UTF-8 and the format adds ASCII only, but a cut may split one */
    sd_utf8_fix(r, strlen(r), SD_UTF8_ONE_LINE);
}

void quorum_evaluate(quorum_t *q, sd_ms_t now_mono, quorum_eval_t *out)
{
    memset(out, 0, sizeof *out);
    if (!q)
        return;
    for (size_t i = 0; i < q->n_locs; i++)
        q->locs[i].live = q->locs[i].down = q->locs[i].up = 0;
    for (size_t i = 0; i < q->n; i++) {
        const agent_t *a = &q->agents[i];
        if (a->excluded || s_stale(q, a, now_mono))
            continue;
        loc_t *l = &q->locs[a->loc];
        /* Every agent that reported recently counts toward its location's majority, also
         * one whose run is still too short to vote: one agent's early second failure must
         * not outvote another whose result is a few milliseconds behind. */
        out->live++;
        l->live++;
        if (a->vote == QUORUM_VOTE_UNKNOWN)
            continue;
        out->voters++;
        if (a->vote == QUORUM_VOTE_DOWN) {
            out->down_votes++;
            l->down++;
            if (a->down_since_ms &&
                (out->started_at_ms == 0 || a->down_since_ms < out->started_at_ms))
                out->started_at_ms = a->down_since_ms;
        } else {
            out->up_votes++;
            l->up++;
            out->slow_votes += a->slow;
        }
    }
    for (size_t i = 0; i < q->n_locs; i++) {
        const loc_t *l = &q->locs[i];
        if (!l->configured && l->agents == 0)
            continue;
        out->locations++;
        out->live_locations += l->live > 0;
        out->down_locations += l->live > 0 && l->down * 2 > l->live;
    }
    if (q->conf.quorum > 0) {
        out->quorum = q->conf.quorum < out->locations ? q->conf.quorum : out->locations;
    } else {
        out->quorum = out->live_locations / 2 + 1;
        if (out->locations >= 2 && out->quorum < 2)
            out->quorum = 2;
    }
    if (out->quorum < 1)
        out->quorum = 1;
    if (out->voters == 0)
        out->state = QUORUM_UNKNOWN;
    else if (out->down_locations >= out->quorum)
        out->state = QUORUM_DOWN;
    else if (out->down_locations > 0 && out->live_locations < out->quorum)
        out->state = QUORUM_UNCONFIRMED;
    else if (out->down_votes > 0 || out->slow_votes > 0)
        out->state = QUORUM_DEGRADED;
    else
        out->state = QUORUM_UP;
    if (out->state != QUORUM_DOWN && out->down_votes == 0)
        out->started_at_ms = 0;
    s_reason(q, out);
}

bool quorum_set_excluded(quorum_t *q, const char *agent_id, bool excluded)
{
    agent_t *a = q && agent_id ? s_find(q, agent_id) : NULL;
    if (!a || a->excluded == excluded)
        return false;
    a->excluded = excluded;
    return true;
}

size_t quorum_agent_count(const quorum_t *q) { return q ? q->n : 0; }

int quorum_agent_at(const quorum_t *q, size_t i, sd_ms_t now_mono, quorum_agent_t *out)
{
    if (!q || i >= q->n)
        return -ERANGE;
    const agent_t *a = &q->agents[i];
    out->agent_id = a->agent_id;
    out->region = a->region;
    out->last_error = a->last_error;
    out->vote = a->vote;
    out->stale = s_stale(q, a, now_mono);
    out->excluded = a->excluded;
    out->slow = a->slow;
    out->latency_ms = a->latency_ms;
    out->consecutive_failures = a->fails;
    out->consecutive_successes = a->oks;
    out->last_result_ms = a->last_result_ms;
    out->first_failure_ms = a->vote == QUORUM_VOTE_DOWN ? a->down_since_ms : a->run_first_fail_ms;
    return 0;
}

static const char *s_states[] = {"UNKNOWN", "UP", "DEGRADED", "DOWN", "UNCONFIRMED"};
#define N_STATES (sizeof s_states / sizeof *s_states)

const char *quorum_state_name(quorum_state_t s)
{
    return (unsigned) s < N_STATES ? s_states[s] : "UNKNOWN";
}

const char *quorum_vote_name(quorum_vote_t v)
{
    return v == QUORUM_VOTE_UP ? "UP" : v == QUORUM_VOTE_DOWN ? "DOWN" : "UNKNOWN";
}

quorum_state_t quorum_state_parse(const char *s)
{
    for (size_t i = 0; s && i < N_STATES; i++)
        if (strcmp(s, s_states[i]) == 0)
            return (quorum_state_t) i;
    return QUORUM_UNKNOWN;
}
