/* timer_heap: ordering, FIFO ties, arbitrary removal. */
#include <setjmp.h>
#include <stdarg.h>
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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pop_order),
        cmocka_unit_test(test_fifo_ties),
        cmocka_unit_test(test_remove_arbitrary),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
