/* Slack and Teams rendering of agent liveness events: one message per agent with the
 * headline "🔴 AGENT DOWN agent-eu-1 (eu-west): silent since ..." (green AGENT UP). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "channel.h"

static json_t *s_render(const char *type, const char *event)
{
    json_t *ev = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:i}", "event", event, "agent",
                           "agent-eu-1", "region", "eu-west", "version", "0.1.0", "silent_since",
                           "2026-11-25T08:43:00.000Z", "back_at", "2026-11-25T08:45:00.000Z",
                           "down_seconds", 120);
    char err[128] = "";
    char *body = channel_find(type)->render(ev, err, sizeof err);
    assert_non_null(body);
    print_message("%s %s: %s\n", type, event, body);
    json_t *out = json_loads(body, 0, NULL);
    assert_non_null(out);
    free(body);
    json_decref(ev);
    return out;
}

static void test_slack(void **st)
{
    (void) st;
    json_t *b = s_render("slack", "AGENT_DOWN");
    assert_string_equal(json_string_value(json_object_get(b, "text")),
                        "🔴 AGENT DOWN agent-eu-1 (eu-west): silent since 2026-11-25T08:43:00.000Z");
    json_t *att = json_array_get(json_object_get(b, "attachments"), 0);
    assert_string_equal(json_string_value(json_object_get(att, "color")), "#DD0000");
    json_decref(b);
    b = s_render("slack", "AGENT_UP");
    assert_non_null(strstr(json_string_value(json_object_get(b, "text")),
                           "✅ AGENT UP agent-eu-1 (eu-west): back after 120 s"));
    att = json_array_get(json_object_get(b, "attachments"), 0);
    assert_string_equal(json_string_value(json_object_get(att, "color")), "#36A64F");
    json_decref(b);
}

static void test_teams(void **st)
{
    (void) st;
    json_t *b = s_render("teams", "AGENT_DOWN");
    json_t *card = json_object_get(json_array_get(json_object_get(b, "attachments"), 0),
                                   "content");
    json_t *title = json_array_get(json_object_get(card, "body"), 0);
    assert_string_equal(json_string_value(json_object_get(title, "text")),
                        "🔴 AGENT DOWN agent-eu-1 (eu-west): silent since 2026-11-25T08:43:00.000Z");
    assert_string_equal(json_string_value(json_object_get(title, "color")), "Attention");
    json_decref(b);
    b = s_render("teams", "AGENT_UP");
    card = json_object_get(json_array_get(json_object_get(b, "attachments"), 0), "content");
    title = json_array_get(json_object_get(card, "body"), 0);
    assert_string_equal(json_string_value(json_object_get(title, "color")), "Good");
    json_decref(b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_slack), cmocka_unit_test(test_teams)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
