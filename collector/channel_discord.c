/* channel_discord: Discord webhook ("Execute Webhook": POST JSON to
 * https://discord.com/api/webhooks/{id}/{token}; the URL is the secret).
 *
 * What Discord answers: by default a 204 that says nothing, not even whether the message was
 * saved; with the query parameter wait=true a 200 carrying the message object (its "id").
 * So the URL always gets wait=true (added with "?" or "&", an existing wait= replaced), a
 * 200 is a delivery only with a JSON object that has an "id", and a 204 (a proxy or a server
 * that ignored wait) is taken as accepted. Errors: 400 (code 50035: a field or an embed limit
 * broken), 401/403 (bad token), 404 with code 10015 "Unknown Webhook" (deleted: never use
 * it again) are permanent; 429 carries JSON {"message", "retry_after": 64.57 (float
 * seconds), "global"} and the headers Retry-After (whole seconds) and X-RateLimit-*: the
 * retry waits for the longer of the two, rounded up; 5xx are transient. Discord bans an IP
 * for a while after 10 000 answers of 401/403/429 within 10 minutes, which is why those
 * are not hammered (401/403 dead, 429 pauses the channel). Execute Webhook has no
 * idempotency key: a retry after a lost answer can post twice.
 *
 * Limits honoured here: title 256, description 4096, 25 fields, field name 256 and value
 * 1024, and 6000 for all the embed's text together; every piece is cut to its bound in
 * bytes (never more characters than bytes) and agent fields stop before the total would
 * pass EMBED_BUDGET. Mentions are switched off ("allowed_mentions": {"parse": []}) and
 * outside text is escaped (markup_discord). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "channel.h"
#include "markup.h"
#include "sd_utf8.h"

#define TITLE_MAX 256
#define DESC_MAX 2048
#define NAME_MAX_B 200
#define VALUE_MAX_B 400
#define FIELDS_MAX 25
#define EMBED_BUDGET 5800 /* Discord's 6000, with room for rounding */

#define COLOR_BAD 10038562  /* 0x992D22 */
#define COLOR_GOOD 3066993  /* 0x2ECC71 */
#define COLOR_WARN 15844367 /* 0xF1C40F */
#define COLOR_INFO 3447003  /* 0x3498DB */

typedef struct {
    json_t *fields;
    size_t used; /* bytes of text in the embed so far */
} embed_t;

/* Adds a field when it keeps the embed within its budget; false when it did not fit. */
static bool s_field(embed_t *e, const char *name, const char *value, int is_inline)
{
    size_t n = strlen(name) + strlen(value);
    if (json_array_size(e->fields) >= FIELDS_MAX || e->used + n > EMBED_BUDGET)
        return false;
    e->used += n;
    json_array_append_new(e->fields, json_pack("{s:s, s:s, s:b}", "name", name, "value",
                                               *value ? value : "-", "inline", is_inline));
    return true;
}

/* A field whose value is the event's string at key, escaped. */
static void s_field_of(embed_t *e, const json_t *ev, const char *name, const char *key)
{
    char v[VALUE_MAX_B];
    markup_discord(v, sizeof v, channel_event_str(ev, key, "-"));
    s_field(e, name, v, 1);
}

/* The event's own time for the embed's timestamp: an RFC 3339 string of the engine (checked
 * for its shape, as Discord refuses the whole message for a bad one), or NULL. */
static const char *s_timestamp(const json_t *ev)
{
    static const char *const keys[] = {"at", "acknowledged_at", "ended_at", "back_at",
                                       "started_at", "silent_since"};
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
        const char *t = channel_event_str(ev, keys[i], NULL);
        if (!t)
            continue;
        /* YYYY-MM-DDTHH:MM:SS then fraction and zone from our own clock */
        static const char shape[] = "dddd-dd-ddTdd:dd:dd";
        size_t k = 0;
        for (; shape[k] && t[k]; k++)
            if (shape[k] == 'd' ? !(t[k] >= '0' && t[k] <= '9') : t[k] != shape[k])
                break;
        return shape[k] == 0 && strlen(t) <= 40 && strspn(t + k, "0123456789.:+-Z") ==
                                                       strlen(t + k)
                   ? t
                   : NULL;
    }
    return NULL;
}

static void s_asset_fields(embed_t *e, const json_t *ev, const char *kind)
{
    if (strcmp(kind, "TEST") == 0) {
        s_field_of(e, ev, "Notifier", "notifier");
        s_field_of(e, ev, "At", "at");
        return;
    }
    if (channel_is_digest(ev)) {
        s_field_of(e, ev, "Since", "since");
        return;
    }
    s_field_of(e, ev, "Since", "started_at");
    if (strcmp(kind, "RECOVERY") == 0)
        s_field_of(e, ev, "Ended", "ended_at");
    if (strcmp(kind, "ACKNOWLEDGED") == 0) {
        s_field_of(e, ev, "Acknowledged", "acknowledged_at");
        s_field_of(e, ev, "By", "acknowledged_by");
    }
    s_field_of(e, ev, "Address", "address");
    if (strcmp(kind, "ACKNOWLEDGED") == 0 || !json_object_get(ev, "down_votes"))
        return;
    char votes[64];
    snprintf(votes, sizeof votes, "%lld/%lld agents down",
             (long long) json_integer_value(json_object_get(ev, "down_votes")),
             (long long) json_integer_value(json_object_get(ev, "live_agents")));
    s_field(e, "Agents", votes, 1);
    size_t i;
    json_t *ag;
    json_array_foreach(json_object_get(ev, "agents"), i, ag) {
        char t[NAME_MAX_B], v[VALUE_MAX_B];
        channel_agent_line(ag, markup_discord, t, sizeof t, v, sizeof v);
        if (i >= 10 || !s_field(e, t, v, 0))
            break;
    }
}

/* The message body: one embed. */
static char *s_body(const json_t *ev, char *err, size_t errlen)
{
    const char *kind = channel_event_str(ev, "event", "DOWN");
    char title[TITLE_MAX], desc[DESC_MAX], name[TITLE_MAX];
    embed_t e = {json_array(), 0};
    if (channel_is_agent_event(ev)) {
        int up = strcmp(kind, "AGENT_UP") == 0;
        channel_agent_headline(ev, markup_discord, title, sizeof title);
        snprintf(desc, sizeof desc, "probe agent %s", up ? "reconnected" : "stopped reporting");
        e.used = strlen(title) + strlen(desc);
        s_field_of(&e, ev, "Agent", "agent");
        s_field_of(&e, ev, "Region", "region");
        s_field_of(&e, ev, "Silent since", "silent_since");
        if (up)
            s_field_of(&e, ev, "Back at", "back_at");
        s_field_of(&e, ev, "Version", "version");
    } else {
        markup_discord(name, sizeof name, channel_event_subject(ev));
        sd_utf8_format(title, sizeof title, SD_UTF8_ELLIPSIS, "%s %s", channel_event_title(kind),
                       name);
        channel_event_line(ev, markup_discord, desc, sizeof desc);
        e.used = strlen(title) + strlen(desc);
        s_asset_fields(&e, ev, kind);
    }
    channel_tone_t tone = channel_event_tone(ev);
    int color = tone == CHANNEL_TONE_GOOD   ? COLOR_GOOD
                : tone == CHANNEL_TONE_WARN ? COLOR_WARN
                : tone == CHANNEL_TONE_INFO ? COLOR_INFO
                                            : COLOR_BAD;
    json_t *embed = json_pack("{s:s, s:s, s:i, s:o}", "title", title, "description", desc,
                              "color", color, "fields", e.fields);
    const char *ts = s_timestamp(ev);
    if (embed && ts)
        json_object_set_new(embed, "timestamp", json_string(ts));
    json_t *body = embed ? json_pack("{s:s, s:{s:[]}, s:[o]}", "username", "StatusD",
                                     "allowed_mentions", "parse", "embeds", embed)
                         : NULL;
    char *out = body ? json_dumps(body, JSON_COMPACT) : NULL;
    json_decref(body);
    if (!out)
        snprintf(err, errlen, "discord: cannot render the message");
    return out;
}

/* url with wait=true as its only wait parameter, and no fragment (malloc'd). */
static char *s_wait_url(const char *url)
{
    size_t base = strcspn(url, "?#");
    size_t len = strlen(url);
    char *out = malloc(len + sizeof "?wait=true");
    if (!out)
        return NULL;
    memcpy(out, url, base);
    size_t o = base;
    char sep = '?';
    if (url[base] == '?') {
        const char *q = url + base + 1, *end = q + strcspn(q, "#");
        while (q < end) {
            size_t n = strcspn(q, "&#");
            if (q + n > end)
                n = (size_t) (end - q);
            if (n > 0 && !(n >= 5 && strncmp(q, "wait=", 5) == 0) &&
                !(n == 4 && strncmp(q, "wait", 4) == 0)) {
                out[o++] = sep;
                memcpy(out + o, q, n);
                o += n;
                sep = '&';
            }
            q += n;
            if (q < end && *q == '&')
                q++;
        }
    }
    snprintf(out + o, len + sizeof "?wait=true" - o, "%cwait=true", sep);
    return out;
}

static int s_prepare(const json_t *conf, const json_t *event, const channel_msg_t *msg,
                     channel_request_t *req, char *err, size_t errlen)
{
    (void) msg;
    const char *url = channel_conf_str(conf, "webhookUrl", NULL);
    if (!url || !*url) {
        snprintf(err, errlen, "no webhookUrl");
        return -EINVAL;
    }
    req->transport = CHANNEL_HTTP;
    req->url = s_wait_url(url);
    req->body = s_body(event, err, errlen);
    if (!req->url || !req->body)
        return -ENOMEM;
    return channel_request_header(req, "Content-Type: application/json");
}

/* First match wins. */
static const channel_rule_t s_rules[] = {
    {200, 200, CHANNEL_SENT, "ok"}, /* only with the message object: s_classify */
    {204, 204, CHANNEL_SENT, "ok"}, /* wait ignored: accepted, nothing to check */
    {201, 299, CHANNEL_DEAD, "bad_body"},
    CHANNEL_ERROR_RULES,
};

static channel_outcome_t s_classify(long status, const char *body, size_t len, long retry_after)
{
    json_t *j = len ? json_loadb(body, len, 0, NULL) : NULL;
    if (status == 429) {
        double ra = json_number_value(json_object_get(j, "retry_after"));
        long secs = ra > 0 && ra < 86400 ? (long) ra + ((double) (long) ra < ra) : -1;
        if (secs > retry_after)
            retry_after = secs;
    }
    channel_outcome_t o =
        channel_classify_status(s_rules, sizeof s_rules / sizeof s_rules[0], status, retry_after);
    if (status == 200 && !json_is_string(json_object_get(j, "id")))
        o = (channel_outcome_t){CHANNEL_DEAD, -1, "bad_body"};
    else if (status == 404 && json_integer_value(json_object_get(j, "code")) == 10015)
        o.reason = "unknown_webhook"; /* deleted: "should not attempt to use it again" */
    json_decref(j);
    return o;
}

const channel_ops_t channel_discord_ops = {
    .name = "discord",
    .content_type = "application/json",
    .prepare = s_prepare,
    .classify = s_classify,
};
