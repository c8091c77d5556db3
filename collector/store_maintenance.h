/* store_maintenance: the maintenance_windows table, its only writer: the manifest's windows
 * (engine) and the API's (create, end early); what the engine reads back. The API renders
 * windows as JSON with store_api.h. Library code: 0/-errno with a message in err, never
 * logs. */
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

/* Most API maintenance windows not yet over. */
#define STORE_MAINTENANCE_MAX_API 1000

/* Inserts an API window (source 'api'; asset_ids NULL = every asset; ids of
 * [A-Za-z0-9-_.:] only, checked by the caller; created_by = token_fp) and writes its id in
 * *id. 0; -ENOENT when an id is not a manifest asset (err names them); -ENOSPC when
 * STORE_MAINTENANCE_MAX_API API windows are not yet over; -ENOMEM or -EIO. */
int store_maintenance_create(store_t *s, const char *const *asset_ids, size_t n_assets,
                             int64_t start_ms, int64_t end_ms, const char *reason,
                             const char *token_fp, int64_t *id, char *err, size_t errlen);
/* Ends an API window now (ends_at = now(), ended_early_at = now(); an upcoming one becomes
 * empty). 0; -ENOENT (none), -EPERM (a manifest window), -EALREADY (already over), -EIO. */
int store_maintenance_end(store_t *s, int64_t id, char *err, size_t errlen);

#endif
