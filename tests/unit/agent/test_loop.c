/* loop: timer order, watchers, deferred removal, hooks, signals, clean teardown. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <cmocka.h>

#include "loop.h"

#include <signal.h>
#include <stdio.h>
#include <sys/epoll.h>
#include <unistd.h>

#define MAXLOG 64

typedef struct {
    int log[MAXLOG];
    int n;
    loop_timer_t *victim;     /* stopped by the first timer */
    loop_watcher_t **victim_w;
    sd_ms_t fired_at[MAXLOG];
} rec_t;

static rec_t R;
static loop_timer_t T[8];

static void s_timer_cb(loop_t *loop, loop_timer_t *t, void *ctx)
{
    int id = (int) (intptr_t) ctx;
    R.fired_at[R.n] = loop_now(loop);
    R.log[R.n++] = id;
    if (id == 1 && R.victim)
        loop_timer_stop(R.victim);
}

static void test_timer_order(void **state)
{
    loop_t *loop = loop_new();
    assert_non_null(loop);
    R = (rec_t){0};
    int delays[] = {60, 20, 40, 20, 0};
    for (int i = 0; i < 5; i++) {
        loop_timer_init(loop, &T[i], s_timer_cb, (void *) (intptr_t) (i + 10));
        loop_timer_start_in(&T[i], delays[i]);
    }
    sd_ms_t t0 = loop_now(loop);
    sd_ms_t deadline = sd_mono_ms() + 2000;
    while (R.n < 5 && sd_mono_ms() < deadline)
        loop_run_once(loop, 100);
    assert_int_equal(R.n, 5);
    int want[] = {14, 11, 13, 12, 10}; /* by due time, FIFO for the two 20 ms timers */
    for (int i = 0; i < 5; i++)
        assert_int_equal(R.log[i], want[i]);
    printf("timer 60ms fired after %lld ms\n", (long long) (R.fired_at[4] - t0));
    assert_true(R.fired_at[4] - t0 >= 60);
    assert_int_equal(loop_destroy(&loop), 0);
}

/* Two timers due in the same iteration: the first stops the second, which must not run. */
static void test_timer_stopped_by_earlier(void **state)
{
    loop_t *loop = loop_new();
    R = (rec_t){0};
    loop_timer_init(loop, &T[0], s_timer_cb, (void *) (intptr_t) 1);
    loop_timer_init(loop, &T[1], s_timer_cb, (void *) (intptr_t) 2);
    sd_ms_t due = loop_now(loop) + 10;
    loop_timer_start(&T[0], due);
    loop_timer_start(&T[1], due);
    R.victim = &T[1];
    sd_ms_t deadline = sd_mono_ms() + 1000;
    while (R.n < 1 && sd_mono_ms() < deadline)
        loop_run_once(loop, 50);
    loop_run_once(loop, 30);
    assert_int_equal(R.n, 1);
    assert_int_equal(R.log[0], 1);
    assert_false(loop_timer_active(&T[1]));
    assert_int_equal(loop_destroy(&loop), 0);
}

static int s_rearms;
static void s_rearm_cb(loop_t *loop, loop_timer_t *t, void *ctx)
{
    s_rearms++;
    if (s_rearms < 3)
        loop_timer_start_in(t, 0); /* must wait for the next iteration */
}

static void test_zero_delay_is_next_iteration(void **state)
{
    loop_t *loop = loop_new();
    loop_timer_t t;
    loop_timer_init(loop, &t, s_rearm_cb, NULL);
    loop_timer_start_in(&t, 0);
    s_rearms = 0;
    loop_run_once(loop, 0);
    assert_int_equal(s_rearms, 1);
    loop_run_once(loop, 0);
    assert_int_equal(s_rearms, 2);
    loop_run_once(loop, 0);
    assert_int_equal(s_rearms, 3);
    assert_int_equal(loop_destroy(&loop), 0);
}

typedef struct {
    int calls;
    loop_watcher_t *self_w;
    loop_watcher_t **other;
} wctx_t;

static void s_io_cb(loop_t *loop, loop_watcher_t *w, uint32_t revents, void *ctx)
{
    wctx_t *c = ctx;
    c->calls++;
    assert_true(revents & EPOLLIN);
    if (c->other && *c->other)
        loop_unwatch(c->other);   /* removes a watcher that may be ready in this batch */
    loop_unwatch(&c->self_w);     /* removes itself: freed after the iteration */
}

static void test_watchers_and_deferred_removal(void **state)
{
    loop_t *loop = loop_new();
    int p1[2], p2[2];
    assert_int_equal(pipe(p1), 0);
    assert_int_equal(pipe(p2), 0);
    wctx_t a = {0}, b = {0};
    a.self_w = loop_watch(loop, p1[0], EPOLLIN, s_io_cb, &a);
    b.self_w = loop_watch(loop, p2[0], EPOLLIN, s_io_cb, &b);
    assert_non_null(a.self_w);
    assert_non_null(b.self_w);
    a.other = &b.self_w;
    b.other = &a.self_w;
    /* both readable: whichever runs first removes the other, which must not run */
    assert_int_equal(write(p1[1], "x", 1), 1);
    assert_int_equal(write(p2[1], "y", 1), 1);
    loop_run_once(loop, 500);
    printf("calls a=%d b=%d\n", a.calls, b.calls);
    assert_int_equal(a.calls + b.calls, 1);
    assert_null(a.self_w);
    assert_null(b.self_w);
    loop_run_once(loop, 20); /* nothing registered: no callback */
    assert_int_equal(a.calls + b.calls, 1);
    assert_int_equal(loop_destroy(&loop), 0);
    close(p1[0]), close(p1[1]), close(p2[0]), close(p2[1]);
}

static void s_count_cb(loop_t *loop, loop_watcher_t *w, uint32_t revents, void *ctx)
{
    char buf[16];
    (void) !read(loop_watcher_fd(w), buf, sizeof buf);
    (*(int *) ctx)++;
}

/* The owner closes an fd before loop_unwatch (allowed), the number is reused by a new fd
 * that is watched meanwhile: the late unwatch of the old watcher must not remove the new
 * registration (the new watcher would never fire again: a hung probe or uplink). */
static void test_unwatch_after_close_and_fd_reuse(void **state)
{
    loop_t *loop = loop_new();
    int p1[2], p2[2], old_calls = 0, new_calls = 0;
    assert_int_equal(pipe(p1), 0);
    loop_watcher_t *old_w = loop_watch(loop, p1[0], EPOLLIN, s_count_cb, &old_calls);
    assert_non_null(old_w);
    int old_fd = p1[0];
    close(p1[0]);
    close(p1[1]);
    assert_int_equal(pipe(p2), 0);
    printf("old fd %d, new fd %d\n", old_fd, p2[0]);
    assert_int_equal(p2[0], old_fd); /* lowest free number: reused */
    loop_watcher_t *new_w = loop_watch(loop, p2[0], EPOLLIN, s_count_cb, &new_calls);
    assert_non_null(new_w);
    loop_unwatch(&old_w);
    assert_int_equal(write(p2[1], "x", 1), 1);
    sd_ms_t deadline = sd_mono_ms() + 2000;
    while (new_calls == 0 && sd_mono_ms() < deadline)
        loop_run_once(loop, 50);
    assert_int_equal(new_calls, 1);
    assert_int_equal(old_calls, 0);
    loop_unwatch(&new_w);
    assert_int_equal(loop_destroy(&loop), 0);
    close(p2[0]), close(p2[1]);
}

static int s_hook_calls;
static void s_hook(loop_t *loop, void *ctx) { s_hook_calls++; }

static void test_hooks_and_leftovers(void **state)
{
    loop_t *loop = loop_new();
    s_hook_calls = 0;
    loop_hook_t *h = loop_hook_add(loop, s_hook, NULL);
    loop_run_once(loop, 0);
    loop_run_once(loop, 0);
    assert_int_equal(s_hook_calls, 2);
    loop_hook_remove(&h);
    assert_null(h);
    loop_run_once(loop, 0);
    assert_int_equal(s_hook_calls, 2);
    /* leftovers are reported: one watcher, one timer, one hook */
    int p[2];
    assert_int_equal(pipe(p), 0);
    wctx_t c = {0};
    c.self_w = loop_watch(loop, p[0], EPOLLIN, s_io_cb, &c);
    loop_timer_t t;
    loop_timer_init(loop, &t, s_rearm_cb, NULL);
    loop_timer_start_in(&t, 10000);
    loop_hook_add(loop, s_hook, NULL);
    assert_int_equal(loop_destroy(&loop), 3);
    assert_false(loop_timer_active(&t));
    close(p[0]), close(p[1]);
}

static int s_sig;
static void s_on_sig(loop_t *loop, int signo, void *ctx)
{
    s_sig = signo;
    loop_stop(loop);
}

static void test_signalfd_stops_loop(void **state)
{
    loop_t *loop = loop_new();
    assert_int_equal(loop_signals_enable(loop, s_on_sig, NULL), 0);
    loop_timer_t t;
    loop_timer_init(loop, &t, s_rearm_cb, NULL);
    s_sig = 0;
    raise(SIGTERM); /* blocked: pending until the signalfd reads it */
    assert_int_equal(loop_run(loop), 0);
    assert_int_equal(s_sig, SIGTERM);
    assert_int_equal(loop_destroy(&loop), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_timer_order),
        cmocka_unit_test(test_timer_stopped_by_earlier),
        cmocka_unit_test(test_zero_delay_is_next_iteration),
        cmocka_unit_test(test_watchers_and_deferred_removal),
        cmocka_unit_test(test_unwatch_after_close_and_fd_reuse),
        cmocka_unit_test(test_hooks_and_leftovers),
        cmocka_unit_test(test_signalfd_stops_loop),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
