/* mail_decode: what a test needs to read back a message built by collector/mail.c: its
 * header block, a header's decoded value (RFC 2047 base64 encoded-words), a part's body
 * decoded from quoted-printable, and the facts about its lines. Independent of mail.c's
 * encoders, so that a round trip proves them. */
#ifndef MAIL_DECODE_H
#define MAIL_DECODE_H

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The header block of msg (up to the first empty line), malloc'd. */
static inline char *test_mail_headers(const char *msg)
{
    const char *end = strstr(msg, "\r\n\r\n");
    size_t n = end ? (size_t) (end - msg) + 2 : strlen(msg);
    char *h = malloc(n + 1);
    memcpy(h, msg, n);
    h[n] = 0;
    return h;
}

static inline int test_b64_val(char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    return c == '+' ? 62 : c == '/' ? 63 : -1;
}

/* Decodes n base64 characters of s onto out + *o. */
static inline void test_b64_decode(const char *s, size_t n, char *out, size_t *o)
{
    unsigned acc = 0;
    int bits = 0;
    for (size_t i = 0; i < n && s[i] != '='; i++) {
        acc = (acc << 6) | (unsigned) test_b64_val(s[i]);
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out[(*o)++] = (char) ((acc >> bits) & 0xFF);
        }
    }
}

/* The value of header name ("Subject") in msg, unfolded, encoded-words decoded; malloc'd,
 * NULL when absent. Whitespace between two encoded-words is dropped (RFC 2047 6.2). */
static inline char *test_mail_header(const char *msg, const char *name)
{
    char *h = test_mail_headers(msg), needle[64];
    snprintf(needle, sizeof needle, "\n%s: ", name);
    size_t nl = strlen(needle);
    char *p = NULL;
    if (strncmp(h, needle + 1, nl - 1) == 0)
        p = h + nl - 1;
    else if ((p = strstr(h, needle)))
        p += nl;
    if (!p) {
        free(h);
        return NULL;
    }
    char *out = malloc(strlen(p) + 1);
    size_t o = 0;
    bool after_word = false;
    while (*p && !(p[0] == '\r' && p[1] == '\n' && p[2] != ' ' && p[2] != '\t')) {
        if (p[0] == '\r' && p[1] == '\n') { /* folding */
            p += 2;
            continue;
        }
        if (strncmp(p, "=?UTF-8?B?", 10) == 0) {
            char *end = strstr(p + 10, "?=");
            if (after_word) /* drop the folding space between two words */
                while (o > 0 && out[o - 1] == ' ')
                    o--;
            test_b64_decode(p + 10, (size_t) (end - p - 10), out, &o);
            p = end + 2;
            after_word = true;
            continue;
        }
        if (*p != ' ')
            after_word = false;
        out[o++] = *p++;
    }
    out[o] = 0;
    free(h);
    return out;
}

static inline int test_hex(char c)
{
    return c >= '0' && c <= '9' ? c - '0' : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}

/* The decoded body of msg's part with Content-Type type ("text/html"), malloc'd, or NULL;
 * a quoted-printable line break is "\n". Fails (NULL) on a malformed =XX. */
static inline char *test_mail_part(const char *msg, const char *type)
{
    char needle[64];
    snprintf(needle, sizeof needle, "Content-Type: %s;", type);
    const char *p = strstr(msg, needle);
    p = p ? strstr(p, "\r\n\r\n") : NULL;
    const char *end = p ? strstr(p + 4, "\r\n--=_statusd_alt") : NULL;
    if (!end)
        return NULL;
    p += 4;
    char *out = malloc((size_t) (end - p) + 1);
    size_t o = 0;
    while (p < end) {
        if (p[0] == '=' && p[1] == '\r' && p[2] == '\n') {
            p += 3;
        } else if (p[0] == '=') {
            int hi = test_hex(p[1]), lo = hi >= 0 ? test_hex(p[2]) : -1;
            if (lo < 0) {
                free(out);
                return NULL;
            }
            out[o++] = (char) (hi * 16 + lo);
            p += 3;
        } else if (p[0] == '\r' && p[1] == '\n') {
            out[o++] = '\n';
            p += 2;
        } else {
            out[o++] = *p++;
        }
    }
    out[o] = 0;
    return out;
}

typedef struct {
    size_t lines, max_line;  /* lines, and the longest without its CRLF */
    size_t bare;             /* CR not before LF, LF not after CR */
    size_t dot_lines;        /* lines starting with "." */
} test_mail_lines_t;

static inline test_mail_lines_t test_mail_lines(const char *msg, size_t len)
{
    test_mail_lines_t r = {0};
    size_t start = 0;
    for (size_t i = 0; i < len; i++) {
        if (msg[i] == '\r' && (i + 1 == len || msg[i + 1] != '\n'))
            r.bare++;
        if (msg[i] == '\n' && (i == 0 || msg[i - 1] != '\r'))
            r.bare++;
        if (msg[i] == '\n') {
            size_t l = i - start - (i > start && msg[i - 1] == '\r');
            if (l > r.max_line)
                r.max_line = l;
            if (msg[start] == '.')
                r.dot_lines++;
            r.lines++;
            start = i + 1;
        }
    }
    return r;
}

#endif
