/* config_ref: the collector's configuration (manifest and notifiers) as immutable,
 * reference-counted snapshots, so that a reload (reload.h) can replace it while every actor
 * keeps using the one it holds. The holder is thread-safe: config_ref_swap publishes a new
 * snapshot under a mutex; a snapshot is freed (with its manifest and notifiers) when the
 * last reference is put. An actor keeps a view (config_view_t) and, at the top of each loop
 * turn or request, asks whether the generation moved (config_view_refresh); it then rebuilds
 * whatever it keeps per asset or notifier before it lets go of the previous snapshot, so no
 * pointer into a freed manifest is ever kept. */
#ifndef CONFIG_REF_H
#define CONFIG_REF_H

#include <stdbool.h>
#include <stdint.h>

#include "sd_config.h"

typedef struct config_ref config_ref_t;

/* One configuration: read only, shared between threads. */
typedef struct config_snap {
    const sd_manifest_t *manifest;
    const sd_notifiers_t *notifiers;
    uint64_t generation;       /* 1 for the configuration read at start, +1 per reload */
} config_snap_t;

/* A holder whose first snapshot (generation 1) owns m and n. NULL on allocation failure
 * (m and n are then still the caller's). */
config_ref_t *config_ref_new(sd_manifest_t *m, sd_notifiers_t *n);
/* Drops the holder's reference to its current snapshot (freed once every actor put its
 * own) and frees the holder; accepts NULL, sets *r to NULL. */
void config_ref_destroy(config_ref_t **r);
/* A counted reference to the current snapshot; release it with config_snap_put. */
const config_snap_t *config_ref_get(config_ref_t *r);
/* The current generation (cheap: one atomic load); 0 for a NULL holder. */
uint64_t config_ref_generation(const config_ref_t *r);
/* Publishes a new snapshot owning m and n (generation + 1, returned in *generation when
 * not NULL); the previous one lives on until its last reference is put. 0, or -ENOMEM
 * (m and n are then still the caller's). */
int config_ref_swap(config_ref_t *r, sd_manifest_t *m, sd_notifiers_t *n,
                    uint64_t *generation);

/* One more reference to a snapshot (NULL stays NULL). */
const config_snap_t *config_snap_ref(const config_snap_t *s);
/* Releases a reference; the last one frees the snapshot, its manifest and notifiers.
 * Accepts NULL, sets *s to NULL. */
void config_snap_put(const config_snap_t **s);

/* What an actor uses: the snapshot it holds, or (no holder: unit tests drive the actors
 * with a fixed configuration) the fixed manifest and notifiers. */
typedef struct {
    const config_snap_t *snap;       /* NULL without a holder */
    const sd_manifest_t *manifest;   /* may be NULL */
    const sd_notifiers_t *notifiers; /* may be NULL */
    uint64_t generation;
} config_view_t;

/* Starts a view on holder's current snapshot, or on m and n when holder is NULL. */
void config_view_init(config_view_t *v, config_ref_t *holder, const sd_manifest_t *m,
                      const sd_notifiers_t *n);
/* True when holder published a newer snapshot: *v then holds it and *old the previous view
 * (its reference passes to the caller, who compares and then config_view_release's it).
 * False (and *old zeroed) otherwise, always with a NULL holder. */
bool config_view_refresh(config_view_t *v, config_ref_t *holder, config_view_t *old);
/* Releases the view's snapshot and zeroes it; accepts a zeroed view. */
void config_view_release(config_view_t *v);

#endif
