/* http/https probe, the seed's semantics by default: GET the address (following up to 10
 * redirects, like Go's http.Client), give up after timeout_ms, success when the final status is
 * in expected_status_codes, or < 400 when that list is empty. Options (validated by
 * sd_probe_options.c; all optional):
 *   method (GET HEAD POST PUT PATCH DELETE OPTIONS), headers {name: value}, body,
 *   bodyContains, bodyNotContains, bodyRegex, bodyNotRegex (POSIX ERE), followRedirects
 *   (true), maxRedirects (10), tlsVerify (true), httpVersion ("1.0", "1.1", "2").
 * Body checks look at the first PROBE_HTTP_BODY_MAX bytes of the final response; on https the
 * server certificate's notAfter (of the last https hop) becomes cert_expiry_unix.
 * Name resolution never happens inside libcurl: a host name in the URL is resolved by the
 * loop's c-ares resolver first (the dns phase is ours) and handed to libcurl with
 * CURLOPT_RESOLVE. Redirects are followed here, not by libcurl (CURLOPT_FOLLOWLOCATION is
 * always 0): a 301/302/303/307/308 with a Location starts the next transfer on the same easy
 * handle after our own lookup of its host, with libcurl's method rules (301/302 turn a POST
 * into a GET without body, 303 anything but HEAD; 307/308 keep method and body), only to
 * http/https, without Authorization/Cookie headers once the scheme, host or port differ from
 * the first URL's, all hops within the one timeout, phases summed over hops. A
 * CURLOPT_RESOLVER_START_FUNCTION refuses any lookup libcurl would start for a name. */
#include "probe.h"
#include "sd_clock.h"
#include "sd_probe_options.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <errno.h>
#include <jansson.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#define PROBE_HTTP_BODY_MAX (1024 * 1024)

typedef struct {
    char invalid[PROBE_REASON_MAX - 40]; /* non-empty: rejected options, why */
    char method[8];
    struct curl_slist *headers;
    char *body;
    char *contains, *not_contains;
    char *re_src, *not_re_src;
    regex_t re, not_re;
    bool has_re, has_not_re;
    bool follow;
    long max_redirects;
    bool verify;
    long http_version;
} s_opts_t;


struct probe_run {
    CURL *easy;
    curl_glue_t *curl;
    resolver_t *res;             /* NULL: names are refused */
    const probe_spec_t *spec;
    const s_opts_t *o;
    probe_done_fn *done;
    void *ctx;
    probe_result_t *result;
    size_t body_bytes;
    bool body_capped;
    char *body;      /* kept only when a body check needs it */
    size_t body_len;
    uint32_t timeout_ms;
    int64_t deadline_us;         /* sd_mono_us: every hop and lookup ends before it */
    int64_t dns_us;              /* our lookups, summed; 0 for literals */
    int64_t ph_dns, ph_conn, ph_tls, ph_proc, ph_xfer, total_us; /* libcurl's, summed */
    bool has_conn, has_tls, has_ttfb;
    resolver_query_t *dnsq;      /* the lookup in flight, between transfers */
    bool in_curl;                /* a transfer is in curl_glue */
    struct curl_slist *resolve;  /* CURLOPT_RESOLVE "host:port:addr", one per name seen */
    struct curl_slist *other_headers; /* headers without Authorization/Cookie */
    char *url;                   /* the current hop's URL */
    char origin[300];            /* "scheme://host:port" of the first URL */
    char host[256];              /* the current hop's host when it is a name, else "" */
    int port;
    int hops;                    /* redirects followed */
    char method[8];              /* the current hop's (a 301/302/303 may turn it into GET) */
    int64_t cert_expiry;
    char errbuf[CURL_ERROR_SIZE];
};
static void s_free_options(void *opts)
{
    s_opts_t *o = opts;
    if (!o)
        return;
    curl_slist_free_all(o->headers);
    free(o->body);
    free(o->contains);
    free(o->not_contains);
    free(o->re_src);
    free(o->not_re_src);
    if (o->has_re)
        regfree(&o->re);
    if (o->has_not_re)
        regfree(&o->not_re);
    free(o);
}

static int s_str(json_t *root, const char *key, char **out)
{
    json_t *j = json_object_get(root, key);
    if (!j)
        return 0;
    *out = strdup(json_string_value(j));
    return *out ? 0 : -ENOMEM;
}

/* Fills o from a validated options object. */
static int s_fill(s_opts_t *o, json_t *root)
{
    json_t *j;
    if ((j = json_object_get(root, "method")))
        snprintf(o->method, sizeof o->method, "%s", json_string_value(j));
    const char *hk;
    json_t *hv;
    json_object_foreach(json_object_get(root, "headers"), hk, hv) {
        char line[4200];
        snprintf(line, sizeof line, "%s: %s", hk, json_string_value(hv));
        struct curl_slist *l = curl_slist_append(o->headers, line);
        if (!l)
            return -ENOMEM;
        o->headers = l;
    }
    int rc = 0;
    if ((rc = s_str(root, "body", &o->body)) || (rc = s_str(root, "bodyContains", &o->contains)) ||
        (rc = s_str(root, "bodyNotContains", &o->not_contains)) ||
        (rc = s_str(root, "bodyRegex", &o->re_src)) ||
        (rc = s_str(root, "bodyNotRegex", &o->not_re_src)))
        return rc;
    if (o->re_src) {
        if (regcomp(&o->re, o->re_src, REG_EXTENDED | REG_NOSUB))
            return -EINVAL; /* sd_probe_options_check compiled it already */
        o->has_re = true;
    }
    if (o->not_re_src) {
        if (regcomp(&o->not_re, o->not_re_src, REG_EXTENDED | REG_NOSUB))
            return -EINVAL;
        o->has_not_re = true;
    }
    if ((j = json_object_get(root, "followRedirects")))
        o->follow = json_is_true(j);
    if ((j = json_object_get(root, "maxRedirects")))
        o->max_redirects = (long) json_integer_value(j);
    if ((j = json_object_get(root, "tlsVerify")))
        o->verify = json_is_true(j);
    if ((j = json_object_get(root, "httpVersion"))) {
        const char *v = json_string_value(j);
        o->http_version = strcmp(v, "1.0") == 0   ? CURL_HTTP_VERSION_1_0
                          : strcmp(v, "1.1") == 0 ? CURL_HTTP_VERSION_1_1
                                                  : CURL_HTTP_VERSION_2_0;
    }
    return 0;
}

static int s_parse_options(const char *json, void **out, char *err, size_t errlen)
{
    s_opts_t *o = calloc(1, sizeof *o);
    if (!o)
        return -ENOMEM;
    snprintf(o->method, sizeof o->method, "GET");
    o->follow = true;
    o->max_redirects = 10;
    o->verify = true;
    o->http_version = CURL_HTTP_VERSION_NONE;
    *out = o;
    if (!json || !*json)
        return 0;
    json_error_t je;
    json_t *root = json_loads(json, 0, &je);
    char why[sizeof o->invalid] = "";
    int rc = 0;
    if (!root)
        probe_format(why, sizeof why, "http options: invalid JSON: %s", je.text);
    else if (sd_probe_options_check("http", root, why, sizeof why) == 0)
        rc = s_fill(o, root);
    json_decref(root);
    if (rc == -ENOMEM) {
        s_free_options(o);
        *out = NULL;
        snprintf(err, errlen, "out of memory");
        return rc;
    }
    if (rc)
        snprintf(why, sizeof why, "http options: invalid regular expression");
    /* Not refused here: the asset stays scheduled and each run reports why (start fails). */
    probe_format(o->invalid, sizeof o->invalid, "%s", why);
    return 0;
}

static bool s_needs_body(const s_opts_t *o)
{
    return o && (o->contains || o->not_contains || o->has_re || o->has_not_re);
}

static size_t s_write(char *data, size_t size, size_t nmemb, void *userp)
{
    struct probe_run *run = userp;
    size_t n = size * nmemb;
    size_t room = run->body_bytes < PROBE_HTTP_BODY_MAX ? PROBE_HTTP_BODY_MAX - run->body_bytes : 0;
    if (run->body && room) {
        size_t k = n < room ? n : room;
        memcpy(run->body + run->body_len, data, k);
        run->body_len += k;
        run->body[run->body_len] = 0;
    }
    run->body_bytes += n;
    if (run->body_bytes > PROBE_HTTP_BODY_MAX) {
        run->body_capped = true;
        return 0; /* stop reading: the status is known, the rest is not looked at */
    }
    return n;
}

/* "Expire date" of the leaf in CURLINFO_CERTINFO ("Jan  1 00:00:00 2030 GMT", OpenSSL). */
static int64_t s_cert_expiry(CURL *e)
{
    struct curl_certinfo *ci = NULL;
    if (curl_easy_getinfo(e, CURLINFO_CERTINFO, &ci) != CURLE_OK || !ci || ci->num_of_certs < 1)
        return 0;
    for (struct curl_slist *l = ci->certinfo[0]; l; l = l->next) {
        if (strncmp(l->data, "Expire date:", 12) != 0)
            continue;
        struct tm tm;
        memset(&tm, 0, sizeof tm);
        const char *end = strptime(l->data + 12, "%b %d %H:%M:%S %Y", &tm);
        if (!end)
            end = strptime(l->data + 12, "%Y-%m-%d %H:%M:%S", &tm);
        return end ? (int64_t) timegm(&tm) : 0;
    }
    return 0;
}

/* Body checks after an accepted status; false with a reason on failure. */
static bool s_body_checks(struct probe_run *run)
{
    const s_opts_t *o = run->o;
    probe_result_t *r = run->result;
    const char *body = run->body ? run->body : "";
    char trunc[48] = "", q[61]; /* the quoted option: at most 60 bytes */
    if (run->body_capped)
        snprintf(trunc, sizeof trunc, " (first %d bytes read)", PROBE_HTTP_BODY_MAX);
    if (o->contains && !memmem(body, run->body_len, o->contains, strlen(o->contains))) {
        probe_result_set_reason(r, "body does not contain \"%s\"%s",
                                probe_excerpt(q, sizeof q, o->contains), trunc);
        return false;
    }
    if (o->not_contains && memmem(body, run->body_len, o->not_contains, strlen(o->not_contains))) {
        probe_result_set_reason(r, "body contains forbidden \"%s\"%s",
                                probe_excerpt(q, sizeof q, o->not_contains), trunc);
        return false;
    }
    /* regexec stops at a NUL byte in the body: text bodies are what these checks are for */
    if (o->has_re && regexec(&o->re, body, 0, NULL, 0) != 0) {
        probe_result_set_reason(r, "body does not match regex \"%s\"%s",
                                probe_excerpt(q, sizeof q, o->re_src), trunc);
        return false;
    }
    if (o->has_not_re && regexec(&o->not_re, body, 0, NULL, 0) == 0) {
        probe_result_set_reason(r, "body matches forbidden regex \"%s\"%s",
                                probe_excerpt(q, sizeof q, o->not_re_src), trunc);
        return false;
    }
    return true;
}

/* "SSL certificate problem: self-signed certificate" -> "TLS: self-signed certificate". */
static void s_tls_reason(struct probe_run *run)
{
    const char *msg = run->errbuf;
    const char *p = strstr(msg, "SSL certificate problem: ");
    if (p)
        msg = p + strlen("SSL certificate problem: ");
    probe_result_set_reason(run->result, "TLS: %s", msg[0] ? msg : "handshake failed");
}

/* Adds this transfer's times (libcurl's are per transfer) and certificate to the run. */
static void s_add_times(struct probe_run *run)
{
    CURL *e = run->easy;
    curl_off_t dns = 0, conn = 0, app = 0, ttfb = 0, total = 0;
    curl_easy_getinfo(e, CURLINFO_NAMELOOKUP_TIME_T, &dns);
    curl_easy_getinfo(e, CURLINFO_CONNECT_TIME_T, &conn);
    curl_easy_getinfo(e, CURLINFO_APPCONNECT_TIME_T, &app);
    curl_easy_getinfo(e, CURLINFO_STARTTRANSFER_TIME_T, &ttfb);
    curl_easy_getinfo(e, CURLINFO_TOTAL_TIME_T, &total);
    run->ph_dns += dns;
    if (conn > 0) {
        run->ph_conn += conn - dns;
        run->has_conn = true;
    }
    if (app > 0) {
        run->ph_tls += app - conn;
        run->has_tls = true;
    }
    if (ttfb > 0) {
        run->ph_proc += ttfb - (app > 0 ? app : conn);
        run->ph_xfer += total - ttfb;
        run->has_ttfb = true;
    }
    run->total_us += total;
    int64_t exp = s_cert_expiry(e);
    if (exp)
        run->cert_expiry = exp; /* the last https hop's */
}

/* The reason of a failed transfer. */
static void s_transfer_reason(struct probe_run *run, CURLcode rc)
{
    probe_result_t *r = run->result;
    char q[81];
    long oserr = 0;
    curl_easy_getinfo(run->easy, CURLINFO_OS_ERRNO, &oserr);
    switch (rc) {
    case CURLE_OPERATION_TIMEDOUT:
        probe_result_set_reason(r, "timeout after %u ms", run->timeout_ms);
        break;
    case CURLE_COULDNT_CONNECT:
        if (oserr == ECONNREFUSED)
            probe_result_set_reason(r, "connect: connection refused");
        else if (oserr)
            probe_result_set_reason(r, "connect: %s", strerror((int) oserr));
        else
            probe_result_set_reason(r, "connect: %s", run->errbuf);
        break;
    case CURLE_COULDNT_RESOLVE_HOST:
        if (run->host[0]) /* s_resolver_start refused: the pin was not used */
            probe_result_set_reason(r, "dns: libcurl would resolve \"%s\" itself (refused)",
                                    probe_excerpt(q, sizeof q, run->host));
        else
            probe_result_set_reason(r, "dns: %s", run->errbuf);
        break;
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_SSL_CERTPROBLEM:
    case CURLE_SSL_CACERT_BADFILE:
        s_tls_reason(run);
        break;
    case CURLE_GOT_NOTHING:
        probe_result_set_reason(r, "empty reply from server");
        break;
    default:
        probe_result_set_reason(r, "%s: %s", curl_easy_strerror(rc),
                                run->errbuf[0] ? run->errbuf : "");
    }
}

/* The verdict on the final response (status and body checks). */
static void s_verdict(struct probe_run *run, long status)
{
    probe_result_t *r = run->result;
    const probe_spec_t *s = run->spec;
    bool ok = s->n_expected_status_codes == 0 && status < 400;
    for (size_t i = 0; i < s->n_expected_status_codes; i++)
        ok |= (long) s->expected_status_codes[i] == status;
    r->success = false;
    if (!ok && s->n_expected_status_codes == 0) {
        probe_result_set_reason(r, "status %ld >= 400", status);
        return;
    }
    if (!ok) {
        char list[96] = "";
        size_t len = 0;
        for (size_t i = 0; i < s->n_expected_status_codes && len < sizeof list - 16; i++)
            len += (size_t) snprintf(list + len, sizeof list - len, "%s%u", i ? "," : "",
                                     s->expected_status_codes[i]);
        if (len >= sizeof list - 16)
            snprintf(list + len, sizeof list - len, ",...");
        probe_result_set_reason(r, "status %ld not in [%s]", status, list);
        return;
    }
    r->success = s_body_checks(run);
}

static void s_run_free(struct probe_run *run)
{
    resolver_cancel(&run->dnsq);
    if (run->easy)
        curl_easy_cleanup(run->easy);
    curl_slist_free_all(run->resolve);
    curl_slist_free_all(run->other_headers);
    probe_result_destroy(&run->result);
    free(run->body);
    free(run->url);
    free(run);
}

/* Phases and latency summed over every hop and lookup; hands the result over, frees the run. */
static void s_finish(struct probe_run *run)
{
    probe_result_t *r = run->result;
    int64_t total = run->total_us + run->dns_us;
    r->latency_us = total < 0 ? 0 : total > UINT32_MAX ? UINT32_MAX : (uint32_t) total;
    probe_result_add_phase(r, "dns", run->ph_dns + run->dns_us);
    if (run->has_conn)
        probe_result_add_phase(r, "connect", run->ph_conn);
    if (run->has_tls)
        probe_result_add_phase(r, "tls", run->ph_tls);
    if (run->has_ttfb) {
        probe_result_add_phase(r, "processing", run->ph_proc);
        probe_result_add_phase(r, "transfer", run->ph_xfer);
    }
    r->cert_expiry_unix = run->cert_expiry;
    run->result = NULL;
    probe_done_fn *done = run->done;
    void *dctx = run->ctx;
    s_run_free(run);
    done(r, dctx);
}

/* Splits url into its scheme, host (as CURLOPT_RESOLVE names it, "[::1]" for IPv6) and port
 * (the scheme's default when absent). 0 or -EINVAL. */
static int s_url_parts(const char *url, char *scheme, size_t schemelen, char *host,
                       size_t hostlen, int *port)
{
    CURLU *u = curl_url();
    char *sc = NULL, *h = NULL, *p = NULL;
    int rc = -EINVAL;
    if (u && curl_url_set(u, CURLUPART_URL, url, 0) == CURLUE_OK &&
        curl_url_get(u, CURLUPART_SCHEME, &sc, 0) == CURLUE_OK &&
        curl_url_get(u, CURLUPART_HOST, &h, 0) == CURLUE_OK &&
        curl_url_get(u, CURLUPART_PORT, &p, CURLU_DEFAULT_PORT) == CURLUE_OK &&
        strlen(h) < hostlen && strlen(sc) < schemelen) {
        snprintf(scheme, schemelen, "%s", sc);
        snprintf(host, hostlen, "%s", h);
        *port = atoi(p);
        rc = 0;
    }
    curl_free(sc);
    curl_free(h);
    curl_free(p);
    curl_url_cleanup(u);
    return rc;
}

/* A name needs our lookup; literals and "localhost" libcurl takes without one. */
static bool s_is_name(const char *host, int port)
{
    struct sockaddr_storage ss;
    socklen_t sl;
    char err[8];
    return host[0] != '[' && resolver_literal(host, port, &ss, &sl, err, sizeof err) == -EAGAIN;
}

/* Whether CURLOPT_RESOLVE already pins host:port (a redirect back to a known host). */
static bool s_pinned(const struct probe_run *run, const char *host, int port)
{
    char prefix[300];
    int n = snprintf(prefix, sizeof prefix, "%s:%d:", host, port);
    for (const struct curl_slist *l = run->resolve; l; l = l->next)
        if (strncmp(l->data, prefix, (size_t) n) == 0)
            return true;
    return false;
}

static uint32_t s_remaining_ms(const struct probe_run *run)
{
    int64_t left = (run->deadline_us - sd_mono_us()) / 1000;
    return left <= 0 ? 0 : left > UINT32_MAX ? UINT32_MAX : (uint32_t) left;
}

/* libcurl calls this before it would resolve a host itself. Pinned names are found in its DNS
 * cache and never get here; a name that does is refused: no threaded resolver. */
static int s_resolver_start(void *resolver_state, void *reserved, void *userdata)
{
    (void) resolver_state;
    (void) reserved;
    const struct probe_run *run = userdata;
    return run->host[0] ? 1 : 0;
}

static void s_done(CURL *easy, CURLcode rc, void *ctx);

/* Starts the transfer of run->url (its name, if any, is pinned). 0, or -errno with why. */
static int s_transfer(struct probe_run *run, bool cross_origin, char *why, size_t whylen)
{
    uint32_t left = s_remaining_ms(run);
    if (left == 0) {
        snprintf(why, whylen, "timeout after %u ms", run->timeout_ms);
        return -ETIMEDOUT;
    }
    CURL *e = run->easy;
    if (cross_origin && run->o->headers && !run->other_headers) {
        /* as libcurl does for a redirect to another host: no credentials there */
        for (struct curl_slist *l = run->o->headers; l; l = l->next) {
            if (strncasecmp(l->data, "Authorization:", 14) == 0 ||
                strncasecmp(l->data, "Cookie:", 7) == 0)
                continue;
            struct curl_slist *n = curl_slist_append(run->other_headers, l->data);
            if (!n) {
                snprintf(why, whylen, "out of memory");
                return -ENOMEM;
            }
            run->other_headers = n;
        }
    }
    curl_easy_setopt(e, CURLOPT_URL, run->url);
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long) left);
    curl_easy_setopt(e, CURLOPT_RESOLVE, run->resolve);
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, cross_origin ? run->other_headers : run->o->headers);
    run->body_bytes = run->body_len = 0;
    run->body_capped = false;
    if (run->body)
        run->body[0] = 0;
    run->errbuf[0] = 0;
    int rc = curl_glue_add(run->curl, e, s_done, run);
    if (rc < 0) {
        snprintf(why, whylen, "cannot start transfer");
        return rc;
    }
    run->in_curl = true;
    return 0;
}

/* Fails the run before or between transfers; status_code stays the last response's (the 3xx
 * whose redirect could not be followed), 0 when none came. */
static void s_fail(struct probe_run *run, const char *why)
{
    run->result->success = false;
    probe_result_set_reason(run->result, "%s", why);
    s_finish(run);
}

static void s_on_resolved(const resolver_answer_t *a, void *ctx);

/* Starts the current hop: our lookup of its host name (unless literal or already pinned),
 * then its transfer. 0 when started (the run will finish), or -errno with why (nothing was
 * started or delivered). */
static int s_hop(struct probe_run *run, char *why, size_t whylen)
{
    char scheme[16], host[256], q[101];
    int port = 0;
    run->host[0] = 0;
    if (s_url_parts(run->url, scheme, sizeof scheme, host, sizeof host, &port) < 0) {
        if (run->hops == 0)
            return s_transfer(run, false, why, whylen); /* libcurl says what is wrong */
        probe_format(why, whylen, "redirect to an invalid URL \"%s\"",
                     probe_excerpt(q, sizeof q, run->url));
        return -EINVAL;
    }
    if (run->hops > 0 && strcasecmp(scheme, "http") != 0 && strcasecmp(scheme, "https") != 0) {
        probe_format(why, whylen, "redirect to \"%s\" refused: only http and https are followed",
                     probe_excerpt(q, sizeof q, run->url));
        return -EPROTONOSUPPORT;
    }
    char origin[sizeof run->origin];
    snprintf(origin, sizeof origin, "%s://%s:%d", scheme, host, port);
    if (run->hops == 0)
        snprintf(run->origin, sizeof run->origin, "%s", origin);
    bool cross = strcasecmp(origin, run->origin) != 0;
    if (!s_is_name(host, port))
        return s_transfer(run, cross, why, whylen);
    snprintf(run->host, sizeof run->host, "%s", host);
    run->port = port;
    if (!run->res) {
        probe_format(why, whylen, "dns: no resolver for \"%s\"", probe_excerpt(q, sizeof q, host));
        return -EINVAL;
    }
    if (s_pinned(run, host, port))
        return s_transfer(run, cross, why, whylen);
    uint32_t left = s_remaining_ms(run);
    if (left == 0) {
        snprintf(why, whylen, "timeout after %u ms", run->timeout_ms);
        return -ETIMEDOUT;
    }
    int rc = resolver_resolve(run->res, host, port, RESOLVER_ANY, left, s_on_resolved, run,
                              &run->dnsq);
    if (rc < 0)
        probe_format(why, whylen, rc == -EINVAL ? "dns: bad host name \"%s\""
                                                : "cannot start lookup of \"%s\"",
                     probe_excerpt(q, sizeof q, host));
    return rc;
}

/* The resolver's answer: pin the first address with CURLOPT_RESOLVE, start the transfer. */
static void s_on_resolved(const resolver_answer_t *a, void *ctx)
{
    struct probe_run *run = ctx;
    run->dnsq = NULL;
    run->dns_us += a->duration_us;
    if (a->status < 0) {
        s_fail(run, a->reason);
        return;
    }
    char ip[INET6_ADDRSTRLEN], line[600], why[PROBE_REASON_MAX];
    const struct sockaddr_storage *ss = &a->addrs[0];
    int v6 = ss->ss_family == AF_INET6;
    inet_ntop(ss->ss_family,
              v6 ? (const void *) &((const struct sockaddr_in6 *) ss)->sin6_addr
                 : (const void *) &((const struct sockaddr_in *) ss)->sin_addr,
              ip, sizeof ip);
    snprintf(line, sizeof line, "%s:%d:%s%s%s", run->host, run->port, v6 ? "[" : "", ip,
             v6 ? "]" : "");
    struct curl_slist *l = curl_slist_append(run->resolve, line);
    if (!l) {
        s_fail(run, "out of memory");
        return;
    }
    run->resolve = l;
    char scheme[16], host[256];
    int port = 0;
    bool cross = s_url_parts(run->url, scheme, sizeof scheme, host, sizeof host, &port) == 0;
    if (cross) {
        char origin[sizeof run->origin];
        snprintf(origin, sizeof origin, "%s://%s:%d", scheme, host, port);
        cross = strcasecmp(origin, run->origin) != 0;
    }
    if (s_transfer(run, cross, why, sizeof why) < 0)
        s_fail(run, why);
}

static bool s_is_redirect(long status)
{
    return status == 301 || status == 302 || status == 303 || status == 307 || status == 308;
}

/* Follows location (a 3xx's absolute Location) with libcurl's method rules. */
static void s_follow(struct probe_run *run, long status, const char *location)
{
    char why[PROBE_REASON_MAX];
    char *next = strdup(location);
    if (!next) {
        s_fail(run, "out of memory");
        return;
    }
    free(run->url);
    run->url = next;
    run->hops++;
    bool is_get = strcmp(run->method, "GET") == 0, is_head = strcmp(run->method, "HEAD") == 0;
    if (!is_get && !is_head &&
        (status == 303 || ((status == 301 || status == 302) && !strcmp(run->method, "POST")))) {
        CURL *e = run->easy;
        curl_easy_setopt(e, CURLOPT_POSTFIELDS, NULL);
        curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE, -1L);
        curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, NULL);
        curl_easy_setopt(e, CURLOPT_HTTPGET, 1L);
        snprintf(run->method, sizeof run->method, "GET");
    }
    if (s_hop(run, why, sizeof why) < 0)
        s_fail(run, why);
}

static void s_done(CURL *easy, CURLcode rc, void *ctx)
{
    struct probe_run *run = ctx;
    (void) easy;
    run->in_curl = false;
    s_add_times(run);
    long status = 0;
    curl_easy_getinfo(run->easy, CURLINFO_RESPONSE_CODE, &status);
    run->result->status_code = (int32_t) status;
    if (rc == CURLE_WRITE_ERROR && run->body_capped)
        rc = CURLE_OK;
    if (rc != CURLE_OK) {
        run->result->success = false;
        s_transfer_reason(run, rc);
        s_finish(run);
        return;
    }
    char *loc = NULL;
    if (run->o->follow && s_is_redirect(status) &&
        curl_easy_getinfo(run->easy, CURLINFO_REDIRECT_URL, &loc) == CURLE_OK && loc && *loc) {
        if (run->hops >= run->o->max_redirects) {
            char why[64];
            snprintf(why, sizeof why, "stopped after %ld redirects", run->o->max_redirects);
            s_fail(run, why);
            return;
        }
        s_follow(run, status, loc);
        return;
    }
    s_verdict(run, status);
    s_finish(run);
}

static int s_start(const probe_env_t *env, const probe_spec_t *spec, const void *opts,
                   probe_done_fn *done, void *ctx, probe_run_t **run_out, char *err,
                   size_t errlen)
{
    static const s_opts_t defaults = {.method = "GET", .follow = true, .max_redirects = 10,
                                      .verify = true};
    const s_opts_t *o = opts ? opts : &defaults;
    if (o->invalid[0]) {
        probe_format(err, errlen, "invalid options: %s", o->invalid);
        return -EINVAL;
    }
    struct probe_run *run = calloc(1, sizeof *run);
    if (!run)
        return -ENOMEM;
    run->curl = env->curl;
    run->res = probe_resolver(env);
    run->spec = spec;
    run->o = o;
    run->done = done;
    run->ctx = ctx;
    run->timeout_ms = spec->timeout_ms ? spec->timeout_ms : 10000;
    run->deadline_us = sd_mono_us() + (int64_t) run->timeout_ms * 1000;
    snprintf(run->method, sizeof run->method, "%s", o->method);
    run->result = probe_result_new(spec->asset_id);
    run->easy = curl_easy_init();
    run->url = strdup(spec->address ? spec->address : "");
    if (s_needs_body(o))
        run->body = malloc(PROBE_HTTP_BODY_MAX + 1);
    if (!run->result || !run->easy || !run->url || (s_needs_body(o) && !run->body)) {
        s_run_free(run);
        snprintf(err, errlen, "out of memory");
        return -ENOMEM;
    }
    if (run->body)
        run->body[0] = 0;
    CURL *e = run->easy;
    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(e, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L); /* s_follow does, with our lookups */
    curl_easy_setopt(e, CURLOPT_RESOLVER_START_FUNCTION, s_resolver_start);
    curl_easy_setopt(e, CURLOPT_RESOLVER_START_DATA, run);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_USERAGENT, "statusd-agent/" STATUSD_VERSION);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, s_write);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, run);
    curl_easy_setopt(e, CURLOPT_ERRORBUFFER, run->errbuf);
    curl_easy_setopt(e, CURLOPT_FORBID_REUSE, 1L); /* each probe measures a fresh connection */
    curl_easy_setopt(e, CURLOPT_CERTINFO, 1L);
    /* one trust store for every probe type: OpenSSL's SSL_CERT_FILE, as the tcp/tls probes */
    const char *ca = getenv("SSL_CERT_FILE");
    if (ca && *ca)
        curl_easy_setopt(e, CURLOPT_CAINFO, ca);
    if (!o->verify) {
        curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 0L);
        curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 0L);
    }
    if (o->http_version != CURL_HTTP_VERSION_NONE)
        curl_easy_setopt(e, CURLOPT_HTTP_VERSION, o->http_version);
    if (strcmp(o->method, "HEAD") == 0) {
        curl_easy_setopt(e, CURLOPT_NOBODY, 1L);
    } else if (strcmp(o->method, "GET") != 0) {
        curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, o->method);
        if (o->body) {
            curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE, (long) strlen(o->body));
            curl_easy_setopt(e, CURLOPT_POSTFIELDS, o->body);
        } else if (strcmp(o->method, "POST") == 0) {
            curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE, 0L);
            curl_easy_setopt(e, CURLOPT_POSTFIELDS, "");
        }
    }
    char why[PROBE_REASON_MAX];
    int rc = s_hop(run, why, sizeof why);
    if (rc < 0) {
        probe_format(err, errlen, "%s", why);
        s_run_free(run);
        return rc;
    }
    *run_out = run;
    return 0;
}

static void s_cancel(probe_run_t *run)
{
    if (!run)
        return;
    if (run->in_curl)
        curl_glue_remove(run->curl, run->easy);
    s_run_free(run); /* cancels a lookup in flight */
}

const struct probe_ops probe_http_ops = {
    .name = "http",
    .parse_options = s_parse_options,
    .free_options = s_free_options,
    .start = s_start,
    .cancel = s_cancel,
};
