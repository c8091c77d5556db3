/* store_maintenance: the maintenance_windows table as the engine uses it (the API's
 * queries are in store_api.h). Library code: 0/-errno with a message in err, never logs. */
#ifndef STORE_MAINTENANCE_H
#define STORE_MAINTENANCE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sd_config.h"
#include "store.h"

/* Replaces every source='manifest' row with the manifest's windows that overlap
 * [from_ms, to_ms) (unix ms), in one transaction: one-off windows as they are; weekly ones
 * expanded into one row per occurrence, computed by PostgreSQL in the window's time zone
 * ((local date + local time) AT TIME ZONE tz), so DST is the TZ database's: a window's
 * start is the local wall-clock time on each date; with durationMinutes it lasts that much
 * elapsed time, with "end" it ends at that local wall-clock time. A local start that does
 * not exist (skipped by a DST change) is read as PostgreSQL reads it (shifted forward by
 * the gap). *rows (may be NULL) = rows written. 0 or -EIO. */
int store_maintenance_sync(store_t *s, const sd_manifest_t *m, int64_t from_ms, int64_t to_ms,
                           size_t *rows, char *err, size_t errlen);

/* Calls cb(window_id, asset_id) for every asset of every window active now
 * (starts_at <= now() < ends_at, database clock); asset_id NULL = every asset.
 * 0 or -EIO. */
int store_maintenance_active(store_t *s,
                             void (*cb)(int64_t window_id, const char *asset_id, void *arg),
                             void *arg, char *err, size_t errlen);

#endif
