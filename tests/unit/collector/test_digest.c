/* digest: a leased storm digest (its members as the lease adds them) becomes one DOWN_DIGEST
 * or RECOVERY_DIGEST event naming the first maxNames assets; outside text is made one line
 * and bounded; each channel that collapses renders one message naming all 20 of a 20-asset
 * digest, and the line never cuts a name and always counts the rest. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "channel.h"
#include "digest.h"
#include "mail_decode.h"
#include "markup.h"

/* A leased digest payload with n members named storm-01.. (of: "DOWN"/"RECOVERY"). */
static json_t *s_payload(const char *of, int n, int max_names)
{
    json_t *p = json_pack("{s:s, s:s, s:s, s:s, s:i, s:i, s:i, s:[]}", "event", "DIGEST", "of",
                          of, "channel", "ops-chat", "since", "2026-12-06T04:00:00.000Z",
                          "threshold", 3, "window_seconds", 60, "max_names", max_names,
                          "members");
    for (int i = 0; i < n; i++) {
        char id[32], name[32];
        snprintf(id, sizeof id, "storm-%02d", i + 4);
        snprintf(name, sizeof name, "Storm %02d", i + 4);
        json_array_append_new(json_object_get(p, "members"),
                              json_pack("{s:I, s:s, s:I, s:s, s:s, s:s, s:s, s:i}", "id",
                                        (json_int_t) (100 + i), "event", of, "incident_id",
                                        (json_int_t) (10 + i), "asset_id", id, "asset_name",
                                        name, "reason", "connection refused", "started_at",
                                        "2026-12-06T04:00:00.000Z", "duration_seconds", 42));
    }
    return p;
}

static void test_event_shape(void **st)
{
    (void) st;
    json_t *p = s_payload("DOWN", 25, 20);
    size_t members = 0;
    json_t *ev = digest_event(p, &members);
    assert_non_null(ev);
    assert_int_equal(members, 25);
    char *txt = json_dumps(ev, JSON_COMPACT);
    print_message("%.300s...\n", txt);
    free(txt);
    assert_string_equal(json_string_value(json_object_get(ev, "event")), "DOWN_DIGEST");
    assert_string_equal(json_string_value(json_object_get(ev, "asset_name")), "25 more assets");
    assert_int_equal(json_integer_value(json_object_get(ev, "count")), 25);
    assert_int_equal(json_array_size(json_object_get(ev, "assets")), 20);
    assert_string_equal(json_string_value(json_object_get(ev, "notifier")), "ops-chat");
    assert_string_equal(json_string_value(json_object_get(ev, "since")),
                        "2026-12-06T04:00:00.000Z");
    json_t *a0 = json_array_get(json_object_get(ev, "assets"), 0);
    assert_string_equal(json_string_value(json_object_get(a0, "asset_name")), "Storm 04");
    assert_string_equal(json_string_value(json_object_get(a0, "reason")), "connection refused");
    char line[2048];
    channel_event_line(ev, markup_plain, line, sizeof line);
    print_message("line: %s\n", line);
    assert_non_null(strstr(line, "Storm 04, Storm 05, "));
    assert_non_null(strstr(line, "Storm 23 and 5 more"));
    assert_string_equal(channel_event_title("DOWN_DIGEST"), "🔴 DOWN (storm)");
    assert_int_equal(channel_event_tone(ev), CHANNEL_TONE_BAD);
    json_decref(ev);
    json_decref(p);

    /* recoveries; one member; none */
    p = s_payload("RECOVERY", 1, 20);
    ev = digest_event(p, &members);
    assert_string_equal(json_string_value(json_object_get(ev, "event")), "RECOVERY_DIGEST");
    assert_string_equal(json_string_value(json_object_get(ev, "asset_name")), "1 more asset");
    assert_int_equal(channel_event_tone(ev), CHANNEL_TONE_GOOD);
    json_decref(ev);
    json_decref(p);
    p = s_payload("DOWN", 0, 20);
    ev = digest_event(p, &members);
    assert_non_null(ev);
    assert_int_equal(members, 0);
    json_decref(ev);
    json_decref(p);
}

/* Names from outside: one line, valid UTF-8, at most DIGEST_NAME_MAX bytes; the line fits its
 * buffer without cutting a name and counts what it left out. */
static void test_outside_text_bounded(void **st)
{
    (void) st;
    json_t *p = s_payload("DOWN", 3, 20);
    char big[600];
    memset(big, 'x', sizeof big - 1);
    big[sizeof big - 1] = 0;
    big[10] = '\n';
    json_object_set_new(json_array_get(json_object_get(p, "members"), 0), "asset_name",
                        json_string(big));
    json_object_set_new(json_array_get(json_object_get(p, "members"), 1), "reason",
                        json_string(big));
    size_t members;
    json_t *ev = digest_event(p, &members);
    json_t *as = json_object_get(ev, "assets");
    const char *n0 = json_string_value(json_object_get(json_array_get(as, 0), "asset_name"));
    print_message("name: %zu bytes\n", strlen(n0));
    assert_true(strlen(n0) < DIGEST_NAME_MAX);
    assert_null(strchr(n0, '\n'));
    assert_true(strlen(json_string_value(json_object_get(json_array_get(as, 1), "reason"))) <
                300);
    /* a 40-byte buffer: the first name does not fit, so the line is only the count */
    char line[40];
    channel_event_line(ev, markup_plain, line, sizeof line);
    print_message("40 bytes: '%s'\n", line);
    assert_string_equal(line, "3 assets");
    json_decref(ev);
    json_decref(p);
    /* 20 short names in 120 bytes: as many as fit, then the exact rest */
    p = s_payload("DOWN", 20, 20);
    ev = digest_event(p, &members);
    char small[120];
    channel_event_line(ev, markup_plain, small, sizeof small);
    print_message("120 bytes: '%s'\n", small);
    int named = 0;
    for (const char *q = small; (q = strstr(q, "Storm ")); q++)
        named++;
    char tail[32];
    snprintf(tail, sizeof tail, " and %d more", 20 - named);
    assert_true(named > 3);
    assert_non_null(strstr(small, tail));
    assert_true(strlen(small) < sizeof small);
    json_decref(ev);
    json_decref(p);
}

/* Every channel that collapses renders one message of a 20-asset digest naming all 20. */
static void test_channels_name_all(void **st)
{
    (void) st;
    static const char *const types[] = {"slack", "teams", "discord", "telegram", "ntfy",
                                        "email"};
    char dir[] = "/tmp/sd-digest-XXXXXX", tok[64];
    assert_non_null(mkdtemp(dir));
    snprintf(tok, sizeof tok, "%s/token", dir);
    FILE *f = fopen(tok, "w");
    fputs("123:abc\n", f);
    fclose(f);
    json_t *p = s_payload("DOWN", 20, 20);
    size_t members;
    json_t *ev = digest_event(p, &members);
    for (size_t t = 0; t < sizeof types / sizeof *types; t++) {
        const channel_ops_t *ops = channel_find(types[t]);
        assert_non_null(ops);
        assert_false(ops->no_digest);
        json_t *conf = json_pack("{s:s, s:s, s:s, s:s, s:s, s:I, s:s, s:s, s:[s]}", "type",
                                 types[t], "webhookUrl", "http://127.0.0.1:9/hook", "url",
                                 "http://127.0.0.1:9/topic", "smtpUrl", "smtp://127.0.0.1:9",
                                 "botTokenFile", tok, "chatId", (json_int_t) 42, "apiUrl",
                                 "http://127.0.0.1:9/", "from", "statusd@example.com", "to",
                                 "ops@example.com");
        channel_request_t req;
        char err[256] = "";
        channel_msg_t msg = {.row_id = 5, .now_ms = 1};
        assert_int_equal(channel_prepare(ops, conf, "http://127.0.0.1:9/hook", ev, &msg, &req,
                                         err, sizeof err),
                         0);
        /* a mail's text part is quoted-printable: read it decoded */
        char *text = strcmp(types[t], "email") == 0 ? test_mail_part(req.body, "text/plain")
                                                    : strdup(req.body);
        assert_non_null(text);
        int named = 0;
        for (int i = 4; i < 24; i++) {
            char want[32];
            snprintf(want, sizeof want, "Storm %02d", i);
            named += strstr(text, want) != NULL;
        }
        print_message("%-8s %zu bytes, %d of 20 named\n", types[t], strlen(req.body), named);
        assert_int_equal(named, 20);
        if (strcmp(types[t], "ntfy") != 0) /* ntfy: the subject is in the Title header */
            assert_non_null(strstr(text, "20 more assets"));
        free(text);
        channel_request_clear(&req);
        json_decref(conf);
    }
    assert_true(channel_find("pagerduty")->no_digest);
    assert_true(channel_find("webhook")->no_digest);
    json_decref(ev);
    json_decref(p);
    remove(tok);
    rmdir(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_event_shape),
        cmocka_unit_test(test_outside_text_bounded),
        cmocka_unit_test(test_channels_name_all),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
