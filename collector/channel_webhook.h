/* channel_webhook: the Standard Webhooks signature of the webhook channel (its ops are
 * channel_webhook_ops in channel.h), exposed for its unit test's reference vectors. */
#ifndef CHANNEL_WEBHOOK_H
#define CHANNEL_WEBHOOK_H

#include <stddef.h>

/* Writes "v1,<base64 of HMAC-SHA256(key, id + "." + ts + "." + body)>" into out (cap >= 48),
 * NUL-terminated; key is the base64-decoded part of a "whsec_<base64>" secret, or any other
 * secret's bytes. 0, -EINVAL (a whsec_ secret that is not valid base64, or cap too small)
 * or -ENOMEM. */
int channel_webhook_sign(const char *secret, const char *id, long long ts, const char *body,
                         size_t body_len, char *out, size_t cap);

#endif
