/* channel_curl: one channel_request_t as a libcurl transfer, and the outcome of its end. The
 * notifier runs these on its curl multi handle; the test button (API and
 * statusd-collector --test-notifier) runs one to completion: both take the same path, so a
 * test that succeeds means the pages will too.
 *
 * HTTP: a POST of req.body with req.headers, no redirect followed, the answer's first
 * CHANNEL_CURL_RESP_MAX bytes kept. SMTP: MAIL FROM / RCPT TO / DATA of req.body, TLS as
 * req.use_ssl says, login when req.username is set. */
#ifndef CHANNEL_CURL_H
#define CHANNEL_CURL_H

#include <curl/curl.h>
#include <stdbool.h>
#include <stddef.h>

#include "channel.h"

#define CHANNEL_CURL_RESP_MAX 4096
#define CHANNEL_CURL_ERR_BODY_MAX 200 /* bytes of an answer quoted in an error text */

typedef struct {
    channel_request_t req;     /* owned: cleared by channel_curl_release */
    struct curl_slist *headers;
    struct curl_slist *rcpt;
    size_t sent;               /* SMTP: bytes of req.body read by libcurl */
    bool reply_done;           /* SMTP: the last reply line seen ended its reply */
    char resp[CHANNEL_CURL_RESP_MAX + 1]; /* raw bytes of the answer's body (SMTP: the last
                                  4yz/5yz reply), maybe not text */
    size_t resp_len;
    char curl_err[CURL_ERROR_SIZE];
} channel_curl_t;

/* Sets e's options for cc->req (which cc owns from now on). 0 or -ENOMEM. cc must stay at
 * the same address until the transfer ends. */
int channel_curl_setup(CURL *e, channel_curl_t *cc, long connect_timeout_ms,
                       long total_timeout_ms);

/* The outcome of e's finished transfer (code: its CURLcode) by ops' classification, with a
 * one-line, valid UTF-8 error text ("HTTP 403: <body>", or libcurl's message) in error. An
 * HTTP answer is first shown to ops->learn with the notifier's conf: what it learnt for the
 * operator is in note (one line, valid UTF-8; "" when nothing). */
channel_outcome_t channel_curl_outcome(const channel_ops_t *ops, const json_t *conf, CURL *e,
                                       int code, const channel_curl_t *cc, char *error,
                                       size_t len, char *note, size_t note_len);

/* Frees what cc holds (its request included); accepts a zeroed cc. */
void channel_curl_release(channel_curl_t *cc);

/* Sends one event now through notifier nc (its ops, fields and secrets), waiting for the
 * answer: the test button. *outcome and answer (one line: "HTTP 200", "HTTP 404: ...", a
 * libcurl or a render error) are set; returns 0 when the request ran (whatever the answer),
 * -errno when it could not be built (answer says why). */
int channel_curl_send_now(const sd_notifier_conf_t *nc, const json_t *event,
                          long connect_timeout_ms, long total_timeout_ms,
                          channel_outcome_t *outcome, char *answer, size_t answer_len);

#endif
