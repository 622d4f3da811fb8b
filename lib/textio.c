/*
 * textio.c -- TSV, JSON Lines and NumPy .npy in and out of streams (see
 * textio.h for the rules, man/ctk-cat.1 for the user's view).
 *
 * The readers are stream sources (streampriv.h): a filter reads text through
 * ctk_chunk_read() like a stream. The .npy layout follows NumPy's
 * format.py (NEP 1): magic "\x93NUMPY", version, header length, a Python
 * dict literal padded with spaces to a multiple of 64 bytes, the data.
 */
#include "config.h"
#include "textio.h"
#include "json.h"
#include "streampriv.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define CHUNK_BYTES (8u << 20) /* start a new chunk past this much text */

int ctk_text_format_parse(const char *s, enum ctk_text_format *f)
{
    if (!strcmp(s, "tsv")) *f = CTK_TEXT_TSV;
    else if (!strcmp(s, "jsonl")) *f = CTK_TEXT_JSONL;
    else if (!strcmp(s, "npy")) *f = CTK_TEXT_NPY;
    else if (!strcmp(s, "lines")) *f = CTK_TEXT_LINES;
    else return -1;
    return 0;
}

/* --- the reader's state ----------------------------------------------------------- */

struct txt {
    struct ctk_src *src;       /* owned */
    struct ctk_text_opts o;
    struct ctk_stream_meta *m; /* the stream's meta (the schema being read) */
    int nf;                    /* TSV: fields per line; JSONL: keys per object */
    int idcol;                 /* column of line-number ids, or -1 */
    int fieldcol[CTK_MAX_COLS];/* TSV: schema column of field k; JSONL: of key k */
    char keys[CTK_MAX_COLS][CTK_COL_NAME_MAX];
    int intarr[CTK_MAX_COLS];  /* JSONL ragged I32 column */
    char *line;
    size_t cap;
    size_t len;
    int have_line;             /* line holds a line read ahead */
    int64_t pend_blank;        /* empty lines read ahead before it */
    int64_t fnr, nr;           /* lines of this file, of all files */
    char *header;              /* TSV: the first file's header line */
    size_t header_len;
    int done;
    /* npy */
    char npy_kind;             /* 'f' or 'i' */
    int npy_size;              /* bytes per element in the file */
    int npy_swap;              /* big-endian file */
    int64_t npy_rows, npy_width, npy_row;
    unsigned char *raw;
    size_t raw_cap;
};

static void txt_close(void *state)
{
    struct txt *t = state;
    ctk_src_close(t->src);
    free(t->src);
    free(t->line);
    free(t->header);
    free(t->raw);
    free(t);
}

/* Next raw line of the current file; 1 with t->line/len, 0 at its end, -1 on error. */
static int raw_line(struct txt *t, struct ctk_err *e)
{
    int nl;
    ssize_t n = ctk_src_getline(t->src, &t->line, &t->cap, &nl, e);
    if (n == -2) return -1;
    if (n == -1) return 0;
    t->len = (size_t)n;
    return 1;
}

/* --- TSV --------------------------------------------------------------------------- */

/* Split a header or names list (sep: '\t' or ',') into columns of t->m. */
static int name_fields(struct txt *t, const char *p, size_t n, char sep, const char *where,
                       struct ctk_err *e)
{
    struct ctk_stream_meta *m = t->m;
    char name[CTK_COL_NAME_MAX + 1];
    int has_id = 0, k = 0;
    const char *end = p + n;
    /* First pass: is there an id column? */
    for (const char *q = p; q <= end;) {
        const char *f = memchr(q, sep, (size_t)(end - q));
        if (!f) f = end;
        if ((size_t)(f - q) == 2 && !memcmp(q, "id", 2)) has_id = 1;
        q = f + 1;
    }
    t->idcol = -1;
    if (!has_id) t->idcol = ctk_meta_add_col(m, "id", CTK_COL_DENSE, CTK_I64, 0);
    for (const char *q = p; q <= end; k++) {
        const char *f = memchr(q, sep, (size_t)(end - q));
        if (!f) f = end;
        size_t len = (size_t)(f - q);
        struct ctk_err ne;
        if (len >= sizeof name) len = sizeof name - 1;
        memcpy(name, q, len);
        name[len] = '\0';
        if (memchr(q, '\0', (size_t)(f - q)) || ctk_col_name_check(name, &ne) < 0)
            return ctk_err_set(e, "%s: field %d: %s", where, k + 1,
                               memchr(q, '\0', (size_t)(f - q)) ? "a column name holds a NUL byte" : ne.msg);
        if (ctk_meta_find(m, name) >= 0)
            return ctk_err_set(e, "%s: column '%s' is named twice", where, name);
        if (m->ncols >= CTK_MAX_COLS)
            return ctk_err_set(e, "%s: more than %d columns", where, CTK_MAX_COLS - 1);
        t->fieldcol[k] = ctk_meta_add_col(m, name, CTK_COL_STRING, CTK_U8, 0);
        q = f + 1;
    }
    t->nf = k;
    return 0;
}

static int count_fields(const char *p, size_t n)
{
    int k = 1;
    for (const char *q = p; (q = memchr(q, '\t', (size_t)(p + n - q))); q++) k++;
    return k;
}

/* Decide the TSV schema: header line, names, or the first non-empty line. */
static int tsv_schema(struct txt *t, struct ctk_err *e)
{
    char where[300];
    if (t->o.header) {
        int rc = raw_line(t, e);
        if (rc < 0) return -1;
        if (rc == 0) return ctk_err_set(e, "%s: empty input: no header line (--header)", t->src->name);
        t->fnr = t->nr = 1;
        snprintf(where, sizeof where, "%s:1 (header line)", t->src->name);
        t->header = xmalloc(t->len + 1);
        memcpy(t->header, t->line, t->len + 1);
        t->header_len = t->len;
        if (t->len == 0) return ctk_err_set(e, "%s: the header line is empty", where);
        return name_fields(t, t->line, t->len, '\t', where, e);
    }
    if (t->o.format == CTK_TEXT_LINES) {
        t->idcol = ctk_meta_add_col(t->m, "id", CTK_COL_DENSE, CTK_I64, 0);
        t->fieldcol[0] = ctk_meta_add_col(t->m, "text", CTK_COL_STRING, CTK_U8, 0);
        t->nf = 1;
        return 0;
    }
    if (t->o.names) {
        snprintf(where, sizeof where, "column names '%s'", t->o.names);
        return name_fields(t, t->o.names, strlen(t->o.names), ',', where, e);
    }
    /* Read ahead to the first non-empty line; the lines stay pending. */
    for (;;) {
        int rc = raw_line(t, e);
        if (rc < 0) return -1;
        if (rc == 0) break;
        if (t->len > 0) {
            t->have_line = 1;
            break;
        }
        t->pend_blank++;
    }
    int k = t->have_line ? count_fields(t->line, t->len) : 1;
    if (k >= CTK_MAX_COLS)
        return ctk_err_set(e, "%s:%lld: %d fields, more than %d", t->src->name,
                           (long long)t->pend_blank + 1, k, CTK_MAX_COLS - 1);
    t->idcol = ctk_meta_add_col(t->m, "id", CTK_COL_DENSE, CTK_I64, 0);
    t->nf = k;
    if (k == 1) {
        t->fieldcol[0] = ctk_meta_add_col(t->m, "text", CTK_COL_STRING, CTK_U8, 0);
    } else if (k == 2) {
        t->fieldcol[0] = ctk_meta_add_col(t->m, "label", CTK_COL_STRING, CTK_U8, 0);
        t->fieldcol[1] = ctk_meta_add_col(t->m, "text", CTK_COL_STRING, CTK_U8, 0);
    } else {
        t->fieldcol[0] = ctk_meta_add_col(t->m, "label", CTK_COL_STRING, CTK_U8, 0);
        for (int i = 1; i < k; i++) {
            char name[16];
            snprintf(name, sizeof name, "text%d", i);
            t->fieldcol[i] = ctk_meta_add_col(t->m, name, CTK_COL_STRING, CTK_U8, 0);
        }
    }
    return 0;
}

/*
 * The next line to turn into a row: pending lines first, then the files in
 * turn (checking each later file's header line). 1 with t->line/len, 0 at
 * the end of all input, -1 on error. Counts fnr/nr.
 */
static int next_line(struct txt *t, struct ctk_err *e)
{
    if (t->pend_blank > 0) {
        t->pend_blank--;
        t->fnr++;
        t->nr++;
        return 2; /* an empty line */
    }
    if (t->have_line) {
        t->have_line = 0;
        t->fnr++;
        t->nr++;
        return 1;
    }
    for (;;) {
        int rc = raw_line(t, e);
        if (rc < 0) return -1;
        if (rc > 0) {
            t->fnr++;
            t->nr++;
            return 1;
        }
        rc = ctk_src_next(t->src, e);
        if (rc <= 0) return rc;
        t->fnr = 0;
        if (t->o.header) {
            rc = raw_line(t, e);
            if (rc < 0) return -1;
            if (rc == 0) continue; /* an empty file */
            t->fnr++;
            t->nr++;
            if (t->len != t->header_len || memcmp(t->line, t->header, t->len) != 0)
                return ctk_err_set(e, "%s:1: the header line differs from the first file's "
                                      "(files read together need the same columns)", t->src->name);
        }
    }
}

static int tsv_read(void *state, struct ctk_stream *s, struct ctk_chunk *c, struct ctk_err *e)
{
    struct txt *t = state;
    const struct ctk_stream_meta *m = &s->meta;
    int64_t max = t->o.chunk_rows > 0 ? t->o.chunk_rows : CTK_CHUNK_ROWS;
    int64_t rows = 0;
    size_t bytes = 0;
    ctk_chunk_reset(c, m);
    while (!t->done && rows < max && bytes < CHUNK_BYTES) {
        int rc = next_line(t, e);
        if (rc < 0) return -1;
        if (rc == 0) {
            t->done = 1;
            break;
        }
        const char *p = rc == 2 ? "" : t->line;
        size_t n = rc == 2 ? 0 : t->len;
        if (t->o.format == CTK_TEXT_LINES) {
            ctk_col_append(c, m, t->fieldcol[0], p, (int64_t)n);
            int64_t *id = ctk_col_dense_reserve(c, m, t->idcol, rows + 1);
            id[rows++] = t->nr + t->o.id_offset;
            bytes += n;
            continue;
        }
        if (n > 0) {
            int k = count_fields(p, n);
            if (k != t->nf)
                return ctk_err_set(e, "%s:%lld: %d field%s where %d %s expected; every line needs the "
                                   "same number of tab-separated fields (an empty line is a row of "
                                   "empty fields)", t->src->name, (long long)t->fnr, k, k == 1 ? "" : "s",
                                   t->nf, t->nf == 1 ? "is" : "are");
        }
        const char *q = p, *end = p + n;
        for (int f = 0; f < t->nf; f++) {
            const char *tab = n ? memchr(q, '\t', (size_t)(end - q)) : NULL;
            if (!tab) tab = end;
            ctk_col_append(c, m, t->fieldcol[f], q, tab - q);
            q = tab < end ? tab + 1 : end;
        }
        if (t->idcol >= 0) {
            int64_t *id = ctk_col_dense_reserve(c, m, t->idcol, rows + 1);
            id[rows] = t->nr + t->o.id_offset;
        }
        rows++;
        bytes += n;
    }
    c->rows = rows;
    c->ncols = m->ncols;
    return rows > 0;
}

/* --- JSON Lines --------------------------------------------------------------------- */

static int jsonl_parse(struct txt *t, json_t **out, struct ctk_err *e)
{
    char what[300];
    snprintf(what, sizeof what, "%s:%lld", t->src->name, (long long)t->fnr);
    if (t->len == 0)
        return ctk_err_set(e, "%s: empty line (JSON Lines needs one object per line)", what);
    json_error_t je;
    json_t *j = json_loadb(t->line, t->len, JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL, &je);
    if (!j) return ctk_err_set(e, "%s: invalid JSON at column %d: %s", what, je.column, je.text);
    if (!json_is_object(j)) {
        json_decref(j);
        return ctk_err_set(e, "%s: not a JSON object", what);
    }
    *out = j;
    return 0;
}

static int all_ints(const json_t *a)
{
    size_t i;
    const json_t *v;
    json_array_foreach(a, i, v) if (!json_is_integer(v)) return 0;
    return 1;
}

/* The schema from the first object, in its key order. */
static int jsonl_schema(struct txt *t, struct ctk_err *e)
{
    int rc = raw_line(t, e);
    if (rc < 0) return -1;
    t->idcol = -1;
    if (rc == 0) { /* empty input: no rows */
        t->idcol = ctk_meta_add_col(t->m, "id", CTK_COL_DENSE, CTK_I64, 0);
        return 0;
    }
    t->have_line = 1;
    t->fnr = 1;
    json_t *j;
    if (jsonl_parse(t, &j, e) < 0) return -1;
    t->fnr = 0;
    if (!json_object_get(j, "id")) t->idcol = ctk_meta_add_col(t->m, "id", CTK_COL_DENSE, CTK_I64, 0);
    const char *key;
    json_t *v;
    int k = 0;
    json_object_foreach(j, key, v) {
        struct ctk_err ne;
        if (ctk_col_name_check(key, &ne) < 0 || t->m->ncols >= CTK_MAX_COLS) {
            json_decref(j);
            return ctk_err_set(e, "%s:1: key '%.80s': %s", t->src->name, key,
                               t->m->ncols >= CTK_MAX_COLS ? "too many keys" : ne.msg);
        }
        if (json_is_string(v)) {
            t->fieldcol[k] = ctk_meta_add_col(t->m, key, CTK_COL_STRING, CTK_U8, 0);
        } else if (!strcmp(key, "id") && json_is_integer(v)) {
            t->fieldcol[k] = ctk_meta_add_col(t->m, key, CTK_COL_DENSE, CTK_I64, 0);
        } else if (json_is_number(v)) {
            t->fieldcol[k] = ctk_meta_add_col(t->m, key, CTK_COL_DENSE, CTK_F32, 0);
        } else if (json_is_array(v) && json_array_size(v) > 0 && all_ints(v)) {
            t->fieldcol[k] = ctk_meta_add_col(t->m, key, CTK_COL_RAGGED, CTK_I32, 0);
            t->intarr[k] = 1;
        } else if (json_is_array(v)) {
            t->fieldcol[k] = ctk_meta_add_col(t->m, key, CTK_COL_RAGGED, CTK_F32, 0);
        } else {
            json_decref(j);
            return ctk_err_set(e, "%s:1: key '%s' holds neither a string, a number nor a list of "
                                  "numbers", t->src->name, key);
        }
        strcpy(t->keys[k], key);
        k++;
    }
    t->nf = k;
    json_decref(j);
    return 0;
}

static int jsonl_read(void *state, struct ctk_stream *s, struct ctk_chunk *c, struct ctk_err *e)
{
    struct txt *t = state;
    const struct ctk_stream_meta *m = &s->meta;
    int64_t max = t->o.chunk_rows > 0 ? t->o.chunk_rows : CTK_CHUNK_ROWS;
    int64_t rows = 0;
    size_t bytes = 0;
    float *fv = NULL;
    int32_t *iv = NULL;
    size_t vcap = 0;
    ctk_chunk_reset(c, m);
    while (!t->done && rows < max && bytes < CHUNK_BYTES) {
        int rc = next_line(t, e);
        if (rc < 0) goto fail;
        if (rc == 0) {
            t->done = 1;
            break;
        }
        json_t *j;
        if (jsonl_parse(t, &j, e) < 0) goto fail;
        if ((int)json_object_size(j) != t->nf) {
            json_decref(j);
            ctk_err_set(e, "%s:%lld: %zu keys, the first line has %d", t->src->name, (long long)t->fnr,
                        json_object_size(j), t->nf);
            goto fail;
        }
        for (int k = 0; k < t->nf; k++) {
            const json_t *v = json_object_get(j, t->keys[k]);
            int col = t->fieldcol[k];
            const struct ctk_col_spec *cs = &m->cols[col];
            const char *bad = NULL;
            if (!v) {
                bad = "is missing";
            } else if (cs->kind == CTK_COL_STRING) {
                if (!json_is_string(v)) bad = "is not a string";
                else ctk_col_append(c, m, col, json_string_value(v), (int64_t)json_string_length(v));
            } else if (cs->kind == CTK_COL_DENSE && cs->dtype == CTK_I64) {
                if (!json_is_integer(v)) bad = "is not an integer";
                else ((int64_t *)ctk_col_dense_reserve(c, m, col, rows + 1))[rows] = json_integer_value(v);
            } else if (cs->kind == CTK_COL_DENSE) {
                if (!json_is_number(v)) bad = "is not a number";
                else ((float *)ctk_col_dense_reserve(c, m, col, rows + 1))[rows] = (float)json_number_value(v);
            } else if (!json_is_array(v)) {
                bad = "is not a list";
            } else {
                size_t n = json_array_size(v), i;
                const json_t *x;
                if (n > vcap) {
                    vcap = n;
                    fv = xreallocarray(fv, vcap, sizeof *fv);
                    iv = xreallocarray(iv, vcap, sizeof *iv);
                }
                json_array_foreach(v, i, x) {
                    if (t->intarr[k]) {
                        if (!json_is_integer(x) || json_integer_value(x) < INT32_MIN ||
                            json_integer_value(x) > INT32_MAX)
                            bad = "holds a value that is not a 32-bit integer";
                        else iv[i] = (int32_t)json_integer_value(x);
                    } else {
                        if (!json_is_number(x)) bad = "holds a value that is not a number";
                        else fv[i] = (float)json_number_value(x);
                    }
                }
                if (!bad) ctk_col_append(c, m, col, t->intarr[k] ? (void *)iv : (void *)fv, (int64_t)n);
            }
            if (bad) {
                ctk_err_set(e, "%s:%lld: '%s' %s (as the first line says)", t->src->name,
                            (long long)t->fnr, t->keys[k], bad);
                json_decref(j);
                goto fail;
            }
        }
        json_decref(j);
        if (t->idcol >= 0)
            ((int64_t *)ctk_col_dense_reserve(c, m, t->idcol, rows + 1))[rows] = t->nr + t->o.id_offset;
        rows++;
        bytes += t->len;
    }
    free(fv);
    free(iv);
    c->rows = rows;
    c->ncols = m->ncols;
    return rows > 0;
fail:
    free(fv);
    free(iv);
    return -1;
}

/* --- .npy ---------------------------------------------------------------------------- */

/* The value of 'key': in a .npy header dict, or NULL. */
static const char *npy_field(const char *h, const char *key)
{
    char pat[32];
    snprintf(pat, sizeof pat, "'%s':", key);
    const char *p = strstr(h, pat);
    if (!p) return NULL;
    p += strlen(pat);
    while (*p == ' ') p++;
    return p;
}

/* Read and check one file's .npy header; sets kind/size/swap/rows/width. */
static int npy_header(struct txt *t, struct ctk_err *e)
{
    unsigned char pre[12];
    const char *name = t->src->name;
    ssize_t k = ctk_src_read(t->src, pre, 10, e);
    if (k < 0) return -1;
    if (k < 10 || memcmp(pre, "\x93NUMPY", 6) != 0)
        return ctk_err_set(e, "%s: not a .npy file (no \\x93NUMPY magic)", name);
    uint32_t hl;
    if (pre[6] == 1) {
        hl = pre[8] | (uint32_t)pre[9] << 8;
    } else if (pre[6] == 2 || pre[6] == 3) {
        if (ctk_src_read(t->src, pre + 10, 2, e) != 2)
            return ctk_err_set(e, "%s: truncated .npy header", name);
        hl = pre[8] | (uint32_t)pre[9] << 8 | (uint32_t)pre[10] << 16 | (uint32_t)pre[11] << 24;
    } else {
        return ctk_err_set(e, "%s: .npy format version %d is not supported", name, pre[6]);
    }
    if (hl > 1u << 20) return ctk_err_set(e, "%s: .npy header of %u bytes is too long", name, hl);
    char *h = xmalloc(hl + 1);
    if (ctk_src_read(t->src, h, hl, e) != (ssize_t)hl) {
        free(h);
        return ctk_err_set(e, "%s: truncated .npy header", name);
    }
    h[hl] = '\0';
    int rc = -1;
    const char *d = npy_field(h, "descr"), *fo = npy_field(h, "fortran_order"), *sh = npy_field(h, "shape");
    if (!d || !fo || !sh || d[0] != '\'') {
        ctk_err_set(e, "%s: .npy header lacks descr, fortran_order or shape", name);
        goto out;
    }
    char bo = d[1], kind = d[2];
    int size = d[3] - '0';
    if (!strchr("<>|=", bo) || d[4] != '\'' || !((kind == 'f' && (size == 4 || size == 8)) ||
                                                   (kind == 'i' && (size == 4 || size == 8)))) {
        ctk_err_set(e, "%s: .npy dtype %.8s is not supported (f4, f8, i4 or i8)", name, d);
        goto out;
    }
    int64_t dims[2] = {0, 0};
    int nd = 0;
    if (*sh != '(') {
        ctk_err_set(e, "%s: .npy shape is not a tuple", name);
        goto out;
    }
    const char *p = sh + 1;
    for (;;) {
        while (*p == ' ') p++;
        if (*p == ')') break;
        if (nd == 2 || *p < '0' || *p > '9') {
            ctk_err_set(e, "%s: .npy shape must have 1 or 2 dimensions", name);
            goto out;
        }
        char *q;
        errno = 0;
        long long v = strtoll(p, &q, 10);
        if (errno || v < 0 || v > (1LL << 40)) {
            ctk_err_set(e, "%s: .npy shape out of range", name);
            goto out;
        }
        dims[nd++] = v;
        p = q;
        while (*p == ' ') p++;
        if (*p == ',') p++;
    }
    if (nd == 0) {
        ctk_err_set(e, "%s: a 0-dimensional .npy array has no rows", name);
        goto out;
    }
    if (strncmp(fo, "False", 5) != 0 && nd == 2 && dims[1] > 1) {
        ctk_err_set(e, "%s: Fortran-order .npy arrays are not supported (save with C order)", name);
        goto out;
    }
    if (dims[1] > INT32_MAX) {
        ctk_err_set(e, "%s: .npy rows of %lld values are too wide", name, (long long)dims[1]);
        goto out;
    }
    t->npy_kind = kind;
    t->npy_size = size;
    t->npy_swap = bo == '>';
    t->npy_rows = dims[0];
    t->npy_width = nd == 2 ? dims[1] : 0;
    t->npy_row = 0;
    rc = 0;
out:
    free(h);
    return rc;
}

static enum ctk_dtype npy_dtype(const struct txt *t)
{
    return t->npy_kind == 'f' ? CTK_F32 : t->npy_size == 4 ? CTK_I32 : CTK_I64;
}

static int npy_schema(struct txt *t, struct ctk_err *e)
{
    if (npy_header(t, e) < 0) return -1;
    const char *name = t->o.npy_col ? t->o.npy_col : "emb";
    struct ctk_err ne;
    if (ctk_col_name_check(name, &ne) < 0 || !strcmp(name, "id"))
        return ctk_err_set(e, "cannot name the .npy column '%s'", name);
    t->idcol = ctk_meta_add_col(t->m, "id", CTK_COL_DENSE, CTK_I64, 0);
    t->fieldcol[0] = ctk_meta_add_col(t->m, name, CTK_COL_DENSE, npy_dtype(t), t->npy_width);
    return 0;
}

static void swap_bytes(unsigned char *p, size_t n, int size)
{
    for (size_t i = 0; i < n; i++, p += size)
        for (int a = 0, b = size - 1; a < b; a++, b--) {
            unsigned char x = p[a];
            p[a] = p[b];
            p[b] = x;
        }
}

static int npy_read(void *state, struct ctk_stream *s, struct ctk_chunk *c, struct ctk_err *e)
{
    struct txt *t = state;
    const struct ctk_stream_meta *m = &s->meta;
    int64_t max = t->o.chunk_rows > 0 ? t->o.chunk_rows : CTK_CHUNK_ROWS;
    int col = t->fieldcol[0];
    int64_t w = m->cols[col].width ? m->cols[col].width : 1;
    ctk_chunk_reset(c, m);
    while (!t->done && t->npy_row >= t->npy_rows) {
        /* This file is done: no bytes may follow; then the next file. */
        ssize_t k = ctk_src_peek(t->src, 1, e);
        if (k < 0) return -1;
        if (k > 0) return ctk_err_set(e, "%s: bytes follow the .npy array's data", t->src->name);
        int rc = ctk_src_next(t->src, e);
        if (rc < 0) return -1;
        if (rc == 0) {
            t->done = 1;
            break;
        }
        if (npy_header(t, e) < 0) return -1;
        if (npy_dtype(t) != m->cols[col].dtype || t->npy_width != m->cols[col].width)
            return ctk_err_set(e, "%s: its array's dtype or width differs from the first file's",
                               t->src->name);
    }
    if (t->done) return 0;
    int64_t rows = t->npy_rows - t->npy_row;
    if (max > 0 && rows > max) rows = max;
    /* Keep a chunk near 8 MB however wide the rows. */
    int64_t cap_rows = (int64_t)(CHUNK_BYTES / ((size_t)w * (size_t)t->npy_size)) + 1;
    if (rows > cap_rows) rows = cap_rows;
    size_t n = (size_t)rows * (size_t)w, bytes = n * (size_t)t->npy_size;
    if (t->raw_cap < bytes) {
        t->raw = xrealloc(t->raw, bytes);
        t->raw_cap = bytes;
    }
    ssize_t k = ctk_src_read(t->src, t->raw, bytes, e);
    if (k < 0) return -1;
    if ((size_t)k < bytes)
        return ctk_err_set(e, "%s: truncated .npy data: row %lld of %lld is missing", t->src->name,
                           (long long)(t->npy_row + (int64_t)((size_t)k / ((size_t)w * (size_t)t->npy_size))) + 1,
                           (long long)t->npy_rows);
    if (t->npy_swap) swap_bytes(t->raw, n, t->npy_size);
    void *out = ctk_col_dense_reserve(c, m, col, rows);
    if (t->npy_kind == 'f' && t->npy_size == 8) {
        float *f = out;
        for (size_t i = 0; i < n; i++) {
            double x;
            memcpy(&x, t->raw + 8 * i, 8);
            f[i] = (float)x;
        }
    } else {
        memcpy(out, t->raw, bytes);
    }
    int64_t *id = ctk_col_dense_reserve(c, m, t->idcol, rows);
    for (int64_t i = 0; i < rows; i++) id[i] = t->nr + i + 1 + t->o.id_offset;
    t->nr += rows;
    t->npy_row += rows;
    c->rows = rows;
    c->ncols = m->ncols;
    return 1;
}

/* --- opening ------------------------------------------------------------------------- */

static int open_text_src(struct ctk_stream *s, struct ctk_src *src, const struct ctk_text_opts *o,
                         struct ctk_err *e)
{
    struct txt *t = xcalloc(1, sizeof *t);
    t->src = src;
    if (o) t->o = *o;
    ctk_source_read_fn rd = t->o.format == CTK_TEXT_JSONL ? jsonl_read
                            : t->o.format == CTK_TEXT_NPY ? npy_read : tsv_read;
    ctk_stream_open_source(s, t->src->name, rd, txt_close, t);
    t->m = &s->meta;
    int rc = t->o.format == CTK_TEXT_JSONL ? jsonl_schema(t, e)
             : t->o.format == CTK_TEXT_NPY ? npy_schema(t, e) : tsv_schema(t, e);
    if (rc < 0) {
        struct ctk_err dummy;
        ctk_stream_close(s, &dummy);
        return -1;
    }
    return 0;
}

/*
 * A stream when the input starts with the magic bytes, else text. Input
 * that nearly starts with them (a stream cut inside its first 8 bytes, or
 * one whose first bytes were damaged) is an error, not text: no TSV file
 * begins with byte 0x89 and most of "CTK\r\n\x1a\n".
 */
static int open_any(struct ctk_stream *s, struct ctk_src *src, const struct ctk_text_opts *o,
                    struct ctk_err *e)
{
    ssize_t k = ctk_src_peek(src, 8, e);
    if (k < 0) {
        ctk_src_close(src);
        free(src);
        return -1;
    }
    const unsigned char *p = src->buf + src->pos;
    if (k == 8 && memcmp(p, CTK_STREAM_MAGIC, 8) == 0) return ctk_stream_open_src(s, src, e);
    int same = 0;
    for (ssize_t i = 0; i < k; i++) same += p[i] == (unsigned char)CTK_STREAM_MAGIC[i];
    if ((k > 0 && k < 8 && same == k) || (k == 8 && same >= 5)) {
        ctk_err_set(e, "%s: %s (byte 0): the stream's magic bytes are %s", src->name,
                    "the header record", k < 8 ? "cut short: the stream was truncated" : "damaged: corrupt stream");
        ctk_src_close(src);
        free(src);
        return -1;
    }
    return open_text_src(s, src, o, e);
}

int ctk_text_open(struct ctk_stream *s, const char *const *paths, int n,
                  const struct ctk_text_opts *o, struct ctk_err *e)
{
    struct ctk_src *src = xcalloc(1, sizeof *src);
    if (ctk_src_open_list(src, paths, n, e) < 0) {
        ctk_src_close(src);
        free(src);
        return -1;
    }
    return open_text_src(s, src, o, e);
}

int ctk_input_open(struct ctk_stream *s, const char *const *paths, int n,
                   const struct ctk_text_opts *o, struct ctk_err *e)
{
    struct ctk_src *src = xcalloc(1, sizeof *src);
    if (ctk_src_open_list(src, paths, n, e) < 0) {
        ctk_src_close(src);
        free(src);
        return -1;
    }
    return open_any(s, src, o, e);
}

int ctk_input_open1(struct ctk_stream *s, const char *path, const struct ctk_text_opts *o,
                    struct ctk_err *e)
{
    static const char *stdin_path[1] = {"-"};
    if (!path || !strcmp(path, "-")) return ctk_input_open(s, stdin_path, 1, o, e);
    /* The path must outlive s: keep a private copy of the pointer array. */
    struct ctk_src *src = xcalloc(1, sizeof *src);
    if (ctk_src_open(src, path, e) < 0) {
        ctk_src_close(src);
        free(src);
        return -1;
    }
    return open_any(s, src, o, e);
}

int ctk_input_is_stream(const struct ctk_stream *s)
{
    return !ctk_stream_is_source(s);
}

/* --- writing -------------------------------------------------------------------------- */

static void put(struct ctk_text_writer *w, size_t *n, const void *p, size_t k)
{
    if (*n + k > w->cap) {
        size_t nc = w->cap ? w->cap : 4096;
        while (nc < *n + k) nc *= 2;
        w->buf = xrealloc(w->buf, nc);
        w->cap = nc;
    }
    memcpy(w->buf + *n, p, k);
    *n += k;
}

static void put_num(struct ctk_text_writer *w, size_t *n, enum ctk_dtype dt, const void *p,
                    int json)
{
    char b[48];
    int k;
    if (dt == CTK_F32) {
        float x;
        memcpy(&x, p, 4);
        if (json && !isfinite(x)) k = snprintf(b, sizeof b, "null");
        else k = snprintf(b, sizeof b, "%.9g", (double)x);
    } else if (dt == CTK_I32) {
        int32_t x;
        memcpy(&x, p, 4);
        k = snprintf(b, sizeof b, "%" PRId32, x);
    } else {
        int64_t x;
        memcpy(&x, p, 8);
        k = snprintf(b, sizeof b, "%" PRId64, x);
    }
    put(w, n, b, (size_t)k);
}

/* JSON string: UTF-8 kept, '"', '\\' and control characters escaped. */
static int put_json_str(struct ctk_text_writer *w, size_t *n, const char *s, size_t len)
{
    if (!ctk_utf8_valid(s, len)) return -1;
    put(w, n, "\"", 1);
    size_t run = 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c >= 0x20 && c != '"' && c != '\\') continue;
        put(w, n, s + run, i - run);
        run = i + 1;
        char b[8];
        switch (c) {
        case '"': put(w, n, "\\\"", 2); break;
        case '\\': put(w, n, "\\\\", 2); break;
        case '\n': put(w, n, "\\n", 2); break;
        case '\t': put(w, n, "\\t", 2); break;
        case '\r': put(w, n, "\\r", 2); break;
        default:
            snprintf(b, sizeof b, "\\u%04x", c);
            put(w, n, b, 6);
        }
    }
    put(w, n, s + run, len - run);
    put(w, n, "\"", 1);
    return 0;
}

/* TSV string: bytes as they are, but tab and newline as \t and \n (lines: newline only). */
static void put_tsv_str(struct ctk_text_writer *w, size_t *n, const char *s, size_t len, int tabs)
{
    size_t run = 0;
    for (size_t i = 0; i < len; i++) {
        if ((s[i] != '\t' || !tabs) && s[i] != '\n') continue;
        put(w, n, s + run, i - run);
        put(w, n, s[i] == '\t' ? "\\t" : "\\n", 2);
        run = i + 1;
    }
    put(w, n, s + run, len - run);
}

/* The .npy header NumPy's format.py writes for this shape (version 1.0): the
 * dict, spare spaces so that the row count can grow in place (21 digits), and
 * spaces to a multiple of 64 bytes with the final newline. */
static size_t npy_header_bytes(char *out, enum ctk_dtype dt, int64_t rows, int64_t width)
{
    char dict[256], shape[64];
    if (width) snprintf(shape, sizeof shape, "(%lld, %lld)", (long long)rows, (long long)width);
    else snprintf(shape, sizeof shape, "(%lld,)", (long long)rows);
    int k = snprintf(dict, sizeof dict, "{'descr': '%s', 'fortran_order': False, 'shape': %s, }",
                     dt == CTK_F32 ? "<f4" : dt == CTK_I32 ? "<i4" : "<i8", shape);
    char digits[32];
    int nd = snprintf(digits, sizeof digits, "%lld", (long long)rows);
    size_t len = (size_t)k + (size_t)(21 - nd);
    size_t total = 10 + len + 1;
    size_t pad = (64 - total % 64) % 64;
    len += pad + 1;
    memcpy(out, "\x93NUMPY\x01\x00", 8);
    out[8] = (char)(len & 0xff);
    out[9] = (char)(len >> 8);
    memcpy(out + 10, dict, (size_t)k);
    memset(out + 10 + k, ' ', len - (size_t)k - 1);
    out[10 + len - 1] = '\n';
    return 10 + len;
}

int ctk_text_write_begin(struct ctk_text_writer *w, FILE *f, const char *name,
                         enum ctk_text_format format, const struct ctk_stream_meta *m,
                         const int *cols, int ncols, int header, struct ctk_err *e)
{
    memset(w, 0, sizeof *w);
    w->format = format;
    w->f = f;
    w->name = name ? name : "stdout";
    ctk_meta_copy(&w->meta, m);
    w->ncols = ncols;
    memcpy(w->cols, cols, (size_t)ncols * sizeof *cols);
    w->start = -1;
    if (format == CTK_TEXT_NPY) {
        if (ncols != 1 || m->cols[cols[0]].kind != CTK_COL_DENSE)
            return ctk_err_set(e, ".npy output holds exactly one dense column (choose one with -c)");
        /* Rewritten in place only in a regular file not opened for appending. */
        struct stat st;
        off_t at = lseek(fileno(f), 0, SEEK_CUR);
        int fl = fcntl(fileno(f), F_GETFL);
        if (fstat(fileno(f), &st) == 0 && S_ISREG(st.st_mode) && at >= 0 && fl >= 0 &&
            !(fl & O_APPEND)) {
            fflush(f);
            w->start = (long long)ftello(f);
        } else {
            w->tmp = tmpfile();
            if (!w->tmp) return ctk_err_set(e, "cannot create a temporary file: %s", strerror(errno));
        }
        char h[256];
        size_t hn = npy_header_bytes(h, m->cols[cols[0]].dtype, 0, m->cols[cols[0]].width);
        if (w->start >= 0 && fwrite(h, 1, hn, f) != hn)
            return ctk_err_set(e, "%s: write error: %s", w->name, strerror(errno));
        return 0;
    }
    if (format == CTK_TEXT_LINES && (ncols != 1 || m->cols[cols[0]].kind != CTK_COL_STRING))
        return ctk_err_set(e, "lines output holds exactly one string column (choose one with -c)");
    if (header) {
        size_t n = 0;
        for (int i = 0; i < ncols; i++) {
            if (i) put(w, &n, format == CTK_TEXT_TSV ? "\t" : ",", 1);
            put(w, &n, m->cols[cols[i]].name, strlen(m->cols[cols[i]].name));
        }
        put(w, &n, "\n", 1);
        if (format != CTK_TEXT_JSONL && fwrite(w->buf, 1, n, f) != n)
            return ctk_err_set(e, "%s: write error: %s", w->name, strerror(errno));
    }
    return 0;
}

int ctk_text_write_chunk(struct ctk_text_writer *w, const struct ctk_chunk *c, struct ctk_err *e)
{
    const struct ctk_stream_meta *m = &w->meta;
    if (w->format == CTK_TEXT_NPY) {
        int col = w->cols[0];
        const struct ctk_col_spec *cs = &m->cols[col];
        size_t bytes = (size_t)c->rows * (size_t)(cs->width ? cs->width : 1) * ctk_dtype_size(cs->dtype);
        FILE *out = w->tmp ? w->tmp : w->f;
        if (bytes && fwrite(c->cols[col].data, 1, bytes, out) != bytes)
            return ctk_err_set(e, "%s: write error: %s", w->tmp ? "temporary file" : w->name,
                               strerror(errno));
        w->rows += c->rows;
        return 0;
    }
    int tsv = w->format == CTK_TEXT_TSV || w->format == CTK_TEXT_LINES;
    for (int64_t r = 0; r < c->rows; r++) {
        size_t n = 0;
        int all_empty = 1;
        if (!tsv) put(w, &n, "{", 1);
        for (int i = 0; i < w->ncols; i++) {
            int col = w->cols[i];
            const struct ctk_col_spec *cs = &m->cols[col];
            int64_t len;
            const char *p = ctk_col_row(c, m, col, r, &len);
            size_t es = ctk_dtype_size(cs->dtype);
            if (i) put(w, &n, tsv ? "\t" : ",", 1);
            if (!tsv) {
                if (put_json_str(w, &n, cs->name, strlen(cs->name)) < 0)
                    return ctk_err_set(e, "column name '%s' is not UTF-8", cs->name);
                put(w, &n, ":", 1);
            }
            if (cs->kind == CTK_COL_STRING) {
                if (len) all_empty = 0;
                if (tsv) put_tsv_str(w, &n, p, (size_t)len, w->format == CTK_TEXT_TSV);
                else if (put_json_str(w, &n, p, (size_t)len) < 0)
                    return ctk_err_set(e, "row %lld (id in the stream's row %lld): column '%s' is not "
                                       "UTF-8, which JSON cannot hold (use -t tsv or -t stream)",
                                       (long long)(w->rows + r + 1), (long long)(w->rows + r + 1), cs->name);
                continue;
            }
            all_empty = 0;
            int list = cs->kind == CTK_COL_RAGGED || cs->width > 0;
            if (!tsv && list) put(w, &n, "[", 1);
            for (int64_t k = 0; k < len; k++) {
                if (k) put(w, &n, tsv ? " " : ",", 1);
                put_num(w, &n, cs->dtype, p + (size_t)k * es, !tsv);
            }
            if (!tsv && list) put(w, &n, "]", 1);
        }
        if (!tsv) put(w, &n, "}", 1);
        if (tsv && all_empty) n = 0;
        put(w, &n, "\n", 1);
        if (fwrite(w->buf, 1, n, w->f) != n)
            return ctk_err_set(e, "%s: write error: %s", w->name, strerror(errno));
    }
    w->rows += c->rows;
    return 0;
}

int ctk_text_write_end(struct ctk_text_writer *w, struct ctk_err *e)
{
    int rc = 0;
    if (w->format == CTK_TEXT_NPY) {
        const struct ctk_col_spec *cs = &w->meta.cols[w->cols[0]];
        char h[256];
        size_t hn = npy_header_bytes(h, cs->dtype, w->rows, cs->width);
        if (w->start >= 0) {
            if (fflush(w->f) != 0 || fseeko(w->f, (off_t)w->start, SEEK_SET) != 0 ||
                fwrite(h, 1, hn, w->f) != hn || fseeko(w->f, 0, SEEK_END) != 0)
                rc = ctk_err_set(e, "%s: write error: %s", w->name, strerror(errno));
        } else {
            if (fwrite(h, 1, hn, w->f) != hn) {
                rc = ctk_err_set(e, "%s: write error: %s", w->name, strerror(errno));
            } else {
                rewind(w->tmp);
                char buf[65536];
                size_t k;
                while ((k = fread(buf, 1, sizeof buf, w->tmp)) > 0)
                    if (fwrite(buf, 1, k, w->f) != k) {
                        rc = ctk_err_set(e, "%s: write error: %s", w->name, strerror(errno));
                        break;
                    }
                if (rc == 0 && ferror(w->tmp))
                    rc = ctk_err_set(e, "temporary file: read error: %s", strerror(errno));
            }
        }
        if (w->tmp) fclose(w->tmp);
        w->tmp = NULL;
    }
    if (rc == 0 && (fflush(w->f) != 0 || ferror(w->f)))
        rc = ctk_err_set(e, "%s: write error: %s", w->name, strerror(errno ? errno : EIO));
    free(w->buf);
    w->buf = NULL;
    ctk_meta_free(&w->meta);
    return rc;
}
