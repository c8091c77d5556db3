/* dns_reply: what the dns probe reads from a raw DNS reply (see dns_reply.h). */
#include "dns_reply.h"

#include <ares.h>
#include <arpa/inet.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#define DNS_HEADER_LEN 12

/* the record types a dns probe may ask for */
static const struct {
    const char *name;
    int type;
} s_qtypes[] = {{"A", 1}, {"NS", 2}, {"CNAME", 5}, {"SOA", 6}, {"PTR", 12}, {"MX", 15},
                {"TXT", 16}, {"AAAA", 28}};

const char *dns_type_name(int type)
{
    for (size_t i = 0; i < sizeof s_qtypes / sizeof s_qtypes[0]; i++)
        if (s_qtypes[i].type == type)
            return s_qtypes[i].name;
    return NULL;
}

int dns_type_code(const char *name)
{
    for (size_t i = 0; name && i < sizeof s_qtypes / sizeof s_qtypes[0]; i++)
        if (strcmp(s_qtypes[i].name, name) == 0)
            return s_qtypes[i].type;
    return 0;
}

static uint16_t s_u16(const unsigned char *p) { return (uint16_t) ((p[0] << 8) | p[1]); }

/* The data of one record as text ("10.0.0.1", "10 mx.example.org", a TXT's strings ...). */
static void s_rdata(const unsigned char *abuf, size_t alen, const unsigned char *rd,
                    size_t rdlen, int type, char *out, size_t outlen)
{
    char *name = NULL;
    long len = 0;
    out[0] = 0;
    switch (type) {
    case 1:
        if (rdlen == 4)
            inet_ntop(AF_INET, rd, out, (socklen_t) outlen);
        break;
    case 28:
        if (rdlen == 16)
            inet_ntop(AF_INET6, rd, out, (socklen_t) outlen);
        break;
    case 2:
    case 5:
    case 12:
        if (ares_expand_name(rd, abuf, (int) alen, &name, &len) == ARES_SUCCESS)
            snprintf(out, outlen, "%s", name);
        break;
    case 15:
        if (rdlen > 2 && ares_expand_name(rd + 2, abuf, (int) alen, &name, &len) == ARES_SUCCESS)
            snprintf(out, outlen, "%u %s", s_u16(rd), name);
        break;
    case 16: {
        size_t o = 0;
        for (size_t i = 0; i < rdlen && o + 1 < outlen;) {
            size_t n = rd[i++];
            for (size_t k = 0; k < n && i < rdlen && o + 1 < outlen; k++)
                out[o++] = (char) rd[i++];
        }
        out[o] = 0;
        break;
    }
    case 6: {
        char *rname = NULL;
        long len2 = 0;
        if (ares_expand_name(rd, abuf, (int) alen, &name, &len) == ARES_SUCCESS &&
            len + 20 <= (long) rdlen &&
            ares_expand_name(rd + len, abuf, (int) alen, &rname, &len2) == ARES_SUCCESS &&
            len + len2 + 20 <= (long) rdlen) {
            const unsigned char *n = rd + len + len2;
            unsigned v[5];
            for (int i = 0; i < 5; i++)
                v[i] = (unsigned) n[4 * i] << 24 | (unsigned) n[4 * i + 1] << 16 |
                       (unsigned) n[4 * i + 2] << 8 | n[4 * i + 3];
            snprintf(out, outlen, "%s %s %u %u %u %u %u", name, rname, v[0], v[1], v[2], v[3],
                     v[4]);
        }
        ares_free_string(rname);
        break;
    }
    }
    ares_free_string(name);
}

int dns_reply_rcode(const unsigned char *abuf, size_t alen)
{
    return abuf && alen >= DNS_HEADER_LEN ? abuf[3] & 0x0f : -EBADMSG;
}

int dns_reply_contains(const unsigned char *abuf, size_t alen, const char *want)
{
    if (!abuf || alen < DNS_HEADER_LEN)
        return -EBADMSG;
    size_t qd = s_u16(abuf + 4), an = s_u16(abuf + 6);
    const unsigned char *p = abuf + 12, *end = abuf + alen;
    for (size_t i = 0; i < qd; i++) {
        char *name = NULL;
        long len = 0;
        if (ares_expand_name(p, abuf, (int) alen, &name, &len) != ARES_SUCCESS)
            return -EBADMSG;
        ares_free_string(name);
        p += len + 4;
        if (p > end)
            return -EBADMSG;
    }
    for (size_t i = 0; i < an; i++) {
        char *name = NULL;
        long len = 0;
        if (p >= end || ares_expand_name(p, abuf, (int) alen, &name, &len) != ARES_SUCCESS)
            return -EBADMSG;
        p += len;
        if (p + 10 > end) {
            ares_free_string(name);
            return -EBADMSG;
        }
        int type = s_u16(p);
        unsigned ttl = (unsigned) p[4] << 24 | (unsigned) p[5] << 16 | (unsigned) p[6] << 8 | p[7];
        size_t rdlen = s_u16(p + 8);
        p += 10;
        if (p + rdlen > end) {
            ares_free_string(name);
            return -EBADMSG;
        }
        char data[512], line[800];
        s_rdata(abuf, alen, p, rdlen, type, data, sizeof data);
        const char *tn = dns_type_name(type);
        char tbuf[16];
        if (!tn) {
            snprintf(tbuf, sizeof tbuf, "TYPE%d", type);
            tn = tbuf;
        }
        snprintf(line, sizeof line, "%s.\t%u\tIN\t%s\t%s", name, ttl, tn, data);
        ares_free_string(name);
        if (strstr(line, want))
            return 1;
        p += rdlen;
    }
    return 0;
}
