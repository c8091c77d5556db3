/* asset_rules: the engine's decisions about one asset (rules 3-7, 14-17), table-driven; the
 * restless hold and its bound (recovery_hold); the adaptive interval; FLAPPING/STABLE; and a
 * flapping target driven through the real rules (flapping.c + asset_rules.c) pages once. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "asset_rules.h"
#include "flapping.h"
#include "recovery_hold.h"

#define NOW 1000000000
#define MIN_ (60 * 1000)

typedef struct {
    const char *name;
    asset_facts_t f;
    asset_action_t want[ASSET_ACTIONS_MAX]; /* 0-terminated */
    bool page;
    const char *quiet;
    recovery_verdict_t held;
} decide_case_t;

/* the facts of an ordinary asset; each case changes what it is about */
#define BASE .low_percent = 25, .hold_ms = 60000, .down_channels = true, .now_wall = NOW

static const decide_case_t s_cases[] = {
    {"rule 3: DOWN without an incident opens one and pages",
     {BASE, .verdict = QUORUM_DOWN}, {ASSET_OPEN}, true, NULL, RECOVERY_CLOSE},
    {"rule 4: a DOWN within throttleSeconds of the last page is throttled",
     {BASE, .verdict = QUORUM_DOWN, .throttle_s = 300, .last_notify_ms = NOW - 299000},
     {ASSET_OPEN}, false, "throttled", RECOVERY_CLOSE},
    {"rule 4: throttleSeconds after the last page it pages again",
     {BASE, .verdict = QUORUM_DOWN, .throttle_s = 300, .last_notify_ms = NOW - 300000},
     {ASSET_OPEN}, true, NULL, RECOVERY_CLOSE},
    {"rule 15: a flapping asset's new incident is not paged (FLAPPING stands for it)",
     {BASE, .verdict = QUORUM_DOWN, .flapping = true, .percent = 60}, {ASSET_OPEN}, false,
     "flapping", RECOVERY_CLOSE},
    {"no onDown channel: the incident opens, nothing to page",
     {.low_percent = 25, .hold_ms = 60000, .now_wall = NOW, .verdict = QUORUM_DOWN},
     {ASSET_OPEN}, false, "no_channel",
     RECOVERY_CLOSE},
    {"rule 5/17: UP with an incident closes at once (no fixed hold)",
     {BASE, .verdict = QUORUM_UP, .open = true}, {ASSET_CLOSE}, false, NULL, RECOVERY_CLOSE},
    {"rule 5: DEGRADED is a recovery too (the quorum no longer sees it DOWN)",
     {BASE, .verdict = QUORUM_DEGRADED, .open = true, .percent = 24.9}, {ASSET_CLOSE}, false,
     NULL, RECOVERY_CLOSE},
    {"rule 17: restless (above the low threshold) waits the hold",
     {BASE, .verdict = QUORUM_UP, .open = true, .percent = 25.1, .out_of_down_ms = 59999},
     {ASSET_HOLD}, false, NULL, RECOVERY_HELD_RESTLESS},
    {"rule 17: the hold bounds a restless wait",
     {BASE, .verdict = QUORUM_UP, .open = true, .percent = 80, .out_of_down_ms = 60000},
     {ASSET_CLOSE}, false, NULL, RECOVERY_CLOSE},
    {"rule 17: a wait already recorded is not recorded again",
     {BASE, .verdict = QUORUM_UP, .open = true, .percent = 30, .out_of_down_ms = 10,
      .held = RECOVERY_HELD_RESTLESS}, {0}, false, NULL, RECOVERY_CLOSE},
    {"rule 17: flapping waits for its STABLE, whatever the hold",
     {BASE, .verdict = QUORUM_UP, .open = true, .flapping = true, .percent = 60,
      .out_of_down_ms = 3600000}, {ASSET_HOLD}, false, NULL, RECOVERY_HELD_FLAPPING},
    {"rule 17: a DOWN during the wait is a relapse (same incident)",
     {BASE, .verdict = QUORUM_DOWN, .open = true, .held = RECOVERY_HELD_RESTLESS},
     {ASSET_RELAPSE}, false, NULL, RECOVERY_CLOSE},
    {"rule 7: a REMINDER throttleSeconds after the last page",
     {BASE, .verdict = QUORUM_DOWN, .open = true, .repeat_alerts = true, .throttle_s = 600,
      .last_notify_ms = NOW - 600000}, {ASSET_REMIND}, false, NULL, RECOVERY_CLOSE},
    {"rule 7: no REMINDER before throttleSeconds",
     {BASE, .verdict = QUORUM_DOWN, .open = true, .repeat_alerts = true, .throttle_s = 600,
      .last_notify_ms = NOW - 599999}, {0}, false, NULL, RECOVERY_CLOSE},
    {"rule 7: no REMINDER once acknowledged",
     {BASE, .verdict = QUORUM_DOWN, .open = true, .acknowledged = true, .repeat_alerts = true,
      .throttle_s = 600}, {0}, false, NULL, RECOVERY_CLOSE},
    {"rule 7: no REMINDER while flapping",
     {BASE, .verdict = QUORUM_DOWN, .open = true, .repeat_alerts = true, .throttle_s = 600,
      .flapping = true}, {0}, false, NULL, RECOVERY_CLOSE},
    {"rule 7: a relapse and a due REMINDER together",
     {BASE, .verdict = QUORUM_DOWN, .open = true, .repeat_alerts = true, .throttle_s = 600,
      .held = RECOVERY_HELD_RESTLESS}, {ASSET_RELAPSE, ASSET_REMIND}, false, NULL,
     RECOVERY_CLOSE},
    {"rule 6: UNKNOWN neither opens nor closes",
     {BASE, .verdict = QUORUM_UNKNOWN, .open = true}, {0}, false, NULL, RECOVERY_CLOSE},
    {"UNCONFIRMED (one location) does not open an incident",
     {BASE, .verdict = QUORUM_UNCONFIRMED}, {0}, false, NULL, RECOVERY_CLOSE},
    {"UNCONFIRMED does not close one either: no evidence of a recovery",
     {BASE, .verdict = QUORUM_UNCONFIRMED, .open = true}, {0}, false, NULL, RECOVERY_CLOSE},
    {"rule 14: maintenance opens nothing",
     {BASE, .verdict = QUORUM_DOWN, .maint = true}, {0}, false, NULL, RECOVERY_CLOSE},
    {"rule 14: maintenance closes nothing",
     {BASE, .verdict = QUORUM_UP, .open = true, .maint = true}, {0}, false, NULL,
     RECOVERY_CLOSE},
    {"DEGRADED without an incident: nothing",
     {BASE, .verdict = QUORUM_DEGRADED}, {0}, false, NULL, RECOVERY_CLOSE},
};

static const char *s_action_name(asset_action_t a)
{
    static const char *const n[] = {"-", "OPEN", "CLOSE", "HOLD", "RELAPSE", "REMIND"};
    return (unsigned) a < sizeof n / sizeof *n ? n[a] : "?";
}

static void test_decide_table(void **state)
{
    (void) state;
    for (size_t i = 0; i < sizeof s_cases / sizeof *s_cases; i++) {
        const decide_case_t *c = &s_cases[i];
        asset_decision_t d;
        asset_rules_decide(&c->f, &d);
        int want_n = 0;
        while (want_n < ASSET_ACTIONS_MAX && c->want[want_n])
            want_n++;
        print_message("%-78s %s %s%s\n", c->name, d.n ? s_action_name(d.actions[0]) : "-",
                      d.n > 1 ? s_action_name(d.actions[1]) : "",
                      d.page ? " page" : d.quiet ? d.quiet : "");
        assert_int_equal(d.n, want_n);
        for (int k = 0; k < want_n; k++)
            assert_string_equal(s_action_name(d.actions[k]), s_action_name(c->want[k]));
        assert_int_equal(d.page, c->page);
        if (c->quiet)
            assert_string_equal(d.quiet, c->quiet);
        else
            assert_null(d.quiet);
        assert_int_equal(d.held, c->held);
    }
}

static void test_hold_bounds(void **state)
{
    (void) state;
    /* the default hold: 2 x the interval; the setting wins; at most an hour */
    assert_int_equal(recovery_hold_ms(-1, 60), 120000);
    assert_int_equal(recovery_hold_ms(0, 60), 0);
    assert_int_equal(recovery_hold_ms(45, 60), 45000);
    assert_int_equal(recovery_hold_ms(99999, 60), RECOVERY_HOLD_MAX_S * 1000);
    /* restless is strictly above the low threshold; low 0 disables it */
    assert_int_equal(recovery_hold_check(false, 25.0, 25, 0, 1000), RECOVERY_CLOSE);
    assert_int_equal(recovery_hold_check(false, 25.01, 25, 999, 1000), RECOVERY_HELD_RESTLESS);
    assert_int_equal(recovery_hold_check(false, 90, 0, 0, 1000), RECOVERY_CLOSE);
    assert_int_equal(recovery_hold_check(false, 90, 25, 1000, 1000), RECOVERY_CLOSE);
    assert_int_equal(recovery_hold_check(true, 0, 25, 999999, 0), RECOVERY_HELD_FLAPPING);
    assert_string_equal(recovery_hold_reason(RECOVERY_HELD_RESTLESS), "restless");
    assert_string_equal(recovery_hold_reason(RECOVERY_HELD_FLAPPING), "flapping");
    assert_string_equal(recovery_hold_reason(RECOVERY_CLOSE), "close");
}

static void test_interval(void **state)
{
    (void) state;
    assert_int_equal(asset_rules_interval_ms(QUORUM_UP, 60000, 15000), 60000);
    assert_int_equal(asset_rules_interval_ms(QUORUM_UNKNOWN, 60000, 15000), 60000);
    assert_int_equal(asset_rules_interval_ms(QUORUM_DEGRADED, 60000, 15000), 15000);
    assert_int_equal(asset_rules_interval_ms(QUORUM_DOWN, 60000, 15000), 15000);
    assert_int_equal(asset_rules_interval_ms(QUORUM_UNCONFIRMED, 60000, 15000), 15000);
}

static void test_escalation(void **state)
{
    (void) state;
    static const int after[] = {0, 300, 900};
    escalation_facts_t f = {.open = true, .notified = true, .open_ms = 0, .after_s = after,
                            .n = 3};
    assert_int_equal(asset_rules_escalate(&f), 0); /* afterSeconds 0: at once */
    f.fired = 1;
    f.open_ms = 299999;
    assert_int_equal(asset_rules_escalate(&f), -1);
    f.open_ms = 300000;
    assert_int_equal(asset_rules_escalate(&f), 1);
    f.open_ms = 1000000; /* late (a restart): the first unfired due tier, then the next */
    assert_int_equal(asset_rules_escalate(&f), 1);
    f.fired = 3;
    assert_int_equal(asset_rules_escalate(&f), 2);
    f.fired = 7;
    assert_int_equal(asset_rules_escalate(&f), -1);
    f.fired = 1;
    f.acknowledged = true;
    assert_int_equal(asset_rules_escalate(&f), -1);
    f.acknowledged = false;
    f.maint = true;
    assert_int_equal(asset_rules_escalate(&f), -1);
    f.maint = false;
    f.notified = false; /* a throttled or suppressed DOWN does not escalate */
    assert_int_equal(asset_rules_escalate(&f), -1);
    f.notified = true;
    f.open = false;
    assert_int_equal(asset_rules_escalate(&f), -1);
}

static void test_flap_transitions(void **state)
{
    (void) state;
    flap_decision_t d;
    /* FLAPPING goes to onDown */
    asset_rules_flap(&(flap_facts_t){.flapping = true, .open = true, .notified = true,
                                     .verdict = QUORUM_DOWN, .down_channels = true},
                     &d);
    assert_true(d.notify);
    assert_false(d.page_down);
    assert_false(d.reevaluate);
    /* settled DOWN with an incident whose DOWN flapping suppressed: page it now */
    asset_rules_flap(&(flap_facts_t){.open = true, .verdict = QUORUM_DOWN, .down_channels = true,
                                     .recovery_channels = true},
                     &d);
    assert_true(d.notify);
    assert_true(d.page_down);
    assert_true(d.reevaluate);
    /* settled UP with an open incident: judge it again (its RECOVERY follows the STABLE) */
    asset_rules_flap(&(flap_facts_t){.open = true, .notified = true, .verdict = QUORUM_UP,
                                     .recovery_channels = true},
                     &d);
    assert_true(d.notify);
    assert_false(d.page_down);
    assert_true(d.reevaluate);
    /* maintenance: the flag is stored, nothing goes out */
    asset_rules_flap(&(flap_facts_t){.flapping = true, .maint = true, .down_channels = true},
                     &d);
    assert_false(d.notify);
    assert_false(d.page_down);
}

/* A target toggling every check round, through the real rules: flapping.c samples each
 * round, asset_rules decides, and the test applies the actions as the engine does (memory
 * only). With its own low threshold below one change (5 %) it pages its first DOWN, then
 * FLAPPING, then STABLE and one RECOVERY; with the defaults (50/25) a fast recovery pages
 * several DOWN/RECOVERY pairs before FLAPPING — the trade-off the docs state. */
static void s_run(int high, int low, int *downs, int *recoveries, int *flaps, int *stables)
{
    flapping_t flap = {0};
    bool open = false, notified = false;
    recovery_verdict_t held = RECOVERY_CLOSE;
    int64_t out_since = -1;
    quorum_state_t prev = QUORUM_UP;
    *downs = *recoveries = *flaps = *stables = 0;
    const int64_t round_ms = 1000, hold_ms = 5000;
    for (int r = 0; r < 80; r++) {
        int64_t now = (int64_t) r * round_ms;
        quorum_state_t v = r >= 2 && r < 30 ? ((r % 2) ? QUORUM_UP : QUORUM_DOWN) : QUORUM_UP;
        if (open && v == QUORUM_UP && out_since < 0)
            out_since = now;
        asset_facts_t f = {.verdict = v, .open = open, .flapping = flap.flapping,
                           .percent = flapping_percent(&flap), .low_percent = low,
                           .out_of_down_ms = out_since >= 0 ? now - out_since : 0,
                           .hold_ms = hold_ms, .held = held, .down_channels = true,
                           .now_wall = NOW + now};
        asset_decision_t d;
        asset_rules_decide(&f, &d);
        for (int k = 0; k < d.n; k++) {
            if (d.actions[k] == ASSET_OPEN) {
                open = true;
                notified = d.page;
                *downs += d.page;
            } else if (d.actions[k] == ASSET_CLOSE) {
                *recoveries += notified;
                open = notified = false;
                held = RECOVERY_CLOSE;
                out_since = -1;
            } else if (d.actions[k] == ASSET_HOLD) {
                held = d.held;
            }
        }
        if (open && v == QUORUM_DOWN) {
            held = RECOVERY_CLOSE;
            out_since = -1;
        }
        flapping_event_t e = flapping_sample(&flap, v != prev, high, low);
        prev = v;
        if (e == FLAPPING_START)
            (*flaps)++;
        if (e == FLAPPING_STOP)
            (*stables)++;
    }
}

static void test_flapping_target_pages_once(void **state)
{
    (void) state;
    int downs, recoveries, flaps, stables;
    s_run(50, 5, &downs, &recoveries, &flaps, &stables);
    print_message("low 5 %%: DOWN %d, RECOVERY %d, FLAPPING %d, STABLE %d\n", downs, recoveries,
                  flaps, stables);
    assert_int_equal(downs, 1);
    assert_int_equal(recoveries, 1);
    assert_int_equal(flaps, 1);
    assert_int_equal(stables, 1);
    s_run(50, 25, &downs, &recoveries, &flaps, &stables);
    print_message("defaults 50/25: DOWN %d, RECOVERY %d, FLAPPING %d, STABLE %d (pairs before "
                  "it was restless)\n", downs, recoveries, flaps, stables);
    assert_true(downs > 1);
    assert_int_equal(downs, recoveries);
    assert_int_equal(flaps, 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_decide_table),
        cmocka_unit_test(test_hold_bounds),
        cmocka_unit_test(test_interval),
        cmocka_unit_test(test_flap_transitions),
        cmocka_unit_test(test_escalation),
        cmocka_unit_test(test_flapping_target_pages_once),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
