/* channel_telegram: Telegram Bot API sendMessage (POST JSON to
 * {apiUrl}/bot<token>/sendMessage, apiUrl https://api.telegram.org by default; the bot
 * token, read from botTokenFile, is the secret and lives only in the request URL: it is
 * never logged, never in an error text).
 *
 * What Telegram answers: always a JSON object. Success is 200 {"ok":true,"result":{...}}; a
 * 200 without "ok":true is not a delivery we can vouch for (dead, "bad_body"). Errors are
 * {"ok":false,"error_code":N,"description":"...","parameters":{...}}: 400 (chat not found,
 * can't parse entities, message too long), 401 (bad token), 403 (bot blocked or removed
 * from the chat), 404 (no such method: a wrong apiUrl or token) are permanent. 429 "Too Many
 * Requests: retry after N" carries parameters.retry_after in seconds, which the retry
 * honours (or Retry-After when larger). 5xx are transient. A 400 with
 * parameters.migrate_to_chat_id says the group became a supergroup with a new id: the
 * message is sent again to the new id (learn() keeps the new id in memory for that chat and
 * API, the notifier logs it once; the operator should put the new id into chatId, since a
 * restart forgets it). Telegram has no idempotency key: a retry after a lost answer can
 * post twice.
 *
 * Limits honoured here: text is 1-4096 characters after the entities are parsed; the text
 * is at most TEXT_MAX bytes (never more characters than bytes), built from whole lines, so
 * a cut never breaks a tag. Rate: about one message per second per chat, 20 per minute in a
 * group (429 tells us). Outside text goes through markup_html (parse_mode HTML). */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "channel.h"
#include "markup.h"
#include "sd_utf8.h"

#define DEFAULT_API "https://api.telegram.org"
#define TEXT_MAX 4000
#define PIECE_MAX 512
#define MIGRATED_MAX 32
#define KEY_MAX 512

/* ---- chats that moved (migrate_to_chat_id), per API and configured chatId --------------- */

typedef struct {
    char key[KEY_MAX]; /* "apiUrl chatId" */
    long long to;
} migrated_t;

static pthread_mutex_t s_mu = PTHREAD_MUTEX_INITIALIZER;
static migrated_t s_migrated[MIGRATED_MAX];
static size_t s_n_migrated, s_next_slot;

/* "apiUrl chatId" of conf into key; false when chatId is missing or too long. */
static bool s_key(const json_t *conf, char *key, size_t cap)
{
    const char *api = channel_conf_str(conf, "apiUrl", DEFAULT_API);
    json_t *id = json_object_get(conf, "chatId");
    int n = json_is_integer(id)  ? snprintf(key, cap, "%s %lld", api,
                                            (long long) json_integer_value(id))
            : json_is_string(id) ? snprintf(key, cap, "%s %s", api, json_string_value(id))
                                 : -1;
    return n > 0 && (size_t) n < cap;
}

/* The id conf's chat moved to, or 0 (Telegram chat ids are never 0). */
static long long s_moved_to(const json_t *conf)
{
    char key[KEY_MAX];
    long long to = 0;
    if (!s_key(conf, key, sizeof key))
        return 0;
    pthread_mutex_lock(&s_mu);
    for (size_t i = 0; i < s_n_migrated; i++)
        if (strcmp(s_migrated[i].key, key) == 0)
            to = s_migrated[i].to;
    pthread_mutex_unlock(&s_mu);
    return to;
}

/* Remembers that conf's chat moved to `to`; true when that is news. */
static bool s_remember(const json_t *conf, long long to)
{
    char key[KEY_MAX];
    if (!s_key(conf, key, sizeof key))
        return false;
    bool news = true;
    pthread_mutex_lock(&s_mu);
    size_t slot = s_n_migrated;
    for (size_t i = 0; i < s_n_migrated; i++)
        if (strcmp(s_migrated[i].key, key) == 0) {
            news = s_migrated[i].to != to;
            slot = i;
        }
    if (slot == s_n_migrated) {
        if (s_n_migrated < MIGRATED_MAX)
            s_n_migrated++;
        else
            slot = s_next_slot++ % MIGRATED_MAX; /* full: the oldest goes */
    }
    snprintf(s_migrated[slot].key, sizeof s_migrated[slot].key, "%s", key);
    s_migrated[slot].to = to;
    pthread_mutex_unlock(&s_mu);
    return news;
}

/* ---- the message ----------------------------------------------------------------------- */

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

/* "\n<b>Name:</b> value" with the event's string at key escaped. */
static void s_fact(char *buf, size_t cap, size_t *len, const json_t *ev, const char *name,
                   const char *key)
{
    char v[PIECE_MAX], line[PIECE_MAX + 64];
    markup_html(v, sizeof v, channel_event_str(ev, key, "-"));
    sd_utf8_format(line, sizeof line, 0, "\n<b>%s:</b> %s", name, v);
    s_add(buf, cap, len, line);
}

static void s_asset_text(char *buf, size_t cap, size_t *len, const json_t *ev, const char *kind)
{
    char name[PIECE_MAX], line[1024], head[PIECE_MAX + 1100];
    markup_html(name, sizeof name, channel_event_subject(ev));
    channel_event_line(ev, markup_html, line, sizeof line);
    sd_utf8_format(head, sizeof head, 0, "<b>%s %s</b>\n%s", channel_event_title(kind), name,
                   line);
    s_add(buf, cap, len, head);
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
    snprintf(votes, sizeof votes, "\n<b>Agents:</b> %lld/%lld down",
             (long long) json_integer_value(json_object_get(ev, "down_votes")),
             (long long) json_integer_value(json_object_get(ev, "live_agents")));
    s_add(buf, cap, len, votes);
    size_t i;
    json_t *ag;
    json_array_foreach(json_object_get(ev, "agents"), i, ag) {
        char t[PIECE_MAX], v[PIECE_MAX], one[2 * PIECE_MAX + 16];
        channel_agent_line(ag, markup_html, t, sizeof t, v, sizeof v);
        sd_utf8_format(one, sizeof one, 0, "\n• %s: %s", t, v);
        if (i >= 10 || !s_add(buf, cap, len, one))
            break;
    }
}

/* The HTML text of the message (malloc'd). */
static char *s_text(const json_t *ev)
{
    char *buf = malloc(TEXT_MAX + 1);
    if (!buf)
        return NULL;
    size_t len = 0;
    buf[0] = 0;
    const char *kind = channel_event_str(ev, "event", "DOWN");
    if (channel_is_agent_event(ev)) {
        char head[1024];
        channel_agent_headline(ev, markup_html, head, sizeof head);
        s_add(buf, TEXT_MAX + 1, &len, "<b>");
        s_add(buf, TEXT_MAX + 1, &len, head);
        s_add(buf, TEXT_MAX + 1, &len, "</b>");
        s_fact(buf, TEXT_MAX + 1, &len, ev, "Version", "version");
    } else {
        s_asset_text(buf, TEXT_MAX + 1, &len, ev, kind);
    }
    return buf;
}

/* A bot token is "<digits>:<letters, digits, - and _>": nothing that could change the URL. */
static bool s_token_ok(const char *t)
{
    size_t d = strspn(t, "0123456789");
    return d > 0 && t[d] == ':' && t[d + 1] &&
           strspn(t + d + 1, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-") ==
               strlen(t + d + 1);
}

/* The bot token of conf (malloc'd, to be wiped), or NULL with err naming the file only. */
static char *s_token(const json_t *conf, char *err, size_t errlen)
{
    char *tok = channel_secret_file(conf, "botTokenFile", err, errlen);
    if (tok && !s_token_ok(tok)) {
        snprintf(err, errlen, "botTokenFile %s: not a bot token (digits:letters)",
                 channel_conf_str(conf, "botTokenFile", "?"));
        memset(tok, 0, strlen(tok));
        free(tok);
        return NULL;
    }
    return tok;
}

static int s_prepare(const json_t *conf, const json_t *event, const channel_msg_t *msg,
                     channel_request_t *req, char *err, size_t errlen)
{
    (void) msg;
    char *tok = s_token(conf, err, errlen);
    if (!tok)
        return -EINVAL;
    const char *api = channel_conf_str(conf, "apiUrl", DEFAULT_API);
    size_t alen = strlen(api);
    while (alen > 0 && api[alen - 1] == '/')
        alen--;
    int rc = asprintf(&req->url, "%.*s/bot%s/sendMessage", (int) alen, api, tok);
    memset(tok, 0, strlen(tok));
    free(tok);
    if (rc < 0) {
        req->url = NULL;
        return -ENOMEM;
    }
    req->transport = CHANNEL_HTTP;
    long long moved = s_moved_to(conf);
    json_t *chat = moved ? json_integer(moved) : json_deep_copy(json_object_get(conf, "chatId"));
    char *text = s_text(event);
    json_t *body = NULL;
    if (chat && text) /* json_pack takes chat, even when it fails */
        body = json_pack("{s:o, s:s, s:s, s:{s:b}}", "chat_id", chat, "text", text,
                         "parse_mode", "HTML", "link_preview_options", "is_disabled", 1);
    else
        json_decref(chat);
    free(text);
    req->body = body ? json_dumps(body, JSON_COMPACT) : NULL;
    json_decref(body);
    if (!req->body) {
        snprintf(err, errlen, "telegram: cannot render the message");
        return -ENOMEM;
    }
    return channel_request_header(req, "Content-Type: application/json");
}

/* First match wins. */
static const channel_rule_t s_rules[] = {
    {200, 200, CHANNEL_SENT, "ok"}, /* only with "ok": true: s_classify */
    {201, 299, CHANNEL_DEAD, "bad_body"},
    CHANNEL_ERROR_RULES,
};

/* parameters.migrate_to_chat_id of an answer, or 0. */
static long long s_migrate_to(const json_t *j)
{
    return json_integer_value(
        json_object_get(json_object_get(j, "parameters"), "migrate_to_chat_id"));
}

static channel_outcome_t s_classify(long status, const char *body, size_t len, long retry_after)
{
    json_t *j = len ? json_loadb(body, len, 0, NULL) : NULL;
    if (status == 429) {
        json_int_t ra = json_integer_value(
            json_object_get(json_object_get(j, "parameters"), "retry_after"));
        if (ra > 0 && ra > retry_after && ra < 86400)
            retry_after = (long) ra;
    }
    channel_outcome_t o =
        channel_classify_status(s_rules, sizeof s_rules / sizeof s_rules[0], status, retry_after);
    if (status == 200 && !json_is_true(json_object_get(j, "ok")))
        o = (channel_outcome_t){CHANNEL_DEAD, -1, "bad_body"};
    else if (status == 400 && s_migrate_to(j) != 0)
        o = (channel_outcome_t){CHANNEL_RETRY, 0, "chat_migrated"}; /* to the new id at once */
    json_decref(j);
    return o;
}

static int s_learn(const json_t *conf, long status, const char *body, size_t len, char *note,
                   size_t notelen)
{
    if (status != 400 || len == 0)
        return 0;
    json_t *j = json_loadb(body, len, 0, NULL);
    long long to = s_migrate_to(j);
    json_decref(j);
    if (to == 0 || !s_remember(conf, to))
        return 0;
    char from[128];
    json_t *id = json_object_get(conf, "chatId");
    if (json_is_integer(id))
        snprintf(from, sizeof from, "%lld", (long long) json_integer_value(id));
    else
        sd_utf8_scopy(from, sizeof from, json_string_value(id), SD_UTF8_ONE_LINE);
    snprintf(note, notelen,
             "telegram chat %s became a supergroup with id %lld: sending there from now on; "
             "set \"chatId\": %lld in notifiers.json (a restart forgets this)",
             from, to, to);
    return 1;
}

static int s_check(const json_t *conf, char *err, size_t errlen)
{
    char *tok = s_token(conf, err, errlen);
    if (!tok)
        return -EINVAL;
    memset(tok, 0, strlen(tok));
    free(tok);
    return 0;
}

const channel_ops_t channel_telegram_ops = {
    .name = "telegram",
    .content_type = "application/json",
    .prepare = s_prepare,
    .classify = s_classify,
    .check = s_check,
    .learn = s_learn,
};
