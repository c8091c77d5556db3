/* spool: the agent's unacknowledged results on disk, so that a restart (clean, SIGKILL or
 * power cut) loses none. A directory of segment files seg-<first seq, 20 digits>.log, each a
 * sequence of records (spool_rec.h) in increasing seq order, plus a file "floor" holding the
 * number through which everything is released (acknowledged or dropped): records at or
 * below it are never replayed, and a segment is deleted once all of it is released (the
 * one being appended to only when it is full, or after a failed write, so that quick acks do
 * not create and delete a file per append). Appends go to a segment of this process's own,
 * a new one is started past the segment size, and whole
 * oldest segments are dropped to stay within max_bytes (or by age, spool_expire). Replay
 * validates every record: a torn or corrupt stretch is skipped and counted, never fatal.
 * Durability is the caller's choice of when to call spool_sync. The directory is locked
 * (flock) so two agents never share it. Never logs; returns 0 or -errno. */
#ifndef SPOOL_H
#define SPOOL_H

#include "probe.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct spool spool_t;

#define SPOOL_MIN_BYTES (64 * 1024)

typedef struct {
    uint64_t max_bytes;     /* the segment files' total size, >= SPOOL_MIN_BYTES */
    uint64_t segment_bytes; /* target segment size; 0: max_bytes / 8 within [8 KiB, 4 MiB] */
} spool_config_t;

typedef struct {
    uint64_t bytes;          /* size of the segment files now */
    uint64_t segments;       /* segment files now */
    uint64_t replayed;       /* records handed to the replay callback */
    uint64_t corrupt;        /* stretches of a segment that were no valid record, skipped */
    uint64_t corrupt_bytes;  /* their bytes */
    uint64_t torn;           /* of those stretches, the ones that ended their segment */
    uint64_t appended;
    uint64_t skipped;        /* results too large for a segment, never written */
    uint64_t write_errors;   /* failed record writes, segment creations and floor writes */
    uint64_t syncs, sync_errors;
    uint64_t segments_dropped; /* by max_bytes or by age */
} spool_stats_t;

/* Opens dir (created with mode 0700 if missing; its parent must exist), locks it and reads
 * its floor. NULL with *err = -errno (-EWOULDBLOCK: another process holds the lock). */
spool_t *spool_open(const char *dir, const spool_config_t *cfg, int *err);
/* Writes the floor if it changed, closes the files (no sync) and unlocks. Accepts NULL;
 * sets *p = NULL. */
void spool_close(spool_t **p);

/* Takes r (owned by the callee) with its number; a negative return stops the replay. */
typedef int(spool_replay_fn)(probe_result_t *r, void *ctx);
/* Reads every segment, oldest first, and hands each valid record numbered above the floor
 * to fn, in increasing seq order; deletes segments that hold none. Call once, before the
 * first append. 0, fn's negative return, or -errno when the directory cannot be read. */
int spool_replay(spool_t *self, spool_replay_fn *fn, void *ctx);

/* Writes rs[0..n) (numbered in increasing order, above every number appended or replayed)
 * at the end of the spool, with one write() per segment touched. To stay within max_bytes it
 * may first delete the oldest segments: *dropped_through is then the highest number they held
 * (else 0), even when a write fails. A result that cannot be a record of a segment this size
 * is skipped (counted in stats.skipped, never tried again). *done is how many of rs, from
 * the first, are now in the spool (or skipped). 0 when all are; -EINVAL (out of order, or
 * before spool_replay); -ENOMEM; or a write's -errno (-ENOSPC, -EDQUOT, -EIO ...), after which
 * the spool holds nothing of rs[*done..] (a partial write is cut off, or its segment closed)
 * and the next append is tried afresh. */
int spool_append_many(spool_t *self, const probe_result_t *const *rs, size_t n, size_t *done,
                      uint64_t *dropped_through);
/* spool_append_many of one result. */
int spool_append(spool_t *self, const probe_result_t *r, uint64_t *dropped_through);
/* Everything numbered <= through is no longer needed: deletes the segments it covers
 * wholly (the one open for appending only after a failed write: otherwise it is kept until it
 * is full) and raises the floor, which the next spool_sync or spool_close writes (until then
 * a crash may replay released records again). 0. */
int spool_release(spool_t *self, uint64_t through);
/* Deletes the oldest segments whose newest result started before before_ms (wall clock,
 * unix ms). *dropped_through as spool_append. 0 or -errno. */
int spool_expire(spool_t *self, int64_t before_ms, uint64_t *dropped_through);
/* Writes the floor if it changed and makes what was appended since the last sync durable
 * (fdatasync of the segment, fsync of the directory after files were created or deleted).
 * 0 (also when there was nothing to do), or -errno (the floor is tried again next time; a
 * failed fdatasync closes the segment, so later records go to a new one). */
int spool_sync(spool_t *self);
/* True when records were appended, files created or deleted, or the floor raised since the
 * last sync. */
bool spool_dirty(const spool_t *self);
/* Deletes every segment and sets the floor (pending results were renumbered: they are
 * appended again under their new numbers, which must be above floor). 0 or -errno. */
int spool_reset(spool_t *self, uint64_t floor);
/* The highest number appended, skipped or replayed (the floor when none). */
uint64_t spool_last_seq(const spool_t *self);
uint64_t spool_floor(const spool_t *self);
spool_stats_t spool_stats(const spool_t *self);

#endif
