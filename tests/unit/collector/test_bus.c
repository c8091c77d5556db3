/* test_bus: the collector's inproc sockets: a round trip, a sender that never blocks on a
 * full or absent receiver, and a bind that waits for the endpoint's previous owner. */
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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_push_never_blocks),
        cmocka_unit_test(test_pull_waits_for_previous_owner),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    zsys_shutdown();
    return rc;
}
