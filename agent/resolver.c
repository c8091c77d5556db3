/* resolver: literal addresses and localhost, no lookup (see resolver.h). */
#include "resolver.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

int resolver_literal(const char *host, int port, struct sockaddr_storage *out, socklen_t *outlen,
                     char *err, size_t errlen)
{
    if (port < 1 || port > 65535) {
        snprintf(err, errlen, "port %d out of range", port);
        return -EINVAL;
    }
    memset(out, 0, sizeof *out);
    struct sockaddr_in *a4 = (struct sockaddr_in *) out;
    struct sockaddr_in6 *a6 = (struct sockaddr_in6 *) out;
    if (strcasecmp(host, "localhost") == 0)
        host = "127.0.0.1";
    if (inet_pton(AF_INET, host, &a4->sin_addr) == 1) {
        a4->sin_family = AF_INET;
        a4->sin_port = htons((uint16_t) port);
        *outlen = sizeof *a4;
        return 0;
    }
    if (inet_pton(AF_INET6, host, &a6->sin6_addr) == 1) {
        a6->sin6_family = AF_INET6;
        a6->sin6_port = htons((uint16_t) port);
        *outlen = sizeof *a6;
        return 0;
    }
    snprintf(err, errlen, "%s", RESOLVER_NEEDS_DNS_REASON);
    return -EAGAIN;
}
