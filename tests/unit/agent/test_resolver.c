/* resolver: c-ares on the agent loop against a real DNS server (tests/lib/dns_server.py, a
 * child process): A/AAAA/both, CNAME chains, NXDOMAIN, a silent server (timeout), literals
 * without lookup, raw queries with their rcode, cancellation, destroy from a callback and with
 * queries pending, and nothing left registered in the loop afterwards. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <cmocka.h>

#include "curl_glue.h"
#include "dns_server.h"
#include "loop.h"
#include "probe.h"
#include "resolver.h"

#include <pthread.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

static test_dns_server_t D;
static int s_silent_fd, s_silent_port;

static int setup(void **state)
{
    if (test_dns_server_start(&D, 0))
        return -1;
    /* a DNS server that never answers: a bound UDP socket nobody reads */
    s_silent_fd = socket(AF_INET, SOCK_DGRAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t l = sizeof a;
    if (bind(s_silent_fd, (struct sockaddr *) &a, sizeof a) ||
        getsockname(s_silent_fd, (struct sockaddr *) &a, &l))
        return -1;
    s_silent_port = ntohs(a.sin_port);
    return 0;
}

static int teardown(void **state)
{
    test_dns_server_stop(&D);
    close(s_silent_fd);
    return 0;
}

typedef struct {
    int calls;
    resolver_answer_t a;
    unsigned char abuf[4096];
    resolver_t **destroy_me; /* destroy the resolver from inside the callback */
} got_t;

static void s_cb(const resolver_answer_t *a, void *ctx)
{
    got_t *g = ctx;
    g->calls++;
    g->a = *a;
    if (a->abuf && a->alen <= sizeof g->abuf) {
        memcpy(g->abuf, a->abuf, a->alen);
        g->a.abuf = g->abuf;
    }
    if (g->destroy_me)
        resolver_destroy(g->destroy_me);
}

static void s_wait(loop_t *loop, got_t *g, int ms)
{
    sd_ms_t end = sd_mono_ms() + (sd_ms_t) ms;
    while (!g->calls && sd_mono_ms() < end)
        loop_run_once(loop, 20);
}

static const char *s_ip(const resolver_answer_t *a, size_t i, char *buf, size_t len)
{
    const struct sockaddr_storage *ss = &a->addrs[i];
    if (ss->ss_family == AF_INET)
        inet_ntop(AF_INET, &((const struct sockaddr_in *) ss)->sin_addr, buf, (socklen_t) len);
    else
        inet_ntop(AF_INET6, &((const struct sockaddr_in6 *) ss)->sin6_addr, buf, (socklen_t) len);
    return buf;
}

static int s_port(const resolver_answer_t *a, size_t i)
{
    return ntohs(((const struct sockaddr_in *) &a->addrs[i])->sin_port);
}

static resolver_t *s_resolver(loop_t *loop, const char *servers)
{
    resolver_config_t cfg = {.servers = servers, .try_timeout_ms = 500, .tries = 1};
    char err[200] = "";
    resolver_t *r = resolver_new(loop, &cfg, err, sizeof err);
    if (!r)
        printf("resolver_new: %s\n", err);
    assert_non_null(r);
    return r;
}

/* Resolves host and returns the answer (copied). */
static got_t s_resolve(resolver_t *r, loop_t *loop, const char *host, resolver_family_t fam,
                       uint32_t timeout_ms)
{
    got_t g = {0};
    assert_int_equal(resolver_resolve(r, host, 443, fam, timeout_ms, s_cb, &g, NULL), 0);
    assert_int_equal(g.calls, 0); /* never from inside the call */
    s_wait(loop, &g, 5000);
    assert_int_equal(g.calls, 1);
    char ip[64];
    printf("resolve %s fam=%d -> status=%d reason=\"%s\" n=%zu first=%s dur=%lldus\n", host, fam,
           g.a.status, g.a.reason, g.a.n_addrs, g.a.n_addrs ? s_ip(&g.a, 0, ip, sizeof ip) : "-",
           (long long) g.a.duration_us);
    return g;
}

static void test_names(void **state)
{
    loop_t *loop = loop_new();
    resolver_t *r = s_resolver(loop, D.csv);
    char ip[64];

    got_t g = s_resolve(r, loop, "host.test", RESOLVER_ANY, 3000);
    assert_int_equal(g.a.status, 0);
    assert_int_equal(g.a.n_addrs, 2);
    bool v4 = false, v6 = false;
    for (size_t i = 0; i < g.a.n_addrs; i++) {
        assert_int_equal(s_port(&g.a, i), 443);
        v4 |= strcmp(s_ip(&g.a, i, ip, sizeof ip), "127.0.0.1") == 0;
        v6 |= strcmp(s_ip(&g.a, i, ip, sizeof ip), "::1") == 0;
    }
    assert_true(v4 && v6);
    assert_true(g.a.duration_us > 0);

    g = s_resolve(r, loop, "host.test", RESOLVER_V4, 3000);
    assert_int_equal(g.a.n_addrs, 1);
    assert_string_equal(s_ip(&g.a, 0, ip, sizeof ip), "127.0.0.1");
    assert_int_equal(g.a.addrlens[0], sizeof(struct sockaddr_in));
    g = s_resolve(r, loop, "v6.test", RESOLVER_V6, 3000);
    assert_int_equal(g.a.n_addrs, 1);
    assert_string_equal(s_ip(&g.a, 0, ip, sizeof ip), "::1");
    assert_int_equal(g.a.addrlens[0], sizeof(struct sockaddr_in6));

    /* a CNAME chain: alias.test -> alias2.test -> a.test */
    g = s_resolve(r, loop, "alias.test", RESOLVER_V4, 3000);
    assert_int_equal(g.a.status, 0);
    assert_string_equal(s_ip(&g.a, 0, ip, sizeof ip), "10.0.0.1");

    g = s_resolve(r, loop, "nope.invalid", RESOLVER_ANY, 3000);
    assert_int_equal(g.a.status, -ENOENT);
    assert_string_equal(g.a.reason, "dns: no such host \"nope.invalid\"");
    g = s_resolve(r, loop, "a.test", RESOLVER_V6, 3000); /* exists, no AAAA */
    assert_int_equal(g.a.status, -ENOENT);

    /* the server never answers silent.test: our deadline, not c-ares's retries */
    sd_ms_t t0 = sd_mono_ms();
    g = s_resolve(r, loop, "silent.test", RESOLVER_V4, 300);
    sd_ms_t el = sd_mono_ms() - t0;
    printf("silent.test took %lld ms\n", (long long) el);
    assert_int_equal(g.a.status, -ETIMEDOUT);
    assert_string_equal(g.a.reason, "dns: timeout");
    assert_true(el >= 290 && el < 1500);

    resolver_destroy(&r); /* silent.test is still inside c-ares: dropped without a callback */
    assert_null(r);
    assert_int_equal(loop_destroy(&loop), 0);
}

static void test_literals_skip_lookup(void **state)
{
    loop_t *loop = loop_new();
    resolver_t *r = s_resolver(loop, "127.0.0.1:9"); /* nothing listens: must not be asked */
    char ip[64];
    got_t g = s_resolve(r, loop, "127.0.0.1", RESOLVER_ANY, 1000);
    assert_int_equal(g.a.status, 0);
    assert_int_equal(g.a.duration_us, 0);
    assert_int_equal(s_port(&g.a, 0), 443);
    g = s_resolve(r, loop, "::1", RESOLVER_ANY, 1000);
    assert_string_equal(s_ip(&g.a, 0, ip, sizeof ip), "::1");
    g = s_resolve(r, loop, "localhost", RESOLVER_ANY, 1000);
    assert_string_equal(s_ip(&g.a, 0, ip, sizeof ip), "127.0.0.1");
    g = s_resolve(r, loop, "::1", RESOLVER_V4, 1000);
    assert_int_equal(g.a.status, -ENOENT);
    assert_int_equal(resolver_pending(r), 0);
    assert_int_equal(resolver_resolve(r, "", 1, RESOLVER_ANY, 100, s_cb, NULL, NULL), -EINVAL);
    resolver_destroy(&r);
    assert_int_equal(loop_destroy(&loop), 0);
}

static void test_silent_server_times_out(void **state)
{
    loop_t *loop = loop_new();
    char csv[64];
    snprintf(csv, sizeof csv, "127.0.0.1:%d", s_silent_port);
    resolver_t *r = s_resolver(loop, csv);
    got_t g = s_resolve(r, loop, "a.test", RESOLVER_ANY, 400);
    assert_int_equal(g.a.status, -ETIMEDOUT);
    assert_string_equal(g.a.reason, "dns: timeout");
    assert_true(g.a.duration_us >= 390000);
    /* c-ares's own timeout (500 ms per try) ends the orphaned query later */
    sd_ms_t end = sd_mono_ms() + 3000;
    while (resolver_pending(r) && sd_mono_ms() < end)
        loop_run_once(loop, 20);
    assert_int_equal(resolver_pending(r), 0);
    resolver_destroy(&r);
    assert_int_equal(loop_destroy(&loop), 0);
}

static void test_raw_queries(void **state)
{
    loop_t *loop = loop_new();
    resolver_config_t cfg = {.servers = D.csv, .raw_rcodes = true, .try_timeout_ms = 1000,
                             .tries = 1};
    char err[200];
    resolver_t *r = resolver_new(loop, &cfg, err, sizeof err);
    assert_non_null(r);
    const struct {
        const char *name;
        int type, rcode, ancount;
    } cases[] = {{"mx.test", 15, 0, 1}, {"alias.test", 1, 0, 3}, {"nope.test", 1, 3, 0},
                 {"servfail.test", 1, 2, 0}, {"refused.test", 1, 5, 0}, {"big.test", 16, 0, 41}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        got_t g = {0};
        assert_int_equal(
            resolver_query(r, cases[i].name, cases[i].type, 3000, s_cb, &g, NULL), 0);
        s_wait(loop, &g, 5000);
        assert_int_equal(g.calls, 1);
        assert_int_equal(g.a.status, 0);
        assert_non_null(g.a.abuf);
        int rcode = g.a.abuf[3] & 0xf, an = g.a.abuf[6] << 8 | g.a.abuf[7];
        printf("query %s type %d -> rcode=%d ancount=%d alen=%zu\n", cases[i].name,
               cases[i].type, rcode, an, g.a.alen);
        assert_int_equal(rcode, cases[i].rcode);
        assert_int_equal(an, cases[i].ancount); /* big.test: only the TCP reply has them */
    }
    resolver_destroy(&r);
    assert_int_equal(loop_destroy(&loop), 0);
}

static void test_cancel_and_destroy_in_callback(void **state)
{
    loop_t *loop = loop_new();
    resolver_t *r = s_resolver(loop, D.csv);
    /* cancelled before the answer: never called back, c-ares's copy is freed on its answer */
    got_t g1 = {0}, g2 = {0};
    resolver_query_t *q = NULL;
    assert_int_equal(resolver_resolve(r, "a.test", 80, RESOLVER_V4, 3000, s_cb, &g1, &q), 0);
    resolver_cancel(&q);
    assert_null(q);
    /* a cancelled literal (already queued) */
    assert_int_equal(resolver_resolve(r, "10.1.1.1", 80, RESOLVER_ANY, 3000, s_cb, &g1, &q), 0);
    resolver_cancel(&q);
    assert_int_equal(resolver_resolve(r, "host.test", 80, RESOLVER_V4, 3000, s_cb, &g2, NULL), 0);
    s_wait(loop, &g2, 5000);
    assert_int_equal(g2.calls, 1);
    sd_ms_t end = sd_mono_ms() + 2000;
    while (resolver_pending(r) && sd_mono_ms() < end)
        loop_run_once(loop, 20);
    assert_int_equal(g1.calls, 0);
    assert_int_equal(resolver_pending(r), 0);

    /* the callback destroys its resolver, another query still pending in c-ares */
    got_t g3 = {.destroy_me = &r}, g4 = {0};
    assert_int_equal(resolver_resolve(r, "silent.test", 80, RESOLVER_V4, 3000, s_cb, &g4, NULL),
                     0);
    assert_int_equal(resolver_resolve(r, "a.test", 80, RESOLVER_V4, 3000, s_cb, &g3, NULL), 0);
    s_wait(loop, &g3, 5000);
    assert_int_equal(g3.calls, 1);
    assert_null(r);
    loop_run_once(loop, 10);
    assert_int_equal(g4.calls, 0);
    assert_int_equal(loop_destroy(&loop), 0);

    /* the system's resolv.conf by default (no query sent) */
    loop = loop_new();
    char err[200];
    r = resolver_new(loop, NULL, err, sizeof err);
    assert_non_null(r);
    resolver_destroy(&r);
    resolver_config_t bad = {.servers = "not an address"};
    assert_null(resolver_new(loop, &bad, err, sizeof err));
    printf("bad servers: %s\n", err);
    assert_int_equal(loop_destroy(&loop), 0);
}

/* ---- the tcp and http probes resolve names through it -------------------------------- */

static int s_http_fd;
static void *s_http_server(void *arg)
{
    for (int i = 0; i < 2; i++) { /* one tcp probe, one http probe */
        int c = accept(s_http_fd, NULL, NULL);
        if (c < 0)
            break;
        char buf[2048];
        ssize_t n = read(c, buf, sizeof buf);
        const char *resp = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok";
        if (n > 0 && write(c, resp, strlen(resp)) < 0)
            n = -1;
        close(c);
    }
    return NULL;
}

static probe_result_t *s_res;
static void s_probe_done(probe_result_t *r, void *ctx) { s_res = r; }

static probe_result_t *s_run_probe(loop_t *loop, curl_glue_t *cg, const char *type,
                                   const char *addr)
{
    probe_env_t env = {loop, cg};
    probe_spec_t spec = {.asset_id = "n", .type = (char *) type, .address = (char *) addr,
                         .interval_ms = 60000, .timeout_ms = 3000, .options_json = ""};
    const struct probe_ops *ops = probe_find(type);
    void *o = NULL;
    char err[200];
    assert_int_equal(ops->parse_options("", &o, err, sizeof err), 0);
    probe_run_t *run = NULL;
    s_res = NULL;
    assert_int_equal(ops->start(&env, &spec, o, s_probe_done, NULL, &run, err, sizeof err), 0);
    sd_ms_t end = sd_mono_ms() + 5000;
    while (!s_res && sd_mono_ms() < end)
        loop_run_once(loop, 20);
    ops->free_options(o);
    assert_non_null(s_res);
    printf("%s %s -> success=%d status=%d reason=\"%s\" phases:", type, addr, s_res->success,
           s_res->status_code, s_res->reason);
    for (size_t i = 0; i < s_res->n_phases; i++)
        printf(" %s=%uus", s_res->phases[i].name, s_res->phases[i].duration_us);
    printf("\n");
    return s_res;
}

static void test_probes_resolve_names(void **state)
{
    /* a dual-stack listener: host.test resolves to ::1 and 127.0.0.1 */
    s_http_fd = socket(AF_INET6, SOCK_STREAM, 0);
    int off = 0;
    setsockopt(s_http_fd, IPPROTO_IPV6, IPV6_V6ONLY, &off, sizeof off);
    struct sockaddr_in6 a = {.sin6_family = AF_INET6, .sin6_addr = in6addr_any};
    socklen_t l = sizeof a;
    assert_int_equal(bind(s_http_fd, (struct sockaddr *) &a, sizeof a), 0);
    getsockname(s_http_fd, (struct sockaddr *) &a, &l);
    assert_int_equal(listen(s_http_fd, 8), 0);
    int port = ntohs(a.sin6_port);
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, s_http_server, NULL), 0);

    curl_global_init(CURL_GLOBAL_DEFAULT);
    loop_t *loop = loop_new();
    curl_glue_t *cg = curl_glue_new(loop);
    resolver_t *r = s_resolver(loop, D.csv);
    assert_int_equal(probe_set_resolver(loop, r), 0);
    char addr[128];

    snprintf(addr, sizeof addr, "host.test:%d", port);
    probe_result_t *res = s_run_probe(loop, cg, "tcp", addr);
    assert_true(res->success);
    assert_string_equal(res->phases[0].name, "dns");
    assert_true(res->phases[0].duration_us > 0);
    assert_string_equal(res->phases[1].name, "connect");
    probe_result_destroy(&res);
    res = s_run_probe(loop, cg, "tls", "nope.invalid:443");
    assert_false(res->success);
    assert_string_equal(res->reason, "dns: no such host \"nope.invalid\"");
    probe_result_destroy(&res);
    /* a name too long to look up, quoted in the reason: cut at 100 bytes between two
     * characters, not inside the 50th 'é' as "%.100s" did */
    char name[400] = "x", excerpt[200] = "x", want[300];
    for (int i = 0; i < 150; i++)
        strcat(name, "\xC3\xA9");
    for (int i = 0; i < 48; i++)
        strcat(excerpt, "\xC3\xA9");
    strcat(excerpt, "\xE2\x80\xA6");
    res = s_run_probe(loop, cg, "icmp", name);
    snprintf(want, sizeof want, "dns: cannot resolve \"%s\"", excerpt);
    assert_string_equal(res->reason, want);
    probe_result_destroy(&res);
    res = s_run_probe(loop, cg, "dns", name);
    snprintf(want, sizeof want, "dns: cannot query \"%s\"", excerpt);
    assert_string_equal(res->reason, want);
    probe_result_destroy(&res);
    res = s_run_probe(loop, cg, "tcp", "silent.test:80");
    assert_false(res->success);
    assert_string_equal(res->reason, "dns: timeout");
    probe_result_destroy(&res);

    snprintf(addr, sizeof addr, "http://host.test:%d/x", port);
    res = s_run_probe(loop, cg, "http", addr);
    assert_true(res->success);
    assert_int_equal(res->status_code, 200);
    assert_string_equal(res->phases[0].name, "dns");
    assert_true(res->phases[0].duration_us > 0); /* ours: libcurl got the address pinned */
    probe_result_destroy(&res);
    res = s_run_probe(loop, cg, "http", "http://nope.invalid/");
    assert_false(res->success);
    assert_string_equal(res->reason, "dns: no such host \"nope.invalid\"");
    probe_result_destroy(&res);

    pthread_join(th, NULL);
    close(s_http_fd);
    probe_set_resolver(loop, NULL);
    resolver_destroy(&r);
    curl_glue_destroy(&cg);
    assert_int_equal(loop_destroy(&loop), 0);
    curl_global_cleanup();
}

/* ---- http redirects to other names go through c-ares too --------------------------------
 * A dual-stack server: /go redirects from 127.0.0.1 to host.test (a name only the test DNS
 * server knows: success proves c-ares resolved it, not libcurl or the system), /nx to an
 * NXDOMAIN name, /quiet to a name the server never answers, /hold to host.test's /held, which
 * never answers (counted, so a test knows the second hop is in flight). */
typedef struct {
    int lfd, stop[2], port, held[8], n_held;
    volatile int n_held_seen;
    pthread_t th;
} rsrv_t;

static void *s_redirect_server(void *arg)
{
    rsrv_t *s = arg;
    for (;;) {
        struct pollfd p[2] = {{s->lfd, POLLIN, 0}, {s->stop[0], POLLIN, 0}};
        if (poll(p, 2, -1) < 0)
            continue;
        if (p[1].revents)
            break;
        int c = accept(s->lfd, NULL, NULL);
        if (c < 0)
            continue;
        char req[2048] = "";
        ssize_t n = read(c, req, sizeof req - 1);
        req[n > 0 ? n : 0] = 0;
        char resp[512];
        const char *to = NULL;
        if (strstr(req, " /go "))
            to = "http://host.test:%d/final";
        else if (strstr(req, " /nx "))
            to = "http://nope.invalid:%d/";
        else if (strstr(req, " /quiet "))
            to = "http://silent.test:%d/";
        else if (strstr(req, " /hold "))
            to = "http://host.test:%d/held";
        if (strstr(req, " /held ") && s->n_held < 8) {
            s->held[s->n_held++] = c;
            __atomic_store_n(&s->n_held_seen, s->n_held, __ATOMIC_SEQ_CST);
            continue;
        }
        if (to) {
            char loc[128];
            snprintf(loc, sizeof loc, "%s", to);
            char *pct = strstr(loc, "%d");
            char tail[64];
            snprintf(tail, sizeof tail, "%s", pct + 2);
            snprintf(pct, sizeof loc - (size_t) (pct - loc), "%d%s", s->port, tail);
            snprintf(resp, sizeof resp,
                     "HTTP/1.1 302 Found\r\nLocation: %s\r\nContent-Length: 0\r\n"
                     "Connection: close\r\n\r\n",
                     loc);
        } else {
            snprintf(resp, sizeof resp, "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n"
                                        "Connection: close\r\n\r\nfinal");
        }
        if (write(c, resp, strlen(resp)) < 0)
            n = -1;
        close(c);
    }
    return NULL;
}

static void s_rsrv_start(rsrv_t *s)
{
    memset(s, 0, sizeof *s);
    s->lfd = socket(AF_INET6, SOCK_STREAM, 0);
    int off = 0;
    setsockopt(s->lfd, IPPROTO_IPV6, IPV6_V6ONLY, &off, sizeof off);
    struct sockaddr_in6 a = {.sin6_family = AF_INET6, .sin6_addr = in6addr_any};
    socklen_t l = sizeof a;
    assert_int_equal(bind(s->lfd, (struct sockaddr *) &a, sizeof a), 0);
    getsockname(s->lfd, (struct sockaddr *) &a, &l);
    assert_int_equal(listen(s->lfd, 8), 0);
    s->port = ntohs(a.sin6_port);
    assert_int_equal(pipe(s->stop), 0);
    assert_int_equal(pthread_create(&s->th, NULL, s_redirect_server, s), 0);
}

static void s_rsrv_stop(rsrv_t *s)
{
    assert_int_equal(write(s->stop[1], "q", 1), 1);
    pthread_join(s->th, NULL);
    for (int i = 0; i < s->n_held; i++)
        close(s->held[i]);
    close(s->lfd), close(s->stop[0]), close(s->stop[1]);
}

/* Starts an http probe on url and returns its run (the result lands in s_res). */
static probe_run_t *s_start_http(loop_t *loop, curl_glue_t *cg, const char *url,
                                 uint32_t timeout_ms, void **opts)
{
    probe_env_t env = {loop, cg};
    static probe_spec_t spec;
    spec = (probe_spec_t){.asset_id = "n", .type = "http", .address = (char *) url,
                          .interval_ms = 60000, .timeout_ms = timeout_ms, .options_json = ""};
    const struct probe_ops *ops = probe_find("http");
    char err[200];
    assert_int_equal(ops->parse_options("", opts, err, sizeof err), 0);
    probe_run_t *run = NULL;
    s_res = NULL;
    assert_int_equal(ops->start(&env, &spec, *opts, s_probe_done, NULL, &run, err, sizeof err), 0);
    return run;
}

static void test_http_redirects_resolved_by_cares(void **state)
{
    rsrv_t srv;
    s_rsrv_start(&srv);
    curl_global_init(CURL_GLOBAL_DEFAULT);
    loop_t *loop = loop_new();
    curl_glue_t *cg = curl_glue_new(loop);
    resolver_t *r = s_resolver(loop, D.csv);
    assert_int_equal(probe_set_resolver(loop, r), 0);
    char url[128];

    /* 302 from a literal to host.test: only c-ares (pointed at the test server) knows it */
    snprintf(url, sizeof url, "http://127.0.0.1:%d/go", srv.port);
    probe_result_t *res = s_run_probe(loop, cg, "http", url);
    assert_true(res->success);
    assert_int_equal(res->status_code, 200);
    assert_string_equal(res->phases[0].name, "dns");
    assert_true(res->phases[0].duration_us > 0); /* the lookup of the second hop, ours */
    assert_true(res->latency_us >= res->phases[0].duration_us);
    probe_result_destroy(&res);

    /* a redirect to an NXDOMAIN name: our reason, the 302 stays the status */
    snprintf(url, sizeof url, "http://127.0.0.1:%d/nx", srv.port);
    res = s_run_probe(loop, cg, "http", url);
    assert_false(res->success);
    assert_int_equal(res->status_code, 302);
    assert_string_equal(res->reason, "dns: no such host \"nope.invalid\"");
    assert_true(res->phases[0].duration_us > 0);
    probe_result_destroy(&res);

    /* the probe's timeout bounds the second hop's lookup too */
    snprintf(url, sizeof url, "http://127.0.0.1:%d/quiet", srv.port);
    void *o = NULL;
    sd_ms_t t0 = sd_mono_ms();
    probe_run_t *run = s_start_http(loop, cg, url, 300, &o);
    sd_ms_t end = t0 + 3000;
    while (!s_res && sd_mono_ms() < end)
        loop_run_once(loop, 20);
    sd_ms_t el = sd_mono_ms() - t0;
    probe_find("http")->free_options(o);
    assert_non_null(s_res);
    printf("quiet: reason=\"%s\" after %lld ms\n", s_res->reason, (long long) el);
    assert_string_equal(s_res->reason, "dns: timeout");
    assert_true(el >= 280 && el < 1500);
    probe_result_destroy(&s_res);
    (void) run;

    /* cancelled during the second hop's lookup: nothing called back, nothing left behind */
    run = s_start_http(loop, cg, url, 3000, &o);
    end = sd_mono_ms() + 3000;
    size_t before = resolver_pending(r);
    while (resolver_pending(r) <= before && sd_mono_ms() < end)
        loop_run_once(loop, 5);
    printf("cancel mid-lookup: pending=%zu running=%zu\n", resolver_pending(r),
           curl_glue_running(cg));
    assert_true(resolver_pending(r) > before);
    assert_int_equal(curl_glue_running(cg), 0);
    probe_find("http")->cancel(run);
    probe_find("http")->free_options(o);

    /* cancelled during the second transfer (to host.test, held by the server) */
    snprintf(url, sizeof url, "http://127.0.0.1:%d/hold", srv.port);
    run = s_start_http(loop, cg, url, 3000, &o);
    end = sd_mono_ms() + 3000;
    while (__atomic_load_n(&srv.n_held_seen, __ATOMIC_SEQ_CST) < 1 && sd_mono_ms() < end)
        loop_run_once(loop, 5);
    printf("cancel mid-hop: held=%d running=%zu\n", srv.n_held_seen, curl_glue_running(cg));
    assert_int_equal(srv.n_held_seen, 1);
    assert_int_equal(curl_glue_running(cg), 1);
    probe_find("http")->cancel(run);
    probe_find("http")->free_options(o);
    assert_int_equal(curl_glue_running(cg), 0);
    for (int i = 0; i < 10; i++)
        loop_run_once(loop, 10);
    assert_null(s_res); /* neither cancelled run called back */

    probe_set_resolver(loop, NULL);
    resolver_destroy(&r);
    curl_glue_destroy(&cg);
    assert_int_equal(loop_destroy(&loop), 0); /* nothing registered: no watcher, no timer */
    curl_global_cleanup();
    s_rsrv_stop(&srv);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_names),
        cmocka_unit_test(test_literals_skip_lookup),
        cmocka_unit_test(test_silent_server_times_out),
        cmocka_unit_test(test_raw_queries),
        cmocka_unit_test(test_cancel_and_destroy_in_callback),
        cmocka_unit_test(test_probes_resolve_names),
        cmocka_unit_test(test_http_redirects_resolved_by_cares),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
