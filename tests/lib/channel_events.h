/* Test helper: the notifications.payload of every event kind (collector/channel.h), as the
 * engine and the API write them, plus a hostile variant whose every outside string is
 * markup, and the prepare of a channel into a request. Header-only, for the channel tests. */
#ifndef TEST_CHANNEL_EVENTS_H
#define TEST_CHANNEL_EVENTS_H

#include <jansson.h>
#include <string.h>

#include "channel.h"

/* Every event kind a channel must render. */
static const char *const TEST_EVENT_KINDS[] = {
    "DOWN",   "RECOVERY",     "REMINDER", "AGENT_DOWN",  "AGENT_UP",       "FLAPPING",
    "STABLE", "ACKNOWLEDGED", "TEST",     "DOWN_DIGEST", "RECOVERY_DIGEST"};
#define TEST_N_EVENT_KINDS (sizeof TEST_EVENT_KINDS / sizeof TEST_EVENT_KINDS[0])

/* The payload of kind; hostile: outside strings are markup of every chat format. */
static inline json_t *test_event(const char *kind, int hostile)
{
    const char *name = hostile ? "<!channel> *Köln* [x](http://y) @everyone <b>☃</b> \"q\""
                               : "API prod";
    const char *addr = hostile ? "<https://evil|click> & <a href=\"x\">" : "https://api.example.com";
    const char *reason = hostile ? "<@U1> down _now_ & then `rm` ||s|| </b>" : "status 503";
    const char *agent = hostile ? "<!here>" : "agent-eu-1";
    const char *by = hostile ? "<i>eve</i> @here" : "ops-token";
    json_t *ev;
    if (strncmp(kind, "AGENT_", 6) == 0)
        return json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:i}", "event", kind, "agent", agent,
                         "region", hostile ? "eu`>" : "eu-west", "version", "0.1.0",
                         "silent_since", "2026-11-25T08:43:00.000Z", "back_at",
                         "2026-11-25T08:45:00.000Z", "down_seconds", 120);
    if (strcmp(kind, "TEST") == 0)
        return json_pack("{s:s, s:s, s:s, s:s}", "event", kind, "notifier",
                         hostile ? "<b>ops</b>" : "ops-chat", "at", "2026-12-06T01:00:00Z",
                         "message", "StatusD test message");
    if (strstr(kind, "_DIGEST"))
        /* five pages collapsed, three named (digest.c) */
        return json_pack("{s:s, s:s, s:i, s:s, s:i, s:i, s:s,"
                         " s:[{s:s, s:s, s:s, s:i}, {s:s, s:s, s:s, s:i}, {s:s, s:s, s:s, s:i}]}",
                         "event", kind, "asset_name", "5 more assets", "count", 5, "since",
                         "2026-09-01T12:01:00.000Z", "window_seconds", 60, "threshold", 3,
                         "notifier", "ops-chat", "assets", "asset_id", "api-prod",
                         "asset_name", name, "reason", reason, "duration_seconds", 120,
                         "asset_id", "api-2", "asset_name", "api-2", "reason", "timeout",
                         "duration_seconds", 60, "asset_id", "api-3", "asset_name", "api-3",
                         "reason", "status 500", "duration_seconds", 30);
    ev = json_pack("{s:s, s:s, s:s, s:s, s:I, s:s, s:s, s:i, s:i, s:i, s:i, s:i, s:i,"
                   " s:[{s:s, s:s, s:s, s:s}, {s:s, s:s, s:s, s:s}]}",
                   "event", kind, "asset_id", "api-prod", "asset_name", name, "address", addr,
                   "incident_id", (json_int_t) 7, "started_at", "2026-09-01T12:01:00.000Z",
                   "reason", reason, "down_votes", 2, "live_agents", 2, "down_locations", 2,
                   "live_locations", 2, "locations", 2, "quorum", 2, "agents", "agent", agent,
                   "region", "eu", "vote", "DOWN", "error", reason, "agent", "a2", "region",
                   "us", "vote", "DOWN", "error", "timeout");
    if (strcmp(kind, "RECOVERY") == 0) {
        json_object_set_new(ev, "ended_at", json_string("2026-09-01T12:03:00.000Z"));
        json_object_set_new(ev, "duration_seconds", json_integer(120));
    }
    if (strcmp(kind, "FLAPPING") == 0 || strcmp(kind, "STABLE") == 0) {
        json_object_set_new(ev, "state", json_string(strcmp(kind, "STABLE") ? "DOWN" : "UP"));
        json_object_set_new(ev, "percent_state_change", json_real(52.0));
        json_object_set_new(ev, "at", json_string("2026-09-01T12:05:00.000Z"));
    }
    if (strcmp(kind, "ACKNOWLEDGED") == 0) {
        json_object_set_new(ev, "acknowledged_at", json_string("2026-09-01T12:02:00.000Z"));
        json_object_set_new(ev, "acknowledged_by", json_string(by));
    }
    return ev;
}

/* A request built by ops->prepare for conf and ev; fails the test when it cannot. */
static inline channel_request_t test_prepare(const channel_ops_t *ops, const json_t *conf,
                                             const json_t *ev)
{
    channel_request_t req;
    char err[256] = "";
    channel_msg_t msg = {.row_id = 11, .incident_id = 7, .now_ms = 1};
    if (channel_prepare(ops, conf, NULL, ev, &msg, &req, err, sizeof err) != 0)
        fail_msg("prepare %s: %s", ops->name, err);
    return req;
}

/* The value of header name ("Title") in req, or NULL. */
static inline const char *test_header(const channel_request_t *req, const char *name)
{
    size_t n = strlen(name);
    for (size_t i = 0; i < CHANNEL_HEADERS_MAX && req->headers[i]; i++)
        if (strncmp(req->headers[i], name, n) == 0 && req->headers[i][n] == ':')
            return req->headers[i] + n + 2;
    return NULL;
}

#endif
