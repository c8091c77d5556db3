/* store_outbox's storm digests against a real PostgreSQL: a collapsed page is never leased
 * alone while its digest is pending; the digest is not due before its window ends; its lease
 * carries the members pending then; marking it sent marks them (with 'notified' timeline
 * events naming the digest) and marking it dead kills them; a page that joins after its
 * digest went out is leased alone; a digest of recoveries waits for its incidents' pending
 * DOWN digest; two channels' digests with the same key stay apart. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "sd_clock.h"
#include "store.h"
#include "store_outbox.h"
#include "test_pg.h"

typedef struct {
    store_t *s;
    int64_t inc[4];
} fx_t;

static long s_count(store_t *s, const char *sql)
{
    PGresult *r = PQexec(store_conn(s), sql);
    long n = PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1
                 ? strtol(PQgetvalue(r, 0, 0), NULL, 10)
                 : -1;
    if (PQresultStatus(r) != PGRES_TUPLES_OK)
        fprintf(stderr, "%s: %s", sql, PQerrorMessage(store_conn(s)));
    PQclear(r);
    return n;
}

static void s_exec(store_t *s, const char *sql)
{
    PGresult *r = PQexec(store_conn(s), sql);
    if (PQresultStatus(r) != PGRES_COMMAND_OK && PQresultStatus(r) != PGRES_TUPLES_OK)
        fail_msg("%s: %s", sql, PQerrorMessage(store_conn(s)));
    PQclear(r);
}

static void s_exec(store_t *s, const char *sql);

static int s_setup(void **state)
{
    fx_t *f = calloc(1, sizeof *f);
    char *ci = test_pg_fresh_db("outboxdigest");
    char err[512] = "", dir[4096];
    snprintf(dir, sizeof dir, "%s/migrations", getenv("STATUSD_SOURCE_DIR"));
    f->s = ci ? store_new(ci, err, sizeof err) : NULL;
    free(ci);
    if (!f->s || store_migrate(f->s, dir, err, sizeof err) != 0) {
        fprintf(stderr, "setup: %s\n", err);
        return -1;
    }
    for (int i = 0; i < 4; i++) {
        char sql[200];
        snprintf(sql, sizeof sql, "INSERT INTO assets (id, name, address) VALUES ('a%d', 'A',"
                                  " 'http://127.0.0.1:9/')", i);
        s_exec(f->s, sql);
        snprintf(sql, sizeof sql,
                 "INSERT INTO incidents (asset_id, started_at, summary) VALUES ('a%d', now(),"
                 " 'x') RETURNING id", i);
        f->inc[i] = s_count(f->s, sql);
    }
    *state = f;
    return 0;
}

static int s_teardown(void **state)
{
    fx_t *f = *state;
    store_destroy(&f->s);
    free(f);
    return 0;
}

static void s_collapse(fx_t *f, int i, const char *event, const char *channel, const char *key,
                       int64_t due_ms)
{
    char err[256] = "", payload[200], asset[8];
    snprintf(asset, sizeof asset, "a%d", i);
    snprintf(payload, sizeof payload,
             "{\"event\":\"%s\",\"asset_id\":\"a%d\",\"asset_name\":\"Asset %d\","
             "\"reason\":\"refused\",\"duration_seconds\":5}",
             event, i, i);
    const char *of = strcmp(event, "RECOVERY") == 0 ? "RECOVERY" : "DOWN";
    char digest[200];
    snprintf(digest, sizeof digest,
             "{\"event\":\"DIGEST\",\"of\":\"%s\",\"channel\":\"%s\",\"max_names\":20}", of,
             channel);
    assert_int_equal(store_outbox_enqueue_collapsed(f->s, f->inc[i], asset, event, channel,
                                                    payload, key, due_ms, digest, err,
                                                    sizeof err),
                     0);
}

/* Leases what is due; returns how many, their events joined in *events ("DIGEST,DOWN"). */
static size_t s_lease(fx_t *f, outbox_row_t **rows, char *events, size_t len)
{
    size_t n = 0;
    char err[256] = "";
    assert_int_equal(store_outbox_lease(f->s, 50, 30, NULL, 0, NULL, 0, rows, &n, err,
                                        sizeof err),
                     0);
    events[0] = 0;
    for (size_t i = 0; i < n; i++)
        snprintf(events + strlen(events), len - strlen(events), "%s%s", i ? "," : "",
                 (*rows)[i].event);
    return n;
}

static void test_digest_lifecycle(void **state)
{
    fx_t *f = *state;
    char err[256] = "", ev[256];
    outbox_row_t *rows = NULL;
    int64_t now = sd_wall_ms();
    /* three pages collapsed into chat's DOWN digest due in 1 hour; the same key on another
     * channel is another digest */
    for (int i = 0; i < 3; i++)
        s_collapse(f, i, "DOWN", "chat", "DOWN/1", now + 3600 * 1000);
    s_collapse(f, 3, "DOWN", "mail", "DOWN/1", now - 1000);
    assert_int_equal(s_count(f->s, "SELECT count(*) FROM notifications WHERE event = 'DIGEST'"),
                     2);
    /* nothing of chat is due; mail's digest is (its window is over), its member is not */
    size_t n = s_lease(f, &rows, ev, sizeof ev);
    print_message("lease 1: %s\n", ev);
    assert_int_equal(n, 1);
    assert_string_equal(rows[0].event, "DIGEST");
    assert_string_equal(rows[0].channel, "mail");
    json_t *p = json_loads(rows[0].payload, 0, NULL);
    assert_int_equal(json_array_size(json_object_get(p, "members")), 1);
    assert_string_equal(json_string_value(json_object_get(
                            json_array_get(json_object_get(p, "members"), 0), "asset_name")),
                        "Asset 3");
    json_decref(p);
    /* sent: its member with it, on the incident's timeline with the digest's id */
    int64_t mail_digest = rows[0].id;
    assert_int_equal(store_outbox_mark_sent(f->s, mail_digest, err, sizeof err), 0);
    store_outbox_rows_free(rows, n);
    assert_int_equal(s_count(f->s, "SELECT count(*) FROM notifications WHERE channel = 'mail'"
                                   " AND status = 'sent'"),
                     2);
    char sql[300];
    snprintf(sql, sizeof sql,
             "SELECT count(*) FROM incident_events WHERE kind = 'notified'"
             " AND (detail->>'digest')::bigint = %lld",
             (long long) mail_digest);
    assert_int_equal(s_count(f->s, sql), 1);

    /* a page that joins mail's digest after it went out is leased alone */
    s_collapse(f, 0, "DOWN", "mail", "DOWN/1", now - 1000);
    n = s_lease(f, &rows, ev, sizeof ev);
    print_message("lease 2: %s\n", ev);
    assert_int_equal(n, 1);
    assert_string_equal(rows[0].event, "DOWN");
    assert_string_equal(rows[0].channel, "mail");
    assert_int_equal(store_outbox_mark_sent(f->s, rows[0].id, err, sizeof err), 0);
    store_outbox_rows_free(rows, n);

    /* recoveries of chat's incidents, collapsed into a RECOVERY digest that is due: it waits
     * while their DOWN digest is pending; a RECOVERY alone waits too */
    s_collapse(f, 0, "RECOVERY", "chat", "RECOVERY/2", now - 1000);
    s_collapse(f, 1, "RECOVERY", "chat", "RECOVERY/2", now - 1000);
    assert_int_equal(store_outbox_enqueue(f->s, f->inc[2], "a2", "RECOVERY", "chat", "{}", err,
                                          sizeof err),
                     0);
    n = s_lease(f, &rows, ev, sizeof ev);
    print_message("lease 3 (DOWN digest pending): '%s'\n", ev);
    assert_int_equal(n, 0);
    store_outbox_rows_free(rows, n);
    /* the DOWN digest's window ends: it goes first, alone */
    s_exec(f->s, "UPDATE notifications SET next_attempt_at = now() WHERE event = 'DIGEST'"
                 " AND channel = 'chat' AND digest_key = 'DOWN/1'");
    n = s_lease(f, &rows, ev, sizeof ev);
    print_message("lease 4: %s\n", ev);
    assert_int_equal(n, 1);
    assert_string_equal(rows[0].event, "DIGEST");
    p = json_loads(rows[0].payload, 0, NULL);
    assert_int_equal(json_array_size(json_object_get(p, "members")), 3);
    json_decref(p);
    assert_int_equal(store_outbox_mark_sent(f->s, rows[0].id, err, sizeof err), 0);
    store_outbox_rows_free(rows, n);
    /* then the RECOVERY digest and the lone RECOVERY */
    n = s_lease(f, &rows, ev, sizeof ev);
    print_message("lease 5: %s\n", ev);
    assert_int_equal(n, 2);
    for (size_t i = 0; i < n; i++) {
        if (strcmp(rows[i].event, "DIGEST") == 0) {
            /* dead: its members with it, their last_error naming it */
            assert_int_equal(store_outbox_mark_dead(f->s, rows[i].id, "410 gone", err,
                                                    sizeof err),
                             0);
        } else {
            assert_string_equal(rows[i].event, "RECOVERY");
            assert_int_equal(store_outbox_mark_sent(f->s, rows[i].id, err, sizeof err), 0);
        }
    }
    store_outbox_rows_free(rows, n);
    assert_int_equal(s_count(f->s, "SELECT count(*) FROM notifications WHERE status = 'dead'"
                                   " AND event = 'RECOVERY' AND last_error LIKE 'in digest %'"),
                     2);
    assert_int_equal(s_count(f->s, "SELECT count(*) FROM notifications WHERE status ="
                                   " 'pending'"),
                     0);
    n = s_lease(f, &rows, ev, sizeof ev);
    assert_int_equal(n, 0);
    store_outbox_rows_free(rows, n);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_digest_lifecycle),
    };
    return cmocka_run_group_tests(tests, s_setup, s_teardown);
}
