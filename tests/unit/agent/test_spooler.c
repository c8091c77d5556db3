/* spooler: a real loop, outq and spool directory. Replay into the outq under the results'
 * own numbers, numbering after them (or after the floor), pushes written and acks released,
 * the byte bound dropping from memory too, more spooled than --max-pending, a failed write
 * (degraded) caught up once the disk takes writes again, a renumbering rewritten, the
 * fsync policy, and the flag parsers. What is on disk is checked by replaying it. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <cmocka.h>

#include "test_tmpdir.h"

#include "spooler.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

typedef struct {
    char dir[256];
    loop_t *loop;
    outq_t *outq;
    spooler_t *sp;
    uint64_t got[8192];
    size_t n_got;
} fx_t;

static int s_setup(void **state)
{
    fx_t *fx = calloc(1, sizeof *fx);
    snprintf(fx->dir, sizeof fx->dir, "/tmp/test_spooler.XXXXXX");
    assert_non_null(mkdtemp(fx->dir));
    fx->loop = loop_new();
    *state = fx;
    return 0;
}

static int s_teardown(void **state)
{
    fx_t *fx = *state;
    spooler_destroy(&fx->sp);
    outq_destroy(&fx->outq);
    assert_int_equal(loop_destroy(&fx->loop), 0);
    test_tmpdir_remove(fx->dir);
    free(fx);
    return 0;
}

static int s_collect(probe_result_t *r, void *ctx)
{
    fx_t *fx = ctx;
    fx->got[fx->n_got++] = r->seq;
    probe_result_destroy(&r);
    return 0;
}

/* What the directory holds, replayed by a plain spool (the spooler must be closed). */
static void s_disk(fx_t *fx)
{
    spool_config_t cfg = {.max_bytes = 1 << 20};
    int err = 0;
    spool_t *s = spool_open(fx->dir, &cfg, &err);
    assert_non_null(s);
    fx->n_got = 0;
    assert_int_equal(spool_replay(s, s_collect, fx), 0);
    spool_close(&s);
}

static void s_disk_append(fx_t *fx, uint64_t first, uint64_t last)
{
    spool_config_t cfg = {.max_bytes = 1 << 20};
    int err = 0;
    spool_t *s = spool_open(fx->dir, &cfg, &err);
    assert_non_null(s);
    fx->n_got = 0;
    assert_int_equal(spool_replay(s, s_collect, fx), 0);
    for (uint64_t q = first; q <= last; q++) {
        probe_result_t *r = probe_result_new("disk");
        r->seq = q;
        uint64_t d;
        assert_int_equal(spool_append(s, r, &d), 0);
        probe_result_destroy(&r);
    }
    spool_close(&s);
}

static void s_start(fx_t *fx, size_t max_pending, uint64_t wall_first, uint64_t max_bytes,
                    int fsync_ms, uint64_t *replayed_through)
{
    fx->outq = outq_new(max_pending, wall_first);
    spooler_config_t cfg = {.dir = fx->dir, .max_bytes = max_bytes,
                            .max_age_ms = SPOOLER_DEFAULT_MAX_AGE_MS, .fsync_ms = fsync_ms};
    char err[256] = "";
    uint64_t rt = 0;
    fx->sp = spooler_new(fx->loop, fx->outq, &cfg, &rt, err, sizeof err);
    assert_non_null(fx->sp);
    if (replayed_through)
        *replayed_through = rt;
}

static void s_stop(fx_t *fx)
{
    spooler_destroy(&fx->sp);
    outq_destroy(&fx->outq);
}

static void s_push(fx_t *fx, int n)
{
    for (int i = 0; i < n; i++) {
        probe_result_t *r = probe_result_new("pushed");
        probe_result_set_reason(r, "status 503 not in [200]");
        outq_push(fx->outq, &r);
    }
}

/* What the uplink does before it sends (and the loop's hook once per iteration). */
static void s_flush(fx_t *fx)
{
    spooler_before_send(fx->sp);
}

static void test_replay_push_ack(void **state)
{
    fx_t *fx = *state;
    s_disk_append(fx, 100, 104);
    uint64_t rt = 0;
    s_start(fx, 100, 5000000, 1 << 20, 1000, &rt);
    assert_int_equal(rt, 104);
    assert_int_equal(outq_len(fx->outq), 5);
    assert_int_equal(outq_first_seq(fx->outq), 100);
    assert_string_equal(outq_at(fx->outq, 0)->asset_id, "disk");
    s_push(fx, 3); /* numbered after the replayed ones, not from the clock */
    assert_int_equal(outq_next_seq(fx->outq), 108);
    outq_ack(fx->outq, 102);
    s_stop(fx);
    s_disk(fx);
    assert_int_equal(fx->n_got, 5);
    for (size_t i = 0; i < 5; i++)
        assert_int_equal(fx->got[i], 103 + i);

    /* nothing left but the floor: new numbers come after the floor when the clock is lower */
    s_disk_append(fx, 1000, 1000);
    s_start(fx, 100, 5000000, 1 << 20, 1000, &rt);
    outq_ack(fx->outq, UINT64_MAX);
    s_stop(fx);
    s_start(fx, 100, 500, 1 << 20, 1000, &rt);
    assert_int_equal(rt, 0);
    assert_int_equal(outq_next_seq(fx->outq), 1001);
    s_stop(fx);
    s_start(fx, 100, 5000000, 1 << 20, 1000, &rt);
    assert_int_equal(outq_next_seq(fx->outq), 5000000); /* the clock when it is higher */
    s_stop(fx);
}

static void test_bound_drops_from_memory_too(void **state)
{
    fx_t *fx = *state;
    s_start(fx, 100000, 1, SPOOL_MIN_BYTES, 1000, NULL);
    s_push(fx, 3000);
    assert_int_equal(spooler_stats(fx->sp).spool.appended, 0); /* not before a flush */
    s_flush(fx);
    spooler_stats_t st = spooler_stats(fx->sp);
    printf("3000 results into 64 KiB: %llu dropped, %zu pending, spool %llu bytes\n",
           (unsigned long long) st.dropped, outq_len(fx->outq),
           (unsigned long long) st.spool.bytes);
    assert_true(st.dropped > 0);
    assert_int_equal(st.dropped + outq_len(fx->outq), 3000);
    assert_int_equal(outq_first_seq(fx->outq), 1 + st.dropped); /* the oldest went */
    assert_true(st.spool.bytes <= SPOOL_MIN_BYTES);
    assert_int_equal(outq_dropped(fx->outq), 0); /* not the memory bound's drops */
    size_t pending = outq_len(fx->outq);
    s_stop(fx);
    s_disk(fx);
    assert_int_equal(fx->n_got, pending);
}

static void test_more_spooled_than_max_pending(void **state)
{
    fx_t *fx = *state;
    s_disk_append(fx, 1, 20);
    uint64_t rt = 0;
    s_start(fx, 5, 1000, 1 << 20, 1000, &rt);
    assert_int_equal(rt, 20);
    assert_int_equal(outq_len(fx->outq), 5);
    assert_int_equal(outq_first_seq(fx->outq), 16);
    s_stop(fx);
    s_disk(fx); /* the dropped ones are released, not replayed again */
    assert_int_equal(fx->n_got, 5);
    assert_int_equal(fx->got[0], 16);
}

static void s_run_until_not_degraded(fx_t *fx, int max_ms)
{
    sd_ms_t deadline = sd_mono_ms() + max_ms;
    while (spooler_stats(fx->sp).degraded && sd_mono_ms() < deadline)
        loop_run_once(fx->loop, 20);
}

/* ENOSPC (the next segment's name links to /dev/full): results stay in memory, counted;
 * the retry writes every pending one once the disk takes writes again. */
static void test_degraded_then_caught_up(void **state)
{
    fx_t *fx = *state;
    s_start(fx, 1000, 77, 1 << 20, 1000, NULL);
    char p[512];
    snprintf(p, sizeof p, "%s/seg-%020llu.log", fx->dir, 77ULL);
    assert_int_equal(symlink("/dev/full", p), 0);
    s_push(fx, 1);
    s_flush(fx);
    spooler_stats_t st = spooler_stats(fx->sp);
    assert_true(st.degraded);
    assert_int_equal(st.spool.write_errors, 1);
    s_push(fx, 9);
    assert_int_equal(spooler_stats(fx->sp).not_spooled, 9);
    sd_ms_t t0 = sd_mono_ms();
    s_run_until_not_degraded(fx, 3000);
    st = spooler_stats(fx->sp);
    printf("caught up after %lld ms\n", (long long) (sd_mono_ms() - t0));
    assert_false(st.degraded);
    assert_int_equal(st.degraded_episodes, 1);
    assert_int_equal(st.spool.appended, 10);
    s_push(fx, 1); /* written by the next flush again */
    s_flush(fx);
    assert_int_equal(spooler_stats(fx->sp).spool.appended, 11);
    s_stop(fx);
    s_disk(fx);
    assert_int_equal(fx->n_got, 11);
    for (size_t i = 0; i < 11; i++)
        assert_int_equal(fx->got[i], 77 + i);
}

/* The uplink renumbered the pending results (the collector held higher numbers): the spool
 * holds them under the new numbers only. */
static void test_renumbered_rewritten(void **state)
{
    fx_t *fx = *state;
    s_start(fx, 1000, 10, 1 << 20, 1000, NULL);
    s_push(fx, 5);
    s_flush(fx);
    assert_int_equal(spooler_stats(fx->sp).spool.appended, 5);
    outq_renumber(fx->outq, 9000);
    loop_run_once(fx->loop, 0); /* the hook writes them again */
    assert_int_equal(spooler_stats(fx->sp).spool.appended, 10);
    s_push(fx, 1);
    s_stop(fx);
    s_disk(fx);
    assert_int_equal(fx->n_got, 6);
    for (size_t i = 0; i < 6; i++)
        assert_int_equal(fx->got[i], 9000 + i);
}

/* fsync 0: once per loop iteration that wrote; 1000 ms: not at once, by the timer. */
static void test_fsync_policy(void **state)
{
    fx_t *fx = *state;
    s_start(fx, 1000, 1, 1 << 20, 0, NULL);
    uint64_t base = spooler_stats(fx->sp).spool.syncs;
    s_push(fx, 50);
    loop_run_once(fx->loop, 0);
    assert_int_equal(spooler_stats(fx->sp).spool.syncs, base + 1);
    loop_run_once(fx->loop, 0);
    assert_int_equal(spooler_stats(fx->sp).spool.syncs, base + 1); /* nothing new */
    s_stop(fx);

    s_start(fx, 1000, 1000, 1 << 20, 200, NULL);
    base = spooler_stats(fx->sp).spool.syncs;
    s_push(fx, 5);
    loop_run_once(fx->loop, 0);
    assert_int_equal(spooler_stats(fx->sp).spool.syncs, base);
    sd_ms_t deadline = sd_mono_ms() + 2000;
    while (spooler_stats(fx->sp).spool.syncs == base && sd_mono_ms() < deadline)
        loop_run_once(fx->loop, 50);
    assert_int_equal(spooler_stats(fx->sp).spool.syncs, base + 1);
    char line[400];
    spooler_format_stats(fx->sp, line, sizeof line);
    printf("%s\n", line);
    assert_non_null(strstr(line, " spool_records_dropped=0 "));
    s_stop(fx);
}

static void test_locked_dir_refused(void **state)
{
    fx_t *fx = *state;
    s_start(fx, 10, 1, 1 << 20, 1000, NULL);
    outq_t *q2 = outq_new(10, 1);
    spooler_config_t cfg = {.dir = fx->dir, .max_bytes = 1 << 20, .max_age_ms = 1000};
    char err[256] = "";
    uint64_t rt;
    assert_null(spooler_new(fx->loop, q2, &cfg, &rt, err, sizeof err));
    printf("%s\n", err);
    assert_non_null(strstr(err, "another process uses it"));
    outq_destroy(&q2);
    s_stop(fx);
}

static void test_parse(void **state)
{
    static const struct {
        const char *in;
        int rc;
        uint64_t v;
    } bytes[] = {
        {"65536", 0, 65536},   {"64K", 0, 65536},      {"64k", 0, 65536},
        {"256M", 0, 256 << 20}, {"256MiB", 0, 256 << 20}, {"1G", 0, 1ULL << 30},
        {"1gb", 0, 1ULL << 30}, {"100B", 0, 100},       {"", -EINVAL, 0},
        {"M", -EINVAL, 0},      {"12X", -EINVAL, 0},    {"-5", -EINVAL, 0},
        {"1KK", -EINVAL, 0},    {"99999999999999999999", -EINVAL, 0},
        {"17179869184G", -EINVAL, 0},
    };
    for (size_t i = 0; i < sizeof bytes / sizeof bytes[0]; i++) {
        uint64_t v = 0;
        assert_int_equal(spooler_parse_bytes(bytes[i].in, &v), bytes[i].rc);
        if (bytes[i].rc == 0)
            assert_int_equal(v, bytes[i].v);
    }
    static const struct {
        const char *in;
        int rc;
        int64_t ms;
    } durations[] = {
        {"86400", 0, 86400000}, {"30s", 0, 30000}, {"90m", 0, 5400000},
        {"24h", 0, 86400000},   {"7d", 0, 604800000}, {"1h30m", -EINVAL, 0},
        {"h", -EINVAL, 0},      {"5x", -EINVAL, 0},   {"10ms", -EINVAL, 0},
    };
    for (size_t i = 0; i < sizeof durations / sizeof durations[0]; i++) {
        int64_t v = 0;
        assert_int_equal(spooler_parse_duration_ms(durations[i].in, &v), durations[i].rc);
        if (durations[i].rc == 0)
            assert_int_equal(v, durations[i].ms);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_replay_push_ack, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_bound_drops_from_memory_too, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_more_spooled_than_max_pending, s_setup,
                                        s_teardown),
        cmocka_unit_test_setup_teardown(test_degraded_then_caught_up, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_renumbered_rewritten, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_fsync_policy, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_locked_dir_refused, s_setup, s_teardown),
        cmocka_unit_test(test_parse),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
