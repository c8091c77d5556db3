/* fuzz_dns: a DNS reply (any bytes a server sent) as the dns probe reads it
 * (agent/dns_reply.c): its rcode, and the answer walk with a few answerContains strings. */
#include "dns_reply.h"
#include "fuzz.h"

#include <errno.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* a copy of exactly size bytes, so ASan sees any read past the reply */
    unsigned char *abuf = malloc(size ? size : 1);
    if (!abuf)
        return 0;
    memcpy(abuf, data, size);
    int rcode = dns_reply_rcode(abuf, size);
    FUZZ_CHECK(size < 12 ? rcode == -EBADMSG : rcode >= 0 && rcode <= 15);
    static const char *const wants[] = {"", "10.0.0.1", "example", "\tIN\tTXT\t", "::1"};
    for (size_t i = 0; i < sizeof wants / sizeof wants[0]; i++) {
        int c = dns_reply_contains(abuf, size, wants[i]);
        FUZZ_CHECK(c == 0 || c == 1 || c == -EBADMSG);
    }
    free(abuf);
    return 0;
}
