/* channel_ntfy: a publish request for every event kind (the text as the body, Title,
 * Priority and Tags headers, Bearer token from its file), a non-ASCII title as an RFC 2047
 * encoded word that decodes back, header values one line whatever the outside text, the
 * 4096-byte bound, the configured priority (numbers and names) and its check, and the
 * classification table (200 with the message JSON, 429 with and without Retry-After, the
 * daily quota, 4xx dead). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "channel.h"
#include "channel_events.h"

static json_t *s_conf(const char *prio)
{
    json_t *c = json_pack("{s:s, s:s}", "type", "ntfy", "url", "http://127.0.0.1:9/alerts");
    if (prio)
        json_object_set_new(c, "priority", json_string(prio));
    return c;
}

/* Decodes "=?UTF-8?B?...?=" (or returns the value as it is) into out. */
static void s_decode_title(const char *v, char *out, size_t cap)
{
    if (strncmp(v, "=?UTF-8?B?", 10) != 0) {
        snprintf(out, cap, "%s", v);
        return;
    }
    static const char a[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    size_t o = 0;
    unsigned acc = 0;
    int bits = 0;
    for (const char *p = v + 10; *p && *p != '?' && *p != '='; p++) {
        const char *i = strchr(a, *p);
        assert_non_null(i);
        acc = acc << 6 | (unsigned) (i - a);
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            assert_true(o + 1 < cap);
            out[o++] = (char) (acc >> bits & 0xFF);
        }
    }
    out[o] = 0;
}

static void test_every_event(void **st)
{
    (void) st;
    static const struct {
        const char *kind, *title, *prio, *tags, *body_head;
    } want[] = {
        {"DOWN", "DOWN API prod", "5", "rotating_light", "status 503\nSince: 2026-09-01"},
        {"RECOVERY", "RECOVERED API prod", "3", "white_check_mark", "back up after 120 s"},
        {"REMINDER", "STILL DOWN API prod", "5", "rotating_light", "status 503"},
        {"AGENT_DOWN", "AGENT DOWN agent-eu-1", "5", "rotating_light",
         "🔴 AGENT DOWN agent-eu-1 (eu-west): silent since"},
        {"AGENT_UP", "AGENT UP agent-eu-1", "3", "white_check_mark", "✅ AGENT UP agent-eu-1"},
        {"FLAPPING", "FLAPPING API prod", "5", "rotating_light", "state changes too often"},
        {"STABLE", "STABLE API prod", "3", "white_check_mark", "settled UP"},
        {"ACKNOWLEDGED", "ACKNOWLEDGED API prod", "3", "eyes", "acknowledged by ops-token"},
        {"TEST", "TEST ops-chat", "3", "test_tube", "StatusD test message (notifier ops-chat"},
    };
    json_t *conf = s_conf(NULL);
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        json_t *ev = test_event(want[i].kind, 0);
        channel_request_t req = test_prepare(&channel_ntfy_ops, conf, ev);
        print_message("%s: Title: %s | Priority: %s | Tags: %s | %s\n", want[i].kind,
                      test_header(&req, "Title"), test_header(&req, "Priority"),
                      test_header(&req, "Tags"), req.body);
        assert_string_equal(req.url, "http://127.0.0.1:9/alerts");
        assert_string_equal(test_header(&req, "Content-Type"), "text/plain; charset=utf-8");
        assert_string_equal(test_header(&req, "Title"), want[i].title);
        assert_string_equal(test_header(&req, "Priority"), want[i].prio);
        assert_string_equal(test_header(&req, "Tags"), want[i].tags);
        assert_null(test_header(&req, "Authorization"));
        assert_true(strncmp(req.body, want[i].body_head, strlen(want[i].body_head)) == 0);
        channel_request_clear(&req);
        json_decref(ev);
    }
    json_decref(conf);
}

static void test_priority(void **st)
{
    (void) st;
    static const char *const rows[][2] = {{"1", "1"},   {"min", "1"}, {"low", "2"},
                                          {"default", "3"}, {"high", "4"}, {"max", "5"},
                                          {"urgent", "5"}, {"4", "4"}};
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        json_t *conf = s_conf(rows[i][0]);
        char err[128] = "";
        assert_int_equal(channel_ntfy_ops.check(conf, err, sizeof err), 0);
        json_t *ev = test_event("DOWN", 0);
        channel_request_t req = test_prepare(&channel_ntfy_ops, conf, ev);
        assert_string_equal(test_header(&req, "Priority"), rows[i][1]);
        channel_request_clear(&req);
        json_decref(ev);
        ev = test_event("RECOVERY", 0); /* the configured priority is for trouble only */
        req = test_prepare(&channel_ntfy_ops, conf, ev);
        assert_string_equal(test_header(&req, "Priority"), "3");
        channel_request_clear(&req);
        json_decref(ev);
        json_decref(conf);
    }
    json_t *conf = json_pack("{s:s, s:s, s:i}", "type", "ntfy", "url", "http://h/t", "priority",
                             2);
    char err[128] = "";
    assert_int_equal(channel_ntfy_ops.check(conf, err, sizeof err), 0);
    json_object_set_new(conf, "priority", json_integer(9));
    assert_int_equal(channel_ntfy_ops.check(conf, err, sizeof err), -EINVAL);
    assert_string_equal(err, "priority: expected 1-5 or min, low, default, high, max, urgent");
    json_object_set_new(conf, "priority", json_string("loud"));
    assert_int_equal(channel_ntfy_ops.check(conf, err, sizeof err), -EINVAL);
    json_decref(conf);
}

/* Hostile outside text: every header value one line of printable text; a non-ASCII title
 * an encoded word that decodes to the title as written. */
static void test_headers_safe(void **st)
{
    (void) st;
    json_t *conf = s_conf(NULL);
    for (size_t k = 0; k < TEST_N_EVENT_KINDS; k++) {
        json_t *ev = test_event(TEST_EVENT_KINDS[k], 1);
        json_object_set_new(ev, "asset_name", json_string("evil\r\nX-Injected: 1\n☃"));
        channel_request_t req = test_prepare(&channel_ntfy_ops, conf, ev);
        for (size_t i = 0; req.headers[i]; i++)
            for (const char *p = req.headers[i]; *p; p++)
                if ((unsigned char) *p < 0x20 || (unsigned char) *p >= 0x7F)
                    fail_msg("byte 0x%02x in header %s", (unsigned char) *p, req.headers[i]);
        char title[512];
        s_decode_title(test_header(&req, "Title"), title, sizeof title);
        print_message("%s: %s -> %s\n", TEST_EVENT_KINDS[k], test_header(&req, "Title"), title);
        if (strncmp(TEST_EVENT_KINDS[k], "AGENT", 5) && strcmp(TEST_EVENT_KINDS[k], "TEST"))
            assert_non_null(strstr(title, "evil  X-Injected: 1 ☃"));
        channel_request_clear(&req);
        json_decref(ev);
    }
    json_decref(conf);
}

static void test_limits_and_token(void **st)
{
    (void) st;
    char dir[] = "/tmp/sd-ntfy-XXXXXX", path[64], err[256] = "";
    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof path, "%s/token", dir);
    FILE *f = fopen(path, "w");
    fputs("tk_secret123\n", f);
    fclose(f);
    json_t *conf = s_conf(NULL);
    json_object_set_new(conf, "tokenFile", json_string(path));
    assert_int_equal(channel_ntfy_ops.check(conf, err, sizeof err), 0);
    char *big = malloc(20001);
    for (size_t n = 0; n + 7 <= 20000; n += 7)
        memcpy(big + n, "ab*☃ ", 8);
    json_t *ev = test_event("DOWN", 0);
    json_object_set_new(ev, "asset_name", json_string(big));
    json_object_set_new(ev, "reason", json_string(big));
    json_t *agents = json_array();
    for (int i = 0; i < 30; i++)
        json_array_append_new(agents, json_pack("{s:s, s:s, s:s, s:s}", "agent", "a", "region",
                                                "eu", "vote", "DOWN", "error", big));
    json_object_set_new(ev, "agents", agents);
    free(big);
    channel_request_t req = test_prepare(&channel_ntfy_ops, conf, ev);
    print_message("body %zu bytes, Title header %zu bytes\n", strlen(req.body),
                  strlen(test_header(&req, "Title")));
    assert_true(strlen(req.body) <= 4096);
    assert_non_null(strstr(req.body, "\nAddress: "));
    assert_true(strlen(test_header(&req, "Title")) < 400);
    assert_string_equal(test_header(&req, "Authorization"), "Bearer tk_secret123");
    channel_request_clear(&req);
    json_decref(ev);
    json_object_set_new(conf, "tokenFile", json_string("/x"));
    assert_int_equal(channel_ntfy_ops.check(conf, err, sizeof err), -EINVAL);
    assert_string_equal(err, "tokenFile /x: No such file or directory");
    json_decref(conf);
    unlink(path);
    rmdir(dir);
}

typedef struct {
    long status;
    const char *body;
    long retry_after;
    channel_verdict_t want;
    long want_after;
    const char *want_reason;
} row_t;

static void test_classify(void **st)
{
    (void) st;
    static const row_t rows[] = {
        {200, "{\"id\":\"hwQ2YpKdmg\",\"time\":1635528741,\"event\":\"message\",\"topic\":\"a\"}",
         -1, CHANNEL_SENT, -1, "ok"},
        {200, "", -1, CHANNEL_DEAD, -1, "bad_body"},
        {200, "<html>captive portal</html>", -1, CHANNEL_DEAD, -1, "bad_body"},
        {429, "{\"code\":42901,\"http\":429,\"error\":\"limit reached: too many requests\"}", -1,
         CHANNEL_RETRY, 5, "rate_limited"},
        {429, "{\"code\":42901,\"http\":429}", 20, CHANNEL_RETRY, 20, "rate_limited"},
        {429, "{\"code\":42908,\"http\":429,\"error\":\"limit reached: daily message quota "
              "reached\"}", -1, CHANNEL_RETRY, -1, "rate_limited"},
        {401, "{\"code\":40101,\"http\":401,\"error\":\"unauthorized\"}", -1, CHANNEL_DEAD, -1,
         "client_error"},
        {403, "{\"code\":40301,\"http\":403,\"error\":\"forbidden\"}", -1, CHANNEL_DEAD, -1,
         "client_error"},
        {413, "{\"code\":41301,\"http\":413}", -1, CHANNEL_DEAD, -1, "client_error"},
        {400, "{\"code\":40001}", -1, CHANNEL_DEAD, -1, "client_error"},
        {500, "", -1, CHANNEL_RETRY, -1, "server_error"},
        {503, "", 8, CHANNEL_RETRY, 8, "server_error"},
        {301, "", -1, CHANNEL_DEAD, -1, "redirect"},
    };
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        channel_outcome_t o = channel_ntfy_ops.classify(rows[i].status, rows[i].body,
                                                        strlen(rows[i].body), rows[i].retry_after);
        print_message("ntfy %ld '%s' -> %d %s after %ld\n", rows[i].status, rows[i].body,
                      o.verdict, o.reason, o.retry_after_s);
        assert_int_equal(o.verdict, rows[i].want);
        assert_string_equal(o.reason, rows[i].want_reason);
        if (o.verdict == CHANNEL_RETRY)
            assert_int_equal(o.retry_after_s, rows[i].want_after);
    }
}

int main(void)
{
    assert_ptr_equal(channel_find("ntfy"), &channel_ntfy_ops);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_event),  cmocka_unit_test(test_priority),
        cmocka_unit_test(test_headers_safe), cmocka_unit_test(test_limits_and_token),
        cmocka_unit_test(test_classify),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
