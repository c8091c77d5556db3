/* spool: the agent's unacknowledged results on disk, so that a restart (clean, SIGKILL or
 * power cut) loses none. A directory of segment files seg-<first seq, 20 digits>.log, each a
 * sequence of records (spool_rec.h) in increasing seq order, plus a file "floor" holding the
 * number through which everything is released (acknowledged or dropped): records at or
 * below it are never replayed, and a segment is deleted once all of it is released.
 * Appends go to the newest segment, a new one is started past the segment size, and whole
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
    uint64_t write_errors;   /* failed record writes, segment creations and floor writes */
    uint64_t syncs, sync_errors;
    uint64_t segments_dropped; /* by max_bytes or by age */
} spool_stats_t;

/* Opens dir (created with mode 0700 if missing; its parent must exist), locks it and reads
 * its floor. NULL with *err = -errno (-EWOULDBLOCK: another process holds the lock). */
spool_t *spool_open(const char *dir, const spool_config_t *cfg, int *err);
/* Closes the files (no sync) and unlocks. Accepts NULL; sets *p = NULL. */
void spool_close(spool_t **p);

/* Takes r (owned by the callee) with its number; a negative return stops the replay. */
typedef int(spool_replay_fn)(probe_result_t *r, void *ctx);
/* Reads every segment, oldest first, and hands each valid record numbered above the floor
 * to fn, in increasing seq order; deletes segments that hold none. Call once, before the
 * first append. 0, fn's negative return, or -errno when the directory cannot be read. */
int spool_replay(spool_t *self, spool_replay_fn *fn, void *ctx);

/* Writes r (r->seq above every number appended or replayed) at the end of the spool. To stay
 * within max_bytes it may first delete the oldest segments: *dropped_through is then the
 * highest number they held (else 0), even when the write fails. 0; -EMSGSIZE when r cannot
 * be a record of a segment this size (nothing written); -EINVAL (out of order, or before
 * spool_replay); or the write's -errno (-ENOSPC, -EDQUOT, -EIO ...), after which the spool
 * holds nothing of r (a partial write is cut off, or its segment closed) and the next append
 * is tried afresh. */
int spool_append(spool_t *self, const probe_result_t *r, uint64_t *dropped_through);
/* Everything numbered <= through is no longer needed: deletes the segments it covers
 * wholly and records the floor. 0, or -errno when the floor could not be written (the
 * segments are deleted anyway). */
int spool_release(spool_t *self, uint64_t through);
/* Deletes the oldest segments whose newest result started before before_ms (wall clock,
 * unix ms). *dropped_through as spool_append. 0 or -errno. */
int spool_expire(spool_t *self, int64_t before_ms, uint64_t *dropped_through);
/* Makes what was appended since the last sync durable (fdatasync of the segment, fsync of
 * the directory after files were created or deleted). 0 (also when there was nothing to
 * do), or -errno: the segment is then closed, so later records go to a new one. */
int spool_sync(spool_t *self);
/* True when records were appended (or files created or deleted) since the last sync. */
bool spool_dirty(const spool_t *self);
/* Deletes every segment and sets the floor (pending results were renumbered: they are
 * appended again under their new numbers, which must be above floor). 0 or -errno. */
int spool_reset(spool_t *self, uint64_t floor);
/* The highest number appended or replayed (the floor when none). */
uint64_t spool_last_seq(const spool_t *self);
uint64_t spool_floor(const spool_t *self);
spool_stats_t spool_stats(const spool_t *self);

#endif
