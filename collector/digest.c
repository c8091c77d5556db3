/* digest: see digest.h. */
#include "digest.h"

#include <stdio.h>
#include <string.h>

#include "channel.h"
#include "sd_utf8.h"

#define REASON_MAX 200

/* A copy of payload's string at key made one line of valid UTF-8 of at most cap bytes, or
 * NULL when absent. */
static json_t *s_text(const json_t *o, const char *key, size_t cap)
{
    const char *v = json_string_value(json_object_get(o, key));
    if (!v)
        return NULL;
    char buf[REASON_MAX + DIGEST_NAME_MAX + 1];
    if (cap > sizeof buf)
        cap = sizeof buf;
    sd_utf8_scopy(buf, cap, v, SD_UTF8_ONE_LINE | SD_UTF8_ELLIPSIS);
    return json_string(buf);
}

/* Sets key to v unless v is NULL; -1 when out of memory. */
static int s_set(json_t *o, const char *key, json_t *v)
{
    return v ? json_object_set_new(o, key, v) : 0;
}

json_t *digest_event(const json_t *payload, size_t *members)
{
    json_t *m = json_object_get(payload, "members");
    size_t n = json_is_array(m) ? json_array_size(m) : 0;
    json_int_t max_names = json_integer_value(json_object_get(payload, "max_names"));
    if (max_names <= 0)
        max_names = 20;
    const char *of = json_string_value(json_object_get(payload, "of"));
    bool recovery = of && strcmp(of, "RECOVERY") == 0;
    char subject[64];
    snprintf(subject, sizeof subject, "%zu more asset%s", n, n == 1 ? "" : "s");
    *members = n;
    json_t *ev = json_pack("{s:s, s:s, s:I, s:[]}", "event",
                           recovery ? "RECOVERY_DIGEST" : "DOWN_DIGEST", "asset_name", subject,
                           "count", (json_int_t) n, "assets");
    if (!ev)
        return NULL;
    int rc = 0;
    static const char *const copy[] = {"since", "window_seconds", "threshold", NULL};
    for (size_t i = 0; copy[i]; i++) {
        json_t *v = json_object_get(payload, copy[i]);
        if (v)
            rc |= json_object_set(ev, copy[i], v);
    }
    rc |= s_set(ev, "notifier", s_text(payload, "channel", DIGEST_NAME_MAX));
    json_t *assets = json_object_get(ev, "assets");
    for (size_t i = 0; rc == 0 && i < n && (json_int_t) i < max_names; i++) {
        const json_t *in = json_array_get(m, i);
        json_t *a = json_object();
        if (!a || json_array_append_new(assets, a) != 0) {
            rc = -1;
            break;
        }
        json_t *name = s_text(in, "asset_name", DIGEST_NAME_MAX);
        rc |= s_set(a, "asset_id", s_text(in, "asset_id", DIGEST_NAME_MAX));
        rc |= s_set(a, "asset_name", name ? name : s_text(in, "asset_id", DIGEST_NAME_MAX));
        rc |= s_set(a, "reason", s_text(in, "reason", REASON_MAX));
        rc |= s_set(a, "started_at", s_text(in, "started_at", 40));
        json_t *secs = json_object_get(in, "duration_seconds");
        if (json_is_integer(secs))
            rc |= json_object_set(a, "duration_seconds", secs);
    }
    if (rc != 0)
        json_decref(ev);
    return rc == 0 ? ev : NULL;
}
