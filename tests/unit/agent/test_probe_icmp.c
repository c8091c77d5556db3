/* icmp probe: live echo to 127.0.0.1 and ::1; then, in a child process inside a network
 * namespace of its own (unshare(CLONE_NEWNET): nothing outside it is touched), a dead address
 * (198.51.100.7 routed onto lo, where nobody owns it: requests vanish, "3/3 lost"), the
 * unprivileged ping socket (net.ipv4.ping_group_range is per namespace) and the no-permission
 * reason after dropping CAP_NET_RAW. Needs root (CI runs as root); skipped otherwise. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <cmocka.h>

#include "loop.h"
#include "probe.h"

#include <errno.h>
#include <linux/capability.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

static probe_result_t *s_got;
static void s_done(probe_result_t *r, void *ctx) { s_got = r; }

/* Runs one probe; NULL when it did not finish in 10 s. No cmocka asserts (used in children). */
static probe_result_t *s_probe(const char *addr, const char *opts, uint32_t timeout_ms,
                               int64_t *elapsed_ms, size_t *left)
{
    loop_t *loop = loop_new();
    probe_env_t env = {loop, NULL};
    probe_spec_t spec = {.asset_id = "i1", .type = "icmp", .address = (char *) addr,
                         .interval_ms = 60000, .timeout_ms = timeout_ms,
                         .options_json = (char *) opts};
    const struct probe_ops *ops = probe_find("icmp");
    void *o = NULL;
    char err[200] = "";
    probe_run_t *run = NULL;
    s_got = NULL;
    sd_ms_t t0 = sd_mono_ms();
    if (!ops || ops->parse_options(opts, &o, err, sizeof err) ||
        ops->start(&env, &spec, o, s_done, NULL, &run, err, sizeof err)) {
        printf("start failed: %s\n", err);
        return NULL;
    }
    while (!s_got && sd_mono_ms() < t0 + 10000)
        loop_run_once(loop, 20);
    *elapsed_ms = sd_mono_ms() - t0;
    ops->free_options(o);
    *left = loop_destroy(&loop);
    if (s_got)
        printf("icmp %s %s -> success=%d reason=\"%s\" latency_us=%u phases=%zu %lldms left=%zu\n",
               addr, opts, s_got->success, s_got->reason, s_got->latency_us, s_got->n_phases,
               (long long) *elapsed_ms, *left);
    fflush(stdout);
    return s_got;
}

static void test_live_v4_v6(void **state)
{
    if (geteuid() != 0)
        skip();
    const char *addrs[] = {"127.0.0.1", "::1", "localhost"};
    for (size_t i = 0; i < 3; i++) {
        int64_t el;
        size_t left;
        probe_result_t *r = s_probe(addrs[i], "{\"count\": 3, \"intervalMs\": 50}", 2000, &el,
                                    &left);
        assert_non_null(r);
        assert_int_equal(left, 0);
        assert_true(r->success);
        assert_string_equal(r->reason, "");
        assert_true(r->latency_us > 0 && r->latency_us < 100000);
        assert_int_equal(r->n_phases, 1);
        assert_string_equal(r->phases[0].name, "rtt");
        assert_true(el >= 95 && el < 1500); /* 3 requests 50 ms apart, replies at once */
        probe_result_destroy(&r);
    }
    int64_t el;
    size_t left;
    probe_result_t *r = s_probe("127.0.0.1", "", 2000, &el, &left); /* defaults: 3 x 200 ms */
    assert_true(r->success);
    assert_true(el >= 390);
    probe_result_destroy(&r);
}

/* ---- in a namespace of our own ---------------------------------------------------------- */

static int s_sh(const char *cmd)
{
    int rc = system(cmd);
    if (rc != 0)
        printf("command failed (%d): %s\n", rc, cmd);
    return rc;
}

static int s_write(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    if (!f)
        return -1;
    int rc = fputs(text, f) < 0 ? -1 : 0;
    return fclose(f) || rc ? -1 : 0;
}

static int s_drop_net_raw(void)
{
    struct __user_cap_header_struct h = {_LINUX_CAPABILITY_VERSION_3, 0};
    struct __user_cap_data_struct d[2];
    if (syscall(SYS_capget, &h, d))
        return -1;
    d[0].effective &= ~(1u << CAP_NET_RAW);
    d[0].permitted &= ~(1u << CAP_NET_RAW);
    return (int) syscall(SYS_capset, &h, d);
}

#define CHECK(c)                                                                              \
    do {                                                                                      \
        if (!(c)) {                                                                           \
            printf("child check failed at line %d: %s\n", __LINE__, #c);                      \
            fflush(stdout);                                                                   \
            _exit(1);                                                                         \
        }                                                                                     \
    } while (0)

static void s_netns_child(void)
{
    int64_t el;
    size_t left;
    CHECK(unshare(CLONE_NEWNET) == 0);
    CHECK(s_sh("ip link set lo up && ip route add 198.51.100.0/24 dev lo") == 0);

    /* raw socket (ping_group_range is "1 0" in a new namespace): a dead address */
    probe_result_t *r = s_probe("198.51.100.7", "{\"count\": 3, \"intervalMs\": 50}", 500, &el,
                                &left);
    CHECK(r && !r->success && left == 0);
    CHECK(strcmp(r->reason, "3/3 echo requests lost") == 0);
    CHECK(el >= 490 && el < 1500);
    probe_result_destroy(&r);
    /* maxLossPercent 100 accepts total loss (the verdict rule, not the packets) */
    r = s_probe("198.51.100.7", "{\"count\": 2, \"intervalMs\": 10, \"maxLossPercent\": 100}",
                200, &el, &left);
    CHECK(r && r->success);
    probe_result_destroy(&r);
    /* a blackhole route: the kernel refuses at once, and the reason says where */
    CHECK(s_sh("ip route add blackhole 192.0.2.0/24") == 0);
    r = s_probe("192.0.2.9", "{\"count\": 1}", 500, &el, &left);
    CHECK(r && !r->success && left == 0);
    CHECK(strncmp(r->reason, "icmp: no route to 192.0.2.9 (", 29) == 0);
    probe_result_destroy(&r);

    CHECK(s_drop_net_raw() == 0);
    /* neither a ping socket nor CAP_NET_RAW */
    r = s_probe("127.0.0.1", "{\"count\": 1}", 500, &el, &left);
    CHECK(r && !r->success && left == 0);
    CHECK(strcmp(r->reason,
                 "icmp: no permission: need CAP_NET_RAW or net.ipv4.ping_group_range") == 0);
    probe_result_destroy(&r);
    /* the unprivileged ping socket, allowed for our group in this namespace */
    CHECK(s_write("/proc/sys/net/ipv4/ping_group_range", "0 2147483647") == 0);
    r = s_probe("127.0.0.1", "{\"count\": 3, \"intervalMs\": 20}", 1000, &el, &left);
    CHECK(r && r->success && left == 0);
    probe_result_destroy(&r);
    r = s_probe("::1", "{\"count\": 2, \"intervalMs\": 20}", 1000, &el, &left);
    CHECK(r && r->success && left == 0);
    probe_result_destroy(&r);
    r = s_probe("198.51.100.7", "{\"count\": 2, \"intervalMs\": 20}", 300, &el, &left);
    CHECK(r && !r->success && strcmp(r->reason, "2/2 echo requests lost") == 0);
    probe_result_destroy(&r);
    _exit(0);
}

static void test_dead_ping_socket_and_permission_in_netns(void **state)
{
    if (geteuid() != 0)
        skip();
    fflush(stdout);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0)
        s_netns_child();
    int st = 0;
    assert_int_equal(waitpid(pid, &st, 0), pid);
    assert_true(WIFEXITED(st));
    assert_int_equal(WEXITSTATUS(st), 0);
}

static void test_bad_options_and_cancel(void **state)
{
    const struct probe_ops *ops = probe_find("icmp");
    void *o = NULL;
    char err[200] = "";
    assert_int_equal(ops->parse_options("{\"count\": 0}", &o, err, sizeof err), 0);
    probe_spec_t spec = {.asset_id = "x", .type = "icmp", .address = "127.0.0.1",
                         .timeout_ms = 1000};
    probe_run_t *run = NULL;
    assert_int_equal(ops->start(NULL, &spec, o, s_done, NULL, &run, err, sizeof err), -EINVAL);
    assert_string_equal(err, "invalid options: icmp options: count: expected an integer from 1 "
                             "to 100, got 0");
    ops->free_options(o);

    /* a name without a resolver is a failed result, not a crash */
    int64_t el;
    size_t left;
    probe_result_t *r = s_probe("gateway.example", "", 500, &el, &left);
    assert_non_null(r);
    assert_false(r->success);
    assert_string_equal(r->reason, "icmp: no resolver for host names");
    probe_result_destroy(&r);

    if (geteuid() != 0)
        return;
    loop_t *loop = loop_new();
    probe_env_t env = {loop, NULL};
    assert_int_equal(ops->parse_options("{\"count\": 5}", &o, err, sizeof err), 0);
    s_got = NULL;
    assert_int_equal(ops->start(&env, &spec, o, s_done, NULL, &run, err, sizeof err), 0);
    loop_run_once(loop, 10);
    ops->cancel(run);
    assert_null(s_got);
    ops->free_options(o);
    assert_int_equal(loop_destroy(&loop), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_live_v4_v6),
        cmocka_unit_test(test_dead_ping_socket_and_permission_in_netns),
        cmocka_unit_test(test_bad_options_and_cancel),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
