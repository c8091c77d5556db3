/* dns_reply: replies built here byte by byte (plain and compressed names, every record type
 * the dns probe renders) and broken ones: a short header, counts beyond the data, a record
 * running past the end, a compression pointer loop. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "dns_reply.h"

typedef struct {
    unsigned char b[1024];
    size_t n;
} msg_t;

static void s_put(msg_t *m, const void *p, size_t n)
{
    assert_true(m->n + n <= sizeof m->b);
    memcpy(m->b + m->n, p, n);
    m->n += n;
}

static void s_u16(msg_t *m, unsigned v) { s_put(m, (unsigned char[]){v >> 8, v & 0xff}, 2); }

static void s_name(msg_t *m, const char *name)
{
    while (*name) {
        size_t k = strcspn(name, ".");
        unsigned char len = (unsigned char) k;
        s_put(m, &len, 1);
        s_put(m, name, k);
        name += k + (name[k] == '.');
    }
    s_put(m, "", 1);
}

/* Header (id 0x1234, a response with rcode), question name/type, an answer count. */
static void s_head(msg_t *m, int rcode, const char *qname, unsigned qtype, unsigned an)
{
    m->n = 0;
    s_u16(m, 0x1234);
    s_u16(m, 0x8180 | (unsigned) rcode);
    s_u16(m, 1);
    s_u16(m, an);
    s_u16(m, 0);
    s_u16(m, 0);
    s_name(m, qname);
    s_u16(m, qtype);
    s_u16(m, 1);
}

/* An answer for the question's name (pointer to offset 12), TTL 300. */
static void s_rr(msg_t *m, unsigned type, const void *rd, size_t rdlen)
{
    s_put(m, "\xc0\x0c", 2);
    s_u16(m, type);
    s_u16(m, 1);
    s_put(m, "\x00\x00\x01\x2c", 4);
    s_u16(m, (unsigned) rdlen);
    s_put(m, rd, rdlen);
}

static void test_types(void **st)
{
    (void) st;
    assert_int_equal(dns_type_code("MX"), 15);
    assert_int_equal(dns_type_code("AAAA"), 28);
    assert_int_equal(dns_type_code("SRV"), 0);
    assert_int_equal(dns_type_code(NULL), 0);
    assert_string_equal(dns_type_name(6), "SOA");
    assert_null(dns_type_name(33));
}

static void test_answers(void **st)
{
    (void) st;
    msg_t m;
    s_head(&m, 0, "example.org", 1, 6);
    s_rr(&m, 1, "\x0a\x00\x00\x01", 4);
    s_rr(&m, 28, "\x20\x01\x0d\xb8\0\0\0\0\0\0\0\0\0\0\0\x01", 16);
    s_rr(&m, 15, "\x00\x0a\x04mail\xc0\x0c", 9);
    s_rr(&m, 16, "\x0bv=spf1 -all\x03two", 16);
    static const char soa[] = "\x03ns1\xc0\x0c\x0ahostmaster\xc0\x0c"
                              "\0\0\0\x01\0\0\0\x02\0\0\0\x03\0\0\0\x04\0\0\0\x05";
    s_rr(&m, 6, soa, sizeof soa - 1);
    s_rr(&m, 99, "x", 1);
    assert_int_equal(dns_reply_rcode(m.b, m.n), 0);
    static const char *const found[] = {
        "example.org.\t300\tIN\tA\t10.0.0.1", "2001:db8::1", "IN\tMX\t10 mail.example.org",
        "v=spf1 -alltwo", "ns1.example.org hostmaster.example.org 1 2 3 4 5", "TYPE99", ""};
    for (size_t i = 0; i < sizeof found / sizeof found[0]; i++) {
        printf("  contains \"%s\"\n", found[i]);
        assert_int_equal(dns_reply_contains(m.b, m.n, found[i]), 1);
    }
    assert_int_equal(dns_reply_contains(m.b, m.n, "10.0.0.2"), 0);

    s_head(&m, 3, "nothing.example", 1, 0);
    assert_int_equal(dns_reply_rcode(m.b, m.n), 3);
    assert_int_equal(dns_reply_contains(m.b, m.n, ""), 0);
}

static void test_malformed(void **st)
{
    (void) st;
    msg_t m;
    s_head(&m, 0, "example.org", 1, 1);
    assert_int_equal(dns_reply_rcode(m.b, 11), -EBADMSG);
    assert_int_equal(dns_reply_contains(m.b, 11, ""), -EBADMSG);
    assert_int_equal(dns_reply_contains(NULL, 0, ""), -EBADMSG);
    /* one answer announced, none there */
    assert_int_equal(dns_reply_contains(m.b, m.n, ""), -EBADMSG);
    /* rdata longer than the reply */
    s_rr(&m, 1, "\x0a\x00\x00\x01", 4);
    assert_int_equal(dns_reply_contains(m.b, m.n - 1, "10.0.0.1"), -EBADMSG);
    assert_int_equal(dns_reply_contains(m.b, m.n, "10.0.0.1"), 1);
    /* a question count beyond the data */
    m.b[5] = 9;
    assert_int_equal(dns_reply_contains(m.b, m.n, ""), -EBADMSG);
    /* a name that points at itself */
    msg_t l;
    s_head(&l, 0, "a", 1, 1);
    size_t at = l.n;
    s_put(&l, (unsigned char[]){0xc0, (unsigned char) at}, 2);
    s_u16(&l, 1);
    s_u16(&l, 1);
    s_put(&l, "\0\0\0\0\0\x04\x0a\0\0\x01", 10);
    assert_int_equal(dns_reply_contains(l.b, l.n, ""), -EBADMSG);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_types),
        cmocka_unit_test(test_answers),
        cmocka_unit_test(test_malformed),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
