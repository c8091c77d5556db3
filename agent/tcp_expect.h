/* tcp_expect: the tcp/tls probe's look at a reply (any bytes a server sent): does it contain
 * the expected string, and the expected string quoted for a one-line reason. Pure, so tests
 * and the fuzzer drive it directly. */
#ifndef TCP_EXPECT_H
#define TCP_EXPECT_H

#include <stdbool.h>
#include <stddef.h>

/* True when the first len bytes of reply (any content, NULs included) contain expect. */
bool tcp_expect_match(const char *reply, size_t len, const char *expect);
/* expect quoted for a reason into out (len bytes, at least 1): quote and backslash escaped,
 * CR/LF as \r \n, other control characters and bytes that are not UTF-8 as \xNN; cut
 * between characters, with "..." when it does not fit. Always NUL-terminated, one line,
 * valid UTF-8. */
void tcp_expect_quote(const char *expect, char *out, size_t len);

#endif
