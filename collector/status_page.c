/* status_page: collector/web/status.html, compiled in by cmake/embed.cmake. The page reads its
 * data as JSON and puts it in the DOM with textContent and setAttribute only, so nothing from
 * the database is ever parsed as markup. */
#include "status_page.h"

extern const unsigned char status_page_doc[]; /* the file's bytes, then a NUL */
extern const size_t status_page_doc_len;      /* without the NUL */

const char *status_page_html(size_t *len)
{
    if (len)
        *len = status_page_doc_len;
    return (const char *) status_page_doc;
}

const char *status_page_csp(void)
{
    return "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; "
           "connect-src 'self'; img-src 'self'; base-uri 'none'; frame-ancestors 'none'";
}
