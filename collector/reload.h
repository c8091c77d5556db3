/* reload: configuration hot reload (SIGHUP, POST /api/reload). Reads the manifest and
 * notifier files again and checks them exactly as at start (sd_manifest_load,
 * sd_notifiers_load, channel_check_all); a refusal leaves everything as it was and names
 * file, line, column and field. An accepted configuration is first written to the assets
 * table (store_assets_sync: new rows, changed rows updated under the same id, removed ones
 * out of the manifest), then published (config_ref_swap); every actor applies the
 * difference at its next loop turn (docs/configuration.md, "Reloading"). Reloads are
 * serialized; the outcome is logged here (this is the signal loop's and the API's action)
 * and exported: statusd_config_last_reload_successful,
 * statusd_config_last_reload_success_timestamp_seconds, statusd_config_reloads_total{result},
 * statusd_config_generation, and the "config" part of /api/health. */
#ifndef RELOAD_H
#define RELOAD_H

#include <stdbool.h>
#include <stdint.h>

#include "config_diff.h"
#include "config_ref.h"
#include "health.h"
#include "metrics.h"

#define RELOAD_ERR_MAX 1024

typedef struct reload reload_t;

typedef enum {
    RELOAD_OK = 0,
    RELOAD_INVALID,       /* a file was refused: the old configuration stays */
    RELOAD_DB_FAILED,     /* the database could not take the new assets: likewise */
} reload_status_t;

typedef struct {
    reload_status_t status;
    uint64_t generation;           /* the one in use afterwards */
    config_diff_t diff;            /* RELOAD_OK only */
    char error[RELOAD_ERR_MAX];    /* "file:line:col: field: message", or the database's */
} reload_result_t;

/* The paths and db conninfo are borrowed (they must outlive it); config, metrics and health
 * too (metrics and health may be NULL). Sets the metrics of the configuration read at start
 * (successful, now). NULL on allocation failure. */
reload_t *reload_new(const char *manifest_path, const char *notifiers_path,
                     const char *db_conninfo, config_ref_t *config, metrics_t *metrics,
                     health_t *health);
void reload_destroy(reload_t **r);
/* One reload (source: "SIGHUP" or "api", for the log); blocks while another runs. Fills out;
 * returns out->status. */
reload_status_t reload_run(reload_t *r, const char *source, reload_result_t *out);

#endif
