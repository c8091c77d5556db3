/* outcomes against a real PostgreSQL whose database goes away under it (connections
 * refused, the store's backend killed with pg_terminate_backend): an outcome that cannot be written is held, listed for exclusion,
 * retried with a doubling backoff and written after reconnection; a RETRY keeps its due time;
 * hostile error texts are stored as valid UTF-8; the bound is reported. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "outcomes.h"
#include "sd_utf8.h"
#include "store.h"
#include "test_pg.h"

typedef struct {
    char *conninfo;
    PGconn *db; /* the test's own connection (no application_name: never killed) */
    store_t *store;
    outcomes_t *o;
} fx_t;

static PGresult *s_sql(fx_t *f, const char *sql)
{
    PGresult *r = PQexec(f->db, sql);
    ExecStatusType st = PQresultStatus(r);
    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK)
        fail_msg("%s: %s", sql, PQerrorMessage(f->db));
    return r;
}

static int setup(void **state)
{
    fx_t *f = calloc(1, sizeof *f);
    f->conninfo = test_pg_fresh_db("outcomes");
    assert_non_null(f->conninfo);
    char err[512] = "", dir[1024];
    snprintf(dir, sizeof dir, "%s/migrations", getenv("STATUSD_SOURCE_DIR"));
    f->store = store_new(f->conninfo, err, sizeof err);
    assert_non_null(f->store);
    if (store_migrate(f->store, dir, err, sizeof err) != 0)
        fail_msg("migrate: %s", err);
    f->db = PQconnectdb(f->conninfo);
    assert_int_equal(PQstatus(f->db), CONNECTION_OK);
    PQclear(s_sql(f, "INSERT INTO notifications (asset_id, event, channel, payload)"
                     " SELECT 'api', 'DOWN', 'c', '{}' FROM generate_series(1, 4)"));
    f->o = outcomes_new(2);
    assert_non_null(f->o);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fx_t *f = *state;
    outcomes_destroy(&f->o);
    assert_null(f->o);
    store_destroy(&f->store);
    PQfinish(f->db);
    free(f->conninfo);
    free(f);
    return 0;
}

static void s_allow(fx_t *f, bool allow)
{
    assert_int_equal(test_pg_allow_connections(f->conninfo, allow), 0);
}

/* The database goes away for the store: new connections refused (the store reconnects by
 * itself otherwise), its backend killed; waits (deadline) until PostgreSQL let it go. */
static void s_kill(fx_t *f)
{
    s_allow(f, false);
    PQclear(s_sql(f, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                     " WHERE application_name = 'statusd-collector'"
                     " AND datname = current_database() AND pid <> pg_backend_pid()"));
    sd_ms_t t0 = sd_mono_ms();
    for (;;) {
        PGresult *r = s_sql(f, "SELECT count(*) FROM pg_stat_activity"
                               " WHERE application_name = 'statusd-collector'"
                               " AND datname = current_database()");
        int n = atoi(PQgetvalue(r, 0, 0));
        PQclear(r);
        if (n == 0)
            break;
        if (sd_mono_ms() - t0 > 5000)
            fail_msg("backend still there after 5 s");
        usleep(10 * 1000);
    }
    print_message("killed the store's backend in %lld ms\n", (long long) (sd_mono_ms() - t0));
}

/* The database is back: connections allowed, and the store reconnected (within its own
 * backoff; deadline). */
static void s_back(fx_t *f)
{
    s_allow(f, true);
    sd_ms_t t0 = sd_mono_ms();
    while (store_ensure(f->store) != 0) {
        if (sd_mono_ms() - t0 > 10000)
            fail_msg("store did not reconnect within 10 s");
        usleep(50 * 1000);
    }
    print_message("store reconnected %lld ms after the database was back\n",
                  (long long) (sd_mono_ms() - t0));
}

static void s_row(fx_t *f, int id, char *status, size_t slen, char *error, size_t elen)
{
    char sql[256];
    snprintf(sql, sizeof sql,
             "SELECT status, COALESCE(last_error, ''), attempts FROM notifications WHERE id = %d",
             id);
    PGresult *r = s_sql(f, sql);
    assert_int_equal(PQntuples(r), 1);
    snprintf(status, slen, "%s", PQgetvalue(r, 0, 0));
    if (error)
        snprintf(error, elen, "%s", PQgetvalue(r, 0, 1));
    PQclear(r);
}

static void test_written_at_once(void **state)
{
    fx_t *f = *state;
    char err[256] = "", st[16], le[2048];
    sd_ms_t now = sd_mono_ms();
    assert_int_equal(outcomes_record(f->o, f->store, 1, CHANNEL_SENT, 0, NULL, now, err,
                                     sizeof err),
                     0);
    /* hostile: not UTF-8, a NUL-free C string with controls and a cut 'é' at the end */
    const char hostile[] = "HTTP 403: \xff\xfe\x01line\nbreak \xc3";
    assert_int_equal(outcomes_record(f->o, f->store, 2, CHANNEL_DEAD, 0, hostile, now, err,
                                     sizeof err),
                     0);
    assert_int_equal(outcomes_held(f->o), 0);
    s_row(f, 1, st, sizeof st, NULL, 0);
    assert_string_equal(st, "sent");
    s_row(f, 2, st, sizeof st, le, sizeof le);
    print_message("dead row last_error read back: \"%s\"\n", le);
    assert_string_equal(st, "dead");
    assert_true(sd_utf8_valid(le, strlen(le)));
    assert_string_equal(le, "HTTP 403: \xEF\xBF\xBD\xEF\xBF\xBD line break \xEF\xBF\xBD");
    /* a long text is bounded (1000 bytes) at a character boundary */
    char big[3000];
    for (size_t i = 0; i + 2 < sizeof big; i += 2)
        memcpy(big + i, "\xc3\xa9", 2);
    big[sizeof big - 2] = 0;
    assert_int_equal(outcomes_record(f->o, f->store, 3, CHANNEL_RETRY, 5000, big, now, err,
                                     sizeof err),
                     0);
    s_row(f, 3, st, sizeof st, le, sizeof le);
    print_message("3000-byte error stored as %zu bytes\n", strlen(le));
    assert_string_equal(st, "pending");
    assert_true(strlen(le) <= 1000);
    assert_true(sd_utf8_valid(le, strlen(le)));
}

static void test_held_then_written_after_reconnect(void **state)
{
    fx_t *f = *state;
    char err[256] = "", st[16];
    s_kill(f);
    sd_ms_t t = sd_mono_ms();
    int rc = outcomes_record(f->o, f->store, 1, CHANNEL_SENT, 0, NULL, t, err, sizeof err);
    print_message("record on a killed connection: rc=%d err=%s\n", rc, err);
    assert_int_equal(rc, -EIO);
    assert_int_equal(outcomes_held(f->o), 1);
    int64_t ids[4];
    assert_int_equal(outcomes_ids(f->o, ids, 4), 1);
    assert_int_equal(ids[0], 1);
    s_row(f, 1, st, sizeof st, NULL, 0);
    assert_string_equal(st, "pending");

    /* backoff: 1 s after the failure, then 2 s, 4 s ... while the connection stays down */
    assert_int_equal(outcomes_flush(f->o, f->store, t + 999, NULL, err, sizeof err), -EAGAIN);
    size_t written = 9;
    assert_int_equal(outcomes_flush(f->o, f->store, t + 1000, &written, err, sizeof err), -EIO);
    assert_int_equal(written, 0);
    assert_int_equal(outcomes_flush(f->o, f->store, t + 2999, NULL, err, sizeof err), -EAGAIN);
    assert_int_equal(outcomes_flush(f->o, f->store, t + 3000, NULL, err, sizeof err), -EIO);
    assert_int_equal(outcomes_flush(f->o, f->store, t + 6999, NULL, err, sizeof err), -EAGAIN);
    sd_ms_t at = t + 7000, waits[8];
    assert_int_equal(outcomes_flush(f->o, f->store, at, NULL, err, sizeof err), -EIO);
    for (int i = 0; i < 8; i++) { /* each wait: from one failed flush to the next try */
        sd_ms_t w = 1;
        int frc;
        while ((frc = outcomes_flush(f->o, f->store, at + w, NULL, err, sizeof err)) == -EAGAIN)
            w += 500;
        assert_int_equal(frc, -EIO);
        waits[i] = w;
        at += w;
        print_message("wait after failure %d: %lld ms\n", i + 3, (long long) w);
    }
    assert_true(waits[0] >= 8000 && waits[0] <= 8500);
    assert_true(waits[7] >= OUTCOMES_BACKOFF_MAX_MS && waits[7] <= OUTCOMES_BACKOFF_MAX_MS + 500);
    assert_int_equal(outcomes_held(f->o), 1);

    /* the database is back: a new connection, and the held outcome is written */
    s_back(f);
    rc = outcomes_flush(f->o, f->store, at + OUTCOMES_BACKOFF_MAX_MS, &written, err, sizeof err);
    assert_int_equal(rc, 0);
    assert_int_equal(written, 1);
    assert_int_equal(outcomes_held(f->o), 0);
    s_row(f, 1, st, sizeof st, NULL, 0);
    assert_string_equal(st, "sent");
    /* the backoff starts again at 1 s */
    s_kill(f);
    t = sd_mono_ms();
    assert_int_equal(outcomes_record(f->o, f->store, 2, CHANNEL_DEAD, 0, "x", t, err, sizeof err),
                     -EIO);
    assert_int_equal(outcomes_flush(f->o, f->store, t + 999, NULL, err, sizeof err), -EAGAIN);
    s_back(f);
    assert_int_equal(outcomes_flush(f->o, f->store, t + 1000, &written, err, sizeof err), 0);
    s_row(f, 2, st, sizeof st, NULL, 0);
    assert_string_equal(st, "dead");
}

static void test_retry_keeps_its_due_time(void **state)
{
    fx_t *f = *state;
    char err[256] = "";
    s_kill(f);
    sd_ms_t t = sd_mono_ms();
    assert_int_equal(outcomes_record(f->o, f->store, 1, CHANNEL_RETRY, 10000, "HTTP 503", t, err,
                                     sizeof err),
                     -EIO);
    s_back(f);
    /* written 8 s (as the caller says) after the answer: due 2 s from now, not 10 s */
    assert_int_equal(outcomes_flush(f->o, f->store, t + 8000, NULL, err, sizeof err), 0);
    PGresult *r = s_sql(f, "SELECT extract(epoch FROM next_attempt_at - now()) * 1000, attempts,"
                           " last_error FROM notifications WHERE id = 1");
    double left = atof(PQgetvalue(r, 0, 0));
    print_message("held RETRY written 8 s late: due in %.0f ms, attempts=%s, last_error=%s\n",
                  left, PQgetvalue(r, 0, 1), PQgetvalue(r, 0, 2));
    assert_true(left > 1000 && left <= 2000);
    assert_string_equal(PQgetvalue(r, 0, 1), "1");
    assert_string_equal(PQgetvalue(r, 0, 2), "HTTP 503");
    PQclear(r);
}

static void test_bound(void **state)
{
    fx_t *f = *state;
    char err[256] = "";
    s_kill(f);
    sd_ms_t t = sd_mono_ms();
    assert_int_equal(outcomes_room(f->o), 2);
    assert_int_equal(outcomes_record(f->o, f->store, 1, CHANNEL_SENT, 0, NULL, t, err, sizeof err),
                     -EIO);
    assert_int_equal(outcomes_record(f->o, f->store, 2, CHANNEL_DEAD, 0, "e", t, err, sizeof err),
                     -EIO);
    assert_int_equal(outcomes_room(f->o), 0);
    assert_int_equal(outcomes_record(f->o, f->store, 3, CHANNEL_SENT, 0, NULL, t, err, sizeof err),
                     -ENOSPC);
    assert_int_equal(outcomes_held(f->o), 2);
    s_allow(f, true);
    int64_t ids[1];
    assert_int_equal(outcomes_ids(f->o, ids, 1), 1); /* cap respected */
    assert_int_equal(ids[0], 1);
    /* held outcomes still owned at destroy: teardown frees them (LSan checks) */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_written_at_once, setup, teardown),
        cmocka_unit_test_setup_teardown(test_held_then_written_after_reconnect, setup, teardown),
        cmocka_unit_test_setup_teardown(test_retry_keeps_its_due_time, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bound, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
