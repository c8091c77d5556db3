/* Acknowledgement against a real PostgreSQL and a real engine actor: POST
 * /api/incidents/{id}/ack's transaction (store_incidents_ack) queues one ACKNOWLEDGED per
 * channel the incident's DOWN went to (naming who acknowledged), the engine sends no more
 * REMINDERs for it, and its recovery still sends one RECOVERY per channel. */
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
#include "sd_clock.h"
#include "statusd.pb-c.h"
#include "store.h"
#include "store_incidents.h"
#include "test_pg.h"

#define ENGINE_FIXTURE_DB_PREFIX "engack"
#include "engine_fixture.h"

static long s_rows(fx_t *f, const char *event)
{
    char q[160];
    snprintf(q, sizeof q, "SELECT count(*) FROM notifications WHERE event = '%s'", event);
    return s_count(f, q);
}

static void test_ack_stops_reminders(void **state)
{
    fx_t *f = *state;
    f->notifiers.repeat_alerts = true;
    f->notifiers.throttle_seconds = 1;
    s_start(f);
    int64_t t0 = sd_wall_ms() - 10000;
    s_recover2(f, t0 - 1000);
    s_sync(f);
    s_outage2(f, t0);
    s_wait_count(f, "SELECT count(*) FROM notifications WHERE event = 'DOWN'", 2, 5000);
    s_wait_count(f, "SELECT count(*) FROM notifications WHERE event = 'REMINDER'", 2, 5000);
    long iid = s_count(f, "SELECT max(id) FROM incidents");

    char err[512] = "";
    store_t *s = store_new(f->conninfo, err, sizeof err);
    assert_non_null(s);
    assert_int_equal(store_incidents_ack(s, iid, "fp0123", "alice", "on it", err, sizeof err),
                     0);
    store_destroy(&s);
    assert_int_equal(s_rows(f, "ACKNOWLEDGED"), 2);
    PGresult *r = s_sql(f, "SELECT string_agg(channel, ',' ORDER BY channel),"
                           " min(payload->>'acknowledged_by'), min(payload->>'asset_name'),"
                           " bool_and(payload->>'acknowledged_at' LIKE '20%Z')"
                           " FROM notifications WHERE event = 'ACKNOWLEDGED'");
    print_message("ACKNOWLEDGED to %s by %s (asset %s)\n", PQgetvalue(r, 0, 0),
                  PQgetvalue(r, 0, 1), PQgetvalue(r, 0, 2));
    assert_string_equal(PQgetvalue(r, 0, 0), "slack-ops,teams-ops");
    assert_string_equal(PQgetvalue(r, 0, 1), "alice");
    assert_string_equal(PQgetvalue(r, 0, 3), "t");
    PQclear(r);

    /* throttleSeconds 1: without the ack a REMINDER pair would come every second; watch 3 s
     * (the engine learns the ack at its next due reminder, at most one more pair) */
    long before = s_rows(f, "REMINDER");
    sd_ms_t w0 = sd_mono_ms();
    while (sd_mono_ms() - w0 < 3000) {
        s_outage2(f, sd_wall_ms() - 2000); /* still down */
        usleep(250 * 1000);
    }
    long after = s_rows(f, "REMINDER");
    print_message("REMINDER rows: %ld before the ack was seen, %ld after 3 s more\n", before,
                  after);
    assert_true(after - before <= 2);
    long settled = after;
    w0 = sd_mono_ms();
    while (sd_mono_ms() - w0 < 2000)
        usleep(250 * 1000);
    assert_int_equal(s_rows(f, "REMINDER"), settled);

    s_recover2(f, sd_wall_ms());
    s_wait_count(f, "SELECT count(*) FROM notifications WHERE event = 'RECOVERY'", 2, 5000);
    /* a second ack of the closed incident is refused */
    s = store_new(f->conninfo, err, sizeof err);
    assert_int_equal(store_incidents_ack(s, iid, "fp0123", NULL, NULL, err, sizeof err), -ESRCH);
    store_destroy(&s);
    assert_int_equal(s_rows(f, "ACKNOWLEDGED"), 2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_ack_stops_reminders, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
