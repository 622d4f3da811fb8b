/*
 * fsutil.c -- atomic file output and whole-file input (see fsutil.h).
 */
#include "config.h"
#include "fsutil.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

char *ctk_path_join(const char *dir, const char *name)
{
    size_t a = strlen(dir), b = strlen(name);
    char *p = xmalloc(a + b + 2);
    memcpy(p, dir, a);
    size_t n = a;
    if (a && dir[a - 1] != '/') p[n++] = '/';
    memcpy(p + n, name, b + 1);
    return p;
}

int ctk_atomic_open(struct ctk_atomic *a, const char *path, struct ctk_err *e)
{
    size_t n = strlen(path);
    a->path = xstrdup(path);
    a->tmp = xmalloc(n + 16);
    memcpy(a->tmp, path, n);
    memcpy(a->tmp + n, ".tmp-XXXXXX", 12);
    int fd = mkstemp(a->tmp);
    if (fd < 0) {
        int err = errno;
        free(a->path);
        free(a->tmp);
        a->path = a->tmp = NULL;
        return ctk_err_set(e, "cannot create a file beside %s: %s", path, strerror(err));
    }
    mode_t mask = umask(0);
    umask(mask);
    fchmod(fd, 0666 & ~mask);
    a->f = fdopen(fd, "wb");
    if (!a->f) {
        close(fd);
        unlink(a->tmp);
        return ctk_err_set(e, "cannot open %s: %s", a->tmp, strerror(errno));
    }
    return 0;
}

int ctk_atomic_commit(struct ctk_atomic *a, struct ctk_err *e)
{
    int bad = fflush(a->f) != 0 || ferror(a->f);
    int err = errno;
    if (!bad && fsync(fileno(a->f)) != 0 && errno != EINVAL) {
        bad = 1;
        err = errno;
    }
    if (fclose(a->f) != 0 && !bad) {
        bad = 1;
        err = errno;
    }
    a->f = NULL;
    if (!bad && rename(a->tmp, a->path) != 0) {
        bad = 1;
        err = errno;
    }
    if (bad) {
        unlink(a->tmp);
        ctk_err_set(e, "cannot write %s: %s", a->path, strerror(err));
    }
    free(a->tmp);
    free(a->path);
    a->tmp = a->path = NULL;
    return bad ? -1 : 0;
}

void ctk_atomic_abort(struct ctk_atomic *a)
{
    if (a->f) fclose(a->f);
    if (a->tmp) unlink(a->tmp);
    free(a->tmp);
    free(a->path);
    a->f = NULL;
    a->tmp = a->path = NULL;
}

int ctk_write_file_atomic(const char *path, const void *buf, size_t len, struct ctk_err *e)
{
    struct ctk_atomic a;
    if (ctk_atomic_open(&a, path, e) < 0) return -1;
    if (len && fwrite(buf, 1, len, a.f) != len) {
        int err = errno;
        ctk_atomic_abort(&a);
        return ctk_err_set(e, "cannot write %s: %s", path, strerror(err));
    }
    return ctk_atomic_commit(&a, e);
}

char *ctk_read_file(const char *path, size_t *len, struct ctk_err *e)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        ctk_err_set(e, "cannot open %s: %s", path, strerror(errno));
        return NULL;
    }
    size_t cap = 1 << 16, n = 0;
    char *buf = xmalloc(cap);
    for (;;) {
        if (n + 1 >= cap) buf = xrealloc(buf, cap *= 2);
        size_t got = fread(buf + n, 1, cap - n - 1, f);
        n += got;
        if (got == 0) break;
    }
    int bad = ferror(f);
    fclose(f);
    if (bad) {
        free(buf);
        ctk_err_set(e, "cannot read %s: %s", path, strerror(errno));
        return NULL;
    }
    buf[n] = '\0';
    if (len) *len = n;
    return buf;
}

int ctk_mkdirs(const char *path, struct ctk_err *e)
{
    char *p = xstrdup(path);
    for (char *s = p + 1;; s++) {
        if (*s == '/' || *s == '\0') {
            char c = *s;
            *s = '\0';
            if (mkdir(p, 0777) != 0 && errno != EEXIST) {
                int err = errno;
                ctk_err_set(e, "cannot create folder %s: %s", p, strerror(err));
                free(p);
                return -1;
            }
            *s = c;
            if (!c) break;
        }
    }
    struct stat st;
    int ok = stat(path, &st) == 0 && S_ISDIR(st.st_mode);
    free(p);
    return ok ? 0 : ctk_err_set(e, "%s exists and is not a folder", path);
}
