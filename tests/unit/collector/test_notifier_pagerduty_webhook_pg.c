/* The PagerDuty and signed-webhook channels end to end: the real notifier actor delivers
 * outbox rows of a real PostgreSQL to fake receivers that speak each protocol
 * (tests/lib/fake_pagerduty.py: Events API v2 with its 202/400/429 answers and alert
 * states; tests/lib/fake_signed_webhook.py: checks Standard Webhooks signatures with its own
 * Python HMAC code and answers 401 to a bad one), run as processes. Proves: one outage is
 * one trigger then one resolve with the same dedup_key (the alert ends resolved); 429 with
 * Retry-After and a 500 are retried, the hint honoured, and delivered once; PagerDuty's 400
 * ends the row dead with its errors in last_error and no routing key there; a signed DOWN
 * and RECOVERY are verified and delivered once; a tampered secret ends dead (401); retries
 * keep webhook-id and are signed anew. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "bus.h"
#include "channel.h"
#include "notifier.h"
#include "sd_clock.h"
#include "store.h"
#include "store_outbox.h"
#include "test_pg.h"
#include "test_tmpdir.h"

#define PD_KEY "R0123456789abcdef0123456789abcde"
#define SECRET "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
#define OTHER_SECRET "whsec_dGFtcGVyZWQtc2VjcmV0LTMyLWJ5dGVzLWxvbmc="

/* ---- a fake receiver process ------------------------------------------------------- */

typedef struct {
    pid_t pid;
    char url[128];
    char log[256];
} fake_t;

/* Starts tests/lib/<script> --port 0 --log <dir>/<script>.jsonl args... and waits (10 s)
 * for its "listening URL" line. */
static void s_fake_start(fake_t *fk, const char *dir, const char *script, const char *const *args)
{
    char path[512];
    snprintf(path, sizeof path, "%s/tests/lib/%s", getenv("STATUSD_SOURCE_DIR"), script);
    snprintf(fk->log, sizeof fk->log, "%s/%s.jsonl", dir, script);
    const char *argv[16] = {"/usr/bin/python3", path, "--port", "0", "--log", fk->log};
    int n = 6;
    for (int i = 0; args && args[i] && n < 15; i++)
        argv[n++] = args[i];
    argv[n] = NULL;
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    fk->pid = fork();
    assert_true(fk->pid >= 0);
    if (fk->pid == 0) {
        dup2(fds[1], 1);
        close(fds[0]);
        close(fds[1]);
        execv(argv[0], (char *const *) argv);
        _exit(127);
    }
    close(fds[1]);
    char line[256] = "";
    size_t len = 0;
    for (sd_ms_t t0 = sd_mono_ms(); !strchr(line, '\n') && sd_mono_ms() - t0 < 10000;) {
        struct pollfd p = {fds[0], POLLIN, 0};
        if (poll(&p, 1, 100) == 1) {
            ssize_t r = read(fds[0], line + len, sizeof line - 1 - len);
            if (r <= 0)
                break;
            len += (size_t) r;
            line[len] = 0;
        }
    }
    close(fds[0]);
    if (sscanf(line, "listening %127s", fk->url) != 1)
        fail_msg("%s did not start: \"%s\"", script, line);
    print_message("%s listening on %s\n", script, fk->url);
}

static void s_fake_stop(fake_t *fk)
{
    if (fk->pid > 0) {
        kill(fk->pid, SIGTERM);
        waitpid(fk->pid, NULL, 0);
    }
    fk->pid = 0;
}

/* Every request the fake recorded so far (an array of its JSON lines). */
static json_t *s_fake_records(const fake_t *fk)
{
    json_t *out = json_array();
    FILE *f = fopen(fk->log, "r");
    char line[65536];
    while (f && fgets(line, sizeof line, f)) {
        json_t *j = strchr(line, '\n') ? json_loads(line, 0, NULL) : NULL; /* whole lines */
        if (j)
            json_array_append_new(out, j);
    }
    if (f)
        fclose(f);
    return out;
}

static size_t s_fake_count(const fake_t *fk)
{
    json_t *r = s_fake_records(fk);
    size_t n = json_array_size(r);
    json_decref(r);
    return n;
}

/* Watches the fake for ms; fails as soon as it got more than n requests. */
static void s_no_more(const fake_t *fk, size_t n, int ms)
{
    for (sd_ms_t t0 = sd_mono_ms(); sd_mono_ms() - t0 < ms; usleep(50 * 1000))
        if (s_fake_count(fk) > n)
            fail_msg("request %zu arrived (expected %zu in all)", s_fake_count(fk), n);
    print_message("no request beyond %zu during %d ms\n", n, ms);
}

/* ---- fixture ----------------------------------------------------------------------- */

typedef struct {
    char *conninfo;
    PGconn *db;
    char dir[64];
    fake_t fake;
    sd_notifier_conf_t nc[1];
    sd_notifiers_t notifiers;
    metrics_t *metrics;
    collector_ctx_t ctx;
    zactor_t *notifier;
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
    f->conninfo = test_pg_fresh_db("pdhook");
    assert_non_null(f->conninfo);
    char err[512] = "", dir[1024];
    snprintf(dir, sizeof dir, "%s/migrations", getenv("STATUSD_SOURCE_DIR"));
    store_t *s = store_new(f->conninfo, err, sizeof err);
    assert_non_null(s);
    if (store_migrate(s, dir, err, sizeof err) != 0)
        fail_msg("migrate: %s", err);
    store_destroy(&s);
    f->db = PQconnectdb(f->conninfo);
    assert_int_equal(PQstatus(f->db), CONNECTION_OK);
    PQclear(s_sql(f, "INSERT INTO assets (id, name, address) VALUES ('api', 'API', 'http://x');"
                     "INSERT INTO incidents (asset_id, started_at) VALUES ('api', now())"));
    snprintf(f->dir, sizeof f->dir, "/tmp/test_pdhook_XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    f->metrics = metrics_new();
    f->ctx = (collector_ctx_t){.notifiers = &f->notifiers, .db_conninfo = f->conninfo,
                               .metrics = f->metrics};
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fx_t *f = *state;
    zactor_destroy(&f->notifier);
    s_fake_stop(&f->fake);
    json_decref(f->nc[0].raw);
    metrics_destroy(&f->metrics);
    PQfinish(f->db);
    test_tmpdir_remove(f->dir);
    free(f->conninfo);
    free(f);
    return 0;
}

/* A file in the test's directory holding text and a line end; its path in path. */
static void s_file(fx_t *f, const char *name, const char *text, char *path, size_t len)
{
    snprintf(path, len, "%s/%s", f->dir, name);
    FILE *fp = fopen(path, "w");
    assert_non_null(fp);
    fprintf(fp, "%s\n", text);
    fclose(fp);
}

/* The one notifier "ops" (the rows' channel): type, its object conf (owned), delivery url. */
static void s_notifier(fx_t *f, const char *type, json_t *conf, const char *url)
{
    f->nc[0] = (sd_notifier_conf_t){.name = "ops", .type = (char *) type,
                                    .webhook_url = (char *) url, .raw = conf};
    f->notifiers = (sd_notifiers_t){.notifiers = f->nc, .n_notifiers = 1};
    char err[256] = "";
    if (channel_check_all(&f->notifiers, err, sizeof err) != 0)
        fail_msg("check: %s", err);
}

static void s_enqueue(fx_t *f, const char *event)
{
    char err[256] = "", payload[1024];
    store_t *s = store_new(f->conninfo, err, sizeof err);
    assert_non_null(s);
    snprintf(payload, sizeof payload,
             "{\"event\":\"%s\",\"asset_id\":\"api\",\"asset_name\":\"API\",\"address\":"
             "\"http://x\",\"incident_id\":1,\"reason\":\"status 503\",\"started_at\":"
             "\"2026-09-01T12:00:00.000Z\",\"ended_at\":\"2026-09-01T12:02:00.000Z\","
             "\"duration_seconds\":120,\"down_votes\":2,\"live_agents\":2,\"down_locations\":2,"
             "\"live_locations\":2,\"locations\":2,\"quorum\":2,\"agents\":[{\"agent\":\"a1\","
             "\"region\":\"eu\",\"vote\":\"DOWN\",\"error\":\"status 503\"}]}",
             event);
    assert_int_equal(store_outbox_enqueue(s, 1, "api", event, "ops", payload, err, sizeof err),
                     0);
    store_destroy(&s);
}

/* Starts the notifier (short lease and timeout), queues events, kicks it, and waits
 * (deadline) until every row is sent or dead; returns the ms it took. */
static sd_ms_t s_deliver(fx_t *f, const char *const *events, int deadline_ms)
{
    notifier_opts_t opts = {.lease_s = 2, .timeout_ms = 1000};
    f->notifier = notifier_new_opts(&f->ctx, &opts);
    assert_non_null(f->notifier);
    int n = 0;
    for (; events[n]; n++)
        s_enqueue(f, events[n]);
    zsock_t *push = zsock_new_push(">" BUS_NOTIFY);
    zstr_send(push, "KICK");
    zsock_destroy(&push);
    sd_ms_t t0 = sd_mono_ms();
    while (sd_mono_ms() - t0 < deadline_ms) {
        PGresult *r = s_sql(f, "SELECT count(*) FROM notifications WHERE status <> 'pending'");
        int done = atoi(PQgetvalue(r, 0, 0));
        PQclear(r);
        if (done == n)
            return sd_mono_ms() - t0;
        usleep(50 * 1000);
    }
    fail_msg("outbox not settled within %d ms", deadline_ms);
    return -1;
}

typedef struct {
    long long id;
    char status[16];
    int attempts;
    char last_error[1024];
} row_t;

/* The row of event (one). */
static row_t s_row(fx_t *f, const char *event)
{
    const char *p[1] = {event};
    PGresult *r = PQexecParams(f->db,
                               "SELECT id, status, attempts, COALESCE(last_error, '') FROM"
                               " notifications WHERE event = $1",
                               1, NULL, p, NULL, NULL, 0);
    assert_int_equal(PQresultStatus(r), PGRES_TUPLES_OK);
    assert_int_equal(PQntuples(r), 1);
    row_t o;
    o.id = atoll(PQgetvalue(r, 0, 0));
    snprintf(o.status, sizeof o.status, "%s", PQgetvalue(r, 0, 1));
    o.attempts = atoi(PQgetvalue(r, 0, 2));
    snprintf(o.last_error, sizeof o.last_error, "%s", PQgetvalue(r, 0, 3));
    PQclear(r);
    print_message("%s row %lld: %s after %d attempt(s), last_error \"%s\"\n", event, o.id,
                  o.status, o.attempts, o.last_error);
    return o;
}

#define REC(recs, i) json_array_get((recs), (i))
#define RSTR(j, k) json_string_value(json_object_get((j), (k)))
#define BODY(recs, i, k) RSTR(json_object_get(REC(recs, i), "json"), k)
#define HEADER(recs, i, k) RSTR(json_object_get(REC(recs, i), "headers"), k)

/* ---- PagerDuty --------------------------------------------------------------------- */

static void s_use_pagerduty(fx_t *f, const char *key, const char *const *fake_args)
{
    s_fake_start(&f->fake, f->dir, "fake_pagerduty.py", fake_args);
    char path[256], url[256];
    s_file(f, "routing_key", key, path, sizeof path);
    snprintf(url, sizeof url, "%s/v2/enqueue", f->fake.url);
    json_t *conf = json_pack("{s:s, s:s, s:s}", "type", "pagerduty", "routingKeyFile", path,
                             "eventsUrl", url);
    s_notifier(f, "pagerduty", conf, RSTR(conf, "eventsUrl"));
}

static void test_pd_trigger_then_resolve_one_key(void **state)
{
    fx_t *f = *state;
    s_use_pagerduty(f, PD_KEY, NULL);
    sd_ms_t took = s_deliver(f, (const char *[]){"DOWN", "RECOVERY", NULL}, 15000);
    print_message("DOWN and RECOVERY settled in %lld ms\n", (long long) took);
    s_no_more(&f->fake, 2, 2500); /* past a lease: nothing is sent twice */
    json_t *recs = s_fake_records(&f->fake);
    assert_int_equal(json_array_size(recs), 2);
    print_message("1: %s %s -> %s; 2: %s %s -> %s\n", BODY(recs, 0, "event_action"),
                  BODY(recs, 0, "dedup_key"), RSTR(REC(recs, 0), "alert"),
                  BODY(recs, 1, "event_action"), BODY(recs, 1, "dedup_key"),
                  RSTR(REC(recs, 1), "alert"));
    assert_string_equal(BODY(recs, 0, "event_action"), "trigger");
    assert_string_equal(BODY(recs, 1, "event_action"), "resolve");
    assert_string_equal(BODY(recs, 0, "dedup_key"), "statusd-api-1");
    assert_string_equal(BODY(recs, 1, "dedup_key"), "statusd-api-1");
    assert_string_equal(BODY(recs, 0, "routing_key"), PD_KEY);
    assert_string_equal(RSTR(REC(recs, 1), "alert"), "resolved"); /* not dropped */
    assert_false(json_is_true(json_object_get(REC(recs, 1), "dropped")));
    json_t *payload = json_object_get(json_object_get(REC(recs, 0), "json"), "payload");
    assert_string_equal(RSTR(payload, "severity"), "critical");
    assert_string_equal(RSTR(payload, "summary"), "🔴 DOWN API: status 503");
    json_decref(recs);
    row_t down = s_row(f, "DOWN"), rec = s_row(f, "RECOVERY");
    assert_string_equal(down.status, "sent");
    assert_string_equal(rec.status, "sent");
    assert_int_equal(down.attempts, 1);
    assert_int_equal(rec.attempts, 1);
}

static void test_pd_429_and_500_retried_with_hint(void **state)
{
    fx_t *f = *state;
    s_use_pagerduty(f, PD_KEY, (const char *[]){"--fail", "429:1:2", "--fail", "500:1", NULL});
    s_deliver(f, (const char *[]){"DOWN", NULL}, 20000);
    s_no_more(&f->fake, 3, 2500);
    json_t *recs = s_fake_records(&f->fake);
    assert_int_equal(json_array_size(recs), 3);
    double t0 = json_real_value(json_object_get(REC(recs, 0), "t"));
    double t1 = json_real_value(json_object_get(REC(recs, 1), "t"));
    double t2 = json_real_value(json_object_get(REC(recs, 2), "t"));
    print_message("429 (Retry-After: 2) -> retried %.0f ms later; 500 -> retried %.0f ms later "
                  "(backoff, at least 1 s); then %lld\n",
                  (t1 - t0) * 1000, (t2 - t1) * 1000,
                  (long long) json_integer_value(json_object_get(REC(recs, 2), "status")));
    assert_true(t1 - t0 >= 1.9);
    assert_true(t2 - t1 >= 0.9);
    assert_int_equal(json_integer_value(json_object_get(REC(recs, 2), "status")), 202);
    for (int i = 0; i < 3; i++) /* every attempt is the same event */
        assert_string_equal(BODY(recs, i, "dedup_key"), "statusd-api-1");
    json_decref(recs);
    row_t down = s_row(f, "DOWN");
    assert_string_equal(down.status, "sent");
    assert_int_equal(down.attempts, 3);
}

static void test_pd_invalid_event_is_dead(void **state)
{
    fx_t *f = *state;
    /* a key PagerDuty refuses (not 32 characters); it must not show in last_error */
    s_use_pagerduty(f, "SECRET-routing-key-too-short", NULL);
    s_deliver(f, (const char *[]){"DOWN", NULL}, 10000);
    s_no_more(&f->fake, 1, 2500);
    row_t down = s_row(f, "DOWN");
    assert_string_equal(down.status, "dead");
    assert_int_equal(down.attempts, 1);
    assert_non_null(strstr(down.last_error, "HTTP 400"));
    assert_non_null(strstr(down.last_error, "invalid event"));
    assert_non_null(strstr(down.last_error, "Length of 'routing_key' is incorrect"));
    assert_null(strstr(down.last_error, "SECRET"));
}

/* ---- signed webhook ---------------------------------------------------------------- */

/* The receiver checks signatures with receiver_secret; the notifier signs with ours. */
static void s_use_webhook(fx_t *f, const char *receiver_secret, const char *ours,
                          const char *const *fail_args)
{
    char theirs[256], mine[256], url[256];
    s_file(f, "receiver_secret", receiver_secret, theirs, sizeof theirs);
    s_file(f, "secret", ours, mine, sizeof mine);
    const char *args[8] = {"--secret-file", theirs};
    for (int i = 0; fail_args && fail_args[i] && i < 5; i++)
        args[2 + i] = fail_args[i];
    s_fake_start(&f->fake, f->dir, "fake_signed_webhook.py", args);
    snprintf(url, sizeof url, "%s/hooks/statusd", f->fake.url);
    json_t *conf = json_pack("{s:s, s:s, s:s, s:{s:s}}", "type", "webhook", "url", url,
                             "secretFile", mine, "headers", "X-Team", "sre");
    s_notifier(f, "webhook", conf, RSTR(conf, "url"));
}

static void test_webhook_signed_down_and_recovery(void **state)
{
    fx_t *f = *state;
    s_use_webhook(f, SECRET, SECRET, NULL);
    s_deliver(f, (const char *[]){"DOWN", "RECOVERY", NULL}, 15000);
    s_no_more(&f->fake, 2, 2500);
    json_t *recs = s_fake_records(&f->fake);
    assert_int_equal(json_array_size(recs), 2);
    row_t down = s_row(f, "DOWN"), rec = s_row(f, "RECOVERY");
    assert_string_equal(down.status, "sent");
    assert_string_equal(rec.status, "sent");
    char id[32];
    for (int i = 0; i < 2; i++) {
        json_t *r = REC(recs, i);
        print_message("%d: %s webhook-id %s, verified by the receiver: %s\n", i,
                      BODY(recs, i, "type"), HEADER(recs, i, "webhook-id"),
                      json_is_true(json_object_get(r, "verified")) ? "yes" : "no");
        assert_true(json_is_true(json_object_get(r, "verified")));
        assert_int_equal(json_integer_value(json_object_get(r, "status")), 200);
        assert_string_equal(HEADER(recs, i, "x-team"), "sre");
        assert_string_equal(HEADER(recs, i, "content-type"), "application/json");
        snprintf(id, sizeof id, "msg_%lld", i == 0 ? down.id : rec.id);
        assert_string_equal(HEADER(recs, i, "webhook-id"), id);
    }
    assert_string_equal(BODY(recs, 0, "type"), "incident.down");
    assert_string_equal(BODY(recs, 1, "type"), "incident.recovered");
    json_t *data = json_object_get(json_object_get(REC(recs, 0), "json"), "data");
    assert_int_equal(json_integer_value(json_object_get(json_object_get(data, "votes"),
                                                        "down_locations")), 2);
    assert_int_equal(json_integer_value(json_object_get(json_object_get(data, "incident"),
                                                        "id")), 1);
    json_decref(recs);
}

static void test_webhook_tampered_secret_is_dead(void **state)
{
    fx_t *f = *state;
    s_use_webhook(f, SECRET, OTHER_SECRET, NULL);
    s_deliver(f, (const char *[]){"DOWN", NULL}, 10000);
    s_no_more(&f->fake, 1, 2500);
    json_t *recs = s_fake_records(&f->fake);
    assert_false(json_is_true(json_object_get(REC(recs, 0), "verified")));
    print_message("receiver: %s\n", RSTR(REC(recs, 0), "why"));
    json_decref(recs);
    row_t down = s_row(f, "DOWN");
    assert_string_equal(down.status, "dead");
    assert_int_equal(down.attempts, 1);
    assert_non_null(strstr(down.last_error, "HTTP 401"));
    assert_non_null(strstr(down.last_error, "no matching signature"));
}

static void test_webhook_retries_keep_id_and_resign(void **state)
{
    fx_t *f = *state;
    s_use_webhook(f, SECRET, SECRET,
                  (const char *[]){"--fail", "503:1", "--fail", "429:1:2", NULL});
    s_deliver(f, (const char *[]){"DOWN", NULL}, 20000);
    s_no_more(&f->fake, 3, 2500);
    json_t *recs = s_fake_records(&f->fake);
    assert_int_equal(json_array_size(recs), 3);
    row_t down = s_row(f, "DOWN");
    assert_string_equal(down.status, "sent");
    assert_int_equal(down.attempts, 3);
    char id[32];
    snprintf(id, sizeof id, "msg_%lld", down.id);
    long long ts[3];
    for (int i = 0; i < 3; i++) {
        assert_string_equal(HEADER(recs, i, "webhook-id"), id);
        ts[i] = atoll(HEADER(recs, i, "webhook-timestamp"));
    }
    double gap = json_real_value(json_object_get(REC(recs, 2), "t")) -
                 json_real_value(json_object_get(REC(recs, 1), "t"));
    print_message("webhook-id %s on all 3 attempts; timestamps %lld, %lld, %lld; 429 "
                  "(Retry-After: 2) -> retried %.0f ms later; last verified: %s\n",
                  id, ts[0], ts[1], ts[2], gap * 1000,
                  json_is_true(json_object_get(REC(recs, 2), "verified")) ? "yes" : "no");
    assert_true(ts[2] > ts[0]); /* signed anew: the timestamp of each attempt */
    assert_true(gap >= 1.9);
    assert_true(json_is_true(json_object_get(REC(recs, 2), "verified")));
    assert_non_null(HEADER(recs, 0, "webhook-signature"));
    assert_string_not_equal(HEADER(recs, 0, "webhook-signature"),
                            HEADER(recs, 2, "webhook-signature"));
    json_decref(recs);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_pd_trigger_then_resolve_one_key, setup, teardown),
        cmocka_unit_test_setup_teardown(test_pd_429_and_500_retried_with_hint, setup, teardown),
        cmocka_unit_test_setup_teardown(test_pd_invalid_event_is_dead, setup, teardown),
        cmocka_unit_test_setup_teardown(test_webhook_signed_down_and_recovery, setup, teardown),
        cmocka_unit_test_setup_teardown(test_webhook_tampered_secret_is_dead, setup, teardown),
        cmocka_unit_test_setup_teardown(test_webhook_retries_keep_id_and_resign, setup,
                                        teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
