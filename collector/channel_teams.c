/* channel_teams: Microsoft Teams Workflows ("Post to a channel when a webhook request is
 * received"; the sig query parameter of the URL is the secret): an Adaptive Card 1.2 message
 * envelope.
 *
 * What Teams answers: a Workflows webhook answers 202 Accepted with an empty body; that only
 * means a flow run was queued (the run itself can still fail later, out of our sight). The
 * retired Office 365 connector URLs (...webhook.office.com/webhookb2/...) answer 200 with the
 * body "1"; they do not throw 429 when throttling but answer 200 with a body containing
 * "Microsoft Teams endpoint returned HTTP error 429". So a 2xx body naming "HTTP error NNN"
 * is classified as status NNN (429: rate limited, retried), 202 with an empty body and 200
 * with "1" are delivered, and any other 2xx is dead ("bad_body"). 408, 425, 429 and 5xx are
 * retried; any other 4xx (bad card, bad signature, deleted flow) and 3xx are permanent. */
#include <stdio.h>
#include <string.h>

#include "channel.h"
#include "markup.h"
#include "sd_utf8.h"

#define PIECE_MAX 1024 /* one escaped string of the event */

static json_t *s_fact(const char *title, const char *value)
{
    return json_pack("{s:s, s:s}", "title", title, "value", value);
}

/* A fact whose value is the event's string at key, escaped (markup.h). */
static json_t *s_fact_of(const json_t *ev, const char *title, const char *key)
{
    char v[PIECE_MAX];
    markup_teams(v, sizeof v, channel_event_str(ev, key, "-"));
    return s_fact(title, v);
}

/* An agent liveness card: one per agent, the headline and the agent's facts. */
static void s_agent_facts(const json_t *ev, int up, json_t *facts, char *title, size_t tlen,
                          char *line, size_t llen)
{
    channel_agent_headline(ev, markup_teams, title, tlen);
    snprintf(line, llen, "probe agent %s", up ? "reconnected" : "stopped reporting");
    json_array_append_new(facts, s_fact_of(ev, "Agent", "agent"));
    json_array_append_new(facts, s_fact_of(ev, "Region", "region"));
    json_array_append_new(facts, s_fact_of(ev, "Silent since", "silent_since"));
    if (up)
        json_array_append_new(facts, s_fact_of(ev, "Back at", "back_at"));
    json_array_append_new(facts, s_fact_of(ev, "Version", "version"));
}

static void s_asset_facts(const json_t *ev, int recovery, json_t *facts, char *title,
                          size_t tlen, char *line, size_t llen)
{
    const char *kind = channel_event_str(ev, "event", "DOWN");
    char name[PIECE_MAX];
    markup_teams(name, sizeof name, channel_event_subject(ev));
    sd_utf8_format(title, tlen, 0, "%s %s", channel_event_title(kind), name);
    channel_event_line(ev, markup_teams, line, llen);
    if (strcmp(kind, "TEST") == 0) {
        json_array_append_new(facts, s_fact_of(ev, "Notifier", "notifier"));
        json_array_append_new(facts, s_fact_of(ev, "At", "at"));
        return;
    }
    if (channel_is_digest(ev)) {
        json_array_append_new(facts, s_fact_of(ev, "Since", "since"));
        return;
    }
    json_array_append_new(facts, s_fact_of(ev, "Since", "started_at"));
    if (recovery)
        json_array_append_new(facts, s_fact_of(ev, "Ended", "ended_at"));
    if (strcmp(kind, "ACKNOWLEDGED") == 0) {
        json_array_append_new(facts, s_fact_of(ev, "Acknowledged", "acknowledged_at"));
        json_array_append_new(facts, s_fact_of(ev, "By", "acknowledged_by"));
        json_array_append_new(facts, s_fact_of(ev, "Address", "address"));
        return; /* no votes to show */
    }
    json_array_append_new(facts, s_fact_of(ev, "Address", "address"));
    size_t i;
    json_t *ag;
    json_array_foreach(json_object_get(ev, "agents"), i, ag) {
        if (i >= 10)
            break;
        char t[PIECE_MAX], v[PIECE_MAX];
        channel_agent_line(ag, markup_teams, t, sizeof t, v, sizeof v);
        json_array_append_new(facts, s_fact(t, v));
    }
}

static char *s_render(const json_t *ev, char *err, size_t errlen)
{
    const char *kind = channel_event_str(ev, "event", "DOWN");
    int recovery = strcmp(kind, "RECOVERY") == 0 || strcmp(kind, "AGENT_UP") == 0 ||
                   strcmp(kind, "RECOVERY_DIGEST") == 0;
    channel_tone_t tone = channel_event_tone(ev);
    const char *color = recovery                    ? "Good"
                        : tone == CHANNEL_TONE_WARN ? "Warning"
                        : tone == CHANNEL_TONE_INFO ? "Accent"
                                                    : "Attention";
    char title[1024], line[1024];
    json_t *facts = json_array();
    if (channel_is_agent_event(ev))
        s_agent_facts(ev, recovery, facts, title, sizeof title, line, sizeof line);
    else
        s_asset_facts(ev, recovery, facts, title, sizeof title, line, sizeof line);
    json_t *card = json_pack(
        "{s:s, s:s, s:s, s:[{s:s, s:s, s:s, s:s, s:b}, {s:s, s:s, s:b}, {s:s, s:o}],"
        " s:{s:s}}",
        "$schema", "http://adaptivecards.io/schemas/adaptive-card.json", "type", "AdaptiveCard",
        "version", "1.2", "body",
        "type", "TextBlock", "text", title, "weight", "Bolder", "color", color,
        "wrap", 1,
        "type", "TextBlock", "text", line, "wrap", 1,
        "type", "FactSet", "facts", facts,
        "msteams", "width", "Full");
    json_t *body = card ? json_pack("{s:s, s:[{s:s, s:n, s:o}]}", "type", "message", "attachments",
                                    "contentType", "application/vnd.microsoft.card.adaptive",
                                    "contentUrl", "content", card)
                        : NULL;
    char *out = body ? json_dumps(body, JSON_COMPACT) : NULL;
    json_decref(body);
    if (!out)
        snprintf(err, errlen, "teams: cannot render the card");
    return out;
}

/* First match wins. */
static const channel_rule_t s_rules[] = {
    {200, 200, CHANNEL_SENT, "ok"}, /* connector: only with the body "1" */
    {202, 202, CHANNEL_SENT, "ok"}, /* Workflows: only with an empty body */
    {201, 299, CHANNEL_DEAD, "bad_body"},
    CHANNEL_ERROR_RULES,
};

#define EMBEDDED "HTTP error "

/* The NNN of the first "HTTP error NNN" in body (len bytes, any content), or -1. */
static long s_embedded_status(const char *body, size_t len)
{
    size_t k = sizeof EMBEDDED - 1;
    for (size_t i = 0; i + k + 3 <= len; i++) {
        const char *d = body + i + k;
        if (memcmp(body + i, EMBEDDED, k) == 0 && d[0] >= '1' && d[0] <= '9' && d[1] >= '0' &&
            d[1] <= '9' && d[2] >= '0' && d[2] <= '9')
            return (d[0] - '0') * 100 + (d[1] - '0') * 10 + (d[2] - '0');
    }
    return -1;
}

static channel_outcome_t s_classify(long status, const char *body, size_t len, long retry_after)
{
    size_t n = sizeof s_rules / sizeof s_rules[0];
    if (status >= 200 && status < 300) {
        long inner = s_embedded_status(body, len);
        if (inner >= 300) /* an error wrapped in a success */
            return channel_classify_status(s_rules, n, inner, retry_after);
        if (inner >= 0)
            return (channel_outcome_t){CHANNEL_DEAD, -1, "bad_body"};
    }
    channel_outcome_t o = channel_classify_status(s_rules, n, status, retry_after);
    if (o.verdict == CHANNEL_SENT && !channel_body_is(body, len, status == 200 ? "1" : ""))
        return (channel_outcome_t){CHANNEL_DEAD, -1, "bad_body"};
    return o;
}

const channel_ops_t channel_teams_ops = {
    .name = "teams",
    .content_type = "application/json",
    .render = s_render,
    .classify = s_classify,
};
