/* channel_email: the request built for every event (envelope, TLS mode, credentials from
 * the password file), the mail's subject and both parts (golden substrings, read back with
 * tests/lib/mail_decode.h), hostile text escaped in HTML and kept out of the headers,
 * bounds, the SMTP reply classification and the start-time check. */
#include <curl/curl.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "channel.h"
#include "mail_decode.h"

typedef struct {
    channel_request_t req;
    char *subject, *plain, *html, *headers;
} sent_t;

static json_t *s_conf(const char *extra)
{
    char text[1024];
    snprintf(text, sizeof text,
             "{\"type\":\"email\",\"smtpUrl\":\"smtp://mail.example.org:587\","
             "\"from\":\"alerts@statusd.example.org\","
             "\"to\":[\"ops@example.org\",\"db@example.net\"]%s}",
             extra ? extra : "");
    json_t *c = json_loads(text, 0, NULL);
    assert_non_null(c);
    return c;
}

/* Prepares ev (JSON text) with conf; fails unless it succeeds. */
static sent_t s_send(const json_t *conf, const char *ev_text, int64_t incident)
{
    sent_t s = {0};
    json_t *ev = json_loads(ev_text, 0, NULL);
    assert_non_null(ev);
    channel_msg_t msg = {.row_id = 42, .incident_id = incident, .now_ms = 1000000000000LL};
    char err[256] = "";
    const channel_ops_t *ops = channel_find("email");
    assert_non_null(ops);
    int rc = channel_prepare(ops, conf, NULL, ev, &msg, &s.req, err, sizeof err);
    if (rc != 0)
        fail_msg("prepare: %s", err);
    json_decref(ev);
    assert_int_equal(s.req.transport, CHANNEL_SMTP);
    assert_int_equal(strlen(s.req.body), s.req.body_len);
    s.subject = test_mail_header(s.req.body, "Subject");
    s.plain = test_mail_part(s.req.body, "text/plain");
    s.html = test_mail_part(s.req.body, "text/html");
    s.headers = test_mail_headers(s.req.body);
    assert_non_null(s.subject);
    assert_non_null(s.plain);
    assert_non_null(s.html);
    test_mail_lines_t l = test_mail_lines(s.req.body, s.req.body_len);
    assert_int_equal(l.bare, 0);
    assert_int_equal(l.dot_lines, 0);
    assert_true(l.max_line <= 78);
    print_message("subject: %s\n", s.subject);
    return s;
}

static void s_free(sent_t *s)
{
    channel_request_clear(&s->req);
    free(s->subject);
    free(s->plain);
    free(s->html);
    free(s->headers);
}

static void s_has(const char *text, const char *want)
{
    if (!strstr(text, want))
        fail_msg("missing \"%s\" in:\n%s", want, text);
}

static void test_down(void **st)
{
    (void) st;
    json_t *conf = s_conf(NULL);
    sent_t s = s_send(conf,
                      "{\"event\":\"DOWN\",\"asset_id\":\"api\",\"asset_name\":\"API\","
                      "\"address\":\"https://api.example.org/health\",\"incident_id\":7,"
                      "\"reason\":\"status 503\",\"summary\":\"2 of 2 locations\","
                      "\"started_at\":\"2026-09-01T12:00:00.000Z\",\"down_locations\":2,"
                      "\"live_locations\":2,\"quorum\":2,\"down_votes\":3,\"live_agents\":4,"
                      "\"agents\":[{\"agent\":\"eu-1\",\"region\":\"eu-west\",\"vote\":\"DOWN\","
                      "\"error\":\"HTTP 503\"}]}",
                      7);
    assert_string_equal(s.req.url, "smtp://mail.example.org:587");
    assert_string_equal(s.req.mail_from, "<alerts@statusd.example.org>");
    assert_string_equal(s.req.rcpt[0], "<ops@example.org>");
    assert_string_equal(s.req.rcpt[1], "<db@example.net>");
    assert_null(s.req.rcpt[2]);
    assert_int_equal(s.req.use_ssl, CURLUSESSL_ALL); /* starttls defaults to required */
    assert_null(s.req.username);
    assert_null(s.req.password);
    assert_string_equal(s.subject, "[DOWN] API: status 503");
    s_has(s.headers, "Message-ID: <statusd-42@statusd.example.org>\r\n");
    s_has(s.headers, "In-Reply-To: <statusd-incident-7@statusd.example.org>\r\n");
    s_has(s.headers, "To: ops@example.org,\r\n db@example.net\r\n");
    s_has(s.plain, "DOWN: API\n");
    s_has(s.plain, "Address: https://api.example.org/health\n");
    s_has(s.plain, "Down since: 2026-09-01T12:00:00.000Z\n");
    s_has(s.plain, "Locations: 2 of 2 down (quorum 2)\n");
    s_has(s.plain, "Agents: 3 of 4 vote DOWN\n");
    s_has(s.plain, "Incident: #7\n");
    s_has(s.plain, "- eu-1 (eu-west): DOWN: HTTP 503\n");
    s_has(s.plain, "StatusD notification 42\n");
    s_has(s.html, "<h2 style=\"color:#C00000\">DOWN: API</h2>");
    s_has(s.html, "<tr><th align=\"left\">What</th><td>status 503</td></tr>");
    s_has(s.html, "<li>eu-1 (eu-west): DOWN: HTTP 503</li>");
    s_free(&s);
    json_decref(conf);
}

/* Every other event: its subject and a golden line of each part. */
static void test_every_event(void **st)
{
    (void) st;
    static const struct {
        const char *ev, *subject, *plain, *html;
        int64_t incident;
    } cases[] = {
        {"{\"event\":\"RECOVERY\",\"asset_id\":\"api\",\"asset_name\":\"API\",\"incident_id\":7,"
         "\"started_at\":\"2026-09-01T12:00:00Z\",\"ended_at\":\"2026-09-01T12:05:00Z\","
         "\"duration_seconds\":300}",
         "[RECOVERED] API: back up after 300 s", "Back up at: 2026-09-01T12:05:00Z\n",
         "<h2 style=\"color:#2E7D32\">RECOVERED: API</h2>", 7},
        {"{\"event\":\"REMINDER\",\"asset_id\":\"api\",\"asset_name\":\"API\",\"incident_id\":7,"
         "\"reason\":\"timeout\"}",
         "[STILL DOWN] API: timeout", "STILL DOWN: API\n", "<td>timeout</td>", 7},
        {"{\"event\":\"ACKNOWLEDGED\",\"asset_id\":\"api\",\"asset_name\":\"API\","
         "\"incident_id\":7,\"acknowledged_at\":\"2026-09-01T12:01:00Z\","
         "\"acknowledged_by\":\"ci-token\"}",
         "[ACKNOWLEDGED] API: acknowledged by ci-token", "Acknowledged by: ci-token\n",
         "<td>2026-09-01T12:01:00Z</td>", 7},
        {"{\"event\":\"FLAPPING\",\"asset_id\":\"api\",\"asset_name\":\"API\",\"state\":\"DOWN\","
         "\"percent_state_change\":42.0,\"at\":\"2026-09-01T12:00:00Z\"}",
         "[FLAPPING] API: state changes too often (42% of recent checks), now DOWN; DOWN and "
         "RECOVERY notifications paused until it settles",
         "State now: DOWN\n", "FLAPPING: API", 0},
        {"{\"event\":\"STABLE\",\"asset_id\":\"api\",\"asset_name\":\"API\",\"state\":\"UP\"}",
         "[STABLE] API: settled UP; notifications resume", "STABLE: API\n", "<td>UP</td>", 0},
        {"{\"event\":\"AGENT_DOWN\",\"agent\":\"eu-1\",\"region\":\"eu-west\",\"version\":\"1.2\","
         "\"silent_since\":\"2026-09-01T12:00:00Z\"}",
         "[AGENT DOWN] eu-1 (eu-west)", "Silent since: 2026-09-01T12:00:00Z\n",
         "AGENT DOWN eu-1 (eu-west): silent since 2026-09-01T12:00:00Z</h2>", 0},
        {"{\"event\":\"AGENT_UP\",\"agent\":\"eu-1\",\"region\":\"eu-west\",\"down_seconds\":42,"
         "\"silent_since\":\"2026-09-01T12:00:00Z\",\"back_at\":\"2026-09-01T12:00:42Z\"}",
         "[AGENT UP] eu-1 (eu-west)", "Silent for: 42 s\n", "<td>2026-09-01T12:00:42Z</td>", 0},
        {"{\"event\":\"TEST\",\"notifier\":\"mail-ops\",\"at\":\"2026-09-01T12:00:00Z\","
         "\"message\":\"StatusD test message\"}",
         "[TEST] StatusD test message (notifier mail-ops)", "Notifier: mail-ops\n",
         "<h2 style=\"color:#1565C0\">StatusD test message</h2>", 0},
    };
    json_t *conf = s_conf(NULL);
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        sent_t s = s_send(conf, cases[i].ev, cases[i].incident);
        assert_string_equal(s.subject, cases[i].subject);
        s_has(s.plain, cases[i].plain);
        s_has(s.html, cases[i].html);
        /* threaded only when the event belongs to an incident */
        assert_int_equal(strstr(s.headers, "References: <statusd-incident-7@") != NULL,
                         cases[i].incident > 0);
        s_free(&s);
    }
    json_decref(conf);
}

/* Hostile text: HTML escaped in the HTML part, shown as written in the text part, never a
 * header; a huge name and 500 agents stay bounded. */
static void test_hostile_and_bounds(void **st)
{
    (void) st;
    json_t *conf = s_conf(NULL);
    sent_t s = s_send(conf,
                      "{\"event\":\"DOWN\",\"asset_id\":\"x\",\"asset_name\":"
                      "\"<script>alert('x')</script>\\r\\nBcc: victim@evil.example\","
                      "\"reason\":\"<img src=x onerror=alert(1)> & \\\"q\\\"\\n.\\n.\","
                      "\"address\":\"http://a/?x=<b>\",\"agents\":[{\"agent\":\"<i>a</i>\","
                      "\"region\":\"r&d\",\"vote\":\"DOWN\",\"error\":\"</li><li>fake\"}]}",
                      1);
    print_message("html:\n%s\n", s.html);
    assert_null(strstr(s.headers, "\nBcc:"));
    assert_null(strstr(s.html, "<script>"));
    assert_null(strstr(s.html, "<img"));
    assert_null(strstr(s.html, "<i>a</i>"));
    assert_null(strstr(s.html, "</li><li>fake"));
    s_has(s.html, "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;  Bcc: victim@evil.example");
    s_has(s.html, "&lt;img src=x onerror=alert(1)&gt; &amp; &quot;q&quot; . .");
    s_has(s.html, "<li>&lt;i&gt;a&lt;/i&gt; (r&amp;d): DOWN: &lt;/li&gt;&lt;li&gt;fake</li>");
    s_has(s.plain, "DOWN: <script>alert('x')</script>  Bcc: victim@evil.example\n");
    s_has(s.subject, "[DOWN] <script>alert('x')</script>  Bcc: victim@evil.example: <img");
    s_free(&s);

    /* a 20 000-byte name and 500 agents */
    json_t *ev = json_pack("{s:s, s:s, s:s, s:o}", "event", "DOWN", "asset_id", "big",
                           "reason", "r", "agents", json_array());
    char *big = malloc(20001);
    memset(big, 'N', 20000);
    big[20000] = 0;
    json_object_set_new(ev, "asset_name", json_string(big));
    for (int i = 0; i < 500; i++)
        json_array_append_new(json_object_get(ev, "agents"),
                              json_pack("{s:s, s:s, s:s}", "agent", big, "region", "r", "vote",
                                        "DOWN"));
    char *text = json_dumps(ev, 0);
    s = s_send(conf, text, 1);
    print_message("20 000-byte name, 500 agents: %zu-byte mail, %zu-byte subject\n",
                  s.req.body_len, strlen(s.subject));
    assert_true(s.req.body_len < 128 * 1024);
    assert_true(strlen(s.subject) <= 200);
    s_has(s.plain, "- and 450 more\n");
    s_has(s.html, "<li>and 450 more</li>");
    s_free(&s);
    free(text);
    free(big);
    json_decref(ev);
    json_decref(conf);
}

static void test_tls_and_credentials(void **st)
{
    (void) st;
    char path[] = "/tmp/statusd-test-pw-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, "s3cret\nsecond line\n", 19), 19);
    close(fd);
    static const struct {
        const char *extra;
        long use_ssl;
    } cases[] = {
        {",\"starttls\":\"required\"", CURLUSESSL_ALL},
        {",\"starttls\":\"opportunistic\"", CURLUSESSL_TRY},
        {",\"starttls\":\"off\"", CURLUSESSL_NONE},
        {",\"smtpUrl\":\"smtps://mail.example.org:465\",\"starttls\":\"off\"", CURLUSESSL_ALL},
    };
    const char *ev = "{\"event\":\"DOWN\",\"asset_id\":\"api\"}";
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        json_t *conf = s_conf(cases[i].extra);
        sent_t s = s_send(conf, ev, 1);
        assert_int_equal(s.req.use_ssl, cases[i].use_ssl);
        s_free(&s);
        json_decref(conf);
    }
    char extra[256];
    snprintf(extra, sizeof extra, ",\"username\":\"alerts\",\"passwordFile\":\"%s\"", path);
    json_t *conf = s_conf(extra);
    sent_t s = s_send(conf, ev, 1);
    assert_string_equal(s.req.username, "alerts");
    assert_string_equal(s.req.password, "s3cret");
    assert_null(strstr(s.req.body, "s3cret"));
    s_free(&s);
    char err[256] = "";
    assert_int_equal(channel_email_ops.check(conf, err, sizeof err), 0);
    json_decref(conf);
    unlink(path);
    /* the file gone: the check says so, and a send is refused (dead, not sent unauthenticated) */
    conf = s_conf(extra);
    assert_int_equal(channel_email_ops.check(conf, err, sizeof err), -EACCES);
    print_message("check: %s\n", err);
    s_has(err, "passwordFile");
    s_has(err, "No such file or directory");
    channel_request_t req;
    json_t *e = json_loads(ev, 0, NULL);
    channel_msg_t msg = {.row_id = 1};
    assert_int_not_equal(channel_prepare(&channel_email_ops, conf, NULL, e, &msg, &req, err,
                                         sizeof err),
                         0);
    assert_null(req.body);
    json_decref(e);
    json_decref(conf);
}

static void test_check(void **st)
{
    (void) st;
    static const struct {
        const char *extra, *want;
    } bad[] = {
        {",\"starttls\":\"maybe\"", "starttls: expected"},
        {",\"username\":\"u\"", "username and passwordFile go together"},
        {",\"passwordFile\":\"/nonexistent\"", "username and passwordFile go together"},
        {",\"from\":\"Alerts <a@b.org>\"", "from: not a plain address"},
        {",\"to\":[\"ok@x.org\",\"a@b\\r\\nBcc: c@d\"]", "to[1]: not a plain address"},
        {",\"to\":[]", "to: expected 1 to 50 addresses"},
        {",\"smtpUrl\":\"http://x\"", "smtpUrl: expected"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        json_t *conf = s_conf(bad[i].extra);
        char err[256] = "";
        assert_int_equal(channel_email_ops.check(conf, err, sizeof err), -EINVAL);
        print_message("%s -> %s\n", bad[i].extra, err);
        s_has(err, bad[i].want);
        json_decref(conf);
    }
    json_t *conf = s_conf(NULL);
    char err[256] = "";
    assert_int_equal(channel_email_ops.check(conf, err, sizeof err), 0);
    json_decref(conf);
}

/* The reply code decides: 2yz sent, 4yz retried, 5yz dead; credentials and a required
 * STARTTLS the server lacks are config errors; connection trouble is retried. */
static void test_classify(void **st)
{
    (void) st;
    static const struct {
        int curl;
        long reply;
        channel_verdict_t v;
        const char *reason;
    } cases[] = {
        {CURLE_SEND_ERROR, 451, CHANNEL_RETRY, "smtp_temporary"},
        {CURLE_SEND_ERROR, 421, CHANNEL_RETRY, "smtp_temporary"},
        {CURLE_WEIRD_SERVER_REPLY, 452, CHANNEL_RETRY, "smtp_temporary"},
        {CURLE_SEND_ERROR, 550, CHANNEL_DEAD, "smtp_rejected"},
        {CURLE_WEIRD_SERVER_REPLY, 554, CHANNEL_DEAD, "smtp_rejected"},
        {CURLE_RECV_ERROR, 552, CHANNEL_DEAD, "smtp_rejected"},
        {CURLE_LOGIN_DENIED, 535, CHANNEL_DEAD, "config_error"},
        {CURLE_LOGIN_DENIED, 454, CHANNEL_RETRY, "smtp_temporary"},
        {CURLE_USE_SSL_FAILED, 250, CHANNEL_DEAD, "config_error"},
        {CURLE_PEER_FAILED_VERIFICATION, 220, CHANNEL_DEAD, "config_error"},
        {CURLE_COULDNT_CONNECT, 0, CHANNEL_RETRY, "network"},
        {CURLE_OPERATION_TIMEDOUT, 354, CHANNEL_RETRY, "timeout"},
        {CURLE_GOT_NOTHING, 250, CHANNEL_RETRY, "network"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        channel_outcome_t o = channel_email_ops.classify_failure(cases[i].curl, cases[i].reply);
        print_message("curl %d reply %ld -> %d %s\n", cases[i].curl, cases[i].reply,
                      (int) o.verdict, o.reason);
        assert_int_equal(o.verdict, cases[i].v);
        assert_string_equal(o.reason, cases[i].reason);
        assert_int_equal(o.retry_after_s, -1);
    }
    channel_outcome_t o = channel_email_ops.classify(250, "", 0, -1);
    assert_int_equal(o.verdict, CHANNEL_SENT);
    o = channel_email_ops.classify(451, "", 0, 30);
    assert_int_equal(o.verdict, CHANNEL_RETRY);
    assert_int_equal(o.retry_after_s, -1); /* SMTP has no Retry-After */
    o = channel_email_ops.classify(550, "", 0, -1);
    assert_int_equal(o.verdict, CHANNEL_DEAD);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_down),
        cmocka_unit_test(test_every_event),
        cmocka_unit_test(test_hostile_and_bounds),
        cmocka_unit_test(test_tls_and_credentials),
        cmocka_unit_test(test_check),
        cmocka_unit_test(test_classify),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
