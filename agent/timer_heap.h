/* timer_heap: an intrusive binary min-heap of timers keyed by monotonic milliseconds.
 * The owner embeds a timer_heap_node_t; insertion never allocates and never fails.
 * Equal keys come out in insertion order (FIFO), like libuv's timer heap. */
#ifndef TIMER_HEAP_H
#define TIMER_HEAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct timer_heap_node {
    struct timer_heap_node *left, *right, *parent;
    int64_t due_ms;     /* key: monotonic ms */
    uint64_t order;     /* insertion counter: FIFO among equal keys */
    bool in_heap;
} timer_heap_node_t;

typedef struct {
    timer_heap_node_t *min;
    size_t count;
    uint64_t next_order;
} timer_heap_t;

/* An empty heap. */
void timer_heap_init(timer_heap_t *h);
/* Inserts n (which must not be in a heap) with key due_ms. */
void timer_heap_insert(timer_heap_t *h, timer_heap_node_t *n, int64_t due_ms);
/* Removes n if it is in the heap; otherwise does nothing. */
void timer_heap_remove(timer_heap_t *h, timer_heap_node_t *n);
/* The node with the smallest key (earliest inserted among equals), or NULL when empty. */
timer_heap_node_t *timer_heap_min(const timer_heap_t *h);
/* Removes and returns the minimum, or NULL when empty. */
timer_heap_node_t *timer_heap_pop(timer_heap_t *h);
/* Number of nodes in the heap. */
size_t timer_heap_count(const timer_heap_t *h);

#endif
