/* sd_utf8: validation, repair and character-boundary truncation (see sd_utf8.h). */
#include "sd_utf8.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char REPLACEMENT[] = "\xEF\xBF\xBD"; /* U+FFFD */
static const char ELLIPSIS[] = "\xE2\x80\xA6";    /* U+2026 */

/* Length of the valid UTF-8 sequence at s (n bytes available), or 0 when the bytes there do
 * not start one (invalid lead, bad continuation, overlong, surrogate, > U+10FFFF, cut short,
 * NUL). */
static size_t s_seq(const unsigned char *s, size_t n)
{
    unsigned char c = s[0];
    if (c == 0)
        return 0;
    if (c < 0x80)
        return 1;
    size_t len;
    unsigned char lo = 0x80, hi = 0xBF; /* the allowed range of the second byte */
    if (c >= 0xC2 && c <= 0xDF) {
        len = 2;
    } else if (c >= 0xE0 && c <= 0xEF) {
        len = 3;
        if (c == 0xE0)
            lo = 0xA0; /* overlong */
        else if (c == 0xED)
            hi = 0x9F; /* surrogates */
    } else if (c >= 0xF0 && c <= 0xF4) {
        len = 4;
        if (c == 0xF0)
            lo = 0x90; /* overlong */
        else if (c == 0xF4)
            hi = 0x8F; /* above U+10FFFF */
    } else {
        return 0;
    }
    if (n < len || s[1] < lo || s[1] > hi)
        return 0;
    for (size_t i = 2; i < len; i++)
        if ((s[i] & 0xC0) != 0x80)
            return 0;
    return len;
}

static bool s_control(unsigned char c)
{
    return c < 0x20 || c == 0x7F;
}

/* The core: writes into dst (room bytes at most) what src[0..len) becomes; stops before a
 * piece that does not fit. *consumed is how much of src was used. Returns bytes written. */
static size_t s_convert(char *dst, size_t room, const unsigned char *src, size_t len,
                        unsigned flags, size_t *consumed)
{
    size_t o = 0, i = 0;
    while (i < len) {
        size_t k = s_seq(src + i, len - i);
        const char *piece;
        size_t plen;
        if (k == 0) {
            piece = REPLACEMENT;
            plen = 3;
            k = 1; /* one invalid byte, one replacement */
        } else if (k == 1 && (flags & SD_UTF8_ONE_LINE) && s_control(src[i])) {
            piece = " ";
            plen = 1;
        } else {
            piece = (const char *) src + i;
            plen = k;
        }
        if (o + plen > room)
            break;
        memcpy(dst + o, piece, plen);
        o += plen;
        i += k;
    }
    *consumed = i;
    return o;
}

size_t sd_utf8_copy(char *dst, size_t cap, const char *src, size_t len, unsigned flags)
{
    if (!dst || cap == 0)
        return 0;
    if (!src)
        len = 0;
    size_t used = 0;
    size_t o = s_convert(dst, cap - 1, (const unsigned char *) src, len, flags, &used);
    if (used < len && (flags & SD_UTF8_ELLIPSIS) && cap - 1 >= 3) {
        /* cut again leaving room for the ellipsis, at a boundary of the output */
        size_t keep = o;
        if (keep + 3 > cap - 1) {
            keep = cap - 1 - 3;
            while (keep > 0 && ((unsigned char) dst[keep] & 0xC0) == 0x80)
                keep--;
        }
        memcpy(dst + keep, ELLIPSIS, 3);
        o = keep + 3;
    }
    dst[o] = 0;
    return o;
}

size_t sd_utf8_scopy(char *dst, size_t cap, const char *src, unsigned flags)
{
    return sd_utf8_copy(dst, cap, src, src ? strlen(src) : 0, flags);
}

char *sd_utf8_vformat(char *dst, size_t cap, unsigned flags, const char *fmt, va_list ap)
{
    if (!dst || cap == 0)
        return dst;
    /* through a buffer larger than dst, so that vsnprintf's own cut (at a byte) lies beyond
     * what sd_utf8_copy keeps; heap only for a dst of 1 KiB or more */
    char tmp[1024], *big = NULL;
    va_list ap2;
    va_copy(ap2, ap);
    int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    if (n >= (int) sizeof tmp && cap >= sizeof tmp && (big = malloc((size_t) n + 1)))
        vsnprintf(big, (size_t) n + 1, fmt, ap2);
    va_end(ap2);
    size_t len = 0;
    if (big)
        len = (size_t) n;
    else if (n > 0)
        len = (size_t) n < sizeof tmp ? (size_t) n : sizeof tmp - 1;
    sd_utf8_copy(dst, cap, big ? big : tmp, len, flags);
    free(big);
    return dst;
}

char *sd_utf8_format(char *dst, size_t cap, unsigned flags, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    sd_utf8_vformat(dst, cap, flags, fmt, ap);
    va_end(ap);
    return dst;
}

char *sd_utf8_dup(const char *src, size_t len, size_t max_bytes, unsigned flags)
{
    if (!src)
        len = 0;
    /* at most 3 output bytes per input byte, and never more than the bound */
    size_t need = len > SIZE_MAX / 3 - 1 ? SIZE_MAX / 3 : len * 3;
    if (need > max_bytes)
        need = max_bytes;
    char *out = malloc(need + 1);
    if (!out)
        return NULL;
    sd_utf8_copy(out, need + 1, src, len, flags);
    return out;
}

bool sd_utf8_valid(const char *s, size_t len)
{
    const unsigned char *u = (const unsigned char *) s;
    for (size_t i = 0; i < len;) {
        size_t k = s_seq(u + i, len - i);
        if (k == 0)
            return false;
        i += k;
    }
    return true;
}

size_t sd_utf8_fix(char *s, size_t max_bytes, unsigned flags)
{
    if (!s)
        return 0;
    size_t len = strlen(s);
    if (len <= max_bytes && sd_utf8_valid(s, len)) {
        if (flags & SD_UTF8_ONE_LINE)
            for (size_t i = 0; i < len; i++)
                if (s_control((unsigned char) s[i]))
                    s[i] = ' ';
        return len;
    }
    /* rare: convert through a copy */
    char *tmp = sd_utf8_dup(s, len, max_bytes < len ? max_bytes : len, flags);
    if (!tmp) {
        /* no memory: keep the longest valid prefix, which needs none */
        size_t i = 0;
        while (i < len && i < max_bytes) {
            size_t k = s_seq((const unsigned char *) s + i, len - i);
            if (k == 0 || i + k > max_bytes)
                break;
            i += k;
        }
        s[i] = 0;
        return i;
    }
    size_t n = strlen(tmp);
    memcpy(s, tmp, n + 1);
    free(tmp);
    return n;
}

size_t sd_utf8_chars(const char *s, size_t len)
{
    size_t n = 0;
    const unsigned char *u = (const unsigned char *) s;
    for (size_t i = 0; i < len; n++) {
        size_t k = s_seq(u + i, len - i);
        i += k ? k : 1;
    }
    return n;
}
