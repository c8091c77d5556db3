/* store_history: the seconds each asset spent in each shown state over planned segments of
 * time (history_plan.h), read from the daily and hourly rollups and the raw state intervals
 * in one statement. What uptime figures over long ranges are made of. Library code:
 * 0/-errno with a message in err. */
#ifndef STORE_HISTORY_H
#define STORE_HISTORY_H

#include <stddef.h>
#include <stdint.h>

#include "history_plan.h"
#include "store.h"
#include "uptime.h"

/* Most segments one call reads. */
#define STORE_HISTORY_MAX_SEGS 4096

/* What the hourly and daily rollups hold: from their oldest bucket kept up to their
 * watermark (unix ms; 0, 0 when none). 0 or -EIO. */
int store_history_built(store_t *s, history_built_t *built, char *err, size_t errlen);

/* Called once per (asset, slot) with time in it, in no particular order. */
typedef void (*store_history_fn)(void *ctx, const char *asset_id, int slot,
                                 const uptime_secs_t *u);

/* Sums the state seconds of asset_id (any asset, in the manifest or removed from it; NULL:
 * every manifest asset) over the n segments (at most STORE_HISTORY_MAX_SEGS) by slot, and
 * calls fn with each sum. Segments of one slot should not overlap (each would be counted).
 * 0, -EINVAL, -ENOMEM or -EIO. */
int store_history_secs(store_t *s, const char *asset_id, const history_seg_t *seg, size_t n,
                       store_history_fn fn, void *ctx, char *err, size_t errlen);

#endif
