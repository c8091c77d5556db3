/* channel_slack: Slack incoming webhook (POST JSON to https://hooks.slack.com/services/...;
 * the URL is the secret).
 *
 * What Slack answers: success is HTTP 200 with the plain-text body "ok" and nothing else, so
 * any other 2xx, or a 200 with another body, is not a delivery we can vouch for: dead
 * ("bad_body", as Alertmanager treats it). Errors name themselves in the body: 400
 * invalid_payload / user_not_found, 403 action_prohibited / invalid_token, 404
 * channel_not_found / no_service, 410 channel_is_archived are permanent (resending cannot
 * help); 500 rollup_error is transient. Slack allows about one message per second per
 * webhook with short bursts and answers 429 rate_limited with Retry-After in seconds; a
 * client that keeps ignoring 429 risks having the app disabled, hence the pause of the whole
 * channel in the notifier. */
#include <stdio.h>
#include <string.h>

#include "channel.h"
#include "markup.h"
#include "sd_utf8.h"

#define TEXT_MAX 3000 /* Slack truncates at 40 000; keep a message readable */
#define PIECE_MAX 1024 /* one escaped string of the event */

static json_t *s_field(const char *title, const char *value, int is_short)
{
    return json_pack("{s:s, s:s, s:b}", "title", title, "value", value, "short", is_short);
}

/* A field whose value is the event's string at key, escaped (markup.h). */
static json_t *s_field_of(const json_t *ev, const char *title, const char *key, int is_short)
{
    char v[PIECE_MAX];
    markup_slack(v, sizeof v, channel_event_str(ev, key, "-"));
    return s_field(title, v, is_short);
}

/* The message: text, and one attachment (colour, title, fields; fallback = text). mrkdwn
 * is off: the text has no formatting of its own, and outside text shows as written. */
static json_t *s_message(const char *text, const char *color, const char *title, json_t *fields)
{
    return json_pack("{s:s, s:b, s:[{s:s, s:s, s:s, s:o}]}", "text", text, "mrkdwn", 0,
                     "attachments", "color", color, "title", title, "fallback", text, "fields",
                     fields);
}

/* One message per agent: the headline and the agent's facts. */
static json_t *s_agent_body(const json_t *ev)
{
    char text[1024], agent[PIECE_MAX];
    channel_agent_headline(ev, markup_slack, text, sizeof text);
    markup_slack(agent, sizeof agent, channel_event_str(ev, "agent", "?"));
    int up = strcmp(channel_event_str(ev, "event", ""), "AGENT_UP") == 0;
    json_t *fields = json_array();
    json_array_append_new(fields, s_field_of(ev, "Agent", "agent", 1));
    json_array_append_new(fields, s_field_of(ev, "Region", "region", 1));
    json_array_append_new(fields, s_field_of(ev, "Silent since", "silent_since", 1));
    if (up)
        json_array_append_new(fields, s_field_of(ev, "Back at", "back_at", 1));
    json_array_append_new(fields, s_field_of(ev, "Version", "version", 1));
    return s_message(text, up ? "#36A64F" : "#DD0000", agent, fields);
}

/* The body as compact JSON (takes the reference), or NULL with err. */
static char *s_dump(json_t *body, char *err, size_t errlen)
{
    char *out = body ? json_dumps(body, JSON_COMPACT) : NULL;
    json_decref(body);
    if (!out)
        snprintf(err, errlen, "slack: cannot render the message");
    return out;
}

static char *s_render(const json_t *ev, char *err, size_t errlen)
{
    if (channel_is_agent_event(ev))
        return s_dump(s_agent_body(ev), err, errlen);
    const char *kind = channel_event_str(ev, "event", "DOWN");
    char name[PIECE_MAX], line[1024], text[TEXT_MAX + 1];
    markup_slack(name, sizeof name, channel_event_subject(ev));
    channel_event_line(ev, markup_slack, line, sizeof line);
    sd_utf8_format(text, sizeof text, 0, "%s %s: %s", channel_event_title(kind), name, line);
    channel_tone_t tone = channel_event_tone(ev);
    /* STABLE keeps the red of the other asset events: receivers tell RECOVERY by its green */
    const char *color = strcmp(kind, "RECOVERY") == 0 ||
                                strcmp(kind, "RECOVERY_DIGEST") == 0
                            ? "#36A64F"
                        : tone == CHANNEL_TONE_WARN ? "#ECB22E"
                        : tone == CHANNEL_TONE_INFO ? "#439FE0"
                                                    : "#DD0000";

    json_t *fields = json_array();
    if (strcmp(kind, "TEST") == 0) {
        json_array_append_new(fields, s_field_of(ev, "Notifier", "notifier", 1));
        json_array_append_new(fields, s_field_of(ev, "At", "at", 1));
        return s_dump(s_message(text, color, name, fields), err, errlen);
    }
    if (channel_is_digest(ev)) {
        json_array_append_new(fields, s_field_of(ev, "Since", "since", 1));
        return s_dump(s_message(text, color, name, fields), err, errlen);
    }
    json_array_append_new(fields, s_field_of(ev, "Since", "started_at", 1));
    if (strcmp(kind, "RECOVERY") == 0)
        json_array_append_new(fields, s_field_of(ev, "Ended", "ended_at", 1));
    if (tone == CHANNEL_TONE_WARN) {
        json_array_append_new(fields, s_field_of(ev, "Acknowledged", "acknowledged_at", 1));
        json_array_append_new(fields, s_field_of(ev, "By", "acknowledged_by", 1));
    }
    json_array_append_new(fields, s_field_of(ev, "Address", "address", 1));
    if (tone == CHANNEL_TONE_WARN) /* an acknowledgement: no votes to show */
        return s_dump(s_message(text, color, name, fields), err, errlen);
    char votes[64];
    snprintf(votes, sizeof votes, "%lld/%lld agents down",
             (long long) json_integer_value(json_object_get(ev, "down_votes")),
             (long long) json_integer_value(json_object_get(ev, "live_agents")));
    json_array_append_new(fields, s_field("Agents", votes, 1));
    size_t i;
    json_t *ag;
    json_array_foreach(json_object_get(ev, "agents"), i, ag) {
        if (i >= 10)
            break;
        char t[PIECE_MAX], v[PIECE_MAX];
        channel_agent_line(ag, markup_slack, t, sizeof t, v, sizeof v);
        json_array_append_new(fields, s_field(t, v, 0));
    }
    return s_dump(s_message(text, color, name, fields), err, errlen);
}

/* First match wins. */
static const channel_rule_t s_rules[] = {
    {200, 200, CHANNEL_SENT, "ok"}, /* only with the body "ok": s_classify */
    {201, 299, CHANNEL_DEAD, "bad_body"},
    CHANNEL_ERROR_RULES,
};

static channel_outcome_t s_classify(long status, const char *body, size_t len, long retry_after)
{
    channel_outcome_t o =
        channel_classify_status(s_rules, sizeof s_rules / sizeof s_rules[0], status, retry_after);
    if (o.verdict == CHANNEL_SENT && !channel_body_is(body, len, "ok"))
        return (channel_outcome_t){CHANNEL_DEAD, -1, "bad_body"};
    return o;
}

const channel_ops_t channel_slack_ops = {
    .name = "slack",
    .content_type = "application/json",
    .render = s_render,
    .classify = s_classify,
};
