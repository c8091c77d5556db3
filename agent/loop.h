/* loop: the agent's one event loop (epoll). Clients are watchers, timers, before-sleep hooks
 * and the signal handler; libcurl, the ZeroMQ socket and the scheduler all use it.
 * Single-threaded: no function here may be called from another thread. */
#ifndef LOOP_H
#define LOOP_H

#include "sd_clock.h"
#include "timer_heap.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct loop loop_t;
typedef struct loop_watcher loop_watcher_t;
typedef struct loop_hook loop_hook_t;
typedef struct loop_timer loop_timer_t;

/* revents: EPOLLIN/EPOLLOUT/EPOLLERR/EPOLLHUP bits. */
typedef void(loop_io_fn)(loop_t *loop, loop_watcher_t *w, uint32_t revents, void *ctx);
typedef void(loop_timer_fn)(loop_t *loop, loop_timer_t *t, void *ctx);
typedef void(loop_hook_fn)(loop_t *loop, void *ctx);
typedef void(loop_signal_fn)(loop_t *loop, int signo, void *ctx);

/* A timer is embedded by its owner (no allocation); fields are private to loop.c. */
struct loop_timer {
    timer_heap_node_t node;
    loop_t *loop;
    loop_timer_fn *cb;
    void *ctx;
    struct loop_timer *ready_prev, *ready_next; /* collected as due, not yet run */
    int state;                                  /* 0 idle, 1 in heap, 2 ready */
};

/* A new loop, or NULL with errno set. */
loop_t *loop_new(void);
/* Frees the loop and everything still owned by it; returns how many watchers, active timers
 * and hooks were still registered (0 for a clean teardown). Accepts NULL. */
size_t loop_destroy(loop_t **p);

/* Runs iterations until loop_stop(); 0, or -errno if epoll_wait fails. */
int loop_run(loop_t *loop);
/* One iteration: due timers, hooks, then wait at most max_wait_ms (-1: until the next timer
 * or event) for I/O. For tests and embedding. */
int loop_run_once(loop_t *loop, int max_wait_ms);
/* Makes loop_run return after the current iteration. */
void loop_stop(loop_t *loop);
/* Monotonic ms read once per iteration (after waking). */
sd_ms_t loop_now(const loop_t *loop);
/* Re-reads the clock into loop_now (for long callbacks). */
void loop_update_time(loop_t *loop);

/* Watches fd for events (EPOLLIN|EPOLLOUT, optionally EPOLLET). NULL with errno on failure.
 * The watcher is owned by the loop until loop_unwatch. */
loop_watcher_t *loop_watch(loop_t *loop, int fd, uint32_t events, loop_io_fn *cb, void *ctx);
/* Changes the interest set; 0 or -errno. */
int loop_watch_modify(loop_watcher_t *w, uint32_t events);
/* Stops watching at once (no further callback) and frees the watcher after the current
 * iteration, so it may be called from any callback, including its own. Sets *w = NULL.
 * The caller still owns (and closes) the fd; closing it before this call is allowed, even
 * when the number has meanwhile been reused and watched again (that watch is kept). */
void loop_unwatch(loop_watcher_t **w);
int loop_watcher_fd(const loop_watcher_t *w);

/* Prepares an embedded timer (idle). */
void loop_timer_init(loop_t *loop, loop_timer_t *t, loop_timer_fn *cb, void *ctx);
/* (Re)arms t to fire at monotonic due_ms. A timer armed from a timer callback never runs in
 * the same iteration, even when already due (so a 0 delay means "next iteration"). */
void loop_timer_start(loop_timer_t *t, sd_ms_t due_ms);
/* Arms t to fire delay_ms after loop_now(). */
void loop_timer_start_in(loop_timer_t *t, sd_ms_t delay_ms);
/* Disarms t; safe on an idle timer and from any callback. The owner may free t afterwards. */
void loop_timer_stop(loop_timer_t *t);
bool loop_timer_active(const loop_timer_t *t);

/* Adds a hook called once per iteration just before the loop sleeps (ZeroMQ drains its
 * edge-triggered socket there). NULL with errno on failure. */
loop_hook_t *loop_hook_add(loop_t *loop, loop_hook_fn *fn, void *ctx);
/* Removes the hook (freed after the iteration); sets *h = NULL. */
void loop_hook_remove(loop_hook_t **h);

/* Blocks SIGINT, SIGTERM and SIGHUP for the calling thread and delivers them through a
 * signalfd to cb. Call before creating threads that must not receive them. 0 or -errno. */
int loop_signals_enable(loop_t *loop, loop_signal_fn *cb, void *ctx);

#endif
