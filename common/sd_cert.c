/* sd_cert: CURVE certificate files (see sd_cert.h). */
#include "sd_cert.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Z85 text of 32 zero bytes: what zcert keeps when a file has no secret key */
/* what a name or region may hold: they become file names, agent ids and log fields */
#define NAME_CHARS "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-@:"
#define ZERO_KEY_Z85 "0000000000000000000000000000000000000000"

bool sd_cert_name_valid(const char *s, bool allow_empty)
{
    size_t n = s ? strlen(s) : 0;
    if ((!allow_empty && n == 0) || n > SD_CERT_MAX_NAME)
        return false;
    if (n && (strcmp(s, ".") == 0 || strcmp(s, "..") == 0))
        return false;
    for (size_t i = 0; i < n; i++)
        if (!strchr(NAME_CHARS, s[i]))
            return false;
    return true;
}

const char *sd_cert_meta(zcert_t *cert, const char *key)
{
    const char *v = cert ? zcert_meta(cert, key) : NULL;
    return v ? v : "";
}

/* Largest certificate file read (they are a few hundred bytes) */
#define CERT_MAX_FILE (64 * 1024)
#define CERT_MAX_META 32

typedef struct {
    char pub[41], sec[41];
    char meta_key[CERT_MAX_META][64], meta_val[CERT_MAX_META][256];
    int n_meta;
} parsed_t;

/* One "name = value" or "name" line of ZPL (ZeroMQ property language), value unquoted. */
static bool s_split(char *line, char **name, char **value)
{
    char *eq = strchr(line, '=');
    char *end = eq ? eq : line + strlen(line);
    while (end > line && (end[-1] == ' ' || end[-1] == '\t'))
        end--;
    *end = '\0';
    *name = line;
    *value = NULL;
    if (!eq)
        return **name != '\0';
    char *v = eq + 1;
    while (*v == ' ' || *v == '\t')
        v++;
    if (*v == '"' || *v == '\'') {
        char *close = strchr(v + 1, *v);
        if (!close)
            return false;
        *close = '\0';
        v++;
    } else {
        char *e = v;
        while (*e && *e != ' ' && *e != '\t' && *e != '#')
            e++;
        *e = '\0';
    }
    *value = v;
    return **name != '\0';
}

/* Reads the keys and metadata of a certificate file in CZMQ's format: a "curve" section
 * with public-key / secret-key and a "metadata" section. CZMQ's own zconfig_load logs on
 * stderr and leaks on a syntax error, so the few lines are read here. */
static int s_parse(char *text, parsed_t *out, const char **why)
{
    memset(out, 0, sizeof *out);
    char section[32] = "";
    int lineno = 0;
    for (char *save = NULL, *line = strtok_r(text, "\n", &save); line;
         line = strtok_r(NULL, "\n", &save)) {
        lineno++;
        size_t len = strlen(line);
        if (len && line[len - 1] == '\r')
            line[--len] = '\0';
        size_t indent = strspn(line, " ");
        if (line[indent] == '\0' || line[indent] == '#')
            continue;
        if (indent % 4 != 0 || line[indent] == '\t') {
            *why = "indentation is not a multiple of 4 spaces";
            return -EINVAL;
        }
        char *name, *value;
        if (!s_split(line + indent, &name, &value)) {
            *why = "a line is not `name = \"value\"`";
            return -EINVAL;
        }
        if (indent == 0) {
            snprintf(section, sizeof section, "%s", value ? "" : name);
            continue;
        }
        if (indent != 4 || !value)
            continue;
        if (strcmp(section, "curve") == 0 && strcmp(name, "public-key") == 0)
            snprintf(out->pub, sizeof out->pub, "%s", strlen(value) == 40 ? value : "");
        else if (strcmp(section, "curve") == 0 && strcmp(name, "secret-key") == 0) {
            if (strlen(value) != 40) {
                *why = "curve/secret-key is not 40 Z85 characters";
                return -EINVAL;
            }
            snprintf(out->sec, sizeof out->sec, "%s", value);
        } else if (strcmp(section, "metadata") == 0 && out->n_meta < CERT_MAX_META &&
                   strlen(name) < 64 && strlen(value) < 256) {
            snprintf(out->meta_key[out->n_meta], 64, "%s", name);
            snprintf(out->meta_val[out->n_meta], 256, "%s", value);
            out->n_meta++;
        }
    }
    if (!out->pub[0]) {
        *why = "not a certificate (no curve/public-key of 40 Z85 characters)";
        return -EINVAL;
    }
    return 0;
}

static int s_load(const char *path, zcert_t **out, char *err, size_t errlen)
{
    *out = NULL;
    struct stat st;
    if (!path || stat(path, &st) != 0) {
        int e = path ? errno : EINVAL;
        snprintf(err, errlen, "%s: %s", path ? path : "(none)", strerror(e));
        return -e;
    }
    if (!S_ISREG(st.st_mode) || st.st_size > CERT_MAX_FILE) {
        snprintf(err, errlen, "%s: not a regular file of at most %d bytes", path,
                 CERT_MAX_FILE);
        return -EINVAL;
    }
    FILE *f = fopen(path, "re");
    if (!f) {
        int e = errno;
        snprintf(err, errlen, "%s: %s", path, strerror(e));
        return -e;
    }
    char *text = calloc(1, (size_t) st.st_size + 1);
    size_t n = text ? fread(text, 1, (size_t) st.st_size, f) : 0;
    fclose(f);
    parsed_t *p = malloc(sizeof *p);
    const char *why = "out of memory";
    int rc = text && p ? 0 : -ENOMEM;
    if (rc == 0) {
        text[n] = '\0';
        rc = s_parse(text, p, &why);
    }
    uint8_t pk[32], sk[32] = {0};
    if (rc == 0 && (!zmq_z85_decode(pk, p->pub) || (p->sec[0] && !zmq_z85_decode(sk, p->sec)))) {
        why = "a key is not valid Z85 text";
        rc = -EINVAL;
    }
    zcert_t *cert = rc == 0 ? zcert_new_from(pk, sk) : NULL;
    if (rc == 0 && !cert)
        rc = -ENOMEM;
    for (int i = 0; cert && i < p->n_meta; i++)
        zcert_set_meta(cert, p->meta_key[i], "%s", p->meta_val[i]);
    if (rc < 0)
        snprintf(err, errlen, "%s: %s", path, why);
    free(text);
    free(p);
    *out = cert;
    return rc;
}

int sd_cert_load_secret(const char *path, zcert_t **out, char *err, size_t errlen)
{
    int rc = s_load(path, out, err, errlen);
    if (rc == 0 && strcmp(zcert_secret_txt(*out), ZERO_KEY_Z85) == 0) {
        snprintf(err, errlen, "%s: holds no secret key (give the NAME.cert_secret file)", path);
        zcert_destroy(out);
        return -EINVAL;
    }
    return rc;
}

int sd_cert_load_public(const char *path, zcert_t **out, char *err, size_t errlen)
{
    return s_load(path, out, err, errlen);
}

/* Writes text to path with mode, failing when it exists unless force. */
static int s_write(const char *path, const char *text, mode_t mode, bool force, char *err,
                   size_t errlen)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC | (force ? O_TRUNC : O_EXCL), mode);
    if (fd < 0) {
        int e = errno;
        snprintf(err, errlen, "%s: %s%s", path, strerror(e),
                 e == EEXIST ? " (use --force to replace it)" : "");
        return -e;
    }
    size_t len = strlen(text), off = 0;
    int rc = 0;
    while (off < len) {
        ssize_t w = write(fd, text + off, len - off);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            rc = -(w < 0 ? errno : EIO);
            break;
        }
        off += (size_t) w;
    }
    if (rc == 0 && (fchmod(fd, mode) != 0 || fsync(fd) != 0))
        rc = -errno;
    if (close(fd) != 0 && rc == 0)
        rc = -errno;
    if (rc < 0)
        snprintf(err, errlen, "%s: %s", path, strerror(-rc));
    return rc;
}

/* The file text, in CZMQ's zcert format (ZPL) */
static char *s_cert_text(zcert_t *cert, bool secret)
{
    char *meta = NULL;
    size_t metalen = 0;
    FILE *f = open_memstream(&meta, &metalen);
    if (!f)
        return NULL;
    fprintf(f, "#   ****  Generated by statusd-keygen  ****\n");
    fprintf(f, secret ? "#   StatusD CURVE **secret** certificate: keep it private (mode 0600)\n"
                      : "#   StatusD CURVE public certificate\n");
    fprintf(f, "\nmetadata\n");
    const char *keys[] = {"name", "region", NULL};
    for (int i = 0; keys[i]; i++)
        if (*sd_cert_meta(cert, keys[i]))
            fprintf(f, "    %s = \"%s\"\n", keys[i], sd_cert_meta(cert, keys[i]));
    fprintf(f, "curve\n    public-key = \"%s\"\n", zcert_public_txt(cert));
    if (secret)
        fprintf(f, "    secret-key = \"%s\"\n", zcert_secret_txt(cert));
    if (fclose(f) != 0) {
        free(meta);
        return NULL;
    }
    return meta;
}

int sd_cert_generate(const char *dir, const char *name, const char *region, bool force,
                     char *err, size_t errlen)
{
    if (!sd_cert_name_valid(name, false)) {
        snprintf(err, errlen, "invalid name \"%s\": 1..%d of A-Z a-z 0-9 . _ - @ :", name ? name : "", SD_CERT_MAX_NAME);
        return -EINVAL;
    }
    if (region && !sd_cert_name_valid(region, true)) {
        snprintf(err, errlen, "invalid region \"%s\": at most %d of A-Z a-z 0-9 . _ - @ :", region, SD_CERT_MAX_NAME);
        return -EINVAL;
    }
    if (!zsys_has_curve()) {
        snprintf(err, errlen, "this libzmq was built without CURVE support");
        return -ENOTSUP;
    }
    zcert_t *cert = zcert_new();
    if (!cert) {
        snprintf(err, errlen, "cannot make a key pair");
        return -ENOMEM;
    }
    zcert_set_meta(cert, "name", "%s", name);
    if (region && *region)
        zcert_set_meta(cert, "region", "%s", region);
    char pub_path[PATH_MAX], sec_path[PATH_MAX];
    const char *d = dir && *dir ? dir : ".";
    int n1 = snprintf(pub_path, sizeof pub_path, "%s/%s.cert", d, name);
    int n2 = snprintf(sec_path, sizeof sec_path, "%s/%s.cert_secret", d, name);
    char *pub_text = s_cert_text(cert, false), *sec_text = s_cert_text(cert, true);
    int rc = 0;
    if (n1 < 0 || n2 < 0 || (size_t) n2 >= sizeof sec_path) {
        snprintf(err, errlen, "path too long");
        rc = -ENAMETOOLONG;
    } else if (!pub_text || !sec_text) {
        snprintf(err, errlen, "out of memory");
        rc = -ENOMEM;
    } else if ((rc = s_write(sec_path, sec_text, 0600, force, err, errlen)) == 0 &&
               (rc = s_write(pub_path, pub_text, 0644, force, err, errlen)) != 0) {
        unlink(sec_path); /* never leave half a pair */
    }
    free(pub_text);
    free(sec_text);
    zcert_destroy(&cert);
    return rc;
}
