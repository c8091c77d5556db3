/* sd_log: one line per event to stderr, "LEVEL component: message key=value".
 * Thread-safe (one fprintf per line). Only actors and main() log; library code returns errors. */
#ifndef SD_LOG_H
#define SD_LOG_H

typedef enum { SD_LOG_DEBUG = 0, SD_LOG_INFO, SD_LOG_WARN, SD_LOG_ERROR } sd_log_level_t;

/* Lines below this level are dropped. Default INFO; env STATUSD_LOG_LEVEL=debug|info|warn|error. */
void sd_log_set_level(sd_log_level_t level);
/* Parses "debug", "info", "warn", "error"; returns 0 or -EINVAL. */
int sd_log_parse_level(const char *s, sd_log_level_t *out);
void sd_log(sd_log_level_t level, const char *component, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#define sd_debug(comp, ...) sd_log(SD_LOG_DEBUG, comp, __VA_ARGS__)
#define sd_info(comp, ...)  sd_log(SD_LOG_INFO, comp, __VA_ARGS__)
#define sd_warn(comp, ...)  sd_log(SD_LOG_WARN, comp, __VA_ARGS__)
#define sd_error(comp, ...) sd_log(SD_LOG_ERROR, comp, __VA_ARGS__)

#endif
