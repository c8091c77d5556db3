/* The spool's directory: segments in seq order (the newest one open for appending), the
 * floor file, the lock. An append writes its records with one write() per segment, straight
 * to the page cache, so a SIGKILL loses nothing written; spool_sync decides what a power cut
 * may lose. */
#include "spool.h"
#include "spool_rec.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#define SEG_MIN (8 * 1024)
#define SEG_MAX (4 * 1024 * 1024)
#define SEG_NAME_LEN 28                     /* "seg-" + 20 digits + ".log" */
#define READ_MAX ((size_t) 64 * 1024 * 1024) /* larger files are read this far */
#define FLOOR_FILE "floor"
#define FLOOR_MAGIC 0x31464453u /* "SDF1" */

typedef struct {
    uint64_t name_seq;  /* the number in its file name */
    uint64_t last;      /* highest record number in it (0: none yet) */
    uint64_t bytes;     /* file size */
    uint64_t records;   /* appended (at replay: those above the floor) */
    int64_t newest_ms;  /* latest started_at_ms of its records */
} seg_t;

struct spool {
    int dir_fd, floor_fd, cur_fd; /* cur_fd: the last segment, open for appending (-1: none) */
    uint64_t max_bytes, seg_bytes, total_bytes;
    seg_t *segs;
    size_t n_segs, cap_segs;
    uint64_t last_seq, floor;
    bool replayed, dirty, dir_dirty;
    bool floor_dirty;  /* the floor changed since it was last written */
    bool floor_failed; /* and writing it failed: spool_dirty does not insist */
    bool write_failed; /* the last write failed (the disk may be full) */
    uint8_t *buf;
    size_t buf_cap;
    spool_stats_t stats;
};

/* --- files ---------------------------------------------------------------------------- */

static void s_seg_name(uint64_t seq, char *out, size_t cap)
{
    snprintf(out, cap, "seg-%020" PRIu64 ".log", seq);
}

/* The number of a segment file name, or -EINVAL when name is not one. */
static int s_parse_seg_name(const char *name, uint64_t *seq)
{
    if (strlen(name) != SEG_NAME_LEN || strncmp(name, "seg-", 4) != 0 ||
        strcmp(name + 24, ".log") != 0)
        return -EINVAL;
    uint64_t v = 0;
    for (int i = 4; i < 24; i++) {
        if (name[i] < '0' || name[i] > '9' || v > (UINT64_MAX - 9) / 10)
            return -EINVAL;
        v = v * 10 + (uint64_t) (name[i] - '0');
    }
    *seq = v;
    return 0;
}

static int s_write_all(int fd, const uint8_t *p, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0)
            return -errno;
        if (w == 0)
            return -EIO;
        p += w;
        n -= (size_t) w;
    }
    return 0;
}

static int s_read_floor(spool_t *self)
{
    uint8_t b[16];
    ssize_t n = pread(self->floor_fd, b, sizeof b, 0);
    if (n == 0)
        return 0; /* new */
    if (n != (ssize_t) sizeof b)
        return n < 0 ? -errno : -EBADMSG;
    uint32_t magic = (uint32_t) b[0] | (uint32_t) b[1] << 8 | (uint32_t) b[2] << 16 |
                     (uint32_t) b[3] << 24;
    uint64_t floor = 0;
    for (int i = 0; i < 8; i++)
        floor |= (uint64_t) b[4 + i] << (8 * i);
    uint32_t crc = (uint32_t) b[12] | (uint32_t) b[13] << 8 | (uint32_t) b[14] << 16 |
                   (uint32_t) b[15] << 24;
    if (magic != FLOOR_MAGIC || crc != spool_crc32c(0, b + 4, 8))
        return -EBADMSG;
    self->floor = floor;
    return 0;
}

/* 16 bytes in place: no block to allocate once the file exists, even on a full disk. */
static int s_write_floor(spool_t *self)
{
    if (self->floor_fd < 0) {
        self->floor_fd = openat(self->dir_fd, FLOOR_FILE, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
        if (self->floor_fd < 0) {
            self->stats.write_errors++;
            return -errno;
        }
    }
    uint8_t b[16];
    for (int i = 0; i < 4; i++)
        b[i] = (uint8_t) (FLOOR_MAGIC >> (8 * i));
    for (int i = 0; i < 8; i++)
        b[4 + i] = (uint8_t) (self->floor >> (8 * i));
    uint32_t crc = spool_crc32c(0, b + 4, 8);
    for (int i = 0; i < 4; i++)
        b[12 + i] = (uint8_t) (crc >> (8 * i));
    if (pwrite(self->floor_fd, b, sizeof b, 0) != (ssize_t) sizeof b) {
        self->stats.write_errors++;
        return errno ? -errno : -EIO;
    }
    return 0;
}

/* --- the segment list ----------------------------------------------------------------- */

static int s_add_seg(spool_t *self, uint64_t name_seq)
{
    if (self->n_segs == self->cap_segs) {
        size_t cap = self->cap_segs ? self->cap_segs * 2 : 16;
        seg_t *s = realloc(self->segs, cap * sizeof *s);
        if (!s)
            return -ENOMEM;
        self->segs = s;
        self->cap_segs = cap;
    }
    self->segs[self->n_segs++] = (seg_t){.name_seq = name_seq, .newest_ms = INT64_MIN};
    return 0;
}

static void s_close_cur(spool_t *self)
{
    if (self->cur_fd >= 0)
        close(self->cur_fd);
    self->cur_fd = -1;
    self->dirty = false;
}

/* Deletes segment i (its file and its entry). */
static void s_remove_seg(spool_t *self, size_t i)
{
    if (i == self->n_segs - 1 && self->cur_fd >= 0)
        s_close_cur(self);
    char name[SEG_NAME_LEN + 1];
    s_seg_name(self->segs[i].name_seq, name, sizeof name);
    if (unlinkat(self->dir_fd, name, 0) < 0 && errno != ENOENT)
        self->stats.write_errors++;
    self->total_bytes -= self->segs[i].bytes;
    memmove(&self->segs[i], &self->segs[i + 1], (self->n_segs - i - 1) * sizeof *self->segs);
    self->n_segs--;
    self->dir_dirty = true;
}

/* Drops the oldest segment for a bound; raises *dropped_through to its last number. */
static void s_drop_oldest(spool_t *self, uint64_t *dropped_through)
{
    if (self->segs[0].last > *dropped_through)
        *dropped_through = self->segs[0].last;
    self->stats.segments_dropped++;
    s_remove_seg(self, 0);
}

/* --- open, close ---------------------------------------------------------------------- */

spool_t *spool_open(const char *dir, const spool_config_t *cfg, int *err)
{
    int e = -EINVAL;
    spool_t *self = NULL;
    if (!dir || !*dir || !cfg || cfg->max_bytes < SPOOL_MIN_BYTES)
        goto fail;
    e = -ENOMEM;
    self = calloc(1, sizeof *self);
    if (!self)
        goto fail;
    self->dir_fd = self->floor_fd = self->cur_fd = -1;
    self->max_bytes = cfg->max_bytes;
    self->seg_bytes = cfg->segment_bytes;
    if (!self->seg_bytes) {
        self->seg_bytes = cfg->max_bytes / 8;
        self->seg_bytes = self->seg_bytes < SEG_MIN   ? SEG_MIN
                          : self->seg_bytes > SEG_MAX ? SEG_MAX
                                                      : self->seg_bytes;
    }
    if (mkdir(dir, 0700) < 0 && errno != EEXIST) {
        e = -errno;
        goto fail;
    }
    self->dir_fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (self->dir_fd < 0) {
        e = -errno;
        goto fail;
    }
    if (flock(self->dir_fd, LOCK_EX | LOCK_NB) < 0) {
        e = -errno;
        goto fail;
    }
    self->floor_fd = openat(self->dir_fd, FLOOR_FILE, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (self->floor_fd < 0 && errno != ENOSPC && errno != EDQUOT) {
        e = -errno; /* a full disk is survivable: the floor is written later */
        goto fail;
    }
    if (self->floor_fd >= 0 && s_read_floor(self) < 0) {
        self->stats.corrupt++; /* the floor is only an optimisation: replay everything */
        self->stats.corrupt_bytes += 16;
    }
    return self;
fail:
    spool_close(&self);
    if (err)
        *err = e;
    return NULL;
}

void spool_close(spool_t **p)
{
    if (!p || !*p)
        return;
    spool_t *self = *p;
    s_close_cur(self);
    if (self->floor_dirty && self->dir_fd >= 0)
        s_write_floor(self);
    if (self->floor_fd >= 0)
        close(self->floor_fd);
    if (self->dir_fd >= 0)
        close(self->dir_fd); /* drops the lock */
    free(self->segs);
    free(self->buf);
    free(self);
    *p = NULL;
}

/* --- replay --------------------------------------------------------------------------- */

static int s_cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *) a, y = *(const uint64_t *) b;
    return x < y ? -1 : x > y;
}

/* The numbers of the segment files in dir, sorted; *n of them. 0 or -errno. */
static int s_list(spool_t *self, uint64_t **out, size_t *n)
{
    int fd = openat(self->dir_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
    if (!d) {
        int e = -errno;
        if (fd >= 0)
            close(fd);
        return e;
    }
    uint64_t *v = NULL;
    size_t len = 0, cap = 0;
    int rc = 0;
    struct dirent *de;
    while ((de = readdir(d))) {
        uint64_t seq;
        if (s_parse_seg_name(de->d_name, &seq) < 0)
            continue;
        if (len == cap) {
            cap = cap ? cap * 2 : 64;
            uint64_t *nv = realloc(v, cap * sizeof *nv);
            if (!nv) {
                rc = -ENOMEM;
                break;
            }
            v = nv;
        }
        v[len++] = seq;
    }
    closedir(d);
    if (rc < 0) {
        free(v);
        return rc;
    }
    if (len)
        qsort(v, len, sizeof *v, s_cmp_u64);
    *out = v;
    *n = len;
    return 0;
}

/* The whole file (at most READ_MAX bytes) in *buf; 0 or -errno. */
static int s_read_file(spool_t *self, const char *name, uint8_t **buf, size_t *len,
                       uint64_t *size)
{
    int fd = openat(self->dir_fd, name, O_RDONLY | O_CLOEXEC);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) < 0) {
        int e = -errno;
        if (fd >= 0)
            close(fd);
        return e;
    }
    *size = (uint64_t) st.st_size;
    size_t want = (uint64_t) st.st_size > READ_MAX ? READ_MAX : (size_t) st.st_size;
    uint8_t *b = malloc(want ? want : 1);
    size_t got = 0;
    while (b && got < want) {
        ssize_t r = read(fd, b + got, want - got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break; /* shorter than fstat said: parse what is there */
        got += (size_t) r;
    }
    close(fd);
    if (!b)
        return -ENOMEM;
    *buf = b;
    *len = got;
    return 0;
}

/* Replays one segment's records into fn; the segment's entry is the last of the list. */
static int s_replay_seg(spool_t *self, const uint8_t *b, size_t len, uint64_t size,
                        spool_replay_fn *fn, void *ctx)
{
    seg_t *seg = &self->segs[self->n_segs - 1];
    seg->bytes = size;
    if (size > len) { /* beyond READ_MAX: not ours to parse */
        self->stats.corrupt++;
        self->stats.corrupt_bytes += size - len;
    }
    size_t off = 0;
    while (off < len) {
        probe_result_t *r = NULL;
        size_t rl = 0;
        int rc = spool_rec_decode(b + off, len - off, &r, &rl);
        if (rc == -ENOMEM)
            return rc;
        if (rc == 0 && r->seq <= self->last_seq) {
            probe_result_destroy(&r); /* out of order: not a record of this spool's stream */
            rc = -EBADMSG;
        }
        if (rc < 0) {
            size_t next = spool_rec_resync(b, len, off);
            self->stats.corrupt++;
            self->stats.corrupt_bytes += next - off;
            if (next == len)
                self->stats.torn++;
            off = next;
            continue;
        }
        off += rl;
        self->last_seq = r->seq;
        seg->last = r->seq;
        if (r->seq <= self->floor) {
            probe_result_destroy(&r);
            continue;
        }
        seg->records++;
        if (r->started_at_ms > seg->newest_ms)
            seg->newest_ms = r->started_at_ms;
        self->stats.replayed++;
        rc = fn(r, ctx);
        if (rc < 0)
            return rc;
    }
    return 0;
}

int spool_replay(spool_t *self, spool_replay_fn *fn, void *ctx)
{
    if (self->replayed)
        return -EINVAL;
    uint64_t *names = NULL;
    size_t n = 0;
    int rc = s_list(self, &names, &n);
    for (size_t i = 0; rc == 0 && i < n; i++) {
        char name[SEG_NAME_LEN + 1];
        s_seg_name(names[i], name, sizeof name);
        uint8_t *b = NULL;
        size_t len = 0;
        uint64_t size = 0;
        if (s_read_file(self, name, &b, &len, &size) < 0) {
            self->stats.corrupt++; /* unreadable: skipped, left in place */
            continue;
        }
        rc = s_add_seg(self, names[i]);
        if (rc == 0) {
            self->total_bytes += size;
            rc = s_replay_seg(self, b, len, size, fn, ctx);
        }
        free(b);
        if (rc == 0 && self->segs[self->n_segs - 1].records == 0)
            s_remove_seg(self, self->n_segs - 1); /* nothing in it is needed */
    }
    free(names);
    if (rc == 0)
        self->replayed = true;
    return rc;
}

/* --- append and the bounds -------------------------------------------------------------- */

static int s_open_new_seg(spool_t *self, uint64_t seq)
{
    char name[SEG_NAME_LEN + 1];
    s_seg_name(seq, name, sizeof name);
    int rc = s_add_seg(self, seq);
    if (rc < 0)
        return rc;
    self->cur_fd = openat(self->dir_fd, name,
                          O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC, 0600);
    if (self->cur_fd < 0) {
        rc = -errno;
        self->n_segs--;
        self->stats.write_errors++;
        self->write_failed = true;
        return rc;
    }
    self->dir_dirty = true;
    return 0;
}

/* Closes the current segment after making it durable when it has unsynced records (spool_sync
 * covers the open segment only). */
static void s_rotate(spool_t *self)
{
    if (self->dirty) {
        if (fdatasync(self->cur_fd) < 0)
            self->stats.sync_errors++;
        else
            self->stats.syncs++;
    }
    s_close_cur(self);
}

/* A failed write left the current segment with size old bytes, or worse: cut it back, or
 * give the segment up (replay will skip its torn end). */
static void s_undo_write(spool_t *self, uint64_t old)
{
    seg_t *seg = &self->segs[self->n_segs - 1];
    if (ftruncate(self->cur_fd, (off_t) old) == 0)
        return;
    struct stat st;
    if (fstat(self->cur_fd, &st) == 0 && (uint64_t) st.st_size > old) {
        self->total_bytes += (uint64_t) st.st_size - old;
        seg->bytes = (uint64_t) st.st_size;
    }
    s_close_cur(self);
    if (seg->records == 0)
        s_remove_seg(self, self->n_segs - 1);
}

/* Records encoded into self->buf for the current segment, not yet written. */
typedef struct {
    size_t len, n;
    uint64_t last;
    int64_t newest_ms;
} s_pend_t;

/* Writes the pending records with one write(); 0 (they are in the spool), or -errno (they
 * are not: the segment is cut back). */
static int s_flush(spool_t *self, s_pend_t *p)
{
    if (p->n == 0)
        return 0;
    seg_t *seg = &self->segs[self->n_segs - 1];
    int rc = s_write_all(self->cur_fd, self->buf, p->len);
    self->write_failed = rc < 0;
    if (rc < 0) {
        self->stats.write_errors++;
        s_undo_write(self, seg->bytes);
    } else {
        seg->bytes += p->len;
        seg->last = p->last;
        seg->records += p->n;
        if (p->newest_ms > seg->newest_ms)
            seg->newest_ms = p->newest_ms;
        self->total_bytes += p->len;
        self->last_seq = p->last;
        self->dirty = true;
        self->stats.appended += p->n;
    }
    *p = (s_pend_t){.newest_ms = INT64_MIN};
    return rc;
}

/* At least need bytes in self->buf. */
static int s_reserve(spool_t *self, size_t need)
{
    if (need <= self->buf_cap)
        return 0;
    size_t cap = self->buf_cap ? self->buf_cap : 4096;
    while (cap < need)
        cap *= 2;
    uint8_t *b = realloc(self->buf, cap);
    if (!b)
        return -ENOMEM;
    self->buf = b;
    self->buf_cap = cap;
    return 0;
}

int spool_append_many(spool_t *self, const probe_result_t *const *rs, size_t n, size_t *done,
                      uint64_t *dropped_through)
{
    *done = 0;
    *dropped_through = 0;
    if (!self->replayed)
        return -EINVAL;
    s_pend_t p = {.newest_ms = INT64_MIN};
    size_t taken = 0; /* records handled (written, pending or skipped) */
    uint64_t prev = spool_last_seq(self);
    int rc = 0;
    for (; taken < n && rc == 0; taken++) {
        const probe_result_t *r = rs[taken];
        if (r->seq <= prev) {
            rc = -EINVAL;
            break;
        }
        size_t size = spool_rec_size(r);
        if (size == 0 || size > self->seg_bytes) { /* never fits: skipped, not retried */
            self->stats.skipped++;
            prev = r->seq;
            if (p.n == 0)
                self->last_seq = r->seq;
            else
                p.last = r->seq;
            continue;
        }
        if (self->total_bytes + p.len + size > self->max_bytes) {
            if ((rc = s_flush(self, &p)) < 0)
                break;
            *done = taken;
            while (self->n_segs > 0 && self->total_bytes + size > self->max_bytes)
                s_drop_oldest(self, dropped_through);
        }
        if (self->cur_fd >= 0 &&
            self->segs[self->n_segs - 1].bytes + p.len + size > self->seg_bytes) {
            if ((rc = s_flush(self, &p)) < 0)
                break;
            *done = taken;
            s_rotate(self);
        }
        if (self->cur_fd < 0 && (rc = s_open_new_seg(self, r->seq)) < 0)
            break;
        if ((rc = s_reserve(self, p.len + size)) < 0)
            break;
        spool_rec_encode(r, self->buf + p.len, size);
        p.len += size;
        p.n++;
        p.last = r->seq;
        if (r->started_at_ms > p.newest_ms)
            p.newest_ms = r->started_at_ms;
        prev = r->seq;
    }
    /* all taken, or stopped at record `taken` that is out of order or found no memory:
     * what was encoded before it is good (after a failed write or open, nothing is pending) */
    int frc = s_flush(self, &p);
    if (frc == 0)
        *done = taken;
    return rc < 0 ? rc : frc;
}

int spool_append(spool_t *self, const probe_result_t *r, uint64_t *dropped_through)
{
    size_t done = 0;
    return spool_append_many(self, &r, 1, &done, dropped_through);
}

int spool_release(spool_t *self, uint64_t through)
{
    if (through <= self->floor)
        return 0;
    self->floor = through;
    self->floor_dirty = true; /* written by the next sync: an ack costs no system call */
    self->floor_failed = false;
    while (self->n_segs > 0 && self->segs[0].last <= through) {
        /* the open segment is kept (its released records lie below the floor), so that
         * quick acks do not cost a file created and deleted per write; unless writes fail:
         * then its space may be what the disk lacks */
        if (self->n_segs == 1 && self->cur_fd >= 0 && !self->write_failed)
            break;
        s_remove_seg(self, 0);
    }
    return 0;
}

int spool_expire(spool_t *self, int64_t before_ms, uint64_t *dropped_through)
{
    *dropped_through = 0;
    while (self->n_segs > 0 && self->segs[0].records > 0 && self->segs[0].newest_ms < before_ms)
        s_drop_oldest(self, dropped_through);
    return 0;
}

int spool_sync(spool_t *self)
{
    int rc = 0;
    if (self->floor_dirty) { /* not synced itself: losing it only replays acked records */
        rc = s_write_floor(self);
        self->floor_dirty = self->floor_failed = rc < 0;
    }
    if (self->dirty && self->cur_fd >= 0) {
        if (fdatasync(self->cur_fd) < 0) {
            rc = -errno;
            self->stats.sync_errors++;
            s_close_cur(self); /* what the kernel could not write may be gone: start afresh */
        } else
            self->stats.syncs++;
    }
    self->dirty = false;
    if (self->dir_dirty) {
        if (fsync(self->dir_fd) < 0) {
            rc = -errno;
            self->stats.sync_errors++;
        } else
            self->dir_dirty = false;
    }
    return rc;
}

bool spool_dirty(const spool_t *self)
{
    return self->dirty || self->dir_dirty || (self->floor_dirty && !self->floor_failed);
}

int spool_reset(spool_t *self, uint64_t floor)
{
    while (self->n_segs > 0)
        s_remove_seg(self, self->n_segs - 1);
    self->floor = floor;
    self->last_seq = floor;
    self->floor_dirty = false;
    return s_write_floor(self);
}

uint64_t spool_last_seq(const spool_t *self)
{
    return self->last_seq > self->floor ? self->last_seq : self->floor;
}

uint64_t spool_floor(const spool_t *self) { return self->floor; }

spool_stats_t spool_stats(const spool_t *self)
{
    spool_stats_t s = self->stats;
    s.bytes = self->total_bytes;
    s.segments = self->n_segs;
    return s;
}
