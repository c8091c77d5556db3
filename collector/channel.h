/* channel: one delivery protocol per notifier type (Slack incoming webhook, Teams Workflows,
 * ...). A channel turns an outbox event into a request (a JSON body for its webhook, or a
 * whole request: URL, headers, body, or a mail) and classifies the answer with its own
 * status table (channel_rule_t) plus the body checks its protocol needs: what each service
 * answers on success, on error and when it throttles is written at the head of its
 * channel_<type>.c. A registry maps the type name to its ops; a new channel type is one new
 * file, one table line in channel.c and one in common/sd_config.c (its fields).
 *
 * The event JSON (the notifications.payload written by the engine) has:
 *   event ("DOWN"|"RECOVERY"|"REMINDER"), asset_id, asset_name, address, incident_id,
 *   started_at (RFC 3339), reason, summary, down_votes, live_agents, down_locations,
 *   live_locations, locations, quorum, agents [{agent, region, vote, error}], for RECOVERY
 *   ended_at, duration_seconds, and for an escalated DOWN escalation_tier (1..).
 * An acknowledgement (written with the ack, store_incidents_ack) has:
 *   event "ACKNOWLEDGED", incident_id, asset_id, asset_name, address, started_at,
 *   acknowledged_at (RFC 3339), acknowledged_by.
 * The test button's message (channel_test_event) has:
 *   event "TEST", notifier, at (RFC 3339), message.
 * An agent liveness event (one per agent, never per asset) has instead:
 *   event ("AGENT_DOWN"|"AGENT_UP"), agent, region, version, silent_since (RFC 3339),
 *   and for AGENT_UP back_at (RFC 3339) and down_seconds.
 * A flapping event (one per asset when it starts and when it settles) has:
 *   event ("FLAPPING"|"STABLE"), asset_id, asset_name, address, state (the verdict now),
 *   percent_state_change (number), at / started_at (RFC 3339), incident_id when one is open.
 * An acknowledgement (an operator took the incident) has:
 *   event "ACKNOWLEDGED", asset_id, asset_name, address, incident_id, started_at,
 *   acknowledged_at (RFC 3339), acknowledged_by (a token's name or fingerprint).
 * A test message (the test button) has:
 *   event "TEST", notifier (its name), at (RFC 3339), message ("StatusD test message").
 * A storm digest (the pages collapsed on this notifier in one window, digest.h) has:
 *   event ("DOWN_DIGEST"|"RECOVERY_DIGEST"), asset_name ("17 more assets": the subject),
 *   count, assets [{asset_id, asset_name, reason, started_at, duration_seconds}] (the first
 *   maxNames, each name at most DIGEST_NAME_MAX bytes), since (RFC 3339), window_seconds,
 *   threshold, notifier. */
#ifndef CHANNEL_H
#define CHANNEL_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sd_config.h"

typedef enum { CHANNEL_SENT = 0, CHANNEL_RETRY, CHANNEL_DEAD } channel_verdict_t;

typedef struct {
    channel_verdict_t verdict;
    long retry_after_s;        /* RETRY: the server's Retry-After in seconds, -1 when none */
    const char *reason;        /* static, low-cardinality metric label: "ok", "bad_body",
                                  "redirect", "client_error", "request_timeout", "too_early",
                                  "rate_limited", "server_error", "bad_status", "timeout",
                                  "network", "config_error"; a channel's own: "unknown_webhook"
                                  (Discord), "chat_migrated" (Telegram) */
} channel_outcome_t;

/* One line of a channel's status table: the statuses lo..hi get verdict and reason. */
typedef struct {
    long lo, hi;
    channel_verdict_t verdict;
    const char *reason;
} channel_rule_t;

/* The rows of every channel's table after its own 2xx rows: no redirect is followed (a
 * webhook that moved is a config error); 408, 425, 429 (rate limited) and 5xx are transient;
 * any other 4xx is final (revoked or wrong webhook, rejected payload). */
#define CHANNEL_ERROR_RULES                                                                      \
    {300, 399, CHANNEL_DEAD, "redirect"}, {408, 408, CHANNEL_RETRY, "request_timeout"},          \
        {425, 425, CHANNEL_RETRY, "too_early"}, {429, 429, CHANNEL_RETRY, "rate_limited"},       \
        {400, 499, CHANNEL_DEAD, "client_error"}, {500, 599, CHANNEL_RETRY, "server_error"}

/* The outcome of status by the first rule of rules[0..n) that covers it; a RETRY carries
 * retry_after_s. A status no rule covers (below 200, 600 and above) is RETRY "bad_status". */
channel_outcome_t channel_classify_status(const channel_rule_t *rules, size_t n, long status,
                                          long retry_after_s);

/* True when body (len bytes, not NUL-terminated) is want once surrounding ASCII whitespace
 * is ignored ("" matches an empty or all-whitespace body). */
bool channel_body_is(const char *body, size_t len, const char *want);

/* What one delivery sends: an HTTP POST, or a mail over SMTP (libcurl both). Every string
 * is malloc'd and freed by channel_request_clear. */
typedef enum { CHANNEL_HTTP = 0, CHANNEL_SMTP } channel_transport_t;

#define CHANNEL_HEADERS_MAX 12

typedef struct {
    channel_transport_t transport;
    char *url;                 /* http(s)://... or smtp(s)://host:port */
    char *body;                /* the HTTP body, or the whole mail (headers, MIME parts) */
    size_t body_len;           /* 0: strlen(body) */
    char *headers[CHANNEL_HEADERS_MAX + 1]; /* "Name: value" lines (Content-Type included for
                                  HTTP), NULL-terminated */
    /* SMTP only */
    char *mail_from;
    char **rcpt;               /* NULL-terminated */
    char *username, *password;
    long use_ssl;              /* a CURLUSESSL_* value */
} channel_request_t;

/* Appends a formatted "Name: value" line to r's headers; 0, -E2BIG (full) or -ENOMEM. */
int channel_request_header(channel_request_t *r, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Frees what r holds and zeroes it; accepts an empty r. */
void channel_request_clear(channel_request_t *r);

/* What the notifier knows about the outbox row being delivered. */
typedef struct {
    int64_t row_id;            /* notifications.id: stable across retries (idempotency keys) */
    int64_t incident_id;       /* 0 for agent events */
    int attempts;              /* attempts made before this one */
    int64_t now_ms;            /* wall clock, unix ms */
} channel_msg_t;

typedef struct {
    const char *name;          /* notifiers.json "type" */
    bool no_digest;            /* every page goes alone: storms are not collapsed into a digest
                                  for this type (PagerDuty groups alerts itself and resolves
                                  each by its dedup_key; a webhook receiver is a program) */
    const char *content_type;  /* for render */
    /* The simple form, a JSON webhook: renders the request body, POSTed to the notifier's
     * webhookUrl; malloc'd string, or NULL with a message in err. NULL when prepare is set. */
    char *(*render)(const json_t *event, char *err, size_t errlen);
    /* The full form: builds the whole request from the notifier's object (conf: its
     * notifiers.json object) and the event. 0, or -errno with a message in err (the row is
     * then dead: a config or render error). NULL when render is set. */
    int (*prepare)(const json_t *conf, const json_t *event, const channel_msg_t *msg,
                   channel_request_t *req, char *err, size_t errlen);
    /* Classifies a completed exchange: status is the HTTP status (or the SMTP reply code);
     * body is the first body_len bytes of the answer (any bytes, not NUL-terminated);
     * retry_after_s: CURLINFO_RETRY_AFTER (-1 none). */
    channel_outcome_t (*classify)(long status, const char *body, size_t body_len,
                                  long retry_after_s);
    /* Optional: classifies a transfer libcurl ended with curl_code, with the last reply code
     * the server sent (SMTP: 451, 550 ...; 0 none); NULL: channel_classify_transport. */
    channel_outcome_t (*classify_failure)(int curl_code, long reply_code);
    /* Optional, at collector start: checks what notifiers.json's parser cannot (a secret file
     * readable, a field's value among the allowed). 0, or -errno with a message in err. */
    int (*check)(const json_t *conf, char *err, size_t errlen);
    /* Optional: sees every HTTP answer (before classify) with the notifier's conf, to learn
     * what later prepares for that notifier need (Telegram: the chat moved to a new id).
     * Returns 1 with a message in note the first time it learns something the operator
     * must hear of (the caller logs it), else 0. Never puts a secret into note. */
    int (*learn)(const json_t *conf, long status, const char *body, size_t body_len,
                 char *note, size_t notelen);
} channel_ops_t;

/* The ops for a type name, or NULL when unknown. */
const channel_ops_t *channel_find(const char *type);

/* Builds the request of a delivery: ops->prepare, or for a render channel a JSON POST of
 * the rendered body to url (the notifier's webhookUrl). 0 or -errno with err. */
int channel_prepare(const channel_ops_t *ops, const json_t *conf, const char *url,
                    const json_t *event, const channel_msg_t *msg, channel_request_t *req,
                    char *err, size_t errlen);

/* Every notifier of n (NULL: none): its type known and its channel's check passed. 0, or
 * -EINVAL with "notifiers.NAME: ..." in err. Called by the collector at start. */
int channel_check_all(const sd_notifiers_t *n, char *err, size_t errlen);

/* A secret kept in a file named by conf's field: its first line, without the line end
 * (malloc'd; never logged). NULL with err ("routingKeyFile /x: No such file or
 * directory", "... is empty") when it cannot be read. */
char *channel_secret_file(const json_t *conf, const char *field, char *err, size_t errlen);
/* The TEST event of the test button for notifier name at now_ms (unix ms): {event:"TEST",
 * notifier, at, message}; NULL on allocation failure. */
json_t *channel_test_event(const char *name, int64_t now_ms);

/* conf's string field, or dflt when absent. */
const char *channel_conf_str(const json_t *conf, const char *key, const char *dflt);

/* Classifies a transport failure (libcurl error code, 0 = none): TLS verification, login
 * and malformed-URL errors are DEAD ("config_error"); a timeout is RETRY "timeout";
 * everything else (refused, reset, DNS, empty reply) is RETRY "network". */
channel_outcome_t channel_classify_transport(int curl_code);

/* Shared rendering helpers for channel_*.c. Every string of the event is text from outside
 * (agent ids, regions, asset names and addresses, reasons, versions): a channel puts it into
 * its message only through its format's escape (markup.h), never as markup. */
typedef size_t (*channel_escape_fn)(char *dst, size_t cap, const char *src);
/* The event's string at key, raw (dflt when absent or empty): escape it before use. */
const char *channel_event_str(const json_t *event, const char *key, const char *dflt);
/* "🔴 DOWN", "✅ RECOVERED", "🔁 STILL DOWN", "🔀 FLAPPING", "🟰 STABLE", "👀 ACKNOWLEDGED",
 * "🧪 TEST" for the event kind. */
const char *channel_event_title(const char *event);
/* What the event is about, raw: asset_name, else asset_id, else notifier (TEST), else "?". */
const char *channel_event_subject(const json_t *event);
/* The colour family of an event: BAD (DOWN, REMINDER, AGENT_DOWN, FLAPPING), GOOD
 * (RECOVERY, AGENT_UP, STABLE), WARN (ACKNOWLEDGED), INFO (TEST). */
typedef enum {
    CHANNEL_TONE_BAD = 0,
    CHANNEL_TONE_GOOD,
    CHANNEL_TONE_WARN,
    CHANNEL_TONE_INFO
} channel_tone_t;
channel_tone_t channel_event_tone(const json_t *event);
/* True for DOWN_DIGEST / RECOVERY_DIGEST events. */
bool channel_is_digest(const json_t *event);
/* Bytes of one asset name in a digest (digest.c cuts longer ones). */
#define DIGEST_NAME_MAX 80
/* True for AGENT_DOWN / AGENT_UP events. */
bool channel_is_agent_event(const json_t *event);
/* "🔴 AGENT DOWN agent-eu-1 (eu-west): silent since 2026-...Z" or
 * "✅ AGENT UP agent-eu-1 (eu-west): back after 42 s (silent since ...)", the event's
 * strings escaped with esc. */
void channel_agent_headline(const json_t *event, channel_escape_fn esc, char *buf, size_t len);
/* A one-line explanation: reason for DOWN/REMINDER, "back up after N s" for RECOVERY,
 * "a, b, c and 14 more" for a digest (the names that fit in len),
 * "acknowledged by X at T; ..." for ACKNOWLEDGED, the message and notifier for TEST; the
 * event's strings escaped with esc. */
void channel_event_line(const json_t *event, channel_escape_fn esc, char *buf, size_t len);
/* "agent (region)" and "VOTE: error" for one element of the event's agents array, its
 * strings escaped with esc. */
void channel_agent_line(const json_t *agent, channel_escape_fn esc, char *title, size_t tlen,
                        char *value, size_t vlen);

extern const channel_ops_t channel_slack_ops;
extern const channel_ops_t channel_teams_ops;
extern const channel_ops_t channel_discord_ops;
extern const channel_ops_t channel_telegram_ops;
extern const channel_ops_t channel_ntfy_ops;
extern const channel_ops_t channel_email_ops;
extern const channel_ops_t channel_pagerduty_ops;
extern const channel_ops_t channel_webhook_ops;

#endif
