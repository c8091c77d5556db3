/* channel: the registry of channel types and shared helpers; see channel.h. */
#include "channel.h"

#include <curl/curl.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "sd_utf8.h"

static const channel_ops_t *const s_channels[] = {
    &channel_slack_ops,
    &channel_teams_ops,
};

const channel_ops_t *channel_find(const char *type)
{
    for (size_t i = 0; type && i < sizeof s_channels / sizeof s_channels[0]; i++)
        if (strcmp(s_channels[i]->name, type) == 0)
            return s_channels[i];
    return NULL;
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
    return "🔴 DOWN";
}

/* The event's string at key escaped with esc into out. */
static const char *s_esc(channel_escape_fn esc, const json_t *event, const char *key,
                         const char *dflt, char *out, size_t cap)
{
    esc(out, cap, channel_event_str(event, key, dflt));
    return out;
}

void channel_event_line(const json_t *event, channel_escape_fn esc, char *buf, size_t len)
{
    const char *kind = channel_event_str(event, "event", "DOWN");
    char v[1024];
    if (strcmp(kind, "RECOVERY") == 0) {
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
