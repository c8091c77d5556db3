/* badge: shields.io-style "flat" SVG badges (a grey label, a coloured message) for READMEs
 * and wikis: GET /badge/{id}/status.svg and /badge/{id}/uptime.svg. Self-contained SVG (no
 * fonts or links fetched), with a <title> and aria-label for screen readers. Pure: no I/O. */
#ifndef BADGE_H
#define BADGE_H

#include <stddef.h>

/* The badge "label | message" on color ("#4c1"); label and message are escaped for XML and
 * cut at 64 bytes. malloc'd, NULL when out of memory. */
char *badge_svg(const char *label, const char *message, const char *color);

/* The message and colour of a state badge: "up" green, "degraded" yellow, "down" red,
 * "maintenance" blue, "unconfirmed"/"unknown" grey. */
const char *badge_state_message(const char *state);
const char *badge_state_color(const char *state);

/* The message and colour of an uptime badge for ratio 0..1 (negative: no data): "99.95%"
 * (truncated, never rounded up to 100%: "100%" only when nothing was down), green from
 * 99.9 %, light green from 99 %, yellow from 95 %, orange from 90 %, red below; "no data"
 * grey. */
void badge_uptime(double ratio, char *msg, size_t len, const char **color);

#endif
