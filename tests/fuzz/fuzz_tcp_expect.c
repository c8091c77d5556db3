/* fuzz_tcp_expect: the tcp/tls probe's expect check (agent/tcp_expect.c). Input: the
 * expected string, a NUL byte, then the reply (any bytes). The match is compared with a
 * plain search; the quoted form must fit, be one line, and be valid UTF-8 (it becomes part
 * of a reason sent to the collector). */
#include "fuzz.h"
#include "sd_utf8.h"
#include "tcp_expect.h"

static int s_naive(const char *hay, size_t n, const char *needle)
{
    size_t k = strlen(needle);
    if (k == 0)
        return 1;
    for (size_t i = 0; i + k <= n; i++)
        if (memcmp(hay + i, needle, k) == 0)
            return 1;
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const uint8_t *nul = memchr(data, 0, size);
    size_t elen = nul ? (size_t) (nul - data) : size;
    char *expect = fuzz_strndup(data, elen);
    size_t rlen = nul ? size - elen - 1 : 0;
    char *reply = malloc(rlen ? rlen : 1);
    if (!expect || !reply)
        goto out;
    if (rlen)
        memcpy(reply, nul + 1, rlen);
    FUZZ_CHECK(tcp_expect_match(reply, rlen, expect) == (s_naive(reply, rlen, expect) == 1));

    static const size_t sizes[] = {1, 2, 5, 6, 7, 8, 9, 12, 33, 96, 300};
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        char *q = malloc(sizes[i]);
        if (!q)
            break;
        tcp_expect_quote(expect, q, sizes[i]);
        size_t n = strnlen(q, sizes[i]);
        FUZZ_CHECK(n < sizes[i]);
        FUZZ_CHECK(fuzz_one_line(q));
        FUZZ_CHECK(sd_utf8_valid(q, n));
        free(q);
    }
out:
    free(expect);
    free(reply);
    return 0;
}
