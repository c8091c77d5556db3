/* markup: escaping of outside text for chat messages, mails and HTML (markup.h). */
#include "markup.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "sd_utf8.h"

#define ELLIPSIS "\xE2\x80\xA6" /* … */

typedef enum { FMT_SLACK, FMT_TEAMS, FMT_DISCORD, FMT_HTML, FMT_PLAIN } fmt_t;

/* Bytes of the UTF-8 character that starts with byte c (the text is valid UTF-8). */
static size_t s_char_len(unsigned char c)
{
    return c < 0x80 ? 1 : c < 0xE0 ? 2 : c < 0xF0 ? 3 : 4;
}

/* The escaped form of the character at s + i into unit (at most 8 bytes); its length.
 * start: the index of the text's first character that is not a space (Markdown opens a
 * block after up to 3 spaces). */
static size_t s_unit(fmt_t fmt, const char *s, size_t i, size_t start, char *unit)
{
    char c = s[i];
    if (fmt == FMT_HTML) {
        const char *e = c == '&'    ? "&amp;"
                        : c == '<'  ? "&lt;"
                        : c == '>'  ? "&gt;"
                        : c == '"'  ? "&quot;"
                        : c == '\'' ? "&#39;"
                                    : NULL;
        if (e) {
            memcpy(unit, e, strlen(e));
            return strlen(e);
        }
    } else if (fmt == FMT_SLACK) {
        const char *e = c == '&' ? "&amp;" : c == '<' ? "&lt;" : c == '>' ? "&gt;" : NULL;
        if (e) {
            memcpy(unit, e, strlen(e));
            return strlen(e);
        }
    } else if (fmt != FMT_PLAIN) {
        const char *set = fmt == FMT_TEAMS ? "\\*_~`[]()<>&" : "\\*_~`|[]()<>@";
        const char *lead = fmt == FMT_TEAMS ? "#-+=" : "#-+>";
        bool esc = c != 0 && strchr(set, c) != NULL;
        /* a heading, a list item, a thematic break, a setext underline, a quote */
        if (!esc && i == start && c != 0 && strchr(lead, c))
            esc = true;
        /* "1. " .. "123456789. " (or at the end): an ordered list item */
        if (!esc && c == '.' && i > start && i - start <= 9 && (s[i + 1] == 0 || s[i + 1] == ' ')) {
            size_t d = start;
            while (d < i && s[d] >= '0' && s[d] <= '9')
                d++;
            esc = d == i;
        }
        if (esc) {
            unit[0] = '\\';
            unit[1] = c;
            return 2;
        }
    }
    size_t n = s_char_len((unsigned char) c);
    memcpy(unit, s + i, n);
    return n;
}

/* Escapes clean (valid one-line UTF-8) into dst while the output stays within limit bytes;
 * returns the bytes written and sets *all when every character went in. */
static size_t s_escape_into(fmt_t fmt, char *dst, size_t limit, const char *clean, bool *all)
{
    size_t o = 0, i = 0, start = strspn(clean, " ");
    while (clean[i]) {
        char unit[8];
        size_t n = s_unit(fmt, clean, i, start, unit);
        if (o + n > limit)
            break;
        memcpy(dst + o, unit, n);
        o += n;
        i += s_char_len((unsigned char) clean[i]);
    }
    *all = clean[i] == 0;
    return o;
}

static size_t s_escape(fmt_t fmt, char *dst, size_t cap, const char *src)
{
    if (!dst || cap == 0)
        return 0;
    dst[0] = 0;
    size_t len = src ? strlen(src) : 0;
    /* escaping never shortens, so only the first cap bytes can show; more is a cut */
    bool longer = len >= cap;
    size_t take = longer ? cap : len;
    char *clean = sd_utf8_dup(src ? src : "", take, 3 * take + 4, SD_UTF8_ONE_LINE);
    if (!clean)
        return 0;
    bool all = false;
    size_t o = s_escape_into(fmt, dst, cap - 1, clean, &all);
    if ((!all || longer) && cap - 1 >= sizeof ELLIPSIS - 1) {
        o = s_escape_into(fmt, dst, cap - 1 - (sizeof ELLIPSIS - 1), clean, &all);
        memcpy(dst + o, ELLIPSIS, sizeof ELLIPSIS - 1);
        o += sizeof ELLIPSIS - 1;
    }
    dst[o] = 0;
    free(clean);
    return o;
}

size_t markup_slack(char *dst, size_t cap, const char *src)
{
    return s_escape(FMT_SLACK, dst, cap, src);
}

size_t markup_teams(char *dst, size_t cap, const char *src)
{
    return s_escape(FMT_TEAMS, dst, cap, src);
}

size_t markup_discord(char *dst, size_t cap, const char *src)
{
    return s_escape(FMT_DISCORD, dst, cap, src);
}

size_t markup_html(char *dst, size_t cap, const char *src)
{
    return s_escape(FMT_HTML, dst, cap, src);
}

size_t markup_plain(char *dst, size_t cap, const char *src)
{
    return s_escape(FMT_PLAIN, dst, cap, src);
}
