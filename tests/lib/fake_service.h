/* Test helper: runs one of the fake chat receivers (tests/lib/fake_<type>.py, protocol and
 * control described in fake_service.py) as a child process and talks to it over its
 * stdin/stdout. Header-only, for the cmocka tests; include after cmocka.h. */
#ifndef TEST_FAKE_SERVICE_H
#define TEST_FAKE_SERVICE_H

#include <jansson.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

typedef struct {
    pid_t pid;
    int to_child, from_child;
    int port;
    char buf[1 << 20]; /* one answer line */
} test_fake_t;

/* Reads one line (10 s deadline) into f->buf; its length, or -1. */
static inline int test_fake_line(test_fake_t *f)
{
    size_t n = 0;
    while (n < sizeof f->buf - 1) {
        struct pollfd p = {f->from_child, POLLIN, 0};
        if (poll(&p, 1, 10000) <= 0)
            return -1;
        ssize_t r = read(f->from_child, f->buf + n, 1);
        if (r != 1)
            return -1;
        if (f->buf[n++] == '\n')
            break;
    }
    f->buf[n] = 0;
    return (int) n;
}

/* Starts tests/lib/<script> with arg (NULL: none); a calloc'd handle with port set, or NULL
 * (printed). */
static inline test_fake_t *test_fake_start(const char *script, const char *arg)
{
    test_fake_t *f = calloc(1, sizeof *f);
    const char *src = getenv("STATUSD_SOURCE_DIR");
    char path[1024];
    snprintf(path, sizeof path, "%s/tests/lib/%s", src ? src : ".", script);
    int in[2], out[2];
    if (!f || pipe(in) || pipe(out)) {
        free(f);
        return NULL;
    }
    f->pid = fork();
    if (f->pid == 0) {
        dup2(in[0], 0);
        dup2(out[1], 1);
        close(in[0]), close(in[1]), close(out[0]), close(out[1]);
        execl("/usr/bin/python3", "python3", path, arg, (char *) NULL);
        _exit(127);
    }
    close(in[0]);
    close(out[1]);
    f->to_child = in[1];
    f->from_child = out[0];
    if (test_fake_line(f) < 0 || sscanf(f->buf, "PORT %d", &f->port) != 1) {
        fprintf(stderr, "%s did not start: \"%s\"\n", script, f->buf);
        kill(f->pid, SIGTERM);
        waitpid(f->pid, NULL, 0);
        close(f->to_child);
        close(f->from_child);
        free(f);
        return NULL;
    }
    printf("%s pid=%d on 127.0.0.1:%d\n", script, (int) f->pid, f->port);
    return f;
}

/* Sends one control line (JSON) and returns the parsed answer (caller decrefs), or NULL. */
static inline json_t *test_fake_cmd(test_fake_t *f, const char *json)
{
    size_t n = strlen(json);
    if (write(f->to_child, json, n) != (ssize_t) n || write(f->to_child, "\n", 1) != 1)
        return NULL;
    if (test_fake_line(f) < 0)
        return NULL;
    return json_loads(f->buf, 0, NULL);
}

/* The requests received so far (a new reference to the array; caller decrefs the answer
 * through *holder). */
static inline json_t *test_fake_requests(test_fake_t *f, json_t **holder)
{
    *holder = test_fake_cmd(f, "{\"cmd\":\"requests\"}");
    return json_object_get(*holder, "requests");
}

/* Stops the receiver (stop, then SIGTERM if it lingers) and frees f. */
static inline void test_fake_stop(test_fake_t **p)
{
    test_fake_t *f = *p;
    if (!f)
        return;
    if (write(f->to_child, "{\"cmd\":\"stop\"}\n", 15) < 0) {
        /* gone already */
    }
    close(f->to_child);
    int i = 0;
    for (; i < 100 && waitpid(f->pid, NULL, WNOHANG) != f->pid; i++)
        usleep(20000);
    if (i == 100) {
        kill(f->pid, SIGTERM);
        waitpid(f->pid, NULL, 0);
    }
    close(f->from_child);
    free(f);
    *p = NULL;
}

#endif
