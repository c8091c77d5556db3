/* markup: text from outside (agent ids, regions, asset names and addresses, probe reasons,
 * versions) made inert inside a chat message, so that it is shown as it was written and
 * can neither ping, link nor format. One function per message format; the message's own
 * formatting is never passed through them.
 *
 * Both first make the text one line of valid UTF-8 (sd_utf8: an invalid byte becomes
 * U+FFFD, a control character a space), then escape it into dst (cap >= 1 bytes), which is
 * always NUL-terminated. Text that does not fit is cut between two escaped characters, never
 * inside an escape or a character, and ends in "…". Each returns the bytes written, not
 * counting the NUL. */
#ifndef MARKUP_H
#define MARKUP_H

#include <stddef.h>

/* Slack (mrkdwn and attachment fields): & < > become &amp; &lt; &gt;, Slack's own escapes,
 * which neutralise every control sequence (<!channel>, <!here>, <@U123>, <#C123>,
 * <!subteam^S1>, <https://x|label>) and a leading > (quote). Formatting characters
 * (* _ ~ `) are left as written: the Slack message turns mrkdwn off ("mrkdwn": false), and
 * Slack has no escape for them. */
size_t markup_slack(char *dst, size_t cap, const char *src);

/* Teams (the Markdown of Adaptive Card TextBlocks and FactSet titles and values): a
 * backslash before each of \ * _ ~ ` [ ] ( ) < > & (CommonMark's escapes: no emphasis,
 * link, code, entity or tag can form), and, at the start of the text (after spaces),
 * before a # - + = (a heading, a list item, a rule) and before the . of "1. " (an ordered
 * list). A renderer that honours CommonMark's backslash shows the text as written. */
size_t markup_teams(char *dst, size_t cap, const char *src);

/* Discord (the Markdown of embed titles, descriptions and fields): a backslash before each
 * of \ * _ ~ ` | < > [ ] ( ) @ (emphasis, spoilers, code, mentions, masked links; Discord
 * unescapes any backslashed punctuation), and at the start of the text (after spaces) before
 * a # - + > (a heading, a list item, a quote) and before the . of "1. ". Mentions are also
 * switched off by the message itself ("allowed_mentions": {"parse": []}). */
size_t markup_discord(char *dst, size_t cap, const char *src);

/* HTML (Telegram's parse_mode HTML; a mail's text/html part, element content and quoted
 * attribute values): & < > " ' become &amp; &lt; &gt; &quot; &#39; (entities Telegram
 * supports too), so that no tag (<a>, <b>, <tg-spoiler> ...), entity or attribute can form
 * from outside text. */
size_t markup_html(char *dst, size_t cap, const char *src);

/* Plain text (ntfy, HTTP header values): no escape, only the common promise: one line of
 * valid UTF-8, bounded, cut with "…". */
size_t markup_plain(char *dst, size_t cap, const char *src);

#endif
