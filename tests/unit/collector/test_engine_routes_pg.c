/* notificationPolicy.routes in the engine, against a real PostgreSQL and a real engine actor:
 * an asset whose metadata matches a route pages (DOWN and RECOVERY rows in the outbox) only
 * the route's notifiers; one that matches no route pages the default onDown/onRecovery. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "bus.h"
#include "engine.h"
#include "sd_clock.h"
#include "statusd.pb-c.h"
#include "store.h"
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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_matching_route, setup, teardown),
        cmocka_unit_test_setup_teardown(test_no_route_is_the_default, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
