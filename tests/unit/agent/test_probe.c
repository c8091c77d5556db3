/* probe.c: the registry and the reason formatters every probe uses. A reason is stored by
 * the collector in PostgreSQL, which refuses the whole batch for one invalid byte: whatever
 * goes in (remote bytes, config text, a cut), what comes out is valid one-line UTF-8 within
 * PROBE_REASON_MAX, cut at a character boundary. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <cmocka.h>

#include "probe.h"
#include "sd_utf8.h"

#include <stdio.h>
#include <string.h>

#define E_ACUTE "\xC3\xA9"
#define ELLIPSIS "\xE2\x80\xA6"
#define FFFD "\xEF\xBF\xBD"

static void test_registry(void **state)
{
    (void) state;
    const char *names[] = {"http", "tcp", "tls", "dns", "icmp"};
    for (size_t i = 0; i < 5; i++) {
        assert_non_null(probe_find(names[i]));
        assert_string_equal(probe_at(i)->name, names[i]);
    }
    assert_null(probe_at(5));
    assert_null(probe_find("nope"));
    assert_null(probe_find(NULL));
}

/* A reason longer than its buffer whose cut falls inside 'é': vsnprintf alone left a lone
 * 0xC3 at the end; now the cut is before the character, with "…". */
static void test_reason_cut_at_boundary(void **state)
{
    (void) state;
    probe_result_t *r = probe_result_new("a");
    char text[400] = "", want[400] = "";
    for (int i = 0; i < 150; i++) /* 300 bytes; byte 199 is the middle of the 100th é */
        strcat(text, E_ACUTE);
    for (int i = 0; i < 98; i++) /* 196 bytes + "…" = 199, the most that fits */
        strcat(want, E_ACUTE);
    strcat(want, ELLIPSIS);
    probe_result_set_reason(r, "%s", text);
    size_t n = strlen(r->reason);
    printf("reason of %zu bytes, %zu characters (bound %d bytes)\n", n,
           sd_utf8_chars(r->reason, n), PROBE_REASON_MAX - 1);
    assert_true(sd_utf8_valid(r->reason, n));
    assert_string_equal(r->reason, want);
    probe_result_destroy(&r);
}

/* Remote bytes: invalid sequences become U+FFFD, CR/LF/TAB and other controls a space. */
static void test_reason_repairs_remote_bytes(void **state)
{
    (void) state;
    probe_result_t *r = probe_result_new("a");
    probe_result_set_reason(r, "got \"%s\"", "a\xC3\x22 b\xFF\r\nc\td\x01" "e" E_ACUTE);
    printf("reason=\"%s\"\n", r->reason);
    assert_string_equal(r->reason, "got \"a" FFFD "\" b" FFFD "  c d e" E_ACUTE "\"");
    probe_result_set_reason(r, "%s", "");
    assert_string_equal(r->reason, "");
    probe_result_destroy(&r);
}

static void test_format_and_excerpt(void **state)
{
    (void) state;
    char q[8], buf[12];
    /* "%.6s" of "abcde" + é would keep 0xC3 alone; the excerpt stops before é */
    assert_string_equal(probe_excerpt(q, sizeof q, "abcde" E_ACUTE "fg"), "abcd" ELLIPSIS);
    assert_string_equal(probe_excerpt(q, sizeof q, "abc" E_ACUTE), "abc" E_ACUTE);
    assert_string_equal(probe_excerpt(q, sizeof q, NULL), "");
    assert_string_equal(probe_excerpt(q, sizeof q, "a\nb\xFF"), "a b" FFFD);
    /* probe_format: the same promises for intermediate messages (why, err) */
    assert_string_equal(probe_format(buf, sizeof buf, "x=%s", "1234" E_ACUTE E_ACUTE),
                        "x=1234" E_ACUTE E_ACUTE); /* 10 bytes: fits */
    /* "x=12345678" then é: snprintf would end in 0xC3 */
    assert_string_equal(probe_format(buf, sizeof buf, "x=%s", "12345678" E_ACUTE),
                        "x=123456" ELLIPSIS);
    assert_true(sd_utf8_valid(buf, strlen(buf)));
    assert_string_equal(probe_format(buf, sizeof buf, "%d\n%s", 7, "ok"), "7 ok");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_registry),
        cmocka_unit_test(test_reason_cut_at_boundary),
        cmocka_unit_test(test_reason_repairs_remote_bytes),
        cmocka_unit_test(test_format_and_excerpt),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
