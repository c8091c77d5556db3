/* statusd-spool-bench: what the agent's spool costs per result, below the process level.
 *
 *   statusd-spool-bench DIR [RECORDS]     (DIR: a new directory on the file system to measure)
 *
 * With a typical http result (3 phases, ~100 bytes as a record), it prints the CPU time
 * (user + system, getrusage) per record of: encoding alone; appends of 1, 3 and 256 records
 * at a time (one write() each: the agent writes what completed in one loop iteration, about
 * 3 results at 1,000 results/s), each batch followed by a release as an ack would; and the
 * wall and CPU time of one sync after 1,000 records (what --spool-fsync-ms costs each time it
 * fires). bench/spool_bench.py runs it beside the process-level figures. */
#include "spool.h"
#include "spool_rec.h"

#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

static double s_cpu(void)
{
    struct rusage u;
    getrusage(RUSAGE_SELF, &u);
    return (double) u.ru_utime.tv_sec + u.ru_utime.tv_usec / 1e6 + (double) u.ru_stime.tv_sec +
           u.ru_stime.tv_usec / 1e6;
}

static double s_wall(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double) ts.tv_sec + ts.tv_nsec / 1e9;
}

static int s_cmp(const void *a, const void *b)
{
    double x = *(const double *) a, y = *(const double *) b;
    return x < y ? -1 : x > y;
}

static int s_discard(probe_result_t *r, void *ctx)
{
    probe_result_destroy(&r);
    return 0;
}

static spool_t *s_open(const char *dir)
{
    spool_config_t cfg = {.max_bytes = 256ULL << 20};
    int err = 0;
    spool_t *s = spool_open(dir, &cfg, &err);
    if (!s || spool_replay(s, s_discard, NULL) < 0) {
        fprintf(stderr, "statusd-spool-bench: cannot open %s (error %d)\n", dir, err);
        exit(1);
    }
    return s;
}

/* CPU microseconds per record of n records appended `batch` at a time (numbered from
 * *seq), each batch then released but for the last one (an ack for the previous batch). */
static double s_appends(spool_t *s, uint64_t *seq, int n, int batch)
{
    enum { MAX_BATCH = 256 };
    probe_result_t *rs[MAX_BATCH];
    for (int k = 0; k < batch; k++) {
        rs[k] = probe_result_new("bench-1234");
        probe_result_add_phase(rs[k], "connect", 95);
        probe_result_add_phase(rs[k], "processing", 310);
        probe_result_add_phase(rs[k], "transfer", 12);
        rs[k]->latency_us = 420;
        rs[k]->status_code = 200;
        rs[k]->success = true;
    }
    uint64_t dropped;
    size_t done;
    double t0 = s_cpu();
    for (int i = 0; i < n; i += batch) {
        uint64_t first = *seq + 1;
        for (int k = 0; k < batch; k++)
            rs[k]->seq = ++*seq;
        if (spool_append_many(s, (const probe_result_t *const *) rs, (size_t) batch, &done,
                              &dropped) < 0) {
            fprintf(stderr, "statusd-spool-bench: append failed\n");
            exit(1);
        }
        spool_release(s, first - 1);
    }
    double us = (s_cpu() - t0) / n * 1e6;
    for (int k = 0; k < batch; k++)
        probe_result_destroy(&rs[k]);
    return us;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: statusd-spool-bench DIR [RECORDS]\n");
        return 2;
    }
    int n = argc > 2 ? atoi(argv[2]) : 200000;
    probe_result_t *r = probe_result_new("bench-1234");
    probe_result_add_phase(r, "connect", 95);
    probe_result_add_phase(r, "processing", 310);
    probe_result_add_phase(r, "transfer", 12);
    r->latency_us = 420;
    r->status_code = 200;
    r->success = true;
    uint8_t buf[512];
    double t0 = s_cpu();
    for (int i = 0; i < n; i++) {
        r->seq = (uint64_t) i;
        spool_rec_encode(r, buf, sizeof buf);
    }
    printf("record size: %zu bytes\n", spool_rec_size(r));
    printf("encode (CRC-32C included): %.3f us CPU per record\n", (s_cpu() - t0) / n * 1e6);

    spool_t *s = s_open(argv[1]);
    uint64_t seq = 0;
    static const int batches[] = {1, 3, 256};
    for (size_t b = 0; b < sizeof batches / sizeof batches[0]; b++)
        printf("append %d at a time, then release: %.3f us CPU per record\n", batches[b],
               s_appends(s, &seq, n, batches[b]));
    spool_sync(s);
    enum { SYNCS = 21 };
    double wall[SYNCS], cpu[SYNCS];
    for (int k = 0; k < SYNCS; k++) {
        s_appends(s, &seq, 999, 3);
        double w0 = s_wall(), c0 = s_cpu();
        spool_sync(s);
        wall[k] = (s_wall() - w0) * 1e3;
        cpu[k] = (s_cpu() - c0) * 1e6;
    }
    qsort(wall, SYNCS, sizeof wall[0], s_cmp);
    qsort(cpu, SYNCS, sizeof cpu[0], s_cmp);
    printf("sync after 1000 records: median %.2f ms wall (max %.2f), %.0f us CPU\n",
           wall[SYNCS / 2], wall[SYNCS - 1], cpu[SYNCS / 2]);
    spool_release(s, seq);
    spool_close(&s);
    probe_result_destroy(&r);
    return 0;
}
