/* gone: the table of agents gone away: marked once (the first time counts), cleared when
 * back, expired after the period in one sweep, and bounded (the agent gone longest leaves
 * first, reported). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "gone.h"

typedef struct {
    char ids[16][32];
    sd_ms_t since[16];
    int n;
    gone_t *g; /* used from the callback: the table must be usable there */
} seen_t;

static void s_seen(const char *agent, sd_ms_t since, void *arg)
{
    seen_t *s = arg;
    assert_true(s->n < 16);
    snprintf(s->ids[s->n], sizeof s->ids[0], "%s", agent);
    s->since[s->n++] = since;
    if (s->g)
        gone_clear(s->g, agent); /* already gone from the table: a no-op */
}

static void test_mark_clear_expire(void **st)
{
    (void) st;
    gone_t *g = gone_new(10);
    assert_non_null(g);
    seen_t seen = {.g = g};
    assert_int_equal(gone_mark(g, "a", 1000, s_seen, &seen), 0);
    assert_int_equal(gone_mark(g, "b", 2000, s_seen, &seen), 0);
    assert_int_equal(gone_mark(g, "a", 5000, s_seen, &seen), 0); /* keeps 1000 */
    assert_int_equal(gone_mark(g, "c", 3000, s_seen, &seen), 0);
    assert_int_equal(gone_size(g), 3);
    gone_clear(g, "c"); /* back */
    gone_clear(g, "nobody");
    assert_int_equal(gone_size(g), 2);
    gone_expire(g, 1999 + 500, 1500, s_seen, &seen); /* a for 1499 ms: not yet */
    assert_int_equal(seen.n, 0);
    gone_expire(g, 2500, 1500, s_seen, &seen); /* a for 1500 ms */
    assert_int_equal(seen.n, 1);
    assert_string_equal(seen.ids[0], "a");
    assert_int_equal(seen.since[0], 1000);
    assert_int_equal(gone_size(g), 1);
    gone_expire(g, 100000, 1500, s_seen, &seen);
    assert_int_equal(seen.n, 2);
    assert_string_equal(seen.ids[1], "b");
    assert_int_equal(gone_size(g), 0);
    gone_destroy(&g);
    assert_null(g);
    gone_destroy(&g);
}

static void test_bounded(void **st)
{
    (void) st;
    gone_t *g = gone_new(3);
    seen_t seen = {0};
    assert_int_equal(gone_mark(g, "x1", 30, s_seen, &seen), 0);
    assert_int_equal(gone_mark(g, "x2", 10, s_seen, &seen), 0);
    assert_int_equal(gone_mark(g, "x3", 20, s_seen, &seen), 0);
    assert_int_equal(seen.n, 0);
    assert_int_equal(gone_mark(g, "x4", 40, s_seen, &seen), 0); /* x2 gone longest */
    assert_int_equal(seen.n, 1);
    assert_string_equal(seen.ids[0], "x2");
    assert_int_equal(seen.since[0], 10);
    assert_int_equal(gone_size(g), 3);
    for (int i = 0; i < 100; i++) {
        char id[16];
        snprintf(id, sizeof id, "y%d", i);
        seen.n = 0;
        assert_int_equal(gone_mark(g, id, 100 + i, s_seen, &seen), 0);
        assert_int_equal(gone_size(g), 3);
    }
    printf("100 more marks into a table of 3: size %zu\n", gone_size(g));
    gone_destroy(&g);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_mark_clear_expire),
        cmocka_unit_test(test_bounded),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
