/* The notifier actor delivering to Discord, Telegram and ntfy through the real outbox (a
 * private PostgreSQL database) to fake receivers that speak each service's protocol
 * (tests/lib/fake_discord.py, fake_telegram.py, fake_ntfy.py): per channel, one DOWN and
 * one RECOVERY delivered exactly once and in order; the service's rate-limit answer (Discord
 * 429 with retry_after 1.5 s, Telegram 429 with parameters.retry_after 2, ntfy 429 without
 * Retry-After) and a 5xx retried, the wait honoured, delivered once; a permanent answer
 * (Discord 404 code 10015, Telegram 403 blocked, ntfy 401) ends the row dead with its
 * answer in last_error (never the bot token); Telegram's chat migration resent to the new
 * chat id. */
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
#include "channel.h"
#include "notifier.h"
#include "sd_clock.h"
#include "sd_config.h"
#include "store.h"
#include "store_outbox.h"
#include "test_pg.h"
#include "fake_service.h"

#define TOKEN "777:fake-Bot_token"

typedef struct {
    char *conninfo;
    PGconn *db;
    test_fake_t *fake;
    sd_notifiers_t *notifiers;
    metrics_t *metrics;
    collector_ctx_t ctx;
    zactor_t *notifier;
    char dir[64], token_file[96];
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
    f->conninfo = test_pg_fresh_db("notifier_chat");
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
    snprintf(f->dir, sizeof f->dir, "/tmp/sd-chat-XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    snprintf(f->token_file, sizeof f->token_file, "%s/token", f->dir);
    FILE *t = fopen(f->token_file, "w");
    fputs(TOKEN "\n", t);
    fclose(t);
    f->metrics = metrics_new();
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fx_t *f = *state;
    zactor_destroy(&f->notifier);
    test_fake_stop(&f->fake);
    sd_notifiers_destroy(&f->notifiers);
    metrics_destroy(&f->metrics);
    PQfinish(f->db);
    unlink(f->token_file);
    rmdir(f->dir);
    free(f->conninfo);
    free(f);
    return 0;
}

/* Starts the fake for type and a notifier "chat" of that type pointing at it. */
static void s_start(fx_t *f, const char *type)
{
    char script[64], conf[1024], err[512] = "";
    snprintf(script, sizeof script, "fake_%s.py", type);
    f->fake = test_fake_start(script, strcmp(type, "ntfy") == 0 ? "tk_ntfy" : TOKEN);
    assert_non_null(f->fake);
    int port = f->fake->port;
    if (strcmp(type, "discord") == 0)
        snprintf(conf, sizeof conf,
                 "{\"type\":\"discord\",\"webhookUrl\":\"http://127.0.0.1:%d/api/webhooks/1/tok\"}",
                 port);
    else if (strcmp(type, "telegram") == 0)
        snprintf(conf, sizeof conf,
                 "{\"type\":\"telegram\",\"botTokenFile\":\"%s\",\"chatId\":-42,"
                 "\"apiUrl\":\"http://127.0.0.1:%d\"}",
                 f->token_file, port);
    else {
        FILE *t = fopen(f->token_file, "w");
        fputs("tk_ntfy\n", t);
        fclose(t);
        snprintf(conf, sizeof conf,
                 "{\"type\":\"ntfy\",\"url\":\"http://127.0.0.1:%d/alerts\",\"tokenFile\":\"%s\","
                 "\"priority\":\"high\"}",
                 port, f->token_file);
    }
    char json[1200];
    snprintf(json, sizeof json, "{\"notifiers\":{\"chat\":%s}}", conf);
    if (sd_notifiers_parse("notifiers.json", json, &f->notifiers, err, sizeof err) != 0)
        fail_msg("notifiers: %s", err);
    assert_int_equal(channel_check_all(f->notifiers, err, sizeof err), 0);
    f->ctx = (collector_ctx_t){.notifiers = f->notifiers, .db_conninfo = f->conninfo,
                               .metrics = f->metrics};
    notifier_opts_t opts = {.lease_s = 1, .timeout_ms = 1000};
    f->notifier = notifier_new_opts(&f->ctx, &opts);
    assert_non_null(f->notifier);
}

static void s_enqueue(fx_t *f, const char *event)
{
    char err[256] = "", payload[512];
    store_t *s = store_new(f->conninfo, err, sizeof err);
    assert_non_null(s);
    snprintf(payload, sizeof payload,
             "{\"event\":\"%s\",\"asset_id\":\"api\",\"asset_name\":\"API <prod>\","
             "\"address\":\"http://x\",\"incident_id\":1,\"reason\":\"status 503\","
             "\"started_at\":\"2026-09-01T12:00:00.000Z\",\"ended_at\":\"2026-09-01T12:02:00Z\","
             "\"duration_seconds\":120,\"down_votes\":2,\"live_agents\":2,\"agents\":[]}",
             event);
    assert_int_equal(store_outbox_enqueue(s, 1, "api", event, "chat", payload, err, sizeof err),
                     0);
    store_destroy(&s);
    zsock_t *push = zsock_new_push(">" BUS_NOTIFY);
    zstr_send(push, "KICK");
    zsock_destroy(&push);
}

/* Waits (deadline) until all n rows are sent or dead; returns ms. */
static sd_ms_t s_wait_settled(fx_t *f, int n, int deadline_ms)
{
    sd_ms_t t0 = sd_mono_ms();
    while (sd_mono_ms() - t0 < deadline_ms) {
        PGresult *r = s_sql(f, "SELECT count(*) FILTER (WHERE status <> 'pending'), count(*)"
                               " FROM notifications");
        int done = atoi(PQgetvalue(r, 0, 0)), all = atoi(PQgetvalue(r, 0, 1));
        PQclear(r);
        if (done == n && all == n)
            return sd_mono_ms() - t0;
        usleep(50 * 1000);
    }
    fail_msg("outbox not settled within %d ms", deadline_ms);
    return -1;
}

typedef struct {
    char status[16];
    int attempts;
    char last_error[1024];
} row_t;

static row_t s_row(fx_t *f, const char *event)
{
    row_t o;
    char sql[256];
    snprintf(sql, sizeof sql,
             "SELECT status, attempts, COALESCE(last_error, '') FROM notifications"
             " WHERE event = '%s'", event);
    PGresult *r = s_sql(f, sql);
    assert_int_equal(PQntuples(r), 1);
    snprintf(o.status, sizeof o.status, "%s", PQgetvalue(r, 0, 0));
    o.attempts = atoi(PQgetvalue(r, 0, 1));
    snprintf(o.last_error, sizeof o.last_error, "%s", PQgetvalue(r, 0, 2));
    PQclear(r);
    print_message("%s: status=%s attempts=%d last_error=\"%s\"\n", event, o.status, o.attempts,
                  o.last_error);
    return o;
}

/* The requests the fake got: their count, each one's status, time and body in out. */
typedef struct {
    int n;
    int status[16];
    double t[16];
    char body[16][4096];
} seen_t;

static void s_seen(fx_t *f, seen_t *out)
{
    json_t *holder = NULL;
    json_t *reqs = test_fake_requests(f->fake, &holder);
    assert_non_null(reqs);
    memset(out, 0, sizeof *out);
    size_t i;
    json_t *r;
    json_array_foreach(reqs, i, r) {
        if (i >= 16)
            break;
        out->status[i] = (int) json_integer_value(json_object_get(r, "status"));
        out->t[i] = json_number_value(json_object_get(r, "t"));
        snprintf(out->body[i], sizeof out->body[i], "%s",
                 json_string_value(json_object_get(r, "body")));
        out->n++;
    }
    json_decref(holder);
}

/* No request beyond n while ms pass (2500 ms: two leases at 1 s and a poll). */
static void s_no_more(fx_t *f, int n, int ms)
{
    sd_ms_t t0 = sd_mono_ms();
    seen_t s;
    while (sd_mono_ms() - t0 < ms) {
        s_seen(f, &s);
        if (s.n > n)
            fail_msg("request %d came %lld ms into the watch", s.n,
                     (long long) (sd_mono_ms() - t0));
        usleep(100 * 1000);
    }
    print_message("no request beyond %d during %d ms\n", n, ms);
}

static void s_fail(fx_t *f, const char *json)
{
    json_t *a = test_fake_cmd(f->fake, json);
    assert_non_null(a);
    json_decref(a);
}

/* ---- per channel -------------------------------------------------------------------- */

static void s_down_recovery_once(fx_t *f, const char *type, const char *down_text,
                                 const char *rec_text)
{
    s_start(f, type);
    s_enqueue(f, "DOWN");
    s_enqueue(f, "RECOVERY");
    sd_ms_t took = s_wait_settled(f, 2, 15000);
    assert_string_equal(s_row(f, "DOWN").status, "sent");
    assert_string_equal(s_row(f, "RECOVERY").status, "sent");
    seen_t s;
    s_seen(f, &s);
    print_message("%s: 2 rows settled in %lld ms, %d requests: %d %d\n%s\n%s\n", type,
                  (long long) took, s.n, s.status[0], s.status[1], s.body[0], s.body[1]);
    assert_int_equal(s.n, 2);
    assert_int_equal(s.status[0], 200);
    assert_int_equal(s.status[1], 200);
    assert_non_null(strstr(s.body[0], down_text));  /* DOWN first */
    assert_non_null(strstr(s.body[1], rec_text));
    s_no_more(f, 2, 2500);
}

static void test_discord_down_recovery_once(void **st)
{
    s_down_recovery_once(*st, "discord", "🔴 DOWN API \\\\<prod\\\\>", "✅ RECOVERED API");
}

static void test_telegram_down_recovery_once(void **st)
{
    s_down_recovery_once(*st, "telegram", "<b>🔴 DOWN API &lt;prod&gt;</b>", "✅ RECOVERED API");
}

static void test_ntfy_down_recovery_once(void **st)
{
    s_down_recovery_once(*st, "ntfy", "status 503\nSince:", "back up after 120 s");
}

/* The service's rate-limit answer, then a 5xx, then delivered: gaps measured. */
static void s_throttled(fx_t *f, const char *type, const char *rate_cmd, double min_wait_s)
{
    s_start(f, type);
    s_fail(f, rate_cmd);
    s_fail(f, "{\"cmd\":\"fail\",\"kind\":\"server_error\"}");
    s_enqueue(f, "DOWN");
    sd_ms_t took = s_wait_settled(f, 1, 30000);
    row_t r = s_row(f, "DOWN");
    seen_t s;
    s_seen(f, &s);
    print_message("%s: settled in %lld ms; answers %d, %d, %d; 429 -> next after %.2f s "
                  "(hint %.1f s), 5xx -> next after %.2f s\n",
                  type, (long long) took, s.status[0], s.status[1], s.status[2],
                  s.t[1] - s.t[0], min_wait_s, s.t[2] - s.t[1]);
    assert_string_equal(r.status, "sent");
    assert_int_equal(r.attempts, 3);
    assert_int_equal(s.n, 3);
    assert_int_equal(s.status[0], 429);
    assert_true(s.status[1] >= 500);
    assert_int_equal(s.status[2], 200);
    assert_true(s.t[1] - s.t[0] >= min_wait_s - 0.1);
    assert_true(s.t[2] - s.t[1] >= 0.9); /* the backoff floor */
    s_no_more(f, 3, 2500);
}

static void test_discord_throttled(void **st)
{
    /* retry_after 1.5 s (Retry-After: 2): the wait is the rounded-up 2 s */
    s_throttled(*st, "discord", "{\"cmd\":\"fail\",\"kind\":\"rate_limited\",\"retry_after\":1.5}",
                2.0);
}

static void test_telegram_throttled(void **st)
{
    s_throttled(*st, "telegram", "{\"cmd\":\"fail\",\"kind\":\"rate_limited\",\"retry_after\":2}",
                2.0);
}

static void test_ntfy_throttled(void **st)
{
    /* no Retry-After from ntfy: the channel waits its refill interval, 5 s */
    s_throttled(*st, "ntfy", "{\"cmd\":\"fail\",\"kind\":\"rate_limited\"}", 5.0);
}

static void s_dead(fx_t *f, const char *type, const char *cmd, const char *want_error)
{
    s_start(f, type);
    s_fail(f, cmd);
    s_enqueue(f, "DOWN");
    s_wait_settled(f, 1, 15000);
    row_t r = s_row(f, "DOWN");
    assert_string_equal(r.status, "dead");
    assert_int_equal(r.attempts, 1);
    assert_non_null(strstr(r.last_error, want_error));
    assert_null(strstr(r.last_error, TOKEN));
    s_no_more(f, 1, 2500);
}

static void test_discord_unknown_webhook_dead(void **st)
{
    s_dead(*st, "discord", "{\"cmd\":\"fail\",\"kind\":\"unknown_webhook\"}",
           "HTTP 404: {\"message\": \"Unknown Webhook\", \"code\": 10015}");
}

static void test_telegram_blocked_dead(void **st)
{
    s_dead(*st, "telegram", "{\"cmd\":\"fail\",\"kind\":\"blocked\"}",
           "HTTP 403: {\"ok\": false, \"error_code\": 403, \"description\": \"Forbidden: bot was "
           "blocked by the user\"}");
}

static void test_ntfy_unauthorized_dead(void **st)
{
    s_dead(*st, "ntfy", "{\"cmd\":\"fail\",\"kind\":\"unauthorized\"}",
           "HTTP 401: {\"code\": 40101, \"http\": 401, \"error\": \"unauthorized\"");
}

/* The group became a supergroup: the 400 names the new id, the message goes there next,
 * and so do later ones. */
static void test_telegram_chat_migrated(void **st)
{
    fx_t *f = *st;
    s_start(f, "telegram");
    s_fail(f, "{\"cmd\":\"fail\",\"kind\":\"migrate\",\"to\":-100777}");
    s_enqueue(f, "DOWN");
    s_wait_settled(f, 1, 15000);
    row_t r = s_row(f, "DOWN");
    s_enqueue(f, "RECOVERY");
    s_wait_settled(f, 2, 15000);
    seen_t s;
    s_seen(f, &s);
    for (int i = 0; i < s.n; i++)
        print_message("request %d: %d %.80s\n", i, s.status[i], s.body[i]);
    assert_string_equal(r.status, "sent");
    assert_int_equal(r.attempts, 2);
    assert_int_equal(s.n, 3);
    assert_int_equal(s.status[0], 400);
    assert_non_null(strstr(s.body[0], "\"chat_id\":-42"));
    assert_int_equal(s.status[1], 200);
    assert_non_null(strstr(s.body[1], "\"chat_id\":-100777"));
    assert_non_null(strstr(s.body[2], "\"chat_id\":-100777"));
    assert_string_equal(s_row(f, "RECOVERY").status, "sent");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_discord_down_recovery_once, setup, teardown),
        cmocka_unit_test_setup_teardown(test_telegram_down_recovery_once, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ntfy_down_recovery_once, setup, teardown),
        cmocka_unit_test_setup_teardown(test_discord_throttled, setup, teardown),
        cmocka_unit_test_setup_teardown(test_telegram_throttled, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ntfy_throttled, setup, teardown),
        cmocka_unit_test_setup_teardown(test_discord_unknown_webhook_dead, setup, teardown),
        cmocka_unit_test_setup_teardown(test_telegram_blocked_dead, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ntfy_unauthorized_dead, setup, teardown),
        cmocka_unit_test_setup_teardown(test_telegram_chat_migrated, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
