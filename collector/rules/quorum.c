/* quorum: see quorum.h. Agents are kept in a small array per asset (a handful of regions),
 * so a linear search is the right data structure. */
#include "quorum.h"

#include "sd_utf8.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define AGENT_ID_MAX 128
#define REGION_MAX 64

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
} agent_t;

struct quorum_t {
    quorum_conf_t conf;
    agent_t *agents;
    size_t n;
    size_t cap;
};

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

static int s_add(quorum_t *q, const char *agent_id, agent_t **out)
{
    if (q->n >= (size_t) q->conf.max_agents)
        return -ENOSPC;
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
    q->n++;
    *out = a;
    return 0;
}

int quorum_apply(quorum_t *q, const quorum_result_t *r, sd_ms_t received_mono)
{
    if (!q || !r || !r->agent_id || !*r->agent_id)
        return -EINVAL;
    agent_t *a = s_find(q, r->agent_id);
    if (!a) {
        int rc = s_add(q, r->agent_id, &a);
        if (rc < 0)
            return rc;
    } else if ((r->seq && a->last_seq) ? r->seq <= a->last_seq
                                      : r->started_at_ms < a->last_result_ms) {
        return 1;
    }
    if (r->seq)
        a->last_seq = r->seq;
    s_copy(a->region, sizeof a->region, r->region, 0);
    a->last_result_ms = r->started_at_ms;
    a->received_mono = received_mono;
    if (r->success) {
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
               r->error && *r->error ? r->error : "probe failed", SD_UTF8_ELLIPSIS);
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

void quorum_evaluate(const quorum_t *q, sd_ms_t now_mono, quorum_eval_t *out)
{
    memset(out, 0, sizeof *out);
    if (!q)
        return;
    for (size_t i = 0; i < q->n; i++) {
        const agent_t *a = &q->agents[i];
        if (a->excluded || s_stale(q, a, now_mono))
            continue;
        /* Every agent that reported recently counts toward the majority, also one whose
         * run is still too short to vote: one agent's early second failure must not outvote
         * another whose result is a few milliseconds behind. */
        out->live++;
        if (a->vote == QUORUM_VOTE_UNKNOWN)
            continue;
        out->voters++;
        if (a->vote == QUORUM_VOTE_DOWN) {
            out->down_votes++;
            if (a->down_since_ms &&
                (out->started_at_ms == 0 || a->down_since_ms < out->started_at_ms))
                out->started_at_ms = a->down_since_ms;
        } else {
            out->up_votes++;
        }
    }
    out->quorum = q->conf.quorum > 0 ? q->conf.quorum : out->live / 2 + 1;
    if (out->voters == 0)
        out->state = QUORUM_UNKNOWN;
    else if (out->down_votes >= out->quorum)
        out->state = QUORUM_DOWN;
    else if (out->down_votes > 0)
        out->state = QUORUM_DEGRADED;
    else
        out->state = QUORUM_UP;
    if (out->state != QUORUM_DOWN && out->down_votes == 0)
        out->started_at_ms = 0;
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
    out->consecutive_failures = a->fails;
    out->consecutive_successes = a->oks;
    out->last_result_ms = a->last_result_ms;
    out->first_failure_ms = a->vote == QUORUM_VOTE_DOWN ? a->down_since_ms : a->run_first_fail_ms;
    return 0;
}

static const char *s_states[] = {"UNKNOWN", "UP", "DEGRADED", "DOWN"};

const char *quorum_state_name(quorum_state_t s)
{
    return (unsigned) s < 4 ? s_states[s] : "UNKNOWN";
}

const char *quorum_vote_name(quorum_vote_t v)
{
    return v == QUORUM_VOTE_UP ? "UP" : v == QUORUM_VOTE_DOWN ? "DOWN" : "UNKNOWN";
}

quorum_state_t quorum_state_parse(const char *s)
{
    for (int i = 0; s && i < 4; i++)
        if (strcmp(s, s_states[i]) == 0)
            return (quorum_state_t) i;
    return QUORUM_UNKNOWN;
}
