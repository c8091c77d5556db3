/* Pointer-based binary heap (the shape of libuv's heap-inl.h): the tree is complete, so
 * the path from the root to slot k is given by the bits of k; nothing is allocated. */
#include "timer_heap.h"

static bool s_less(const timer_heap_node_t *a, const timer_heap_node_t *b)
{
    if (a->due_ms != b->due_ms)
        return a->due_ms < b->due_ms;
    return a->order < b->order;
}

/* Exchanges parent with its child in the tree, keeping all links consistent. */
static void s_swap(timer_heap_t *h, timer_heap_node_t *parent, timer_heap_node_t *child)
{
    timer_heap_node_t *sibling;
    timer_heap_node_t t = *parent;

    parent->left = child->left;
    parent->right = child->right;
    parent->parent = child;
    child->left = t.left;
    child->right = t.right;
    child->parent = t.parent;

    if (child->left == child) {
        child->left = parent;
        sibling = child->right;
    } else {
        child->right = parent;
        sibling = child->left;
    }
    if (sibling)
        sibling->parent = child;
    if (parent->left)
        parent->left->parent = parent;
    if (parent->right)
        parent->right->parent = parent;

    if (!child->parent)
        h->min = child;
    else if (child->parent->left == parent)
        child->parent->left = child;
    else
        child->parent->right = child;
}

/* Finds the link slot for position k (1-based) and its parent. */
static timer_heap_node_t **s_slot(timer_heap_t *h, size_t k, timer_heap_node_t **parent)
{
    size_t path = 0, n;
    unsigned bits = 0;
    for (n = k; n >= 2; n /= 2, bits++)
        path = (path << 1) | (n & 1);
    timer_heap_node_t **slot = &h->min;
    *parent = NULL;
    while (bits-- > 0) {
        *parent = *slot;
        slot = (path & 1) ? &(*slot)->right : &(*slot)->left;
        path >>= 1;
    }
    return slot;
}

void timer_heap_init(timer_heap_t *h)
{
    h->min = NULL;
    h->count = 0;
    h->next_order = 0;
}

void timer_heap_insert(timer_heap_t *h, timer_heap_node_t *n, int64_t due_ms)
{
    timer_heap_node_t *parent;
    n->left = n->right = NULL;
    n->due_ms = due_ms;
    n->order = h->next_order++;
    n->in_heap = true;
    timer_heap_node_t **slot = s_slot(h, h->count + 1, &parent);
    *slot = n;
    n->parent = parent;
    h->count++;
    while (n->parent && s_less(n, n->parent))
        s_swap(h, n->parent, n);
}

void timer_heap_remove(timer_heap_t *h, timer_heap_node_t *n)
{
    if (!n->in_heap || h->count == 0)
        return;
    timer_heap_node_t *parent;
    timer_heap_node_t **slot = s_slot(h, h->count, &parent);
    timer_heap_node_t *last = *slot;
    *slot = NULL;
    h->count--;
    n->in_heap = false;
    if (last == n) {
        if (h->min == n)
            h->min = NULL;
        return;
    }
    /* put the last node in n's place */
    last->left = n->left;
    last->right = n->right;
    last->parent = n->parent;
    if (last->left)
        last->left->parent = last;
    if (last->right)
        last->right->parent = last;
    if (!n->parent)
        h->min = last;
    else if (n->parent->left == n)
        n->parent->left = last;
    else
        n->parent->right = last;

    /* sift down, then up */
    for (;;) {
        timer_heap_node_t *smallest = last;
        if (last->left && s_less(last->left, smallest))
            smallest = last->left;
        if (last->right && s_less(last->right, smallest))
            smallest = last->right;
        if (smallest == last)
            break;
        s_swap(h, last, smallest);
    }
    while (last->parent && s_less(last, last->parent))
        s_swap(h, last->parent, last);
}

timer_heap_node_t *timer_heap_min(const timer_heap_t *h) { return h->min; }

timer_heap_node_t *timer_heap_pop(timer_heap_t *h)
{
    timer_heap_node_t *n = h->min;
    if (n)
        timer_heap_remove(h, n);
    return n;
}

size_t timer_heap_count(const timer_heap_t *h) { return h->count; }
