/* config_diff: what a reload changes. Two manifests and two notifier files as text, parsed
 * by the real loader: an asset added, one removed, one changed in each way (probe, vote,
 * other), one the same; a notifier added, removed, changed; the policy and maintenance. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config_diff.h"

#define ASSET(id, extra)                                                                      \
    "{\"id\": \"" id "\", \"assetType\": \"http\", \"name\": \"" id "\", \"address\": "        \
    "\"http://127.0.0.1/" id "\", \"intervalSeconds\": 30, \"timeoutSeconds\": 5" extra "}"

static const char *OLD_M =
    "{\"assets\": [" ASSET("same", "") ", " ASSET("gone", "") ", " ASSET("probe", "") ", "
    ASSET("vote", "") ", " ASSET("other", "") ", " ASSET("flap", "") "],"
    " \"maintenance\": [{\"id\": \"w\", \"start\": \"2026-01-01T00:00:00Z\","
    " \"end\": \"2026-01-01T01:00:00Z\"}]}";
static const char *NEW_M =
    "{\"assets\": [" ASSET("new", "") ", " ASSET("same", "") ", "
    ASSET("probe", ", \"expectedStatusCodes\": [200]") ", "
    ASSET("vote", ", \"failureThreshold\": 3") ", "
    ASSET("other", ", \"metadata\": {\"team\": \"web\"}") ", "
    ASSET("flap", ", \"flapping\": {\"highThreshold\": 60, \"lowThreshold\": 30}") "],"
    " \"maintenance\": [{\"id\": \"w\", \"start\": \"2026-01-01T00:00:00Z\","
    " \"end\": \"2026-01-01T02:00:00Z\"}]}";

#define HOOK(url) "{\"type\": \"webhook\", \"url\": \"" url "\"}"
static const char *OLD_N =
    "{\"notifiers\": {\"a\": " HOOK("http://127.0.0.1:1/a") ", \"b\": " HOOK("http://127.0.0.1:1/b")
    ", \"c\": " HOOK("http://127.0.0.1:1/c") "},"
    " \"notificationPolicy\": {\"onDown\": [\"a\"], \"onRecovery\": [\"a\"]}}";
static const char *NEW_N =
    "{\"notifiers\": {\"a\": " HOOK("http://127.0.0.1:1/a") ", \"b\": " HOOK("http://127.0.0.1:2/b")
    ", \"d\": " HOOK("http://127.0.0.1:1/d") "},"
    " \"notificationPolicy\": {\"onDown\": [\"a\", \"d\"], \"onRecovery\": [\"a\"]}}";

typedef struct {
    sd_manifest_t *om, *nm;
    sd_notifiers_t *on, *nn;
} fx_t;

static int s_setup(void **state)
{
    fx_t *f = calloc(1, sizeof *f);
    char err[512] = "";
    if (sd_manifest_parse("old.json", OLD_M, &f->om, err, sizeof err) != 0 ||
        sd_manifest_parse("new.json", NEW_M, &f->nm, err, sizeof err) != 0 ||
        sd_notifiers_parse("old-n.json", OLD_N, &f->on, err, sizeof err) != 0 ||
        sd_notifiers_parse("new-n.json", NEW_N, &f->nn, err, sizeof err) != 0) {
        fprintf(stderr, "fixture: %s\n", err);
        return -1;
    }
    *state = f;
    return 0;
}

static int s_teardown(void **state)
{
    fx_t *f = *state;
    sd_manifest_destroy(&f->om);
    sd_manifest_destroy(&f->nm);
    sd_notifiers_destroy(&f->on);
    sd_notifiers_destroy(&f->nn);
    free(f);
    return 0;
}

static unsigned s_asset(const fx_t *f, const char *id)
{
    return config_diff_asset(f->om, sd_manifest_find(f->om, id), f->nm,
                             sd_manifest_find(f->nm, id));
}

static void test_assets(void **state)
{
    fx_t *f = *state;
    assert_int_equal(s_asset(f, "same"), 0);
    assert_int_equal(s_asset(f, "probe"), CONFIG_ASSET_PROBE);
    assert_int_equal(s_asset(f, "vote"), CONFIG_ASSET_VOTE);
    assert_int_equal(s_asset(f, "other"), CONFIG_ASSET_OTHER);
    assert_int_equal(s_asset(f, "flap"), CONFIG_ASSET_OTHER);
    /* the manifest-wide flapping default changes every asset that has none of its own */
    sd_manifest_t *m2 = NULL;
    char err[256];
    assert_int_equal(sd_manifest_parse("m2.json",
                                       "{\"flapping\": {\"recoveryHoldSeconds\": 90}, "
                                       "\"assets\": [" ASSET("same", "") "]}",
                                       &m2, err, sizeof err),
                     0);
    assert_int_equal(config_diff_asset(f->om, sd_manifest_find(f->om, "same"), m2,
                                       sd_manifest_find(m2, "same")),
                     CONFIG_ASSET_OTHER);
    sd_manifest_destroy(&m2);
}

static void test_summary(void **state)
{
    fx_t *f = *state;
    config_diff_t d;
    config_diff(f->om, f->on, f->nm, f->nn, &d);
    printf("added %zu removed %zu changed %zu; notifiers +%zu -%zu ~%zu policy %d maint %d\n",
           d.assets_added, d.assets_removed, d.assets_changed, d.notifiers_added,
           d.notifiers_removed, d.notifiers_changed, d.policy_changed, d.maintenance_changed);
    assert_int_equal(d.assets_added, 1);   /* new */
    assert_int_equal(d.assets_removed, 1); /* gone */
    assert_int_equal(d.assets_changed, 4); /* probe, vote, other, flap */
    assert_int_equal(d.notifiers_added, 1);   /* d */
    assert_int_equal(d.notifiers_removed, 1); /* c */
    assert_int_equal(d.notifiers_changed, 1); /* b's url */
    assert_true(d.policy_changed);            /* onDown gained d */
    assert_true(d.maintenance_changed);       /* w ends later */
    /* nothing changes between a configuration and itself */
    config_diff(f->nm, f->nn, f->nm, f->nn, &d);
    assert_int_equal(d.assets_added + d.assets_removed + d.assets_changed + d.notifiers_added +
                         d.notifiers_removed + d.notifiers_changed,
                     0);
    assert_false(d.policy_changed);
    assert_false(d.maintenance_changed);
    /* from nothing: everything is new */
    config_diff(NULL, NULL, f->nm, f->nn, &d);
    assert_int_equal(d.assets_added, f->nm->n_assets);
    assert_int_equal(d.notifiers_added, 3);
}

static void test_policy(void **state)
{
    fx_t *f = *state;
    assert_false(config_diff_policy(f->on, f->on));
    assert_true(config_diff_policy(f->on, f->nn));
    assert_true(config_diff_policy(NULL, f->on));
    assert_false(config_diff_policy(NULL, NULL));
    sd_notifiers_t *t = NULL;
    char err[256];
    assert_int_equal(sd_notifiers_parse("t.json",
                                        "{\"notifiers\": {\"a\": " HOOK("http://127.0.0.1:1/a")
                                        "}, \"notificationPolicy\": {\"onDown\": [\"a\"], "
                                        "\"onRecovery\": [\"a\"], \"throttleSeconds\": 60}}",
                                        &t, err, sizeof err),
                     0);
    assert_true(config_diff_policy(f->on, t)); /* throttle 300 -> 60 */
    assert_false(config_diff_notifier(sd_notifiers_find(f->on, "a"), sd_notifiers_find(t, "a")));
    sd_notifiers_destroy(&t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_assets),
        cmocka_unit_test(test_summary),
        cmocka_unit_test(test_policy),
    };
    return cmocka_run_group_tests(tests, s_setup, s_teardown);
}
