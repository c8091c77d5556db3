/* The engine's journal of decisions (engine_journal.c) against a real PostgreSQL whose
 * database is taken away from the engine for real: connections to it are refused
 * (ALTER DATABASE ... ALLOW_CONNECTIONS false) and the engine's session is terminated, as
 * a restart of PostgreSQL would. Meanwhile results keep arriving on BUS_ENGINE.
 *  - an outage that begins and ends while the database is away is written when it is
 *    back: one incident (started_at = its first failing probe, ended_at = the recovery),
 *    one DOWN and one RECOVERY per channel, nothing twice;
 *  - an outage that begins while the database is away and lasts opens when it is back;
 *  - a decision the database refuses for its data is dropped after its retries (counted),
 *    and the journal goes on: the next outage pages;
 *  - /api/health's parts: the engine reports db_failing while it cannot write. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "bus.h"
#include "engine.h"
#include "health.h"
#include "sd_clock.h"
#include "statusd.pb-c.h"
#include "store.h"
#include "test_pg.h"

#define ENGINE_FIXTURE_DB_PREFIX "engjournal"
#include "engine_fixture.h"

static void s_allow(fx_t *f, bool allow)
{
    assert_int_equal(test_pg_allow_connections(f->conninfo, allow), 0);
}

/* The database refuses the engine: new connections refused, its session ended. */
static void s_db_away(fx_t *f)
{
    s_allow(f, false);
    PGresult *r = s_sql(f, "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
                           " WHERE datname = current_database() AND pid <> pg_backend_pid()");
    print_message("database away: %s session(s) ended\n", PQgetvalue(r, 0, 0));
    PQclear(r);
}

static void s_db_back(fx_t *f)
{
    s_allow(f, true);
}

static void s_wait_health(fx_t *f, const char *want, int deadline_ms)
{
    sd_ms_t t0 = sd_mono_ms();
    const char *st = NULL;
    while (sd_mono_ms() - t0 < deadline_ms) {
        json_t *report = NULL;
        health_check(f->ctx.health, sd_mono_ms(), &report);
        st = json_string_value(json_object_get(
            json_object_get(json_object_get(report, "parts"), "engine"), "status"));
        bool ok = st && strcmp(st, want) == 0;
        if (ok) {
            char *text = json_dumps(json_object_get(json_object_get(report, "parts"), "engine"),
                                    JSON_COMPACT);
            print_message("engine health %s after %lld ms: %s\n", want,
                          (long long) (sd_mono_ms() - t0), text);
            free(text);
        }
        json_decref(report);
        if (ok)
            return;
        usleep(50 * 1000);
    }
    fail_msg("engine health: %s, want %s within %d ms", st ? st : "?", want, deadline_ms);
}

static void test_outage_while_database_away(void **state)
{
    fx_t *f = *state;
    f->ctx.health = health_new(60000, 2000);
    s_start(f);
    int64_t t0 = sd_wall_ms() - 20000;
    s_recover2(f, t0 - 1000);
    s_sync(f);
    s_db_away(f);
    /* a whole outage while the database is away: decided, journaled */
    s_outage2(f, t0);
    s_recover2(f, t0 + 3000);
    s_sync(f);
    /* open, a1's vote back to UP (a timeline event), close */
    s_wait_metric(f, "statusd_engine_decisions_pending", 3, 5000);
    assert_int_equal(s_count(f, "SELECT count(*) FROM incidents"), 0);
    s_wait_health(f, "db_failing", 10000);
    s_db_back(f);
    sd_ms_t took = s_wait_count(f, "SELECT count(*) FROM notifications WHERE event = 'RECOVERY'",
                                2, 15000);
    print_message("database back: journal written within %lld ms\n", (long long) took);
    s_wait_metric(f, "statusd_engine_decisions_pending", 0, 5000);
    assert_int_equal(s_count(f, "SELECT count(*) FROM incidents"), 1);
    assert_int_equal(s_count(f, "SELECT count(*) FROM notifications WHERE event = 'DOWN'"), 2);
    /* started_at is the first failing probe; ended_at when the recovery was decided */
    char q[256];
    snprintf(q, sizeof q,
             "SELECT (extract(epoch FROM started_at) * 1000)::bigint - %lld FROM incidents",
             (long long) t0);
    assert_int_equal(s_count(f, q), 0);
    assert_int_equal(s_count(f, "SELECT count(*) FROM incidents WHERE ended_at IS NOT NULL"
                                " AND ended_at < now() - interval '1 second'"), 1);
    /* the payloads name the incident */
    assert_int_equal(s_count(f, "SELECT count(*) FROM notifications n JOIN incidents i"
                                " ON i.id = n.incident_id"
                                " WHERE (n.payload->>'incident_id')::bigint = i.id"), 4);
    assert_int_equal(s_count(f, "SELECT count(*) FROM incident_events WHERE kind = 'opened'"), 1);
    /* keys for the open and the close; the vote event, best effort, needs none */
    assert_int_equal(s_count(f, "SELECT count(*) FROM engine_decisions"), 2);
    assert_int_equal(s_count(f, "SELECT count(*) FROM incident_events WHERE kind = 'vote'"), 1);
    s_wait_health(f, "ok", 10000);
    /* nothing more is written later */
    s_sync(f);
    assert_int_equal(s_count(f, "SELECT count(*) FROM notifications"), 4);
    s_stop(f);
    health_destroy(&f->ctx.health);
}

static void test_outage_begins_while_database_away(void **state)
{
    fx_t *f = *state;
    s_start(f);
    int64_t t0 = sd_wall_ms() - 20000;
    s_recover2(f, t0 - 1000);
    s_sync(f);
    s_db_away(f);
    s_outage2(f, t0);
    s_sync(f);
    s_wait_metric(f, "statusd_engine_decisions_pending", 1, 5000);
    s_db_back(f);
    s_wait_count(f, "SELECT count(*) FROM notifications WHERE event = 'DOWN'", 2, 15000);
    assert_int_equal(s_count(f, "SELECT count(*) FROM incidents WHERE ended_at IS NULL"), 1);
    char q[256];
    snprintf(q, sizeof q,
             "SELECT (extract(epoch FROM started_at) * 1000)::bigint - %lld FROM incidents",
             (long long) t0);
    assert_int_equal(s_count(f, q), 0);
    /* a restart of PostgreSQL while the incident is open: its recovery still closes it */
    s_db_away(f);
    s_db_back(f);
    s_recover2(f, t0 + 5000);
    s_wait_count(f, "SELECT count(*) FROM notifications WHERE event = 'RECOVERY'", 2, 15000);
    assert_int_equal(s_count(f, "SELECT count(*) FROM incidents WHERE ended_at IS NULL"), 0);
    assert_int_equal(s_count(f, "SELECT count(*) FROM notifications"), 4);
    s_stop(f);
}

static void test_refused_decision_does_not_wedge(void **state)
{
    fx_t *f = *state;
    s_start(f);
    int64_t t0 = sd_wall_ms() - 30000;
    s_recover2(f, t0 - 1000);
    s_sync(f);
    /* the database refuses this incident for its data (a check violation, class 23) */
    PQclear(s_sql(f, "ALTER TABLE incidents ADD CONSTRAINT refuse_test"
                     " CHECK (summary NOT LIKE '%agents fail%')"));
    s_outage2(f, t0);
    s_wait_metric(f, "statusd_engine_decisions_dropped_total{what=\"open incident\"}", 1, 10000);
    s_recover2(f, t0 + 3000);
    s_sync(f);
    s_wait_metric(f, "statusd_engine_decisions_pending", 0, 5000);
    assert_int_equal(s_count(f, "SELECT count(*) FROM incidents"), 0);
    /* the next outage pages as usual */
    PQclear(s_sql(f, "ALTER TABLE incidents DROP CONSTRAINT refuse_test"));
    s_outage2(f, t0 + 10000);
    s_wait_count(f, "SELECT count(*) FROM notifications WHERE event = 'DOWN'", 2, 10000);
    assert_int_equal(s_count(f, "SELECT count(*) FROM incidents"), 1);
    s_stop(f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_outage_while_database_away, setup, teardown),
        cmocka_unit_test_setup_teardown(test_outage_begins_while_database_away, setup, teardown),
        cmocka_unit_test_setup_teardown(test_refused_decision_does_not_wedge, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
