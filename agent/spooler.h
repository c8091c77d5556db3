/* spooler: the agent's disk spool (spool.h) kept in step with its pending results (outq.h).
 * At start it replays the spool into the outq under the results' own numbers; from then on
 * it follows the outq: new results are written (one write() per loop iteration, or when the
 * uplink is about to send, whichever comes first), acks and drops release records, a
 * renumbering rewrites them. Syncs by the fsync policy. The bounds
 * (bytes, age) drop the oldest results from the spool and from memory alike, counted and
 * logged with the count. A failed write (full disk, quota, I/O error) keeps results in memory
 * only ("degraded", logged once) and writes them all once the disk takes them again.
 * Logs its own events (component "spool"). */
#ifndef SPOOLER_H
#define SPOOLER_H

#include "loop.h"
#include "outq.h"
#include "spool.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SPOOLER_DEFAULT_MAX_BYTES (256ULL * 1024 * 1024)
#define SPOOLER_DEFAULT_MAX_AGE_MS (24LL * 3600 * 1000)
#define SPOOLER_DEFAULT_FSYNC_MS 1000

typedef struct spooler spooler_t;

typedef struct {
    const char *dir;
    uint64_t max_bytes;   /* >= SPOOL_MIN_BYTES */
    int64_t max_age_ms;   /* > 0 */
    int fsync_ms;         /* 0: after every loop iteration that wrote; N: at most every N ms */
} spooler_config_t;

typedef struct {
    spool_stats_t spool;
    uint64_t dropped;       /* pending results dropped by the byte or age bound */
    uint64_t not_spooled;   /* results pushed while degraded (written later, if the disk lets) */
    uint64_t degraded_episodes;
    bool degraded;
} spooler_stats_t;

/* Opens (creating) and locks cfg->dir, replays its records into outq (empty, numbering from
 * what a new result would get without a spool) and follows outq from then on. New results are
 * numbered after the last replayed one, or, with none, after the spool's floor when that is
 * higher. *replayed_through is the highest number replayed (0: none), for the uplink. NULL
 * with a one-line message in err when the directory cannot be made, read or locked. */
spooler_t *spooler_new(loop_t *loop, outq_t *outq, const spooler_config_t *cfg,
                       uint64_t *replayed_through, char *err, size_t errlen);
/* Writes the pending results the spool lacks (unless degraded: then the retry does), for
 * uplink_config_t.before_send: what the uplink sends is in the spool first. Results are
 * written once per loop iteration anyway (a before-sleep hook). */
void spooler_before_send(void *spooler);
/* Writes what is held in memory only (if the disk lets), syncs, stops following the outq,
 * closes. Accepts NULL; sets *p = NULL. */
void spooler_destroy(spooler_t **p);
spooler_stats_t spooler_stats(const spooler_t *self);
/* The stats as " spool_bytes=N spool_records_dropped=N ..." (for the agent's stats line). */
void spooler_format_stats(const spooler_t *self, char *buf, size_t cap);

/* "268435456", or a number with K, M or G (KiB, MiB, GiB; case and a trailing "iB" or "B"
 * ignored). 0 or -EINVAL. */
int spooler_parse_bytes(const char *s, uint64_t *out);
/* Seconds ("86400"), or a number with s, m, h or d. 0 or -EINVAL. */
int spooler_parse_duration_ms(const char *s, int64_t *out);

#endif
