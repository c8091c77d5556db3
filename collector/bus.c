/* bus: the sockets of the collector's inproc endpoints, and the byte budgets (bus.h).
 *
 * A budget is one counter per endpoint, shared by every sender and the receiver (they run in
 * different threads: atomics). Sockets are tied to their endpoint's budget when bus_push or
 * bus_pull makes them (only endpoints with a budget are tied), so bus_send and bus_recv find
 * it from the socket; bus_close unties. The tables are tiny (a handful of endpoints and
 * sockets): a linear search under one mutex. */
#include "bus.h"

#include <czmq.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#define ENDPOINT_MAX 128

typedef struct {
    char endpoint[ENDPOINT_MAX];
    atomic_size_t budget;   /* 0: none */
    atomic_size_t queued;   /* bytes sent and not yet received */
} budget_t;

typedef struct {
    zsock_t *sock;
    budget_t *b;
} tie_t;

static pthread_mutex_t s_lock = PTHREAD_MUTEX_INITIALIZER;
static budget_t s_budgets[BUS_BUDGETS_MAX] = {
    {BUS_INGEST, BUS_BYTES_DEFAULT, 0},
    {BUS_ENGINE, BUS_BYTES_DEFAULT, 0},
};
static size_t s_n_budgets = 2;
static tie_t *s_ties;
static size_t s_n_ties, s_cap_ties;

/* Under s_lock. */
static budget_t *s_budget_find(const char *endpoint)
{
    for (size_t i = 0; i < s_n_budgets; i++)
        if (strcmp(s_budgets[i].endpoint, endpoint) == 0)
            return &s_budgets[i];
    return NULL;
}

/* Under s_lock. */
static void s_untie(const zsock_t *sock)
{
    for (size_t i = 0; i < s_n_ties; i++)
        if (s_ties[i].sock == sock) {
            s_ties[i] = s_ties[--s_n_ties];
            return;
        }
}

/* Ties sock to endpoint's budget when it has one (a socket at the address of one closed
 * without bus_close loses that stale tie first). reset: a new receiver, the count starts
 * at 0. 0 or -ENOMEM. */
static int s_tie(zsock_t *sock, const char *endpoint, bool reset)
{
    int rc = 0;
    pthread_mutex_lock(&s_lock);
    s_untie(sock);
    budget_t *b = s_budget_find(endpoint);
    if (b && atomic_load(&b->budget) > 0) {
        if (s_n_ties == s_cap_ties) {
            size_t cap = s_cap_ties ? s_cap_ties * 2 : 8;
            tie_t *t = realloc(s_ties, cap * sizeof *t);
            if (t) {
                s_ties = t;
                s_cap_ties = cap;
            }
        }
        if (s_n_ties < s_cap_ties)
            s_ties[s_n_ties++] = (tie_t){sock, b};
        else
            rc = -ENOMEM;
        if (reset)
            atomic_store(&b->queued, 0);
    }
    pthread_mutex_unlock(&s_lock);
    return rc;
}

static budget_t *s_budget_of(const zsock_t *sock)
{
    budget_t *b = NULL;
    pthread_mutex_lock(&s_lock);
    for (size_t i = 0; i < s_n_ties && !b; i++)
        if (s_ties[i].sock == sock)
            b = s_ties[i].b;
    pthread_mutex_unlock(&s_lock);
    return b;
}

/* Takes size bytes off b's count, never below 0 (a message sent around bus_send, e.g. by a
 * test, must not make the count wrap). */
static void s_release(budget_t *b, size_t size)
{
    size_t q = atomic_load(&b->queued);
    while (!atomic_compare_exchange_weak(&b->queued, &q, q > size ? q - size : 0))
        ;
}

zsock_t *bus_pull(const char *endpoint)
{
    zsock_t *s = zsock_new(ZMQ_PULL);
    if (!s)
        return NULL;
    zsock_set_rcvhwm(s, BUS_HWM);
    zsock_set_linger(s, 0);
    /* an inproc endpoint is released asynchronously when its previous owner closes it */
    int rc = zsock_bind(s, "%s", endpoint);
    for (int i = 0; rc != 0 && i < BUS_BIND_TRIES; i++) {
        zclock_sleep(10);
        rc = zsock_bind(s, "%s", endpoint);
    }
    if (rc != 0 || s_tie(s, endpoint, true) != 0)
        zsock_destroy(&s);
    return s;
}

zsock_t *bus_push(const char *endpoint, int hwm)
{
    zsock_t *s = zsock_new(ZMQ_PUSH);
    if (!s)
        return NULL;
    zsock_set_sndhwm(s, hwm > 0 ? hwm : BUS_HWM);
    zsock_set_sndtimeo(s, 0);
    zsock_set_linger(s, 0);
    if (zsock_connect(s, "%s", endpoint) != 0 || s_tie(s, endpoint, false) != 0)
        zsock_destroy(&s);
    return s;
}

void bus_close(zsock_t **sock)
{
    if (!sock || !*sock)
        return;
    pthread_mutex_lock(&s_lock);
    s_untie(*sock);
    pthread_mutex_unlock(&s_lock);
    zsock_destroy(sock);
}

int bus_set_budget(const char *endpoint, size_t bytes)
{
    if (!endpoint || strlen(endpoint) >= ENDPOINT_MAX)
        return -EINVAL;
    int rc = 0;
    pthread_mutex_lock(&s_lock);
    budget_t *b = s_budget_find(endpoint);
    if (!b && s_n_budgets < BUS_BUDGETS_MAX) {
        b = &s_budgets[s_n_budgets++];
        strcpy(b->endpoint, endpoint);
        atomic_store(&b->queued, 0);
    }
    if (b)
        atomic_store(&b->budget, bytes);
    else
        rc = -ENOSPC;
    pthread_mutex_unlock(&s_lock);
    return rc;
}

size_t bus_budget(const char *endpoint)
{
    pthread_mutex_lock(&s_lock);
    budget_t *b = endpoint ? s_budget_find(endpoint) : NULL;
    size_t v = b ? atomic_load(&b->budget) : 0;
    pthread_mutex_unlock(&s_lock);
    return v;
}

size_t bus_queued_bytes(const char *endpoint)
{
    pthread_mutex_lock(&s_lock);
    budget_t *b = endpoint ? s_budget_find(endpoint) : NULL;
    size_t v = b ? atomic_load(&b->queued) : 0;
    pthread_mutex_unlock(&s_lock);
    return v;
}

int bus_send(zsock_t *sock, zmsg_t **msg)
{
    if (!msg || !*msg)
        return -EINVAL;
    budget_t *b = s_budget_of(sock);
    size_t size = b ? zmsg_content_size(*msg) : 0;
    if (b) {
        size_t cap = atomic_load(&b->budget);
        size_t q = atomic_load(&b->queued);
        do {
            if (size > cap || q > cap - size) {
                zmsg_destroy(msg);
                return -ENOBUFS;
            }
        } while (!atomic_compare_exchange_weak(&b->queued, &q, q + size));
    }
    if (zmsg_send(msg, sock) != 0) {
        zmsg_destroy(msg);
        if (b)
            s_release(b, size);
        return -EAGAIN;
    }
    return 0;
}

zmsg_t *bus_recv(zsock_t *sock)
{
    zmsg_t *msg = zmsg_recv(sock);
    budget_t *b = msg ? s_budget_of(sock) : NULL;
    if (b)
        s_release(b, zmsg_content_size(msg));
    return msg;
}
