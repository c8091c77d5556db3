/* badge: a shields-style SVG whose text is escaped and bounded, widths that grow with the
 * text, state colours, and uptime messages truncated (never rounded up to 100%). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "badge.h"

static int s_attr_width(const char *svg)
{
    const char *p = strstr(svg, "width=\"");
    return p ? atoi(p + 7) : -1;
}

static void test_svg(void **st)
{
    (void) st;
    char *s = badge_svg("status", "up", badge_state_color("UP"));
    assert_non_null(s);
    print_message("%s", s);
    assert_true(strncmp(s, "<svg xmlns=\"http://www.w3.org/2000/svg\"", 39) == 0);
    assert_non_null(strstr(s, "<title>status: up</title>"));
    assert_non_null(strstr(s, "aria-label=\"status: up\""));
    assert_non_null(strstr(s, "fill=\"#4c1\""));
    assert_null(strstr(s, "href"));
    int narrow = s_attr_width(s);
    free(s);
    s = badge_svg("status", "maintenance", badge_state_color("MAINTENANCE"));
    assert_true(s_attr_width(s) > narrow);
    free(s);
    /* markup and control characters never reach the SVG as markup */
    s = badge_svg("<script>&\"x\"", "a\nb</text>", "#4c1");
    assert_null(strstr(s, "<script>"));
    assert_null(strstr(s, "</text>b"));
    assert_non_null(strstr(s, "&lt;script&gt;&amp;"));
    free(s);
    /* long text is bounded */
    char big[1000];
    memset(big, 'w', sizeof big - 1);
    big[sizeof big - 1] = 0;
    s = badge_svg(big, big, "#4c1");
    assert_true(strlen(s) < 3000);
    free(s);
}

static void test_messages(void **st)
{
    (void) st;
    assert_string_equal(badge_state_message("DOWN"), "down");
    assert_string_equal(badge_state_color("DOWN"), "#e05d44");
    assert_string_equal(badge_state_message("UNCONFIRMED"), "unconfirmed");
    assert_string_equal(badge_state_message("UNKNOWN"), "unknown");
    assert_string_equal(badge_state_message(NULL), "unknown");
    assert_string_equal(badge_state_color("UNKNOWN"), "#9f9f9f");
    char m[32];
    const char *c;
    badge_uptime(1, m, sizeof m, &c);
    assert_string_equal(m, "100%");
    assert_string_equal(c, "#4c1");
    badge_uptime(0.999999, m, sizeof m, &c);
    assert_string_equal(m, "99.99%");
    badge_uptime(0.9995, m, sizeof m, &c);
    assert_string_equal(m, "99.95%");
    assert_string_equal(c, "#4c1");
    badge_uptime(0.995, m, sizeof m, &c);
    assert_string_equal(c, "#97ca00");
    badge_uptime(0.96, m, sizeof m, &c);
    assert_string_equal(c, "#dfb317");
    badge_uptime(0.91, m, sizeof m, &c);
    assert_string_equal(c, "#fe7d37");
    badge_uptime(0.5, m, sizeof m, &c);
    assert_string_equal(m, "50.00%");
    assert_string_equal(c, "#e05d44");
    badge_uptime(-1, m, sizeof m, &c);
    assert_string_equal(m, "no data");
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_svg),
                                       cmocka_unit_test(test_messages)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
