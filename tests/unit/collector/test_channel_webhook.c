/* channel_webhook: the Standard Webhooks signature against the specification's reference
 * vector, the signed request (webhook-id stable per row, timestamp of the attempt, extra
 * headers), the versioned body of every event, hostile and long text bounded (< 20 KB), the
 * start-time check (headers that would override ours, bad secrets), and the
 * classification. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "channel.h"
#include "channel_webhook.h"
#include "test_tmpdir.h"

#define STR(j, k) json_string_value(json_object_get((j), (k)))
#define SECRET "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"

typedef struct {
    char dir[64], secret_path[128];
} fx_t;

static void s_write(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static int setup(void **state)
{
    fx_t *f = calloc(1, sizeof *f);
    snprintf(f->dir, sizeof f->dir, "/tmp/test_webhook_XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    snprintf(f->secret_path, sizeof f->secret_path, "%s/secret", f->dir);
    s_write(f->secret_path, SECRET "\n");
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fx_t *f = *state;
    test_tmpdir_remove(f->dir);
    free(f);
    return 0;
}

static json_t *s_event(const char *kind)
{
    return json_pack("{s:s, s:s, s:s, s:s, s:I, s:s, s:s, s:i, s:i, s:i, s:i, s:i, s:i,"
                     " s:[{s:s, s:s, s:s, s:s}]}",
                     "event", kind, "asset_id", "api-prod", "asset_name", "API prod", "address",
                     "https://api.example.com", "incident_id", (json_int_t) 7, "started_at",
                     "2026-09-01T12:01:00.000Z", "reason", "status 503 not in [200]",
                     "down_votes", 2, "live_agents", 3, "down_locations", 2, "live_locations",
                     2, "locations", 3, "quorum", 2, "agents", "agent", "a1", "region", "eu",
                     "vote", "DOWN", "error", "status 503");
}

static const channel_msg_t s_msg = {.row_id = 42, .incident_id = 7, .now_ms = 1764000000123};

static int s_try(const json_t *conf, const json_t *ev, channel_request_t *req, char *err,
                 size_t errlen)
{
    return channel_prepare(&channel_webhook_ops, conf, STR(conf, "url"), ev, &s_msg, req, err,
                           errlen);
}

static json_t *s_body(const json_t *ev)
{
    json_t *conf = json_pack("{s:s, s:s}", "type", "webhook", "url", "http://r/hook");
    channel_request_t req;
    char err[256] = "";
    if (s_try(conf, ev, &req, err, sizeof err) != 0)
        fail_msg("prepare: %s", err);
    json_t *j = json_loads(req.body, 0, NULL);
    assert_non_null(j);
    channel_request_clear(&req);
    json_decref(conf);
    return j;
}

/* The value of header name in req, or NULL. */
static const char *s_header(const channel_request_t *req, const char *name)
{
    size_t n = strlen(name);
    for (size_t i = 0; req->headers[i]; i++)
        if (strncmp(req->headers[i], name, n) == 0 && req->headers[i][n] == ':')
            return req->headers[i] + n + 2;
    return NULL;
}

static void test_signature_reference_vectors(void **st)
{
    char sig[64];
    /* the Standard Webhooks specification's example */
    const char *body = "{\"test\": 2432232314}";
    assert_int_equal(channel_webhook_sign(SECRET, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330,
                                          body, strlen(body), sig, sizeof sig),
                     0);
    assert_string_equal(sig, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
    /* a secret without whsec_ is used as its bytes (python3 hmac/hashlib/base64) */
    assert_int_equal(channel_webhook_sign("plain-secret", "msg_1", 1700000000, "{}", 2, sig,
                                          sizeof sig),
                     0);
    assert_string_equal(sig, "v1,p6NQsMzLWth/nlsTq5oslSVPNvyHmbQZrni4qovDPj4=");
    const char *bad[] = {"whsec_", "whsec_abc", "whsec_ab=c", "whsec_a b=", "whsec_****"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        assert_int_equal(channel_webhook_sign(bad[i], "m", 1, "", 0, sig, sizeof sig), -EINVAL);
}

static void test_signed_request(void **state)
{
    fx_t *f = *state;
    json_t *conf = json_pack("{s:s, s:s, s:s, s:{s:s, s:s}}", "type", "webhook", "url",
                             "https://receiver.example/hook", "secretFile", f->secret_path,
                             "headers", "X-Team", "sre", "Authorization", "Bearer t0k");
    char err[256] = "";
    assert_int_equal(channel_webhook_ops.check(conf, err, sizeof err), 0);
    json_t *ev = s_event("DOWN");
    channel_request_t req;
    assert_int_equal(s_try(conf, ev, &req, err, sizeof err), 0);
    assert_string_equal(req.url, "https://receiver.example/hook");
    assert_string_equal(s_header(&req, "Content-Type"), "application/json");
    assert_string_equal(s_header(&req, "webhook-id"), "msg_42");
    assert_string_equal(s_header(&req, "webhook-timestamp"), "1764000000");
    assert_string_equal(s_header(&req, "X-Team"), "sre");
    assert_string_equal(s_header(&req, "Authorization"), "Bearer t0k");
    char sig[64];
    assert_int_equal(channel_webhook_sign(SECRET, "msg_42", 1764000000, req.body,
                                          strlen(req.body), sig, sizeof sig),
                     0);
    assert_string_equal(s_header(&req, "webhook-signature"), sig);
    print_message("signed: %s\n", sig);
    channel_request_clear(&req);

    /* unsigned without secretFile */
    json_object_del(conf, "secretFile");
    assert_int_equal(s_try(conf, ev, &req, err, sizeof err), 0);
    assert_null(s_header(&req, "webhook-signature"));
    assert_null(s_header(&req, "webhook-id"));
    channel_request_clear(&req);
    json_decref(ev);
    json_decref(conf);
}

static void test_body_of_every_event(void **st)
{
    json_t *ev = s_event("DOWN");
    json_t *j = s_body(ev);
    assert_int_equal(json_integer_value(json_object_get(j, "version")), 1);
    assert_string_equal(STR(j, "type"), "incident.down");
    assert_string_equal(STR(j, "id"), "msg_42");
    assert_string_equal(STR(j, "timestamp"), "2026-09-01T12:01:00.000Z");
    json_t *d = json_object_get(j, "data");
    assert_string_equal(STR(d, "event"), "DOWN");
    assert_string_equal(STR(d, "summary"), "🔴 DOWN API prod: status 503 not in [200]");
    assert_string_equal(STR(d, "reason"), "status 503 not in [200]");
    assert_string_equal(STR(json_object_get(d, "asset"), "id"), "api-prod");
    assert_string_equal(STR(json_object_get(d, "asset"), "address"), "https://api.example.com");
    json_t *inc = json_object_get(d, "incident");
    assert_int_equal(json_integer_value(json_object_get(inc, "id")), 7);
    assert_string_equal(STR(inc, "started_at"), "2026-09-01T12:01:00.000Z");
    json_t *v = json_object_get(d, "votes");
    assert_int_equal(json_integer_value(json_object_get(v, "down_votes")), 2);
    assert_int_equal(json_integer_value(json_object_get(v, "locations")), 3);
    assert_int_equal(json_integer_value(json_object_get(v, "quorum")), 2);
    assert_string_equal(STR(json_array_get(json_object_get(d, "agents"), 0), "error"),
                        "status 503");
    json_decref(j);

    json_object_set_new(ev, "event", json_string("RECOVERY"));
    json_object_set_new(ev, "ended_at", json_string("2026-09-01T12:03:00.000Z"));
    json_object_set_new(ev, "duration_seconds", json_integer(120));
    j = s_body(ev);
    assert_string_equal(STR(j, "type"), "incident.recovered");
    assert_string_equal(STR(j, "timestamp"), "2026-09-01T12:03:00.000Z");
    inc = json_object_get(json_object_get(j, "data"), "incident");
    assert_int_equal(json_integer_value(json_object_get(inc, "duration_seconds")), 120);
    json_decref(j);

    json_object_set_new(ev, "event", json_string("REMINDER"));
    j = s_body(ev);
    assert_string_equal(STR(j, "type"), "incident.reminder");
    assert_string_equal(STR(j, "timestamp"), "2025-11-24T16:00:00.123Z"); /* now */
    json_decref(j);

    json_object_set_new(ev, "event", json_string("ACKNOWLEDGED"));
    json_object_set_new(ev, "acknowledged_at", json_string("2026-09-01T12:02:00.000Z"));
    json_object_set_new(ev, "acknowledged_by", json_string("ops-token"));
    j = s_body(ev);
    assert_string_equal(STR(j, "type"), "incident.acknowledged");
    d = json_object_get(j, "data");
    assert_string_equal(STR(d, "summary"), "👀 ACKNOWLEDGED API prod by ops-token");
    assert_string_equal(STR(json_object_get(d, "incident"), "acknowledged_by"), "ops-token");
    json_decref(j);
    json_decref(ev);

    ev = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:i}", "event", "AGENT_UP", "agent",
                   "agent-eu-1", "region", "eu-west", "version", "0.1.0", "silent_since",
                   "2026-11-25T08:43:00.000Z", "back_at", "2026-11-25T08:45:00.000Z",
                   "down_seconds", 120);
    j = s_body(ev);
    assert_string_equal(STR(j, "type"), "agent.up");
    d = json_object_get(j, "data");
    assert_string_equal(STR(json_object_get(d, "agent"), "id"), "agent-eu-1");
    assert_int_equal(json_integer_value(json_object_get(json_object_get(d, "agent"),
                                                        "down_seconds")), 120);
    assert_null(json_object_get(d, "asset"));
    assert_non_null(strstr(STR(d, "summary"), "AGENT UP agent-eu-1 (eu-west)"));
    json_decref(j);
    json_object_set_new(ev, "event", json_string("AGENT_DOWN"));
    j = s_body(ev);
    assert_string_equal(STR(j, "type"), "agent.down");
    json_decref(j);
    json_decref(ev);

    ev = json_pack("{s:s, s:s, s:s, s:s, s:s, s:f, s:s}", "event", "FLAPPING", "asset_id", "web",
                   "asset_name", "Web", "address", "https://w", "state", "DOWN",
                   "percent_state_change", 52.0, "at", "2026-09-01T12:00:00.000Z");
    j = s_body(ev);
    assert_string_equal(STR(j, "type"), "asset.flapping");
    d = json_object_get(j, "data");
    assert_string_equal(STR(json_object_get(d, "flapping"), "state"), "DOWN");
    assert_null(json_object_get(d, "incident")); /* none open */
    json_decref(j);
    json_object_set_new(ev, "event", json_string("STABLE"));
    json_object_set_new(ev, "incident_id", json_integer(9));
    j = s_body(ev);
    assert_string_equal(STR(j, "type"), "asset.stable");
    assert_int_equal(json_integer_value(json_object_get(
                         json_object_get(json_object_get(j, "data"), "incident"), "id")),
                     9);
    json_decref(j);
    json_decref(ev);

    ev = json_pack("{s:s, s:s, s:s, s:s}", "event", "TEST", "notifier", "hook", "at",
                   "2026-09-01T12:00:00.000Z", "message", "StatusD test message");
    j = s_body(ev);
    assert_string_equal(STR(j, "type"), "test");
    assert_string_equal(STR(json_object_get(json_object_get(j, "data"), "test"), "notifier"),
                        "hook");
    json_decref(j);
    json_decref(ev);
}

static void test_hostile_and_long_text_bounded(void **st)
{
    static char big[20001];
    memset(big, 'y', sizeof big - 1);
    memcpy(big, "<b>\"quote\"\r\n", 12);
    json_t *ev = s_event("DOWN");
    json_object_set_new(ev, "asset_name", json_string(big));
    json_object_set_new(ev, "reason", json_string(big));
    json_object_set_new(ev, "address", json_string(big));
    json_t *agents = json_array();
    for (int i = 0; i < 25; i++)
        json_array_append_new(agents, json_pack("{s:s, s:s, s:s, s:s}", "agent", big, "region",
                                                big, "vote", "DOWN", "error", big));
    json_object_set_new(ev, "agents", agents);
    json_t *conf = json_pack("{s:s, s:s}", "type", "webhook", "url", "http://r/hook");
    channel_request_t req;
    char err[128];
    assert_int_equal(s_try(conf, ev, &req, err, sizeof err), 0);
    size_t n = strlen(req.body);
    print_message("worst-case body: %zu bytes\n", n);
    assert_true(n < 20 * 1024); /* Standard Webhooks: under 20 KB */
    json_t *j = json_loads(req.body, 0, NULL);
    json_t *d = json_object_get(j, "data");
    assert_int_equal(json_array_size(json_object_get(d, "agents")), 20);
    assert_int_equal(json_integer_value(json_object_get(d, "agents_total")), 25);
    /* one line, as written otherwise (JSON escapes the quotes) */
    assert_true(strncmp(STR(d, "reason"), "<b>\"quote\"  yyy", 15) == 0);
    json_decref(j);
    channel_request_clear(&req);

    json_object_set_new(ev, "event", json_string("NOT_AN_EVENT"));
    assert_int_equal(s_try(conf, ev, &req, err, sizeof err), -EINVAL);
    assert_non_null(strstr(err, "NOT_AN_EVENT"));
    json_decref(conf);
    json_decref(ev);
}

static void test_check(void **state)
{
    fx_t *f = *state;
    char err[256];
    const char *refused[] = {"Content-Type", "content-type", "webhook-id", "Webhook-Signature",
                             "Host", "Content-Length", "Bad Name", "X:y"};
    for (size_t i = 0; i < sizeof refused / sizeof *refused; i++) {
        json_t *conf = json_pack("{s:s, s:s, s:{s:s}}", "type", "webhook", "url", "http://r",
                                 "headers", refused[i], "x");
        err[0] = 0;
        assert_int_equal(channel_webhook_ops.check(conf, err, sizeof err), -EINVAL);
        print_message("headers.%s: %s\n", refused[i], err);
        /* prepare refuses it too (a config that skipped the check) */
        json_t *ev = s_event("DOWN");
        channel_request_t req;
        assert_int_equal(s_try(conf, ev, &req, err, sizeof err), -EINVAL);
        json_decref(ev);
        json_decref(conf);
    }
    json_t *conf = json_pack("{s:s, s:s, s:{s:s}}", "type", "webhook", "url", "http://r",
                             "headers", "X-Inject", "a\r\nwebhook-id: forged");
    assert_int_equal(channel_webhook_ops.check(conf, err, sizeof err), -EINVAL);
    assert_non_null(strstr(err, "one line"));
    json_decref(conf);
    conf = json_pack("{s:s, s:s, s:{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s}}", "type",
                     "webhook", "url", "http://r", "headers", "a", "1", "b", "1", "c", "1", "d",
                     "1", "e", "1", "f", "1", "g", "1", "h", "1", "i", "1");
    assert_int_equal(channel_webhook_ops.check(conf, err, sizeof err), -EINVAL);
    print_message("9 headers: %s\n", err);
    json_decref(conf);

    conf = json_pack("{s:s, s:s, s:s}", "type", "webhook", "url", "http://r", "secretFile",
                     f->secret_path);
    assert_int_equal(channel_webhook_ops.check(conf, err, sizeof err), 0);
    s_write(f->secret_path, "whsec_not*base64!\n");
    assert_int_equal(channel_webhook_ops.check(conf, err, sizeof err), -EINVAL);
    print_message("bad secret: %s\n", err);
    assert_null(strstr(err, "not*base64"));
    s_write(f->secret_path, "any other secret is bytes\n");
    assert_int_equal(channel_webhook_ops.check(conf, err, sizeof err), 0);
    unlink(f->secret_path);
    assert_int_equal(channel_webhook_ops.check(conf, err, sizeof err), -EINVAL);
    assert_non_null(strstr(err, "No such file"));
    json_decref(conf);
}

static void test_classification(void **st)
{
    struct {
        long status, ra;
        channel_verdict_t v;
        const char *reason;
    } rows[] = {
        {200, -1, CHANNEL_SENT, "ok"},           {202, -1, CHANNEL_SENT, "ok"},
        {204, -1, CHANNEL_SENT, "ok"},           {301, -1, CHANNEL_DEAD, "redirect"},
        {400, -1, CHANNEL_DEAD, "client_error"}, {401, -1, CHANNEL_DEAD, "client_error"},
        {410, -1, CHANNEL_DEAD, "client_error"}, {408, -1, CHANNEL_RETRY, "request_timeout"},
        {425, -1, CHANNEL_RETRY, "too_early"},   {429, 7, CHANNEL_RETRY, "rate_limited"},
        {500, -1, CHANNEL_RETRY, "server_error"}, {503, 3, CHANNEL_RETRY, "server_error"},
    };
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        channel_outcome_t o = channel_webhook_ops.classify(rows[i].status, "", 0, rows[i].ra);
        assert_int_equal(o.verdict, rows[i].v);
        assert_string_equal(o.reason, rows[i].reason);
        if (o.verdict == CHANNEL_RETRY)
            assert_int_equal(o.retry_after_s, rows[i].ra);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_signature_reference_vectors),
        cmocka_unit_test_setup_teardown(test_signed_request, setup, teardown),
        cmocka_unit_test(test_body_of_every_event),
        cmocka_unit_test(test_hostile_and_long_text_bounded),
        cmocka_unit_test_setup_teardown(test_check, setup, teardown),
        cmocka_unit_test(test_classification),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
