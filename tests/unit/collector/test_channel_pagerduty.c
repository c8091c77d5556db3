/* channel_pagerduty: the Events API v2 event of every StatusD event (action, dedup_key,
 * severity, summary, custom_details), one key per incident shared by trigger, acknowledge
 * and resolve, hostile and long text bounded (summary <= 1024 characters, dedup_key <= 255),
 * the routing key read from its file and never quoted in an error, the start-time check,
 * and the classification of PagerDuty's answers. */
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
#include "sd_utf8.h"
#include "test_tmpdir.h"

#define KEY "R0123456789abcdef0123456789abcde" /* 32 characters, as PagerDuty's */

static json_t *s_conf(void)
{
    return json_pack("{s:s, s:s}", "type", "pagerduty", "routingKey", KEY);
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

static json_t *s_agent_event(const char *kind)
{
    return json_pack("{s:s, s:s, s:s, s:s, s:s}", "event", kind, "agent", "agent-eu-1", "region",
                     "eu-west", "version", "0.1.0", "silent_since", "2026-11-25T08:43:00.000Z");
}

/* Prepares ev with conf for outbox row 42 of incident 7; returns the parsed body and the
 * request (cleared by the caller). */
static json_t *s_prepare(const json_t *conf, const json_t *ev, channel_request_t *req)
{
    char err[256] = "";
    channel_msg_t msg = {.row_id = 42, .incident_id = 7, .now_ms = 1764000000000};
    int rc = channel_prepare(&channel_pagerduty_ops, conf, NULL, ev, &msg, req, err, sizeof err);
    if (rc != 0)
        fail_msg("prepare: %s", err);
    json_t *j = json_loads(req->body, 0, NULL);
    assert_non_null(j);
    return j;
}

static json_t *s_body(const json_t *ev)
{
    json_t *conf = s_conf();
    channel_request_t req;
    json_t *j = s_prepare(conf, ev, &req);
    channel_request_clear(&req);
    json_decref(conf);
    return j;
}

#define STR(j, path) json_string_value(json_object_get((j), (path)))
#define PAYLOAD(j, k) STR(json_object_get((j), "payload"), (k))

static void test_registered_and_request(void **st)
{
    assert_ptr_equal(channel_find("pagerduty"), &channel_pagerduty_ops);
    json_t *conf = s_conf(), *ev = s_event("DOWN");
    channel_request_t req;
    json_t *j = s_prepare(conf, ev, &req);
    assert_string_equal(req.url, "https://events.pagerduty.com/v2/enqueue");
    assert_string_equal(req.headers[0], "Content-Type: application/json");
    assert_null(req.headers[1]);
    assert_string_equal(STR(j, "routing_key"), KEY);
    assert_string_equal(STR(j, "client"), "StatusD");
    channel_request_clear(&req);
    json_decref(j);
    json_object_set_new(conf, "eventsUrl", json_string("https://events.eu.pagerduty.com/v2/enqueue"));
    j = s_prepare(conf, ev, &req);
    assert_string_equal(req.url, "https://events.eu.pagerduty.com/v2/enqueue");
    channel_request_clear(&req);
    json_decref(j);
    json_decref(ev);
    json_decref(conf);
}

static void test_incident_events_share_one_key(void **st)
{
    const char *kinds[] = {"DOWN", "REMINDER", "ACKNOWLEDGED", "RECOVERY"};
    const char *actions[] = {"trigger", "trigger", "acknowledge", "resolve"};
    for (int i = 0; i < 4; i++) {
        json_t *ev = s_event(kinds[i]);
        json_object_set_new(ev, "duration_seconds", json_integer(120));
        json_t *j = s_body(ev);
        print_message("%s: %s\n", kinds[i], STR(j, "event_action"));
        assert_string_equal(STR(j, "event_action"), actions[i]);
        assert_string_equal(STR(j, "dedup_key"), "statusd-api-prod-7");
        /* acknowledge and resolve need no payload; triggers do */
        assert_int_equal(json_object_get(j, "payload") != NULL, i < 2);
        json_decref(j);
        json_decref(ev);
    }
}

static void test_down_payload(void **st)
{
    json_t *ev = s_event("DOWN");
    json_t *j = s_body(ev);
    assert_string_equal(PAYLOAD(j, "summary"), "🔴 DOWN API prod: status 503 not in [200]");
    assert_string_equal(PAYLOAD(j, "severity"), "critical");
    assert_string_equal(PAYLOAD(j, "source"), "https://api.example.com");
    assert_string_equal(PAYLOAD(j, "timestamp"), "2026-09-01T12:01:00.000Z");
    json_t *d = json_object_get(json_object_get(j, "payload"), "custom_details");
    assert_string_equal(STR(d, "reason"), "status 503 not in [200]");
    assert_int_equal(json_integer_value(json_object_get(json_object_get(d, "votes"),
                                                        "down_votes")), 2);
    json_t *locs = json_object_get(d, "locations");
    assert_int_equal(json_integer_value(json_object_get(locs, "down_locations")), 2);
    assert_int_equal(json_integer_value(json_object_get(locs, "quorum")), 2);
    assert_string_equal(json_string_value(json_array_get(json_object_get(d, "agents"), 0)),
                        "a1 (eu): DOWN: status 503");
    json_decref(j);
    json_decref(ev);

    ev = s_event("REMINDER"); /* merges into the open alert; its time is now */
    j = s_body(ev);
    assert_string_equal(PAYLOAD(j, "summary"), "🔁 STILL DOWN API prod: status 503 not in [200]");
    assert_string_equal(PAYLOAD(j, "timestamp"), "2025-11-24T16:00:00.000Z");
    json_decref(j);
    json_decref(ev);
}

static void test_agent_flapping_and_test_events(void **st)
{
    json_t *ev = s_agent_event("AGENT_DOWN");
    json_t *j = s_body(ev);
    assert_string_equal(STR(j, "event_action"), "trigger");
    assert_string_equal(STR(j, "dedup_key"), "statusd-agent-agent-eu-1-2026-11-25T08:43:00.000Z");
    assert_string_equal(PAYLOAD(j, "severity"), "warning");
    assert_string_equal(PAYLOAD(j, "group"), "eu-west");
    assert_non_null(strstr(PAYLOAD(j, "summary"), "AGENT DOWN agent-eu-1 (eu-west)"));
    json_decref(j);
    json_decref(ev);
    ev = s_agent_event("AGENT_UP");
    j = s_body(ev);
    assert_string_equal(STR(j, "event_action"), "resolve");
    assert_string_equal(STR(j, "dedup_key"), "statusd-agent-agent-eu-1-2026-11-25T08:43:00.000Z");
    json_decref(j);
    json_decref(ev);

    ev = json_pack("{s:s, s:s, s:s, s:s, s:s, s:f, s:s}", "event", "FLAPPING", "asset_id", "web",
                   "asset_name", "Web", "address", "https://w", "state", "DOWN",
                   "percent_state_change", 52.0, "at", "2026-09-01T12:00:00.000Z");
    j = s_body(ev);
    assert_string_equal(STR(j, "event_action"), "trigger");
    assert_string_equal(STR(j, "dedup_key"), "statusd-web-flapping");
    assert_string_equal(PAYLOAD(j, "severity"), "warning");
    assert_non_null(strstr(PAYLOAD(j, "summary"), "🔀 FLAPPING Web: state changes too often (52%"));
    json_decref(j);
    json_object_set_new(ev, "event", json_string("STABLE"));
    j = s_body(ev);
    assert_string_equal(STR(j, "event_action"), "resolve");
    assert_string_equal(STR(j, "dedup_key"), "statusd-web-flapping");
    json_decref(j);
    json_decref(ev);

    ev = json_pack("{s:s, s:s, s:s, s:s}", "event", "TEST", "notifier", "pd-ops", "at",
                   "2026-09-01T12:00:00.000Z", "message", "StatusD test message");
    j = s_body(ev);
    assert_string_equal(STR(j, "event_action"), "trigger");
    assert_string_equal(STR(j, "dedup_key"), "statusd-test-pd-ops-42");
    assert_string_equal(PAYLOAD(j, "severity"), "info");
    assert_string_equal(PAYLOAD(j, "summary"), "🧪 TEST pd-ops: StatusD test message");
    json_decref(j);
    json_decref(ev);

    json_t *conf = s_conf();
    ev = json_pack("{s:s}", "event", "SOMETHING_NEW");
    channel_request_t req;
    char err[128] = "";
    channel_msg_t msg = {.row_id = 1};
    assert_int_equal(channel_prepare(&channel_pagerduty_ops, conf, NULL, ev, &msg, &req, err,
                                     sizeof err),
                     -EINVAL);
    print_message("unknown event: %s\n", err);
    assert_non_null(strstr(err, "SOMETHING_NEW"));
    json_decref(ev);
    json_decref(conf);
}

static void test_hostile_and_long_text_bounded(void **st)
{
    char big[3001];
    memset(big, 'x', sizeof big - 1);
    big[sizeof big - 1] = 0;
    memcpy(big, "evil\nline\t", 10);
    json_t *ev = s_event("DOWN");
    json_object_set_new(ev, "asset_name", json_string(big));
    json_object_set_new(ev, "reason", json_string(big));
    json_object_set_new(ev, "asset_id", json_string(big + 10)); /* 2990 characters */
    json_t *j = s_body(ev);
    const char *sum = PAYLOAD(j, "summary");
    size_t n = strlen(sum);
    print_message("summary %zu bytes, %zu characters; dedup_key %s\n", n, sd_utf8_chars(sum, n),
                  STR(j, "dedup_key"));
    assert_true(sd_utf8_chars(sum, n) <= 1024);
    assert_null(strpbrk(sum, "\n\t"));
    assert_string_equal(sum + n - 3, "…");
    const char *key = STR(j, "dedup_key");
    assert_true(strlen(key) <= 255);
    assert_true(strncmp(key, "statusd-sha256-", 15) == 0);
    json_t *again = s_body(ev); /* the same event gets the same key */
    assert_string_equal(STR(again, "dedup_key"), key);
    json_decref(again);
    json_decref(j);

    /* 30 agents: 20 listed, then "and 10 more" */
    json_t *agents = json_array();
    for (int i = 0; i < 30; i++)
        json_array_append_new(agents, json_pack("{s:s, s:s, s:s, s:s}", "agent", "a", "region",
                                                "r", "vote", "DOWN", "error", big));
    json_object_set_new(ev, "agents", agents);
    j = s_body(ev);
    json_t *listed = json_object_get(
        json_object_get(json_object_get(j, "payload"), "custom_details"), "agents");
    assert_int_equal(json_array_size(listed), 21);
    assert_string_equal(json_string_value(json_array_get(listed, 20)), "and 10 more");
    assert_true(strlen(json_string_value(json_array_get(listed, 0))) < 512);
    channel_request_t req;
    json_t *conf = s_conf();
    json_decref(s_prepare(conf, ev, &req));
    print_message("event with 30 agents and 3000-byte strings: %zu bytes\n", strlen(req.body));
    assert_true(strlen(req.body) < 32 * 1024);
    channel_request_clear(&req);
    json_decref(conf);
    json_decref(j);
    json_decref(ev);
}

static void test_routing_key_file_and_check(void **st)
{
    char dir[] = "/tmp/test_pd_XXXXXX", path[256], err[256] = "";
    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof path, "%s/key", dir);
    FILE *f = fopen(path, "w");
    fprintf(f, "%s\n", KEY);
    fclose(f);
    json_t *conf = json_pack("{s:s, s:s}", "type", "pagerduty", "routingKeyFile", path);
    assert_int_equal(channel_pagerduty_ops.check(conf, err, sizeof err), 0);
    json_t *ev = s_event("DOWN");
    channel_request_t req;
    json_t *j = s_prepare(conf, ev, &req);
    assert_string_equal(STR(j, "routing_key"), KEY); /* the line end is not part of it */
    channel_request_clear(&req);
    json_decref(j);

    /* a key with a space: refused, and the error does not quote it */
    f = fopen(path, "w");
    fprintf(f, "secret-part other\n");
    fclose(f);
    assert_int_equal(channel_pagerduty_ops.check(conf, err, sizeof err), -EINVAL);
    print_message("bad key: %s\n", err);
    assert_null(strstr(err, "secret-part"));
    channel_msg_t msg = {.row_id = 1};
    assert_int_equal(channel_prepare(&channel_pagerduty_ops, conf, NULL, ev, &msg, &req, err,
                                     sizeof err),
                     -EINVAL);
    assert_null(strstr(err, "secret-part"));

    unlink(path);
    assert_int_equal(channel_pagerduty_ops.check(conf, err, sizeof err), -EINVAL);
    print_message("missing file: %s\n", err);
    assert_non_null(strstr(err, "No such file"));

    json_object_set_new(conf, "routingKey", json_string(KEY));
    assert_int_equal(channel_pagerduty_ops.check(conf, err, sizeof err), -EINVAL);
    assert_non_null(strstr(err, "not both"));
    json_decref(ev);
    json_decref(conf);
    test_tmpdir_remove(dir);
}

static void test_classification(void **st)
{
    const char *ok = "{\"status\":\"success\",\"message\":\"Event processed\",\"dedup_key\":\"k\"}";
    const char *bad = "{\"status\":\"invalid event\",\"message\":\"Event object is invalid\","
                      "\"errors\":[\"Length of 'routing_key' is incorrect\"]}";
    struct {
        long status;
        const char *body;
        long ra;
        channel_verdict_t v;
        const char *reason;
        long want_ra;
    } rows[] = {
        {202, ok, -1, CHANNEL_SENT, "ok", -1},
        {202, "", -1, CHANNEL_DEAD, "bad_body", -1},
        {200, "{\"status\":\"queued\"}", -1, CHANNEL_DEAD, "bad_body", -1},
        {202, "not json", -1, CHANNEL_DEAD, "bad_body", -1},
        {400, bad, -1, CHANNEL_DEAD, "client_error", -1},
        {403, "", -1, CHANNEL_DEAD, "client_error", -1},
        {404, "", -1, CHANNEL_DEAD, "client_error", -1},
        {429, "", 30, CHANNEL_RETRY, "rate_limited", 30},
        {429, "", -1, CHANNEL_RETRY, "rate_limited", -1},
        {500, "", -1, CHANNEL_RETRY, "server_error", -1},
        {503, "", 5, CHANNEL_RETRY, "server_error", 5},
        {301, "", -1, CHANNEL_DEAD, "redirect", -1},
        {408, "", -1, CHANNEL_RETRY, "request_timeout", -1},
    };
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        channel_outcome_t o = channel_pagerduty_ops.classify(rows[i].status, rows[i].body,
                                                             strlen(rows[i].body), rows[i].ra);
        print_message("%ld %.20s -> %d %s %ld\n", rows[i].status, rows[i].body, o.verdict,
                      o.reason, o.retry_after_s);
        assert_int_equal(o.verdict, rows[i].v);
        assert_string_equal(o.reason, rows[i].reason);
        assert_int_equal(o.retry_after_s, rows[i].want_ra);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_registered_and_request),
        cmocka_unit_test(test_incident_events_share_one_key),
        cmocka_unit_test(test_down_payload),
        cmocka_unit_test(test_agent_flapping_and_test_events),
        cmocka_unit_test(test_hostile_and_long_text_bounded),
        cmocka_unit_test(test_routing_key_file_and_check),
        cmocka_unit_test(test_classification),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
