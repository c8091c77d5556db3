/* resolver: turns a probe's host into a socket address without blocking the loop.
 * This release resolves literal IPv4/IPv6 addresses and "localhost" (127.0.0.1) only;
 * other names need c-ares on the loop (planned: ARES_OPT_SOCK_STATE_CB + ares_process_fd),
 * because getaddrinfo blocks. */
#ifndef RESOLVER_H
#define RESOLVER_H

#include <stddef.h>
#include <sys/socket.h>

#define RESOLVER_NEEDS_DNS_REASON "name resolution for tcp/tls needs c-ares (not yet wired)"

/* Fills out and outlen for host:port. 0; -EAGAIN when host is a name that needs DNS
 * (message RESOLVER_NEEDS_DNS_REASON in err); -EINVAL for a bad host or port. */
int resolver_literal(const char *host, int port, struct sockaddr_storage *out, socklen_t *outlen,
                     char *err, size_t errlen);

#endif
