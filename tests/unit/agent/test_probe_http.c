/* probe_http against a real HTTP server in a thread: verdicts, reasons, phases. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <cmocka.h>

#include "curl_glue.h"
#include "loop.h"
#include "probe.h"

#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define MAX_HELD 16

/* --- a tiny HTTP/1.1 server: GET /ok 200, /503, /204, /redirect -> /ok, /slow never answers */
typedef struct {
    int lfd, stop[2], port;
    int held[MAX_HELD], n_held;
    pthread_t th;
} srv_t;

static void s_serve_one(srv_t *s, int fd)
{
    char req[4096] = "";
    size_t len = 0;
    while (len < sizeof req - 1 && !strstr(req, "\r\n\r\n")) {
        ssize_t n = read(fd, req + len, sizeof req - 1 - len);
        if (n <= 0)
            break;
        len += (size_t) n;
        req[len] = 0;
    }
    req[len] = 0;
    const char *resp;
    char echo[4096 + 256];
    const char *sp = strchr(req, ' ');
    if (sp && strncmp(sp, " /echo ", 7) == 0) {
        /* the method, headers seen and the request body */
        const char *cl = strcasestr(req, "Content-Length:");
        long want = cl ? atol(cl + 15) : 0;
        char *hdr_end = strstr(req, "\r\n\r\n");
        size_t have = hdr_end ? len - (size_t) (hdr_end + 4 - req) : 0;
        while (hdr_end && (long) have < want && len < sizeof req - 1) {
            ssize_t n = read(fd, req + len, sizeof req - 1 - len);
            if (n <= 0)
                break;
            len += (size_t) n, have += (size_t) n;
            req[len] = 0;
        }
        char body[4200];
        int bl = snprintf(body, sizeof body, "method=%.*s x-probe=%s body=%s",
                          (int) (sp - req), req, strstr(req, "X-Probe: yes") ? "yes" : "no",
                          hdr_end ? hdr_end + 4 : "");
        snprintf(echo, sizeof echo,
                 "HTTP/1.1 200 OK\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s", bl,
                 body);
        resp = echo;
    } else if (sp && strncmp(sp, " /big ", 6) == 0) {
        /* 2 MiB of 'a', then "needle": past what the probe reads */
        const char *h = "HTTP/1.1 200 OK\r\nContent-Length: 2097158\r\nConnection: close\r\n\r\n";
        ssize_t w = write(fd, h, strlen(h));
        static char chunk[65536];
        memset(chunk, 'a', sizeof chunk);
        for (int i = 0; i < 32 && w > 0; i++)
            w = write(fd, chunk, sizeof chunk);
        if (w > 0)
            w = write(fd, "needle", 6);
        close(fd);
        return;
    } else if (sp && strncmp(sp, " /hdrs ", 7) == 0) {
        /* which of the probe's headers arrived (credentials must not cross to another host) */
        char body[64];
        int bl = snprintf(body, sizeof body, "auth=%s cookie=%s x-probe=%s",
                          strcasestr(req, "\r\nAuthorization:") ? "yes" : "no",
                          strcasestr(req, "\r\nCookie:") ? "yes" : "no",
                          strstr(req, "X-Probe: yes") ? "yes" : "no");
        snprintf(echo, sizeof echo,
                 "HTTP/1.1 200 OK\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s", bl,
                 body);
        resp = echo;
    } else if (sp && strncmp(sp, " /drip ", 7) == 0) {
        /* a slow redirect loop: each hop costs 300 ms, the probe's one timeout covers them all */
        usleep(300000);
        resp = "HTTP/1.1 302 Found\r\nLocation: /drip\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
    } else if (sp && (strncmp(sp, " /r30", 5) == 0 || strncmp(sp, " /moved ", 8) == 0)) {
        /* /r<code><target-key>: a <code> redirect; /moved: 301 to this server's absolute /ok */
        static const struct {
            const char *path, *code, *loc, *host; /* host: Location is http://host:PORT loc */
        } R[] = {{"/r301echo", "301 Moved Permanently", "/echo", NULL},
                 {"/r302echo", "302 Found", "/echo", NULL},
                 {"/r303echo", "303 See Other", "/echo", NULL},
                 {"/r307echo", "307 Temporary Redirect", "/echo", NULL},
                 {"/r308echo", "308 Permanent Redirect", "/echo", NULL},
                 {"/r303head", "303 See Other", "/headonly", NULL},
                 {"/r302ftp", "302 Found", "ftp://127.0.0.1/file", NULL},
                 {"/r302other", "302 Found", "/hdrs", "localhost"},
                 {"/r302slow", "302 Found", "/slow", NULL},
                 {"/moved", "301 Moved Permanently", "/ok", "127.0.0.1"}};
        resp = "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
        for (size_t i = 0; i < sizeof R / sizeof R[0]; i++) {
            size_t pl = strlen(R[i].path);
            if (strncmp(sp + 1, R[i].path, pl) != 0 || sp[1 + pl] != ' ')
                continue;
            char loc[128];
            if (R[i].host)
                snprintf(loc, sizeof loc, "http://%s:%d%s", R[i].host, s->port, R[i].loc);
            else
                snprintf(loc, sizeof loc, "%s", R[i].loc);
            snprintf(echo, sizeof echo,
                     "HTTP/1.1 %s\r\nLocation: %s\r\nContent-Length: 0\r\nConnection: "
                     "close\r\n\r\n",
                     R[i].code, loc);
            resp = echo;
        }
    } else if (sp && strncmp(sp, " /headonly ", 11) == 0) {
        resp = strncmp(req, "HEAD ", 5) == 0
                   ? "HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                   : "HTTP/1.1 405 Method Not Allowed\r\nContent-Length: 0\r\nConnection: "
                     "close\r\n\r\n";
    } else if (sp && strncmp(sp, " /loop ", 7) == 0) {
        resp = "HTTP/1.1 301 Moved\r\nLocation: /loop\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
    } else if (strncmp(req, "HEAD /ok ", 9) == 0) {
        resp = "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nConnection: close\r\n\r\n";
    } else if (strncmp(req, "GET /ok ", 8) == 0)
        resp = "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello";
    else if (strncmp(req, "GET /503 ", 9) == 0)
        resp = "HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
    else if (strncmp(req, "GET /204 ", 9) == 0)
        resp = "HTTP/1.1 204 No Content\r\nConnection: close\r\n\r\n";
    else if (strncmp(req, "GET /redirect ", 14) == 0)
        resp = "HTTP/1.1 302 Found\r\nLocation: /ok\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
    else if (strncmp(req, "GET /slow ", 10) == 0 && s->n_held < MAX_HELD) {
        s->held[s->n_held++] = fd; /* keep it open, never answer */
        return;
    } else
        resp = "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
    ssize_t w = write(fd, resp, strlen(resp));
    (void) w;
    close(fd);
}

static void *s_server(void *arg)
{
    srv_t *s = arg;
    for (;;) {
        struct pollfd p[2] = {{s->lfd, POLLIN, 0}, {s->stop[0], POLLIN, 0}};
        if (poll(p, 2, -1) < 0)
            continue;
        if (p[1].revents)
            break;
        int fd = accept(s->lfd, NULL, NULL);
        if (fd >= 0)
            s_serve_one(s, fd);
    }
    return NULL;
}

static int s_listen(int *port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    assert_int_equal(bind(fd, (struct sockaddr *) &a, sizeof a), 0);
    socklen_t l = sizeof a;
    getsockname(fd, (struct sockaddr *) &a, &l);
    *port = ntohs(a.sin_port);
    return fd;
}

static srv_t S;

static int setup(void **state)
{
    signal(SIGPIPE, SIG_IGN); /* the probe hangs up on /big */
    curl_global_init(CURL_GLOBAL_DEFAULT);
    memset(&S, 0, sizeof S);
    S.lfd = s_listen(&S.port);
    assert_int_equal(listen(S.lfd, 16), 0);
    assert_int_equal(pipe(S.stop), 0);
    assert_int_equal(pthread_create(&S.th, NULL, s_server, &S), 0);
    return 0;
}

static int teardown(void **state)
{
    assert_int_equal(write(S.stop[1], "q", 1), 1);
    pthread_join(S.th, NULL);
    for (int i = 0; i < S.n_held; i++)
        close(S.held[i]);
    close(S.lfd), close(S.stop[0]), close(S.stop[1]);
    curl_global_cleanup();
    return 0;
}

/* --- running one probe in a real loop ------------------------------------------- */

static probe_result_t *s_got;
static void s_done(probe_result_t *r, void *ctx) { s_got = r; }

static probe_result_t *s_probe_opts(const char *url, const char *options, uint32_t timeout_ms,
                                    uint32_t *codes, size_t n, int64_t *elapsed_ms)
{
    loop_t *loop = loop_new();
    curl_glue_t *cg = curl_glue_new(loop);
    probe_env_t env = {loop, cg};
    probe_spec_t spec = {.asset_id = "a1", .type = "http", .address = (char *) url,
                         .interval_ms = 60000, .timeout_ms = timeout_ms,
                         .expected_status_codes = codes, .n_expected_status_codes = n,
                         .options_json = (char *) options};
    const struct probe_ops *ops = probe_find("http");
    assert_non_null(ops);
    void *opts = NULL;
    char err[200];
    assert_int_equal(ops->parse_options(options, &opts, err, sizeof err), 0);
    probe_run_t *run = NULL;
    s_got = NULL;
    sd_ms_t t0 = sd_mono_ms();
    assert_int_equal(ops->start(&env, &spec, opts, s_done, NULL, &run, err, sizeof err), 0);
    assert_null(s_got); /* never synchronous */
    sd_ms_t deadline = t0 + 10000;
    while (!s_got && sd_mono_ms() < deadline)
        loop_run_once(loop, 100);
    *elapsed_ms = sd_mono_ms() - t0;
    assert_non_null(s_got);
    ops->free_options(opts);
    curl_glue_destroy(&cg);
    assert_int_equal(loop_destroy(&loop), 0); /* curl left no watcher or timer behind */
    printf("%s %s -> success=%d status=%d latency_us=%u reason=\"%s\" phases=%zu elapsed=%lldms\n",
           url, options, s_got->success, s_got->status_code, s_got->latency_us, s_got->reason,
           s_got->n_phases, (long long) *elapsed_ms);
    return s_got;
}

static probe_result_t *s_probe(const char *url, uint32_t timeout_ms, uint32_t *codes, size_t n,
                               int64_t *elapsed_ms)
{
    return s_probe_opts(url, "", timeout_ms, codes, n, elapsed_ms);
}

static void s_expect(const char *path, const char *options, int success, int status,
                     const char *reason)
{
    char url[96];
    int64_t el;
    snprintf(url, sizeof url, "http://127.0.0.1:%d%s", S.port, path);
    probe_result_t *r = s_probe_opts(url, options, 5000, NULL, 0, &el);
    assert_int_equal(r->success, success);
    assert_int_equal(r->status_code, status);
    assert_string_equal(r->reason, reason);
    probe_result_destroy(&r);
}

static void test_methods_headers_body(void **state)
{
    s_expect("/echo", "{\"method\":\"POST\",\"body\":\"a=1\",\"headers\":{\"X-Probe\":\"yes\"},"
             "\"bodyContains\":\"method=POST x-probe=yes body=a=1\"}", 1, 200, "");
    s_expect("/echo", "{\"method\":\"PUT\",\"body\":\"zz\",\"bodyRegex\":\"^method=PUT .*body=z+$\"}",
             1, 200, "");
    s_expect("/echo", "{\"method\":\"DELETE\",\"bodyContains\":\"method=DELETE\"}", 1, 200, "");
    s_expect("/echo", "{\"method\":\"OPTIONS\",\"bodyContains\":\"method=OPTIONS\"}", 1, 200, "");
    s_expect("/echo", "{\"method\":\"PATCH\",\"body\":\"p\",\"bodyContains\":\"method=PATCH\"}", 1,
             200, "");
    s_expect("/ok", "{\"method\":\"HEAD\"}", 1, 200, "");
    s_expect("/echo", "{\"httpVersion\":\"1.0\",\"bodyContains\":\"method=GET\"}", 1, 200, "");
}

static void test_body_checks(void **state)
{
    s_expect("/ok", "{\"bodyContains\":\"ok\"}", 0, 200, "body does not contain \"ok\"");
    s_expect("/ok", "{\"bodyContains\":\"hell\",\"bodyNotContains\":\"xyz\"}", 1, 200, "");
    s_expect("/ok", "{\"bodyNotContains\":\"ell\"}", 0, 200, "body contains forbidden \"ell\"");
    s_expect("/ok", "{\"bodyRegex\":\"^h[a-z]+o$\"}", 1, 200, "");
    s_expect("/ok", "{\"bodyRegex\":\"^[0-9]+$\"}", 0, 200,
             "body does not match regex \"^[0-9]+$\"");
    s_expect("/ok", "{\"bodyNotRegex\":\"l{2}\"}", 0, 200, "body matches forbidden regex \"l{2}\"");
    s_expect("/big", "{\"bodyContains\":\"needle\"}", 0, 200,
             "body does not contain \"needle\" (first 1048576 bytes read)");
    s_expect("/big", "{\"bodyContains\":\"aaaa\"}", 1, 200, "");
}

/* A check string quoted in the reason is cut at 60 bytes, at a character boundary: 59 x 'a'
 * then 'é' used to be cut after 0xC3, and the collector's COPY of the reason failed with
 * 'invalid byte sequence for encoding "UTF8": 0xc3 0x22' on every tick. */
static void test_body_check_reason_is_utf8(void **state)
{
    char opts[400], want[200], a59[60];
    memset(a59, 'a', 59);
    a59[59] = 0;
    snprintf(opts, sizeof opts, "{\"bodyContains\":\"%s\u00e9\"}", a59);
    snprintf(want, sizeof want, "body does not contain \"%.57s\xE2\x80\xA6\"", a59);
    s_expect("/ok", opts, 0, 200, want);
    /* 40 x 'é' (80 bytes) in the other three checks: 28 of them and "…" */
    char e40[81] = "", e28[57] = "";
    for (int i = 0; i < 40; i++)
        strcat(e40, "\xC3\xA9");
    memcpy(e28, e40, 56);
    snprintf(opts, sizeof opts, "{\"method\":\"POST\",\"body\":\"%s\",\"bodyNotContains\":\"%s\"}",
             e40, e40); /* /echo sends the body back */
    snprintf(want, sizeof want, "body contains forbidden \"%s\xE2\x80\xA6\"", e28);
    s_expect("/echo", opts, 0, 200, want);
    snprintf(opts, sizeof opts, "{\"bodyRegex\":\"%s\"}", e40);
    snprintf(want, sizeof want, "body does not match regex \"%s\xE2\x80\xA6\"", e28);
    s_expect("/ok", opts, 0, 200, want);
    snprintf(opts, sizeof opts, "{\"bodyNotRegex\":\"h|%s\"}", e40);
    snprintf(want, sizeof want, "body matches forbidden regex \"h|%.54s\xE2\x80\xA6\"", e28);
    s_expect("/ok", opts, 0, 200, want);
}

static void test_redirect_options(void **state)
{
    char url[96];
    int64_t el;
    uint32_t only200[] = {200};
    snprintf(url, sizeof url, "http://127.0.0.1:%d/redirect", S.port);
    probe_result_t *r = s_probe_opts(url, "{\"followRedirects\":false}", 5000, only200, 1, &el);
    assert_false(r->success);
    assert_string_equal(r->reason, "status 302 not in [200]");
    probe_result_destroy(&r);
    s_expect("/redirect", "{\"followRedirects\":false}", 1, 302, ""); /* < 400 without a list */
    s_expect("/loop", "{\"maxRedirects\":3}", 0, 301, "stopped after 3 redirects");
    s_expect("/loop", "", 0, 301, "stopped after 10 redirects");
}

/* Redirects are followed by the probe itself (not libcurl): libcurl's method rules, credentials
 * kept from other hosts, only http/https, one timeout over every hop, phases summed. */
static void test_redirects_followed_by_probe(void **state)
{
    char url[96];
    int64_t el;
    /* 301 to the same host (absolute Location): the final response is judged */
    s_expect("/moved", "{\"bodyContains\":\"hello\"}", 1, 200, "");
    snprintf(url, sizeof url, "http://127.0.0.1:%d/moved", S.port);
    probe_result_t *r = s_probe(url, 5000, NULL, 0, &el);
    assert_true(r->success);
    assert_int_equal(r->n_phases, 4); /* dns connect processing transfer, summed over 2 hops */
    assert_string_equal(r->phases[1].name, "connect");
    assert_string_equal(r->phases[3].name, "transfer");
    assert_true(r->latency_us > 0);
    probe_result_destroy(&r);
    /* POST + 301/302/303 becomes a GET without body; 303 turns PUT into GET too */
    const char *post = "{\"method\":\"POST\",\"body\":\"a=1\",\"bodyRegex\":\"^method=GET .*body=$\"}";
    s_expect("/r301echo", post, 1, 200, "");
    s_expect("/r302echo", post, 1, 200, "");
    s_expect("/r303echo", post, 1, 200, "");
    s_expect("/r303echo", "{\"method\":\"PUT\",\"body\":\"z\",\"bodyRegex\":\"^method=GET .*body=$\"}",
             1, 200, "");
    /* 302 keeps a PUT (libcurl's rule: only POST changes), 307/308 keep POST, body, headers */
    s_expect("/r302echo", "{\"method\":\"PUT\",\"body\":\"zz\",\"bodyRegex\":\"^method=PUT .*body=zz$\"}",
             1, 200, "");
    const char *keep = "{\"method\":\"POST\",\"body\":\"a=1\",\"headers\":{\"X-Probe\":\"yes\"},"
                       "\"bodyContains\":\"method=POST x-probe=yes body=a=1\"}";
    s_expect("/r307echo", keep, 1, 200, "");
    s_expect("/r308echo", keep, 1, 200, "");
    /* HEAD stays HEAD (/headonly answers 405 to anything else) */
    s_expect("/r303head", "{\"method\":\"HEAD\"}", 1, 200, "");
    /* to another host (localhost, no lookup): no Authorization/Cookie there, other headers go */
#define CREDS(want)                                                                          \
    "{\"headers\":{\"Authorization\":\"Bearer t\",\"Cookie\":\"c=1\",\"X-Probe\":\"yes\"},"         \
    "\"bodyContains\":\"" want "\"}"
    s_expect("/hdrs", CREDS("auth=yes cookie=yes x-probe=yes"), 1, 200, "");
    s_expect("/r302other", CREDS("auth=no cookie=no x-probe=yes"), 1, 200, "");
#undef CREDS
    /* only http and https are followed; the 3xx stays the status */
    s_expect("/r302ftp", "", 0, 302,
             "redirect to \"ftp://127.0.0.1/file\" refused: only http and https are followed");
    s_expect("/redirect", "{\"maxRedirects\":0}", 0, 302, "stopped after 0 redirects");
}

static void test_timeout_across_hops(void **state)
{
    char url[96];
    int64_t el;
    /* 300 ms per hop: a per-hop timeout would run 10 hops (3 s) into "stopped after" */
    snprintf(url, sizeof url, "http://127.0.0.1:%d/drip", S.port);
    probe_result_t *r = s_probe(url, 1000, NULL, 0, &el);
    assert_false(r->success);
    assert_string_equal(r->reason, "timeout after 1000 ms");
    assert_true(el >= 990 && el < 1900);
    assert_true(r->latency_us >= 900000);
    probe_result_destroy(&r);
    /* the second hop never answers */
    snprintf(url, sizeof url, "http://127.0.0.1:%d/r302slow", S.port);
    r = s_probe(url, 400, NULL, 0, &el);
    assert_false(r->success);
    assert_string_equal(r->reason, "timeout after 400 ms");
    assert_true(el >= 390 && el < 2000);
    probe_result_destroy(&r);
}

static void test_ok(void **state)
{
    char url[64];
    int64_t el;
    snprintf(url, sizeof url, "http://127.0.0.1:%d/ok", S.port);
    probe_result_t *r = s_probe(url, 5000, NULL, 0, &el);
    assert_true(r->success);
    assert_int_equal(r->status_code, 200);
    assert_string_equal(r->reason, "");
    assert_string_equal(r->asset_id, "a1");
    assert_true(r->latency_us > 0);
    assert_true(r->started_at_ms > 1600000000000LL);
    assert_true(r->n_phases >= 3);
    assert_string_equal(r->phases[0].name, "dns");
    assert_string_equal(r->phases[1].name, "connect");
    probe_result_destroy(&r);
}

static void test_503_fails_with_reason(void **state)
{
    char url[64];
    int64_t el;
    snprintf(url, sizeof url, "http://127.0.0.1:%d/503", S.port);
    probe_result_t *r = s_probe(url, 5000, NULL, 0, &el);
    assert_false(r->success);
    assert_int_equal(r->status_code, 503);
    assert_string_equal(r->reason, "status 503 >= 400");
    probe_result_destroy(&r);
}

static void test_expected_codes(void **state)
{
    char url[64];
    int64_t el;
    uint32_t only200[] = {200};
    snprintf(url, sizeof url, "http://127.0.0.1:%d/503", S.port);
    probe_result_t *r = s_probe(url, 5000, only200, 1, &el);
    assert_false(r->success);
    assert_string_equal(r->reason, "status 503 not in [200]");
    probe_result_destroy(&r);
    /* 503 listed as expected (a maintenance page) is a success */
    uint32_t with503[] = {200, 503};
    r = s_probe(url, 5000, with503, 2, &el);
    assert_true(r->success);
    probe_result_destroy(&r);
    /* 204 not listed */
    snprintf(url, sizeof url, "http://127.0.0.1:%d/204", S.port);
    r = s_probe(url, 5000, with503, 2, &el);
    assert_false(r->success);
    assert_string_equal(r->reason, "status 204 not in [200,503]");
    probe_result_destroy(&r);
}

static void test_redirect_followed(void **state)
{
    char url[64];
    int64_t el;
    snprintf(url, sizeof url, "http://127.0.0.1:%d/redirect", S.port);
    probe_result_t *r = s_probe(url, 5000, NULL, 0, &el);
    assert_true(r->success);
    assert_int_equal(r->status_code, 200);
    probe_result_destroy(&r);
}

static void test_connection_refused(void **state)
{
    int port;
    int fd = s_listen(&port); /* bound, never listening, then closed: refused */
    close(fd);
    char url[64];
    int64_t el;
    snprintf(url, sizeof url, "http://127.0.0.1:%d/", port);
    probe_result_t *r = s_probe(url, 5000, NULL, 0, &el);
    assert_false(r->success);
    assert_int_equal(r->status_code, 0);
    assert_string_equal(r->reason, "connect: connection refused");
    probe_result_destroy(&r);
}

static void test_timeout(void **state)
{
    char url[64];
    int64_t el;
    snprintf(url, sizeof url, "http://127.0.0.1:%d/slow", S.port);
    probe_result_t *r = s_probe(url, 400, NULL, 0, &el);
    assert_false(r->success);
    assert_string_equal(r->reason, "timeout after 400 ms");
    assert_true(el >= 390 && el < 2000); /* enforced by CURLOPT_TIMEOUT_MS, in the loop */
    probe_result_destroy(&r);
}

static void test_options(void **state)
{
    const struct probe_ops *ops = probe_find("http");
    void *o = NULL;
    char err[200] = "";
    assert_int_equal(ops->parse_options("{\"method\":\"HEAD\",\"headers\":{\"X-A\":\"1\"}}", &o,
                                        err, sizeof err), 0);
    ops->free_options(o);
    /* a bad options_json is not fatal: every start reports why */
    const char *bad[] = {"{\"bogus\":1}", "{\"bodyRegex\":\"(\"}", "[1]", "{"};
    for (size_t i = 0; i < 4; i++) {
        assert_int_equal(ops->parse_options(bad[i], &o, err, sizeof err), 0);
        probe_spec_t spec = {.asset_id = "x", .type = "http", .address = "http://127.0.0.1:1/",
                             .timeout_ms = 1000, .options_json = (char *) bad[i]};
        probe_run_t *run = NULL;
        assert_int_equal(ops->start(NULL, &spec, o, s_done, NULL, &run, err, sizeof err), -EINVAL);
        printf("%s -> err=%s\n", bad[i], err);
        assert_non_null(strstr(err, "invalid options: http options"));
        ops->free_options(o);
    }
    assert_null(probe_find("nope"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ok),
        cmocka_unit_test(test_503_fails_with_reason),
        cmocka_unit_test(test_expected_codes),
        cmocka_unit_test(test_redirect_followed),
        cmocka_unit_test(test_connection_refused),
        cmocka_unit_test(test_timeout),
        cmocka_unit_test(test_options),
        cmocka_unit_test(test_methods_headers_body),
        cmocka_unit_test(test_body_checks),
        cmocka_unit_test(test_body_check_reason_is_utf8),
        cmocka_unit_test(test_redirect_options),
        cmocka_unit_test(test_redirects_followed_by_probe),
        cmocka_unit_test(test_timeout_across_hops),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
