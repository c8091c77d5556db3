/* sd_config: the seed's files load; every error names file:line:col and the field. */
#include <errno.h>
#include <setjmp.h>
#include <stdlib.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "sd_config.h"
#include "sd_json_pos.h"
#include "sd_utf8.h"

#include <unistd.h>

static const char *SEED_MANIFEST =
    "{\n"
    "  \"assets\": [\n"
    "    {\n"
    "      \"id\": \"api-prod\",\n"
    "      \"assetType\": \"http\",\n"
    "      \"name\": \"Production API\",\n"
    "      \"address\": \"https://api.example.com/health\",\n"
    "      \"intervalSeconds\": 60,\n"
    "      \"timeoutSeconds\": 5,\n"
    "      \"expectedStatusCodes\": [200],\n"
    "      \"metadata\": {\n"
    "        \"env\": \"prod\",\n"
    "        \"owner\": \"platform-team\"\n"
    "      }\n"
    "    },\n"
    "    {\n"
    "      \"id\": \"web-prod\",\n"
    "      \"assetType\": \"http\",\n"
    "      \"name\": \"Production Website\",\n"
    "      \"address\": \"https://www.example.com\",\n"
    "      \"intervalSeconds\": 120,\n"
    "      \"timeoutSeconds\": 10,\n"
    "      \"expectedStatusCodes\": [200, 301]\n"
    "    }\n"
    "  ]\n"
    "}\n";

static const char *SEED_NOTIFIERS =
    "{\n"
    "  \"notifiers\": {\n"
    "    \"teams\": {\n"
    "      \"type\": \"teams\",\n"
    "      \"webhookUrl\": \"https://outlook.office.com/webhook/your-webhook-url\"\n"
    "    }\n"
    "  },\n"
    "  \"notificationPolicy\": {\n"
    "    \"onDown\": [\"teams\"],\n"
    "    \"onRecovery\": [\"teams\"],\n"
    "    \"throttleSeconds\": 300,\n"
    "    \"repeatAlerts\": false\n"
    "  }\n"
    "}\n";

static void test_seed_manifest_loads(void **state)
{
    (void) state;
    sd_manifest_t *m = NULL;
    char err[512] = "";
    assert_int_equal(sd_manifest_parse("manifest.json", SEED_MANIFEST, &m, err, sizeof err), 0);
    assert_non_null(m);
    assert_int_equal(m->n_assets, 2);
    const sd_asset_t *a = sd_manifest_find(m, "web-prod");
    assert_non_null(a);
    assert_string_equal(a->name, "Production Website");
    assert_int_equal(a->interval_seconds, 120);
    assert_int_equal(a->timeout_seconds, 10);
    assert_int_equal(a->n_expected_status_codes, 2);
    assert_int_equal(a->expected_status_codes[1], 301);
    assert_int_equal(a->failure_threshold, 2);
    assert_int_equal(a->success_threshold, 1);
    assert_int_equal(a->quorum, 0);
    assert_null(a->locations);
    const sd_asset_t *b = sd_manifest_find(m, "api-prod");
    assert_string_equal(json_string_value(json_object_get(b->metadata, "owner")), "platform-team");
    assert_null(sd_manifest_find(m, "nope"));
    sd_manifest_destroy(&m);
    assert_null(m);
    sd_manifest_destroy(&m);
}

static void test_seed_notifiers_load(void **state)
{
    (void) state;
    sd_notifiers_t *n = NULL;
    char err[512] = "";
    assert_int_equal(sd_notifiers_parse("notifiers.json", SEED_NOTIFIERS, &n, err, sizeof err), 0);
    assert_int_equal(n->n_notifiers, 1);
    assert_string_equal(n->notifiers[0].type, "teams");
    assert_int_equal(n->n_on_down, 1);
    assert_string_equal(n->on_down[0], "teams");
    assert_int_equal(n->throttle_seconds, 300);
    assert_false(n->repeat_alerts);
    assert_non_null(sd_notifiers_find(n, "teams"));
    sd_notifiers_destroy(&n);
    assert_null(n);
}

/* Replaces the first occurrence of from in SEED_MANIFEST by to, parses, expects failure with
 * a message equal to want. */
static void s_expect_manifest_error(const char *from, const char *to, const char *want)
{
    char text[4096];
    const char *p = strstr(SEED_MANIFEST, from);
    assert_non_null(p);
    snprintf(text, sizeof text, "%.*s%s%s", (int) (p - SEED_MANIFEST), SEED_MANIFEST, to,
             p + strlen(from));
    sd_manifest_t *m = (sd_manifest_t *) 0x1;
    char err[512] = "";
    assert_int_equal(sd_manifest_parse("cfg/manifest.json", text, &m, err, sizeof err), -EINVAL);
    assert_null(m);
    printf("  error: %s\n", err);
    assert_string_equal(err, want);
}

static void test_manifest_errors_name_position_and_field(void **state)
{
    (void) state;
    s_expect_manifest_error("\"intervalSeconds\": 120", "\"intervalSeconds\": \"120\"",
                            "cfg/manifest.json:21:26: assets[1].intervalSeconds: expected an "
                            "integer from 1 to 86400, got a string");
    s_expect_manifest_error("\"timeoutSeconds\": 5,", "\"timeoutSecs\": 5,",
                            "cfg/manifest.json:9:7: assets[0].timeoutSecs: unknown field "
                            "(allowed: id, assetType, name, address, intervalSeconds, "
                            "timeoutSeconds, expectedStatusCodes, metadata, locations, quorum, "
                            "failureThreshold, successThreshold, incidentIntervalSeconds, degradedLatencyMs, "
                            "maxLatencyMs, flapping, method, headers, body, "
                            "bodyContains, bodyNotContains, bodyRegex, bodyNotRegex, "
                            "followRedirects, maxRedirects, tlsVerify, httpVersion)");
    s_expect_manifest_error("\"name\": \"Production API\",", "",
                            "cfg/manifest.json:3:5: assets[0].name: missing required field");
    s_expect_manifest_error("[200, 301]", "[200, 999]",
                            "cfg/manifest.json:23:36: assets[1].expectedStatusCodes[1]: expected "
                            "an HTTP status code from 100 to 599");
    s_expect_manifest_error("\"id\": \"web-prod\"", "\"id\": \"api-prod\"",
                            "cfg/manifest.json:17:13: assets[1].id: duplicate id \"api-prod\" "
                            "(first used by assets[0])");
    s_expect_manifest_error("\"assetType\": \"http\"", "\"assetType\": \"gopher\"",
                            "cfg/manifest.json:5:20: assets[0].assetType: unsupported type "
                            "\"gopher\" (supported: http, tcp, tls, dns, icmp)");
    s_expect_manifest_error("\"env\": \"prod\"", "\"env\": 1",
                            "cfg/manifest.json:12:16: assets[0].metadata.env: expected a string, "
                            "got an integer");
    s_expect_manifest_error("\"timeoutSeconds\": 10", "\"timeoutSeconds\": 200",
                            "cfg/manifest.json:22:25: assets[1].timeoutSeconds: 200 is longer than "
                            "intervalSeconds (120)");
    s_expect_manifest_error("\"address\": \"https://www.example.com\"", "\"address\": \"ftp://x\"",
                            "cfg/manifest.json:20:18: assets[1].address: an http asset needs an "
                            "http:// or https:// URL, got \"ftp://x\"");
    s_expect_manifest_error("\"timeoutSeconds\": 10,", "\"timeoutSeconds\": 10, \"locations\": [],",
                            "cfg/manifest.json:22:42: assets[1].locations: expected at least one "
                            "region (omit the field for every region)");
    s_expect_manifest_error("\"timeoutSeconds\": 10,", "\"timeoutSeconds\": 10, \"quorum\": \"most\",",
                            "cfg/manifest.json:22:39: assets[1].quorum: expected an integer from 1 "
                            "to 1000, got a string or \"majority\"");
}

static void test_manifest_syntax_error(void **state)
{
    (void) state;
    sd_manifest_t *m = NULL;
    char err[512] = "";
    assert_int_equal(sd_manifest_parse("m.json", "{\n  \"assets\": [\n    {,\n  ]\n}\n", &m, err,
                                       sizeof err), -EINVAL);
    printf("  error: %s\n", err);
    assert_non_null(strstr(err, "m.json:3:6: invalid JSON"));
    assert_int_equal(sd_manifest_parse("m.json", "[]", &m, err, sizeof err), -EINVAL);
    assert_string_equal(err, "m.json:1:1: (root): expected an object with \"assets\", got an array");
    assert_int_equal(sd_manifest_parse("m.json", "{\"assets\": [], \"assets\": []}", &m, err,
                                       sizeof err), -EINVAL);
    assert_non_null(strstr(err, "duplicate object key"));
    assert_int_equal(sd_manifest_parse("m.json", "{}", &m, err, sizeof err), -EINVAL);
    assert_string_equal(err, "m.json:1:1: assets: missing required field");
}

static void test_manifest_optional_fields(void **state)
{
    (void) state;
    const char *t = "{\"assets\":[{\"id\":\"a\",\"assetType\":\"http\",\"name\":\"A\","
                    "\"address\":\"http://127.0.0.1:1/\",\"intervalSeconds\":10,\"timeoutSeconds\":2,"
                    "\"locations\":[\"eu\",\"us\"],\"quorum\":2,\"failureThreshold\":3,"
                    "\"successThreshold\":2},"
                    "{\"id\":\"b\",\"assetType\":\"http\",\"name\":\"B\",\"address\":\"http://x/\","
                    "\"intervalSeconds\":10,\"timeoutSeconds\":2,\"quorum\":\"majority\"}]}";
    sd_manifest_t *m = NULL;
    char err[512] = "";
    assert_int_equal(sd_manifest_parse("m.json", t, &m, err, sizeof err), 0);
    const sd_asset_t *a = sd_manifest_find(m, "a");
    assert_int_equal(a->n_locations, 2);
    assert_string_equal(a->locations[1], "us");
    assert_int_equal(a->quorum, 2);
    assert_int_equal(a->failure_threshold, 3);
    assert_int_equal(a->success_threshold, 2);
    assert_int_equal(sd_manifest_find(m, "b")->quorum, 0);
    sd_manifest_destroy(&m);
}

static void test_notifier_errors(void **state)
{
    (void) state;
    sd_notifiers_t *n = NULL;
    char err[512] = "";
    const char *bad_ref = "{\"notifiers\":{\"s\":{\"type\":\"slack\",\"webhookUrl\":\"http://h/\"}},\n"
                          "\"notificationPolicy\":{\"onDown\":[\"s\",\"pager\"]}}";
    assert_int_equal(sd_notifiers_parse("n.json", bad_ref, &n, err, sizeof err), -EINVAL);
    assert_string_equal(err, "n.json:2:37: notificationPolicy.onDown[1]: no notifier named "
                             "\"pager\" in \"notifiers\"");
    const char *bad_type = "{\"notifiers\":{\"s\":{\"type\":\"fax\",\"webhookUrl\":\"http://h/\"}}}";
    assert_int_equal(sd_notifiers_parse("n.json", bad_type, &n, err, sizeof err), -EINVAL);
    assert_string_equal(err, "n.json:1:27: notifiers.s.type: unsupported notifier type \"fax\" "
                             "(supported: slack, teams, discord, pagerduty, webhook, email, "
                             "telegram, ntfy)");
    const char *bad_bool = "{\"notifiers\":{},\"notificationPolicy\":{\"repeatAlerts\":\"yes\"}}";
    assert_int_equal(sd_notifiers_parse("n.json", bad_bool, &n, err, sizeof err), -EINVAL);
    assert_string_equal(err, "n.json:1:54: notificationPolicy.repeatAlerts: expected true or "
                             "false, got a string");
    const char *no_url = "{\"notifiers\":{\"s\":{\"type\":\"slack\"}}}";
    assert_int_equal(sd_notifiers_parse("n.json", no_url, &n, err, sizeof err), -EINVAL);
    assert_string_equal(err, "n.json:1:19: notifiers.s.webhookUrl: missing required field");
    /* no policy: every notifier on both events */
    const char *nopol = "{\"notifiers\":{\"s\":{\"type\":\"slack\",\"webhookUrl\":\"http://h/\"},"
                        "\"t\":{\"type\":\"teams\",\"webhookUrl\":\"http://h/\"}}}";
    assert_int_equal(sd_notifiers_parse("n.json", nopol, &n, err, sizeof err), 0);
    assert_int_equal(n->n_on_down, 2);
    assert_int_equal(n->n_on_recovery, 2);
    assert_int_equal(n->throttle_seconds, 300);
    sd_notifiers_destroy(&n);
}

static void test_load_missing_file(void **state)
{
    (void) state;
    sd_manifest_t *m = NULL;
    char err[512] = "";
    assert_true(sd_manifest_load("/nonexistent/manifest.json", &m, err, sizeof err) < 0);
    assert_string_equal(err, "/nonexistent/manifest.json: cannot open: No such file or directory");
    /* the shipped samples must load */
    const char *src = getenv("STATUSD_SOURCE_DIR");
    assert_non_null(src);
    char path[1024];
    snprintf(path, sizeof path, "%s/config/manifest.json", src);
    int rc = sd_manifest_load(path, &m, err, sizeof err);
    if (rc)
        printf("  %s\n", err);
    assert_int_equal(rc, 0);
    assert_true(m->n_assets > 0);
    sd_manifest_destroy(&m);
    sd_notifiers_t *n = NULL;
    snprintf(path, sizeof path, "%s/config/notifiers.json", src);
    rc = sd_notifiers_load(path, &n, err, sizeof err);
    if (rc)
        printf("  %s\n", err);
    assert_int_equal(rc, 0);
    sd_notifiers_destroy(&n);
}

static void test_json_pos(void **state)
{
    (void) state;
    const char *t = "{\"a\": [1, {\"b\": \"x\\\"y\"}, 3],\n \"é\": 2}";
    sd_json_seg_t p[] = {{"a", 0}, {NULL, 1}, {"b", 0}};
    int line, col;
    assert_int_equal(sd_json_pos(t, strlen(t), p, 3, 0, &line, &col), 0);
    assert_int_equal(line, 1);
    assert_int_equal(col, 17);
    sd_json_seg_t q[] = {{"a", 0}, {NULL, 2}};
    assert_int_equal(sd_json_pos(t, strlen(t), q, 2, 0, &line, &col), 0);
    assert_int_equal(col, 26);
    sd_json_seg_t r[] = {{"zz", 0}};
    assert_int_equal(sd_json_pos(t, strlen(t), r, 1, 0, &line, &col), -ENOENT);
    assert_int_equal(line, 1);
    assert_int_equal(col, 1);
    sd_json_seg_t s[] = {{"é", 0}};
    assert_int_equal(sd_json_pos(t, strlen(t), s, 1, 1, &line, &col), 0);
    assert_int_equal(line, 2);
    assert_int_equal(col, 2);
}

/* Parses text; returns rc and leaves the message in err. */
static int s_parse(const char *text, sd_manifest_t **m, char *err, size_t len)
{
    err[0] = 0;
    return sd_manifest_parse("m.json", text, m, err, len);
}

static void s_expect_error(const char *text, const char *want)
{
    sd_manifest_t *m = NULL;
    char err[1024];
    assert_int_equal(s_parse(text, &m, err, sizeof err), -EINVAL);
    assert_null(m);
    print_message("  error: %s\n", err);
    assert_string_equal(err, want);
}

#define ASSET_A                                                                              \
    "{\"id\": \"a\", \"assetType\": \"tcp\", \"name\": \"A\", \"address\": \"h:1\","         \
    " \"intervalSeconds\": 60, \"timeoutSeconds\": 5}"

static void test_maintenance_and_flapping_fields(void **state)
{
    (void) state;
    const char *text =
        "{\"assets\": [{\"id\": \"a\", \"assetType\": \"tcp\", \"name\": \"A\","
        " \"address\": \"h:1\", \"intervalSeconds\": 60, \"timeoutSeconds\": 5,"
        " \"incidentIntervalSeconds\": 10}, " ASSET_A "],\n"
        " \"flapping\": {\"highThreshold\": 40, \"lowThreshold\": 20},\n"
        " \"maintenance\": [\n"
        "  {\"id\": \"upgrade\", \"assets\": [\"a\"], \"start\": \"2026-12-01T22:00:00Z\","
        "   \"end\": \"2026-12-01T23:30:00.500+01:00\", \"reason\": \"db upgrade\"},\n"
        "  {\"days\": [\"sat\", \"Sunday\"], \"start\": \"02:00\", \"end\": \"04:30\","
        "   \"timeZone\": \"Europe/Berlin\"},\n"
        "  {\"days\": [\"mon\"], \"start\": \"23:00\", \"durationMinutes\": 90}\n"
        " ]}";
    sd_manifest_t *m = NULL;
    char err[1024];
    /* the second asset id duplicates the first: give it its own */
    char *t = strdup(text);
    char *second = strstr(strstr(t, "\"id\": \"a\"") + 1, "\"id\": \"a\"");
    second[7] = 'b';
    int rc = s_parse(t, &m, err, sizeof err);
    if (rc)
        fail_msg("%s", err);
    free(t);
    assert_int_equal(m->assets[0].incident_interval_seconds, 10);
    assert_int_equal(sd_asset_incident_interval(&m->assets[0]), 10);
    assert_int_equal(sd_asset_incident_interval(&m->assets[1]), 15); /* 60 / 4 */
    assert_int_equal(m->flap_high_percent, 40);
    assert_int_equal(m->flap_low_percent, 20);
    assert_int_equal(m->n_maintenance, 3);
    const sd_maintenance_t *w = &m->maintenance[0];
    assert_string_equal(w->id, "upgrade");
    assert_int_equal(w->n_assets, 1);
    assert_int_equal(w->days_mask, 0);
    assert_true(w->start_ms == 1796162400000LL);
    assert_true(w->end_ms == 1796164200500LL); /* 22:30:00.5 UTC */
    w = &m->maintenance[1];
    assert_string_equal(w->id, "maintenance[1]");
    assert_null(w->assets);
    assert_int_equal(w->days_mask, (1u << 6) | (1u << 7));
    assert_int_equal(w->start_minute, 120);
    assert_int_equal(w->end_minute, 270);
    assert_string_equal(w->time_zone, "Europe/Berlin");
    w = &m->maintenance[2];
    assert_int_equal(w->duration_minutes, 90);
    assert_int_equal(w->end_minute, -1);
    assert_string_equal(w->time_zone, "UTC");
    sd_manifest_destroy(&m);

    /* defaults without the new fields */
    assert_int_equal(s_parse("{\"assets\": [" ASSET_A "]}", &m, err, sizeof err), 0);
    assert_int_equal(m->flap_high_percent, 50);
    assert_int_equal(m->flap_low_percent, 25);
    assert_int_equal(m->n_maintenance, 0);
    sd_asset_t tiny = {.interval_seconds = 3};
    assert_int_equal(sd_asset_incident_interval(&tiny), 3); /* never slower than usual */
    sd_asset_t mid = {.interval_seconds = 12};
    assert_int_equal(sd_asset_incident_interval(&mid), 5);  /* at least 5 s */
    sd_manifest_destroy(&m);
}

static void test_maintenance_errors(void **state)
{
    (void) state;
    s_expect_error("{\"assets\": [" ASSET_A "],\n \"maintenance\": [{\"assets\": [\"zz\"],"
                   " \"start\": \"2026-12-01T22:00:00Z\", \"end\": \"2026-12-01T23:00:00Z\"}]}",
                   "m.json:2:30: maintenance[0].assets[0]: no asset with id \"zz\" (omit "
                   "\"assets\" for every asset)");
    s_expect_error("{\"assets\": [" ASSET_A "],\n \"maintenance\": [{\"start\":"
                   " \"2026-12-01 22:00\", \"end\": \"2026-12-01T23:00:00Z\"}]}",
                   "m.json:2:28: maintenance[0].start: expected an RFC 3339 time like "
                   "\"2026-12-01T22:00:00Z\"");
    s_expect_error("{\"assets\": [" ASSET_A "],\n \"maintenance\": [{\"start\":"
                   " \"2026-12-01T22:00:00Z\", \"end\": \"2026-12-01T21:00:00Z\"}]}",
                   "m.json:2:59: maintenance[0].end: the window ends before it starts");
    s_expect_error("{\"assets\": [" ASSET_A "],\n \"maintenance\": [{\"days\": [\"mon\"],"
                   " \"start\": \"02:00\", \"durationMinutes\": 60, \"timeZone\": \"Mars/Olympus\"}]}",
                   "m.json:2:89: maintenance[0].timeZone: unknown time zone \"Mars/Olympus\" (use "
                   "an IANA name like \"Europe/Berlin\")");
    s_expect_error("{\"assets\": [" ASSET_A "],\n \"maintenance\": [{\"days\": [\"mon\", \"xyz\"],"
                   " \"start\": \"02:00\", \"durationMinutes\": 60}]}",
                   "m.json:2:35: maintenance[0].days[1]: expected a weekday: mon, tue, wed, thu, "
                   "fri, sat or sun");
    s_expect_error("{\"assets\": [" ASSET_A "],\n \"maintenance\": [{\"days\": [\"mon\"],"
                   " \"start\": \"25:00\", \"durationMinutes\": 60}]}",
                   "m.json:2:45: maintenance[0].start: a weekly window starts at a local time "
                   "\"HH:MM\"");
    s_expect_error("{\"assets\": [" ASSET_A "],\n \"maintenance\": [{\"days\": [\"mon\"],"
                   " \"start\": \"01:00\"}]}",
                   "m.json:2:18: maintenance[0].durationMinutes: a weekly window needs exactly "
                   "one of \"end\" (\"HH:MM\") and \"durationMinutes\"");
    s_expect_error("{\"assets\": [" ASSET_A "],\n \"maintenance\": [{\"when\": 1}]}",
                   "m.json:2:19: maintenance[0].when: unknown field (allowed: id, assets, reason, "
                   "start, end, days, durationMinutes, timeZone)");
    s_expect_error("{\"assets\": [" ASSET_A "],\n \"flapping\": {\"highThreshold\": 20,"
                   " \"lowThreshold\": 30}}",
                   "m.json:2:52: flapping.lowThreshold: 30 must be below highThreshold (20)");
    s_expect_error("{\"assets\": [{\"id\": \"a\", \"assetType\": \"tcp\", \"name\": \"A\","
                   " \"address\": \"h:1\", \"intervalSeconds\": 10, \"timeoutSeconds\": 5,\n"
                   " \"incidentIntervalSeconds\": 20}]}",
                   "m.json:2:29: assets[0].incidentIntervalSeconds: 20 is longer than "
                   "intervalSeconds (10): probing during an incident is never slower than usual");
}

/* "statusPage": title, description, groupBy, showAddresses and demoNotice, each checked. */
static void test_status_page(void **state)
{
    (void) state;
    sd_manifest_t *m = NULL;
    char err[512] = "";
    assert_int_equal(sd_manifest_parse("m.json", "{\"assets\": [" ASSET_A "]}", &m, err,
                                       sizeof err),
                     0);
    assert_null(m->page_title);
    assert_false(m->page_show_addresses);
    assert_null(m->page_demo_notice);
    sd_manifest_destroy(&m);
    assert_int_equal(sd_manifest_parse("m.json",
                                       "{\"assets\": [" ASSET_A "], \"statusPage\": {\"title\":"
                                       " \"Acme\", \"description\": \"Our services\", \"groupBy\":"
                                       " \"team\", \"showAddresses\": true, \"demoNotice\":"
                                       " \"seeded\"}}",
                                       &m, err, sizeof err),
                     0);
    assert_string_equal(m->page_title, "Acme");
    assert_string_equal(m->page_description, "Our services");
    assert_string_equal(m->page_group_by, "team");
    assert_true(m->page_show_addresses);
    assert_string_equal(m->page_demo_notice, "seeded");
    sd_manifest_destroy(&m);
    s_expect_error("{\"assets\": [" ASSET_A "],\n \"statusPage\": {\"showAddresses\": 1}}",
                   "m.json:2:34: statusPage.showAddresses: expected true or false, got an integer");
    s_expect_error("{\"assets\": [" ASSET_A "],\n \"statusPage\": {\"logo\": \"x\"}}",
                   "m.json:2:17: statusPage.logo: unknown field (allowed: title, description, "
                   "groupBy, showAddresses, demoNotice)");
    s_expect_error("{\"assets\": [" ASSET_A "],\n \"statusPage\": {\"demoNotice\": 7}}",
                   "m.json:2:31: statusPage.demoNotice: expected a non-empty string, got an integer");
    s_expect_error("{\"assets\": [" ASSET_A "],\n \"statusPage\": {\"title\": \"\"}}",
                   "m.json:2:26: statusPage.title: expected a non-empty string, got an empty "
                   "string");
    s_expect_error("{\"assets\": [" ASSET_A "],\n \"statusPage\": []}",
                   "m.json:2:16: statusPage: expected an object {\"title\", \"description\", "
                   "\"groupBy\", \"showAddresses\", \"demoNotice\"}, got an array");
}

/* A manifest with one tcp asset whose name is name (JSON text, quotes included) and extra
 * members (", ..." or ""), and a maintenance list (or ""); malloc'd. */
static char *s_text(const char *name, const char *extra, const char *maint)
{
    size_t len = strlen(name) + strlen(extra) + strlen(maint) + 300;
    char *t = malloc(len);
    assert_non_null(t);
    snprintf(t, len,
             "{\"assets\": [{\"id\": \"a\", \"assetType\": \"tcp\", \"name\": %s,\n"
             " \"address\": \"h:1\", \"intervalSeconds\": 60, \"timeoutSeconds\": 5%s}]%s}",
             name, extra, maint);
    return t;
}

/* n copies of the UTF-8 character c between quotes (a JSON string); malloc'd. */
static char *s_repeat(const char *c, int n)
{
    char *s = malloc(strlen(c) * (size_t) n + 3);
    assert_non_null(s);
    strcpy(s, "\"");
    for (int i = 0; i < n; i++)
        strcat(s, c);
    strcat(s, "\"");
    return s;
}

/* A name of 2,000 characters still loads (the collector must still page for the asset): cut
 * to SD_CONFIG_NAME_MAX_CHARS characters and SD_CONFIG_NAME_MAX_BYTES bytes at a character
 * boundary, with "…"; a name within the bounds is kept, made one line. */
static void test_long_names_are_cut(void **state)
{
    (void) state;
    struct {
        const char *c;
        int n, want_n; /* characters given; of them kept before "…" (-1: all, no "…") */
    } cases[] = {
        {"\xC3\xA9", 2000, 199},          /* 2 bytes each: the character bound */
        {"\xE2\x82\xAC", 2000, 169},      /* 3 bytes each: the byte bound (169 x 3 + 3 <= 512) */
        {"\xF0\x9F\x94\xB4", 300, 127},   /* 4 bytes each */
        {"\xC3\xA9", 200, -1},            /* exactly at the bound: kept */
        {"a", 201, 199},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        char *name = s_repeat(cases[i].c, cases[i].n), *t = s_text(name, "", "");
        sd_manifest_t *m = NULL;
        char err[1024];
        assert_int_equal(s_parse(t, &m, err, sizeof err), 0);
        const char *got = m->assets[0].name;
        size_t len = strlen(got), chars = sd_utf8_chars(got, len);
        print_message("  name of %d x %zu-byte characters -> %zu bytes, %zu characters\n",
                      cases[i].n, strlen(cases[i].c), len, chars);
        assert_true(sd_utf8_valid(got, len));
        assert_true(len <= SD_CONFIG_NAME_MAX_BYTES && chars <= SD_CONFIG_NAME_MAX_CHARS);
        char want[2100] = "";
        int keep = cases[i].want_n < 0 ? cases[i].n : cases[i].want_n;
        for (int k = 0; k < keep; k++)
            strcat(want, cases[i].c);
        if (cases[i].want_n >= 0)
            strcat(want, "\xE2\x80\xA6");
        assert_string_equal(got, want);
        sd_manifest_destroy(&m);
        free(name);
        free(t);
    }
    /* one line; a maintenance reason has the same bounds */
    char *e = s_repeat("\xC3\xA9", 1000), maint[2100];
    snprintf(maint, sizeof maint, ", \"maintenance\": [{\"reason\": %s, \"start\":"
             " \"2026-12-01T22:00:00Z\", \"end\": \"2026-12-01T23:00:00Z\"}]", e);
    char *t = s_text("\"Web\\n\\tfront\"", "", maint);
    sd_manifest_t *m = NULL;
    char err[1024];
    assert_int_equal(s_parse(t, &m, err, sizeof err), 0);
    assert_string_equal(m->assets[0].name, "Web  front");
    assert_int_equal(sd_utf8_chars(m->maintenance[0].reason, strlen(m->maintenance[0].reason)),
                     SD_CONFIG_NAME_MAX_CHARS);
    sd_manifest_destroy(&m);
    free(t);
    free(e);
}

/* Ids and metadata have bounds; past one, the error names file:line:column and the field,
 * and quotes no more than an excerpt. */
static void test_id_and_metadata_bounds(void **state)
{
    (void) state;
    char *id = s_repeat("a", 129), extra[3000], *t;
    char *long_id = s_repeat("\xC3\xA9", 1000);
    snprintf(extra, sizeof extra, ", \"locations\": [\"eu\", %s]", id);
    t = s_text("\"A\"", extra, "");
    s_expect_error(t, "m.json:2:84: assets[0].locations[1]: expected at most 128 characters, "
                      "got 129");
    free(t);
    /* an id of 1,000 'é': the message quotes 15 of them */
    char *t2 = malloc(3000);
    snprintf(t2, 3000, "{\"assets\": [{\"id\": %s, \"assetType\": \"tcp\", \"name\": \"A\","
             " \"address\": \"h:1\", \"intervalSeconds\": 60, \"timeoutSeconds\": 5}]}", long_id);
    s_expect_error(t2, "m.json:1:20: assets[0].id: \"\xC3\xA9\xC3\xA9\xC3\xA9\xC3\xA9\xC3\xA9"
                       "\xC3\xA9\xC3\xA9\xC3\xA9\xC3\xA9\xC3\xA9\xC3\xA9\xC3\xA9\xC3\xA9\xC3\xA9"
                       "\xC3\xA9\xC3\xA9\xC3\xA9\xC3\xA9\xC3\xA9\xC3\xA9\xC3\xA9\xC3\xA9"
                       "\xE2\x80\xA6\" (1000 characters): use 1-128 characters from A-Z a-z 0-9 -"
                       " _ . :");
    free(t2);
    snprintf(extra, sizeof extra, ", \"metadata\": {%s: \"x\"}", id);
    t = s_text("\"A\"", extra, "");
    s_expect_error(t, "m.json:2:77: assets[0].metadata.aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
                      "aaaaaaaaaaaaaaaa\xE2\x80\xA6: expected at most 128 characters, got 129");
    free(t);
    char *val = s_repeat("v", SD_CONFIG_META_VALUE_MAX + 1);
    snprintf(extra, sizeof extra, ", \"metadata\": {\"env\": %s}", val);
    t = s_text("\"A\"", extra, "");
    s_expect_error(t, "m.json:2:84: assets[0].metadata.env: expected at most 1024 bytes, got "
                      "1025");
    free(t);
    free(val);
    val = s_repeat("v", SD_CONFIG_META_VALUE_MAX); /* at the bound: fine */
    snprintf(extra, sizeof extra, ", \"metadata\": {\"env\": %s}", val);
    t = s_text("\"A\"", extra, "");
    sd_manifest_t *m = NULL;
    char err[1024];
    assert_int_equal(s_parse(t, &m, err, sizeof err), 0);
    sd_manifest_destroy(&m);
    free(t);
    free(val);
    size_t o = (size_t) snprintf(extra, sizeof extra, ", \"metadata\": {");
    for (int i = 0; i <= SD_CONFIG_META_MAX; i++)
        o += (size_t) snprintf(extra + o, sizeof extra - o, "%s\"k%d\": \"v\"", i ? ", " : "", i);
    snprintf(extra + o, sizeof extra - o, "}");
    t = s_text("\"A\"", extra, "");
    s_expect_error(t, "m.json:2:76: assets[0].metadata: more than 64 entries");
    free(t);
    char maint[400];
    snprintf(maint, sizeof maint, ", \"maintenance\": [{\"id\": %s, \"start\":"
             " \"2026-12-01T22:00:00Z\", \"end\": \"2026-12-01T23:00:00Z\"}]", id);
    t = s_text("\"A\"", "", maint);
    s_expect_error(t, "m.json:2:89: maintenance[0].id: expected at most 128 characters, got 129");
    free(t);
    char nots[400];
    snprintf(nots, sizeof nots, "{\"notifiers\": {%s: {\"type\": \"slack\", \"webhookUrl\":"
             " \"http://h/\"}}}", id);
    sd_notifiers_t *n = NULL;
    assert_int_equal(sd_notifiers_parse("n.json", nots, &n, err, sizeof err), -EINVAL);
    print_message("  error: %s\n", err);
    assert_string_equal(err, "n.json:1:16: notifiers.aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
                             "aaaaaaaaaaaaaaaaa\xE2\x80\xA6: expected at most 128 characters,"
                             " got 129");
    free(id);
    free(long_id);
}

/* jansson refuses a file that is not valid UTF-8 (or carries a NUL or a lone surrogate as an
 * escape), with file:line:column, so no invalid text gets past the config. */
static void test_invalid_utf8_refused(void **state)
{
    (void) state;
    const char *bad[] = {
        "\"Caf\xC3(\"",          /* a cut sequence */
        "\"\xFF\"",              /* never valid */
        "\"\xED\xA0\x80\"",      /* an encoded surrogate */
        "\"\xC0\xAF\"",          /* overlong */
        "\"x\\ud800\"",          /* a lone surrogate as an escape */
        "\"x\\u0000y\"",         /* NUL */
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        char *t = s_text(bad[i], "", "");
        sd_manifest_t *m = NULL;
        char err[1024];
        assert_int_equal(s_parse(t, &m, err, sizeof err), -EINVAL);
        assert_null(m);
        print_message("  name %zu: %s\n", i, err);
        assert_int_equal(strncmp(err, "m.json:1:", 9), 0);
        assert_non_null(strstr(err, ": invalid JSON: "));
        assert_true(sd_utf8_valid(err, strlen(err)));
        free(t);
    }
    /* the file on disk, through sd_manifest_load */
    char path[] = "/tmp/statusd-cfg-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    char *t = s_text("\"Caf\xC3(\"", "", "");
    assert_int_equal(write(fd, t, strlen(t)), (ssize_t) strlen(t));
    close(fd);
    sd_manifest_t *m = NULL;
    char err[1024];
    assert_int_equal(sd_manifest_load(path, &m, err, sizeof err), -EINVAL);
    print_message("  file: %s\n", err);
    assert_non_null(strstr(err, ":1:56: invalid JSON: unable to decode byte 0xc3"));
    unlink(path);
    free(t);
}

static void test_rfc3339(void **state)
{
    (void) state;
    int64_t ms = 0;
    assert_int_equal(sd_parse_rfc3339("1970-01-01T00:00:01Z", &ms), 0);
    assert_true(ms == 1000);
    assert_int_equal(sd_parse_rfc3339("2026-03-29T03:00:00+02:00", &ms), 0);
    assert_true(ms == 1774746000000LL);
    assert_int_equal(sd_parse_rfc3339("2026-03-29T01:00:00.25Z", &ms), 0);
    assert_true(ms == 1774746000250LL);
    assert_int_equal(sd_parse_rfc3339("2026-02-30T00:00:00Z", &ms), -EINVAL);
    assert_int_equal(sd_parse_rfc3339("2026-03-29T01:00:00", &ms), -EINVAL);
    assert_int_equal(sd_parse_rfc3339("2026-03-29T01:00:00+2:00", &ms), -EINVAL);
    assert_int_equal(sd_parse_rfc3339("yesterday", &ms), -EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_status_page),
        cmocka_unit_test(test_seed_manifest_loads),
        cmocka_unit_test(test_seed_notifiers_load),
        cmocka_unit_test(test_manifest_errors_name_position_and_field),
        cmocka_unit_test(test_manifest_syntax_error),
        cmocka_unit_test(test_manifest_optional_fields),
        cmocka_unit_test(test_notifier_errors),
        cmocka_unit_test(test_load_missing_file),
        cmocka_unit_test(test_json_pos),
        cmocka_unit_test(test_maintenance_and_flapping_fields),
        cmocka_unit_test(test_maintenance_errors),
        cmocka_unit_test(test_rfc3339),
        cmocka_unit_test(test_long_names_are_cut),
        cmocka_unit_test(test_id_and_metadata_bounds),
        cmocka_unit_test(test_invalid_utf8_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
