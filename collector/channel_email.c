/* channel_email: alerts by mail over SMTP, sent by libcurl on the notifier's multi handle.
 *
 * What SMTP and libcurl do, the facts this file relies on:
 *  - smtp://host:587 upgrades with STARTTLS: CURLUSESSL_ALL fails the transfer
 *    (CURLE_USE_SSL_FAILED) when the server does not offer it, CURLUSESSL_TRY silently goes
 *    on in clear text, CURLUSESSL_NONE never asks. smtps://host:465 is TLS from the first
 *    byte. "starttls" maps to them: "required" (the default), "opportunistic", "off".
 *  - The envelope (MAIL FROM, RCPT TO) is separate from the headers: libcurl sends
 *    CURLOPT_MAIL_FROM and each CURLOPT_MAIL_RCPT, then streams our message as DATA and
 *    ends it with CRLF.CRLF itself. libcurl (7.88) doubles a "." starting a line, but our
 *    message never has one (mail.h), so a server sees exactly what we built either way.
 *  - Without CURLOPT_MAIL_RCPT_ALLLOWFAILS one refused recipient fails the whole transfer
 *    before DATA: nobody gets the mail, so a retry cannot give anyone a duplicate.
 *  - Success is CURLE_OK after 250 to the end of DATA: the relay accepted the mail, which
 *    is not delivery to a mailbox. A refused MAIL, RCPT or DATA ends the transfer with an
 *    error (CURLE_SEND_ERROR, or CURLE_WEIRD_SERVER_REPLY / CURLE_RECV_ERROR after DATA);
 *    the reply code is CURLINFO_RESPONSE_CODE. RFC 5321: 4yz is transient (421 closing or
 *    throttling, 450/451/452), retried with the notifier's backoff; 5yz is permanent (550
 *    no such user, 552, 553, 554): the row is dead. A wrong password is 535
 *    (CURLE_LOGIN_DENIED): a config error; 454 is a transient authentication failure.
 *  - A connection lost after the final "." and before the 250 may leave the mail queued:
 *    the retry can duplicate it. Message-ID is stable per outbox row
 *    (<statusd-ROW@from's domain>) so a resend is recognisable, and every mail of one
 *    incident refers to <statusd-incident-N@domain> (In-Reply-To, References), which mail
 *    clients use to thread DOWN, reminders, acknowledgement and RECOVERY together.
 * Everything from outside (names, addresses, reasons, agents) is made valid one-line UTF-8
 * and bounded (FIELD_MAX), and escaped for the HTML part (markup_html). */
#include <curl/curl.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "channel.h"
#include "mail.h"
#include "markup.h"
#include "sd_utf8.h"

#define FIELD_MAX 512  /* bytes of one value from outside, before escaping */
#define AGENTS_MAX 50  /* agents listed in a DOWN */
#define NAME_MAX_B 120 /* bytes of the asset or agent name in the subject */

/* ---- configuration ------------------------------------------------------------------- */

/* The checks both the start-time check and every send make: 0 or -EINVAL with err. */
static int s_conf(const json_t *conf, long *use_ssl, char *err, size_t errlen)
{
    const char *url = channel_conf_str(conf, "smtpUrl", "");
    const char *from = channel_conf_str(conf, "from", "");
    const char *tls = channel_conf_str(conf, "starttls", "required");
    json_t *to = json_object_get(conf, "to");
    if (strncmp(url, "smtp://", 7) != 0 && strncmp(url, "smtps://", 8) != 0) {
        snprintf(err, errlen, "smtpUrl: expected an smtp:// or smtps:// URL");
        return -EINVAL;
    }
    if (!mail_addr_valid(from)) {
        snprintf(err, errlen, "from: not a plain address (local@domain, ASCII)");
        return -EINVAL;
    }
    if (json_array_size(to) == 0 || json_array_size(to) > MAIL_RCPT_MAX) {
        snprintf(err, errlen, "to: expected 1 to %d addresses", MAIL_RCPT_MAX);
        return -EINVAL;
    }
    for (size_t i = 0; i < json_array_size(to); i++)
        if (!mail_addr_valid(json_string_value(json_array_get(to, i)))) {
            snprintf(err, errlen, "to[%zu]: not a plain address (local@domain, ASCII)", i);
            return -EINVAL;
        }
    if (strcmp(tls, "required") == 0)
        *use_ssl = CURLUSESSL_ALL;
    else if (strcmp(tls, "opportunistic") == 0)
        *use_ssl = CURLUSESSL_TRY;
    else if (strcmp(tls, "off") == 0)
        *use_ssl = CURLUSESSL_NONE;
    else {
        snprintf(err, errlen, "starttls: expected \"required\", \"opportunistic\" or \"off\"");
        return -EINVAL;
    }
    if (strncmp(url, "smtps://", 8) == 0)
        *use_ssl = CURLUSESSL_ALL; /* TLS from the start; starttls does not apply */
    if (!json_object_get(conf, "username") != !json_object_get(conf, "passwordFile")) {
        snprintf(err, errlen, "username and passwordFile go together");
        return -EINVAL;
    }
    return 0;
}

static int s_check(const json_t *conf, char *err, size_t errlen)
{
    long use_ssl;
    int rc = s_conf(conf, &use_ssl, err, errlen);
    if (rc != 0 || !json_object_get(conf, "passwordFile"))
        return rc;
    char *pw = channel_secret_file(conf, "passwordFile", err, errlen);
    if (!pw)
        return -EACCES;
    memset(pw, 0, strlen(pw));
    free(pw);
    return 0;
}

/* ---- rendering: one text and one HTML document from the same facts -------------------- */

typedef struct {
    FILE *text, *html;
} doc_t;

/* The escape for the text part: valid one-line UTF-8, bounded. */
static size_t s_plain(char *dst, size_t cap, const char *src)
{
    return sd_utf8_scopy(dst, cap, src, SD_UTF8_ONE_LINE | SD_UTF8_ELLIPSIS);
}

static void s_heading(doc_t *d, const char *raw, const char *color)
{
    char t[FIELD_MAX], h[6 * FIELD_MAX];
    s_plain(t, sizeof t, raw);
    markup_html(h, sizeof h, t);
    fprintf(d->text, "%s\n\n", t);
    fprintf(d->html,
            "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>%s</title></head>\n"
            "<body style=\"font-family:sans-serif\">\n<h2 style=\"color:%s\">%s</h2>\n"
            "<table cellpadding=\"4\" style=\"border-collapse:collapse\">\n",
            h, color, h);
}

/* One "Label: value" line; label is ours, value from outside (NULL: the fact is left out). */
static void s_fact(doc_t *d, const char *label, const char *raw)
{
    if (!raw || !*raw)
        return;
    char t[FIELD_MAX], h[6 * FIELD_MAX];
    s_plain(t, sizeof t, raw);
    markup_html(h, sizeof h, t);
    fprintf(d->text, "%s: %s\n", label, t);
    fprintf(d->html, "<tr><th align=\"left\">%s</th><td>%s</td></tr>\n", label, h);
}

static void s_fact_ev(doc_t *d, const char *label, const json_t *ev, const char *key)
{
    s_fact(d, label, channel_event_str(ev, key, NULL));
}

static bool s_num(const json_t *ev, const char *key, double *out)
{
    json_t *j = json_object_get(ev, key);
    *out = json_number_value(j);
    return json_is_number(j);
}

static void s_end(doc_t *d, const channel_msg_t *msg)
{
    fprintf(d->text, "\n-- \nStatusD notification %lld\n", (long long) msg->row_id);
    fprintf(d->html,
            "</table>\n<p style=\"color:#888888;font-size:small\">StatusD notification "
            "%lld</p>\n</body></html>\n",
            (long long) msg->row_id);
}

typedef struct {
    const char *event, *tag, *color;
} kind_t;

static const kind_t s_kinds[] = {
    {"DOWN", "DOWN", "#C00000"},
    {"REMINDER", "STILL DOWN", "#C00000"},
    {"RECOVERY", "RECOVERED", "#2E7D32"},
    {"ACKNOWLEDGED", "ACKNOWLEDGED", "#1565C0"},
    {"FLAPPING", "FLAPPING", "#EF6C00"},
    {"STABLE", "STABLE", "#2E7D32"},
    {"AGENT_DOWN", "AGENT DOWN", "#C00000"},
    {"AGENT_UP", "AGENT UP", "#2E7D32"},
    {"TEST", "TEST", "#1565C0"},
    {"DOWN_DIGEST", "DOWN (storm)", "#C00000"},
    {"RECOVERY_DIGEST", "RECOVERED (storm)", "#2E7D32"},
};

static const kind_t *s_kind(const char *event)
{
    for (size_t i = 0; i < sizeof s_kinds / sizeof *s_kinds; i++)
        if (strcmp(s_kinds[i].event, event) == 0)
            return &s_kinds[i];
    return &s_kinds[0]; /* as the other channels: an unknown event reads as a DOWN */
}

/* The DOWN / REMINDER facts: votes by location and agent, then the agents. */
static void s_votes(doc_t *d, const json_t *ev)
{
    double down, live, quorum, votes, agents;
    char v[128];
    if (s_num(ev, "down_locations", &down) && s_num(ev, "live_locations", &live)) {
        int n = snprintf(v, sizeof v, "%.0f of %.0f down", down, live);
        if (s_num(ev, "quorum", &quorum) && n > 0 && (size_t) n < sizeof v)
            snprintf(v + n, sizeof v - (size_t) n, " (quorum %.0f)", quorum);
        s_fact(d, "Locations", v);
    }
    if (s_num(ev, "down_votes", &votes) && s_num(ev, "live_agents", &agents)) {
        snprintf(v, sizeof v, "%.0f of %.0f vote DOWN", votes, agents);
        s_fact(d, "Agents", v);
    }
}

static void s_agents(doc_t *d, const json_t *ev)
{
    json_t *a = json_object_get(ev, "agents");
    size_t n = json_array_size(a);
    if (n == 0)
        return;
    fputs("\nVotes:\n", d->text);
    fputs("</table>\n<h3>Votes</h3>\n<ul>\n", d->html);
    for (size_t i = 0; i < n && i < AGENTS_MAX; i++) {
        char tt[FIELD_MAX], tv[FIELD_MAX], ht[6 * FIELD_MAX], hv[6 * FIELD_MAX];
        channel_agent_line(json_array_get(a, i), s_plain, tt, sizeof tt, tv, sizeof tv);
        channel_agent_line(json_array_get(a, i), markup_html, ht, sizeof ht, hv, sizeof hv);
        fprintf(d->text, "- %s: %s\n", tt, tv);
        fprintf(d->html, "<li>%s: %s</li>\n", ht, hv);
    }
    if (n > AGENTS_MAX) {
        fprintf(d->text, "- and %zu more\n", n - AGENTS_MAX);
        fprintf(d->html, "<li>and %zu more</li>\n", n - AGENTS_MAX);
    }
    fputs("</ul>\n<table>\n", d->html);
}

/* An asset's event: subject and body. */
static void s_asset_event(doc_t *d, const json_t *ev, const kind_t *k, char *subj, size_t slen)
{
    char name[NAME_MAX_B], head[FIELD_MAX], line[FIELD_MAX], v[64];
    s_plain(name, sizeof name,
            channel_event_str(ev, "asset_name", channel_event_str(ev, "asset_id", "?")));
    const char *e = k->event;
    if (strcmp(e, "ACKNOWLEDGED") == 0)
        sd_utf8_format(line, sizeof line, 0, "acknowledged by %s",
                       channel_event_str(ev, "acknowledged_by", "?"));
    else
        channel_event_line(ev, s_plain, line, sizeof line);
    sd_utf8_format(subj, slen, 0, "[%s] %s: %s", k->tag, name, line);
    sd_utf8_format(head, sizeof head, 0, "%s: %s", k->tag, name);
    s_heading(d, head, k->color);
    s_fact(d, "What", line);
    s_fact_ev(d, "Asset", ev, "asset_name");
    s_fact_ev(d, "Asset id", ev, "asset_id");
    s_fact_ev(d, "Address", ev, "address");
    if (strcmp(e, "DOWN") == 0 || strcmp(e, "REMINDER") == 0) {
        s_fact_ev(d, "Summary", ev, "summary");
        s_fact_ev(d, "Down since", ev, "started_at");
        s_votes(d, ev);
    } else if (strcmp(e, "RECOVERY") == 0) {
        s_fact_ev(d, "Down since", ev, "started_at");
        s_fact_ev(d, "Back up at", ev, "ended_at");
    } else if (strcmp(e, "ACKNOWLEDGED") == 0) {
        s_fact_ev(d, "Down since", ev, "started_at");
        s_fact_ev(d, "Acknowledged at", ev, "acknowledged_at");
        s_fact_ev(d, "Acknowledged by", ev, "acknowledged_by");
    } else { /* FLAPPING / STABLE */
        s_fact_ev(d, "State now", ev, "state");
        s_fact_ev(d, "At", ev, "at");
        s_fact_ev(d, "Since", ev, "started_at");
    }
    json_int_t inc = json_integer_value(json_object_get(ev, "incident_id"));
    if (inc > 0) {
        snprintf(v, sizeof v, "#%lld", (long long) inc);
        s_fact(d, "Incident", v);
    }
    if (strcmp(e, "DOWN") == 0 || strcmp(e, "REMINDER") == 0)
        s_agents(d, ev);
}

static void s_agent_event(doc_t *d, const json_t *ev, const kind_t *k, char *subj, size_t slen)
{
    char head[FIELD_MAX], v[64];
    channel_agent_headline(ev, s_plain, head, sizeof head);
    /* the headline starts with an emoji and the kind; the subject puts the tag first */
    char who[2 * NAME_MAX_B], id[NAME_MAX_B], region[NAME_MAX_B];
    s_plain(id, sizeof id, channel_event_str(ev, "agent", "?"));
    s_plain(region, sizeof region, channel_event_str(ev, "region", "-"));
    sd_utf8_format(who, sizeof who, 0, "%s (%s)", id, region);
    sd_utf8_format(subj, slen, 0, "[%s] %s", k->tag, who);
    s_heading(d, head, k->color);
    s_fact_ev(d, "Agent", ev, "agent");
    s_fact_ev(d, "Region", ev, "region");
    s_fact_ev(d, "Version", ev, "version");
    s_fact_ev(d, "Silent since", ev, "silent_since");
    s_fact_ev(d, "Back at", ev, "back_at");
    if (json_is_integer(json_object_get(ev, "down_seconds"))) {
        snprintf(v, sizeof v, "%lld s",
                 (long long) json_integer_value(json_object_get(ev, "down_seconds")));
        s_fact(d, "Silent for", v);
    }
}

/* A storm digest: one line per asset named, with its reason (DOWN) or downtime. */
static void s_digest_event(doc_t *d, const json_t *ev, const kind_t *k, char *subj, size_t slen)
{
    char name[NAME_MAX_B], line[FIELD_MAX], one[FIELD_MAX];
    s_plain(name, sizeof name, channel_event_subject(ev));
    channel_event_line(ev, s_plain, line, sizeof line);
    sd_utf8_format(subj, slen, 0, "[%s] %s: %s", k->tag, name, line);
    sd_utf8_format(one, sizeof one, 0, "%s: %s", k->tag, name);
    s_heading(d, one, k->color);
    s_fact_ev(d, "Since", ev, "since");
    bool recovery = strcmp(k->event, "RECOVERY_DIGEST") == 0;
    size_t i;
    json_t *a;
    json_array_foreach(json_object_get(ev, "assets"), i, a) {
        char who[NAME_MAX_B];
        s_plain(who, sizeof who, channel_event_subject(a));
        if (recovery)
            sd_utf8_format(one, sizeof one, 0, "%s: back up after %lld s", who,
                           (long long) json_integer_value(json_object_get(a, "duration_seconds")));
        else
            sd_utf8_format(one, sizeof one, 0, "%s: %s", who,
                           channel_event_str(a, "reason", "down"));
        s_fact(d, "Asset", one);
    }
    long long rest = (long long) json_integer_value(json_object_get(ev, "count")) - (long long) i;
    if (rest > 0) {
        snprintf(one, sizeof one, "%lld more not listed", rest);
        s_fact(d, "And", one);
    }
}

static void s_test_event(doc_t *d, const json_t *ev, const kind_t *k, char *subj, size_t slen)
{
    char name[NAME_MAX_B], message[FIELD_MAX];
    s_plain(name, sizeof name, channel_event_str(ev, "notifier", "?"));
    s_plain(message, sizeof message, channel_event_str(ev, "message", "StatusD test message"));
    sd_utf8_format(subj, slen, 0, "[%s] %s (notifier %s)", k->tag, message, name);
    s_heading(d, message, k->color);
    s_fact(d, "Notifier", name);
    s_fact_ev(d, "At", ev, "at");
}

/* The whole message of ev into *out. 0, -EINVAL (addresses), -ENOMEM. */
static int s_message(const json_t *conf, const json_t *ev, const channel_msg_t *msg,
                     char **out, size_t *out_len)
{
    const char *from = channel_conf_str(conf, "from", "");
    json_t *to = json_object_get(conf, "to");
    const char *rcpt[MAIL_RCPT_MAX + 1] = {NULL};
    for (size_t i = 0; i < json_array_size(to) && i < MAIL_RCPT_MAX; i++)
        rcpt[i] = json_string_value(json_array_get(to, i));
    char *text = NULL, *html = NULL, subject[MAIL_SUBJECT_MAX + 1];
    size_t tlen = 0, hlen = 0;
    doc_t d = {open_memstream(&text, &tlen), open_memstream(&html, &hlen)};
    int rc = -ENOMEM;
    if (d.text && d.html) {
        const kind_t *k = s_kind(channel_event_str(ev, "event", "DOWN"));
        if (channel_is_agent_event(ev))
            s_agent_event(&d, ev, k, subject, sizeof subject);
        else if (strcmp(k->event, "TEST") == 0)
            s_test_event(&d, ev, k, subject, sizeof subject);
        else if (channel_is_digest(ev))
            s_digest_event(&d, ev, k, subject, sizeof subject);
        else
            s_asset_event(&d, ev, k, subject, sizeof subject);
        s_end(&d, msg);
        rc = 0;
    }
    if (d.text && fclose(d.text) != 0)
        rc = -ENOMEM;
    if (d.html && fclose(d.html) != 0)
        rc = -ENOMEM;
    char msgid[320], thread[320];
    const char *domain = mail_addr_domain(from);
    snprintf(msgid, sizeof msgid, "<statusd-%lld@%s>", (long long) msg->row_id, domain);
    snprintf(thread, sizeof thread, "<statusd-incident-%lld@%s>", (long long) msg->incident_id,
             domain);
    mail_t m = {.from = from, .to = rcpt, .subject = subject, .message_id = msgid,
                .thread_id = msg->incident_id > 0 ? thread : NULL, .date_ms = msg->now_ms,
                .text = text, .html = html};
    if (rc == 0)
        rc = mail_build(&m, out, out_len);
    free(text);
    free(html);
    return rc;
}

/* ---- ops ----------------------------------------------------------------------------- */

static int s_prepare(const json_t *conf, const json_t *ev, const channel_msg_t *msg,
                     channel_request_t *req, char *err, size_t errlen)
{
    long use_ssl = CURLUSESSL_ALL;
    int rc = s_conf(conf, &use_ssl, err, errlen);
    if (rc != 0)
        return rc;
    json_t *to = json_object_get(conf, "to");
    req->transport = CHANNEL_SMTP;
    req->use_ssl = use_ssl;
    req->url = strdup(channel_conf_str(conf, "smtpUrl", ""));
    if (asprintf(&req->mail_from, "<%s>", channel_conf_str(conf, "from", "")) < 0)
        req->mail_from = NULL;
    req->rcpt = calloc(json_array_size(to) + 1, sizeof *req->rcpt);
    for (size_t i = 0; req->rcpt && i < json_array_size(to); i++)
        if (asprintf(&req->rcpt[i], "<%s>", json_string_value(json_array_get(to, i))) < 0) {
            req->rcpt[i] = NULL;
            rc = -ENOMEM;
            break;
        }
    if (json_object_get(conf, "username")) {
        req->username = strdup(channel_conf_str(conf, "username", ""));
        req->password = channel_secret_file(conf, "passwordFile", err, errlen);
        if (!req->password)
            return -EACCES;
    }
    if (rc != 0 || !req->url || !req->mail_from || !req->rcpt ||
        (json_object_get(conf, "username") && !req->username)) {
        snprintf(err, errlen, "email: out of memory");
        return -ENOMEM;
    }
    rc = s_message(conf, ev, msg, &req->body, &req->body_len);
    if (rc != 0)
        snprintf(err, errlen, "email: cannot build the message: %s", strerror(-rc));
    return rc;
}

static const channel_rule_t s_rules[] = {
    {200, 299, CHANNEL_SENT, "ok"},
    {400, 499, CHANNEL_RETRY, "smtp_temporary"},
    {500, 599, CHANNEL_DEAD, "smtp_rejected"},
};

static channel_outcome_t s_classify(long status, const char *body, size_t body_len,
                                    long retry_after_s)
{
    (void) body;
    (void) body_len;
    (void) retry_after_s; /* SMTP has none */
    return channel_classify_status(s_rules, sizeof s_rules / sizeof *s_rules, status, -1);
}

static channel_outcome_t s_classify_failure(int curl_code, long reply)
{
    if (curl_code == CURLE_LOGIN_DENIED && reply / 100 != 4)
        return (channel_outcome_t){CHANNEL_DEAD, -1, "config_error"}; /* 535: credentials */
    if (reply >= 400 && reply <= 599)
        return channel_classify_status(s_rules, sizeof s_rules / sizeof *s_rules, reply, -1);
    if (curl_code == CURLE_USE_SSL_FAILED) /* STARTTLS required, not offered */
        return (channel_outcome_t){CHANNEL_DEAD, -1, "config_error"};
    return channel_classify_transport(curl_code);
}

const channel_ops_t channel_email_ops = {
    .name = "email",
    .content_type = "message/rfc822",
    .prepare = s_prepare,
    .classify = s_classify,
    .classify_failure = s_classify_failure,
    .check = s_check,
};
