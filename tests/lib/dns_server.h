/* Test helper: runs tests/lib/dns_server.py as a child process (zone documented there) and
 * stops it. Header-only, for the cmocka tests of the resolver and the dns probe. */
#ifndef TEST_DNS_SERVER_H
#define TEST_DNS_SERVER_H

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
    char csv[64]; /* "127.0.0.1:PORT" for ares_set_servers_ports_csv */
} test_dns_server_t;

/* Starts the server (v6: on ::1); 0 with port/csv set, -1 on failure (printed). Waits for its
 * "PORT n" line with a 10 s deadline. */
static inline int test_dns_server_start(test_dns_server_t *s, int v6)
{
    memset(s, 0, sizeof *s);
    const char *src = getenv("STATUSD_SOURCE_DIR");
    char path[1024];
    snprintf(path, sizeof path, "%s/tests/lib/dns_server.py", src ? src : ".");
    int in[2], out[2];
    if (pipe(in) || pipe(out))
        return -1;
    s->pid = fork();
    if (s->pid == 0) {
        dup2(in[0], 0);
        dup2(out[1], 1);
        close(in[0]), close(in[1]), close(out[0]), close(out[1]);
        execl("/usr/bin/python3", "python3", path, v6 ? "--v6" : "--v4", (char *) NULL);
        _exit(127);
    }
    close(in[0]);
    close(out[1]);
    s->to_child = in[1];
    s->from_child = out[0];
    char line[64];
    size_t n = 0;
    while (n < sizeof line - 1) {
        struct pollfd p = {s->from_child, POLLIN, 0};
        if (poll(&p, 1, 10000) <= 0 || read(s->from_child, line + n, 1) != 1)
            break;
        if (line[n++] == '\n')
            break;
    }
    line[n] = 0;
    if (sscanf(line, "PORT %d", &s->port) != 1) {
        fprintf(stderr, "dns_server.py did not start: \"%s\"\n", line);
        return -1;
    }
    snprintf(s->csv, sizeof s->csv, v6 ? "[::1]:%d" : "127.0.0.1:%d", s->port);
    printf("test dns server pid=%d at %s\n", (int) s->pid, s->csv);
    return 0;
}

/* Closes its stdin (it exits), then SIGTERM if it lingers; reaps it. */
static inline void test_dns_server_stop(test_dns_server_t *s)
{
    if (s->pid <= 0)
        return;
    close(s->to_child);
    for (int i = 0; i < 100; i++) {
        if (waitpid(s->pid, NULL, WNOHANG) == s->pid) {
            s->pid = 0;
            break;
        }
        usleep(20000);
    }
    if (s->pid > 0) {
        kill(s->pid, SIGTERM);
        waitpid(s->pid, NULL, 0);
    }
    close(s->from_child);
    s->pid = 0;
}

#endif
