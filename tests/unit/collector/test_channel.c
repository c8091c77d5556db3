/* channel: rendered Slack/Teams bodies are valid JSON with the fields of the reference;
 * the classification tables. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
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
    assert_null(channel_find("pagerduty"));
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

typedef struct {
    long status;
    const char *body;
    long retry_after;
    channel_verdict_t want;
    long want_after;
} row_t;

static void s_table(const channel_ops_t *ops, const row_t *rows, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        channel_outcome_t o = ops->classify(rows[i].status, rows[i].body, strlen(rows[i].body),
                                            rows[i].retry_after);
        print_message("%s %ld '%s' -> %d (after %ld)\n", ops->name, rows[i].status, rows[i].body,
                      o.verdict, o.retry_after_s);
        assert_int_equal(o.verdict, rows[i].want);
        if (o.verdict == CHANNEL_RETRY)
            assert_int_equal(o.retry_after_s, rows[i].want_after);
        assert_non_null(o.reason);
    }
}

static void test_slack_classify(void **st)
{
    const row_t rows[] = {
        {200, "ok", -1, CHANNEL_SENT, -1},
        {200, "invalid_payload", -1, CHANNEL_DEAD, -1},
        {429, "rate_limited", 30, CHANNEL_RETRY, 30},
        {500, "rollup_error", -1, CHANNEL_RETRY, -1},
        {503, "", 7, CHANNEL_RETRY, 7},
        {400, "invalid_payload", -1, CHANNEL_DEAD, -1},
        {403, "invalid_token", -1, CHANNEL_DEAD, -1},
        {404, "channel_not_found", -1, CHANNEL_DEAD, -1},
        {410, "channel_is_archived", -1, CHANNEL_DEAD, -1},
        {301, "", -1, CHANNEL_DEAD, -1},
    };
    s_table(&channel_slack_ops, rows, sizeof rows / sizeof rows[0]);
}

static void test_teams_classify(void **st)
{
    const row_t rows[] = {
        {202, "", -1, CHANNEL_SENT, -1},
        {200, "1", -1, CHANNEL_SENT, -1},
        {429, "", 12, CHANNEL_RETRY, 12},
        {502, "", -1, CHANNEL_RETRY, -1},
        {400, "bad card", -1, CHANNEL_DEAD, -1},
        {401, "", -1, CHANNEL_DEAD, -1},
        {404, "", -1, CHANNEL_DEAD, -1},
        {413, "", -1, CHANNEL_DEAD, -1},
    };
    s_table(&channel_teams_ops, rows, sizeof rows / sizeof rows[0]);
}

static void test_transport(void **st)
{
    assert_int_equal(channel_classify_transport(CURLE_COULDNT_CONNECT).verdict, CHANNEL_RETRY);
    assert_int_equal(channel_classify_transport(CURLE_OPERATION_TIMEDOUT).verdict, CHANNEL_RETRY);
    assert_int_equal(channel_classify_transport(CURLE_PEER_FAILED_VERIFICATION).verdict,
                     CHANNEL_DEAD);
    assert_int_equal(channel_classify_transport(CURLE_URL_MALFORMAT).verdict, CHANNEL_DEAD);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_registry),       cmocka_unit_test(test_slack_render),
        cmocka_unit_test(test_teams_render),   cmocka_unit_test(test_slack_classify),
        cmocka_unit_test(test_teams_classify), cmocka_unit_test(test_transport),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
