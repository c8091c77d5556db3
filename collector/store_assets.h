/* store_assets: the assets table, its only writer: the manifest's sync, the alert engine's
 * state (with its reason) and flapping flag, and what the engine loads back at its start.
 * Library code: 0/-errno with a message in err, never logs. */
#ifndef STORE_ASSETS_H
#define STORE_ASSETS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sd_config.h"
#include "store.h"

/* The longest assets.state_reason stored, in bytes. */
#define STORE_ASSETS_REASON_MAX 300

/* Upserts every manifest asset into assets (in_manifest = true) and sets
 * in_manifest = false for rows not in the manifest, in one transaction. 0 or -errno. */
int store_assets_sync(store_t *s, const sd_manifest_t *m, char *err, size_t errlen);

/* Calls cb(asset_id, state, state_since_ms, last_notify_ms) for every asset row;
 * last_notify_ms = created_at of the newest DOWN/REMINDER outbox row of the asset (0: none),
 * the start of its throttle window. 0 or -EIO. */
int store_assets_load(store_t *s,
                      void (*cb)(const char *asset_id, const char *state,
                                 int64_t state_since_ms, int64_t last_notify_ms, void *arg),
                      void *arg, char *err, size_t errlen);

/* assets.state, state_reason and state_since (updated_at = now()), and in the same statement
 * the state history (asset_state_intervals, whose only writer this is): a new state closes
 * the open interval and opens the next at since_ms. state is the engine's
 * verdict name (UP, DEGRADED, DOWN, UNCONFIRMED, UNKNOWN, MAINTENANCE). reason (NULL = "")
 * is made valid one-line UTF-8 and cut at STORE_ASSETS_REASON_MAX bytes ("…" when cut)
 * before it is written. 0 or -EIO (0 also when no row has this id). */
int store_assets_set_state(store_t *s, const char *asset_id, const char *state,
                           const char *reason, int64_t since_ms, char *err, size_t errlen);

/* One asset's reason for store_assets_set_reasons. */
typedef struct {
    const char *asset_id;
    const char *reason; /* NULL = "" */
} store_asset_reason_t;

/* Rows one store_assets_set_reasons statement writes at most (it writes more in several). */
#define STORE_ASSETS_REASONS_BATCH 256

/* assets.state_reason (updated_at = now()) of n assets, state and state_since unchanged: one
 * UPDATE per STORE_ASSETS_REASONS_BATCH rows, so that many reasons that changed together
 * (agents joining or going stale change the reason of every asset they probe) cost one
 * round trip and one commit per batch, not per asset. Each reason is made valid as by
 * store_assets_set_state. An asset id must not appear twice. 0 or -EIO (the batches before
 * the failing one are written); 0 also for ids with no row. */
int store_assets_set_reasons(store_t *s, const store_asset_reason_t *rows, size_t n, char *err,
                             size_t errlen);

/* assets.flapping / flapping_since (set with FLAPPING, cleared with STABLE). 0 or -EIO. */
int store_assets_set_flapping(store_t *s, const char *asset_id, bool flapping, char *err,
                              size_t errlen);

/* Calls cb(asset_id) for every flapping asset (engine start). 0 or -EIO. */
int store_assets_load_flapping(store_t *s, void (*cb)(const char *asset_id, void *arg),
                               void *arg, char *err, size_t errlen);

#endif
