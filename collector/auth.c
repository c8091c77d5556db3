/* auth: see auth.h. SHA-256 comes from OpenSSL's libcrypto (EVP). */
#include "auth.h"

#include <errno.h>
#include <openssl/evp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define DIGEST_LEN 32

struct auth_t {
    uint8_t (*digests)[DIGEST_LEN];
    size_t n;
};

static void s_sha256(const void *data, size_t len, uint8_t out[DIGEST_LEN])
{
    unsigned int n = 0;
    if (EVP_Digest(data, len, out, &n, EVP_sha256(), NULL) != 1 || n != DIGEST_LEN)
        memset(out, 0, DIGEST_LEN); /* never matches a real digest in practice */
}

bool auth_ct_equal(const void *x, const void *y, size_t len)
{
    const volatile uint8_t *a = x, *b = y;
    uint8_t diff = 0;
    for (size_t i = 0; i < len; i++)
        diff |= a[i] ^ b[i];
    return diff == 0;
}

void auth_fingerprint(const char *token, size_t len, char *fp)
{
    uint8_t d[DIGEST_LEN];
    s_sha256(token, len, d);
    for (int i = 0; i < AUTH_FP_LEN / 2; i++)
        snprintf(fp + 2 * i, 3, "%02x", d[i]);
    fp[AUTH_FP_LEN] = 0;
}

/* Adds one trimmed line; 0, 1 when it is blank or a comment, or -errno. */
static int s_line(auth_t *a, char *line, size_t lineno, char *err, size_t errlen)
{
    size_t n = strlen(line);
    while (n && (line[n - 1] == ' ' || line[n - 1] == '\t' || line[n - 1] == '\r'))
        line[--n] = 0;
    while (*line == ' ' || *line == '\t')
        line++, n--;
    if (n == 0 || line[0] == '#')
        return 1;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char) line[i] <= 0x20 || (unsigned char) line[i] == 0x7f) {
            snprintf(err, errlen, "line %zu: a token holds whitespace or a control byte",
                     lineno);
            return -EINVAL;
        }
    if (n < AUTH_MIN_TOKEN_LEN || n > AUTH_MAX_TOKEN_LEN) {
        snprintf(err, errlen, "line %zu: a token must be %d to %d bytes long", lineno,
                 AUTH_MIN_TOKEN_LEN, AUTH_MAX_TOKEN_LEN);
        return -EINVAL;
    }
    if (a->n >= AUTH_MAX_TOKENS) {
        snprintf(err, errlen, "more than %d tokens", AUTH_MAX_TOKENS);
        return -E2BIG;
    }
    s_sha256(line, n, a->digests[a->n++]);
    return 0;
}

int auth_load(const char *path, auth_t **out, char *err, size_t errlen)
{
    FILE *fp = path ? fopen(path, "r") : NULL;
    if (!fp) {
        int e = path ? errno : EINVAL;
        snprintf(err, errlen, "%s: %s", path ? path : "(none)", strerror(e));
        return -e;
    }
    char *buf = malloc(AUTH_MAX_FILE + 1);
    auth_t *a = calloc(1, sizeof *a);
    if (a)
        a->digests = calloc(AUTH_MAX_TOKENS, DIGEST_LEN);
    if (!buf || !a || !a->digests) {
        fclose(fp);
        free(buf);
        auth_destroy(&a);
        snprintf(err, errlen, "%s: out of memory", path);
        return -ENOMEM;
    }
    size_t len = fread(buf, 1, AUTH_MAX_FILE + 1, fp);
    int rc = ferror(fp) ? -EIO : 0;
    fclose(fp);
    char why[160] = "";
    if (rc == 0 && len > AUTH_MAX_FILE) {
        snprintf(why, sizeof why, "larger than %d bytes", AUTH_MAX_FILE);
        rc = -E2BIG;
    } else if (rc == 0 && memchr(buf, 0, len)) {
        snprintf(why, sizeof why, "holds a NUL byte");
        rc = -EINVAL;
    } else if (rc != 0) {
        snprintf(why, sizeof why, "read error");
    }
    if (rc == 0) {
        buf[len] = 0;
        size_t lineno = 0;
        for (char *p = buf; rc >= 0 && p && *p;) {
            char *nl = strchr(p, '\n');
            if (nl)
                *nl = 0;
            lineno++;
            rc = s_line(a, p, lineno, why, sizeof why);
            p = nl ? nl + 1 : NULL;
        }
        if (rc > 0)
            rc = 0;
    }
    free(buf);
    if (rc == 0 && a->n == 0) {
        snprintf(why, sizeof why, "holds no token (one per line; # starts a comment)");
        rc = -ENODATA;
    }
    if (rc != 0) {
        snprintf(err, errlen, "%s: %s", path, why);
        auth_destroy(&a);
        return rc;
    }
    *out = a;
    return 0;
}

void auth_destroy(auth_t **p)
{
    if (!p || !*p)
        return;
    auth_t *a = *p;
    if (a->digests)
        memset(a->digests, 0, AUTH_MAX_TOKENS * DIGEST_LEN);
    free(a->digests);
    free(a);
    *p = NULL;
}

size_t auth_count(const auth_t *a)
{
    return a ? a->n : 0;
}

auth_result_t auth_check(const auth_t *a, const char *authorization, char *fp)
{
    if (!a)
        return AUTH_DISABLED;
    if (!authorization || strncasecmp(authorization, "Bearer ", 7) != 0)
        return AUTH_MISSING;
    const char *tok = authorization + 7;
    while (*tok == ' ')
        tok++;
    size_t n = strlen(tok);
    while (n && tok[n - 1] == ' ')
        n--;
    if (n == 0)
        return AUTH_MISSING;
    if (n > AUTH_MAX_TOKEN_LEN)
        return AUTH_INVALID;
    uint8_t d[DIGEST_LEN];
    s_sha256(tok, n, d);
    bool match = false;
    for (size_t i = 0; i < a->n; i++) /* no early exit: every token is compared */
        match |= auth_ct_equal(d, a->digests[i], DIGEST_LEN);
    if (!match)
        return AUTH_INVALID;
    auth_fingerprint(tok, n, fp);
    return AUTH_OK;
}
