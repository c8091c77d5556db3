/* auth: token files (comments, blanks, bounds, unreadable, empty), bearer checks against
 * every token, fingerprints (first 8 hex of SHA-256, checked against Python's hashlib),
 * and the constant-time compare helper. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "auth.h"

static char s_path[64];

static const char *s_file(const char *content)
{
    snprintf(s_path, sizeof s_path, "/tmp/statusd-auth-XXXXXX");
    int fd = mkstemp(s_path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, content, strlen(content)), (ssize_t) strlen(content));
    close(fd);
    return s_path;
}

static void test_load_and_check(void **st)
{
    (void) st;
    char err[256] = "", fp[AUTH_FP_LEN + 1] = "";
    auth_t *a = NULL;
    assert_int_equal(auth_load(s_file("# ops tokens\n\n  s3cret-token-one  \r\n"
                                      "#second-token-2\nsecond-token-2\n"),
                               &a, err, sizeof err),
                     0);
    unlink(s_path);
    assert_int_equal(auth_count(a), 2);
    assert_int_equal(auth_check(a, "Bearer s3cret-token-one", fp), AUTH_OK);
    assert_string_equal(fp, "6d3ceda9"); /* sha256 via python3 hashlib */
    assert_int_equal(auth_check(a, "bearer second-token-2", fp), AUTH_OK);
    assert_string_equal(fp, "2e37f398");
    assert_int_equal(auth_check(a, "Bearer s3cret-token-on", fp), AUTH_INVALID);
    assert_int_equal(auth_check(a, "Bearer s3cret-token-one2", fp), AUTH_INVALID);
    assert_int_equal(auth_check(a, "Bearer # ops tokens", fp), AUTH_INVALID);
    assert_int_equal(auth_check(a, "Basic czNjcmV0", fp), AUTH_MISSING);
    assert_int_equal(auth_check(a, "Bearer ", fp), AUTH_MISSING);
    assert_int_equal(auth_check(a, NULL, fp), AUTH_MISSING);
    assert_int_equal(auth_check(NULL, "Bearer s3cret-token-one", fp), AUTH_DISABLED);
    auth_destroy(&a);
    assert_null(a);
    auth_destroy(&a);
}

static void test_bad_files(void **st)
{
    (void) st;
    char err[256] = "";
    auth_t *a = NULL;
    int rc = auth_load("/nonexistent/tokens", &a, err, sizeof err);
    print_message("unreadable: %d %s\n", rc, err);
    assert_int_equal(rc, -ENOENT);
    assert_non_null(strstr(err, "/nonexistent/tokens"));
    rc = auth_load(s_file("# only a comment\n\n   \n"), &a, err, sizeof err);
    unlink(s_path);
    print_message("empty: %d %s\n", rc, err);
    assert_int_equal(rc, -ENODATA);
    assert_non_null(strstr(err, "no token"));
    rc = auth_load(s_file("good-token-1\nhas space inside\n"), &a, err, sizeof err);
    unlink(s_path);
    print_message("bad token: %d %s\n", rc, err);
    assert_int_equal(rc, -EINVAL);
    assert_non_null(strstr(err, "line 2"));
    rc = auth_load(s_file("short\n"), &a, err, sizeof err);
    unlink(s_path);
    assert_int_equal(rc, -EINVAL);
    assert_null(a);
}

static void test_ct_equal(void **st)
{
    (void) st;
    uint8_t x[32], y[32];
    memset(x, 0xab, sizeof x);
    memcpy(y, x, sizeof y);
    assert_true(auth_ct_equal(x, y, sizeof x));
    for (size_t i = 0; i < sizeof x; i++) { /* a difference anywhere is found */
        y[i] ^= 0x01;
        assert_false(auth_ct_equal(x, y, sizeof x));
        y[i] ^= 0x01;
    }
    assert_true(auth_ct_equal(x, y, 0));
    char fp[AUTH_FP_LEN + 1];
    auth_fingerprint("s3cret-token-one", 16, fp);
    assert_string_equal(fp, "6d3ceda9");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_load_and_check),
        cmocka_unit_test(test_bad_files),
        cmocka_unit_test(test_ct_equal),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
