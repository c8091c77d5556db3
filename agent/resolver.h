/* resolver: name resolution and raw DNS queries on the agent loop with c-ares (1.18), no thread
 * and no blocking call. One c-ares channel per resolver_t: ARES_OPT_SOCK_STATE_CB keeps one
 * loop watcher per c-ares socket, a ready socket is handed to ares_process_fd, and one loop
 * timer bounded by ares_timeout() drives c-ares's retries. Results are never delivered from
 * inside a c-ares call (nor from inside resolver_resolve/resolver_query): c-ares callbacks only
 * queue them, a zero-delay loop timer delivers them, so a callback may start, cancel or destroy
 * freely (including the resolver that called it). Literal IPs and "localhost" skip the lookup.
 * Library code: no logging. */
#ifndef RESOLVER_H
#define RESOLVER_H

#include "loop.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

/* The reason of a tcp/tls probe started without a resolver (env->resolver NULL) on a name. */
#define RESOLVER_NEEDS_DNS_REASON "name resolution for tcp/tls needs c-ares (not yet wired)"
#define RESOLVER_MAX_ADDRS 8
#define RESOLVER_REASON_MAX 160

typedef struct resolver resolver_t;
typedef struct resolver_query resolver_query_t;

typedef enum {
    RESOLVER_ANY = 0, /* A and AAAA, c-ares's (RFC 6724) order */
    RESOLVER_V4,      /* A only */
    RESOLVER_V6,      /* AAAA only */
} resolver_family_t;

typedef struct {
    const char *servers;   /* "ip[:port],..." (ares_set_servers_ports_csv); NULL: resolv.conf */
    bool use_tcp;          /* every query over TCP (ARES_FLAG_USEVC); UDP falls back on TC */
    bool raw_rcodes;       /* hand SERVFAIL/REFUSED replies back (ARES_FLAG_NOCHECKRESP) */
    uint32_t try_timeout_ms; /* c-ares per-try timeout; 0: 2000 */
    int tries;             /* 0: 2 */
} resolver_config_t;

/* What a lookup or query produced; valid only during the callback. */
typedef struct {
    int status;            /* 0; -ENOENT no such host/no address; -ETIMEDOUT; -ECONNREFUSED;
                            * -EIO other failures */
    char reason[RESOLVER_REASON_MAX]; /* "" on success; "dns: no such host \"x\"", "dns: timeout" */
    int64_t duration_us;   /* start to answer, 0 for literals */
    size_t n_addrs;        /* resolver_resolve: the addresses (port set), IPv4 and IPv6 */
    struct sockaddr_storage addrs[RESOLVER_MAX_ADDRS];
    socklen_t addrlens[RESOLVER_MAX_ADDRS];
    const unsigned char *abuf; /* resolver_query: the raw reply (any rcode), NULL on failure */
    size_t alen;
} resolver_answer_t;

typedef void(resolver_fn)(const resolver_answer_t *a, void *ctx);

/* A resolver on loop (cfg NULL: system resolv.conf and defaults), or NULL with errno set and
 * a message in err. */
resolver_t *resolver_new(loop_t *loop, const resolver_config_t *cfg, char *err, size_t errlen);
/* Drops pending queries without calling back, closes c-ares's sockets, unregisters everything
 * from the loop and frees. May be called from one of its own callbacks (the free is deferred
 * until the callback returns). Accepts NULL; sets *p = NULL. */
void resolver_destroy(resolver_t **p);

/* Resolves host to its addresses with port set. cb(answer, ctx) is called exactly once, from
 * the loop, at the latest timeout_ms (0: 5000) after the call, unless resolver_cancel is called
 * first. *q_out (may be NULL) is valid until the callback starts. 0 or -errno (-ENOMEM,
 * -EINVAL for a bad host or port); on error cb is never called. */
int resolver_resolve(resolver_t *r, const char *host, int port, resolver_family_t family,
                     uint32_t timeout_ms, resolver_fn *cb, void *ctx, resolver_query_t **q_out);
/* Sends one query (class IN, type an ns_t_* / T_* value) to the configured servers; the answer
 * carries the raw reply in abuf whatever its rcode. Same contract as resolver_resolve. */
int resolver_query(resolver_t *r, const char *name, int type, uint32_t timeout_ms,
                   resolver_fn *cb, void *ctx, resolver_query_t **q_out);
/* Cancels a query whose callback has not started: it will not be called. Sets *q = NULL;
 * accepts NULL. */
void resolver_cancel(resolver_query_t **q);

/* Queries c-ares still holds (including cancelled ones not yet answered or timed out). */
size_t resolver_pending(const resolver_t *r);

/* Fills out and outlen for a literal IPv4/IPv6 host or "localhost" (127.0.0.1). 0; -EAGAIN
 * when host is a name that needs DNS (message RESOLVER_NEEDS_DNS_REASON in err); -EINVAL for
 * a bad port. */
int resolver_literal(const char *host, int port, struct sockaddr_storage *out, socklen_t *outlen,
                     char *err, size_t errlen);

#endif
