/* tcp_expect: the match over any bytes (NULs included) and the quoted form of the expected
 * string in a reason: escapes, cuts between UTF-8 characters (a cut once split one), bytes
 * that are not UTF-8, and the smallest buffers. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "sd_utf8.h"
#include "tcp_expect.h"

static void test_match(void **st)
{
    (void) st;
    const char reply[] = "\x00\x01+PONG\r\n";
    assert_true(tcp_expect_match(reply, sizeof reply - 1, "+PONG"));
    assert_true(tcp_expect_match(reply, sizeof reply - 1, ""));
    assert_false(tcp_expect_match(reply, 5, "+PONG")); /* only the first len bytes */
    assert_false(tcp_expect_match(reply, sizeof reply - 1, "PING"));
    assert_false(tcp_expect_match(reply, 0, "x"));
}

static void s_quote(const char *expect, size_t len, const char *want)
{
    char out[128];
    assert_true(len <= sizeof out);
    memset(out, 'Z', sizeof out);
    tcp_expect_quote(expect, out, len);
    printf("  [%zu] \"%s\"\n", len, out);
    assert_string_equal(out, want);
    assert_true(sd_utf8_valid(out, strlen(out)));
}

static void test_quote(void **st)
{
    (void) st;
    s_quote("+PONG", 96, "+PONG");
    s_quote("say \"hi\"\\\r\n\x01\x7f", 96, "say \\\"hi\\\"\\\\\\r\\n\\x01\\x7f");
    s_quote("caf\xc3\xa9 \xe6\x9d\xb1", 96, "caf\xc3\xa9 \xe6\x9d\xb1");
    s_quote("bad \xff\xc3(", 96, "bad \\xff\\xc3(");
    /* the cut: "é" (2 bytes) does not fit whole, so it is left out with the rest */
    s_quote("abc\xc3\xa9xyz", 9, "abc...");
    s_quote("abcdef", 9, "abcd...");
    s_quote("\xf0\x9f\x98\x80\xf0\x9f\x98\x80", 12, "\xf0\x9f\x98\x80...");
    s_quote("abcdef", 1, "");
    s_quote("abcdef", 5, "...");
    s_quote("abcdef", 6, "a...");
    s_quote("", 1, "");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_match),
        cmocka_unit_test(test_quote),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
