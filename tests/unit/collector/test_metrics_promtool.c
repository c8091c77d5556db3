/* test_metrics_promtool: a registry filled with every metric the collector exposes (the
 * documented ones plus every "statusd_*" name found in collector sources) must pass
 * `promtool check metrics` without a single remark. promtool missing is a failure. */
#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "metrics.h"

#define PROMTOOL "/usr/bin/promtool"
#define L(...) ((const char *const[]){__VA_ARGS__, NULL})

/* Runs promtool check metrics on text; returns its exit status, output in out. */
static int s_promtool(const char *text, char *out, size_t outlen)
{
    char path[] = "/tmp/statusd-promtool-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    size_t len = strlen(text);
    assert_int_equal(write(fd, text, len), (ssize_t) len);
    close(fd);
    char cmd[256];
    snprintf(cmd, sizeof cmd, PROMTOOL " check metrics < %s 2>&1", path);
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    size_t n = fread(out, 1, outlen - 1, p);
    out[n] = 0;
    int st = pclose(p);
    unlink(path);
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128;
}

/* Renders m, expects promtool to pass it without a remark, destroys m. */
static void s_expect_clean(metrics_t *m)
{
    char *text = metrics_render(m);
    assert_non_null(text);
    printf("--- exposition (%zu bytes) ---\n%.6000s---\n", strlen(text), text);
    char out[8192];
    int rc = s_promtool(text, out, sizeof out);
    printf("promtool check metrics: exit=%d output=[%s]\n", rc, out);
    assert_int_equal(rc, 0);
    assert_string_equal(out, "");
    free(text);
    metrics_destroy(&m);
}

static int s_setup(void **state)
{
    (void) state;
    if (access(PROMTOOL, X_OK) != 0) {
        fprintf(stderr, "FAIL: %s is missing (%s); install prometheus to run this test\n",
                PROMTOOL, strerror(errno));
        return -1;
    }
    return 0;
}

/* The pipe works and promtool does complain: a known-bad exposition is reported. */
static void test_promtool_rejects_bad_input(void **state)
{
    (void) state;
    char out[4096];
    int rc = s_promtool("# HELP statusd_latency_ms latency\n# TYPE statusd_latency_ms counter\n"
                        "statusd_latency_ms 1\n",
                        out, sizeof out);
    printf("promtool on a bad exposition: exit=%d output=%s\n", rc, out);
    assert_int_not_equal(rc, 0);
    assert_true(strlen(out) > 0);
}

/* Every "statusd_[a-z0-9_]+" string literal in the collector sources (.c, .h), added to m when not yet
 * there (a counter when it ends in _total, else a gauge; no labels). */
static int s_add_discovered(metrics_t *m)
{
    const char *src = getenv("STATUSD_SOURCE_DIR");
    assert_non_null(src);
    char dirpath[1024];
    snprintf(dirpath, sizeof dirpath, "%s/collector", src);
    DIR *d = opendir(dirpath);
    assert_non_null(d);
    int found = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        size_t nl = strlen(e->d_name);
        if (nl < 3 || (strcmp(e->d_name + nl - 2, ".c") && strcmp(e->d_name + nl - 2, ".h")))
            continue;
        char path[2048];
        snprintf(path, sizeof path, "%s/%s", dirpath, e->d_name);
        FILE *f = fopen(path, "r");
        if (!f)
            continue;
        char line[4096];
        while (fgets(line, sizeof line, f)) {
            for (char *p = line; (p = strstr(p, "\"statusd_"));) {
                p++;
                size_t k = strspn(p, "abcdefghijklmnopqrstuvwxyz0123456789_");
                if (p[k] != '"' || k <= 8 || p[k - 1] == '_') {
                    p += k;
                    continue;
                }
                char name[256];
                snprintf(name, sizeof name, "%.*s", (int) k, p);
                char *have = metrics_render(m);
                char probe[300];
                snprintf(probe, sizeof probe, "# TYPE %s ", name);
                if (!strstr(have, probe)) {
                    printf("discovered %s in %s\n", name, e->d_name);
                    found++;
                    if (k > 6 && strcmp(name + k - 6, "_total") == 0)
                        metrics_add(m, name, "Discovered in collector sources.", NULL, 1);
                    else
                        metrics_set(m, name, "Discovered in collector sources.", NULL, 1);
                }
                free(have);
                p += k;
            }
        }
        fclose(f);
    }
    closedir(d);
    return found;
}

static void test_collector_metrics_pass_promtool(void **state)
{
    (void) state;
    metrics_t *m = metrics_new();
    const char *assets[] = {"api-prod", "web \"main\"\\site\nx"};
    const char *agents[][2] = {{"agent-eu-1", "eu-west"}, {"agent-us-1", "us-east"}};
    for (int i = 0; i < 2; i++) {
        for (int j = 0; j < 2; j++) {
            const char *const *lab = L("asset", assets[i], "agent", agents[j][0], "region",
                                       agents[j][1]);
            metrics_set(m, "statusd_probe_success",
                        "Whether the agent's latest probe of the asset succeeded (1) or not (0).",
                        lab, j);
            metrics_set(m, "statusd_probe_duration_seconds",
                        "Duration of the agent's latest probe of the asset, in seconds.", lab,
                        j ? 0.0421 : NAN);
        }
        metrics_set(m, "statusd_asset_up", "1 when the asset is UP, 0 when DOWN or DEGRADED.",
                    L("asset", assets[i]), i);
    }
    metrics_set(m, "statusd_incidents_open", "Incidents currently open.", NULL, 1);
    metrics_set(m, "statusd_agents_connected", "Agents currently connected.", NULL, 2);
    metrics_add(m, "statusd_results_received_total", "Probe results received from agents.",
                NULL, 12345);
    metrics_add(m, "statusd_api_requests_total",
                "HTTP requests served by the API, by route and status code.",
                L("route", "/api/assets", "code", "200"), 3);
    metrics_add(m, "statusd_api_connections_rejected_total",
                "API connections refused because the connection limit was reached.", NULL, 0);
    metrics_set(m, "statusd_build_info", "Build information.", L("version", "0.1.0"), INFINITY);
    int found = s_add_discovered(m);
    printf("%d names discovered in sources\n", found);
    s_expect_clean(m);
}

/* Label values with invalid bytes, a sequence split by a byte-wise cut (what an agent or a
 * certificate may send) and a value too long: the exposition still passes promtool, which
 * refuses a whole scrape for one invalid label value. */
static void test_invalid_label_values_pass_promtool(void **state)
{
    (void) state;
    metrics_t *m = metrics_new();
    char longv[3100] = "";
    for (int i = 0; i < 1000; i++)
        strcat(longv, "\xE2\x82\xAC"); /* 3000 bytes of the euro sign */
    const char *values[] = {"eu\xC3", "body does not contain \"aaaa\xC3\"", "\xFF\xFE",
                            "\xED\xA0\x80 surrogate", "\xC0\xAF overlong", "\xF4\x90\x80\x80",
                            "line\nbreak \"quoted\" back\\slash \xE2\x82", longv};
    for (size_t i = 0; i < sizeof values / sizeof *values; i++) {
        char asset[16];
        snprintf(asset, sizeof asset, "asset-%zu", i);
        metrics_set(m, "statusd_probe_phase_duration_seconds",
                    "Duration of each phase of the latest probe",
                    L("asset", asset, "region", values[i], "phase", values[i]), 0.5);
        metrics_add(m, "statusd_results_received_total", "Probe results newly stored",
                    L("agent", values[i], "region", values[i]), 1);
    }
    s_expect_clean(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_promtool_rejects_bad_input),
        cmocka_unit_test(test_collector_metrics_pass_promtool),
        cmocka_unit_test(test_invalid_label_values_pass_promtool),
    };
    return cmocka_run_group_tests(tests, s_setup, NULL);
}
