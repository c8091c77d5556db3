/* channel_curl: see channel_curl.h. */
#include "channel_curl.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sd_clock.h"
#include "sd_utf8.h"

static size_t s_write_cb(char *ptr, size_t size, size_t nmemb, void *ud)
{
    channel_curl_t *cc = ud;
    size_t n = size * nmemb, room = CHANNEL_CURL_RESP_MAX - cc->resp_len;
    size_t take = n < room ? n : room;
    memcpy(cc->resp + cc->resp_len, ptr, take);
    cc->resp_len += take;
    cc->resp[cc->resp_len] = 0;
    return n; /* the excess is discarded, not an error */
}

static size_t s_body_len(const channel_request_t *r)
{
    return r->body_len ? r->body_len : strlen(r->body ? r->body : "");
}

/* SMTP: libcurl reads the mail from req.body. */
static size_t s_read_cb(char *buf, size_t size, size_t nitems, void *ud)
{
    channel_curl_t *cc = ud;
    size_t n = s_body_len(&cc->req) - cc->sent, room = size * nitems;
    if (n > room)
        n = room;
    memcpy(buf, cc->req.body + cc->sent, n);
    cc->sent += n;
    return n;
}

/* SMTP: libcurl passes every server reply line to the header callback. The last 4yz or
 * 5yz reply is kept in resp (a multi-line one joined), for the error text: the error code
 * alone ("RCPT failed: 550") does not say why. Later replies (221 to QUIT) leave it. */
static size_t s_reply_cb(char *ptr, size_t size, size_t nmemb, void *ud)
{
    channel_curl_t *cc = ud;
    size_t n = size * nmemb, len = n;
    while (len && (ptr[len - 1] == '\r' || ptr[len - 1] == '\n'))
        len--;
    if (len < 3 || (ptr[0] != '4' && ptr[0] != '5')) {
        cc->reply_done = true;
        return n;
    }
    if (cc->reply_done)
        cc->resp_len = 0;
    cc->reply_done = len == 3 || ptr[3] != '-';
    if (cc->resp_len && cc->resp_len < CHANNEL_CURL_RESP_MAX)
        cc->resp[cc->resp_len++] = ' ';
    size_t room = CHANNEL_CURL_RESP_MAX - cc->resp_len, take = len < room ? len : room;
    memcpy(cc->resp + cc->resp_len, ptr, take);
    cc->resp_len += take;
    cc->resp[cc->resp_len] = 0;
    return n;
}

static int s_list(struct curl_slist **list, char *const *items, size_t max)
{
    for (size_t i = 0; items && i < max && items[i]; i++) {
        struct curl_slist *h = curl_slist_append(*list, items[i]);
        if (!h)
            return -ENOMEM;
        *list = h;
    }
    return 0;
}

int channel_curl_setup(CURL *e, channel_curl_t *cc, long connect_timeout_ms,
                       long total_timeout_ms)
{
    channel_request_t *r = &cc->req;
    if (s_list(&cc->headers, r->headers, CHANNEL_HEADERS_MAX) != 0 ||
        s_list(&cc->rcpt, r->rcpt, SIZE_MAX) != 0)
        return -ENOMEM;
    curl_easy_setopt(e, CURLOPT_URL, r->url);
    if (r->transport == CHANNEL_SMTP) {
        curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "smtp,smtps");
        curl_easy_setopt(e, CURLOPT_MAIL_FROM, r->mail_from);
        curl_easy_setopt(e, CURLOPT_MAIL_RCPT, cc->rcpt);
        curl_easy_setopt(e, CURLOPT_UPLOAD, 1L);
        curl_easy_setopt(e, CURLOPT_READFUNCTION, s_read_cb);
        curl_easy_setopt(e, CURLOPT_READDATA, cc);
        /* the size is exact: the message has no line starting with "." to stuff (mail.h) */
        curl_easy_setopt(e, CURLOPT_INFILESIZE_LARGE, (curl_off_t) s_body_len(r));
        curl_easy_setopt(e, CURLOPT_USE_SSL, r->use_ssl);
        cc->reply_done = true;
        curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, s_reply_cb);
        curl_easy_setopt(e, CURLOPT_HEADERDATA, cc);
        curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, s_write_cb); /* never stdout */
        curl_easy_setopt(e, CURLOPT_WRITEDATA, cc);
        if (r->username)
            curl_easy_setopt(e, CURLOPT_USERNAME, r->username);
        if (r->password)
            curl_easy_setopt(e, CURLOPT_PASSWORD, r->password);
    } else {
        curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
        curl_easy_setopt(e, CURLOPT_POST, 1L);
        curl_easy_setopt(e, CURLOPT_POSTFIELDS, r->body);
        curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE, (long) s_body_len(r));
        curl_easy_setopt(e, CURLOPT_HTTPHEADER, cc->headers);
        curl_easy_setopt(e, CURLOPT_USERAGENT, "statusd/" STATUSD_VERSION);
        curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L);
        curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, s_write_cb);
        curl_easy_setopt(e, CURLOPT_WRITEDATA, cc);
    }
    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, connect_timeout_ms);
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, total_timeout_ms);
    curl_easy_setopt(e, CURLOPT_ERRORBUFFER, cc->curl_err);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    return 0;
}

/* "HTTP 403: <the first bytes of the body>" as one line of valid UTF-8 (the body may be any
 * bytes, cut anywhere). */
static void s_http_error(char *buf, size_t len, const char *proto, long status,
                         const channel_curl_t *cc)
{
    int n = snprintf(buf, len, "%s %ld", proto, status);
    if (n < 0 || (size_t) n + 3 >= len || cc->resp_len == 0)
        return;
    memcpy(buf + n, ": ", 3);
    size_t room = len - (size_t) n - 2;
    if (room > CHANNEL_CURL_ERR_BODY_MAX + 1)
        room = CHANNEL_CURL_ERR_BODY_MAX + 1;
    sd_utf8_copy(buf + n + 2, room, cc->resp, cc->resp_len, SD_UTF8_ONE_LINE | SD_UTF8_ELLIPSIS);
}

channel_outcome_t channel_curl_outcome(const channel_ops_t *ops, const json_t *conf, CURL *e,
                                       int code, const channel_curl_t *cc, char *error,
                                       size_t len, char *note, size_t note_len)
{
    if (note_len)
        note[0] = 0;
    bool smtp = cc->req.transport == CHANNEL_SMTP;
    long status = 0;
    curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &status);
    if (code == CURLE_OK) {
        curl_off_t ra = -1;
        if (curl_easy_getinfo(e, CURLINFO_RETRY_AFTER, &ra) != CURLE_OK || ra <= 0)
            ra = -1;
        s_http_error(error, len, smtp ? "SMTP" : "HTTP", status, cc);
        if (ops->learn && note_len &&
            ops->learn(conf, status, cc->resp, cc->resp_len, note, note_len) == 1)
            sd_utf8_fix(note, note_len - 1, SD_UTF8_ONE_LINE);
        else if (note_len)
            note[0] = 0;
        return ops->classify(status, cc->resp, cc->resp_len, (long) ra);
    }
    char raw[CURL_ERROR_SIZE + CHANNEL_CURL_ERR_BODY_MAX + 160];
    int n = snprintf(raw, sizeof raw, "%s%s%s", curl_easy_strerror((CURLcode) code),
                     cc->curl_err[0] ? ": " : "", cc->curl_err);
    if (smtp && cc->resp_len && n > 0 && (size_t) n + 16 < sizeof raw) /* the server's words */
        snprintf(raw + n, sizeof raw - (size_t) n, "; server: %.*s", CHANNEL_CURL_ERR_BODY_MAX,
                 cc->resp);
    sd_utf8_scopy(error, len, raw, SD_UTF8_ONE_LINE | SD_UTF8_ELLIPSIS);
    return ops->classify_failure ? ops->classify_failure(code, status)
                                 : channel_classify_transport(code);
}

void channel_curl_release(channel_curl_t *cc)
{
    if (!cc)
        return;
    curl_slist_free_all(cc->headers);
    curl_slist_free_all(cc->rcpt);
    cc->headers = cc->rcpt = NULL;
    channel_request_clear(&cc->req);
}

int channel_curl_send_now(const sd_notifier_conf_t *nc, const json_t *event,
                          long connect_timeout_ms, long total_timeout_ms,
                          channel_outcome_t *outcome, char *answer, size_t answer_len)
{
    *outcome = (channel_outcome_t){CHANNEL_DEAD, -1, "config_error"};
    const channel_ops_t *ops = channel_find(nc->type);
    if (!ops) {
        snprintf(answer, answer_len, "no channel for type \"%s\"", nc->type);
        return -EINVAL;
    }
    channel_curl_t *cc = calloc(1, sizeof *cc);
    if (!cc) {
        snprintf(answer, answer_len, "out of memory");
        return -ENOMEM;
    }
    channel_msg_t msg = {.now_ms = sd_wall_ms()};
    char err[384] = "";
    int rc = channel_prepare(ops, nc->raw, nc->webhook_url, event, &msg, &cc->req, err,
                             sizeof err);
    CURL *e = rc == 0 ? curl_easy_init() : NULL;
    if (rc == 0 && !e)
        rc = -ENOMEM;
    if (rc == 0)
        rc = channel_curl_setup(e, cc, connect_timeout_ms, total_timeout_ms);
    if (rc != 0) {
        *outcome = (channel_outcome_t){CHANNEL_DEAD, -1, "render_error"};
        sd_utf8_scopy(answer, answer_len, *err ? err : "cannot build the request",
                      SD_UTF8_ONE_LINE | SD_UTF8_ELLIPSIS);
    } else {
        CURLcode code = curl_easy_perform(e);
        char note[256];
        *outcome = channel_curl_outcome(ops, nc->raw, e, (int) code, cc, answer, answer_len, note,
                                        sizeof note);
    }
    if (e)
        curl_easy_cleanup(e);
    channel_curl_release(cc);
    free(cc);
    return rc;
}
