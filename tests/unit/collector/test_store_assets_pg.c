/* store_assets against a real PostgreSQL: the manifest sync keeps the engine's columns,
 * set_state writes state, state_reason (valid one-line UTF-8, at most 300 bytes) and
 * state_since, set_reasons the reasons alone of many assets in batches, load gives them back with the throttle start, the flapping flag round-trips;
 * and store_agents' isolated flag, the other half of what the engine reloads at start. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "store.h"
#include "store_agents.h"
#include "store_assets.h"
#include "test_pg.h"

typedef struct {
    char *conninfo;
    store_t *s;
    char err[512];
} fx_t;

static int setup(void **state)
{
    fx_t *f = calloc(1, sizeof *f);
    f->conninfo = test_pg_fresh_db("store_assets");
    assert_non_null(f->conninfo);
    char dir[1024];
    snprintf(dir, sizeof dir, "%s/migrations", getenv("STATUSD_SOURCE_DIR"));
    f->s = store_new(f->conninfo, f->err, sizeof f->err);
    assert_non_null(f->s);
    if (store_migrate(f->s, dir, f->err, sizeof f->err) != 0)
        fail_msg("migrate: %s", f->err);
    sd_asset_t a[2] = {
        {.id = "web", .asset_type = "http", .name = "Web", .address = "https://x",
         .interval_seconds = 60, .timeout_seconds = 5},
        {.id = "db", .asset_type = "tcp", .name = "DB", .address = "db:5432",
         .interval_seconds = 30, .timeout_seconds = 3},
    };
    sd_manifest_t m = {.assets = a, .n_assets = 2};
    if (store_assets_sync(f->s, &m, f->err, sizeof f->err) != 0)
        fail_msg("sync: %s", f->err);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fx_t *f = *state;
    store_destroy(&f->s);
    free(f->conninfo);
    free(f);
    return 0;
}

/* The first column of a one-row query, malloc'd. */
static char *s_value(store_t *s, const char *sql, const char *param)
{
    const char *p[1] = {param};
    PGresult *r = PQexecParams(store_conn(s), sql, param ? 1 : 0, NULL, p, NULL, NULL, 0);
    if (PQresultStatus(r) != PGRES_TUPLES_OK || PQntuples(r) != 1)
        fail_msg("%s: %s", sql, PQerrorMessage(store_conn(s)));
    char *v = strdup(PQgetvalue(r, 0, 0));
    PQclear(r);
    return v;
}

static char *s_reason(fx_t *f, const char *id)
{
    return s_value(f->s, "SELECT state_reason FROM assets WHERE id = $1", id);
}

static void test_set_state_reason(void **state)
{
    fx_t *f = *state;
    char *v = s_reason(f, "web");
    assert_string_equal(v, ""); /* the column's default */
    free(v);

    const char *plain = "DOWN from 1 of 3 locations (eu-west); 2 have no live agent, quorum "
                        "needs 2";
    assert_int_equal(store_assets_set_state(f->s, "web", "UNCONFIRMED", plain, 1700000000123,
                                            f->err, sizeof f->err), 0);
    v = s_value(f->s, "SELECT state || '|' || state_reason || '|' ||"
                      " (extract(epoch FROM state_since) * 1000)::bigint FROM assets"
                      " WHERE id = $1", "web");
    printf("  stored: %s\n", v);
    assert_string_equal(v, "UNCONFIRMED|DOWN from 1 of 3 locations (eu-west); 2 have no live "
                           "agent, quorum needs 2|1700000000123");
    free(v);

    /* controls become spaces, invalid bytes U+FFFD; SQL in the text is only text */
    assert_int_equal(store_assets_set_state(f->s, "web", "DOWN", "a\tb\r\nc \xc3\x28 ';DROP TABLE assets;--",
                                            1, f->err, sizeof f->err), 0);
    v = s_reason(f, "web");
    printf("  fixed: %s\n", v);
    assert_string_equal(v, "a b  c \xef\xbf\xbd( ';DROP TABLE assets;--");
    free(v);

    /* NULL is "" */
    assert_int_equal(store_assets_set_state(f->s, "web", "UP", NULL, 1, f->err, sizeof f->err), 0);
    v = s_reason(f, "web");
    assert_string_equal(v, "");
    free(v);

    /* exactly the bound is kept whole; one byte more is cut at a character with "…" */
    char exact[STORE_ASSETS_REASON_MAX + 2];
    memset(exact, 'r', STORE_ASSETS_REASON_MAX);
    exact[STORE_ASSETS_REASON_MAX] = 0;
    assert_int_equal(store_assets_set_state(f->s, "web", "DEGRADED", exact, 1, f->err,
                                            sizeof f->err), 0);
    v = s_reason(f, "web");
    assert_int_equal(strlen(v), STORE_ASSETS_REASON_MAX);
    assert_string_equal(v, exact);
    free(v);
    /* 298 ASCII bytes then "é" (2 bytes) and more: cut before the 301st byte, inside nothing */
    char over[STORE_ASSETS_REASON_MAX + 40];
    memset(over, 'r', sizeof over);
    memcpy(over + 297, "\xc3\xa9\xc3\xa9", 4);
    over[sizeof over - 1] = 0;
    assert_int_equal(store_assets_set_state(f->s, "web", "DEGRADED", over, 1, f->err,
                                            sizeof f->err), 0);
    v = s_reason(f, "web");
    printf("  cut: %zu bytes, ends \"%s\"\n", strlen(v), v + strlen(v) - 6);
    assert_true(strlen(v) <= STORE_ASSETS_REASON_MAX);
    assert_string_equal(v + strlen(v) - 3, "\xe2\x80\xa6");
    free(v);
    v = s_value(f->s, "SELECT (octet_length(state_reason) <= 300 AND state_reason NOT LIKE"
                      " '%' || chr(10) || '%')::text FROM assets WHERE id = $1", "web");
    assert_string_equal(v, "true");
    free(v);

    /* an unknown asset changes nothing and is not an error */
    assert_int_equal(store_assets_set_state(f->s, "nope", "DOWN", "x", 1, f->err, sizeof f->err),
                     0);
    v = s_value(f->s, "SELECT count(*) FROM assets", NULL);
    assert_string_equal(v, "2");
    free(v);
}

/* set_reasons: more assets than one statement takes, each row its own reason made valid as
 * set_state's, state and state_since untouched, unknown ids ignored, nothing for n = 0. */
static void test_set_reasons_batch(void **state)
{
    fx_t *f = *state;
    enum { N = 2 * STORE_ASSETS_REASONS_BATCH + 3 };
    static sd_asset_t a[N];
    static char ids[N][16], reasons[N + 2][48];
    for (int i = 0; i < N; i++) {
        snprintf(ids[i], sizeof ids[i], "a%d", i);
        a[i] = (sd_asset_t){.id = ids[i], .asset_type = "http", .name = ids[i],
                            .address = "https://x", .interval_seconds = 60, .timeout_seconds = 5};
    }
    sd_manifest_t m = {.assets = a, .n_assets = N};
    assert_int_equal(store_assets_sync(f->s, &m, f->err, sizeof f->err), 0);
    assert_int_equal(store_assets_set_state(f->s, "a7", "DOWN", "old", 1700000000123, f->err,
                                            sizeof f->err), 0);
    assert_int_equal(store_assets_set_reasons(f->s, NULL, 0, f->err, sizeof f->err), 0);

    static store_asset_reason_t rows[N + 2];
    for (int i = 0; i < N; i++) {
        snprintf(reasons[i], sizeof reasons[i], "UP from %d of 5 locations", i % 5 + 1);
        rows[i] = (store_asset_reason_t){.asset_id = ids[i], .reason = reasons[i]};
    }
    rows[3].reason = "a\tb ';DROP TABLE assets;-- \xc3\x28"; /* made valid, only text */
    rows[4].reason = NULL;                                   /* "" */
    rows[N] = (store_asset_reason_t){.asset_id = "nope", .reason = "x"};
    rows[N + 1] = (store_asset_reason_t){.asset_id = "web", .reason = "last row"};
    assert_int_equal(store_assets_set_reasons(f->s, rows, N + 2, f->err, sizeof f->err), 0);

    char *v = s_value(f->s, "SELECT count(*) FROM assets WHERE state_reason LIKE 'UP from %'",
                      NULL);
    printf("  reasons written: %s of %d\n", v, N - 2);
    assert_int_equal(atoi(v), N - 2);
    free(v);
    for (int i = 0; i < N; i += 97) {
        if (i == 3 || i == 4)
            continue;
        v = s_reason(f, ids[i]);
        assert_string_equal(v, reasons[i]);
        free(v);
    }
    v = s_reason(f, ids[N - 1]);
    assert_string_equal(v, reasons[N - 1]);
    free(v);
    v = s_reason(f, "a3");
    assert_string_equal(v, "a b ';DROP TABLE assets;-- \xef\xbf\xbd(");
    free(v);
    v = s_reason(f, "a4");
    assert_string_equal(v, "");
    free(v);
    v = s_reason(f, "web");
    assert_string_equal(v, "last row");
    free(v);
    /* the state and its start stay as set_state left them */
    v = s_value(f->s, "SELECT state || '|' || state_reason || '|' ||"
                      " (extract(epoch FROM state_since) * 1000)::bigint FROM assets"
                      " WHERE id = $1", "a7");
    assert_string_equal(v, "DOWN|UP from 3 of 5 locations|1700000000123");
    free(v);
    v = s_value(f->s, "SELECT count(*) FROM assets WHERE id = 'nope'", NULL);
    assert_string_equal(v, "0");
    free(v);
}

typedef struct {
    char seen[512];
    int64_t web_since, web_notify, db_notify;
} load_t;

static void s_load_cb(const char *id, const char *st, int64_t since, int64_t notify, void *arg)
{
    load_t *l = arg;
    size_t n = strlen(l->seen);
    snprintf(l->seen + n, sizeof l->seen - n, "%s=%s ", id, st);
    if (strcmp(id, "web") == 0) {
        l->web_since = since;
        l->web_notify = notify;
    } else {
        l->db_notify = notify;
    }
}

static void test_load_and_sync_keep_state(void **state)
{
    fx_t *f = *state;
    assert_int_equal(store_assets_set_state(f->s, "web", "DOWN", "why", 1700000000000, f->err,
                                            sizeof f->err), 0);
    PGresult *r = PQexec(store_conn(f->s),
                         "INSERT INTO notifications (asset_id, event, channel, payload, created_at)"
                         " VALUES ('web', 'DOWN', 'ops', '{}', to_timestamp(1700000001)),"
                         " ('web', 'RECOVERY', 'ops', '{}', to_timestamp(1700000009))");
    assert_int_equal(PQresultStatus(r), PGRES_COMMAND_OK);
    PQclear(r);
    /* a manifest sync (reload) rewrites the configuration, never the engine's columns */
    sd_asset_t a = {.id = "web", .asset_type = "http", .name = "Web 2", .address = "https://x",
                    .interval_seconds = 10, .timeout_seconds = 5};
    sd_manifest_t m = {.assets = &a, .n_assets = 1};
    assert_int_equal(store_assets_sync(f->s, &m, f->err, sizeof f->err), 0);
    load_t l;
    memset(&l, 0, sizeof l);
    assert_int_equal(store_assets_load(f->s, s_load_cb, &l, f->err, sizeof f->err), 0);
    printf("  loaded: %s web since=%lld notify=%lld\n", l.seen, (long long) l.web_since,
           (long long) l.web_notify);
    assert_non_null(strstr(l.seen, "web=DOWN "));
    assert_non_null(strstr(l.seen, "db=UNKNOWN "));
    assert_int_equal(l.web_since, 1700000000000);
    assert_int_equal(l.web_notify, 1700000001000); /* the DOWN, not the later RECOVERY */
    assert_int_equal(l.db_notify, 0);
    char *v = s_reason(f, "web");
    assert_string_equal(v, "why");
    free(v);
}

static void s_id_cb(const char *id, void *arg)
{
    char *seen = arg;
    size_t n = strlen(seen);
    snprintf(seen + n, 256 - n, "%s ", id);
}

static void test_flapping_and_isolated(void **state)
{
    fx_t *f = *state;
    char seen[256] = "";
    assert_int_equal(store_assets_load_flapping(f->s, s_id_cb, seen, f->err, sizeof f->err), 0);
    assert_string_equal(seen, "");
    assert_int_equal(store_assets_set_flapping(f->s, "db", true, f->err, sizeof f->err), 0);
    assert_int_equal(store_assets_load_flapping(f->s, s_id_cb, seen, f->err, sizeof f->err), 0);
    assert_string_equal(seen, "db ");
    char *v = s_value(f->s, "SELECT (flapping_since IS NOT NULL)::text FROM assets WHERE id = $1",
                      "db");
    assert_string_equal(v, "true");
    free(v);
    assert_int_equal(store_assets_set_flapping(f->s, "db", false, f->err, sizeof f->err), 0);
    seen[0] = 0;
    assert_int_equal(store_assets_load_flapping(f->s, s_id_cb, seen, f->err, sizeof f->err), 0);
    assert_string_equal(seen, "");
    v = s_value(f->s, "SELECT (flapping_since IS NULL)::text FROM assets WHERE id = $1", "db");
    assert_string_equal(v, "true");
    free(v);

    uint64_t hwm = 0;
    assert_int_equal(store_agents_hello(f->s, "a1", "eu", "1", 0, &hwm, f->err,
                                        sizeof f->err), 0);
    assert_int_equal(store_agents_hello(f->s, "a2", "us", "1", 0, &hwm, f->err,
                                        sizeof f->err), 0);
    assert_int_equal(store_agents_set_isolated(f->s, "a2", true, f->err, sizeof f->err), 0);
    assert_int_equal(store_agents_set_isolated(f->s, "ghost", true, f->err, sizeof f->err), 0);
    seen[0] = 0;
    assert_int_equal(store_agents_load_isolated(f->s, s_id_cb, seen, f->err, sizeof f->err), 0);
    printf("  isolated: %s\n", seen);
    assert_string_equal(seen, "a2 ");
    assert_int_equal(store_agents_set_isolated(f->s, "a2", false, f->err, sizeof f->err), 0);
    seen[0] = 0;
    assert_int_equal(store_agents_load_isolated(f->s, s_id_cb, seen, f->err, sizeof f->err), 0);
    assert_string_equal(seen, "");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_set_state_reason, setup, teardown),
        cmocka_unit_test_setup_teardown(test_set_reasons_batch, setup, teardown),
        cmocka_unit_test_setup_teardown(test_load_and_sync_keep_state, setup, teardown),
        cmocka_unit_test_setup_teardown(test_flapping_and_isolated, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
