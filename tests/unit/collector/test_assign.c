/* assign: locations filter, stable phase offsets, AssetSpec fields. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "assign.h"

static char *s_eu_us[] = {"eu", "us"};
static char *s_ap[] = {"ap"};
static int s_codes[] = {200, 204};

static void s_manifest(sd_manifest_t *m, sd_asset_t *a)
{
    memset(a, 0, 3 * sizeof *a);
    a[0] = (sd_asset_t){.id = "web", .asset_type = "http", .name = "Web",
                        .address = "https://example.com", .interval_seconds = 60,
                        .timeout_seconds = 5, .expected_status_codes = s_codes,
                        .n_expected_status_codes = 2};
    a[1] = (sd_asset_t){.id = "db", .asset_type = "tcp", .name = "DB", .address = "db:5432",
                        .interval_seconds = 30, .timeout_seconds = 3, .locations = s_eu_us,
                        .n_locations = 2};
    a[2] = (sd_asset_t){.id = "dns", .asset_type = "dns", .name = "DNS", .address = "x.org",
                        .interval_seconds = 10, .timeout_seconds = 2, .locations = s_ap,
                        .n_locations = 1};
    m->assets = a;
    m->n_assets = 3;
}

static void test_locations_filter(void **state)
{
    (void) state;
    sd_asset_t a[3];
    sd_manifest_t m;
    s_manifest(&m, a);
    Statusd__Assignment *eu = assign_build(&m, "eu", 42);
    assert_non_null(eu);
    assert_int_equal(eu->version, 42);
    assert_int_equal(eu->n_assets, 2);
    assert_string_equal(eu->assets[0]->id, "web");
    assert_string_equal(eu->assets[1]->id, "db");
    Statusd__Assignment *ap = assign_build(&m, "ap", 7);
    assert_int_equal(ap->n_assets, 2);
    assert_string_equal(ap->assets[1]->id, "dns");
    Statusd__Assignment *none = assign_build(&m, "sa", 7);
    assert_int_equal(none->n_assets, 1); /* only the asset without locations */
    assert_false(assign_applies(&a[1], "EU"));
    assert_false(assign_applies(&a[1], NULL));
    assert_true(assign_applies(&a[0], NULL));
    assign_destroy(&eu);
    assign_destroy(&ap);
    assign_destroy(&none);
    assert_null(eu);
    assign_destroy(NULL);
}

static void test_phase_offset_stable(void **state)
{
    (void) state;
    /* FNV-1a 64 of "web" computed independently: the offset must not depend on anything
     * but the id and the interval */
    uint64_t h = 14695981039346656037ULL;
    for (const char *p = "web"; *p; p++) {
        h ^= (unsigned char) *p;
        h *= 1099511628211ULL;
    }
    assert_int_equal(assign_phase_offset("web", 60000), (uint32_t) (h % 60000));
    int distinct = 0;
    uint32_t first = assign_phase_offset("asset-0", 60000);
    for (int i = 0; i < 1000; i++) {
        char id[32];
        snprintf(id, sizeof id, "asset-%d", i);
        uint32_t o = assign_phase_offset(id, 60000);
        assert_true(o < 60000);
        assert_int_equal(o, assign_phase_offset(id, 60000));
        distinct += o != first;
    }
    printf("phase offsets: %d of 1000 differ from the first\n", distinct);
    assert_true(distinct > 900); /* spread, not all in one burst */
    assert_int_equal(assign_phase_offset("x", 0), 0);
    assert_int_equal(assign_phase_offset("x", 1), 0);
}

static void test_spec_fields(void **state)
{
    (void) state;
    sd_asset_t a[3];
    sd_manifest_t m;
    s_manifest(&m, a);
    json_error_t je;
    a[0].options = json_loads("{\"method\": \"HEAD\", \"headers\": {\"X\": \"1\"}}", 0, &je);
    assert_non_null(a[0].options);
    Statusd__Assignment *as = assign_build(&m, "eu", 1);
    Statusd__AssetSpec *web = as->assets[0], *db = as->assets[1];
    assert_string_equal(web->type, "http");
    assert_string_equal(web->address, "https://example.com");
    assert_int_equal(web->interval_ms, 60000);
    assert_int_equal(web->timeout_ms, 5000);
    assert_int_equal(web->n_expected_status_codes, 2);
    assert_int_equal(web->expected_status_codes[0], 200);
    assert_int_equal(web->expected_status_codes[1], 204);
    json_t *back = json_loads(web->options_json, 0, &je);
    assert_non_null(back);
    assert_true(json_equal(back, a[0].options));
    json_decref(back);
    assert_int_equal(web->phase_offset_ms, assign_phase_offset("web", 60000));
    assert_string_equal(db->options_json, "");
    assert_int_equal(db->n_expected_status_codes, 0);
    assert_int_equal(db->interval_ms, 30000);
    assert_true(db->phase_offset_ms < 30000);

    /* survives the wire */
    Statusd__Envelope env = STATUSD__ENVELOPE__INIT;
    env.body_case = STATUSD__ENVELOPE__BODY_ASSIGNMENT;
    env.assignment = as;
    size_t len = statusd__envelope__get_packed_size(&env);
    uint8_t *buf = malloc(len);
    statusd__envelope__pack(&env, buf);
    Statusd__Envelope *dec = statusd__envelope__unpack(NULL, len, buf);
    assert_non_null(dec);
    assert_int_equal(dec->assignment->n_assets, 2);
    assert_int_equal(dec->assignment->assets[0]->phase_offset_ms, web->phase_offset_ms);
    statusd__envelope__free_unpacked(dec, NULL);
    free(buf);
    assign_destroy(&as);
    json_decref(a[0].options);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_locations_filter),
        cmocka_unit_test(test_phase_offset_stable),
        cmocka_unit_test(test_spec_fields),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
