/* The manifest's alerting fields: quorum (a number of locations or "majority"),
 * degradedLatencyMs / maxLatencyMs, the manifest's and an asset's own "flapping" block
 * (sd_asset_flapping resolves which applies), each bad value refused with
 * file:line:column: field. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "sd_config.h"

#define ASSET_HEAD                                                                           \
    "{\"id\": \"a\", \"assetType\": \"tcp\", \"name\": \"A\", \"address\": \"h:1\","         \
    " \"intervalSeconds\": 60, \"timeoutSeconds\": 5"

static int s_parse(const char *text, sd_manifest_t **m, char *err, size_t errlen)
{
    return sd_manifest_parse("m.json", text, m, err, errlen);
}

static void test_defaults(void **state)
{
    (void) state;
    sd_manifest_t *m = NULL;
    char err[1024] = "";
    assert_int_equal(s_parse("{\"assets\": [" ASSET_HEAD "}]}", &m, err, sizeof err), 0);
    const sd_asset_t *a = &m->assets[0];
    assert_int_equal(a->quorum, 0); /* "majority" */
    assert_int_equal(a->degraded_latency_ms, 0);
    assert_int_equal(a->max_latency_ms, 0);
    int high, low, hold;
    sd_asset_flapping(m, a, &high, &low, &hold);
    assert_int_equal(high, 50);
    assert_int_equal(low, 25);
    assert_int_equal(hold, -1); /* 2 x intervalSeconds */
    sd_manifest_destroy(&m);
}

static void test_fields(void **state)
{
    (void) state;
    sd_manifest_t *m = NULL;
    char err[1024] = "";
    const char *text =
        "{\"assets\": [" ASSET_HEAD ", \"quorum\": 2, \"degradedLatencyMs\": 500,"
        " \"maxLatencyMs\": 2000, \"flapping\": {\"lowThreshold\": 5, \"recoveryHoldSeconds\": 0}},"
        " {\"id\": \"b\", \"assetType\": \"tcp\", \"name\": \"B\", \"address\": \"h:2\","
        " \"intervalSeconds\": 60, \"timeoutSeconds\": 5}],\n"
        " \"flapping\": {\"highThreshold\": 40, \"lowThreshold\": 20, \"recoveryHoldSeconds\": 45}}";
    int rc = s_parse(text, &m, err, sizeof err);
    if (rc)
        fail_msg("%s", err);
    const sd_asset_t *a = &m->assets[0];
    assert_int_equal(a->quorum, 2);
    assert_int_equal(a->degraded_latency_ms, 500);
    assert_int_equal(a->max_latency_ms, 2000);
    int high, low, hold;
    sd_asset_flapping(m, a, &high, &low, &hold);
    assert_int_equal(high, 40); /* the manifest's */
    assert_int_equal(low, 5);   /* its own */
    assert_int_equal(hold, 0);  /* its own, 0 = no hold */
    sd_asset_flapping(m, &m->assets[1], &high, &low, &hold);
    assert_int_equal(high, 40);
    assert_int_equal(low, 20);
    assert_int_equal(hold, 45);
    sd_manifest_destroy(&m);
}

static void test_errors(void **state)
{
    (void) state;
    static const struct {
        const char *text, *want;
    } bad[] = {
        {"{\"assets\": [" ASSET_HEAD ",\n \"degradedLatencyMs\": 0}]}",
         "m.json:2:23: assets[0].degradedLatencyMs: expected an integer from 1 to 3600000, got 0"},
        {"{\"assets\": [" ASSET_HEAD ",\n \"maxLatencyMs\": \"2s\"}]}",
         "m.json:2:18: assets[0].maxLatencyMs: expected an integer from 1 to 3600000, got a "
         "string"},
        {"{\"assets\": [" ASSET_HEAD ",\n \"degradedLatencyMs\": 900, \"maxLatencyMs\": 900}]}",
         "m.json:2:23: assets[0].degradedLatencyMs: 900 must be below maxLatencyMs (900): a "
         "result slower than maxLatencyMs is already a failure"},
        {"{\"assets\": [" ASSET_HEAD ",\n \"flapping\": {\"highThreshold\": 20, \"lowThreshold\":"
         " 30}}]}",
         "m.json:2:52: assets[0].flapping.lowThreshold: 30 must be below highThreshold (20)"},
        {"{\"assets\": [" ASSET_HEAD ",\n \"flapping\": {\"lowThreshold\": 60}}]}",
         "m.json:2:31: assets[0].flapping.lowThreshold: lowThreshold 60 must be below "
         "highThreshold 50 (the asset's own where set, else the manifest's)"},
        {"{\"assets\": [" ASSET_HEAD ",\n \"flapping\": {\"hold\": 5}}]}",
         "m.json:2:15: assets[0].flapping.hold: unknown field (allowed: highThreshold, "
         "lowThreshold, recoveryHoldSeconds)"},
        {"{\"assets\": [" ASSET_HEAD ",\n \"quorum\": 0}]}",
         "m.json:2:12: assets[0].quorum: expected an integer from 1 to 1000, got 0 or "
         "\"majority\""},
        {"{\"assets\": [" ASSET_HEAD "}],\n \"flapping\": {\"recoveryHoldSeconds\": 3601}}",
         "m.json:2:38: flapping.recoveryHoldSeconds: expected an integer from 0 to 3600, got "
         "3601"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        sd_manifest_t *m = NULL;
        char err[1024] = "";
        assert_int_equal(s_parse(bad[i].text, &m, err, sizeof err), -EINVAL);
        print_message("  error: %s\n", err);
        assert_null(m);
        assert_string_equal(err, bad[i].want);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_fields),
        cmocka_unit_test(test_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
