#include "sd_clock.h"

#include <stdio.h>
#include <time.h>

static int64_t s_read(clockid_t id, int64_t div)
{
    struct timespec ts;
    clock_gettime(id, &ts);
    return (int64_t) ts.tv_sec * (1000000000 / div) + ts.tv_nsec / div;
}

sd_ms_t sd_mono_ms(void) { return s_read(CLOCK_MONOTONIC, 1000000); }
int64_t sd_mono_us(void) { return s_read(CLOCK_MONOTONIC, 1000); }
int64_t sd_wall_ms(void) { return s_read(CLOCK_REALTIME, 1000000); }
int64_t sd_wall_us(void) { return s_read(CLOCK_REALTIME, 1000); }

void sd_format_rfc3339(int64_t unix_ms, char *buf, unsigned long len)
{
    time_t secs = (time_t) (unix_ms / 1000);
    int ms = (int) (unix_ms % 1000);
    if (ms < 0) {
        ms += 1000;
        secs -= 1;
    }
    struct tm tm;
    gmtime_r(&secs, &tm);
    snprintf(buf, len, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1,
             tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, ms);
}
