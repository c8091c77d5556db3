#include "sd_log.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static sd_log_level_t s_level = SD_LOG_INFO;
static int s_env_read;

static const char *s_names[] = {"debug", "info", "warn", "error"};

int sd_log_parse_level(const char *s, sd_log_level_t *out)
{
    for (int i = 0; i < 4; i++) {
        if (s && strcmp(s, s_names[i]) == 0) {
            *out = (sd_log_level_t) i;
            return 0;
        }
    }
    return -EINVAL;
}

void sd_log_set_level(sd_log_level_t level)
{
    s_level = level;
    s_env_read = 1;
}

void sd_log(sd_log_level_t level, const char *component, const char *fmt, ...)
{
    if (!s_env_read) {
        sd_log_level_t l;
        if (sd_log_parse_level(getenv("STATUSD_LOG_LEVEL"), &l) == 0)
            s_level = l;
        s_env_read = 1;
    }
    if (level < s_level)
        return;
    char msg[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    struct tm tm;
    gmtime_r(&ts.tv_sec, &tm);
    fprintf(stderr, "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ %s %s: %s\n", tm.tm_year + 1900,
            tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000000,
            s_names[level], component, msg);
}
