/* timer_heap: ordering, FIFO ties, arbitrary removal. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdlib.h>
#include <cmocka.h>

#include "timer_heap.h"

#define N 2000

static void test_pop_order(void **state)
{
    static timer_heap_node_t nodes[N];
    timer_heap_t h;
    timer_heap_init(&h);
    srandom(42);
    for (int i = 0; i < N; i++)
        timer_heap_insert(&h, &nodes[i], random() % 500);
    assert_int_equal(timer_heap_count(&h), N);
    int64_t last = -1;
    uint64_t last_order = 0;
    for (int i = 0; i < N; i++) {
        timer_heap_node_t *n = timer_heap_pop(&h);
        assert_non_null(n);
        assert_true(n->due_ms >= last);
        if (n->due_ms == last)
            assert_true(n->order > last_order); /* FIFO among equal keys */
        last = n->due_ms;
        last_order = n->order;
        assert_false(n->in_heap);
    }
    assert_null(timer_heap_pop(&h));
    assert_int_equal(timer_heap_count(&h), 0);
}

static void test_fifo_ties(void **state)
{
    timer_heap_node_t nodes[50];
    timer_heap_t h;
    timer_heap_init(&h);
    for (int i = 0; i < 50; i++)
        timer_heap_insert(&h, &nodes[i], 7);
    for (int i = 0; i < 50; i++)
        assert_ptr_equal(timer_heap_pop(&h), &nodes[i]);
}

static void test_remove_arbitrary(void **state)
{
    static timer_heap_node_t nodes[N];
    timer_heap_t h;
    timer_heap_init(&h);
    srandom(7);
    for (int i = 0; i < N; i++)
        timer_heap_insert(&h, &nodes[i], random() % 10000);
    /* remove every third node, some twice (second removal is a no-op) */
    for (int i = 0; i < N; i += 3) {
        timer_heap_remove(&h, &nodes[i]);
        timer_heap_remove(&h, &nodes[i]);
    }
    assert_int_equal(timer_heap_count(&h), N - (N + 2) / 3);
    int64_t last = -1;
    size_t popped = 0;
    timer_heap_node_t *n;
    while ((n = timer_heap_pop(&h))) {
        assert_true((n - nodes) % 3 != 0);
        assert_true(n->due_ms >= last);
        last = n->due_ms;
        popped++;
    }
    assert_int_equal(popped, N - (N + 2) / 3);
}

/* Walks the tree: links consistent, heap order, size = count. Returns the node count. */
static size_t s_check(const timer_heap_node_t *n, const timer_heap_node_t *parent)
{
    if (!n)
        return 0;
    assert_ptr_equal(n->parent, parent);
    assert_true(n->in_heap);
    if (parent)
        assert_true(parent->due_ms < n->due_ms ||
                    (parent->due_ms == n->due_ms && parent->order < n->order));
    return 1 + s_check(n->left, n) + s_check(n->right, n);
}

/* Interleaved inserts, removes (also of the min, of absent nodes, re-inserts of removed
 * ones, as timers re-armed from callbacks do) and pops against a linear-scan model. */
static void test_random_ops_against_model(void **state)
{
    enum { M = 300, OPS = 60000 };
    static timer_heap_node_t nodes[M];
    bool in[M] = {false};
    size_t count = 0;
    timer_heap_t h;
    timer_heap_init(&h);
    srandom(1234);
    for (int op = 0; op < OPS; op++) {
        int i = (int) (random() % M);
        switch (random() % 4) {
        case 0:
        case 1: /* (re)arm: remove first when armed, like loop_timer_start */
            if (in[i]) {
                timer_heap_remove(&h, &nodes[i]);
                count--;
            }
            timer_heap_insert(&h, &nodes[i], random() % 50);
            in[i] = true;
            count++;
            break;
        case 2:
            timer_heap_remove(&h, &nodes[i]);
            if (in[i])
                count--;
            in[i] = false;
            assert_false(nodes[i].in_heap);
            break;
        default: {
            int best = -1;
            for (int k = 0; k < M; k++)
                if (in[k] && (best < 0 || nodes[k].due_ms < nodes[best].due_ms ||
                              (nodes[k].due_ms == nodes[best].due_ms &&
                               nodes[k].order < nodes[best].order)))
                    best = k;
            timer_heap_node_t *n = timer_heap_pop(&h);
            if (best < 0) {
                assert_null(n);
            } else {
                assert_ptr_equal(n, &nodes[best]);
                in[best] = false;
                count--;
            }
        }
        }
        assert_int_equal(timer_heap_count(&h), count);
        if (op % 97 == 0)
            assert_int_equal(s_check(timer_heap_min(&h), NULL), count);
    }
    assert_int_equal(s_check(timer_heap_min(&h), NULL), count);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pop_order),
        cmocka_unit_test(test_fifo_ties),
        cmocka_unit_test(test_remove_arbitrary),
        cmocka_unit_test(test_random_ops_against_model),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
