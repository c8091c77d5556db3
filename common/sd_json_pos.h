/* sd_json_pos: where a value sits in a JSON text, so config errors can name line and column.
 * jansson reports positions for syntax errors only; this scanner finds the position of the
 * value at a path (object keys and array indexes) in text that jansson already accepted. */
#ifndef SD_JSON_POS_H
#define SD_JSON_POS_H

#include <stddef.h>

typedef struct {
    const char *key;   /* object member name, or NULL for an array index */
    size_t index;
} sd_json_seg_t;

/* Finds the value at path (n segments; n = 0 is the root). On success sets *line and *col
 * (1-based; col counts characters) and returns 0. If the last segment is missing, returns
 * -ENOENT with the position of the enclosing object or array. If want_key and the last
 * segment is an object key, the position is that of the key rather than its value. */
int sd_json_pos(const char *text, size_t len, const sd_json_seg_t *path, size_t n, int want_key,
                int *line, int *col);

#endif
