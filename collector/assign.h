/* assign: which manifest assets an agent probes, and the Assignment message that tells it.
 * Pure functions of the manifest; no I/O. */
#ifndef ASSIGN_H
#define ASSIGN_H

#include <stdbool.h>
#include <stdint.h>

#include "sd_config.h"
#include "statusd.pb-c.h"

/* True when the asset is probed from region: it has no locations, or they include region. */
bool assign_applies(const sd_asset_t *a, const char *region);
/* A stable offset in [0, interval_ms): FNV-1a 64 of the asset id modulo interval_ms; the
 * same on every collector and after every restart. 0 when interval_ms is 0. */
uint32_t assign_phase_offset(const char *asset_id, uint32_t interval_ms);
/* Fills spec from an asset: id, type, address (borrowed from a: a must outlive spec),
 * interval_ms, timeout_ms, expected codes and options_json (json of a->options or "";
 * both allocated). 0 or -ENOMEM; release with assign_spec_clear(). */
int assign_spec_fill(const sd_asset_t *a, Statusd__AssetSpec *spec);
void assign_spec_clear(Statusd__AssetSpec *spec);
/* The Assignment for an agent of region: every applicable asset in manifest order, with
 * version. NULL on allocation failure. Borrows strings from m (m must outlive it). */
Statusd__Assignment *assign_build(const sd_manifest_t *m, const char *region,
                                  uint64_t version);
/* The interval an asset is probed at now, in ms: 0 = its manifest interval. */
typedef uint32_t (*assign_interval_fn)(const sd_asset_t *a, void *arg);
/* As assign_build, with each asset's interval (and its phase offset, computed over that
 * interval) from interval_of when it returns non-zero (adaptive intervals). */
Statusd__Assignment *assign_build_with(const sd_manifest_t *m, const char *region,
                                       uint64_t version, assign_interval_fn interval_of,
                                       void *arg);
/* Frees an Assignment from assign_build (NULL-safe) and sets *a = NULL. */
void assign_destroy(Statusd__Assignment **a);

#endif
