/* sd_config: manifest.json and notifiers.json, validated at load.
 * Errors name the file, line, column and field:
 *   "config/manifest.json:12:26: assets[1].intervalSeconds: expected an integer >= 1"
 * Unknown fields are errors. The seed tutorial's files load unchanged.
 * Text bounds (jansson refuses a file that is not valid UTF-8, or has "\u0000"):
 *   ids (asset id, maintenance id, notifier name, location, metadata key): at most
 *     SD_CONFIG_ID_MAX characters, else an error naming the field;
 *   metadata values: at most SD_CONFIG_META_VALUE_MAX bytes, at most SD_CONFIG_META_MAX
 *     entries, else an error;
 *   free text (asset name, maintenance reason): one line (control characters become
 *     spaces), cut to SD_CONFIG_NAME_MAX_CHARS characters and SD_CONFIG_NAME_MAX_BYTES
 *     bytes at a character boundary with "…": a long name still loads. */
#ifndef SD_CONFIG_H
#define SD_CONFIG_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SD_CONFIG_ID_MAX 128
#define SD_CONFIG_META_VALUE_MAX 1024
#define SD_CONFIG_META_MAX 64
#define SD_CONFIG_NAME_MAX_CHARS 200
#define SD_CONFIG_NAME_MAX_BYTES 512

typedef struct {
    char *id;
    char *asset_type;          /* http, tcp, dns, icmp, tls */
    char *name;                /* one line, bounded: see above */
    char *address;
    int interval_seconds;      /* >= 1 */
    int timeout_seconds;       /* >= 1 */
    int *expected_status_codes; /* NULL when absent: success is a status < 400 */
    size_t n_expected_status_codes;
    json_t *metadata;          /* object of strings, or NULL (owned) */
    char **locations;          /* regions; NULL = every agent */
    size_t n_locations;
    int quorum;                /* locations; 0 = "majority" (of the locations with a live
                                  agent, at least 2 when 2 or more are configured) */
    int failure_threshold;     /* consecutive failures before an agent votes DOWN; default 2 */
    int success_threshold;     /* consecutive successes before an agent votes UP; default 1 */
    json_t *options;           /* type-specific probe options as one JSON object (owned), or NULL */
    int incident_interval_seconds; /* probe interval while DEGRADED/DOWN; 0 = default
                                      (sd_asset_incident_interval) */
    int degraded_latency_ms;   /* "degradedLatencyMs": a slower success is DEGRADED; 0 = off */
    int max_latency_ms;        /* "maxLatencyMs": a slower success is a failure; 0 = off */
    /* the asset's own "flapping" block, overriding the manifest's (sd_asset_flapping):
     * thresholds 0 where absent, the hold only when has_flap_hold */
    int flap_high_percent, flap_low_percent, flap_recovery_hold_seconds;
    bool has_flap_hold;
} sd_asset_t;

/* A maintenance window of the manifest's top-level "maintenance" list. One-off:
 * start_ms/end_ms (RFC 3339 in the file). Weekly (days_mask != 0): every listed ISO weekday
 * (bit 1 = Monday .. bit 7 = Sunday) at start_minute after local midnight in time_zone, for
 * duration_minutes of elapsed time, or until the wall-clock end_minute (the next day when
 * it is not after the start). */
typedef struct {
    char *id;                  /* "id", or "maintenance[N]" */
    char **assets;             /* NULL = every asset */
    size_t n_assets;
    char *reason;              /* "" when absent */
    int64_t start_ms, end_ms;  /* one-off only */
    unsigned days_mask;        /* weekly only; 0 = one-off */
    int start_minute;          /* weekly: 0..1439 */
    int duration_minutes;      /* weekly: 1..10080, or 0 when end_minute is used */
    int end_minute;            /* weekly: 0..1439, or -1 */
    char *time_zone;           /* weekly: IANA name, default "UTC" */
} sd_maintenance_t;

typedef struct {
    sd_asset_t *assets;
    size_t n_assets;
    sd_maintenance_t *maintenance;
    size_t n_maintenance;
    int flap_high_percent;     /* "flapping": {"highThreshold"}; 0 = default 50 */
    int flap_low_percent;      /* "flapping": {"lowThreshold"}; 0 = default 25 */
    int flap_recovery_hold_seconds; /* "flapping": {"recoveryHoldSeconds"} (0..3600): how
                                       long an asset stays out of DOWN before its incident
                                       resolves; -1 (absent) = 2 x its intervalSeconds */
    /* "statusPage": {"title", "description", "groupBy", "showAddresses", "demoNotice"}, all
       optional */
    char *page_title;          /* NULL: "StatusD" */
    char *page_description;    /* NULL: none */
    char *page_group_by;       /* a metadata key the page groups assets by; NULL: no groups */
    bool page_show_addresses;  /* default false: the page does not show assets' addresses */
    char *page_demo_notice;    /* the page's "Demo data" banner (quickstart's seeded history);
                                  NULL: none */
} sd_manifest_t;

/* The asset's effective flapping settings: its own where set, else the manifest's (m may be
 * NULL: the defaults 50 / 25 / -1). hold_seconds -1 means 2 x its intervalSeconds. */
void sd_asset_flapping(const sd_manifest_t *m, const sd_asset_t *a, int *high_percent,
                       int *low_percent, int *hold_seconds);

/* The probe interval of an asset while it is DEGRADED or DOWN, in seconds:
 * incidentIntervalSeconds, else a quarter of the interval but at least 5 s; never longer
 * than the interval. */
int sd_asset_incident_interval(const sd_asset_t *a);

/* Parses an RFC 3339 timestamp with a "Z" or +-HH:MM offset (fraction optional) into unix
 * ms. 0 or -EINVAL. */
int sd_parse_rfc3339(const char *s, int64_t *ms);

typedef struct {
    char *name;                /* key in "notifiers" */
    char *type;                /* slack, teams, discord, pagerduty, webhook, email, telegram,
                                  ntfy */
    char *webhook_url;         /* the type's delivery URL field (webhookUrl, url, eventsUrl,
                                  smtpUrl, apiUrl), NULL when it has none or it is absent */
    json_t *raw;               /* the notifier's whole object (owned), for type-specific fields */
} sd_notifier_conf_t;

/* One escalation tier of a route: if the incident is still open and unacknowledged
 * after_seconds after it opened, its DOWN goes to these notifiers too. */
typedef struct {
    int after_seconds;         /* 0..604800, ascending within a route */
    char **notify;
    size_t n_notify;
} sd_tier_t;

/* notificationPolicy.routes[i]: which notifiers an asset's pages go to. */
typedef struct {
    json_t *match;             /* object (owned): key -> a string or an array of strings; an
                                  asset matches when each key ("id", or a metadata key) has
                                  one of the values; {} matches every asset */
    char **on_down;            /* notifier names; NULL (absent): no DOWN from this route */
    size_t n_on_down;
    char **on_recovery;        /* absent: the route's onDown */
    size_t n_on_recovery;
    bool cont;                 /* "continue": later routes are tried too */
    sd_tier_t *escalation;     /* "escalation" tiers, NULL none */
    size_t n_escalation;
} sd_route_t;

typedef struct {
    sd_notifier_conf_t *notifiers;
    size_t n_notifiers;
    sd_route_t *routes;        /* tried in order; the first match wins unless it continues */
    size_t n_routes;
    char **on_down;            /* notifier names (the default route) */
    size_t n_on_down;
    char **on_recovery;
    size_t n_on_recovery;
    int throttle_seconds;      /* default 300 */
    bool repeat_alerts;        /* default false */
    /* "storm": more than storm_threshold pages of a kind (DOWN, RECOVERY) on one notifier
     * within storm_window_seconds are collapsed into one digest per window naming up to
     * storm_max_names assets (collector/rules/storm.h). Defaults 3, 60, 20; threshold 0:
     * never collapse. */
    int storm_threshold;
    int storm_window_seconds;
    int storm_max_names;
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

/* True when asset a matches route r's "match". */
bool sd_route_matches(const sd_route_t *r, const sd_asset_t *a);
/* The notifiers asset a's DOWN (down) or RECOVERY pages go to: the lists of the routes it
 * matches (in order, the first match ends the search unless it continues; each name once),
 * or the default onDown/onRecovery when it matches none. *names is a malloc'd array of
 * names borrowed from n (free it, not its strings); a NULL asset gets the default route
 * (agent events). 0 or -ENOMEM. */
int sd_notifiers_route(const sd_notifiers_t *n, const sd_asset_t *a, bool down,
                       const char ***names, size_t *cnt);
/* The escalation tiers of the routes asset a matches (same order as sd_notifiers_route),
 * as a malloc'd array of pointers into n. 0 or -ENOMEM. */
int sd_notifiers_escalation(const sd_notifiers_t *n, const sd_asset_t *a,
                            const sd_tier_t ***tiers, size_t *cnt);

#endif
