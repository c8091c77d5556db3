/* tcp probe: connect to host:port on the loop (non-blocking socket, no thread); optionally
 * TLS on the same socket, send a string and expect a reply containing another. Also the
 * engine of the tls probe (probe_tls.c fills the same options with cert_check set).
 * Phases: dns (host names only, through the loop's c-ares resolver), connect, tls, processing
 * (send + expect). Options (sd_probe_options.c validates):
 *   {"send": "PING\r\n", "expect": "+PONG", "tls": false, "tlsVerify": true,
 *    "serverName": "example.org"} */
#include "probe.h"
#include "resolver.h"
#include "sd_probe_options.h"
#include "tcp_expect.h"
#include "tls_conn.h"

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PROBE_TCP_READ_MAX (64 * 1024) /* expect looks at most this far into the reply */

struct probe_run {
    const probe_spec_t *spec;
    const probe_net_opts_t *o;
    loop_t *loop;
    loop_timer_t timer;
    tls_conn_t *conn;
    resolver_query_t *dnsq;
    probe_done_fn *done;
    void *ctx;
    probe_result_t *result;
    char host[256];
    int64_t t0_us, phase_us;
    enum { P_DNS, P_CONNECT, P_TLS, P_PROCESSING, P_DONE } phase;
    bool early; /* finished before any I/O: the timer delivers the result */
    char *buf;
    size_t buf_len;
};

/* ---- options ------------------------------------------------------------------------------ */

void probe_net_free_options(void *opts)
{
    probe_net_opts_t *o = opts;
    if (!o)
        return;
    free(o->send);
    free(o->expect);
    free(o->server_name);
    free(o);
}

static char *s_dup_opt(json_t *root, const char *key, bool *oom)
{
    json_t *j = json_object_get(root, key);
    if (!j)
        return NULL;
    char *s = strdup(json_string_value(j));
    *oom |= !s;
    return s;
}

int probe_net_parse_options(const char *type, const char *json, void **out, char *err,
                            size_t errlen)
{
    probe_net_opts_t *o = calloc(1, sizeof *o);
    if (!o)
        return -ENOMEM;
    o->verify = true;
    o->tls = strcmp(type, "tls") == 0;
    o->cert_check = o->tls;
    o->min_days = 14;
    *out = o;
    if (!json || !*json)
        return 0;
    json_error_t je;
    json_t *root = json_loads(json, 0, &je);
    char why[PROBE_REASON_MAX - 32] = "";
    if (!root)
        probe_format(why, sizeof why, "%s options: invalid JSON: %s", type, je.text);
    else if (sd_probe_options_check(type, root, why, sizeof why) == 0) {
        bool oom = false;
        o->send = s_dup_opt(root, "send", &oom);
        o->expect = s_dup_opt(root, "expect", &oom);
        o->server_name = s_dup_opt(root, "serverName", &oom);
        if (json_object_get(root, "tls"))
            o->tls = json_is_true(json_object_get(root, "tls"));
        if (json_object_get(root, "tlsVerify"))
            o->verify = json_is_true(json_object_get(root, "tlsVerify"));
        if (json_object_get(root, "minDaysValid"))
            o->min_days = (int) json_integer_value(json_object_get(root, "minDaysValid"));
        if (oom) {
            json_decref(root);
            probe_net_free_options(o);
            *out = NULL;
            return -ENOMEM;
        }
    }
    json_decref(root);
    /* Not refused here: the asset stays scheduled and each run reports why (start fails). */
    probe_format(o->invalid, sizeof o->invalid, "%s", why);
    return 0;
}

static int s_parse_options(const char *json, void **out, char *err, size_t errlen)
{
    return probe_net_parse_options("tcp", json, out, err, errlen);
}

/* ---- run ---------------------------------------------------------------------------------- */

static void s_run_free(struct probe_run *run)
{
    loop_timer_stop(&run->timer);
    resolver_cancel(&run->dnsq);
    tls_conn_destroy(&run->conn);
    probe_result_destroy(&run->result);
    free(run->buf);
    free(run);
}

static void s_phase_end(struct probe_run *run, const char *name)
{
    int64_t now = sd_mono_us();
    probe_result_add_phase(run->result, name, now - run->phase_us);
    run->phase_us = now;
}

/* Delivers the result and frees the run; call as the last thing. */
static void s_finish(struct probe_run *run, bool success)
{
    if (run->phase == P_PROCESSING && (run->o->send || run->o->expect))
        s_phase_end(run, "processing");
    probe_result_t *r = run->result;
    run->result = NULL;
    run->phase = P_DONE;
    r->success = success;
    if (success)
        r->reason[0] = 0;
    int64_t total = sd_mono_us() - run->t0_us;
    r->latency_us = total > UINT32_MAX ? UINT32_MAX : (uint32_t) total;
    probe_done_fn *done = run->done;
    void *ctx = run->ctx;
    s_run_free(run);
    done(r, ctx);
}

static void s_on_timeout(loop_t *loop, loop_timer_t *t, void *ctx)
{
    struct probe_run *run = ctx;
    if (run->early) {
        s_finish(run, false);
        return;
    }
    char q[96];
    probe_result_t *r = run->result;
    switch (run->phase) {
    case P_DNS:
        probe_result_set_reason(r, "dns: timeout");
        break;
    case P_CONNECT:
        probe_result_set_reason(r, "timeout after %u ms connecting", run->spec->timeout_ms);
        break;
    case P_TLS:
        probe_result_set_reason(r, "timeout after %u ms in the TLS handshake",
                                run->spec->timeout_ms);
        break;
    default:
        if (run->o->expect) {
            tcp_expect_quote(run->o->expect, q, sizeof q);
            probe_result_set_reason(r, "timeout after %u ms waiting for \"%s\"",
                                    run->spec->timeout_ms, q);
        } else {
            probe_result_set_reason(r, "timeout after %u ms sending", run->spec->timeout_ms);
        }
    }
    s_finish(run, false);
}

/* Certificate checks after the handshake. Sets the reason and returns false on failure. */
static bool s_check_cert(struct probe_run *run)
{
    const probe_net_opts_t *o = run->o;
    probe_result_t *r = run->result;
    X509 *cert = tls_conn_peer_cert(run->conn);
    if (!cert) {
        probe_result_set_reason(r, "TLS: the server sent no certificate");
        return false;
    }
    r->cert_expiry_unix = tls_cert_not_after(cert);
    int64_t now = sd_wall_ms() / 1000;
    if (o->cert_check && r->cert_expiry_unix && r->cert_expiry_unix <= now) {
        int64_t days = (now - r->cert_expiry_unix) / 86400;
        probe_result_set_reason(r, "certificate expired %lld day%s ago", (long long) days,
                                days == 1 ? "" : "s");
        return false;
    }
    if (o->verify) {
        long v = tls_conn_verify_result(run->conn);
        if (v != X509_V_OK) {
            probe_result_set_reason(r, "TLS: %s", tls_verify_reason(v));
            return false;
        }
        const char *want = o->server_name ? o->server_name : run->host;
        if (!tls_cert_matches(cert, want)) {
            char name[128];
            tls_cert_name(cert, name, sizeof name);
            probe_result_set_reason(r, "%scertificate is for %s, not %s",
                                    o->cert_check ? "" : "TLS: ", name, want);
            return false;
        }
    }
    if (o->cert_check && r->cert_expiry_unix) {
        int64_t days = (r->cert_expiry_unix - now) / 86400;
        if (days < o->min_days) {
            probe_result_set_reason(r, "certificate expires in %lld day%s (< %d)",
                                    (long long) days, days == 1 ? "" : "s", o->min_days);
            return false;
        }
    }
    return true;
}

/* Connected (and handshaken): send, expect, or done. */
static void s_ready(struct probe_run *run)
{
    const probe_net_opts_t *o = run->o;
    run->phase = P_PROCESSING;
    if (o->send) {
        int rc = tls_conn_send(run->conn, o->send, strlen(o->send));
        if (rc < 0) {
            probe_result_set_reason(run->result, "send: %s", strerror(-rc));
            s_finish(run, false);
            return;
        }
    }
    if (o->expect) {
        run->buf = malloc(PROBE_TCP_READ_MAX + 1);
        if (!run->buf) {
            probe_result_set_reason(run->result, "out of memory");
            s_finish(run, false);
            return;
        }
        tls_conn_want_read(run->conn);
    } else if (!o->send) {
        s_finish(run, true);
    }
}

static void s_on_readable(struct probe_run *run)
{
    char q[96];
    for (;;) {
        if (run->buf_len >= PROBE_TCP_READ_MAX) {
            tcp_expect_quote(run->o->expect, q, sizeof q);
            probe_result_set_reason(run->result,
                                    "reply does not contain \"%s\" (first %d bytes read)", q,
                                    PROBE_TCP_READ_MAX);
            s_finish(run, false);
            return;
        }
        ssize_t n = tls_conn_read(run->conn, run->buf + run->buf_len,
                                  PROBE_TCP_READ_MAX - run->buf_len);
        if (n == -EAGAIN)
            return;
        if (n < 0) {
            probe_result_set_reason(run->result, "%s", tls_conn_error(run->conn));
            s_finish(run, false);
            return;
        }
        if (n == 0) {
            tcp_expect_quote(run->o->expect, q, sizeof q);
            probe_result_set_reason(run->result, "reply does not contain \"%s\"", q);
            s_finish(run, false);
            return;
        }
        run->buf_len += (size_t) n;
        if (tcp_expect_match(run->buf, run->buf_len, run->o->expect)) {
            s_finish(run, true);
            return;
        }
    }
}

static void s_on_conn(tls_conn_t *c, tls_conn_event_t ev, void *ctx)
{
    struct probe_run *run = ctx;
    switch (ev) {
    case TLS_CONN_CONNECTED:
        s_phase_end(run, "connect");
        if (run->o->tls)
            run->phase = P_TLS;
        else
            s_ready(run);
        return;
    case TLS_CONN_HANDSHAKEN:
        s_phase_end(run, "tls");
        if (!s_check_cert(run)) {
            s_finish(run, false);
            return;
        }
        s_ready(run);
        return;
    case TLS_CONN_SENT:
        if (!run->o->expect)
            s_finish(run, true);
        return;
    case TLS_CONN_READABLE:
        s_on_readable(run);
        return;
    case TLS_CONN_FAILED:
        probe_result_set_reason(run->result, "%s", tls_conn_error(c));
        s_finish(run, false);
        return;
    }
}

static void s_connect(struct probe_run *run, const struct sockaddr *sa, socklen_t salen,
                      char *why, size_t whylen)
{
    const probe_net_opts_t *o = run->o;
    tls_conn_opts_t co = {.tls = o->tls, .server_name = o->server_name ? o->server_name : run->host};
    run->conn = tls_conn_new(run->loop, sa, salen, &co, s_on_conn, run, why, whylen);
}

/* The resolver's answer (from the loop, never inside c-ares): connect to the first address. */
static void s_on_resolved(const resolver_answer_t *a, void *ctx)
{
    struct probe_run *run = ctx;
    run->dnsq = NULL;
    probe_result_add_phase(run->result, "dns", a->duration_us);
    run->phase_us = sd_mono_us();
    if (a->status < 0) {
        probe_result_set_reason(run->result, "%s", a->reason);
        s_finish(run, false);
        return;
    }
    char why[PROBE_REASON_MAX] = "";
    run->phase = P_CONNECT;
    s_connect(run, (const struct sockaddr *) &a->addrs[0], a->addrlens[0], why, sizeof why);
    if (!run->conn) {
        probe_result_set_reason(run->result, "%s", why);
        s_finish(run, false);
    }
}

int probe_net_start(const probe_env_t *env, const probe_spec_t *spec, const void *opts,
                    probe_done_fn *done, void *ctx, probe_run_t **run_out, char *err,
                    size_t errlen)
{
    const probe_net_opts_t *o = opts;
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
    run->spec = spec;
    run->o = o;
    run->loop = env->loop;
    run->done = done;
    run->ctx = ctx;
    run->t0_us = run->phase_us = sd_mono_us();
    loop_timer_init(env->loop, &run->timer, s_on_timeout, run);
    uint32_t timeout_ms = spec->timeout_ms ? spec->timeout_ms : 10000;

    char why[PROBE_REASON_MAX] = "";
    int port = 0;
    struct sockaddr_storage sa;
    socklen_t salen = 0;
    int rc = sd_probe_split_hostport(spec->address, run->host, sizeof run->host, &port, why,
                                     sizeof why);
    if (rc == 0)
        rc = resolver_literal(run->host, port, &sa, &salen, why, sizeof why);
    if (rc == -EAGAIN && probe_resolver(env)) {
        /* a host name: the dns phase runs on the loop, s_on_resolved connects */
        why[0] = 0;
        run->phase = P_DNS;
        if (resolver_resolve(probe_resolver(env), run->host, port, RESOLVER_ANY, timeout_ms,
                             s_on_resolved, run, &run->dnsq) < 0)
            snprintf(why, sizeof why, "dns: cannot start the lookup");
    } else if (rc == 0) {
        run->phase = P_CONNECT;
        s_connect(run, (struct sockaddr *) &sa, salen, why, sizeof why);
    }
    if (!run->conn && !run->dnsq) {
        /* A failed probe is data: report it from the next loop turn, never from start. */
        probe_result_set_reason(run->result, "%s", why);
        run->early = true;
        timeout_ms = 0;
    }
    loop_timer_start_in(&run->timer, timeout_ms);
    *run_out = run;
    return 0;
}

void probe_net_cancel(probe_run_t *run)
{
    if (run)
        s_run_free(run);
}

const struct probe_ops probe_tcp_ops = {
    .name = "tcp",
    .parse_options = s_parse_options,
    .free_options = probe_net_free_options,
    .start = probe_net_start,
    .cancel = probe_net_cancel,
};
