/* The agent's epoll loop. Shape of redis's ae.c and libuv: epoll data.ptr is a watcher,
 * a watcher removed in a callback is freed after the iteration, all due timers are
 * collected before any runs, and before-sleep hooks run right before epoll_wait. */
#include "loop.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <unistd.h>

#define LOOP_MAX_EVENTS 256

struct loop_watcher {
    int fd;
    uint32_t events;
    loop_io_fn *cb;
    void *ctx;
    loop_t *loop;
    bool dead;
    bool fd_gone;                /* the owner closed fd and a new watcher now has the number */
    loop_watcher_t *prev, *next; /* live list, or the dead list once removed */
};

struct loop_hook {
    loop_hook_fn *fn;
    void *ctx;
    bool dead;
    loop_hook_t *next;
};

struct loop {
    int epfd;
    sd_ms_t now;
    bool stop;
    timer_heap_t timers;
    loop_timer_t *ready_head, *ready_tail; /* due timers of this iteration */
    size_t n_ready;
    loop_watcher_t *watchers; /* live */
    loop_watcher_t *dead;     /* unwatched, freed after the iteration */
    size_t n_watchers;
    loop_watcher_t **by_fd;   /* live watcher of each fd number (see loop_unwatch) */
    size_t by_fd_cap;
    loop_hook_t *hooks;
    /* signals: internal, not counted as a registration */
    int sigfd;
    loop_watcher_t *sigw;
    sigset_t oldmask;
    loop_signal_fn *sig_cb;
    void *sig_ctx;
};

loop_t *loop_new(void)
{
    loop_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    self->sigfd = -1;
    self->epfd = epoll_create1(EPOLL_CLOEXEC);
    if (self->epfd < 0) {
        int e = errno;
        free(self);
        errno = e;
        return NULL;
    }
    timer_heap_init(&self->timers);
    self->now = sd_mono_ms();
    return self;
}

static void s_free_dead(loop_t *self)
{
    while (self->dead) {
        loop_watcher_t *w = self->dead;
        self->dead = w->next;
        free(w);
    }
    loop_hook_t **pp = &self->hooks;
    while (*pp) {
        loop_hook_t *h = *pp;
        if (h->dead) {
            *pp = h->next;
            free(h);
        } else
            pp = &h->next;
    }
}

static size_t s_live_hooks(const loop_t *loop)
{
    size_t n = 0;
    for (const loop_hook_t *h = loop->hooks; h; h = h->next)
        n += !h->dead;
    return n;
}

size_t loop_destroy(loop_t **p)
{
    if (!p || !*p)
        return 0;
    loop_t *self = *p;
    if (self->sigw) {
        self->n_watchers++; /* it was never counted as a client's */
        loop_unwatch(&self->sigw);
    }
    if (self->sigfd >= 0) {
        close(self->sigfd);
        sigprocmask(SIG_SETMASK, &self->oldmask, NULL);
    }
    size_t left = self->n_watchers + s_live_hooks(self) + timer_heap_count(&self->timers) +
                  self->n_ready;
    while (self->watchers) {
        loop_watcher_t *w = self->watchers;
        loop_unwatch(&w);
    }
    for (loop_hook_t *h = self->hooks; h; h = h->next)
        h->dead = true;
    s_free_dead(self);
    /* leave embedded timers idle so their owners can see it */
    timer_heap_node_t *n;
    while ((n = timer_heap_pop(&self->timers)))
        ((loop_timer_t *) n)->state = 0;
    for (loop_timer_t *t = self->ready_head; t; t = t->ready_next)
        t->state = 0;
    close(self->epfd);
    free(self->by_fd);
    free(self);
    *p = NULL;
    return left;
}

sd_ms_t loop_now(const loop_t *loop) { return loop->now; }
void loop_update_time(loop_t *loop) { loop->now = sd_mono_ms(); }
void loop_stop(loop_t *loop) { loop->stop = true; }

/* --- watchers -------------------------------------------------------------- */

/* Room for fd in by_fd; 0 or -ENOMEM. */
static int s_by_fd_reserve(loop_t *loop, int fd)
{
    if ((size_t) fd < loop->by_fd_cap)
        return 0;
    size_t cap = loop->by_fd_cap ? loop->by_fd_cap : 64;
    while (cap <= (size_t) fd)
        cap *= 2;
    loop_watcher_t **b = realloc(loop->by_fd, cap * sizeof *b);
    if (!b)
        return -ENOMEM;
    memset(b + loop->by_fd_cap, 0, (cap - loop->by_fd_cap) * sizeof *b);
    loop->by_fd = b;
    loop->by_fd_cap = cap;
    return 0;
}

loop_watcher_t *loop_watch(loop_t *loop, int fd, uint32_t events, loop_io_fn *cb, void *ctx)
{
    if (fd < 0) {
        errno = EBADF;
        return NULL;
    }
    if (s_by_fd_reserve(loop, fd) < 0) {
        errno = ENOMEM;
        return NULL;
    }
    loop_watcher_t *w = calloc(1, sizeof *w);
    if (!w)
        return NULL;
    w->fd = fd;
    w->events = events;
    w->cb = cb;
    w->ctx = ctx;
    w->loop = loop;
    struct epoll_event ev = {.events = events, .data.ptr = w};
    if (epoll_ctl(loop->epfd, EPOLL_CTL_ADD, fd, &ev) < 0) {
        int e = errno;
        free(w);
        errno = e;
        return NULL;
    }
    /* a live watcher with this number: its owner closed the fd (which left epoll) and the
     * number was reused; its later loop_unwatch must not delete the new registration */
    if (loop->by_fd[fd])
        loop->by_fd[fd]->fd_gone = true;
    loop->by_fd[fd] = w;
    w->next = loop->watchers;
    if (loop->watchers)
        loop->watchers->prev = w;
    loop->watchers = w;
    loop->n_watchers++;
    return w;
}

int loop_watch_modify(loop_watcher_t *w, uint32_t events)
{
    if (w->fd_gone)
        return -EBADF;
    struct epoll_event ev = {.events = events, .data.ptr = w};
    if (epoll_ctl(w->loop->epfd, EPOLL_CTL_MOD, w->fd, &ev) < 0)
        return -errno;
    w->events = events;
    return 0;
}

void loop_unwatch(loop_watcher_t **pw)
{
    if (!pw || !*pw)
        return;
    loop_watcher_t *w = *pw;
    *pw = NULL;
    if (w->dead)
        return;
    loop_t *loop = w->loop;
    /* EBADF/ENOENT: the owner already closed the fd, which removed it from epoll */
    if (!w->fd_gone) {
        epoll_ctl(loop->epfd, EPOLL_CTL_DEL, w->fd, NULL);
        loop->by_fd[w->fd] = NULL;
    }
    w->dead = true;
    if (w->prev)
        w->prev->next = w->next;
    else
        loop->watchers = w->next;
    if (w->next)
        w->next->prev = w->prev;
    loop->n_watchers--;
    w->prev = NULL;
    w->next = loop->dead;
    loop->dead = w;
}

int loop_watcher_fd(const loop_watcher_t *w) { return w->fd; }

/* --- timers ---------------------------------------------------------------- */

void loop_timer_init(loop_t *loop, loop_timer_t *t, loop_timer_fn *cb, void *ctx)
{
    memset(t, 0, sizeof *t);
    t->loop = loop;
    t->cb = cb;
    t->ctx = ctx;
}

void loop_timer_stop(loop_timer_t *t)
{
    loop_t *loop = t->loop;
    if (t->state == 1) {
        timer_heap_remove(&loop->timers, &t->node);
    } else if (t->state == 2) {
        if (t->ready_prev)
            t->ready_prev->ready_next = t->ready_next;
        else
            loop->ready_head = t->ready_next;
        if (t->ready_next)
            t->ready_next->ready_prev = t->ready_prev;
        else
            loop->ready_tail = t->ready_prev;
        t->ready_prev = t->ready_next = NULL;
        loop->n_ready--;
    }
    t->state = 0;
}

void loop_timer_start(loop_timer_t *t, sd_ms_t due_ms)
{
    loop_timer_stop(t);
    timer_heap_insert(&t->loop->timers, &t->node, due_ms);
    t->state = 1;
}

void loop_timer_start_in(loop_timer_t *t, sd_ms_t delay_ms)
{
    loop_timer_start(t, t->loop->now + (delay_ms > 0 ? delay_ms : 0));
}

bool loop_timer_active(const loop_timer_t *t) { return t->state != 0; }

/* Moves every due timer to the ready list first, then runs them in order: a timer
 * re-armed by a callback waits for the next iteration, and one stopped by an earlier
 * callback of this batch does not run. */
static void s_run_timers(loop_t *loop)
{
    timer_heap_node_t *n;
    while ((n = timer_heap_min(&loop->timers)) && n->due_ms <= loop->now) {
        timer_heap_pop(&loop->timers);
        loop_timer_t *t = (loop_timer_t *) n;
        t->state = 2;
        t->ready_next = NULL;
        t->ready_prev = loop->ready_tail;
        if (loop->ready_tail)
            loop->ready_tail->ready_next = t;
        else
            loop->ready_head = t;
        loop->ready_tail = t;
        loop->n_ready++;
    }
    while (loop->ready_head) {
        loop_timer_t *t = loop->ready_head;
        loop_timer_stop(t);
        t->cb(loop, t, t->ctx);
    }
}

/* --- hooks ----------------------------------------------------------------- */

loop_hook_t *loop_hook_add(loop_t *loop, loop_hook_fn *fn, void *ctx)
{
    loop_hook_t *h = calloc(1, sizeof *h);
    if (!h)
        return NULL;
    h->fn = fn;
    h->ctx = ctx;
    loop_hook_t **pp = &loop->hooks; /* append: hooks run in registration order */
    while (*pp)
        pp = &(*pp)->next;
    *pp = h;
    return h;
}

void loop_hook_remove(loop_hook_t **ph)
{
    if (!ph || !*ph)
        return;
    loop_hook_t *h = *ph;
    *ph = NULL;
    h->dead = true; /* freed after the iteration */
}

/* --- signals --------------------------------------------------------------- */

static void s_on_signal(loop_t *loop, loop_watcher_t *w, uint32_t revents, void *ctx)
{
    struct signalfd_siginfo si;
    while (read(loop->sigfd, &si, sizeof si) == (ssize_t) sizeof si) {
        if (loop->sig_cb)
            loop->sig_cb(loop, (int) si.ssi_signo, loop->sig_ctx);
    }
}

int loop_signals_enable(loop_t *loop, loop_signal_fn *cb, void *ctx)
{
    if (loop->sigfd >= 0)
        return -EALREADY;
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGHUP);
    if (sigprocmask(SIG_BLOCK, &set, &loop->oldmask) < 0)
        return -errno;
    loop->sigfd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
    if (loop->sigfd < 0) {
        int e = errno;
        sigprocmask(SIG_SETMASK, &loop->oldmask, NULL);
        return -e;
    }
    loop->sigw = loop_watch(loop, loop->sigfd, EPOLLIN, s_on_signal, NULL);
    if (!loop->sigw) {
        int e = errno;
        close(loop->sigfd);
        loop->sigfd = -1;
        sigprocmask(SIG_SETMASK, &loop->oldmask, NULL);
        return -e;
    }
    loop->n_watchers--; /* internal: not a client registration */
    loop->sig_cb = cb;
    loop->sig_ctx = ctx;
    return 0;
}

/* --- running --------------------------------------------------------------- */

int loop_run_once(loop_t *loop, int max_wait_ms)
{
    loop->now = sd_mono_ms();
    s_run_timers(loop);
    for (loop_hook_t *h = loop->hooks; h; h = h->next)
        if (!h->dead)
            h->fn(loop, h->ctx);
    s_free_dead(loop);

    int timeout = max_wait_ms;
    if (loop->stop) {
        timeout = 0;
    } else {
        timer_heap_node_t *n = timer_heap_min(&loop->timers);
        if (n) {
            loop->now = sd_mono_ms();
            sd_ms_t d = n->due_ms - loop->now;
            if (d < 0)
                d = 0;
            if (d > 3600000)
                d = 3600000;
            if (timeout < 0 || d < timeout)
                timeout = (int) d;
        }
    }
    struct epoll_event evs[LOOP_MAX_EVENTS];
    int n = epoll_wait(loop->epfd, evs, LOOP_MAX_EVENTS, timeout);
    int err = n < 0 ? errno : 0;
    loop->now = sd_mono_ms();
    for (int i = 0; i < n; i++) {
        loop_watcher_t *w = evs[i].data.ptr;
        /* an earlier callback of this batch may have removed or changed it */
        if (w->dead)
            continue;
        uint32_t rev = evs[i].events & (w->events | EPOLLERR | EPOLLHUP);
        if (rev)
            w->cb(loop, w, rev, w->ctx);
    }
    s_free_dead(loop);
    if (n < 0 && err != EINTR)
        return -err;
    return 0;
}

int loop_run(loop_t *loop)
{
    loop->stop = false;
    while (!loop->stop) {
        int rc = loop_run_once(loop, -1);
        if (rc < 0)
            return rc;
    }
    return 0;
}
