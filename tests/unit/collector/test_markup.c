/* markup: hostile and ordinary text escaped for Slack, Teams, Discord, HTML (Telegram, mail)
 * and plain text, and the cut of text that does not fit (never inside an escape or a
 * character, always valid UTF-8, with "…"). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "markup.h"
#include "sd_utf8.h"

static void s_slack_is(const char *in, const char *want)
{
    char out[512];
    size_t n = markup_slack(out, sizeof out, in);
    printf("slack %-40s -> %s\n", in ? in : "(NULL)", out);
    assert_string_equal(out, want);
    assert_int_equal(n, strlen(want));
}

static void s_teams_is(const char *in, const char *want)
{
    char out[512];
    size_t n = markup_teams(out, sizeof out, in);
    printf("teams %-40s -> %s\n", in ? in : "(NULL)", out);
    assert_string_equal(out, want);
    assert_int_equal(n, strlen(want));
}

static void test_slack(void **st)
{
    (void) st;
    s_slack_is("<!channel>", "&lt;!channel&gt;");
    s_slack_is("<!here> <@U1> <#C1> <!subteam^S1>", "&lt;!here&gt; &lt;@U1&gt; &lt;#C1&gt; "
                                                    "&lt;!subteam^S1&gt;");
    s_slack_is("<https://evil|click>", "&lt;https://evil|click&gt;");
    s_slack_is("R&D &amp; co", "R&amp;D &amp;amp; co");
    s_slack_is("> quoted", "&gt; quoted");
    /* formatting characters stay: the message turns mrkdwn off */
    s_slack_is("*bold* _it_ ~x~ `c` [x](http://y)", "*bold* _it_ ~x~ `c` [x](http://y)");
    s_slack_is("api-prod.eu_1:443", "api-prod.eu_1:443");
    s_slack_is("Köln ☃ 東京 🚀", "Köln ☃ 東京 🚀");
    s_slack_is("a\nb\tc\x01" "d", "a b c d"); /* one line */
    s_slack_is("bad \xC3( byte", "bad \xEF\xBF\xBD( byte");
    s_slack_is("", "");
    s_slack_is(NULL, "");
}

static void test_teams(void **st)
{
    (void) st;
    s_teams_is("*bold* _it_ ~~x~~ `c`", "\\*bold\\* \\_it\\_ \\~\\~x\\~\\~ \\`c\\`");
    s_teams_is("[x](http://y)", "\\[x\\]\\(http://y\\)");
    s_teams_is("<at>everyone</at> &lt;", "\\<at\\>everyone\\</at\\> \\&lt;");
    s_teams_is("back\\slash", "back\\\\slash");
    /* block openers only at the start (after spaces) */
    s_teams_is("# title", "\\# title");
    s_teams_is("- item", "\\- item");
    s_teams_is("  + item", "  \\+ item");
    s_teams_is("---", "\\---");
    s_teams_is("1. first", "1\\. first");
    s_teams_is("42.", "42\\.");
    s_teams_is("10.0.0.1", "10.0.0.1");
    s_teams_is("a-b #1 c+d 2. e", "a-b #1 c+d 2. e");
    s_teams_is("api-prod.example.com:443", "api-prod.example.com:443");
    s_teams_is("Köln ☃ 東京 🚀", "Köln ☃ 東京 🚀");
    s_teams_is("a\r\nb", "a  b");
    s_teams_is(NULL, "");
}

static void s_html_is(const char *in, const char *want)
{
    char out[512];
    size_t n = markup_html(out, sizeof out, in);
    printf("html %-40s -> %s\n", in ? in : "(NULL)", out);
    assert_string_equal(out, want);
    assert_int_equal(n, strlen(want));
}

static void test_html(void **st)
{
    (void) st;
    s_html_is("<script>alert('x')</script>", "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;");
    s_html_is("<a href=\"javascript:x\">", "&lt;a href=&quot;javascript:x&quot;&gt;");
    s_html_is("R&D &amp; co", "R&amp;D &amp;amp; co");
    s_html_is("Köln ☃ 東京 🚀", "Köln ☃ 東京 🚀");
    s_html_is("a\r\nBcc: x@y", "a  Bcc: x@y"); /* one line */
    s_html_is(NULL, "");
    char out[12];
    /* cut between two escapes, never inside one */
    size_t n = markup_html(out, sizeof out, "\"\"\"\"");
    printf("html cut: %s (%zu bytes)\n", out, n);
    assert_string_equal(out, "&quot;…");
}

/* Cut text stays valid UTF-8, ends in "…", and never ends inside an escape or a
 * character; text that fits exactly is not cut. */
static void test_cut(void **st)
{
    (void) st;
    char out[16];
    /* 4 x "&lt;" fit in 15 bytes with "…" after them, not half of the fifth */
    size_t n = markup_slack(out, sizeof out, "<<<<<<<<");
    printf("slack cut: %s (%zu bytes)\n", out, n);
    assert_string_equal(out, "&lt;&lt;&lt;…");
    assert_true(n < sizeof out);
    n = markup_teams(out, sizeof out, "**********");
    printf("teams cut: %s (%zu bytes)\n", out, n);
    assert_string_equal(out, "\\*\\*\\*\\*\\*\\*…");
    /* a 4-byte character is never split */
    n = markup_teams(out, sizeof out, "abcdefghij🚀🚀");
    printf("teams cut: %s (%zu bytes)\n", out, n);
    assert_true(sd_utf8_valid(out, n));
    assert_string_equal(out, "abcdefghij…");
    /* exactly 15 bytes fit */
    n = markup_slack(out, sizeof out, "abcdefghij&");
    assert_string_equal(out, "abcdefghij&amp;");
    assert_int_equal(n, 15);
    /* a long hostile text: bounded, valid, no dangling escape */
    char big[4096];
    memset(big, '<', sizeof big - 1);
    big[sizeof big - 1] = 0;
    char out2[100];
    n = markup_slack(out2, sizeof out2, big);
    assert_true(n < sizeof out2);
    assert_true(sd_utf8_valid(out2, n));
    assert_non_null(strstr(out2, "&lt;…"));
    /* the smallest buffers */
    char one[1];
    assert_int_equal(markup_teams(one, 1, "abc"), 0);
    assert_string_equal(one, "");
    char three[3];
    assert_int_equal(markup_slack(three, 3, "abc"), 2);
    assert_string_equal(three, "ab");
}

/* One function of markup.h applied to in must give want (and return its length). */
static void s_is(size_t (*fn)(char *, size_t, const char *), const char *tag, const char *in,
                 const char *want)
{
    char out[512];
    size_t n = fn(out, sizeof out, in);
    printf("%s %-40s -> %s\n", tag, in ? in : "(NULL)", out);
    assert_string_equal(out, want);
    assert_int_equal(n, strlen(want));
}

static void test_discord(void **st)
{
    (void) st;
    s_is(markup_discord, "discord", "@everyone <@123> <#9> <:e:1>",
         "\\@everyone \\<\\@123\\> \\<#9\\> \\<:e:1\\>");
    s_is(markup_discord, "discord", "*b* _i_ ~~s~~ `c` ||spoiler||",
         "\\*b\\* \\_i\\_ \\~\\~s\\~\\~ \\`c\\` \\|\\|spoiler\\|\\|");
    s_is(markup_discord, "discord", "[x](https://evil)", "\\[x\\]\\(https://evil\\)");
    s_is(markup_discord, "discord", "# head", "\\# head");
    s_is(markup_discord, "discord", "> quote", "\\> quote");
    s_is(markup_discord, "discord", "- item", "\\- item");
    s_is(markup_discord, "discord", "1. item", "1\\. item");
    s_is(markup_discord, "discord", "a-b # c & d", "a-b # c & d");
    s_is(markup_discord, "discord", "Köln ☃ \\", "Köln ☃ \\\\");
    s_is(markup_discord, "discord", "line\nbreak", "line break");
}

static void test_html_telegram(void **st)
{
    (void) st;
    s_is(markup_html, "html", "<b>x</b> & <a href=\"u\">",
         "&lt;b&gt;x&lt;/b&gt; &amp; &lt;a href=&quot;u&quot;&gt;");
    s_is(markup_html, "html", "*x* _y_ [z](u) Köln", "*x* _y_ [z](u) Köln");
    s_is(markup_html, "html", "&amp;", "&amp;amp;");
    char out[12];
    markup_html(out, sizeof out, "<<<<<<<<");
    printf("html cut: %s\n", out);
    assert_string_equal(out, "&lt;&lt;…"); /* never inside an entity */
}

static void test_plain(void **st)
{
    (void) st;
    s_is(markup_plain, "plain", "<b>*x*</b> & [y](z)", "<b>*x*</b> & [y](z)");
    s_is(markup_plain, "plain", "a\r\nb\tc", "a  b c");
    s_is(markup_plain, "plain", "bad \xff byte", "bad \xef\xbf\xbd byte");
    s_is(markup_plain, "plain", NULL, "");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_slack),
        cmocka_unit_test(test_teams),
        cmocka_unit_test(test_html),
        cmocka_unit_test(test_cut),
        cmocka_unit_test(test_discord),
        cmocka_unit_test(test_html_telegram),
        cmocka_unit_test(test_plain),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
