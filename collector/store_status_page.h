/* store_status_page: everything the public status page shows, in one call (the data of
 * GET /api/status-page/data without its "generatedAt" and "page"): per manifest asset its
 * current state, each location's latest result, uptime over 24 h / 7 d / 30 d / 90 d, 90
 * daily bars and a 24 h hourly response-time series; the incidents of the last 90 days with
 * their public timeline; active and upcoming maintenance. Long ranges are read from the
 * rollups (store_history.h). Nothing internal leaves: no agent ids, no error messages, no
 * address unless asked for, only the public kinds of incident events. */
#ifndef STORE_STATUS_PAGE_H
#define STORE_STATUS_PAGE_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "store.h"

#define STATUS_PAGE_DAYS 90
#define STATUS_PAGE_HOURS 24
#define STATUS_PAGE_INCIDENTS 50

/* group_by: the metadata key whose value is each asset's "group" (NULL: none);
 * show_addresses: put each asset's "address" in; now_ms: the time the data is for.
 * *out = {"assets": [...], "incidents": [...], "maintenance": [...]}. 0, or -EIO/-ENOMEM
 * with a message in err. */
int store_status_page(store_t *s, const char *group_by, bool show_addresses, int64_t now_ms,
                      json_t **out, char *err, size_t errlen);

#endif
