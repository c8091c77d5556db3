/* outq: sequence numbers, bound with drop-oldest, ack, renumber, numbers skipped by
 * outq_push_at (spool replay), positions, and the observer. */
#include <setjmp.h>
#include <stdarg.h>
#include <errno.h>
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

/* Results replayed from the spool keep their numbers, holes included; positions address
 * them, and lookups by number find them (or NULL inside a hole). */
static void test_push_at_holes(void **state)
{
    outq_t *q = outq_new(8, 1);
    uint64_t seqs[] = {100, 101, 105, 106, 107, 200};
    for (size_t i = 0; i < 6; i++) {
        probe_result_t *r = probe_result_new("h");
        assert_int_equal(outq_push_at(q, &r, seqs[i]), 0);
        assert_null(r);
    }
    probe_result_t *low = probe_result_new("low");
    assert_int_equal(outq_push_at(q, &low, 150), -EINVAL); /* below next_seq: not taken */
    assert_non_null(low);
    probe_result_destroy(&low);
    s_push(q, "new", NULL); /* numbering continues after the last */
    assert_int_equal(outq_len(q), 7);
    assert_int_equal(outq_first_seq(q), 100);
    assert_int_equal(outq_next_seq(q), 202);
    for (size_t i = 0; i < 6; i++) {
        assert_int_equal(outq_at(q, i)->seq, seqs[i]);
        assert_int_equal(outq_get(q, seqs[i])->seq, seqs[i]);
        assert_int_equal(outq_pos(q, seqs[i]), i);
    }
    assert_int_equal(outq_at(q, 6)->seq, 201);
    assert_null(outq_at(q, 7));
    assert_null(outq_get(q, 102));
    assert_null(outq_get(q, 199));
    assert_int_equal(outq_pos(q, 1), 0);
    assert_int_equal(outq_pos(q, 102), 2);  /* the next pending number: 105 */
    assert_int_equal(outq_pos(q, 108), 5);  /* 200 */
    assert_int_equal(outq_pos(q, 202), 7);  /* none */
    assert_int_equal(outq_ack(q, 104), 2);
    assert_int_equal(outq_first_seq(q), 105);
    /* 5 pending; 4 more fill the 8 places: the oldest goes */
    for (int i = 0; i < 4; i++)
        s_push(q, "new", NULL);
    assert_int_equal(outq_dropped(q), 1);
    assert_int_equal(outq_first_seq(q), 106);
    assert_int_equal(outq_len(q), 8);
    /* renumbering closes the holes */
    outq_renumber(q, 1000);
    for (size_t i = 0; i < 8; i++)
        assert_int_equal(outq_at(q, i)->seq, 1000 + i);
    assert_int_equal(outq_next_seq(q), 1008);
    outq_destroy(&q);
}

typedef struct {
    uint64_t pushed[16];
    size_t n_pushed;
    uint64_t released[16];
    size_t n_released;
    int renumbered;
    outq_t *q;
    uint64_t ack_in_push; /* acks through this from inside pushed (0: no) */
} obs_t;

static void s_obs_pushed(const probe_result_t *r, void *ctx)
{
    obs_t *o = ctx;
    o->pushed[o->n_pushed++] = r->seq;
    if (o->ack_in_push) {
        uint64_t through = o->ack_in_push;
        o->ack_in_push = 0;
        outq_ack(o->q, through); /* nested: reported as its own release */
    }
}

static void s_obs_released(uint64_t through, void *ctx)
{
    obs_t *o = ctx;
    o->released[o->n_released++] = through;
}

static void s_obs_renumbered(void *ctx)
{
    ((obs_t *) ctx)->renumbered++;
}

static void test_observer(void **state)
{
    static const outq_observer_t ops = {s_obs_pushed, s_obs_released, s_obs_renumbered};
    obs_t o = {0};
    outq_t *q = outq_new(3, 10);
    o.q = q;
    probe_result_t *r = probe_result_new("replayed");
    outq_observe(q, &ops, &o);
    assert_int_equal(outq_push_at(q, &r, 5000), 0); /* from the spool: not reported */
    assert_int_equal(o.n_pushed, 0);
    s_push(q, "a", NULL);
    s_push(q, "b", NULL);
    assert_int_equal(o.n_pushed, 2);
    assert_int_equal(o.pushed[0], 5001);
    assert_int_equal(o.pushed[1], 5002);
    s_push(q, "c", NULL); /* full: 5000 dropped, then 5003 pushed */
    assert_int_equal(o.n_released, 1);
    assert_int_equal(o.released[0], 5000);
    assert_int_equal(o.pushed[2], 5003);
    assert_int_equal(outq_ack(q, 5001), 1);
    assert_int_equal(o.released[1], 5001);
    assert_int_equal(outq_ack(q, 5001), 0); /* nothing freed: nothing reported */
    assert_int_equal(o.n_released, 2);
    o.ack_in_push = 5002;
    s_push(q, "d", NULL);
    assert_int_equal(o.pushed[3], 5004);
    assert_int_equal(o.released[2], 5002);
    assert_int_equal(outq_first_seq(q), 5003);
    outq_renumber(q, 9000);
    assert_int_equal(o.renumbered, 1);
    outq_observe(q, NULL, NULL);
    s_push(q, "e", NULL);
    assert_int_equal(o.n_pushed, 4);
    /* destroy frees without reporting */
    o.n_released = 0;
    outq_observe(q, &ops, &o);
    outq_destroy(&q);
    assert_int_equal(o.n_released, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_seq_and_ack),
        cmocka_unit_test(test_bound_drops_oldest),
        cmocka_unit_test(test_renumber),
        cmocka_unit_test(test_push_at_holes),
        cmocka_unit_test(test_observer),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
