/* channel_ntfy: ntfy publish (POST the message text to the topic URL, e.g.
 * https://ntfy.sh/<topic>, with the headers Title, Priority and Tags; with tokenFile set,
 * "Authorization: Bearer <token>", the token never logged).
 *
 * What ntfy answers: success is 200 with the message as JSON ({"id", "time", "event":
 * "message", "topic", ...}); a 2xx without a JSON "id" is not a delivery we can vouch for
 * (dead, "bad_body"). Errors are JSON {"code": 40101, "http": 401, "error": "...", "link"}:
 * 400, 401/403 (token missing or without write access), 404, 413 (too large) are
 * permanent; 429 (codes 42901-42910: too many requests, 42908 the daily message quota) and
 * 5xx are transient. ntfy sends no Retry-After: a 429 waits RATE_WAIT_S (its default
 * visitor bucket refills one request every 5 s) unless a Retry-After is there, and the
 * daily quota (42908) falls back to the exponential backoff. No idempotency key: a retry
 * after a lost answer can publish twice.
 *
 * Limits honoured here: the message is at most BODY_MAX bytes (ntfy turns a message over
 * 4096 bytes into an attachment), built from whole lines. Header values are one line
 * (markup_plain); a Title with non-ASCII text is sent as an RFC 2047 encoded word
 * (=?UTF-8?B?...?=), which ntfy decodes (2.4.0 and later). The message is plain text (no
 * Markdown header), so outside text needs no escaping beyond that. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "channel.h"
#include "markup.h"
#include "sd_utf8.h"

#define BODY_MAX 4000
#define TITLE_MAX 200
#define PIECE_MAX 512
#define RATE_WAIT_S 5
#define QUOTA_CODE 42908

/* ---- priority ------------------------------------------------------------------------ */

/* 1..5 for a priority as notifiers.json may give it (1-5, "1"-"5", min, low, default,
 * high, max, urgent), 0 when it is none of those. */
static int s_priority_value(const json_t *p)
{
    static const struct {
        const char *name;
        int value;
    } names[] = {{"min", 1},  {"low", 2}, {"default", 3},
                 {"high", 4}, {"max", 5}, {"urgent", 5}};
    if (json_is_integer(p))
        return json_integer_value(p) >= 1 && json_integer_value(p) <= 5
                   ? (int) json_integer_value(p)
                   : 0;
    const char *s = json_string_value(p);
    if (!s)
        return 0;
    if (s[0] >= '1' && s[0] <= '5' && s[1] == 0)
        return s[0] - '0';
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (strcmp(s, names[i].name) == 0)
            return names[i].value;
    return 0;
}

/* ---- headers ------------------------------------------------------------------------- */

static void s_base64(const unsigned char *in, size_t n, char *out)
{
    static const char a[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    size_t o = 0;
    for (size_t i = 0; i < n; i += 3) {
        unsigned v = (unsigned) in[i] << 16 | (i + 1 < n ? (unsigned) in[i + 1] << 8 : 0) |
                     (i + 2 < n ? in[i + 2] : 0);
        out[o++] = a[v >> 18 & 63];
        out[o++] = a[v >> 12 & 63];
        out[o++] = i + 1 < n ? a[v >> 6 & 63] : '=';
        out[o++] = i + 2 < n ? a[v & 63] : '=';
    }
    out[o] = 0;
}

/* "Title: <text>", the text as an RFC 2047 encoded word when it is not all ASCII. */
static int s_title_header(channel_request_t *req, const char *title)
{
    bool ascii = true;
    for (const char *p = title; *p; p++)
        ascii = ascii && (unsigned char) *p < 0x80;
    if (ascii)
        return channel_request_header(req, "Title: %s", title);
    char b64[(TITLE_MAX + 2) / 3 * 4 + 1];
    s_base64((const unsigned char *) title, strlen(title), b64);
    return channel_request_header(req, "Title: =?UTF-8?B?%s?=", b64);
}

/* "DOWN api" from "🔴 DOWN": the event's title without its emoji (the Tags header shows one). */
static const char *s_plain_title(const char *kind)
{
    const char *t = channel_event_title(kind);
    const char *sp = strchr(t, ' ');
    return sp ? sp + 1 : t;
}

/* ---- the message --------------------------------------------------------------------- */

/* Appends the whole of piece to buf (len bytes so far, cap bytes) or nothing. */
static bool s_add(char *buf, size_t cap, size_t *len, const char *piece)
{
    size_t n = strlen(piece);
    if (*len + n + 1 > cap)
        return false;
    memcpy(buf + *len, piece, n + 1);
    *len += n;
    return true;
}

static void s_fact(char *buf, size_t cap, size_t *len, const json_t *ev, const char *name,
                   const char *key)
{
    char v[PIECE_MAX], line[PIECE_MAX + 64];
    markup_plain(v, sizeof v, channel_event_str(ev, key, "-"));
    sd_utf8_format(line, sizeof line, 0, "\n%s: %s", name, v);
    s_add(buf, cap, len, line);
}

static void s_asset_body(char *buf, size_t cap, size_t *len, const json_t *ev, const char *kind)
{
    char line[1024];
    channel_event_line(ev, markup_plain, line, sizeof line);
    s_add(buf, cap, len, line);
    if (strcmp(kind, "TEST") == 0)
        return;
    if (channel_is_digest(ev)) {
        s_fact(buf, cap, len, ev, "Since", "since");
        return;
    }
    s_fact(buf, cap, len, ev, "Since", "started_at");
    if (strcmp(kind, "RECOVERY") == 0)
        s_fact(buf, cap, len, ev, "Ended", "ended_at");
    if (strcmp(kind, "ACKNOWLEDGED") == 0) {
        s_fact(buf, cap, len, ev, "Acknowledged", "acknowledged_at");
        s_fact(buf, cap, len, ev, "By", "acknowledged_by");
    }
    s_fact(buf, cap, len, ev, "Address", "address");
    if (strcmp(kind, "ACKNOWLEDGED") == 0 || !json_object_get(ev, "down_votes"))
        return;
    char votes[96];
    snprintf(votes, sizeof votes, "\nAgents: %lld/%lld down",
             (long long) json_integer_value(json_object_get(ev, "down_votes")),
             (long long) json_integer_value(json_object_get(ev, "live_agents")));
    s_add(buf, cap, len, votes);
    size_t i;
    json_t *ag;
    json_array_foreach(json_object_get(ev, "agents"), i, ag) {
        char t[PIECE_MAX], v[PIECE_MAX], one[2 * PIECE_MAX + 16];
        channel_agent_line(ag, markup_plain, t, sizeof t, v, sizeof v);
        sd_utf8_format(one, sizeof one, 0, "\n- %s: %s", t, v);
        if (i >= 10 || !s_add(buf, cap, len, one))
            break;
    }
}

/* The message text (malloc'd) and its title (one line, bounded). */
static char *s_body(const json_t *ev, char *title, size_t tlen)
{
    char *buf = malloc(BODY_MAX + 1);
    if (!buf)
        return NULL;
    size_t len = 0;
    buf[0] = 0;
    const char *kind = channel_event_str(ev, "event", "DOWN");
    if (channel_is_agent_event(ev)) {
        char head[1024];
        channel_agent_headline(ev, markup_plain, head, sizeof head);
        s_add(buf, BODY_MAX + 1, &len, head);
        s_fact(buf, BODY_MAX + 1, &len, ev, "Version", "version");
        char agent[PIECE_MAX];
        markup_plain(agent, sizeof agent, channel_event_str(ev, "agent", "?"));
        sd_utf8_format(title, tlen, SD_UTF8_ELLIPSIS, "%s %s",
                       strcmp(kind, "AGENT_UP") == 0 ? "AGENT UP" : "AGENT DOWN", agent);
    } else {
        char name[PIECE_MAX];
        markup_plain(name, sizeof name, channel_event_subject(ev));
        sd_utf8_format(title, tlen, SD_UTF8_ELLIPSIS, "%s %s", s_plain_title(kind), name);
        s_asset_body(buf, BODY_MAX + 1, &len, ev, kind);
    }
    return buf;
}

static int s_prepare(const json_t *conf, const json_t *event, const channel_msg_t *msg,
                     channel_request_t *req, char *err, size_t errlen)
{
    (void) msg;
    const char *url = channel_conf_str(conf, "url", NULL);
    if (!url || !*url) {
        snprintf(err, errlen, "no url");
        return -EINVAL;
    }
    req->transport = CHANNEL_HTTP;
    req->url = strdup(url);
    char title[TITLE_MAX];
    req->body = s_body(event, title, sizeof title);
    if (!req->url || !req->body)
        return -ENOMEM;
    channel_tone_t tone = channel_event_tone(event);
    int conf_prio = s_priority_value(json_object_get(conf, "priority"));
    int prio = tone == CHANNEL_TONE_BAD ? (conf_prio ? conf_prio : 5) : 3;
    const char *tag = tone == CHANNEL_TONE_GOOD   ? "white_check_mark"
                      : tone == CHANNEL_TONE_WARN ? "eyes"
                      : tone == CHANNEL_TONE_INFO ? "test_tube"
                                                  : "rotating_light";
    int rc = channel_request_header(req, "Content-Type: text/plain; charset=utf-8");
    if (rc == 0)
        rc = s_title_header(req, title);
    if (rc == 0)
        rc = channel_request_header(req, "Priority: %d", prio);
    if (rc == 0)
        rc = channel_request_header(req, "Tags: %s", tag);
    if (rc == 0 && json_object_get(conf, "tokenFile")) {
        char *tok = channel_secret_file(conf, "tokenFile", err, errlen);
        if (!tok)
            return -EINVAL;
        rc = channel_request_header(req, "Authorization: Bearer %s", tok);
        memset(tok, 0, strlen(tok));
        free(tok);
    }
    return rc;
}

/* First match wins. */
static const channel_rule_t s_rules[] = {
    {200, 299, CHANNEL_SENT, "ok"}, /* only with the message's JSON "id": s_classify */
    CHANNEL_ERROR_RULES,
};

static channel_outcome_t s_classify(long status, const char *body, size_t len, long retry_after)
{
    json_t *j = len ? json_loadb(body, len, 0, NULL) : NULL;
    if (status == 429 && retry_after < 0 &&
        json_integer_value(json_object_get(j, "code")) != QUOTA_CODE)
        retry_after = RATE_WAIT_S;
    channel_outcome_t o =
        channel_classify_status(s_rules, sizeof s_rules / sizeof s_rules[0], status, retry_after);
    if (o.verdict == CHANNEL_SENT && !json_is_string(json_object_get(j, "id")))
        o = (channel_outcome_t){CHANNEL_DEAD, -1, "bad_body"};
    json_decref(j);
    return o;
}

static int s_check(const json_t *conf, char *err, size_t errlen)
{
    json_t *p = json_object_get(conf, "priority");
    if (p && !s_priority_value(p)) {
        snprintf(err, errlen,
                 "priority: expected 1-5 or min, low, default, high, max, urgent");
        return -EINVAL;
    }
    if (!json_object_get(conf, "tokenFile"))
        return 0;
    char *tok = channel_secret_file(conf, "tokenFile", err, errlen);
    if (!tok)
        return -EINVAL;
    bool ok = strcspn(tok, " \t\r\n") == strlen(tok);
    memset(tok, 0, strlen(tok));
    free(tok);
    if (!ok)
        snprintf(err, errlen, "tokenFile %s: the token has spaces in it",
                 channel_conf_str(conf, "tokenFile", "?"));
    return ok ? 0 : -EINVAL;
}

const channel_ops_t channel_ntfy_ops = {
    .name = "ntfy",
    .content_type = "text/plain",
    .prepare = s_prepare,
    .classify = s_classify,
    .check = s_check,
};
