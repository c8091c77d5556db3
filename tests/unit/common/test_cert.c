/* sd_cert: statusd-keygen's pairs are written with the right modes and metadata, load back
 * (secret and public), are not overwritten by accident, and bad names and files are refused
 * with a message naming the file. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "sd_cert.h"

static char s_dir[64];

static int s_setup(void **st)
{
    (void) st;
    snprintf(s_dir, sizeof s_dir, "/tmp/test_cert_XXXXXX");
    return mkdtemp(s_dir) ? 0 : -1;
}

static int s_teardown(void **st)
{
    (void) st;
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", s_dir);
    return system(cmd) == 0 ? 0 : -1;
}

static void test_generate_and_load(void **st)
{
    (void) st;
    char err[512], pub[256], sec[256];
    assert_int_equal(sd_cert_generate(s_dir, "agent-1", "eu-west", false, err, sizeof err), 0);
    snprintf(pub, sizeof pub, "%s/agent-1.cert", s_dir);
    snprintf(sec, sizeof sec, "%s/agent-1.cert_secret", s_dir);
    struct stat sp, ss;
    assert_int_equal(stat(pub, &sp), 0);
    assert_int_equal(stat(sec, &ss), 0);
    assert_int_equal(sp.st_mode & 0777, 0644);
    assert_int_equal(ss.st_mode & 0777, 0600);

    zcert_t *s = NULL, *p = NULL;
    assert_int_equal(sd_cert_load_secret(sec, &s, err, sizeof err), 0);
    assert_int_equal(sd_cert_load_public(pub, &p, err, sizeof err), 0);
    assert_string_equal(zcert_public_txt(s), zcert_public_txt(p));
    assert_string_equal(sd_cert_meta(p, "name"), "agent-1");
    assert_string_equal(sd_cert_meta(p, "region"), "eu-west");
    assert_string_equal(sd_cert_meta(p, "nothing"), "");
    /* the public file holds no secret: refused where a secret is needed */
    zcert_t *none = NULL;
    assert_int_equal(sd_cert_load_secret(pub, &none, err, sizeof err), -EINVAL);
    assert_null(none);
    assert_non_null(strstr(err, "agent-1.cert"));
    printf("public file as secret: %s\n", err);
    zcert_destroy(&s);
    zcert_destroy(&p);

    /* not overwritten without force; replaced with it */
    assert_int_equal(sd_cert_generate(s_dir, "agent-1", NULL, false, err, sizeof err), -EEXIST);
    printf("again: %s\n", err);
    assert_int_equal(sd_cert_generate(s_dir, "agent-1", NULL, true, err, sizeof err), 0);
    assert_int_equal(sd_cert_load_public(pub, &p, err, sizeof err), 0);
    assert_string_equal(sd_cert_meta(p, "region"), "");
    zcert_destroy(&p);
}

static void test_names_and_bad_files(void **st)
{
    (void) st;
    assert_true(sd_cert_name_valid("agent-eu_1.example.org", false));
    assert_true(sd_cert_name_valid("", true));
    assert_false(sd_cert_name_valid("", false));
    assert_false(sd_cert_name_valid("a b", false));
    assert_false(sd_cert_name_valid("../x", false));
    assert_false(sd_cert_name_valid("..", false));
    assert_false(sd_cert_name_valid("a\"b", false));
    assert_false(sd_cert_name_valid("\xc3\xa9", false));
    char longname[SD_CERT_MAX_NAME + 2];
    memset(longname, 'a', sizeof longname - 1);
    longname[sizeof longname - 1] = 0;
    assert_false(sd_cert_name_valid(longname, false));
    longname[SD_CERT_MAX_NAME] = 0;
    assert_true(sd_cert_name_valid(longname, false));

    char err[512], path[256];
    assert_int_equal(sd_cert_generate(s_dir, "bad/name", NULL, false, err, sizeof err), -EINVAL);
    zcert_t *c = NULL;
    snprintf(path, sizeof path, "%s/missing.cert", s_dir);
    assert_int_equal(sd_cert_load_public(path, &c, err, sizeof err), -ENOENT);
    assert_non_null(strstr(err, "missing.cert"));
    snprintf(path, sizeof path, "%s/junk.cert", s_dir);
    FILE *f = fopen(path, "w");
    fputs("curve\n    public-key = \"short\"\n", f);
    fclose(f);
    assert_int_equal(sd_cert_load_public(path, &c, err, sizeof err), -EINVAL);
    printf("junk: %s\n", err);
    assert_null(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_generate_and_load),
        cmocka_unit_test(test_names_and_bad_files),
    };
    return cmocka_run_group_tests(tests, s_setup, s_teardown);
}
