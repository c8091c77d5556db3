/* history_plan: which source answers each part of a time range of an asset's state history.
 * Pure: no I/O.
 *
 * The state seconds of [from, to) are exact from any of three sources: the daily rollups
 * (whole UTC days before the day watermark), the hourly rollups (whole UTC hours before the
 * hour watermark) and the raw intervals (asset_state_intervals: anything). A plan covers the
 * range with as few and as coarse segments as the watermarks allow, so a 90-day figure reads
 * about 90 daily rows, a day or two of hourly rows and an hour or two of raw intervals per
 * asset, and stays exact to the millisecond. */
#ifndef HISTORY_PLAN_H
#define HISTORY_PLAN_H

#include <stddef.h>
#include <stdint.h>

#define HISTORY_HOUR_MS 3600000LL
#define HISTORY_DAY_MS 86400000LL

typedef enum { HISTORY_RAW = 0, HISTORY_HOUR = 1, HISTORY_DAY = 2 } history_source_t;

/* What the rollups hold (unix ms): hourly buckets in [hour_from, hour_until), daily ones in
 * [day_from, day_until) (until: the watermark; from: the oldest bucket kept; 0, 0: none). */
typedef struct {
    int64_t hour_from, hour_until, day_from, day_until;
} history_built_t;

/* [lo, hi) in unix ms read from src (for HOUR/DAY: whole buckets), counted into slot. */
typedef struct {
    int64_t lo, hi;
    int slot;
    history_source_t src;
} history_seg_t;

/* Appends to seg (capacity cap, *n segments already there) the plan of [from, to) for slot:
 * rollups of at most the coarseness max_src, each only where built says they are. Returns
 * 0, or -1 when seg is full (nothing is appended then). */
int history_plan(int64_t from, int64_t to, const history_built_t *built,
                 history_source_t max_src, int slot, history_seg_t *seg, size_t cap, size_t *n);

#endif
