/* api: libmicrohttpd server for the REST API (JSON), /metrics and the status page.
 * Runs in libmicrohttpd's own threads; reads the database through its own connection and
 * the metrics registry. */
#ifndef API_H
#define API_H

#include <stddef.h>

#include "collector.h"

typedef struct api_t api_t;

/* Concurrent HTTP connections; more are refused and counted in
 * statusd_api_connections_rejected_total. Idle connections close after the timeout. */
#define API_MAX_CONNECTIONS 64
#define API_CONNECTION_TIMEOUT_S 30

/* Starts listening on ctx->api_port (0 = any free port, see api_port()); NULL on failure
 * with a message in err. ctx is copied (the pointers in it must outlive the api). */
api_t *api_new(const collector_ctx_t *ctx, char *err, size_t errlen);
/* The port actually bound. */
int api_port(const api_t *api);
void api_destroy(api_t **api);

#endif
