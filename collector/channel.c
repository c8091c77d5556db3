/* channel: the registry of channel types and shared helpers; see channel.h. */
#include "channel.h"

#include <curl/curl.h>
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sd_clock.h"
#include "sd_utf8.h"

static const channel_ops_t *const s_channels[] = {
    &channel_slack_ops,
    &channel_teams_ops,
    &channel_discord_ops,
    &channel_telegram_ops,
    &channel_ntfy_ops,
    &channel_email_ops,
    &channel_pagerduty_ops,
    &channel_webhook_ops,
};

const channel_ops_t *channel_find(const char *type)
{
    for (size_t i = 0; type && i < sizeof s_channels / sizeof s_channels[0]; i++)
        if (strcmp(s_channels[i]->name, type) == 0)
            return s_channels[i];
    return NULL;
}

/* ---- requests ------------------------------------------------------------------------ */

int channel_request_header(channel_request_t *r, const char *fmt, ...)
{
    size_t n = 0;
    while (n < CHANNEL_HEADERS_MAX && r->headers[n])
        n++;
    if (n == CHANNEL_HEADERS_MAX)
        return -E2BIG;
    va_list ap;
    va_start(ap, fmt);
    int rc = vasprintf(&r->headers[n], fmt, ap);
    va_end(ap);
    if (rc < 0) {
        r->headers[n] = NULL;
        return -ENOMEM;
    }
    return 0;
}

void channel_request_clear(channel_request_t *r)
{
    if (!r)
        return;
    free(r->url);
    free(r->body);
    for (size_t i = 0; i < CHANNEL_HEADERS_MAX && r->headers[i]; i++)
        free(r->headers[i]);
    free(r->mail_from);
    for (size_t i = 0; r->rcpt && r->rcpt[i]; i++)
        free(r->rcpt[i]);
    free(r->rcpt);
    free(r->username);
    if (r->password) {
        memset(r->password, 0, strlen(r->password)); /* a secret: not left in freed memory */
        free(r->password);
    }
    memset(r, 0, sizeof *r);
}

int channel_prepare(const channel_ops_t *ops, const json_t *conf, const char *url,
                    const json_t *event, const channel_msg_t *msg, channel_request_t *req,
                    char *err, size_t errlen)
{
    memset(req, 0, sizeof *req);
    if (ops->prepare) {
        int rc = ops->prepare(conf, event, msg, req, err, errlen);
        if (rc != 0)
            channel_request_clear(req);
        return rc;
    }
    if (!url || !*url) {
        snprintf(err, errlen, "no webhookUrl");
        return -EINVAL;
    }
    req->transport = CHANNEL_HTTP;
    req->url = strdup(url);
    req->body = ops->render(event, err, errlen);
    int rc = req->url && req->body ? channel_request_header(req, "Content-Type: %s",
                                                            ops->content_type)
                                   : -ENOMEM;
    if (rc != 0) {
        if (!*err)
            snprintf(err, errlen, "cannot build the request");
        channel_request_clear(req);
    }
    return rc;
}

int channel_check_all(const sd_notifiers_t *n, char *err, size_t errlen)
{
    for (size_t i = 0; n && i < n->n_notifiers; i++) {
        const sd_notifier_conf_t *nc = &n->notifiers[i];
        const channel_ops_t *ops = channel_find(nc->type);
        char e[384] = "";
        if (!ops) {
            snprintf(err, errlen, "notifiers.%s: no channel for type \"%s\"", nc->name, nc->type);
            return -EINVAL;
        }
        if (ops->check && ops->check(nc->raw, e, sizeof e) != 0) {
            snprintf(err, errlen, "notifiers.%s: %s", nc->name, e);
            return -EINVAL;
        }
    }
    return 0;
}

json_t *channel_test_event(const char *name, int64_t now_ms)
{
    char at[40];
    sd_format_rfc3339(now_ms, at, sizeof at);
    return json_pack("{s:s, s:s, s:s, s:s}", "event", "TEST", "notifier", name, "at", at,
                     "message", "StatusD test message: this channel delivers pages.");
}

const char *channel_conf_str(const json_t *conf, const char *key, const char *dflt)
{
    const char *v = json_string_value(json_object_get(conf, key));
    return v ? v : dflt;
}

char *channel_secret_file(const json_t *conf, const char *field, char *err, size_t errlen)
{
    const char *path = channel_conf_str(conf, field, NULL);
    if (!path) {
        snprintf(err, errlen, "%s is not set", field);
        return NULL;
    }
    FILE *f = fopen(path, "re");
    if (!f) {
        snprintf(err, errlen, "%s %s: %s", field, path, strerror(errno));
        return NULL;
    }
    char buf[4096];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = 0;
    buf[strcspn(buf, "\r\n")] = 0;
    char *out = *buf ? strdup(buf) : NULL;
    memset(buf, 0, sizeof buf);
    if (!out)
        snprintf(err, errlen, "%s %s: %s", field, path, n ? "out of memory" : "is empty");
    return out;
}

channel_outcome_t channel_classify_status(const channel_rule_t *rules, size_t n, long status,
                                          long retry_after_s)
{
    for (size_t i = 0; i < n; i++)
        if (status >= rules[i].lo && status <= rules[i].hi)
            return (channel_outcome_t){rules[i].verdict,
                                       rules[i].verdict == CHANNEL_RETRY ? retry_after_s : -1,
                                       rules[i].reason};
    /* not HTTP as any channel speaks it; the 24 h give-up bounds the retries */
    return (channel_outcome_t){CHANNEL_RETRY, retry_after_s, "bad_status"};
}

static bool s_space(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

bool channel_body_is(const char *body, size_t len, const char *want)
{
    size_t a = 0, b = len;
    while (a < b && s_space(body[a]))
        a++;
    while (b > a && s_space(body[b - 1]))
        b--;
    return b - a == strlen(want) && memcmp(body + a, want, b - a) == 0;
}

channel_outcome_t channel_classify_transport(int curl_code)
{
    switch (curl_code) {
    case CURLE_URL_MALFORMAT:
    case CURLE_UNSUPPORTED_PROTOCOL:
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CERTPROBLEM:
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_LOGIN_DENIED:
        return (channel_outcome_t){CHANNEL_DEAD, -1, "config_error"};
    case CURLE_OPERATION_TIMEDOUT:
        return (channel_outcome_t){CHANNEL_RETRY, -1, "timeout"};
    default:
        return (channel_outcome_t){CHANNEL_RETRY, -1, "network"};
    }
}

const char *channel_event_str(const json_t *event, const char *key, const char *dflt)
{
    const char *s = json_string_value(json_object_get(event, key));
    return s && *s ? s : dflt;
}

const char *channel_event_title(const char *event)
{
    if (event && strcmp(event, "RECOVERY") == 0)
        return "✅ RECOVERED";
    if (event && strcmp(event, "REMINDER") == 0)
        return "🔁 STILL DOWN";
    if (event && strcmp(event, "FLAPPING") == 0)
        return "🔀 FLAPPING";
    if (event && strcmp(event, "STABLE") == 0)
        return "🟰 STABLE";
    if (event && strcmp(event, "ACKNOWLEDGED") == 0)
        return "👀 ACKNOWLEDGED";
    if (event && strcmp(event, "TEST") == 0)
        return "🧪 TEST";
    if (event && strcmp(event, "DOWN_DIGEST") == 0)
        return "🔴 DOWN (storm)";
    if (event && strcmp(event, "RECOVERY_DIGEST") == 0)
        return "✅ RECOVERED (storm)";
    return "🔴 DOWN";
}

const char *channel_event_subject(const json_t *event)
{
    return channel_event_str(
        event, "asset_name",
        channel_event_str(event, "asset_id", channel_event_str(event, "notifier", "?")));
}

channel_tone_t channel_event_tone(const json_t *event)
{
    const char *k = channel_event_str(event, "event", "DOWN");
    if (strcmp(k, "RECOVERY") == 0 || strcmp(k, "AGENT_UP") == 0 || strcmp(k, "STABLE") == 0 ||
        strcmp(k, "RECOVERY_DIGEST") == 0)
        return CHANNEL_TONE_GOOD;
    if (strcmp(k, "ACKNOWLEDGED") == 0)
        return CHANNEL_TONE_WARN;
    if (strcmp(k, "TEST") == 0)
        return CHANNEL_TONE_INFO;
    return CHANNEL_TONE_BAD;
}

/* The event's string at key escaped with esc into out. */
static const char *s_esc(channel_escape_fn esc, const json_t *event, const char *key,
                         const char *dflt, char *out, size_t cap)
{
    esc(out, cap, channel_event_str(event, key, dflt));
    return out;
}

bool channel_is_digest(const json_t *event)
{
    const char *k = channel_event_str(event, "event", "");
    return strcmp(k, "DOWN_DIGEST") == 0 || strcmp(k, "RECOVERY_DIGEST") == 0;
}

/* "a, b, c and 14 more": the digest's names escaped with esc, as many as fit in len with
 * the count of the rest (never cut inside a name). */
static void s_digest_line(const json_t *event, channel_escape_fn esc, char *buf, size_t len)
{
    json_t *assets = json_object_get(event, "assets");
    long long count = (long long) json_integer_value(json_object_get(event, "count"));
    char tail[64], name[DIGEST_NAME_MAX * 6 + 1];
    size_t used = 0, shown = 0;
    if (len == 0)
        return;
    buf[0] = '\0';
    for (size_t i = 0; i < json_array_size(assets); i++) {
        esc(name, sizeof name, channel_event_subject(json_array_get(assets, i)));
        long long rest = count - (long long) i - 1;
        tail[0] = '\0';
        if (rest > 0)
            snprintf(tail, sizeof tail, " and %lld more", rest);
        size_t need = (i ? 2 : 0) + strlen(name);
        /* room for this name and the tail that would follow it */
        if (used + need + strlen(tail) + 1 > len)
            break;
        used += (size_t) snprintf(buf + used, len - used, "%s%s", i ? ", " : "", name);
        shown++;
    }
    long long rest = count - (long long) shown;
    if (rest > 0 && shown)
        sd_utf8_format(buf + used, len - used, 0, " and %lld more", rest);
    else if (rest > 0)
        sd_utf8_format(buf, len, 0, "%lld assets", rest);
}

void channel_event_line(const json_t *event, channel_escape_fn esc, char *buf, size_t len)
{
    const char *kind = channel_event_str(event, "event", "DOWN");
    char v[1024];
    if (channel_is_digest(event)) {
        s_digest_line(event, esc, buf, len);
    } else if (strcmp(kind, "RECOVERY") == 0) {
        json_int_t secs = json_integer_value(json_object_get(event, "duration_seconds"));
        sd_utf8_format(buf, len, 0, "back up after %lld s", (long long) secs);
    } else if (strcmp(kind, "FLAPPING") == 0) {
        sd_utf8_format(buf, len, 0,
                       "state changes too often (%.0f%% of recent checks), now %s; DOWN and "
                       "RECOVERY notifications paused until it settles",
                       json_real_value(json_object_get(event, "percent_state_change")),
                       s_esc(esc, event, "state", "?", v, sizeof v));
    } else if (strcmp(kind, "STABLE") == 0) {
        sd_utf8_format(buf, len, 0, "settled %s; notifications resume",
                       s_esc(esc, event, "state", "?", v, sizeof v));
    } else if (strcmp(kind, "ACKNOWLEDGED") == 0) {
        char at[128];
        sd_utf8_format(buf, len, 0, "acknowledged by %s at %s; reminders and escalation stop",
                       s_esc(esc, event, "acknowledged_by", "?", v, sizeof v),
                       s_esc(esc, event, "acknowledged_at", "?", at, sizeof at));
    } else if (strcmp(kind, "TEST") == 0) {
        char name[256], at[128];
        sd_utf8_format(buf, len, 0, "%s (notifier %s, %s)",
                       s_esc(esc, event, "message", "StatusD test message", v, sizeof v),
                       s_esc(esc, event, "notifier", "?", name, sizeof name),
                       s_esc(esc, event, "at", "-", at, sizeof at));
    } else {
        sd_utf8_format(buf, len, 0, "%s", s_esc(esc, event, "reason", "down", v, sizeof v));
    }
}

void channel_agent_line(const json_t *agent, channel_escape_fn esc, char *title, size_t tlen,
                        char *value, size_t vlen)
{
    char id[512], region[512], vote[64], err[1024];
    s_esc(esc, agent, "agent", "?", id, sizeof id);
    s_esc(esc, agent, "region", "-", region, sizeof region);
    s_esc(esc, agent, "vote", "UNKNOWN", vote, sizeof vote);
    s_esc(esc, agent, "error", "", err, sizeof err);
    sd_utf8_format(title, tlen, 0, "%s (%s)", id, region);
    sd_utf8_format(value, vlen, 0, "%s%s%s", vote, *err ? ": " : "", err);
}

bool channel_is_agent_event(const json_t *event)
{
    return strncmp(channel_event_str(event, "event", ""), "AGENT_", 6) == 0;
}

void channel_agent_headline(const json_t *event, channel_escape_fn esc, char *buf, size_t len)
{
    char agent[512], region[512], since[128];
    s_esc(esc, event, "agent", "?", agent, sizeof agent);
    s_esc(esc, event, "region", "-", region, sizeof region);
    s_esc(esc, event, "silent_since", "-", since, sizeof since);
    if (strcmp(channel_event_str(event, "event", ""), "AGENT_UP") == 0)
        sd_utf8_format(buf, len, 0, "✅ AGENT UP %s (%s): back after %lld s (silent since %s)",
                       agent, region,
                       (long long) json_integer_value(json_object_get(event, "down_seconds")),
                       since);
    else
        sd_utf8_format(buf, len, 0, "🔴 AGENT DOWN %s (%s): silent since %s", agent, region,
                       since);
}
