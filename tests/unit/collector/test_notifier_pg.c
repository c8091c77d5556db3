/* notifier against a real PostgreSQL and a real HTTP receiver (libmicrohttpd, one thread per
 * connection) speaking Slack's incoming-webhook and Teams' protocols: delivery, 500 -> 429
 * with Retry-After -> 200 delivered once, 404 and a non-UTF-8 403 -> dead and never sent
 * again, a receiver that never answers -> timeout and retry, the notifier's database
 * connection killed (pg_terminate_backend) right after an answer -> outcome written after
 * reconnection and no second POST, Slack 200 "invalid" -> dead, Teams 200 with "HTTP error
 * 429" -> retried, RECOVERY held back until its DOWN is sent, the 24 h give-up. */
#include <microhttpd.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "bus.h"
#include "notifier.h"
#include "sd_clock.h"
#include "sd_utf8.h"
#include "store.h"
#include "store_outbox.h"
#include "test_pg.h"

/* ---- a scripted Slack webhook receiver --------------------------------------------- */

#define MAX_REQ 32
#define MAX_SCRIPT 8

typedef struct {
    int status;
    const char *body;        /* any bytes */
    size_t body_len;         /* 0: strlen(body) */
    const char *retry_after; /* NULL: no header */
    int hang_ms;             /* > 0: answer nothing, close after this long */
    bool kill_db;            /* before answering, kill the notifier's database connection
                                and wait until PostgreSQL has let it go */
} reply_t;

typedef struct {
    struct MHD_Daemon *d;
    int port;
    const char *conninfo;       /* for kill_db */
    volatile bool stopping;     /* ends hangs at teardown */
    pthread_mutex_t mu;
    reply_t script[MAX_SCRIPT]; /* consumed in order; then 200 "ok" */
    int n_script, next;
    char *bodies[MAX_REQ];
    sd_ms_t at[MAX_REQ];
    int n_req;
    int killed_pid;             /* the backend kill_db terminated, 0 if none */
} hook_t;

typedef struct {
    char buf[65536];
    size_t len;
} upload_t;

/* Terminates the notifier's backend (application_name statusd-collector) and waits until
 * it is gone; returns its pid. Runs on the receiver's thread with its own connection. */
static int s_kill_notifier_db(const char *conninfo)
{
    PGconn *c = PQconnectdb(conninfo);
    int pid = 0;
    PGresult *r = PQexec(c, "SELECT pid, pg_terminate_backend(pid) FROM pg_stat_activity"
                            " WHERE application_name = 'statusd-collector'"
                            " AND datname = current_database() AND pid <> pg_backend_pid()");
    if (PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1)
        pid = atoi(PQgetvalue(r, 0, 0));
    PQclear(r);
    for (sd_ms_t t0 = sd_mono_ms(); pid && sd_mono_ms() - t0 < 5000; usleep(10 * 1000)) {
        char sql[128];
        snprintf(sql, sizeof sql, "SELECT count(*) FROM pg_stat_activity WHERE pid = %d", pid);
        r = PQexec(c, sql);
        bool gone = PQresultStatus(r) == PGRES_TUPLES_OK && atoi(PQgetvalue(r, 0, 0)) == 0;
        PQclear(r);
        if (gone)
            break;
    }
    PQfinish(c);
    return pid;
}

static enum MHD_Result s_handler(void *cls, struct MHD_Connection *c, const char *url,
                                 const char *method, const char *version, const char *data,
                                 size_t *size, void **con_cls)
{
    hook_t *h = cls;
    upload_t *u = *con_cls;
    if (!u) {
        *con_cls = calloc(1, sizeof(upload_t));
        return *con_cls ? MHD_YES : MHD_NO;
    }
    if (*size) {
        size_t take = *size < sizeof u->buf - 1 - u->len ? *size : sizeof u->buf - 1 - u->len;
        memcpy(u->buf + u->len, data, take);
        u->len += take;
        *size = 0;
        return MHD_YES;
    }
    json_t *j = json_loads(u->buf, 0, NULL);
    reply_t r = {.status = 200, .body = "ok"};
    pthread_mutex_lock(&h->mu);
    if (!j)
        r = (reply_t){.status = 400, .body = "invalid_payload"};
    else if (h->next < h->n_script)
        r = h->script[h->next++];
    if (h->n_req < MAX_REQ) {
        h->bodies[h->n_req] = strdup(u->buf);
        h->at[h->n_req] = sd_mono_ms();
        h->n_req++;
    }
    pthread_mutex_unlock(&h->mu);
    json_decref(j);
    if (r.hang_ms > 0) { /* this connection's own thread: the others are served meanwhile */
        for (sd_ms_t t0 = sd_mono_ms(); !h->stopping && sd_mono_ms() - t0 < r.hang_ms;)
            usleep(10 * 1000);
        return MHD_NO; /* close without an answer */
    }
    if (r.kill_db) {
        int pid = s_kill_notifier_db(h->conninfo);
        pthread_mutex_lock(&h->mu);
        h->killed_pid = pid;
        pthread_mutex_unlock(&h->mu);
    }
    struct MHD_Response *resp = MHD_create_response_from_buffer(
        r.body_len ? r.body_len : strlen(r.body), (void *) r.body, MHD_RESPMEM_PERSISTENT);
    MHD_add_response_header(resp, "Content-Type", "text/plain");
    if (r.retry_after)
        MHD_add_response_header(resp, "Retry-After", r.retry_after);
    enum MHD_Result ret = MHD_queue_response(c, (unsigned) r.status, resp);
    MHD_destroy_response(resp);
    return ret;
}

static void s_completed(void *cls, struct MHD_Connection *c, void **con_cls,
                        enum MHD_RequestTerminationCode toe)
{
    free(*con_cls);
    *con_cls = NULL;
}

static hook_t *s_hook_start(const char *conninfo)
{
    hook_t *h = calloc(1, sizeof *h);
    h->conninfo = conninfo;
    pthread_mutex_init(&h->mu, NULL);
    h->d = MHD_start_daemon(MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD |
                                MHD_USE_ERROR_LOG,
                            0, NULL, NULL, s_handler, h, MHD_OPTION_NOTIFY_COMPLETED,
                            s_completed, h, MHD_OPTION_END);
    assert_non_null(h->d);
    h->port = MHD_get_daemon_info(h->d, MHD_DAEMON_INFO_BIND_PORT)->port;
    assert_true(h->port > 0);
    return h;
}

static void s_hook_stop(hook_t **p)
{
    hook_t *h = *p;
    h->stopping = true;
    MHD_stop_daemon(h->d);
    for (int i = 0; i < h->n_req; i++)
        free(h->bodies[i]);
    pthread_mutex_destroy(&h->mu);
    free(h);
    *p = NULL;
}

static int s_hook_count(hook_t *h)
{
    pthread_mutex_lock(&h->mu);
    int n = h->n_req;
    pthread_mutex_unlock(&h->mu);
    return n;
}

/* ---- fixture ----------------------------------------------------------------------- */

typedef struct {
    char *conninfo;
    PGconn *db;
    hook_t *hook;
    sd_notifier_conf_t nc[2];
    char *on_down[1];
    sd_notifiers_t notifiers;
    metrics_t *metrics;
    collector_ctx_t ctx;
    notifier_opts_t opts; /* 0: defaults */
    char url[128], bad_url[64], teams_url[160];
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
    f->conninfo = test_pg_fresh_db("notifier");
    assert_non_null(f->conninfo);
    char err[512] = "", dir[1024];
    const char *src = getenv("STATUSD_SOURCE_DIR");
    assert_non_null(src);
    snprintf(dir, sizeof dir, "%s/migrations", src);
    store_t *s = store_new(f->conninfo, err, sizeof err);
    assert_non_null(s);
    if (store_migrate(s, dir, err, sizeof err) != 0)
        fail_msg("migrate: %s", err);
    store_destroy(&s);
    f->db = PQconnectdb(f->conninfo);
    assert_int_equal(PQstatus(f->db), CONNECTION_OK);
    PQclear(s_sql(f, "INSERT INTO assets (id, name, address) VALUES ('api', 'API', 'http://x');"
                     "INSERT INTO incidents (asset_id, started_at) VALUES ('api', now())"));
    f->hook = s_hook_start(f->conninfo);
    snprintf(f->url, sizeof f->url, "http://127.0.0.1:%d/services/T/B/x", f->hook->port);
    f->nc[0] = (sd_notifier_conf_t){.name = "slack-ops", .type = "slack", .webhook_url = f->url};
    f->notifiers = (sd_notifiers_t){.notifiers = f->nc, .n_notifiers = 1};
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
    s_hook_stop(&f->hook);
    metrics_destroy(&f->metrics);
    PQfinish(f->db);
    free(f->conninfo);
    free(f);
    return 0;
}

static void s_enqueue(fx_t *f, const char *event)
{
    char err[256] = "";
    store_t *s = store_new(f->conninfo, err, sizeof err);
    assert_non_null(s);
    char payload[256];
    snprintf(payload, sizeof payload,
             "{\"event\":\"%s\",\"asset_id\":\"api\",\"asset_name\":\"API\",\"reason\":"
             "\"status 503\",\"started_at\":\"2026-09-01T12:00:00.000Z\"}",
             event);
    assert_int_equal(store_outbox_enqueue(s, 1, "api", event, "slack-ops", payload, err,
                                          sizeof err),
                     0);
    store_destroy(&s);
}

static void s_kick(void)
{
    zsock_t *push = zsock_new_push(">" BUS_NOTIFY);
    zstr_send(push, "KICK");
    zsock_destroy(&push);
}

/* Waits (deadline) until every outbox row has a status other than pending; returns ms. */
static sd_ms_t s_wait_settled(fx_t *f, int expect_rows, int deadline_ms)
{
    sd_ms_t t0 = sd_mono_ms();
    while (sd_mono_ms() - t0 < deadline_ms) {
        PGresult *r = s_sql(f, "SELECT count(*) FILTER (WHERE status <> 'pending'), count(*)"
                               " FROM notifications");
        int done = atoi(PQgetvalue(r, 0, 0)), all = atoi(PQgetvalue(r, 0, 1));
        PQclear(r);
        if (done == expect_rows && all == expect_rows)
            return sd_mono_ms() - t0;
        usleep(50 * 1000);
    }
    fail_msg("outbox not settled within %d ms", deadline_ms);
    return -1;
}

static void s_start(fx_t *f)
{
    f->notifier = notifier_new_opts(&f->ctx, &f->opts);
    assert_non_null(f->notifier);
}

/* The one notifier becomes a Teams one (same name: the rows' channel). */
static void s_use_teams(fx_t *f)
{
    snprintf(f->teams_url, sizeof f->teams_url, "http://127.0.0.1:%d/teams/flow", f->hook->port);
    f->nc[0] = (sd_notifier_conf_t){.name = "slack-ops", .type = "teams",
                                    .webhook_url = f->teams_url};
}

/* Watches the receiver for ms and fails as soon as it got more than n requests. */
static void s_no_more_posts(fx_t *f, int n, int ms)
{
    sd_ms_t t0 = sd_mono_ms();
    while (sd_mono_ms() - t0 < ms) {
        int got = s_hook_count(f->hook);
        if (got > n)
            fail_msg("request %d came %lld ms into the watch (expected %d in all)", got,
                     (long long) (sd_mono_ms() - t0), n);
        usleep(20 * 1000);
    }
    print_message("no request beyond %d during %d ms\n", n, ms);
}

static bool s_metric_has(fx_t *f, const char *needle)
{
    char *text = metrics_render(f->metrics);
    bool has = text && strstr(text, needle);
    if (!has)
        print_message("metrics lack %s:\n%s\n", needle, text ? text : "(none)");
    free(text);
    return has;
}

/* The one DOWN row, read back with SQL; fails unless last_error is valid UTF-8. */
typedef struct {
    char status[32];
    int attempts;
    char last_error[1024];
} down_row_t;

static down_row_t s_down_row(fx_t *f)
{
    down_row_t o;
    PGresult *r = s_sql(f, "SELECT status, attempts, COALESCE(last_error, '')"
                           " FROM notifications WHERE event = 'DOWN'");
    assert_int_equal(PQntuples(r), 1);
    snprintf(o.status, sizeof o.status, "%s", PQgetvalue(r, 0, 0));
    o.attempts = atoi(PQgetvalue(r, 0, 1));
    const char *le = PQgetvalue(r, 0, 2);
    assert_true(sd_utf8_valid(le, strlen(le)));
    snprintf(o.last_error, sizeof o.last_error, "%s", le);
    PQclear(r);
    return o;
}

/* The receiver answers script[0..n) first (then 200 "ok"); the notifier starts with f->opts,
 * one DOWN is queued, and its row is read once it is sent or dead (deadline). */
static down_row_t s_deliver_down(fx_t *f, const reply_t *script, int n, int deadline_ms)
{
    assert_true(n <= MAX_SCRIPT);
    for (int i = 0; i < n; i++)
        f->hook->script[i] = script[i];
    f->hook->n_script = n;
    s_start(f);
    s_enqueue(f, "DOWN");
    s_kick();
    sd_ms_t took = s_wait_settled(f, 1, deadline_ms);
    down_row_t o = s_down_row(f);
    print_message("DOWN settled in %lld ms: status=%s attempts=%d requests=%d last_error=\"%s\"\n",
                  (long long) took, o.status, o.attempts, s_hook_count(f->hook), o.last_error);
    return o;
}

/* statusd_notifications_failed_total{channel="slack-ops",reason} is n */
static void s_assert_failed(fx_t *f, const char *reason, int n)
{
    char needle[160];
    snprintf(needle, sizeof needle,
             "statusd_notifications_failed_total{channel=\"slack-ops\",reason=\"%s\"} %d", reason,
             n);
    assert_true(s_metric_has(f, needle));
}

static void s_assert_notified_events(fx_t *f, const char *n)
{
    PGresult *r = s_sql(f, "SELECT count(*) FROM incident_events WHERE kind = 'notified'");
    assert_string_equal(PQgetvalue(r, 0, 0), n);
    PQclear(r);
}

/* ---- tests ------------------------------------------------------------------------- */

static void test_delivered_and_marked_sent(void **state)
{
    fx_t *f = *state;
    down_row_t o = s_deliver_down(f, NULL, 0, 10000);
    assert_string_equal(o.status, "sent");
    assert_int_equal(o.attempts, 1);
    assert_int_equal(s_hook_count(f->hook), 1);
    json_t *j = json_loads(f->hook->bodies[0], 0, NULL);
    assert_non_null(j);
    assert_string_equal(json_string_value(json_object_get(j, "text")),
                        "🔴 DOWN API: status 503");
    json_decref(j);
    s_assert_notified_events(f, "1");
    assert_true(s_metric_has(f, "statusd_notifications_sent_total{channel=\"slack-ops\"} 1"));
}

static void test_500_429_200_delivered_once(void **state)
{
    fx_t *f = *state;
    const reply_t script[] = {{.status = 500, .body = "rollup_error"},
                              {.status = 429, .body = "rate_limited", .retry_after = "2"}};
    f->opts = (notifier_opts_t){.lease_s = 2, .timeout_ms = 1000};
    down_row_t o = s_deliver_down(f, script, 2, 20000);
    assert_string_equal(o.status, "sent");
    assert_int_equal(o.attempts, 3);
    assert_int_equal(s_hook_count(f->hook), 3);
    sd_ms_t gap1 = f->hook->at[1] - f->hook->at[0], gap2 = f->hook->at[2] - f->hook->at[1];
    print_message("500 -> retry %lld ms later (backoff floor 1 s); 429 Retry-After: 2 -> "
                  "retry %lld ms later\n", (long long) gap1, (long long) gap2);
    assert_true(gap1 >= 900);
    assert_true(gap2 >= 1900);
    /* delivered exactly once: nothing more through two lease periods */
    s_no_more_posts(f, 3, 4500);
    s_assert_failed(f, "server_error", 1);
    s_assert_failed(f, "rate_limited", 1);
    assert_true(s_metric_has(f, "statusd_notifications_sent_total{channel=\"slack-ops\"} 1"));
    s_assert_notified_events(f, "1");
}

static void test_429_honours_retry_after(void **state)
{
    fx_t *f = *state;
    const reply_t script[] = {{.status = 429, .body = "rate_limited", .retry_after = "3"}};
    down_row_t o = s_deliver_down(f, script, 1, 15000);
    assert_string_equal(o.status, "sent");
    assert_int_equal(s_hook_count(f->hook), 2);
    sd_ms_t gap = f->hook->at[1] - f->hook->at[0];
    print_message("retry after 429 (Retry-After: 3) came %lld ms later\n", (long long) gap);
    assert_true(gap >= 2900);
}

static void test_404_is_dead(void **state)
{
    fx_t *f = *state;
    const reply_t script[] = {{.status = 404, .body = "channel_not_found"}};
    f->opts = (notifier_opts_t){.lease_s = 2, .timeout_ms = 1000};
    down_row_t o = s_deliver_down(f, script, 1, 10000);
    assert_string_equal(o.status, "dead");
    assert_string_equal(o.last_error, "HTTP 404: channel_not_found");
    s_no_more_posts(f, 1, 2500); /* a dead row is never retried, not even after its lease */
    s_assert_failed(f, "client_error", 1);
}

/* 0xff 0xfe, filler, "\r\n", and an 'é' whose two bytes straddle the 200th byte, then more */
static size_t s_hostile_body(char *buf, size_t cap)
{
    assert_true(cap >= 260);
    memset(buf, 'x', 260);
    buf[0] = (char) 0xff;
    buf[1] = (char) 0xfe;
    memcpy(buf + 50, "\r\n", 2);
    buf[199] = (char) 0xc3; /* byte 200 */
    buf[200] = (char) 0xa9; /* byte 201 */
    memcpy(buf + 201, " after the cut", 14);
    return 260;
}

static void test_403_not_utf8_dead_once(void **state)
{
    fx_t *f = *state;
    static char body[300];
    const reply_t script[] = {
        {.status = 403, .body = body, .body_len = s_hostile_body(body, sizeof body)}};
    f->opts = (notifier_opts_t){.lease_s = 2, .timeout_ms = 1000};
    down_row_t o = s_deliver_down(f, script, 1, 10000);
    assert_string_equal(o.status, "dead");
    assert_int_equal(o.attempts, 1);
    print_message("last_error: %zu bytes, valid UTF-8\n", strlen(o.last_error));
    assert_memory_equal(o.last_error, "HTTP 403: \xEF\xBF\xBD\xEF\xBF\xBDxxx", 19);
    assert_true(strlen(o.last_error) <= strlen("HTTP 403: ") + 200);
    assert_null(strchr(o.last_error, '\n'));
    assert_non_null(strstr(o.last_error, "\xE2\x80\xA6")); /* cut, and says so */
    /* never POSTed again: three lease periods */
    s_no_more_posts(f, 1, 6500);
    s_assert_failed(f, "client_error", 1);
}

static void test_no_answer_is_timeout_and_retried(void **state)
{
    fx_t *f = *state;
    const reply_t script[] = {{.status = 200, .body = "ok", .hang_ms = 4000}};
    f->opts = (notifier_opts_t){.lease_s = 3, .timeout_ms = 1000};
    down_row_t o = s_deliver_down(f, script, 1, 15000);
    assert_string_equal(o.status, "sent");
    assert_int_equal(o.attempts, 2);
    assert_int_equal(s_hook_count(f->hook), 2);
    sd_ms_t gap = f->hook->at[1] - f->hook->at[0];
    print_message("silent receiver: second attempt %lld ms after the first (timeout 1 s + "
                  "backoff >= 1 s)\n", (long long) gap);
    assert_true(gap >= 1900);
    s_assert_failed(f, "timeout", 1);
}

static int s_notifier_pid(fx_t *f)
{
    PGresult *r = s_sql(f, "SELECT pid FROM pg_stat_activity WHERE application_name ="
                           " 'statusd-collector' AND datname = current_database()");
    int pid = PQntuples(r) == 1 ? atoi(PQgetvalue(r, 0, 0)) : 0;
    PQclear(r);
    return pid;
}

/* The receiver takes the POST, kills the notifier's database connection and only then
 * answers 200 "ok": the known outcome meets a dead connection. */
static void test_db_killed_after_answer(void **state)
{
    fx_t *f = *state;
    const reply_t script[] = {{.status = 200, .body = "ok", .kill_db = true}};
    f->opts = (notifier_opts_t){.lease_s = 2, .timeout_ms = 1000};
    down_row_t o = s_deliver_down(f, script, 1, 15000);
    sd_ms_t since_post = sd_mono_ms() - f->hook->at[0];
    pthread_mutex_lock(&f->hook->mu);
    int killed = f->hook->killed_pid;
    pthread_mutex_unlock(&f->hook->mu);
    int now_pid = s_notifier_pid(f);
    print_message("backend %d killed before the answer; row sent (seen %lld ms after the "
                  "POST), now on backend %d\n",
                  killed, (long long) since_post, now_pid);
    assert_true(killed > 0);
    assert_true(now_pid > 0 && now_pid != killed);
    assert_string_equal(o.status, "sent");
    assert_int_equal(o.attempts, 1);
    /* the outcome had to wait in memory: proof that the recording failed at first */
    assert_true(s_metric_has(f, "statusd_notifications_record_failed_total 1"));
    s_no_more_posts(f, 1, 4500); /* two lease periods and more */
    s_assert_notified_events(f, "1");
}

static void test_db_killed_while_idle(void **state)
{
    fx_t *f = *state;
    f->opts = (notifier_opts_t){.lease_s = 2, .timeout_ms = 1000};
    s_start(f);
    sd_ms_t t0 = sd_mono_ms();
    int before = 0;
    while (!(before = s_notifier_pid(f)) && sd_mono_ms() - t0 < 5000)
        usleep(20 * 1000);
    assert_true(before > 0);
    assert_int_equal(s_kill_notifier_db(f->conninfo), before);
    s_enqueue(f, "DOWN");
    s_kick();
    sd_ms_t took = s_wait_settled(f, 1, 15000);
    int after = s_notifier_pid(f);
    print_message("backend %d killed while idle; row sent %lld ms after the kick, on backend "
                  "%d\n", before, (long long) took, after);
    assert_true(after > 0 && after != before);
    assert_string_equal(s_down_row(f).status, "sent");
    assert_int_equal(s_hook_count(f->hook), 1);
}

static void test_slack_200_other_body_is_dead(void **state)
{
    fx_t *f = *state;
    const reply_t script[] = {{.status = 200, .body = "invalid"}};
    f->opts = (notifier_opts_t){.lease_s = 2, .timeout_ms = 1000};
    down_row_t o = s_deliver_down(f, script, 1, 10000);
    assert_string_equal(o.status, "dead");
    assert_string_equal(o.last_error, "HTTP 200: invalid");
    s_assert_failed(f, "bad_body", 1);
    s_no_more_posts(f, 1, 2500);
}

static void test_teams_200_http_error_429_retried(void **state)
{
    fx_t *f = *state;
    s_use_teams(f);
    const reply_t script[] = {
        {.status = 200,
         .body = "Webhook message delivery failed with error: Microsoft Teams endpoint returned "
                 "HTTP error 429 with ContextId tcid=0,server=msgapi-canary-eus2-0,cv=x"},
        {.status = 200, .body = "1"}};
    down_row_t o = s_deliver_down(f, script, 2, 15000);
    sd_ms_t gap = f->hook->at[1] - f->hook->at[0];
    print_message("Teams 200 \"...HTTP error 429...\" -> retried %lld ms later\n",
                  (long long) gap);
    assert_string_equal(o.status, "sent");
    assert_int_equal(o.attempts, 2);
    assert_int_equal(s_hook_count(f->hook), 2);
    assert_true(gap >= 900);
    s_assert_failed(f, "rate_limited", 1);
}

static void test_teams_202_is_sent(void **state)
{
    fx_t *f = *state;
    s_use_teams(f);
    const reply_t script[] = {{.status = 202, .body = ""}};
    down_row_t o = s_deliver_down(f, script, 1, 10000);
    assert_string_equal(o.status, "sent");
    json_t *j = json_loads(f->hook->bodies[0], 0, NULL);
    assert_string_equal(json_string_value(json_object_get(j, "type")), "message");
    json_decref(j);
}

static void test_unknown_channel_is_dead(void **state)
{
    fx_t *f = *state;
    f->notifiers.n_notifiers = 0; /* "slack-ops" no longer configured */
    down_row_t o = s_deliver_down(f, NULL, 0, 10000);
    assert_string_equal(o.status, "dead");
    assert_non_null(strstr(o.last_error, "slack-ops"));
    assert_int_equal(s_hook_count(f->hook), 0);
    s_assert_failed(f, "config_error", 1);
}

static void test_recovery_waits_for_down(void **state)
{
    fx_t *f = *state;
    f->hook->script[0] = (reply_t){.status = 500, .body = "rollup_error"};
    f->hook->n_script = 1;
    s_enqueue(f, "DOWN");
    s_enqueue(f, "RECOVERY");
    s_start(f);
    s_wait_settled(f, 2, 15000);
    assert_int_equal(s_hook_count(f->hook), 3);
    const char *want[3] = {"🔴 DOWN", "🔴 DOWN", "✅ RECOVERED"};
    for (int i = 0; i < 3; i++) {
        json_t *j = json_loads(f->hook->bodies[i], 0, NULL);
        const char *text = json_string_value(json_object_get(j, "text"));
        print_message("request %d: %s\n", i, text);
        assert_non_null(text);
        assert_memory_equal(text, want[i], strlen(want[i]));
        json_decref(j);
    }
}

static void test_gives_up_after_24h(void **state)
{
    fx_t *f = *state;
    static char body[300];
    size_t len = s_hostile_body(body, sizeof body); /* the give-up must be storable too */
    f->hook->script[0] = (reply_t){.status = 503, .body = body, .body_len = len};
    f->hook->n_script = 1;
    s_enqueue(f, "DOWN");
    PQclear(s_sql(f, "UPDATE notifications SET created_at = now() - interval '25 hours'"));
    s_start(f);
    s_wait_settled(f, 1, 10000);
    down_row_t o = s_down_row(f);
    print_message("25 h old row after a 503: status=%s attempts=%d last_error=\"%s\"\n",
                  o.status, o.attempts, o.last_error);
    assert_string_equal(o.status, "dead");
    assert_memory_equal(o.last_error, "HTTP 503: \xEF\xBF\xBD", 13);
    assert_int_equal(s_hook_count(f->hook), 1);
    s_assert_failed(f, "gave_up", 1);
}

static void test_429_pauses_the_destination(void **state)
{
    fx_t *f = *state;
    f->hook->script[0] = (reply_t){.status = 429, .body = "rate_limited", .retry_after = "3"};
    f->hook->n_script = 1;
    s_start(f);
    s_enqueue(f, "DOWN");
    s_kick();
    sd_ms_t t0 = sd_mono_ms();
    while (s_hook_count(f->hook) < 1 && sd_mono_ms() - t0 < 5000)
        usleep(10 * 1000);
    assert_int_equal(s_hook_count(f->hook), 1);
    /* a second row for the same destination, due now, must wait out the pause as well */
    s_enqueue(f, "REMINDER");
    s_kick();
    s_wait_settled(f, 2, 15000);
    assert_int_equal(s_hook_count(f->hook), 3);
    for (int i = 1; i < 3; i++) {
        sd_ms_t gap = f->hook->at[i] - f->hook->at[0];
        print_message("request %d came %lld ms after the 429\n", i, (long long) gap);
        assert_true(gap >= 2900);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_delivered_and_marked_sent, setup, teardown),
        cmocka_unit_test_setup_teardown(test_500_429_200_delivered_once, setup, teardown),
        cmocka_unit_test_setup_teardown(test_429_honours_retry_after, setup, teardown),
        cmocka_unit_test_setup_teardown(test_404_is_dead, setup, teardown),
        cmocka_unit_test_setup_teardown(test_403_not_utf8_dead_once, setup, teardown),
        cmocka_unit_test_setup_teardown(test_no_answer_is_timeout_and_retried, setup, teardown),
        cmocka_unit_test_setup_teardown(test_db_killed_after_answer, setup, teardown),
        cmocka_unit_test_setup_teardown(test_db_killed_while_idle, setup, teardown),
        cmocka_unit_test_setup_teardown(test_slack_200_other_body_is_dead, setup, teardown),
        cmocka_unit_test_setup_teardown(test_teams_200_http_error_429_retried, setup, teardown),
        cmocka_unit_test_setup_teardown(test_recovery_waits_for_down, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unknown_channel_is_dead, setup, teardown),
        cmocka_unit_test_setup_teardown(test_teams_202_is_sent, setup, teardown),
        cmocka_unit_test_setup_teardown(test_429_pauses_the_destination, setup, teardown),
        cmocka_unit_test_setup_teardown(test_gives_up_after_24h, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
