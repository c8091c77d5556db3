/* channel_email end to end: the real notifier actor delivers outbox rows over SMTP to
 * tests/lib/fake_smtp.py (aiosmtpd, a real SMTP server, scripted per recipient or per
 * message), against a real PostgreSQL. Proves: one DOWN and one RECOVERY each delivered
 * exactly once with AUTH from the password file, both MIME parts present, the subject
 * decoded right, hostile text escaped in HTML and kept out of the headers; a 451 after
 * DATA retried and then delivered once; a 550 to one recipient dead with the server's
 * reply in last_error and never sent again; STARTTLS required of a server without it
 * dead as a config error. */
#include <errno.h>
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
#include "sd_utf8.h"
#include "store.h"
#include "store_outbox.h"
#include "test_pg.h"

#define HOSTILE_NAME "<script>alert('x')</script> Köln ☃\r\nBcc: victim@evil.example"

/* ---- the fake SMTP server ---------------------------------------------------------- */

typedef struct {
    pid_t pid;
    int port;
    char log[128];
} smtp_t;

/* Starts fake_smtp.py with script (JSON rules) and, when user is set, AUTH required. */
static void s_smtp_start(smtp_t *s, const char *script, const char *user, const char *pw)
{
    const char *src = getenv("STATUSD_SOURCE_DIR");
    assert_non_null(src);
    char prog[1024];
    snprintf(prog, sizeof prog, "%s/tests/lib/fake_smtp.py", src);
    snprintf(s->log, sizeof s->log, "/tmp/statusd-fake-smtp-%d.jsonl", (int) getpid());
    unlink(s->log);
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    s->pid = fork();
    assert_true(s->pid >= 0);
    if (s->pid == 0) {
        dup2(fds[1], 1);
        close(fds[0]);
        close(fds[1]);
        if (user)
            execl("/usr/bin/python3", "python3", prog, "--log", s->log, "--script", script,
                  "--user", user, "--password", pw, (char *) NULL);
        else
            execl("/usr/bin/python3", "python3", prog, "--log", s->log, "--script", script,
                  (char *) NULL);
        _exit(127);
    }
    close(fds[1]);
    FILE *f = fdopen(fds[0], "r");
    char line[64] = "";
    if (!fgets(line, sizeof line, f))
        fail_msg("fake_smtp.py did not start (is python3-aiosmtpd installed?)");
    fclose(f);
    s->port = atoi(line);
    assert_true(s->port > 0);
}

static void s_smtp_stop(smtp_t *s)
{
    if (s->pid > 0) {
        kill(s->pid, SIGTERM);
        waitpid(s->pid, NULL, 0);
    }
    unlink(s->log);
    s->pid = 0;
}

/* The records of the log whose stage is stage (NULL: all), accepted only if accepted. */
static json_t *s_records(const smtp_t *s, const char *stage, bool accepted)
{
    json_t *out = json_array();
    FILE *f = fopen(s->log, "r");
    char *line = NULL;
    size_t cap = 0;
    while (f && getline(&line, &cap, f) > 0) {
        json_t *r = json_loads(line, 0, NULL);
        if (!r)
            continue; /* a line being written */
        const char *st = json_string_value(json_object_get(r, "stage"));
        if ((!stage || (st && strcmp(st, stage) == 0)) &&
            (!accepted || json_is_true(json_object_get(r, "accepted"))))
            json_array_append(out, r);
        json_decref(r);
    }
    free(line);
    if (f)
        fclose(f);
    return out;
}

static size_t s_accepted(const smtp_t *s)
{
    json_t *a = s_records(s, "data", true);
    size_t n = json_array_size(a);
    json_decref(a);
    return n;
}

/* ---- fixture ----------------------------------------------------------------------- */

typedef struct {
    char *conninfo;
    PGconn *db;
    smtp_t smtp;
    char pwfile[64];
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
    f->conninfo = test_pg_fresh_db("email");
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
    snprintf(f->pwfile, sizeof f->pwfile, "/tmp/statusd-email-pw-%d", (int) getpid());
    FILE *pw = fopen(f->pwfile, "w");
    assert_non_null(pw);
    fputs("pw-from-file\n", pw);
    fclose(pw);
    f->metrics = metrics_new();
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fx_t *f = *state;
    zactor_destroy(&f->notifier);
    s_smtp_stop(&f->smtp);
    json_decref(f->nc[0].raw);
    free(f->nc[0].webhook_url);
    metrics_destroy(&f->metrics);
    unlink(f->pwfile);
    PQfinish(f->db);
    free(f->conninfo);
    free(f);
    return 0;
}

/* Starts the fake (script) and the notifier with one email notifier "mail-ops" pointing at
 * it; starttls: the notifier's field. With auth, AUTH is required and the password comes
 * from the password file. */
static void s_start(fx_t *f, const char *script, const char *starttls, bool auth)
{
    s_smtp_start(&f->smtp, script, auth ? "alerts" : NULL, "pw-from-file");
    char url[64];
    snprintf(url, sizeof url, "smtp://127.0.0.1:%d", f->smtp.port);
    json_t *raw = json_pack("{s:s, s:s, s:s, s:[s, s], s:s}", "type", "email", "smtpUrl", url,
                            "from", "alerts@statusd.example.org", "to", "ops@example.org",
                            "bob@example.net", "starttls", starttls);
    if (auth) {
        json_object_set_new(raw, "username", json_string("alerts"));
        json_object_set_new(raw, "passwordFile", json_string(f->pwfile));
    }
    f->nc[0] = (sd_notifier_conf_t){.name = "mail-ops", .type = "email",
                                    .webhook_url = strdup(url), .raw = raw};
    f->notifiers = (sd_notifiers_t){.notifiers = f->nc, .n_notifiers = 1};
    f->ctx = (collector_ctx_t){.notifiers = &f->notifiers, .db_conninfo = f->conninfo,
                               .metrics = f->metrics};
    char err[256] = "";
    if (channel_check_all(&f->notifiers, err, sizeof err) != 0)
        fail_msg("check: %s", err);
    notifier_opts_t opts = {.lease_s = 3, .timeout_ms = 2000};
    f->notifier = notifier_new_opts(&f->ctx, &opts);
    assert_non_null(f->notifier);
}

static void s_enqueue(fx_t *f, const char *event)
{
    char err[256] = "";
    store_t *s = store_new(f->conninfo, err, sizeof err);
    assert_non_null(s);
    json_t *p = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:i, s:i}", "event", event,
                          "asset_id", "api", "asset_name", HOSTILE_NAME, "address",
                          "https://api.example.org/<b>", "reason", "status 503 <i>&</i>",
                          "started_at", "2026-09-01T12:00:00.000Z", "incident_id", 1,
                          "duration_seconds", 300);
    char *payload = json_dumps(p, JSON_COMPACT);
    assert_int_equal(store_outbox_enqueue(s, 1, "api", event, "mail-ops", payload, err,
                                          sizeof err),
                     0);
    free(payload);
    json_decref(p);
    store_destroy(&s);
    zsock_t *push = zsock_new_push(">" BUS_NOTIFY);
    zstr_send(push, "KICK");
    zsock_destroy(&push);
}

/* Waits (deadline) until n rows exist and none is pending; returns ms. */
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
    char status[32];
    int attempts;
    char last_error[1024];
} row_t;

static row_t s_row(fx_t *f, const char *event)
{
    const char *params[1] = {event};
    PGresult *r = PQexecParams(f->db,
                               "SELECT status, attempts, COALESCE(last_error, '')"
                               " FROM notifications WHERE event = $1",
                               1, NULL, params, NULL, NULL, 0);
    assert_int_equal(PQresultStatus(r), PGRES_TUPLES_OK);
    assert_int_equal(PQntuples(r), 1);
    row_t o;
    snprintf(o.status, sizeof o.status, "%s", PQgetvalue(r, 0, 0));
    o.attempts = atoi(PQgetvalue(r, 0, 1));
    snprintf(o.last_error, sizeof o.last_error, "%s", PQgetvalue(r, 0, 2));
    PQclear(r);
    print_message("%s: status=%s attempts=%d last_error=\"%s\"\n", event, o.status, o.attempts,
                  o.last_error);
    return o;
}

/* Watches the fake for ms (beyond a lease) and fails at once if a DATA is accepted beyond n. */
static void s_no_more_mail(fx_t *f, size_t n, int ms)
{
    sd_ms_t t0 = sd_mono_ms();
    while (sd_mono_ms() - t0 < ms) {
        size_t got = s_accepted(&f->smtp);
        if (got > n)
            fail_msg("mail %zu accepted %lld ms into the watch (expected %zu)", got,
                     (long long) (sd_mono_ms() - t0), n);
        usleep(50 * 1000);
    }
    print_message("no mail beyond %zu during %d ms\n", n, ms);
}

static const char *s_str(const json_t *rec, const char *key)
{
    const char *v = json_string_value(json_object_get(rec, key));
    return v ? v : "";
}

/* ---- tests ------------------------------------------------------------------------- */

static void test_down_and_recovery_once(void **state)
{
    fx_t *f = *state;
    s_start(f, "[]", "off", true);
    s_enqueue(f, "DOWN");
    sd_ms_t took = s_wait_settled(f, 1, 15000);
    print_message("DOWN settled in %lld ms\n", (long long) took);
    s_enqueue(f, "RECOVERY");
    took = s_wait_settled(f, 2, 15000);
    print_message("RECOVERY settled in %lld ms\n", (long long) took);
    assert_string_equal(s_row(f, "DOWN").status, "sent");
    assert_string_equal(s_row(f, "RECOVERY").status, "sent");
    s_no_more_mail(f, 2, 4000); /* more than a lease (3 s): nothing sent twice */
    json_t *mails = s_records(&f->smtp, "data", true);
    assert_int_equal(json_array_size(mails), 2);
    const char *want_subject[2] = {"[DOWN] <script>alert('x')</script> Köln ☃  Bcc: "
                                   "victim@evil.example: status 503 <i>&</i>",
                                   "[RECOVERED] <script>alert('x')</script> Köln ☃  Bcc: "
                                   "victim@evil.example: back up after 300 s"};
    const char *want_id[2] = {"<statusd-1@statusd.example.org>",
                              "<statusd-2@statusd.example.org>"};
    for (size_t i = 0; i < 2; i++) {
        json_t *m = json_array_get(mails, i);
        const char *plain = s_str(m, "plain"), *html = s_str(m, "html");
        print_message("mail %zu: subject \"%s\" id %s login %s to %s max_line %lld "
                      "defects %zu\n",
                      i, s_str(m, "subject"), s_str(m, "message_id"), s_str(m, "login"),
                      s_str(m, "to"),
                      (long long) json_integer_value(json_object_get(m, "max_line")),
                      json_array_size(json_object_get(m, "defects")));
        printf("--- plain ---\n%s--- html ---\n%s", plain, html);
        fflush(stdout);
        assert_string_equal(s_str(m, "subject"), want_subject[i]);
        assert_string_equal(s_str(m, "message_id"), want_id[i]);
        assert_string_equal(s_str(m, "in_reply_to"), "<statusd-incident-1@statusd.example.org>");
        assert_string_equal(s_str(m, "login"), "alerts"); /* AUTH with the file's password */
        assert_string_equal(s_str(m, "mail_from"), "alerts@statusd.example.org");
        json_t *rcpt = json_object_get(m, "rcpt_tos");
        assert_int_equal(json_array_size(rcpt), 2);
        assert_string_equal(json_string_value(json_array_get(rcpt, 1)), "bob@example.net");
        assert_string_equal(s_str(m, "content_type"), "multipart/alternative");
        assert_int_equal(json_array_size(json_object_get(m, "defects")), 0);
        assert_int_equal(json_integer_value(json_object_get(m, "bare_lf")), 0);
        assert_true(json_integer_value(json_object_get(m, "max_line")) <= 78);
        /* no header from the hostile name */
        json_t *names = json_object_get(m, "header_names");
        for (size_t k = 0; k < json_array_size(names); k++)
            assert_string_not_equal(json_string_value(json_array_get(names, k)), "Bcc");
        /* both parts; the text as written in plain, escaped in HTML */
        assert_non_null(strstr(plain, "<script>alert('x')</script> Köln ☃"));
        assert_non_null(strstr(html, "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; Köln ☃"));
        assert_null(strstr(html, "<script>"));
        assert_null(strstr(html, "<i>&</i>"));
        assert_null(strstr(html, "<b>"));
    }
    assert_non_null(strstr(s_str(json_array_get(mails, 0), "html"), "&lt;i&gt;&amp;&lt;/i&gt;"));
    json_decref(mails);
}

/* 451 to the end of DATA (the message as a whole): retried, then delivered once. */
static void test_451_retried_then_once(void **state)
{
    fx_t *f = *state;
    s_start(f, "[{\"stage\":\"data\",\"reply\":\"451 4.3.0 greylisted, try again later\","
               "\"times\":1}]",
            "off", false);
    s_enqueue(f, "DOWN");
    sd_ms_t took = s_wait_settled(f, 1, 20000);
    row_t o = s_row(f, "DOWN");
    print_message("settled in %lld ms\n", (long long) took);
    assert_string_equal(o.status, "sent");
    assert_int_equal(o.attempts, 2);
    s_no_more_mail(f, 1, 4000);
    json_t *datas = s_records(&f->smtp, "data", false);
    assert_int_equal(json_array_size(datas), 2);
    json_t *a = json_array_get(datas, 0), *b = json_array_get(datas, 1);
    double gap = json_real_value(json_object_get(b, "t")) -
                 json_real_value(json_object_get(a, "t"));
    print_message("DATA answers: \"%s\" then \"%s\", %.0f ms apart\n", s_str(a, "reply"),
                  s_str(b, "reply"), gap * 1000);
    assert_memory_equal(s_str(a, "reply"), "451", 3);
    assert_true(gap >= 0.9); /* the backoff's floor of 1 s */
    assert_int_equal(s_accepted(&f->smtp), 1);
    /* the resend carries the same Message-ID */
    json_t *acc = s_records(&f->smtp, "data", true);
    assert_string_equal(s_str(json_array_get(acc, 0), "message_id"),
                        "<statusd-1@statusd.example.org>");
    json_decref(acc);
    json_decref(datas);
    char *m = metrics_render(f->metrics);
    assert_non_null(strstr(m, "statusd_notifications_failed_total{channel=\"mail-ops\","
                              "reason=\"smtp_temporary\"} 1"));
    free(m);
}

/* 550 to one recipient: dead at once with the server's words, never sent again. */
static void test_550_dead_with_reply(void **state)
{
    fx_t *f = *state;
    s_start(f, "[{\"stage\":\"rcpt\",\"match\":\"bob@\",\"reply\":\"550 5.1.1 <bob@example.net>:"
               " Recipient address rejected: User unknown\",\"times\":-1}]",
            "off", false);
    s_enqueue(f, "DOWN");
    s_wait_settled(f, 1, 15000);
    row_t o = s_row(f, "DOWN");
    assert_string_equal(o.status, "dead");
    assert_int_equal(o.attempts, 1);
    assert_non_null(strstr(o.last_error, "550"));
    assert_non_null(strstr(o.last_error, "Recipient address rejected: User unknown"));
    s_no_more_mail(f, 0, 4000);
    json_t *rcpts = s_records(&f->smtp, "rcpt", false);
    print_message("RCPT answers: %zu\n", json_array_size(rcpts));
    assert_int_equal(json_array_size(rcpts), 2); /* one attempt: ops accepted, bob refused */
    json_decref(rcpts);
    char *m = metrics_render(f->metrics);
    assert_non_null(strstr(m, "statusd_notifications_failed_total{channel=\"mail-ops\","
                              "reason=\"smtp_rejected\"} 1"));
    free(m);
}

/* starttls "required" and a server that offers no STARTTLS: nothing goes out in clear. */
static void test_starttls_required_not_offered(void **state)
{
    fx_t *f = *state;
    s_start(f, "[]", "required", false);
    s_enqueue(f, "DOWN");
    s_wait_settled(f, 1, 15000);
    row_t o = s_row(f, "DOWN");
    assert_string_equal(o.status, "dead");
    assert_non_null(strstr(o.last_error, "SSL"));
    json_t *all = s_records(&f->smtp, NULL, false);
    assert_int_equal(json_array_size(all), 0); /* not even MAIL FROM */
    json_decref(all);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_down_and_recovery_once, setup, teardown),
        cmocka_unit_test_setup_teardown(test_451_retried_then_once, setup, teardown),
        cmocka_unit_test_setup_teardown(test_550_dead_with_reply, setup, teardown),
        cmocka_unit_test_setup_teardown(test_starttls_required_not_offered, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
