/* test_bus: the collector's inproc sockets: a round trip, a sender that never blocks on a
 * full or absent receiver, a bind that waits for the endpoint's previous owner, and the byte
 * budget of an endpoint (bytes queued never above it, refusals counted, room again once the
 * receiver reads). */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "bus.h"
#include "sd_clock.h"

static void test_round_trip(void **state)
{
    (void) state;
    zsock_t *pull = bus_pull("inproc://test-bus-rt");
    zsock_t *push = bus_push("inproc://test-bus-rt", 0);
    assert_non_null(pull);
    assert_non_null(push);
    for (int i = 0; i < 100; i++)
        assert_int_equal(zstr_sendf(push, "m%d", i), 0);
    zsock_set_rcvtimeo(pull, 2000);
    for (int i = 0; i < 100; i++) {
        char *m = zstr_recv(pull);
        char want[16];
        snprintf(want, sizeof want, "m%d", i);
        assert_non_null(m);
        assert_string_equal(m, want);
        zstr_free(&m);
    }
    zsock_destroy(&push);
    zsock_destroy(&pull);
}

/* A full receiver (nobody reading: its BUS_HWM and the sender's 2 queued) makes a send fail
 * at once. */
static void test_push_never_blocks(void **state)
{
    (void) state;
    zsock_t *pull = bus_pull("inproc://test-bus-full");
    zsock_t *push = bus_push("inproc://test-bus-full", 2);
    assert_non_null(pull);
    assert_non_null(push);
    int sent = 0, failed = 0;
    sd_ms_t t0 = sd_mono_ms();
    for (int i = 0; i < 20000; i++) {
        if (zstr_send(push, "x") == 0)
            sent++;
        else
            failed++;
    }
    sd_ms_t took = sd_mono_ms() - t0;
    printf("full receiver: %d sent, %d refused in %lld ms\n", sent, failed, (long long) took);
    assert_true(failed > 0);
    assert_true(sent >= 2 && sent <= BUS_HWM + 2 + 16);
    assert_true(took < 2000);
    zsock_destroy(&push);
    zsock_destroy(&pull);
    /* no receiver at all: still no block */
    push = bus_push("inproc://test-bus-nobody", 1);
    assert_non_null(push);
    t0 = sd_mono_ms();
    for (int i = 0; i < 100; i++)
        zstr_send(push, "x");
    took = sd_mono_ms() - t0;
    printf("absent receiver: 100 sends in %lld ms\n", (long long) took);
    assert_true(took < 2000);
    zsock_destroy(&push);
}

typedef struct {
    zsock_t *owner;
    int hold_ms;
} holder_t;

static void *s_release_later(void *arg)
{
    holder_t *h = arg;
    zclock_sleep(h->hold_ms); /* the previous owner keeps the endpoint this long */
    zsock_destroy(&h->owner);
    return NULL;
}

/* An endpoint still held by a previous owner (an actor being replaced) is bound once it is
 * released, within BUS_BIND_TRIES x 10 ms; one held for longer is refused (NULL). */
static void test_pull_waits_for_previous_owner(void **state)
{
    (void) state;
    holder_t h = {bus_pull("inproc://test-bus-owner"), 200};
    assert_non_null(h.owner);
    pthread_t t;
    sd_ms_t t0 = sd_mono_ms();
    assert_int_equal(pthread_create(&t, NULL, s_release_later, &h), 0);
    zsock_t *next = bus_pull("inproc://test-bus-owner");
    sd_ms_t took = sd_mono_ms() - t0;
    pthread_join(t, NULL);
    printf("bound after the previous owner released it: %lld ms\n", (long long) took);
    assert_non_null(next);
    assert_true(took >= 150);
    zsock_destroy(&next);

    zsock_t *held = bus_pull("inproc://test-bus-held");
    assert_non_null(held);
    t0 = sd_mono_ms();
    zsock_t *refused = bus_pull("inproc://test-bus-held");
    took = sd_mono_ms() - t0;
    printf("endpoint held throughout: refused after %lld ms\n", (long long) took);
    assert_null(refused);
    assert_true(took >= BUS_BIND_TRIES * 10 / 2);
    zsock_destroy(&held);
}

/* A frame of size bytes. */
static zmsg_t *s_msg(size_t size)
{
    zmsg_t *m = zmsg_new();
    zframe_t *f = zframe_new(NULL, size);
    memset(zframe_data(f), 'x', size);
    zmsg_append(m, &f);
    return m;
}

/* Many large messages to a receiver that does not read: the bytes queued never exceed the
 * budget, every refusal is -ENOBUFS; once the receiver has read everything the count is 0
 * and sends succeed again. */
static void test_byte_budget(void **state)
{
    (void) state;
    const char *ep = "inproc://test-bus-bytes";
    const size_t budget = 1 << 20, size = 64 << 10;
    assert_int_equal(bus_set_budget(ep, budget), 0);
    assert_int_equal(bus_budget(ep), budget);
    zsock_t *pull = bus_pull(ep);
    zsock_t *push = bus_push(ep, 0);
    assert_non_null(pull);
    assert_non_null(push);
    int sent = 0, refused = 0, other = 0;
    size_t peak = 0;
    for (int i = 0; i < 1000; i++) {
        zmsg_t *m = s_msg(size);
        int rc = bus_send(push, &m);
        assert_null(m); /* taken, sent or destroyed */
        sent += rc == 0;
        refused += rc == -ENOBUFS;
        other += rc != 0 && rc != -ENOBUFS;
        size_t q = bus_queued_bytes(ep);
        peak = q > peak ? q : peak;
        assert_true(q <= budget);
    }
    printf("budget %zu B, 1000 x %zu B to a receiver not reading: %d sent, %d refused "
           "(bytes), %d other; peak queued %zu B\n", budget, size, sent, refused, other, peak);
    assert_int_equal(sent, (int) (budget / size));
    assert_int_equal(refused, 1000 - sent);
    assert_int_equal(other, 0);
    assert_int_equal(peak, budget);
    /* a message larger than the whole budget never goes */
    zmsg_t *big = s_msg(budget + 1);
    assert_int_equal(bus_send(push, &big), -ENOBUFS);

    /* the receiver drains: the count follows it down to 0 */
    zsock_set_rcvtimeo(pull, 2000);
    for (int i = 0; i < sent; i++) {
        zmsg_t *m = bus_recv(pull);
        assert_non_null(m);
        assert_int_equal(zmsg_content_size(m), size);
        zmsg_destroy(&m);
    }
    printf("after draining: %zu B queued\n", bus_queued_bytes(ep));
    assert_int_equal(bus_queued_bytes(ep), 0);
    for (int i = 0; i < sent; i++) {
        zmsg_t *m = s_msg(size);
        assert_int_equal(bus_send(push, &m), 0);
    }
    assert_int_equal(bus_queued_bytes(ep), budget);
    for (int i = 0; i < sent; i++) {
        zmsg_t *m = bus_recv(pull);
        assert_non_null(m);
        zmsg_destroy(&m);
    }
    assert_int_equal(bus_queued_bytes(ep), 0);
    bus_close(&push);
    bus_close(&pull);
    assert_null(push);
    assert_null(pull);
}

/* A send refused by the message bound (-EAGAIN) gives its bytes back: the count is exactly
 * the bytes of the messages in the queue. A new receiver starts the count at 0. */
static void test_byte_budget_hwm_refusal(void **state)
{
    (void) state;
    const char *ep = "inproc://test-bus-bytes-hwm";
    assert_int_equal(bus_set_budget(ep, 1 << 20), 0);
    zsock_t *pull = bus_pull(ep);
    zsock_t *push = bus_push(ep, 2);
    assert_non_null(pull);
    assert_non_null(push);
    int sent = 0, full = 0;
    for (int i = 0; i < 20000; i++) {
        zmsg_t *m = s_msg(10);
        int rc = bus_send(push, &m);
        sent += rc == 0;
        full += rc == -EAGAIN;
    }
    printf("10-byte messages: %d sent, %d refused (full); %zu B queued\n", sent, full,
           bus_queued_bytes(ep));
    assert_true(full > 0);
    assert_int_equal(bus_queued_bytes(ep), (size_t) sent * 10);
    bus_close(&push);
    bus_close(&pull);
    zsock_t *again = bus_pull(ep);
    assert_non_null(again);
    assert_int_equal(bus_queued_bytes(ep), 0);
    bus_close(&again);
    /* an endpoint without a budget counts nothing */
    assert_int_equal(bus_budget("inproc://test-bus-rt"), 0);
    assert_int_equal(bus_budget(BUS_INGEST), BUS_BYTES_DEFAULT);
    assert_int_equal(bus_budget(BUS_ENGINE), BUS_BYTES_DEFAULT);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_push_never_blocks),
        cmocka_unit_test(test_pull_waits_for_previous_owner),
        cmocka_unit_test(test_byte_budget),
        cmocka_unit_test(test_byte_budget_hwm_refusal),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    zsys_shutdown();
    return rc;
}
