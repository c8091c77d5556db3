/* status_page: the self-contained HTML status page served at GET / (collector/web/status.html,
 * compiled in). Static HTML with an inline script that reads api/status-page/data (relative,
 * so it works behind a path-prefixing proxy) and renders with textContent and setAttribute
 * only: no markup from data, no external resources. */
#ifndef STATUS_PAGE_H
#define STATUS_PAGE_H

#include <stddef.h>

/* The page, a static NUL-terminated string; *len (when not NULL) gets its length. */
const char *status_page_html(size_t *len);

/* The Content-Security-Policy the page is written for (inline script and style, fetches
 * to its own origin, nothing else). */
const char *status_page_csp(void);

#endif
