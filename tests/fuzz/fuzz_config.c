/* fuzz_config: manifest.json and notifiers.json parsing (common/sd_config.c) of any text.
 * Each input is given to both parsers, and to the RFC 3339 parser the manifest uses. */
#include "fuzz.h"
#include "sd_config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = fuzz_strndup(data, size);
    if (!text)
        return 0;
    char err[512];

    sd_manifest_t *m = NULL;
    err[0] = 0;
    int rc = sd_manifest_parse("fuzz/manifest.json", text, &m, err, sizeof err);
    if (rc == 0) {
        FUZZ_CHECK(m != NULL);
        for (size_t i = 0; i < m->n_assets; i++) {
            const sd_asset_t *a = &m->assets[i];
            FUZZ_CHECK(a->id && a->asset_type && a->address);
            FUZZ_CHECK(sd_manifest_find(m, a->id) == a); /* ids are unique */
            FUZZ_CHECK(a->interval_seconds >= 1 && a->timeout_seconds >= 1);
            int inc = sd_asset_incident_interval(a);
            FUZZ_CHECK(inc >= 1 && inc <= a->interval_seconds);
        }
        for (size_t i = 0; i < m->n_maintenance; i++) {
            const sd_maintenance_t *w = &m->maintenance[i];
            FUZZ_CHECK(w->id != NULL);
            if (w->days_mask == 0)
                FUZZ_CHECK(w->end_ms > w->start_ms);
        }
    } else {
        FUZZ_CHECK(rc < 0 && m == NULL && err[0]);
    }
    sd_manifest_destroy(&m);
    FUZZ_CHECK(m == NULL);

    sd_notifiers_t *n = NULL;
    err[0] = 0;
    rc = sd_notifiers_parse("fuzz/notifiers.json", text, &n, err, sizeof err);
    if (rc == 0) {
        FUZZ_CHECK(n != NULL);
        for (size_t i = 0; i < n->n_notifiers; i++)
            FUZZ_CHECK(sd_notifiers_find(n, n->notifiers[i].name) == &n->notifiers[i]);
        for (size_t i = 0; i < n->n_on_down; i++)
            FUZZ_CHECK(sd_notifiers_find(n, n->on_down[i]) != NULL);
        for (size_t i = 0; i < n->n_on_recovery; i++)
            FUZZ_CHECK(sd_notifiers_find(n, n->on_recovery[i]) != NULL);
    } else {
        FUZZ_CHECK(rc < 0 && n == NULL && err[0]);
    }
    sd_notifiers_destroy(&n);

    int64_t ms = 0;
    if (size < 64)
        (void) sd_parse_rfc3339(text, &ms);
    free(text);
    return 0;
}
