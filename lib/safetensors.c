/*
 * safetensors.c -- safetensors reader (mmap, validated) and writer (see
 * safetensors.h for the format and what is checked).
 */
#include "config.h"
#include "safetensors.h"
#include "f16.h"
#include "fsutil.h"
#include "json.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "ctk reads and writes little-endian tensors by memcpy: port the copies for this host"
#endif


char *ctk_st_shape_str(char *buf, size_t size, int ndim, const int64_t *shape)
{
    size_t n = 0;
    n += (size_t)snprintf(buf, size, "[");
    for (int i = 0; i < ndim && n < size; i++)
        n += (size_t)snprintf(buf + n, size - n, "%s%lld", i ? ", " : "", (long long)shape[i]);
    if (n < size) snprintf(buf + n, size - n, "]");
    return buf;
}

/*----------------------------------------------------------------------------
 * Reading
 *--------------------------------------------------------------------------*/

/* A JSON integer in [0, max], else -1 (reals such as 3.0 are refused too). */
static int get_count(const json_t *v, uint64_t max, uint64_t *out)
{
    if (!json_is_integer(v)) return -1;
    json_int_t x = json_integer_value(v);
    if (x < 0 || (uint64_t)x > max) return -1;
    *out = (uint64_t)x;
    return 0;
}

static int parse_tensor(struct ctk_st *st, struct ctk_st_tensor *t, const char *name,
                        const json_t *v, struct ctk_err *e)
{
    const char *what = st->what;
    if (!json_is_object(v))
        return ctk_err_set(e, "%s: header entry \"%s\" is not an object", what, name);
    const char *key;
    json_t *val;
    json_object_foreach((json_t *)v, key, val)
        if (strcmp(key, "dtype") && strcmp(key, "shape") && strcmp(key, "data_offsets"))
            return ctk_err_set(e, "%s: tensor \"%s\" has an unknown field \"%s\"", what, name, key);

    const json_t *dt = json_object_get(v, "dtype");
    if (!json_is_string(dt))
        return ctk_err_set(e, "%s: tensor \"%s\": \"dtype\" missing or not a string", what, name);
    if (ctk_dtype_parse(json_string_value(dt), &t->dtype) < 0)
        return ctk_err_set(e, "%s: tensor \"%s\" has dtype \"%s\", which ctk does not read "
                           "(known: BOOL U8 I8 U16 I16 F16 BF16 U32 I32 F32 U64 I64 F64)",
                           what, name, json_string_value(dt));

    const json_t *sh = json_object_get(v, "shape");
    if (!json_is_array(sh))
        return ctk_err_set(e, "%s: tensor \"%s\": \"shape\" missing or not an array", what, name);
    if (json_array_size(sh) > CTK_ST_MAXDIM)
        return ctk_err_set(e, "%s: tensor \"%s\" has %zu dimensions (at most %d)", what, name,
                           json_array_size(sh), CTK_ST_MAXDIM);
    t->ndim = (int)json_array_size(sh);
    size_t nelem = 1;
    for (int i = 0; i < t->ndim; i++) {
        uint64_t d;
        if (get_count(json_array_get(sh, (size_t)i), INT64_MAX, &d) < 0)
            return ctk_err_set(e, "%s: tensor \"%s\": shape[%d] is not a non-negative integer",
                               what, name, i);
        t->shape[i] = (int64_t)d;
        if (d > SIZE_MAX || ctk_mul_overflow(nelem, (size_t)d, &nelem))
            return ctk_err_set(e, "%s: tensor \"%s\": the element count of its shape overflows",
                               what, name);
    }
    t->nelem = nelem;
    size_t nbytes;
    if (ctk_mul_overflow(nelem, ctk_dtype_size(t->dtype), &nbytes))
        return ctk_err_set(e, "%s: tensor \"%s\": the byte size of its shape overflows", what, name);

    const json_t *off = json_object_get(v, "data_offsets");
    uint64_t b, en;
    if (!json_is_array(off) || json_array_size(off) != 2 ||
        get_count(json_array_get(off, 0), UINT64_MAX >> 1, &b) < 0 ||
        get_count(json_array_get(off, 1), UINT64_MAX >> 1, &en) < 0)
        return ctk_err_set(e, "%s: tensor \"%s\": \"data_offsets\" must be [begin, end], two "
                           "non-negative integers", what, name);
    if (b > en || en > st->data_len)
        return ctk_err_set(e, "%s: tensor \"%s\": data_offsets [%llu, %llu] lie outside the "
                           "data area (%zu bytes)", what, name, (unsigned long long)b,
                           (unsigned long long)en, st->data_len);
    if (en - b != nbytes) {
        char s[200];
        return ctk_err_set(e, "%s: tensor \"%s\": data_offsets [%llu, %llu] hold %llu bytes, "
                           "but %s shape %s needs %zu", what, name, (unsigned long long)b,
                           (unsigned long long)en, (unsigned long long)(en - b),
                           ctk_dtype_name(t->dtype),
                           ctk_st_shape_str(s, sizeof s, t->ndim, t->shape), nbytes);
    }
    t->begin = (size_t)b;
    t->end = (size_t)en;
    t->data = st->data + b;
    t->name = xstrdup(name);
    return 0;
}

static int parse_metadata(struct ctk_st *st, const json_t *v, struct ctk_err *e)
{
    if (!json_is_object(v))
        return ctk_err_set(e, "%s: \"__metadata__\" is not an object", st->what);
    size_t n = json_object_size(v);
    st->meta_keys = xcalloc(n ? n : 1, sizeof *st->meta_keys);
    st->meta_vals = xcalloc(n ? n : 1, sizeof *st->meta_vals);
    const char *key;
    json_t *val;
    json_object_foreach((json_t *)v, key, val) {
        if (!json_is_string(val))
            return ctk_err_set(e, "%s: __metadata__ \"%s\" is not a string", st->what, key);
        if (strlen(key) != json_object_iter_key_len(json_object_key_to_iter(key)) ||
            strlen(json_string_value(val)) != json_string_length(val))
            return ctk_err_set(e, "%s: __metadata__ \"%s\" holds a NUL character", st->what, key);
        st->meta_keys[st->nmeta] = xstrdup(key);
        st->meta_vals[st->nmeta] = xstrdup(json_string_value(val));
        st->nmeta++;
    }
    return 0;
}

static int by_offset(const void *a, const void *b)
{
    const struct ctk_st_tensor *x = *(const struct ctk_st_tensor *const *)a;
    const struct ctk_st_tensor *y = *(const struct ctk_st_tensor *const *)b;
    if (x->begin != y->begin) return x->begin < y->begin ? -1 : 1;
    if (x->end != y->end) return x->end < y->end ? -1 : 1;
    return 0;
}

/* Tensors must tile the data area: sorted by offset, each begins where the last ended. */
static int check_layout(struct ctk_st *st, struct ctk_err *e)
{
    struct ctk_st_tensor **s = xmallocarray(st->ntensors ? st->ntensors : 1, sizeof *s);
    for (size_t i = 0; i < st->ntensors; i++) s[i] = &st->tensors[i];
    qsort(s, st->ntensors, sizeof *s, by_offset);
    size_t at = 0;
    int rc = 0;
    for (size_t i = 0; i < st->ntensors && rc == 0; i++) {
        if (s[i]->begin < at)
            rc = ctk_err_set(e, "%s: tensor \"%s\" (bytes %zu..%zu) overlaps tensor \"%s\"",
                             st->what, s[i]->name, s[i]->begin, s[i]->end, s[i - 1]->name);
        else if (s[i]->begin > at)
            rc = ctk_err_set(e, "%s: %zu unused bytes at data offset %zu before tensor \"%s\"",
                             st->what, s[i]->begin - at, at, s[i]->name);
        at = s[i]->end;
    }
    if (rc == 0 && at != st->data_len)
        rc = ctk_err_set(e, "%s: the data area holds %zu bytes but the tensors use %zu "
                         "(trailing bytes or a truncated header)", st->what, st->data_len, at);
    free(s);
    return rc;
}

static int parse(struct ctk_st *st, const unsigned char *buf, size_t len, struct ctk_err *e)
{
    const char *what = st->what;
    if (len < 8)
        return ctk_err_set(e, "%s: %zu bytes, too short for a safetensors file (the header "
                           "length alone takes 8)", what, len);
    uint64_t hlen = 0;
    for (int i = 7; i >= 0; i--) hlen = hlen << 8 | buf[i];
    if (hlen > CTK_ST_MAX_HEADER)
        return ctk_err_set(e, "%s: header length %llu is larger than the %u-byte limit: not a "
                           "safetensors file?", what, (unsigned long long)hlen, CTK_ST_MAX_HEADER);
    if (hlen > len - 8)
        return ctk_err_set(e, "%s: header length %llu runs past the end of the file (%zu bytes): "
                           "truncated file?", what, (unsigned long long)hlen, len);
    if (hlen < 2 || buf[8] != '{')
        return ctk_err_set(e, "%s: the header does not start with '{': not a safetensors file?",
                           what);
    st->header_len = (size_t)hlen;
    st->data = buf + 8 + hlen;
    st->data_len = len - 8 - (size_t)hlen;

    struct ctk_err je;
    json_t *root = ctk_json_load_buf((const char *)buf + 8, (size_t)hlen, what, &je);
    if (!root) return ctk_err_set(e, "%s (header)", je.msg);
    int rc = 0;
    if (!json_is_object(root)) {
        rc = ctk_err_set(e, "%s: the header is not a JSON object", what);
        goto out;
    }
    size_t n = json_object_size(root);
    st->tensors = xcalloc(n ? n : 1, sizeof *st->tensors);
    const char *key;
    json_t *val;
    json_object_foreach(root, key, val) {
        if (strlen(key) != json_object_iter_key_len(json_object_key_to_iter(key))) {
            rc = ctk_err_set(e, "%s: a tensor name holds a NUL character", what);
            break;
        }
        if (strcmp(key, "__metadata__") == 0)
            rc = parse_metadata(st, val, e);
        else if ((rc = parse_tensor(st, &st->tensors[st->ntensors], key, val, e)) == 0)
            st->ntensors++;
        if (rc) break;
    }
    if (rc == 0) rc = check_layout(st, e);
out:
    json_decref(root);
    return rc;
}

int ctk_st_open_mem(struct ctk_st *st, const void *buf, size_t len, const char *what,
                    struct ctk_err *e)
{
    memset(st, 0, sizeof *st);
    st->what = xstrdup(what);
    if (parse(st, buf, len, e) < 0) {
        ctk_st_close(st);
        return -1;
    }
    return 0;
}

int ctk_st_open(struct ctk_st *st, const char *path, struct ctk_err *e)
{
    memset(st, 0, sizeof *st);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return ctk_err_set(e, "cannot open %s: %s", path, strerror(errno));
    struct stat sb;
    if (fstat(fd, &sb) != 0) {
        int err = errno;
        close(fd);
        return ctk_err_set(e, "cannot stat %s: %s", path, strerror(err));
    }
    if (!S_ISREG(sb.st_mode)) {
        close(fd);
        return ctk_err_set(e, "%s is not a regular file", path);
    }
    size_t len = (size_t)sb.st_size;
    void *map = NULL;
    if (len >= 8) {
        map = mmap(NULL, len, PROT_READ, MAP_PRIVATE, fd, 0);
        if (map == MAP_FAILED) {
            int err = errno;
            close(fd);
            return ctk_err_set(e, "cannot map %s: %s", path, strerror(err));
        }
    }
    close(fd);
    st->what = xstrdup(path);
    st->map = map;
    st->map_len = len;
    if (parse(st, map, len, e) < 0) {
        ctk_st_close(st);
        return -1;
    }
    return 0;
}

void ctk_st_close(struct ctk_st *st)
{
    if (st->map) munmap(st->map, st->map_len);
    for (size_t i = 0; i < st->ntensors; i++) free(st->tensors[i].name);
    for (size_t i = 0; i < st->nmeta; i++) {
        free(st->meta_keys[i]);
        free(st->meta_vals[i]);
    }
    free(st->tensors);
    free(st->meta_keys);
    free(st->meta_vals);
    free(st->what);
    memset(st, 0, sizeof *st);
}

const struct ctk_st_tensor *ctk_st_find(const struct ctk_st *st, const char *name)
{
    for (size_t i = 0; i < st->ntensors; i++)
        if (strcmp(st->tensors[i].name, name) == 0) return &st->tensors[i];
    return NULL;
}

const char *ctk_st_meta(const struct ctk_st *st, const char *key)
{
    for (size_t i = 0; i < st->nmeta; i++)
        if (strcmp(st->meta_keys[i], key) == 0) return st->meta_vals[i];
    return NULL;
}

int ctk_st_read_f32(const struct ctk_st *st, const struct ctk_st_tensor *t, float *out,
                    size_t n, struct ctk_err *e)
{
    if (n != t->nelem)
        return ctk_err_set(e, "%s: tensor \"%s\" has %zu elements, expected %zu", st->what,
                           t->name, t->nelem, n);
    switch (t->dtype) {
    case CTK_F32:
        if (n) memcpy(out, t->data, n * 4);
        return 0;
    case CTK_F16:
        ctk_f16_to_f32_n(out, t->data, n);
        return 0;
    case CTK_BF16:
        ctk_bf16_to_f32_n(out, t->data, n);
        return 0;
    case CTK_F64:
        for (size_t i = 0; i < n; i++) {
            double d;
            memcpy(&d, (const unsigned char *)t->data + 8 * i, 8);
            out[i] = (float)d;
        }
        return 0;
    default:
        return ctk_err_set(e, "%s: tensor \"%s\" has dtype %s; expected floating point "
                           "(F32, F16, BF16 or F64)", st->what, t->name, ctk_dtype_name(t->dtype));
    }
}

float *ctk_st_get_f32(const struct ctk_st *st, const struct ctk_st_tensor *t, struct ctk_err *e)
{
    float *out = xmallocarray(t->nelem ? t->nelem : 1, sizeof *out);
    if (ctk_st_read_f32(st, t, out, t->nelem, e) < 0) {
        free(out);
        return NULL;
    }
    return out;
}

/*----------------------------------------------------------------------------
 * Writing
 *--------------------------------------------------------------------------*/

static int wtensor_bytes(const struct ctk_st_wtensor *t, size_t *nelem, size_t *nbytes,
                         const char *what, struct ctk_err *e)
{
    if (!t->name || strcmp(t->name, "__metadata__") == 0)
        return ctk_err_set(e, "%s: invalid tensor name", what);
    if ((unsigned)t->dtype >= CTK_DTYPE_COUNT)
        return ctk_err_set(e, "%s: tensor \"%s\": invalid dtype", what, t->name);
    if (t->from_f32 && t->dtype != CTK_F32 && t->dtype != CTK_F16 && t->dtype != CTK_BF16)
        return ctk_err_set(e, "%s: tensor \"%s\": floats convert only to F32, F16 or BF16",
                           what, t->name);
    if (t->ndim < 0 || t->ndim > CTK_ST_MAXDIM)
        return ctk_err_set(e, "%s: tensor \"%s\": %d dimensions", what, t->name, t->ndim);
    size_t n = 1;
    for (int i = 0; i < t->ndim; i++)
        if (t->shape[i] < 0 || (uint64_t)t->shape[i] > SIZE_MAX ||
            ctk_mul_overflow(n, (size_t)t->shape[i], &n))
            return ctk_err_set(e, "%s: tensor \"%s\": invalid shape", what, t->name);
    if (ctk_mul_overflow(n, ctk_dtype_size(t->dtype), nbytes))
        return ctk_err_set(e, "%s: tensor \"%s\": too large", what, t->name);
    *nelem = n;
    return 0;
}

/* The header JSON, padded with spaces to a multiple of 8 bytes; NULL with e set. */
static char *make_header(const struct ctk_st_wtensor *t, size_t n, const char *const *meta,
                         size_t *hlen, const char *what, struct ctk_err *e)
{
    json_t *root = json_object();
    size_t at = 0;
    char *s = NULL;
    if (meta && meta[0]) {
        json_t *m = json_object();
        for (size_t i = 0; meta[i]; i += 2) {
            if (!meta[i + 1]) {
                ctk_err_set(e, "%s: metadata key \"%s\" has no value", what, meta[i]);
                json_decref(m);
                goto out;
            }
            json_object_set_new(m, meta[i], json_string(meta[i + 1]));
        }
        json_object_set_new(root, "__metadata__", m);
    }
    for (size_t i = 0; i < n; i++) {
        size_t nelem, nbytes;
        if (wtensor_bytes(&t[i], &nelem, &nbytes, what, e) < 0) goto out;
        if (json_object_get(root, t[i].name)) {
            ctk_err_set(e, "%s: tensor name \"%s\" given twice", what, t[i].name);
            goto out;
        }
        json_t *shape = json_array();
        for (int k = 0; k < t[i].ndim; k++)
            json_array_append_new(shape, json_integer((json_int_t)t[i].shape[k]));
        json_t *o = json_object();
        json_object_set_new(o, "dtype", json_string(ctk_dtype_name(t[i].dtype)));
        json_object_set_new(o, "shape", shape);
        json_object_set_new(o, "data_offsets",
                            json_pack("[II]", (json_int_t)at, (json_int_t)(at + nbytes)));
        if (json_object_set_new(root, t[i].name, o) < 0) {
            ctk_err_set(e, "%s: tensor name \"%s\" is not valid UTF-8", what, t[i].name);
            goto out;
        }
        at += nbytes;
    }
    char *j = json_dumps(root, JSON_COMPACT | JSON_PRESERVE_ORDER);
    if (!j) {
        ctk_err_set(e, "%s: cannot serialise the header (invalid UTF-8 in a name?)", what);
        goto out;
    }
    size_t len = strlen(j), padded = (len + 7) / 8 * 8;
    s = xmalloc(padded + 1);
    memcpy(s, j, len);
    memset(s + len, ' ', padded - len);
    s[padded] = '\0';
    free(j);
    *hlen = padded;
out:
    json_decref(root);
    return s;
}

int ctk_st_write_file(FILE *f, const char *what, const struct ctk_st_wtensor *t, size_t n,
                      const char *const *meta, struct ctk_err *e)
{
    size_t hlen;
    char *h = make_header(t, n, meta, &hlen, what, e);
    if (!h) return -1;
    unsigned char len8[8];
    for (int i = 0; i < 8; i++) len8[i] = (unsigned char)((uint64_t)hlen >> (8 * i));
    int bad = fwrite(len8, 1, 8, f) != 8 || fwrite(h, 1, hlen, f) != hlen;
    free(h);
    enum { BLOCK = 4096 };
    unsigned char buf[BLOCK * 2];
    for (size_t i = 0; i < n && !bad; i++) {
        size_t nelem, nbytes;
        wtensor_bytes(&t[i], &nelem, &nbytes, what, NULL);
        if (!t[i].from_f32 || t[i].dtype == CTK_F32) {
            bad = nbytes && fwrite(t[i].data, 1, nbytes, f) != nbytes;
            continue;
        }
        const float *src = t[i].data;
        for (size_t k = 0; k < nelem && !bad; k += BLOCK) {
            size_t m = nelem - k < BLOCK ? nelem - k : BLOCK;
            if (t[i].dtype == CTK_F16)
                ctk_f32_to_f16_n(buf, src + k, m);
            else
                ctk_f32_to_bf16_n(buf, src + k, m);
            bad = fwrite(buf, 2, m, f) != m;
        }
    }
    if (bad) return ctk_err_set(e, "cannot write %s: %s", what, strerror(errno));
    return 0;
}

int ctk_st_write(const char *path, const struct ctk_st_wtensor *t, size_t n,
                 const char *const *meta, struct ctk_err *e)
{
    struct ctk_atomic a;
    if (ctk_atomic_open(&a, path, e) < 0) return -1;
    if (ctk_st_write_file(a.f, path, t, n, meta, e) < 0) {
        ctk_atomic_abort(&a);
        return -1;
    }
    return ctk_atomic_commit(&a, e);
}
