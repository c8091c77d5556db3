/* libcurl multi inside the loop. curl tells us which sockets to watch (socket callback,
 * the watcher stored with curl_multi_assign) and when to time out (one timer); we answer
 * with curl_multi_socket_action and drain curl_multi_info_read after every action. */
#include "curl_glue.h"

#include <errno.h>
#include <stdlib.h>
#include <sys/epoll.h>

struct curl_glue {
    loop_t *loop;
    CURLM *multi;
    loop_timer_t timer;
    size_t running;    /* transfers added and not finished/removed */
    /* easy handles we added, so destroy can remove them */
    CURL **easies;
    size_t n_easies, cap_easies;
};

typedef struct {
    curl_glue_done_fn *done;
    void *ctx;
} s_job_t;

static void s_forget(curl_glue_t *self, CURL *easy)
{
    for (size_t i = 0; i < self->n_easies; i++)
        if (self->easies[i] == easy) {
            self->easies[i] = self->easies[--self->n_easies];
            return;
        }
}

static void s_check_info(curl_glue_t *self)
{
    CURLMsg *msg;
    int left;
    while ((msg = curl_multi_info_read(self->multi, &left))) {
        if (msg->msg != CURLMSG_DONE)
            continue;
        CURL *easy = msg->easy_handle;
        CURLcode rc = msg->data.result;
        s_job_t *job = NULL;
        curl_easy_getinfo(easy, CURLINFO_PRIVATE, (char **) &job);
        curl_multi_remove_handle(self->multi, easy);
        s_forget(self, easy);
        self->running--;
        curl_easy_setopt(easy, CURLOPT_PRIVATE, NULL);
        if (job) {
            s_job_t j = *job;
            free(job);
            j.done(easy, rc, j.ctx);
        }
    }
}

static void s_action(curl_glue_t *self, curl_socket_t s, int ev)
{
    int still;
    curl_multi_socket_action(self->multi, s, ev, &still);
    s_check_info(self);
}

static void s_on_io(loop_t *loop, loop_watcher_t *w, uint32_t revents, void *ctx)
{
    curl_glue_t *self = ctx;
    int ev = 0;
    if (revents & EPOLLIN)
        ev |= CURL_CSELECT_IN;
    if (revents & EPOLLOUT)
        ev |= CURL_CSELECT_OUT;
    if (revents & (EPOLLERR | EPOLLHUP))
        ev |= CURL_CSELECT_ERR;
    s_action(self, loop_watcher_fd(w), ev);
}

static void s_on_timer(loop_t *loop, loop_timer_t *t, void *ctx)
{
    s_action(ctx, CURL_SOCKET_TIMEOUT, 0);
}

/* CURLMOPT_SOCKETFUNCTION: only bookkeeping here, never a curl call other than assign. */
static int s_socket_cb(CURL *easy, curl_socket_t s, int what, void *userp, void *socketp)
{
    curl_glue_t *self = userp;
    loop_watcher_t *w = socketp;
    if (what == CURL_POLL_REMOVE) {
        if (w) {
            loop_unwatch(&w);
            curl_multi_assign(self->multi, s, NULL);
        }
        return 0;
    }
    uint32_t events = 0;
    if (what & CURL_POLL_IN)
        events |= EPOLLIN;
    if (what & CURL_POLL_OUT)
        events |= EPOLLOUT;
    if (w)
        return loop_watch_modify(w, events) == 0 ? 0 : -1;
    w = loop_watch(self->loop, s, events, s_on_io, self);
    if (!w)
        return -1;
    curl_multi_assign(self->multi, s, w);
    return 0;
}

/* CURLMOPT_TIMERFUNCTION: one timer; a 0 timeout runs on the next loop iteration. */
static int s_timer_cb(CURLM *multi, long timeout_ms, void *userp)
{
    curl_glue_t *self = userp;
    if (timeout_ms < 0)
        loop_timer_stop(&self->timer);
    else {
        loop_update_time(self->loop);
        loop_timer_start_in(&self->timer, timeout_ms);
    }
    return 0;
}

curl_glue_t *curl_glue_new(loop_t *loop)
{
    curl_glue_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    self->loop = loop;
    loop_timer_init(loop, &self->timer, s_on_timer, self);
    self->multi = curl_multi_init();
    if (!self->multi) {
        free(self);
        return NULL;
    }
    curl_multi_setopt(self->multi, CURLMOPT_SOCKETFUNCTION, s_socket_cb);
    curl_multi_setopt(self->multi, CURLMOPT_SOCKETDATA, self);
    curl_multi_setopt(self->multi, CURLMOPT_TIMERFUNCTION, s_timer_cb);
    curl_multi_setopt(self->multi, CURLMOPT_TIMERDATA, self);
    return self;
}

void curl_glue_remove(curl_glue_t *self, CURL *easy)
{
    s_job_t *job = NULL;
    curl_easy_getinfo(easy, CURLINFO_PRIVATE, (char **) &job);
    if (curl_multi_remove_handle(self->multi, easy) == CURLM_OK && job) {
        self->running--;
        s_forget(self, easy);
    }
    curl_easy_setopt(easy, CURLOPT_PRIVATE, NULL);
    free(job);
}

void curl_glue_destroy(curl_glue_t **p)
{
    if (!p || !*p)
        return;
    curl_glue_t *self = *p;
    while (self->n_easies > 0) {
        CURL *e = self->easies[self->n_easies - 1];
        curl_glue_remove(self, e);
        curl_easy_cleanup(e);
    }
    free(self->easies);
    if (self->multi)
        curl_multi_cleanup(self->multi); /* may call the socket callback with REMOVE */
    loop_timer_stop(&self->timer);
    free(self);
    *p = NULL;
}

int curl_glue_add(curl_glue_t *self, CURL *easy, curl_glue_done_fn *done, void *ctx)
{
    if (self->n_easies == self->cap_easies) {
        size_t cap = self->cap_easies ? self->cap_easies * 2 : 16;
        CURL **e = realloc(self->easies, cap * sizeof *e);
        if (!e)
            return -ENOMEM;
        self->easies = e;
        self->cap_easies = cap;
    }
    s_job_t *job = malloc(sizeof *job);
    if (!job)
        return -ENOMEM;
    job->done = done;
    job->ctx = ctx;
    curl_easy_setopt(easy, CURLOPT_PRIVATE, job);
    if (curl_multi_add_handle(self->multi, easy) != CURLM_OK) {
        curl_easy_setopt(easy, CURLOPT_PRIVATE, NULL);
        free(job);
        return -EINVAL;
    }
    self->easies[self->n_easies++] = easy;
    self->running++;
    return 0;
}

size_t curl_glue_running(const curl_glue_t *self) { return self->running; }
