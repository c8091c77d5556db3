/* collector: what every actor of the collector is started with. Read-only after start.
 * The configuration is config (config_ref.h): each actor holds a view of it and applies a
 * reload at its next loop turn; without a holder (unit tests) the fixed manifest and
 * notifiers below are used instead. */
#ifndef COLLECTOR_H
#define COLLECTOR_H

#include <czmq.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "auth.h"
#include "config_ref.h"
#include "health.h"
#include "metrics.h"
#include "sd_config.h"

/* An agent down (engine) or disconnected (ingest) this long is gone for good: its state in
 * memory and its metric series are freed (--agent-forget-after; see docs/wire-protocol.md,
 * "Bounds inside the collector"). */
#define AGENT_FORGET_MS_DEFAULT ((int64_t) 24 * 3600 * 1000)

typedef struct reload reload_t;

typedef struct {
    config_ref_t *config;         /* the configuration (main); NULL: manifest and notifiers */
    reload_t *reload;             /* POST /api/reload (reload.h); NULL: not offered (tests) */
    const sd_manifest_t *manifest;   /* only without config (tests); NULL with it */
    const sd_notifiers_t *notifiers; /* likewise */
    const char *db_conninfo;      /* libpq conninfo or URI */
    const char *bind;             /* ZeroMQ endpoint for agents, e.g. "tcp://0.0.0.0:5555" */
    int api_port;                 /* REST API, /metrics, status page */
    const char *api_bind_addr;    /* NULL = all interfaces */
    const char *migrations_dir;
    metrics_t *metrics;           /* thread-safe */
    health_t *health;             /* thread-safe; NULL: nothing is reported (tests) */
    int heartbeat_ms;             /* agent heartbeat period; main: SD_HEARTBEAT_MS_DEFAULT */
    int restart_grace_ms;         /* added to the 3 heartbeats an agent that was up before a
                                     rebuild has to reappear (its reconnect backoff); main:
                                     SD_RESTART_GRACE_MS, tests may leave 0 */
    int retention_days;           /* probe_events partitions kept; default 30 */
    int history_days;             /* everything else (store_retention.h); <= 0: the default */
    int metrics_max_series;       /* /metrics series bound; default METRICS_MAX_SERIES_DEFAULT */
    const auth_t *api_tokens;     /* --api-token-file; NULL: every API write is refused */
    /* agents' transport: CURVE with server_cert (owned by main) and the admitted agents'
     * public certificates in agents_dir; or, only when insecure_plaintext, plain text */
    zcert_t *server_cert;
    const char *agents_dir;
    bool insecure_plaintext;
    size_t max_frame_bytes;       /* largest frame from an agent; 0: GATEWAY_MAX_FRAME_DEFAULT */
    int64_t agent_forget_ms;      /* --agent-forget-after; <= 0: AGENT_FORGET_MS_DEFAULT */
} collector_ctx_t;

/* An actor's view of the configuration (config_ref.h): config's current snapshot, or the
 * fixed manifest and notifiers. */
static inline void collector_view(const collector_ctx_t *ctx, config_view_t *v)
{
    config_view_init(v, ctx->config, ctx->manifest, ctx->notifiers);
}

/* The period after which an agent is gone for good (see AGENT_FORGET_MS_DEFAULT). */
static inline int64_t collector_forget_ms(const collector_ctx_t *ctx)
{
    return ctx->agent_forget_ms > 0 ? ctx->agent_forget_ms : AGENT_FORGET_MS_DEFAULT;
}

#endif
