/* http/https probe, the seed's semantics: GET the address (following up to 10 redirects,
 * like Go's http.Client), give up after timeout_ms, success when the final status is in
 * expected_status_codes, or < 400 when that list is empty. The body is read and discarded
 * (at most PROBE_HTTP_BODY_MAX bytes). Options (JSON object, all optional):
 *   {"method": "GET"|"HEAD", "headers": {"Name": "value", ...}} */
#include "probe.h"

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PROBE_HTTP_BODY_MAX (1024 * 1024)
#define PROBE_HTTP_MAX_HEADERS 32

typedef struct {
    bool head;
    struct curl_slist *headers;
} s_opts_t;

struct probe_run {
    CURL *easy;
    curl_glue_t *curl;
    const probe_spec_t *spec;
    probe_done_fn *done;
    void *ctx;
    probe_result_t *result;
    size_t body_bytes;
    bool body_capped;
    uint32_t timeout_ms;
    char errbuf[CURL_ERROR_SIZE];
};

static void s_free_options(void *opts)
{
    s_opts_t *o = opts;
    if (!o)
        return;
    curl_slist_free_all(o->headers);
    free(o);
}

static int s_parse_options(const char *json, void **out, char *err, size_t errlen)
{
    *out = NULL;
    if (!json || !*json)
        return 0;
    json_error_t je;
    json_t *root = json_loads(json, 0, &je);
    if (!root || !json_is_object(root)) {
        snprintf(err, errlen, "http options: expected a JSON object");
        json_decref(root);
        return -EINVAL;
    }
    s_opts_t *o = calloc(1, sizeof *o);
    if (!o) {
        json_decref(root);
        return -ENOMEM;
    }
    int rc = 0;
    const char *key;
    json_t *v;
    json_object_foreach(root, key, v)
    {
        if (strcmp(key, "method") == 0 && json_is_string(v) &&
            (strcmp(json_string_value(v), "GET") == 0 || strcmp(json_string_value(v), "HEAD") == 0)) {
            o->head = strcmp(json_string_value(v), "HEAD") == 0;
        } else if (strcmp(key, "headers") == 0 && json_is_object(v) &&
                   json_object_size(v) <= PROBE_HTTP_MAX_HEADERS) {
            const char *hk;
            json_t *hv;
            json_object_foreach(v, hk, hv)
            {
                char line[1024];
                if (!json_is_string(hv) || strpbrk(hk, "\r\n:") ||
                    strpbrk(json_string_value(hv), "\r\n")) {
                    snprintf(err, errlen, "http options: headers.%s: expected a one-line string", hk);
                    rc = -EINVAL;
                    break;
                }
                snprintf(line, sizeof line, "%s: %s", hk, json_string_value(hv));
                struct curl_slist *l = curl_slist_append(o->headers, line);
                if (!l) {
                    rc = -ENOMEM;
                    break;
                }
                o->headers = l;
            }
        } else {
            snprintf(err, errlen, "http options: %s: unknown or invalid field", key);
            rc = -EINVAL;
        }
        if (rc)
            break;
    }
    json_decref(root);
    if (rc) {
        s_free_options(o);
        return rc;
    }
    *out = o;
    return 0;
}

static size_t s_write(char *data, size_t size, size_t nmemb, void *userp)
{
    struct probe_run *run = userp;
    size_t n = size * nmemb;
    run->body_bytes += n;
    if (run->body_bytes > PROBE_HTTP_BODY_MAX) {
        run->body_capped = true;
        return 0; /* stop reading: the status is known, the rest is not needed */
    }
    return n;
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
    r->latency_us = total > UINT32_MAX ? UINT32_MAX : (uint32_t) total;
    probe_result_add_phase(r, "dns", dns);
    if (conn > 0)
        probe_result_add_phase(r, "connect", conn - dns);
    if (app > 0)
        probe_result_add_phase(r, "tls", app - conn);
    if (ttfb > 0) {
        probe_result_add_phase(r, "processing", ttfb - (app > 0 ? app : conn));
        probe_result_add_phase(r, "transfer", total - ttfb);
    }

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
            probe_result_set_reason(r, "stopped after 10 redirects");
            break;
        case CURLE_PEER_FAILED_VERIFICATION:
        case CURLE_SSL_CONNECT_ERROR:
        case CURLE_SSL_CERTPROBLEM:
        case CURLE_SSL_CACERT_BADFILE:
            probe_result_set_reason(r, "tls: %s", run->errbuf);
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
    if (s->n_expected_status_codes == 0) {
        r->success = status < 400;
        if (!r->success)
            probe_result_set_reason(r, "status %ld >= 400", status);
        return;
    }
    for (size_t i = 0; i < s->n_expected_status_codes; i++)
        if ((long) s->expected_status_codes[i] == status) {
            r->success = true;
            return;
        }
    char list[96] = "";
    size_t len = 0;
    for (size_t i = 0; i < s->n_expected_status_codes && len < sizeof list - 16; i++)
        len += (size_t) snprintf(list + len, sizeof list - len, "%s%u", i ? "," : "",
                                 s->expected_status_codes[i]);
    if (len >= sizeof list - 16 && s->n_expected_status_codes > 0)
        snprintf(list + len, sizeof list - len, ",...");
    probe_result_set_reason(r, "status %ld not in [%s]", status, list);
    r->success = false;
}

static void s_done(CURL *easy, CURLcode rc, void *ctx)
{
    struct probe_run *run = ctx;
    s_verdict(run, rc);
    probe_result_t *r = run->result;
    probe_done_fn *done = run->done;
    void *dctx = run->ctx;
    curl_easy_cleanup(run->easy);
    free(run);
    done(r, dctx);
}

static int s_start(const probe_env_t *env, const probe_spec_t *spec, const void *opts,
                   probe_done_fn *done, void *ctx, probe_run_t **run_out, char *err,
                   size_t errlen)
{
    const s_opts_t *o = opts;
    struct probe_run *run = calloc(1, sizeof *run);
    if (!run)
        return -ENOMEM;
    run->curl = env->curl;
    run->spec = spec;
    run->done = done;
    run->ctx = ctx;
    run->timeout_ms = spec->timeout_ms ? spec->timeout_ms : 10000;
    run->result = probe_result_new(spec->asset_id);
    run->easy = curl_easy_init();
    if (!run->result || !run->easy) {
        probe_result_destroy(&run->result);
        if (run->easy)
            curl_easy_cleanup(run->easy);
        free(run);
        snprintf(err, errlen, "out of memory");
        return -ENOMEM;
    }
    CURL *e = run->easy;
    curl_easy_setopt(e, CURLOPT_URL, spec->address);
    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(e, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 1L);
    curl_easy_setopt(e, CURLOPT_MAXREDIRS, 10L);
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long) run->timeout_ms);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_USERAGENT, "statusd-agent/" STATUSD_VERSION);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, s_write);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, run);
    curl_easy_setopt(e, CURLOPT_ERRORBUFFER, run->errbuf);
    curl_easy_setopt(e, CURLOPT_FORBID_REUSE, 1L); /* each probe measures a fresh connection */
    if (o && o->head)
        curl_easy_setopt(e, CURLOPT_NOBODY, 1L);
    if (o && o->headers)
        curl_easy_setopt(e, CURLOPT_HTTPHEADER, o->headers);
    int rc = curl_glue_add(env->curl, e, s_done, run);
    if (rc < 0) {
        snprintf(err, errlen, "cannot start transfer");
        probe_result_destroy(&run->result);
        curl_easy_cleanup(e);
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
    curl_glue_remove(run->curl, run->easy);
    curl_easy_cleanup(run->easy);
    probe_result_destroy(&run->result);
    free(run);
}

const struct probe_ops probe_http_ops = {
    .name = "http",
    .parse_options = s_parse_options,
    .free_options = s_free_options,
    .start = s_start,
    .cancel = s_cancel,
};
