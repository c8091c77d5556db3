/* config_diff: see config_diff.h. */
#include "config_diff.h"

#include <jansson.h>
#include <string.h>

static bool s_str_eq(const char *a, const char *b)
{
    return (!a && !b) || (a && b && strcmp(a, b) == 0);
}

static bool s_json_eq(const json_t *a, const json_t *b)
{
    return (!a && !b) || (a && b && json_equal((json_t *) a, (json_t *) b));
}

static bool s_list_eq(char *const *a, size_t na, char *const *b, size_t nb)
{
    if ((a == NULL) != (b == NULL) || na != nb)
        return false;
    for (size_t i = 0; i < na; i++)
        if (!s_str_eq(a[i], b[i]))
            return false;
    return true;
}

static bool s_codes_eq(const sd_asset_t *a, const sd_asset_t *b)
{
    if ((a->expected_status_codes == NULL) != (b->expected_status_codes == NULL) ||
        a->n_expected_status_codes != b->n_expected_status_codes)
        return false;
    for (size_t i = 0; i < a->n_expected_status_codes; i++)
        if (a->expected_status_codes[i] != b->expected_status_codes[i])
            return false;
    return true;
}

unsigned config_diff_asset(const sd_manifest_t *ma, const sd_asset_t *a,
                           const sd_manifest_t *mb, const sd_asset_t *b)
{
    unsigned d = 0;
    bool locs = s_list_eq(a->locations, a->n_locations, b->locations, b->n_locations);
    if (!s_str_eq(a->asset_type, b->asset_type) || !s_str_eq(a->address, b->address) ||
        a->interval_seconds != b->interval_seconds || a->timeout_seconds != b->timeout_seconds ||
        !s_codes_eq(a, b) || !s_json_eq(a->options, b->options) || !locs)
        d |= CONFIG_ASSET_PROBE;
    if (a->failure_threshold != b->failure_threshold ||
        a->success_threshold != b->success_threshold || a->quorum != b->quorum || !locs ||
        a->interval_seconds != b->interval_seconds ||
        a->degraded_latency_ms != b->degraded_latency_ms ||
        a->max_latency_ms != b->max_latency_ms)
        d |= CONFIG_ASSET_VOTE;
    int ha, la, hold_a, hb, lb, hold_b;
    sd_asset_flapping(ma, a, &ha, &la, &hold_a);
    sd_asset_flapping(mb, b, &hb, &lb, &hold_b);
    if (!s_str_eq(a->name, b->name) || !s_json_eq(a->metadata, b->metadata) ||
        a->incident_interval_seconds != b->incident_interval_seconds || ha != hb || la != lb ||
        hold_a != hold_b)
        d |= CONFIG_ASSET_OTHER;
    return d;
}

bool config_diff_notifier(const sd_notifier_conf_t *a, const sd_notifier_conf_t *b)
{
    return !s_str_eq(a->type, b->type) || !s_str_eq(a->webhook_url, b->webhook_url) ||
           !s_json_eq(a->raw, b->raw);
}

static bool s_tiers_eq(const sd_route_t *a, const sd_route_t *b)
{
    if (a->n_escalation != b->n_escalation)
        return false;
    for (size_t i = 0; i < a->n_escalation; i++)
        if (a->escalation[i].after_seconds != b->escalation[i].after_seconds ||
            !s_list_eq(a->escalation[i].notify, a->escalation[i].n_notify,
                       b->escalation[i].notify, b->escalation[i].n_notify))
            return false;
    return true;
}

bool config_diff_policy(const sd_notifiers_t *a, const sd_notifiers_t *b)
{
    if (!a || !b)
        return a != b;
    if (!s_list_eq(a->on_down, a->n_on_down, b->on_down, b->n_on_down) ||
        !s_list_eq(a->on_recovery, a->n_on_recovery, b->on_recovery, b->n_on_recovery) ||
        a->throttle_seconds != b->throttle_seconds || a->repeat_alerts != b->repeat_alerts ||
        a->storm_threshold != b->storm_threshold ||
        a->storm_window_seconds != b->storm_window_seconds ||
        a->storm_max_names != b->storm_max_names || a->n_routes != b->n_routes)
        return true;
    for (size_t i = 0; i < a->n_routes; i++) {
        const sd_route_t *ra = &a->routes[i], *rb = &b->routes[i];
        if (!s_json_eq(ra->match, rb->match) || ra->cont != rb->cont ||
            !s_list_eq(ra->on_down, ra->n_on_down, rb->on_down, rb->n_on_down) ||
            !s_list_eq(ra->on_recovery, ra->n_on_recovery, rb->on_recovery, rb->n_on_recovery) ||
            !s_tiers_eq(ra, rb))
            return true;
    }
    return false;
}

static bool s_window_eq(const sd_maintenance_t *a, const sd_maintenance_t *b)
{
    return s_str_eq(a->id, b->id) && s_list_eq(a->assets, a->n_assets, b->assets, b->n_assets) &&
           s_str_eq(a->reason, b->reason) && a->start_ms == b->start_ms &&
           a->end_ms == b->end_ms && a->days_mask == b->days_mask &&
           a->start_minute == b->start_minute && a->duration_minutes == b->duration_minutes &&
           a->end_minute == b->end_minute && s_str_eq(a->time_zone, b->time_zone);
}

void config_diff(const sd_manifest_t *om, const sd_notifiers_t *on, const sd_manifest_t *nm,
                 const sd_notifiers_t *nn, config_diff_t *out)
{
    memset(out, 0, sizeof *out);
    size_t n_old = om ? om->n_assets : 0, n_new = nm ? nm->n_assets : 0;
    for (size_t i = 0; i < n_new; i++) {
        const sd_asset_t *b = &nm->assets[i], *a = om ? sd_manifest_find(om, b->id) : NULL;
        if (!a)
            out->assets_added++;
        else if (config_diff_asset(om, a, nm, b))
            out->assets_changed++;
    }
    for (size_t i = 0; i < n_old; i++)
        if (!nm || !sd_manifest_find(nm, om->assets[i].id))
            out->assets_removed++;
    size_t mo = om ? om->n_maintenance : 0, mn = nm ? nm->n_maintenance : 0;
    out->maintenance_changed = mo != mn;
    for (size_t i = 0; !out->maintenance_changed && i < mn; i++)
        out->maintenance_changed = !s_window_eq(&om->maintenance[i], &nm->maintenance[i]);
    size_t k_old = on ? on->n_notifiers : 0, k_new = nn ? nn->n_notifiers : 0;
    for (size_t i = 0; i < k_new; i++) {
        const sd_notifier_conf_t *b = &nn->notifiers[i];
        const sd_notifier_conf_t *a = on ? sd_notifiers_find(on, b->name) : NULL;
        if (!a)
            out->notifiers_added++;
        else if (config_diff_notifier(a, b))
            out->notifiers_changed++;
    }
    for (size_t i = 0; i < k_old; i++)
        if (!nn || !sd_notifiers_find(nn, on->notifiers[i].name))
            out->notifiers_removed++;
    out->policy_changed = config_diff_policy(on, nn);
}
