/* sd_probe_options: per-type fields in the manifest, validated at load with file:line:col,
 * normalized into asset->options; the agent-side check of an options object. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <cmocka.h>

#include "sd_config.h"
#include "sd_probe_options.h"
#include "sd_utf8.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

/* One asset; EXTRA is spliced in on line 3 after the address, starting at column 3. */
static int s_parse(const char *type, const char *address, const char *extra, sd_manifest_t **m,
                   char *err, size_t errlen)
{
    char text[4096];
    snprintf(text, sizeof text,
             "{\"assets\": [{\"id\": \"a\", \"assetType\": \"%s\", \"name\": \"A\",\n"
             "  \"address\": \"%s\", \"intervalSeconds\": 60, \"timeoutSeconds\": 5%s\n"
             "  %s}]}\n",
             type, address, extra[0] ? "," : "", extra);
    return sd_manifest_parse("m.json", text, m, err, errlen);
}

static void s_bad(const char *type, const char *address, const char *extra, const char *want)
{
    sd_manifest_t *m = NULL;
    char err[512] = "";
    assert_int_equal(s_parse(type, address, extra, &m, err, sizeof err), -EINVAL);
    printf("  %s\n", err);
    assert_null(m);
    assert_string_equal(err, want);
}

static void s_good(const char *type, const char *address, const char *extra, const char *opts)
{
    sd_manifest_t *m = NULL;
    char err[512] = "";
    int rc = s_parse(type, address, extra, &m, err, sizeof err);
    if (rc)
        printf("  unexpected: %s\n", err);
    assert_int_equal(rc, 0);
    char *got = m->assets[0].options ? json_dumps(m->assets[0].options, JSON_COMPACT | JSON_SORT_KEYS)
                                     : NULL;
    if (opts)
        assert_string_equal(got, opts);
    else
        assert_null(got);
    free(got);
    sd_manifest_destroy(&m);
}

static void test_http_options_load(void **state)
{
    s_good("http", "http://x/", "", NULL); /* the seed's assets carry no options */
    s_good("http", "http://x/",
           "\"method\": \"POST\", \"body\": \"{}\", \"headers\": {\"X-A\": \"1\"}, "
           "\"bodyContains\": \"ok\", \"bodyNotRegex\": \"err(or)?\", \"followRedirects\": false, "
           "\"maxRedirects\": 3, \"tlsVerify\": false, \"httpVersion\": \"2\", "
           "\"expectedStatusCodes\": [200]",
           "{\"body\":\"{}\",\"bodyContains\":\"ok\",\"bodyNotRegex\":\"err(or)?\","
           "\"followRedirects\":false,\"headers\":{\"X-A\":\"1\"},\"httpVersion\":\"2\","
           "\"maxRedirects\":3,\"method\":\"POST\",\"tlsVerify\":false}");
}

static void test_http_option_errors(void **state)
{
    s_bad("http", "http://x/", "\"method\": \"FETCH\"",
          "m.json:3:13: assets[0].method: \"FETCH\" is not one of \"GET\", \"HEAD\", \"POST\", "
          "\"PUT\", \"PATCH\", \"DELETE\", \"OPTIONS\"");
    s_bad("http", "http://x/", "\"maxRedirects\": 51",
          "m.json:3:19: assets[0].maxRedirects: expected an integer from 0 to 50, got 51");
    s_bad("http", "http://x/", "\"followRedirects\": \"yes\"",
          "m.json:3:22: assets[0].followRedirects: expected true or false, got a string");
    s_bad("http", "http://x/", "\"headers\": {\"X-A\": 1}",
          "m.json:3:22: assets[0].headers.X-A: expected a string, got an integer");
    s_bad("http", "http://x/", "\"headers\": [1]",
          "m.json:3:14: assets[0].headers: expected an object of header strings, got an array");
    s_bad("http", "http://x/", "\"bodyRegex\": \"(unclosed\"",
          "m.json:3:16: assets[0].bodyRegex: invalid regular expression \"(unclosed\": "
          "Unmatched ( or \\(");
    s_bad("http", "http://x/", "\"bodyContains\": \"\"",
          "m.json:3:19: assets[0].bodyContains: expected a non-empty string, got an empty string");
    s_bad("http", "http://x/", "\"httpVersion\": 2",
          "m.json:3:18: assets[0].httpVersion: expected one of \"1.0\", \"1.1\", \"2\", got an "
          "integer");
    s_bad("http", "http://x/", "\"body\": \"x\"",
          "m.json:3:11: assets[0].body: method GET takes no body (use POST, PUT, PATCH or "
          "DELETE)");
    s_bad("http", "http://x/", "\"send\": \"x\"",
          "m.json:3:3: assets[0].send: unknown field (allowed: id, assetType, name, address, "
          "intervalSeconds, timeoutSeconds, expectedStatusCodes, metadata, locations, quorum, "
          "failureThreshold, successThreshold, incidentIntervalSeconds, degradedLatencyMs, "
          "maxLatencyMs, flapping, method, headers, body, bodyContains, "
          "bodyNotContains, bodyRegex, bodyNotRegex, followRedirects, maxRedirects, tlsVerify, "
          "httpVersion)");
}

static void test_tcp_and_tls(void **state)
{
    s_good("tcp", "127.0.0.1:6379", "\"send\": \"PING\\r\\n\", \"expect\": \"+PONG\"",
           "{\"expect\":\"+PONG\",\"send\":\"PING\\r\\n\"}");
    s_good("tcp", "[::1]:25", "\"tls\": true, \"serverName\": \"mail.example.org\"",
           "{\"serverName\":\"mail.example.org\",\"tls\":true}");
    s_good("tls", "example.org:443", "\"minDaysValid\": 30", "{\"minDaysValid\":30}");
    s_bad("tcp", "127.0.0.1:6379", "\"expect\": 220",
          "m.json:3:13: assets[0].expect: expected a non-empty string, got an integer");
    s_bad("tcp", "127.0.0.1:6379", "\"tlsVerify\": false",
          "m.json:3:16: assets[0].tlsVerify: only used with \"tls\": true");
    s_bad("tcp", "127.0.0.1:6379", "\"expectedStatusCodes\": [200]",
          "m.json:3:3: assets[0].expectedStatusCodes: unknown field (allowed: id, assetType, "
          "name, address, intervalSeconds, timeoutSeconds, metadata, locations, quorum, "
          "failureThreshold, successThreshold, incidentIntervalSeconds, degradedLatencyMs, "
          "maxLatencyMs, flapping, send, expect, tls, tlsVerify, serverName)");
    s_bad("tls", "example.org:443", "\"minDaysValid\": -1",
          "m.json:3:19: assets[0].minDaysValid: expected an integer from 0 to 3650, got -1");
    s_bad("tls", "example.org:443", "\"serverName\": \"bad name\"",
          "m.json:3:17: assets[0].serverName: \"bad name\" is not a host name");
    s_bad("tls", "example.org:443", "\"send\": \"x\"",
          "m.json:3:3: assets[0].send: unknown field (allowed: id, assetType, name, address, "
          "intervalSeconds, timeoutSeconds, metadata, locations, quorum, failureThreshold, "
          "successThreshold, incidentIntervalSeconds, degradedLatencyMs, maxLatencyMs, flapping, "
          "serverName, minDaysValid, tlsVerify)");
    s_bad("tcp", "example.org", "",
          "m.json:2:14: assets[0].address: a tcp asset needs host:port: expected \"host:port\" "
          "(IPv6 as \"[::1]:port\"), got \"example.org\"");
    s_bad("tls", "example.org:99999", "",
          "m.json:2:14: assets[0].address: a tls asset needs host:port: expected a port from 1 "
          "to 65535 after the host, got \"example.org:99999\"");
    s_bad("tcp", "[::zz]:80", "",
          "m.json:2:14: assets[0].address: a tcp asset needs host:port: \"::zz\" is not a host "
          "name or IP address");
}

/* Messages quote config text: cut at a character boundary with "…", never inside one. */
static void test_messages_cut_at_boundary(void **state)
{
    (void) state;
    char addr[700] = "x", host[256], err[64];
    for (int i = 0; i < 300; i++) /* 601 bytes of "x" and 'é', no port */
        strcat(addr, "\xC3\xA9");
    int port = 0;
    assert_int_equal(sd_probe_split_hostport(addr, host, sizeof host, &port, err, sizeof err),
                     -EINVAL);
    printf("  error: %s\n", err);
    /* the text up to "x" is 51 bytes; 4 x 'é' and "…" fit in the 63 left */
    assert_string_equal(err, "expected \"host:port\" (IPv6 as \"[::1]:port\"), got \"x"
                             "\xC3\xA9\xC3\xA9\xC3\xA9\xC3\xA9\xE2\x80\xA6");
    assert_true(sd_utf8_valid(err, strlen(err)));
}

static void test_agent_side_check(void **state)
{
    char err[256] = "";
    json_t *o = json_loads("{\"expect\": \"x\", \"bogus\": 1}", 0, NULL);
    assert_int_equal(sd_probe_options_check("tcp", o, err, sizeof err), -EINVAL);
    printf("  %s\n", err);
    assert_string_equal(err, "tcp options: bogus: unknown option (allowed: send, expect, tls, "
                             "tlsVerify, serverName)");
    json_decref(o);
    o = json_loads("{\"bodyRegex\": \"[\"}", 0, NULL);
    assert_int_equal(sd_probe_options_check("http", o, err, sizeof err), -EINVAL);
    assert_non_null(strstr(err, "http options: bodyRegex: invalid regular expression"));
    json_decref(o);
    assert_int_equal(sd_probe_options_check("http", NULL, err, sizeof err), 0);
    assert_int_equal(sd_probe_options_check("gopher", NULL, err, sizeof err), -EINVAL);
    assert_true(sd_probe_type_known("tls"));
    assert_true(sd_probe_type_known("dns"));
    assert_true(sd_probe_type_known("icmp"));
    assert_false(sd_probe_type_known("smtp"));
    assert_string_equal(sd_probe_types_str(), "http, tcp, tls, dns, icmp");
}

static void test_dns_and_icmp(void **state)
{
    s_good("dns", "example.org", "", NULL);
    s_good("dns", "example.org",
           "\"recordType\": \"MX\", \"server\": \"10.0.0.53:5353\", \"validRcodes\": "
           "[\"NOERROR\", \"NXDOMAIN\"], \"answerContains\": \"mail\", \"transport\": \"tcp\"",
           "{\"answerContains\":\"mail\",\"recordType\":\"MX\",\"server\":\"10.0.0.53:5353\","
           "\"transport\":\"tcp\",\"validRcodes\":[\"NOERROR\",\"NXDOMAIN\"]}");
    s_good("dns", "example.org", "\"server\": \"2001:db8::53\"", "{\"server\":\"2001:db8::53\"}");
    s_good("dns", "example.org", "\"server\": \"[2001:db8::53]:53\"",
           "{\"server\":\"[2001:db8::53]:53\"}");
    s_good("icmp", "10.0.0.1", "\"count\": 5, \"intervalMs\": 100, \"maxLossPercent\": 20",
           "{\"count\":5,\"intervalMs\":100,\"maxLossPercent\":20}");
    s_good("icmp", "2001:db8::1", "", NULL);
    s_good("icmp", "gw.example.org", "", NULL);
    s_bad("dns", "example.org", "\"recordType\": \"SRV\"",
          "m.json:3:17: assets[0].recordType: \"SRV\" is not one of \"A\", \"AAAA\", \"CNAME\", "
          "\"MX\", \"TXT\", \"NS\", \"SOA\", \"PTR\"");
    s_bad("dns", "example.org", "\"validRcodes\": []",
          "m.json:3:18: assets[0].validRcodes: expected a list of 1 to 16 names, got a list of "
          "another size");
    s_bad("dns", "example.org", "\"validRcodes\": [\"NOERROR\", \"OK\"]",
          "m.json:3:30: assets[0].validRcodes[1]: \"OK\" is not one of \"NOERROR\", \"FORMERR\", "
          "\"SERVFAIL\", \"NXDOMAIN\", \"NOTIMP\", \"REFUSED\", \"YXDOMAIN\", \"YXRRSET\", "
          "\"NXRRSET\", \"NOTAUTH\", \"NOTZONE\"");
    s_bad("dns", "example.org", "\"server\": \"ns1.example.org\"",
          "m.json:3:13: assets[0].server: expected an IP address, \"ip:port\" or \"[ipv6]:port\", "
          "got \"ns1.example.org\"");
    s_bad("dns", "example.org", "\"transport\": \"doh\"",
          "m.json:3:16: assets[0].transport: \"doh\" is not one of \"udp\", \"tcp\"");
    s_bad("dns", "http://example.org/", "",
          "m.json:2:14: assets[0].address: a dns asset needs a host name to query, got "
          "\"http://example.org/\"");
    s_bad("icmp", "10.0.0.1", "\"count\": 101",
          "m.json:3:12: assets[0].count: expected an integer from 1 to 100, got 101");
    s_bad("icmp", "10.0.0.1", "\"maxLossPercent\": 101",
          "m.json:3:21: assets[0].maxLossPercent: expected an integer from 0 to 100, got 101");
    s_bad("icmp", "10.0.0.1:80", "",
          "m.json:2:14: assets[0].address: an icmp asset needs a host name or an IP address, got "
          "\"10.0.0.1:80\"");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_http_options_load),
        cmocka_unit_test(test_http_option_errors),
        cmocka_unit_test(test_tcp_and_tls),
        cmocka_unit_test(test_messages_cut_at_boundary),
        cmocka_unit_test(test_agent_side_check),
        cmocka_unit_test(test_dns_and_icmp),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
