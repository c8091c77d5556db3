/* store, store_results, store_agents against a real PostgreSQL (the ctest "pg" fixture). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "sd_clock.h"
#include "sd_utf8.h"
#include "store.h"
#include "store_agents.h"
#include "store_assets.h"
#include "store_results.h"
#include "test_pg.h"

static char s_migrations[4096];

/* One scalar of a query (parameterless, test-only). malloc'd, or NULL. */
static char *s_scalar(store_t *s, const char *sql)
{
    PGresult *r = PQexec(store_conn(s), sql);
    char *v = NULL;
    if (PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1 && !PQgetisnull(r, 0, 0))
        v = strdup(PQgetvalue(r, 0, 0));
    else if (PQresultStatus(r) != PGRES_TUPLES_OK)
        fprintf(stderr, "%s: %s", sql, PQerrorMessage(store_conn(s)));
    PQclear(r);
    return v;
}

static long s_count(store_t *s, const char *sql)
{
    char *v = s_scalar(s, sql);
    long n = v ? strtol(v, NULL, 10) : -1;
    free(v);
    return n;
}

static store_t *s_fresh(const char *prefix)
{
    char *ci = test_pg_fresh_db(prefix);
    assert_non_null(ci);
    char err[512] = "";
    store_t *s = store_new(ci, err, sizeof err);
    if (!s)
        fprintf(stderr, "store_new: %s\n", err);
    assert_non_null(s);
    free(ci);
    assert_int_equal(store_migrate(s, s_migrations, err, sizeof err), 0);
    return s;
}

/* A batch of results seq from..to (inclusive) for asset "web" (owned by the caller). */
static Statusd__ResultBatch *s_batch(uint64_t from, uint64_t to)
{
    Statusd__ResultBatch *b = calloc(1, sizeof *b);
    statusd__result_batch__init(b);
    b->n_results = to - from + 1;
    b->results = calloc(b->n_results, sizeof *b->results);
    for (size_t i = 0; i < b->n_results; i++) {
        Statusd__ProbeResult *r = calloc(1, sizeof *r);
        statusd__probe_result__init(r);
        r->seq = from + i;
        r->asset_id = "web";
        r->started_at_ms = sd_wall_ms() - 1000;
        r->success = (r->seq % 2) == 0;
        r->latency_us = 12345;
        r->status_code = r->success ? 200 : 503;
        r->reason = r->success ? "" : "HTTP 503";
        b->results[i] = r;
    }
    return b;
}

static void s_batch_free(Statusd__ResultBatch *b)
{
    for (size_t i = 0; i < b->n_results; i++) {
        free(b->results[i]->phases);
        free(b->results[i]);
    }
    free(b->results);
    free(b);
}

static void test_migrate_idempotent(void **state)
{
    (void) state;
    store_t *s = s_fresh("st_mig");
    char err[512] = "";
    long applied = s_count(s, "SELECT count(*) FROM schema_migrations");
    assert_true(applied >= 1); /* 001_init and any later migration */
    assert_int_equal(store_migrate(s, s_migrations, err, sizeof err), 0);
    assert_int_equal(s_count(s, "SELECT count(*) FROM schema_migrations"), applied);
    assert_int_equal(s_count(s, "SELECT count(*) FROM schema_migrations WHERE version = "
                                "'001_init'"),
                     1);

    /* a broken migration: the error names the file and nothing of it stays applied */
    char dir[] = "/tmp/statusd-mig-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char path[256], cmd[8400];
    snprintf(cmd, sizeof cmd, "cp %s/001_init.up.sql %s/", s_migrations, dir);
    assert_int_equal(system(cmd), 0);
    snprintf(path, sizeof path, "%s/900_bad.up.sql", dir);
    FILE *f = fopen(path, "w");
    fputs("CREATE TABLE half_done (x int);\nSELECT no_such_column FROM agents;\n", f);
    fclose(f);
    int rc = store_migrate(s, dir, err, sizeof err);
    printf("bad migration: rc=%d err=%s\n", rc, err);
    assert_int_not_equal(rc, 0);
    assert_non_null(strstr(err, "900_bad.up.sql"));
    assert_non_null(strstr(err, "no_such_column"));
    assert_int_equal(s_count(s, "SELECT count(*) FROM pg_tables WHERE tablename = 'half_done'"),
                     0);
    assert_int_equal(s_count(s, "SELECT count(*) FROM schema_migrations"), applied);
    /* fixed: applies, and a third run does nothing */
    f = fopen(path, "w");
    fputs("CREATE TABLE half_done (x int);\n", f);
    fclose(f);
    assert_int_equal(store_migrate(s, dir, err, sizeof err), 0);
    assert_int_equal(store_migrate(s, dir, err, sizeof err), 0);
    assert_int_equal(s_count(s, "SELECT count(*) FROM schema_migrations"), applied + 1);
    unlink(path);
    snprintf(path, sizeof path, "%s/001_init.up.sql", dir);
    unlink(path);
    rmdir(dir);

    assert_int_not_equal(store_migrate(s, "/nonexistent/dir", err, sizeof err), 0);
    assert_non_null(strstr(err, "/nonexistent/dir"));
    store_destroy(&s);
    assert_null(s);
    store_destroy(NULL);
}

static void test_insert_replay_overlap(void **state)
{
    (void) state;
    store_t *s = s_fresh("st_ins");
    char err[512] = "";
    Statusd__ResultBatch *b = s_batch(1, 5);
    /* phases and cert expiry on one result */
    Statusd__Phase ph[2] = {STATUSD__PHASE__INIT, STATUSD__PHASE__INIT};
    ph[0].name = "dns";
    ph[0].duration_us = 1500;
    ph[1].name = "connect";
    ph[1].duration_us = 2500;
    b->results[0]->n_phases = 2;
    b->results[0]->phases = calloc(2, sizeof(Statusd__Phase *));
    b->results[0]->phases[0] = &ph[0];
    b->results[0]->phases[1] = &ph[1];
    b->results[0]->cert_expiry_unix = 1900000000;
    b->results[1]->reason = "bad \xff utf8";
    size_t idx[16], n_new = 99;
    uint64_t through = 0;
    assert_int_equal(store_results_insert(s, "a1", "eu", b, idx, &n_new, &through, err,
                                          sizeof err),
                     0);
    assert_int_equal(n_new, 5);
    assert_int_equal(through, 5);
    assert_int_equal(idx[0], 0);
    assert_int_equal(idx[4], 4);
    assert_int_equal(s_count(s, "SELECT count(*) FROM probe_events WHERE agent_id = 'a1'"), 5);
    assert_int_equal(s_count(s, "SELECT last_seq FROM agents WHERE id = 'a1'"), 5);
    char *region = s_scalar(s, "SELECT region FROM agents WHERE id = 'a1'");
    assert_string_equal(region, "eu");
    free(region);
    char *phases = s_scalar(s, "SELECT phases->>'dns' || '/' || (phases->>'connect')"
                               " FROM probe_events WHERE seq = 1");
    assert_non_null(phases);
    printf("phases of seq 1: %s\n", phases);
    assert_string_equal(phases, "1.5/2.5");
    free(phases);
    assert_int_equal(s_count(s, "SELECT extract(epoch FROM cert_expiry)::bigint FROM "
                                "probe_events WHERE seq = 1"),
                     1900000000);
    assert_int_equal(s_count(s, "SELECT count(*) FROM probe_events WHERE seq = 2 AND"
                                " cert_expiry IS NULL AND code = 200 AND success"
                                " AND message = 'bad \xEF\xBF\xBD utf8'"
                                " AND latency_ms = 12.345"),
                     1);
    assert_int_equal(s_count(s, "SELECT count(*) FROM probe_events WHERE seq = 2 AND"
                                " abs(extract(epoch FROM now() - ts)) < 60"),
                     1);

    /* replay: nothing new, same through_seq */
    n_new = 99;
    through = 0;
    assert_int_equal(store_results_insert(s, "a1", "eu", b, idx, &n_new, &through, err,
                                          sizeof err),
                     0);
    assert_int_equal(n_new, 0);
    assert_int_equal(through, 5);
    assert_int_equal(s_count(s, "SELECT count(*) FROM probe_events"), 5);
    free(b->results[0]->phases);
    b->results[0]->phases = NULL;
    b->results[0]->n_phases = 0;
    s_batch_free(b);

    /* partial overlap 4..9: only 6..9 stored */
    b = s_batch(4, 9);
    assert_int_equal(store_results_insert(s, "a1", "eu", b, idx, &n_new, &through, err,
                                          sizeof err),
                     0);
    assert_int_equal(n_new, 4);
    assert_int_equal(idx[0], 2);
    assert_int_equal(idx[3], 5);
    assert_int_equal(through, 9);
    assert_int_equal(s_count(s, "SELECT count(*) FROM probe_events"), 9);
    assert_int_equal(s_count(s, "SELECT count(DISTINCT seq) FROM probe_events"), 9);
    assert_int_equal(s_count(s, "SELECT last_seq FROM agents WHERE id = 'a1'"), 9);
    s_batch_free(b);

    /* another agent has its own sequence space */
    b = s_batch(1, 3);
    assert_int_equal(store_results_insert(s, "a2", "us", b, idx, &n_new, &through, err,
                                          sizeof err),
                     0);
    assert_int_equal(n_new, 3);
    s_batch_free(b);

    /* a large batch: one COPY of 1,200 rows */
    b = s_batch(10, 1209);
    size_t *big = malloc(b->n_results * sizeof *big);
    assert_int_equal(store_results_insert(s, "a1", "eu", b, big, &n_new, &through, err,
                                          sizeof err),
                     0);
    assert_int_equal(n_new, 1200);
    assert_int_equal(through, 1209);
    assert_int_equal(s_count(s, "SELECT count(*) FROM probe_events WHERE agent_id = 'a1'"),
                     1209);
    free(big);
    s_batch_free(b);
    store_destroy(&s);
}

static void test_last_seq_same_transaction(void **state)
{
    (void) state;
    store_t *s = s_fresh("st_tx");
    char err[512] = "";
    size_t idx[16], n_new = 0;
    uint64_t through = 0;
    Statusd__ResultBatch *b = s_batch(1, 3);
    assert_int_equal(store_results_insert(s, "a1", "eu", b, idx, &n_new, &through, err,
                                          sizeof err),
                     0);
    s_batch_free(b);
    /* make the insert of the next batch fail inside the transaction: last_seq must not
     * move and no row may stay */
    PGresult *r = PQexec(store_conn(s),
                         "ALTER TABLE probe_events ADD CONSTRAINT no_seq_5 CHECK (seq <> 5)");
    assert_int_equal(PQresultStatus(r), PGRES_COMMAND_OK);
    PQclear(r);
    b = s_batch(4, 6);
    n_new = 77;
    int rc = store_results_insert(s, "a1", "eu", b, idx, &n_new, &through, err, sizeof err);
    printf("failing insert: rc=%d err=%s\n", rc, err);
    assert_int_equal(rc, -EIO);
    assert_int_equal(n_new, 77); /* outputs untouched on failure */
    assert_int_equal(s_count(s, "SELECT last_seq FROM agents WHERE id = 'a1'"), 3);
    assert_int_equal(s_count(s, "SELECT count(*) FROM probe_events"), 3);
    assert_int_equal(store_ensure(s), 0);
    r = PQexec(store_conn(s), "ALTER TABLE probe_events DROP CONSTRAINT no_seq_5");
    assert_int_equal(PQresultStatus(r), PGRES_COMMAND_OK);
    PQclear(r);
    assert_int_equal(store_results_insert(s, "a1", "eu", b, idx, &n_new, &through, err,
                                          sizeof err),
                     0);
    assert_int_equal(n_new, 3);
    assert_int_equal(s_count(s, "SELECT last_seq FROM agents WHERE id = 'a1'"), 6);
    s_batch_free(b);
    store_destroy(&s);
}

/* Input the agent should never send but a broken or hostile one may: every result that
 * can be stored is stored, and nothing makes the batch fail forever. */
static void test_insert_hostile_batches(void **state)
{
    (void) state;
    store_t *s = s_fresh("st_bad");
    char err[512] = "";
    size_t idx[16], n_new = 0;
    uint64_t through = 0;

    /* seqs not ascending: 5, 3, 7, 3 -> 3, 5, 7 stored (3 once), last_seq 7 */
    Statusd__ResultBatch *b = s_batch(1, 4);
    b->results[0]->seq = 5;
    b->results[1]->seq = 3;
    b->results[2]->seq = 7;
    b->results[3]->seq = 3;
    assert_int_equal(store_results_insert(s, "h1", "eu", b, idx, &n_new, &through, err,
                                          sizeof err),
                     0);
    printf("non-ascending: n_new=%zu through=%" PRIu64 "\n", n_new, through);
    assert_int_equal(n_new, 3);
    assert_int_equal(through, 7);
    assert_int_equal(idx[0], 1); /* seq order */
    assert_int_equal(idx[1], 0);
    assert_int_equal(idx[2], 2);
    assert_int_equal(s_count(s, "SELECT count(*) FROM probe_events WHERE agent_id = 'h1'"), 3);
    assert_int_equal(s_count(s, "SELECT count(DISTINCT seq) FROM probe_events"), 3);
    assert_int_equal(s_count(s, "SELECT last_seq FROM agents WHERE id = 'h1'"), 7);
    s_batch_free(b);

    /* a seq beyond BIGINT: skipped, the rest stored, no error */
    b = s_batch(8, 9);
    b->results[1]->seq = UINT64_MAX - 1;
    int rc = store_results_insert(s, "h1", "eu", b, idx, &n_new, &through, err, sizeof err);
    printf("seq beyond bigint: rc=%d n_new=%zu err=%s\n", rc, n_new, err);
    assert_int_equal(rc, 0);
    assert_int_equal(n_new, 1);
    assert_int_equal(s_count(s, "SELECT last_seq FROM agents WHERE id = 'h1'"), 8);
    s_batch_free(b);

    /* an agent clock 3 days ahead: stored with the collector's time, so the partition of
     * that day can still be created when it comes */
    int64_t now = sd_wall_ms();
    b = s_batch(10, 10);
    b->results[0]->started_at_ms = now + 3LL * 86400000;
    assert_int_equal(store_results_insert(s, "h1", "eu", b, idx, &n_new, &through, err,
                                          sizeof err),
                     0);
    assert_int_equal(n_new, 1);
    assert_int_equal(s_count(s, "SELECT count(*) FROM probe_events WHERE seq = 10 AND"
                                " abs(extract(epoch FROM now() - ts)) < 600"),
                     1);
    s_batch_free(b);
    int created = 0;
    rc = store_partitions_upkeep(s, 30, now + 3LL * 86400000, &created, NULL, err, sizeof err);
    printf("upkeep 3 days ahead: rc=%d created=%d err=%s\n", rc, created, err);
    assert_int_equal(rc, 0);
    store_destroy(&s);
}

/* Every byte that COPY's text format gives a meaning to (backslash, tab, newline, carriage
 * return, "\N", "\.") arrives as data, in every text column and in phase names (the reason
 * is one line: its controls arrive as spaces), and the timestamps are exact to the
 * millisecond. */
static void test_insert_copy_escaping(void **state)
{
    (void) state;
    store_t *s = s_fresh("st_esc");
    char err[512] = "";
    size_t idx[16], n_new = 0;
    uint64_t through = 0;
    static const char nasty[] = "a\\b\tc\nd\re\\N\\.\\";
    Statusd__ResultBatch *b = s_batch(1, 3);
    b->results[0]->asset_id = (char *) nasty;
    b->results[0]->reason = (char *) nasty;
    b->results[0]->started_at_ms = 1700000000123LL;
    b->results[0]->latency_us = 7;
    b->results[1]->reason = "\\N";
    b->results[1]->started_at_ms = 1700000000999LL;
    Statusd__Phase ph[3] = {STATUSD__PHASE__INIT, STATUSD__PHASE__INIT, STATUSD__PHASE__INIT};
    ph[0].name = (char *) nasty;
    ph[0].duration_us = 1000;
    ph[1].name = "q\"uote\x01";
    ph[1].duration_us = 1;
    ph[2].name = "dns";
    ph[2].duration_us = 123456789;
    Statusd__Phase *pp[3] = {&ph[0], &ph[1], &ph[2]};
    b->results[2]->n_phases = 3;
    b->results[2]->phases = pp;
    assert_int_equal(store_results_insert(s, "ag\tent\\x", "re\ngion", b, idx, &n_new,
                                          &through, err, sizeof err),
                     0);
    assert_int_equal(n_new, 3);
    PGresult *r = PQexec(store_conn(s),
                         "SELECT asset_id, message, agent_id, region, (extract(epoch FROM ts)"
                         " * 1000)::bigint, latency_ms, phases::text FROM probe_events ORDER BY seq");
    assert_int_equal(PQresultStatus(r), PGRES_TUPLES_OK);
    assert_int_equal(PQntuples(r), 3);
    assert_string_equal(PQgetvalue(r, 0, 0), nasty);
    assert_string_equal(PQgetvalue(r, 0, 1), "a\\b c d e\\N\\.\\");
    assert_string_equal(PQgetvalue(r, 0, 2), "ag\tent\\x");
    assert_string_equal(PQgetvalue(r, 0, 3), "re\ngion");
    assert_string_equal(PQgetvalue(r, 0, 4), "1700000000123");
    assert_string_equal(PQgetvalue(r, 0, 5), "0.007");
    assert_true(PQgetisnull(r, 0, 6));
    assert_false(PQgetisnull(r, 1, 1));
    assert_string_equal(PQgetvalue(r, 1, 1), "\\N");
    assert_string_equal(PQgetvalue(r, 1, 4), "1700000000999");
    printf("phases with hostile names: %s\n", PQgetvalue(r, 2, 6));
    assert_string_equal(PQgetvalue(r, 2, 6),
                        "{\"dns\": 123456.789, \"q\\\"uote\\u0001\": 0.001, "
                        "\"a\\\\b\\tc\\nd\\re\\\\N\\\\.\\\\\": 1.0}");
    PQclear(r);
    b->results[2]->phases = NULL;
    b->results[2]->n_phases = 0;
    b->results[0]->asset_id = "web";
    s_batch_free(b);
    store_destroy(&s);
}

/* An agent's reason reaches probe_events through COPY as valid one-line UTF-8 of at most
 * STORE_RESULTS_REASON_MAX bytes, cut between characters: the agent of the issue sent 59 x 'a'
 * then 0xC3 and a quote; a broken one may send anything, of any length. Asset ids and phase
 * names are made valid too. */
static void test_insert_reason_utf8_bounded(void **state)
{
    (void) state;
    store_t *s = s_fresh("st_utf8");
    char err[512] = "";
    size_t idx[16], n_new = 0;
    uint64_t through = 0;
    char cut[100], *huge = malloc(8001);
    assert_non_null(huge);
    snprintf(cut, sizeof cut, "body does not contain \"%s\xC3\"", "aaaaaaaaaaaaaaaaaaaaaaaaaaaa"
             "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"); /* 59 x 'a' */
    for (int i = 0; i < 4000; i++) /* 8000 bytes: 'é' with a stray newline */
        memcpy(huge + 2 * i, i == 10 ? "\n\xFF" : "\xC3\xA9", 2);
    huge[8000] = 0;
    Statusd__ResultBatch *b = s_batch(1, 3);
    b->results[0]->reason = cut;
    b->results[1]->reason = huge;
    b->results[2]->asset_id = "w\xC3" "(b";
    Statusd__Phase ph = STATUSD__PHASE__INIT, *pp[1] = {&ph};
    ph.name = "co\xFFnnect";
    ph.duration_us = 2000;
    b->results[2]->n_phases = 1;
    b->results[2]->phases = pp;
    int rc = store_results_insert(s, "u1", "eu", b, idx, &n_new, &through, err, sizeof err);
    printf("insert: rc=%d err=%s\n", rc, err);
    assert_int_equal(rc, 0);
    assert_int_equal(n_new, 3);
    PGresult *r = PQexec(store_conn(s), "SELECT message, octet_length(message), asset_id,"
                                        " phases::text FROM probe_events ORDER BY seq");
    assert_int_equal(PQresultStatus(r), PGRES_TUPLES_OK);
    char want[300];
    snprintf(want, sizeof want, "body does not contain \"%.59s\xEF\xBF\xBD\"", cut + 23);
    assert_string_equal(PQgetvalue(r, 0, 0), want);
    const char *m = PQgetvalue(r, 1, 0);
    printf("long reason stored: %s bytes, starts \"%.30s\", ends \"%s\"\n",
           PQgetvalue(r, 1, 1), m, m + strlen(m) - 9);
    assert_true(strlen(m) <= STORE_RESULTS_REASON_MAX);
    assert_true(strlen(m) > STORE_RESULTS_REASON_MAX - 4);
    assert_true(sd_utf8_valid(m, strlen(m)));
    assert_null(strchr(m, '\n'));
    assert_memory_equal(m + 20, " \xEF\xBF\xBD\xC3\xA9", 6); /* the newline, the 0xFF */
    assert_memory_equal(m + strlen(m) - 3, "\xE2\x80\xA6", 3);
    assert_string_equal(PQgetvalue(r, 2, 2), "w\xEF\xBF\xBD(b");
    assert_string_equal(PQgetvalue(r, 2, 3), "{\"co\xEF\xBF\xBDnnect\": 2.0}");
    PQclear(r);
    b->results[2]->phases = NULL;
    b->results[2]->n_phases = 0;
    b->results[2]->asset_id = "web";
    s_batch_free(b);
    free(huge);
    store_destroy(&s);
}

static void test_partitions(void **state)
{
    (void) state;
    store_t *s = s_fresh("st_part");
    char err[512] = "";
    int created = -1, dropped = -1;
    PGresult *r0;
    int64_t now = sd_wall_ms();
    assert_int_equal(store_partitions_upkeep(s, 30, now, &created, &dropped, err, sizeof err),
                     0);
    printf("first upkeep: created=%d dropped=%d\n", created, dropped);
    assert_int_equal(created, 4);
    assert_int_equal(dropped, 0);
    assert_int_equal(s_count(s, "SELECT count(*) FROM pg_inherits i JOIN pg_class p ON"
                                " p.oid = i.inhparent WHERE p.relname = 'probe_events'"),
                     5); /* 4 days + default */
    char *today = s_scalar(s, "SELECT 'probe_events_' || to_char(now() AT TIME ZONE 'UTC',"
                              " 'YYYYMMDD')");
    char q[256];
    snprintf(q, sizeof q, "SELECT count(*) FROM pg_class WHERE relname = '%s'", today);
    assert_int_equal(s_count(s, q), 1);
    /* idempotent */
    assert_int_equal(store_partitions_upkeep(s, 30, now, &created, &dropped, err, sizeof err),
                     0);
    assert_int_equal(created, 0);
    assert_int_equal(dropped, 0);
    /* a result of now lands in today's partition, not the default */
    Statusd__ResultBatch *b = s_batch(1, 1);
    size_t idx[1], n_new;
    uint64_t through;
    assert_int_equal(store_results_insert(s, "a1", "eu", b, idx, &n_new, &through, err,
                                          sizeof err),
                     0);
    s_batch_free(b);
    snprintf(q, sizeof q, "SELECT count(*) FROM %s", today);
    assert_int_equal(s_count(s, q), 1);
    free(today);
    /* 40 days later with 30 days retention: the 4 old ones are dropped, 4 new created */
    int64_t later = now + 40LL * 86400000;
    assert_int_equal(store_partitions_upkeep(s, 30, later, &created, &dropped, err, sizeof err),
                     0);
    printf("40 days later: created=%d dropped=%d\n", created, dropped);
    assert_int_equal(created, 4);
    assert_int_equal(dropped, 4);
    /* the default partition obeys retention too: rows from before any partition (resent
     * after a long outage) go when they are older than the retention, newer ones stay */
    r0 = PQexec(store_conn(s),
                "INSERT INTO probe_events (asset_id, agent_id, region, seq, ts, success,"
                " latency_ms) VALUES ('old', 'a', 'r', 1, now() - interval '3 days', true, 1),"
                " ('recent', 'a', 'r', 2, now() + interval '20 days', true, 1)");
    assert_int_equal(PQresultStatus(r0), PGRES_COMMAND_OK);
    PQclear(r0);
    assert_int_equal(s_count(s, "SELECT count(*) FROM probe_events_default"), 2);
    assert_int_equal(store_partitions_upkeep(s, 30, later, &created, &dropped, err, sizeof err),
                     0);
    assert_int_equal(s_count(s, "SELECT count(*) FROM probe_events_default WHERE asset_id ="
                                " 'old'"),
                     0);
    assert_int_equal(s_count(s, "SELECT count(*) FROM probe_events_default WHERE asset_id ="
                                " 'recent'"),
                     1);
    /* rows already in the default partition for a day: creating it fails, reported */
    PGresult *r = PQexec(store_conn(s),
                         "INSERT INTO probe_events (asset_id, agent_id, region, seq, ts,"
                         " success, latency_ms) VALUES ('x', 'a', 'r', 1,"
                         " now() + interval '45 days', true, 1)");
    assert_int_equal(PQresultStatus(r), PGRES_COMMAND_OK);
    PQclear(r);
    int rc = store_partitions_upkeep(s, 30, now + 44LL * 86400000, &created, &dropped, err,
                                     sizeof err);
    printf("default holds rows: rc=%d created=%d err=%s\n", rc, created, err);
    assert_int_not_equal(rc, 0);
    assert_non_null(strstr(err, "probe_events_"));
    assert_int_equal(created, 3); /* the other new days were still created */
    store_destroy(&s);
}

static void test_agents_and_assets(void **state)
{
    (void) state;
    store_t *s = s_fresh("st_ag");
    char err[512] = "";
    uint64_t hwm = 99;
    assert_int_equal(
        store_agents_hello(s, "a1", "eu", "0.1.0", -42, 7000, &hwm, err, sizeof err), 0);
    assert_int_equal(hwm, 0);
    assert_int_equal(s_count(s, "SELECT heartbeat_ms FROM agents WHERE id = 'a1'"), 7000);
    Statusd__ResultBatch *b = s_batch(1, 4);
    size_t idx[4], n_new;
    uint64_t through;
    assert_int_equal(store_results_insert(s, "a1", "eu", b, idx, &n_new, &through, err,
                                          sizeof err),
                     0);
    s_batch_free(b);
    assert_int_equal(store_agents_hello(s, "a1", "us", "0.2.0", 0, 0, &hwm, err, sizeof err), 0);
    assert_int_equal(hwm, 4);
    /* a Hello without a period keeps the known one */
    assert_int_equal(s_count(s, "SELECT heartbeat_ms FROM agents WHERE id = 'a1'"), 7000);
    assert_int_equal(s_count(s, "SELECT count(*) FROM agents WHERE id = 'a1' AND connected"
                                " AND region = 'us' AND version = '0.2.0'"),
                     1);
    assert_int_equal(store_agents_disconnected(s, "a1", err, sizeof err), 0);
    assert_int_equal(s_count(s, "SELECT count(*) FROM agents WHERE connected"), 0);
    assert_int_equal(store_agents_hello(s, "a2", "eu", "x", 0, 0, &hwm, err, sizeof err), 0);
    assert_int_equal(store_agents_hello(s, "a3", "eu", "x", 0, 0, &hwm, err, sizeof err), 0);
    assert_int_equal(store_agents_all_disconnected(s, err, sizeof err), 0);
    assert_int_equal(s_count(s, "SELECT count(*) FROM agents WHERE connected"), 0);

    static char *locs[] = {"eu"};
    static int codes[] = {200, 301};
    sd_asset_t a[2] = {
        {.id = "web", .asset_type = "http", .name = "Web", .address = "https://x",
         .interval_seconds = 60, .timeout_seconds = 5, .expected_status_codes = codes,
         .n_expected_status_codes = 2, .locations = locs, .n_locations = 1},
        {.id = "db", .asset_type = "tcp", .name = "DB", .address = "db:5432",
         .interval_seconds = 30, .timeout_seconds = 3},
    };
    a[0].metadata = json_pack("{s:s}", "team", "core");
    sd_manifest_t m = {.assets = a, .n_assets = 2};
    assert_int_equal(store_assets_sync(s, &m, err, sizeof err), 0);
    assert_int_equal(s_count(s, "SELECT count(*) FROM assets WHERE in_manifest"), 2);
    assert_int_equal(s_count(s, "SELECT count(*) FROM assets WHERE id = 'web' AND"
                                " expected_status_codes = '{200,301}' AND locations = '{eu}'"
                                " AND metadata->>'team' = 'core'"),
                     1);
    m.n_assets = 1;
    a[0].interval_seconds = 120;
    assert_int_equal(store_assets_sync(s, &m, err, sizeof err), 0);
    assert_int_equal(s_count(s, "SELECT count(*) FROM assets WHERE in_manifest"), 1);
    assert_int_equal(s_count(s, "SELECT count(*) FROM assets WHERE id = 'db' AND NOT"
                                " in_manifest"),
                     1);
    assert_int_equal(s_count(s, "SELECT interval_seconds FROM assets WHERE id = 'web'"), 120);
    json_decref(a[0].metadata);
    store_destroy(&s);
}

static void test_connect_failure_and_reset(void **state)
{
    (void) state;
    char err[512] = "";
    store_t *bad = store_new("host=127.0.0.1 port=1 dbname=x connect_timeout=2", err,
                             sizeof err);
    assert_null(bad);
    printf("connect failure: %s\n", err);
    assert_non_null(strstr(err, "connect"));
    /* a multi-host conninfo: the first host is down, libpq moves on */
    char *ci = test_pg_conninfo();
    assert_non_null(ci);
    const char *port = strstr(ci, "port=");
    assert_non_null(port);
    char multi[1024];
    snprintf(multi, sizeof multi,
             "host=127.0.0.1,127.0.0.1 port=1,%d user=postgres dbname=statusd"
             " target_session_attrs=read-write connect_timeout=2",
             atoi(port + 5));
    /* a URI works too, and its own parameters win over our defaults */
    char uri[256];
    snprintf(uri, sizeof uri, "postgresql://postgres@127.0.0.1:%d/statusd?application_name=mine",
             atoi(port + 5));
    free(ci);
    store_t *u = store_new(uri, err, sizeof err);
    if (!u)
        fprintf(stderr, "uri: %s\n", err);
    assert_non_null(u);
    char *app = s_scalar(u, "SELECT current_setting('application_name')");
    assert_string_equal(app, "mine");
    free(app);
    store_destroy(&u);
    store_t *s = store_new(multi, err, sizeof err);
    if (!s)
        fprintf(stderr, "multi-host: %s\n", err);
    assert_non_null(s);
    /* the server ends our session: store_ensure reconnects */
    PGresult *r = PQexec(store_conn(s), "SELECT pg_terminate_backend(pg_backend_pid())");
    PQclear(r);
    r = PQexec(store_conn(s), "SELECT 1");
    PQclear(r);
    assert_int_equal(store_ensure(s), 0);
    assert_int_equal(PQstatus(store_conn(s)), CONNECTION_OK);
    assert_int_equal(s_count(s, "SELECT 1"), 1);
    char *app2 = s_scalar(s, "SELECT current_setting('application_name')");
    assert_string_equal(app2, "statusd-collector");
    free(app2);
    store_destroy(&s);
}

int main(void)
{
    const char *src = getenv("STATUSD_SOURCE_DIR");
    snprintf(s_migrations, sizeof s_migrations, "%s/migrations", src ? src : ".");
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_migrate_idempotent),
        cmocka_unit_test(test_insert_replay_overlap),
        cmocka_unit_test(test_last_seq_same_transaction),
        cmocka_unit_test(test_insert_hostile_batches),
        cmocka_unit_test(test_insert_copy_escaping),
        cmocka_unit_test(test_insert_reason_utf8_bounded),
        cmocka_unit_test(test_partitions),
        cmocka_unit_test(test_agents_and_assets),
        cmocka_unit_test(test_connect_failure_and_reset),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
