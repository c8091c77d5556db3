/* notifiers.json: every notifier type's fields (what each may, must and must not say), the
 * delivery URL each copies to webhook_url, and the errors, with file:line:column: field. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "sd_config.h"

typedef struct {
    const char *notifier;      /* the notifier object */
    const char *want_url;      /* webhook_url, NULL none */
} good_t;

static const good_t s_good[] = {
    {"{\"type\":\"slack\",\"webhookUrl\":\"https://hooks.slack.com/services/T/B/x\"}",
     "https://hooks.slack.com/services/T/B/x"},
    {"{\"type\":\"discord\",\"webhookUrl\":\"https://discord.com/api/webhooks/1/t\"}",
     "https://discord.com/api/webhooks/1/t"},
    {"{\"type\":\"pagerduty\",\"routingKeyFile\":\"/etc/statusd/pd.key\"}", NULL},
    {"{\"type\":\"pagerduty\",\"routingKey\":\"R0123\",\"eventsUrl\":\"http://127.0.0.1:9/v2/"
     "enqueue\"}", "http://127.0.0.1:9/v2/enqueue"},
    {"{\"type\":\"webhook\",\"url\":\"https://ops.example.com/hook\",\"secretFile\":\"/s\","
     "\"headers\":{\"X-Team\":\"sre\"}}", "https://ops.example.com/hook"},
    {"{\"type\":\"email\",\"smtpUrl\":\"smtps://mail.example.com:465\",\"from\":\"statusd@"
     "example.com\",\"to\":[\"oncall@example.com\"],\"username\":\"u\",\"passwordFile\":\"/p\","
     "\"starttls\":\"required\"}", "smtps://mail.example.com:465"},
    {"{\"type\":\"telegram\",\"botTokenFile\":\"/t\",\"chatId\":-1001234}", NULL},
    {"{\"type\":\"telegram\",\"botTokenFile\":\"/t\",\"chatId\":\"@ops\",\"apiUrl\":"
     "\"http://127.0.0.1:9\"}", "http://127.0.0.1:9"},
    {"{\"type\":\"ntfy\",\"url\":\"https://ntfy.sh/ops\",\"tokenFile\":\"/t\",\"priority\":5}",
     "https://ntfy.sh/ops"},
};

static void test_every_type_loads(void **state)
{
    (void) state;
    for (size_t i = 0; i < sizeof s_good / sizeof *s_good; i++) {
        char text[1024], err[512] = "";
        snprintf(text, sizeof text, "{\"notifiers\":{\"x\":%s}}", s_good[i].notifier);
        sd_notifiers_t *n = NULL;
        int rc = sd_notifiers_parse("n.json", text, &n, err, sizeof err);
        if (rc)
            fail_msg("%s: %s", s_good[i].notifier, err);
        const sd_notifier_conf_t *c = sd_notifiers_find(n, "x");
        assert_non_null(c);
        if (s_good[i].want_url)
            assert_string_equal(c->webhook_url, s_good[i].want_url);
        else
            assert_null(c->webhook_url);
        assert_non_null(c->raw);
        sd_notifiers_destroy(&n);
    }
}

static const struct {
    const char *notifier, *want;
} s_bad[] = {
    {"{\"type\":\"discord\"}", "n.json:1:19: notifiers.x.webhookUrl: missing required field"},
    {"{\"type\":\"discord\",\"webhookUrl\":\"ftp://h/\"}",
     "n.json:1:50: notifiers.x.webhookUrl: expected an http:// or https:// URL"},
    {"{\"type\":\"discord\",\"url\":\"http://h/\"}",
     "n.json:1:37: notifiers.x.url: unknown field (allowed: type, webhookUrl)"},
    {"{\"type\":\"pagerduty\"}",
     "n.json:1:19: notifiers.x: a pagerduty notifier needs \"routingKey\" or \"routingKeyFile\""},
    {"{\"type\":\"webhook\",\"url\":\"http://h/\",\"headers\":{\"X-A\":1}}",
     "n.json:1:72: notifiers.x.headers.X-A: expected a string, got an integer"},
    {"{\"type\":\"email\",\"smtpUrl\":\"http://h/\",\"from\":\"a@b\",\"to\":[\"c@d\"]}",
     "n.json:1:45: notifiers.x.smtpUrl: expected an smtp:// or smtps:// URL"},
    {"{\"type\":\"email\",\"smtpUrl\":\"smtp://h:25\",\"from\":\"a@b\",\"to\":[]}",
     "n.json:1:77: notifiers.x.to: expected a non-empty array of strings, got an empty array"},
    {"{\"type\":\"telegram\",\"botTokenFile\":\"/t\",\"chatId\":true}",
     "n.json:1:67: notifiers.x.chatId: expected a string or an integer, got a boolean"},
    {"{\"type\":\"ntfy\",\"url\":\"\"}",
     "n.json:1:40: notifiers.x.url: expected a non-empty string"},
};

static void test_errors_name_the_field(void **state)
{
    (void) state;
    int wrong = 0;
    for (size_t i = 0; i < sizeof s_bad / sizeof *s_bad; i++) {
        char text[1024], err[512] = "";
        snprintf(text, sizeof text, "{\"notifiers\":{\"x\":%s}}", s_bad[i].notifier);
        sd_notifiers_t *n = NULL;
        assert_int_equal(sd_notifiers_parse("n.json", text, &n, err, sizeof err), -EINVAL);
        assert_null(n);
        bool ok = strcmp(err, s_bad[i].want) == 0;
        print_message("  %s%s\n", ok ? "" : "WRONG: ", err);
        wrong += !ok;
    }
    assert_int_equal(wrong, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_type_loads),
        cmocka_unit_test(test_errors_name_the_field),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
