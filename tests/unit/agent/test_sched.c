/* scheduler: phase alignment, start-to-start without drift, no double start, plan diffs.
 * Uses a fake probe type ("fake") whose run lasts options_json milliseconds. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <cmocka.h>

#include "scheduler.h"

#include <stdio.h>
#include <string.h>

#define MAXS 256

struct probe_run {
    loop_timer_t t;
    probe_done_fn *done;
    void *ctx;
    probe_result_t *r;
};

static struct {
    int starts, cancels, results, running, max_running;
    char ids[MAXS][16];
    sd_ms_t mono[MAXS];
    int64_t wall[MAXS];
    sd_ms_t due[MAXS];   /* the scheduler's due time of this start */
    int failures;
    char last_failure[PROBE_REASON_MAX];
    sched_t *sched;
} F;

static int s_parse(const char *json, void **out, char *err, size_t errlen)
{
    *out = NULL;
    if (json && strcmp(json, "bad") == 0) {
        snprintf(err, errlen, "bad options");
        return -22;
    }
    return 0;
}
static void s_free(void *o) {}

static void s_fire(loop_t *loop, loop_timer_t *t, void *ctx)
{
    probe_run_t *run = ctx;
    probe_result_t *r = run->r;
    probe_done_fn *done = run->done;
    void *dctx = run->ctx;
    free(run);
    F.running--;
    r->success = true;
    done(r, dctx);
}

static int s_start(const probe_env_t *env, const probe_spec_t *spec, const void *opts,
                   probe_done_fn *done, void *ctx, probe_run_t **out, char *err, size_t errlen)
{
    probe_run_t *run = calloc(1, sizeof *run);
    run->done = done;
    run->ctx = ctx;
    run->r = probe_result_new(spec->asset_id);
    if (F.starts < MAXS) {
        snprintf(F.ids[F.starts], sizeof F.ids[0], "%s", spec->asset_id);
        F.mono[F.starts] = sd_mono_ms();
        F.wall[F.starts] = sd_wall_ms();
        F.due[F.starts] = sched_asset_next_due(F.sched, spec->asset_id) - spec->interval_ms;
    }
    F.starts++;
    F.running++;
    if (F.running > F.max_running)
        F.max_running = F.running;
    loop_timer_init(env->loop, &run->t, s_fire, run);
    loop_timer_start_in(&run->t, atoi(spec->options_json[0] ? spec->options_json : "1"));
    *out = run;
    return 0;
}

static void s_cancel(probe_run_t *run)
{
    loop_timer_stop(&run->t);
    probe_result_destroy(&run->r);
    free(run);
    F.cancels++;
    F.running--;
}

static const struct probe_ops s_fake = {"fake", s_parse, s_free, s_start, s_cancel};
static const struct probe_ops *s_lookup(const char *name)
{
    return strcmp(name, "fake") == 0 ? &s_fake : NULL;
}

static void s_on_result(probe_result_t *r, void *ctx)
{
    F.results++;
    if (!r->success) {
        F.failures++;
        snprintf(F.last_failure, sizeof F.last_failure, "%s", r->reason);
    }
    probe_result_destroy(&r);
}

typedef struct {
    loop_t *loop;
    sched_t *s;
} fx_t;

static fx_t s_fx(void)
{
    memset(&F, 0, sizeof F);
    fx_t fx;
    fx.loop = loop_new();
    probe_env_t env = {fx.loop, NULL};
    fx.s = sched_new(&env, s_on_result, NULL);
    sched_set_lookup(fx.s, s_lookup);
    F.sched = fx.s;
    return fx;
}

static void s_fx_end(fx_t *fx)
{
    sched_destroy(&fx->s);
    assert_int_equal(loop_destroy(&fx->loop), 0);
}

static void s_run_until(fx_t *fx, int *counter, int want, int max_ms)
{
    sd_ms_t deadline = sd_mono_ms() + max_ms;
    while (*counter < want && sd_mono_ms() < deadline)
        loop_run_once(fx->loop, 20);
}

static probe_spec_t s_spec(const char *id, uint32_t interval, uint32_t offset, const char *dur)
{
    return (probe_spec_t){.asset_id = (char *) id, .type = "fake", .address = "x",
                          .interval_ms = interval, .timeout_ms = 1000,
                          .options_json = (char *) dur, .phase_offset_ms = offset};
}

static void test_phase_offset_and_no_drift(void **state)
{
    fx_t fx = s_fx();
    /* each run takes 30 ms: start-to-start must still be exactly the interval */
    probe_spec_t specs[] = {s_spec("a", 200, 70, "30"), s_spec("b", 200, 170, "30")};
    assert_int_equal(sched_apply(fx.s, specs, 2, NULL, 0), 2);
    s_run_until(&fx, &F.starts, 12, 3000);
    assert_true(F.starts >= 12);
    /* Judge the scheduler's due times, not wake-up times: a loaded machine may wake late,
     * but lateness must never shift the schedule (no drift) nor the phase. */
    sd_ms_t first_a = -1;
    int k = 0;
    int64_t worst_late = 0;
    for (int i = 0; i < 12; i++) {
        int64_t want_phase = strcmp(F.ids[i], "a") == 0 ? 70 : 170;
        int64_t late = F.mono[i] - F.due[i];
        int64_t due_wall = F.wall[i] - late;
        int64_t phase = due_wall % 200;
        printf("start %d asset=%s due_wall%%200=%lld late=%lld ms\n", i, F.ids[i],
               (long long) phase, (long long) late);
        assert_true(late >= 0);
        assert_true(phase >= want_phase - 2 && phase <= want_phase + 2);
        if (late > worst_late)
            worst_late = late;
        if (strcmp(F.ids[i], "a") == 0) {
            if (first_a < 0)
                first_a = F.due[i];
            /* exactly first + k * interval: 30 ms runs do not push the next start */
            assert_int_equal(F.due[i], first_a + (sd_ms_t) k * 200);
            k++;
        }
    }
    printf("asset a: %d starts on first+k*interval exactly; worst wake-up lateness %lld ms\n", k,
           (long long) worst_late);
    assert_true(k >= 5);
    s_fx_end(&fx);
}

static void test_no_double_start(void **state)
{
    fx_t fx = s_fx();
    /* a run lasts 250 ms, the interval is 100 ms */
    probe_spec_t spec = s_spec("slow", 100, 0, "250");
    sched_apply(fx.s, &spec, 1, NULL, 0);
    s_run_until(&fx, &F.results, 3, 5000);
    sched_stats_t st = sched_stats(fx.s);
    printf("starts=%d results=%d skipped=%llu max_running=%d\n", F.starts, F.results,
           (unsigned long long) st.skipped, F.max_running);
    assert_int_equal(F.max_running, 1);
    assert_true(st.skipped >= 4);
    assert_true(F.results >= 3);
    s_fx_end(&fx); /* cancels the run in flight */
    assert_true(F.cancels <= 1);
}

static void test_assignment_change(void **state)
{
    fx_t fx = s_fx();
    /* keep/change are due half a minute away, so only "remove" can run during the test
     * (a fixed phase would sometimes coincide with the wall clock) */
    uint32_t far = (uint32_t) ((sd_wall_ms() + 30000) % 60000);
    probe_spec_t v1[] = {s_spec("keep", 60000, far, "1"), s_spec("change", 60000, far, "1"),
                         s_spec("remove", 100, 0, "300")};
    assert_int_equal(sched_apply(fx.s, v1, 3, NULL, 0), 3);
    s_run_until(&fx, &F.starts, 1, 2000); /* "remove" is now in flight */
    assert_int_equal(F.running, 1);
    sd_ms_t keep_due = sched_asset_next_due(fx.s, "keep");
    sd_ms_t change_due = sched_asset_next_due(fx.s, "change");

    probe_spec_t v2[] = {s_spec("keep", 60000, far, "1"),
                         s_spec("change", 60000, (far + 10000) % 60000, "1"),
                         s_spec("new", 60000, far, "1"), s_spec("bad", 60000, 0, "bad")};
    v2[3].type = "nosuch";
    char err[256];
    assert_int_equal(sched_apply(fx.s, v2, 4, err, sizeof err), 3);
    printf("apply err=%s\n", err);
    assert_non_null(strstr(err, "nosuch"));
    assert_int_equal(sched_stats(fx.s).invalid, 1);
    assert_int_equal(sched_asset_next_due(fx.s, "keep"), keep_due); /* schedule kept */
    sd_ms_t new_change = sched_asset_next_due(fx.s, "change");
    printf("change: due moved by %lld ms\n", (long long) (new_change - change_due));
    assert_true(new_change != change_due);   /* rescheduled at its new phase */
    assert_int_equal(sched_asset_starts(fx.s, "remove"), -1);
    /* its run in flight is not cancelled: the result of a removed asset still arrives */
    assert_int_equal(F.cancels, 0);
    assert_int_equal(F.running, 1);
    int results_before = F.results;
    s_run_until(&fx, &F.results, results_before + 1, 3000);
    assert_int_equal(F.results, results_before + 1);
    assert_int_equal(F.running, 0);
    assert_int_equal(sched_stats(fx.s).in_flight, 0);
    assert_true(sched_asset_next_due(fx.s, "new") > 0);
    assert_int_equal(sched_stats(fx.s).assets, 3);
    /* an empty plan removes everything, and nothing is left registered */
    assert_int_equal(sched_apply(fx.s, NULL, 0, NULL, 0), 0);
    s_fx_end(&fx);
}

/* A probe that never calls back (a probe bug): at a due time past 2 x timeout + 1 s it is
 * cancelled and reported as a failure, and the asset runs again, instead of going silent. */
static void test_hung_probe_reported(void **state)
{
    fx_t fx = s_fx();
    probe_spec_t spec = s_spec("hang", 100, 0, "600000");
    spec.timeout_ms = 50; /* hung after 1.1 s */
    sched_apply(fx.s, &spec, 1, NULL, 0);
    s_run_until(&fx, &F.failures, 1, 5000);
    sched_stats_t st = sched_stats(fx.s);
    printf("starts=%d failures=%d cancels=%d hung=%llu reason=\"%s\"\n", F.starts,
           F.failures, F.cancels, (unsigned long long) st.hung, F.last_failure);
    assert_int_equal(F.failures, 1);
    assert_int_equal(st.hung, 1);
    assert_int_equal(F.cancels, 1);
    assert_int_equal(F.starts, 2);  /* and it runs again */
    assert_int_equal(F.running, 1);
    assert_non_null(strstr(F.last_failure, "did not finish"));
    s_fx_end(&fx);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_phase_offset_and_no_drift),
        cmocka_unit_test(test_no_double_start),
        cmocka_unit_test(test_assignment_change),
        cmocka_unit_test(test_hung_probe_reported),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
