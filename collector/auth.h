/* auth: bearer tokens for the API's write endpoints. The token file (--api-token-file)
 * holds one token per line; blank lines and lines starting with '#' are ignored and
 * surrounding whitespace is trimmed. Tokens are kept only as SHA-256 digests; a presented
 * token is hashed and compared in constant time against EVERY stored digest, so neither
 * the match position nor the token length shows in the timing. A token is named in logs
 * and incident events only by its fingerprint: the first 8 hex digits of its SHA-256.
 * Library code: 0/-errno with a message in err, never logs. */
#ifndef AUTH_H
#define AUTH_H

#include <stdbool.h>
#include <stddef.h>

typedef struct auth_t auth_t;

#define AUTH_FP_LEN 8              /* hex digits of a fingerprint */
#define AUTH_MAX_TOKENS 1024       /* tokens per file */
#define AUTH_MAX_FILE (64 * 1024)  /* bytes per file */
#define AUTH_MAX_TOKEN_LEN 1024    /* bytes per token */
#define AUTH_MIN_TOKEN_LEN 8

/* Reads a token file. 0 with *out set; -ENOENT/-EACCES/... when it cannot be read,
 * -ENODATA when it holds no token, -EINVAL for a token that is too short, too long or
 * holds whitespace or control bytes (line number in err), -E2BIG past the bounds above. */
int auth_load(const char *path, auth_t **out, char *err, size_t errlen);
void auth_destroy(auth_t **a);
/* Number of tokens loaded. */
size_t auth_count(const auth_t *a);

typedef enum {
    AUTH_OK = 0,       /* a loaded token matched; fp holds its fingerprint */
    AUTH_DISABLED,     /* no token file configured: every write is refused (403) */
    AUTH_MISSING,      /* no "Authorization: Bearer ..." header (401) */
    AUTH_INVALID,      /* a bearer token that matches none (401) */
} auth_result_t;

/* Checks an Authorization header value (NULL when absent) against a (NULL: disabled).
 * On AUTH_OK, fp (AUTH_FP_LEN + 1 bytes) receives the token's fingerprint. */
auth_result_t auth_check(const auth_t *a, const char *authorization, char *fp);

/* Constant-time equality of two equal-length buffers (time depends on len only). */
bool auth_ct_equal(const void *x, const void *y, size_t len);
/* The fingerprint of a token: the first AUTH_FP_LEN hex digits of SHA-256(token). */
void auth_fingerprint(const char *token, size_t len, char *fp);

#endif
