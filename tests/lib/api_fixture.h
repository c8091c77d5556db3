/* api_fixture: the fixture of the API's database tests (test_api_write_pg,
 * test_api_maintenance_pg): a fresh database with the migrations, a token file, a metrics
 * registry and two real API servers on 127.0.0.1 (one with the tokens, one without), and a
 * libcurl client that returns the parsed JSON body.
 *
 * Before including, define:
 *   API_FIXTURE_DB_PREFIX  the prefix of the fresh database's name
 *   API_FIXTURE_TOKENS     the content of the token file
 * and, after including, implement s_seed(fx_t *f): the rows the test starts from (called
 * once the database is migrated and f->db is connected).
 *
 * With API_FIXTURE_CLIENT_ONLY defined, only the response buffer (http_t and its body
 * callback) is declared: for a test with a fixture of its own (test_api_pg). */
#ifndef API_FIXTURE_H
#define API_FIXTURE_H

#include <curl/curl.h>
#include <string.h>
#include <strings.h>

/* One response: what the body and header callbacks collected. */
typedef struct {
    long status;
    char *body;
    size_t len;
    char www[128];   /* WWW-Authenticate (api_fixture's s_http) */
    char ctype[128]; /* Content-Type (test_api_pg) */
    char allow[128]; /* Allow (test_api_pg) */
} http_t;

/* CURLOPT_WRITEFUNCTION: appends to h->body, kept NUL-terminated. */
static inline size_t s_body_cb(char *p, size_t sz, size_t n, void *ud)
{
    http_t *h = ud;
    char *nb = realloc(h->body, h->len + sz * n + 1);
    if (!nb)
        return 0;
    h->body = nb;
    memcpy(h->body + h->len, p, sz * n);
    h->len += sz * n;
    h->body[h->len] = 0;
    return sz * n;
}

#ifndef API_FIXTURE_CLIENT_ONLY

#ifndef API_FIXTURE_DB_PREFIX
#error "define API_FIXTURE_DB_PREFIX before including api_fixture.h"
#endif
#ifndef API_FIXTURE_TOKENS
#error "define API_FIXTURE_TOKENS before including api_fixture.h"
#endif

typedef struct {
    char *conninfo;
    PGconn *db;
    metrics_t *metrics;
    auth_t *tokens;
    api_t *api;     /* with the token file */
    api_t *api_ro;  /* without one */
} fx_t;

/* The test's own rows; see the head of this file. */
static void s_seed(fx_t *f);

/* CURLOPT_HEADERFUNCTION: keeps the WWW-Authenticate value. */
static inline size_t s_header_cb(char *p, size_t sz, size_t n, void *ud)
{
    http_t *h = ud;
    if (sz * n > 17 && strncasecmp(p, "WWW-Authenticate:", 17) == 0)
        snprintf(h->www, sizeof h->www, "%.*s", (int) strcspn(p + 17, "\r\n"), p + 17);
    return sz * n;
}

/* One request; returns the parsed JSON body (caller decrefs); h->status set. */
static inline json_t *s_http(const api_t *api, const char *method, const char *path,
                             const char *auth, const char *body, http_t *h)
{
    memset(h, 0, sizeof *h);
    char url[512], hdr[256];
    snprintf(url, sizeof url, "http://127.0.0.1:%d%s", api_port(api), path);
    CURL *c = curl_easy_init();
    struct curl_slist *hs = NULL;
    if (auth) {
        snprintf(hdr, sizeof hdr, "Authorization: %s", auth);
        hs = curl_slist_append(hs, hdr);
    }
    hs = curl_slist_append(hs, "Content-Type: application/json");
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 20L);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hs);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, s_body_cb);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, h);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, s_header_cb);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, h);
    if (strcmp(method, "POST") == 0)
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body ? body : "");
    else if (strcmp(method, "GET") != 0)
        curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    CURLcode rc = curl_easy_perform(c);
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &h->status);
    curl_easy_cleanup(c);
    curl_slist_free_all(hs);
    if (rc != CURLE_OK)
        fail_msg("%s %s: %s", method, path, curl_easy_strerror(rc));
    printf("%s %s -> %ld %s\n", method, path, h->status, h->body ? h->body : "");
    json_error_t je;
    json_t *v = json_loads(h->body ? h->body : "", 0, &je);
    if (!v)
        fail_msg("not JSON: %s", h->body ? h->body : "");
    free(h->body);
    h->body = NULL;
    return v;
}

static inline long s_count(fx_t *f, const char *sql)
{
    PGresult *r = PQexec(f->db, sql);
    if (PQresultStatus(r) != PGRES_TUPLES_OK)
        fail_msg("%s: %s", sql, PQerrorMessage(f->db));
    long n = atol(PQgetvalue(r, 0, 0));
    PQclear(r);
    return n;
}

static inline void s_exec(fx_t *f, const char *sql)
{
    PGresult *r = PQexec(f->db, sql);
    if (PQresultStatus(r) != PGRES_COMMAND_OK && PQresultStatus(r) != PGRES_TUPLES_OK)
        fail_msg("%s: %s", sql, PQerrorMessage(f->db));
    PQclear(r);
}

static inline int setup(void **state)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
    fx_t *f = calloc(1, sizeof *f);
    f->conninfo = test_pg_fresh_db(API_FIXTURE_DB_PREFIX);
    assert_non_null(f->conninfo);
    char err[512] = "", dir[1024], path[] = "/tmp/statusd-tokens-XXXXXX";
    snprintf(dir, sizeof dir, "%s/migrations", getenv("STATUSD_SOURCE_DIR"));
    store_t *s = store_new(f->conninfo, err, sizeof err);
    assert_non_null(s);
    assert_int_equal(store_migrate(s, dir, err, sizeof err), 0);
    store_destroy(&s);
    f->db = PQconnectdb(f->conninfo);
    s_seed(f);
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    const char *content = API_FIXTURE_TOKENS;
    assert_true(write(fd, content, strlen(content)) > 0);
    close(fd);
    assert_int_equal(auth_load(path, &f->tokens, err, sizeof err), 0);
    unlink(path);
    f->metrics = metrics_new();
    collector_ctx_t ctx = {.db_conninfo = f->conninfo, .api_bind_addr = "127.0.0.1",
                           .metrics = f->metrics, .api_tokens = f->tokens};
    f->api = api_new(&ctx, err, sizeof err);
    ctx.api_tokens = NULL;
    f->api_ro = api_new(&ctx, err, sizeof err);
    assert_non_null(f->api);
    assert_non_null(f->api_ro);
    *state = f;
    return 0;
}

static inline int teardown(void **state)
{
    fx_t *f = *state;
    api_destroy(&f->api);
    api_destroy(&f->api_ro);
    auth_destroy(&f->tokens);
    metrics_destroy(&f->metrics);
    PQfinish(f->db);
    free(f->conninfo);
    free(f);
    curl_global_cleanup();
    return 0;
}

#endif /* API_FIXTURE_CLIENT_ONLY */

#endif
