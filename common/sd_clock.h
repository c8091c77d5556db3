/* sd_clock: one monotonic millisecond type for scheduling and timeouts; wall-clock
 * time only where a human or the database sees it. */
#ifndef SD_CLOCK_H
#define SD_CLOCK_H

#include <stdint.h>

typedef int64_t sd_ms_t;

/* Monotonic milliseconds (CLOCK_MONOTONIC); never goes back. */
sd_ms_t sd_mono_ms(void);
/* Monotonic microseconds, for latency measurement. */
int64_t sd_mono_us(void);
/* Wall clock, unix epoch milliseconds (CLOCK_REALTIME). */
int64_t sd_wall_ms(void);
/* Wall clock, unix epoch microseconds. */
int64_t sd_wall_us(void);
/* Formats unix ms as RFC 3339 UTC ("2026-11-25T08:43:00.123Z") into buf (>= 32 bytes). */
void sd_format_rfc3339(int64_t unix_ms, char *buf, unsigned long len);

#endif
