/* Slack and Teams rendering of agent liveness events: one message per agent with the
 * headline "🔴 AGENT DOWN agent-eu-1 (eu-west): silent since ..." (green AGENT UP); an
 * agent's own strings escaped in each format. */
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

/* An agent's id, region and version come from the agent: escaped in every format. */
static json_t *s_render_hostile(const char *type)
{
    json_t *ev = json_pack("{s:s, s:s, s:s, s:s, s:s}", "event", "AGENT_DOWN", "agent",
                           "<!channel>", "region", "*eu*", "version", "[v](http://x)",
                           "silent_since", "2026-11-25T08:43:00.000Z");
    char err[128] = "";
    char *body = channel_find(type)->render(ev, err, sizeof err);
    assert_non_null(body);
    print_message("%s hostile: %s\n", type, body);
    if (strcmp(type, "slack") == 0)
        assert_null(strchr(body, '<')); /* no control sequence at all */
    json_t *out = json_loads(body, 0, NULL);
    assert_non_null(out);
    free(body);
    json_decref(ev);
    return out;
}

static void test_hostile(void **st)
{
    (void) st;
    json_t *b = s_render_hostile("slack");
    assert_string_equal(json_string_value(json_object_get(b, "text")),
                        "🔴 AGENT DOWN &lt;!channel&gt; (*eu*): silent since "
                        "2026-11-25T08:43:00.000Z");
    json_t *att = json_array_get(json_object_get(b, "attachments"), 0);
    assert_string_equal(json_string_value(json_object_get(att, "title")), "&lt;!channel&gt;");
    json_decref(b);
    b = s_render_hostile("teams");
    json_t *card = json_object_get(json_array_get(json_object_get(b, "attachments"), 0),
                                   "content");
    json_t *body = json_object_get(card, "body");
    assert_string_equal(json_string_value(json_object_get(json_array_get(body, 0), "text")),
                        "🔴 AGENT DOWN \\<!channel\\> (\\*eu\\*): silent since "
                        "2026-11-25T08:43:00.000Z");
    json_t *facts = json_object_get(json_array_get(body, 2), "facts");
    assert_string_equal(json_string_value(json_object_get(json_array_get(facts, 0), "value")),
                        "\\<!channel\\>");
    assert_string_equal(json_string_value(json_object_get(json_array_get(facts, 3), "value")),
                        "\\[v\\]\\(http://x\\)");
    json_decref(b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_slack), cmocka_unit_test(test_teams),
                                       cmocka_unit_test(test_hostile)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
