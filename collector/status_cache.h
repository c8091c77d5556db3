/* status_cache: the status page's data (GET /api/status-page/data), built by a thread of its
 * own on its own database connection and served from memory. A request gets the latest
 * snapshot at once; one older than the refresh period asks the thread for a new one (served
 * to the requests after it). Only the very first request waits for a build. Nobody asking:
 * nothing is built. So a page watched by many readers costs one build per period, and a
 * slow build (10,000 assets: about a second) never holds a reader. */
#ifndef STATUS_CACHE_H
#define STATUS_CACHE_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

typedef struct status_cache_t status_cache_t;

/* conninfo: libpq's; refresh_ms: the age from which a snapshot is rebuilt (or five times the
 * last build's time, when that is longer). NULL on error. */
status_cache_t *status_cache_new(const char *conninfo, int refresh_ms, char *err,
                                 size_t errlen);
void status_cache_destroy(status_cache_t **c);

/* The snapshot as JSON text (malloc'd copy, *len bytes, NUL-terminated) for the page
 * settings page ({"title", "description", "groupBy", "showAddresses"}; borrowed: the thread
 * builds with the settings of the latest call). *gzip (may be NULL): in, the caller takes
 * gzip; out, the body is gzip-compressed. Waits at most wait_ms when there is none yet. 0,
 * or -EAGAIN (none yet) / -EIO (the build failed and there is none) with a message in err. */
int status_cache_get(status_cache_t *c, const json_t *page, int wait_ms, bool *gzip,
                     char **body, size_t *len, char *err, size_t errlen);

#endif
