/* dns probe against a real DNS server (tests/lib/dns_server.py, a child process): every record
 * type, CNAME chains, NXDOMAIN/SERVFAIL/REFUSED and validRcodes, answerContains (a wrong
 * answer), truncated UDP falling back to TCP, transport tcp, a silent server, the rcode in
 * status_code, invalid options, and nothing left in the loop afterwards. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <cmocka.h>

#include "dns_server.h"
#include "loop.h"
#include "probe.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

static test_dns_server_t D, D6;
static int s_silent_fd, s_silent_port;

static int setup(void **state)
{
    if (test_dns_server_start(&D, 0) || test_dns_server_start(&D6, 1))
        return -1;
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
    test_dns_server_stop(&D6);
    close(s_silent_fd);
    return 0;
}

static probe_result_t *s_got;
static void s_done(probe_result_t *r, void *ctx) { s_got = r; }

/* Runs one dns probe; extra is spliced into the options object after "server". */
static probe_result_t *s_probe(const char *name, const char *server, const char *extra,
                               uint32_t timeout_ms)
{
    char opts[512];
    snprintf(opts, sizeof opts, "{\"server\": \"%s\"%s%s}", server, extra[0] ? ", " : "", extra);
    loop_t *loop = loop_new();
    probe_env_t env = {loop, NULL};
    probe_spec_t spec = {.asset_id = "d1", .type = "dns", .address = (char *) name,
                         .interval_ms = 60000, .timeout_ms = timeout_ms, .options_json = opts};
    const struct probe_ops *ops = probe_find("dns");
    assert_non_null(ops);
    void *o = NULL;
    char err[200] = "";
    assert_int_equal(ops->parse_options(opts, &o, err, sizeof err), 0);
    probe_run_t *run = NULL;
    s_got = NULL;
    sd_ms_t t0 = sd_mono_ms();
    int rc = ops->start(&env, &spec, o, s_done, NULL, &run, err, sizeof err);
    if (rc)
        printf("start: %s\n", err);
    assert_int_equal(rc, 0);
    assert_null(s_got);
    while (!s_got && sd_mono_ms() < t0 + 10000)
        loop_run_once(loop, 50);
    assert_non_null(s_got);
    ops->free_options(o);
    assert_int_equal(loop_destroy(&loop), 0); /* no watcher or timer left */
    printf("dns %s %s -> success=%d rcode=%d reason=\"%s\" latency_us=%u phases=%zu %lldms\n",
           name, opts, s_got->success, s_got->status_code, s_got->reason, s_got->latency_us,
           s_got->n_phases, (long long) (sd_mono_ms() - t0));
    return s_got;
}

static void s_expect(const char *name, const char *extra, int success, int rcode,
                     const char *reason)
{
    probe_result_t *r = s_probe(name, D.csv, extra, 3000);
    assert_int_equal(r->success, success);
    assert_int_equal(r->status_code, rcode);
    assert_string_equal(r->reason, reason);
    probe_result_destroy(&r);
}

static void test_record_types(void **state)
{
    probe_result_t *r = s_probe("a.test", D.csv, "\"answerContains\": \"10.0.0.1\"", 3000);
    assert_true(r->success);
    assert_int_equal(r->status_code, 0);
    assert_int_equal(r->n_phases, 1);
    assert_string_equal(r->phases[0].name, "dns");
    assert_true(r->latency_us > 0);
    probe_result_destroy(&r);
    s_expect("host.test", "\"recordType\": \"AAAA\", \"answerContains\": \"::1\"", 1, 0, "");
    s_expect("alias.test", "\"answerContains\": \"10.0.0.1\"", 1, 0, ""); /* through 2 CNAMEs */
    s_expect("alias.test", "\"answerContains\": \"CNAME\\talias2.test\"", 1, 0, "");
    s_expect("alias.test", "\"recordType\": \"CNAME\", \"answerContains\": \"alias2.test\"", 1, 0,
             "");
    s_expect("mx.test", "\"recordType\": \"MX\", \"answerContains\": \"10 mail.test\"", 1, 0, "");
    s_expect("txt.test", "\"recordType\": \"TXT\", \"answerContains\": \"v=spf1\"", 1, 0, "");
    s_expect("ns.test", "\"recordType\": \"NS\", \"answerContains\": \"ns1.test\"", 1, 0, "");
    s_expect("soa.test",
             "\"recordType\": \"SOA\", \"answerContains\": \"hostmaster.test 2024010101\"", 1, 0,
             "");
    s_expect("1.0.0.10.in-addr.arpa", "\"recordType\": \"PTR\", \"answerContains\": \"a.test\"",
             1, 0, "");
    s_expect("10.0.0.1", "\"recordType\": \"PTR\", \"answerContains\": \"a.test\"", 1, 0, "");
    /* NOERROR without an answer (NODATA) succeeds unless an answer is required */
    s_expect("a.test", "\"recordType\": \"MX\"", 1, 0, "");
    s_expect("a.test", "\"recordType\": \"MX\", \"answerContains\": \"mail\"", 0, 0,
             "no answer contains \"mail\"");
}

static void test_rcodes_and_wrong_answer(void **state)
{
    s_expect("nope.test", "", 0, 3, "rcode NXDOMAIN not in [NOERROR]");
    s_expect("nope.test", "\"validRcodes\": [\"NXDOMAIN\"]", 1, 3, "");
    s_expect("servfail.test", "", 0, 2, "rcode SERVFAIL not in [NOERROR]");
    s_expect("refused.test", "\"validRcodes\": [\"NOERROR\", \"SERVFAIL\"]", 0, 5,
             "rcode REFUSED not in [NOERROR,SERVFAIL]");
    s_expect("wrong.test", "\"answerContains\": \"10.0.0.1\"", 0, 0,
             "no answer contains \"10.0.0.1\"");
}

static void test_transports_and_timeout(void **state)
{
    /* UDP reply truncated: c-ares retries over TCP, where "via-tcp" is */
    s_expect("big.test", "\"recordType\": \"TXT\", \"answerContains\": \"via-tcp\"", 1, 0, "");
    s_expect("tcponly.test", "\"transport\": \"tcp\", \"answerContains\": \"10.0.0.2\"", 1, 0, "");
    probe_result_t *r = s_probe("tcponly.test", D.csv, "", 400); /* UDP: never answered */
    assert_false(r->success);
    assert_string_equal(r->reason, "dns: timeout");
    probe_result_destroy(&r);
    /* an IPv6 server, given bare and with a port */
    char v6[64];
    snprintf(v6, sizeof v6, "[::1]:%d", D6.port);
    r = s_probe("a.test", v6, "\"answerContains\": \"10.0.0.1\"", 3000);
    assert_true(r->success);
    probe_result_destroy(&r);
    /* a server that never answers */
    char silent[64];
    snprintf(silent, sizeof silent, "127.0.0.1:%d", s_silent_port);
    sd_ms_t t0 = sd_mono_ms();
    r = s_probe("a.test", silent, "", 500);
    sd_ms_t el = sd_mono_ms() - t0;
    assert_false(r->success);
    assert_string_equal(r->reason, "dns: timeout");
    assert_int_equal(r->status_code, -1); /* no reply, no rcode */
    assert_true(el >= 490 && el < 2000);
    probe_result_destroy(&r);
}

static void test_invalid_options(void **state)
{
    const struct probe_ops *ops = probe_find("dns");
    const char *bad[][2] = {
        {"{\"recordType\": \"SRV\"}", "invalid options: dns options: recordType: \"SRV\" is not "
                                      "one of \"A\", \"AAAA\", \"CNAME\", \"MX\", \"TXT\", "
                                      "\"NS\", \"SOA\", \"PTR\""},
        {"{\"validRcodes\": [\"NOERROR\", \"BOGUS\"]}",
         "invalid options: dns options: validRcodes[1]: \"BOGUS\" is not one of \"NOERROR\", "
         "\"FORMERR\", \"SERVFAIL\", \"NXDOMAIN\", \"NOTIMP\", \"REFUSED\""}, /* cut */
        {"{\"server\": \"dns.example.com\"}",
         "invalid options: dns options: server: expected an IP address, \"ip:port\" or "
         "\"[ipv6]:port\", got \"dns.example.com\""},
        {"{\"transport\": \"quic\"}",
         "invalid options: dns options: transport: \"quic\" is not one of \"udp\", \"tcp\""},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        void *o = NULL;
        char err[400] = "";
        assert_int_equal(ops->parse_options(bad[i][0], &o, err, sizeof err), 0);
        probe_spec_t spec = {.asset_id = "x", .type = "dns", .address = "a.test",
                             .timeout_ms = 1000, .options_json = (char *) bad[i][0]};
        probe_run_t *run = NULL;
        assert_int_equal(ops->start(NULL, &spec, o, s_done, NULL, &run, err, sizeof err),
                         -EINVAL);
        printf("  %s\n", err);
        assert_memory_equal(err, bad[i][1], strlen(bad[i][1]));
        ops->free_options(o);
    }
}

static void test_cancel(void **state)
{
    loop_t *loop = loop_new();
    probe_env_t env = {loop, NULL};
    char opts[128];
    snprintf(opts, sizeof opts, "{\"server\": \"%s\"}", D.csv);
    probe_spec_t spec = {.asset_id = "d1", .type = "dns", .address = "silent.test",
                         .timeout_ms = 3000, .options_json = opts};
    const struct probe_ops *ops = probe_find("dns");
    void *o = NULL;
    char err[200];
    assert_int_equal(ops->parse_options(opts, &o, err, sizeof err), 0);
    probe_run_t *run = NULL;
    s_got = NULL;
    assert_int_equal(ops->start(&env, &spec, o, s_done, NULL, &run, err, sizeof err), 0);
    for (int i = 0; i < 5; i++)
        loop_run_once(loop, 10);
    ops->cancel(run);
    assert_null(s_got);
    ops->free_options(o);
    assert_int_equal(loop_destroy(&loop), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_record_types),
        cmocka_unit_test(test_rcodes_and_wrong_answer),
        cmocka_unit_test(test_transports_and_timeout),
        cmocka_unit_test(test_invalid_options),
        cmocka_unit_test(test_cancel),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
