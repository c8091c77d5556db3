/* sd_clock and sd_log: clocks move as promised, RFC 3339 formatting, log level parsing and
 * the one-line format on stderr. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "sd_clock.h"
#include "sd_log.h"

static void test_clocks(void **state)
{
    sd_ms_t m1 = sd_mono_ms();
    int64_t u1 = sd_mono_us();
    int64_t w1 = sd_wall_ms();
    int64_t wu = sd_wall_us();
    usleep(20000);
    sd_ms_t m2 = sd_mono_ms();
    printf("  monotonic advanced %lld ms over a 20 ms sleep\n", (long long) (m2 - m1));
    assert_true(m2 - m1 >= 19);
    assert_true(sd_mono_us() - u1 >= 19000);
    assert_true(w1 > 1700000000000LL); /* after 2023: a wall clock in unix ms */
    assert_true(wu / 1000 - w1 <= 1 && wu / 1000 - w1 >= -1);
}

static void test_rfc3339(void **state)
{
    char buf[40];
    sd_format_rfc3339(0, buf, sizeof buf);
    assert_string_equal(buf, "1970-01-01T00:00:00.000Z");
    sd_format_rfc3339(1795598060123LL, buf, sizeof buf);
    assert_string_equal(buf, "2026-11-25T09:14:20.123Z");
    sd_format_rfc3339(-1, buf, sizeof buf); /* just before the epoch */
    assert_string_equal(buf, "1969-12-31T23:59:59.999Z");
    sd_format_rfc3339(951782400000LL, buf, sizeof buf); /* a leap day */
    assert_string_equal(buf, "2000-02-29T00:00:00.000Z");
}

static void test_log_levels_and_format(void **state)
{
    sd_log_level_t l;
    assert_int_equal(sd_log_parse_level("debug", &l), 0);
    assert_int_equal(l, SD_LOG_DEBUG);
    assert_int_equal(sd_log_parse_level("error", &l), 0);
    assert_int_equal(l, SD_LOG_ERROR);
    assert_int_equal(sd_log_parse_level("verbose", &l), -EINVAL);
    assert_int_equal(sd_log_parse_level(NULL, &l), -EINVAL);

    /* capture stderr in a file */
    char path[] = "/tmp/sd_log_testXXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    fflush(stderr);
    int saved = dup(2);
    dup2(fd, 2);
    sd_log_set_level(SD_LOG_WARN);
    sd_info("comp", "hidden key=%d", 1);
    sd_warn("comp", "shown key=%d", 2);
    sd_error("other", "also shown");
    fflush(stderr);
    dup2(saved, 2);
    close(saved);
    sd_log_set_level(SD_LOG_INFO);
    char text[512] = {0};
    lseek(fd, 0, SEEK_SET);
    ssize_t n = read(fd, text, sizeof text - 1);
    close(fd);
    unlink(path);
    assert_true(n > 0);
    printf("  captured: %s", text);
    assert_null(strstr(text, "hidden"));
    assert_non_null(strstr(text, "Z warn comp: shown key=2\n"));
    assert_non_null(strstr(text, "Z error other: also shown\n"));
    /* one line per event, each starting with an RFC 3339 time */
    assert_int_equal(text[4], '-');
    assert_int_equal(text[10], 'T');
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_clocks),
        cmocka_unit_test(test_rfc3339),
        cmocka_unit_test(test_log_levels_and_format),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
