/* sd_cert: the CURVE certificates of agents and collectors (CZMQ's zcert file format:
 * NAME.cert holds the public key and metadata, NAME.cert_secret the secret key too).
 * Metadata "name" is the agent id a certificate speaks for, "region" (optional) the only
 * region it may claim. Library code: nothing is logged; errors come back as text. */
#ifndef SD_CERT_H
#define SD_CERT_H

#include <czmq.h>
#include <stdbool.h>
#include <stddef.h>

/* Longest name or region a certificate may carry (the wire protocol's agent id bound). */
#define SD_CERT_MAX_NAME 128

/* True when s is 1..SD_CERT_MAX_NAME bytes of A-Z a-z 0-9 . _ - @ : (0 bytes allowed when
 * allow_empty; "." and ".." never). Names are file names and agent ids. */
bool sd_cert_name_valid(const char *s, bool allow_empty);

/* Loads a certificate that must hold a secret key (a NAME.cert_secret file). 0 with *out,
 * else -errno and a one-line message in err naming the file. */
int sd_cert_load_secret(const char *path, zcert_t **out, char *err, size_t errlen);

/* Loads a public certificate (NAME.cert). 0 with *out, else -errno and a message. */
int sd_cert_load_public(const char *path, zcert_t **out, char *err, size_t errlen);

/* Writes DIR/NAME.cert (mode 0644) and DIR/NAME.cert_secret (mode 0600) for a new key
 * pair with metadata name=NAME and, when region is not NULL or empty, region=REGION.
 * Refuses to overwrite an existing file unless force. 0, or -errno and a message. */
int sd_cert_generate(const char *dir, const char *name, const char *region, bool force,
                     char *err, size_t errlen);

/* The certificate's metadata value, or "" (never NULL). */
const char *sd_cert_meta(zcert_t *cert, const char *key);

#endif
