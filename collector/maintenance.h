/* maintenance: which assets a maintenance window covers right now, for the alert engine.
 * Windows live in the maintenance_windows table: the API writes its own, and
 * maintenance_sync() writes the manifest's (weekly ones expanded per occurrence with the
 * time zone rules of PostgreSQL, see store_maintenance.h). maintenance_refresh() reads the
 * windows active now, judged by the database's clock. Library code: no logging. */
#ifndef MAINTENANCE_H
#define MAINTENANCE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sd_config.h"
#include "store.h"

/* The manifest's windows are written for [now - MAINTENANCE_BACK_MS, now + MAINTENANCE_AHEAD_MS)
 * and rewritten every MAINTENANCE_SYNC_MS, well before the horizon runs out. */
#define MAINTENANCE_BACK_MS (24LL * 3600 * 1000)
#define MAINTENANCE_AHEAD_MS (8LL * 24 * 3600 * 1000)
#define MAINTENANCE_SYNC_MS (10LL * 60 * 1000)

typedef struct maintenance_t maintenance_t;

maintenance_t *maintenance_new(void);
void maintenance_destroy(maintenance_t **m);

/* Rewrites the manifest's windows around now_ms (unix ms). 0 or -errno with err. */
int maintenance_sync(store_t *s, const sd_manifest_t *manifest, int64_t now_ms, size_t *rows,
                     char *err, size_t errlen);
/* Reloads the set of assets covered now. On failure the previous set is kept. 0 or -errno. */
int maintenance_refresh(maintenance_t *m, store_t *s, char *err, size_t errlen);
/* True when a window active at the last refresh covers the asset. */
bool maintenance_covers(const maintenance_t *m, const char *asset_id);
/* Number of windows active at the last refresh. */
size_t maintenance_active_windows(const maintenance_t *m);

#endif
