/* isolation: the judgement of one agent from its tally, and quorum_set_excluded (an
 * isolated agent's vote neither counts as live nor as DOWN). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <cmocka.h>

#include "isolation.h"
#include "quorum.h"

static void test_judge(void **state)
{
    (void) state;
    struct {
        bool isolated;
        int considered, contradicted;
        bool want;
    } cases[] = {
        {false, 0, 0, false},   {false, 1, 1, false}, /* one asset: DEGRADED, not isolation */
        {false, 2, 2, true},    {false, 2, 1, false}, {false, 3, 3, true},
        {false, 10, 5, true},   {false, 10, 4, false}, {false, 4, 2, false}, /* < 3 assets */
        {false, 6, 3, true},    {true, 10, 1, true},  /* isolated until it agrees everywhere */
        {true, 10, 0, false},   {true, 0, 0, true}, /* no evidence is not agreement */
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        isolation_tally_t t = {cases[i].considered, cases[i].contradicted};
        bool got = isolation_judge(cases[i].isolated, &t);
        if (got != cases[i].want)
            fail_msg("case %zu: isolated=%d considered=%d contradicted=%d -> %d, want %d", i,
                     cases[i].isolated, t.considered, t.contradicted, got, cases[i].want);
    }
}

static void s_apply(quorum_t *q, const char *agent, bool ok, uint64_t seq)
{
    quorum_result_t r = {.agent_id = agent, .region = agent, .success = ok,
                         .started_at_ms = 1000 * (int64_t) seq, .error = ok ? "" : "refused",
                         .seq = seq};
    assert_int_equal(quorum_apply(q, &r, 1000), 0);
}

static void test_quorum_excluded(void **state)
{
    (void) state;
    quorum_conf_t c = {.failure_threshold = 1, .success_threshold = 1, .interval_ms = 30000};
    quorum_eval_t ev;
    quorum_t *q = quorum_new(&c);
    s_apply(q, "x", true, 1);
    s_apply(q, "y", true, 1);
    s_apply(q, "z", false, 1);
    quorum_evaluate(q, 2000, &ev);
    assert_int_equal(ev.state, QUORUM_DEGRADED);
    assert_true(quorum_set_excluded(q, "z", true));
    assert_false(quorum_set_excluded(q, "z", true)); /* no change */
    assert_false(quorum_set_excluded(q, "nobody", true));
    quorum_evaluate(q, 2000, &ev);
    assert_int_equal(ev.state, QUORUM_UP);
    assert_int_equal(ev.live, 2);
    assert_int_equal(ev.down_votes, 0);
    quorum_agent_t ag;
    assert_int_equal(quorum_agent_at(q, 2, 2000, &ag), 0);
    assert_true(ag.excluded);
    assert_int_equal(ag.vote, QUORUM_VOTE_DOWN); /* its run goes on */
    s_apply(q, "z", true, 2);
    assert_int_equal(quorum_agent_vote(q, "z"), QUORUM_VOTE_UP);
    assert_true(quorum_set_excluded(q, "z", false));
    quorum_evaluate(q, 2000, &ev);
    assert_int_equal(ev.live, 3);
    assert_int_equal(ev.up_votes, 3);
    quorum_destroy(&q);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_judge),
        cmocka_unit_test(test_quorum_excluded),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
