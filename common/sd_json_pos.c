#include "sd_json_pos.h"

#include <errno.h>
#include <string.h>

typedef struct {
    const char *s;
    size_t n, i;
    int line, col;
} cur_t;

static void s_adv(cur_t *c)
{
    if (c->i >= c->n)
        return;
    unsigned char ch = (unsigned char) c->s[c->i++];
    if (ch == '\n') {
        c->line++;
        c->col = 1;
    } else if ((ch & 0xC0) != 0x80) {
        c->col++;   /* count characters, not UTF-8 continuation bytes */
    }
}

static void s_ws(cur_t *c)
{
    while (c->i < c->n && strchr(" \t\r\n", c->s[c->i]))
        s_adv(c);
}

/* Reads a string token; if out is set, copies up to outlen-1 unescaped-enough bytes (escapes
 * other than \" and \\ are copied raw, good enough to compare ASCII keys). */
static int s_string(cur_t *c, char *out, size_t outlen)
{
    size_t o = 0;
    if (c->i >= c->n || c->s[c->i] != '"')
        return -EINVAL;
    s_adv(c);
    while (c->i < c->n && c->s[c->i] != '"') {
        char ch = c->s[c->i];
        if (ch == '\\') {
            s_adv(c);
            if (c->i >= c->n)
                return -EINVAL;
            ch = c->s[c->i];
        }
        if (out && o + 1 < outlen)
            out[o++] = ch;
        s_adv(c);
    }
    if (c->i >= c->n)
        return -EINVAL;
    s_adv(c);
    if (out)
        out[o < outlen ? o : outlen - 1] = 0;
    return 0;
}

static int s_skip(cur_t *c, int depth);

static int s_skip_container(cur_t *c, char close, int depth)
{
    s_adv(c);
    s_ws(c);
    if (c->i < c->n && c->s[c->i] == close) {
        s_adv(c);
        return 0;
    }
    for (;;) {
        s_ws(c);
        if (close == '}') {
            if (s_string(c, NULL, 0) < 0)
                return -EINVAL;
            s_ws(c);
            if (c->i >= c->n || c->s[c->i] != ':')
                return -EINVAL;
            s_adv(c);
            s_ws(c);
        }
        if (s_skip(c, depth + 1) < 0)
            return -EINVAL;
        s_ws(c);
        if (c->i >= c->n)
            return -EINVAL;
        if (c->s[c->i] == ',') {
            s_adv(c);
            continue;
        }
        if (c->s[c->i] == close) {
            s_adv(c);
            return 0;
        }
        return -EINVAL;
    }
}

static int s_skip(cur_t *c, int depth)
{
    if (depth > 512 || c->i >= c->n)
        return -EINVAL;
    char ch = c->s[c->i];
    if (ch == '"')
        return s_string(c, NULL, 0);
    if (ch == '{')
        return s_skip_container(c, '}', depth);
    if (ch == '[')
        return s_skip_container(c, ']', depth);
    while (c->i < c->n && !strchr(",]} \t\r\n", c->s[c->i]))
        s_adv(c);
    return 0;
}

int sd_json_pos(const char *text, size_t len, const sd_json_seg_t *path, size_t n, int want_key,
                int *line, int *col)
{
    cur_t c = {.s = text, .n = len, .i = 0, .line = 1, .col = 1};
    s_ws(&c);
    for (size_t k = 0; k < n; k++) {
        int cl = c.line, cc = c.col;
        if (c.i >= c.n)
            return -EINVAL;
        char open = c.s[c.i];
        int found = 0;
        if (path[k].key && open == '{') {
            s_adv(&c);
            for (;;) {
                s_ws(&c);
                if (c.i < c.n && c.s[c.i] == '}')
                    break;
                int kl = c.line, kc = c.col;
                char key[256];
                if (s_string(&c, key, sizeof key) < 0)
                    return -EINVAL;
                s_ws(&c);
                if (c.i >= c.n || c.s[c.i] != ':')
                    return -EINVAL;
                s_adv(&c);
                s_ws(&c);
                if (strcmp(key, path[k].key) == 0) {
                    found = 1;
                    if (want_key && k + 1 == n) {
                        *line = kl;
                        *col = kc;
                        return 0;
                    }
                    break;
                }
                if (s_skip(&c, 0) < 0)
                    return -EINVAL;
                s_ws(&c);
                if (c.i < c.n && c.s[c.i] == ',')
                    s_adv(&c);
            }
        } else if (!path[k].key && open == '[') {
            s_adv(&c);
            for (size_t idx = 0;; idx++) {
                s_ws(&c);
                if (c.i >= c.n || c.s[c.i] == ']')
                    break;
                if (idx == path[k].index) {
                    found = 1;
                    break;
                }
                if (s_skip(&c, 0) < 0)
                    return -EINVAL;
                s_ws(&c);
                if (c.i < c.n && c.s[c.i] == ',')
                    s_adv(&c);
            }
        }
        if (!found) {
            *line = cl;
            *col = cc;
            return -ENOENT;
        }
    }
    *line = c.line;
    *col = c.col;
    return 0;
}
