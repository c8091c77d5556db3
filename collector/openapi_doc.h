/* openapi_doc: docs/openapi.json (the API's OpenAPI 3.1 document), compiled into the
 * collector by cmake/embed.cmake and served on GET /api/openapi.json. */
#ifndef OPENAPI_DOC_H
#define OPENAPI_DOC_H

#include <stddef.h>

extern const unsigned char openapi_doc[]; /* the file's bytes, then a NUL */
extern const size_t openapi_doc_len;      /* without the NUL */

#endif
