/* mail: one alert as an Internet message (RFC 5322 with MIME, RFC 2045-2047) ready for
 * SMTP DATA: headers Date, From, To, Subject, Message-ID (In-Reply-To and References
 * when threaded), MIME-Version, then a multipart/alternative body with a text/plain and a
 * text/html part, both UTF-8 in quoted-printable.
 *
 * What it promises about the bytes, whatever the text from outside holds:
 *  - every line ends in CRLF (no bare CR or LF) and is at most 78 bytes long, or, for a
 *    header carrying long addresses, far below SMTP's 998;
 *  - no line starts with "." (quoted-printable writes it as =2E; headers and boundaries
 *    never start with one), so the message needs no dot-stuffing and cannot end the
 *    DATA early, whether or not the SMTP client stuffs dots;
 *  - no header can be added or split by the text: the subject is made one line (CR, LF and
 *    other controls become spaces) and written as RFC 2047 encoded-words whenever it is
 *    not plain printable ASCII; addresses are checked by mail_addr_valid;
 *  - the boundary "=_statusd_alt" cannot occur in a quoted-printable part ("=" is always
 *    written as =3D there). */
#ifndef MAIL_H
#define MAIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define MAIL_SUBJECT_MAX 200 /* bytes of subject text kept (cut at a character, with "…") */
#define MAIL_RCPT_MAX 50     /* addresses in To */

typedef struct {
    const char *from;              /* addr-spec (mail_addr_valid) */
    const char *const *to;         /* addr-specs, NULL-terminated, 1..MAIL_RCPT_MAX */
    const char *subject;           /* any text: made valid one-line UTF-8 and bounded */
    const char *message_id;        /* "<id@domain>" (ASCII, no spaces), NULL: none */
    const char *thread_id;         /* "<id@domain>": In-Reply-To and References, NULL: none */
    int64_t date_ms;               /* unix ms, written as Date in UTC */
    const char *text;              /* the text/plain part: UTF-8, lines separated by "\n" */
    const char *html;              /* the text/html part: UTF-8 markup, already escaped */
} mail_t;

/* True when addr is a plain addr-spec we can put in a header and an SMTP command as is:
 * local@domain, local part of atext characters and dots (at most 64 bytes), domain of
 * letters, digits, "-" and "." (at most 253 bytes). Quoted local parts, address literals
 * and non-ASCII (SMTPUTF8) addresses are refused. */
bool mail_addr_valid(const char *addr);

/* The domain of a valid address (the bytes after its "@"). */
const char *mail_addr_domain(const char *addr);

/* Builds the message into *out (malloc'd, NUL-terminated, *len bytes without the NUL).
 * Invalid UTF-8 in text or html becomes U+FFFD. 0, -EINVAL (an address is not valid, no
 * recipient or too many) or -ENOMEM; *out is set only on success. */
int mail_build(const mail_t *m, char **out, size_t *len);

/* Appends src (any bytes, len) to f as quoted-printable lines of at most 76 bytes with
 * CRLF line ends: "\n" in src is a line break, every other control byte, "=", bytes above
 * 126, a "." starting a line and a space or tab ending one are =XX. Exposed for tests. */
void mail_qp_write(FILE *f, const char *src, size_t len);

/* Appends "Subject: " and value to f: as is when it is printable ASCII of at most 66 bytes
 * without "=?", else as base64 encoded-words of at most 68 bytes each, one per line, never
 * splitting a UTF-8 character; always ends in CRLF. value: valid one-line UTF-8. Exposed
 * for tests. */
void mail_subject_write(FILE *f, const char *value);

#endif
