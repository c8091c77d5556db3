/* agent_keys: the agents directory admits each certificate's key under its name and region,
 * notices files added, removed and changed, keeps rotated keys of one agent side by side,
 * skips files that are not certificates, and admits neither copy of a key claimed by two
 * names. */
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

#include "agent_keys.h"
#include "sd_cert.h"

static char s_dir[64], s_keys[80];

static int s_setup(void **st)
{
    (void) st;
    snprintf(s_dir, sizeof s_dir, "/tmp/test_agent_keys_XXXXXX");
    if (!mkdtemp(s_dir))
        return -1;
    snprintf(s_keys, sizeof s_keys, "%s/keys", s_dir);
    return mkdir(s_keys, 0700);
}

static int s_teardown(void **st)
{
    (void) st;
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", s_dir);
    return system(cmd) == 0 ? 0 : -1;
}

/* Makes a pair named file in s_keys (metadata name/region) and returns its public key. */
static char *s_make(const char *file, const char *name, const char *region)
{
    char err[512], path[256];
    assert_int_equal(sd_cert_generate(s_keys, file, region, true, err, sizeof err), 0);
    if (strcmp(file, name) != 0) { /* rewrite the name in the public file */
        snprintf(path, sizeof path, "%s/%s.cert", s_keys, file);
        zcert_t *c = NULL;
        assert_int_equal(sd_cert_load_public(path, &c, err, sizeof err), 0);
        char *text = NULL;
        assert_true(asprintf(&text, "metadata\n    name = \"%s\"\n%s%s%scurve\n    public-key "
                             "= \"%s\"\n", name, region ? "    region = \"" : "",
                             region ? region : "", region ? "\"\n" : "",
                             zcert_public_txt(c)) > 0);
        FILE *f = fopen(path, "w");
        fputs(text, f);
        fclose(f);
        free(text);
        zcert_destroy(&c);
    }
    snprintf(path, sizeof path, "%s/%s.cert", s_keys, file);
    zcert_t *c = NULL;
    assert_int_equal(sd_cert_load_public(path, &c, err, sizeof err), 0);
    char *key = strdup(zcert_public_txt(c));
    zcert_destroy(&c);
    return key;
}

static void s_install(const char *file)
{
    char cmd[600];
    snprintf(cmd, sizeof cmd, "cp %s/%s.cert %s/", s_keys, file, s_dir);
    assert_int_equal(system(cmd), 0);
}

static void s_remove(const char *file)
{
    char path[256];
    snprintf(path, sizeof path, "%s/%s.cert", s_dir, file);
    assert_int_equal(unlink(path), 0);
}

static int s_reload(agent_keys_t *k, size_t *skipped)
{
    char err[600];
    int rc = agent_keys_reload(k, skipped, err, sizeof err);
    if (*skipped)
        printf("skipped %zu, first: %s\n", *skipped, err);
    return rc;
}

static void test_admit_reload_rotate_conflict(void **st)
{
    (void) st;
    char *a1 = s_make("a1", "a1", "eu"), *a1b = s_make("a1-rotated", "a1", "eu");
    char *b = s_make("b", "b", NULL), *evil = s_make("evil", "evil", NULL);
    agent_keys_t *k = agent_keys_new(s_dir);
    assert_non_null(k);
    size_t skipped;
    assert_int_equal(s_reload(k, &skipped), 1); /* the first read counts as a change */
    assert_int_equal(agent_keys_count(k), 0);
    s_install("a1");
    s_install("b");
    assert_int_equal(s_reload(k, &skipped), 1);
    assert_int_equal(skipped, 0);
    assert_int_equal(agent_keys_count(k), 2);
    const agent_key_t *e = agent_keys_lookup(k, a1);
    assert_non_null(e);
    assert_string_equal(e->name, "a1");
    assert_string_equal(e->region, "eu");
    assert_string_equal(e->file, "a1.cert");
    assert_string_equal(agent_keys_lookup(k, b)->region, "");
    assert_null(agent_keys_lookup(k, evil));
    assert_null(agent_keys_lookup(k, NULL));
    assert_int_equal(s_reload(k, &skipped), 0); /* nothing changed */

    /* rotation: a second key for a1; both are admitted until the old file goes */
    s_install("a1-rotated");
    assert_int_equal(s_reload(k, &skipped), 1);
    assert_string_equal(agent_keys_lookup(k, a1b)->name, "a1");
    assert_non_null(agent_keys_lookup(k, a1));
    s_remove("a1");
    assert_int_equal(s_reload(k, &skipped), 1);
    assert_null(agent_keys_lookup(k, a1));
    assert_non_null(agent_keys_lookup(k, a1b));

    /* junk, secret files and hidden files: skipped or ignored, the rest still admitted */
    char path[256];
    snprintf(path, sizeof path, "%s/junk.cert", s_dir);
    FILE *f = fopen(path, "w");
    fputs("not a certificate\n", f);
    fclose(f);
    char cmd[600];
    snprintf(cmd, sizeof cmd, "cp %s/evil.cert_secret %s/ && cp %s/evil.cert %s/.hidden.cert",
             s_keys, s_dir, s_keys, s_dir);
    assert_int_equal(system(cmd), 0);
    assert_int_equal(s_reload(k, &skipped), 0); /* the admitted set did not change */
    assert_int_equal(skipped, 1);
    assert_null(agent_keys_lookup(k, evil));
    assert_int_equal(agent_keys_count(k), 2);

    /* one key under two names: neither is admitted */
    snprintf(path, sizeof path, "%s/b-copy.cert", s_dir);
    f = fopen(path, "w");
    fprintf(f, "metadata\n    name = \"someone-else\"\ncurve\n    public-key = \"%s\"\n", b);
    fclose(f);
    assert_int_equal(s_reload(k, &skipped), 1);
    assert_int_equal(skipped, 2);
    assert_null(agent_keys_lookup(k, b));
    assert_int_equal(agent_keys_count(k), 1);

    /* a directory that cannot be read keeps what was read before */
    agent_keys_t *gone = agent_keys_new("/nonexistent/statusd-agents");
    assert_true(s_reload(gone, &skipped) < 0);
    agent_keys_destroy(&gone);
    agent_keys_destroy(&k);
    agent_keys_destroy(&k);
    free(a1);
    free(a1b);
    free(b);
    free(evil);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_admit_reload_rotate_conflict),
    };
    return cmocka_run_group_tests(tests, s_setup, s_teardown);
}
