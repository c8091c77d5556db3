/* curl_glue: libcurl's multi interface driven by the agent loop (socket + timer callbacks,
 * the pattern of curl's docs/examples/ephiperfifo.c). No curl_multi_perform polling. */
#ifndef CURL_GLUE_H
#define CURL_GLUE_H

#include "loop.h"

#include <curl/curl.h>

typedef struct curl_glue curl_glue_t;

/* Called once per finished transfer, from the loop (never from inside a curl callback).
 * The easy handle has been removed from the multi handle: the callee owns it again. */
typedef void(curl_glue_done_fn)(CURL *easy, CURLcode rc, void *ctx);

/* A new multi handle on loop, or NULL. Call curl_global_init once before. */
curl_glue_t *curl_glue_new(loop_t *loop);
/* Removes (without callbacks) any transfers still running, then frees. Accepts NULL. */
void curl_glue_destroy(curl_glue_t **p);
/* Starts easy; done(easy, rc, ctx) is called exactly once unless curl_glue_remove is
 * called first. Uses CURLOPT_PRIVATE. 0 or -errno. */
int curl_glue_add(curl_glue_t *self, CURL *easy, curl_glue_done_fn *done, void *ctx);
/* Cancels a running transfer; done is not called. The caller still owns easy. */
void curl_glue_remove(curl_glue_t *self, CURL *easy);
/* Transfers in progress. */
size_t curl_glue_running(const curl_glue_t *self);

#endif
