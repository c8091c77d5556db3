/* sd_config: manifest.json and notifiers.json, validated at load.
 * Errors name the file, line, column and field:
 *   "config/manifest.json:12:26: assets[1].intervalSeconds: expected an integer >= 1"
 * Unknown fields are errors. The seed tutorial's files load unchanged. */
#ifndef SD_CONFIG_H
#define SD_CONFIG_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

typedef struct {
    char *id;
    char *asset_type;          /* http, tcp, dns, icmp, tls */
    char *name;
    char *address;
    int interval_seconds;      /* >= 1 */
    int timeout_seconds;       /* >= 1 */
    int *expected_status_codes; /* NULL when absent: success is a status < 400 */
    size_t n_expected_status_codes;
    json_t *metadata;          /* object of strings, or NULL (owned) */
    char **locations;          /* regions; NULL = every agent */
    size_t n_locations;
    int quorum;                /* 0 = majority of live assigned agents (at least 1) */
    int failure_threshold;     /* consecutive failures before an agent votes DOWN; default 2 */
    int success_threshold;     /* consecutive successes before an agent votes UP; default 1 */
    json_t *options;           /* type-specific probe options as one JSON object (owned), or NULL */
} sd_asset_t;

typedef struct {
    sd_asset_t *assets;
    size_t n_assets;
} sd_manifest_t;

typedef struct {
    char *name;                /* key in "notifiers" */
    char *type;                /* slack, teams */
    char *webhook_url;
    json_t *raw;               /* the notifier's whole object (owned), for type-specific fields */
} sd_notifier_conf_t;

typedef struct {
    sd_notifier_conf_t *notifiers;
    size_t n_notifiers;
    char **on_down;            /* notifier names */
    size_t n_on_down;
    char **on_recovery;
    size_t n_on_recovery;
    int throttle_seconds;      /* default 300 */
    bool repeat_alerts;        /* default false */
} sd_notifiers_t;

/* Parses a manifest from text; path is only used in messages. 0 on success with *out set,
 * else -EINVAL (or -ENOMEM) and a one-line message in err. */
int sd_manifest_parse(const char *path, const char *text, sd_manifest_t **out, char *err,
                      size_t errlen);
/* Reads and parses a file (size-bounded, 16 MiB). */
int sd_manifest_load(const char *path, sd_manifest_t **out, char *err, size_t errlen);
void sd_manifest_destroy(sd_manifest_t **m);
/* The asset with this id, or NULL. */
const sd_asset_t *sd_manifest_find(const sd_manifest_t *m, const char *id);

int sd_notifiers_parse(const char *path, const char *text, sd_notifiers_t **out, char *err,
                       size_t errlen);
int sd_notifiers_load(const char *path, sd_notifiers_t **out, char *err, size_t errlen);
void sd_notifiers_destroy(sd_notifiers_t **n);
const sd_notifier_conf_t *sd_notifiers_find(const sd_notifiers_t *n, const char *name);

#endif
