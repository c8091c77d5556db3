/* channel_discord: every event kind rendered as one embed (golden titles, colours, fields,
 * mentions off), ?wait=true added to any webhook URL, outside text escaped (no unescaped
 * Markdown or mention character from outside), Discord's limits kept with hostile long
 * input, and the classification table (200 with the message, 204, 429 with the JSON
 * retry_after float and Retry-After, 404 code 10015). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "channel.h"
#include "channel_events.h"
#include "sd_utf8.h"

static const json_t *s_conf(void)
{
    static json_t *conf;
    if (!conf)
        conf = json_pack("{s:s, s:s}", "type", "discord", "webhookUrl",
                         "http://127.0.0.1:9/api/webhooks/1/tok");
    return conf;
}

/* The request's body for ev, parsed; the request itself in *req_out when given. */
static json_t *s_body(const json_t *conf, json_t *ev, char **url_out)
{
    channel_request_t req = test_prepare(&channel_discord_ops, conf, ev);
    assert_string_equal(req.headers[0], "Content-Type: application/json");
    json_t *j = json_loads(req.body, 0, NULL);
    assert_non_null(j);
    if (url_out)
        *url_out = strdup(req.url);
    channel_request_clear(&req);
    json_decref(ev);
    return j;
}

static json_t *s_embed(json_t *body)
{
    return json_array_get(json_object_get(body, "embeds"), 0);
}

static void test_every_event(void **st)
{
    (void) st;
    static const struct {
        const char *kind, *title;
        int color;
        const char *first_field;
    } want[] = {
        {"DOWN", "🔴 DOWN API prod", 10038562, "Since"},
        {"RECOVERY", "✅ RECOVERED API prod", 3066993, "Since"},
        {"REMINDER", "🔁 STILL DOWN API prod", 10038562, "Since"},
        {"AGENT_DOWN", "🔴 AGENT DOWN agent-eu-1 (eu-west): silent since 2026-11-25T08:43:00.000Z",
         10038562, "Agent"},
        {"AGENT_UP", "✅ AGENT UP agent-eu-1 (eu-west): back after 120 s (silent since "
                     "2026-11-25T08:43:00.000Z)", 3066993, "Agent"},
        {"FLAPPING", "🔀 FLAPPING API prod", 10038562, "Since"},
        {"STABLE", "🟰 STABLE API prod", 3066993, "Since"},
        {"ACKNOWLEDGED", "👀 ACKNOWLEDGED API prod", 15844367, "Since"},
        {"TEST", "🧪 TEST ops-chat", 3447003, "Notifier"},
    };
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        json_t *b = s_body(s_conf(), test_event(want[i].kind, 0), NULL);
        char *raw = json_dumps(b, JSON_COMPACT);
        print_message("%s: %s\n", want[i].kind, raw);
        free(raw);
        assert_string_equal(json_string_value(json_object_get(b, "username")), "StatusD");
        json_t *parse = json_object_get(json_object_get(b, "allowed_mentions"), "parse");
        assert_true(json_is_array(parse) && json_array_size(parse) == 0);
        json_t *e = s_embed(b);
        assert_string_equal(json_string_value(json_object_get(e, "title")), want[i].title);
        assert_int_equal(json_integer_value(json_object_get(e, "color")), want[i].color);
        assert_non_null(json_string_value(json_object_get(e, "timestamp")));
        json_t *f0 = json_array_get(json_object_get(e, "fields"), 0);
        assert_string_equal(json_string_value(json_object_get(f0, "name")), want[i].first_field);
        json_decref(b);
    }
    /* golden descriptions */
    json_t *b = s_body(s_conf(), test_event("DOWN", 0), NULL);
    assert_string_equal(json_string_value(json_object_get(s_embed(b), "description")),
                        "status 503");
    json_t *fields = json_object_get(s_embed(b), "fields");
    assert_string_equal(json_string_value(json_object_get(json_array_get(fields, 2), "value")),
                        "2/2 agents down");
    assert_string_equal(json_string_value(json_object_get(json_array_get(fields, 3), "name")),
                        "agent-eu-1 (eu)");
    json_decref(b);
    b = s_body(s_conf(), test_event("ACKNOWLEDGED", 0), NULL);
    assert_string_equal(json_string_value(json_object_get(s_embed(b), "description")),
                        "acknowledged by ops-token at 2026-09-01T12:02:00.000Z; reminders and "
                        "escalation stop");
    assert_string_equal(json_string_value(json_object_get(s_embed(b), "timestamp")),
                        "2026-09-01T12:02:00.000Z");
    json_decref(b);
    b = s_body(s_conf(), test_event("TEST", 0), NULL);
    assert_string_equal(json_string_value(json_object_get(s_embed(b), "description")),
                        "StatusD test message (notifier ops-chat, 2026-12-06T01:00:00Z)");
    json_decref(b);
}

static void test_wait_url(void **st)
{
    (void) st;
    static const char *const rows[][2] = {
        {"https://discord.com/api/webhooks/1/t", "https://discord.com/api/webhooks/1/t?wait=true"},
        {"https://d/api/webhooks/1/t?thread_id=5", "https://d/api/webhooks/1/t?thread_id=5&wait=true"},
        {"https://d/w?wait=false", "https://d/w?wait=true"},
        {"https://d/w?wait=false&thread_id=5#frag", "https://d/w?thread_id=5&wait=true"},
        {"https://d/w?thread_id=5&wait&x=1", "https://d/w?thread_id=5&x=1&wait=true"},
        {"https://d/w?", "https://d/w?wait=true"},
        {"https://d/w#x", "https://d/w?wait=true"},
        {"https://d/w?waiting=1", "https://d/w?waiting=1&wait=true"},
    };
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        json_t *conf = json_pack("{s:s, s:s}", "type", "discord", "webhookUrl", rows[i][0]);
        char *url = NULL;
        json_t *b = s_body(conf, test_event("DOWN", 0), &url);
        print_message("%s -> %s\n", rows[i][0], url);
        assert_string_equal(url, rows[i][1]);
        free(url);
        json_decref(b);
        json_decref(conf);
    }
}

/* s: every character of set is backslash-escaped. */
static void s_all_escaped(const char *s, const char *set)
{
    for (const char *p = s; *p; p++) {
        if (*p == '\\') {
            p += p[1] != 0;
            continue;
        }
        if (strchr(set, *p))
            fail_msg("unescaped '%c' at %zu in: %s", *p, (size_t) (p - s), s);
    }
}

static void test_hostile_text_escaped(void **st)
{
    (void) st;
    const char *set = "<>*_`|[]@"; /* ( ) are in our own text too: "a2 (us)" */
    for (size_t k = 0; k < TEST_N_EVENT_KINDS; k++) {
        json_t *b = s_body(s_conf(), test_event(TEST_EVENT_KINDS[k], 1), NULL);
        json_t *e = s_embed(b);
        const char *title = json_string_value(json_object_get(e, "title"));
        const char *desc = json_string_value(json_object_get(e, "description"));
        print_message("%s: %s | %s\n", TEST_EVENT_KINDS[k], title, desc);
        s_all_escaped(title, set);
        s_all_escaped(desc, set);
        size_t i;
        json_t *f;
        json_array_foreach(json_object_get(e, "fields"), i, f) {
            s_all_escaped(json_string_value(json_object_get(f, "name")), set);
            s_all_escaped(json_string_value(json_object_get(f, "value")), set);
        }
        json_decref(b);
    }
    json_t *b = s_body(s_conf(), test_event("DOWN", 1), NULL);
    assert_string_equal(json_string_value(json_object_get(s_embed(b), "title")),
                        "🔴 DOWN \\<!channel\\> \\*Köln\\* \\[x\\]\\(http://y\\) \\@everyone "
                        "\\<b\\>☃\\</b\\> \"q\"");
    json_decref(b);
}

/* A 20 000-byte name, reason and agent errors, 30 agents: every piece and the whole embed
 * within Discord's limits, counted in characters. */
static void test_limits(void **st)
{
    (void) st;
    char *big = malloc(20001);
    big[0] = 0;
    for (size_t n = 0; n + 7 <= 20000; n += 7)
        memcpy(big + n, "ab*☃ ", 8); /* 7 bytes and the NUL */
    json_t *ev = test_event("DOWN", 0);
    json_object_set_new(ev, "asset_name", json_string(big));
    json_object_set_new(ev, "reason", json_string(big));
    json_t *agents = json_array();
    for (int i = 0; i < 30; i++)
        json_array_append_new(agents, json_pack("{s:s, s:s, s:s, s:s}", "agent", big, "region",
                                                big, "vote", "DOWN", "error", big));
    json_object_set_new(ev, "agents", agents);
    free(big);
    json_t *b = s_body(s_conf(), ev, NULL);
    json_t *e = s_embed(b);
    const char *title = json_string_value(json_object_get(e, "title"));
    const char *desc = json_string_value(json_object_get(e, "description"));
    size_t total = sd_utf8_chars(title, strlen(title)) + sd_utf8_chars(desc, strlen(desc));
    assert_true(sd_utf8_chars(title, strlen(title)) <= 256);
    assert_true(sd_utf8_chars(desc, strlen(desc)) <= 4096);
    json_t *fields = json_object_get(e, "fields");
    assert_true(json_array_size(fields) <= 25);
    size_t i;
    json_t *f;
    json_array_foreach(fields, i, f) {
        const char *n = json_string_value(json_object_get(f, "name"));
        const char *v = json_string_value(json_object_get(f, "value"));
        assert_true(sd_utf8_chars(n, strlen(n)) <= 256 && *n);
        assert_true(sd_utf8_chars(v, strlen(v)) <= 1024 && *v);
        total += sd_utf8_chars(n, strlen(n)) + sd_utf8_chars(v, strlen(v));
    }
    print_message("title %zu B, description %zu B, %zu fields, %zu characters in all\n",
                  strlen(title), strlen(desc), json_array_size(fields), total);
    assert_true(total <= 6000);
    assert_true(json_array_size(fields) >= 5); /* the facts survive, agents fill the rest */
    json_decref(b);
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
        {200, "{\"id\":\"1180\",\"type\":0,\"content\":\"\"}", -1, CHANNEL_SENT, -1, "ok"},
        {200, "", -1, CHANNEL_DEAD, -1, "bad_body"},
        {200, "ok", -1, CHANNEL_DEAD, -1, "bad_body"},
        {200, "{\"id\":1}", -1, CHANNEL_DEAD, -1, "bad_body"},
        {204, "", -1, CHANNEL_SENT, -1, "ok"},
        {201, "", -1, CHANNEL_DEAD, -1, "bad_body"},
        {429, "{\"message\":\"You are being rate limited.\",\"retry_after\":1.5,\"global\":false}",
         -1, CHANNEL_RETRY, 2, "rate_limited"},
        {429, "{\"message\":\"x\",\"retry_after\":64.57,\"global\":false}", 65, CHANNEL_RETRY, 65,
         "rate_limited"},
        {429, "{\"retry_after\":3.0}", 1, CHANNEL_RETRY, 3, "rate_limited"},
        {429, "{\"retry_after\":0.2}", -1, CHANNEL_RETRY, 1, "rate_limited"},
        {429, "not json", 4, CHANNEL_RETRY, 4, "rate_limited"},
        {429, "", -1, CHANNEL_RETRY, -1, "rate_limited"},
        {404, "{\"message\":\"Unknown Webhook\",\"code\":10015}", -1, CHANNEL_DEAD, -1,
         "unknown_webhook"},
        {404, "{\"message\":\"404: Not Found\",\"code\":0}", -1, CHANNEL_DEAD, -1, "client_error"},
        {400, "{\"code\":50035,\"message\":\"Invalid Form Body\"}", -1, CHANNEL_DEAD, -1,
         "client_error"},
        {401, "{\"code\":50027,\"message\":\"Invalid Webhook Token\"}", -1, CHANNEL_DEAD, -1,
         "client_error"},
        {403, "", -1, CHANNEL_DEAD, -1, "client_error"},
        {500, "", -1, CHANNEL_RETRY, -1, "server_error"},
        {502, "<html>", 7, CHANNEL_RETRY, 7, "server_error"},
        {301, "", -1, CHANNEL_DEAD, -1, "redirect"},
    };
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        channel_outcome_t o = channel_discord_ops.classify(
            rows[i].status, rows[i].body, strlen(rows[i].body), rows[i].retry_after);
        print_message("discord %ld '%s' (Retry-After %ld) -> %d %s after %ld\n", rows[i].status,
                      rows[i].body, rows[i].retry_after, o.verdict, o.reason, o.retry_after_s);
        assert_int_equal(o.verdict, rows[i].want);
        assert_string_equal(o.reason, rows[i].want_reason);
        if (o.verdict == CHANNEL_RETRY)
            assert_int_equal(o.retry_after_s, rows[i].want_after);
    }
    /* the body is read only up to its length */
    const char cut[] = "{\"id\":\"1\"}xxxx";
    assert_int_equal(channel_discord_ops.classify(200, cut, 10, -1).verdict, CHANNEL_SENT);
    assert_int_equal(channel_discord_ops.classify(200, cut, 9, -1).verdict, CHANNEL_DEAD);
}

static void test_registered(void **st)
{
    (void) st;
    assert_ptr_equal(channel_find("discord"), &channel_discord_ops);
    char err[256] = "";
    json_t *conf = json_pack("{s:s}", "type", "discord");
    channel_request_t req;
    channel_msg_t msg = {0};
    json_t *ev = test_event("DOWN", 0);
    assert_int_equal(channel_prepare(&channel_discord_ops, conf, NULL, ev, &msg, &req, err,
                                     sizeof err),
                     -EINVAL);
    assert_string_equal(err, "no webhookUrl");
    json_decref(ev);
    json_decref(conf);
}

static int s_teardown(void **st)
{
    (void) st;
    json_decref((json_t *) s_conf());
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_event),  cmocka_unit_test(test_wait_url),
        cmocka_unit_test(test_hostile_text_escaped), cmocka_unit_test(test_limits),
        cmocka_unit_test(test_classify),     cmocka_unit_test(test_registered),
    };
    return cmocka_run_group_tests(tests, NULL, s_teardown);
}
