/*
 * stream.c -- the ctk stream: chunks as safetensors records (see stream.h for
 * the layout and man/ctk-stream.5 for the full specification).
 *
 * Reading checks every number of a record's header (length, dtype, shape,
 * data offsets) for range and overflow before anything is allocated, in the
 * way Netpbm's libpam.c checks a PAM header, and allocates a tensor's buffer
 * only as fast as its bytes actually arrive, so that a header which lies about
 * sizes costs a read error, not memory. The safetensors rules (data offsets
 * relative to the data area, contiguous, without holes or overlaps, end minus
 * begin equal to the shape's byte size) are checked as the safetensors
 * library checks them.
 */
#include "config.h"
#include "stream.h"
#include "json.h"
#include "streampriv.h"

#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "ctk streams are little-endian; this port needs byte swapping in stream.c"
#endif

#define MAGIC_LEN 8
#define CRC_PREFIX "{\"__metadata__\":{\"crc32\":\""
#define CRC_PREFIX_LEN (sizeof CRC_PREFIX - 1)
#define HDR_MAX (16u << 20)          /* largest record header: 16 MiB */
#define DATA_MAX ((uint64_t)1 << 30) /* largest data area of one chunk: 1 GiB */
#define DIM_MAX ((int64_t)1 << 40)   /* largest value of any one shape entry */
#define STREAM_VERSION "1"

/* --- dtypes --------------------------------------------------------------- */

static const char *kind_names[] = {"dense", "ragged", "string"};

/* Which dtypes a column of a kind may have in a stream. */
static int dtype_allowed(enum ctk_col_kind k, enum ctk_dtype t)
{
    if (k == CTK_COL_STRING) return t == CTK_U8;
    return t == CTK_F32 || t == CTK_I32 || t == CTK_I64;
}

/* --- small helpers ---------------------------------------------------------- */

int ctk_utf8_valid(const char *str, size_t n)
{
    const unsigned char *p = (const unsigned char *)str, *end = p + n;
    while (p < end) {
        unsigned c = *p;
        if (c < 0x80) {
            p++;
            continue;
        }
        int len;
        unsigned min;
        if (c >= 0xc2 && c <= 0xdf) len = 2, min = 0x80;
        else if (c >= 0xe0 && c <= 0xef) len = 3, min = 0x800;
        else if (c >= 0xf0 && c <= 0xf4) len = 4, min = 0x10000;
        else return 0;
        if (end - p < len) return 0;
        unsigned cp = c & (0x3f >> (len - 1));
        for (int i = 1; i < len; i++) {
            if ((p[i] & 0xc0) != 0x80) return 0;
            cp = (cp << 6) | (p[i] & 0x3f);
        }
        if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return 0;
        p += len;
    }
    return 1;
}

int ctk_parse_u63(const char *s, int64_t *out)
{
    int64_t v = 0;
    if (!*s || strlen(s) > 18 || (s[0] == '0' && s[1])) return -1;
    for (const char *p = s; *p; p++) {
        if (*p < '0' || *p > '9') return -1;
        v = v * 10 + (*p - '0');
    }
    *out = v;
    return 0;
}

/* A JSON string of s; bytes that are not UTF-8 become U+FFFD (JSON holds only UTF-8). */
static json_t *jstr(const char *s)
{
    size_t n = strlen(s);
    if (ctk_utf8_valid(s, n)) return json_stringn(s, n);
    char *t = xmallocarray(n + 1, 3);
    size_t k = 0;
    for (size_t i = 0; i < n;) {
        size_t len = 1;
        unsigned char c = (unsigned char)s[i];
        if (c >= 0x80) len = c >= 0xf0 ? 4 : c >= 0xe0 ? 3 : 2;
        if (c < 0x80 || (i + len <= n && ctk_utf8_valid(s + i, len))) {
            memcpy(t + k, s + i, len);
            k += len;
            i += len;
        } else {
            memcpy(t + k, "\xef\xbf\xbd", 3);
            k += 3;
            i++;
        }
    }
    json_t *j = json_stringn(t, k);
    free(t);
    return j;
}

/* --- metadata ----------------------------------------------------------------- */

void ctk_meta_init(struct ctk_stream_meta *m)
{
    memset(m, 0, sizeof *m);
    m->normalized = -1;
}

static void free_strs(char **v, int n)
{
    for (int i = 0; i < n; i++) free(v[i]);
    free(v);
}

void ctk_meta_free(struct ctk_stream_meta *m)
{
    free(m->model);
    free_strs(m->labels, m->nlabels);
    free_strs(m->history, m->nhistory);
    free_strs(m->extra_keys, m->nextra);
    free_strs(m->extra_vals, m->nextra);
    ctk_meta_init(m);
}

static char **dup_strs(char *const *v, int n)
{
    if (n == 0) return NULL;
    char **d = xmallocarray((size_t)n, sizeof *d);
    for (int i = 0; i < n; i++) d[i] = xstrdup(v[i]);
    return d;
}

void ctk_meta_copy(struct ctk_stream_meta *dst, const struct ctk_stream_meta *src)
{
    *dst = *src;
    dst->model = src->model ? xstrdup(src->model) : NULL;
    dst->labels = dup_strs(src->labels, src->nlabels);
    dst->history = dup_strs(src->history, src->nhistory);
    dst->extra_keys = dup_strs(src->extra_keys, src->nextra);
    dst->extra_vals = dup_strs(src->extra_vals, src->nextra);
}

int ctk_meta_find(const struct ctk_stream_meta *m, const char *name)
{
    for (int i = 0; i < m->ncols; i++)
        if (strcmp(m->cols[i].name, name) == 0) return i;
    return -1;
}

int ctk_col_name_check(const char *name, struct ctk_err *e)
{
    size_t n = strlen(name);
    if (n == 0) return ctk_err_set(e, "a column name cannot be empty");
    if (n >= CTK_COL_NAME_MAX)
        return ctk_err_set(e, "column name '%.80s' is longer than %d bytes", name, CTK_COL_NAME_MAX - 1);
    if (!ctk_utf8_valid(name, n)) return ctk_err_set(e, "column name '%s' is not UTF-8", name);
    for (const char *p = name; *p; p++)
        if ((unsigned char)*p < 0x20 || *p == 0x7f || *p == ',')
            return ctk_err_set(e, "column name '%s' holds a control character or ','", name);
    if (strcmp(name, "__metadata__") == 0 ||
        (n >= 8 && strcmp(name + n - 8, ".offsets") == 0))
        return ctk_err_set(e, "'%s' cannot name a column (reserved for the record's tensors)", name);
    return 0;
}

int ctk_meta_add_col(struct ctk_stream_meta *m, const char *name, enum ctk_col_kind kind,
                     enum ctk_dtype dtype, int64_t width)
{
    struct ctk_err e;
    if (ctk_col_name_check(name, &e) < 0) ctk_die("%s", e.msg);
    if (ctk_meta_find(m, name) >= 0) ctk_die("the stream already has a column '%s'", name);
    if (m->ncols >= CTK_MAX_COLS) ctk_die("too many columns (at most %d) adding '%s'", CTK_MAX_COLS, name);
    if (!dtype_allowed(kind, dtype))
        ctk_die("column '%s': a %s column cannot hold %s", name, kind_names[kind], ctk_dtype_name(dtype));
    if (width < 0 || width > INT32_MAX || (kind != CTK_COL_DENSE && width != 0))
        ctk_die("column '%s': bad width %lld", name, (long long)width);
    struct ctk_col_spec *c = &m->cols[m->ncols];
    memset(c, 0, sizeof *c);
    strcpy(c->name, name);
    c->kind = kind;
    c->dtype = dtype;
    c->width = width;
    return m->ncols++;
}

void ctk_meta_drop_col(struct ctk_stream_meta *m, int idx)
{
    if (idx < 0 || idx >= m->ncols) return;
    memmove(&m->cols[idx], &m->cols[idx + 1], (size_t)(m->ncols - idx - 1) * sizeof m->cols[0]);
    m->ncols--;
}

void ctk_meta_set_model(struct ctk_stream_meta *m, const char *model)
{
    free(m->model);
    m->model = model ? xstrdup(model) : NULL;
}

void ctk_meta_set_labels(struct ctk_stream_meta *m, int n, char *const *labels)
{
    free_strs(m->labels, m->nlabels);
    m->labels = dup_strs(labels, n);
    m->nlabels = n;
}

void ctk_meta_add_history(struct ctk_stream_meta *m, const char *cmdline)
{
    m->history = xreallocarray(m->history, (size_t)m->nhistory + 1, sizeof *m->history);
    m->history[m->nhistory++] = xstrdup(cmdline);
}

static const char *reserved_keys[] = {"crc32", "kind", "version", "schema", "model", "dim",
                                      "normalized", "labels", "history", "rows", "chunks",
                                      "chunk", NULL};

static int is_reserved(const char *key)
{
    for (int i = 0; reserved_keys[i]; i++)
        if (strcmp(key, reserved_keys[i]) == 0) return 1;
    return 0;
}

const char *ctk_meta_get(const struct ctk_stream_meta *m, const char *key)
{
    for (int i = 0; i < m->nextra; i++)
        if (strcmp(m->extra_keys[i], key) == 0) return m->extra_vals[i];
    return NULL;
}

void ctk_meta_set(struct ctk_stream_meta *m, const char *key, const char *val)
{
    if (is_reserved(key)) ctk_die("metadata key '%s' is reserved by the stream format", key);
    for (int i = 0; i < m->nextra; i++)
        if (strcmp(m->extra_keys[i], key) == 0) {
            free(m->extra_vals[i]);
            m->extra_vals[i] = xstrdup(val);
            return;
        }
    m->extra_keys = xreallocarray(m->extra_keys, (size_t)m->nextra + 1, sizeof(char *));
    m->extra_vals = xreallocarray(m->extra_vals, (size_t)m->nextra + 1, sizeof(char *));
    m->extra_keys[m->nextra] = xstrdup(key);
    m->extra_vals[m->nextra] = xstrdup(val);
    m->nextra++;
}

/* Dump a JSON value compactly into a new string. */
static char *dump(const json_t *j)
{
    char *s = json_dumps(j, JSON_COMPACT);
    if (!s) ctk_die("out of memory (encoding JSON)");
    return s;
}

static char *strs_json(char *const *v, int n)
{
    json_t *a = json_array();
    for (int i = 0; i < n; i++) json_array_append_new(a, jstr(v[i]));
    char *s = dump(a);
    json_decref(a);
    return s;
}

/* The header record's __metadata__ (after crc32 and kind). */
static void meta_to_json(json_t *md, const struct ctk_stream_meta *m)
{
    char buf[32];
    json_object_set_new(md, "version", json_string(STREAM_VERSION));
    json_t *schema = json_array();
    for (int i = 0; i < m->ncols; i++) {
        const struct ctk_col_spec *c = &m->cols[i];
        json_t *o = json_object();
        json_object_set_new(o, "name", jstr(c->name));
        json_object_set_new(o, "kind", json_string(kind_names[c->kind]));
        json_object_set_new(o, "dtype", json_string(ctk_dtype_name(c->dtype)));
        json_object_set_new(o, "width", json_integer(c->width));
        json_array_append_new(schema, o);
    }
    char *s = dump(schema);
    json_object_set_new(md, "schema", json_string(s));
    free(s);
    json_decref(schema);
    if (m->model) json_object_set_new(md, "model", jstr(m->model));
    if (m->dim > 0) {
        snprintf(buf, sizeof buf, "%lld", (long long)m->dim);
        json_object_set_new(md, "dim", json_string(buf));
    }
    if (m->normalized >= 0)
        json_object_set_new(md, "normalized", json_string(m->normalized ? "true" : "false"));
    if (m->nlabels > 0) {
        s = strs_json(m->labels, m->nlabels);
        json_object_set_new(md, "labels", json_string(s));
        free(s);
    }
    s = strs_json(m->history, m->nhistory);
    json_object_set_new(md, "history", json_string(s));
    free(s);
    for (int i = 0; i < m->nextra; i++)
        json_object_set_new(md, m->extra_keys[i], jstr(m->extra_vals[i]));
}

/* A list of strings stored as a JSON string; -1 when malformed. */
static int parse_strs(const char *txt, char ***out, int *n, struct ctk_err *e, const char *what)
{
    json_t *a = ctk_json_load_buf(txt, strlen(txt), what, e);
    if (!a) return -1;
    if (!json_is_array(a)) {
        json_decref(a);
        return ctk_err_set(e, "%s is not a JSON list", what);
    }
    size_t k = json_array_size(a);
    for (size_t i = 0; i < k; i++)
        if (!json_is_string(json_array_get(a, i))) {
            json_decref(a);
            return ctk_err_set(e, "%s: item %zu is not a string", what, i + 1);
        }
    char **v = k ? xmallocarray(k, sizeof *v) : NULL;
    for (size_t i = 0; i < k; i++) {
        const json_t *it = json_array_get(a, i);
        size_t len = json_string_length(it);
        if (memchr(json_string_value(it), '\0', len)) {
            free_strs(v, (int)i);
            json_decref(a);
            return ctk_err_set(e, "%s: item %zu holds a NUL character", what, i + 1);
        }
        v[i] = xstrdup(json_string_value(it));
    }
    json_decref(a);
    *out = v;
    *n = (int)k;
    return 0;
}

static int parse_schema(struct ctk_stream_meta *m, const char *txt, struct ctk_err *e)
{
    json_t *a = ctk_json_load_buf(txt, strlen(txt), "schema", e);
    if (!a) return -1;
    int rc = -1;
    if (!json_is_array(a)) {
        ctk_err_set(e, "the schema is not a JSON list");
        goto out;
    }
    if (json_array_size(a) > CTK_MAX_COLS) {
        ctk_err_set(e, "the schema has %zu columns, more than %d", json_array_size(a), CTK_MAX_COLS);
        goto out;
    }
    for (size_t i = 0; i < json_array_size(a); i++) {
        const json_t *o = json_array_get(a, i);
        const char *name, *kind, *dt;
        int64_t width;
        enum ctk_dtype t;
        int k;
        char what[64];
        snprintf(what, sizeof what, "schema column %zu", i + 1);
        if (!json_is_object(o) || json_object_size(o) != 4) {
            ctk_err_set(e, "%s is not an object of name, kind, dtype, width", what);
            goto out;
        }
        if (ctk_json_get_str(o, "name", NULL, &name, what, e) < 0 ||
            ctk_json_get_str(o, "kind", NULL, &kind, what, e) < 0 ||
            ctk_json_get_str(o, "dtype", NULL, &dt, what, e) < 0 ||
            ctk_json_get_int(o, "width", -1, &width, what, e) < 0)
            goto out;
        if (!name || !kind || !dt || width < 0) {
            ctk_err_set(e, "%s lacks a name, kind, dtype or width", what);
            goto out;
        }
        if (ctk_col_name_check(name, e) < 0) goto out;
        if (ctk_meta_find(m, name) >= 0) {
            ctk_err_set(e, "the schema names column '%s' twice", name);
            goto out;
        }
        for (k = 0; k < 3; k++)
            if (strcmp(kind, kind_names[k]) == 0) break;
        if (k == 3) {
            ctk_err_set(e, "column '%s' has unknown kind '%s'", name, kind);
            goto out;
        }
        if (ctk_dtype_parse(dt, &t) < 0 || !dtype_allowed((enum ctk_col_kind)k, t)) {
            ctk_err_set(e, "column '%s': a %s column cannot hold dtype '%s'", name, kind, dt);
            goto out;
        }
        if (width > INT32_MAX || (k != CTK_COL_DENSE && width != 0)) {
            ctk_err_set(e, "column '%s' has bad width %lld", name, (long long)width);
            goto out;
        }
        struct ctk_col_spec *c = &m->cols[m->ncols++];
        memset(c, 0, sizeof *c);
        strcpy(c->name, name);
        c->kind = (enum ctk_col_kind)k;
        c->dtype = t;
        c->width = width;
    }
    rc = 0;
out:
    json_decref(a);
    return rc;
}

/* Fill m from a header record's __metadata__ (all values strings, checked). */
static int meta_from_json(struct ctk_stream_meta *m, const json_t *md, struct ctk_err *e)
{
    const char *key;
    const json_t *v;
    ctk_meta_init(m);
    const char *ver = json_string_value(json_object_get(md, "version"));
    if (!ver) return ctk_err_set(e, "the header record has no format version");
    if (strcmp(ver, STREAM_VERSION) != 0)
        return ctk_err_set(e, "stream format version '%s' is not supported (this ctk reads version %s)",
                           ver, STREAM_VERSION);
    const char *schema = json_string_value(json_object_get(md, "schema"));
    if (!schema) return ctk_err_set(e, "the header record has no schema");
    if (parse_schema(m, schema, e) < 0) return -1;
    json_object_foreach((json_t *)md, key, v) {
        const char *s = json_string_value(v);
        if (strlen(s) != json_string_length(v))
            return ctk_err_set(e, "metadata '%s' holds a NUL character", key);
        if (!strcmp(key, "crc32") || !strcmp(key, "kind") || !strcmp(key, "version") ||
            !strcmp(key, "schema"))
            continue;
        if (!strcmp(key, "model")) {
            ctk_meta_set_model(m, s);
        } else if (!strcmp(key, "dim")) {
            if (ctk_parse_u63(s, &m->dim) < 0 || m->dim > INT32_MAX)
                return ctk_err_set(e, "metadata dim '%.40s' is not a dimension", s);
        } else if (!strcmp(key, "normalized")) {
            if (!strcmp(s, "true")) m->normalized = 1;
            else if (!strcmp(s, "false")) m->normalized = 0;
            else return ctk_err_set(e, "metadata normalized '%.40s' is not true or false", s);
        } else if (!strcmp(key, "labels")) {
            if (parse_strs(s, &m->labels, &m->nlabels, e, "metadata labels") < 0) return -1;
        } else if (!strcmp(key, "history")) {
            if (parse_strs(s, &m->history, &m->nhistory, e, "metadata history") < 0) return -1;
        } else if (is_reserved(key)) {
            return ctk_err_set(e, "the header record has a '%s' entry", key);
        } else {
            ctk_meta_set(m, key, s);
        }
    }
    return 0;
}

/* --- records: shared by reader and writer ----------------------------------------- */

struct tensor {
    int col;        /* schema column */
    int is_off;     /* the NAME.offsets tensor of a ragged/string column */
    enum ctk_dtype dt;
    int64_t count;  /* elements */
    uint64_t begin, end;
};

struct rd {
    struct ctk_src *src;   /* owned */
    int done;              /* the last member's end record was read */
    char *hdr;
    size_t hdr_cap;
    int64_t member;        /* members begun (1 = first) */
    int64_t chunks;        /* chunks read in the whole stream */
    int64_t rows;          /* rows read in the whole stream */
    uint64_t rec_start;    /* offset in the current file of the record being read */
    struct tensor t[2 * CTK_MAX_COLS];
    /* another format's reader (textio.c), or NULL */
    ctk_source_read_fn src_read;
    ctk_source_close_fn src_close;
    void *state;
};

struct wr {
    FILE *f;
};

/* --- reading ------------------------------------------------------------------------ */

/* "chunk 3" or "the header record"... for messages: what the reader was reading. */
static void where(const struct ctk_stream *s, const struct rd *r, const char *what, char *buf,
                  size_t n)
{
    if (r->member > 1)
        snprintf(buf, n, "%s: %s (stream member %lld, byte %llu)", s->name, what,
                 (long long)r->member, (unsigned long long)r->rec_start);
    else
        snprintf(buf, n, "%s: %s (byte %llu)", s->name, what, (unsigned long long)r->rec_start);
}

/* Set e to "FILE: WHAT (where): message"; returns -1. */
static int failf(const struct ctk_stream *s, const struct rd *r, const char *what, struct ctk_err *e,
                 const char *fmt, ...) CTK_PRINTF(5, 6);
static int failf(const struct ctk_stream *s, const struct rd *r, const char *what, struct ctk_err *e,
                 const char *fmt, ...)
{
    char w[256], m[512];
    va_list ap;
    where(s, r, what, w, sizeof w);
    va_start(ap, fmt);
    vsnprintf(m, sizeof m, fmt, ap);
    va_end(ap);
    return ctk_err_set(e, "%s: %s", w, m);
}

#define FAIL(...) return failf(s, r, what, e, __VA_ARGS__)
#define FAILN(...)                           \
    do {                                     \
        failf(s, r, what, e, __VA_ARGS__);   \
        return NULL;                         \
    } while (0)

/*
 * Read the next record's length and JSON header into r->hdr, check its crc32
 * prefix, parse it. *crc gets the crc32 of the header with the digits zeroed,
 * *want the crc32 the record claims. Returns the root object (new reference)
 * or NULL with e set. what names the record for messages.
 */
static json_t *read_header(struct ctk_stream *s, struct rd *r, const char *what, uLong *crc,
                           uint32_t *want, struct ctk_err *e)
{
    unsigned char lenbuf[8];
    r->rec_start = r->src->offset;
    ssize_t k = ctk_src_read(r->src, lenbuf, 8, e);
    if (k < 0) return NULL;
    if (k < 8) {
        if (k == 0) {
            FAILN("the stream ends here, without its end record: it was cut short "
                 "(did the program writing it fail?)");
        }
        FAILN("truncated record length (%zd of 8 bytes): the stream was cut short", k);
    }
    uint64_t n = 0;
    for (int i = 7; i >= 0; i--) n = (n << 8) | lenbuf[i];
    if (n < CRC_PREFIX_LEN + 10 || n > HDR_MAX)
        FAILN("record header length %llu is out of range (%zu to %u): corrupt stream",
             (unsigned long long)n, CRC_PREFIX_LEN + 10, HDR_MAX);
    /* Grow the buffer only as the bytes arrive. */
    size_t got = 0;
    while (got < n) {
        size_t want_now = n - got;
        size_t step = got < 65536 ? 65536 : got;
        if (want_now > step) want_now = step;
        if (r->hdr_cap < got + want_now + 1) {
            r->hdr_cap = got + want_now + 1;
            r->hdr = xrealloc(r->hdr, r->hdr_cap);
        }
        k = ctk_src_read(r->src, r->hdr + got, want_now, e);
        if (k < 0) return NULL;
        got += (size_t)k;
        if ((size_t)k < want_now)
            FAILN("truncated record header (%zu of %llu bytes): the stream was cut short", got,
                 (unsigned long long)n);
    }
    r->hdr[n] = '\0';
    if (memcmp(r->hdr, CRC_PREFIX, CRC_PREFIX_LEN) != 0 || r->hdr[CRC_PREFIX_LEN + 8] != '"')
        FAILN("the record header does not begin with its crc32: corrupt stream");
    uint32_t v = 0;
    for (size_t i = 0; i < 8; i++) {
        char c = r->hdr[CRC_PREFIX_LEN + i];
        int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
        if (d < 0) FAILN("the record's crc32 '%.8s' is not 8 lowercase hex digits", r->hdr + CRC_PREFIX_LEN);
        v = (v << 4) | (uint32_t)d;
        r->hdr[CRC_PREFIX_LEN + i] = '0';
    }
    *want = v;
    *crc = crc32_z(0L, (const Bytef *)r->hdr, n);
    struct ctk_err je;
    json_t *root = ctk_json_load_buf(r->hdr, n, "record header", &je);
    if (!root) {
        if (*crc != v) FAILN("crc32 mismatch in the record header: corrupt stream");
        FAILN("%s", je.msg);
    }
    if (!json_is_object(root)) {
        json_decref(root);
        FAILN("the record header is not a JSON object");
    }
    const json_t *md = json_object_get(root, "__metadata__");
    const char *key;
    const json_t *val;
    int bad = !json_is_object(md);
    if (!bad)
        json_object_foreach((json_t *)md, key, val) if (!json_is_string(val)) bad = 1;
    if (bad) {
        json_decref(root);
        FAILN("the record's __metadata__ is not an object of strings");
    }
    return root;
}

/* Kind of a record: "header", "chunk" or "end". */
static const char *rec_kind(const json_t *root)
{
    const char *k = json_string_value(json_object_get(json_object_get(root, "__metadata__"), "kind"));
    return k ? k : "";
}

static int64_t md_int(const json_t *root, const char *key)
{
    const char *v = json_string_value(json_object_get(json_object_get(root, "__metadata__"), key));
    int64_t x;
    if (!v || ctk_parse_u63(v, &x) < 0) return -1;
    return x;
}

static int tensor_cmp(const void *a, const void *b)
{
    const struct tensor *x = a, *y = b;
    return x->begin < y->begin ? -1 : x->begin > y->begin ? 1 : (x->end > y->end) - (x->end < y->end);
}

/* Read nbytes into *buf (capacity *cap bytes), growing as the bytes arrive. */
static int read_into(struct ctk_stream *s, struct rd *r, const char *what, void **buf, size_t *cap,
                     size_t nbytes, uLong *crc, struct ctk_err *e)
{
    size_t got = 0;
    while (got < nbytes) {
        size_t want = nbytes - got;
        size_t step = got < (1u << 20) ? (1u << 20) : got;
        if (want > step) want = step;
        if (*cap < got + want) {
            *buf = xrealloc(*buf, got + want);
            *cap = got + want;
        }
        ssize_t k = ctk_src_read(r->src, (char *)*buf + got, want, e);
        if (k < 0) return -1;
        *crc = crc32_z(*crc, (const Bytef *)*buf + got, (size_t)k);
        got += (size_t)k;
        if ((size_t)k < want)
            FAIL("truncated data (%zu bytes missing): the stream was cut short", nbytes - got);
    }
    return 0;
}

/* Parse shape and data_offsets of tensor entry j; checks the safetensors entry's form. */
static int tensor_entry(struct ctk_stream *s, struct rd *r, const char *what, const char *name,
                        const json_t *j, enum ctk_dtype *dt, int64_t *shape, int *nd,
                        uint64_t *begin, uint64_t *end, struct ctk_err *e)
{
    const json_t *jd = json_object_get(j, "dtype"), *js = json_object_get(j, "shape"),
                 *jo = json_object_get(j, "data_offsets");
    if (!json_is_object(j) || json_object_size(j) != 3 || !json_is_string(jd) ||
        !json_is_array(js) || !json_is_array(jo) || json_array_size(jo) != 2)
        FAIL("tensor '%s' is not an entry of dtype, shape and data_offsets", name);
    if (ctk_dtype_parse(json_string_value(jd), dt) < 0)
        FAIL("tensor '%s' has unknown dtype '%.20s'", name, json_string_value(jd));
    *nd = (int)json_array_size(js);
    if (*nd < 1 || *nd > 2) FAIL("tensor '%s' has %d dimensions (1 or 2 expected)", name, *nd);
    for (int i = 0; i < *nd; i++) {
        const json_t *x = json_array_get(js, (size_t)i);
        if (!json_is_integer(x) || json_integer_value(x) < 0 || json_integer_value(x) > DIM_MAX)
            FAIL("tensor '%s' has a bad shape", name);
        shape[i] = json_integer_value(x);
    }
    for (int i = 0; i < 2; i++) {
        const json_t *x = json_array_get(jo, (size_t)i);
        if (!json_is_integer(x) || json_integer_value(x) < 0 ||
            (uint64_t)json_integer_value(x) > DATA_MAX)
            FAIL("tensor '%s' has data offsets out of range (0 to %llu)", name,
                 (unsigned long long)DATA_MAX);
    }
    *begin = (uint64_t)json_integer_value(json_array_get(jo, 0));
    *end = (uint64_t)json_integer_value(json_array_get(jo, 1));
    if (*end < *begin) FAIL("tensor '%s' ends before it begins", name);
    return 0;
}

/* Check the tensors of a chunk record against the schema and read its data into c. */
static int read_chunk_data(struct ctk_stream *s, struct rd *r, const char *what, json_t *root,
                           uLong crc, uint32_t want, struct ctk_chunk *c, struct ctk_err *e)
{
    const struct ctk_stream_meta *m = &s->meta;
    int64_t rows = md_int(root, "rows");
    if (rows < 0 || rows > INT32_MAX) FAIL("the chunk's row count is missing or out of range");
    int nt = 0, expect = 0;
    for (int i = 0; i < m->ncols; i++) expect += m->cols[i].kind == CTK_COL_DENSE ? 1 : 2;
    if ((int)json_object_size(root) - 1 != expect)
        FAIL("the chunk has %d tensors, the schema needs %d", (int)json_object_size(root) - 1, expect);
    const char *key;
    json_t *val;
    json_object_foreach(root, key, val) {
        if (!strcmp(key, "__metadata__")) continue;
        char base[CTK_COL_NAME_MAX + 16];
        size_t kl = strlen(key);
        int is_off = kl > 8 && strcmp(key + kl - 8, ".offsets") == 0;
        if (kl - (is_off ? 8 : 0) >= CTK_COL_NAME_MAX) FAIL("unexpected tensor '%.80s'", key);
        memcpy(base, key, kl - (is_off ? 8 : 0));
        base[kl - (is_off ? 8 : 0)] = '\0';
        int col = ctk_meta_find(m, base);
        if (col < 0 || (is_off && m->cols[col].kind == CTK_COL_DENSE))
            FAIL("tensor '%.80s' is not in the stream's schema", key);
        const struct ctk_col_spec *cs = &m->cols[col];
        struct tensor *t = &r->t[nt++];
        int64_t shape[2] = {0, 0};
        int nd = 0;
        if (tensor_entry(s, r, what, key, val, &t->dt, shape, &nd, &t->begin, &t->end, e) < 0)
            return -1;
        t->col = col;
        t->is_off = is_off;
        enum ctk_dtype need = is_off ? CTK_I64 : cs->dtype;
        if (t->dt != need)
            FAIL("tensor '%s' has dtype %s, the schema says %s", key, ctk_dtype_name(t->dt),
                 ctk_dtype_name(need));
        if (is_off) {
            if (nd != 1 || shape[0] != rows + 1)
                FAIL("tensor '%s' has shape [%lld%s], expected [%lld]", key, (long long)shape[0],
                     nd == 2 ? ",..." : "", (long long)rows + 1);
            t->count = rows + 1;
        } else if (cs->kind == CTK_COL_DENSE) {
            int want_nd = cs->width ? 2 : 1;
            if (nd != want_nd || shape[0] != rows || (nd == 2 && shape[1] != cs->width)) {
                if (cs->width)
                    FAIL("tensor '%s' has the wrong shape (expected [%lld,%lld])", key, (long long)rows,
                         (long long)cs->width);
                FAIL("tensor '%s' has the wrong shape (expected [%lld])", key, (long long)rows);
            }
            t->count = rows * (cs->width ? cs->width : 1); /* < 2^31 * 2^31: no overflow */
        } else {
            if (nd != 1) FAIL("tensor '%s' has %d dimensions, expected 1", key, nd);
            t->count = shape[0];
        }
        uint64_t bytes;
        if (__builtin_mul_overflow((uint64_t)t->count, (uint64_t)ctk_dtype_size(t->dt), &bytes) ||
            bytes > DATA_MAX)
            FAIL("tensor '%s' is too large (%lld elements)", key, (long long)t->count);
        if (t->end - t->begin != bytes)
            FAIL("tensor '%s': data offsets [%llu, %llu] hold %llu bytes, its shape needs %llu", key,
                 (unsigned long long)t->begin, (unsigned long long)t->end,
                 (unsigned long long)(t->end - t->begin), (unsigned long long)bytes);
    }
    qsort(r->t, (size_t)nt, sizeof r->t[0], tensor_cmp);
    uint64_t pos = 0;
    for (int i = 0; i < nt; i++) {
        if (r->t[i].begin != pos)
            FAIL("tensor data offsets leave a hole or overlap at byte %llu of the data area",
                 (unsigned long long)pos);
        pos = r->t[i].end;
    }
    if (pos > DATA_MAX) FAIL("data area too large");
    /* Read the data area in its order, into the columns' buffers. */
    c->ncols = m->ncols;
    for (int i = 0; i < nt; i++) {
        struct tensor *t = &r->t[i];
        struct ctk_col *col = &c->cols[t->col];
        size_t bytes = (size_t)(t->end - t->begin);
        if (t->is_off) {
            size_t capb = col->off_cap * sizeof(int64_t);
            void *p = col->offsets;
            int rc = read_into(s, r, what, &p, &capb, bytes, &crc, e);
            col->offsets = p;
            col->off_cap = capb / sizeof(int64_t);
            if (rc < 0) return -1;
        } else {
            if (read_into(s, r, what, &col->data, &col->data_cap, bytes, &crc, e) < 0) return -1;
        }
    }
    if ((uint32_t)crc != want)
        FAIL("crc32 mismatch (the record says %08x, its bytes give %08x): corrupt stream", want,
             (uint32_t)crc);
    /* Offsets: 0 first, nondecreasing, last = number of values. */
    for (int i = 0; i < nt; i++) {
        struct tensor *t = &r->t[i];
        if (!t->is_off) continue;
        const int64_t *off = c->cols[t->col].offsets;
        int64_t nvals = 0;
        for (int j = 0; j < nt; j++)
            if (r->t[j].col == t->col && !r->t[j].is_off) nvals = r->t[j].count;
        if (off[0] != 0) FAIL("column '%s': offsets do not start at 0", m->cols[t->col].name);
        for (int64_t k = 0; k < rows; k++)
            if (off[k + 1] < off[k])
                FAIL("column '%s': offsets decrease at row %lld of the chunk", m->cols[t->col].name,
                     (long long)k + 1);
        if (off[rows] != nvals)
            FAIL("column '%s': the last offset is %lld, the values number %lld", m->cols[t->col].name,
                 (long long)off[rows], (long long)nvals);
    }
    for (int i = 0; i < CTK_MAX_COLS; i++) {
        c->cols[i].n = i < m->ncols ? rows : 0;
        /* Empty columns still get a buffer, so that data is never NULL. */
        if (i < m->ncols && !c->cols[i].data) {
            c->cols[i].data = xmalloc(16);
            c->cols[i].data_cap = 16;
        }
    }
    c->rows = rows;
    return 0;
}

static int meta_same(const struct ctk_stream_meta *a, const struct ctk_stream_meta *b, char *why,
                     size_t n)
{
    if (a->ncols != b->ncols) {
        snprintf(why, n, "it has %d columns, the first member %d", b->ncols, a->ncols);
        return 0;
    }
    for (int i = 0; i < a->ncols; i++) {
        const struct ctk_col_spec *x = &a->cols[i], *y = &b->cols[i];
        if (strcmp(x->name, y->name) || x->kind != y->kind || x->dtype != y->dtype ||
            x->width != y->width) {
            snprintf(why, n, "its column %d is '%s' (%s %s, width %lld), the first member's '%s' (%s %s, width %lld)",
                     i + 1, y->name, kind_names[y->kind], ctk_dtype_name(y->dtype), (long long)y->width,
                     x->name, kind_names[x->kind], ctk_dtype_name(x->dtype), (long long)x->width);
            return 0;
        }
    }
    if ((a->model == NULL) != (b->model == NULL) || (a->model && strcmp(a->model, b->model))) {
        snprintf(why, n, "its model is '%s', the first member's '%s'", b->model ? b->model : "(none)",
                 a->model ? a->model : "(none)");
        return 0;
    }
    if (a->dim != b->dim || a->normalized != b->normalized) {
        snprintf(why, n, "its dim or normalization differ from the first member's");
        return 0;
    }
    int same = a->nlabels == b->nlabels;
    for (int i = 0; same && i < a->nlabels; i++) same = strcmp(a->labels[i], b->labels[i]) == 0;
    if (!same) {
        snprintf(why, n, "its label names differ from the first member's");
        return 0;
    }
    return 1;
}

/* Reads the magic and header record of a member into m. */
static int read_member_start(struct ctk_stream *s, struct rd *r, struct ctk_stream_meta *m,
                             struct ctk_err *e)
{
    const char *what = "the header record";
    unsigned char magic[MAGIC_LEN];
    r->rec_start = r->src->offset;
    ssize_t k = ctk_src_read(r->src, magic, MAGIC_LEN, e);
    if (k < 0) return -1;
    if (k == 0 && r->member == 0) return ctk_err_set(e, "%s: empty input, not a ctk stream", s->name);
    if (k < MAGIC_LEN || memcmp(magic, CTK_STREAM_MAGIC, MAGIC_LEN) != 0) {
        if (r->member == 0)
            return ctk_err_set(e, "%s: not a ctk stream (it does not begin with the stream's magic "
                                  "bytes); 'ctk-cat -t stream' converts text", s->name);
        what = "after an end record";
        FAIL("neither the end of the input nor the start of another stream (trailing garbage?)");
    }
    r->member++;
    uLong crc;
    uint32_t want;
    json_t *root = read_header(s, r, what, &crc, &want, e);
    if (!root) return -1;
    int rc = 0;
    if (strcmp(rec_kind(root), "header") != 0) {
        json_decref(root);
        FAIL("the record after the magic bytes is not a header record");
    }
    if (json_object_size(root) != 1) {
        json_decref(root);
        FAIL("the header record holds tensors");
    }
    if ((uint32_t)crc != want) {
        json_decref(root);
        FAIL("crc32 mismatch: corrupt stream");
    }
    struct ctk_err me;
    if (meta_from_json(m, json_object_get(root, "__metadata__"), &me) < 0) {
        ctk_meta_free(m);
        json_decref(root);
        FAIL("%s", me.msg);
    }
    json_decref(root);
    return rc;
}

static void rd_init(struct ctk_stream *s, const char *name)
{
    memset(s, 0, sizeof *s);
    ctk_meta_init(&s->meta);
    s->name = name;
    s->chunk_index = -1;
    s->priv = xcalloc(1, sizeof(struct rd));
}

int ctk_stream_open_src(struct ctk_stream *s, struct ctk_src *src, struct ctk_err *e)
{
    rd_init(s, src->name);
    struct rd *r = s->priv;
    r->src = src;
    if (read_member_start(s, r, &s->meta, e) < 0) {
        struct ctk_err dummy;
        ctk_stream_close(s, &dummy);
        return -1;
    }
    return 0;
}

/* A byte source on the heap (it moves into the stream, and zlib's state points back to it). */
static struct ctk_src *new_src(void) { return xcalloc(1, sizeof(struct ctk_src)); }

static void free_src(struct ctk_src *src)
{
    ctk_src_close(src);
    free(src);
}

int ctk_stream_open_read(struct ctk_stream *s, const char *path, struct ctk_err *e)
{
    struct ctk_src *src = new_src();
    if (ctk_src_open(src, path, e) < 0) {
        free_src(src);
        memset(s, 0, sizeof *s);
        return -1;
    }
    return ctk_stream_open_src(s, src, e);
}

int ctk_stream_open_readf(struct ctk_stream *s, FILE *f, const char *name, struct ctk_err *e)
{
    struct ctk_src *src = new_src();
    if (ctk_src_openf(src, f, name, e) < 0) {
        free_src(src);
        memset(s, 0, sizeof *s);
        return -1;
    }
    return ctk_stream_open_src(s, src, e);
}

void ctk_stream_open_source(struct ctk_stream *s, const char *name, ctk_source_read_fn rdf,
                            ctk_source_close_fn cl, void *state)
{
    rd_init(s, name);
    struct rd *r = s->priv;
    r->src_read = rdf;
    r->src_close = cl;
    r->state = state;
}

int ctk_stream_is_source(const struct ctk_stream *s)
{
    const struct rd *r = s->priv;
    return !s->writing && r && r->src_read != NULL;
}

int ctk_chunk_read(struct ctk_stream *s, struct ctk_chunk *c, struct ctk_err *e)
{
    struct rd *r = s->priv;
    if (!r || s->writing) return ctk_err_set(e, "%s: not open for reading", s->name ? s->name : "stream");
    if (r->src_read) {
        int rc = r->src_read(r->state, s, c, e);
        if (rc == 1) {
            s->chunk_index++;
            s->rows_total += c->rows;
        }
        return rc;
    }
    if (r->done) return 0;
    for (;;) {
        char what[64];
        snprintf(what, sizeof what, "chunk %lld", (long long)r->chunks + 1);
        uLong crc;
        uint32_t want;
        json_t *root = read_header(s, r, what, &crc, &want, e);
        if (!root) return -1;
        const char *kind = rec_kind(root);
        if (!strcmp(kind, "chunk")) {
            int64_t idx = md_int(root, "chunk");
            if (idx != s->chunks_member + 1) {
                json_decref(root);
                FAIL("the record says it is chunk %lld of its member, expected %lld (chunks lost or "
                     "reordered)", (long long)idx, (long long)s->chunks_member + 1);
            }
            int rc = read_chunk_data(s, r, what, root, crc, want, c, e);
            json_decref(root);
            if (rc < 0) return -1;
            r->chunks++;
            s->chunks_member++;
            s->rows_member += c->rows;
            s->rows_total += c->rows;
            s->chunk_index = r->chunks - 1;
            if (c->rows == 0) continue;
            return 1;
        }
        if (!strcmp(kind, "end")) {
            int64_t rows = md_int(root, "rows"), chunks = md_int(root, "chunks");
            int ntens = (int)json_object_size(root) - 1;
            json_decref(root);
            snprintf(what, sizeof what, "the end record after chunk %lld", (long long)r->chunks);
            if (ntens != 0) FAIL("the end record holds tensors");
            if ((uint32_t)crc != want) FAIL("crc32 mismatch: corrupt stream");
            if (rows != s->rows_member || chunks != s->chunks_member)
                FAIL("the end record counts %lld rows in %lld chunks, the member had %lld rows in "
                     "%lld chunks (chunks lost?)", (long long)rows, (long long)chunks,
                     (long long)s->rows_member, (long long)s->chunks_member);
            /* Another member may follow, here or in the next file. */
            for (;;) {
                ssize_t k = ctk_src_peek(r->src, 1, e);
                if (k < 0) return -1;
                if (k > 0) break;
                int nx = ctk_src_next(r->src, e);
                if (nx < 0) return -1;
                if (nx == 0) {
                    r->done = 1;
                    return 0;
                }
                s->name = r->src->name;
                r->member = 0; /* a new file: messages count members from its start */
            }
            struct ctk_stream_meta m2;
            ctk_meta_init(&m2);
            if (read_member_start(s, r, &m2, e) < 0) return -1;
            char why[400];
            int same = meta_same(&s->meta, &m2, why, sizeof why);
            ctk_meta_free(&m2);
            snprintf(what, sizeof what, "the header record");
            if (!same) FAIL("this stream cannot follow the previous one: %s", why);
            s->rows_member = s->chunks_member = 0;
            continue;
        }
        char k[24];
        snprintf(k, sizeof k, "%s", kind);
        json_decref(root);
        FAIL("unexpected record kind '%s' (chunk or end expected)", k);
    }
}

/* --- writing ------------------------------------------------------------------------ */

static int wfail(struct ctk_stream *s, struct ctk_err *e)
{
    return ctk_err_set(e, "%s: write error: %s", s->name, strerror(errno ? errno : EIO));
}

/* Write one record: root's header with its crc32 over header + parts. */
static int write_record(struct ctk_stream *s, json_t *root, const void *const *parts,
                        const size_t *sizes, int nparts, struct ctk_err *e)
{
    struct wr *w = s->priv;
    char *h = json_dumps(root, JSON_COMPACT);
    if (!h) ctk_die("out of memory (encoding a record header)");
    size_t n = strlen(h), padded = (n + 7) & ~(size_t)7;
    if (padded > HDR_MAX) {
        free(h);
        return ctk_err_set(e, "%s: record header of %zu bytes exceeds the limit (%u)", s->name, n, HDR_MAX);
    }
    h = xrealloc(h, padded);
    memset(h + n, ' ', padded - n);
    if (memcmp(h, CRC_PREFIX "00000000\"", CRC_PREFIX_LEN + 9) != 0)
        ctk_die("internal error: record header does not begin with its crc32");
    uLong crc = crc32_z(0L, (const Bytef *)h, padded);
    /* zlib's crc32_z(crc, NULL, 0) returns 0, not crc: an empty part (a
       string column of empty strings has no data buffer) must be skipped */
    for (int i = 0; i < nparts; i++)
        if (sizes[i]) crc = crc32_z(crc, parts[i], sizes[i]);
    char hex[9];
    snprintf(hex, sizeof hex, "%08x", (unsigned)(uint32_t)crc);
    memcpy(h + CRC_PREFIX_LEN, hex, 8);
    unsigned char len[8];
    for (int i = 0; i < 8; i++) len[i] = (unsigned char)((uint64_t)padded >> (8 * i));
    errno = 0;
    int bad = fwrite(len, 1, 8, w->f) != 8 || fwrite(h, 1, padded, w->f) != padded;
    free(h);
    for (int i = 0; !bad && i < nparts; i++)
        if (sizes[i] && fwrite(parts[i], 1, sizes[i], w->f) != sizes[i]) bad = 1;
    if (bad) return wfail(s, e);
    return 0;
}

static json_t *new_record(const char *kind)
{
    json_t *root = json_object(), *md = json_object();
    json_object_set_new(md, "crc32", json_string("00000000"));
    json_object_set_new(md, "kind", json_string(kind));
    json_object_set_new(root, "__metadata__", md);
    return root;
}

int ctk_stream_open_write(struct ctk_stream *s, FILE *f, const char *name,
                          const struct ctk_stream_meta *m, struct ctk_err *e)
{
    memset(s, 0, sizeof *s);
    s->name = name ? name : "stdout";
    s->f = f;
    s->writing = 1;
    s->chunk_index = -1;
    for (int i = 0; i < m->ncols; i++) {
        if (ctk_col_name_check(m->cols[i].name, e) < 0) return -1;
        if (!dtype_allowed(m->cols[i].kind, m->cols[i].dtype))
            return ctk_err_set(e, "column '%s': a %s column cannot hold %s", m->cols[i].name,
                               kind_names[m->cols[i].kind], ctk_dtype_name(m->cols[i].dtype));
    }
    ctk_meta_copy(&s->meta, m);
    struct wr *w = xcalloc(1, sizeof *w);
    w->f = f;
    s->priv = w;
    errno = 0;
    if (fwrite(CTK_STREAM_MAGIC, 1, MAGIC_LEN, f) != MAGIC_LEN) return wfail(s, e);
    json_t *root = new_record("header");
    meta_to_json(json_object_get(root, "__metadata__"), m);
    int rc = write_record(s, root, NULL, NULL, 0, e);
    json_decref(root);
    return rc;
}

static json_t *tensor_json(enum ctk_dtype dt, int64_t d0, int64_t d1, int nd, uint64_t *pos,
                           size_t bytes)
{
    json_t *t = json_object();
    json_object_set_new(t, "dtype", json_string(ctk_dtype_name(dt)));
    json_t *sh = json_array();
    json_array_append_new(sh, json_integer(d0));
    if (nd == 2) json_array_append_new(sh, json_integer(d1));
    json_object_set_new(t, "shape", sh);
    json_t *off = json_array();
    json_array_append_new(off, json_integer((json_int_t)*pos));
    json_array_append_new(off, json_integer((json_int_t)(*pos + bytes)));
    json_object_set_new(t, "data_offsets", off);
    *pos += bytes;
    return t;
}

int ctk_chunk_write(struct ctk_stream *s, const struct ctk_chunk *c, struct ctk_err *e)
{
    const struct ctk_stream_meta *m = &s->meta;
    if (!s->writing) return ctk_err_set(e, "%s: not open for writing", s->name);
    if (c->rows < 0 || c->rows > INT32_MAX)
        return ctk_err_set(e, "%s: chunk of %lld rows", s->name, (long long)c->rows);
    if (c->rows == 0) return 0;
    int64_t rows = c->rows;
    const void *parts[2 * CTK_MAX_COLS];
    size_t sizes[2 * CTK_MAX_COLS];
    int np = 0;
    uint64_t pos = 0;
    char buf[32];
    json_t *root = new_record("chunk");
    json_t *md = json_object_get(root, "__metadata__");
    snprintf(buf, sizeof buf, "%lld", (long long)s->chunks_member + 1);
    json_object_set_new(md, "chunk", json_string(buf));
    snprintf(buf, sizeof buf, "%lld", (long long)rows);
    json_object_set_new(md, "rows", json_string(buf));
    for (int i = 0; i < m->ncols; i++) {
        const struct ctk_col_spec *cs = &m->cols[i];
        const struct ctk_col *col = &c->cols[i];
        size_t es = ctk_dtype_size(cs->dtype);
        if (cs->kind == CTK_COL_DENSE) {
            size_t bytes = (size_t)rows * (size_t)(cs->width ? cs->width : 1) * es;
            if (col->data_cap < bytes || !col->data) {
                json_decref(root);
                return ctk_err_set(e, "%s: chunk %lld: column '%s' holds %zu bytes, %lld rows need %zu "
                                   "(a bug in %s)", s->name, (long long)s->chunks_member + 1, cs->name,
                                   col->data_cap, (long long)rows, bytes, ctk_progname());
            }
            json_object_set_new(root, cs->name,
                                tensor_json(cs->dtype, rows, cs->width, cs->width ? 2 : 1, &pos, bytes));
            parts[np] = col->data;
            sizes[np++] = bytes;
        } else {
            const int64_t *off = col->offsets;
            int ok = off && col->off_cap >= (size_t)rows + 1 && off[0] == 0;
            for (int64_t k = 0; ok && k < rows; k++) ok = off[k + 1] >= off[k];
            if (ok) ok = (uint64_t)off[rows] <= col->data_cap / es && (off[rows] == 0 || col->data);
            if (!ok) {
                json_decref(root);
                return ctk_err_set(e, "%s: chunk %lld: column '%s' has inconsistent offsets for %lld rows "
                                   "(a bug in %s)", s->name, (long long)s->chunks_member + 1, cs->name,
                                   (long long)rows, ctk_progname());
            }
            size_t bytes = (size_t)off[rows] * es;
            json_object_set_new(root, cs->name, tensor_json(cs->dtype, off[rows], 0, 1, &pos, bytes));
            parts[np] = col->data;
            sizes[np++] = bytes;
            char oname[CTK_COL_NAME_MAX + 8];
            snprintf(oname, sizeof oname, "%s.offsets", cs->name);
            size_t obytes = ((size_t)rows + 1) * sizeof(int64_t);
            json_object_set_new(root, oname, tensor_json(CTK_I64, rows + 1, 0, 1, &pos, obytes));
            parts[np] = off;
            sizes[np++] = obytes;
        }
    }
    if (pos > DATA_MAX) {
        json_decref(root);
        return ctk_err_set(e, "%s: chunk of %llu bytes exceeds the %llu-byte limit; write smaller chunks",
                           s->name, (unsigned long long)pos, (unsigned long long)DATA_MAX);
    }
    int rc = write_record(s, root, parts, sizes, np, e);
    json_decref(root);
    if (rc < 0) return -1;
    s->chunks_member++;
    s->chunk_index++;
    s->rows_member += rows;
    s->rows_total += rows;
    return 0;
}

int ctk_stream_close(struct ctk_stream *s, struct ctk_err *e)
{
    int rc = 0;
    if (s->writing && s->priv) {
        struct wr *w = s->priv;
        char buf[32];
        json_t *root = new_record("end");
        json_t *md = json_object_get(root, "__metadata__");
        snprintf(buf, sizeof buf, "%lld", (long long)s->rows_member);
        json_object_set_new(md, "rows", json_string(buf));
        snprintf(buf, sizeof buf, "%lld", (long long)s->chunks_member);
        json_object_set_new(md, "chunks", json_string(buf));
        rc = write_record(s, root, NULL, NULL, 0, e);
        json_decref(root);
        errno = 0;
        if (rc == 0 && (fflush(w->f) != 0 || ferror(w->f))) rc = wfail(s, e);
        free(w);
    } else if (s->priv) {
        struct rd *r = s->priv;
        if (r->src_close) r->src_close(r->state);
        if (r->src) {
            ctk_src_close(r->src);
            free(r->src);
        }
        free(r->hdr);
        free(r);
    }
    s->priv = NULL;
    ctk_meta_free(&s->meta);
    return rc;
}

/* --- building chunks ------------------------------------------------------------- */

void ctk_chunk_reset(struct ctk_chunk *c, const struct ctk_stream_meta *m)
{
    c->rows = 0;
    c->ncols = m->ncols;
    for (int i = 0; i < CTK_MAX_COLS; i++) {
        c->cols[i].n = 0;
        if (c->cols[i].offsets && c->cols[i].off_cap) c->cols[i].offsets[0] = 0;
    }
}

void ctk_chunk_free(struct ctk_chunk *c)
{
    for (int i = 0; i < CTK_MAX_COLS; i++) {
        free(c->cols[i].data);
        free(c->cols[i].offsets);
    }
    memset(c, 0, sizeof *c);
}

static void grow(void **p, size_t *cap, size_t need)
{
    if (*cap >= need) return;
    size_t nc = *cap ? *cap : 64;
    while (nc < need) {
        if (nc > SIZE_MAX / 2) ctk_die("out of memory (chunk buffer of %zu bytes)", need);
        nc *= 2;
    }
    *p = xrealloc(*p, nc);
    *cap = nc;
}

void *ctk_col_dense_reserve(struct ctk_chunk *c, const struct ctk_stream_meta *m, int i, int64_t rows)
{
    const struct ctk_col_spec *cs = &m->cols[i];
    size_t bytes;
    if (rows < 0 || ctk_mul_overflow((size_t)rows, (size_t)(cs->width ? cs->width : 1), &bytes) ||
        ctk_mul_overflow(bytes, ctk_dtype_size(cs->dtype), &bytes))
        ctk_die("column '%s': %lld rows overflow a buffer", cs->name, (long long)rows);
    grow(&c->cols[i].data, &c->cols[i].data_cap, bytes);
    if (i >= c->ncols) c->ncols = i + 1;
    return c->cols[i].data;
}

void ctk_col_append(struct ctk_chunk *c, const struct ctk_stream_meta *m, int i, const void *values,
                    int64_t n)
{
    const struct ctk_col_spec *cs = &m->cols[i];
    struct ctk_col *col = &c->cols[i];
    size_t es = ctk_dtype_size(cs->dtype);
    if (cs->kind == CTK_COL_DENSE) ctk_die("column '%s' is dense: ctk_col_append is for ragged and string columns", cs->name);
    if (n < 0) ctk_die("column '%s': negative length", cs->name);
    size_t ocap_b = col->off_cap * sizeof(int64_t);
    void *op = col->offsets;
    grow(&op, &ocap_b, ((size_t)col->n + 2) * sizeof(int64_t));
    col->offsets = op;
    col->off_cap = ocap_b / sizeof(int64_t);
    if (col->n == 0) col->offsets[0] = 0;
    int64_t start = col->offsets[col->n];
    size_t need;
    if (ctk_mul_overflow((size_t)(start + n), es, &need)) ctk_die("column '%s' overflows", cs->name);
    grow(&col->data, &col->data_cap, need);
    if (n) memcpy((char *)col->data + (size_t)start * es, values, (size_t)n * es);
    col->offsets[++col->n] = start + n;
    if (i >= c->ncols) c->ncols = i + 1;
}

const void *ctk_col_row(const struct ctk_chunk *c, const struct ctk_stream_meta *m, int i, int64_t r,
                        int64_t *n)
{
    static const int64_t none[1];
    const struct ctk_col *col = &c->cols[i];
    size_t es = ctk_dtype_size(m->cols[i].dtype);
    if (!col->data) {
        *n = 0;
        return none;
    }
    if (m->cols[i].kind == CTK_COL_DENSE) {
        int64_t w = m->cols[i].width ? m->cols[i].width : 1;
        *n = w;
        return (const char *)col->data + (size_t)(r * w) * es;
    }
    *n = col->offsets[r + 1] - col->offsets[r];
    return (const char *)col->data + (size_t)col->offsets[r] * es;
}
