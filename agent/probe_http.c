/* http/https probe, the seed's semantics by default: GET the address (following up to 10
 * redirects, like Go's http.Client), give up after timeout_ms, success when the final status is
 * in expected_status_codes, or < 400 when that list is empty. Options (validated by
 * sd_probe_options.c; all optional):
 *   method (GET HEAD POST PUT PATCH DELETE OPTIONS), headers {name: value}, body,
 *   bodyContains, bodyNotContains, bodyRegex, bodyNotRegex (POSIX ERE), followRedirects
 *   (true), maxRedirects (10), tlsVerify (true), httpVersion ("1.0", "1.1", "2").
 * Body checks look at the first PROBE_HTTP_BODY_MAX bytes; on https the server certificate's
 * notAfter becomes cert_expiry_unix. A host name in the URL is resolved by the loop's c-ares
 * resolver first (the dns phase is ours) and handed to libcurl with CURLOPT_RESOLVE, so
 * libcurl's threaded resolver is not used for it. */
#include "probe.h"
#include "sd_probe_options.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <errno.h>
#include <jansson.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
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
    int64_t dns_us;              /* our lookup, 0 for literals */
    resolver_query_t *dnsq;      /* the lookup in flight, before the transfer starts */
    struct curl_slist *resolve;  /* CURLOPT_RESOLVE "host:port:addr" */
    char host[256];
    int port;
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
        snprintf(why, sizeof why, "http options: invalid JSON: %.80s", je.text);
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
    snprintf(o->invalid, sizeof o->invalid, "%s", why);
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
    char trunc[48] = "";
    if (run->body_capped)
        snprintf(trunc, sizeof trunc, " (first %d bytes read)", PROBE_HTTP_BODY_MAX);
    if (o->contains && !memmem(body, run->body_len, o->contains, strlen(o->contains))) {
        probe_result_set_reason(r, "body does not contain \"%.60s\"%s", o->contains, trunc);
        return false;
    }
    if (o->not_contains && memmem(body, run->body_len, o->not_contains, strlen(o->not_contains))) {
        probe_result_set_reason(r, "body contains forbidden \"%.60s\"%s", o->not_contains, trunc);
        return false;
    }
    /* regexec stops at a NUL byte in the body: text bodies are what these checks are for */
    if (o->has_re && regexec(&o->re, body, 0, NULL, 0) != 0) {
        probe_result_set_reason(r, "body does not match regex \"%.60s\"%s", o->re_src, trunc);
        return false;
    }
    if (o->has_not_re && regexec(&o->not_re, body, 0, NULL, 0) == 0) {
        probe_result_set_reason(r, "body matches forbidden regex \"%.60s\"%s", o->not_re_src,
                                trunc);
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

static void s_verdict(struct probe_run *run, CURLcode rc)
{
    probe_result_t *r = run->result;
    CURL *e = run->easy;
    long status = 0;
    curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &status);
    r->status_code = (int32_t) status;

    curl_off_t dns = 0, conn = 0, app = 0, ttfb = 0, total = 0;
    curl_easy_getinfo(e, CURLINFO_NAMELOOKUP_TIME_T, &dns);
    curl_easy_getinfo(e, CURLINFO_CONNECT_TIME_T, &conn);
    curl_easy_getinfo(e, CURLINFO_APPCONNECT_TIME_T, &app);
    curl_easy_getinfo(e, CURLINFO_STARTTRANSFER_TIME_T, &ttfb);
    curl_easy_getinfo(e, CURLINFO_TOTAL_TIME_T, &total);
    total += run->dns_us;
    r->latency_us = total > UINT32_MAX ? UINT32_MAX : (uint32_t) total;
    probe_result_add_phase(r, "dns", dns + run->dns_us);
    if (conn > 0)
        probe_result_add_phase(r, "connect", conn - dns);
    if (app > 0)
        probe_result_add_phase(r, "tls", app - conn);
    if (ttfb > 0) {
        probe_result_add_phase(r, "processing", ttfb - (app > 0 ? app : conn));
        probe_result_add_phase(r, "transfer", total - run->dns_us - ttfb);
    }

    r->cert_expiry_unix = s_cert_expiry(e);
    if (rc == CURLE_WRITE_ERROR && run->body_capped)
        rc = CURLE_OK;
    if (rc != CURLE_OK) {
        long oserr = 0;
        curl_easy_getinfo(e, CURLINFO_OS_ERRNO, &oserr);
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
            probe_result_set_reason(r, "dns: %s", run->errbuf);
            break;
        case CURLE_TOO_MANY_REDIRECTS:
            probe_result_set_reason(r, "stopped after %ld redirects", run->o->max_redirects);
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
        r->success = false;
        return;
    }
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
    probe_result_destroy(&run->result);
    free(run->body);
    free(run);
}

/* Hands the result over and frees the run. */
static void s_deliver(struct probe_run *run)
{
    probe_result_t *r = run->result;
    run->result = NULL;
    probe_done_fn *done = run->done;
    void *dctx = run->ctx;
    s_run_free(run);
    done(r, dctx);
}

static void s_done(CURL *easy, CURLcode rc, void *ctx)
{
    struct probe_run *run = ctx;
    s_verdict(run, rc);
    s_deliver(run);
}

/* The host of the URL when it is a name to resolve ("localhost" and literals are not: libcurl
 * resolves them without a lookup), with the port; 0 when there is nothing to resolve. */
static int s_url_host(const char *url, char *host, size_t hostlen, int *port)
{
    CURLU *u = curl_url();
    char *h = NULL, *p = NULL;
    int rc = 0;
    if (u && curl_url_set(u, CURLUPART_URL, url, 0) == CURLUE_OK &&
        curl_url_get(u, CURLUPART_HOST, &h, 0) == CURLUE_OK &&
        curl_url_get(u, CURLUPART_PORT, &p, CURLU_DEFAULT_PORT) == CURLUE_OK && h[0] != '[' &&
        strlen(h) < hostlen) {
        struct sockaddr_storage ss;
        socklen_t sl;
        char err[8];
        *port = atoi(p);
        if (resolver_literal(h, *port, &ss, &sl, err, sizeof err) == -EAGAIN) {
            snprintf(host, hostlen, "%s", h);
            rc = 1;
        }
    }
    curl_free(h);
    curl_free(p);
    curl_url_cleanup(u);
    return rc;
}

static int s_add_transfer(struct probe_run *run)
{
    return curl_glue_add(run->curl, run->easy, s_done, run);
}

/* The resolver's answer: pin the address with CURLOPT_RESOLVE and start the transfer. */
static void s_on_resolved(const resolver_answer_t *a, void *ctx)
{
    struct probe_run *run = ctx;
    run->dnsq = NULL;
    run->dns_us = a->duration_us;
    if (a->status < 0) {
        run->result->success = false;
        run->result->latency_us = (uint32_t) (a->duration_us > 0 ? a->duration_us : 0);
        probe_result_add_phase(run->result, "dns", a->duration_us);
        probe_result_set_reason(run->result, "%s", a->reason);
        s_deliver(run);
        return;
    }
    char ip[INET6_ADDRSTRLEN], line[600];
    const struct sockaddr_storage *ss = &a->addrs[0];
    int v6 = ss->ss_family == AF_INET6;
    inet_ntop(ss->ss_family,
              v6 ? (const void *) &((const struct sockaddr_in6 *) ss)->sin6_addr
                 : (const void *) &((const struct sockaddr_in *) ss)->sin_addr,
              ip, sizeof ip);
    snprintf(line, sizeof line, "%s:%d:%s%s%s", run->host, run->port, v6 ? "[" : "", ip,
             v6 ? "]" : "");
    run->resolve = curl_slist_append(NULL, line);
    int64_t left = (int64_t) run->timeout_ms - a->duration_us / 1000;
    curl_easy_setopt(run->easy, CURLOPT_RESOLVE, run->resolve);
    curl_easy_setopt(run->easy, CURLOPT_TIMEOUT_MS, (long) (left > 1 ? left : 1));
    if (!run->resolve || s_add_transfer(run) < 0) {
        run->result->success = false;
        probe_result_set_reason(run->result, "cannot start transfer");
        s_deliver(run);
    }
}

static int s_start(const probe_env_t *env, const probe_spec_t *spec, const void *opts,
                   probe_done_fn *done, void *ctx, probe_run_t **run_out, char *err,
                   size_t errlen)
{
    static const s_opts_t defaults = {.method = "GET", .follow = true, .max_redirects = 10,
                                      .verify = true};
    const s_opts_t *o = opts ? opts : &defaults;
    if (o->invalid[0]) {
        snprintf(err, errlen, "invalid options: %s", o->invalid);
        return -EINVAL;
    }
    struct probe_run *run = calloc(1, sizeof *run);
    if (!run)
        return -ENOMEM;
    run->curl = env->curl;
    run->spec = spec;
    run->o = o;
    run->done = done;
    run->ctx = ctx;
    run->timeout_ms = spec->timeout_ms ? spec->timeout_ms : 10000;
    run->result = probe_result_new(spec->asset_id);
    run->easy = curl_easy_init();
    if (s_needs_body(o))
        run->body = malloc(PROBE_HTTP_BODY_MAX + 1);
    if (!run->result || !run->easy || (s_needs_body(o) && !run->body)) {
        probe_result_destroy(&run->result);
        if (run->easy)
            curl_easy_cleanup(run->easy);
        free(run->body);
        free(run);
        snprintf(err, errlen, "out of memory");
        return -ENOMEM;
    }
    if (run->body)
        run->body[0] = 0;
    CURL *e = run->easy;
    curl_easy_setopt(e, CURLOPT_URL, spec->address);
    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(e, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, o->follow ? 1L : 0L);
    curl_easy_setopt(e, CURLOPT_MAXREDIRS, o->max_redirects);
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long) run->timeout_ms);
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
    if (o->headers)
        curl_easy_setopt(e, CURLOPT_HTTPHEADER, o->headers);
    int rc;
    resolver_t *res = probe_resolver(env);
    if (res && s_url_host(spec->address, run->host, sizeof run->host, &run->port))
        rc = resolver_resolve(res, run->host, run->port, RESOLVER_ANY, run->timeout_ms,
                              s_on_resolved, run, &run->dnsq);
    else
        rc = s_add_transfer(run);
    if (rc < 0) {
        snprintf(err, errlen, "cannot start transfer");
        probe_result_destroy(&run->result);
        curl_easy_cleanup(e);
        free(run->body);
        free(run);
        return rc;
    }
    *run_out = run;
    return 0;
}

static void s_cancel(probe_run_t *run)
{
    if (!run)
        return;
    if (!run->dnsq)
        curl_glue_remove(run->curl, run->easy);
    s_run_free(run);
}

const struct probe_ops probe_http_ops = {
    .name = "http",
    .parse_options = s_parse_options,
    .free_options = s_free_options,
    .start = s_start,
    .cancel = s_cancel,
};
