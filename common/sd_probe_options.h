/* sd_probe_options: the type-specific options of a probe, one table per asset type.
 *
 * Design. A type's options are TOP-LEVEL fields of the asset's manifest entry, next to the
 * common ones (like the seed's expectedStatusCodes):
 *     {"id": "smtp", "assetType": "tcp", "address": "mail.example.com:25", ...,
 *      "send": "EHLO statusd\r\n", "expect": "250"}
 * Which fields an asset may carry depends on its assetType (sd_probe_asset_fields); any other
 * field is an error whose "allowed: ..." list names the fields valid for that type. At load the
 * collector validates them with file:line:col:field errors (sd_probe_options_from_asset) and
 * keeps them, as given, in ONE JSON object (sd_asset_t.options, NULL when the asset has none).
 * That object travels to the agents as Assignment options_json; each agent re-validates it
 * with the same table (sd_probe_options_check, no positions) before probing, so a collector and
 * an agent of different builds never probe with options they do not both understand. Defaults
 * are applied by the agent's probe, not written into the object.
 *
 * Library code: no logging; 0 or -EINVAL/-ENOMEM with a one-line message in err. */
#ifndef SD_PROBE_OPTIONS_H
#define SD_PROBE_OPTIONS_H

#include "sd_json_pos.h"

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

/* Where an asset object sits in a config text, for error positions. text NULL: messages
 * carry no file:line:col, only the field name (used by the agent). */
typedef struct {
    const char *file;
    const char *text;
    size_t len;
    const sd_json_seg_t *path; /* JSON path of the asset object */
    size_t depth;
} sd_probe_where_t;

/* Probe types this build implements (NULL-terminated) and the same as "http, tcp, tls". */
const char *const *sd_probe_types(void);
const char *sd_probe_types_str(void);
bool sd_probe_type_known(const char *type);

/* Every field an asset of this type may carry (common + type options), NULL-terminated;
 * NULL for an unknown type. */
const char *const *sd_probe_asset_fields(const char *type);

/* Collector side: validates the asset's address for its type and the type's option fields
 * found in asset (an object), and builds *options_out (a new object, or NULL when the asset
 * has no option field). Errors: "file:line:col: assets[3].maxRedirects: expected ...". */
int sd_probe_options_from_asset(const sd_probe_where_t *where, const char *type, json_t *asset,
                                json_t **options_out, char *err, size_t errlen);

/* Agent side: validates an options object of this type (unknown keys are errors).
 * Errors: "tcp options: expect: expected a non-empty string, got an integer". */
int sd_probe_options_check(const char *type, json_t *options, char *err, size_t errlen);

/* Splits "host:port" or "[v6addr]:port" (port 1-65535). 0, or -EINVAL with a message. */
int sd_probe_split_hostport(const char *addr, char *host, size_t hostlen, int *port, char *err,
                            size_t errlen);

#endif
