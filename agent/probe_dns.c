/* dns probe: one query for `address` with c-ares on the loop (its own channel per run, so the
 * server and transport are the asset's), judged like blackbox_exporter's dns prober: the
 * reply's rcode must be in validRcodes, then some answer record must contain answerContains.
 * status_code carries the DNS rcode (0 NOERROR, 2 SERVFAIL, 3 NXDOMAIN ...), -1 when no reply
 * came. Phase: dns.
 * Options (sd_probe_options.c validates):
 *   {"recordType": "A", "server": "10.0.0.53:53", "validRcodes": ["NOERROR"],
 *    "answerContains": "10.0.0.1", "transport": "udp"}
 * UDP falls back to TCP when the reply is truncated (c-ares). For PTR an IP address is turned
 * into its in-addr.arpa / ip6.arpa name. */
#include "dns_reply.h"
#include "probe.h"
#include "sd_probe_options.h"

#include <ares.h>
#include <arpa/inet.h>
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DNS_MAX_RCODES 16

typedef struct {
    char invalid[PROBE_REASON_MAX - 40];
    int qtype;
    char type_name[8];
    char *server;        /* ares_set_servers_ports_csv form, NULL: system resolvers */
    int rcodes[DNS_MAX_RCODES];
    size_t n_rcodes;
    char *contains;
    bool tcp;
} s_opts_t;

struct probe_run {
    const probe_spec_t *spec;
    const s_opts_t *o;
    resolver_t *res;     /* this run's channel */
    resolver_query_t *q;
    loop_timer_t timer;  /* early failures only */
    probe_done_fn *done;
    void *ctx;
    probe_result_t *result;
};

static const char *const s_rcode_names[] = {"NOERROR", "FORMERR", "SERVFAIL", "NXDOMAIN",
                                            "NOTIMP", "REFUSED", "YXDOMAIN", "YXRRSET",
                                            "NXRRSET", "NOTAUTH", "NOTZONE"};
#define N_RCODE_NAMES (sizeof s_rcode_names / sizeof s_rcode_names[0])

/* ---- options ------------------------------------------------------------------------------ */

static void s_free_options(void *opts)
{
    s_opts_t *o = opts;
    if (!o)
        return;
    free(o->server);
    free(o->contains);
    free(o);
}

static int s_fill(s_opts_t *o, json_t *root)
{
    json_t *j;
    if ((j = json_object_get(root, "recordType"))) {
        int type = dns_type_code(json_string_value(j));
        if (type)
            o->qtype = type;
        snprintf(o->type_name, sizeof o->type_name, "%s", json_string_value(j));
    }
    if ((j = json_object_get(root, "validRcodes"))) {
        size_t i;
        json_t *e;
        o->n_rcodes = 0;
        json_array_foreach(j, i, e) {
            for (size_t k = 0; k < N_RCODE_NAMES && o->n_rcodes < DNS_MAX_RCODES; k++)
                if (strcmp(s_rcode_names[k], json_string_value(e)) == 0)
                    o->rcodes[o->n_rcodes++] = (int) k;
        }
    }
    if ((j = json_object_get(root, "transport")))
        o->tcp = strcmp(json_string_value(j), "tcp") == 0;
    if ((j = json_object_get(root, "answerContains")) &&
        !(o->contains = strdup(json_string_value(j))))
        return -ENOMEM;
    if ((j = json_object_get(root, "server"))) {
        /* a bare IPv6 address needs brackets in c-ares's csv form */
        const char *s = json_string_value(j);
        unsigned char buf[16];
        size_t n = strlen(s) + 3;
        if (!(o->server = malloc(n)))
            return -ENOMEM;
        snprintf(o->server, n, inet_pton(AF_INET6, s, buf) == 1 ? "[%s]" : "%s", s);
    }
    return 0;
}

static int s_parse_options(const char *json, void **out, char *err, size_t errlen)
{
    s_opts_t *o = calloc(1, sizeof *o);
    if (!o)
        return -ENOMEM;
    o->qtype = 1;
    snprintf(o->type_name, sizeof o->type_name, "A");
    o->rcodes[0] = 0;
    o->n_rcodes = 1;
    *out = o;
    if (!json || !*json)
        return 0;
    json_error_t je;
    json_t *root = json_loads(json, 0, &je);
    char why[sizeof o->invalid] = "";
    int rc = 0;
    if (!root)
        probe_format(why, sizeof why, "dns options: invalid JSON: %s", je.text);
    else if (sd_probe_options_check("dns", root, why, sizeof why) == 0)
        rc = s_fill(o, root);
    json_decref(root);
    if (rc) {
        s_free_options(o);
        *out = NULL;
        snprintf(err, errlen, "out of memory");
        return rc;
    }
    /* Not refused here: the asset stays scheduled and each run reports why (start fails). */
    probe_format(o->invalid, sizeof o->invalid, "%s", why);
    return 0;
}

/* ---- run ---------------------------------------------------------------------------------- */

static void s_run_free(struct probe_run *run)
{
    loop_timer_stop(&run->timer);
    resolver_cancel(&run->q);
    resolver_destroy(&run->res);
    probe_result_destroy(&run->result);
    free(run);
}

static void s_finish(struct probe_run *run, bool success)
{
    probe_result_t *r = run->result;
    run->result = NULL;
    r->success = success;
    if (success)
        r->reason[0] = 0;
    probe_done_fn *done = run->done;
    void *ctx = run->ctx;
    s_run_free(run);
    done(r, ctx);
}

static void s_on_early(loop_t *loop, loop_timer_t *t, void *ctx) { s_finish(ctx, false); }

static void s_verdict(struct probe_run *run, const resolver_answer_t *a)
{
    const s_opts_t *o = run->o;
    probe_result_t *r = run->result;
    int rcode = dns_reply_rcode(a->abuf, a->alen);
    if (rcode < 0) {
        probe_result_set_reason(r, "dns: malformed reply");
        s_finish(run, false);
        return;
    }
    r->status_code = rcode;
    bool ok = false;
    for (size_t i = 0; i < o->n_rcodes; i++)
        ok |= o->rcodes[i] == rcode;
    if (!ok) {
        char list[160] = "";
        size_t n = 0;
        for (size_t i = 0; i < o->n_rcodes && n < sizeof list; i++)
            n += (size_t) snprintf(list + n, sizeof list - n, "%s%s", i ? "," : "",
                                   s_rcode_names[o->rcodes[i]]);
        char rn[16];
        snprintf(rn, sizeof rn, "%s", rcode < (int) N_RCODE_NAMES ? s_rcode_names[rcode] : "");
        if (!rn[0])
            snprintf(rn, sizeof rn, "RCODE%d", rcode);
        probe_result_set_reason(r, "rcode %s not in [%s]", rn, list);
        s_finish(run, false);
        return;
    }
    if (o->contains) {
        int c = dns_reply_contains(a->abuf, a->alen, o->contains);
        if (c < 0) {
            probe_result_set_reason(r, "dns: malformed reply");
            s_finish(run, false);
            return;
        }
        if (c == 0) {
            char q[81];
            probe_result_set_reason(r, "no answer contains \"%s\"",
                                    probe_excerpt(q, sizeof q, o->contains));
            s_finish(run, false);
            return;
        }
    }
    s_finish(run, true);
}

static void s_on_answer(const resolver_answer_t *a, void *ctx)
{
    struct probe_run *run = ctx;
    run->q = NULL;
    probe_result_t *r = run->result;
    probe_result_add_phase(r, "dns", a->duration_us);
    r->latency_us = a->duration_us > UINT32_MAX ? UINT32_MAX : (uint32_t) a->duration_us;
    if (a->status < 0 || !a->abuf) {
        probe_result_set_reason(r, "%s", a->status < 0 ? a->reason : "dns: no reply");
        s_finish(run, false);
        return;
    }
    s_verdict(run, a);
}

/* PTR of an IP literal: its reverse name; otherwise the address as given. */
static void s_query_name(const char *addr, int qtype, char *out, size_t outlen)
{
    unsigned char b[16];
    if (qtype == 12 && inet_pton(AF_INET, addr, b) == 1) {
        snprintf(out, outlen, "%u.%u.%u.%u.in-addr.arpa", b[3], b[2], b[1], b[0]);
    } else if (qtype == 12 && inet_pton(AF_INET6, addr, b) == 1) {
        static const char hex[] = "0123456789abcdef";
        size_t o = 0;
        for (int i = 15; i >= 0 && o + 4 < outlen; i--) {
            out[o++] = hex[b[i] & 0xf];
            out[o++] = '.';
            out[o++] = hex[b[i] >> 4];
            out[o++] = '.';
        }
        snprintf(out + o, outlen - o, "ip6.arpa");
    } else {
        snprintf(out, outlen, "%s", addr);
    }
}

static int s_start(const probe_env_t *env, const probe_spec_t *spec, const void *opts,
                   probe_done_fn *done, void *ctx, probe_run_t **run_out, char *err,
                   size_t errlen)
{
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
    run->result->status_code = -1; /* no reply yet: no rcode */
    run->spec = spec;
    run->o = o;
    run->done = done;
    run->ctx = ctx;
    loop_timer_init(env->loop, &run->timer, s_on_early, run);
    uint32_t timeout_ms = spec->timeout_ms ? spec->timeout_ms : 10000;
    resolver_config_t cfg = {.servers = o->server, .use_tcp = o->tcp, .raw_rcodes = true,
                             .try_timeout_ms = timeout_ms, .tries = 1};
    char why[PROBE_REASON_MAX] = "", name[300], q[101];
    s_query_name(spec->address ? spec->address : "", o->qtype, name, sizeof name);
    run->res = resolver_new(env->loop, &cfg, why, sizeof why);
    if (run->res &&
        resolver_query(run->res, name, o->qtype, timeout_ms, s_on_answer, run, &run->q) < 0)
        probe_format(why, sizeof why, "dns: cannot query \"%s\"",
                     probe_excerpt(q, sizeof q, name));
    if (!run->q) {
        /* A failed probe is data: report it from the next loop turn, never from start. */
        probe_result_set_reason(run->result, "%s", why);
        loop_timer_start_in(&run->timer, 0);
    }
    *run_out = run;
    return 0;
}

static void s_cancel(probe_run_t *run)
{
    if (run)
        s_run_free(run);
}

const struct probe_ops probe_dns_ops = {
    .name = "dns",
    .parse_options = s_parse_options,
    .free_options = s_free_options,
    .start = s_start,
    .cancel = s_cancel,
};
