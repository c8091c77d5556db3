/* notifiers.json: every notifier type's fields (what each may, must and must not say), the
 * delivery URL each copies to webhook_url, and the errors, with file:line:column: field. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "sd_config.h"

typedef struct {
    const char *notifier;      /* the notifier object */
    const char *want_url;      /* webhook_url, NULL none */
} good_t;

static const good_t s_good[] = {
    {"{\"type\":\"slack\",\"webhookUrl\":\"https://hooks.slack.com/services/T/B/x\"}",
     "https://hooks.slack.com/services/T/B/x"},
    {"{\"type\":\"discord\",\"webhookUrl\":\"https://discord.com/api/webhooks/1/t\"}",
     "https://discord.com/api/webhooks/1/t"},
    {"{\"type\":\"pagerduty\",\"routingKeyFile\":\"/etc/statusd/pd.key\"}", NULL},
    {"{\"type\":\"pagerduty\",\"routingKey\":\"R0123\",\"eventsUrl\":\"http://127.0.0.1:9/v2/"
     "enqueue\"}", "http://127.0.0.1:9/v2/enqueue"},
    {"{\"type\":\"webhook\",\"url\":\"https://ops.example.com/hook\",\"secretFile\":\"/s\","
     "\"headers\":{\"X-Team\":\"sre\"}}", "https://ops.example.com/hook"},
    {"{\"type\":\"email\",\"smtpUrl\":\"smtps://mail.example.com:465\",\"from\":\"statusd@"
     "example.com\",\"to\":[\"oncall@example.com\"],\"username\":\"u\",\"passwordFile\":\"/p\","
     "\"starttls\":\"required\"}", "smtps://mail.example.com:465"},
    {"{\"type\":\"telegram\",\"botTokenFile\":\"/t\",\"chatId\":-1001234}", NULL},
    {"{\"type\":\"telegram\",\"botTokenFile\":\"/t\",\"chatId\":\"@ops\",\"apiUrl\":"
     "\"http://127.0.0.1:9\"}", "http://127.0.0.1:9"},
    {"{\"type\":\"ntfy\",\"url\":\"https://ntfy.sh/ops\",\"tokenFile\":\"/t\",\"priority\":5}",
     "https://ntfy.sh/ops"},
};

static void test_every_type_loads(void **state)
{
    (void) state;
    for (size_t i = 0; i < sizeof s_good / sizeof *s_good; i++) {
        char text[1024], err[512] = "";
        snprintf(text, sizeof text, "{\"notifiers\":{\"x\":%s}}", s_good[i].notifier);
        sd_notifiers_t *n = NULL;
        int rc = sd_notifiers_parse("n.json", text, &n, err, sizeof err);
        if (rc)
            fail_msg("%s: %s", s_good[i].notifier, err);
        const sd_notifier_conf_t *c = sd_notifiers_find(n, "x");
        assert_non_null(c);
        if (s_good[i].want_url)
            assert_string_equal(c->webhook_url, s_good[i].want_url);
        else
            assert_null(c->webhook_url);
        assert_non_null(c->raw);
        sd_notifiers_destroy(&n);
    }
}

static const struct {
    const char *notifier, *want;
} s_bad[] = {
    {"{\"type\":\"discord\"}", "n.json:1:19: notifiers.x.webhookUrl: missing required field"},
    {"{\"type\":\"discord\",\"webhookUrl\":\"ftp://h/\"}",
     "n.json:1:50: notifiers.x.webhookUrl: expected an http:// or https:// URL"},
    {"{\"type\":\"discord\",\"url\":\"http://h/\"}",
     "n.json:1:37: notifiers.x.url: unknown field (allowed: type, webhookUrl)"},
    {"{\"type\":\"pagerduty\"}",
     "n.json:1:19: notifiers.x: a pagerduty notifier needs \"routingKey\" or \"routingKeyFile\""},
    {"{\"type\":\"webhook\",\"url\":\"http://h/\",\"headers\":{\"X-A\":1}}",
     "n.json:1:72: notifiers.x.headers.X-A: expected a string, got an integer"},
    {"{\"type\":\"email\",\"smtpUrl\":\"http://h/\",\"from\":\"a@b\",\"to\":[\"c@d\"]}",
     "n.json:1:45: notifiers.x.smtpUrl: expected an smtp:// or smtps:// URL"},
    {"{\"type\":\"email\",\"smtpUrl\":\"smtp://h:25\",\"from\":\"a@b\",\"to\":[]}",
     "n.json:1:77: notifiers.x.to: expected a non-empty array of strings, got an empty array"},
    {"{\"type\":\"telegram\",\"botTokenFile\":\"/t\",\"chatId\":true}",
     "n.json:1:67: notifiers.x.chatId: expected a string or an integer, got a boolean"},
    {"{\"type\":\"ntfy\",\"url\":\"\"}",
     "n.json:1:40: notifiers.x.url: expected a non-empty string"},
};

static void test_errors_name_the_field(void **state)
{
    (void) state;
    int wrong = 0;
    for (size_t i = 0; i < sizeof s_bad / sizeof *s_bad; i++) {
        char text[1024], err[512] = "";
        snprintf(text, sizeof text, "{\"notifiers\":{\"x\":%s}}", s_bad[i].notifier);
        sd_notifiers_t *n = NULL;
        assert_int_equal(sd_notifiers_parse("n.json", text, &n, err, sizeof err), -EINVAL);
        assert_null(n);
        bool ok = strcmp(err, s_bad[i].want) == 0;
        print_message("  %s%s\n", ok ? "" : "WRONG: ", err);
        wrong += !ok;
    }
    assert_int_equal(wrong, 0);
}

/* notificationPolicy.routes: parsed, and resolved per asset (sd_notifiers_route). */
static const char s_routes[] =
    "{\"notifiers\":{\"pd\":{\"type\":\"pagerduty\",\"routingKey\":\"k\"},"
    "\"chat\":{\"type\":\"slack\",\"webhookUrl\":\"http://h/c\"},"
    "\"ops\":{\"type\":\"slack\",\"webhookUrl\":\"http://h/o\"},"
    "\"mail\":{\"type\":\"webhook\",\"url\":\"http://h/m\"}},\n"
    "\"notificationPolicy\":{\"onDown\":[\"ops\"],\"onRecovery\":[\"ops\"],\"routes\":[\n"
    " {\"match\":{\"env\":\"prod\",\"team\":[\"db\",\"api\"]},\"onDown\":[\"pd\",\"chat\"],"
    "\"onRecovery\":[\"pd\"],\"continue\":true},\n"
    " {\"match\":{\"env\":\"prod\"},\"onDown\":[\"chat\",\"mail\"]},\n"
    " {\"match\":{\"id\":\"legacy\"},\"onDown\":[\"mail\"]},\n"
    " {\"match\":{\"env\":\"staging\"},\"onDown\":[\"chat\"],\"escalation\":["
    "{\"afterSeconds\":0,\"notify\":[\"ops\"]},{\"afterSeconds\":900,\"notify\":[\"pd\"]}]}]}}";

static char *s_names(const sd_notifiers_t *n, const sd_asset_t *a, bool down, char *buf,
                     size_t len)
{
    const char **names;
    size_t cnt;
    assert_int_equal(sd_notifiers_route(n, a, down, &names, &cnt), 0);
    buf[0] = 0;
    for (size_t i = 0; i < cnt; i++)
        snprintf(buf + strlen(buf), len - strlen(buf), "%s%s", i ? "," : "", names[i]);
    free(names);
    return buf;
}

static void test_routes(void **state)
{
    (void) state;
    sd_notifiers_t *n = NULL;
    char err[512] = "", b[128];
    int rc = sd_notifiers_parse("n.json", s_routes, &n, err, sizeof err);
    if (rc)
        fail_msg("%s", err);
    assert_int_equal(n->n_routes, 4);
    static const struct {
        const char *id, *meta, *down, *rec;
    } cases[] = {
        /* first route matches and continues into the second: both lists, each name once */
        {"api", "{\"env\":\"prod\",\"team\":\"api\"}", "pd,chat,mail", "pd,chat,mail"},
        /* team not in the list: only the second route */
        {"web", "{\"env\":\"prod\",\"team\":\"web\"}", "chat,mail", "chat,mail"},
        {"legacy", "{}", "mail", "mail"},
        {"stage", "{\"env\":\"staging\"}", "chat", "chat"},
        /* no route matches: the default onDown / onRecovery */
        {"other", "{\"env\":\"dev\"}", "ops", "ops"},
        {"bare", NULL, "ops", "ops"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        sd_asset_t a = {.id = (char *) cases[i].id,
                        .metadata = cases[i].meta ? json_loads(cases[i].meta, 0, NULL) : NULL};
        char d[128];
        s_names(n, &a, true, d, sizeof d);
        print_message("  %-7s %-32s DOWN -> %-14s RECOVERY -> %s\n", cases[i].id,
                      cases[i].meta ? cases[i].meta : "(no metadata)", d,
                      s_names(n, &a, false, b, sizeof b));
        assert_string_equal(d, cases[i].down);
        if (strcmp(cases[i].id, "api") == 0)
            assert_string_equal(b, "pd,chat,mail"); /* onRecovery pd, then route 2's chat,mail */
        else
            assert_string_equal(b, cases[i].rec);
        json_decref(a.metadata);
    }
    /* escalation tiers of the matched routes */
    sd_asset_t st = {.id = "s", .metadata = json_pack("{s:s}", "env", "staging")};
    const sd_tier_t **tiers;
    size_t nt;
    assert_int_equal(sd_notifiers_escalation(n, &st, &tiers, &nt), 0);
    assert_int_equal(nt, 2);
    assert_int_equal(tiers[1]->after_seconds, 900);
    assert_string_equal(tiers[1]->notify[0], "pd");
    free(tiers);
    json_decref(st.metadata);
    /* agent events (no asset): the default route */
    assert_string_equal(s_names(n, NULL, true, b, sizeof b), "ops");
    sd_notifiers_destroy(&n);

    static const struct {
        const char *policy, *want;
    } bad[] = {
        {"{\"routes\":[{\"onDown\":[\"ops\"]}]}",
         "n.json:1:97: notificationPolicy.routes[0].match: missing required field"},
        {"{\"routes\":[{\"match\":{\"env\":1},\"onDown\":[\"ops\"]}]}",
         "n.json:1:113: notificationPolicy.routes[0].match.env: expected a string or a "
         "non-empty array of strings, got an integer"},
        {"{\"routes\":[{\"match\":{},\"onDown\":[\"nope\"]}]}",
         "n.json:1:119: notificationPolicy.routes[0].onDown[0]: no notifier named \"nope\" in "
         "\"notifiers\""},
        {"{\"routes\":[{\"match\":{},\"onRecovery\":[\"ops\"]}]}",
         "n.json:1:97: notificationPolicy.routes[0]: a route needs \"onDown\" (and optionally "
         "\"onRecovery\")"},
        {"{\"routes\":[{\"match\":{},\"onDown\":[\"ops\"],\"escalate\":[]}]}",
         "n.json:1:126: notificationPolicy.routes[0].escalate: unknown field (allowed: match, "
         "onDown, onRecovery, continue, escalation)"},
        {"{\"routes\":[{\"match\":{},\"onDown\":[\"ops\"],\"escalation\":[{\"afterSeconds\":60,"
         "\"notify\":[\"ops\"]},{\"afterSeconds\":30,\"notify\":[\"ops\"]}]}]}",
         "n.json:1:193: notificationPolicy.routes[0].escalation[1].afterSeconds: 30 is before "
         "the previous tier's 60: tiers are in order"},
        {"{\"routes\":[{\"match\":{},\"onDown\":[\"ops\"],\"escalation\":[{\"afterSeconds\":60}]}]}",
         "n.json:1:140: notificationPolicy.routes[0].escalation[0].notify: missing required "
         "field"},
        {"{\"storm\":{\"threshold\":-1}}",
         "n.json:1:108: notificationPolicy.storm.threshold: expected an integer from 0 to 1000, "
         "got -1"},
        {"{\"storm\":{\"windowSeconds\":0}}",
         "n.json:1:112: notificationPolicy.storm.windowSeconds: expected an integer from 1 to "
         "86400, got 0"},
        {"{\"storm\":{\"maxNames\":\"20\"}}",
         "n.json:1:107: notificationPolicy.storm.maxNames: expected an integer from 1 to 500, "
         "got a string"},
        {"{\"storm\":{\"window\":60}}",
         "n.json:1:96: notificationPolicy.storm.window: unknown field (allowed: threshold, "
         "windowSeconds, maxNames)"},
        {"{\"storm\":3}",
         "n.json:1:95: notificationPolicy.storm: expected an object {\"threshold\", "
         "\"windowSeconds\", \"maxNames\"}, got an integer"},
    };
    int wrong = 0;
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        char text[512];
        snprintf(text, sizeof text, "{\"notifiers\":{\"ops\":{\"type\":\"slack\",\"webhookUrl\":"
                                    "\"http://h/o\"}},\"notificationPolicy\":%s}",
                 bad[i].policy);
        assert_int_equal(sd_notifiers_parse("n.json", text, &n, err, sizeof err), -EINVAL);
        bool ok = strcmp(err, bad[i].want) == 0;
        print_message("  %s%s\n", ok ? "" : "WRONG: ", err);
        wrong += !ok;
    }
    assert_int_equal(wrong, 0);
}

/* The example in docs/notifications.md ("A complete notifiers.json") is a file that loads, and
 * routes as its text says. */
static void test_docs_example_loads(void **state)
{
    (void) state;
    const char *src = getenv("STATUSD_SOURCE_DIR");
    assert_non_null(src);
    char path[1024];
    snprintf(path, sizeof path, "%s/docs/notifications.md", src);
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    static char doc[1 << 17];
    size_t len = fread(doc, 1, sizeof doc - 1, f);
    fclose(f);
    doc[len] = 0;
    char *start = strstr(doc, "## A complete notifiers.json");
    assert_non_null(start);
    start = strstr(start, "```json\n");
    assert_non_null(start);
    start += 8;
    char *end = strstr(start, "```");
    assert_non_null(end);
    *end = 0;
    sd_notifiers_t *n = NULL;
    char err[512] = "";
    if (sd_notifiers_parse("docs/notifications.md", start, &n, err, sizeof err) != 0)
        fail_msg("the docs' example does not load: %s", err);
    assert_int_equal(n->n_notifiers, 8);
    sd_asset_t prod = {.id = "pay", .metadata = json_pack("{s:s, s:s}", "env", "prod", "team",
                                                          "payments")};
    char b[256];
    assert_string_equal(s_names(n, &prod, true, b, sizeof b), "oncall-pd,ops-slack,audit-hook");
    const sd_tier_t **tiers;
    size_t nt;
    assert_int_equal(sd_notifiers_escalation(n, &prod, &tiers, &nt), 0);
    assert_int_equal(nt, 1);
    assert_int_equal(tiers[0]->after_seconds, 900);
    free(tiers);
    json_decref(prod.metadata);
    /* its storm block */
    assert_int_equal(n->storm_threshold, 5);
    assert_int_equal(n->storm_window_seconds, 120);
    assert_int_equal(n->storm_max_names, 30);
    sd_notifiers_destroy(&n);
    /* without one: 3 pages, 60 s, 20 names */
    assert_int_equal(sd_notifiers_parse("n.json", "{\"notifiers\":{}}", &n, err, sizeof err), 0);
    assert_int_equal(n->storm_threshold, 3);
    assert_int_equal(n->storm_window_seconds, 60);
    assert_int_equal(n->storm_max_names, 20);
    sd_notifiers_destroy(&n);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_type_loads),
        cmocka_unit_test(test_errors_name_the_field),
        cmocka_unit_test(test_routes),
        cmocka_unit_test(test_docs_example_loads),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
