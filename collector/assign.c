/* assign: the plan of one agent, from the manifest and the agent's region. */
#include "assign.h"

#include <errno.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#define MS_MAX 4294967295.0

bool assign_applies(const sd_asset_t *a, const char *region)
{
    if (!a->locations)
        return true;
    for (size_t i = 0; i < a->n_locations; i++)
        if (region && a->locations[i] && strcmp(a->locations[i], region) == 0)
            return true;
    return false;
}

uint32_t assign_phase_offset(const char *asset_id, uint32_t interval_ms)
{
    if (interval_ms == 0)
        return 0;
    uint64_t h = 14695981039346656037ULL;
    for (const unsigned char *p = (const unsigned char *) (asset_id ? asset_id : ""); *p; p++) {
        h ^= *p;
        h *= 1099511628211ULL;
    }
    return (uint32_t) (h % interval_ms);
}

static uint32_t s_seconds_to_ms(int seconds)
{
    if (seconds <= 0)
        return 0;
    double ms = (double) seconds * 1000.0;
    return ms > MS_MAX ? (uint32_t) MS_MAX : (uint32_t) ms;
}

int assign_spec_fill(const sd_asset_t *a, Statusd__AssetSpec *spec)
{
    statusd__asset_spec__init(spec);
    spec->id = a->id ? a->id : "";
    spec->type = a->asset_type ? a->asset_type : "http";
    spec->address = a->address ? a->address : "";
    spec->interval_ms = s_seconds_to_ms(a->interval_seconds);
    spec->timeout_ms = s_seconds_to_ms(a->timeout_seconds);
    spec->phase_offset_ms = assign_phase_offset(a->id, spec->interval_ms);
    spec->options_json = a->options ? json_dumps(a->options, JSON_COMPACT) : strdup("");
    if (!spec->options_json)
        return -ENOMEM;
    if (a->n_expected_status_codes > 0) {
        spec->expected_status_codes = calloc(a->n_expected_status_codes, sizeof(uint32_t));
        if (!spec->expected_status_codes) {
            assign_spec_clear(spec);
            return -ENOMEM;
        }
        for (size_t i = 0; i < a->n_expected_status_codes; i++)
            spec->expected_status_codes[i] = (uint32_t) a->expected_status_codes[i];
        spec->n_expected_status_codes = a->n_expected_status_codes;
    }
    return 0;
}

void assign_spec_clear(Statusd__AssetSpec *spec)
{
    if (!spec)
        return;
    if (spec->options_json != protobuf_c_empty_string)
        free(spec->options_json);
    free(spec->expected_status_codes);
    statusd__asset_spec__init(spec);
}

Statusd__Assignment *assign_build(const sd_manifest_t *m, const char *region,
                                  uint64_t version)
{
    return assign_build_with(m, region, version, NULL, NULL);
}

Statusd__Assignment *assign_build_with(const sd_manifest_t *m, const char *region,
                                       uint64_t version, assign_interval_fn interval_of,
                                       void *arg)
{
    Statusd__Assignment *as = calloc(1, sizeof *as);
    if (!as)
        return NULL;
    statusd__assignment__init(as);
    as->version = version;
    size_t n = 0;
    for (size_t i = 0; m && i < m->n_assets; i++)
        n += assign_applies(&m->assets[i], region);
    if (n == 0)
        return as;
    as->assets = calloc(n, sizeof *as->assets);
    if (!as->assets) {
        assign_destroy(&as);
        return NULL;
    }
    for (size_t i = 0; i < m->n_assets; i++) {
        if (!assign_applies(&m->assets[i], region))
            continue;
        Statusd__AssetSpec *spec = calloc(1, sizeof *spec);
        if (!spec || assign_spec_fill(&m->assets[i], spec) != 0) {
            free(spec);
            assign_destroy(&as);
            return NULL;
        }
        uint32_t ms = interval_of ? interval_of(&m->assets[i], arg) : 0;
        if (ms > 0) {
            spec->interval_ms = ms;
            spec->phase_offset_ms = assign_phase_offset(spec->id, ms);
        }
        as->assets[as->n_assets++] = spec;
    }
    return as;
}

void assign_destroy(Statusd__Assignment **a)
{
    if (!a || !*a)
        return;
    for (size_t i = 0; i < (*a)->n_assets; i++) {
        assign_spec_clear((*a)->assets[i]);
        free((*a)->assets[i]);
    }
    free((*a)->assets);
    free(*a);
    *a = NULL;
}
