/* fuzz.h: what every libFuzzer harness of tests/fuzz/ shares. A harness feeds one input to
 * the code under test and checks what that code promises in its header; a broken promise
 * aborts with a message, which libFuzzer reports as a crash (like a sanitizer finding). */
#ifndef STATUSD_FUZZ_H
#define STATUSD_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FUZZ_CHECK(cond)                                                                   \
    do {                                                                                   \
        if (!(cond)) {                                                                     \
            fprintf(stderr, "%s:%d: promise broken: %s\n", __FILE__, __LINE__, #cond);     \
            abort();                                                                       \
        }                                                                                  \
    } while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A NUL-terminated malloc'd copy of data (which may hold NULs itself); NULL only on ENOMEM. */
static inline char *fuzz_strndup(const uint8_t *data, size_t size)
{
    char *s = malloc(size + 1);
    if (s) {
        if (size)
            memcpy(s, data, size);
        s[size] = 0;
    }
    return s;
}

/* True when no byte of s is a control character (C0 or DEL). */
static inline int fuzz_one_line(const char *s)
{
    for (; *s; s++)
        if ((unsigned char) *s < 0x20 || (unsigned char) *s == 0x7f)
            return 0;
    return 1;
}

#endif
