/* icmp probe: `count` echo requests `intervalMs` apart to the address (IPv4 or IPv6, a name is
 * resolved on the loop), replies matched by sequence (and, on raw sockets, by id and a per-run
 * cookie: ping sockets rewrite the id and only see their own replies). Success when the loss
 * is at most maxLossPercent; latency is the average round-trip time. Like blackbox_exporter
 * it tries an unprivileged ping socket (SOCK_DGRAM, allowed by net.ipv4.ping_group_range)
 * first, then a raw socket (root or CAP_NET_RAW). Phases: dns (names only), rtt (average).
 * The run ends when every reply is in, or at the probe's timeout (unsent requests are lost).
 * Options: {"count": 3, "intervalMs": 200, "maxLossPercent": 0}. */
#include "probe.h"
#include "sd_probe_options.h"

#include <arpa/inet.h>
#include <errno.h>
#include <jansson.h>
#include <netinet/icmp6.h>
#include <netinet/in.h>
#include <netinet/ip.h>
#include <netinet/ip_icmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#define ICMP_MAX_COUNT 100
#define ICMP_PAYLOAD 16
#define ICMP_NO_PERMISSION "icmp: no permission: need CAP_NET_RAW or net.ipv4.ping_group_range"

typedef struct {
    char invalid[PROBE_REASON_MAX - 40];
    int count, interval_ms, max_loss;
} s_opts_t;

struct probe_run {
    const probe_spec_t *spec;
    const s_opts_t *o;
    loop_t *loop;
    loop_timer_t deadline, tick;
    resolver_query_t *dnsq;
    loop_watcher_t *w;
    int fd;
    bool raw, v6;
    uint16_t id;
    uint32_t cookie;
    int sent, received;
    int64_t sent_us[ICMP_MAX_COUNT];
    bool got[ICMP_MAX_COUNT];
    int64_t rtt_sum_us;
    int64_t t0_us;
    char send_err[64];
    probe_done_fn *done;
    void *ctx;
    probe_result_t *result;
};

/* ---- options ------------------------------------------------------------------------------ */

static void s_free_options(void *opts) { free(opts); }

static int s_parse_options(const char *json, void **out, char *err, size_t errlen)
{
    s_opts_t *o = calloc(1, sizeof *o);
    if (!o)
        return -ENOMEM;
    o->count = 3;
    o->interval_ms = 200;
    o->max_loss = 0;
    *out = o;
    if (!json || !*json)
        return 0;
    json_error_t je;
    json_t *root = json_loads(json, 0, &je);
    char why[sizeof o->invalid] = "";
    if (!root) {
        probe_format(why, sizeof why, "icmp options: invalid JSON: %s", je.text);
    } else if (sd_probe_options_check("icmp", root, why, sizeof why) == 0) {
        json_t *j;
        if ((j = json_object_get(root, "count")))
            o->count = (int) json_integer_value(j);
        if ((j = json_object_get(root, "intervalMs")))
            o->interval_ms = (int) json_integer_value(j);
        if ((j = json_object_get(root, "maxLossPercent")))
            o->max_loss = (int) json_integer_value(j);
    }
    json_decref(root);
    /* Not refused here: the asset stays scheduled and each run reports why (start fails). */
    probe_format(o->invalid, sizeof o->invalid, "%s", why);
    return 0;
}

/* ---- run ---------------------------------------------------------------------------------- */

static void s_run_free(struct probe_run *run)
{
    loop_timer_stop(&run->deadline);
    loop_timer_stop(&run->tick);
    resolver_cancel(&run->dnsq);
    loop_unwatch(&run->w);
    if (run->fd >= 0)
        close(run->fd);
    probe_result_destroy(&run->result);
    free(run);
}

static void s_finish(struct probe_run *run)
{
    probe_result_t *r = run->result;
    int count = run->o->count;
    int lost = count - run->received;
    if (!r->reason[0]) {
        r->success = lost * 100 <= run->o->max_loss * count;
        if (!r->success)
            probe_result_set_reason(r, "%d/%d echo requests lost%s%s%s", lost, count,
                                    run->send_err[0] ? " (send: " : "", run->send_err,
                                    run->send_err[0] ? ")" : "");
    }
    if (run->received) {
        int64_t avg = run->rtt_sum_us / run->received;
        r->latency_us = avg > UINT32_MAX ? UINT32_MAX : (uint32_t) avg;
        probe_result_add_phase(r, "rtt", avg);
    } else {
        int64_t el = sd_mono_us() - run->t0_us;
        r->latency_us = el > UINT32_MAX ? UINT32_MAX : (uint32_t) el;
    }
    run->result = NULL;
    probe_done_fn *done = run->done;
    void *ctx = run->ctx;
    s_run_free(run);
    done(r, ctx);
}

static void s_on_deadline(loop_t *loop, loop_timer_t *t, void *ctx)
{
    struct probe_run *run = ctx;
    if (run->dnsq)
        probe_result_set_reason(run->result, "dns: timeout");
    s_finish(run);
}

static uint16_t s_cksum(const void *data, size_t len)
{
    const uint8_t *p = data;
    uint32_t sum = 0;
    for (size_t i = 0; i + 1 < len; i += 2)
        sum += (uint32_t) (p[i] << 8 | p[i + 1]);
    if (len & 1)
        sum += (uint32_t) p[len - 1] << 8;
    while (sum >> 16)
        sum = (sum & 0xffff) + (sum >> 16);
    return htons((uint16_t) ~sum);
}

static void s_send_one(struct probe_run *run)
{
    uint8_t pkt[8 + ICMP_PAYLOAD];
    memset(pkt, 0, sizeof pkt);
    int seq = ++run->sent;
    pkt[0] = run->v6 ? ICMP6_ECHO_REQUEST : ICMP_ECHO;
    uint16_t id = htons(run->id), sq = htons((uint16_t) seq);
    memcpy(pkt + 4, &id, 2);
    memcpy(pkt + 6, &sq, 2);
    memcpy(pkt + 8, &run->cookie, 4);
    memcpy(pkt + 12, "statusd", 7);
    if (!run->v6) {
        uint16_t c = s_cksum(pkt, sizeof pkt);
        memcpy(pkt + 2, &c, 2);
    } /* ICMPv6: the kernel computes it (IPV6_CHECKSUM on raw and ping sockets) */
    run->sent_us[seq - 1] = sd_mono_us();
    if (send(run->fd, pkt, sizeof pkt, 0) < 0)
        snprintf(run->send_err, sizeof run->send_err, "%s", strerror(errno));
}

static void s_on_tick(loop_t *loop, loop_timer_t *t, void *ctx)
{
    struct probe_run *run = ctx;
    s_send_one(run);
    if (run->sent < run->o->count)
        loop_timer_start_in(&run->tick, (sd_ms_t) run->o->interval_ms);
}

/* One received datagram: an echo reply of this run counts once. */
static void s_on_packet(struct probe_run *run, const uint8_t *buf, size_t n)
{
    if (run->raw && !run->v6) {
        if (n < 20)
            return;
        size_t ihl = (size_t) (buf[0] & 0x0f) * 4;
        if (ihl < 20 || n < ihl)
            return;
        buf += ihl;
        n -= ihl;
    }
    if (n < 8 + 4 || buf[0] != (run->v6 ? ICMP6_ECHO_REPLY : ICMP_ECHOREPLY))
        return;
    uint16_t id, sq;
    memcpy(&id, buf + 4, 2);
    memcpy(&sq, buf + 6, 2);
    int seq = ntohs(sq);
    if (run->raw && (ntohs(id) != run->id || memcmp(buf + 8, &run->cookie, 4) != 0))
        return; /* a raw socket sees every reply on the host */
    if (seq < 1 || seq > run->sent || run->got[seq - 1])
        return;
    run->got[seq - 1] = true;
    run->received++;
    run->rtt_sum_us += sd_mono_us() - run->sent_us[seq - 1];
}

static void s_on_io(loop_t *loop, loop_watcher_t *w, uint32_t revents, void *ctx)
{
    struct probe_run *run = ctx;
    uint8_t buf[512];
    for (int i = 0; i < 64; i++) {
        ssize_t n = recv(run->fd, buf, sizeof buf, 0);
        if (n < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK)
                break;
            continue; /* an ICMP error reported on the socket: that request is lost */
        }
        s_on_packet(run, buf, (size_t) n);
    }
    if (run->received == run->o->count)
        s_finish(run);
}

/* A ping socket, else a raw one; -EPERM when neither is allowed. */
static int s_open(struct probe_run *run, int family)
{
    int proto = family == AF_INET6 ? IPPROTO_ICMPV6 : IPPROTO_ICMP;
    int fd = socket(family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, proto);
    run->raw = false;
    if (fd < 0 && (errno == EACCES || errno == EPERM)) {
        fd = socket(family, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, proto);
        run->raw = true;
    }
    if (fd < 0)
        return (errno == EACCES || errno == EPERM) ? -EPERM : -errno;
    if (run->raw && family == AF_INET6) {
        struct icmp6_filter f;
        ICMP6_FILTER_SETBLOCKALL(&f);
        ICMP6_FILTER_SETPASS(ICMP6_ECHO_REPLY, &f);
        setsockopt(fd, IPPROTO_ICMPV6, ICMP6_FILTER, &f, sizeof f);
    }
    return fd;
}

/* Opens the socket for addr and starts sending; false with the reason set on failure. */
static bool s_begin(struct probe_run *run, const struct sockaddr *sa, socklen_t salen)
{
    run->v6 = sa->sa_family == AF_INET6;
    int fd = s_open(run, sa->sa_family);
    if (fd < 0) {
        if (fd == -EPERM)
            probe_result_set_reason(run->result, ICMP_NO_PERMISSION);
        else
            probe_result_set_reason(run->result, "icmp: socket: %s", strerror(-fd));
        return false;
    }
    run->fd = fd;
    struct sockaddr_storage to;
    memcpy(&to, sa, salen);
    ((struct sockaddr_in *) &to)->sin_port = 0; /* same offset in sockaddr_in6 */
    /* connected: the kernel filters replies by source address for raw and ping sockets */
    if (connect(fd, (struct sockaddr *) &to, salen) < 0) {
        /* the kernel refuses a route of type blackhole/prohibit/unreachable right here */
        int e = errno;
        char host[INET6_ADDRSTRLEN] = "?";
        const void *a = sa->sa_family == AF_INET6
                            ? (const void *) &((const struct sockaddr_in6 *) sa)->sin6_addr
                            : (const void *) &((const struct sockaddr_in *) sa)->sin_addr;
        inet_ntop(sa->sa_family, a, host, sizeof host);
        if (e == EINVAL || e == ENETUNREACH || e == EHOSTUNREACH || e == EACCES)
            probe_result_set_reason(run->result, "icmp: no route to %s (%s)", host, strerror(e));
        else
            probe_result_set_reason(run->result, "icmp: connect: %s", strerror(e));
        return false;
    }
    run->w = loop_watch(run->loop, fd, EPOLLIN, s_on_io, run);
    if (!run->w) {
        probe_result_set_reason(run->result, "icmp: cannot watch the socket");
        return false;
    }
    loop_timer_start_in(&run->tick, 0);
    return true;
}

static void s_on_resolved(const resolver_answer_t *a, void *ctx)
{
    struct probe_run *run = ctx;
    run->dnsq = NULL;
    probe_result_add_phase(run->result, "dns", a->duration_us);
    if (a->status < 0) {
        probe_result_set_reason(run->result, "%s", a->reason);
        s_finish(run);
        return;
    }
    if (!s_begin(run, (const struct sockaddr *) &a->addrs[0], a->addrlens[0]))
        s_finish(run);
}

static int s_start(const probe_env_t *env, const probe_spec_t *spec, const void *opts,
                   probe_done_fn *done, void *ctx, probe_run_t **run_out, char *err,
                   size_t errlen)
{
    static uint16_t s_next_id;
    const s_opts_t *o = opts;
    if (!o) {
        snprintf(err, errlen, "no options");
        return -EINVAL;
    }
    if (o->invalid[0]) {
        probe_format(err, errlen, "invalid options: %s", o->invalid);
        return -EINVAL;
    }
    struct probe_run *run = calloc(1, sizeof *run);
    if (!run || !(run->result = probe_result_new(spec->asset_id))) {
        free(run);
        snprintf(err, errlen, "out of memory");
        return -ENOMEM;
    }
    run->fd = -1;
    run->spec = spec;
    run->o = o;
    run->loop = env->loop;
    run->done = done;
    run->ctx = ctx;
    run->t0_us = sd_mono_us();
    run->id = (uint16_t) ((uint16_t) getpid() ^ (uint16_t) (++s_next_id * 7919u));
    run->cookie = (uint32_t) (run->t0_us ^ ((uint64_t) (uintptr_t) run >> 4));
    loop_timer_init(env->loop, &run->deadline, s_on_deadline, run);
    loop_timer_init(env->loop, &run->tick, s_on_tick, run);
    uint32_t timeout_ms = spec->timeout_ms ? spec->timeout_ms : 10000;
    const char *host = spec->address ? spec->address : "";
    struct sockaddr_storage sa;
    socklen_t salen = 0;
    char why[PROBE_REASON_MAX] = "";
    int rc = resolver_literal(host, 1, &sa, &salen, why, sizeof why);
    bool ok;
    if (rc == 0) {
        ok = s_begin(run, (struct sockaddr *) &sa, salen);
    } else if (probe_resolver(env)) {
        ok = resolver_resolve(probe_resolver(env), host, 0, RESOLVER_ANY, timeout_ms,
                              s_on_resolved, run, &run->dnsq) == 0;
        char q[101];
        if (!ok)
            probe_result_set_reason(run->result, "dns: cannot resolve \"%s\"",
                                    probe_excerpt(q, sizeof q, host));
    } else {
        probe_result_set_reason(run->result, "icmp: no resolver for host names");
        ok = false;
    }
    /* A failed start is data: the deadline timer (due next turn) delivers it. */
    loop_timer_start_in(&run->deadline, ok ? timeout_ms : 0);
    *run_out = run;
    return 0;
}

static void s_cancel(probe_run_t *run)
{
    if (run)
        s_run_free(run);
}

const struct probe_ops probe_icmp_ops = {
    .name = "icmp",
    .parse_options = s_parse_options,
    .free_options = s_free_options,
    .start = s_start,
    .cancel = s_cancel,
};
