/* channel: rendered Slack/Teams bodies are valid JSON with the fields each service expects,
 * and text from outside in them is escaped for each format (hostile markup shown as written);
 * the classification of every status (and body) per channel, and of transport errors. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
#include <string.h>

#include <cmocka.h>
#include <curl/curl.h>

#include "channel.h"

static json_t *s_event(const char *kind)
{
    json_t *ev = json_pack(
        "{s:s, s:s, s:s, s:s, s:I, s:s, s:s, s:i, s:i, s:[{s:s, s:s, s:s, s:s}]}", "event", kind,
        "asset_id", "api-prod", "asset_name", "API prod", "address", "https://api.example.com",
        "incident_id", (json_int_t) 7, "started_at",
        "2026-09-01T12:01:00.000Z", "reason", "status 503 not in [200]", "down_votes", 2,
        "live_agents", 2, "agents", "agent", "a1", "region", "eu", "vote", "DOWN", "error",
        "status 503");
    return ev;
}

static json_t *s_render(const channel_ops_t *ops, json_t *ev)
{
    char err[128] = "";
    char *body = ops->render(ev, err, sizeof err);
    assert_non_null(body);
    json_error_t je;
    json_t *j = json_loads(body, 0, &je);
    assert_non_null(j); /* valid JSON */
    free(body);
    return j;
}

static void test_registry(void **st)
{
    assert_ptr_equal(channel_find("slack"), &channel_slack_ops);
    assert_ptr_equal(channel_find("teams"), &channel_teams_ops);
    assert_null(channel_find("no-such-type"));
    assert_null(channel_find(NULL));
}

static void test_slack_render(void **st)
{
    json_t *ev = s_event("DOWN");
    json_t *j = s_render(&channel_slack_ops, ev);
    const char *text = json_string_value(json_object_get(j, "text"));
    assert_non_null(text);
    assert_string_equal(text, "🔴 DOWN API prod: status 503 not in [200]");
    json_t *att = json_array_get(json_object_get(j, "attachments"), 0);
    assert_string_equal(json_string_value(json_object_get(att, "color")), "#DD0000");
    json_t *f0 = json_array_get(json_object_get(att, "fields"), 0);
    assert_string_equal(json_string_value(json_object_get(f0, "title")), "Since");
    assert_string_equal(json_string_value(json_object_get(f0, "value")),
                        "2026-09-01T12:01:00.000Z");
    json_t *f3 = json_array_get(json_object_get(att, "fields"), 3);
    assert_string_equal(json_string_value(json_object_get(f3, "title")), "a1 (eu)");
    assert_string_equal(json_string_value(json_object_get(f3, "value")), "DOWN: status 503");
    json_decref(j);
    json_decref(ev);

    ev = s_event("RECOVERY");
    json_object_set_new(ev, "duration_seconds", json_integer(120));
    json_object_set_new(ev, "ended_at", json_string("2026-09-01T12:03:00.000Z"));
    j = s_render(&channel_slack_ops, ev);
    assert_string_equal(json_string_value(json_object_get(j, "text")),
                        "✅ RECOVERED API prod: back up after 120 s");
    att = json_array_get(json_object_get(j, "attachments"), 0);
    assert_string_equal(json_string_value(json_object_get(att, "color")), "#36A64F");
    json_decref(j);
    json_decref(ev);
}

static void test_teams_render(void **st)
{
    json_t *ev = s_event("DOWN");
    json_t *j = s_render(&channel_teams_ops, ev);
    assert_string_equal(json_string_value(json_object_get(j, "type")), "message");
    json_t *att = json_array_get(json_object_get(j, "attachments"), 0);
    assert_string_equal(json_string_value(json_object_get(att, "contentType")),
                        "application/vnd.microsoft.card.adaptive");
    assert_true(json_is_null(json_object_get(att, "contentUrl")));
    json_t *card = json_object_get(att, "content");
    assert_string_equal(json_string_value(json_object_get(card, "type")), "AdaptiveCard");
    assert_string_equal(json_string_value(json_object_get(card, "version")), "1.2");
    json_t *title = json_array_get(json_object_get(card, "body"), 0);
    assert_string_equal(json_string_value(json_object_get(title, "color")), "Attention");
    assert_string_equal(json_string_value(json_object_get(title, "text")), "🔴 DOWN API prod");
    json_t *facts = json_array_get(json_object_get(card, "body"), 2);
    assert_string_equal(json_string_value(json_object_get(facts, "type")), "FactSet");
    assert_true(json_array_size(json_object_get(facts, "facts")) >= 3);
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(card, "msteams"), "width")), "Full");
    json_decref(j);
    json_decref(ev);

    ev = s_event("RECOVERY");
    j = s_render(&channel_teams_ops, ev);
    card = json_object_get(json_array_get(json_object_get(j, "attachments"), 0), "content");
    title = json_array_get(json_object_get(card, "body"), 0);
    assert_string_equal(json_string_value(json_object_get(title, "color")), "Good");
    json_decref(j);
    json_decref(ev);
}

/* An event whose every string from outside is hostile markup (and some non-ASCII). */
static json_t *s_hostile(const char *kind)
{
    return json_pack(
        "{s:s, s:s, s:s, s:s, s:I, s:s, s:s, s:i, s:i, s:[{s:s, s:s, s:s, s:s}]}", "event", kind,
        "asset_id", "api-prod", "asset_name", "<!channel> *Köln* [x](http://y) ☃", "address",
        "<https://evil|click>", "incident_id", (json_int_t) 7, "started_at",
        "2026-09-01T12:01:00.000Z", "reason", "<@U1> down _now_ & then `rm`", "down_votes", 1,
        "live_agents", 1, "agents", "agent", "<!here>", "region", "eu`", "vote", "DOWN", "error",
        "# 1. [x](http://y) ~~s~~");
}

/* Slack: every & < > from outside is an entity, so no control sequence (<!channel>, <@U1>,
 * <https://evil|click>) reaches Slack: the body holds no '<' at all; formatting characters
 * stay as written with mrkdwn off; non-ASCII is kept. */
static void test_slack_escapes_outside_text(void **st)
{
    (void) st;
    json_t *ev = s_hostile("DOWN");
    char err[128] = "";
    char *raw = channel_slack_ops.render(ev, err, sizeof err);
    assert_non_null(raw);
    print_message("slack: %s\n", raw);
    assert_null(strchr(raw, '<'));
    assert_null(strchr(raw, '>'));
    free(raw);
    json_t *j = s_render(&channel_slack_ops, ev);
    assert_true(json_is_false(json_object_get(j, "mrkdwn")));
    assert_string_equal(json_string_value(json_object_get(j, "text")),
                        "🔴 DOWN &lt;!channel&gt; *Köln* [x](http://y) ☃: &lt;@U1&gt; down _now_ "
                        "&amp; then `rm`");
    json_t *att = json_array_get(json_object_get(j, "attachments"), 0);
    assert_string_equal(json_string_value(json_object_get(att, "title")),
                        "&lt;!channel&gt; *Köln* [x](http://y) ☃");
    assert_string_equal(json_string_value(json_object_get(att, "fallback")),
                        json_string_value(json_object_get(j, "text")));
    json_t *fields = json_object_get(att, "fields");
    assert_string_equal(json_string_value(json_object_get(json_array_get(fields, 1), "value")),
                        "&lt;https://evil|click&gt;");
    json_t *ag = json_array_get(fields, 3);
    assert_string_equal(json_string_value(json_object_get(ag, "title")), "&lt;!here&gt; (eu`)");
    assert_string_equal(json_string_value(json_object_get(ag, "value")),
                        "DOWN: # 1. [x](http://y) ~~s~~");
    json_decref(j);
    json_decref(ev);
}

/* The card's texts: every character of set in s is escaped with a backslash. */
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

/* Teams: Markdown and tags from outside arrive backslash-escaped in the title, the line and
 * every fact (no link, emphasis, code, mention tag or list forms); non-ASCII is kept. */
static void test_teams_escapes_outside_text(void **st)
{
    (void) st;
    json_t *ev = s_hostile("DOWN");
    json_t *j = s_render(&channel_teams_ops, ev);
    json_t *card = json_object_get(json_array_get(json_object_get(j, "attachments"), 0), "content");
    json_t *body = json_object_get(card, "body");
    const char *title = json_string_value(json_object_get(json_array_get(body, 0), "text"));
    const char *line = json_string_value(json_object_get(json_array_get(body, 1), "text"));
    print_message("teams title: %s\nteams line: %s\n", title, line);
    assert_string_equal(title, "🔴 DOWN \\<!channel\\> \\*Köln\\* \\[x\\]\\(http://y\\) ☃");
    assert_string_equal(line, "\\<@U1\\> down \\_now\\_ \\& then \\`rm\\`");
    json_t *facts = json_object_get(json_array_get(body, 2), "facts");
    assert_string_equal(json_string_value(json_object_get(json_array_get(facts, 1), "value")),
                        "\\<https://evil|click\\>");
    json_t *ag = json_array_get(facts, 2);
    const char *at = json_string_value(json_object_get(ag, "title"));
    const char *av = json_string_value(json_object_get(ag, "value"));
    print_message("teams agent fact: %s = %s\n", at, av);
    assert_string_equal(at, "\\<!here\\> (eu\\`)");
    assert_string_equal(av, "DOWN: \\# 1. \\[x\\]\\(http://y\\) \\~\\~s\\~\\~");
    const char *set = "<>[]*_`~&";
    s_all_escaped(title, set);
    s_all_escaped(line, set);
    size_t i;
    json_t *f;
    json_array_foreach(facts, i, f) {
        s_all_escaped(json_string_value(json_object_get(f, "value")), set);
    }
    json_decref(j);
    json_decref(ev);
}

typedef struct {
    long status;
    const char *body;
    long retry_after;
    channel_verdict_t want;
    long want_after;
    const char *want_reason;
} row_t;

static const char *const VERDICT[] = {"SENT", "RETRY", "DEAD"};

static void s_table(const channel_ops_t *ops, const row_t *rows, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        channel_outcome_t o = ops->classify(rows[i].status, rows[i].body, strlen(rows[i].body),
                                            rows[i].retry_after);
        print_message("%s %ld '%s' -> %s %s (after %ld)\n", ops->name, rows[i].status,
                      rows[i].body, VERDICT[o.verdict], o.reason, o.retry_after_s);
        assert_int_equal(o.verdict, rows[i].want);
        assert_string_equal(o.reason, rows[i].want_reason);
        if (o.verdict == CHANNEL_RETRY)
            assert_int_equal(o.retry_after_s, rows[i].want_after);
    }
}

/* Statuses every channel classifies alike: 3xx (no redirect is followed), the 4xx that are
 * final, and the retried ones, which keep Retry-After. */
static void s_common_rows(const channel_ops_t *ops)
{
    const row_t rows[] = {
        {301, "", -1, CHANNEL_DEAD, -1, "redirect"},
        {302, "", -1, CHANNEL_DEAD, -1, "redirect"},
        {307, "", 5, CHANNEL_DEAD, -1, "redirect"},
        {308, "", -1, CHANNEL_DEAD, -1, "redirect"},
        {400, "x", -1, CHANNEL_DEAD, -1, "client_error"},
        {401, "", -1, CHANNEL_DEAD, -1, "client_error"},
        {403, "", -1, CHANNEL_DEAD, -1, "client_error"},
        {404, "", -1, CHANNEL_DEAD, -1, "client_error"},
        {405, "", -1, CHANNEL_DEAD, -1, "client_error"},
        {409, "", -1, CHANNEL_DEAD, -1, "client_error"},
        {410, "", -1, CHANNEL_DEAD, -1, "client_error"},
        {413, "", -1, CHANNEL_DEAD, -1, "client_error"},
        {422, "", -1, CHANNEL_DEAD, -1, "client_error"},
        {451, "", 9, CHANNEL_DEAD, -1, "client_error"},
        {499, "", -1, CHANNEL_DEAD, -1, "client_error"},
        {408, "", -1, CHANNEL_RETRY, -1, "request_timeout"},
        {408, "", 4, CHANNEL_RETRY, 4, "request_timeout"},
        {425, "", -1, CHANNEL_RETRY, -1, "too_early"},
        {429, "", -1, CHANNEL_RETRY, -1, "rate_limited"},
        {429, "", 30, CHANNEL_RETRY, 30, "rate_limited"},
        {500, "", -1, CHANNEL_RETRY, -1, "server_error"},
        {502, "", -1, CHANNEL_RETRY, -1, "server_error"},
        {503, "", 7, CHANNEL_RETRY, 7, "server_error"},
        {504, "", -1, CHANNEL_RETRY, -1, "server_error"},
        {599, "", -1, CHANNEL_RETRY, -1, "server_error"},
        {100, "", -1, CHANNEL_RETRY, -1, "bad_status"},
        {0, "", -1, CHANNEL_RETRY, -1, "bad_status"},
        {600, "", -1, CHANNEL_RETRY, -1, "bad_status"},
    };
    s_table(ops, rows, sizeof rows / sizeof rows[0]);
}

static void test_slack_classify(void **st)
{
    const row_t rows[] = {
        {200, "ok", -1, CHANNEL_SENT, -1, "ok"},
        {200, "ok\n", -1, CHANNEL_SENT, -1, "ok"},
        {200, "invalid", -1, CHANNEL_DEAD, -1, "bad_body"},
        {200, "invalid_payload", -1, CHANNEL_DEAD, -1, "bad_body"},
        {200, "okay", -1, CHANNEL_DEAD, -1, "bad_body"},
        {200, "", -1, CHANNEL_DEAD, -1, "bad_body"},
        {200, "{\"ok\":false}", -1, CHANNEL_DEAD, -1, "bad_body"},
        {201, "ok", -1, CHANNEL_DEAD, -1, "bad_body"},
        {202, "", -1, CHANNEL_DEAD, -1, "bad_body"},
        {204, "", -1, CHANNEL_DEAD, -1, "bad_body"},
        {429, "rate_limited", 30, CHANNEL_RETRY, 30, "rate_limited"},
        {500, "rollup_error", -1, CHANNEL_RETRY, -1, "server_error"},
        {400, "invalid_payload", -1, CHANNEL_DEAD, -1, "client_error"},
        {400, "user_not_found", -1, CHANNEL_DEAD, -1, "client_error"},
        {403, "action_prohibited", -1, CHANNEL_DEAD, -1, "client_error"},
        {403, "invalid_token", -1, CHANNEL_DEAD, -1, "client_error"},
        {404, "channel_not_found", -1, CHANNEL_DEAD, -1, "client_error"},
        {404, "no_service", -1, CHANNEL_DEAD, -1, "client_error"},
        {410, "channel_is_archived", -1, CHANNEL_DEAD, -1, "client_error"},
    };
    s_table(&channel_slack_ops, rows, sizeof rows / sizeof rows[0]);
    s_common_rows(&channel_slack_ops);
}

static void test_teams_classify(void **st)
{
    const row_t rows[] = {
        {202, "", -1, CHANNEL_SENT, -1, "ok"},
        {202, "\r\n", -1, CHANNEL_SENT, -1, "ok"},
        {200, "1", -1, CHANNEL_SENT, -1, "ok"},
        {200, "Webhook message delivery failed with error: Microsoft Teams endpoint returned "
              "HTTP error 429 with ContextId tcid=0,server=msgapi-production-eus-azsc2-4-170,"
              "cv=deadbeef.0", -1, CHANNEL_RETRY, -1, "rate_limited"},
        {200, "Microsoft Teams endpoint returned HTTP error 429", 3, CHANNEL_RETRY, 3,
         "rate_limited"},
        {200, "Microsoft Teams endpoint returned HTTP error 502", -1, CHANNEL_RETRY, -1,
         "server_error"},
        {200, "Microsoft Teams endpoint returned HTTP error 413", -1, CHANNEL_DEAD, -1,
         "client_error"},
        {202, "Microsoft Teams endpoint returned HTTP error 429", -1, CHANNEL_RETRY, -1,
         "rate_limited"},
        {200, "HTTP error 200", -1, CHANNEL_DEAD, -1, "bad_body"},
        {200, "HTTP error 4", -1, CHANNEL_DEAD, -1, "bad_body"},
        {200, "", -1, CHANNEL_DEAD, -1, "bad_body"},
        {200, "ok", -1, CHANNEL_DEAD, -1, "bad_body"},
        {200, "10", -1, CHANNEL_DEAD, -1, "bad_body"},
        {202, "1", -1, CHANNEL_DEAD, -1, "bad_body"},
        {201, "", -1, CHANNEL_DEAD, -1, "bad_body"},
        {204, "", -1, CHANNEL_DEAD, -1, "bad_body"},
        {429, "", 12, CHANNEL_RETRY, 12, "rate_limited"},
        {502, "", -1, CHANNEL_RETRY, -1, "server_error"},
        {400, "Summary or Text is required.", -1, CHANNEL_DEAD, -1, "client_error"},
        {400, "HTTP error 429", -1, CHANNEL_DEAD, -1, "client_error"},
    };
    s_table(&channel_teams_ops, rows, sizeof rows / sizeof rows[0]);
    s_common_rows(&channel_teams_ops);
}

/* A body may be any bytes (not text, NUL inside, not terminated): the checks read only
 * body_len bytes. */
static void test_classify_reads_only_len(void **st)
{
    const char buf[] = {'o', 'k', 'x'};
    assert_int_equal(channel_slack_ops.classify(200, buf, 2, -1).verdict, CHANNEL_SENT);
    assert_int_equal(channel_slack_ops.classify(200, buf, 3, -1).verdict, CHANNEL_DEAD);
    const char bin[] = "\xff\xfe\0HTTP error 429";
    channel_outcome_t o = channel_teams_ops.classify(200, bin, sizeof bin - 1, -1);
    assert_int_equal(o.verdict, CHANNEL_RETRY);
    assert_string_equal(o.reason, "rate_limited");
    const char cut[] = "HTTP error 42";
    assert_int_equal(channel_teams_ops.classify(200, cut, sizeof cut - 1, -1).verdict,
                     CHANNEL_DEAD);
    assert_int_equal(channel_teams_ops.classify(200, "1", 1, -1).verdict, CHANNEL_SENT);
    assert_int_equal(channel_teams_ops.classify(200, "1", 0, -1).verdict, CHANNEL_DEAD);
}

static void test_transport(void **st)
{
    const struct {
        int code;
        channel_verdict_t want;
        const char *reason;
    } rows[] = {
        {CURLE_COULDNT_CONNECT, CHANNEL_RETRY, "network"},
        {CURLE_COULDNT_RESOLVE_HOST, CHANNEL_RETRY, "network"},
        {CURLE_GOT_NOTHING, CHANNEL_RETRY, "network"},
        {CURLE_RECV_ERROR, CHANNEL_RETRY, "network"},
        {CURLE_SEND_ERROR, CHANNEL_RETRY, "network"},
        {CURLE_OPERATION_TIMEDOUT, CHANNEL_RETRY, "timeout"},
        {CURLE_PEER_FAILED_VERIFICATION, CHANNEL_DEAD, "config_error"},
        {CURLE_URL_MALFORMAT, CHANNEL_DEAD, "config_error"},
        {CURLE_UNSUPPORTED_PROTOCOL, CHANNEL_DEAD, "config_error"},
    };
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        channel_outcome_t o = channel_classify_transport(rows[i].code);
        print_message("curl %d (%s) -> %s %s\n", rows[i].code,
                      curl_easy_strerror((CURLcode) rows[i].code), VERDICT[o.verdict], o.reason);
        assert_int_equal(o.verdict, rows[i].want);
        assert_string_equal(o.reason, rows[i].reason);
    }
}

/* A render channel's request: the rendered JSON POSTed to the notifier's webhookUrl. */
static void test_prepare_render_channel(void **st)
{
    (void) st;
    json_t *ev = json_pack("{s:s, s:s, s:s, s:s, s:s, s:i, s:i, s:[]}", "event", "DOWN",
                           "asset_id", "api", "asset_name", "API", "started_at",
                           "2026-12-06T00:00:00Z", "reason", "HTTP 503", "down_votes", 2,
                           "live_agents", 2, "agents");
    json_t *conf = json_pack("{s:s, s:s}", "type", "slack", "webhookUrl", "http://h/x");
    channel_msg_t msg = {.row_id = 7, .incident_id = 3, .now_ms = 1};
    channel_request_t req;
    char err[256] = "";
    assert_int_equal(channel_prepare(channel_find("slack"), conf, "http://h/x", ev, &msg, &req,
                                     err, sizeof err),
                     0);
    assert_int_equal(req.transport, CHANNEL_HTTP);
    assert_string_equal(req.url, "http://h/x");
    assert_string_equal(req.headers[0], "Content-Type: application/json");
    assert_null(req.headers[1]);
    assert_non_null(strstr(req.body, "API"));
    channel_request_clear(&req);
    assert_null(req.url);
    channel_request_clear(&req); /* twice is fine */
    /* no URL: a config error, nothing allocated */
    assert_int_equal(channel_prepare(channel_find("slack"), conf, NULL, ev, &msg, &req, err,
                                     sizeof err),
                     -EINVAL);
    assert_string_equal(err, "no webhookUrl");
    assert_null(req.body);
    json_decref(conf);
    json_decref(ev);
}

static void test_request_headers_bounded(void **st)
{
    (void) st;
    channel_request_t req = {0};
    for (int i = 0; i < CHANNEL_HEADERS_MAX; i++)
        assert_int_equal(channel_request_header(&req, "X-N%d: %d", i, i), 0);
    assert_int_equal(channel_request_header(&req, "X-Over: 1"), -E2BIG);
    assert_string_equal(req.headers[3], "X-N3: 3");
    assert_null(req.headers[CHANNEL_HEADERS_MAX]);
    channel_request_clear(&req);
}

/* Secrets come from files: the first line, trimmed; a missing or empty file is an error that
 * names the field and the path, never the content. */
static void test_secret_file(void **st)
{
    (void) st;
    char dir[] = "/tmp/sd-chan-XXXXXX", path[64], empty[64], err[256] = "";
    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof path, "%s/key", dir);
    snprintf(empty, sizeof empty, "%s/empty", dir);
    FILE *f = fopen(path, "w");
    fputs("R0UTINGKEY\nsecond line\n", f);
    fclose(f);
    fclose(fopen(empty, "w"));
    json_t *conf = json_pack("{s:s, s:s, s:s}", "routingKeyFile", path, "tokenFile", empty,
                             "missing", "/nonexistent/key");
    char *k = channel_secret_file(conf, "routingKeyFile", err, sizeof err);
    assert_string_equal(k, "R0UTINGKEY");
    free(k);
    assert_null(channel_secret_file(conf, "tokenFile", err, sizeof err));
    assert_non_null(strstr(err, "is empty"));
    assert_null(channel_secret_file(conf, "missing", err, sizeof err));
    assert_string_equal(err, "missing /nonexistent/key: No such file or directory");
    assert_null(channel_secret_file(conf, "absent", err, sizeof err));
    assert_string_equal(err, "absent is not set");
    assert_string_equal(channel_conf_str(conf, "tokenFile", "d"), empty);
    assert_string_equal(channel_conf_str(conf, "nope", "d"), "d");
    json_decref(conf);
    unlink(path);
    unlink(empty);
    rmdir(dir);
}

static void test_check_all(void **st)
{
    (void) st;
    sd_notifiers_t *n = NULL;
    char err[512] = "";
    assert_int_equal(sd_notifiers_parse("n.json", "{\"notifiers\":{\"s\":{\"type\":\"slack\","
                                                  "\"webhookUrl\":\"http://h/\"}}}",
                                        &n, err, sizeof err),
                     0);
    assert_int_equal(channel_check_all(n, err, sizeof err), 0);
    assert_int_equal(channel_check_all(NULL, err, sizeof err), 0);
    sd_notifiers_destroy(&n);
}

/* ACKNOWLEDGED and TEST: Slack's text, colour and fields; Teams' title, colour and facts;
 * the acknowledger's name from outside escaped in both. */
static void test_slack_teams_ack_and_test(void **st)
{
    (void) st;
    json_t *ev = s_event("ACKNOWLEDGED");
    json_object_set_new(ev, "acknowledged_at", json_string("2026-09-01T12:02:00.000Z"));
    json_object_set_new(ev, "acknowledged_by", json_string("<!here> *ops*"));
    json_t *j = s_render(&channel_slack_ops, ev);
    const char *text = json_string_value(json_object_get(j, "text"));
    print_message("slack ack: %s\n", text);
    assert_string_equal(text, "👀 ACKNOWLEDGED API prod: acknowledged by &lt;!here&gt; *ops* at "
                              "2026-09-01T12:02:00.000Z; reminders and escalation stop");
    json_t *att = json_array_get(json_object_get(j, "attachments"), 0);
    assert_string_equal(json_string_value(json_object_get(att, "color")), "#ECB22E");
    json_t *fields = json_object_get(att, "fields");
    assert_int_equal(json_array_size(fields), 4); /* Since, Acknowledged, By, Address */
    assert_string_equal(json_string_value(json_object_get(json_array_get(fields, 2), "title")),
                        "By");
    assert_string_equal(json_string_value(json_object_get(json_array_get(fields, 2), "value")),
                        "&lt;!here&gt; *ops*");
    json_decref(j);
    j = s_render(&channel_teams_ops, ev);
    json_t *card = json_object_get(json_array_get(json_object_get(j, "attachments"), 0), "content");
    json_t *title = json_array_get(json_object_get(card, "body"), 0);
    assert_string_equal(json_string_value(json_object_get(title, "text")),
                        "👀 ACKNOWLEDGED API prod");
    assert_string_equal(json_string_value(json_object_get(title, "color")), "Warning");
    json_t *facts = json_object_get(json_array_get(json_object_get(card, "body"), 2), "facts");
    assert_string_equal(json_string_value(json_object_get(json_array_get(facts, 2), "value")),
                        "\\<!here\\> \\*ops\\*");
    json_decref(j);
    json_decref(ev);

    ev = json_pack("{s:s, s:s, s:s, s:s}", "event", "TEST", "notifier", "ops-slack", "at",
                   "2026-12-06T01:00:00Z", "message", "StatusD test message");
    j = s_render(&channel_slack_ops, ev);
    text = json_string_value(json_object_get(j, "text"));
    print_message("slack test: %s\n", text);
    assert_string_equal(text, "🧪 TEST ops-slack: StatusD test message (notifier ops-slack, "
                              "2026-12-06T01:00:00Z)");
    att = json_array_get(json_object_get(j, "attachments"), 0);
    assert_string_equal(json_string_value(json_object_get(att, "color")), "#439FE0");
    assert_string_equal(json_string_value(json_object_get(
                            json_array_get(json_object_get(att, "fields"), 0), "value")),
                        "ops-slack");
    json_decref(j);
    j = s_render(&channel_teams_ops, ev);
    card = json_object_get(json_array_get(json_object_get(j, "attachments"), 0), "content");
    title = json_array_get(json_object_get(card, "body"), 0);
    assert_string_equal(json_string_value(json_object_get(title, "text")), "🧪 TEST ops-slack");
    assert_string_equal(json_string_value(json_object_get(title, "color")), "Accent");
    json_decref(j);
    json_decref(ev);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_registry),       cmocka_unit_test(test_slack_render),
        cmocka_unit_test(test_teams_render),   cmocka_unit_test(test_slack_classify),
        cmocka_unit_test(test_teams_classify), cmocka_unit_test(test_classify_reads_only_len),
        cmocka_unit_test(test_transport),
        cmocka_unit_test(test_prepare_render_channel),
        cmocka_unit_test(test_request_headers_bounded),
        cmocka_unit_test(test_secret_file),
        cmocka_unit_test(test_check_all),
        cmocka_unit_test(test_slack_escapes_outside_text),
        cmocka_unit_test(test_teams_escapes_outside_text),
        cmocka_unit_test(test_slack_teams_ack_and_test),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
