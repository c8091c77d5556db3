#include "sd_config.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "sd_json_pos.h"
#include "sd_limits.h"
#include "sd_probe_options.h"
#include "sd_utf8.h"

#define MAX_CONFIG_BYTES (16u * 1024 * 1024)
#define MAX_ASSETS 100000
#define MAX_PATH 8
#define MAX_MAINTENANCE 1000
#define MAX_FLAP_PERCENT 100
#define MAX_RECOVERY_HOLD_S 3600
#define MAX_LATENCY_MS 3600000
#define SD_CONFIG_ROUTES_MAX 1000

/* Where the validator is: the file, its text, and the JSON path of the current field. */
typedef struct {
    const char *file;
    const char *text;
    size_t len;
    sd_json_seg_t path[MAX_PATH];
    size_t depth;
    char *err;
    size_t errlen;
} vctx_t;

/* s as quoted in an error message: at most len - 1 bytes, one line, cut at a character
 * boundary with "…" (a key or value may be kilobytes long). Returns buf. */
static const char *s_excerpt(const char *s, char *buf, size_t len)
{
    sd_utf8_scopy(buf, len, s, SD_UTF8_ONE_LINE | SD_UTF8_ELLIPSIS);
    return buf;
}

static void s_path_str(const vctx_t *v, size_t n, char *buf, size_t len)
{
    size_t o = 0;
    buf[0] = 0;
    for (size_t i = 0; i < n && o < len; i++) {
        char key[64];
        if (v->path[i].key)
            sd_utf8_format(buf + o, len - o, 0, "%s%s", i ? "." : "",
                           s_excerpt(v->path[i].key, key, sizeof key));
        else
            snprintf(buf + o, len - o, "[%zu]", v->path[i].index);
        o += strlen(buf + o);
    }
}

/* Formats "file:line:col: path: message" for the field at the current path. want_key points
 * at the key (unknown field), missing points at the enclosing object. */
static int s_fail(vctx_t *v, int want_key, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int s_fail(vctx_t *v, int want_key, const char *fmt, ...)
{
    int line = 0, col = 0;
    sd_json_pos(v->text, v->len, v->path, v->depth, want_key, &line, &col);
    char path[256];
    s_path_str(v, v->depth, path, sizeof path);
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    sd_utf8_vformat(msg, sizeof msg, SD_UTF8_ONE_LINE | SD_UTF8_ELLIPSIS, fmt, ap);
    va_end(ap);
    sd_utf8_format(v->err, v->errlen, SD_UTF8_ELLIPSIS, "%s:%d:%d: %s: %s", v->file, line, col,
                   path[0] ? path : "(root)", msg);
    return -EINVAL;
}

static void s_push_key(vctx_t *v, const char *key)
{
    v->path[v->depth].key = key;
    v->path[v->depth].index = 0;
    v->depth++;
}

static void s_push_index(vctx_t *v, size_t i)
{
    v->path[v->depth].key = NULL;
    v->path[v->depth].index = i;
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

/* Rejects members of obj not in allowed (NULL-terminated). */
static int s_check_keys(vctx_t *v, json_t *obj, const char *const *allowed)
{
    const char *key;
    json_t *val;
    json_object_foreach(obj, key, val) {
        int ok = 0;
        for (const char *const *a = allowed; *a; a++)
            ok |= strcmp(*a, key) == 0;
        if (!ok) {
            char list[512];
            size_t o = 0;
            list[0] = 0;
            for (const char *const *a = allowed; *a && o < sizeof list; a++)
                o += (size_t) snprintf(list + o, sizeof list - o, "%s%s", a == allowed ? "" : ", ", *a);
            s_push_key(v, key);
            int rc = s_fail(v, 1, "unknown field (allowed: %s)", list);
            s_pop(v);
            return rc;
        }
    }
    return 0;
}

/* Fetches member key; if required and absent, fails naming the field at the object. */
static json_t *s_member(vctx_t *v, json_t *obj, const char *key, int required, int *rc)
{
    json_t *j = json_object_get(obj, key);
    if (!j && required) {
        s_push_key(v, key);
        *rc = s_fail(v, 0, "missing required field");
        s_pop(v);
    }
    return j;
}

static int s_get_string(vctx_t *v, json_t *obj, const char *key, int required, char **out)
{
    int rc = 0;
    json_t *j = s_member(v, obj, key, required, &rc);
    if (rc)
        return rc;
    if (!j)
        return 0;
    s_push_key(v, key);
    if (!json_is_string(j) || json_string_length(j) == 0) {
        rc = s_fail(v, 0, "expected a non-empty string, got %s",
                    json_is_string(j) ? "an empty string" : s_type_name(j));
        s_pop(v);
        return rc;
    }
    s_pop(v);
    *out = strdup(json_string_value(j));
    return *out ? 0 : -ENOMEM;
}

static int s_get_int(vctx_t *v, json_t *obj, const char *key, int required, long min, long max,
                     int *out)
{
    int rc = 0;
    json_t *j = s_member(v, obj, key, required, &rc);
    if (rc)
        return rc;
    if (!j)
        return 0;
    s_push_key(v, key);
    if (!json_is_integer(j)) {
        rc = s_fail(v, 0, "expected an integer from %ld to %ld, got %s", min, max, s_type_name(j));
    } else if (json_integer_value(j) < min || json_integer_value(j) > max) {
        rc = s_fail(v, 0, "expected an integer from %ld to %ld, got %lld", min, max,
                    (long long) json_integer_value(j));
    } else {
        *out = (int) json_integer_value(j);
    }
    s_pop(v);
    return rc;
}

/* An id-like string (region, name of a thing, an object's key when is_key) longer than
 * SD_CONFIG_ID_MAX characters is an error at the current path. */
static int s_check_id_len(vctx_t *v, const char *s, int is_key)
{
    size_t chars = sd_utf8_chars(s, strlen(s));
    if (chars <= SD_CONFIG_ID_MAX)
        return 0;
    return s_fail(v, is_key, "expected at most %d characters, got %zu", SD_CONFIG_ID_MAX, chars);
}

/* Free text from the file made one line and cut to SD_CONFIG_NAME_MAX_CHARS characters and
 * SD_CONFIG_NAME_MAX_BYTES bytes, at a character boundary with "…". 0 or -ENOMEM. */
static int s_bound_text(char **s)
{
    size_t len = strlen(*s), chars = 0, last = 0;
    for (size_t i = 0; i < len; i++) {
        if (((unsigned char) (*s)[i] & 0xC0) == 0x80)
            continue; /* valid UTF-8 (jansson): each byte but a continuation starts one */
        if (++chars == SD_CONFIG_NAME_MAX_CHARS)
            last = i;
    }
    bool over = chars > SD_CONFIG_NAME_MAX_CHARS;
    size_t keep = over ? last : len; /* over: the characters before the last one allowed */
    size_t cap = keep + (over ? 3 : 0) + 1;
    bool bytes = cap > SD_CONFIG_NAME_MAX_BYTES + 1; /* then the byte bound cuts first */
    char *b = malloc(bytes ? SD_CONFIG_NAME_MAX_BYTES + 1 : cap);
    if (!b)
        return -ENOMEM;
    if (bytes) {
        sd_utf8_copy(b, SD_CONFIG_NAME_MAX_BYTES + 1, *s, len,
                     SD_UTF8_ONE_LINE | SD_UTF8_ELLIPSIS);
    } else {
        sd_utf8_copy(b, cap, *s, keep, SD_UTF8_ONE_LINE);
        if (over)
            memcpy(b + keep, "\xE2\x80\xA6", 4); /* "…" and the NUL */
    }
    free(*s);
    *s = b;
    return 0;
}

static int s_get_string_list(vctx_t *v, json_t *obj, const char *key, bool ids, char ***out,
                             size_t *n)
{
    json_t *j = json_object_get(obj, key);
    if (!j)
        return 0;
    int rc = 0;
    s_push_key(v, key);
    if (!json_is_array(j)) {
        rc = s_fail(v, 0, "expected an array of strings, got %s", s_type_name(j));
        s_pop(v);
        return rc;
    }
    size_t cnt = json_array_size(j);
    *out = calloc(cnt ? cnt : 1, sizeof(char *));
    if (!*out) {
        s_pop(v);
        return -ENOMEM;
    }
    for (size_t i = 0; i < cnt; i++) {
        json_t *e = json_array_get(j, i);
        if (!json_is_string(e) || json_string_length(e) == 0) {
            s_push_index(v, i);
            rc = s_fail(v, 0, "expected a non-empty string, got %s",
                        json_is_string(e) ? "an empty string" : s_type_name(e));
            s_pop(v);
            break;
        }
        if (ids) {
            s_push_index(v, i);
            rc = s_check_id_len(v, json_string_value(e), 0);
            s_pop(v);
            if (rc)
                break;
        }
        (*out)[i] = strdup(json_string_value(e));
        *n = i + 1;
    }
    s_pop(v);
    return rc;
}

static int s_load_file(const char *path, char **text, size_t *len, char *err, size_t errlen)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(err, errlen, "%s: cannot open: %s", path, strerror(errno));
        return -errno;
    }
    size_t cap = 65536, n = 0;
    char *buf = malloc(cap + 1);
    while (buf) {
        size_t got = fread(buf + n, 1, cap - n, f);
        n += got;
        if (n < cap)
            break;
        if (cap >= MAX_CONFIG_BYTES) {
            fclose(f);
            free(buf);
            snprintf(err, errlen, "%s: file larger than %u bytes", path, MAX_CONFIG_BYTES);
            return -EFBIG;
        }
        cap *= 2;
        char *nb = realloc(buf, cap + 1);
        if (!nb)
            free(buf);
        buf = nb;
    }
    int bad = ferror(f);
    fclose(f);
    if (!buf)
        return -ENOMEM;
    if (bad) {
        free(buf);
        snprintf(err, errlen, "%s: read error", path);
        return -EIO;
    }
    buf[n] = 0;
    *text = buf;
    *len = n;
    return 0;
}

static json_t *s_parse_json(const char *file, const char *text, size_t len, char *err, size_t errlen)
{
    json_error_t je;
    json_t *root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &je);
    if (!root)
        sd_utf8_format(err, errlen, SD_UTF8_ONE_LINE | SD_UTF8_ELLIPSIS,
                       "%s:%d:%d: invalid JSON: %s", file, je.line, je.column, je.text);
    return root;
}

/* ---- manifest ------------------------------------------------------------------------- */

/* The fields an asset may carry and the probe types are per type: sd_probe_options.h. */

static void s_asset_free(sd_asset_t *a)
{
    free(a->id);
    free(a->asset_type);
    free(a->name);
    free(a->address);
    free(a->expected_status_codes);
    json_decref(a->metadata);
    for (size_t i = 0; i < a->n_locations; i++)
        free(a->locations[i]);
    free(a->locations);
    json_decref(a->options);
}

static int s_valid_id(const char *id)
{
    size_t n = strlen(id);
    if (n == 0 || n > SD_CONFIG_ID_MAX)
        return 0;
    for (const char *p = id; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
              strchr("-_.:", *p)))
            return 0;
    return 1;
}

/* A "flapping" block (the manifest's or an asset's): the keys present are written, the
 * others left as they are; a low threshold at or above the high one (both given here) is an
 * error. */
static int s_parse_flap_block(vctx_t *v, json_t *f, int *high, int *low, int *hold)
{
    static const char *const keys[] = {"highThreshold", "lowThreshold", "recoveryHoldSeconds",
                                       NULL};
    int rc;
    if (!f)
        return 0;
    s_push_key(v, "flapping");
    if (!json_is_object(f))
        return s_fail(v, 0, "expected an object, got %s", s_type_name(f));
    if ((rc = s_check_keys(v, f, keys)) ||
        (rc = s_get_int(v, f, "highThreshold", 0, 1, MAX_FLAP_PERCENT, high)) ||
        (rc = s_get_int(v, f, "lowThreshold", 0, 1, MAX_FLAP_PERCENT, low)) ||
        (rc = s_get_int(v, f, "recoveryHoldSeconds", 0, 0, MAX_RECOVERY_HOLD_S, hold)))
        return rc;
    if (*low >= 0 && *high >= 0 && *low >= *high) {
        s_push_key(v, "lowThreshold");
        return s_fail(v, 0, "%d must be below highThreshold (%d)", *low, *high);
    }
    s_pop(v);
    return 0;
}

static int s_parse_asset_extras(vctx_t *v, json_t *o, sd_asset_t *a)
{
    int rc;
    json_t *codes = json_object_get(o, "expectedStatusCodes");
    if (codes) {
        s_push_key(v, "expectedStatusCodes");
        if (!json_is_array(codes) || json_array_size(codes) == 0) {
            rc = s_fail(v, 0, "expected a non-empty array of HTTP status codes, got %s",
                        json_is_array(codes) ? "an empty array" : s_type_name(codes));
            s_pop(v);
            return rc;
        }
        a->n_expected_status_codes = json_array_size(codes);
        a->expected_status_codes = calloc(a->n_expected_status_codes, sizeof(int));
        if (!a->expected_status_codes)
            return -ENOMEM;
        for (size_t i = 0; i < a->n_expected_status_codes; i++) {
            json_t *c = json_array_get(codes, i);
            if (!json_is_integer(c) || json_integer_value(c) < 100 || json_integer_value(c) > 599) {
                s_push_index(v, i);
                rc = s_fail(v, 0, "expected an HTTP status code from 100 to 599");
                return rc;
            }
            a->expected_status_codes[i] = (int) json_integer_value(c);
        }
        s_pop(v);
    }
    json_t *md = json_object_get(o, "metadata");
    if (md) {
        s_push_key(v, "metadata");
        if (!json_is_object(md)) {
            rc = s_fail(v, 0, "expected an object of strings, got %s", s_type_name(md));
            s_pop(v);
            return rc;
        }
        if (json_object_size(md) > SD_CONFIG_META_MAX) {
            rc = s_fail(v, 0, "more than %d entries", SD_CONFIG_META_MAX);
            s_pop(v);
            return rc;
        }
        const char *k;
        json_t *val;
        json_object_foreach(md, k, val) {
            s_push_key(v, k);
            if ((rc = s_check_id_len(v, k, 1)))
                return rc;
            if (!json_is_string(val))
                return s_fail(v, 0, "expected a string, got %s", s_type_name(val));
            if (json_string_length(val) > SD_CONFIG_META_VALUE_MAX)
                return s_fail(v, 0, "expected at most %d bytes, got %zu",
                              SD_CONFIG_META_VALUE_MAX, json_string_length(val));
            s_pop(v);
        }
        s_pop(v);
        a->metadata = json_incref(md);
    }
    if ((rc = s_get_string_list(v, o, "locations", true, &a->locations, &a->n_locations)))
        return rc;
    if (a->locations && a->n_locations == 0) {
        s_push_key(v, "locations");
        return s_fail(v, 0, "expected at least one region (omit the field for every region)");
    }
    json_t *q = json_object_get(o, "quorum");
    if (q) {
        if (json_is_string(q) && strcmp(json_string_value(q), "majority") == 0) {
            a->quorum = 0;
        } else if ((rc = s_get_int(v, o, "quorum", 0, 1, 1000, &a->quorum))) {
            snprintf(v->err + strlen(v->err), v->errlen - strlen(v->err), " or \"majority\"");
            return rc;
        }
    }
    if ((rc = s_get_int(v, o, "failureThreshold", 0, 1, 100, &a->failure_threshold)))
        return rc;
    if ((rc = s_get_int(v, o, "incidentIntervalSeconds", 0, 1, SD_PROBE_INTERVAL_MAX_S,
                        &a->incident_interval_seconds)))
        return rc;
    if ((rc = s_get_int(v, o, "degradedLatencyMs", 0, 1, MAX_LATENCY_MS,
                        &a->degraded_latency_ms)) ||
        (rc = s_get_int(v, o, "maxLatencyMs", 0, 1, MAX_LATENCY_MS, &a->max_latency_ms)))
        return rc;
    if (a->degraded_latency_ms && a->max_latency_ms &&
        a->degraded_latency_ms >= a->max_latency_ms) {
        s_push_key(v, "degradedLatencyMs");
        return s_fail(v, 0, "%d must be below maxLatencyMs (%d): a result slower than "
                      "maxLatencyMs is already a failure", a->degraded_latency_ms,
                      a->max_latency_ms);
    }
    int high = -1, low = -1, hold = -1;
    if ((rc = s_parse_flap_block(v, json_object_get(o, "flapping"), &high, &low, &hold)))
        return rc;
    a->flap_high_percent = high > 0 ? high : 0;
    a->flap_low_percent = low > 0 ? low : 0;
    a->flap_recovery_hold_seconds = hold >= 0 ? hold : 0;
    a->has_flap_hold = hold >= 0;
    return s_get_int(v, o, "successThreshold", 0, 1, 100, &a->success_threshold);
}

static int s_parse_asset(vctx_t *v, json_t *o, sd_asset_t *a)
{
    int rc;
    if (!json_is_object(o))
        return s_fail(v, 0, "expected an asset object, got %s", s_type_name(o));
    if ((rc = s_get_string(v, o, "assetType", 1, &a->asset_type)))
        return rc;
    if (!sd_probe_type_known(a->asset_type)) {
        s_push_key(v, "assetType");
        return s_fail(v, 0, "unsupported type \"%s\" (supported: %s)", a->asset_type,
                      sd_probe_types_str());
    }
    if ((rc = s_check_keys(v, o, sd_probe_asset_fields(a->asset_type))))
        return rc;
    if ((rc = s_get_string(v, o, "id", 1, &a->id)))
        return rc;
    if (!s_valid_id(a->id)) {
        char q[48];
        s_push_key(v, "id");
        return s_fail(v, 0, "\"%s\" (%zu characters): use 1-%d characters from A-Z a-z 0-9 - _ . :",
                      s_excerpt(a->id, q, sizeof q), sd_utf8_chars(a->id, strlen(a->id)),
                      SD_CONFIG_ID_MAX);
    }
    if ((rc = s_get_string(v, o, "name", 1, &a->name)) || (rc = s_bound_text(&a->name)))
        return rc;
    if ((rc = s_get_string(v, o, "address", 1, &a->address)))
        return rc;
    if (strcmp(a->asset_type, "http") == 0 && strncmp(a->address, "http://", 7) != 0 &&
        strncmp(a->address, "https://", 8) != 0) {
        s_push_key(v, "address");
        return s_fail(v, 0, "an http asset needs an http:// or https:// URL, got \"%s\"", a->address);
    }
    if ((rc = s_get_int(v, o, "intervalSeconds", 1, 1, SD_PROBE_INTERVAL_MAX_S,
                        &a->interval_seconds)))
        return rc;
    if ((rc = s_get_int(v, o, "timeoutSeconds", 1, 1, 3600, &a->timeout_seconds)))
        return rc;
    if (a->timeout_seconds > a->interval_seconds) {
        s_push_key(v, "timeoutSeconds");
        return s_fail(v, 0, "%d is longer than intervalSeconds (%d)", a->timeout_seconds,
                      a->interval_seconds);
    }
    a->failure_threshold = 2;
    a->success_threshold = 1;
    if ((rc = s_parse_asset_extras(v, o, a)))
        return rc;
    if (a->incident_interval_seconds > a->interval_seconds) {
        s_push_key(v, "incidentIntervalSeconds");
        return s_fail(v, 0, "%d is longer than intervalSeconds (%d): probing during an incident "
                      "is never slower than usual", a->incident_interval_seconds,
                      a->interval_seconds);
    }
    sd_probe_where_t where = {v->file, v->text, v->len, v->path, v->depth};
    return sd_probe_options_from_asset(&where, a->asset_type, o, &a->options, v->err, v->errlen);
}

int sd_asset_incident_interval(const sd_asset_t *a)
{
    int iv = a->interval_seconds > 0 ? a->interval_seconds : 1;
    int fast = a->incident_interval_seconds > 0 ? a->incident_interval_seconds : iv / 4;
    if (fast < 5 && a->incident_interval_seconds <= 0)
        fast = 5;
    return fast < iv ? fast : iv;
}

static int s_digits(const char *p, int n, int *out)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        if (p[i] < '0' || p[i] > '9')
            return -1;
        v = v * 10 + (p[i] - '0');
    }
    *out = v;
    return 0;
}

int sd_parse_rfc3339(const char *s, int64_t *ms)
{
    int Y, M, D, h, mi, sec, frac = 0, fdig = 0;
    if (!s || strlen(s) < 20 || s_digits(s, 4, &Y) || s[4] != '-' || s_digits(s + 5, 2, &M) ||
        s[7] != '-' || s_digits(s + 8, 2, &D) || (s[10] != 'T' && s[10] != 't' && s[10] != ' ') ||
        s_digits(s + 11, 2, &h) || s[13] != ':' || s_digits(s + 14, 2, &mi) || s[16] != ':' ||
        s_digits(s + 17, 2, &sec))
        return -EINVAL;
    const char *p = s + 19;
    if (*p == '.') {
        for (p++; *p >= '0' && *p <= '9'; p++, fdig++)
            if (fdig < 3)
                frac = frac * 10 + (*p - '0');
        if (fdig == 0)
            return -EINVAL;
        for (int i = fdig; i < 3; i++)
            frac *= 10;
    }
    int off = 0;
    if (*p == 'Z' || *p == 'z') {
        p++;
    } else if (*p == '+' || *p == '-') {
        int oh, om;
        if (s_digits(p + 1, 2, &oh) || p[3] != ':' || s_digits(p + 4, 2, &om) || oh > 23 ||
            om > 59)
            return -EINVAL;
        off = (oh * 60 + om) * (*p == '-' ? -1 : 1);
        p += 6;
    } else {
        return -EINVAL;
    }
    static const int mdays[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (*p || Y < 1970 || M < 1 || M > 12 || D < 1 || D > mdays[M - 1] || h > 23 || mi > 59 ||
        sec > 60)
        return -EINVAL;
    struct tm tm = {.tm_year = Y - 1900, .tm_mon = M - 1, .tm_mday = D, .tm_hour = h,
                    .tm_min = mi, .tm_sec = sec};
    time_t t = timegm(&tm); /* thread-safe, no TZ involved */
    if (tm.tm_mday != D) /* Feb 30 and the like normalized into the next month */
        return -EINVAL;
    *ms = ((int64_t) t - (int64_t) off * 60) * 1000 + frac;
    return 0;
}

static void s_maint_free(sd_maintenance_t *w)
{
    free(w->id);
    for (size_t i = 0; i < w->n_assets; i++)
        free(w->assets[i]);
    free(w->assets);
    free(w->reason);
    free(w->time_zone);
}

/* "HH:MM" -> minutes after midnight, or -1. */
static int s_hhmm(const char *s)
{
    int h, m;
    if (!s || strlen(s) != 5 || s_digits(s, 2, &h) || s[2] != ':' || s_digits(s + 3, 2, &m) ||
        h > 23 || m > 59)
        return -1;
    return h * 60 + m;
}

/* An IANA zone name ("Europe/Berlin", "UTC"); checked against the system's zoneinfo when
 * the system has one (PostgreSQL resolves it with the same database). */
static bool s_valid_tz(const char *tz)
{
    size_t n = strlen(tz);
    if (n == 0 || n > 64 || tz[0] == '/' || strstr(tz, ".."))
        return false;
    for (const char *c = tz; *c; c++)
        if (!((*c >= 'A' && *c <= 'Z') || (*c >= 'a' && *c <= 'z') || (*c >= '0' && *c <= '9') ||
              strchr("/_+-", *c)))
            return false;
    if (access("/usr/share/zoneinfo", F_OK) != 0)
        return true;
    char path[128];
    snprintf(path, sizeof path, "/usr/share/zoneinfo/%s", tz);
    return access(path, R_OK) == 0;
}

static int s_weekday(const char *d)
{
    static const char *const names[] = {"mon", "tue", "wed", "thu", "fri", "sat", "sun"};
    static const char *const longs[] = {"monday", "tuesday", "wednesday", "thursday", "friday",
                                        "saturday", "sunday"};
    for (int i = 0; i < 7; i++)
        if (strcasecmp(d, names[i]) == 0 || strcasecmp(d, longs[i]) == 0)
            return i + 1;
    return 0;
}

static int s_parse_weekly(vctx_t *v, json_t *o, sd_maintenance_t *w)
{
    int rc;
    json_t *days = json_object_get(o, "days");
    s_push_key(v, "days");
    if (!json_is_array(days) || json_array_size(days) == 0)
        return s_fail(v, 0, "expected a non-empty array of weekdays (\"mon\" .. \"sun\")");
    for (size_t i = 0; i < json_array_size(days); i++) {
        json_t *d = json_array_get(days, i);
        int wd = json_is_string(d) ? s_weekday(json_string_value(d)) : 0;
        if (!wd) {
            s_push_index(v, i);
            return s_fail(v, 0, "expected a weekday: mon, tue, wed, thu, fri, sat or sun");
        }
        w->days_mask |= 1u << wd;
    }
    s_pop(v);
    json_t *st = json_object_get(o, "start");
    s_push_key(v, "start");
    if ((w->start_minute = s_hhmm(json_string_value(st))) < 0)
        return s_fail(v, 0, "a weekly window starts at a local time \"HH:MM\"");
    s_pop(v);
    json_t *en = json_object_get(o, "end"), *du = json_object_get(o, "durationMinutes");
    w->end_minute = -1;
    if ((en != NULL) == (du != NULL)) {
        s_push_key(v, en ? "end" : "durationMinutes");
        return s_fail(v, !!en, "a weekly window needs exactly one of \"end\" (\"HH:MM\") and "
                               "\"durationMinutes\"");
    }
    if (en) {
        s_push_key(v, "end");
        if ((w->end_minute = s_hhmm(json_string_value(en))) < 0)
            return s_fail(v, 0, "a weekly window ends at a local time \"HH:MM\"");
        s_pop(v);
    } else if ((rc = s_get_int(v, o, "durationMinutes", 1, 1, 10080, &w->duration_minutes))) {
        return rc;
    }
    if ((rc = s_get_string(v, o, "timeZone", 0, &w->time_zone)))
        return rc;
    if (!w->time_zone && !(w->time_zone = strdup("UTC")))
        return -ENOMEM;
    if (!s_valid_tz(w->time_zone)) {
        s_push_key(v, "timeZone");
        return s_fail(v, 0, "unknown time zone \"%s\" (use an IANA name like \"Europe/Berlin\")",
                      w->time_zone);
    }
    return 0;
}

static int s_parse_once(vctx_t *v, json_t *o, sd_maintenance_t *w)
{
    static const char *const f[] = {"start", "end"};
    int64_t *dst[] = {&w->start_ms, &w->end_ms};
    for (int i = 0; i < 2; i++) {
        json_t *t = json_object_get(o, f[i]);
        s_push_key(v, f[i]);
        if (!t)
            return s_fail(v, 0, "missing required field (a one-off window has RFC 3339 "
                                "\"start\" and \"end\"; a weekly one has \"days\")");
        if (!json_is_string(t) || sd_parse_rfc3339(json_string_value(t), dst[i]) != 0)
            return s_fail(v, 0, "expected an RFC 3339 time like \"2026-12-01T22:00:00Z\"");
        s_pop(v);
    }
    if (w->end_ms <= w->start_ms) {
        s_push_key(v, "end");
        return s_fail(v, 0, "the window ends before it starts");
    }
    if (json_object_get(o, "timeZone") || json_object_get(o, "durationMinutes")) {
        s_push_key(v, json_object_get(o, "timeZone") ? "timeZone" : "durationMinutes");
        return s_fail(v, 1, "only a weekly window (with \"days\") takes this field");
    }
    return 0;
}

static int s_parse_maintenance(vctx_t *v, json_t *o, const sd_manifest_t *m, size_t idx,
                               sd_maintenance_t *w)
{
    static const char *const keys[] = {"id", "assets", "reason", "start", "end", "days",
                                       "durationMinutes", "timeZone", NULL};
    int rc;
    if (!json_is_object(o))
        return s_fail(v, 0, "expected a maintenance window object, got %s", s_type_name(o));
    if ((rc = s_check_keys(v, o, keys)))
        return rc;
    if ((rc = s_get_string(v, o, "id", 0, &w->id)))
        return rc;
    if (w->id) {
        s_push_key(v, "id");
        if ((rc = s_check_id_len(v, w->id, 0)))
            return rc;
        s_pop(v);
    }
    if (!w->id) {
        char def[40];
        snprintf(def, sizeof def, "maintenance[%zu]", idx);
        if (!(w->id = strdup(def)))
            return -ENOMEM;
    }
    if ((rc = s_get_string(v, o, "reason", 0, &w->reason)) ||
        (w->reason && (rc = s_bound_text(&w->reason))))
        return rc;
    if (!w->reason && !(w->reason = strdup("")))
        return -ENOMEM;
    if ((rc = s_get_string_list(v, o, "assets", false, &w->assets, &w->n_assets)))
        return rc;
    for (size_t i = 0; i < w->n_assets; i++) {
        if (!sd_manifest_find(m, w->assets[i])) {
            s_push_key(v, "assets");
            s_push_index(v, i);
            return s_fail(v, 0, "no asset with id \"%s\" (omit \"assets\" for every asset)",
                          w->assets[i]);
        }
    }
    if (w->assets && w->n_assets == 0) {
        s_push_key(v, "assets");
        return s_fail(v, 0, "expected at least one asset id (omit the field for every asset)");
    }
    return json_object_get(o, "days") ? s_parse_weekly(v, o, w) : s_parse_once(v, o, w);
}

static int s_parse_maintenance_list(vctx_t *v, json_t *root, sd_manifest_t *m)
{
    json_t *list = json_object_get(root, "maintenance");
    if (!list)
        return 0;
    s_push_key(v, "maintenance");
    if (!json_is_array(list))
        return s_fail(v, 0, "expected an array of maintenance windows, got %s",
                      s_type_name(list));
    if (json_array_size(list) > MAX_MAINTENANCE)
        return s_fail(v, 0, "more than %d maintenance windows", MAX_MAINTENANCE);
    m->maintenance = calloc(json_array_size(list) + 1, sizeof(sd_maintenance_t));
    if (!m->maintenance)
        return -ENOMEM;
    for (size_t i = 0; i < json_array_size(list); i++) {
        s_push_index(v, i);
        m->n_maintenance = i + 1;
        int rc = s_parse_maintenance(v, json_array_get(list, i), m, i, &m->maintenance[i]);
        if (rc)
            return rc;
        s_pop(v);
    }
    s_pop(v);
    return 0;
}

static int s_parse_flapping(vctx_t *v, json_t *root, sd_manifest_t *m)
{
    m->flap_high_percent = 50;
    m->flap_low_percent = 25;
    m->flap_recovery_hold_seconds = -1;
    int rc = s_parse_flap_block(v, json_object_get(root, "flapping"), &m->flap_high_percent,
                                &m->flap_low_percent, &m->flap_recovery_hold_seconds);
    if (rc)
        return rc;
    /* an asset that sets one threshold only pairs it with the manifest's other one */
    for (size_t i = 0; i < m->n_assets; i++) {
        int high, low, hold;
        sd_asset_flapping(m, &m->assets[i], &high, &low, &hold);
        if (low >= high) {
            s_push_key(v, "assets");
            s_push_index(v, i);
            s_push_key(v, "flapping");
            s_push_key(v, m->assets[i].flap_low_percent > 0 ? "lowThreshold" : "highThreshold");
            return s_fail(v, 0, "lowThreshold %d must be below highThreshold %d (the asset's "
                          "own where set, else the manifest's)", low, high);
        }
    }
    return 0;
}

void sd_asset_flapping(const sd_manifest_t *m, const sd_asset_t *a, int *high_percent,
                       int *low_percent, int *hold_seconds)
{
    *high_percent = a && a->flap_high_percent > 0 ? a->flap_high_percent
                    : m                            ? m->flap_high_percent
                                                   : 50;
    *low_percent = a && a->flap_low_percent > 0 ? a->flap_low_percent
                   : m                           ? m->flap_low_percent
                                                 : 25;
    *hold_seconds = a && a->has_flap_hold ? a->flap_recovery_hold_seconds
                    : m                                     ? m->flap_recovery_hold_seconds
                                                            : -1;
}

/* "statusPage": {"title", "description", "groupBy", "showAddresses", "demoNotice"}, all
 * optional. */
static int s_parse_status_page(vctx_t *v, json_t *root, sd_manifest_t *m)
{
    static const char *const keys[] = {"title",         "description", "groupBy",
                                       "showAddresses", "demoNotice",  NULL};
    json_t *sp = json_object_get(root, "statusPage");
    if (!sp)
        return 0;
    s_push_key(v, "statusPage");
    if (!json_is_object(sp))
        return s_fail(v, 0, "expected an object {\"title\", \"description\", \"groupBy\", "
                            "\"showAddresses\", \"demoNotice\"}, got %s",
                      s_type_name(sp));
    int rc;
    if ((rc = s_check_keys(v, sp, keys)) ||
        (rc = s_get_string(v, sp, "title", 0, &m->page_title)) ||
        (rc = s_get_string(v, sp, "description", 0, &m->page_description)) ||
        (rc = s_get_string(v, sp, "groupBy", 0, &m->page_group_by)) ||
        (rc = s_get_string(v, sp, "demoNotice", 0, &m->page_demo_notice)))
        return rc;
    static const struct {
        const char *key;
        size_t max;
    } lim[] = {{"title", 200}, {"description", 2000}, {"groupBy", 200}, {"demoNotice", 500}};
    for (size_t i = 0; i < sizeof lim / sizeof *lim; i++) {
        const char *s = json_string_value(json_object_get(sp, lim[i].key));
        if (s && (strlen(s) == 0 || strlen(s) > lim[i].max)) {
            s_push_key(v, lim[i].key);
            return s_fail(v, 0, "expected 1 to %zu bytes, got %zu", lim[i].max, strlen(s));
        }
    }
    json_t *show = json_object_get(sp, "showAddresses");
    if (show && !json_is_boolean(show)) {
        s_push_key(v, "showAddresses");
        return s_fail(v, 0, "expected true or false, got %s", s_type_name(show));
    }
    m->page_show_addresses = show && json_is_true(show);
    s_pop(v);
    return 0;
}

int sd_manifest_parse(const char *path, const char *text, sd_manifest_t **out, char *err,
                      size_t errlen)
{
    vctx_t v = {.file = path, .text = text, .len = strlen(text), .err = err, .errlen = errlen};
    json_t *root = s_parse_json(path, text, v.len, err, errlen);
    if (!root)
        return -EINVAL;
    sd_manifest_t *m = calloc(1, sizeof *m);
    int rc = -ENOMEM;
    if (!m)
        goto done;
    static const char *const top[] = {"assets", "maintenance", "flapping", "statusPage", NULL};
    if (!json_is_object(root)) {
        rc = s_fail(&v, 0, "expected an object with \"assets\", got %s", s_type_name(root));
        goto done;
    }
    if ((rc = s_check_keys(&v, root, top)))
        goto done;
    json_t *assets = s_member(&v, root, "assets", 1, &rc);
    if (rc)
        goto done;
    s_push_key(&v, "assets");
    if (!json_is_array(assets)) {
        rc = s_fail(&v, 0, "expected an array of assets, got %s", s_type_name(assets));
        goto done;
    }
    if (json_array_size(assets) > MAX_ASSETS) {
        rc = s_fail(&v, 0, "more than %d assets", MAX_ASSETS);
        goto done;
    }
    m->assets = calloc(json_array_size(assets) + 1, sizeof(sd_asset_t));
    if (!m->assets) {
        rc = -ENOMEM;
        goto done;
    }
    for (size_t i = 0; i < json_array_size(assets); i++) {
        s_push_index(&v, i);
        m->n_assets = i + 1;
        if ((rc = s_parse_asset(&v, json_array_get(assets, i), &m->assets[i])))
            goto done;
        for (size_t k = 0; k < i; k++) {
            if (strcmp(m->assets[k].id, m->assets[i].id) == 0) {
                s_push_key(&v, "id");
                rc = s_fail(&v, 0, "duplicate id \"%s\" (first used by assets[%zu])",
                            m->assets[i].id, k);
                goto done;
            }
        }
        s_pop(&v);
    }
    s_pop(&v);
    if ((rc = s_parse_flapping(&v, root, m)) || (rc = s_parse_status_page(&v, root, m)))
        goto done;
    rc = s_parse_maintenance_list(&v, root, m);
done:
    json_decref(root);
    if (rc)
        sd_manifest_destroy(&m);
    *out = m;
    return rc;
}

int sd_manifest_load(const char *path, sd_manifest_t **out, char *err, size_t errlen)
{
    char *text = NULL;
    size_t len = 0;
    *out = NULL;
    int rc = s_load_file(path, &text, &len, err, errlen);
    if (rc)
        return rc;
    if (strlen(text) != len) {
        free(text);
        snprintf(err, errlen, "%s: contains a NUL byte", path);
        return -EINVAL;
    }
    rc = sd_manifest_parse(path, text, out, err, errlen);
    free(text);
    return rc;
}

void sd_manifest_destroy(sd_manifest_t **m)
{
    if (!m || !*m)
        return;
    for (size_t i = 0; i < (*m)->n_assets; i++)
        s_asset_free(&(*m)->assets[i]);
    free((*m)->assets);
    for (size_t i = 0; i < (*m)->n_maintenance; i++)
        s_maint_free(&(*m)->maintenance[i]);
    free((*m)->maintenance);
    free((*m)->page_title);
    free((*m)->page_description);
    free((*m)->page_demo_notice);
    free((*m)->page_group_by);
    free(*m);
    *m = NULL;
}

const sd_asset_t *sd_manifest_find(const sd_manifest_t *m, const char *id)
{
    for (size_t i = 0; m && i < m->n_assets; i++)
        if (strcmp(m->assets[i].id, id) == 0)
            return &m->assets[i];
    return NULL;
}

/* ---- notifiers ------------------------------------------------------------------------ */

/* Each notifier type's fields: what notifiers.json may say, what it must say, and which field
 * is its delivery URL (sd_notifier_conf_t.webhook_url). Values are checked for their JSON kind
 * and URL scheme here, with file:line:column; a type's own rules beyond that (a secret file
 * that must be readable) are its channel's (collector/channel_*.c) at start. */
typedef enum { F_STR = 0, F_STR_LIST, F_STR_MAP, F_STR_OR_INT, F_SCALAR } field_kind_t;

typedef struct {
    const char *key;
    field_kind_t kind;
    bool required;
    const char *schemes;       /* a URL: "http" (http/https) or "smtp" (smtp/smtps); NULL */
} notifier_field_t;

typedef struct {
    const char *type;
    const char *url_key;       /* the field copied to webhook_url, NULL: none */
    const char *one_of[3];     /* at least one of these is required, NULL-terminated */
    notifier_field_t fields[9];
} notifier_type_t;

static const notifier_type_t s_notifier_types[] = {
    {"slack", "webhookUrl", {NULL}, {{"webhookUrl", F_STR, true, "http"}}},
    {"teams", "webhookUrl", {NULL}, {{"webhookUrl", F_STR, true, "http"}}},
    {"discord", "webhookUrl", {NULL}, {{"webhookUrl", F_STR, true, "http"}}},
    {"pagerduty", "eventsUrl", {"routingKey", "routingKeyFile", NULL},
     {{"routingKey", F_STR, false, NULL},
      {"routingKeyFile", F_STR, false, NULL},
      {"eventsUrl", F_STR, false, "http"}}},
    {"webhook", "url", {NULL},
     {{"url", F_STR, true, "http"}, {"secretFile", F_STR, false, NULL},
      {"headers", F_STR_MAP, false, NULL}}},
    {"email", "smtpUrl", {NULL},
     {{"smtpUrl", F_STR, true, "smtp"},
      {"from", F_STR, true, NULL},
      {"to", F_STR_LIST, true, NULL},
      {"username", F_STR, false, NULL},
      {"passwordFile", F_STR, false, NULL},
      {"starttls", F_STR, false, NULL}}},
    {"telegram", "apiUrl", {NULL},
     {{"botTokenFile", F_STR, true, NULL},
      {"chatId", F_STR_OR_INT, true, NULL},
      {"apiUrl", F_STR, false, "http"}}},
    {"ntfy", "url", {NULL},
     {{"url", F_STR, true, "http"}, {"tokenFile", F_STR, false, NULL},
      {"priority", F_STR_OR_INT, false, NULL}}},
};
#define N_NOTIFIER_TYPES (sizeof s_notifier_types / sizeof *s_notifier_types)

static void s_notifier_free(sd_notifier_conf_t *n)
{
    free(n->name);
    free(n->type);
    free(n->webhook_url);
    json_decref(n->raw);
}

static bool s_scheme_ok(const char *url, const char *schemes)
{
    if (strcmp(schemes, "smtp") == 0)
        return strncmp(url, "smtp://", 7) == 0 || strncmp(url, "smtps://", 8) == 0;
    return strncmp(url, "https://", 8) == 0 || strncmp(url, "http://", 7) == 0;
}

/* One declared field of a notifier: its JSON kind, and a URL's scheme. */
static int s_notifier_field(vctx_t *v, json_t *o, const notifier_field_t *f)
{
    json_t *j = json_object_get(o, f->key);
    int rc = 0;
    if (!j) {
        s_member(v, o, f->key, f->required, &rc); /* "notifiers.x.url: missing required field" */
        return rc;
    }
    s_push_key(v, f->key);
    switch (f->kind) {
    case F_STR:
        if (!json_is_string(j))
            rc = s_fail(v, 0, "expected a string, got %s", s_type_name(j));
        else if (json_string_length(j) == 0)
            rc = s_fail(v, 0, "expected a non-empty string");
        else if (f->schemes && !s_scheme_ok(json_string_value(j), f->schemes))
            rc = s_fail(v, 0, "expected %s URL", strcmp(f->schemes, "smtp") == 0
                                                     ? "an smtp:// or smtps://"
                                                     : "an http:// or https://");
        break;
    case F_STR_LIST:
        if (!json_is_array(j) || json_array_size(j) == 0) {
            rc = s_fail(v, 0, "expected a non-empty array of strings, got %s",
                        json_is_array(j) ? "an empty array" : s_type_name(j));
            break;
        }
        for (size_t i = 0; i < json_array_size(j) && !rc; i++) {
            if (!json_is_string(json_array_get(j, i))) {
                s_push_index(v, i);
                rc = s_fail(v, 0, "expected a string, got %s", s_type_name(json_array_get(j, i)));
            }
        }
        break;
    case F_STR_MAP: {
        if (!json_is_object(j)) {
            rc = s_fail(v, 0, "expected an object of strings, got %s", s_type_name(j));
            break;
        }
        const char *k;
        json_t *val;
        json_object_foreach(j, k, val) {
            if (!json_is_string(val)) {
                s_push_key(v, k);
                rc = s_fail(v, 0, "expected a string, got %s", s_type_name(val));
                break;
            }
        }
        break;
    }
    case F_STR_OR_INT:
    case F_SCALAR:
        if (!json_is_string(j) && !json_is_integer(j))
            rc = s_fail(v, 0, "expected a string or an integer, got %s", s_type_name(j));
        break;
    }
    if (!rc)
        s_pop(v);
    return rc;
}

static int s_parse_notifier(vctx_t *v, const char *name, json_t *o, sd_notifier_conf_t *n)
{
    int rc;
    if ((rc = s_check_id_len(v, name, 1)))
        return rc;
    if (!json_is_object(o))
        return s_fail(v, 0, "expected a notifier object, got %s", s_type_name(o));
    n->name = strdup(name);
    n->raw = json_incref(o);
    if (!n->name)
        return -ENOMEM;
    if ((rc = s_get_string(v, o, "type", 1, &n->type)))
        return rc;
    const notifier_type_t *t = NULL;
    char types[160] = "";
    for (size_t i = 0; i < N_NOTIFIER_TYPES; i++) {
        if (strcmp(s_notifier_types[i].type, n->type) == 0)
            t = &s_notifier_types[i];
        snprintf(types + strlen(types), sizeof types - strlen(types), "%s%s", i ? ", " : "",
                 s_notifier_types[i].type);
    }
    if (!t) {
        s_push_key(v, "type");
        return s_fail(v, 0, "unsupported notifier type \"%s\" (supported: %s)", n->type, types);
    }
    const char *keys[12] = {"type"};
    size_t nk = 1;
    for (size_t i = 0; i < sizeof t->fields / sizeof *t->fields && t->fields[i].key; i++)
        keys[nk++] = t->fields[i].key;
    keys[nk] = NULL;
    if ((rc = s_check_keys(v, o, keys)))
        return rc;
    for (size_t i = 0; i < sizeof t->fields / sizeof *t->fields && t->fields[i].key; i++)
        if ((rc = s_notifier_field(v, o, &t->fields[i])))
            return rc;
    if (t->one_of[0]) {
        bool any = false;
        for (size_t i = 0; t->one_of[i]; i++)
            any |= json_object_get(o, t->one_of[i]) != NULL;
        if (!any)
            return s_fail(v, 0, "a %s notifier needs \"%s\" or \"%s\"", t->type, t->one_of[0],
                          t->one_of[1]);
    }
    json_t *url = t->url_key ? json_object_get(o, t->url_key) : NULL;
    if (url && !(n->webhook_url = strdup(json_string_value(url))))
        return -ENOMEM;
    return 0;
}

static int s_policy_names(vctx_t *v, json_t *pol, const char *key, const sd_notifiers_t *n,
                          char ***out, size_t *cnt)
{
    int rc = s_get_string_list(v, pol, key, false, out, cnt);
    if (rc)
        return rc;
    for (size_t i = 0; i < *cnt; i++) {
        if (!sd_notifiers_find(n, (*out)[i])) {
            s_push_key(v, key);
            s_push_index(v, i);
            return s_fail(v, 0, "no notifier named \"%s\" in \"notifiers\"", (*out)[i]);
        }
    }
    return 0;
}

/* No policy, or a policy without a list: every notifier gets DOWN and RECOVERY. */
static int s_all_names(const sd_notifiers_t *n, char ***out, size_t *cnt)
{
    *out = calloc(n->n_notifiers + 1, sizeof(char *));
    if (!*out)
        return -ENOMEM;
    for (size_t i = 0; i < n->n_notifiers; i++) {
        (*out)[i] = strdup(n->notifiers[i].name);
        *cnt = i + 1;
    }
    return 0;
}

/* A route's "escalation": [{"afterSeconds": N, "notify": [...]}, ...], ascending. */
static int s_parse_escalation(vctx_t *v, json_t *o, const sd_notifiers_t *n, sd_route_t *r)
{
    static const char *const keys[] = {"afterSeconds", "notify", NULL};
    json_t *esc = json_object_get(o, "escalation");
    if (!esc)
        return 0;
    s_push_key(v, "escalation");
    if (!json_is_array(esc) || json_array_size(esc) == 0 || json_array_size(esc) > 32)
        return s_fail(v, 0, "expected an array of 1 to 32 tiers, got %s",
                      json_is_array(esc) ? "another size" : s_type_name(esc));
    r->escalation = calloc(json_array_size(esc), sizeof *r->escalation);
    if (!r->escalation)
        return -ENOMEM;
    int rc;
    for (size_t i = 0; i < json_array_size(esc); i++) {
        json_t *t = json_array_get(esc, i);
        sd_tier_t *tier = &r->escalation[i];
        s_push_index(v, i);
        r->n_escalation = i + 1;
        if (!json_is_object(t))
            return s_fail(v, 0, "expected a tier object, got %s", s_type_name(t));
        if ((rc = s_check_keys(v, t, keys)) ||
            (rc = s_get_int(v, t, "afterSeconds", 1, 0, 7 * 86400, &tier->after_seconds)))
            return rc;
        if (i > 0 && tier->after_seconds < r->escalation[i - 1].after_seconds) {
            s_push_key(v, "afterSeconds");
            return s_fail(v, 0, "%d is before the previous tier's %d: tiers are in order",
                          tier->after_seconds, r->escalation[i - 1].after_seconds);
        }
        s_member(v, t, "notify", 1, &rc);
        if (rc)
            return rc;
        if ((rc = s_policy_names(v, t, "notify", n, &tier->notify, &tier->n_notify)))
            return rc;
        s_pop(v);
    }
    s_pop(v);
    return 0;
}

/* One route: {"match": {...}, "onDown": [...], "onRecovery": [...], "continue": bool}. */
static int s_parse_route(vctx_t *v, json_t *o, const sd_notifiers_t *n, sd_route_t *r)
{
    static const char *const keys[] = {"match", "onDown", "onRecovery", "continue",
                                       "escalation", NULL};
    int rc;
    if (!json_is_object(o))
        return s_fail(v, 0, "expected a route object, got %s", s_type_name(o));
    if ((rc = s_check_keys(v, o, keys)))
        return rc;
    json_t *m = s_member(v, o, "match", 1, &rc);
    if (rc)
        return rc;
    s_push_key(v, "match");
    if (!json_is_object(m))
        return s_fail(v, 0, "expected an object of metadata keys (or \"id\") and values, got %s",
                      s_type_name(m));
    const char *k;
    json_t *val;
    json_object_foreach(m, k, val) {
        s_push_key(v, k);
        bool ok = json_is_string(val) || (json_is_array(val) && json_array_size(val) > 0);
        for (size_t i = 0; ok && json_is_array(val) && i < json_array_size(val); i++)
            ok = json_is_string(json_array_get(val, i));
        if (!ok)
            return s_fail(v, 0, "expected a string or a non-empty array of strings, got %s",
                          s_type_name(val));
        s_pop(v);
    }
    s_pop(v);
    r->match = json_incref(m);
    if ((rc = s_policy_names(v, o, "onDown", n, &r->on_down, &r->n_on_down)) ||
        (rc = s_policy_names(v, o, "onRecovery", n, &r->on_recovery, &r->n_on_recovery)))
        return rc;
    json_t *c = json_object_get(o, "continue");
    if (c && !json_is_boolean(c)) {
        s_push_key(v, "continue");
        return s_fail(v, 0, "expected true or false, got %s", s_type_name(c));
    }
    r->cont = c && json_is_true(c);
    if (!r->on_down)
        return s_fail(v, 0, "a route needs \"onDown\" (and optionally \"onRecovery\")");
    return s_parse_escalation(v, o, n, r);
}

static int s_parse_routes(vctx_t *v, json_t *pol, sd_notifiers_t *n)
{
    json_t *routes = json_object_get(pol, "routes");
    if (!routes)
        return 0;
    s_push_key(v, "routes");
    if (!json_is_array(routes))
        return s_fail(v, 0, "expected an array of routes, got %s", s_type_name(routes));
    if (json_array_size(routes) > SD_CONFIG_ROUTES_MAX)
        return s_fail(v, 0, "more than %d routes", SD_CONFIG_ROUTES_MAX);
    n->routes = calloc(json_array_size(routes) + 1, sizeof *n->routes);
    if (!n->routes)
        return -ENOMEM;
    for (size_t i = 0; i < json_array_size(routes); i++) {
        s_push_index(v, i);
        n->n_routes = i + 1;
        int rc = s_parse_route(v, json_array_get(routes, i), n, &n->routes[i]);
        if (rc)
            return rc;
        s_pop(v);
    }
    s_pop(v);
    return 0;
}

/* "storm": {"threshold": N, "windowSeconds": S, "maxNames": M}, all optional. */
static int s_parse_storm(vctx_t *v, json_t *pol, sd_notifiers_t *n)
{
    static const char *const keys[] = {"threshold", "windowSeconds", "maxNames", NULL};
    json_t *st = json_object_get(pol, "storm");
    if (!st)
        return 0;
    s_push_key(v, "storm");
    if (!json_is_object(st))
        return s_fail(v, 0, "expected an object {\"threshold\", \"windowSeconds\", "
                            "\"maxNames\"}, got %s",
                      s_type_name(st));
    int rc;
    if ((rc = s_check_keys(v, st, keys)) ||
        (rc = s_get_int(v, st, "threshold", 0, 0, 1000, &n->storm_threshold)) ||
        (rc = s_get_int(v, st, "windowSeconds", 0, 1, 86400, &n->storm_window_seconds)) ||
        (rc = s_get_int(v, st, "maxNames", 0, 1, 500, &n->storm_max_names)))
        return rc;
    s_pop(v);
    return 0;
}

static int s_parse_policy(vctx_t *v, json_t *root, sd_notifiers_t *n)
{
    static const char *const keys[] = {"onDown", "onRecovery", "throttleSeconds", "repeatAlerts",
                                       "routes", "storm", NULL};
    int rc;
    n->throttle_seconds = 300;
    n->storm_threshold = 3;
    n->storm_window_seconds = 60;
    n->storm_max_names = 20;
    json_t *pol = json_object_get(root, "notificationPolicy");
    if (!pol)
        goto defaults;
    s_push_key(v, "notificationPolicy");
    if (!json_is_object(pol))
        return s_fail(v, 0, "expected an object, got %s", s_type_name(pol));
    if ((rc = s_check_keys(v, pol, keys)))
        return rc;
    if ((rc = s_policy_names(v, pol, "onDown", n, &n->on_down, &n->n_on_down)))
        return rc;
    if ((rc = s_policy_names(v, pol, "onRecovery", n, &n->on_recovery, &n->n_on_recovery)))
        return rc;
    if ((rc = s_get_int(v, pol, "throttleSeconds", 0, 0, 7 * 86400, &n->throttle_seconds)))
        return rc;
    json_t *rep = json_object_get(pol, "repeatAlerts");
    if (rep) {
        if (!json_is_boolean(rep)) {
            s_push_key(v, "repeatAlerts");
            return s_fail(v, 0, "expected true or false, got %s", s_type_name(rep));
        }
        n->repeat_alerts = json_is_true(rep);
    }
    if ((rc = s_parse_routes(v, pol, n)) || (rc = s_parse_storm(v, pol, n)))
        return rc;
    s_pop(v);
defaults:
    if (!n->on_down && (rc = s_all_names(n, &n->on_down, &n->n_on_down)))
        return rc;
    if (!n->on_recovery && (rc = s_all_names(n, &n->on_recovery, &n->n_on_recovery)))
        return rc;
    return 0;
}

int sd_notifiers_parse(const char *path, const char *text, sd_notifiers_t **out, char *err,
                       size_t errlen)
{
    vctx_t v = {.file = path, .text = text, .len = strlen(text), .err = err, .errlen = errlen};
    json_t *root = s_parse_json(path, text, v.len, err, errlen);
    if (!root)
        return -EINVAL;
    static const char *const top[] = {"notifiers", "notificationPolicy", NULL};
    sd_notifiers_t *n = calloc(1, sizeof *n);
    int rc = -ENOMEM;
    if (!n)
        goto done;
    if (!json_is_object(root)) {
        rc = s_fail(&v, 0, "expected an object with \"notifiers\", got %s", s_type_name(root));
        goto done;
    }
    if ((rc = s_check_keys(&v, root, top)))
        goto done;
    json_t *nots = s_member(&v, root, "notifiers", 1, &rc);
    if (rc)
        goto done;
    s_push_key(&v, "notifiers");
    if (!json_is_object(nots)) {
        rc = s_fail(&v, 0, "expected an object of named notifiers, got %s", s_type_name(nots));
        goto done;
    }
    n->notifiers = calloc(json_object_size(nots) + 1, sizeof(sd_notifier_conf_t));
    if (!n->notifiers) {
        rc = -ENOMEM;
        goto done;
    }
    const char *name;
    json_t *val;
    json_object_foreach(nots, name, val) {
        s_push_key(&v, name);
        n->n_notifiers++;
        if ((rc = s_parse_notifier(&v, name, val, &n->notifiers[n->n_notifiers - 1])))
            goto done;
        s_pop(&v);
    }
    s_pop(&v);
    rc = s_parse_policy(&v, root, n);
done:
    json_decref(root);
    if (rc)
        sd_notifiers_destroy(&n);
    *out = n;
    return rc;
}

int sd_notifiers_load(const char *path, sd_notifiers_t **out, char *err, size_t errlen)
{
    char *text = NULL;
    size_t len = 0;
    *out = NULL;
    int rc = s_load_file(path, &text, &len, err, errlen);
    if (rc)
        return rc;
    if (strlen(text) != len) {
        free(text);
        snprintf(err, errlen, "%s: contains a NUL byte", path);
        return -EINVAL;
    }
    rc = sd_notifiers_parse(path, text, out, err, errlen);
    free(text);
    return rc;
}

static void s_free_list(char **l, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(l[i]);
    free(l);
}

void sd_notifiers_destroy(sd_notifiers_t **n)
{
    if (!n || !*n)
        return;
    for (size_t i = 0; i < (*n)->n_notifiers; i++)
        s_notifier_free(&(*n)->notifiers[i]);
    free((*n)->notifiers);
    s_free_list((*n)->on_down, (*n)->n_on_down);
    s_free_list((*n)->on_recovery, (*n)->n_on_recovery);
    for (size_t i = 0; i < (*n)->n_routes; i++) {
        sd_route_t *r = &(*n)->routes[i];
        json_decref(r->match);
        s_free_list(r->on_down, r->n_on_down);
        s_free_list(r->on_recovery, r->n_on_recovery);
        for (size_t t = 0; t < r->n_escalation; t++)
            s_free_list(r->escalation[t].notify, r->escalation[t].n_notify);
        free(r->escalation);
    }
    free((*n)->routes);
    free(*n);
    *n = NULL;
}

/* True when the asset's value for key (its id for "id", else its metadata's) is want. */
static bool s_value_is(const sd_asset_t *a, const char *key, const char *want)
{
    const char *have = strcmp(key, "id") == 0
                           ? a->id
                           : json_string_value(json_object_get(a->metadata, key));
    return have && strcmp(have, want) == 0;
}

bool sd_route_matches(const sd_route_t *r, const sd_asset_t *a)
{
    const char *k;
    json_t *val;
    json_object_foreach(r->match, k, val) {
        bool any = json_is_string(val) && s_value_is(a, k, json_string_value(val));
        for (size_t i = 0; !any && json_is_array(val) && i < json_array_size(val); i++)
            any = s_value_is(a, k, json_string_value(json_array_get(val, i)));
        if (!any)
            return false;
    }
    return true;
}

static int s_add_names(const char ***names, size_t *cnt, size_t *cap, char **add, size_t n_add)
{
    for (size_t i = 0; i < n_add; i++) {
        bool seen = false;
        for (size_t k = 0; k < *cnt && !seen; k++)
            seen = strcmp((*names)[k], add[i]) == 0;
        if (seen)
            continue;
        if (*cnt == *cap) {
            size_t c = *cap ? *cap * 2 : 4;
            const char **p = realloc(*names, c * sizeof *p);
            if (!p)
                return -ENOMEM;
            *names = p;
            *cap = c;
        }
        (*names)[(*cnt)++] = add[i];
    }
    return 0;
}

int sd_notifiers_escalation(const sd_notifiers_t *n, const sd_asset_t *a,
                            const sd_tier_t ***tiers, size_t *cnt)
{
    *tiers = NULL;
    *cnt = 0;
    for (size_t i = 0; n && a && i < n->n_routes; i++) {
        const sd_route_t *r = &n->routes[i];
        if (!sd_route_matches(r, a))
            continue;
        for (size_t t = 0; t < r->n_escalation; t++) {
            const sd_tier_t **p = realloc(*tiers, (*cnt + 1) * sizeof *p);
            if (!p) {
                free(*tiers);
                *tiers = NULL;
                *cnt = 0;
                return -ENOMEM;
            }
            *tiers = p;
            p[(*cnt)++] = &r->escalation[t];
        }
        if (!r->cont)
            break;
    }
    return 0;
}

int sd_notifiers_route(const sd_notifiers_t *n, const sd_asset_t *a, bool down,
                       const char ***names, size_t *cnt)
{
    *names = NULL;
    *cnt = 0;
    size_t cap = 0;
    bool matched = false;
    for (size_t i = 0; n && a && i < n->n_routes; i++) {
        const sd_route_t *r = &n->routes[i];
        if (!sd_route_matches(r, a))
            continue;
        matched = true;
        char **list = down || !r->on_recovery ? r->on_down : r->on_recovery;
        size_t nl = down || !r->on_recovery ? r->n_on_down : r->n_on_recovery;
        if (s_add_names(names, cnt, &cap, list, nl) != 0)
            goto oom;
        if (!r->cont)
            break;
    }
    if (!matched && n &&
        s_add_names(names, cnt, &cap, down ? n->on_down : n->on_recovery,
                    down ? n->n_on_down : n->n_on_recovery) != 0)
        goto oom;
    return 0;
oom:
    free(*names);
    *names = NULL;
    *cnt = 0;
    return -ENOMEM;
}

const sd_notifier_conf_t *sd_notifiers_find(const sd_notifiers_t *n, const char *name)
{
    for (size_t i = 0; n && i < n->n_notifiers; i++)
        if (strcmp(n->notifiers[i].name, name) == 0)
            return &n->notifiers[i];
    return NULL;
}
