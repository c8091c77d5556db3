/* sd_utf8: text from outside (remote servers, agents, config files) made valid and bounded
 * at the boundary, before it is stored (PostgreSQL refuses invalid UTF-8 and NUL), sent
 * (JSON) or exported (Prometheus refuses a scrape with one invalid label value).
 *
 * Valid means RFC 3629: no overlong forms, no surrogates (U+D800..U+DFFF), nothing above
 * U+10FFFF, no NUL. Every invalid byte becomes U+FFFD (EF BF BD); a sequence cut short
 * (e.g. by an upstream byte limit) is invalid too. Cuts are made at character boundaries. */
#ifndef SD_UTF8_H
#define SD_UTF8_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>

enum {
    /* control characters (C0 including tab, CR and LF, and DEL) become one space each:
     * for reasons, error excerpts and other one-line text */
    SD_UTF8_ONE_LINE = 1u << 0,
    /* when the text had to be cut, it ends with "…" (within the bound) */
    SD_UTF8_ELLIPSIS = 1u << 1,
};

/* Copies src (len bytes, any content; NULL copies nothing) into dst (cap bytes, cap >= 1) as
 * valid UTF-8 of at most cap - 1 bytes, NUL-terminated, cut at a character boundary.
 * Returns the bytes written, not counting the NUL. */
size_t sd_utf8_copy(char *dst, size_t cap, const char *src, size_t len, unsigned flags);

/* sd_utf8_copy of a NUL-terminated string. */
size_t sd_utf8_scopy(char *dst, size_t cap, const char *src, unsigned flags);

/* snprintf with sd_utf8_copy's promises: the formatted text (which may carry outside text)
 * lands in dst (cap >= 1 bytes) valid, NUL-terminated and cut at a character boundary, where
 * vsnprintf would cut inside a character ("%.60s" does too: pass sd_utf8_copy's output
 * instead). Returns dst. */
char *sd_utf8_format(char *dst, size_t cap, unsigned flags, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
char *sd_utf8_vformat(char *dst, size_t cap, unsigned flags, const char *fmt, va_list ap)
    __attribute__((format(printf, 4, 0)));

/* A malloc'd copy of src (len bytes) made valid and bounded to max_bytes (not counting the
 * NUL); NULL only when memory runs out. */
char *sd_utf8_dup(const char *src, size_t len, size_t max_bytes, unsigned flags);

/* True when s (len bytes) is valid UTF-8 without NUL. */
bool sd_utf8_valid(const char *s, size_t len);

/* Replaces, in place, what sd_utf8_copy would replace in the NUL-terminated s, cutting it
 * to at most max_bytes. Invalid bytes need three bytes each, so in place a replacement
 * that does not fit ends the string early (still valid). Returns the new length. */
size_t sd_utf8_fix(char *s, size_t max_bytes, unsigned flags);

/* Characters (code points) in valid UTF-8 s of len bytes; an invalid byte counts as one. */
size_t sd_utf8_chars(const char *s, size_t len);

#endif
