/* outq: sequence numbers, bound with drop-oldest, ack, renumber. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <cmocka.h>

#include "outq.h"

static void s_push(outq_t *q, const char *id, int *dropped)
{
    probe_result_t *r = probe_result_new(id);
    assert_non_null(r);
    int d = outq_push(q, &r);
    assert_null(r);
    if (dropped)
        *dropped += d;
}

static void test_seq_and_ack(void **state)
{
    outq_t *q = outq_new(10, 1000);
    assert_int_equal(outq_first_seq(q), 1000);
    assert_int_equal(outq_next_seq(q), 1000);
    for (int i = 0; i < 5; i++)
        s_push(q, "a", NULL);
    assert_int_equal(outq_len(q), 5);
    for (uint64_t s = 1000; s < 1005; s++)
        assert_int_equal(outq_get(q, s)->seq, s);
    assert_null(outq_get(q, 999));
    assert_null(outq_get(q, 1005));
    assert_int_equal(outq_ack(q, 1002), 3);
    assert_int_equal(outq_first_seq(q), 1003);
    assert_int_equal(outq_ack(q, 1002), 0); /* duplicate ack */
    assert_int_equal(outq_ack(q, 5000), 2);
    assert_int_equal(outq_len(q), 0);
    /* numbers are never reused */
    assert_int_equal(outq_first_seq(q), 1005);
    s_push(q, "b", NULL);
    assert_int_equal(outq_get(q, 1005)->seq, 1005);
    outq_destroy(&q);
    assert_null(q);
}

static void test_bound_drops_oldest(void **state)
{
    outq_t *q = outq_new(4, 1);
    int dropped = 0;
    for (int i = 0; i < 10; i++)
        s_push(q, "x", &dropped);
    assert_int_equal(dropped, 6);
    assert_int_equal(outq_dropped(q), 6);
    assert_int_equal(outq_len(q), 4);
    assert_int_equal(outq_first_seq(q), 7); /* seqs 7..10 kept: the newest */
    assert_int_equal(outq_next_seq(q), 11);
    for (uint64_t s = 7; s <= 10; s++)
        assert_int_equal(outq_get(q, s)->seq, s);
    outq_destroy(&q); /* frees the pending results (LSan checks) */
}

static void test_renumber(void **state)
{
    outq_t *q = outq_new(8, 100);
    for (int i = 0; i < 3; i++)
        s_push(q, "r", NULL);
    outq_renumber(q, 5001);
    assert_int_equal(outq_first_seq(q), 5001);
    assert_int_equal(outq_next_seq(q), 5004);
    for (uint64_t s = 5001; s < 5004; s++)
        assert_int_equal(outq_get(q, s)->seq, s);
    assert_null(outq_get(q, 100));
    s_push(q, "r", NULL);
    assert_int_equal(outq_get(q, 5004)->seq, 5004);
    /* renumber of an empty queue moves next_seq */
    outq_ack(q, UINT64_MAX);
    outq_renumber(q, 9000);
    assert_int_equal(outq_next_seq(q), 9000);
    outq_destroy(&q);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_seq_and_ack),
        cmocka_unit_test(test_bound_drops_oldest),
        cmocka_unit_test(test_renumber),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
