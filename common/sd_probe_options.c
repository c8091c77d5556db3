/* The option tables of the probe types and their validation (see sd_probe_options.h). */
#include "sd_probe_options.h"

#include "sd_utf8.h"

#include <arpa/inet.h>
#include <errno.h>
#include <regex.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_DEPTH 8
/* messages quote config text: one line, cut at a character boundary with "…" */
#define TEXT (SD_UTF8_ONE_LINE | SD_UTF8_ELLIPSIS)
#define MAX_OPTION_STRING 65536 /* a request body, a send string */
#define MAX_HEADERS 32

typedef enum { K_STRING, K_BOOL, K_INT, K_ENUM, K_HEADERS, K_REGEX, K_HOST, K_ENUM_LIST,
               K_SERVER } kind_t;

typedef struct {
    const char *name;
    kind_t kind;
    long min, max;              /* K_INT */
    const char *const *values;  /* K_ENUM, NULL-terminated */
} opt_t;

typedef struct {
    const char *type;
    const opt_t *opts;          /* terminated by name NULL */
    const char *const *fields;  /* common + options, NULL-terminated */
} type_t;

static const char *const s_methods[] = {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS",
                                        NULL};
static const char *const s_http_versions[] = {"1.0", "1.1", "2", NULL};

static const opt_t s_http_opts[] = {
    {"method", K_ENUM, 0, 0, s_methods},
    {"headers", K_HEADERS, 0, 0, NULL},
    {"body", K_STRING, 0, 0, NULL},
    {"bodyContains", K_STRING, 0, 0, NULL},
    {"bodyNotContains", K_STRING, 0, 0, NULL},
    {"bodyRegex", K_REGEX, 0, 0, NULL},
    {"bodyNotRegex", K_REGEX, 0, 0, NULL},
    {"followRedirects", K_BOOL, 0, 0, NULL},
    {"maxRedirects", K_INT, 0, 50, NULL},
    {"tlsVerify", K_BOOL, 0, 0, NULL},
    {"httpVersion", K_ENUM, 0, 0, s_http_versions},
    {NULL, 0, 0, 0, NULL},
};
static const opt_t s_tcp_opts[] = {
    {"send", K_STRING, 0, 0, NULL},
    {"expect", K_STRING, 0, 0, NULL},
    {"tls", K_BOOL, 0, 0, NULL},
    {"tlsVerify", K_BOOL, 0, 0, NULL},
    {"serverName", K_HOST, 0, 0, NULL},
    {NULL, 0, 0, 0, NULL},
};
static const opt_t s_tls_opts[] = {
    {"serverName", K_HOST, 0, 0, NULL},
    {"minDaysValid", K_INT, 0, 3650, NULL},
    {"tlsVerify", K_BOOL, 0, 0, NULL},
    {NULL, 0, 0, 0, NULL},
};

static const char *const s_dns_types[] = {"A", "AAAA", "CNAME", "MX", "TXT", "NS", "SOA", "PTR",
                                          NULL};
static const char *const s_dns_rcodes[] = {"NOERROR", "FORMERR", "SERVFAIL", "NXDOMAIN", "NOTIMP",
                                           "REFUSED", "YXDOMAIN", "YXRRSET", "NXRRSET",
                                           "NOTAUTH", "NOTZONE", NULL};
static const char *const s_dns_transports[] = {"udp", "tcp", NULL};
static const opt_t s_dns_opts[] = {
    {"recordType", K_ENUM, 0, 0, s_dns_types},
    {"server", K_SERVER, 0, 0, NULL},
    {"validRcodes", K_ENUM_LIST, 0, 0, s_dns_rcodes},
    {"answerContains", K_STRING, 0, 0, NULL},
    {"transport", K_ENUM, 0, 0, s_dns_transports},
    {NULL, 0, 0, 0, NULL},
};
static const opt_t s_icmp_opts[] = {
    {"count", K_INT, 1, 100, NULL},
    {"intervalMs", K_INT, 10, 60000, NULL},
    {"maxLossPercent", K_INT, 0, 100, NULL},
    {NULL, 0, 0, 0, NULL},
};

#define COMMON_HEAD "id", "assetType", "name", "address", "intervalSeconds", "timeoutSeconds"
#define COMMON_TAIL "metadata", "locations", "quorum", "failureThreshold", "successThreshold", \
    "incidentIntervalSeconds", "degradedLatencyMs", "maxLatencyMs", "flapping"

static const char *const s_http_fields[] = {
    COMMON_HEAD, "expectedStatusCodes", COMMON_TAIL, "method", "headers", "body", "bodyContains",
    "bodyNotContains", "bodyRegex", "bodyNotRegex", "followRedirects", "maxRedirects",
    "tlsVerify", "httpVersion", NULL};
static const char *const s_tcp_fields[] = {COMMON_HEAD, COMMON_TAIL, "send", "expect", "tls",
                                           "tlsVerify", "serverName", NULL};
static const char *const s_tls_fields[] = {COMMON_HEAD, COMMON_TAIL, "serverName", "minDaysValid",
                                           "tlsVerify", NULL};

static const char *const s_dns_fields[] = {COMMON_HEAD, COMMON_TAIL, "recordType", "server",
                                           "validRcodes", "answerContains", "transport", NULL};
static const char *const s_icmp_fields[] = {COMMON_HEAD, COMMON_TAIL, "count", "intervalMs",
                                            "maxLossPercent", NULL};

static const type_t s_types[] = {
    {"http", s_http_opts, s_http_fields},
    {"tcp", s_tcp_opts, s_tcp_fields},
    {"tls", s_tls_opts, s_tls_fields},
    {"dns", s_dns_opts, s_dns_fields},
    {"icmp", s_icmp_opts, s_icmp_fields},
};
#define N_TYPES (sizeof s_types / sizeof s_types[0])
static const char *const s_type_names[] = {"http", "tcp", "tls", "dns", "icmp", NULL};

const char *const *sd_probe_types(void) { return s_type_names; }
const char *sd_probe_types_str(void) { return "http, tcp, tls, dns, icmp"; }

static const type_t *s_type(const char *name)
{
    for (size_t i = 0; name && i < N_TYPES; i++)
        if (strcmp(s_types[i].type, name) == 0)
            return &s_types[i];
    return NULL;
}

bool sd_probe_type_known(const char *type) { return s_type(type) != NULL; }

const char *const *sd_probe_asset_fields(const char *type)
{
    const type_t *t = s_type(type);
    return t ? t->fields : NULL;
}

/* ---- positions and messages ---------------------------------------------------------- */

typedef struct {
    const sd_probe_where_t *where; /* NULL: agent side */
    const char *type;
    sd_json_seg_t path[MAX_DEPTH];
    size_t depth;                  /* segments below the asset object */
    char *err;
    size_t errlen;
} vctx_t;

static int s_fail(vctx_t *v, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int s_fail(vctx_t *v, const char *fmt, ...)
{
    char msg[384], field[192] = "";
    va_list ap;
    va_start(ap, fmt);
    sd_utf8_vformat(msg, sizeof msg, TEXT, fmt, ap);
    va_end(ap);
    sd_json_seg_t full[2 * MAX_DEPTH];
    size_t n = 0;
    if (v->where)
        for (size_t i = 0; i < v->where->depth && n < MAX_DEPTH; i++)
            full[n++] = v->where->path[i];
    for (size_t i = 0; i < v->depth; i++)
        full[n++] = v->path[i];
    size_t o = 0;
    for (size_t i = 0; i < n && o < sizeof field; i++) {
        if (full[i].key)
            o += (size_t) snprintf(field + o, sizeof field - o, "%s%s", i ? "." : "", full[i].key);
        else
            o += (size_t) snprintf(field + o, sizeof field - o, "[%zu]", full[i].index);
    }
    if (v->where && v->where->text) {
        int line = 0, col = 0;
        sd_json_pos(v->where->text, v->where->len, full, n, 0, &line, &col);
        sd_utf8_format(v->err, v->errlen, TEXT, "%s:%d:%d: %s: %s", v->where->file, line, col,
                       field, msg);
    } else {
        sd_utf8_format(v->err, v->errlen, TEXT, "%s options: %s: %s", v->type, field, msg);
    }
    return -EINVAL;
}

static void s_push(vctx_t *v, const char *key, size_t index)
{
    if (v->depth < MAX_DEPTH) {
        v->path[v->depth].key = key;
        v->path[v->depth].index = index;
    }
    v->depth++;
}

static void s_pop(vctx_t *v) { v->depth--; }

static const char *s_type_name(const json_t *j)
{
    switch (json_typeof(j)) {
    case JSON_OBJECT: return "an object";
    case JSON_ARRAY: return "an array";
    case JSON_STRING: return "a string";
    case JSON_INTEGER: return "an integer";
    case JSON_REAL: return "a number with a fraction";
    case JSON_TRUE:
    case JSON_FALSE: return "a boolean";
    case JSON_NULL: return "null";
    }
    return "something else";
}

/* ---- one value -------------------------------------------------------------------------- */

static int s_valid_hostname(const char *h)
{
    size_t n = strlen(h);
    if (n == 0 || n > 253)
        return 0;
    for (const char *p = h; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
              *p == '-' || *p == '.' || *p == '_'))
            return 0;
    return 1;
}

static int s_check_string(vctx_t *v, json_t *j)
{
    if (!json_is_string(j) || json_string_length(j) == 0)
        return s_fail(v, "expected a non-empty string, got %s",
                      json_is_string(j) ? "an empty string" : s_type_name(j));
    if (json_string_length(j) > MAX_OPTION_STRING)
        return s_fail(v, "longer than %d bytes", MAX_OPTION_STRING);
    if (strlen(json_string_value(j)) != json_string_length(j))
        return s_fail(v, "contains a NUL character");
    return 0;
}

static int s_check_headers(vctx_t *v, json_t *j)
{
    if (!json_is_object(j))
        return s_fail(v, "expected an object of header strings, got %s", s_type_name(j));
    if (json_object_size(j) > MAX_HEADERS)
        return s_fail(v, "more than %d headers", MAX_HEADERS);
    const char *k;
    json_t *hv;
    json_object_foreach(j, k, hv) {
        s_push(v, k, 0);
        int rc = 0;
        if (!*k || strpbrk(k, "\r\n: \t"))
            rc = s_fail(v, "not a valid header name");
        else if (!json_is_string(hv))
            rc = s_fail(v, "expected a string, got %s", s_type_name(hv));
        else if (strpbrk(json_string_value(hv), "\r\n") || json_string_length(hv) > 4096)
            rc = s_fail(v, "expected one line of at most 4096 bytes");
        s_pop(v);
        if (rc)
            return rc;
    }
    return 0;
}

static int s_check_enum(vctx_t *v, const opt_t *o, json_t *j)
{
    char list[200] = "";
    size_t n = 0;
    for (const char *const *e = o->values; *e; e++) {
        if (json_is_string(j) && strcmp(*e, json_string_value(j)) == 0)
            return 0;
        if (n < sizeof list)
            n += (size_t) snprintf(list + n, sizeof list - n, "%s\"%s\"", n ? ", " : "", *e);
    }
    if (json_is_string(j))
        return s_fail(v, "\"%s\" is not one of %s", json_string_value(j), list);
    return s_fail(v, "expected one of %s, got %s", list, s_type_name(j));
}

static int s_check_enum_list(vctx_t *v, const opt_t *o, json_t *j)
{
    if (!json_is_array(j) || json_array_size(j) == 0 || json_array_size(j) > 16)
        return s_fail(v, "expected a list of 1 to 16 names, got %s",
                      json_is_array(j) ? "a list of another size" : s_type_name(j));
    size_t i;
    json_t *e;
    json_array_foreach(j, i, e) {
        s_push(v, NULL, i);
        int rc = s_check_enum(v, o, e);
        s_pop(v);
        if (rc)
            return rc;
    }
    return 0;
}

/* A DNS server: "ip", "ip:port" or "[ipv6]:port". */
static int s_check_server(vctx_t *v, json_t *j)
{
    int rc = s_check_string(v, j);
    if (rc)
        return rc;
    const char *s = json_string_value(j);
    unsigned char buf[sizeof(struct in6_addr)];
    if (inet_pton(AF_INET, s, buf) == 1 || inet_pton(AF_INET6, s, buf) == 1)
        return 0;
    char host[64], why[160];
    int port;
    if (sd_probe_split_hostport(s, host, sizeof host, &port, why, sizeof why) == 0 &&
        (inet_pton(AF_INET, host, buf) == 1 || inet_pton(AF_INET6, host, buf) == 1))
        return 0;
    return s_fail(v, "expected an IP address, \"ip:port\" or \"[ipv6]:port\", got \"%s\"", s);
}

static int s_check_value(vctx_t *v, const opt_t *o, json_t *j)
{
    int rc;
    switch (o->kind) {
    case K_ENUM_LIST:
        return s_check_enum_list(v, o, j);
    case K_SERVER:
        return s_check_server(v, j);
    case K_STRING:
        return s_check_string(v, j);
    case K_BOOL:
        return json_is_boolean(j) ? 0 : s_fail(v, "expected true or false, got %s", s_type_name(j));
    case K_INT:
        if (!json_is_integer(j))
            return s_fail(v, "expected an integer from %ld to %ld, got %s", o->min, o->max,
                          s_type_name(j));
        if (json_integer_value(j) < o->min || json_integer_value(j) > o->max)
            return s_fail(v, "expected an integer from %ld to %ld, got %lld", o->min, o->max,
                          (long long) json_integer_value(j));
        return 0;
    case K_ENUM:
        return s_check_enum(v, o, j);
    case K_HEADERS:
        return s_check_headers(v, j);
    case K_REGEX: {
        if ((rc = s_check_string(v, j)))
            return rc;
        regex_t re;
        int erc = regcomp(&re, json_string_value(j), REG_EXTENDED | REG_NOSUB);
        if (erc) {
            char why[128];
            regerror(erc, &re, why, sizeof why);
            regfree(&re);
            return s_fail(v, "invalid regular expression \"%s\": %s", json_string_value(j), why);
        }
        regfree(&re);
        return 0;
    }
    case K_HOST:
        if ((rc = s_check_string(v, j)))
            return rc;
        if (!s_valid_hostname(json_string_value(j)))
            return s_fail(v, "\"%s\" is not a host name", json_string_value(j));
        return 0;
    }
    return 0;
}

/* Rules between fields of one type. */
static int s_cross_checks(vctx_t *v, json_t *opts)
{
    if (strcmp(v->type, "http") == 0 && json_object_get(opts, "body")) {
        json_t *m = json_object_get(opts, "method");
        const char *meth = m ? json_string_value(m) : "GET";
        if (strcmp(meth, "POST") && strcmp(meth, "PUT") && strcmp(meth, "PATCH") &&
            strcmp(meth, "DELETE")) {
            s_push(v, "body", 0);
            int rc = s_fail(v, "method %s takes no body (use POST, PUT, PATCH or DELETE)", meth);
            s_pop(v);
            return rc;
        }
    }
    if (strcmp(v->type, "tcp") == 0 && !json_is_true(json_object_get(opts, "tls"))) {
        const char *const needs_tls[] = {"tlsVerify", "serverName"};
        for (size_t i = 0; i < 2; i++) {
            if (json_object_get(opts, needs_tls[i])) {
                s_push(v, needs_tls[i], 0);
                int rc = s_fail(v, "only used with \"tls\": true");
                s_pop(v);
                return rc;
            }
        }
    }
    return 0;
}

/* ---- public ------------------------------------------------------------------------------ */

int sd_probe_split_hostport(const char *addr, char *host, size_t hostlen, int *port, char *err,
                            size_t errlen)
{
    const char *colon, *h = addr;
    size_t hl;
    if (addr[0] == '[') {
        const char *end = strchr(addr, ']');
        if (!end || end[1] != ':') {
            sd_utf8_format(err, errlen, TEXT, "expected \"[ipv6]:port\", got \"%s\"", addr);
            return -EINVAL;
        }
        h = addr + 1;
        hl = (size_t) (end - h);
        colon = end + 1;
    } else {
        colon = strrchr(addr, ':');
        if (!colon || strchr(addr, ':') != colon) {
            sd_utf8_format(err, errlen, TEXT,
                           "expected \"host:port\" (IPv6 as \"[::1]:port\"), got \"%s\"",
                     addr);
            return -EINVAL;
        }
        hl = (size_t) (colon - addr);
    }
    if (hl == 0 || hl >= hostlen) {
        sd_utf8_format(err, errlen, TEXT, "expected \"host:port\" with a host, got \"%s\"", addr);
        return -EINVAL;
    }
    memcpy(host, h, hl);
    host[hl] = 0;
    char *end = NULL;
    long p = strtol(colon + 1, &end, 10);
    if (!colon[1] || *end || p < 1 || p > 65535) {
        sd_utf8_format(err, errlen, TEXT,
                       "expected a port from 1 to 65535 after the host, got \"%s\"", addr);
        return -EINVAL;
    }
    unsigned char buf[sizeof(struct in6_addr)];
    if (addr[0] == '[' ? inet_pton(AF_INET6, host, buf) != 1 : !s_valid_hostname(host)) {
        sd_utf8_format(err, errlen, TEXT, "\"%s\" is not a host name or IP address", host);
        return -EINVAL;
    }
    *port = (int) p;
    return 0;
}

static int s_check_options(vctx_t *v, const type_t *t, json_t *opts)
{
    const char *key;
    json_t *val;
    json_object_foreach(opts, key, val) {
        const opt_t *o = t->opts;
        while (o->name && strcmp(o->name, key))
            o++;
        s_push(v, key, 0);
        int rc;
        if (!o->name) {
            char list[256] = "";
            size_t n = 0;
            for (const opt_t *a = t->opts; a->name && n < sizeof list; a++)
                n += (size_t) snprintf(list + n, sizeof list - n, "%s%s", n ? ", " : "", a->name);
            rc = s_fail(v, "unknown option (allowed: %s)", list);
        } else {
            rc = s_check_value(v, o, val);
        }
        s_pop(v);
        if (rc)
            return rc;
    }
    return s_cross_checks(v, opts);
}

int sd_probe_options_check(const char *type, json_t *options, char *err, size_t errlen)
{
    vctx_t v = {.type = type ? type : "?", .err = err, .errlen = errlen};
    const type_t *t = s_type(type);
    if (!t) {
        sd_utf8_format(err, errlen, TEXT, "unknown probe type \"%s\"", type ? type : "");
        return -EINVAL;
    }
    if (!options)
        return 0;
    if (!json_is_object(options)) {
        sd_utf8_format(err, errlen, TEXT, "%s options: expected a JSON object, got %s", type,
                 s_type_name(options));
        return -EINVAL;
    }
    return s_check_options(&v, t, options);
}

int sd_probe_options_from_asset(const sd_probe_where_t *where, const char *type, json_t *asset,
                                json_t **options_out, char *err, size_t errlen)
{
    *options_out = NULL;
    vctx_t v = {.where = where, .type = type, .err = err, .errlen = errlen};
    const type_t *t = s_type(type);
    if (!t || !json_is_object(asset)) {
        sd_utf8_format(err, errlen, TEXT, "unknown probe type \"%s\"", type ? type : "");
        return -EINVAL;
    }
    json_t *addr = json_object_get(asset, "address");
    if ((strcmp(type, "tcp") == 0 || strcmp(type, "tls") == 0) && json_is_string(addr)) {
        char host[256], why[200];
        int port;
        if (sd_probe_split_hostport(json_string_value(addr), host, sizeof host, &port, why,
                                    sizeof why)) {
            s_push(&v, "address", 0);
            return s_fail(&v, "a %s asset needs host:port: %s", type, why);
        }
    }
    if ((strcmp(type, "dns") == 0 || strcmp(type, "icmp") == 0) && json_is_string(addr)) {
        const char *a = json_string_value(addr);
        unsigned char buf[sizeof(struct in6_addr)];
        bool literal = inet_pton(AF_INET, a, buf) == 1 || inet_pton(AF_INET6, a, buf) == 1;
        if (!literal && !s_valid_hostname(a)) {
            s_push(&v, "address", 0);
            bool icmp = strcmp(type, "icmp") == 0;
            return s_fail(&v, "%s %s asset needs a host name%s, got \"%s\"", icmp ? "an" : "a",
                          type, icmp ? " or an IP address" : " to query", a);
        }
    }
    json_t *opts = json_object();
    if (!opts)
        return -ENOMEM;
    for (const opt_t *o = t->opts; o->name; o++) {
        json_t *j = json_object_get(asset, o->name);
        if (j && json_object_set(opts, o->name, j)) {
            json_decref(opts);
            return -ENOMEM;
        }
    }
    int rc = s_check_options(&v, t, opts);
    if (rc || json_object_size(opts) == 0) {
        json_decref(opts);
        return rc;
    }
    *options_out = opts;
    return 0;
}
