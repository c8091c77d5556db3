/* mail: an alert as an RFC 5322 / MIME message (mail.h). */
#include "mail.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "sd_utf8.h"

#define QP_LINE_MAX 76          /* RFC 2045 6.7: encoded lines, the soft-break "=" included */
#define SUBJECT_PLAIN_MAX 66    /* "Subject: " + 66 + CRLF fits RFC 5322's 78 */
#define WORD_BYTES 42           /* 42 bytes -> 56 base64 -> a 68-byte encoded-word */
#define MSGID_MAX 250
#define BOUNDARY "=_statusd_alt" /* "=_" never occurs in quoted-printable */

static bool s_alnum(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

bool mail_addr_valid(const char *addr)
{
    const char *at = addr ? strchr(addr, '@') : NULL;
    if (!at || at == addr || strchr(at + 1, '@'))
        return false;
    size_t local = (size_t) (at - addr), domain = strlen(at + 1);
    if (local > 64 || domain == 0 || domain > 253)
        return false;
    /* dot-atom: no dot first, last or doubled, in either half */
    if (addr[0] == '.' || at[-1] == '.' || at[1] == '.' || at[1] == '-' ||
        at[domain] == '.' || at[domain] == '-' || strstr(addr, ".."))
        return false;
    for (const char *p = addr; p < at; p++)
        if (!s_alnum(*p) && !strchr("!#$%&'*+/=?^_`{|}~.-", *p))
            return false;
    for (const char *p = at + 1; *p; p++)
        if (!s_alnum(*p) && *p != '-' && *p != '.')
            return false;
    return true;
}

const char *mail_addr_domain(const char *addr)
{
    const char *at = strchr(addr, '@');
    return at ? at + 1 : addr;
}

/* "<...>" of printable ASCII without spaces. */
static bool s_msgid_valid(const char *id)
{
    size_t n = strlen(id);
    if (n < 3 || n > MSGID_MAX || id[0] != '<' || id[n - 1] != '>')
        return false;
    for (size_t i = 1; i + 1 < n; i++)
        if (id[i] <= ' ' || id[i] > '~' || id[i] == '<' || id[i] == '>')
            return false;
    return true;
}

/* ---- encodings ----------------------------------------------------------------------- */

void mail_qp_write(FILE *f, const char *src, size_t len)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t col = 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char) src[i];
        if (c == '\n') {
            fputs("\r\n", f);
            col = 0;
            continue;
        }
        bool line_end = i + 1 == len || src[i + 1] == '\n';
        for (;;) {
            bool literal = (c >= 33 && c <= 126 && c != '=') ||
                           ((c == ' ' || c == '\t') && !line_end);
            if (c == '.' && col == 0) /* SMTP's end of data, or a stuffed dot */
                literal = false;
            size_t n = literal ? 1 : 3;
            if (col > 0 && col + n > QP_LINE_MAX - 1) {
                fputs("=\r\n", f); /* soft line break; the character goes on the next line */
                col = 0;
                continue;
            }
            if (literal)
                fputc(c, f);
            else
                fprintf(f, "=%c%c", hex[c >> 4], hex[c & 15]);
            col += n;
            break;
        }
    }
}

static void s_base64(FILE *f, const unsigned char *s, size_t n)
{
    static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    for (size_t i = 0; i < n; i += 3) {
        unsigned v = (unsigned) s[i] << 16;
        if (i + 1 < n)
            v |= (unsigned) s[i + 1] << 8;
        if (i + 2 < n)
            v |= s[i + 2];
        fputc(b64[(v >> 18) & 63], f);
        fputc(b64[(v >> 12) & 63], f);
        fputc(i + 1 < n ? b64[(v >> 6) & 63] : '=', f);
        fputc(i + 2 < n ? b64[v & 63] : '=', f);
    }
}

/* Bytes of the UTF-8 character starting with c. */
static size_t s_char_len(unsigned char c)
{
    return c < 0x80 ? 1 : c < 0xE0 ? 2 : c < 0xF0 ? 3 : 4;
}

void mail_subject_write(FILE *f, const char *value)
{
    size_t len = strlen(value);
    bool plain = len <= SUBJECT_PLAIN_MAX && !strstr(value, "=?");
    for (size_t i = 0; plain && i < len; i++)
        plain = value[i] >= ' ' && value[i] <= '~';
    if (plain) {
        fprintf(f, "Subject: %s\r\n", value);
        return;
    }
    /* RFC 2047: encoded-words of whole characters, each on its own folded line; the
     * folding whitespace between two encoded-words is not part of the text */
    fputs("Subject:", f);
    for (size_t i = 0; i < len;) {
        size_t take = 0;
        while (i + take < len) {
            size_t cl = s_char_len((unsigned char) value[i + take]);
            if (take + cl > WORD_BYTES || i + take + cl > len)
                break;
            take += cl;
        }
        if (take == 0)
            break; /* not reached for valid UTF-8 */
        fputs(i ? "\r\n =?UTF-8?B?" : " =?UTF-8?B?", f);
        s_base64(f, (const unsigned char *) value + i, take);
        fputs("?=", f);
        i += take;
    }
    fputs("\r\n", f);
}

/* RFC 5322 3.3 in UTC, with English names whatever the locale. */
static void s_date_write(FILE *f, int64_t ms)
{
    static const char *const days[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
    static const char *const months[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                         "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
    time_t t = (time_t) (ms / 1000);
    struct tm tm;
    if (!gmtime_r(&t, &tm)) {
        t = 0;
        gmtime_r(&t, &tm);
    }
    fprintf(f, "Date: %s, %02d %s %04d %02d:%02d:%02d +0000\r\n", days[tm.tm_wday % 7],
            tm.tm_mday, months[tm.tm_mon % 12], tm.tm_year + 1900, tm.tm_hour, tm.tm_min,
            tm.tm_sec);
}

static void s_part_write(FILE *f, const char *type, const char *body)
{
    fprintf(f,
            "\r\n--" BOUNDARY "\r\n"
            "Content-Type: %s; charset=utf-8\r\n"
            "Content-Transfer-Encoding: quoted-printable\r\n\r\n",
            type);
    mail_qp_write(f, body, strlen(body));
}

/* ---- the message --------------------------------------------------------------------- */

static int s_check(const mail_t *m)
{
    size_t n = 0;
    if (!mail_addr_valid(m->from))
        return -EINVAL;
    for (; m->to && m->to[n]; n++)
        if (!mail_addr_valid(m->to[n]))
            return -EINVAL;
    if (n == 0 || n > MAIL_RCPT_MAX)
        return -EINVAL;
    if ((m->message_id && !s_msgid_valid(m->message_id)) ||
        (m->thread_id && !s_msgid_valid(m->thread_id)))
        return -EINVAL;
    return 0;
}

/* A valid UTF-8 copy of s (NULL: ""); its controls other than "\n" are left for the
 * quoted-printable encoder. */
static char *s_clean(const char *s)
{
    size_t n = s ? strlen(s) : 0;
    return sd_utf8_dup(s ? s : "", n, 3 * n + 4, 0);
}

int mail_build(const mail_t *m, char **out, size_t *len)
{
    int rc = s_check(m);
    if (rc != 0)
        return rc;
    char subject[MAIL_SUBJECT_MAX + 1];
    sd_utf8_scopy(subject, sizeof subject, m->subject ? m->subject : "",
                  SD_UTF8_ONE_LINE | SD_UTF8_ELLIPSIS);
    char *text = s_clean(m->text), *html = s_clean(m->html), *buf = NULL;
    size_t blen = 0;
    FILE *f = text && html ? open_memstream(&buf, &blen) : NULL;
    if (!f) {
        free(text);
        free(html);
        return -ENOMEM;
    }
    s_date_write(f, m->date_ms);
    fprintf(f, "From: StatusD <%s>\r\n", m->from);
    fputs("To: ", f);
    for (size_t i = 0; m->to[i]; i++)
        fprintf(f, "%s%s", i ? ",\r\n " : "", m->to[i]);
    fputs("\r\n", f);
    mail_subject_write(f, subject);
    if (m->message_id)
        fprintf(f, "Message-ID: %s\r\n", m->message_id);
    if (m->thread_id)
        fprintf(f, "In-Reply-To: %s\r\nReferences: %s\r\n", m->thread_id, m->thread_id);
    fputs("Auto-Submitted: auto-generated\r\n" /* RFC 3834: no vacation replies */
          "MIME-Version: 1.0\r\n"
          "Content-Type: multipart/alternative; boundary=\"" BOUNDARY "\"\r\n",
          f);
    s_part_write(f, "text/plain", text);
    s_part_write(f, "text/html", html);
    fputs("\r\n--" BOUNDARY "--\r\n", f);
    bool failed = ferror(f) != 0;
    fclose(f);
    free(text);
    free(html);
    if (failed || !buf) {
        free(buf);
        return -ENOMEM;
    }
    *out = buf;
    *len = blen;
    return 0;
}
