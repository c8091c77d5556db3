/* outcomes: see outcomes.h. */
#include "outcomes.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sd_utf8.h"
#include "store_outbox.h"

/* store_outbox bounds last_error to 1000 bytes; keep a little more, it cuts with "…" */
#define HELD_ERROR_MAX 1024

typedef struct {
    int64_t id;
    channel_verdict_t verdict;
    int64_t delay_ms;
    sd_ms_t at;  /* when the outcome became known */
    char *error; /* valid UTF-8, one line; "" for SENT */
} held_t;

struct outcomes_t {
    held_t *held; /* oldest first */
    size_t n, max;
    sd_ms_t next_flush;
    int64_t backoff_ms;
};

outcomes_t *outcomes_new(size_t max)
{
    outcomes_t *o = calloc(1, sizeof *o);
    if (!o)
        return NULL;
    o->max = max ? max : 1;
    o->held = calloc(o->max, sizeof *o->held);
    if (!o->held) {
        free(o);
        return NULL;
    }
    o->backoff_ms = OUTCOMES_BACKOFF_MIN_MS;
    return o;
}

void outcomes_destroy(outcomes_t **p)
{
    if (!p || !*p)
        return;
    outcomes_t *o = *p;
    for (size_t i = 0; o->held && i < o->n; i++)
        free(o->held[i].error);
    free(o->held);
    free(o);
    *p = NULL;
}

static int s_write(store_t *s, const held_t *h, sd_ms_t now, char *err, size_t errlen)
{
    switch (h->verdict) {
    case CHANNEL_SENT:
        return store_outbox_mark_sent(s, h->id, err, errlen);
    case CHANNEL_RETRY: {
        int64_t left = h->delay_ms - (now - h->at);
        return store_outbox_mark_retry(s, h->id, left > 0 ? left : 0, h->error, err, errlen);
    }
    default:
        return store_outbox_mark_dead(s, h->id, h->error, err, errlen);
    }
}

static void s_failed(outcomes_t *o, sd_ms_t now)
{
    o->next_flush = now + o->backoff_ms;
    o->backoff_ms *= 2;
    if (o->backoff_ms > OUTCOMES_BACKOFF_MAX_MS)
        o->backoff_ms = OUTCOMES_BACKOFF_MAX_MS;
}

int outcomes_record(outcomes_t *o, store_t *s, int64_t id, channel_verdict_t verdict,
                    int64_t delay_ms, const char *error, sd_ms_t now, char *err,
                    size_t errlen)
{
    held_t h = {id, verdict, delay_ms, now, NULL};
    const char *text = verdict == CHANNEL_SENT || !error ? "" : error;
    h.error = sd_utf8_dup(text, strlen(text), HELD_ERROR_MAX, SD_UTF8_ONE_LINE | SD_UTF8_ELLIPSIS);
    if (!h.error) {
        snprintf(err, errlen, "out of memory");
        return -ENOMEM;
    }
    int rc = s_write(s, &h, now, err, errlen);
    if (rc == 0 || o->n == o->max) {
        free(h.error);
        return rc == 0 ? 0 : -ENOSPC;
    }
    if (o->n == 0 || now >= o->next_flush)
        s_failed(o, now);
    o->held[o->n++] = h;
    return -EIO;
}

int outcomes_flush(outcomes_t *o, store_t *s, sd_ms_t now, size_t *written, char *err,
                   size_t errlen)
{
    size_t done = 0;
    int rc = 0;
    if (o->n && now < o->next_flush)
        rc = -EAGAIN;
    while (rc == 0 && done < o->n) {
        if (s_write(s, &o->held[done], now, err, errlen) != 0) {
            s_failed(o, now);
            rc = -EIO;
            break;
        }
        free(o->held[done].error);
        done++;
    }
    memmove(o->held, o->held + done, (o->n - done) * sizeof *o->held);
    o->n -= done;
    if (rc == 0)
        o->backoff_ms = OUTCOMES_BACKOFF_MIN_MS;
    if (written)
        *written = done;
    return rc;
}

size_t outcomes_held(const outcomes_t *o)
{
    return o->n;
}

size_t outcomes_room(const outcomes_t *o)
{
    return o->max - o->n;
}

size_t outcomes_ids(const outcomes_t *o, int64_t *ids, size_t cap)
{
    size_t n = o->n < cap ? o->n : cap;
    for (size_t i = 0; i < n; i++)
        ids[i] = o->held[i].id;
    return n;
}
