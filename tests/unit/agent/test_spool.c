/* spool: segment files in a real temporary directory. Append and replay, release deletes
 * segments, rotation, the byte and age bounds, reopen after a crash (no sync, no close),
 * damaged files (a table: torn tails, flipped bytes, garbage, a lost floor), failed writes
 * (ENOSPC from /dev/full, a file size limit that cuts a write short), the lock, reset. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <cmocka.h>

#include "test_tmpdir.h"

#include "spool.h"
#include "spool_rec.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

typedef struct {
    char dir[256];
    uint64_t got[4096];
    size_t n_got;
    int64_t started[4096];
} fx_t;

static int s_setup(void **state)
{
    fx_t *fx = calloc(1, sizeof *fx);
    snprintf(fx->dir, sizeof fx->dir, "/tmp/test_spool.XXXXXX");
    assert_non_null(mkdtemp(fx->dir));
    *state = fx;
    return 0;
}

static int s_teardown(void **state)
{
    fx_t *fx = *state;
    test_tmpdir_remove(fx->dir);
    free(fx);
    return 0;
}

#define REC 60 /* the size of s_result's records */

static probe_result_t *s_result(uint64_t seq, int64_t started_ms)
{
    probe_result_t *r = probe_result_new("a");
    r->seq = seq;
    r->started_at_ms = started_ms;
    r->latency_us = (uint32_t) seq;
    probe_result_set_reason(r, "refused");
    assert_int_equal(spool_rec_size(r), REC);
    return r;
}

static int s_collect(probe_result_t *r, void *ctx)
{
    fx_t *fx = ctx;
    assert_true(fx->n_got < 4096);
    assert_int_equal(r->latency_us, (uint32_t) r->seq); /* the record's own content */
    fx->started[fx->n_got] = r->started_at_ms;
    fx->got[fx->n_got++] = r->seq;
    probe_result_destroy(&r);
    return 0;
}

static spool_t *s_open(fx_t *fx, uint64_t max_bytes, uint64_t seg_bytes)
{
    spool_config_t cfg = {.max_bytes = max_bytes, .segment_bytes = seg_bytes};
    int err = 0;
    spool_t *sp = spool_open(fx->dir, &cfg, &err);
    assert_non_null(sp);
    fx->n_got = 0;
    assert_int_equal(spool_replay(sp, s_collect, fx), 0);
    return sp;
}

static int s_append(spool_t *sp, uint64_t seq, int64_t started_ms, uint64_t *dropped)
{
    probe_result_t *r = s_result(seq, started_ms);
    uint64_t d = 0;
    int rc = spool_append(sp, r, &d);
    probe_result_destroy(&r);
    if (dropped)
        *dropped = d;
    return rc;
}

static size_t s_files(fx_t *fx, const char *prefix)
{
    size_t n = 0;
    DIR *d = opendir(fx->dir);
    struct dirent *de;
    while ((de = readdir(d)))
        if (strncmp(de->d_name, prefix, strlen(prefix)) == 0)
            n++;
    closedir(d);
    return n;
}

static void s_seg_path(fx_t *fx, uint64_t seq, char *out, size_t cap)
{
    snprintf(out, cap, "%s/seg-%020llu.log", fx->dir, (unsigned long long) seq);
}

static void s_expect_range(fx_t *fx, uint64_t first, uint64_t last)
{
    assert_int_equal(fx->n_got, last - first + 1);
    for (size_t i = 0; i < fx->n_got; i++)
        assert_int_equal(fx->got[i], first + i);
}

static void test_append_replay_release(void **state)
{
    fx_t *fx = *state;
    spool_t *sp = s_open(fx, 1 << 20, 34 * REC);
    assert_int_equal(fx->n_got, 0);
    for (uint64_t s = 100; s < 300; s++)
        assert_int_equal(s_append(sp, s, 1000 + (int64_t) s, NULL), 0);
    probe_result_t *old = s_result(150, 0);
    uint64_t d;
    assert_int_equal(spool_append(sp, old, &d), -EINVAL); /* out of order */
    probe_result_destroy(&old);
    spool_stats_t st = spool_stats(sp);
    printf("200 records: %llu bytes in %llu segments\n", (unsigned long long) st.bytes,
           (unsigned long long) st.segments);
    assert_int_equal(st.segments, 6); /* 34 records each */
    assert_int_equal(st.segments, s_files(fx, "seg-"));
    assert_true(spool_dirty(sp));
    assert_int_equal(spool_sync(sp), 0);
    assert_false(spool_dirty(sp));
    /* the first segment's name is its first number */
    char p[512];
    s_seg_path(fx, 100, p, sizeof p);
    assert_int_equal(access(p, F_OK), 0);
    /* a release inside the first segment deletes nothing, the floor hides the rest */
    assert_int_equal(spool_release(sp, 105), 0);
    assert_int_equal(spool_stats(sp).segments, st.segments);
    spool_close(&sp);
    sp = s_open(fx, 1 << 20, 34 * REC);
    s_expect_range(fx, 106, 299);
    /* releasing everything deletes every segment (none is open for appending in this
     * process: it wrote nothing) */
    assert_int_equal(spool_release(sp, 299), 0);
    assert_int_equal(s_files(fx, "seg-"), 0);
    assert_int_equal(spool_stats(sp).bytes, 0);
    assert_int_equal(spool_last_seq(sp), 299);
    spool_close(&sp);
    sp = s_open(fx, 1 << 20, 34 * REC);
    assert_int_equal(fx->n_got, 0);
    assert_int_equal(spool_floor(sp), 299);
    /* the segment being written to stays when all of it is released (no file created and
     * deleted per ack), the closed ones go; after a failed write it goes too (test_enospc) */
    for (uint64_t s = 300; s < 340; s++)
        assert_int_equal(s_append(sp, s, 1, NULL), 0); /* 2 segments: 300..333, 334..339 */
    assert_int_equal(spool_release(sp, 339), 0);
    assert_int_equal(s_files(fx, "seg-"), 1);
    assert_int_equal(spool_stats(sp).bytes, 6 * REC);
    spool_close(&sp);
}

/* A crash: records appended, neither synced nor closed cleanly (the page cache keeps them
 * through a SIGKILL); a second process finds them all, appends after them, and a third
 * finds both runs. */
static void test_reopen_after_crash(void **state)
{
    fx_t *fx = *state;
    spool_t *sp = s_open(fx, 1 << 20, 0);
    for (uint64_t s = 1; s <= 50; s++)
        assert_int_equal(s_append(sp, s, 1, NULL), 0);
    spool_close(&sp);
    sp = s_open(fx, 1 << 20, 0);
    s_expect_range(fx, 1, 50);
    assert_int_equal(spool_last_seq(sp), 50);
    for (uint64_t s = 51; s <= 60; s++)
        assert_int_equal(s_append(sp, s, 1, NULL), 0);
    spool_close(&sp);
    sp = s_open(fx, 1 << 20, 0);
    s_expect_range(fx, 1, 60);
    assert_int_equal(s_files(fx, "seg-"), 2);
    spool_close(&sp);
}

static void test_byte_bound_drops_oldest(void **state)
{
    fx_t *fx = *state;
    spool_t *sp = s_open(fx, SPOOL_MIN_BYTES, 0); /* segments of 8 KiB */
    uint64_t dropped_through = 0, max_bytes_seen = 0, events = 0;
    for (uint64_t s = 1; s <= 2000; s++) {
        uint64_t d = 0;
        assert_int_equal(s_append(sp, s, 1, &d), 0);
        if (d) {
            assert_true(d > dropped_through); /* the oldest go first */
            dropped_through = d;
            events++;
        }
        uint64_t b = spool_stats(sp).bytes;
        if (b > max_bytes_seen)
            max_bytes_seen = b;
    }
    spool_stats_t st = spool_stats(sp);
    printf("2000 records into 64 KiB: %llu segment drops, through seq %llu, at most %llu "
           "bytes\n", (unsigned long long) events, (unsigned long long) dropped_through,
           (unsigned long long) max_bytes_seen);
    assert_true(events > 0);
    assert_int_equal(st.segments_dropped, events);
    assert_true(max_bytes_seen <= SPOOL_MIN_BYTES);
    assert_true(st.bytes <= SPOOL_MIN_BYTES);
    spool_close(&sp);
    sp = s_open(fx, SPOOL_MIN_BYTES, 0);
    s_expect_range(fx, dropped_through + 1, 2000); /* exactly what was not dropped */
    spool_close(&sp);
}

static void test_age_bound(void **state)
{
    fx_t *fx = *state;
    spool_t *sp = s_open(fx, 1 << 20, 30 * REC);
    /* three "hours" of records, 30 in each segment */
    for (uint64_t s = 1; s <= 300; s++)
        assert_int_equal(s_append(sp, s, (int64_t) s * 36000, NULL), 0);
    uint64_t segs = spool_stats(sp).segments, d = 0;
    assert_int_equal(segs, 10);
    assert_int_equal(spool_expire(sp, 0, &d), 0); /* nothing that old */
    assert_int_equal(d, 0);
    assert_int_equal(spool_expire(sp, 150 * 36000, &d), 0);
    /* whole segments whose newest record is older: 1..120, not 121..150 */
    printf("expired through seq %llu of 300\n", (unsigned long long) d);
    assert_int_equal(d, 120);
    assert_int_equal(spool_stats(sp).segments_dropped, segs - spool_stats(sp).segments);
    spool_close(&sp);
    sp = s_open(fx, 1 << 20, 30 * REC);
    s_expect_range(fx, d + 1, 300);
    /* everything expires, the open segment included */
    assert_int_equal(spool_expire(sp, INT64_MAX, &d), 0);
    assert_int_equal(d, 300);
    assert_int_equal(s_files(fx, "seg-"), 0);
    spool_close(&sp);
}

/* --- damaged files ------------------------------------------------------------------- */

typedef enum { CUT_END, APPEND, FLIP, ZERO, DELETE_FLOOR, BAD_FLOOR } damage_t;

/* Damage done to the second of three segments of 30 records (seqs 31..60, 60 bytes each)
 * after a release through 10, or to the floor file. */
static const struct {
    const char *name;
    damage_t how;
    long at;          /* byte offset (negative: from the end) */
    const char *bytes; /* APPEND: these; ZERO: len zeros */
    long len;
    size_t lost;      /* records not replayed */
    uint64_t corrupt, torn;
} s_damage[] = {
    {"torn tail: the last record cut 7 bytes short", CUT_END, -7, NULL, 0, 1, 1, 1},
    {"torn tail: 3 bytes of a header", APPEND, 0, "SDR", 3, 0, 1, 1},
    {"garbage appended", APPEND, 0, "SSSSSSSSSSSSSSSSSSSSSSSSSSSS", 28, 0, 1, 1},
    {"flipped byte in a payload", FLIP, REC * 3 + 40, NULL, 1, 1, 1, 0},
    {"flipped byte in a length field", FLIP, REC * 5 + 5, NULL, 1, 1, 1, 0},
    {"flipped magic", FLIP, REC * 7, NULL, 1, 1, 1, 0},
    {"600 bytes of zeros in the middle", ZERO, REC * 10, NULL, REC * 10, 10, 1, 0},
    {"floor file deleted: released records come back", DELETE_FLOOR, 0, NULL, 0, 0, 0, 0},
    {"floor file damaged: counted, everything replayed", BAD_FLOOR, 6, NULL, 1, 0, 1, 0},
};

static void s_damage_file(const char *path, damage_t how, long at, const char *bytes, long len)
{
    int fd = open(path, O_RDWR);
    assert_true(fd >= 0);
    struct stat st;
    assert_int_equal(fstat(fd, &st), 0);
    if (at < 0)
        at += st.st_size;
    uint8_t b[4096];
    switch (how) {
    case CUT_END:
        assert_int_equal(ftruncate(fd, at), 0);
        break;
    case APPEND:
        assert_int_equal(pwrite(fd, bytes, (size_t) len, st.st_size), len);
        break;
    case FLIP:
    case BAD_FLOOR:
        assert_int_equal(pread(fd, b, 1, at), 1);
        b[0] ^= 0x5A;
        assert_int_equal(pwrite(fd, b, 1, at), 1);
        break;
    case ZERO:
        memset(b, 0, sizeof b);
        assert_int_equal(pwrite(fd, b, (size_t) len, at), len);
        break;
    case DELETE_FLOOR: /* not a file's damage */
        break;
    }
    close(fd);
}

static void test_damaged_files(void **state)
{
    fx_t *fx = *state;
    char floor[512], seg2[512];
    snprintf(floor, sizeof floor, "%s/floor", fx->dir);
    s_seg_path(fx, 31, seg2, sizeof seg2);
    for (size_t c = 0; c < sizeof s_damage / sizeof s_damage[0]; c++) {
        spool_t *sp = s_open(fx, 1 << 20, 30 * REC);
        for (uint64_t s = 1; s <= 90; s++)
            assert_int_equal(s_append(sp, s, 1, NULL), 0);
        assert_int_equal(spool_stats(sp).segments, 3);
        assert_int_equal(spool_release(sp, 10), 0);
        spool_close(&sp);
        uint64_t first = 11;
        damage_t how = s_damage[c].how;
        if (how == DELETE_FLOOR)
            assert_int_equal(unlink(floor), 0);
        else
            s_damage_file(how == BAD_FLOOR ? floor : seg2, how, s_damage[c].at,
                          s_damage[c].bytes, s_damage[c].len);
        if (how == BAD_FLOOR || how == DELETE_FLOOR)
            first = 1; /* the first segment's released records are replayed again */
        sp = s_open(fx, 1 << 20, 30 * REC);
        spool_stats_t st = spool_stats(sp);
        printf("%-50s replayed %zu, corrupt %llu (%llu bytes), torn %llu\n", s_damage[c].name,
               fx->n_got, (unsigned long long) st.corrupt,
               (unsigned long long) st.corrupt_bytes, (unsigned long long) st.torn);
        assert_int_equal(fx->n_got, 90 - first + 1 - s_damage[c].lost);
        assert_int_equal(st.corrupt, s_damage[c].corrupt);
        assert_int_equal(st.torn, s_damage[c].torn);
        for (size_t i = 1; i < fx->n_got; i++)
            assert_true(fx->got[i] > fx->got[i - 1]); /* in order */
        assert_int_equal(fx->got[0], first);
        assert_int_equal(fx->got[fx->n_got - 1], 90); /* the third segment is intact */
        /* appending goes on after the last number seen; a release clears it all (the next
         * process the segment that was open) */
        assert_int_equal(s_append(sp, 91, 1, NULL), 0);
        assert_int_equal(spool_release(sp, 91), 0);
        assert_int_equal(s_files(fx, "seg-"), 1);
        spool_close(&sp);
        sp = s_open(fx, 1 << 20, 30 * REC);
        assert_int_equal(s_files(fx, "seg-"), 0);
        spool_close(&sp);
        assert_int_equal(unlink(floor), 0);
    }
}

/* --- failed writes ------------------------------------------------------------------- */

/* ENOSPC: the next segment's name is a link to /dev/full. The record is not in the spool,
 * the segment is given up, and the next append starts a new one. */
static void test_enospc(void **state)
{
    fx_t *fx = *state;
    spool_t *sp = s_open(fx, 1 << 20, 0);
    for (uint64_t s = 1; s <= 5; s++)
        assert_int_equal(s_append(sp, s, 1, NULL), 0);
    assert_int_equal(spool_sync(sp), 0);
    spool_close(&sp);
    sp = s_open(fx, 1 << 20, 0);
    char p[512];
    s_seg_path(fx, 6, p, sizeof p);
    assert_int_equal(symlink("/dev/full", p), 0);
    assert_int_equal(s_append(sp, 6, 1, NULL), -ENOSPC);
    spool_stats_t st = spool_stats(sp);
    assert_int_equal(st.write_errors, 1);
    assert_int_equal(st.appended, 0);
    assert_int_equal(access(p, F_OK), -1); /* the link, as an empty segment, is gone */
    assert_int_equal(s_append(sp, 7, 1, NULL), 0);
    spool_close(&sp);
    sp = s_open(fx, 1 << 20, 0);
    assert_int_equal(fx->n_got, 6);
    assert_int_equal(fx->got[4], 5);
    assert_int_equal(fx->got[5], 7);
    assert_int_equal(spool_stats(sp).corrupt, 0);
    spool_close(&sp);
}

/* A write cut short (here by RLIMIT_FSIZE: EFBIG after a partial write, as a disk filling
 * up mid-record): the partial record is cut off again, the segment stays usable. */
static void test_short_write_cut_off(void **state)
{
    fx_t *fx = *state;
    spool_t *sp = s_open(fx, 1 << 20, 0);
    struct rlimit old, lim;
    assert_int_equal(getrlimit(RLIMIT_FSIZE, &old), 0);
    lim = old;
    lim.rlim_cur = 1000;
    signal(SIGXFSZ, SIG_IGN);
    assert_int_equal(setrlimit(RLIMIT_FSIZE, &lim), 0);
    uint64_t s = 1;
    int rc;
    while ((rc = s_append(sp, s, 1, NULL)) == 0)
        s++;
    assert_int_equal(setrlimit(RLIMIT_FSIZE, &old), 0);
    printf("write failed at seq %llu: %s\n", (unsigned long long) s, strerror(-rc));
    assert_int_equal(rc, -EFBIG);
    assert_int_equal(s, 1000 / REC + 1); /* 16 records fit in 1000 bytes */
    spool_stats_t st = spool_stats(sp);
    assert_int_equal(st.bytes, (s - 1) * REC);
    char p[512];
    s_seg_path(fx, 1, p, sizeof p);
    struct stat fst;
    assert_int_equal(stat(p, &fst), 0);
    assert_int_equal(fst.st_size, (s - 1) * REC); /* the 40 bytes written of it: cut off */
    assert_int_equal(s_append(sp, s + 1, 1, NULL), 0); /* space again */
    spool_close(&sp);
    sp = s_open(fx, 1 << 20, 0);
    assert_int_equal(fx->n_got, s);
    assert_int_equal(fx->got[s - 1], s + 1);
    assert_int_equal(spool_stats(sp).corrupt, 0);
    /* after a failed write, a release frees the segment being written to as well: its space
     * may be what a full disk lacks */
    for (uint64_t q = s + 2; q < s + 5; q++)
        assert_int_equal(s_append(sp, q, 1, NULL), 0);
    assert_int_equal(setrlimit(RLIMIT_FSIZE, &lim), 0);
    uint64_t q = s + 5;
    while (s_append(sp, q, 1, NULL) == 0)
        q++;
    assert_int_equal(setrlimit(RLIMIT_FSIZE, &old), 0);
    assert_int_equal(spool_release(sp, q - 1), 0);
    assert_int_equal(s_files(fx, "seg-"), 0);
    spool_close(&sp);
}

static void test_lock_and_reset(void **state)
{
    fx_t *fx = *state;
    spool_t *sp = s_open(fx, 1 << 20, 0);
    spool_config_t cfg = {.max_bytes = 1 << 20};
    int err = 0;
    assert_null(spool_open(fx->dir, &cfg, &err));
    assert_int_equal(err, -EWOULDBLOCK);
    cfg.max_bytes = 1000;
    assert_null(spool_open(fx->dir, &cfg, &err)); /* below SPOOL_MIN_BYTES */
    assert_int_equal(err, -EINVAL);
    for (uint64_t s = 10; s < 20; s++)
        assert_int_equal(s_append(sp, s, 1, NULL), 0);
    /* renumbered above 100: the old records go, the new ones come after the floor */
    assert_int_equal(spool_reset(sp, 100), 0);
    assert_int_equal(s_files(fx, "seg-"), 0);
    assert_int_equal(s_append(sp, 50, 1, NULL), -EINVAL);
    assert_int_equal(s_append(sp, 101, 1, NULL), 0);
    spool_close(&sp);
    sp = s_open(fx, 1 << 20, 0);
    s_expect_range(fx, 101, 101);
    spool_close(&sp);
    /* a directory that cannot be made */
    cfg.max_bytes = 1 << 20;
    assert_null(spool_open("/nonexistent-parent/spool", &cfg, &err));
    assert_int_equal(err, -ENOENT);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_append_replay_release, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_reopen_after_crash, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_byte_bound_drops_oldest, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_age_bound, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_damaged_files, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_enospc, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_short_write_cut_off, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_lock_and_reset, s_setup, s_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
