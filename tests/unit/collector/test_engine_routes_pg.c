/* notificationPolicy.routes in the engine, against a real PostgreSQL and a real engine actor:
 * an asset whose metadata matches a route pages (DOWN and RECOVERY rows in the outbox) only
 * the route's notifiers; one that matches no route pages the default onDown/onRecovery; an
 * unacknowledged incident escalates to the route's next tier on time (and its RECOVERY goes
 * to every channel paged); an acknowledged one does not. */
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

#define ENGINE_FIXTURE_DB_PREFIX "engroutes"
#include "engine_fixture.h"

/* routes[0]: {"match": {"env": "prod"}, "onDown": ["teams-ops"]} */
static void s_route_prod_to_teams(fx_t *f, sd_route_t *r, char **names)
{
    names[0] = "teams-ops";
    *r = (sd_route_t){.match = json_pack("{s:s}", "env", "prod"), .on_down = names,
                      .n_on_down = 1};
    f->notifiers.routes = r;
    f->notifiers.n_routes = 1;
}

static char *s_channels(fx_t *f, const char *event)
{
    char q[200];
    snprintf(q, sizeof q, "SELECT string_agg(channel, ',' ORDER BY channel) FROM notifications"
                          " WHERE event = '%s'", event);
    PGresult *r = s_sql(f, q);
    char *v = strdup(PQgetvalue(r, 0, 0));
    PQclear(r);
    return v;
}

static void s_outage_and_back(fx_t *f, long rows)
{
    s_start(f);
    int64_t t0 = sd_wall_ms() - 10000;
    s_recover2(f, t0 - 1000);
    s_sync(f);
    s_outage2(f, t0);
    s_wait_count(f, "SELECT count(*) FROM notifications WHERE event = 'DOWN'", rows, 5000);
    s_recover2(f, t0 + 3000);
    s_wait_count(f, "SELECT count(*) FROM notifications WHERE event = 'RECOVERY'", rows, 5000);
}

static void test_matching_route(void **state)
{
    fx_t *f = *state;
    sd_route_t route;
    char *names[1];
    s_route_prod_to_teams(f, &route, names);
    f->asset.metadata = json_pack("{s:s}", "env", "prod");
    s_outage_and_back(f, 1);
    char *down = s_channels(f, "DOWN"), *rec = s_channels(f, "RECOVERY");
    print_message("env=prod: DOWN -> %s, RECOVERY -> %s\n", down, rec);
    assert_string_equal(down, "teams-ops");
    assert_string_equal(rec, "teams-ops"); /* a route without onRecovery: where DOWN went */
    free(down);
    free(rec);
    s_stop(f);
    json_decref(route.match);
    json_decref(f->asset.metadata);
    f->asset.metadata = NULL;
}

static void test_no_route_is_the_default(void **state)
{
    fx_t *f = *state;
    sd_route_t route;
    char *names[1];
    s_route_prod_to_teams(f, &route, names);
    f->asset.metadata = json_pack("{s:s}", "env", "staging");
    s_outage_and_back(f, 2);
    char *down = s_channels(f, "DOWN");
    print_message("env=staging: DOWN -> %s\n", down);
    assert_string_equal(down, "slack-ops,teams-ops");
    free(down);
    s_stop(f);
    json_decref(route.match);
    json_decref(f->asset.metadata);
    f->asset.metadata = NULL;
}

/* routes[0]: {"match": {}, "onDown": ["slack-ops"], "escalation": [{"afterSeconds": after_s,
 * "notify": ["teams-ops"]}]} */
static void s_route_escalating(fx_t *f, sd_route_t *r, sd_tier_t *tier, char **down,
                               char **notify, int after_s)
{
    down[0] = "slack-ops";
    notify[0] = "teams-ops";
    *tier = (sd_tier_t){.after_seconds = after_s, .notify = notify, .n_notify = 1};
    *r = (sd_route_t){.match = json_object(), .on_down = down, .n_on_down = 1,
                      .escalation = tier, .n_escalation = 1};
    f->notifiers.routes = r;
    f->notifiers.n_routes = 1;
}

/* Not acknowledged within 2 s: the DOWN reaches the second tier; after a restart the tier
 * does not fire again, and the RECOVERY goes to every channel that was paged. */
static void test_escalation(void **state)
{
    fx_t *f = *state;
    sd_route_t route;
    sd_tier_t tier;
    char *down[1], *notify[1];
    s_route_escalating(f, &route, &tier, down, notify, 2);
    s_start(f);
    int64_t t0 = sd_wall_ms() - 10000;
    s_recover2(f, t0 - 1000);
    s_sync(f);
    s_outage2(f, t0);
    s_wait_count(f, "SELECT count(*) FROM notifications WHERE event = 'DOWN'", 1, 5000);
    char *first = s_channels(f, "DOWN");
    assert_string_equal(first, "slack-ops");
    free(first);
    s_wait_count(f, "SELECT count(*) FROM notifications WHERE event = 'DOWN'", 2, 6000);
    /* measured on the rows' own times: the test's polling may be late under load */
    long took = s_count(f, "SELECT (extract(epoch FROM max(created_at) - min(created_at)) *"
                           " 1000)::bigint FROM notifications WHERE event = 'DOWN'");
    char *both = s_channels(f, "DOWN");
    print_message("escalated to the second tier %ld ms after the first DOWN (afterSeconds 2): "
                  "DOWN -> %s\n", took, both);
    assert_string_equal(both, "slack-ops,teams-ops");
    assert_true(took >= 1900 && took <= 4500); /* afterSeconds 2, judged on the 1 s tick */
    free(both);
    assert_int_equal(s_count(f, "SELECT count(*) FROM notifications WHERE event = 'DOWN' AND"
                                " (payload->>'escalation_tier')::int = 1"),
                     1);
    assert_int_equal(s_count(f, "SELECT count(*) FROM incident_events WHERE kind = 'escalated'"),
                     1);
    /* a restart keeps the tier that fired (from the outbox): the outage goes on past the
     * tier's time again without a second escalation, and the RECOVERY still reaches both */
    s_stop(f);
    s_start(f);
    sd_ms_t t_restart = sd_mono_ms();
    while (sd_mono_ms() - t_restart < 3500) {
        s_outage2(f, sd_wall_ms() - 1500);
        usleep(250 * 1000);
    }
    assert_int_equal(s_count(f, "SELECT count(*) FROM notifications WHERE event = 'DOWN'"), 2);
    assert_int_equal(s_count(f, "SELECT count(*) FROM incident_events WHERE kind = 'escalated'"),
                     1);
    print_message("restarted: no second escalation within 3.5 s of failing results\n");
    s_recover2(f, sd_wall_ms());
    s_wait_count(f, "SELECT count(*) FROM notifications WHERE event = 'RECOVERY'", 2, 5000);
    char *rec = s_channels(f, "RECOVERY");
    assert_string_equal(rec, "slack-ops,teams-ops");
    free(rec);
    s_stop(f);
    json_decref(route.match);
}

/* Acknowledged before the tier's time: no escalation; the RECOVERY only where it paged. */
static void test_ack_stops_escalation(void **state)
{
    fx_t *f = *state;
    sd_route_t route;
    sd_tier_t tier;
    char *down[1], *notify[1];
    s_route_escalating(f, &route, &tier, down, notify, 4);
    s_start(f);
    int64_t t0 = sd_wall_ms() - 10000;
    s_recover2(f, t0 - 1000);
    s_sync(f);
    s_outage2(f, t0);
    s_wait_count(f, "SELECT count(*) FROM notifications WHERE event = 'DOWN'", 1, 5000);
    sd_ms_t t_down = sd_mono_ms();
    long iid = s_count(f, "SELECT max(id) FROM incidents");
    char err[512] = "";
    store_t *s = store_new(f->conninfo, err, sizeof err);
    assert_int_equal(store_incidents_ack(s, iid, "fp", "bob", NULL, err, sizeof err), 0);
    store_destroy(&s);
    sd_ms_t acked_after = sd_mono_ms() - t_down;
    assert_true(acked_after < 3500); /* well before the tier's 4 s */
    /* watch past the tier's 4 s (and a tick) from the DOWN */
    while (sd_mono_ms() - t_down < 5500) {
        s_outage2(f, sd_wall_ms() - 2000);
        usleep(250 * 1000);
    }
    assert_int_equal(s_count(f, "SELECT count(*) FROM notifications WHERE event = 'DOWN'"), 1);
    print_message("acknowledged %lld ms after the DOWN: no escalation within 5.5 s (tier at "
                  "4 s)\n", (long long) acked_after);
    s_recover2(f, sd_wall_ms());
    s_wait_count(f, "SELECT count(*) FROM notifications WHERE event = 'RECOVERY'", 1, 5000);
    char *rec = s_channels(f, "RECOVERY");
    assert_string_equal(rec, "slack-ops");
    free(rec);
    s_stop(f);
    json_decref(route.match);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_matching_route, setup, teardown),
        cmocka_unit_test_setup_teardown(test_no_route_is_the_default, setup, teardown),
        cmocka_unit_test_setup_teardown(test_escalation, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ack_stops_escalation, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
