/* deadman: the dead man's switch actor (see deadman.h). */
#include "deadman.h"

#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "health.h"
#include "sd_clock.h"
#include "sd_log.h"

#define COMP "deadman"
#define TIMEOUT_MAX_MS 10000

typedef struct {
    const collector_ctx_t *ctx;
    char *url;
    int interval_ms;
    bool post;
    CURL *easy;
    bool failing;          /* the last request failed (logged once per streak) */
    bool skipping;         /* the last turn was skipped: unhealthy (logged once per streak) */
} self_t;

typedef struct {
    const collector_ctx_t *ctx;
    const deadman_conf_t *conf;
    bool ok;
} start_t;

static size_t s_discard(char *ptr, size_t size, size_t nmemb, void *ud)
{
    (void) ptr;
    (void) ud;
    return size * nmemb;
}

static void s_count(self_t *self, const char *result)
{
    if (self->ctx->metrics)
        metrics_add(self->ctx->metrics, "statusd_deadman_requests_total",
                    "Dead man's switch turns: ok (the URL answered 2xx), failed, or skipped "
                    "(the collector was unhealthy, so nothing was sent).",
                    (const char *[]){"result", result, NULL}, 1);
}

/* One turn: a request when healthy. */
static void s_turn(self_t *self)
{
    if (!health_check(self->ctx->health, sd_mono_ms(), NULL)) {
        if (!self->skipping)
            sd_warn(COMP, "collector unhealthy: dead man's switch not pressed (the receiver "
                          "will notice; see /api/health)");
        self->skipping = true;
        s_count(self, "skipped");
        return;
    }
    if (self->skipping)
        sd_info(COMP, "collector healthy again: dead man's switch pressed again");
    self->skipping = false;
    CURL *e = self->easy;
    curl_easy_reset(e);
    long timeout = self->interval_ms < TIMEOUT_MAX_MS ? self->interval_ms : TIMEOUT_MAX_MS;
    curl_easy_setopt(e, CURLOPT_URL, self->url);
    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, timeout);
    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, timeout);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_USERAGENT, "statusd/" STATUSD_VERSION);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, s_discard);
    char body[128];
    struct curl_slist *h = NULL;
    if (self->post) {
        snprintf(body, sizeof body, "{\"status\":\"healthy\",\"service\":\"statusd-collector\","
                                    "\"version\":\"%s\"}", STATUSD_VERSION);
        h = curl_slist_append(NULL, "Content-Type: application/json");
        curl_easy_setopt(e, CURLOPT_HTTPHEADER, h);
        curl_easy_setopt(e, CURLOPT_POSTFIELDS, body);
    }
    CURLcode rc = curl_easy_perform(e);
    long status = 0;
    curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &status);
    curl_slist_free_all(h);
    bool ok = rc == CURLE_OK && status >= 200 && status < 300;
    s_count(self, ok ? "ok" : "failed");
    if (!ok && !self->failing)
        sd_warn(COMP, "dead man's switch request failed status=%ld err=\"%s\" (logged once "
                      "until it works again)",
                status, rc == CURLE_OK ? "not 2xx" : curl_easy_strerror(rc));
    else if (ok && self->failing)
        sd_info(COMP, "dead man's switch request works again status=%ld", status);
    self->failing = !ok;
}

static void s_actor(zsock_t *pipe, void *args)
{
    start_t *start = args;
    self_t self = {.ctx = start->ctx, .interval_ms = start->conf->interval_ms,
                   .post = start->conf->post};
    self.url = strdup(start->conf->url);
    self.easy = curl_easy_init();
    bool ok = self.url && self.easy && self.interval_ms > 0;
    zpoller_t *poller = ok ? zpoller_new(pipe, NULL) : NULL;
    ok = ok && poller;
    start->ok = ok;
    zsock_signal(pipe, 0); /* start lives on the caller's stack: not read after this */
    if (ok)
        sd_info(COMP, "dead man's switch on method=%s interval_ms=%d", self.post ? "POST" : "GET",
                self.interval_ms);
    /* the first turn soon after start, once the actors had a moment to report */
    sd_ms_t next = sd_mono_ms() + 1000;
    bool stop = !poller;
    while (!stop) {
        sd_ms_t wait = next - sd_mono_ms();
        void *which = zpoller_wait(poller, (int) (wait < 0 ? 0 : wait));
        if (which == pipe) {
            char *cmd = zstr_recv(pipe);
            stop = !cmd || strcmp(cmd, "$TERM") == 0;
            zstr_free(&cmd);
        } else if (zpoller_terminated(poller)) {
            stop = true;
        } else if (sd_mono_ms() >= next) {
            s_turn(&self);
            next = sd_mono_ms() + self.interval_ms;
        }
    }
    zpoller_destroy(&poller);
    if (self.easy)
        curl_easy_cleanup(self.easy);
    free(self.url);
}

zactor_t *deadman_new(const collector_ctx_t *ctx, const deadman_conf_t *conf)
{
    if (!ctx || !conf || !conf->url || conf->interval_ms <= 0)
        return NULL;
    curl_global_init(CURL_GLOBAL_DEFAULT); /* reference counted; not thread-safe: here */
    start_t start = {ctx, conf, false};
    zactor_t *actor = zactor_new(s_actor, &start);
    if (actor && !start.ok)
        zactor_destroy(&actor);
    return actor;
}
