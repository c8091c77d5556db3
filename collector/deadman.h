/* deadman: the dead man's switch. While the collector is healthy (health_check), it
 * requests a URL every interval; a monitor outside (healthchecks.io, Alertmanager's
 * Watchdog pattern, a blackbox probe of the receiving end) pages when the requests stop:
 * the collector died, hung, or one of its parts is unhealthy. Requests run in the actor's
 * own thread, each bounded by a timeout (at most 10 s, at most the interval). */
#ifndef DEADMAN_H
#define DEADMAN_H

#include <czmq.h>
#include <stdbool.h>

#include "collector.h"

typedef struct {
    const char *url;       /* http or https */
    int interval_ms;       /* between requests; > 0 */
    bool post;             /* POST a small JSON body instead of GET */
} deadman_conf_t;

/* Starts the actor (the first request as soon as the collector is healthy); NULL when it
 * cannot start. ctx->health is read; conf is copied. Metrics:
 * statusd_deadman_requests_total{result="ok"|"failed"|"skipped"} (skipped: unhealthy). */
zactor_t *deadman_new(const collector_ctx_t *ctx, const deadman_conf_t *conf);

#endif
