/* store_retention against a real PostgreSQL: with 400 days, every table's rows older than
 * the cutoff go (a closed incident with its timeline and notifications, sent agent
 * notifications and digests, ended state intervals and maintenance windows, agents gone,
 * stale heartbeats) and nothing still in use does (an open incident however old, a closed
 * one with a notification still pending, the open state interval, a connected agent, recent
 * rows). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "store_retention.h"

#define STORE_FIXTURE_DB_PREFIX "retention"
#include "store_fixture.h"

#define OLD "now() - interval '401 days'"
#define OLDER "now() - interval '402 days'"
#define RECENT "now() - interval '10 days'"

static void test_sweep(void **state)
{
    (void) state;
    s_exec("INSERT INTO assets (id, name, address) VALUES ('a', 'A', 'x'), ('b', 'B', 'y')");
    /* incidents: 1 closed long ago (goes, with its event and sent notification), 2 open since
     * long ago (stays), 3 closed long ago with a pending notification (stays), 4 closed
     * recently (stays) */
    s_exec("INSERT INTO incidents (id, asset_id, started_at, ended_at) VALUES"
           " (1, 'a', " OLDER ", " OLD "), (2, 'a', " OLDER ", NULL),"
           " (3, 'b', " OLDER ", " OLD "), (4, 'b', " RECENT ", " RECENT ")");
    s_exec("INSERT INTO incident_events (incident_id, at, kind) VALUES (1, " OLD ", 'opened'),"
           " (2, " OLD ", 'opened'), (3, " OLD ", 'opened'), (4, " RECENT ", 'opened')");
    s_exec("INSERT INTO notifications (incident_id, asset_id, event, channel, payload, status,"
           " created_at) VALUES (1, 'a', 'DOWN', 'c', '{}', 'sent', " OLD "),"
           " (2, 'a', 'DOWN', 'c', '{}', 'sent', " OLD "),"
           " (3, 'b', 'RECOVERY', 'c', '{}', 'pending', " OLD "),"
           " (4, 'b', 'DOWN', 'c', '{}', 'dead', " RECENT ")");
    s_exec("INSERT INTO notifications (agent_id, event, channel, payload, status, created_at)"
           " VALUES ('ag', 'AGENT_DOWN', 'c', '{}', 'sent', " OLD "),"
           " ('ag', 'AGENT_UP', 'c', '{}', 'pending', " OLD "),"
           " ('ag', 'AGENT_UP', 'c', '{}', 'sent', " RECENT ")");
    s_exec("INSERT INTO notifications (event, channel, payload, status, created_at, digest_key)"
           " VALUES ('DIGEST', 'c', '{}', 'sent', " OLD ", 'DOWN/1')");
    s_exec("INSERT INTO asset_state_intervals (asset_id, state, started_at, ended_at) VALUES"
           " ('a', 'UP', " OLDER ", " OLD "), ('a', 'DOWN', " OLD ", " RECENT ")");
    s_exec("INSERT INTO asset_state_intervals (asset_id, state, started_at) VALUES"
           " ('a', 'UP', " RECENT "), ('b', 'UP', " OLDER ")");
    s_exec("INSERT INTO asset_rollups (asset_id, period, bucket, location) VALUES"
           " ('a', 'day', date_trunc('day', " OLD "), ''), ('a', 'day', date_trunc('day', " RECENT
           "), '')");
    s_exec("INSERT INTO maintenance_windows (source, starts_at, ends_at) VALUES"
           " ('api', " OLDER ", " OLD "), ('api', " RECENT ", now() + interval '1 day')");
    s_exec("INSERT INTO agents (id, region, last_seen, connected) VALUES"
           " ('gone', 'eu', " OLD ", false), ('quiet', 'eu', " OLD ", true),"
           " ('live', 'eu', now(), true)");
    s_exec("INSERT INTO collector_heartbeats (actor, host, pid, beat_at) VALUES"
           " ('engine', 'old-host', 1, " OLD "), ('engine', 'this-host', 2, now())");

    store_retention_counts_t n;
    char err[256] = "";
    assert_int_equal(store_retention_sweep(s_store, 400, &n, err, sizeof err), 0);
    print_message("deleted: incidents %lld, events %lld, notifications %lld, intervals %lld, "
                  "windows %lld, agents %lld, heartbeats %lld\n",
                  (long long) n.incidents, (long long) n.incident_events,
                  (long long) n.notifications, (long long) n.state_intervals,
                  (long long) n.maintenance_windows, (long long) n.agents,
                  (long long) n.heartbeats);
    assert_int_equal(n.incidents, 1);
    assert_int_equal(n.incident_events, 1);
    assert_int_equal(n.notifications, 3); /* incident 1's, AGENT_DOWN sent, DIGEST sent */
    assert_int_equal(n.state_intervals, 1);
    assert_int_equal(n.rollups, 1);
    assert_int_equal(n.maintenance_windows, 1);
    assert_int_equal(n.agents, 1);
    assert_int_equal(n.heartbeats, 1);
    assert_int_equal((long) s_num("SELECT count(*) FROM incidents WHERE id IN (2, 3, 4)"), 3);
    assert_int_equal((long) s_num("SELECT count(*) FROM incident_events"), 3);
    assert_int_equal((long) s_num("SELECT count(*) FROM notifications WHERE status = 'pending'"), 2);
    assert_int_equal((long) s_num("SELECT count(*) FROM asset_state_intervals WHERE ended_at IS NULL"),
                     2);
    assert_int_equal((long) s_num("SELECT count(*) FROM agents WHERE id IN ('quiet', 'live')"), 2);
    /* a second sweep finds nothing more */
    assert_int_equal(store_retention_sweep(s_store, 400, &n, err, sizeof err), 0);
    assert_int_equal(n.incidents + n.incident_events + n.notifications + n.state_intervals +
                         n.rollups + n.maintenance_windows + n.agents + n.heartbeats,
                     0);
    /* a shorter history takes the recent ones too, never the open ones */
    assert_int_equal(store_retention_sweep(s_store, 1, &n, err, sizeof err), 0);
    assert_int_equal(n.incidents, 1); /* incident 4 */
    assert_int_equal((long) s_num("SELECT count(*) FROM incidents WHERE ended_at IS NULL"), 1);
    assert_int_equal((long) s_num("SELECT count(*) FROM asset_state_intervals WHERE ended_at IS NULL"),
                     2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_sweep)};
    return cmocka_run_group_tests(tests, s_setup, s_teardown);
}
