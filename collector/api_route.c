/* api_route: routing, path ids, query arguments and write bodies of the REST API (see
 * api_route.h). */
#include "api_route.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "sd_config.h"
#include "sd_utf8.h"

/* the route label of each; bounded, never the raw path */
static const char *const ROUTE_LABEL[] = {"/", "/metrics", "/api/health", "/api/assets",
                                          "/api/assets/{id}", "/api/assets/{id}/events", "/api/incidents",
                                          "/api/incidents/{id}", "/api/incidents/{id}/ack",
                                          "/api/agents", "/api/maintenance",
                                          "/api/maintenance/{id}",
                                          "/api/notifiers/{name}/test",
                                          "/api/reload",
                                          "/api/assets/{id}/uptime",
                                          "/badge/{id}/status.svg",
                                          "/badge/{id}/uptime.svg", "/api/openapi.json",
                                          "/api/status-page", "/api/status-page/data",
                                          "/api/uptime", "other"};

const char *api_route_label(route_t route)
{
    return route >= ROUTE_PAGE && route <= ROUTE_UNKNOWN ? ROUTE_LABEL[route] : "other";
}

route_t api_route(const char *url, const char **id, size_t *id_len)
{
    static const char prefix[] = "/api/assets/", suffix[] = "/events";
    static const char iprefix[] = "/api/incidents/", ack[] = "/ack";
    if (strcmp(url, "/") == 0)
        return ROUTE_PAGE;
    if (strcmp(url, "/metrics") == 0)
        return ROUTE_METRICS;
    if (strcmp(url, "/api/health") == 0)
        return ROUTE_HEALTH;
    if (strcmp(url, "/api/assets") == 0)
        return ROUTE_ASSETS;
    if (strcmp(url, "/api/incidents") == 0)
        return ROUTE_INCIDENTS;
    if (strcmp(url, "/api/agents") == 0)
        return ROUTE_AGENTS;
    if (strcmp(url, "/api/status-page") == 0)
        return ROUTE_STATUS_PAGE;
    if (strcmp(url, "/api/status-page/data") == 0)
        return ROUTE_STATUS_DATA;
    if (strcmp(url, "/api/uptime") == 0)
        return ROUTE_UPTIME_ALL;
    if (strcmp(url, "/api/openapi.json") == 0)
        return ROUTE_OPENAPI;
    if (strcmp(url, "/api/reload") == 0)
        return ROUTE_RELOAD;
    static const char mprefix[] = "/api/maintenance";
    size_t mp = sizeof mprefix - 1;
    if (strncmp(url, mprefix, mp) == 0 && (url[mp] == 0 || url[mp] == '/')) {
        if (url[mp] == 0)
            return ROUTE_MAINTENANCE;
        *id = url + mp + 1;
        *id_len = strlen(*id);
        return ROUTE_MAINTENANCE_ONE;
    }
    static const char nprefix[] = "/api/notifiers/", test[] = "/test";
    size_t n = strlen(url), p = sizeof prefix - 1, s = sizeof suffix - 1;
    size_t np = sizeof nprefix - 1, ts = sizeof test - 1;
    if (n > np + ts && strncmp(url, nprefix, np) == 0 && strcmp(url + n - ts, test) == 0) {
        *id = url + np;
        *id_len = n - np - ts;
        return ROUTE_NOTIFIER_TEST;
    }
    size_t ip = sizeof iprefix - 1, as = sizeof ack - 1;
    if (n > ip && strncmp(url, iprefix, ip) == 0) {
        *id = url + ip;
        bool is_ack = n > ip + as && strcmp(url + n - as, ack) == 0;
        *id_len = n - ip - (is_ack ? as : 0);
        return is_ack ? ROUTE_ACK : ROUTE_INCIDENT;
    }
    if (n > p + s && strncmp(url, prefix, p) == 0 && strcmp(url + n - s, suffix) == 0) {
        *id = url + p;
        *id_len = n - p - s;
        return ROUTE_EVENTS;
    }
    static const char bprefix[] = "/badge/", bstatus[] = "/status.svg", buptime[] = "/uptime.svg";
    size_t bp = sizeof bprefix - 1;
    if (n > bp && strncmp(url, bprefix, bp) == 0) {
        size_t bs = sizeof bstatus - 1, bu = sizeof buptime - 1;
        *id = url + bp;
        if (n > bp + bs && strcmp(url + n - bs, bstatus) == 0) {
            *id_len = n - bp - bs;
            return ROUTE_BADGE_STATUS;
        }
        if (n > bp + bu && strcmp(url + n - bu, buptime) == 0) {
            *id_len = n - bp - bu;
            return ROUTE_BADGE_UPTIME;
        }
        return ROUTE_UNKNOWN;
    }
    static const char usuffix[] = "/uptime";
    size_t us = sizeof usuffix - 1;
    if (n > p + us && strncmp(url, prefix, p) == 0 && strcmp(url + n - us, usuffix) == 0) {
        *id = url + p;
        *id_len = n - p - us;
        return ROUTE_UPTIME;
    }
    if (n > p && strncmp(url, prefix, p) == 0 && !strchr(url + p, '/')) {
        *id = url + p;
        *id_len = n - p;
        return ROUTE_ASSET;
    }
    return ROUTE_UNKNOWN;
}

bool api_route_asset_id(const char *id, size_t len, char *buf, size_t cap)
{
    /* not valid UTF-8 (a %FF in the path): no such asset, and PostgreSQL would refuse the
     * parameter, which must not look like an outage */
    if (!id || len == 0 || len > API_MAX_ID_LEN || len >= cap || memchr(id, '/', len) ||
        !sd_utf8_valid(id, len))
        return false;
    memcpy(buf, id, len);
    buf[len] = 0;
    return true;
}

/* "1".."999999999999999999"; -1 otherwise. */
int64_t api_route_number(const char *id, size_t len)
{
    if (len == 0 || len > 18)
        return -1;
    int64_t v = 0;
    for (size_t i = 0; i < len; i++) {
        if (id[i] < '0' || id[i] > '9')
            return -1;
        v = v * 10 + (id[i] - '0');
    }
    return v > 0 ? v : -1;
}

/* "1".."1000" exactly (no sign, spaces or trailing bytes); -1 otherwise. */
int api_route_limit(const char *v)
{
    if (!v || !*v || strlen(v) > 4)
        return -1;
    int n = 0;
    for (const char *p = v; *p; p++) {
        if (*p < '0' || *p > '9')
            return -1;
        n = n * 10 + (*p - '0');
    }
    return n >= 1 && n <= EVENTS_LIMIT_MAX ? n : -1;
}

const char *api_route_ack_body(const char *buf, size_t len, json_t **doc, const char **by,
                               const char **note)
{
    *doc = NULL;
    *by = *note = NULL;
    if (!buf || len == 0)
        return NULL;
    json_error_t je;
    *doc = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &je);
    json_t *jb = json_object_get(*doc, "by"), *jn = json_object_get(*doc, "note");
    const char *k;
    json_t *v;
    bool ok = json_is_object(*doc) && (!jb || json_is_string(jb)) && (!jn || json_is_string(jn));
    json_object_foreach(ok ? *doc : NULL, k, v)
        ok = ok && (strcmp(k, "by") == 0 || strcmp(k, "note") == 0);
    if (ok) {
        *by = json_string_value(jb);
        *note = json_string_value(jn);
        ok = (!*by || strlen(*by) <= ACK_BY_MAX) && (!*note || strlen(*note) <= ACK_NOTE_MAX);
    }
    return ok ? NULL
              : "body must be a JSON object with optional strings \"by\" (at most 128 "
                "bytes) and \"note\" (at most 1024 bytes)";
}

static bool s_valid_asset_id(const char *id)
{
    size_t n = strlen(id);
    if (n == 0 || n > 128)
        return false;
    for (const char *p = id; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
              strchr("-_.:", *p)))
            return false;
    return true;
}

const char *api_route_maint_body(const char *buf, size_t len, int64_t now_ms, json_t **doc,
                                 const char **ids, api_maint_t *q)
{
    const char *why = NULL;
    json_error_t je;
    *doc = buf && len ? json_loadb(buf, len, JSON_REJECT_DUPLICATES, &je) : NULL;
    json_t *jids = json_object_get(*doc, "assetIds"), *js = json_object_get(*doc, "start");
    json_t *jend = json_object_get(*doc, "end"), *jr = json_object_get(*doc, "reason");
    const char *k;
    json_t *v;
    if (!json_is_object(*doc))
        why = "body must be a JSON object {\"assetIds\": [...] or \"all\", \"start\", "
              "\"end\", \"reason\"}";
    json_object_foreach(why ? NULL : *doc, k, v)
        if (strcmp(k, "assetIds") && strcmp(k, "start") && strcmp(k, "end") && strcmp(k, "reason"))
            why = "unknown field: allowed are assetIds, start, end, reason";
    if (!why && json_is_string(jids) && strcmp(json_string_value(jids), "all") == 0) {
        q->asset_ids = NULL;
    } else if (!why && json_is_array(jids) && json_array_size(jids) > 0 &&
               json_array_size(jids) <= MAINT_MAX_ASSETS) {
        for (size_t i = 0; i < json_array_size(jids); i++) {
            const char *id = json_string_value(json_array_get(jids, i));
            if (!id || !s_valid_asset_id(id))
                why = "assetIds must hold asset ids (1-128 of A-Z a-z 0-9 - _ . :)";
            ids[i] = id;
        }
        q->asset_ids = ids;
        q->n_assets = json_array_size(jids);
    } else if (!why) {
        why = "assetIds is required: a non-empty array of asset ids (at most 1000), or \"all\"";
    }
    q->start_ms = now_ms;
    if (!why && js && (!json_is_string(js) || sd_parse_rfc3339(json_string_value(js),
                                                                &q->start_ms) != 0))
        why = "start must be an RFC 3339 time like \"2026-12-01T22:00:00Z\" (default: now)";
    if (!why && (!json_is_string(jend) || sd_parse_rfc3339(json_string_value(jend), &q->end_ms) != 0))
        why = "end is required: an RFC 3339 time like \"2026-12-01T23:00:00Z\"";
    if (!why && (q->end_ms <= q->start_ms || q->end_ms - q->start_ms > MAINT_MAX_MS))
        why = "end must be after start, and the window at most 366 days long";
    if (!why && q->end_ms <= now_ms)
        why = "end is in the past";
    if (!why && jr && (!json_is_string(jr) || strlen(json_string_value(jr)) > MAINT_REASON_MAX))
        why = "reason must be a string of at most 1024 bytes";
    q->reason = json_string_value(jr);
    return why;
}

const char *api_route_uptime_range(const char *from, const char *to, int64_t now_ms,
                                   int64_t *from_ms, int64_t *to_ms)
{
    *to_ms = now_ms;
    if (to && sd_parse_rfc3339(to, to_ms) != 0)
        return "to must be an RFC 3339 time (2026-12-01T00:00:00Z)";
    if (*to_ms > now_ms)
        *to_ms = now_ms;
    *from_ms = *to_ms - 86400LL * 1000;
    if (from && sd_parse_rfc3339(from, from_ms) != 0)
        return "from must be an RFC 3339 time (2026-12-01T00:00:00Z)";
    if (*from_ms >= *to_ms)
        return "from must be before to (and before now)";
    if (*to_ms - *from_ms > UPTIME_RANGE_MAX_MS)
        return "from and to may be at most 400 days apart";
    return NULL;
}

int api_route_badge_window(const char *v)
{
    if (!v)
        return 30 * 86400;
    static const struct {
        const char *name;
        int seconds;
    } w[] = {{"24h", 86400}, {"7d", 7 * 86400}, {"30d", 30 * 86400}, {"90d", 90 * 86400}};
    for (size_t i = 0; i < sizeof w / sizeof *w; i++)
        if (strcmp(v, w[i].name) == 0)
            return w[i].seconds;
    return -1;
}

bool api_route_accepts_gzip(const char *ae)
{
    for (const char *p = ae; p && *p;) {
        while (*p == ' ' || *p == '\t' || *p == ',')
            p++;
        const char *tok = p;
        while (*p && *p != ',' && *p != ';' && *p != ' ' && *p != '\t')
            p++;
        size_t n = (size_t) (p - tok);
        bool is_gzip = (n == 4 && strncasecmp(tok, "gzip", 4) == 0) ||
                       (n == 6 && strncasecmp(tok, "x-gzip", 6) == 0);
        double q = 1;
        while (*p && *p != ',') {  /* parameters: only q matters */
            if (*p == ';') {
                p++;
                while (*p == ' ' || *p == '\t')
                    p++;
                if ((*p == 'q' || *p == 'Q') && p[1] == '=')
                    q = strtod(p + 2, NULL);
                continue;
            }
            p++;
        }
        if (is_gzip)
            return q > 0;
    }
    return false;
}
