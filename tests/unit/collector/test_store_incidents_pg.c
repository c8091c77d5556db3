/* store_incidents + store_outbox against a real PostgreSQL: one open incident per asset,
 * lease semantics (disjoint leases, lease pushes the row ahead, in-flight and paused
 * exclusions, RECOVERY after its DOWN), outcomes, and the restart replay query. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "sd_clock.h"
#include "store.h"
#include "store_incidents.h"
#include "store_outbox.h"
#include "store_results.h"
#include "test_pg.h"

typedef struct {
    char *conninfo;
    store_t *a, *b;
    char err[512];
} fx_t;

static int setup(void **state)
{
    fx_t *f = calloc(1, sizeof *f);
    f->conninfo = test_pg_fresh_db("store_incidents");
    assert_non_null(f->conninfo);
    char dir[1024];
    snprintf(dir, sizeof dir, "%s/migrations", getenv("STATUSD_SOURCE_DIR"));
    f->a = store_new(f->conninfo, f->err, sizeof f->err);
    f->b = store_new(f->conninfo, f->err, sizeof f->err);
    assert_non_null(f->a);
    assert_non_null(f->b);
    if (store_migrate(f->a, dir, f->err, sizeof f->err) != 0)
        fail_msg("migrate: %s", f->err);
    PGresult *r = PQexec(store_conn(f->a), "INSERT INTO assets (id, name, address) VALUES"
                                           " ('api', 'API', 'x'), ('web', 'Web', 'y')");
    assert_int_equal(PQresultStatus(r), PGRES_COMMAND_OK);
    PQclear(r);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fx_t *f = *state;
    store_destroy(&f->a);
    store_destroy(&f->b);
    free(f->conninfo);
    free(f);
    return 0;
}

static void s_open_cb(const store_open_incident_t *inc, void *arg)
{
    int *n = arg;
    assert_string_equal(inc->asset_id, "api");
    assert_true(inc->notified);
    (*n)++;
}

static void test_one_open_incident_per_asset(void **state)
{
    fx_t *f = *state;
    int64_t id = 0, id2 = 0;
    assert_int_equal(store_incidents_open(f->a, "api", sd_wall_ms() - 5000, 0, "api is DOWN",
                                          "[{\"agent\":\"a1\"}]", &id, f->err, sizeof f->err),
                     0);
    assert_true(id > 0);
    assert_int_equal(store_incidents_open(f->a, "api", sd_wall_ms(), 0, "again", NULL, &id2, f->err,
                                          sizeof f->err),
                     -EEXIST);
    assert_int_equal(store_outbox_enqueue(f->a, id, "api", "DOWN", "slack", "{}", f->err,
                                          sizeof f->err),
                     0);
    int n = 0;
    assert_int_equal(store_incidents_load_open(f->a, s_open_cb, &n, f->err, sizeof f->err), 0);
    assert_int_equal(n, 1);
    assert_int_equal(store_incidents_close(f->a, id, sd_wall_ms(), f->err, sizeof f->err), 0);
    n = 0;
    assert_int_equal(store_incidents_load_open(f->a, s_open_cb, &n, f->err, sizeof f->err), 0);
    assert_int_equal(n, 0);
    assert_int_equal(store_incidents_open(f->a, "api", sd_wall_ms(), 0, "new", NULL, &id2, f->err,
                                          sizeof f->err),
                     0);
    assert_true(id2 > id);
}

/* The engine formats the summary into a fixed buffer, which can cut the last character of a
 * long name or reason in two: the incident is still opened, the stray byte stored as U+FFFD
 * (before, PostgreSQL refused it with 'invalid byte sequence for encoding "UTF8"' on every
 * tick and no page went out). */
static void test_open_with_cut_summary(void **state)
{
    fx_t *f = *state;
    int64_t id = 0;
    const char *summary = "api is DOWN: 1/1 agents fail: body does not contain \"caf\xC3";
    int rc = store_incidents_open(f->a, "api", sd_wall_ms(), 0, summary, NULL, &id, f->err,
                                  sizeof f->err);
    printf("open with a cut summary: rc=%d err=%s\n", rc, rc ? f->err : "");
    assert_int_equal(rc, 0);
    PGresult *r = PQexec(store_conn(f->a), "SELECT summary FROM incidents WHERE asset_id = 'api'");
    assert_int_equal(PQntuples(r), 1);
    assert_string_equal(PQgetvalue(r, 0, 0),
                        "api is DOWN: 1/1 agents fail: body does not contain \"caf\xEF\xBF\xBD");
    PQclear(r);
}

static size_t s_lease(store_t *s, int max, const int64_t *ex, size_t nex, const char *paused,
                      int64_t *first_id)
{
    char err[512];
    outbox_row_t *rows = NULL;
    size_t n = 0;
    const char *p[1] = {paused};
    assert_int_equal(store_outbox_lease(s, max, 60, ex, nex, p, paused ? 1 : 0, &rows, &n, err,
                                        sizeof err),
                     0);
    if (first_id)
        *first_id = n ? rows[0].id : 0;
    store_outbox_rows_free(rows, n);
    return n;
}

static void test_lease_is_disjoint_and_filtered(void **state)
{
    fx_t *f = *state;
    for (int i = 0; i < 3; i++)
        assert_int_equal(store_outbox_enqueue(f->a, 0, "api", "DOWN", i == 2 ? "teams" : "slack",
                                              "{\"event\":\"DOWN\"}", f->err, sizeof f->err),
                         0);
    /* paused channel and in-flight ids are skipped */
    int64_t first = 0;
    assert_int_equal(s_lease(f->a, 10, (int64_t[]){1}, 1, "teams", &first), 1);
    assert_int_equal(first, 2);
    /* the lease pushed row 2 ahead: another connection gets the rest, then nothing */
    assert_int_equal(s_lease(f->b, 10, NULL, 0, NULL, NULL), 2);
    assert_int_equal(s_lease(f->a, 10, NULL, 0, NULL, NULL), 0);
    /* outcomes */
    assert_int_equal(store_outbox_mark_retry(f->a, 1, 0, "HTTP 500", f->err, sizeof f->err), 0);
    assert_int_equal(s_lease(f->a, 10, NULL, 0, NULL, &first), 1); /* due again at once */
    assert_int_equal(first, 1);
    assert_int_equal(store_outbox_mark_sent(f->a, 1, f->err, sizeof f->err), 0);
    assert_int_equal(store_outbox_mark_dead(f->a, 2, "HTTP 404", f->err, sizeof f->err), 0);
    int64_t pending = -1;
    assert_int_equal(store_outbox_pending(f->a, &pending, f->err, sizeof f->err), 0);
    assert_int_equal(pending, 1);
    PGresult *r = PQexec(store_conn(f->a), "SELECT status, attempts, COALESCE(last_error, '')"
                                           " FROM notifications ORDER BY id");
    assert_string_equal(PQgetvalue(r, 0, 0), "sent");
    assert_string_equal(PQgetvalue(r, 0, 1), "2");
    assert_string_equal(PQgetvalue(r, 1, 0), "dead");
    assert_string_equal(PQgetvalue(r, 1, 2), "HTTP 404");
    PQclear(r);
}

static void test_recovery_after_down(void **state)
{
    fx_t *f = *state;
    int64_t id = 0, first = 0;
    assert_int_equal(store_incidents_open(f->a, "web", sd_wall_ms(), 0, "web is DOWN", NULL, &id,
                                          f->err, sizeof f->err),
                     0);
    store_outbox_enqueue(f->a, id, "web", "DOWN", "slack", "{}", f->err, sizeof f->err);
    store_outbox_enqueue(f->a, id, "web", "DOWN", "teams", "{}", f->err, sizeof f->err);
    store_outbox_enqueue(f->a, id, "web", "RECOVERY", "slack", "{}", f->err, sizeof f->err);
    store_outbox_enqueue(f->a, id, "web", "RECOVERY", "teams", "{}", f->err, sizeof f->err);
    /* both DOWN rows pending: only they are leasable */
    assert_int_equal(s_lease(f->a, 10, NULL, 0, NULL, NULL), 2);
    assert_int_equal(s_lease(f->a, 10, NULL, 0, NULL, NULL), 0);
    /* slack's DOWN sent: slack's RECOVERY becomes leasable, teams' still waits */
    assert_int_equal(store_outbox_mark_sent(f->a, 1, f->err, sizeof f->err), 0);
    assert_int_equal(s_lease(f->a, 10, NULL, 0, NULL, &first), 1);
    assert_int_equal(first, 3);
    assert_int_equal(store_outbox_mark_dead(f->a, 2, "gone", f->err, sizeof f->err), 0);
    assert_int_equal(s_lease(f->a, 10, NULL, 0, NULL, &first), 1);
    assert_int_equal(first, 4);
    PGresult *r = PQexec(store_conn(f->a), "SELECT count(*) FROM incident_events"
                                           " WHERE kind = 'notified'");
    assert_string_equal(PQgetvalue(r, 0, 0), "1");
    PQclear(r);
}

typedef struct {
    int n;
    char seen[16][64];
} replay_t;

static void s_replay_cb(const store_recent_result_t *r, void *arg)
{
    replay_t *rp = arg;
    if (rp->n < 16)
        snprintf(rp->seen[rp->n], sizeof rp->seen[0], "%s/%s/%c/%s", r->asset_id, r->agent_id,
                 r->success ? 'U' : 'D', r->error);
    rp->n++;
}

static void test_recent_results(void **state)
{
    fx_t *f = *state;
    PGresult *r = PQexec(
        store_conn(f->a),
        "INSERT INTO probe_events (asset_id, agent_id, region, seq, ts, success, latency_ms,"
        " code, message) VALUES"
        " ('api', 'a1', 'eu', 1, now() - interval '10 minutes', false, 1, 503, NULL),"
        " ('api', 'a1', 'eu', 2, now() - interval '40 seconds', true, 1, 200, NULL),"
        " ('api', 'a1', 'eu', 3, now() - interval '30 seconds', false, 1, 503, NULL),"
        " ('api', 'a1', 'eu', 4, now() - interval '20 seconds', false, 1, NULL, 'timeout'),"
        " ('api', 'a1', 'eu', 5, now() - interval '10 seconds', false, 1, 503, 'status 503'),"
        " ('api', 'a2', 'us', 1, now() - interval '5 seconds', true, 1, 200, NULL)");
    assert_int_equal(PQresultStatus(r), PGRES_COMMAND_OK);
    PQclear(r);
    replay_t rp = {0};
    assert_int_equal(store_results_recent(f->a, 90000, 3, s_replay_cb, &rp, f->err,
                                                    sizeof f->err),
                     0);
    for (int i = 0; i < rp.n; i++)
        print_message("replay %d: %s\n", i, rp.seen[i]);
    assert_int_equal(rp.n, 4); /* a1: newest 3 within 90 s, oldest first; a2: 1 */
    assert_string_equal(rp.seen[0], "api/a1/D/status 503");
    assert_string_equal(rp.seen[1], "api/a1/D/timeout");
    assert_string_equal(rp.seen[2], "api/a1/D/status 503");
    assert_string_equal(rp.seen[3], "api/a2/U/");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_one_open_incident_per_asset, setup, teardown),
        cmocka_unit_test_setup_teardown(test_open_with_cut_summary, setup, teardown),
        cmocka_unit_test_setup_teardown(test_lease_is_disjoint_and_filtered, setup, teardown),
        cmocka_unit_test_setup_teardown(test_recovery_after_down, setup, teardown),
        cmocka_unit_test_setup_teardown(test_recent_results, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
