/* sd_utf8: validation per RFC 3629, replacement of invalid bytes, cuts at character
 * boundaries, one-line mode and the ellipsis; every output is checked to be valid. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "sd_utf8.h"

#define FFFD "\xEF\xBF\xBD"

static void test_valid(void **state)
{
    (void) state;
    const char *good[] = {"", "plain", "caf\xC3\xA9", "\xE2\x82\xAC", "\xF0\x9F\x94\xB4",
                          "\xF4\x8F\xBF\xBF", "\xED\x9F\xBF", "\xEE\x80\x80"};
    for (size_t i = 0; i < sizeof good / sizeof *good; i++)
        assert_true(sd_utf8_valid(good[i], strlen(good[i])));
    struct {
        const char *s;
        size_t len;
    } bad[] = {
        {"\xC3", 1},             /* cut short */
        {"a\xC3\x22", 3},        /* é cut, then a quote: the PostgreSQL error of the issue */
        {"\xC0\xAF", 2},         /* overlong / */
        {"\xE0\x80\xAF", 3},     /* overlong */
        {"\xED\xA0\x80", 3},     /* surrogate */
        {"\xF4\x90\x80\x80", 4}, /* above U+10FFFF */
        {"\xF5\x80\x80\x80", 4}, /* invalid lead */
        {"\xFF", 1},
        {"\x80", 1},             /* lone continuation */
        {"a\0b", 3},             /* NUL: PostgreSQL text refuses it */
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        assert_false(sd_utf8_valid(bad[i].s, bad[i].len));
}

static void test_replace(void **state)
{
    (void) state;
    char out[64];
    size_t n = sd_utf8_copy(out, sizeof out, "a\xC3\x22z", 4, 0);
    assert_string_equal(out, "a" FFFD "\"z");
    assert_int_equal(n, strlen(out));
    sd_utf8_copy(out, sizeof out, "\xED\xA0\x80!", 4, 0); /* each byte of a surrogate */
    assert_string_equal(out, FFFD FFFD FFFD "!");
    sd_utf8_copy(out, sizeof out, "x\0y", 3, 0);
    assert_string_equal(out, "x" FFFD "y");
    sd_utf8_copy(out, sizeof out, NULL, 5, 0);
    assert_string_equal(out, "");
}

static void test_cut_at_boundary(void **state)
{
    (void) state;
    /* 59 x 'a' + "é": a 60-byte cut would split the é */
    char src[70];
    memset(src, 'a', 59);
    memcpy(src + 59, "\xC3\xA9", 3);
    char out[61]; /* 60 bytes + NUL */
    size_t n = sd_utf8_copy(out, sizeof out, src, strlen(src), 0);
    assert_int_equal(n, 59);
    assert_true(sd_utf8_valid(out, n));
    char big[62];
    n = sd_utf8_copy(big, sizeof big, src, strlen(src), 0);
    assert_int_equal(n, 61);
    assert_string_equal(big, src);
    /* a replacement that does not fit is left out, not cut */
    char tiny[3];
    n = sd_utf8_copy(tiny, sizeof tiny, "a\xFF", 2, 0);
    assert_string_equal(tiny, "a");
    assert_int_equal(n, 1);
}

static void test_one_line_and_ellipsis(void **state)
{
    (void) state;
    char out[32];
    sd_utf8_scopy(out, sizeof out, "line1\r\nline2\tend\x7f", SD_UTF8_ONE_LINE);
    assert_string_equal(out, "line1  line2 end ");
    sd_utf8_scopy(out, sizeof out, "keep\nnewline", 0);
    assert_string_equal(out, "keep\nnewline");
    char e[10]; /* 9 bytes: 6 + "…" */
    size_t n = sd_utf8_scopy(e, sizeof e, "abcdefghijklmnop", SD_UTF8_ELLIPSIS);
    assert_string_equal(e, "abcdef\xE2\x80\xA6");
    assert_int_equal(n, 9);
    /* the ellipsis never splits a character before it */
    n = sd_utf8_scopy(e, sizeof e, "\xC3\xA9\xC3\xA9\xC3\xA9\xC3\xA9\xC3\xA9", SD_UTF8_ELLIPSIS);
    assert_true(sd_utf8_valid(e, n));
    assert_string_equal(e, "\xC3\xA9\xC3\xA9\xC3\xA9\xE2\x80\xA6");
    /* no cut, no ellipsis */
    n = sd_utf8_scopy(e, sizeof e, "short", SD_UTF8_ELLIPSIS);
    assert_string_equal(e, "short");
}

/* sd_utf8_format: snprintf whose cut falls between characters, through the stack buffer
 * (small dst) and the heap (dst of 1 KiB or more with longer text). */
static void test_format(void **state)
{
    (void) state;
    char out[12];
    /* "x=12345678" then é: snprintf would keep only the é's first byte */
    sd_utf8_format(out, sizeof out, 0, "x=%s", "12345678\xC3\xA9");
    assert_string_equal(out, "x=12345678");
    sd_utf8_format(out, sizeof out, SD_UTF8_ELLIPSIS, "x=%s", "12345678\xC3\xA9");
    assert_string_equal(out, "x=123456\xE2\x80\xA6");
    sd_utf8_format(out, sizeof out, SD_UTF8_ONE_LINE, "%d\n%s", 42, "a\xFF");
    assert_string_equal(out, "42 a\xEF\xBF\xBD");
    assert_string_equal(sd_utf8_format(out, 1, 0, "%s", "abc"), "");
    /* 3000 bytes of 'é' into 2001 bytes: 1000 of them, whatever the formatter's buffer */
    char *src = malloc(3001), *big = malloc(2001);
    assert_non_null(src);
    assert_non_null(big);
    for (int i = 0; i < 1500; i++)
        memcpy(src + 2 * i, "\xC3\xA9", 2);
    src[3000] = 0;
    sd_utf8_format(big, 2001, 0, "%s", src);
    printf("format: %zu bytes of %zu\n", strlen(big), strlen(src));
    assert_int_equal(strlen(big), 2000);
    assert_true(sd_utf8_valid(big, 2000));
    sd_utf8_format(big, 2000, 0, "%s", src); /* odd room: 999 characters */
    assert_int_equal(strlen(big), 1998);
    char small[100];
    sd_utf8_format(small, sizeof small, 0, "%s", src); /* via the stack buffer, cut there */
    assert_int_equal(strlen(small), 98);
    free(src);
    free(big);
}

static void test_dup_and_fix(void **state)
{
    (void) state;
    char *d = sd_utf8_dup("\xFF\xFE", 2, 100, 0);
    assert_non_null(d);
    assert_string_equal(d, FFFD FFFD);
    free(d);
    d = sd_utf8_dup("\xFF\xFE", 2, 4, 0); /* bound: one replacement fits */
    assert_string_equal(d, FFFD);
    free(d);
    char s[32] = "ok\xC3";
    size_t n = sd_utf8_fix(s, sizeof s - 1, 0);
    /* in place: 3 bytes of room for the 1 bad byte is not there, so the string ends early */
    assert_true(sd_utf8_valid(s, n));
    assert_true(strncmp(s, "ok", 2) == 0);
    char t[32] = "tab\there";
    sd_utf8_fix(t, 100, SD_UTF8_ONE_LINE);
    assert_string_equal(t, "tab here");
    char u[32] = "\xC3\xA9\xC3\xA9";
    n = sd_utf8_fix(u, 3, 0);
    assert_int_equal(n, 2);
    assert_string_equal(u, "\xC3\xA9");
    assert_int_equal(sd_utf8_chars("\xC3\xA9x\xFF", 4), 3);
}

/* Random bytes: the output is always valid, NUL-terminated and within the bound. */
static void test_random(void **state)
{
    (void) state;
    uint64_t x = 0x9E3779B97F4A7C15ULL;
    unsigned char src[64];
    char out[40];
    for (int round = 0; round < 20000; round++) {
        size_t len = (size_t) (x % sizeof src);
        for (size_t i = 0; i < len; i++) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            /* bias toward bytes that start or continue sequences */
            src[i] = (unsigned char) ((x & 3) ? 0x80 + (x >> 8) % 0x80 : x >> 16);
        }
        size_t cap = 1 + (size_t) ((x >> 24) % sizeof out);
        unsigned flags = (unsigned) ((x >> 32) & 3);
        size_t n = sd_utf8_copy(out, cap, (const char *) src, len, flags);
        assert_true(n < cap);
        assert_int_equal(strlen(out), n);
        assert_true(sd_utf8_valid(out, n));
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_valid),
        cmocka_unit_test(test_replace),
        cmocka_unit_test(test_cut_at_boundary),
        cmocka_unit_test(test_one_line_and_ellipsis),
        cmocka_unit_test(test_format),
        cmocka_unit_test(test_dup_and_fix),
        cmocka_unit_test(test_random),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
