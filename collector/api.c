/* api: libmicrohttpd, one thread per connection (bounded by API_MAX_CONNECTIONS and an
 * idle timeout). Routes are a fixed table; every reply is built as a reply_t and queued in
 * one place, which also counts statusd_api_requests_total{route,code}. The database is one
 * store_t behind a mutex, opened lazily and reconnected at most once a second, so the API
 * (and /metrics, and the page) stays up while PostgreSQL is away. */
#include "api.h"
#include "api_route.h"

#include <errno.h>
#include <microhttpd.h>
#include <netdb.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "auth.h"
#include "badge.h"
#include "channel.h"
#include "channel_curl.h"
#include "openapi_doc.h"
#include "reload.h"
#include "sd_clock.h"
#include "sd_log.h"
#include "sd_utf8.h"
#include "status_cache.h"
#include "status_page.h"
#include "store_api.h"
#include "store_incidents.h"
#include "store_maintenance.h"

#ifndef STATUSD_VERSION
#define STATUSD_VERSION "0.0.0"
#endif

#define API_RECONNECT_MS 1000
#define API_STATEMENT_TIMEOUT_MS 10000
#define EVENTS_LIMIT_DEFAULT 100
#define STATUS_DATA_REFRESH_MS 10000 /* the status page's data is rebuilt at most this often */
#define STATUS_DATA_WAIT_MS 15000    /* the first request waits this long for the first build */
#define WRITE_BODY_MAX 4096     /* bytes of a write request's JSON body; more: 413 */

#define REQS_NAME "statusd_api_requests_total"
#define REQS_HELP "HTTP requests served by the API, by route and status code."
/* the test button waits for the channel's answer at most this long (as the notifier does) */
#define API_TEST_CONNECT_MS 5000
#define API_TEST_TOTAL_MS 15000
#define REJECT_NAME "statusd_api_connections_rejected_total"
#define REJECT_HELP "API connections refused because the connection limit was reached."

struct api_t {
    struct MHD_Daemon *d;
    metrics_t *metrics;
    health_t *health;        /* NULL: only the database is checked */
    bool plaintext;          /* agents speak --insecure-plaintext: said in /api/health */
    const auth_t *tokens;    /* NULL: writes refused with 403 */
    /* the configuration: the assets (receivers of GET /api/assets/{id}), the test button's
     * channels, the routes; each request takes a view of it (s_view), so a reload never
     * changes it under a request */
    const collector_ctx_t *ctx;
    collector_ctx_t ctx_copy;        /* what ctx points to: api_new's argument, copied */
    reload_t *reload;        /* POST /api/reload; NULL: not offered */
    status_cache_t *status;  /* GET /api/status-page/data, built apart and served from memory */
    bool curl_init;          /* curl_global_init was called (api_destroy releases it) */
    char *conninfo;
    pthread_mutex_t db_lock;
    bool db_lock_init;
    store_t *store;          /* guarded by db_lock */
    sd_ms_t next_connect_ms; /* guarded by db_lock */
    bool db_down_logged;     /* guarded by db_lock */
    atomic_bool drop_logged;
    atomic_bool limit_logged;
    int port;
};

/* A write request's body, collected over libmicrohttpd's calls (freed when it completes). */
typedef struct {
    char buf[WRITE_BODY_MAX];
    size_t len;
    bool too_big;
} body_t;

/* The write body lives in the connection's socket context (a conn_t made when the
 * connection opens, freed when it closes), so an aborted upload cannot leak it. */
typedef struct {
    body_t *body;
} conn_t;

typedef struct {
    int status;
    char *body;           /* malloc'd unless body_static */
    const char *static_body;
    size_t len;
    const char *ctype;
    const char *allow;    /* Allow header of a 405, else NULL */
    bool www_auth;        /* WWW-Authenticate header of a 401 */
    bool is_page;
    const char *cache;    /* Cache-Control; NULL: no-store */
    bool gzip;            /* body is gzip-compressed: Content-Encoding: gzip */
    bool vary;            /* the body depends on Accept-Encoding */
} reply_t;

/* --- replies -------------------------------------------------------------- */

static void s_reply_json(reply_t *r, int status, json_t *v)
{
    /* 15 significant digits: 0.984 stays 0.984 (17 would print 0.98399999999999999) */
    char *s = v ? json_dumps(v, JSON_COMPACT | JSON_REAL_PRECISION(15)) : NULL;
    json_decref(v);
    if (!s) {
        status = MHD_HTTP_INTERNAL_SERVER_ERROR;
        r->static_body = "{\"error\":\"out of memory\"}";
        r->len = strlen(r->static_body);
    } else {
        r->body = s;
        r->len = strlen(s);
    }
    r->status = status;
    r->ctype = "application/json";
}

static void s_reply_error(reply_t *r, int status, const char *msg)
{
    s_reply_json(r, status, json_pack("{s:s}", "error", msg));
}

/* --- database ------------------------------------------------------------- */

/* Makes api->store usable; 0 or -EIO. Called with db_lock held. Connection attempts are
 * at most one per API_RECONNECT_MS so a dead database answers fast. */
static int s_db_ready(api_t *api)
{
    sd_ms_t now = sd_mono_ms();
    if (api->store && PQstatus(store_conn(api->store)) == CONNECTION_OK)
        return 0;
    if (now < api->next_connect_ms)
        return -EIO;
    int rc = 0;
    char err[256] = "";
    if (!api->store) {
        api->store = store_new(api->conninfo, err, sizeof err);
        rc = api->store ? 0 : -EIO;
    } else {
        rc = store_ensure(api->store);
        if (rc)
            snprintf(err, sizeof err, "reconnect failed");
    }
    /* a slow query must not hold the lock (and every request behind it) for long */
    if (rc == 0 && store_api_session_setup(api->store, API_STATEMENT_TIMEOUT_MS) != 0) {
        snprintf(err, sizeof err, "cannot set statement_timeout");
        rc = -EIO;
    }
    if (rc) {
        for (char *c = err; *c; c++) /* libpq messages span lines; a log line does not */
            if (*c == '\n' || *c == '\t')
                *c = ' ';
        api->next_connect_ms = now + API_RECONNECT_MS;
        if (!api->db_down_logged)
            sd_warn("api", "database unreachable err=\"%s\"", err);
        api->db_down_logged = true;
        return -EIO;
    }
    if (api->db_down_logged)
        sd_info("api", "database reachable again");
    api->db_down_logged = false;
    return 0;
}

typedef struct {
    route_t route;
    const char *asset_id;
    int limit;
    bool open_only;
    int64_t incident_id;
    const char *token_fp, *by, *note;   /* ROUTE_ACK */
    bool write;                         /* ROUTE_MAINTENANCE: create; _ONE: end */
    const char *const *asset_ids;       /* ROUTE_MAINTENANCE create; NULL = every asset */
    size_t n_assets;
    int64_t start_ms, end_ms;           /* also ROUTE_UPTIME: from, to */
    const char *reason;
    const char *window;                 /* ROUTE_BADGE_UPTIME: "30d" ... */
} query_t;

/* Creates (ROUTE_MAINTENANCE) or ends (ROUTE_MAINTENANCE_ONE) a window and reads it back
 * in one transaction: a retry after a lost connection never finds half of it done. */
static int s_maint_write(store_t *s, const query_t *q, json_t **out, char *err, size_t errlen)
{
    int64_t id = q->incident_id;
    int rc = store_begin(s, err, errlen);
    if (rc == 0)
        rc = q->route == ROUTE_MAINTENANCE
                 ? store_maintenance_create(s, q->asset_ids, q->n_assets, q->start_ms, q->end_ms,
                                            q->reason, q->token_fp, &id, err, errlen)
                 : store_maintenance_end(s, id, err, errlen);
    json_t *w = NULL;
    if (rc == 0)
        rc = store_api_maintenance_window(s, id, &w, err, errlen);
    if (rc == 0)
        rc = store_commit(s, err, errlen);
    if (rc != 0) {
        store_rollback(s);
        json_decref(w);
        return rc;
    }
    *out = w;
    return 0;
}

static int s_run_query(store_t *s, const query_t *q, json_t **out, char *err, size_t errlen)
{
    int rc;
    switch (q->route) {
    case ROUTE_HEALTH:
        return store_api_health(s);
    case ROUTE_ASSETS:
        return store_api_assets(s, out, err, errlen);
    case ROUTE_ASSET:
        return store_api_asset(s, q->asset_id, out, err, errlen);
    case ROUTE_EVENTS:
        return store_api_events(s, q->asset_id, q->limit, out, err, errlen);
    case ROUTE_UPTIME:
    case ROUTE_BADGE_UPTIME:
        return store_api_uptime(s, q->asset_id, q->start_ms, q->end_ms, out, err, errlen);
    case ROUTE_UPTIME_ALL:
        return store_api_uptime_all(s, q->start_ms, q->end_ms, out, err, errlen);
    case ROUTE_BADGE_STATUS:
        return store_api_asset_state(s, q->asset_id, out, err, errlen);
    case ROUTE_INCIDENTS:
        return store_api_incidents(s, q->open_only, out, err, errlen);
    case ROUTE_INCIDENT:
        return store_api_incident(s, q->incident_id, out, err, errlen);
    case ROUTE_ACK:
        rc = store_incidents_ack(s, q->incident_id, q->token_fp, q->by, q->note, err, errlen);
        return rc ? rc : store_api_incident(s, q->incident_id, out, err, errlen);
    case ROUTE_AGENTS:
        return store_api_agents(s, out, err, errlen);
    case ROUTE_MAINTENANCE:
        return q->write ? s_maint_write(s, q, out, err, errlen)
                        : store_api_maintenance_list(s, out, err, errlen);
    case ROUTE_MAINTENANCE_ONE:
        return s_maint_write(s, q, out, err, errlen);
    default:
        return -EINVAL;
    }
}

/* Runs one query under the lock; a query that failed because the connection died is
 * retried once on a fresh connection. */
static int s_query(api_t *api, const query_t *q, json_t **out, char *err, size_t errlen)
{
    pthread_mutex_lock(&api->db_lock);
    int rc = s_db_ready(api);
    if (rc == 0) {
        rc = s_run_query(api->store, q, out, err, errlen);
        if (rc == -EIO && PQstatus(store_conn(api->store)) != CONNECTION_OK) {
            api->next_connect_ms = 0;
            rc = s_db_ready(api);
            if (rc == 0)
                rc = s_run_query(api->store, q, out, err, errlen);
        }
    } else {
        snprintf(err, errlen, "database unreachable");
        rc = -ENOTCONN; /* already logged once per outage by s_db_ready */
    }
    pthread_mutex_unlock(&api->db_lock);
    return rc;
}

/* --- routes --------------------------------------------------------------- */

/* 200 when the database answers and every part of the collector is healthy (health.h),
 * else 503 naming the parts that are not, with why. */
static void s_do_health(api_t *api, reply_t *r)
{
    query_t q = {.route = ROUTE_HEALTH};
    char err[256] = "";
    bool db = s_query(api, &q, NULL, err, sizeof err) == 0;
    json_t *report = NULL;
    bool parts = health_check(api->health, sd_mono_ms(), &report);
    if (!report)
        report = json_pack("{s:s, s:[]}", "status", "healthy", "unhealthy");
    bool ok = db && parts;
    json_object_set_new(report, "status", json_string(ok ? "healthy" : "unhealthy"));
    json_object_set_new(report, "version", json_string(STATUSD_VERSION));
    json_object_set_new(report, "database", json_string(db ? "ok" : "unreachable"));
    json_object_set_new(report, "agent_transport",
                        json_string(api->plaintext ? "insecure-plaintext" : "curve"));
    if (api->plaintext)
        json_object_set_new(report, "warning",
                            json_string("INSECURE: agents connect with --insecure-plaintext: "
                                        "anyone who reaches the agent port can speak as any "
                                        "agent and read every assignment"));
    if (!db)
        json_array_append_new(json_object_get(report, "unhealthy"), json_string("database"));
    s_reply_json(r, ok ? MHD_HTTP_OK : MHD_HTTP_SERVICE_UNAVAILABLE, report);
}

/* The receivers of asset_id per manifest m and notifiers n, into out. */
static void s_add_receivers_of(const sd_manifest_t *m, const sd_notifiers_t *nf,
                               const char *asset_id, json_t *out)
{
    const sd_asset_t *a = sd_manifest_find(m, asset_id);
    if (!a || !json_is_object(out))
        return;
    json_t *rcv = json_object();
    for (int down = 1; rcv && down >= 0; down--) {
        const char **names = NULL;
        size_t n = 0;
        json_t *arr = json_array();
        if (sd_notifiers_route(nf, a, down, &names, &n) == 0)
            for (size_t i = 0; arr && i < n; i++)
                json_array_append_new(arr, json_string(names[i]));
        free(names);
        json_object_set_new(rcv, down ? "onDown" : "onRecovery", arr);
    }
    json_object_set_new(out, "receivers", rcv);
}

/* The configuration one request reads (config_view_release it). */
static void s_view(const api_t *api, config_view_t *v)
{
    collector_view(api->ctx, v);
}

/* GET /api/assets/{id}: where its pages go ("receivers": the notifiers of its routes). */
static void s_add_receivers(const api_t *api, const char *asset_id, json_t *out)
{
    config_view_t v;
    s_view(api, &v);
    s_add_receivers_of(v.manifest, v.notifiers, asset_id, out);
    config_view_release(&v);
}

/* The badge of a status or uptime answer (taken): an SVG image, cached briefly. */
static void s_reply_badge(reply_t *r, const query_t *q, json_t *out)
{
    char msg[32], label[32];
    const char *color;
    if (q->route == ROUTE_BADGE_STATUS) {
        const char *state = json_string_value(json_object_get(out, "state"));
        snprintf(label, sizeof label, "status");
        snprintf(msg, sizeof msg, "%s", badge_state_message(state));
        color = badge_state_color(state);
        r->cache = "max-age=30";
    } else {
        json_t *u = json_object_get(out, "uptime");
        badge_uptime(json_is_number(u) ? json_number_value(u) : -1, msg, sizeof msg, &color);
        snprintf(label, sizeof label, "uptime %s", q->window);
        r->cache = "max-age=300";
    }
    json_decref(out);
    r->body = badge_svg(label, msg, color);
    if (!r->body) {
        s_reply_error(r, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory");
        r->cache = NULL;
        return;
    }
    r->len = strlen(r->body);
    r->status = MHD_HTTP_OK;
    r->ctype = "image/svg+xml; charset=utf-8";
}

static void s_do_query(api_t *api, const query_t *q, reply_t *r)
{
    json_t *out = NULL;
    char err[512] = "";
    int rc = s_query(api, q, &out, err, sizeof err);
    if (rc == 0 && q->route == ROUTE_ASSET)
        s_add_receivers(api, q->asset_id, out);
    if (rc == 0 && (q->route == ROUTE_BADGE_STATUS || q->route == ROUTE_BADGE_UPTIME))
        s_reply_badge(r, q, out);
    else if (rc == 0)
        s_reply_json(r, MHD_HTTP_OK, out);
    else if (rc == -ENOENT && q->route == ROUTE_MAINTENANCE)
        s_reply_error(r, MHD_HTTP_BAD_REQUEST, err); /* unknown asset ids */
    else if (rc == -ENOENT)
        s_reply_error(r, MHD_HTTP_NOT_FOUND,
                      q->route == ROUTE_EVENTS || q->route == ROUTE_ASSET ||
                              q->route == ROUTE_UPTIME || q->route == ROUTE_BADGE_STATUS ||
                              q->route == ROUTE_BADGE_UPTIME
                          ? "asset not found"
                      : q->route == ROUTE_MAINTENANCE_ONE ? "maintenance window not found"
                                                          : "incident not found");
    else if (rc == -EALREADY || rc == -ESRCH || rc == -EPERM || rc == -ENOSPC)
        s_reply_error(r, MHD_HTTP_CONFLICT, err);
    else {
        if (rc != -ENOTCONN)
            sd_warn("api", "query failed route=%s err=\"%s\"", api_route_label(q->route), err);
        s_reply_error(r, MHD_HTTP_INTERNAL_SERVER_ERROR,
                      rc == -EIO || rc == -ENOTCONN ? "database unavailable" : "internal error");
    }
}

/* Optional {"by": "...", "note": "..."}; false (with a 400 reply) when malformed. */
static bool s_ack_body(const body_t *b, json_t **doc, const char **by, const char **note,
                       reply_t *r)
{
    const char *why = api_route_ack_body(b ? b->buf : NULL, b ? b->len : 0, doc, by, note);
    if (why)
        s_reply_error(r, MHD_HTTP_BAD_REQUEST, why);
    return why == NULL;
}

/* The write gate: true with fp set when a valid token came; otherwise the 403/401 reply. */
static bool s_authorize(api_t *api, struct MHD_Connection *c, char *fp, reply_t *r)
{
    const char *authz =
        MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION);
    switch (auth_check(api->tokens, authz, fp)) {
    case AUTH_DISABLED:
        s_reply_error(r, MHD_HTTP_FORBIDDEN,
                      "writes are disabled: start statusd-collector with --api-token-file PATH "
                      "(one token per line) and send \"Authorization: Bearer <token>\"");
        return false;
    case AUTH_MISSING:
    case AUTH_INVALID:
        s_reply_error(r, MHD_HTTP_UNAUTHORIZED,
                      "a valid \"Authorization: Bearer <token>\" header is required");
        r->www_auth = true;
        return false;
    case AUTH_OK:
        break;
    }
    return true;
}

/* The maintenance body into q (api_route_maint_body); false (with a 400 reply) when
 * malformed. ids points into doc. */
static bool s_maint_body(const body_t *b, json_t **doc, const char **ids, query_t *q,
                         reply_t *r)
{
    api_maint_t m = {0};
    const char *why = api_route_maint_body(b ? b->buf : NULL, b ? b->len : 0, sd_wall_ms(),
                                           doc, ids, &m);
    q->asset_ids = m.asset_ids;
    q->n_assets = m.n_assets;
    q->start_ms = m.start_ms;
    q->end_ms = m.end_ms;
    q->reason = m.reason;
    if (why)
        s_reply_error(r, MHD_HTTP_BAD_REQUEST, why);
    return why == NULL;
}

/* GET /api/maintenance lists; POST creates (token first, then the body); DELETE
 * /api/maintenance/{id} ends one. */
static void s_do_maintenance(api_t *api, struct MHD_Connection *c, route_t route,
                             const char *method, const char *id, size_t id_len,
                             const body_t *body, reply_t *r)
{
    query_t q = {.route = route};
    char fp[AUTH_FP_LEN + 1] = "";
    if (route == ROUTE_MAINTENANCE && strcmp(method, MHD_HTTP_METHOD_POST) != 0) {
        s_do_query(api, &q, r);
        return;
    }
    if (!s_authorize(api, c, fp, r))
        return;
    q.write = true;
    q.token_fp = fp;
    if (route == ROUTE_MAINTENANCE_ONE) {
        q.incident_id = api_route_number(id, id_len);
        if (q.incident_id < 0) {
            s_reply_error(r, MHD_HTTP_NOT_FOUND, "maintenance window not found");
            return;
        }
        s_do_query(api, &q, r);
        if (r->status == MHD_HTTP_OK)
            sd_info("api", "maintenance window ended id=%lld token=%s", (long long) q.incident_id,
                    fp);
        return;
    }
    if (body && body->too_big) {
        s_reply_error(r, MHD_HTTP_CONTENT_TOO_LARGE, "request body larger than 4096 bytes");
        return;
    }
    const char **ids = calloc(MAINT_MAX_ASSETS, sizeof *ids);
    json_t *doc = NULL;
    if (!ids) {
        s_reply_error(r, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory");
    } else if (s_maint_body(body, &doc, ids, &q, r)) {
        s_do_query(api, &q, r);
        if (r->status == MHD_HTTP_OK) {
            r->status = MHD_HTTP_CREATED;
            sd_info("api", "maintenance window created assets=%zu%s token=%s reason=\"%s\"",
                    q.n_assets, q.asset_ids ? "" : " (all)", fp, q.reason ? q.reason : "");
        }
    }
    json_decref(doc);
    free(ids);
}

/* POST /api/incidents/{id}/ack: token first (nothing about the incident leaks without
 * one), then the id and the body. */
static void s_do_ack(api_t *api, struct MHD_Connection *c, const char *id, size_t id_len,
                     const body_t *body, reply_t *r)
{
    char fp[AUTH_FP_LEN + 1] = "";
    if (!s_authorize(api, c, fp, r))
        return;
    query_t q = {.route = ROUTE_ACK, .incident_id = api_route_number(id, id_len), .token_fp = fp};
    json_t *doc = NULL;
    if (q.incident_id < 0) {
        s_reply_error(r, MHD_HTTP_NOT_FOUND, "incident not found");
    } else if (body && body->too_big) {
        s_reply_error(r, MHD_HTTP_CONTENT_TOO_LARGE, "request body larger than 4096 bytes");
    } else if (s_ack_body(body, &doc, &q.by, &q.note, r)) {
        s_do_query(api, &q, r);
        if (r->status == MHD_HTTP_OK)
            sd_info("api", "incident acknowledged incident=%lld token=%s by=%s",
                    (long long) q.incident_id, fp, q.by ? q.by : "-");
    }
    json_decref(doc);
}

/* POST /api/notifiers/{name}/test: a TEST message through the notifier's real channel
 * (channel_curl.h), the channel's answer in the reply. Token first: nothing about the
 * notifiers leaks without one. The secrets never appear in the reply. */
static void s_do_notifier_test(api_t *api, struct MHD_Connection *c, const char *id,
                               size_t id_len, reply_t *r)
{
    char fp[AUTH_FP_LEN + 1] = "", name[SD_CONFIG_ID_MAX * 4 + 1];
    if (!s_authorize(api, c, fp, r))
        return;
    const sd_notifier_conf_t *nc = NULL;
    config_view_t v; /* held until the answer: a reload meanwhile does not free nc */
    s_view(api, &v);
    if (id_len > 0 && id_len < sizeof name && !memchr(id, '/', id_len) &&
        sd_utf8_valid(id, id_len)) {
        memcpy(name, id, id_len);
        name[id_len] = 0;
        nc = sd_notifiers_find(v.notifiers, name);
    }
    if (!nc) {
        config_view_release(&v);
        s_reply_error(r, MHD_HTTP_NOT_FOUND, "notifier not found");
        return;
    }
    json_t *ev = channel_test_event(nc->name, sd_wall_ms());
    channel_outcome_t o;
    char answer[512] = "";
    sd_ms_t t0 = sd_mono_ms();
    if (!ev) {
        config_view_release(&v);
        s_reply_error(r, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory");
        return;
    }
    channel_curl_send_now(nc, ev, API_TEST_CONNECT_MS, API_TEST_TOTAL_MS, &o, answer,
                          sizeof answer);
    json_decref(ev);
    static const char *const verdicts[] = {"sent", "retry", "dead"};
    json_t *out = json_pack("{s:s, s:s, s:b, s:s, s:s, s:s, s:I}", "notifier", nc->name, "type",
                            nc->type, "delivered", o.verdict == CHANNEL_SENT, "verdict",
                            verdicts[o.verdict], "reason", o.reason, "answer", answer, "ms",
                            (json_int_t) (sd_mono_ms() - t0));
    sd_info("api", "notifier test notifier=%s type=%s verdict=%s reason=%s token=%s answer=\"%s\"",
            nc->name, nc->type, verdicts[o.verdict], o.reason, fp, answer);
    config_view_release(&v);
    s_reply_json(r, MHD_HTTP_OK, out);
}

/* POST /api/reload: token first, then the reload itself (reload.h; serialized, logged
 * there). 200 with what changed; 422 with "file:line:col: field: message" when a file is
 * refused, 503 when the database cannot take the new assets: the old configuration stays. */
static void s_do_reload(api_t *api, struct MHD_Connection *c, reply_t *r)
{
    char fp[AUTH_FP_LEN + 1] = "";
    if (!s_authorize(api, c, fp, r))
        return;
    if (!api->reload) {
        s_reply_error(r, MHD_HTTP_SERVICE_UNAVAILABLE, "reload is not available");
        return;
    }
    sd_info("api", "reload requested token=%s", fp);
    reload_result_t *res = malloc(sizeof *res);
    if (!res) {
        s_reply_error(r, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory");
        return;
    }
    reload_status_t st = reload_run(api->reload, "api", res);
    if (st == RELOAD_OK) {
        const config_diff_t *d = &res->diff;
        s_reply_json(r, MHD_HTTP_OK,
                     json_pack("{s:b, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:b, s:b}", "reloaded",
                               1, "generation", (json_int_t) res->generation, "assetsAdded",
                               (json_int_t) d->assets_added, "assetsRemoved",
                               (json_int_t) d->assets_removed, "assetsChanged",
                               (json_int_t) d->assets_changed, "notifiersAdded",
                               (json_int_t) d->notifiers_added, "notifiersRemoved",
                               (json_int_t) d->notifiers_removed, "notifiersChanged",
                               (json_int_t) d->notifiers_changed, "policyChanged",
                               d->policy_changed, "maintenanceChanged",
                               d->maintenance_changed));
    } else {
        s_reply_error(r, st == RELOAD_INVALID ? 422
                                              : MHD_HTTP_SERVICE_UNAVAILABLE,
                      res->error);
    }
    free(res);
}

static void s_do_metrics(api_t *api, reply_t *r)
{
    uint64_t dropped = metrics_series_dropped(api->metrics);
    if (dropped && !atomic_exchange(&api->drop_logged, true))
        sd_warn("api", "metrics series bound reached, new series dropped dropped=%llu",
                (unsigned long long) dropped);
    health_export(api->health, api->metrics);
    char *text = metrics_render(api->metrics);
    if (!text) {
        s_reply_error(r, MHD_HTTP_INTERNAL_SERVER_ERROR, "cannot render metrics");
        return;
    }
    r->status = MHD_HTTP_OK;
    r->body = text;
    r->len = strlen(text);
    r->ctype = "text/plain; version=0.0.4; charset=utf-8";
}

/* The manifest's statusPage settings: {title, description, groupBy, showAddresses,
 * demoNotice}. */
static json_t *s_page_settings(const sd_manifest_t *m)
{
    return json_pack("{s:s, s:s?, s:s?, s:b, s:s?}", "title",
                     m && m->page_title ? m->page_title : "StatusD", "description",
                     m ? m->page_description : NULL, "groupBy", m ? m->page_group_by : NULL,
                     "showAddresses", m && m->page_show_addresses, "demoNotice",
                     m ? m->page_demo_notice : NULL);
}

/* Everything the status page shows, from the cache's latest snapshot (status_cache.h). */
static void s_do_status_data(api_t *api, struct MHD_Connection *c, reply_t *r)
{
    config_view_t v;
    s_view(api, &v);
    json_t *page = s_page_settings(v.manifest);
    config_view_release(&v);
    char err[256] = "";
    char *body = NULL;
    size_t len = 0;
    /* gzip when the client takes it (browsers do): a tenth of the bytes */
    const char *ae = MHD_lookup_connection_value(c, MHD_HEADER_KIND,
                                                 MHD_HTTP_HEADER_ACCEPT_ENCODING);
    bool gzip = api_route_accepts_gzip(ae);
    int rc = page && api->status ? status_cache_get(api->status, page, STATUS_DATA_WAIT_MS,
                                                    &gzip, &body, &len, err, sizeof err)
                                 : -ENOMEM;
    json_decref(page);
    if (rc != 0) {
        /* the page is public: the cause (a libpq message naming hosts and users) goes to the
         * log only (status_cache logs it once per new message) */
        s_reply_error(r, MHD_HTTP_SERVICE_UNAVAILABLE,
                      rc == -EAGAIN ? "the status page data is not ready yet"
                                    : "the status page data is not available");
        return;
    }
    r->status = MHD_HTTP_OK;
    r->body = body;
    r->len = len;
    r->ctype = "application/json";
    r->gzip = gzip;
    r->vary = true;
}

/* The ?from=&to= of the uptime routes into q (api_route_uptime_range); false after a 400. */
static bool s_uptime_range(struct MHD_Connection *c, query_t *q, reply_t *r)
{
    const char *why = api_route_uptime_range(
        MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "from"),
        MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "to"), sd_wall_ms(),
        &q->start_ms, &q->end_ms);
    if (why)
        s_reply_error(r, MHD_HTTP_BAD_REQUEST, why);
    return !why;
}

static void s_dispatch(api_t *api, struct MHD_Connection *c, route_t route, const char *method,
                       const char *id, size_t id_len, const body_t *body, reply_t *r)
{
    query_t q = {.route = route};
    char idbuf[API_MAX_ID_LEN + 1];
    switch (route) {
    case ROUTE_PAGE:
        r->status = MHD_HTTP_OK;
        r->static_body = status_page_html(&r->len);
        r->ctype = "text/html; charset=utf-8";
        r->is_page = true;
        return;
    case ROUTE_METRICS:
        s_do_metrics(api, r);
        return;
    case ROUTE_OPENAPI: /* docs/openapi.json, compiled in */
        r->status = MHD_HTTP_OK;
        r->static_body = (const char *) openapi_doc;
        r->len = openapi_doc_len;
        r->ctype = "application/json";
        return;
    case ROUTE_HEALTH:
        s_do_health(api, r);
        return;
    case ROUTE_ASSETS:
        s_do_query(api, &q, r);
        return;
    case ROUTE_ASSET:
        if (!api_route_asset_id(id, id_len, idbuf, sizeof idbuf)) {
            s_reply_error(r, MHD_HTTP_NOT_FOUND, "asset not found");
            return;
        }
        q.asset_id = idbuf;
        s_do_query(api, &q, r);
        return;
    case ROUTE_EVENTS: {
        if (!api_route_asset_id(id, id_len, idbuf, sizeof idbuf)) {
            s_reply_error(r, MHD_HTTP_NOT_FOUND, "asset not found");
            return;
        }
        const char *lim = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "limit");
        q.asset_id = idbuf;
        q.limit = lim ? api_route_limit(lim) : EVENTS_LIMIT_DEFAULT;
        if (q.limit < 0) {
            s_reply_error(r, MHD_HTTP_BAD_REQUEST, "limit must be an integer from 1 to 1000");
            return;
        }
        s_do_query(api, &q, r);
        return;
    }
    case ROUTE_UPTIME: {
        if (!api_route_asset_id(id, id_len, idbuf, sizeof idbuf)) {
            s_reply_error(r, MHD_HTTP_NOT_FOUND, "asset not found");
            return;
        }
        if (!s_uptime_range(c, &q, r))
            return;
        q.asset_id = idbuf;
        s_do_query(api, &q, r);
        return;
    }
    case ROUTE_UPTIME_ALL: {
        if (!s_uptime_range(c, &q, r))
            return;
        s_do_query(api, &q, r);
        return;
    }
    case ROUTE_STATUS_PAGE: { /* the manifest's statusPage settings (no database) */
        config_view_t v;
        s_view(api, &v);
        s_reply_json(r, MHD_HTTP_OK, s_page_settings(v.manifest));
        config_view_release(&v);
        return;
    }
    case ROUTE_STATUS_DATA:
        s_do_status_data(api, c, r);
        return;
    case ROUTE_BADGE_STATUS:
    case ROUTE_BADGE_UPTIME: {
        if (!api_route_asset_id(id, id_len, idbuf, sizeof idbuf)) {
            s_reply_error(r, MHD_HTTP_NOT_FOUND, "asset not found");
            return;
        }
        const char *w = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "window");
        int secs = api_route_badge_window(w);
        if (route == ROUTE_BADGE_UPTIME && secs < 0) {
            s_reply_error(r, MHD_HTTP_BAD_REQUEST, "window must be 24h, 7d, 30d or 90d");
            return;
        }
        q.asset_id = idbuf;
        q.window = w ? w : "30d";
        q.end_ms = sd_wall_ms();
        q.start_ms = q.end_ms - (int64_t) secs * 1000;
        s_do_query(api, &q, r);
        return;
    }
    case ROUTE_INCIDENTS: {
        const char *st = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "state");
        if (st && strcmp(st, "open") != 0 && strcmp(st, "all") != 0) {
            s_reply_error(r, MHD_HTTP_BAD_REQUEST, "state must be \"open\" or \"all\"");
            return;
        }
        q.open_only = !st || strcmp(st, "open") == 0;
        s_do_query(api, &q, r);
        return;
    }
    case ROUTE_INCIDENT:
        q.incident_id = api_route_number(id, id_len);
        if (q.incident_id < 0)
            s_reply_error(r, MHD_HTTP_NOT_FOUND, "incident not found");
        else
            s_do_query(api, &q, r);
        return;
    case ROUTE_AGENTS:
        s_do_query(api, &q, r);
        return;
    case ROUTE_ACK:
        s_do_ack(api, c, id, id_len, body, r);
        return;
    case ROUTE_NOTIFIER_TEST:
        s_do_notifier_test(api, c, id, id_len, r);
        return;
    case ROUTE_RELOAD:
        s_do_reload(api, c, r);
        return;
    case ROUTE_MAINTENANCE:
    case ROUTE_MAINTENANCE_ONE:
        s_do_maintenance(api, c, route, method, id, id_len, body, r);
        return;
    case ROUTE_UNKNOWN:
        break;
    }
    s_reply_error(r, MHD_HTTP_NOT_FOUND, "not found");
}

static enum MHD_Result s_queue(struct MHD_Connection *c, reply_t *r)
{
    struct MHD_Response *resp;
    if (r->body)
        resp = MHD_create_response_from_buffer(r->len, r->body, MHD_RESPMEM_MUST_FREE);
    else
        resp = MHD_create_response_from_buffer(r->len, (void *) r->static_body,
                                               MHD_RESPMEM_PERSISTENT);
    if (!resp) {
        free(r->body);
        return MHD_NO;
    }
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, r->ctype);
    MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, r->cache ? r->cache : "no-store");
    if (r->allow)
        MHD_add_response_header(resp, MHD_HTTP_HEADER_ALLOW, r->allow);
    if (r->gzip)
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_ENCODING, "gzip");
    if (r->vary)
        MHD_add_response_header(resp, MHD_HTTP_HEADER_VARY, "Accept-Encoding");
    if (r->www_auth)
        MHD_add_response_header(resp, MHD_HTTP_HEADER_WWW_AUTHENTICATE, "Bearer realm=\"statusd\"");
    if (r->is_page)
        MHD_add_response_header(resp, "Content-Security-Policy", status_page_csp());
    enum MHD_Result ret = MHD_queue_response(c, (unsigned) r->status, resp);
    MHD_destroy_response(resp);
    return ret;
}

/* A read is answered on its first call. A write (POST to a write route) is answered once
 * its body is in: libmicrohttpd calls again for each chunk and once more with none; the
 * body is kept up to WRITE_BODY_MAX bytes (more is read, dropped and answered with 413).
 * A body sent to any other route is not read (MHD then closes the connection). */
static enum MHD_Result s_handle(void *cls, struct MHD_Connection *c, const char *url,
                                const char *method, const char *version,
                                const char *upload_data, size_t *upload_data_size,
                                void **con_cls)
{
    api_t *api = cls;
    const char *id = NULL;
    size_t id_len = 0;
    route_t route = api_route(url ? url : "", &id, &id_len);
    reply_t r = {0};
    bool is_get = strcmp(method, MHD_HTTP_METHOD_GET) == 0 ||
                  strcmp(method, MHD_HTTP_METHOD_HEAD) == 0;
    bool is_post = strcmp(method, MHD_HTTP_METHOD_POST) == 0;
    bool is_write, method_ok;
    const char *allow = "GET, HEAD";
    if (route == ROUTE_ACK || route == ROUTE_NOTIFIER_TEST || route == ROUTE_RELOAD) {
        is_write = method_ok = is_post;
        allow = "POST";
    } else if (route == ROUTE_MAINTENANCE_ONE) {
        is_write = method_ok = strcmp(method, MHD_HTTP_METHOD_DELETE) == 0;
        allow = "DELETE";
    } else if (route == ROUTE_MAINTENANCE) {
        is_write = is_post;
        method_ok = is_post || is_get;
        allow = "GET, HEAD, POST";
    } else {
        is_write = false;
        method_ok = is_get;
    }
    body_t *body = *con_cls;
    if (is_write && method_ok) {
        if (!body) {
            const union MHD_ConnectionInfo *ci =
                MHD_get_connection_info(c, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
            conn_t *cn = ci ? ci->socket_context : NULL;
            if (!cn)
                return MHD_NO;
            if (!cn->body && !(cn->body = malloc(sizeof *cn->body)))
                return MHD_NO;
            body = cn->body;
            memset(body, 0, sizeof *body);
            *con_cls = body; /* a keep-alive connection's next request starts afresh */
            return MHD_YES;
        }
        if (*upload_data_size > 0) {
            size_t n = *upload_data_size;
            if (body->len + n > WRITE_BODY_MAX) {
                body->too_big = true;
            } else {
                memcpy(body->buf + body->len, upload_data, n);
                body->len += n;
            }
            *upload_data_size = 0;
            return MHD_YES;
        }
    }
    if (route != ROUTE_UNKNOWN && !method_ok) {
        s_reply_error(&r, MHD_HTTP_METHOD_NOT_ALLOWED, "method not allowed");
        r.allow = allow;
    } else {
        s_dispatch(api, c, route, method, id, id_len, body, &r);
    }
    char code[8];
    snprintf(code, sizeof code, "%d", r.status);
    metrics_add(api->metrics, REQS_NAME, REQS_HELP,
                (const char *const[]){"route", api_route_label(route), "code", code, NULL}, 1);
    return s_queue(c, &r);
}

static void s_conn_notify(void *cls, struct MHD_Connection *c, void **socket_context,
                          enum MHD_ConnectionNotificationCode code)
{
    if (code == MHD_CONNECTION_NOTIFY_STARTED) {
        *socket_context = calloc(1, sizeof(conn_t));
    } else if (code == MHD_CONNECTION_NOTIFY_CLOSED && *socket_context) {
        conn_t *cn = *socket_context;
        free(cn->body);
        free(cn);
        *socket_context = NULL;
    }
}

__attribute__((format(printf, 2, 0))) static void s_mhd_log(void *cls, const char *fmt,
                                                             va_list ap)
{
    api_t *api = cls;
    if (strstr(fmt, "connection limit")) {
        metrics_add(api->metrics, REJECT_NAME, REJECT_HELP, NULL, 1);
        if (!atomic_exchange(&api->limit_logged, true))
            sd_warn("api", "connection limit reached, refusing connections limit=%d",
                    API_MAX_CONNECTIONS);
        return;
    }
    char line[512];
    vsnprintf(line, sizeof line, fmt, ap);
    line[strcspn(line, "\n")] = 0;
    sd_debug("api", "mhd: %s", line);
}

/* --- lifecycle ------------------------------------------------------------ */

static struct MHD_Daemon *s_start(api_t *api, unsigned flags, uint16_t port,
                                  const struct sockaddr *sa)
{
    flags |= MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION |
             MHD_USE_ERROR_LOG;
    if (sa)
        return MHD_start_daemon(flags, port, NULL, NULL, s_handle, api,
                                MHD_OPTION_EXTERNAL_LOGGER, s_mhd_log, api,
                                MHD_OPTION_CONNECTION_LIMIT, (unsigned) API_MAX_CONNECTIONS,
                                MHD_OPTION_CONNECTION_TIMEOUT, (unsigned) API_CONNECTION_TIMEOUT_S,
                                MHD_OPTION_NOTIFY_CONNECTION, s_conn_notify, NULL,
                                MHD_OPTION_SOCK_ADDR, sa, MHD_OPTION_END);
    return MHD_start_daemon(flags, port, NULL, NULL, s_handle, api,
                            MHD_OPTION_EXTERNAL_LOGGER, s_mhd_log, api,
                            MHD_OPTION_CONNECTION_LIMIT, (unsigned) API_MAX_CONNECTIONS,
                            MHD_OPTION_CONNECTION_TIMEOUT, (unsigned) API_CONNECTION_TIMEOUT_S,
                            MHD_OPTION_NOTIFY_CONNECTION, s_conn_notify, NULL, MHD_OPTION_END);
}

static int s_listen(api_t *api, const char *bind_addr, int port, char *err, size_t errlen)
{
    if (!bind_addr || !*bind_addr) {
        /* all interfaces, IPv6 too where the host has it */
        api->d = s_start(api, MHD_USE_DUAL_STACK, (uint16_t) port, NULL);
        if (!api->d)
            api->d = s_start(api, 0, (uint16_t) port, NULL);
    } else {
        struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM,
                                 .ai_flags = AI_PASSIVE | AI_NUMERICSERV};
        struct addrinfo *ai = NULL;
        char ps[8];
        snprintf(ps, sizeof ps, "%d", port);
        int grc = getaddrinfo(bind_addr, ps, &hints, &ai);
        if (grc != 0) {
            snprintf(err, errlen, "api bind address %s: %s", bind_addr, gai_strerror(grc));
            return -EINVAL;
        }
        api->d = s_start(api, ai->ai_family == AF_INET6 ? MHD_USE_IPv6 : 0, (uint16_t) port,
                         ai->ai_addr);
        freeaddrinfo(ai);
    }
    if (!api->d) {
        snprintf(err, errlen, "api: cannot listen on %s port %d", bind_addr ? bind_addr : "*",
                 port);
        return -EADDRINUSE;
    }
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(api->d, MHD_DAEMON_INFO_BIND_PORT);
    api->port = info ? info->port : port;
    return 0;
}

api_t *api_new(const collector_ctx_t *ctx, char *err, size_t errlen)
{
    if (!ctx || !ctx->metrics || !ctx->db_conninfo || ctx->api_port < 0 ||
        ctx->api_port > 65535) {
        snprintf(err, errlen, "api: invalid configuration");
        return NULL;
    }
    api_t *api = calloc(1, sizeof *api);
    if (!api) {
        snprintf(err, errlen, "api: out of memory");
        return NULL;
    }
    /* the test button's libcurl: initialised here, in the thread that starts the API
     * (reference counted, released in api_destroy) */
    curl_global_init(CURL_GLOBAL_DEFAULT);
    api->curl_init = true;
    api->metrics = ctx->metrics;
    api->health = ctx->health;
    api->tokens = ctx->api_tokens;
    api->ctx_copy = *ctx;  /* the caller's ctx may be on its stack (the tests' is) */
    api->ctx = &api->ctx_copy;
    api->reload = ctx->reload;
    api->plaintext = ctx->insecure_plaintext;
    api->conninfo = strdup(ctx->db_conninfo);
    if (!api->conninfo || pthread_mutex_init(&api->db_lock, NULL) != 0) {
        snprintf(err, errlen, "api: out of memory");
        api_destroy(&api);
        return NULL;
    }
    api->db_lock_init = true;
    if (!(api->status = status_cache_new(ctx->db_conninfo, STATUS_DATA_REFRESH_MS, err,
                                         errlen))) {
        api_destroy(&api);
        return NULL;
    }
    /* the first database connection is made by the first request that needs it */
    if (s_listen(api, ctx->api_bind_addr, ctx->api_port, err, errlen) != 0) {
        api_destroy(&api);
        return NULL;
    }
    return api;
}

int api_port(const api_t *api)
{
    return api ? api->port : -1;
}

void api_destroy(api_t **p)
{
    if (!p || !*p)
        return;
    api_t *api = *p;
    if (api->d)
        MHD_stop_daemon(api->d); /* joins every connection thread */
    status_cache_destroy(&api->status);
    store_destroy(&api->store);
    if (api->db_lock_init)
        pthread_mutex_destroy(&api->db_lock);
    free(api->conninfo);
    if (api->curl_init)
        curl_global_cleanup();
    free(api);
    *p = NULL;
}
