/* history_plan: a plan covers the range exactly once, in order; daily segments are whole
 * built days, hourly ones whole built hours, raw ones the rest; with nothing built
 * everything is raw; segments of one source in a row are merged; a full array appends
 * nothing. Checked on fixed cases and on 20,000 random ranges. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include <cmocka.h>

#include "history_plan.h"

#define H HISTORY_HOUR_MS
#define D HISTORY_DAY_MS
/* 2026-11-01T00:00:00Z */
#define T0 1793491200000LL

/* Checks the plan's invariants for [from, to); returns the segments' count. */
static size_t s_check(int64_t from, int64_t to, const history_built_t *b, history_source_t max)
{
    history_seg_t seg[512];
    size_t n = 0;
    assert_int_equal(history_plan(from, to, b, max, 7, seg, 512, &n), 0);
    int64_t cur = from;
    for (size_t i = 0; i < n; i++) {
        const history_seg_t *g = &seg[i];
        assert_int_equal(g->slot, 7);
        assert_true(g->lo == cur && g->hi > g->lo);
        assert_true(g->src <= max);
        if (g->src == HISTORY_DAY)
            assert_true(g->lo % D == 0 && g->hi % D == 0 && g->hi <= b->day_until &&
                        g->lo >= b->day_from);
        if (g->src == HISTORY_HOUR)
            assert_true(g->lo % H == 0 && g->hi % H == 0 && g->hi <= b->hour_until &&
                        g->lo >= b->hour_from);
        if (i > 0)
            assert_true(seg[i - 1].src != g->src);
        cur = g->hi;
    }
    assert_true(cur == to || (from >= to && n == 0));
    return n;
}

static void test_cases(void **st)
{
    (void) st;
    history_seg_t seg[16];
    size_t n = 0;
    /* 30 days ending at 10:20 today, hours built to 09:00, days to today's midnight */
    int64_t now = T0 + 30 * D + 10 * H + 20 * 60000;
    history_built_t b = {.hour_from = T0 - 60 * D, .hour_until = T0 + 30 * D + 9 * H,
                         .day_from = T0 - 60 * D, .day_until = T0 + 30 * D};
    assert_int_equal(history_plan(now - 30 * D, now, &b, HISTORY_DAY, 1, seg, 16, &n), 0);
    for (size_t i = 0; i < n; i++)
        print_message("seg %zu src=%d %lld..%lld\n", i, seg[i].src,
                      (long long) (seg[i].lo - T0) / 60000, (long long) (seg[i].hi - T0) / 60000);
    assert_int_equal(n, 5);
    /* raw 10:20..11:00, hours 11:00..24:00, days, hours 00:00..09:00, raw 09:00..10:20 */
    assert_true(seg[0].src == HISTORY_RAW && seg[0].hi == T0 + 11 * H);
    assert_true(seg[1].src == HISTORY_HOUR && seg[1].hi == T0 + D);
    assert_true(seg[2].src == HISTORY_DAY && seg[2].lo == T0 + D && seg[2].hi == T0 + 30 * D);
    assert_true(seg[3].src == HISTORY_HOUR && seg[3].hi == T0 + 30 * D + 9 * H);
    assert_true(seg[4].src == HISTORY_RAW && seg[4].hi == now);
    assert_true(seg[0].slot == 1 && seg[4].slot == 1);

    /* rollups kept only from 10 days ago: raw before them, merged into one segment */
    b.hour_from = b.day_from = T0 + 20 * D;
    n = 0;
    assert_int_equal(history_plan(now - 30 * D, now, &b, HISTORY_DAY, 1, seg, 16, &n), 0);
    assert_int_equal(n, 4);
    assert_true(seg[0].src == HISTORY_RAW && seg[0].hi == T0 + 20 * D);
    assert_true(seg[1].src == HISTORY_DAY && seg[1].lo == T0 + 20 * D);
}

static void test_nothing_built(void **st)
{
    (void) st;
    history_built_t none = {0};
    assert_int_equal(s_check(T0 + 123, T0 + 90 * D + 5, &none, HISTORY_DAY), 1);
    /* hours only: no daily segment however long */
    history_built_t all = {.hour_until = T0 + 9 * D, .day_until = T0 + 9 * D};
    assert_int_equal(s_check(T0, T0 + 9 * D, &all, HISTORY_HOUR), 1);
}

static void test_full(void **st)
{
    (void) st;
    history_seg_t seg[2] = {{.lo = 1, .hi = 2, .slot = 0, .src = HISTORY_RAW}};
    size_t n = 1;
    history_built_t b = {.hour_until = T0 + 3 * D, .day_until = T0 + 3 * D};
    assert_int_equal(history_plan(T0 + 5, T0 + 3 * D, &b, HISTORY_DAY, 1, seg, 2, &n), -1);
    assert_int_equal(n, 1);
    assert_true(seg[0].lo == 1 && seg[0].hi == 2);
}

static void test_random(void **st)
{
    (void) st;
    srand(42);
    size_t most = 0;
    for (int i = 0; i < 20000; i++) {
        int64_t from = T0 + (int64_t) (rand() % 2000) * 3600000 / 7 * (rand() % 3 ? 1 : 7);
        int64_t to = from + (int64_t) (rand() % 200000) * 60000 / (1 + rand() % 5);
        history_built_t b;
        b.day_until = T0 + (int64_t) (rand() % 120) * D * (rand() % 4 ? 1 : 0);
        b.hour_until = b.day_until + (int64_t) (rand() % 100 - 30) * H;
        b.day_from = T0 + (int64_t) (rand() % 60 - 10) * D;
        b.hour_from = b.day_from + (int64_t) (rand() % 600) * H;
        size_t n = s_check(from, to, &b, (history_source_t) (rand() % 3));
        most = n > most ? n : most;
    }
    print_message("most segments in a plan: %zu\n", most);
    assert_true(most <= 7);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cases),
        cmocka_unit_test(test_nothing_built),
        cmocka_unit_test(test_full),
        cmocka_unit_test(test_random),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
