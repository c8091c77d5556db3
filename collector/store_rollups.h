/* store_rollups: the hourly and daily aggregates of asset_rollups (migration 009), its only
 * writer. A bucket is rebuilt from the raw results (probe_events) and the state history
 * (asset_state_intervals) by one INSERT ... ON CONFLICT DO UPDATE, so building it again
 * (a later result, a retry) replaces it: the rollups always equal the raw aggregates of the
 * data there was when they were built. Library code: 0/-errno with a message in err. */
#ifndef STORE_ROLLUPS_H
#define STORE_ROLLUPS_H

#include <stddef.h>
#include <stdint.h>

#include "store.h"

typedef enum { ROLLUP_HOUR = 0, ROLLUP_DAY } rollup_period_t;

/* Builds every bucket of period that starts in [from_ms, to_ms) (unix ms; whole UTC hours or
 * days; from is rounded down to its bucket, buckets not yet over are left alone). *rows: the
 * rows written. 0 or -EIO. */
int store_rollups_build(store_t *s, rollup_period_t period, int64_t from_ms, int64_t to_ms,
                        int64_t *rows, char *err, size_t errlen);

/* How far period is built (rollup_watermarks, unix ms), 0 when never. 0 or -EIO. */
int store_rollups_watermark(store_t *s, rollup_period_t period, int64_t *until_ms, char *err,
                            size_t errlen);
/* Where period's rollups went stale (rollup_watermarks.dirty_from, unix ms: a state written
 * with a time before the watermark, store_assets_set_state), 0 when they did not. 0 or -EIO. */
int store_rollups_dirty(store_t *s, rollup_period_t period, int64_t *dirty_ms, char *err,
                        size_t errlen);
/* After the buckets from dirty_ms (as store_rollups_dirty read it) up to rebuilt_ms were built
 * again: the stale mark moves to rebuilt_ms (cleared once that reaches the watermark), unless
 * it was lowered meanwhile (then it stays). 0 or -EIO. */
int store_rollups_clean(store_t *s, rollup_period_t period, int64_t dirty_ms,
                        int64_t rebuilt_ms, char *err, size_t errlen);
/* Moves period's watermark to until_ms (never back). 0 or -EIO. */
int store_rollups_advance(store_t *s, rollup_period_t period, int64_t until_ms, char *err,
                          size_t errlen);

#endif
