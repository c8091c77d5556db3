/* config_ref: snapshots swapped under readers. A reader thread takes and drops references
 * and views while the main thread publishes 2,000 generations: every snapshot a reader holds
 * stays readable (ASan would see a use after free), generations only grow, and the last
 * reference frees everything (LeakSanitizer). Also: a view without a holder, refresh
 * semantics, a snapshot outliving its holder. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config_ref.h"

#define SWAPS 2000

static sd_manifest_t *s_manifest(int assets)
{
    char text[4096];
    size_t n = (size_t) snprintf(text, sizeof text, "{\"assets\": [");
    for (int i = 0; i < assets; i++)
        n += (size_t) snprintf(text + n, sizeof text - n,
                               "%s{\"id\": \"a%d\", \"assetType\": \"http\", \"name\": \"A %d\", "
                               "\"address\": \"http://127.0.0.1/%d\", \"intervalSeconds\": 30, "
                               "\"timeoutSeconds\": 5}",
                               i ? ", " : "", i, i, i);
    snprintf(text + n, sizeof text - n, "]}");
    sd_manifest_t *m = NULL;
    char err[256];
    assert_int_equal(sd_manifest_parse("manifest.json", text, &m, err, sizeof err), 0);
    return m;
}

static sd_notifiers_t *s_notifiers(void)
{
    sd_notifiers_t *n = NULL;
    char err[256];
    assert_int_equal(sd_notifiers_parse("notifiers.json",
                                        "{\"notifiers\": {}, \"notificationPolicy\": "
                                        "{\"onDown\": [], \"onRecovery\": []}}",
                                        &n, err, sizeof err),
                     0);
    return n;
}

typedef struct {
    config_ref_t *ref;
    atomic_bool stop;
    long reads, refreshes;
    bool ok;
} reader_t;

static void *s_reader(void *arg)
{
    reader_t *r = arg;
    config_view_t v, old;
    config_view_init(&v, r->ref, NULL, NULL);
    uint64_t last = v.generation;
    r->ok = true;
    while (!atomic_load(&r->stop)) {
        const config_snap_t *s = config_ref_get(r->ref);
        /* read it all: a freed manifest would be caught here */
        size_t n = s->manifest->n_assets;
        for (size_t i = 0; i < n; i++)
            r->ok = r->ok && s->manifest->assets[i].id[0] == 'a';
        r->ok = r->ok && s->generation >= last && (size_t) s->generation % 7 + 1 == n;
        config_snap_put(&s);
        r->ok = r->ok && s == NULL;
        if (config_view_refresh(&v, r->ref, &old)) {
            r->ok = r->ok && v.generation > old.generation && old.manifest && v.manifest;
            r->ok = r->ok && old.manifest->n_assets == (size_t) old.generation % 7 + 1;
            config_view_release(&old);
            r->refreshes++;
        }
        last = v.generation;
        r->reads++;
    }
    config_view_release(&v);
    return NULL;
}

static void test_swap_under_readers(void **state)
{
    (void) state;
    /* generation g has g % 7 + 1 assets, so a reader can tell the snapshot it holds */
    config_ref_t *ref = config_ref_new(s_manifest(2), s_notifiers());
    assert_non_null(ref);
    assert_int_equal(config_ref_generation(ref), 1);
    reader_t rd[2] = {{.ref = ref}, {.ref = ref}};
    pthread_t th[2];
    for (int i = 0; i < 2; i++)
        assert_int_equal(pthread_create(&th[i], NULL, s_reader, &rd[i]), 0);
    for (uint64_t g = 2; g <= SWAPS + 1; g++) {
        uint64_t got = 0;
        assert_int_equal(config_ref_swap(ref, s_manifest((int) (g % 7 + 1)), s_notifiers(), &got),
                         0);
        assert_int_equal(got, g);
    }
    for (int i = 0; i < 2; i++) {
        atomic_store(&rd[i].stop, true);
        pthread_join(th[i], NULL);
        printf("reader %d: %ld reads, %ld refreshes, ok=%d\n", i, rd[i].reads, rd[i].refreshes,
               rd[i].ok);
        assert_true(rd[i].ok);
        assert_true(rd[i].reads > 0);
    }
    assert_int_equal(config_ref_generation(ref), SWAPS + 1);
    config_ref_destroy(&ref);
    assert_null(ref);
    config_ref_destroy(&ref); /* NULL is accepted */
}

static void test_snapshot_outlives_holder(void **state)
{
    (void) state;
    config_ref_t *ref = config_ref_new(s_manifest(3), s_notifiers());
    const config_snap_t *s = config_ref_get(ref);
    const config_snap_t *again = config_snap_ref(s);
    assert_ptr_equal(s, again);
    config_ref_destroy(&ref);
    assert_int_equal(s->manifest->n_assets, 3); /* still ours */
    assert_string_equal(sd_manifest_find(s->manifest, "a2")->name, "A 2");
    config_snap_put(&s);
    assert_int_equal(again->generation, 1);
    config_snap_put(&again);
    config_snap_put(&again); /* NULL is accepted */
}

static void test_view_refresh(void **state)
{
    (void) state;
    config_ref_t *ref = config_ref_new(s_manifest(1), s_notifiers());
    config_view_t v, old;
    config_view_init(&v, ref, NULL, NULL);
    assert_int_equal(v.generation, 1);
    assert_false(config_view_refresh(&v, ref, &old)); /* nothing new */
    assert_null(old.snap);
    assert_int_equal(config_ref_swap(ref, s_manifest(4), s_notifiers(), NULL), 0);
    assert_int_equal(config_ref_swap(ref, s_manifest(5), s_notifiers(), NULL), 0);
    assert_true(config_view_refresh(&v, ref, &old)); /* straight to the newest */
    assert_int_equal(v.generation, 3);
    assert_int_equal(v.manifest->n_assets, 5);
    assert_int_equal(old.generation, 1);
    assert_int_equal(old.manifest->n_assets, 1); /* the previous one, still readable */
    config_view_release(&old);
    config_view_release(&v);
    config_view_release(&v); /* a zeroed view is accepted */
    config_ref_destroy(&ref);
}

static void test_view_without_holder(void **state)
{
    (void) state;
    sd_manifest_t fixed = {0};
    sd_notifiers_t nf = {0};
    config_view_t v, old;
    config_view_init(&v, NULL, &fixed, &nf);
    assert_ptr_equal(v.manifest, &fixed);
    assert_ptr_equal(v.notifiers, &nf);
    assert_null(v.snap);
    assert_false(config_view_refresh(&v, NULL, &old));
    assert_ptr_equal(v.manifest, &fixed);
    config_view_release(&v);
    assert_int_equal(config_ref_generation(NULL), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_swap_under_readers),
        cmocka_unit_test(test_snapshot_outlives_holder),
        cmocka_unit_test(test_view_refresh),
        cmocka_unit_test(test_view_without_holder),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
