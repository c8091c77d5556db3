/* channel_telegram: sendMessage requests for every event kind (URL with the token from its
 * file, chat_id as configured, parse_mode HTML, golden text), outside text HTML-escaped (no
 * tag from outside), the 4096-character bound with whole lines and balanced tags, the
 * classification table (ok:true, ok:false, 429 parameters.retry_after, 400
 * migrate_to_chat_id), the migration learnt once and used by the next request, and the
 * start-time check naming the token file, never the token. */
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
#include "sd_config.h"
#include "sd_utf8.h"

#define TOKEN "123456:ABC-def_ghi"

typedef struct {
    char dir[64], token[96], bad[96];
} fx_t;

static int setup(void **st)
{
    fx_t *f = calloc(1, sizeof *f);
    snprintf(f->dir, sizeof f->dir, "/tmp/sd-tg-XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    snprintf(f->token, sizeof f->token, "%s/token", f->dir);
    snprintf(f->bad, sizeof f->bad, "%s/bad", f->dir);
    FILE *o = fopen(f->token, "w");
    fputs(TOKEN "\n", o);
    fclose(o);
    o = fopen(f->bad, "w");
    fputs("123/../../x?y\n", o);
    fclose(o);
    *st = f;
    return 0;
}

static int teardown(void **st)
{
    fx_t *f = *st;
    unlink(f->token);
    unlink(f->bad);
    rmdir(f->dir);
    free(f);
    return 0;
}

static json_t *s_conf(const fx_t *f, json_t *chat, const char *api)
{
    json_t *c = json_pack("{s:s, s:s, s:o}", "type", "telegram", "botTokenFile", f->token,
                          "chatId", chat);
    if (api)
        json_object_set_new(c, "apiUrl", json_string(api));
    return c;
}

static json_t *s_body(const json_t *conf, json_t *ev, char **url)
{
    channel_request_t req = test_prepare(&channel_telegram_ops, conf, ev);
    assert_string_equal(req.headers[0], "Content-Type: application/json");
    json_t *j = json_loads(req.body, 0, NULL);
    assert_non_null(j);
    if (url)
        *url = strdup(req.url);
    channel_request_clear(&req);
    json_decref(ev);
    return j;
}

static const char *s_text(json_t *b)
{
    return json_string_value(json_object_get(b, "text"));
}

static void test_every_event(void **st)
{
    fx_t *f = *st;
    static const char *const heads[] = {
        "<b>🔴 DOWN API prod</b>\nstatus 503",
        "<b>✅ RECOVERED API prod</b>\nback up after 120 s",
        "<b>🔁 STILL DOWN API prod</b>\nstatus 503",
        "<b>🔴 AGENT DOWN agent-eu-1 (eu-west): silent since 2026-11-25T08:43:00.000Z</b>",
        "<b>✅ AGENT UP agent-eu-1 (eu-west): back after 120 s",
        "<b>🔀 FLAPPING API prod</b>\nstate changes too often (52% of recent checks), now DOWN",
        "<b>🟰 STABLE API prod</b>\nsettled UP; notifications resume",
        "<b>👀 ACKNOWLEDGED API prod</b>\nacknowledged by ops-token at 2026-09-01T12:02:00.000Z",
        "<b>🧪 TEST ops-chat</b>\nStatusD test message (notifier ops-chat, 2026-12-06T01:00:00Z)",
        ("<b>🔴 DOWN (storm) 5 more assets</b>\nAPI prod, api-2, api-3 and 2 more\n"
         "<b>Since:</b> 2026-09-01T12:01:00.000Z"),
        "<b>✅ RECOVERED (storm) 5 more assets</b>\nAPI prod, api-2, api-3 and 2 more",
    };
    json_t *conf = s_conf(f, json_integer(-1001234567890), "http://127.0.0.1:9/");
    for (size_t k = 0; k < TEST_N_EVENT_KINDS; k++) {
        char *url = NULL;
        json_t *b = s_body(conf, test_event(TEST_EVENT_KINDS[k], 0), &url);
        print_message("%s: %s\n", TEST_EVENT_KINDS[k], s_text(b));
        assert_string_equal(url, "http://127.0.0.1:9/bot" TOKEN "/sendMessage");
        assert_int_equal(json_integer_value(json_object_get(b, "chat_id")), -1001234567890LL);
        assert_string_equal(json_string_value(json_object_get(b, "parse_mode")), "HTML");
        assert_true(json_is_true(json_object_get(
            json_object_get(b, "link_preview_options"), "is_disabled")));
        assert_true(strncmp(s_text(b), heads[k], strlen(heads[k])) == 0);
        free(url);
        json_decref(b);
    }
    json_t *b = s_body(conf, test_event("DOWN", 0), NULL);
    assert_non_null(strstr(s_text(b), "\n<b>Agents:</b> 2/2 down\n• agent-eu-1 (eu): DOWN: "
                                      "status 503\n• a2 (us): DOWN: timeout"));
    json_decref(b);
    b = s_body(conf, test_event("ACKNOWLEDGED", 0), NULL);
    assert_non_null(strstr(s_text(b), "<b>By:</b> ops-token"));
    assert_null(strstr(s_text(b), "Agents"));
    json_decref(b);
    json_decref(conf);
    /* a channel name as chatId, the default API */
    conf = s_conf(f, json_string("@statusd_alerts"), NULL);
    char *url = NULL;
    b = s_body(conf, test_event("DOWN", 0), &url);
    assert_string_equal(url, "https://api.telegram.org/bot" TOKEN "/sendMessage");
    assert_string_equal(json_string_value(json_object_get(b, "chat_id")), "@statusd_alerts");
    free(url);
    json_decref(b);
    json_decref(conf);
}

/* The text without our own tags (<b>, </b>) has no '<' or '>', and every '&' starts an
 * entity. */
static void s_no_outside_tags(const char *text)
{
    char *t = strdup(text);
    for (char *p; (p = strstr(t, "<b>")) || (p = strstr(t, "</b>"));)
        memmove(p, p + (p[1] == '/' ? 4 : 3), strlen(p + (p[1] == '/' ? 4 : 3)) + 1);
    if (strchr(t, '<') || strchr(t, '>'))
        fail_msg("a tag from outside in: %s", text);
    for (const char *a = strchr(t, '&'); a; a = strchr(a + 1, '&'))
        if (strncmp(a, "&amp;", 5) && strncmp(a, "&lt;", 4) && strncmp(a, "&gt;", 4) &&
            strncmp(a, "&quot;", 6))
            fail_msg("a bare & in: %s", text);
    free(t);
}

static void test_hostile_text_escaped(void **st)
{
    fx_t *f = *st;
    json_t *conf = s_conf(f, json_integer(42), NULL);
    for (size_t k = 0; k < TEST_N_EVENT_KINDS; k++) {
        json_t *b = s_body(conf, test_event(TEST_EVENT_KINDS[k], 1), NULL);
        print_message("%s: %s\n", TEST_EVENT_KINDS[k], s_text(b));
        s_no_outside_tags(s_text(b));
        json_decref(b);
    }
    json_t *b = s_body(conf, test_event("DOWN", 1), NULL);
    const char *want = "<b>🔴 DOWN &lt;!channel&gt; *Köln* [x](http://y) @everyone "
                       "&lt;b&gt;☃&lt;/b&gt; &quot;q&quot;</b>\n&lt;@U1&gt; down";
    assert_true(strncmp(s_text(b), want, strlen(want)) == 0);
    json_decref(b);
    json_decref(conf);
}

static void test_limits(void **st)
{
    fx_t *f = *st;
    json_t *conf = s_conf(f, json_integer(42), NULL);
    char *big = malloc(20001);
    for (size_t n = 0; n + 7 <= 20000; n += 7)
        memcpy(big + n, "<&☃> ", 8);
    json_t *ev = test_event("DOWN", 0);
    json_object_set_new(ev, "asset_name", json_string(big));
    json_object_set_new(ev, "reason", json_string(big));
    json_t *agents = json_array();
    for (int i = 0; i < 30; i++)
        json_array_append_new(agents, json_pack("{s:s, s:s, s:s, s:s}", "agent", big, "region",
                                                "eu", "vote", "DOWN", "error", big));
    json_object_set_new(ev, "agents", agents);
    free(big);
    json_t *b = s_body(conf, ev, NULL);
    const char *t = s_text(b);
    size_t chars = sd_utf8_chars(t, strlen(t));
    int open = 0, close = 0;
    for (const char *p = t; (p = strstr(p, "<b>")); p++)
        open++;
    for (const char *p = t; (p = strstr(p, "</b>")); p++)
        close++;
    print_message("text %zu bytes, %zu characters, %d <b> %d </b>\n", strlen(t), chars, open,
                  close);
    assert_true(strlen(t) <= 4096 && chars <= 4096);
    assert_int_equal(open, close);
    assert_true(open >= 4); /* the head and the facts are there */
    s_no_outside_tags(t);
    json_decref(b);
    json_decref(conf);
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
        {200, "{\"ok\":true,\"result\":{\"message_id\":123}}", -1, CHANNEL_SENT, -1, "ok"},
        {200, "{\"ok\":false}", -1, CHANNEL_DEAD, -1, "bad_body"},
        {200, "ok", -1, CHANNEL_DEAD, -1, "bad_body"},
        {200, "", -1, CHANNEL_DEAD, -1, "bad_body"},
        {400, "{\"ok\":false,\"error_code\":400,\"description\":\"Bad Request: chat not found\"}",
         -1, CHANNEL_DEAD, -1, "client_error"},
        {400, "{\"ok\":false,\"error_code\":400,\"description\":\"Bad Request: group chat was "
              "upgraded to a supergroup chat\",\"parameters\":{\"migrate_to_chat_id\":"
              "-1001234567890}}", -1, CHANNEL_RETRY, 0, "chat_migrated"},
        {401, "{\"ok\":false,\"error_code\":401,\"description\":\"Unauthorized\"}", -1,
         CHANNEL_DEAD, -1, "client_error"},
        {403, "{\"ok\":false,\"error_code\":403,\"description\":\"Forbidden: bot was blocked by "
              "the user\"}", -1, CHANNEL_DEAD, -1, "client_error"},
        {404, "{\"ok\":false,\"error_code\":404,\"description\":\"Not Found\"}", -1,
         CHANNEL_DEAD, -1, "client_error"},
        {429, "{\"ok\":false,\"error_code\":429,\"description\":\"Too Many Requests: retry after "
              "7\",\"parameters\":{\"retry_after\":7}}", -1, CHANNEL_RETRY, 7, "rate_limited"},
        {429, "{\"ok\":false,\"parameters\":{\"retry_after\":3}}", 9, CHANNEL_RETRY, 9,
         "rate_limited"},
        {429, "", -1, CHANNEL_RETRY, -1, "rate_limited"},
        {500, "{\"ok\":false,\"error_code\":500}", -1, CHANNEL_RETRY, -1, "server_error"},
        {502, "<html>", -1, CHANNEL_RETRY, -1, "server_error"},
        {302, "", -1, CHANNEL_DEAD, -1, "redirect"},
    };
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        channel_outcome_t o = channel_telegram_ops.classify(
            rows[i].status, rows[i].body, strlen(rows[i].body), rows[i].retry_after);
        print_message("telegram %ld '%s' -> %d %s after %ld\n", rows[i].status, rows[i].body,
                      o.verdict, o.reason, o.retry_after_s);
        assert_int_equal(o.verdict, rows[i].want);
        assert_string_equal(o.reason, rows[i].want_reason);
        if (o.verdict == CHANNEL_RETRY)
            assert_int_equal(o.retry_after_s, rows[i].want_after);
    }
}

/* A migration answer is learnt once (a note for the log, without the token), and the next
 * request of that chat goes to the new id; another chat is not affected. */
static void test_migration(void **st)
{
    fx_t *f = *st;
    json_t *conf = s_conf(f, json_integer(-4242), "http://127.0.0.1:9");
    json_t *other = s_conf(f, json_integer(-77), "http://127.0.0.1:9");
    const char *ans = "{\"ok\":false,\"error_code\":400,\"description\":\"Bad Request: group chat "
                      "was upgraded to a supergroup chat\",\"parameters\":{\"migrate_to_chat_id\":"
                      "-1009999}}";
    char note[512] = "";
    assert_int_equal(channel_telegram_ops.learn(conf, 200, "{\"ok\":true}", 11, note, sizeof note),
                     0);
    assert_int_equal(channel_telegram_ops.learn(conf, 400, ans, strlen(ans), note, sizeof note), 1);
    print_message("note: %s\n", note);
    assert_non_null(strstr(note, "-4242"));
    assert_non_null(strstr(note, "-1009999"));
    assert_non_null(strstr(note, "chatId"));
    assert_null(strstr(note, TOKEN));
    note[0] = 0;
    assert_int_equal(channel_telegram_ops.learn(conf, 400, ans, strlen(ans), note, sizeof note), 0);
    json_t *b = s_body(conf, test_event("DOWN", 0), NULL);
    assert_int_equal(json_integer_value(json_object_get(b, "chat_id")), -1009999);
    json_decref(b);
    b = s_body(other, test_event("DOWN", 0), NULL);
    assert_int_equal(json_integer_value(json_object_get(b, "chat_id")), -77);
    json_decref(b);
    json_decref(conf);
    json_decref(other);
}

/* check and prepare name the token file, never the token; a token that could change the
 * URL is refused. */
static void test_check(void **st)
{
    fx_t *f = *st;
    char err[256] = "";
    json_t *conf = s_conf(f, json_integer(1), NULL);
    assert_int_equal(channel_telegram_ops.check(conf, err, sizeof err), 0);
    json_object_set_new(conf, "botTokenFile", json_string("/x"));
    assert_int_equal(channel_telegram_ops.check(conf, err, sizeof err), -EINVAL);
    assert_string_equal(err, "botTokenFile /x: No such file or directory");
    json_object_set_new(conf, "botTokenFile", json_string(f->bad));
    assert_int_equal(channel_telegram_ops.check(conf, err, sizeof err), -EINVAL);
    print_message("bad token: %s\n", err);
    assert_null(strstr(err, "../"));
    assert_non_null(strstr(err, "not a bot token"));
    channel_request_t req;
    channel_msg_t msg = {0};
    json_t *ev = test_event("DOWN", 0);
    assert_int_equal(channel_prepare(&channel_telegram_ops, conf, NULL, ev, &msg, &req, err,
                                     sizeof err),
                     -EINVAL);
    assert_null(req.url);
    json_decref(ev);
    json_decref(conf);

    char json[512];
    snprintf(json, sizeof json,
             "{\"notifiers\":{\"tg\":{\"type\":\"telegram\",\"botTokenFile\":\"/x\","
             "\"chatId\":5}}}");
    sd_notifiers_t *n = NULL;
    assert_int_equal(sd_notifiers_parse("n.json", json, &n, err, sizeof err), 0);
    assert_int_equal(channel_check_all(n, err, sizeof err), -EINVAL);
    assert_string_equal(err, "notifiers.tg: botTokenFile /x: No such file or directory");
    sd_notifiers_destroy(&n);
}

int main(void)
{
    assert_ptr_equal(channel_find("telegram"), &channel_telegram_ops);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_event), cmocka_unit_test(test_hostile_text_escaped),
        cmocka_unit_test(test_limits),      cmocka_unit_test(test_classify),
        cmocka_unit_test(test_migration),   cmocka_unit_test(test_check),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
