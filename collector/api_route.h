/* api_route: what the REST API makes of a request before it touches the database: the
 * route and path id of a URL, the query arguments, and the JSON bodies of the write routes.
 * Pure (no libmicrohttpd, no database, no logging), so tests and the fuzzer drive it
 * directly; api.c turns a refusal into its 400/404 reply. */
#ifndef API_ROUTE_H
#define API_ROUTE_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define API_MAX_ID_LEN 256      /* bytes of an asset id in a path; longer: 404 */
#define EVENTS_LIMIT_MAX 1000
#define ACK_BY_MAX 128
#define ACK_NOTE_MAX 1024
#define MAINT_REASON_MAX 1024
#define MAINT_MAX_ASSETS 1000
#define MAINT_MAX_MS (366LL * 86400 * 1000)   /* longest window the API accepts */

typedef enum {
    ROUTE_PAGE,
    ROUTE_METRICS,
    ROUTE_HEALTH,
    ROUTE_ASSETS,
    ROUTE_ASSET,
    ROUTE_EVENTS,
    ROUTE_INCIDENTS,
    ROUTE_INCIDENT,
    ROUTE_ACK,
    ROUTE_AGENTS,
    ROUTE_MAINTENANCE,
    ROUTE_MAINTENANCE_ONE,
    ROUTE_NOTIFIER_TEST,
    ROUTE_RELOAD,
    ROUTE_UPTIME,
    ROUTE_BADGE_STATUS,
    ROUTE_BADGE_UPTIME,
    ROUTE_OPENAPI,
    ROUTE_STATUS_PAGE,
    ROUTE_STATUS_DATA,
    ROUTE_UPTIME_ALL,
    ROUTE_UNKNOWN
} route_t;

/* The route of a (percent-decoded) path; for the routes with an {id}, *id points into url
 * and *id_len is its length (not checked: see api_route_asset_id, api_route_number). */
route_t api_route(const char *url, const char **id, size_t *id_len);
/* The route's label for metrics: bounded, never the raw path ("/api/assets/{id}/events").
 * Each label but "other" is a path of docs/openapi.json (test_api_route checks both ways). */
const char *api_route_label(route_t route);

/* The asset id of an events path copied NUL-terminated into buf (cap bytes, at least
 * API_MAX_ID_LEN + 1): true when it is 1..API_MAX_ID_LEN bytes of valid UTF-8 without '/';
 * false otherwise (the API answers 404 without asking the database). */
bool api_route_asset_id(const char *id, size_t len, char *buf, size_t cap);
/* A numeric path id: "1".."999999999999999999", else -1. */
int64_t api_route_number(const char *id, size_t len);
/* The events "limit" argument: "1".."1000" exactly (no sign, spaces or trailing bytes), else
 * -1. */
int api_route_limit(const char *v);

/* GET /api/assets/{id}/uptime?from=&to= (RFC 3339, both optional): to defaults to now_ms and
 * is clamped to it, from to 24 h before to; from must be before to and at most
 * UPTIME_RANGE_MAX_MS earlier. NULL when acceptable, with *from_ms and *to_ms set; else the
 * 400 message. */
#define UPTIME_RANGE_MAX_MS (400LL * 86400 * 1000)
/* The uptime badge's "window": "24h", "7d", "30d" or "90d" (NULL: 30d) in seconds, else -1. */
int api_route_badge_window(const char *v);
const char *api_route_uptime_range(const char *from, const char *to, int64_t now_ms,
                                   int64_t *from_ms, int64_t *to_ms);

/* POST /api/incidents/{id}/ack body (len bytes, none when len is 0): optional {"by", "note"}.
 * NULL when acceptable, with *by / *note pointing into *doc (or NULL); else the 400
 * message. The caller json_decref's *doc in both cases. */
const char *api_route_ack_body(const char *buf, size_t len, json_t **doc, const char **by,
                               const char **note);

/* A maintenance window to create. */
typedef struct {
    const char *const *asset_ids;   /* NULL: every asset */
    size_t n_assets;
    int64_t start_ms, end_ms;
    const char *reason;             /* NULL when absent */
} api_maint_t;

/* POST /api/maintenance body: {"assetIds": [ids] | "all", "start": RFC 3339 (default
 * now_ms), "end": RFC 3339 after start and now_ms, "reason": string}. ids has room for
 * MAINT_MAX_ASSETS pointers. NULL when acceptable, with *m filled (strings point into *doc);
 * else the 400 message. The caller json_decref's *doc in both cases. */
const char *api_route_maint_body(const char *buf, size_t len, int64_t now_ms, json_t **doc,
                                 const char **ids, api_maint_t *m);

/* True when an Accept-Encoding value takes gzip: "gzip" (or "x-gzip") listed with no q or a
 * q above 0 ("gzip;q=0" refuses it). NULL: false. */
bool api_route_accepts_gzip(const char *accept_encoding);

#endif
