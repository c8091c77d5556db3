/* quorum: thresholds, majority and explicit quorum, staleness, DEGRADED, started_at (one
 * agent per location, so these are the per-agent rules); then votes by location,
 * UNCONFIRMED, the reasons and latency, table-driven. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "quorum.h"
#include "sd_utf8.h"

#include <stdio.h>

#define IV 10000 /* interval ms */

static quorum_t *s_new(int ft, int st, int quorum)
{
    quorum_conf_t c = {.failure_threshold = ft, .success_threshold = st, .quorum = quorum,
                       .interval_ms = IV};
    quorum_t *q = quorum_new(&c);
    assert_non_null(q);
    return q;
}

/* One result of agent, which is a location of its own (its region is its name). */
static void s_feed(quorum_t *q, const char *agent, bool ok, int64_t wall, sd_ms_t mono,
                   const char *err)
{
    quorum_result_t r = {.agent_id = agent, .region = agent, .success = ok,
                         .started_at_ms = wall, .error = err};
    assert_int_equal(quorum_apply(q, &r, mono), 0);
}

static quorum_state_t s_state(quorum_t *q, sd_ms_t now)
{
    quorum_eval_t e;
    quorum_evaluate(q, now, &e);
    return e.state;
}

static void test_unknown_without_agents(void **st)
{
    quorum_t *q = s_new(0, 0, 0);
    quorum_eval_t e;
    quorum_evaluate(q, 1000, &e);
    assert_int_equal(e.state, QUORUM_UNKNOWN);
    assert_int_equal(e.live, 0);
    assert_int_equal(quorum_agent_count(q), 0);
    quorum_destroy(&q);
    assert_null(q);
    quorum_destroy(&q); /* NULL is fine */
}

static void test_failure_threshold(void **st)
{
    quorum_t *q = s_new(2, 1, 0);
    s_feed(q, "a1", false, 1000, 1000, "timeout");
    /* one failure: no vote yet */
    assert_int_equal(s_state(q, 1000), QUORUM_UNKNOWN);
    s_feed(q, "a1", false, 2000, 2000, "timeout");
    assert_int_equal(s_state(q, 2000), QUORUM_DOWN);
    /* one success flips back with success_threshold 1 */
    s_feed(q, "a1", true, 3000, 3000, NULL);
    assert_int_equal(s_state(q, 3000), QUORUM_UP);
    /* a single failure keeps the UP vote */
    s_feed(q, "a1", false, 4000, 4000, "x");
    assert_int_equal(s_state(q, 4000), QUORUM_UP);
    quorum_destroy(&q);
}

/* Two agents probe at the same instant; the first one's second failure arrives a few ms
 * before the other's. The other agent reported and counts: 1 of 2 is no majority. */
static void test_agent_without_vote_counts_toward_majority(void **st)
{
    quorum_t *q = s_new(2, 1, 0);
    s_feed(q, "a1", false, 1000, 1000, "503");
    s_feed(q, "a2", false, 1000, 1001, "503");
    s_feed(q, "a1", false, 11000, 11000, "503");
    quorum_eval_t e;
    quorum_evaluate(q, 11000, &e);
    assert_int_equal(e.live, 2);
    assert_int_equal(e.voters, 1);
    assert_int_equal(e.quorum, 2);
    assert_int_equal(e.state, QUORUM_DEGRADED);
    s_feed(q, "a2", false, 11000, 11004, "503");
    quorum_evaluate(q, 11004, &e);
    assert_int_equal(e.state, QUORUM_DOWN);
    assert_int_equal(e.started_at_ms, 1000);
    quorum_destroy(&q);
}

static void test_success_threshold(void **st)
{
    quorum_t *q = s_new(1, 3, 0);
    s_feed(q, "a1", false, 1000, 1000, "refused");
    assert_int_equal(s_state(q, 1000), QUORUM_DOWN);
    s_feed(q, "a1", true, 2000, 2000, NULL);
    s_feed(q, "a1", true, 3000, 3000, NULL);
    assert_int_equal(s_state(q, 3000), QUORUM_DOWN); /* keeps its previous vote */
    s_feed(q, "a1", true, 4000, 4000, NULL);
    assert_int_equal(s_state(q, 4000), QUORUM_UP);
    quorum_destroy(&q);
}

static void test_majority_and_degraded(void **st)
{
    quorum_t *q = s_new(1, 1, 0);
    s_feed(q, "a1", true, 1000, 1000, NULL);
    s_feed(q, "a2", true, 1000, 1000, NULL);
    s_feed(q, "a3", true, 1000, 1000, NULL);
    assert_int_equal(s_state(q, 1000), QUORUM_UP);
    s_feed(q, "a1", false, 2000, 2000, "503");
    quorum_eval_t e;
    quorum_evaluate(q, 2000, &e);
    assert_int_equal(e.state, QUORUM_DEGRADED);
    assert_int_equal(e.down_votes, 1);
    assert_int_equal(e.quorum, 2); /* 3/2+1 */
    s_feed(q, "a2", false, 2100, 2100, "503");
    quorum_evaluate(q, 2100, &e);
    assert_int_equal(e.state, QUORUM_DOWN);
    assert_int_equal(e.down_votes, 2);
    assert_int_equal(e.live, 3);
    quorum_destroy(&q);
}

static void test_even_split_is_degraded(void **st)
{
    quorum_t *q = s_new(1, 1, 0);
    s_feed(q, "a1", false, 1000, 1000, "x");
    s_feed(q, "a2", true, 1000, 1000, NULL);
    quorum_eval_t e;
    quorum_evaluate(q, 1000, &e);
    assert_int_equal(e.quorum, 2);
    assert_int_equal(e.state, QUORUM_DEGRADED);
    quorum_destroy(&q);
}

static void test_explicit_quorum(void **st)
{
    quorum_t *q = s_new(1, 1, 1);
    s_feed(q, "a1", false, 1000, 1000, "x");
    s_feed(q, "a2", true, 1000, 1000, NULL);
    s_feed(q, "a3", true, 1000, 1000, NULL);
    assert_int_equal(s_state(q, 1000), QUORUM_DOWN);
    quorum_destroy(&q);

    q = s_new(1, 1, 3);
    s_feed(q, "a3", true, 1000, 1000, NULL);
    s_feed(q, "a1", false, 1000, 1000, "x");
    s_feed(q, "a2", false, 1000, 1000, "x");
    assert_int_equal(s_state(q, 1000), QUORUM_DEGRADED); /* 2 of the required 3 */
    s_feed(q, "a3", false, 1100, 1100, "x");
    assert_int_equal(s_state(q, 1100), QUORUM_DOWN);
    quorum_destroy(&q);

    /* a quorum above the asset's locations (an old manifest counting agents) is clamped to
     * them: it still pages when every location agrees */
    q = s_new(1, 1, 3);
    s_feed(q, "a1", false, 1000, 1000, "x");
    s_feed(q, "a2", false, 1000, 1000, "x");
    quorum_eval_t e;
    quorum_evaluate(q, 1000, &e);
    assert_int_equal(e.quorum, 2);
    assert_int_equal(e.state, QUORUM_DOWN);
    quorum_destroy(&q);
}

static void test_stale_agents_do_not_vote(void **st)
{
    quorum_t *q = s_new(1, 1, 0);
    s_feed(q, "a1", false, 1000, 1000, "x");
    s_feed(q, "a2", false, 1000, 1000, "x");
    s_feed(q, "a3", true, 1000, 1000, NULL);
    assert_int_equal(s_state(q, 1000), QUORUM_DOWN);
    /* a1, a2 stop reporting; a3 keeps going: after 3 intervals only a3 votes */
    s_feed(q, "a3", true, 1000 + 3 * IV, 1000 + 3 * IV, NULL);
    assert_int_equal(s_state(q, 1000 + 3 * IV), QUORUM_DOWN); /* exactly 3 intervals: live */
    s_feed(q, "a3", true, 1001 + 3 * IV, 1001 + 3 * IV, NULL);
    quorum_eval_t e;
    quorum_evaluate(q, 1001 + 3 * IV, &e);
    assert_int_equal(e.live, 1);
    assert_int_equal(e.state, QUORUM_UP);
    quorum_agent_t ag;
    assert_int_equal(quorum_agent_at(q, 0, 1001 + 3 * IV, &ag), 0);
    assert_true(ag.stale);
    /* live is the contrary of stale for a tracked agent; an untracked one is never live */
    assert_false(quorum_agent_live(q, "a1", 1001 + 3 * IV));
    assert_true(quorum_agent_live(q, "a1", 1000 + 3 * IV));
    assert_true(quorum_agent_live(q, "a3", 1001 + 3 * IV));
    assert_false(quorum_agent_live(q, "nobody", 1000));
    /* forgetting a stale agent changes no verdict */
    quorum_evaluate(q, 1001 + 3 * IV, &e);
    quorum_forget(q, "a1");
    quorum_eval_t after;
    quorum_evaluate(q, 1001 + 3 * IV, &after);
    assert_int_equal(after.state, e.state);
    assert_int_equal(after.live, e.live);
    assert_int_equal(after.down_votes, e.down_votes);
    /* everyone stale: UNKNOWN */
    assert_int_equal(s_state(q, 1000 + 10 * IV), QUORUM_UNKNOWN);
    quorum_destroy(&q);
}

static void test_started_at_is_earliest_down_voter(void **st)
{
    quorum_t *q = s_new(2, 1, 0);
    /* a3 failed earliest but only once: it does not vote DOWN, so it must not count */
    s_feed(q, "a3", false, 500, 500, "x");
    s_feed(q, "a1", false, 1000, 1000, "status 503");
    s_feed(q, "a2", false, 1200, 1200, "status 503");
    s_feed(q, "a1", false, 2000, 2000, "status 503");
    s_feed(q, "a2", false, 2200, 2200, "status 502");
    quorum_eval_t e;
    quorum_evaluate(q, 2200, &e);
    assert_int_equal(e.state, QUORUM_DOWN);
    assert_int_equal(e.started_at_ms, 1000);
    /* a success then one failure on a1 does not reset a DOWN-vote run it already left */
    s_feed(q, "a1", true, 3000, 3000, NULL);
    s_feed(q, "a1", false, 4000, 4000, "x");
    s_feed(q, "a1", false, 5000, 5000, "x");
    quorum_evaluate(q, 5000, &e);
    assert_int_equal(e.state, QUORUM_DOWN);
    assert_int_equal(e.started_at_ms, 1200); /* a2's run; a1's new run started at 4000 */
    for (size_t i = 0; i < quorum_agent_count(q); i++) {
        quorum_agent_t ag;
        assert_int_equal(quorum_agent_at(q, i, 5000, &ag), 0);
        if (strcmp(ag.agent_id, "a2") == 0) {
            assert_string_equal(ag.last_error, "status 502");
            assert_int_equal(ag.vote, QUORUM_VOTE_DOWN);
            assert_string_equal(ag.region, "a2");
        }
        if (strcmp(ag.agent_id, "a1") == 0)
            assert_int_equal(ag.first_failure_ms, 4000);
    }
    quorum_destroy(&q);
}

/* The last error is what incidents, notifications and the API show: cut at QUORUM_ERROR_MAX
 * between two characters (a byte-wise cut left half an 'é'), invalid bytes and newlines
 * repaired, the region likewise. */
static void test_last_error_is_utf8(void **st)
{
    quorum_t *q = s_new(1, 1, 0);
    char err[600] = "xy", want[QUORUM_ERROR_MAX] = "xy";
    for (int i = 0; i < 200; i++) /* 402 bytes: byte 255 is the middle of an 'é' */
        strcat(err, i == 3 ? "\n\xFF" : "\xC3\xA9");
    strcat(want, "\xC3\xA9\xC3\xA9\xC3\xA9 \xEF\xBF\xBD");
    while (strlen(want) + 2 <= QUORUM_ERROR_MAX - 1 - 3) /* whole 'é's, then "…" */
        strcat(want, "\xC3\xA9");
    strcat(want, "\xE2\x80\xA6");
    quorum_result_t r = {.agent_id = "a1", .region = "e\xC3", .success = false,
                         .started_at_ms = 1000, .error = err};
    assert_int_equal(quorum_apply(q, &r, 1000), 0);
    quorum_agent_t ag;
    assert_int_equal(quorum_agent_at(q, 0, 1000, &ag), 0);
    printf("last_error: %zu bytes, valid=%d\n", strlen(ag.last_error),
           sd_utf8_valid(ag.last_error, strlen(ag.last_error)));
    assert_true(sd_utf8_valid(ag.last_error, strlen(ag.last_error)));
    assert_string_equal(ag.last_error, want);
    assert_string_equal(ag.region, "e\xEF\xBF\xBD");
    quorum_destroy(&q);
}

static void test_old_results_ignored_and_bounds(void **st)
{
    quorum_conf_t c = {.failure_threshold = 1, .interval_ms = IV, .max_agents = 2};
    quorum_t *q = quorum_new(&c);
    quorum_result_t r = {.agent_id = "a1", .success = true, .started_at_ms = 5000};
    assert_int_equal(quorum_apply(q, &r, 5000), 0);
    r.success = false;
    r.started_at_ms = 4000;
    assert_int_equal(quorum_apply(q, &r, 5001), 1);
    assert_int_equal(s_state(q, 5001), QUORUM_UP);
    r.agent_id = "a2";
    assert_int_equal(quorum_apply(q, &r, 5001), 0);
    r.agent_id = "a3";
    assert_int_equal(quorum_apply(q, &r, 5001), -ENOSPC);
    r.agent_id = "";
    assert_int_equal(quorum_apply(q, &r, 5001), -EINVAL);
    quorum_forget(q, "a2");
    assert_int_equal(quorum_agent_count(q), 1);
    assert_int_equal(quorum_state_parse("DEGRADED"), QUORUM_DEGRADED);
    assert_string_equal(quorum_state_name(QUORUM_DOWN), "DOWN");
    quorum_destroy(&q);
}

/* ---- votes by location, table-driven ------------------------------------------------------
 * Each agent is "id@region:how": D votes DOWN (two failures), U votes UP, ? has one failure
 * (no vote yet), S is stale (its last result 4 intervals ago), I is isolated (excluded) and
 * votes DOWN, L votes UP but slow (latency above degradedLatencyMs). */
typedef struct {
    const char *name;
    int quorum;                 /* 0: majority */
    const char *locations[4];   /* the asset's configured locations, NULL-terminated */
    const char *agents[8];      /* NULL-terminated */
    quorum_state_t want;
    int want_down_locs, want_live_locs, want_quorum;
    const char *want_reason;    /* a substring of the reason */
} loc_case_t;

static const loc_case_t s_loc_cases[] = {
    {"3 agents in eu, 1 in us; eu cut: one location is no quorum", 0, {NULL},
     {"e1@eu:D", "e2@eu:D", "e3@eu:D", "u1@us:U", NULL}, QUORUM_DEGRADED, 1, 2, 2,
     "DOWN from 1 of 2 locations (eu); quorum needs 2"},
    {"3 agents in eu, 1 in us; both cut", 0, {NULL},
     {"e1@eu:D", "e2@eu:D", "e3@eu:D", "u1@us:D", NULL}, QUORUM_DOWN, 2, 2, 2,
     "DOWN from 2 of 2 locations (eu, us); quorum 2"},
    {"a location is DOWN when more than half of its live agents say so", 0, {NULL},
     {"e1@eu:D", "e2@eu:D", "e3@eu:U", "u1@us:D", NULL}, QUORUM_DOWN, 2, 2, 2, "(eu, us)"},
    {"half of a location is not its majority", 0, {NULL},
     {"e1@eu:D", "e2@eu:U", "u1@us:D", NULL}, QUORUM_DEGRADED, 1, 2, 2, "(us)"},
    {"majority of three locations is two", 0, {NULL},
     {"e1@eu:D", "u1@us:U", "a1@ap:U", NULL}, QUORUM_DEGRADED, 1, 3, 2, NULL},
    {"two of three locations", 0, {NULL},
     {"e1@eu:D", "u1@us:D", "a1@ap:U", NULL}, QUORUM_DOWN, 2, 3, 2, NULL},
    {"a lone live location never confirms: UNCONFIRMED", 0, {NULL},
     {"e1@eu:D", "e2@eu:D", "u1@us:S", "a1@ap:S", NULL}, QUORUM_UNCONFIRMED, 1, 1, 2,
     "DOWN from 1 of 3 locations (eu) but only 1 has a live agent; quorum needs 2"},
    {"quorum 1 keeps single-location paging", 1, {NULL},
     {"e1@eu:D", "u1@us:S", "a1@ap:S", NULL}, QUORUM_DOWN, 1, 1, 1, NULL},
    {"two live of three, both DOWN: confirmed", 0, {NULL},
     {"e1@eu:D", "u1@us:D", "a1@ap:S", NULL}, QUORUM_DOWN, 2, 2, 2, NULL},
    {"explicit quorum 2 with one live location", 2, {NULL},
     {"e1@eu:D", "u1@us:S", "a1@ap:S", NULL}, QUORUM_UNCONFIRMED, 1, 1, 2, NULL},
    {"configured locations without agents count", 0, {"eu", "us", "ap", NULL},
     {"e1@eu:D", "e2@eu:D", NULL}, QUORUM_UNCONFIRMED, 1, 1, 2, "only 1 has a live agent"},
    {"a single-location asset pages from it", 0, {NULL},
     {"e1@eu:D", "e2@eu:D", NULL}, QUORUM_DOWN, 1, 1, 1, NULL},
    {"an isolated agent's DOWN does not count", 0, {NULL},
     {"e1@eu:I", "u1@us:U", "a1@ap:U", NULL}, QUORUM_UP, 0, 2, 2, "UP from 2 of 3 locations"},
    {"no vote yet anywhere: UNKNOWN", 0, {NULL},
     {"e1@eu:?", "u1@us:?", NULL}, QUORUM_UNKNOWN, 0, 2, 2, "no live agent has a vote"},
    {"a location without a vote yet still counts as live", 0, {NULL},
     {"e1@eu:?", "u1@us:D", NULL}, QUORUM_DEGRADED, 1, 2, 2, NULL},
    {"every agent stale: UNKNOWN", 0, {NULL},
     {"e1@eu:S", "u1@us:S", NULL}, QUORUM_UNKNOWN, 0, 0, 2, NULL},
    {"slow is DEGRADED, never DOWN", 0, {NULL},
     {"e1@eu:L", "u1@us:L", NULL}, QUORUM_DEGRADED, 0, 2, 2,
     "slow from eu, us: 900 ms above degradedLatencyMs 500"},
    {"agent failing without its location's majority: DEGRADED", 0, {NULL},
     {"e1@eu:D", "e2@eu:U", "e3@eu:U", "u1@us:U", NULL}, QUORUM_DEGRADED, 0, 2, 2,
     "1 of 4 live agents fail, no location's majority"},
};

static void s_feed_case(quorum_t *q, const char *spec)
{
    char id[32], region[32], how;
    assert_int_equal(sscanf(spec, "%31[^@]@%31[^:]:%c", id, region, &how), 3);
    /* results at mono 100000 are live at 100000; a stale one came 4 intervals before */
    sd_ms_t mono = how == 'S' ? 100000 - 4 * IV : 100000;
    quorum_result_t r = {.agent_id = id, .region = region, .started_at_ms = mono,
                         .success = how == 'U' || how == 'L', .latency_ms = how == 'L' ? 900 : 20,
                         .error = "status 503"};
    if (how == 'D' || how == 'I' || how == 'S' || how == '?') {
        r.success = false;
        assert_int_equal(quorum_apply(q, &r, mono), 0);
        if (how == '?')
            return;
        r.started_at_ms++;
        r.seq = 0;
    }
    assert_int_equal(quorum_apply(q, &r, mono), 0);
    if (how == 'I')
        assert_true(quorum_set_excluded(q, id, true));
}

static void test_votes_by_location(void **st)
{
    for (size_t i = 0; i < sizeof s_loc_cases / sizeof *s_loc_cases; i++) {
        const loc_case_t *c = &s_loc_cases[i];
        size_t nl = 0;
        while (c->locations[nl])
            nl++;
        quorum_conf_t conf = {.failure_threshold = 2, .success_threshold = 1, .quorum = c->quorum,
                              .interval_ms = IV, .locations = (char *const *) c->locations,
                              .n_locations = nl, .degraded_latency_ms = 500};
        quorum_t *q = quorum_new(&conf);
        assert_non_null(q);
        for (size_t k = 0; c->agents[k]; k++)
            s_feed_case(q, c->agents[k]);
        quorum_eval_t e;
        quorum_evaluate(q, 100000, &e);
        print_message("%-62s %-11s down %d/%d live %d quorum %d: %s\n", c->name,
                      quorum_state_name(e.state), e.down_locations, e.locations,
                      e.live_locations, e.quorum, e.reason);
        assert_string_equal(quorum_state_name(e.state), quorum_state_name(c->want));
        assert_int_equal(e.down_locations, c->want_down_locs);
        assert_int_equal(e.live_locations, c->want_live_locs);
        assert_int_equal(e.quorum, c->want_quorum);
        assert_true(sd_utf8_valid(e.reason, strlen(e.reason)));
        if (c->want_reason && !strstr(e.reason, c->want_reason))
            fail_msg("reason \"%s\" lacks \"%s\"", e.reason, c->want_reason);
        quorum_destroy(&q);
    }
}

/* maxLatencyMs: a slower success is a failure, and the error says why */
static void test_max_latency_is_a_failure(void **st)
{
    quorum_conf_t conf = {.failure_threshold = 2, .success_threshold = 1, .interval_ms = IV,
                          .degraded_latency_ms = 200, .max_latency_ms = 1000};
    quorum_t *q = quorum_new(&conf);
    quorum_result_t r = {.agent_id = "a1", .region = "eu", .success = true, .latency_ms = 1500};
    for (int i = 0; i < 2; i++) {
        r.started_at_ms = 1000 + i;
        assert_int_equal(quorum_apply(q, &r, 1000 + i), 0);
    }
    quorum_agent_t ag;
    assert_int_equal(quorum_agent_at(q, 0, 1001, &ag), 0);
    assert_int_equal(ag.vote, QUORUM_VOTE_DOWN);
    assert_false(ag.slow);
    assert_string_equal(ag.last_error, "latency 1500 ms above maxLatencyMs 1000");
    /* a success between the two bounds is UP but slow */
    r.latency_ms = 600;
    r.started_at_ms = 2000;
    assert_int_equal(quorum_apply(q, &r, 2000), 0);
    assert_int_equal(quorum_agent_at(q, 0, 2000, &ag), 0);
    assert_int_equal(ag.vote, QUORUM_VOTE_UP);
    assert_true(ag.slow);
    assert_int_equal(ag.latency_ms, 600);
    /* unknown latency is never judged */
    r.latency_ms = 0;
    r.started_at_ms = 3000;
    assert_int_equal(quorum_apply(q, &r, 3000), 0);
    assert_int_equal(quorum_agent_at(q, 0, 3000, &ag), 0);
    assert_false(ag.slow);
    quorum_destroy(&q);
}

/* An agent that moves to another region (a new Hello) moves its vote with it. */
static void test_agent_moves_location(void **st)
{
    quorum_t *q = s_new(1, 1, 0);
    quorum_result_t r = {.agent_id = "a1", .region = "eu", .success = false, .started_at_ms = 1};
    assert_int_equal(quorum_apply(q, &r, 1), 0);
    r.agent_id = "a2";
    r.region = "us";
    assert_int_equal(quorum_apply(q, &r, 1), 0);
    quorum_eval_t e;
    quorum_evaluate(q, 1, &e);
    assert_int_equal(e.locations, 2);
    assert_int_equal(e.state, QUORUM_DOWN);
    r.agent_id = "a1";
    r.started_at_ms = 2;
    assert_int_equal(quorum_apply(q, &r, 2), 0); /* a1 now in us too */
    quorum_evaluate(q, 2, &e);
    assert_int_equal(e.locations, 1);
    assert_int_equal(e.down_locations, 1);
    assert_int_equal(e.state, QUORUM_DOWN);
    quorum_forget(q, "a1");
    quorum_forget(q, "a2");
    quorum_evaluate(q, 2, &e);
    assert_int_equal(e.locations, 0);
    assert_int_equal(e.state, QUORUM_UNKNOWN);
    quorum_destroy(&q);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_unknown_without_agents),
        cmocka_unit_test(test_failure_threshold),
        cmocka_unit_test(test_success_threshold),
        cmocka_unit_test(test_agent_without_vote_counts_toward_majority),
        cmocka_unit_test(test_majority_and_degraded),
        cmocka_unit_test(test_even_split_is_degraded),
        cmocka_unit_test(test_explicit_quorum),
        cmocka_unit_test(test_stale_agents_do_not_vote),
        cmocka_unit_test(test_started_at_is_earliest_down_voter),
        cmocka_unit_test(test_old_results_ignored_and_bounds),
        cmocka_unit_test(test_last_error_is_utf8),
        cmocka_unit_test(test_votes_by_location),
        cmocka_unit_test(test_max_latency_is_a_failure),
        cmocka_unit_test(test_agent_moves_location),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
