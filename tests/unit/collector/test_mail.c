/* mail: the message builder's headers (Date, From, To, Subject, Message-ID, threading,
 * MIME), RFC 2047 encoded-words, quoted-printable round trips of dot lines, long lines,
 * "=" and trailing spaces, CRLF everywhere, and header injection attempts. Read back with
 * tests/lib/mail_decode.h, independent of mail.c's encoders. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "mail.h"
#include "mail_decode.h"
#include "sd_utf8.h"

static const char *const s_to[] = {"ops@example.org", "oncall+db@example.net", NULL};

static mail_t s_mail(const char *subject, const char *text, const char *html)
{
    return (mail_t){.from = "alerts@statusd.example.org", .to = s_to, .subject = subject,
                    .message_id = "<statusd-42@statusd.example.org>",
                    .thread_id = "<statusd-incident-7@statusd.example.org>",
                    .date_ms = 1000000000000LL, .text = text, .html = html};
}

/* Builds m and checks what every message must be: CRLF only, lines within 78 bytes except
 * the To header, no line starting with "."; returns the message (malloc'd). */
static char *s_build(const mail_t *m, size_t *len_out)
{
    char *msg = NULL;
    size_t len = 0;
    assert_int_equal(mail_build(m, &msg, &len), 0);
    assert_int_equal(strlen(msg), len);
    test_mail_lines_t l = test_mail_lines(msg, len);
    print_message("built %zu bytes, %zu lines, longest %zu, bare CR/LF %zu, dot lines %zu\n",
                  len, l.lines, l.max_line, l.bare, l.dot_lines);
    assert_int_equal(l.bare, 0);
    assert_int_equal(l.dot_lines, 0);
    assert_true(l.max_line <= 78);
    assert_true(len >= 2 && memcmp(msg + len - 2, "\r\n", 2) == 0);
    if (len_out)
        *len_out = len;
    return msg;
}

static void test_headers(void **st)
{
    (void) st;
    mail_t m = s_mail("[DOWN] api: status 503", "hello\n", "<p>hello</p>\n");
    char *msg = s_build(&m, NULL), *h = test_mail_headers(msg);
    print_message("%s", h);
    assert_non_null(strstr(h, "Date: Sun, 09 Sep 2001 01:46:40 +0000\r\n"));
    assert_non_null(strstr(h, "From: StatusD <alerts@statusd.example.org>\r\n"));
    assert_non_null(strstr(h, "To: ops@example.org,\r\n oncall+db@example.net\r\n"));
    assert_non_null(strstr(h, "Subject: [DOWN] api: status 503\r\n"));
    assert_non_null(strstr(h, "Message-ID: <statusd-42@statusd.example.org>\r\n"));
    assert_non_null(strstr(h, "In-Reply-To: <statusd-incident-7@statusd.example.org>\r\n"));
    assert_non_null(strstr(h, "References: <statusd-incident-7@statusd.example.org>\r\n"));
    assert_non_null(strstr(h, "MIME-Version: 1.0\r\n"));
    assert_non_null(
        strstr(h, "Content-Type: multipart/alternative; boundary=\"=_statusd_alt\"\r\n"));
    assert_non_null(strstr(msg, "Content-Type: text/plain; charset=utf-8\r\n"
                                "Content-Transfer-Encoding: quoted-printable\r\n"));
    assert_non_null(strstr(msg, "Content-Type: text/html; charset=utf-8\r\n"));
    char *plain = test_mail_part(msg, "text/plain"), *html = test_mail_part(msg, "text/html");
    assert_string_equal(plain, "hello\n");
    assert_string_equal(html, "<p>hello</p>\n");
    assert_non_null(strstr(msg, "\r\n--=_statusd_alt--\r\n"));
    /* no thread: neither In-Reply-To nor References */
    m.thread_id = NULL;
    char *msg2 = s_build(&m, NULL);
    assert_null(strstr(msg2, "In-Reply-To:"));
    assert_null(strstr(msg2, "References:"));
    free(msg2);
    free(plain);
    free(html);
    free(h);
    free(msg);
}

static void test_encoded_word(void **st)
{
    (void) st;
    mail_t m = s_mail("Köln ☃ down", "x", "x");
    char *msg = s_build(&m, NULL);
    assert_non_null(strstr(msg, "Subject: =?UTF-8?B?S8O2bG4g4piDIGRvd24=?=\r\n"));
    free(msg);
    /* long and non-ASCII: several words, each decodes to whole characters */
    char subject[400] = "";
    for (int i = 0; i < 20; i++)
        strcat(subject, "東京🚀é ");
    m.subject = subject;
    msg = s_build(&m, NULL);
    char *back = test_mail_header(msg, "Subject");
    print_message("subject back: %s\n", back);
    char want[MAIL_SUBJECT_MAX + 1];
    sd_utf8_scopy(want, sizeof want, subject, SD_UTF8_ONE_LINE | SD_UTF8_ELLIPSIS);
    assert_string_equal(back, want); /* bounded to MAIL_SUBJECT_MAX, with "…" */
    assert_true(strlen(back) <= MAIL_SUBJECT_MAX);
    char *h = test_mail_headers(msg);
    int words = 0;
    for (char *p = strstr(h, "=?UTF-8?B?"); p; p = strstr(p + 1, "=?UTF-8?B?")) {
        char *end = strstr(p, "?=");
        assert_true(end - p + 2 <= 75); /* RFC 2047: an encoded-word is at most 75 */
        char dec[128];
        size_t o = 0;
        test_b64_decode(p + 10, (size_t) (end - p - 10), dec, &o);
        assert_true(sd_utf8_valid(dec, o)); /* never a character cut in two */
        words++;
    }
    print_message("%d encoded-words\n", words);
    assert_true(words >= 5);
    free(back);
    free(h);
    free(msg);
    /* ASCII that looks like an encoded-word is encoded, so it reads as written */
    m.subject = "=?UTF-8?B?SGk=?= fake";
    msg = s_build(&m, NULL);
    back = test_mail_header(msg, "Subject");
    assert_string_equal(back, "=?UTF-8?B?SGk=?= fake");
    assert_null(strstr(msg, "Subject: =?UTF-8?B?SGk=?= fake"));
    free(back);
    free(msg);
}

/* Header injection: CR/LF in the subject cannot start a header; addresses and ids with
 * anything unusual are refused. */
static void test_injection(void **st)
{
    (void) st;
    mail_t m = s_mail("api\r\nBcc: victim@example.com\r\n\r\nbody", "x", "x");
    char *msg = s_build(&m, NULL), *h = test_mail_headers(msg);
    print_message("%s", h);
    assert_null(strstr(h, "\nBcc:"));
    char *back = test_mail_header(msg, "Subject");
    assert_string_equal(back, "api  Bcc: victim@example.com    body");
    free(back);
    free(h);
    free(msg);
    const char *bad[] = {"a@b\r\nBcc: x@y", "<a@b.c>", "a b@c.d", "a@b@c", "é@x.org",
                         ".a@x.org", "a.@x.org", "a..b@x.org", "a@-x.org", "a@x.org.",
                         "a@x_y.org", "@x.org", "a@", "", "a(b)@x.org", "a@[1.2.3.4]", NULL};
    for (int i = 0; bad[i]; i++) {
        assert_false(mail_addr_valid(bad[i]));
        const char *to[] = {bad[i], NULL};
        m = s_mail("s", "x", "x");
        m.to = to;
        char *out = NULL;
        size_t len = 0;
        assert_int_equal(mail_build(&m, &out, &len), -EINVAL);
        assert_null(out);
        m.to = s_to;
        m.from = bad[i];
        assert_int_equal(mail_build(&m, &out, &len), -EINVAL);
    }
    assert_false(mail_addr_valid(NULL));
    const char *good[] = {"ops@example.org", "a.b+c-d_e@mx-1.example.co.uk", "o'neil@x.io",
                          "root@localhost", NULL};
    for (int i = 0; good[i]; i++)
        assert_true(mail_addr_valid(good[i]));
    assert_string_equal(mail_addr_domain("a@mx.example.org"), "mx.example.org");
    char *out = NULL;
    size_t len = 0;
    m = s_mail("s", "x", "x");
    m.message_id = "<a b@c>\r\nBcc: x@y";
    assert_int_equal(mail_build(&m, &out, &len), -EINVAL);
    m = s_mail("s", "x", "x");
    const char *none[] = {NULL};
    m.to = none;
    assert_int_equal(mail_build(&m, &out, &len), -EINVAL);
    const char *many[MAIL_RCPT_MAX + 2];
    for (int i = 0; i <= MAIL_RCPT_MAX; i++)
        many[i] = "ops@example.org";
    many[MAIL_RCPT_MAX + 1] = NULL;
    m.to = many;
    assert_int_equal(mail_build(&m, &out, &len), -EINVAL);
    many[MAIL_RCPT_MAX] = NULL;
    out = s_build(&m, NULL);
    free(out);
}

/* Dots, long lines, "=", trailing spaces, controls, invalid UTF-8 and the boundary itself in
 * the text: every line within 76 (+CRLF), none starts with ".", and the parts decode back
 * to the text (invalid bytes as U+FFFD). */
static void test_body_round_trip(void **st)
{
    (void) st;
    char text[12000] = ".\n..hidden\n.. \nok. \n=?= a=b \t\n--=_statusd_alt\nline\tend\t\n";
    size_t n = strlen(text);
    for (int i = 0; i < 3000; i++) /* one 3000-byte line of dots, "=" and letters */
        text[n++] = ".=x"[i % 3];
    strcpy(text + n, "\nKöln ☃ 東京 🚀\n\x01\x7f bad \xC3( end\n.");
    mail_t m = s_mail("s", text, "<p>\n.</p>\n");
    size_t len = 0;
    char *msg = s_build(&m, &len);
    test_mail_lines_t l = test_mail_lines(msg, len);
    assert_true(l.max_line <= 76);
    char *plain = test_mail_part(msg, "text/plain"), *html = test_mail_part(msg, "text/html");
    assert_non_null(plain);
    char want[sizeof text + 8];
    size_t wl = sd_utf8_copy(want, sizeof want, text, strlen(text), 0);
    assert_int_equal(strlen(plain), wl);
    assert_memory_equal(plain, want, wl);
    assert_string_equal(html, "<p>\n.</p>\n");
    /* the boundary occurs only as the three delimiters */
    int delims = 0;
    for (char *p = strstr(msg, "--=_statusd_alt"); p; p = strstr(p + 1, "--=_statusd_alt"))
        delims++;
    assert_int_equal(delims, 3);
    /* a trailing space is encoded, a dot starting a line is encoded */
    assert_non_null(strstr(msg, "\r\nok.=20\r\n"));
    assert_non_null(strstr(msg, "\r\n=2E.hidden\r\n"));
    print_message("round trip of %zu bytes of text through %zu bytes of message\n",
                  strlen(text), len);
    free(plain);
    free(html);
    free(msg);
}

/* mail_qp_write alone: a soft break never splits an =XX, and a dot moved to the start of a
 * line by a soft break is encoded there. */
static void test_qp_soft_breaks(void **st)
{
    (void) st;
    char src[200];
    memset(src, 'a', 74);
    memcpy(src + 74, ".....=====", 10);
    src[84] = 0;
    char *out = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&out, &len);
    mail_qp_write(f, src, strlen(src));
    fclose(f);
    print_message("%s\n", out);
    test_mail_lines_t l = test_mail_lines(out, len);
    assert_true(l.max_line <= 76);
    assert_int_equal(l.dot_lines, 0);
    char *p = strstr(out, "=\r\n");
    assert_non_null(p);
    assert_int_equal(p - out, 75); /* 74 a, one ".", then the soft break */
    assert_memory_equal(p + 3, "=2E", 3);
    free(out);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_headers),
        cmocka_unit_test(test_encoded_word),
        cmocka_unit_test(test_injection),
        cmocka_unit_test(test_body_round_trip),
        cmocka_unit_test(test_qp_soft_breaks),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
