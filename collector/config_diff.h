/* config_diff: what a reload changes, between two manifests and two notifier files. Pure
 * (no I/O, no logging): the reload's summary and each actor's rebuild ask it the same
 * questions. */
#ifndef CONFIG_DIFF_H
#define CONFIG_DIFF_H

#include <stdbool.h>
#include <stddef.h>

#include "sd_config.h"

/* How an asset kept across a reload changed (bits; 0: not at all). */
enum {
    CONFIG_ASSET_PROBE = 1u << 0, /* what the agents do: type, address, interval, timeout,
                                     expected codes, options, locations */
    CONFIG_ASSET_VOTE = 1u << 1,  /* how results become a verdict: thresholds, quorum,
                                     locations, interval, latency limits */
    CONFIG_ASSET_OTHER = 1u << 2, /* the rest: name, metadata, incident interval, effective
                                     flapping settings */
};

/* How b (in manifest mb) differs from a (in ma), both with the same id; ma and mb give the
 * manifest-wide flapping defaults (either may be NULL). */
unsigned config_diff_asset(const sd_manifest_t *ma, const sd_asset_t *a,
                           const sd_manifest_t *mb, const sd_asset_t *b);

/* True when two notifier entries (same name) differ in type or any field. */
bool config_diff_notifier(const sd_notifier_conf_t *a, const sd_notifier_conf_t *b);

/* True when the notification policies differ: default lists, routes, escalation, throttle,
 * repeatAlerts, storm settings (the notifiers themselves are not compared here). */
bool config_diff_policy(const sd_notifiers_t *a, const sd_notifiers_t *b);

typedef struct {
    size_t assets_added, assets_removed, assets_changed;
    size_t notifiers_added, notifiers_removed, notifiers_changed;
    bool policy_changed;
    bool maintenance_changed;   /* the manifest's maintenance list */
} config_diff_t;

/* Counts what going from (om, on) to (nm, nn) changes; any may be NULL (nothing). */
void config_diff(const sd_manifest_t *om, const sd_notifiers_t *on, const sd_manifest_t *nm,
                 const sd_notifiers_t *nn, config_diff_t *out);

#endif
