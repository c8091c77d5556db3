/* channel_teams: Microsoft Teams Workflows ("Post to a channel when a webhook request is
 * received"): an Adaptive Card 1.2 message envelope. Any 2xx (normally 202, empty body) is
 * success; 408/425/429/5xx retry; any other 4xx is permanent (bad card, bad sig, deleted
 * flow). The retired Office 365 connector (MessageCard) is not supported. */
#include <stdio.h>
#include <string.h>

#include "channel.h"

static json_t *s_fact(const char *title, const char *value)
{
    return json_pack("{s:s, s:s}", "title", title, "value", value);
}

/* An agent liveness card: one per agent, the headline and the agent's facts. */
static void s_agent_facts(const json_t *ev, int up, json_t *facts, char *title, size_t tlen,
                          char *line, size_t llen)
{
    channel_agent_headline(ev, title, tlen);
    snprintf(line, llen, "probe agent %s", up ? "reconnected" : "stopped reporting");
    json_array_append_new(facts, s_fact("Agent", channel_event_str(ev, "agent", "?")));
    json_array_append_new(facts, s_fact("Region", channel_event_str(ev, "region", "-")));
    json_array_append_new(facts, s_fact("Silent since", channel_event_str(ev, "silent_since", "-")));
    if (up)
        json_array_append_new(facts, s_fact("Back at", channel_event_str(ev, "back_at", "-")));
    json_array_append_new(facts, s_fact("Version", channel_event_str(ev, "version", "-")));
}

static void s_asset_facts(const json_t *ev, int recovery, json_t *facts, char *title,
                          size_t tlen, char *line, size_t llen)
{
    const char *kind = channel_event_str(ev, "event", "DOWN");
    const char *name = channel_event_str(ev, "asset_name", channel_event_str(ev, "asset_id", "?"));
    snprintf(title, tlen, "%s %s", channel_event_title(kind), name);
    channel_event_line(ev, line, llen);
    json_array_append_new(facts, s_fact("Since", channel_event_str(ev, "started_at", "-")));
    if (recovery)
        json_array_append_new(facts, s_fact("Ended", channel_event_str(ev, "ended_at", "-")));
    json_array_append_new(facts, s_fact("Address", channel_event_str(ev, "address", "-")));
    size_t i;
    json_t *ag;
    json_array_foreach(json_object_get(ev, "agents"), i, ag) {
        if (i >= 10)
            break;
        char t[160], v[320];
        channel_agent_line(ag, t, sizeof t, v, sizeof v);
        json_array_append_new(facts, s_fact(t, v));
    }
}

static char *s_render(const json_t *ev, char *err, size_t errlen)
{
    const char *kind = channel_event_str(ev, "event", "DOWN");
    int recovery = strcmp(kind, "RECOVERY") == 0 || strcmp(kind, "AGENT_UP") == 0;
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
        "type", "TextBlock", "text", title, "weight", "Bolder", "color",
        recovery ? "Good" : "Attention", "wrap", 1,
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

static channel_outcome_t s_classify(long status, const char *body, size_t len, long retry_after)
{
    if (status >= 200 && status < 300)
        return (channel_outcome_t){CHANNEL_SENT, -1, "ok"};
    if (status == 429)
        return (channel_outcome_t){CHANNEL_RETRY, retry_after, "rate_limited"};
    if (status >= 500 || status == 408 || status == 425)
        return (channel_outcome_t){CHANNEL_RETRY, retry_after, "server_error"};
    if (status >= 300 && status < 400)
        return (channel_outcome_t){CHANNEL_DEAD, -1, "redirect"};
    return (channel_outcome_t){CHANNEL_DEAD, -1, "client_error"};
}

const channel_ops_t channel_teams_ops = {
    .name = "teams",
    .content_type = "application/json",
    .render = s_render,
    .classify = s_classify,
};
