/* storm: the first `threshold` pages of a kind on a channel within the window go alone, the
 * rest join one digest per channel per window (due window after its first page); kinds and
 * channels are counted apart; a slow trickle never collapses; threshold 0 never collapses;
 * the pair table is bounded. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "storm.h"

static void test_twenty_at_once(void **state)
{
    (void) state;
    storm_t *s = storm_new(3, 60000);
    assert_non_null(s);
    int alone = 0, collapsed = 0, digests = 0;
    char key[STORM_KEY_MAX] = "";
    for (int i = 0; i < 20; i++) {
        storm_digest_t d;
        if (!storm_admit(s, "slack", STORM_DOWN, 1000 + i, &d)) {
            alone++;
            continue;
        }
        collapsed++;
        digests += d.first;
        if (d.first)
            snprintf(key, sizeof key, "%s", d.key);
        assert_string_equal(d.key, key);
        assert_int_equal(d.start_ms, 1003);
        assert_int_equal(d.due_ms, 61003);
    }
    print_message("20 DOWN at once: %d alone, %d collapsed into %d digest(s) key=%s\n", alone,
                  collapsed, digests, key);
    assert_int_equal(alone, 3);
    assert_int_equal(collapsed, 17);
    assert_int_equal(digests, 1);
    assert_string_equal(key, "DOWN/1003");
    storm_destroy(&s);
    assert_null(s);
}

static void test_kinds_and_channels_apart(void **state)
{
    (void) state;
    storm_t *s = storm_new(2, 10000);
    storm_digest_t d;
    assert_false(storm_admit(s, "a", STORM_DOWN, 0, &d));
    assert_false(storm_admit(s, "a", STORM_DOWN, 1, &d));
    assert_true(storm_admit(s, "a", STORM_DOWN, 2, &d));
    /* another channel and another kind start their own counts */
    assert_false(storm_admit(s, "b", STORM_DOWN, 3, &d));
    assert_false(storm_admit(s, "a", STORM_RECOVERY, 4, &d));
    assert_false(storm_admit(s, "a", STORM_RECOVERY, 5, &d));
    assert_true(storm_admit(s, "a", STORM_RECOVERY, 6, &d));
    assert_string_equal(d.key, "RECOVERY/6");
    storm_destroy(&s);
}

static void test_windows(void **state)
{
    (void) state;
    storm_t *s = storm_new(3, 1000);
    storm_digest_t d;
    /* a trickle of one page every 400 ms: 3 within any 1000 ms, never more */
    for (int i = 0; i < 20; i++)
        assert_false(storm_admit(s, "c", STORM_DOWN, i * 400, &d));
    storm_destroy(&s);

    /* a storm that goes on: one digest per window, each due a window after its first page */
    s = storm_new(3, 1000);
    int first = 0, alone = 0;
    int64_t last_due = 0;
    for (int i = 0; i < 30; i++) {
        if (!storm_admit(s, "c", STORM_DOWN, i * 100, &d)) {
            alone++;
            continue;
        }
        if (d.first) {
            first++;
            assert_true(d.due_ms == d.start_ms + 1000);
            assert_true(d.start_ms >= last_due);
            last_due = d.due_ms;
        }
    }
    print_message("30 pages in 3 s, window 1 s: %d alone, %d digests\n", alone, first);
    assert_int_equal(alone, 3);
    assert_int_equal(first, 3);
    /* quiet for a window: the next pages go alone again */
    assert_false(storm_admit(s, "c", STORM_DOWN, 10000, &d));
    storm_destroy(&s);
}

static void test_off_and_bounds(void **state)
{
    (void) state;
    storm_t *s = storm_new(0, 60000);
    storm_digest_t d;
    for (int i = 0; i < 50; i++)
        assert_false(storm_admit(s, "x", STORM_DOWN, i, &d));
    storm_destroy(&s);
    assert_false(storm_admit(NULL, "x", STORM_DOWN, 0, &d));

    s = storm_new(1, 60000);
    char name[32];
    for (int i = 0; i < STORM_CHANNELS_MAX; i++) {
        snprintf(name, sizeof name, "ch%d", i);
        assert_false(storm_admit(s, name, STORM_DOWN, 0, &d));
        assert_true(storm_admit(s, name, STORM_DOWN, 1, &d));
    }
    /* beyond the table: pages alone */
    assert_false(storm_admit(s, "one-too-many", STORM_DOWN, 0, &d));
    assert_false(storm_admit(s, "one-too-many", STORM_DOWN, 1, &d));
    storm_destroy(&s);

    storm_kind_t k;
    assert_true(storm_kind_of("DOWN", &k) && k == STORM_DOWN);
    assert_true(storm_kind_of("REMINDER", &k) && k == STORM_DOWN);
    assert_true(storm_kind_of("RECOVERY", &k) && k == STORM_RECOVERY);
    assert_false(storm_kind_of("ACKNOWLEDGED", &k));
    assert_false(storm_kind_of("AGENT_DOWN", &k));
    assert_false(storm_kind_of(NULL, &k));
    assert_string_equal(storm_kind_name(STORM_RECOVERY), "RECOVERY");
}

/* After a restart the outbox's pages and open digests carry the storm on: the next page is
 * collapsed into the digest that was open, not sent alone. */
static void test_restore(void **state)
{
    (void) state;
    storm_t *s = storm_new(3, 60000);
    storm_digest_t d;
    for (int i = 0; i < 5; i++)
        storm_restore_page(s, "chat", STORM_DOWN, 1000 + i);
    assert_true(storm_restore_digest(s, "chat", "DOWN/1003"));
    assert_false(storm_restore_digest(s, "chat", "DOWN/x"));
    assert_false(storm_restore_digest(s, "chat", "OTHER/1003"));
    assert_false(storm_restore_digest(s, "chat", "nokey"));
    assert_true(storm_admit(s, "chat", STORM_DOWN, 1010, &d));
    print_message("after restore: collapsed into %s (first=%d)\n", d.key, d.first);
    assert_string_equal(d.key, "DOWN/1003");
    assert_false(d.first);
    assert_int_equal(d.due_ms, 61003);
    /* a channel with pages but no open digest: the next page opens one */
    storm_restore_page(s, "mail", STORM_DOWN, 1000);
    storm_restore_page(s, "mail", STORM_DOWN, 1001);
    storm_restore_page(s, "mail", STORM_DOWN, 1002);
    assert_true(storm_admit(s, "mail", STORM_DOWN, 1003, &d));
    assert_true(d.first);
    storm_destroy(&s);
    /* restoring into a storm that never collapses does nothing */
    s = storm_new(0, 60000);
    storm_restore_page(s, "chat", STORM_DOWN, 1);
    assert_false(storm_restore_digest(s, "chat", "DOWN/1"));
    storm_destroy(&s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_twenty_at_once),
        cmocka_unit_test(test_kinds_and_channels_apart),
        cmocka_unit_test(test_windows),
        cmocka_unit_test(test_off_and_bounds),
        cmocka_unit_test(test_restore),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
