/* history_plan: see history_plan.h. */
#include "history_plan.h"

static int64_t s_floor(int64_t t, int64_t len)
{
    int64_t r = t % len;
    return r < 0 ? t - r - len : t - r;
}

static int64_t s_min(int64_t a, int64_t b)
{
    return a < b ? a : b;
}

int history_plan(int64_t from, int64_t to, const history_built_t *built,
                 history_source_t max_src, int slot, history_seg_t *seg, size_t cap, size_t *n)
{
    int64_t hour_wm = built->hour_until, day_wm = built->day_until;
    size_t k = *n, first = *n;
    int64_t cur = from;
    while (cur < to) {
        int64_t end;
        history_source_t src;
        int64_t day_top = s_floor(s_min(to, day_wm), HISTORY_DAY_MS);
        int64_t hour_top = s_floor(s_min(to, hour_wm), HISTORY_HOUR_MS);
        int64_t next_day = s_floor(cur, HISTORY_DAY_MS) + HISTORY_DAY_MS;
        if (max_src >= HISTORY_DAY && s_floor(cur, HISTORY_DAY_MS) == cur && cur < day_top &&
            cur >= built->day_from) {
            src = HISTORY_DAY;
            end = day_top;
        } else if (max_src >= HISTORY_HOUR && s_floor(cur, HISTORY_HOUR_MS) == cur &&
                   cur < hour_top && cur >= built->hour_from) {
            src = HISTORY_HOUR;
            /* stop at the next midnight: the day after may be a whole built day */
            end = max_src >= HISTORY_DAY ? s_min(hour_top, next_day) : hour_top;
        } else {
            src = HISTORY_RAW;
            /* raw up to the next whole hour while rollups may follow, else to the end */
            end = cur < hour_wm || cur < day_wm ? s_floor(cur, HISTORY_HOUR_MS) + HISTORY_HOUR_MS
                                                : to;
            end = s_min(end, to);
        }
        if (k > first && seg[k - 1].src == src && seg[k - 1].slot == slot && seg[k - 1].hi == cur) {
            seg[k - 1].hi = end;  /* raw hours in a row make one segment */
        } else {
            if (k >= cap)
                return -1;
            seg[k++] = (history_seg_t) {.lo = cur, .hi = end, .slot = slot, .src = src};
        }
        cur = end;
    }
    *n = k;
    return 0;
}
