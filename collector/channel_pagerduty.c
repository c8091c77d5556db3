/* channel_pagerduty: PagerDuty Events API v2 (POST JSON to https://events.pagerduty.com/v2/
 * enqueue, or the notifier's eventsUrl, e.g. events.eu.pagerduty.com; the routing key, the
 * 32-character integration key in the body, is the secret: it is read from routingKeyFile
 * (or routingKey) at each delivery and never put in an error text).
 *
 * What PagerDuty does with an event: a "trigger" opens an alert under its dedup_key (at most
 * 255 characters), or is merged into the open alert with that key; "acknowledge" and
 * "resolve" act on the open alert with that key, and are silently dropped when no alert with
 * that key is open (so a resolve that overtakes its trigger is lost: the notifier sends a
 * RECOVERY only after its DOWN is sent or dead); a trigger after a resolve opens a new
 * alert. Hence one key per incident, "statusd-<asset>-<incident id>": DOWN and REMINDER
 * trigger it (a reminder merges into the open alert), ACKNOWLEDGED acknowledges it, RECOVERY
 * resolves it, and a retried row resends the same key, so PagerDuty deduplicates it. An
 * agent outage is "statusd-agent-<agent>-<silent since>" (AGENT_DOWN triggers, AGENT_UP
 * resolves), flapping "statusd-<asset>-flapping" (FLAPPING triggers, STABLE resolves), and a
 * test message "statusd-test-<notifier>-<outbox row>" (one info trigger, never resolved by
 * StatusD: PagerDuty shows it until someone resolves it). A key longer than 255 characters
 * becomes "statusd-sha256-<hex of its SHA-256>" (still stable).
 *
 * A trigger carries payload.summary (at most 1024 characters), source, severity (critical
 * for DOWN/REMINDER, warning for AGENT_DOWN/FLAPPING, info for TEST), timestamp and
 * custom_details; an event may be 512 KB, and every string we copy is bounded far below.
 *
 * What PagerDuty answers: 202 {"status":"success","message":"Event processed","dedup_key"};
 * a 2xx without status "success" is not a delivery we can vouch for (dead, "bad_body").
 * 400 {"status":"invalid event","message":"Event object is invalid","errors":[...]} is
 * permanent (its body, errors included, lands in last_error). 429 (about 120 events a minute
 * per routing key): retried after Retry-After when given, else the notifier's backoff;
 * 5xx and network errors: retried. (403 was the v1 API's throttle; v2 does not use it, so
 * it is a permanent client error here.) */
#include <errno.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "channel.h"
#include "sd_clock.h"
#include "sd_utf8.h"

#define PD_EVENTS_URL "https://events.pagerduty.com/v2/enqueue"
#define SUMMARY_MAX 1024 /* PagerDuty's limit, in characters; we count bytes (<= chars) */
#define DEDUP_MAX 255
#define SOURCE_MAX 255
#define DETAIL_MAX 512   /* one string of custom_details */
#define AGENTS_MAX 20    /* agents listed in custom_details */
#define KEY_MAX 128

/* Plain text: one line of valid UTF-8, cut with "…" (PagerDuty renders no markup). */
static size_t s_plain(char *dst, size_t cap, const char *src)
{
    return sd_utf8_scopy(dst, cap, src, SD_UTF8_ONE_LINE | SD_UTF8_ELLIPSIS);
}

typedef struct {
    const char *event;
    const char *action;        /* event_action */
    const char *severity;      /* triggers only */
} pd_kind_t;

static const pd_kind_t s_kinds[] = {
    {"DOWN", "trigger", "critical"},     {"REMINDER", "trigger", "critical"},
    {"RECOVERY", "resolve", NULL},       {"ACKNOWLEDGED", "acknowledge", NULL},
    {"AGENT_DOWN", "trigger", "warning"}, {"AGENT_UP", "resolve", NULL},
    {"FLAPPING", "trigger", "warning"},  {"STABLE", "resolve", NULL},
    {"TEST", "trigger", "info"},
};

static const pd_kind_t *s_kind(const char *event)
{
    for (size_t i = 0; i < sizeof s_kinds / sizeof s_kinds[0]; i++)
        if (strcmp(s_kinds[i].event, event) == 0)
            return &s_kinds[i];
    return NULL;
}

/* Keeps key (valid UTF-8) when it fits PagerDuty's 255 characters, else replaces it with
 * "statusd-sha256-<hex>" of it: long asset or agent ids still get one stable key. */
static void s_bound_key(char *key, size_t cap)
{
    if (strlen(key) <= DEDUP_MAX)
        return;
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int n = 0;
    EVP_Digest(key, strlen(key), md, &n, EVP_sha256(), NULL);
    int w = snprintf(key, cap, "statusd-sha256-");
    for (unsigned int i = 0; i < n && (size_t) w + 3 <= cap; i++)
        w += snprintf(key + w, cap - (size_t) w, "%02x", md[i]);
}

/* The dedup_key of the event (see the head comment). */
static void s_dedup_key(const json_t *ev, const char *event, const channel_msg_t *msg,
                        char *key, size_t cap)
{
    const char *asset = channel_event_str(ev, "asset_id", "?");
    if (strncmp(event, "AGENT_", 6) == 0) {
        sd_utf8_format(key, cap, 0, "statusd-agent-%s-%s", channel_event_str(ev, "agent", "?"),
                       channel_event_str(ev, "silent_since", "?"));
    } else if (strcmp(event, "FLAPPING") == 0 || strcmp(event, "STABLE") == 0) {
        sd_utf8_format(key, cap, 0, "statusd-%s-flapping", asset);
    } else if (strcmp(event, "TEST") == 0) {
        sd_utf8_format(key, cap, 0, "statusd-test-%s-%lld",
                       channel_event_str(ev, "notifier", "notifier"),
                       (long long) (msg->row_id ? msg->row_id : msg->now_ms));
    } else {
        long long inc = msg->incident_id
                            ? (long long) msg->incident_id
                            : (long long) json_integer_value(json_object_get(ev, "incident_id"));
        if (inc > 0)
            sd_utf8_format(key, cap, 0, "statusd-%s-%lld", asset, inc);
        else /* no incident id known: its start still names the outage */
            sd_utf8_format(key, cap, 0, "statusd-%s-%s", asset,
                           channel_event_str(ev, "started_at", "?"));
    }
    s_bound_key(key, cap);
}

/* dst[key] = the event's string at src_key made plain and bounded; nothing when absent. */
static void s_detail(json_t *dst, const char *key, const json_t *ev, const char *src_key)
{
    const char *s = channel_event_str(ev, src_key, NULL);
    char v[DETAIL_MAX];
    if (s) {
        s_plain(v, sizeof v, s);
        json_object_set_new(dst, key, json_string(v));
    }
}

/* dst[key] = the event's number at key, when present. */
static void s_number(json_t *dst, const json_t *ev, const char *key)
{
    json_t *v = json_object_get(ev, key);
    if (json_is_number(v))
        json_object_set(dst, key, v);
}

static json_t *s_details(const json_t *ev, const char *event)
{
    json_t *d = json_object();
    if (strncmp(event, "AGENT_", 6) == 0) {
        s_detail(d, "agent", ev, "agent");
        s_detail(d, "region", ev, "region");
        s_detail(d, "version", ev, "version");
        s_detail(d, "silent_since", ev, "silent_since");
        return d;
    }
    if (strcmp(event, "TEST") == 0) {
        s_detail(d, "notifier", ev, "notifier");
        s_detail(d, "message", ev, "message");
        s_detail(d, "at", ev, "at");
        return d;
    }
    s_detail(d, "asset_id", ev, "asset_id");
    s_detail(d, "asset_name", ev, "asset_name");
    s_detail(d, "address", ev, "address");
    s_number(d, ev, "incident_id");
    s_detail(d, "started_at", ev, "started_at");
    if (strcmp(event, "FLAPPING") == 0) {
        s_detail(d, "state", ev, "state");
        s_number(d, ev, "percent_state_change");
        return d;
    }
    s_detail(d, "reason", ev, "reason");
    json_t *votes = json_object(), *locs = json_object();
    s_number(votes, ev, "down_votes");
    s_number(votes, ev, "live_agents");
    s_number(locs, ev, "down_locations");
    s_number(locs, ev, "live_locations");
    s_number(locs, ev, "locations");
    s_number(locs, ev, "quorum");
    json_object_set_new(d, "votes", votes);
    json_object_set_new(d, "locations", locs);
    json_t *agents = json_array(), *ag;
    size_t i;
    json_array_foreach(json_object_get(ev, "agents"), i, ag) {
        if (i >= AGENTS_MAX) {
            char more[64];
            snprintf(more, sizeof more, "and %zu more",
                     json_array_size(json_object_get(ev, "agents")) - AGENTS_MAX);
            json_array_append_new(agents, json_string(more));
            break;
        }
        char t[DETAIL_MAX], v[DETAIL_MAX], line[DETAIL_MAX];
        channel_agent_line(ag, s_plain, t, sizeof t, v, sizeof v);
        sd_utf8_format(line, sizeof line, SD_UTF8_ELLIPSIS, "%s: %s", t, v);
        json_array_append_new(agents, json_string(line));
    }
    json_object_set_new(d, "agents", agents);
    return d;
}

/* payload of a trigger: summary, source, severity, timestamp, component, group, class,
 * custom_details. */
static json_t *s_payload(const json_t *ev, const char *event, const pd_kind_t *k,
                         const channel_msg_t *msg)
{
    char summary[SUMMARY_MAX + 1], source[SOURCE_MAX + 1], line[SUMMARY_MAX], name[512];
    const char *ts, *group = NULL;
    if (strncmp(event, "AGENT_", 6) == 0) {
        channel_agent_headline(ev, s_plain, summary, sizeof summary);
        s_plain(source, sizeof source, channel_event_str(ev, "agent", "statusd-agent"));
        ts = channel_event_str(ev, "silent_since", NULL);
        group = channel_event_str(ev, "region", NULL);
    } else if (strcmp(event, "TEST") == 0) {
        s_plain(name, sizeof name, channel_event_str(ev, "notifier", "notifier"));
        s_plain(line, sizeof line, channel_event_str(ev, "message", "StatusD test message"));
        sd_utf8_format(summary, sizeof summary, SD_UTF8_ELLIPSIS, "🧪 TEST %s: %s", name,
                       line);
        snprintf(source, sizeof source, "statusd");
        ts = channel_event_str(ev, "at", NULL);
    } else {
        s_plain(name, sizeof name,
                channel_event_str(ev, "asset_name", channel_event_str(ev, "asset_id", "?")));
        channel_event_line(ev, s_plain, line, sizeof line);
        sd_utf8_format(summary, sizeof summary, SD_UTF8_ELLIPSIS, "%s %s: %s",
                       channel_event_title(event), name, line);
        s_plain(source, sizeof source,
                channel_event_str(ev, "address", channel_event_str(ev, "asset_id", "?")));
        ts = channel_event_str(ev, strcmp(event, "FLAPPING") == 0 ? "at" : "started_at", NULL);
    }
    char now[40], tsb[64];
    if (!ts || strcmp(event, "REMINDER") == 0) {
        sd_format_rfc3339(msg->now_ms, now, sizeof now);
        ts = now;
    }
    s_plain(tsb, sizeof tsb, ts);
    json_t *p = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:o}", "summary", summary, "source",
                          source, "severity", k->severity, "timestamp", tsb, "component",
                          "statusd", "class", event, "custom_details", s_details(ev, event));
    char g[256];
    if (p && group) {
        s_plain(g, sizeof g, group);
        json_object_set_new(p, "group", json_string(g));
    }
    return p;
}

/* The routing key: routingKey, or the first line of routingKeyFile; checked to be printable
 * ASCII without spaces (PagerDuty's keys are 32 letters and digits). malloc'd or NULL. */
static char *s_routing_key(const json_t *conf, char *err, size_t errlen)
{
    const char *inline_key = channel_conf_str(conf, "routingKey", NULL);
    char *key = inline_key ? strdup(inline_key)
                           : channel_secret_file(conf, "routingKeyFile", err, errlen);
    if (!key) {
        if (inline_key)
            snprintf(err, errlen, "out of memory");
        return NULL;
    }
    size_t n = strlen(key);
    bool ok = n > 0 && n <= KEY_MAX;
    for (size_t i = 0; ok && i < n; i++)
        ok = key[i] > 0x20 && key[i] < 0x7f;
    if (!ok) { /* the error never quotes the key */
        snprintf(err, errlen, "%s: the routing key must be 1 to %d printable ASCII characters "
                              "without spaces",
                 inline_key ? "routingKey" : "routingKeyFile", KEY_MAX);
        memset(key, 0, n);
        free(key);
        return NULL;
    }
    return key;
}

static int s_prepare(const json_t *conf, const json_t *ev, const channel_msg_t *msg,
                     channel_request_t *req, char *err, size_t errlen)
{
    const char *event = channel_event_str(ev, "event", "");
    const pd_kind_t *k = s_kind(event);
    if (!k) {
        char e[64];
        s_plain(e, sizeof e, event);
        snprintf(err, errlen, "pagerduty: no event action for event \"%s\"", e);
        return -EINVAL;
    }
    char *key = s_routing_key(conf, err, errlen);
    if (!key)
        return -EINVAL;
    char dedup[1024];
    s_dedup_key(ev, event, msg, dedup, sizeof dedup);
    json_t *body = json_pack("{s:s, s:s, s:s, s:s}", "routing_key", key, "event_action",
                             k->action, "dedup_key", dedup, "client", "StatusD");
    memset(key, 0, strlen(key));
    free(key);
    if (body && k->severity) {
        json_t *p = s_payload(ev, event, k, msg);
        if (!p || json_object_set_new(body, "payload", p) != 0) {
            json_decref(body);
            body = NULL;
        }
    }
    req->transport = CHANNEL_HTTP;
    req->body = body ? json_dumps(body, JSON_COMPACT) : NULL;
    json_decref(body);
    req->url = strdup(channel_conf_str(conf, "eventsUrl", PD_EVENTS_URL));
    if (!req->body || !req->url || channel_request_header(req, "Content-Type: application/json")) {
        snprintf(err, errlen, "pagerduty: cannot build the event");
        return -ENOMEM;
    }
    return 0;
}

/* First match wins; a 2xx is sent only with status "success" in its body (s_classify). */
static const channel_rule_t s_rules[] = {
    {200, 299, CHANNEL_SENT, "ok"},
    CHANNEL_ERROR_RULES,
};

static channel_outcome_t s_classify(long status, const char *body, size_t len, long retry_after)
{
    channel_outcome_t o =
        channel_classify_status(s_rules, sizeof s_rules / sizeof s_rules[0], status, retry_after);
    if (o.verdict != CHANNEL_SENT)
        return o;
    json_t *j = json_loadb(body, len, 0, NULL);
    const char *st = json_string_value(json_object_get(j, "status"));
    bool ok = st && strcmp(st, "success") == 0;
    json_decref(j);
    return ok ? o : (channel_outcome_t){CHANNEL_DEAD, -1, "bad_body"};
}

static int s_check(const json_t *conf, char *err, size_t errlen)
{
    if (json_object_get(conf, "routingKey") && json_object_get(conf, "routingKeyFile")) {
        snprintf(err, errlen, "give \"routingKey\" or \"routingKeyFile\", not both");
        return -EINVAL;
    }
    char *key = s_routing_key(conf, err, errlen);
    if (!key)
        return -EINVAL;
    memset(key, 0, strlen(key));
    free(key);
    return 0;
}

const channel_ops_t channel_pagerduty_ops = {
    .name = "pagerduty",
    .no_digest = true,
    .content_type = "application/json",
    .prepare = s_prepare,
    .classify = s_classify,
    .check = s_check,
};
