/*
 * bytesrc.c -- buffered input over files, gzip inflated transparently
 * (see bytesrc.h). zlib's inflate with windowBits 16+MAX_WBITS reads the
 * gzip wrapper; several gzip members in a row are one file, as gzip(1) says.
 */
#include "config.h"
#include "bytesrc.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define BUF_SIZE (256 * 1024)

static int open_current(struct ctk_src *s, struct ctk_err *e);

int ctk_src_open(struct ctk_src *s, const char *path, struct ctk_err *e)
{
    memset(s, 0, sizeof *s);
    s->one[0] = path ? path : "-";
    s->paths = s->one;
    s->npaths = 1;
    return open_current(s, e);
}

int ctk_src_open_list(struct ctk_src *s, const char *const *paths, int n, struct ctk_err *e)
{
    if (n <= 0) return ctk_src_open(s, "-", e);
    memset(s, 0, sizeof *s);
    s->paths = paths;
    s->npaths = n;
    return open_current(s, e);
}

int ctk_src_openf(struct ctk_src *s, FILE *f, const char *name, struct ctk_err *e)
{
    memset(s, 0, sizeof *s);
    s->one[0] = name ? name : "stdin";
    s->paths = s->one;
    s->npaths = 1;
    s->f = f;
    s->name = s->one[0];
    s->buf = xmalloc(BUF_SIZE);
    s->cap = BUF_SIZE;
    return open_current(s, e);
}

static void close_current(struct ctk_src *s)
{
    if (s->own && s->f) fclose(s->f);
    s->f = NULL;
    s->own = 0;
    if (s->zinit) inflateEnd(&s->z);
    s->zinit = 0;
    s->gz = 0;
    s->zend = 0;
    s->pos = s->len = 0;
    s->eof = 0;
    s->offset = 0;
}

/* Raw bytes from the file into dst; 0 at its end, -1 on error. */
static ssize_t raw_read(struct ctk_src *s, unsigned char *dst, size_t n, struct ctk_err *e)
{
    size_t got = fread(dst, 1, n, s->f);
    if (got == 0 && ferror(s->f))
        return ctk_err_set(e, "%s: read error: %s", s->name, strerror(errno));
    return (ssize_t)got;
}

/* Opens paths[cur] (unless an open FILE was given) and detects gzip. */
static int open_current(struct ctk_src *s, struct ctk_err *e)
{
    if (!s->buf) {
        s->buf = xmalloc(BUF_SIZE);
        s->cap = BUF_SIZE;
    }
    if (!s->f) {
        const char *p = s->paths[s->cur];
        if (strcmp(p, "-") == 0) {
            s->f = stdin;
            s->name = "stdin";
        } else {
            s->f = fopen(p, "rb");
            if (!s->f) return ctk_err_set(e, "cannot open %s: %s", p, strerror(errno));
            s->own = 1;
            s->name = p;
        }
    }
    /* The first two bytes say whether the file is gzip. */
    while (s->len < 2) {
        ssize_t n = raw_read(s, s->buf + s->len, s->cap - s->len, e);
        if (n < 0) return -1;
        if (n == 0) break;
        s->len += (size_t)n;
    }
    if (s->len >= 2 && s->buf[0] == 0x1f && s->buf[1] == 0x8b) {
        if (!s->in) {
            s->in = xmalloc(BUF_SIZE);
            s->in_cap = BUF_SIZE;
        }
        memcpy(s->in, s->buf, s->len);
        memset(&s->z, 0, sizeof s->z);
        s->z.next_in = s->in;
        s->z.avail_in = (uInt)s->len;
        if (inflateInit2(&s->z, 16 + MAX_WBITS) != Z_OK)
            return ctk_err_set(e, "%s: cannot start gzip decompression", s->name);
        s->zinit = 1;
        s->gz = 1;
        s->len = 0;
    }
    return 0;
}

/* Inflate more bytes into buf[len..cap). Sets eof at the end of the gzip data. */
static int gz_fill(struct ctk_src *s, struct ctk_err *e)
{
    for (;;) {
        if (s->z.avail_in == 0) {
            ssize_t n = raw_read(s, s->in, s->in_cap, e);
            if (n < 0) return -1;
            if (n == 0) {
                if (s->zend) {
                    s->eof = 1;
                    return 0;
                }
                return ctk_err_set(e, "%s: truncated gzip data (the compressed file is cut short)",
                                   s->name);
            }
            s->z.next_in = s->in;
            s->z.avail_in = (uInt)n;
        }
        if (s->zend) {
            /* Another gzip member follows: gzip(1) reads them as one file. */
            inflateReset(&s->z);
            s->zend = 0;
        }
        s->z.next_out = s->buf + s->len;
        s->z.avail_out = (uInt)(s->cap - s->len);
        int rc = inflate(&s->z, Z_NO_FLUSH);
        size_t produced = (size_t)(s->z.next_out - (s->buf + s->len));
        s->len += produced;
        if (rc == Z_STREAM_END)
            s->zend = 1;
        else if (rc != Z_OK && rc != Z_BUF_ERROR)
            return ctk_err_set(e, "%s: corrupt gzip data (%s)", s->name,
                               s->z.msg ? s->z.msg : "inflate failed");
        if (produced) return 0;
    }
}

/* Append more bytes to buf; at least one unless at the end of the file. */
static int fill(struct ctk_src *s, struct ctk_err *e)
{
    if (s->eof) return 0;
    if (s->pos > 0) {
        memmove(s->buf, s->buf + s->pos, s->len - s->pos);
        s->len -= s->pos;
        s->pos = 0;
    }
    if (s->len == s->cap) {
        s->cap *= 2;
        s->buf = xrealloc(s->buf, s->cap);
    }
    if (s->gz) return gz_fill(s, e);
    ssize_t n = raw_read(s, s->buf + s->len, s->cap - s->len, e);
    if (n < 0) return -1;
    if (n == 0) s->eof = 1;
    s->len += (size_t)n;
    return 0;
}

ssize_t ctk_src_read(struct ctk_src *s, void *dst, size_t n, struct ctk_err *e)
{
    size_t done = 0;
    unsigned char *d = dst;
    while (done < n) {
        if (s->pos == s->len) {
            /* Large reads bypass the buffer for plain files. */
            if (!s->gz && d && n - done >= s->cap && !s->eof) {
                ssize_t k = raw_read(s, d + done, n - done, e);
                if (k < 0) return -1;
                if (k == 0) s->eof = 1;
                done += (size_t)k;
                s->offset += (uint64_t)k;
                if (k == 0) break;
                continue;
            }
            s->pos = s->len = 0;
            if (fill(s, e) < 0) return -1;
            if (s->pos == s->len) break;
        }
        size_t k = s->len - s->pos;
        if (k > n - done) k = n - done;
        if (d) memcpy(d + done, s->buf + s->pos, k);
        s->pos += k;
        done += k;
        s->offset += k;
    }
    return (ssize_t)done;
}

ssize_t ctk_src_peek(struct ctk_src *s, size_t n, struct ctk_err *e)
{
    while (s->len - s->pos < n && !s->eof) {
        size_t before = s->len - s->pos;
        if (s->cap < n) {
            if (s->pos > 0) {
                memmove(s->buf, s->buf + s->pos, before);
                s->len = before;
                s->pos = 0;
            }
            s->cap = n;
            s->buf = xrealloc(s->buf, s->cap);
        }
        if (fill(s, e) < 0) return -1;
    }
    size_t k = s->len - s->pos;
    return (ssize_t)(k < n ? k : n);
}

ssize_t ctk_src_getline(struct ctk_src *s, char **line, size_t *cap, int *nl, struct ctk_err *e)
{
    size_t n = 0;
    int any = 0;
    for (;;) {
        if (s->pos == s->len) {
            s->pos = s->len = 0;
            if (fill(s, e) < 0) return -2;
            if (s->len == 0) {
                *nl = 0;
                if (!any) return -1;
                break;
            }
        }
        any = 1;
        unsigned char *start = s->buf + s->pos;
        unsigned char *p = memchr(start, '\n', s->len - s->pos);
        size_t k = p ? (size_t)(p - start) : s->len - s->pos;
        if (n + k + 1 > *cap) {
            size_t nc = *cap ? *cap : 256;
            while (nc < n + k + 1) nc *= 2;
            *line = xrealloc(*line, nc);
            *cap = nc;
        }
        memcpy(*line + n, start, k);
        n += k;
        s->pos += k + (p ? 1 : 0);
        s->offset += k + (p ? 1 : 0);
        if (p) {
            *nl = 1;
            break;
        }
    }
    (*line)[n] = '\0';
    return (ssize_t)n;
}

int ctk_src_next(struct ctk_src *s, struct ctk_err *e)
{
    if (s->cur + 1 >= s->npaths) return 0;
    close_current(s);
    s->cur++;
    if (open_current(s, e) < 0) return -1;
    return 1;
}

void ctk_src_close(struct ctk_src *s)
{
    close_current(s);
    free(s->buf);
    free(s->in);
    s->buf = NULL;
    s->in = NULL;
}
