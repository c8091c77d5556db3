/* fuzz_api: what the REST API makes of a request before the database (collector/api_route.c).
 * Input: the (percent-decoded) path, a newline, the "limit" argument, a newline, the body
 * of a write. The path is routed; its id checked as an asset id and as a number; the limit
 * parsed; the body parsed as an ack body and as a maintenance window. */
#include "api_route.h"
#include "fuzz.h"
#include "sd_utf8.h"

#define NOW_MS 1765000000000LL /* 2025-12-06: the maintenance parser's "now" */

/* The next line of [*p, end) as a NUL-terminated copy; *p moves past its newline. */
static char *s_line(const uint8_t **p, const uint8_t *end)
{
    const uint8_t *nl = memchr(*p, '\n', (size_t) (end - *p));
    size_t n = nl ? (size_t) (nl - *p) : (size_t) (end - *p);
    char *s = fuzz_strndup(*p, n);
    *p += nl ? n + 1 : n;
    return s;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const uint8_t *p = data, *end = data + size;
    char *url = s_line(&p, end), *limit = s_line(&p, end);
    const char *body = (const char *) p;
    size_t body_len = (size_t) (end - p);
    if (!url || !limit)
        goto out;

    const char *id = NULL;
    size_t id_len = 0;
    route_t route = api_route(url, &id, &id_len);
    FUZZ_CHECK(route >= ROUTE_PAGE && route <= ROUTE_UNKNOWN);
    FUZZ_CHECK(api_route_label(route) != NULL && strlen(api_route_label(route)) < 32);
    if (id) {
        FUZZ_CHECK(id >= url && id + id_len <= url + strlen(url));
        char buf[API_MAX_ID_LEN + 1];
        if (api_route_asset_id(id, id_len, buf, sizeof buf)) {
            FUZZ_CHECK(strlen(buf) == id_len && id_len >= 1 && id_len <= API_MAX_ID_LEN);
            FUZZ_CHECK(sd_utf8_valid(buf, id_len) && !strchr(buf, '/'));
        }
        int64_t num = api_route_number(id, id_len);
        FUZZ_CHECK(num == -1 || (num >= 1 && num <= 999999999999999999LL));
    }
    int lim = api_route_limit(limit);
    FUZZ_CHECK(lim == -1 || (lim >= 1 && lim <= EVENTS_LIMIT_MAX));

    json_t *doc = NULL;
    const char *by = NULL, *note = NULL;
    const char *why = api_route_ack_body(body, body_len, &doc, &by, &note);
    if (!why) {
        FUZZ_CHECK(!by || strlen(by) <= ACK_BY_MAX);
        FUZZ_CHECK(!note || strlen(note) <= ACK_NOTE_MAX);
    } else {
        FUZZ_CHECK(*why != 0); /* the message of the 400 reply */
    }
    json_decref(doc);

    const char **ids = calloc(MAINT_MAX_ASSETS, sizeof *ids);
    if (ids) {
        api_maint_t m = {0};
        doc = NULL;
        why = api_route_maint_body(body, body_len, NOW_MS, &doc, ids, &m);
        if (!why) {
            FUZZ_CHECK(m.end_ms > m.start_ms && m.end_ms - m.start_ms <= MAINT_MAX_MS);
            FUZZ_CHECK(m.end_ms > NOW_MS);
            FUZZ_CHECK(!m.reason || strlen(m.reason) <= MAINT_REASON_MAX);
            FUZZ_CHECK(m.asset_ids == NULL || (m.n_assets >= 1 && m.n_assets <= MAINT_MAX_ASSETS));
            for (size_t i = 0; m.asset_ids && i < m.n_assets; i++)
                FUZZ_CHECK(m.asset_ids[i] && strlen(m.asset_ids[i]) >= 1 &&
                           strlen(m.asset_ids[i]) <= 128);
        } else {
            FUZZ_CHECK(*why != 0);
        }
        json_decref(doc);
        free(ids);
    }
out:
    free(url);
    free(limit);
    return 0;
}
