/* resolver: c-ares 1.18 folded into the agent loop (see resolver.h). The shape of c-ares's
 * own event thread (newer versions): sock_state_cb keeps watchers, ready fds go to
 * ares_process_fd, ares_timeout() bounds one timer. c-ares callbacks only record and queue;
 * delivery happens from a loop timer, never inside a c-ares call. */
#include "resolver.h"

#include "sd_clock.h"
#include "sd_utf8.h"

#include <ares.h>
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>

typedef struct rsock {
    int fd;
    loop_watcher_t *w;
    resolver_t *r;
    struct rsock *next;
} rsock_t;

struct resolver_query {
    resolver_t *r;
    resolver_fn *cb;
    void *ctx;
    loop_timer_t timeout;
    int64_t t0_us;
    char host[256];
    int port;
    resolver_family_t family;
    bool in_ares;    /* c-ares still holds this query as its callback arg */
    bool finished;   /* the answer is final (queued, being delivered or delivered) */
    bool queued;     /* on the done list */
    bool delivering; /* inside the user's callback */
    bool cancelled;
    resolver_answer_t ans;
    unsigned char *abuf;
    resolver_query_t *prev, *next;   /* all queries of the resolver */
    resolver_query_t *done_next;     /* the done list */
};

struct resolver {
    loop_t *loop;
    ares_channel ch;
    bool ch_ok;
    loop_timer_t ares_timer;  /* ares_timeout(): c-ares's retries and timeouts */
    loop_timer_t deliver;     /* zero-delay: hands queued answers to their callbacks */
    rsock_t *socks;
    resolver_query_t *all;
    resolver_query_t *done_head, *done_tail;
    size_t in_ares;
    int busy;                 /* inside a delivery: destroy is deferred */
    bool destroy_pending;
    bool destroying;
};

/* ---- loop integration ----------------------------------------------------------------- */

static void s_rearm(resolver_t *r)
{
    struct timeval tv;
    if (ares_timeout(r->ch, NULL, &tv)) {
        sd_ms_t ms = (sd_ms_t) tv.tv_sec * 1000 + (sd_ms_t) (tv.tv_usec + 999) / 1000;
        loop_timer_start_in(&r->ares_timer, ms);
    } else {
        loop_timer_stop(&r->ares_timer);
    }
}

static void s_on_io(loop_t *loop, loop_watcher_t *w, uint32_t revents, void *ctx)
{
    rsock_t *s = ctx;
    resolver_t *r = s->r;
    int fd = s->fd; /* s may be freed by sock_state_cb inside ares_process_fd */
    ares_socket_t rfd = (revents & (EPOLLIN | EPOLLERR | EPOLLHUP)) ? fd : ARES_SOCKET_BAD;
    ares_socket_t wfd = (revents & EPOLLOUT) ? fd : ARES_SOCKET_BAD;
    ares_process_fd(r->ch, rfd, wfd);
    s_rearm(r);
}

static void s_on_ares_timer(loop_t *loop, loop_timer_t *t, void *ctx)
{
    resolver_t *r = ctx;
    ares_process_fd(r->ch, ARES_SOCKET_BAD, ARES_SOCKET_BAD);
    s_rearm(r);
}

/* ARES_OPT_SOCK_STATE_CB: called inside c-ares; touches only the loop, never c-ares. */
static void s_sock_state(void *data, ares_socket_t fd, int readable, int writable)
{
    resolver_t *r = data;
    rsock_t **pp = &r->socks;
    while (*pp && (*pp)->fd != fd)
        pp = &(*pp)->next;
    rsock_t *s = *pp;
    uint32_t ev = (readable ? EPOLLIN : 0) | (writable ? EPOLLOUT : 0);
    if (!ev) {
        if (s) {
            *pp = s->next;
            loop_unwatch(&s->w);
            free(s);
        }
        return;
    }
    if (s) {
        loop_watch_modify(s->w, ev);
        return;
    }
    s = calloc(1, sizeof *s);
    if (!s)
        return; /* the query times out: c-ares's timer still runs */
    s->fd = fd;
    s->r = r;
    s->w = loop_watch(r->loop, fd, ev, s_on_io, s);
    if (!s->w) {
        free(s);
        return;
    }
    s->next = r->socks;
    r->socks = s;
}

/* ---- queries -------------------------------------------------------------------------- */

static void s_query_free(resolver_query_t *q)
{
    resolver_t *r = q->r;
    loop_timer_stop(&q->timeout);
    if (q->prev)
        q->prev->next = q->next;
    else
        r->all = q->next;
    if (q->next)
        q->next->prev = q->prev;
    free(q->abuf);
    free(q);
}

static void s_unqueue(resolver_query_t *q)
{
    resolver_t *r = q->r;
    resolver_query_t **pp = &r->done_head, *prev = NULL;
    while (*pp && *pp != q) {
        prev = *pp;
        pp = &(*pp)->done_next;
    }
    if (*pp) {
        *pp = q->done_next;
        if (r->done_tail == q)
            r->done_tail = prev;
    }
    q->queued = false;
}

/* The answer is final: queue it for the deliver timer (we may be inside c-ares). */
static void s_finish(resolver_query_t *q)
{
    resolver_t *r = q->r;
    q->finished = true;
    q->queued = true;
    loop_timer_stop(&q->timeout);
    q->ans.duration_us = q->t0_us ? sd_mono_us() - q->t0_us : 0;
    q->done_next = NULL;
    if (r->done_tail)
        r->done_tail->done_next = q;
    else
        r->done_head = q;
    r->done_tail = q;
    loop_timer_start_in(&r->deliver, 0);
}

static void s_destroy_now(resolver_t *r);

/* Calls q's callback (unless cancelled) and frees q when c-ares no longer holds it. */
static void s_deliver_one(resolver_query_t *q)
{
    q->finished = true;
    resolver_fn *cb = q->cancelled ? NULL : q->cb;
    q->cb = NULL;
    q->delivering = true;
    q->ans.abuf = q->abuf;
    if (cb)
        cb(&q->ans, q->ctx);
    q->delivering = false;
    if (!q->in_ares)
        s_query_free(q);
}

static void s_on_deliver(loop_t *loop, loop_timer_t *t, void *ctx)
{
    resolver_t *r = ctx;
    r->busy++;
    while (r->done_head && !r->destroy_pending) {
        resolver_query_t *q = r->done_head;
        r->done_head = q->done_next;
        if (!r->done_head)
            r->done_tail = NULL;
        q->queued = false;
        s_deliver_one(q);
    }
    r->busy--;
    if (!r->busy && r->destroy_pending)
        s_destroy_now(r);
}

static void s_on_timeout(loop_t *loop, loop_timer_t *t, void *ctx)
{
    resolver_query_t *q = ctx;
    resolver_t *r = q->r;
    q->ans.status = -ETIMEDOUT;
    q->ans.duration_us = sd_mono_us() - q->t0_us;
    q->ans.n_addrs = 0;
    snprintf(q->ans.reason, sizeof q->ans.reason, "dns: timeout");
    r->busy++;
    s_deliver_one(q);
    r->busy--;
    if (!r->busy && r->destroy_pending)
        s_destroy_now(r);
}

/* Common entry of both c-ares callbacks: false when the answer is not wanted any more. */
static bool s_ares_done(resolver_query_t *q)
{
    resolver_t *r = q->r;
    q->in_ares = false;
    r->in_ares--;
    if (r->destroying || q->delivering)
        return false; /* destroy frees it; a delivering query is freed by s_deliver_one */
    if (q->cancelled || q->finished) {
        if (!q->queued)
            s_query_free(q);
        return false;
    }
    return true;
}

static void s_fail(resolver_query_t *q, int status)
{
    resolver_answer_t *a = &q->ans;
    char host[101]; /* the name as quoted in a reason: at most 100 bytes, whole characters */
    sd_utf8_scopy(host, sizeof host, q->host, SD_UTF8_ONE_LINE | SD_UTF8_ELLIPSIS);
    switch (status) {
    case ARES_ENOTFOUND:
    case ARES_ENONAME:
        a->status = -ENOENT;
        sd_utf8_format(a->reason, sizeof a->reason, SD_UTF8_ONE_LINE, "dns: no such host \"%s\"",
                       host);
        break;
    case ARES_ENODATA:
        a->status = -ENOENT;
        sd_utf8_format(a->reason, sizeof a->reason, SD_UTF8_ONE_LINE,
                       "dns: no %saddress for \"%s\"",
                       q->family == RESOLVER_V4   ? "IPv4 "
                       : q->family == RESOLVER_V6 ? "IPv6 "
                                                  : "",
                       host);
        break;
    case ARES_ETIMEOUT:
        a->status = -ETIMEDOUT;
        snprintf(a->reason, sizeof a->reason, "dns: timeout");
        break;
    case ARES_ECONNREFUSED:
        a->status = -ECONNREFUSED;
        snprintf(a->reason, sizeof a->reason, "dns: connection refused");
        break;
    case ARES_ESERVFAIL:
        a->status = -EIO;
        snprintf(a->reason, sizeof a->reason, "dns: server failure (SERVFAIL)");
        break;
    case ARES_EREFUSED:
        a->status = -EIO;
        snprintf(a->reason, sizeof a->reason, "dns: query refused (REFUSED)");
        break;
    default:
        a->status = -EIO;
        snprintf(a->reason, sizeof a->reason, "dns: %s", ares_strerror(status));
    }
}

static void s_on_addrinfo(void *arg, int status, int timeouts, struct ares_addrinfo *res)
{
    resolver_query_t *q = arg;
    if (!s_ares_done(q)) {
        ares_freeaddrinfo(res);
        return;
    }
    resolver_answer_t *a = &q->ans;
    if (status == ARES_SUCCESS && res) {
        for (struct ares_addrinfo_node *n = res->nodes; n && a->n_addrs < RESOLVER_MAX_ADDRS;
             n = n->ai_next) {
            if ((n->ai_family != AF_INET && n->ai_family != AF_INET6) ||
                (size_t) n->ai_addrlen > sizeof a->addrs[0])
                continue;
            struct sockaddr_storage *ss = &a->addrs[a->n_addrs];
            memset(ss, 0, sizeof *ss);
            memcpy(ss, n->ai_addr, (size_t) n->ai_addrlen);
            if (n->ai_family == AF_INET)
                ((struct sockaddr_in *) ss)->sin_port = htons((uint16_t) q->port);
            else
                ((struct sockaddr_in6 *) ss)->sin6_port = htons((uint16_t) q->port);
            a->addrlens[a->n_addrs++] = (socklen_t) n->ai_addrlen;
        }
        if (!a->n_addrs)
            s_fail(q, ARES_ENODATA);
    } else {
        s_fail(q, status);
    }
    ares_freeaddrinfo(res);
    s_finish(q);
}

static void s_on_raw(void *arg, int status, int timeouts, unsigned char *abuf, int alen)
{
    resolver_query_t *q = arg;
    if (!s_ares_done(q))
        return;
    /* ares_query maps rcodes to statuses but still passes the reply: the rcode is data */
    if (abuf && alen >= 12) {
        q->abuf = malloc((size_t) alen);
        if (q->abuf) {
            memcpy(q->abuf, abuf, (size_t) alen);
            q->ans.alen = (size_t) alen;
            q->ans.status = 0;
        } else {
            q->ans.status = -ENOMEM;
            snprintf(q->ans.reason, sizeof q->ans.reason, "dns: out of memory");
        }
    } else {
        s_fail(q, status);
    }
    s_finish(q);
}

static resolver_query_t *s_query_new(resolver_t *r, const char *host, resolver_fn *cb, void *ctx,
                                     uint32_t timeout_ms)
{
    if (!host || !*host || strlen(host) >= sizeof((resolver_query_t *) 0)->host)
        return NULL;
    resolver_query_t *q = calloc(1, sizeof *q);
    if (!q)
        return NULL;
    q->r = r;
    q->cb = cb;
    q->ctx = ctx;
    snprintf(q->host, sizeof q->host, "%s", host);
    q->t0_us = sd_mono_us();
    loop_timer_init(r->loop, &q->timeout, s_on_timeout, q);
    loop_timer_start_in(&q->timeout, timeout_ms ? timeout_ms : 5000);
    q->next = r->all;
    if (r->all)
        r->all->prev = q;
    r->all = q;
    return q;
}

int resolver_resolve(resolver_t *r, const char *host, int port, resolver_family_t family,
                     uint32_t timeout_ms, resolver_fn *cb, void *ctx, resolver_query_t **q_out)
{
    if (!r || !cb || port < 0 || port > 65535)
        return -EINVAL;
    if (!host || !*host || strlen(host) > 253)
        return -EINVAL;
    resolver_query_t *q = s_query_new(r, host, cb, ctx, timeout_ms);
    if (!q)
        return -ENOMEM;
    q->port = port;
    q->family = family;
    char err[8];
    struct sockaddr_storage ss;
    socklen_t sl;
    if (resolver_literal(host, port ? port : 1, &ss, &sl, err, sizeof err) == 0) {
        if (port == 0)
            ((struct sockaddr_in *) &ss)->sin_port = 0; /* same offset for sin6_port */
        bool v4 = ss.ss_family == AF_INET;
        if ((family == RESOLVER_V4 && !v4) || (family == RESOLVER_V6 && v4)) {
            s_fail(q, ARES_ENODATA);
        } else {
            q->ans.addrs[0] = ss;
            q->ans.addrlens[0] = sl;
            q->ans.n_addrs = 1;
        }
        q->t0_us = 0; /* no lookup: dns time 0 */
        s_finish(q);
    } else {
        struct ares_addrinfo_hints hints;
        memset(&hints, 0, sizeof hints);
        hints.ai_family = family == RESOLVER_V4 ? AF_INET : family == RESOLVER_V6 ? AF_INET6
                                                                                 : AF_UNSPEC;
        q->in_ares = true;
        r->in_ares++;
        ares_getaddrinfo(r->ch, host, NULL, &hints, s_on_addrinfo, q);
        s_rearm(r);
    }
    if (q_out)
        *q_out = q;
    return 0;
}

int resolver_query(resolver_t *r, const char *name, int type, uint32_t timeout_ms,
                   resolver_fn *cb, void *ctx, resolver_query_t **q_out)
{
    if (!r || !cb || !name || !*name || strlen(name) > 253)
        return -EINVAL;
    resolver_query_t *q = s_query_new(r, name, cb, ctx, timeout_ms);
    if (!q)
        return -ENOMEM;
    q->in_ares = true;
    r->in_ares++;
    ares_query(r->ch, name, 1 /* C_IN */, type, s_on_raw, q);
    s_rearm(r);
    if (q_out)
        *q_out = q;
    return 0;
}

void resolver_cancel(resolver_query_t **p)
{
    if (!p || !*p)
        return;
    resolver_query_t *q = *p;
    *p = NULL;
    q->cancelled = true;
    q->cb = NULL;
    loop_timer_stop(&q->timeout);
    if (q->queued)
        s_unqueue(q);
    if (!q->in_ares && !q->delivering)
        s_query_free(q);
}

size_t resolver_pending(const resolver_t *r) { return r ? r->in_ares : 0; }

/* ---- lifecycle ------------------------------------------------------------------------ */

resolver_t *resolver_new(loop_t *loop, const resolver_config_t *cfg, char *err, size_t errlen)
{
    static const resolver_config_t defaults = {0};
    if (!cfg)
        cfg = &defaults;
    int rc = ares_library_init(ARES_LIB_INIT_ALL);
    if (rc != ARES_SUCCESS) {
        snprintf(err, errlen, "c-ares: %s", ares_strerror(rc));
        errno = ENOMEM;
        return NULL;
    }
    resolver_t *r = calloc(1, sizeof *r);
    if (!r) {
        ares_library_cleanup();
        snprintf(err, errlen, "out of memory");
        errno = ENOMEM;
        return NULL;
    }
    r->loop = loop;
    loop_timer_init(loop, &r->ares_timer, s_on_ares_timer, r);
    loop_timer_init(loop, &r->deliver, s_on_deliver, r);
    struct ares_options o;
    memset(&o, 0, sizeof o);
    o.sock_state_cb = s_sock_state;
    o.sock_state_cb_data = r;
    o.timeout = (int) (cfg->try_timeout_ms ? cfg->try_timeout_ms : 2000);
    o.tries = cfg->tries > 0 ? cfg->tries : 2;
    o.flags = (cfg->use_tcp ? ARES_FLAG_USEVC : 0) | (cfg->raw_rcodes ? ARES_FLAG_NOCHECKRESP : 0);
    int mask = ARES_OPT_SOCK_STATE_CB | ARES_OPT_TIMEOUTMS | ARES_OPT_TRIES | ARES_OPT_FLAGS;
    rc = ares_init_options(&r->ch, &o, mask);
    if (rc != ARES_SUCCESS) {
        snprintf(err, errlen, "c-ares: %s", ares_strerror(rc));
        free(r);
        ares_library_cleanup();
        errno = rc == ARES_ENOMEM ? ENOMEM : EIO;
        return NULL;
    }
    r->ch_ok = true;
    if (cfg->servers && (rc = ares_set_servers_ports_csv(r->ch, cfg->servers)) != ARES_SUCCESS) {
        snprintf(err, errlen, "bad DNS server list \"%s\": %s", cfg->servers, ares_strerror(rc));
        resolver_destroy(&r);
        errno = EINVAL;
        return NULL;
    }
    return r;
}

static void s_destroy_now(resolver_t *r)
{
    r->destroying = true;
    if (r->ch_ok)
        ares_destroy(r->ch); /* pending callbacks see destroying; sockets report 0,0 */
    while (r->socks) {
        rsock_t *s = r->socks;
        r->socks = s->next;
        loop_unwatch(&s->w);
        free(s);
    }
    while (r->all)
        s_query_free(r->all);
    loop_timer_stop(&r->ares_timer);
    loop_timer_stop(&r->deliver);
    free(r);
    ares_library_cleanup();
}

void resolver_destroy(resolver_t **p)
{
    if (!p || !*p)
        return;
    resolver_t *r = *p;
    *p = NULL;
    if (r->busy)
        r->destroy_pending = true;
    else
        s_destroy_now(r);
}

/* ---- literals ------------------------------------------------------------------------- */

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
