/* tls probe, tcp over TLS and https against real TLS servers in a thread, with certificates
 * generated here with OpenSSL's C API: a test CA, a valid leaf for localhost/127.0.0.1/::1,
 * a self-signed one, an expired one, one for example.org, one expiring in 5 days, and two
 * whose names carry invalid UTF-8 (a long SAN dNSName, a CN without SAN). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <cmocka.h>

#include "curl_glue.h"
#include "loop.h"
#include "probe.h"
#include "sd_utf8.h"
#include "tls_conn.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

enum { C_VALID, C_SELF, C_EXPIRED, C_WRONGHOST, C_SOON, C_BADSAN, C_BADCN, N_CERTS };

typedef struct {
    int lfd[N_CERTS], lfd6, port[N_CERTS], port6, stop[2];
    SSL_CTX *ctx[N_CERTS];
    pthread_t th;
    char dir[64], ca_path[96];
    int64_t valid_not_after;
} srv_t;
static srv_t S;
static long s_serial = 1;

static void s_ext(X509 *x, X509 *issuer, int nid, const char *val)
{
    X509V3_CTX c;
    X509V3_set_ctx_nodb(&c);
    X509V3_set_ctx(&c, issuer, x, NULL, NULL, 0);
    X509_EXTENSION *e = X509V3_EXT_conf_nid(NULL, &c, nid, val);
    assert_non_null(e);
    X509_add_ext(x, e, -1);
    X509_EXTENSION_free(e);
}

static X509 *s_cert(EVP_PKEY *key, const char *cn, const char *san, X509 *issuer, EVP_PKEY *ikey,
                    long from_days, long to_days, int ca)
{
    X509 *x = X509_new();
    X509_set_version(x, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(x), s_serial++);
    X509_gmtime_adj(X509_getm_notBefore(x), from_days * 86400L);
    /* half a day off whole days, so "expires in N days" does not depend on the second */
    X509_gmtime_adj(X509_getm_notAfter(x), to_days * 86400L + (to_days > 0 ? 43200 : -43200));
    X509_set_pubkey(x, key);
    X509_NAME *n = X509_get_subject_name(x);
    X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_ASC, (const unsigned char *) cn, -1, -1, 0);
    X509_set_issuer_name(x, issuer ? X509_get_subject_name(issuer) : n);
    s_ext(x, issuer ? issuer : x, NID_basic_constraints, ca ? "critical,CA:TRUE" : "CA:FALSE");
    if (ca)
        s_ext(x, x, NID_key_usage, "critical,keyCertSign,cRLSign");
    if (san)
        s_ext(x, issuer ? issuer : x, NID_subject_alt_name, san);
    assert_true(X509_sign(x, ikey ? ikey : key, EVP_sha256()) > 0);
    return x;
}

/* What a server may put in its certificate: a dNSName (IA5String) and a CN (T61String) of
 * raw bytes, which OpenSSL stores and parses as they are (a UTF8String it would refuse). */
#define BAD_SAN_HEAD "bad\xFF\xC3("
#define BAD_CN "cn\xED\xA0\x80x\n" /* a surrogate, then a newline */
static char s_bad_san[256];

static X509 *s_cert_raw_names(EVP_PKEY *key, X509 *ca, EVP_PKEY *cakey, const char *cn,
                              const char *dns)
{
    X509 *x = X509_new();
    X509_set_version(x, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(x), s_serial++);
    X509_gmtime_adj(X509_getm_notBefore(x), -86400L);
    X509_gmtime_adj(X509_getm_notAfter(x), 30 * 86400L + 43200);
    X509_set_pubkey(x, key);
    X509_NAME *n = X509_get_subject_name(x);
    assert_int_equal(X509_NAME_add_entry_by_NID(n, NID_commonName, V_ASN1_T61STRING,
                                                (const unsigned char *) cn, -1, -1, 0), 1);
    X509_set_issuer_name(x, X509_get_subject_name(ca));
    if (dns) {
        GENERAL_NAMES *gens = sk_GENERAL_NAME_new_null();
        GENERAL_NAME *g = GENERAL_NAME_new();
        ASN1_IA5STRING *ia5 = ASN1_IA5STRING_new();
        assert_int_equal(ASN1_STRING_set(ia5, dns, (int) strlen(dns)), 1);
        GENERAL_NAME_set0_value(g, GEN_DNS, ia5);
        sk_GENERAL_NAME_push(gens, g);
        assert_int_equal(
            X509_add1_ext_i2d(x, NID_subject_alt_name, gens, 0, X509V3_ADD_DEFAULT), 1);
        GENERAL_NAMES_free(gens);
    }
    assert_true(X509_sign(x, cakey, EVP_sha256()) > 0);
    return x;
}

static int s_listen(int family, int *port)
{
    int fd = socket(family, SOCK_STREAM, 0);
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof ss);
    socklen_t l;
    if (family == AF_INET) {
        struct sockaddr_in *a = (struct sockaddr_in *) &ss;
        a->sin_family = AF_INET;
        a->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        l = sizeof *a;
    } else {
        struct sockaddr_in6 *a = (struct sockaddr_in6 *) &ss;
        a->sin6_family = AF_INET6;
        a->sin6_addr = in6addr_loopback;
        l = sizeof *a;
    }
    assert_int_equal(bind(fd, (struct sockaddr *) &ss, l), 0);
    getsockname(fd, (struct sockaddr *) &ss, &l);
    *port = ntohs(family == AF_INET ? ((struct sockaddr_in *) &ss)->sin_port
                                    : ((struct sockaddr_in6 *) &ss)->sin6_port);
    assert_int_equal(listen(fd, 16), 0);
    return fd;
}

/* One connection: handshake, then answer "GET" with HTTP 200 "ok", "PING" with "+PONG". */
static void s_serve(SSL_CTX *ctx, int fd)
{
    struct timeval tv = {2, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    SSL *ssl = SSL_new(ctx);
    SSL_set_fd(ssl, fd);
    if (SSL_accept(ssl) == 1) {
        char buf[2048];
        int n = SSL_read(ssl, buf, sizeof buf - 1);
        if (n > 0) {
            buf[n] = 0;
            const char *resp = strncmp(buf, "GET ", 4) == 0
                                   ? "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok"
                                   : strstr(buf, "PING") ? "+PONG\r\n" : "-ERR\r\n";
            SSL_write(ssl, resp, (int) strlen(resp));
            SSL_shutdown(ssl);
        }
    }
    SSL_free(ssl);
    ERR_clear_error();
    close(fd);
}

static void *s_server(void *arg)
{
    (void) arg;
    for (;;) {
        struct pollfd p[N_CERTS + 2];
        for (int i = 0; i < N_CERTS; i++)
            p[i] = (struct pollfd){S.lfd[i], POLLIN, 0};
        p[N_CERTS] = (struct pollfd){S.lfd6, POLLIN, 0};
        p[N_CERTS + 1] = (struct pollfd){S.stop[0], POLLIN, 0};
        if (poll(p, N_CERTS + 2, -1) < 0)
            continue;
        if (p[N_CERTS + 1].revents)
            break;
        for (int i = 0; i <= N_CERTS; i++) {
            if (!p[i].revents)
                continue;
            int fd = accept(p[i].fd, NULL, NULL);
            if (fd >= 0)
                s_serve(S.ctx[i == N_CERTS ? C_VALID : i], fd);
        }
    }
    return NULL;
}

static SSL_CTX *s_server_ctx(X509 *cert, EVP_PKEY *key)
{
    SSL_CTX *c = SSL_CTX_new(TLS_server_method());
    assert_int_equal(SSL_CTX_use_certificate(c, cert), 1);
    assert_int_equal(SSL_CTX_use_PrivateKey(c, key), 1);
    return c;
}

static int setup(void **state)
{
    memset(&S, 0, sizeof S);
    signal(SIGPIPE, SIG_IGN); /* the server writes to probes that already hung up */
    snprintf(S.dir, sizeof S.dir, "/tmp/statusd-tls-XXXXXX");
    assert_non_null(mkdtemp(S.dir));
    EVP_PKEY *cakey = EVP_EC_gen("P-256"), *key = EVP_EC_gen("P-256");
    X509 *ca = s_cert(cakey, "StatusD Test CA", NULL, NULL, NULL, -1, 365, 1);
    X509 *certs[N_CERTS];
    const char *local = "DNS:localhost,IP:127.0.0.1,IP:::1";
    certs[C_VALID] = s_cert(key, "localhost", local, ca, cakey, -1, 30, 0);
    certs[C_SELF] = s_cert(key, "localhost", local, NULL, NULL, -1, 30, 0);
    certs[C_EXPIRED] = s_cert(key, "localhost", local, ca, cakey, -30, -3, 0);
    certs[C_WRONGHOST] = s_cert(key, "example.org", "DNS:example.org", ca, cakey, -1, 30, 0);
    certs[C_SOON] = s_cert(key, "localhost", local, ca, cakey, -1, 5, 0);
    snprintf(s_bad_san, sizeof s_bad_san, "%s", BAD_SAN_HEAD);
    for (int i = 0; i < 80; i++) /* 160 bytes of 'é': longer than the name's 127 */
        strcat(s_bad_san, "\xC3\xA9");
    strcat(s_bad_san, ".example");
    certs[C_BADSAN] = s_cert_raw_names(key, ca, cakey, "localhost", s_bad_san);
    certs[C_BADCN] = s_cert_raw_names(key, ca, cakey, BAD_CN, NULL);
    S.valid_not_after = tls_cert_not_after(certs[C_VALID]);
    snprintf(S.ca_path, sizeof S.ca_path, "%s/ca.pem", S.dir);
    FILE *f = fopen(S.ca_path, "w");
    assert_non_null(f);
    PEM_write_X509(f, ca);
    fclose(f);
    setenv("SSL_CERT_FILE", S.ca_path, 1); /* before the first client context is made */
    for (int i = 0; i < N_CERTS; i++) {
        S.ctx[i] = s_server_ctx(certs[i], key);
        S.lfd[i] = s_listen(AF_INET, &S.port[i]);
        X509_free(certs[i]);
    }
    S.lfd6 = s_listen(AF_INET6, &S.port6);
    X509_free(ca);
    EVP_PKEY_free(cakey);
    EVP_PKEY_free(key);
    assert_int_equal(pipe(S.stop), 0);
    assert_int_equal(pthread_create(&S.th, NULL, s_server, NULL), 0);
    curl_global_init(CURL_GLOBAL_DEFAULT);
    return 0;
}

static int teardown(void **state)
{
    assert_int_equal(write(S.stop[1], "q", 1), 1);
    pthread_join(S.th, NULL);
    for (int i = 0; i < N_CERTS; i++) {
        close(S.lfd[i]);
        SSL_CTX_free(S.ctx[i]);
    }
    close(S.lfd6);
    close(S.stop[0]), close(S.stop[1]);
    unlink(S.ca_path);
    rmdir(S.dir);
    tls_conn_global_cleanup();
    curl_global_cleanup();
    return 0;
}

/* --- one probe in a real loop --------------------------------------------------------------- */

static probe_result_t *s_got;
static void s_done(probe_result_t *r, void *ctx) { s_got = r; }

static probe_result_t *s_probe(const char *type, const char *addr, const char *opts,
                               uint32_t timeout_ms)
{
    loop_t *loop = loop_new();
    curl_glue_t *cg = curl_glue_new(loop);
    probe_env_t env = {loop, cg};
    probe_spec_t spec = {.asset_id = "t1", .type = (char *) type, .address = (char *) addr,
                         .interval_ms = 60000, .timeout_ms = timeout_ms,
                         .options_json = (char *) opts};
    const struct probe_ops *ops = probe_find(type);
    assert_non_null(ops);
    void *o = NULL;
    char err[200] = "";
    assert_int_equal(ops->parse_options(opts, &o, err, sizeof err), 0);
    probe_run_t *run = NULL;
    s_got = NULL;
    sd_ms_t t0 = sd_mono_ms();
    assert_int_equal(ops->start(&env, &spec, o, s_done, NULL, &run, err, sizeof err), 0);
    assert_null(s_got);
    while (!s_got && sd_mono_ms() < t0 + 10000)
        loop_run_once(loop, 100);
    assert_non_null(s_got);
    ops->free_options(o);
    curl_glue_destroy(&cg);
    assert_int_equal(loop_destroy(&loop), 0); /* nothing left registered */
    printf("%s %s %s -> success=%d reason=\"%s\" cert_expiry=%lld phases=%zu %lldms\n", type,
           addr, opts, s_got->success, s_got->reason, (long long) s_got->cert_expiry_unix,
           s_got->n_phases, (long long) (sd_mono_ms() - t0));
    return s_got;
}

static const char *s_addr(int which)
{
    static char buf[4][64];
    static int k;
    char *b = buf[k++ % 4];
    snprintf(b, 64, "127.0.0.1:%d", S.port[which]);
    return b;
}

static void s_expect(const char *type, const char *addr, const char *opts, int success,
                     const char *reason)
{
    probe_result_t *r = s_probe(type, addr, opts, 3000);
    assert_int_equal(r->success, success);
    assert_string_equal(r->reason, reason);
    probe_result_destroy(&r);
}

static void test_tls_valid(void **state)
{
    probe_result_t *r = s_probe("tls", s_addr(C_VALID), "", 3000);
    assert_true(r->success);
    assert_int_equal(r->cert_expiry_unix, S.valid_not_after);
    assert_true(r->cert_expiry_unix > time(NULL) + 30 * 86400);
    assert_int_equal(r->n_phases, 2);
    assert_string_equal(r->phases[0].name, "connect");
    assert_string_equal(r->phases[1].name, "tls");
    probe_result_destroy(&r);
    /* by name with SNI, and IPv6 */
    char a[64];
    snprintf(a, sizeof a, "localhost:%d", S.port[C_VALID]);
    s_expect("tls", a, "{\"serverName\":\"localhost\"}", 1, "");
    snprintf(a, sizeof a, "[::1]:%d", S.port6);
    s_expect("tls", a, "", 1, "");
}

static void test_tls_min_days(void **state)
{
    s_expect("tls", s_addr(C_VALID), "{\"minDaysValid\":60}", 0,
             "certificate expires in 30 days (< 60)");
    s_expect("tls", s_addr(C_SOON), "", 0, "certificate expires in 5 days (< 14)");
    s_expect("tls", s_addr(C_SOON), "{\"minDaysValid\":3}", 1, "");
}

static void test_tls_bad_certs(void **state)
{
    probe_result_t *r = s_probe("tls", s_addr(C_EXPIRED), "", 3000);
    assert_false(r->success);
    assert_string_equal(r->reason, "certificate expired 3 days ago");
    assert_true(r->cert_expiry_unix > 0 && r->cert_expiry_unix < time(NULL));
    probe_result_destroy(&r);
    s_expect("tls", s_addr(C_SELF), "", 0, "TLS: self-signed certificate");
    s_expect("tls", s_addr(C_WRONGHOST), "", 0, "certificate is for example.org, not 127.0.0.1");
    char a[64];
    snprintf(a, sizeof a, "localhost:%d", S.port[C_WRONGHOST]);
    s_expect("tls", a, "", 0, "certificate is for example.org, not localhost");
    /* tlsVerify false: only the expiry counts */
    s_expect("tls", s_addr(C_SELF), "{\"tlsVerify\":false}", 1, "");
    s_expect("tls", s_addr(C_EXPIRED), "{\"tlsVerify\":false}", 0,
             "certificate expired 3 days ago");
}

static void test_tls_connect_errors(void **state)
{
    int port;
    int fd = s_listen(AF_INET, &port);
    close(fd);
    char a[64];
    snprintf(a, sizeof a, "127.0.0.1:%d", port);
    s_expect("tls", a, "", 0, "connect: connection refused");
    s_expect("tls", "example.invalid:443", "", 0,
             "name resolution for tcp/tls needs c-ares (not yet wired)");
    /* a plain TCP server that never speaks TLS: the handshake times out */
    int lfd = s_listen(AF_INET, &port);
    snprintf(a, sizeof a, "127.0.0.1:%d", port);
    sd_ms_t t0 = sd_mono_ms();
    probe_result_t *r = s_probe("tls", a, "", 500);
    int64_t el = sd_mono_ms() - t0;
    assert_false(r->success);
    assert_string_equal(r->reason, "timeout after 500 ms in the TLS handshake");
    assert_true(el >= 490 && el < 2000);
    probe_result_destroy(&r);
    close(lfd);
}

/* Names from the certificate reach the reason (and the collector's database) as valid
 * one-line UTF-8: invalid bytes become U+FFFD, the long SAN is cut at a character boundary
 * with "…". Before, the raw bytes were copied and cut at byte 127. */
static void test_cert_names_are_utf8(void **state)
{
    const char *fffd = "\xEF\xBF\xBD";
    char name[200], want[300];
    /* "bad", two invalid bytes, "(", then 57 'é' and "…": 127 bytes, the name buffer's bound */
    snprintf(name, sizeof name, "bad%s%s(", fffd, fffd);
    for (int i = 0; i < 57; i++)
        strcat(name, "\xC3\xA9");
    strcat(name, "\xE2\x80\xA6");
    assert_int_equal(strlen(name), 127);
    snprintf(want, sizeof want, "certificate is for %s, not 127.0.0.1", name);
    probe_result_t *r = s_probe("tls", s_addr(C_BADSAN), "", 3000);
    size_t n = strlen(r->reason);
    printf("reason: %zu bytes, valid=%d\n", n, sd_utf8_valid(r->reason, n));
    assert_false(r->success);
    assert_true(sd_utf8_valid(r->reason, n) && n < PROBE_REASON_MAX);
    assert_string_equal(r->reason, want);
    probe_result_destroy(&r);
    /* no SAN: the CN, a surrogate (3 invalid bytes) and a newline */
    snprintf(want, sizeof want, "TLS: certificate is for cn%s%s%sx , not 127.0.0.1", fffd, fffd,
             fffd);
    r = s_probe("tcp", s_addr(C_BADCN), "{\"tls\":true}", 3000);
    assert_true(sd_utf8_valid(r->reason, strlen(r->reason)));
    assert_string_equal(r->reason, want);
    probe_result_destroy(&r);
}

static void test_tcp_over_tls(void **state)
{
    s_expect("tcp", s_addr(C_VALID), "{\"tls\":true,\"send\":\"PING\\r\\n\",\"expect\":\"+PONG\"}",
             1, "");
    s_expect("tcp", s_addr(C_VALID), "{\"tls\":true,\"send\":\"HELLO\\r\\n\",\"expect\":\"+PONG\"}",
             0, "reply does not contain \"+PONG\"");
    s_expect("tcp", s_addr(C_SELF), "{\"tls\":true}", 0, "TLS: self-signed certificate");
    s_expect("tcp", s_addr(C_EXPIRED), "{\"tls\":true}", 0, "TLS: certificate has expired");
    s_expect("tcp", s_addr(C_SELF), "{\"tls\":true,\"tlsVerify\":false}", 1, "");
    s_expect("tcp", s_addr(C_WRONGHOST), "{\"tls\":true,\"serverName\":\"example.org\"}", 1, "");
    s_expect("tcp", s_addr(C_WRONGHOST), "{\"tls\":true}", 0,
             "TLS: certificate is for example.org, not 127.0.0.1");
    probe_result_t *r = s_probe("tcp", s_addr(C_VALID), "{\"tls\":true}", 3000);
    assert_true(r->success);
    assert_int_equal(r->cert_expiry_unix, S.valid_not_after);
    probe_result_destroy(&r);
}

static void test_https(void **state)
{
    char url[80];
    snprintf(url, sizeof url, "https://localhost:%d/", S.port[C_VALID]);
    probe_result_t *r = s_probe("http", url, "", 3000);
    assert_true(r->success);
    assert_int_equal(r->status_code, 200);
    assert_int_equal(r->cert_expiry_unix, S.valid_not_after);
    probe_result_destroy(&r);
    snprintf(url, sizeof url, "https://localhost:%d/", S.port[C_SELF]);
    s_expect("http", url, "", 0, "TLS: self-signed certificate");
    r = s_probe("http", url, "{\"tlsVerify\":false,\"bodyContains\":\"ok\"}", 3000);
    assert_true(r->success);
    assert_true(r->cert_expiry_unix > time(NULL));
    probe_result_destroy(&r);
    snprintf(url, sizeof url, "https://localhost:%d/", S.port[C_EXPIRED]);
    s_expect("http", url, "", 0, "TLS: certificate has expired");
}

static void test_invalid_options_are_a_reason(void **state)
{
    const struct probe_ops *ops = probe_find("tls");
    void *o = NULL;
    char err[200] = "";
    assert_int_equal(ops->parse_options("{\"minDaysValid\":-1}", &o, err, sizeof err), 0);
    probe_spec_t spec = {.asset_id = "x", .type = "tls", .address = "127.0.0.1:1",
                         .timeout_ms = 1000, .options_json = "{\"minDaysValid\":-1}"};
    probe_run_t *run = NULL;
    assert_int_equal(ops->start(NULL, &spec, o, s_done, NULL, &run, err, sizeof err), -EINVAL);
    printf("err=%s\n", err);
    assert_string_equal(err, "invalid options: tls options: minDaysValid: expected an integer "
                             "from 0 to 3650, got -1");
    ops->free_options(o);
    assert_int_equal(ops->parse_options("not json", &o, err, sizeof err), 0);
    assert_int_equal(ops->start(NULL, &spec, o, s_done, NULL, &run, err, sizeof err), -EINVAL);
    assert_non_null(strstr(err, "invalid JSON"));
    ops->free_options(o);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tls_valid),
        cmocka_unit_test(test_tls_min_days),
        cmocka_unit_test(test_tls_bad_certs),
        cmocka_unit_test(test_tls_connect_errors),
        cmocka_unit_test(test_tcp_over_tls),
        cmocka_unit_test(test_cert_names_are_utf8),
        cmocka_unit_test(test_https),
        cmocka_unit_test(test_invalid_options_are_a_reason),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
