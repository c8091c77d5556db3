/* agent_rules: the heartbeat period an agent is judged by, its silence deadline, the clock
 * skew estimator and its reporting, table by table. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "agent_rules.h"

static void test_heartbeat_period(void **state)
{
    (void) state;
    struct {
        int64_t collector, announced, want;
    } cases[] = {
        {5000, 0, 5000},         /* no period announced: the collector's */
        {5000, 2000, 5000},      /* faster agent: the collector's */
        {5000, 5000, 5000},
        {5000, 30000, 30000},    /* slower agent: its own */
        {5000, SD_HEARTBEAT_MS_MAX, SD_HEARTBEAT_MS_MAX},
        {5000, SD_HEARTBEAT_MS_MAX + 1, 5000}, /* beyond the bound: not honoured */
        {5000, -7, 5000},
        {0, 0, SD_HEARTBEAT_MS_DEFAULT},       /* collector unset: the default */
        {-1, 7000, 7000},
        {0, 4000, SD_HEARTBEAT_MS_DEFAULT},
        {200, 500, 200},         /* below 1 s: never honoured, even if slower */
        {200, 999, 200},
        {200, 1000, 1000},
        {SD_HEARTBEAT_MS_MAX, SD_HEARTBEAT_MS_MAX, SD_HEARTBEAT_MS_MAX},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        int64_t got = agent_heartbeat_ms(cases[i].collector, cases[i].announced);
        printf("collector %lld announced %lld -> %lld\n", (long long) cases[i].collector,
               (long long) cases[i].announced, (long long) got);
        if (got != cases[i].want)
            fail_msg("case %zu: collector=%lld announced=%lld -> %lld, want %lld", i,
                     (long long) cases[i].collector, (long long) cases[i].announced,
                     (long long) got, (long long) cases[i].want);
        /* the engine applies the rule again to the period the gateway stored: no change */
        assert_int_equal(agent_heartbeat_ms(cases[i].collector, got), got);
    }
}

static void test_silence(void **state)
{
    (void) state;
    struct {
        int64_t unheard, period, grace;
        int64_t deadline;
        bool silent;
    } cases[] = {
        {0, 5000, 0, 3 * 5000, false},
        {15000, 5000, 0, 15000, false},        /* exactly 3 periods: not yet */
        {15001, 5000, 0, 15000, true},
        {25000, 5000, SD_RESTART_GRACE_MS, 15000 + SD_RESTART_GRACE_MS, false},
        {25001, 5000, SD_RESTART_GRACE_MS, 25000, true},
        {90001, 30000, 0, 90000, true},        /* a slower agent's own period */
        {20000, 5000, -5, 15000, true},        /* negative grace counts as none */
    };
    assert_int_equal(SD_SILENT_PERIODS, 3);
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        int64_t d = agent_silence_ms(cases[i].period, cases[i].grace);
        bool s = agent_silent(cases[i].unheard, cases[i].period, cases[i].grace);
        if (d != cases[i].deadline || s != cases[i].silent)
            fail_msg("case %zu: unheard=%lld period=%lld grace=%lld -> deadline %lld silent "
                     "%d, want %lld %d", i, (long long) cases[i].unheard,
                     (long long) cases[i].period, (long long) cases[i].grace, (long long) d, s,
                     (long long) cases[i].deadline, cases[i].silent);
    }
}

/* Samples are offset - delay: the estimate is the largest of the last 8. */
static void test_skew_estimate(void **state)
{
    (void) state;
    agent_skew_t s;
    memset(&s, 0, sizeof s);
    int64_t est = 42;
    assert_int_equal(agent_skew_estimate(&s), 0);
    assert_false(agent_skew_report(&s, 1000, &est));
    assert_int_equal(est, 42);
    assert_int_equal(agent_skew_add(&s, 0, 1000), -EINVAL); /* no clock in the message */
    assert_int_equal(s.n, 0);
    const int64_t offset = 300000; /* the agent's clock 5 minutes fast */
    const int64_t delays[] = {40, 12, 90, 7, 33, 50, 61, 25};
    for (size_t i = 0; i < 8; i++) {
        int64_t recv = 1700000000000 + 1000 * (int64_t) i;
        assert_int_equal(agent_skew_add(&s, recv - delays[i] + offset, recv), 0);
    }
    printf("estimate after 8 samples %lld (offset %lld, least delay 7)\n",
           (long long) agent_skew_estimate(&s), (long long) offset);
    assert_int_equal(agent_skew_estimate(&s), offset - 7);
    /* the ring keeps 8: the least delayed sample leaves after 8 more */
    for (size_t i = 0; i < 8; i++)
        assert_int_equal(agent_skew_add(&s, 2000 + offset - 20, 2000), 0);
    assert_int_equal(s.n, AGENT_SKEW_SAMPLES);
    assert_int_equal(agent_skew_estimate(&s), offset - 20);
    /* a negative skew (agent slow) */
    agent_skew_t slow;
    memset(&slow, 0, sizeof slow);
    assert_int_equal(agent_skew_add(&slow, 5000 - 3000 - 10, 5000), 0);
    assert_int_equal(agent_skew_add(&slow, 6000 - 3000 - 4, 6000), 0);
    assert_int_equal(agent_skew_estimate(&slow), -3004);
}

static void test_skew_report(void **state)
{
    (void) state;
    struct {
        int64_t sample;     /* skew of the sample added (ring of one value: 8 copies) */
        int64_t now_mono;
        bool due;
    } steps[] = {
        {1000, 10, true},                      /* first estimate: reported */
        {1010, 20, false},                     /* moved 10 < 25 */
        {1024, 30, false},                     /* moved 24 */
        {1025, 40, true},                      /* moved 25 */
        {1025, 40 + AGENT_SKEW_REFRESH_MS - 1, false},
        {1025, 40 + AGENT_SKEW_REFRESH_MS, true}, /* refreshed after a minute */
        {990, 40 + AGENT_SKEW_REFRESH_MS + 1, true}, /* moved 35 down */
    };
    agent_skew_t s;
    memset(&s, 0, sizeof s);
    for (size_t i = 0; i < sizeof steps / sizeof *steps; i++) {
        for (int k = 0; k < AGENT_SKEW_SAMPLES; k++) /* replace the whole ring */
            agent_skew_add(&s, 100000 + steps[i].sample, 100000);
        int64_t est = -1;
        bool due = agent_skew_report(&s, steps[i].now_mono, &est);
        printf("step %zu: estimate %lld at %lld -> %s\n", i, (long long) steps[i].sample,
               (long long) steps[i].now_mono, due ? "reported" : "not due");
        if (due != steps[i].due)
            fail_msg("step %zu: due=%d, want %d", i, due, steps[i].due);
        if (due)
            assert_int_equal(est, steps[i].sample);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_heartbeat_period),
        cmocka_unit_test(test_silence),
        cmocka_unit_test(test_skew_estimate),
        cmocka_unit_test(test_skew_report),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
