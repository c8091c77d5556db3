/* tcp_expect: the expect check of the tcp/tls probe (see tcp_expect.h). */
#include "tcp_expect.h"

#include <stdio.h>
#include <string.h>

#include "sd_utf8.h"

bool tcp_expect_match(const char *reply, size_t len, const char *expect)
{
    return memmem(reply, len, expect, strlen(expect)) != NULL;
}

/* Bytes of the valid UTF-8 character at s (at least 2), or 0 when s does not start one. */
static size_t s_utf8_char(const char *s)
{
    unsigned char c = (unsigned char) *s;
    size_t k = c >= 0xc2 && c <= 0xdf   ? 2
               : c >= 0xe0 && c <= 0xef ? 3
               : c >= 0xf0 && c <= 0xf4 ? 4
                                        : 0;
    return k && strnlen(s, k) == k && sd_utf8_valid(s, k) ? k : 0;
}

void tcp_expect_quote(const char *s, char *out, size_t len)
{
    size_t o = 0;
    for (; *s && o + 5 < len; s++) {
        unsigned char c = (unsigned char) *s;
        size_t k = c >= 0x80 ? s_utf8_char(s) : 0;
        if (k) {
            /* a whole character or none: a cut one would not be UTF-8 */
            if (o + k + 4 >= len)
                break;
            memcpy(out + o, s, k);
            o += k;
            s += k - 1;
        } else if (c == '"' || c == '\\')
            o += (size_t) snprintf(out + o, len - o, "\\%c", c);
        else if (c == '\n')
            o += (size_t) snprintf(out + o, len - o, "\\n");
        else if (c == '\r')
            o += (size_t) snprintf(out + o, len - o, "\\r");
        else if (c < 0x20 || c >= 0x7f)
            o += (size_t) snprintf(out + o, len - o, "\\x%02x", c);
        else
            out[o++] = (char) c;
    }
    out[o] = 0;
    if (*s && o + 4 < len)
        snprintf(out + o, len - o, "...");
}
