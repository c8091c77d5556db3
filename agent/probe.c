/* The probe registry: a new probe type is one file and one line in s_types. */
#include "probe.h"

#include "sd_clock.h"
#include "sd_utf8.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Reasons and what goes into them: one line, "…" where cut. */
#define PROBE_TEXT (SD_UTF8_ONE_LINE | SD_UTF8_ELLIPSIS)

static const struct probe_ops *const s_types[] = {
    &probe_http_ops,
    &probe_tcp_ops,
    &probe_tls_ops,
    &probe_dns_ops,
    &probe_icmp_ops,
};

const struct probe_ops *probe_find(const char *name)
{
    if (!name)
        return NULL;
    for (size_t i = 0; i < sizeof s_types / sizeof s_types[0]; i++)
        if (strcmp(s_types[i]->name, name) == 0)
            return s_types[i];
    return NULL;
}

const struct probe_ops *probe_at(size_t i)
{
    return i < sizeof s_types / sizeof s_types[0] ? s_types[i] : NULL;
}

static struct {
    loop_t *loop;
    resolver_t *r;
} s_resolvers[PROBE_MAX_LOOPS];

int probe_set_resolver(loop_t *loop, resolver_t *r)
{
    size_t free_slot = PROBE_MAX_LOOPS;
    for (size_t i = 0; i < PROBE_MAX_LOOPS; i++) {
        if (s_resolvers[i].loop == loop) {
            s_resolvers[i].r = r;
            if (!r)
                s_resolvers[i].loop = NULL;
            return 0;
        }
        if (!s_resolvers[i].loop && free_slot == PROBE_MAX_LOOPS)
            free_slot = i;
    }
    if (!r)
        return 0;
    if (free_slot == PROBE_MAX_LOOPS)
        return -ENOSPC;
    s_resolvers[free_slot].loop = loop;
    s_resolvers[free_slot].r = r;
    return 0;
}

resolver_t *probe_resolver(const probe_env_t *env)
{
    for (size_t i = 0; env && env->loop && i < PROBE_MAX_LOOPS; i++)
        if (s_resolvers[i].loop == env->loop)
            return s_resolvers[i].r;
    return NULL;
}

probe_result_t *probe_result_new(const char *asset_id)
{
    probe_result_t *r = calloc(1, sizeof *r);
    if (!r)
        return NULL;
    r->asset_id = strdup(asset_id ? asset_id : "");
    if (!r->asset_id) {
        free(r);
        return NULL;
    }
    r->started_at_ms = sd_wall_ms();
    return r;
}

void probe_result_destroy(probe_result_t **p)
{
    if (!p || !*p)
        return;
    free((*p)->asset_id);
    free(*p);
    *p = NULL;
}

void probe_result_set_reason(probe_result_t *r, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    sd_utf8_vformat(r->reason, sizeof r->reason, PROBE_TEXT, fmt, ap);
    va_end(ap);
}

char *probe_format(char *dst, size_t cap, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    sd_utf8_vformat(dst, cap, PROBE_TEXT, fmt, ap);
    va_end(ap);
    return dst;
}

const char *probe_excerpt(char *dst, size_t cap, const char *src)
{
    sd_utf8_scopy(dst, cap, src, PROBE_TEXT);
    return dst;
}

void probe_result_add_phase(probe_result_t *r, const char *name, int64_t duration_us)
{
    if (r->n_phases >= PROBE_MAX_PHASES)
        return;
    probe_phase_t *ph = &r->phases[r->n_phases++];
    snprintf(ph->name, sizeof ph->name, "%s", name);
    if (duration_us < 0)
        duration_us = 0;
    ph->duration_us = duration_us > UINT32_MAX ? UINT32_MAX : (uint32_t) duration_us;
}
