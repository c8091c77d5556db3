/* agent_keys: the public certificates of the agents allowed in (statusd-collector
 * --agents-dir). Every DIR/NAME.cert file (hidden files and *.cert_secret are ignored) admits
 * its CURVE public key under its metadata name (the only agent id it may speak for) and,
 * when it has one, region (the only region it may claim). Several files may name the same
 * agent (key rotation); a key found in two files that disagree is admitted by neither.
 * Reloaded by the caller (cheap when nothing changed: one stat per file). No logging. */
#ifndef AGENT_KEYS_H
#define AGENT_KEYS_H

#include <stddef.h>

/* Most certificates read from the directory; files beyond it are skipped. */
#define AGENT_KEYS_MAX 100000

typedef struct agent_keys agent_keys_t;

typedef struct {
    const char *name;   /* agent id */
    const char *region; /* "" = any region */
    const char *file;   /* file name inside the directory */
} agent_key_t;

/* An empty set for dir (nothing is read yet: call agent_keys_reload). NULL on ENOMEM. */
agent_keys_t *agent_keys_new(const char *dir);
void agent_keys_destroy(agent_keys_t **p);

/* Reads the directory again when a file was added, removed or changed since the last call.
 * 1 when the admitted set changed, 0 when not, -errno when the directory cannot be read
 * (the previous set stays). *skipped counts the files that are not usable certificates (or
 * that hold a key claimed by another name) and err gets the first reason. */
int agent_keys_reload(agent_keys_t *self, size_t *skipped, char *err, size_t errlen);

/* The admitted entry of a public key in Z85 text (40 characters), or NULL. Valid until the
 * next reload. */
const agent_key_t *agent_keys_lookup(const agent_keys_t *self, const char *public_z85);

size_t agent_keys_count(const agent_keys_t *self);

#endif
