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
                            "failureThreshold, successThreshold, method, headers, body, "
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
                             "(supported: slack, teams)");
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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_seed_manifest_loads),
        cmocka_unit_test(test_seed_notifiers_load),
        cmocka_unit_test(test_manifest_errors_name_position_and_field),
        cmocka_unit_test(test_manifest_syntax_error),
        cmocka_unit_test(test_manifest_optional_fields),
        cmocka_unit_test(test_notifier_errors),
        cmocka_unit_test(test_load_missing_file),
        cmocka_unit_test(test_json_pos),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
