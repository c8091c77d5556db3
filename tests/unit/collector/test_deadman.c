/* deadman: the dead man's switch requests its URL every interval while the collector is
 * healthy (a real HTTP receiver, libmicrohttpd), stops while a part is unhealthy and starts
 * again when it is healthy; POST sends a JSON body; a receiver answering 500 is counted as
 * failed. */
#include <microhttpd.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "deadman.h"
#include "health.h"
#include "metrics.h"
#include "sd_clock.h"

typedef struct {
    struct MHD_Daemon *d;
    int port;
    pthread_mutex_t mu;
    int status;              /* answer */
    int n;                   /* requests received */
    char method[8];
    char body[256];
} recv_t;

static enum MHD_Result s_handler(void *cls, struct MHD_Connection *c, const char *url,
                                 const char *method, const char *version, const char *data,
                                 size_t *size, void **con_cls)
{
    recv_t *r = cls;
    (void) url;
    (void) version;
    if (!*con_cls) {
        *con_cls = (void *) 1;
        return MHD_YES;
    }
    pthread_mutex_lock(&r->mu);
    if (*size) {
        size_t n = *size < sizeof r->body - 1 ? *size : sizeof r->body - 1;
        memcpy(r->body, data, n);
        r->body[n] = 0;
        *size = 0;
        pthread_mutex_unlock(&r->mu);
        return MHD_YES;
    }
    r->n++;
    snprintf(r->method, sizeof r->method, "%s", method);
    int status = r->status;
    pthread_mutex_unlock(&r->mu);
    struct MHD_Response *resp = MHD_create_response_from_buffer(2, "ok", MHD_RESPMEM_PERSISTENT);
    enum MHD_Result ret = MHD_queue_response(c, (unsigned) status, resp);
    MHD_destroy_response(resp);
    return ret;
}

static void s_recv_start(recv_t *r)
{
    memset(r, 0, sizeof *r);
    pthread_mutex_init(&r->mu, NULL);
    r->status = 200;
    r->d = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD, 0, NULL, NULL, s_handler, r,
                            MHD_OPTION_END);
    assert_non_null(r->d);
    r->port = MHD_get_daemon_info(r->d, MHD_DAEMON_INFO_BIND_PORT)->port;
}

static void s_recv_stop(recv_t *r)
{
    MHD_stop_daemon(r->d);
    pthread_mutex_destroy(&r->mu);
}

static int s_count(recv_t *r)
{
    pthread_mutex_lock(&r->mu);
    int n = r->n;
    pthread_mutex_unlock(&r->mu);
    return n;
}

static double s_metric(metrics_t *m, const char *series)
{
    char *text = metrics_render(m), line[256];
    snprintf(line, sizeof line, "\n%s ", series);
    const char *p = text ? strstr(text, line) : NULL;
    double v = p ? atof(p + strlen(line)) : 0;
    free(text);
    return v;
}

/* Waits until the receiver got at least n requests (deadline); returns the elapsed ms.
 * h (may be NULL): its "engine" part beats meanwhile, so it stays healthy however slow the
 * machine is. */
static sd_ms_t s_wait_requests(recv_t *r, int n, int deadline_ms, health_t *h)
{
    sd_ms_t t0 = sd_mono_ms();
    while (s_count(r) < n) {
        health_beat(h, "engine");
        if (sd_mono_ms() - t0 > deadline_ms)
            fail_msg("%d requests, want %d within %d ms", s_count(r), n, deadline_ms);
        usleep(20 * 1000);
    }
    return sd_mono_ms() - t0;
}

static void test_pressed_while_healthy_only(void **state)
{
    (void) state;
    recv_t r;
    s_recv_start(&r);
    metrics_t *m = metrics_new();
    health_t *h = health_new(2000, 60000);
    health_register(h, "engine", HEALTH_LOOP);
    collector_ctx_t ctx = {.metrics = m, .health = h};
    char url[64];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/ping/abc", r.port);
    deadman_conf_t conf = {.url = url, .interval_ms = 300};
    zactor_t *dm = deadman_new(&ctx, &conf);
    assert_non_null(dm);
    /* healthy: requests every 300 ms */
    health_beat(h, "engine");
    sd_ms_t took = s_wait_requests(&r, 3, 10000, h);
    printf("  3 requests while healthy within %lld ms; method %s\n", (long long) took, r.method);
    assert_string_equal(r.method, "GET");
    /* the engine stops beating: after 2 s it is stuck and the switch is no longer pressed */
    sd_ms_t t0 = sd_mono_ms();
    while (health_check(h, sd_mono_ms(), NULL))
        usleep(20 * 1000);
    printf("  unhealthy %lld ms after the last beat\n", (long long) (sd_mono_ms() - t0));
    usleep(400 * 1000); /* a request already running when it turned may still land */
    int during = s_count(&r);
    sd_ms_t quiet0 = sd_mono_ms();
    while (s_metric(m, "statusd_deadman_requests_total{result=\"skipped\"}") < 3) {
        assert_true(sd_mono_ms() - quiet0 < 5000);
        usleep(20 * 1000);
    }
    printf("  while unhealthy: %d new requests over %lld ms, skipped=%g\n",
           s_count(&r) - during, (long long) (sd_mono_ms() - quiet0),
           s_metric(m, "statusd_deadman_requests_total{result=\"skipped\"}"));
    assert_int_equal(s_count(&r), during);
    /* healthy again: pressed again */
    health_beat(h, "engine");
    took = s_wait_requests(&r, during + 1, 10000, h);
    printf("  pressed again %lld ms after the part was healthy\n", (long long) took);
    assert_true(s_metric(m, "statusd_deadman_requests_total{result=\"ok\"}") >= 4);
    zactor_destroy(&dm);
    health_destroy(&h);
    metrics_destroy(&m);
    s_recv_stop(&r);
}

static void test_post_and_failures(void **state)
{
    (void) state;
    recv_t r;
    s_recv_start(&r);
    r.status = 500;
    metrics_t *m = metrics_new();
    health_t *h = health_new(0, 0);
    collector_ctx_t ctx = {.metrics = m, .health = h};
    char url[64];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/hc", r.port);
    deadman_conf_t conf = {.url = url, .interval_ms = 200, .post = true};
    zactor_t *dm = deadman_new(&ctx, &conf);
    assert_non_null(dm);
    s_wait_requests(&r, 2, 10000, NULL);
    pthread_mutex_lock(&r.mu);
    printf("  POST body: %s\n", r.body);
    assert_string_equal(r.method, "POST");
    assert_non_null(strstr(r.body, "\"status\":\"healthy\""));
    pthread_mutex_unlock(&r.mu);
    sd_ms_t t0 = sd_mono_ms();
    while (s_metric(m, "statusd_deadman_requests_total{result=\"failed\"}") < 2) {
        assert_true(sd_mono_ms() - t0 < 5000);
        usleep(20 * 1000);
    }
    zactor_destroy(&dm);
    /* bad configurations are refused */
    deadman_conf_t bad = {.url = NULL, .interval_ms = 100};
    assert_null(deadman_new(&ctx, &bad));
    bad = (deadman_conf_t){.url = url, .interval_ms = 0};
    assert_null(deadman_new(&ctx, &bad));
    health_destroy(&h);
    metrics_destroy(&m);
    s_recv_stop(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pressed_while_healthy_only),
        cmocka_unit_test(test_post_and_failures),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
