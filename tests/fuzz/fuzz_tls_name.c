/* fuzz_tls_name: the tls probe's certificate checks (agent/tls_conn.c): name matching,
 * the name shown in a reason, and notAfter, on any DER certificate. Input: one byte n, n
 * bytes of host name, then the DER certificate. The shown name must fit, be one line and
 * be valid UTF-8 (it becomes part of a reason sent to the collector). */
#include "fuzz.h"
#include "sd_utf8.h"
#include "tls_conn.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    size_t hlen = data[0] < size - 1 ? data[0] : size - 1;
    char *host = fuzz_strndup(data + 1, hlen);
    const unsigned char *der = data + 1 + hlen;
    X509 *cert = d2i_X509(NULL, &der, (long) (size - 1 - hlen));
    if (host && cert) {
        int m = tls_cert_matches(cert, host);
        FUZZ_CHECK(m == 0 || m == 1);
        static const size_t sizes[] = {1, 2, 4, 16, 128};
        for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
            char *name = malloc(sizes[i]);
            if (!name)
                break;
            tls_cert_name(cert, name, sizes[i]);
            size_t n = strnlen(name, sizes[i]);
            FUZZ_CHECK(n < sizes[i]);
            FUZZ_CHECK(fuzz_one_line(name));
            FUZZ_CHECK(sd_utf8_valid(name, n));
            free(name);
        }
        (void) tls_cert_not_after(cert);
    }
    X509_free(cert);
    free(host);
    return 0;
}
