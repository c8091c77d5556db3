/* channel_webhook: a generic JSON webhook, signed per Standard Webhooks 1.0 when the notifier
 * has a secretFile. The body is StatusD's own versioned schema (version 1, written down in
 * docs/notifications.md): {"version":1,"type":"incident.down",...,"timestamp","data":{...}}.
 *
 * Signing (Standard Webhooks): three headers on every attempt. webhook-id is "msg_<outbox
 * row id>", the same on every retry of a row, so a receiver deduplicates on it;
 * webhook-timestamp is the unix seconds of this attempt (receivers refuse stale ones, five
 * minutes in the reference library, so every attempt is signed anew); webhook-signature is
 * "v1,<base64 of HMAC-SHA256(key, id + "." + timestamp + "." + body)>". A secret of the form
 * "whsec_<base64>" (Standard Webhooks' own format, 24 to 64 random bytes) is base64-decoded
 * into the key; any other secret is the key as its bytes. The secret is read from the file
 * at each delivery (a rotated file takes effect at once) and never appears in an error.
 *
 * The notifier's extra "headers" are added as given, but may not set Content-Type,
 * Content-Length, Host, Transfer-Encoding or any webhook-* header (the start-time check
 * refuses such a config), nor carry CR/LF (header injection).
 *
 * What a receiver answers: any 2xx is a delivery; 3xx is a failure (no redirect is
 * followed: dead); 408, 425, 429 and 5xx are retried (Retry-After honoured); any other 4xx
 * is permanent (a receiver refusing the signature answers 401: dead). Standard Webhooks
 * asks for payloads under 20 KB: every string is bounded and at most 20 agents are listed. */
#include <errno.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "channel.h"
#include "channel_webhook.h"
#include "sd_clock.h"
#include "sd_utf8.h"

#define STR_MAX 512       /* bytes of one string of the event */
#define ERROR_MAX 300     /* bytes of one agent's error */
#define AGENTS_MAX 20
#define SECRET_MAX 1024   /* bytes of a decoded key */
#define EXTRA_HEADERS_MAX (CHANNEL_HEADERS_MAX - 4) /* Content-Type and the three webhook-* */

/* ---- the body --------------------------------------------------------------------- */

typedef struct {
    const char *event, *type, *time_key;
} wh_kind_t;

static const wh_kind_t s_kinds[] = {
    {"DOWN", "incident.down", "started_at"},
    {"REMINDER", "incident.reminder", NULL},
    {"RECOVERY", "incident.recovered", "ended_at"},
    {"ACKNOWLEDGED", "incident.acknowledged", "acknowledged_at"},
    {"AGENT_DOWN", "agent.down", "silent_since"},
    {"AGENT_UP", "agent.up", "back_at"},
    {"FLAPPING", "asset.flapping", "at"},
    {"STABLE", "asset.stable", "at"},
    {"TEST", "test", "at"},
};

static size_t s_plain(char *dst, size_t cap, const char *src)
{
    return sd_utf8_scopy(dst, cap, src, SD_UTF8_ONE_LINE | SD_UTF8_ELLIPSIS);
}

/* dst[key] = src's string at src_key bounded to max bytes; nothing when absent. */
static void s_str(json_t *dst, const char *key, const json_t *src, const char *src_key,
                  size_t max)
{
    const char *s = json_string_value(json_object_get(src, src_key));
    char v[STR_MAX];
    if (s) {
        s_plain(v, max < sizeof v ? max : sizeof v, s);
        json_object_set_new(dst, key, json_string(v));
    }
}

/* dst[key] = src's number at key, when present. */
static void s_num(json_t *dst, const json_t *src, const char *key)
{
    json_t *v = json_object_get(src, key);
    if (json_is_number(v))
        json_object_set(dst, key, v);
}

/* A one-line text of the event, for receivers that only forward text. */
static void s_summary(const json_t *ev, const char *event, char *buf, size_t len)
{
    char name[STR_MAX], line[1024], who[STR_MAX];
    if (strncmp(event, "AGENT_", 6) == 0) {
        channel_agent_headline(ev, s_plain, buf, len);
        return;
    }
    if (strcmp(event, "TEST") == 0) {
        s_plain(name, sizeof name, channel_event_str(ev, "notifier", "notifier"));
        s_plain(line, sizeof line, channel_event_str(ev, "message", "StatusD test message"));
        sd_utf8_format(buf, len, SD_UTF8_ELLIPSIS, "🧪 TEST %s: %s", name, line);
        return;
    }
    s_plain(name, sizeof name,
            channel_event_str(ev, "asset_name", channel_event_str(ev, "asset_id", "?")));
    if (strcmp(event, "ACKNOWLEDGED") == 0) {
        s_plain(who, sizeof who, channel_event_str(ev, "acknowledged_by", "?"));
        sd_utf8_format(buf, len, SD_UTF8_ELLIPSIS, "👀 ACKNOWLEDGED %s by %s", name, who);
        return;
    }
    channel_event_line(ev, s_plain, line, sizeof line);
    sd_utf8_format(buf, len, SD_UTF8_ELLIPSIS, "%s %s: %s", channel_event_title(event), name,
                   line);
}

static json_t *s_agents(const json_t *ev)
{
    json_t *out = json_array(), *ag;
    size_t i;
    json_array_foreach(json_object_get(ev, "agents"), i, ag) {
        if (i >= AGENTS_MAX)
            break;
        json_t *o = json_object();
        s_str(o, "agent", ag, "agent", 128);
        s_str(o, "region", ag, "region", 128);
        s_str(o, "vote", ag, "vote", 32);
        s_str(o, "error", ag, "error", ERROR_MAX);
        s_str(o, "failing_since", ag, "failing_since", 64);
        json_array_append_new(out, o);
    }
    return out;
}

/* data.incident: its id, and for incident events its times and acknowledgement. */
static json_t *s_incident(const json_t *ev, bool times)
{
    json_t *inc = json_object(), *id = json_object_get(ev, "incident_id");
    if (json_is_integer(id))
        json_object_set(inc, "id", id);
    if (times) {
        s_str(inc, "started_at", ev, "started_at", 64);
        s_str(inc, "ended_at", ev, "ended_at", 64);
        s_num(inc, ev, "duration_seconds");
        s_str(inc, "acknowledged_at", ev, "acknowledged_at", 64);
        s_str(inc, "acknowledged_by", ev, "acknowledged_by", 256);
    }
    return inc;
}

/* data's parts of an asset event: asset, incident, flapping or reason, votes, agents. */
static void s_asset_data(json_t *d, const json_t *ev, const char *event)
{
    json_t *asset = json_object();
    s_str(asset, "id", ev, "asset_id", 128);
    s_str(asset, "name", ev, "asset_name", STR_MAX);
    s_str(asset, "address", ev, "address", STR_MAX);
    json_object_set_new(d, "asset", asset);
    if (strcmp(event, "FLAPPING") == 0 || strcmp(event, "STABLE") == 0) {
        if (json_is_integer(json_object_get(ev, "incident_id"))) /* one is open */
            json_object_set_new(d, "incident", s_incident(ev, false));
        json_t *f = json_object();
        s_str(f, "state", ev, "state", 32);
        s_num(f, ev, "percent_state_change");
        s_str(f, "at", ev, "at", 64);
        json_object_set_new(d, "flapping", f);
        return;
    }
    json_object_set_new(d, "incident", s_incident(ev, true));
    s_str(d, "reason", ev, "reason", STR_MAX);
    if (json_object_get(ev, "down_votes") || json_object_get(ev, "locations")) {
        json_t *v = json_object();
        const char *keys[] = {"down_votes", "live_agents", "down_locations", "live_locations",
                              "locations", "quorum"};
        for (size_t i = 0; i < sizeof keys / sizeof *keys; i++)
            s_num(v, ev, keys[i]);
        json_object_set_new(d, "votes", v);
    }
    json_t *agents = json_object_get(ev, "agents");
    if (json_is_array(agents)) {
        json_object_set_new(d, "agents", s_agents(ev));
        json_object_set_new(d, "agents_total", json_integer((json_int_t) json_array_size(agents)));
    }
}

/* data: the event's facts regrouped (see docs/notifications.md, "Body, version 1"). */
static json_t *s_data(const json_t *ev, const char *event)
{
    json_t *d = json_object();
    char summary[1024];
    s_summary(ev, event, summary, sizeof summary);
    json_object_set_new(d, "event", json_string(event));
    json_object_set_new(d, "summary", json_string(summary));
    if (strncmp(event, "AGENT_", 6) == 0) {
        json_t *a = json_object();
        s_str(a, "id", ev, "agent", 128);
        s_str(a, "region", ev, "region", 128);
        s_str(a, "version", ev, "version", 64);
        s_str(a, "silent_since", ev, "silent_since", 64);
        s_str(a, "back_at", ev, "back_at", 64);
        s_num(a, ev, "down_seconds");
        json_object_set_new(d, "agent", a);
    } else if (strcmp(event, "TEST") == 0) {
        json_t *t = json_object();
        s_str(t, "notifier", ev, "notifier", 128);
        s_str(t, "message", ev, "message", STR_MAX);
        s_str(t, "at", ev, "at", 64);
        json_object_set_new(d, "test", t);
    } else {
        s_asset_data(d, ev, event);
    }
    return d;
}

/* The message id: "msg_<outbox row id>", stable across retries of the row; a message sent
 * outside the outbox (row id 0) gets "msg_t<unix ms>". */
static void s_msg_id(const channel_msg_t *msg, char *id, size_t len)
{
    if (msg->row_id > 0)
        snprintf(id, len, "msg_%lld", (long long) msg->row_id);
    else
        snprintf(id, len, "msg_t%lld", (long long) msg->now_ms);
}

/* The whole body (malloc'd JSON text) or NULL with err. */
static char *s_body(const json_t *ev, const channel_msg_t *msg, char *err, size_t errlen)
{
    const char *event = channel_event_str(ev, "event", "");
    const wh_kind_t *k = NULL;
    for (size_t i = 0; i < sizeof s_kinds / sizeof s_kinds[0] && !k; i++)
        if (strcmp(s_kinds[i].event, event) == 0)
            k = &s_kinds[i];
    if (!k) {
        char e[64];
        s_plain(e, sizeof e, event);
        snprintf(err, errlen, "webhook: no type for event \"%s\"", e);
        return NULL;
    }
    char now[40], ts[64];
    sd_format_rfc3339(msg->now_ms, now, sizeof now);
    s_plain(ts, sizeof ts, k->time_key ? channel_event_str(ev, k->time_key, now) : now);
    char id[32];
    s_msg_id(msg, id, sizeof id);
    json_t *b = json_pack("{s:i, s:s, s:s, s:s, s:o}", "version", 1, "id", id, "type", k->type,
                          "timestamp", ts, "data", s_data(ev, event));
    char *out = b ? json_dumps(b, JSON_COMPACT) : NULL;
    json_decref(b);
    if (!out)
        snprintf(err, errlen, "webhook: cannot render the body");
    return out;
}

/* ---- signing ------------------------------------------------------------------------ */

/* The HMAC key of a secret: whsec_<base64> decoded, any other secret as its bytes. Returns
 * its length, or -1 when a whsec_ secret is not valid base64 (or too long). */
static long s_key(const char *secret, unsigned char *key, size_t cap)
{
    size_t n = strlen(secret);
    if (strncmp(secret, "whsec_", 6) != 0) {
        if (n > cap)
            return -1;
        memcpy(key, secret, n);
        return (long) n;
    }
    const char *b64 = secret + 6;
    size_t bn = n - 6;
    if (bn == 0 || bn % 4 != 0 || bn / 4 * 3 > cap)
        return -1;
    for (size_t i = 0; i < bn; i++) { /* EVP_DecodeBlock would skip spaces; we refuse them */
        char c = b64[i];
        bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                  c == '+' || c == '/' || (c == '=' && i >= bn - 2);
        if (!ok || (c != '=' && i > 0 && b64[i - 1] == '='))
            return -1;
    }
    int len = EVP_DecodeBlock(key, (const unsigned char *) b64, (int) bn);
    if (len < 0)
        return -1;
    len -= (b64[bn - 1] == '=') + (b64[bn - 2] == '=');
    return len > 0 ? len : -1;
}

int channel_webhook_sign(const char *secret, const char *id, long long ts, const char *body,
                         size_t body_len, char *out, size_t cap)
{
    unsigned char key[SECRET_MAX], mac[EVP_MAX_MD_SIZE];
    long klen = s_key(secret, key, sizeof key);
    if (klen < 0 || cap < 48)
        return -EINVAL;
    char head[128];
    int hn = snprintf(head, sizeof head, "%s.%lld.", id, ts);
    size_t dlen = (size_t) hn + body_len;
    unsigned char *data = malloc(dlen);
    if (!data) {
        memset(key, 0, sizeof key);
        return -ENOMEM;
    }
    memcpy(data, head, (size_t) hn);
    memcpy(data + hn, body, body_len);
    unsigned int mlen = 0;
    unsigned char *ok = HMAC(EVP_sha256(), key, (int) klen, data, dlen, mac, &mlen);
    memset(key, 0, sizeof key);
    free(data);
    if (!ok)
        return -EINVAL;
    memcpy(out, "v1,", 3);
    EVP_EncodeBlock((unsigned char *) out + 3, mac, (int) mlen);
    return 0;
}

/* ---- headers and the request ------------------------------------------------------- */

static bool s_token(const char *s)
{
    if (!*s)
        return false;
    for (; *s; s++)
        if (!(*s > 0x20 && *s < 0x7f) || strchr("\"(),/:;<=>?@[\\]{}", *s))
            return false;
    return true;
}

/* The config's extra headers are acceptable: names are tokens and none is ours, values
 * one line, at most EXTRA_HEADERS_MAX. 0 or -EINVAL with err. */
static int s_headers_ok(const json_t *conf, char *err, size_t errlen)
{
    json_t *h = json_object_get(conf, "headers");
    if (!h)
        return 0;
    if (json_object_size(h) > EXTRA_HEADERS_MAX) {
        snprintf(err, errlen, "headers: at most %d", EXTRA_HEADERS_MAX);
        return -EINVAL;
    }
    static const char *const reserved[] = {"content-type", "content-length", "host",
                                           "transfer-encoding"};
    const char *name;
    json_t *v;
    json_object_foreach(h, name, v) {
        char safe[128];
        s_plain(safe, sizeof safe, name);
        if (!s_token(name)) {
            snprintf(err, errlen, "headers.%s: not a valid header name", safe);
            return -EINVAL;
        }
        bool ours = strncasecmp(name, "webhook-", 8) == 0;
        for (size_t i = 0; i < sizeof reserved / sizeof *reserved; i++)
            ours |= strcasecmp(name, reserved[i]) == 0;
        if (ours) {
            snprintf(err, errlen, "headers.%s: set by StatusD, it cannot be overridden", safe);
            return -EINVAL;
        }
        const char *s = json_string_value(v);
        if (!s || strpbrk(s, "\r\n")) {
            snprintf(err, errlen, "headers.%s: the value must be one line of text", safe);
            return -EINVAL;
        }
    }
    return 0;
}

static int s_prepare(const json_t *conf, const json_t *ev, const channel_msg_t *msg,
                     channel_request_t *req, char *err, size_t errlen)
{
    const char *url = channel_conf_str(conf, "url", NULL);
    if (!url) {
        snprintf(err, errlen, "webhook: no url");
        return -EINVAL;
    }
    if (s_headers_ok(conf, err, errlen) != 0)
        return -EINVAL;
    req->transport = CHANNEL_HTTP;
    req->body = s_body(ev, msg, err, errlen);
    if (!req->body)
        return -EINVAL;
    req->url = strdup(url);
    if (!req->url)
        return -ENOMEM;
    int rc = channel_request_header(req, "Content-Type: application/json");
    if (rc == 0 && json_object_get(conf, "secretFile")) {
        char *secret = channel_secret_file(conf, "secretFile", err, errlen);
        if (!secret)
            return -EINVAL;
        char id[32], sig[64];
        long long ts = (long long) (msg->now_ms / 1000);
        s_msg_id(msg, id, sizeof id);
        rc = channel_webhook_sign(secret, id, ts, req->body, strlen(req->body), sig, sizeof sig);
        memset(secret, 0, strlen(secret));
        free(secret);
        if (rc != 0) {
            snprintf(err, errlen, "secretFile: a whsec_ secret must be valid base64");
            return rc;
        }
        rc = channel_request_header(req, "webhook-id: %s", id);
        rc = rc ? rc : channel_request_header(req, "webhook-timestamp: %lld", ts);
        rc = rc ? rc : channel_request_header(req, "webhook-signature: %s", sig);
    }
    const char *name;
    json_t *v;
    json_object_foreach(json_object_get(conf, "headers"), name, v) {
        if (rc == 0)
            rc = channel_request_header(req, "%s: %s", name, json_string_value(v));
    }
    if (rc != 0)
        snprintf(err, errlen, "webhook: cannot build the request");
    return rc;
}

static const channel_rule_t s_rules[] = {
    {200, 299, CHANNEL_SENT, "ok"},
    CHANNEL_ERROR_RULES,
};

static channel_outcome_t s_classify(long status, const char *body, size_t len, long retry_after)
{
    return channel_classify_status(s_rules, sizeof s_rules / sizeof s_rules[0], status,
                                   retry_after);
}

static int s_check(const json_t *conf, char *err, size_t errlen)
{
    if (s_headers_ok(conf, err, errlen) != 0)
        return -EINVAL;
    if (!json_object_get(conf, "secretFile"))
        return 0;
    char *secret = channel_secret_file(conf, "secretFile", err, errlen);
    if (!secret)
        return -EINVAL;
    unsigned char key[SECRET_MAX];
    long n = s_key(secret, key, sizeof key);
    memset(key, 0, sizeof key);
    memset(secret, 0, strlen(secret));
    free(secret);
    if (n < 0) {
        snprintf(err, errlen, "secretFile: a whsec_ secret must be valid base64");
        return -EINVAL;
    }
    return 0;
}

const channel_ops_t channel_webhook_ops = {
    .name = "webhook",
    .no_digest = true,
    .content_type = "application/json",
    .prepare = s_prepare,
    .classify = s_classify,
    .check = s_check,
};
