/* badge: see badge.h. */
#include "badge.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "markup.h"
#include "sd_utf8.h"

#define TEXT_MAX 64

/* Width of text in px at 11 px Verdana, estimated per character (shields.io measures the
 * font; an estimate is enough for a badge). */
static int s_width(const char *s)
{
    int w = 0;
    for (const unsigned char *p = (const unsigned char *) s; *p; p++) {
        if ((*p & 0xC0) == 0x80)
            continue; /* UTF-8 continuation byte */
        w += strchr("il.:|!' ", *p) ? 4 : strchr("mwMW%", *p) ? 10 : 7;
    }
    return w + 10;
}

char *badge_svg(const char *label, const char *message, const char *color)
{
    char l[TEXT_MAX], m[TEXT_MAX], el[6 * TEXT_MAX], em[6 * TEXT_MAX];
    sd_utf8_scopy(l, sizeof l, label ? label : "", SD_UTF8_ONE_LINE | SD_UTF8_ELLIPSIS);
    sd_utf8_scopy(m, sizeof m, message ? message : "", SD_UTF8_ONE_LINE | SD_UTF8_ELLIPSIS);
    markup_html(el, sizeof el, l);
    markup_html(em, sizeof em, m);
    int lw = s_width(l), mw = s_width(m), w = lw + mw;
    char *out = NULL;
    int n = asprintf(
        &out,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"20\" role=\"img\" "
        "aria-label=\"%s: %s\"><title>%s: %s</title>"
        "<linearGradient id=\"s\" x2=\"0\" y2=\"100%%\"><stop offset=\"0\" stop-color=\"#bbb\" "
        "stop-opacity=\".1\"/><stop offset=\"1\" stop-opacity=\".1\"/></linearGradient>"
        "<clipPath id=\"r\"><rect width=\"%d\" height=\"20\" rx=\"3\" fill=\"#fff\"/></clipPath>"
        "<g clip-path=\"url(#r)\"><rect width=\"%d\" height=\"20\" fill=\"#555\"/>"
        "<rect x=\"%d\" width=\"%d\" height=\"20\" fill=\"%s\"/>"
        "<rect width=\"%d\" height=\"20\" fill=\"url(#s)\"/></g>"
        "<g fill=\"#fff\" text-anchor=\"middle\" "
        "font-family=\"Verdana,Geneva,DejaVu Sans,sans-serif\" font-size=\"11\">"
        "<text x=\"%.1f\" y=\"15\" fill=\"#010101\" fill-opacity=\".3\">%s</text>"
        "<text x=\"%.1f\" y=\"14\">%s</text>"
        "<text x=\"%.1f\" y=\"15\" fill=\"#010101\" fill-opacity=\".3\">%s</text>"
        "<text x=\"%.1f\" y=\"14\">%s</text></g></svg>\n",
        w, el, em, el, em, w, lw, lw, mw, color, w, lw / 2.0, el, lw / 2.0, el, lw + mw / 2.0,
        em, lw + mw / 2.0, em);
    return n < 0 ? NULL : out;
}

const char *badge_state_message(const char *state)
{
    static const char *const map[][2] = {{"UP", "up"},
                                         {"DEGRADED", "degraded"},
                                         {"DOWN", "down"},
                                         {"MAINTENANCE", "maintenance"},
                                         {"UNCONFIRMED", "unconfirmed"}};
    for (size_t i = 0; state && i < sizeof map / sizeof *map; i++)
        if (strcmp(state, map[i][0]) == 0)
            return map[i][1];
    return "unknown";
}

const char *badge_state_color(const char *state)
{
    if (!state)
        return "#9f9f9f";
    if (strcmp(state, "UP") == 0)
        return "#4c1";
    if (strcmp(state, "DEGRADED") == 0)
        return "#dfb317";
    if (strcmp(state, "DOWN") == 0)
        return "#e05d44";
    if (strcmp(state, "MAINTENANCE") == 0)
        return "#007ec6";
    return "#9f9f9f";
}

void badge_uptime(double ratio, char *msg, size_t len, const char **color)
{
    if (ratio < 0) {
        snprintf(msg, len, "no data");
        *color = "#9f9f9f";
        return;
    }
    double pct = floor(ratio * 10000) / 100; /* truncated: 99.999 % shows 99.99% */
    if (ratio >= 1)
        snprintf(msg, len, "100%%");
    else
        snprintf(msg, len, "%.2f%%", pct);
    *color = pct >= 99.9 ? "#4c1" : pct >= 99 ? "#97ca00" : pct >= 95 ? "#dfb317"
             : pct >= 90 ? "#fe7d37"
                         : "#e05d44";
}
