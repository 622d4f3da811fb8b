/*
 * train.c -- the training driver of ctk-train-mnrl (see train.h): data,
 * batches without duplicate texts, GradCache, projection head, AdamW steps,
 * checkpoints, resumption and the log.
 *
 * Dimension letters: B rows in a batch, K texts per row the loss takes,
 * S = K*B sequences of one encoder pass, D embedding dimension.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <dirent.h>
#include <ftw.h>
#include <inttypes.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cblas.h>
#include <jansson.h>

#include "fsutil.h"
#include "json.h"
#include "rng.h"
#include "projhead.h"
#include "train.h"

void ctk_train_opts_default(struct ctk_train_opts *o, enum ctk_loss_kind loss)
{
    memset(o, 0, sizeof *o);
    ctk_loss_defaults(&o->loss, loss);
    ctk_adamw_defaults(&o->adamw);
    o->warmup_ratio = 0.1;
    o->warmup_steps = -1;
    o->batch_size = 32;
    o->epochs = 1;
    o->seed = 42;
}

/* --- digests ------------------------------------------------------------ */

static uint64_t digest_bytes(uint64_t h, const void *p, size_t n)
{
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++)
        h = (h ^ b[i]) * 0x100000001b3ULL;
    return ctk_splitmix64_mix(h);
}

/* --- data --------------------------------------------------------------- */

/* Column index of the first of names[] the stream has, or -1. */
static int find_col(const struct ctk_stream_meta *m, const char *const *names)
{
    for (; *names; names++) {
        int i = ctk_meta_find(m, *names);
        if (i >= 0)
            return i;
    }
    return -1;
}

/* "negative.ids", "negative2.ids", ...: the token columns of hard negatives. */
static int is_negative_ids(const char *name)
{
    size_t n = strlen(name);
    if (strncmp(name, "negative", 8) != 0 || n < 12 || strcmp(name + n - 4, ".ids") != 0)
        return 0;
    return strchr(name, '.') == name + n - 4;
}

static void columns_list(const struct ctk_stream_meta *m, char *buf, size_t size)
{
    size_t at = 0;
    buf[0] = 0;
    for (int i = 0; i < m->ncols && at + 2 < size; i++)
        at += (size_t)snprintf(buf + at, size - at, "%s%s", i ? ", " : "", m->cols[i].name);
}

/* The input columns of each role for loss k; returns the number of roles or -1. */
static int choose_roles(const struct ctk_stream_meta *m, enum ctk_loss_kind k, int *cols,
                        struct ctk_err *e)
{
    static const char *const first[] = {"anchor.ids", "text1.ids", NULL};
    static const char *const second[] = {"positive.ids", "text2.ids", NULL};
    static const char *const single[] = {"ids", "text.ids", "anchor.ids", "text1.ids", NULL};
    char have[1024];
    columns_list(m, have, sizeof have);
    if (k == CTK_LOSS_SIMCSE) {
        cols[0] = find_col(m, single);
        if (cols[0] < 0)
            return ctk_err_set(e, "--loss simcse needs a token column 'ids' (or text.ids, "
                               "anchor.ids); the stream has: %s. Tokenize the text column with "
                               "ctk-tok first", have);
        return 1;
    }
    cols[0] = find_col(m, first);
    cols[1] = find_col(m, second);
    if (cols[0] < 0 || cols[1] < 0)
        return ctk_err_set(e, "--loss %s needs token columns anchor.ids and positive.ids (or "
                           "text1.ids and text2.ids); the stream has: %s. Tokenize the pairs "
                           "with ctk-tok first", ctk_loss_name(k), have);
    int K = 2;
    if (k == CTK_LOSS_MNRL || k == CTK_LOSS_TRIPLET)
        for (int i = 0; i < m->ncols && K < CTK_TRAIN_MAXROLES; i++)
            if (is_negative_ids(m->cols[i].name)) {
                if (k == CTK_LOSS_TRIPLET && K == 3) {
                    ctk_warn("--loss triplet uses one negative; column %s is ignored",
                             m->cols[i].name);
                    continue;
                }
                cols[K++] = i;
            }
    if (k == CTK_LOSS_TRIPLET && K < 3)
        return ctk_err_set(e, "--loss triplet needs a token column negative.ids; the stream "
                           "has: %s", have);
    return K;
}

static void append_i32(int32_t **v, size_t *n, size_t *cap, const int32_t *x, size_t k)
{
    if (*n + k > *cap) {
        while (*n + k > *cap)
            *cap = *cap ? 2 * *cap : 4096;
        *v = xreallocarray(*v, *cap, sizeof **v);
    }
    memcpy(*v + *n, x, k * sizeof *x);
    *n += k;
}

/* Class id of a label string (a small open-addressing table of the names seen). */
struct labelmap {
    char **names;
    size_t n, cap;
    int32_t *slot; /* (cap) index into names, -1 empty */
};

static int32_t label_id(struct labelmap *lm, const char *s, size_t len)
{
    if (2 * (lm->n + 1) > lm->cap) {
        size_t cap = lm->cap ? 2 * lm->cap : 64;
        int32_t *slot = xmallocarray(cap, sizeof *slot);
        for (size_t i = 0; i < cap; i++)
            slot[i] = -1;
        for (size_t i = 0; i < lm->cap; i++)
            if (lm->slot[i] >= 0) {
                const char *t = lm->names[lm->slot[i]];
                size_t j = digest_bytes(0, t, strlen(t)) & (cap - 1);
                while (slot[j] >= 0)
                    j = (j + 1) & (cap - 1);
                slot[j] = lm->slot[i];
            }
        free(lm->slot);
        lm->slot = slot;
        lm->cap = cap;
        lm->names = xreallocarray(lm->names, cap, sizeof *lm->names);
    }
    size_t j = digest_bytes(0, s, len) & (lm->cap - 1);
    while (lm->slot[j] >= 0) {
        const char *t = lm->names[lm->slot[j]];
        if (strlen(t) == len && memcmp(t, s, len) == 0)
            return lm->slot[j];
        j = (j + 1) & (lm->cap - 1);
    }
    char *copy = xmalloc(len + 1);
    memcpy(copy, s, len);
    copy[len] = 0;
    lm->names[lm->n] = copy;
    lm->slot[j] = (int32_t)lm->n;
    return (int32_t)lm->n++;
}

int ctk_train_data_read(struct ctk_train_data *d, struct ctk_stream *s, enum ctk_loss_kind k,
                        struct ctk_err *e)
{
    const struct ctk_stream_meta *m = &s->meta;
    int cols[CTK_TRAIN_MAXROLES], tcols[CTK_TRAIN_MAXROLES];
    memset(d, 0, sizeof *d);
    int K = choose_roles(m, k, cols, e);
    if (K < 0)
        return -1;
    d->K = K;
    for (int r = 0; r < K; r++) {
        const struct ctk_col_spec *c = &m->cols[cols[r]];
        if (c->kind != CTK_COL_RAGGED || c->dtype != CTK_I32)
            return ctk_err_set(e, "%s: column %s is not a token column (ragged I32)", s->name,
                               c->name);
        snprintf(d->role_col[r], sizeof d->role_col[r], "%s", c->name);
        char tname[CTK_COL_NAME_MAX + 16];
        size_t n = strlen(c->name);
        snprintf(tname, sizeof tname, "%.*stype_ids", (int)(n - 3), c->name);
        tcols[r] = ctk_meta_find(m, tname);
        if (tcols[r] >= 0 && (m->cols[tcols[r]].kind != CTK_COL_RAGGED ||
                              m->cols[tcols[r]].dtype != CTK_I32))
            tcols[r] = -1;
    }
    int scol = -1, lcol = -1, rlcol[CTK_TRAIN_MAXROLES];
    for (int r = 0; r < CTK_TRAIN_MAXROLES; r++)
        rlcol[r] = -1;
    if (ctk_loss_needs_score(k)) {
        scol = ctk_meta_find(m, "score");
        char have[1024];
        columns_list(m, have, sizeof have);
        if (scol < 0)
            return ctk_err_set(e, "--loss %s needs a 'score' column (pair target: 1 similar, 0 "
                               "not); the stream has: %s. ctk-mkpairs --loss %s makes such pairs",
                               ctk_loss_name(k), have, ctk_loss_name(k));
        const struct ctk_col_spec *c = &m->cols[scol];
        if (c->kind != CTK_COL_DENSE || c->dtype != CTK_F32 || c->width > 1)
            return ctk_err_set(e, "%s: column score must be one F32 per row", s->name);
    }
    if (k == CTK_LOSS_MNRL || k == CTK_LOSS_SIMCSE) {
        lcol = ctk_meta_find(m, "label");
        if (lcol >= 0 && m->cols[lcol].kind != CTK_COL_STRING)
            lcol = -1;
    }
    /* negative.ids -> negative.label: the class of each hard negative */
    if (lcol >= 0 && k == CTK_LOSS_MNRL)
        for (int r = 2; r < K; r++) {
            char lname[CTK_COL_NAME_MAX + 16];
            size_t n = strlen(d->role_col[r]);
            snprintf(lname, sizeof lname, "%.*slabel", (int)(n - 3), d->role_col[r]);
            rlcol[r] = ctk_meta_find(m, lname);
            if (rlcol[r] >= 0 && m->cols[rlcol[r]].kind != CTK_COL_STRING)
                return ctk_err_set(e, "%s: column %s is not a string column (the class of the "
                                   "negatives in %s)", s->name, lname, d->role_col[r]);
        }

    size_t nids[CTK_TRAIN_MAXROLES] = {0}, capids[CTK_TRAIN_MAXROLES] = {0};
    size_t ntyp[CTK_TRAIN_MAXROLES] = {0}, captyp[CTK_TRAIN_MAXROLES] = {0};
    size_t caprows = 0;
    struct labelmap lm = {0};
    struct ctk_chunk c = {0};
    int rc;
    while ((rc = ctk_chunk_read(s, &c, e)) == 1) {
        if (d->R + c.rows + 1 > (int64_t)caprows) {
            while (d->R + c.rows + 1 > (int64_t)caprows)
                caprows = caprows ? 2 * caprows : 1024;
            for (int r = 0; r < K; r++) {
                d->off[r] = xreallocarray(d->off[r], caprows, sizeof(int64_t));
                d->hash[r] = xreallocarray(d->hash[r], caprows, sizeof(uint64_t));
            }
            if (scol >= 0)
                d->score = xreallocarray(d->score, caprows, sizeof(float));
            if (lcol >= 0)
                d->label = xreallocarray(d->label, caprows, sizeof(int32_t));
            for (int r = 2; r < K; r++)
                if (rlcol[r] >= 0)
                    d->role_label[r] = xreallocarray(d->role_label[r], caprows,
                                                     sizeof(int32_t));
        }
        for (int64_t i = 0; i < c.rows; i++) {
            int64_t row = d->R + i;
            for (int r = 0; r < K; r++) {
                int64_t n;
                const int32_t *x = ctk_col_row(&c, m, cols[r], i, &n);
                if (n == 0)
                    return ctk_err_set(e, "%s: chunk %lld, row %lld: column %s has no tokens",
                                       s->name, (long long)s->chunk_index, (long long)i,
                                       d->role_col[r]);
                d->off[r][row] = (int64_t)nids[r];
                append_i32(&d->ids[r], &nids[r], &capids[r], x, (size_t)n);
                d->hash[r][row] = digest_bytes(0x5eedULL, x, (size_t)n * sizeof *x);
                if (tcols[r] >= 0) {
                    int64_t nt;
                    const int32_t *t = ctk_col_row(&c, m, tcols[r], i, &nt);
                    if (nt != n)
                        return ctk_err_set(e, "%s: chunk %lld, row %lld: %s and its type_ids "
                                           "differ in length", s->name,
                                           (long long)s->chunk_index, (long long)i,
                                           d->role_col[r]);
                    append_i32(&d->type_ids[r], &ntyp[r], &captyp[r], t, (size_t)nt);
                }
            }
            if (scol >= 0) {
                float v = ((const float *)c.cols[scol].data)[i];
                if (!isfinite(v))
                    return ctk_err_set(e, "%s: chunk %lld, row %lld: score is not a number",
                                       s->name, (long long)s->chunk_index, (long long)i);
                d->score[row] = v;
            }
            if (lcol >= 0) {
                int64_t n;
                const char *t = ctk_col_row(&c, m, lcol, i, &n);
                d->label[row] = label_id(&lm, t, (size_t)n);
            }
            for (int r = 2; r < K; r++)
                if (rlcol[r] >= 0) {
                    int64_t n;
                    const char *t = ctk_col_row(&c, m, rlcol[r], i, &n);
                    d->role_label[r][row] = n > 0 ? label_id(&lm, t, (size_t)n) : -1;
                }
        }
        d->R += c.rows;
    }
    ctk_chunk_free(&c);
    for (size_t i = 0; i < lm.n; i++)
        free(lm.names[i]);
    free(lm.names);
    free(lm.slot);
    d->nlabels = (int)lm.n;
    if (rc < 0)
        return -1;
    if (d->R == 0)
        return ctk_err_set(e, "%s: no rows to train on", s->name);
    uint64_t h = 0;
    for (int r = 0; r < K; r++) {
        d->off[r][d->R] = (int64_t)nids[r];
        if (tcols[r] < 0) {
            free(d->type_ids[r]);
            d->type_ids[r] = NULL;
        }
        h = digest_bytes(h, d->ids[r], nids[r] * sizeof(int32_t));
        h = digest_bytes(h, d->off[r], (size_t)(d->R + 1) * sizeof(int64_t));
        if (d->type_ids[r])
            h = digest_bytes(h, d->type_ids[r], nids[r] * sizeof(int32_t));
    }
    if (d->score)
        h = digest_bytes(h, d->score, (size_t)d->R * sizeof(float));
    if (d->label)
        h = digest_bytes(h, d->label, (size_t)d->R * sizeof(int32_t));
    for (int r = 2; r < K; r++)
        if (d->role_label[r])
            h = digest_bytes(h, d->role_label[r], (size_t)d->R * sizeof(int32_t));
    d->digest = h;
    return 0;
}

void ctk_train_data_free(struct ctk_train_data *d)
{
    for (int r = 0; r < d->K; r++) {
        free(d->ids[r]);
        free(d->type_ids[r]);
        free(d->off[r]);
        free(d->hash[r]);
        free(d->role_label[r]);
    }
    free(d->score);
    free(d->label);
    memset(d, 0, sizeof *d);
}

/* --- checkpoint state file (safetensors) ---------------------------------- */

struct wt {
    char name[256];
    const char *dtype; /* "F32" or "I64" */
    int ndim;
    int64_t shape[2];
    const void *data;
    size_t bytes;
};

static int state_write(const char *path, const struct wt *t, size_t n, json_t *meta,
                       struct ctk_err *e)
{
    json_t *hdr = json_object();
    json_object_set_new(hdr, "__metadata__", meta);
    size_t off = 0;
    for (size_t i = 0; i < n; i++) {
        json_t *shape = json_array();
        for (int k = 0; k < t[i].ndim; k++)
            json_array_append_new(shape, json_integer(t[i].shape[k]));
        json_object_set_new(hdr, t[i].name,
                            json_pack("{s:s,s:o,s:[I,I]}", "dtype", t[i].dtype, "shape", shape,
                                      "data_offsets", (json_int_t)off,
                                      (json_int_t)(off + t[i].bytes)));
        off += t[i].bytes;
    }
    char *js = json_dumps(hdr, JSON_COMPACT);
    json_decref(hdr);
    size_t hl = strlen(js), pad = (8 - hl % 8) % 8;
    struct ctk_atomic a;
    if (ctk_atomic_open(&a, path, e) < 0) {
        free(js);
        return -1;
    }
    unsigned char len8[8];
    uint64_t L = hl + pad;
    for (int k = 0; k < 8; k++)
        len8[k] = (unsigned char)(L >> (8 * k));
    fwrite(len8, 1, 8, a.f);
    fwrite(js, 1, hl, a.f);
    for (size_t k = 0; k < pad; k++)
        fputc(' ', a.f);
    free(js);
    for (size_t i = 0; i < n; i++)
        if (t[i].bytes)
            fwrite(t[i].data, 1, t[i].bytes, a.f);
    if (ferror(a.f)) {
        ctk_atomic_abort(&a);
        return ctk_err_set(e, "%s: write failed: %s", path, strerror(errno));
    }
    return ctk_atomic_commit(&a, e);
}

struct state_file {
    char *buf;
    size_t len;
    json_t *hdr;
    const unsigned char *data;
    size_t data_len;
    const char *path;
};

static int state_open(struct state_file *sf, const char *path, struct ctk_err *e)
{
    memset(sf, 0, sizeof *sf);
    sf->path = path;
    sf->buf = ctk_read_file(path, &sf->len, e);
    if (!sf->buf)
        return -1;
    uint64_t L = 0;
    if (sf->len < 8)
        return ctk_err_set(e, "%s: truncated checkpoint state", path);
    for (int k = 0; k < 8; k++)
        L |= (uint64_t)(unsigned char)sf->buf[k] << (8 * k);
    if (L > sf->len - 8)
        return ctk_err_set(e, "%s: corrupt checkpoint state (header length)", path);
    sf->hdr = ctk_json_load_buf(sf->buf + 8, (size_t)L, path, e);
    if (!sf->hdr)
        return -1;
    sf->data = (const unsigned char *)sf->buf + 8 + L;
    sf->data_len = sf->len - 8 - (size_t)L;
    return 0;
}

static void state_close(struct state_file *sf)
{
    json_decref(sf->hdr);
    free(sf->buf);
}

static const char *state_meta(const struct state_file *sf, const char *key)
{
    json_t *m = json_object_get(sf->hdr, "__metadata__");
    json_t *v = m ? json_object_get(m, key) : NULL;
    return v && json_is_string(v) ? json_string_value(v) : NULL;
}

/*
 * Tensor name of dtype with n elements: a pointer to its bytes (unaligned:
 * the caller memcpy's), or NULL with e set.
 */
static const void *state_tensor(const struct state_file *sf, const char *name, const char *dtype,
                                size_t n, size_t esize, struct ctk_err *e)
{
    json_t *t = json_object_get(sf->hdr, name);
    json_t *off = t ? json_object_get(t, "data_offsets") : NULL;
    const char *dt = t ? json_string_value(json_object_get(t, "dtype")) : NULL;
    if (!t || !off || !dt || json_array_size(off) != 2) {
        ctk_err_set(e, "%s: checkpoint state has no tensor %s", sf->path, name);
        return NULL;
    }
    json_int_t b = json_integer_value(json_array_get(off, 0));
    json_int_t en = json_integer_value(json_array_get(off, 1));
    if (strcmp(dt, dtype) != 0 || b < 0 || en < b || (size_t)en > sf->data_len ||
        (size_t)(en - b) != n * esize) {
        ctk_err_set(e, "%s: tensor %s: expected %s with %zu elements", sf->path, name, dtype, n);
        return NULL;
    }
    return sf->data + b;
}

/* --- checkpoints ------------------------------------------------------- */

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static void rm_rf(const char *path)
{
    nftw(path, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

char *ctk_train_latest(const char *dir)
{
    char *lp = ctk_path_join(dir, "latest");
    struct ctk_err e;
    size_t len;
    char *s = ctk_read_file(lp, &len, &e);
    free(lp);
    if (!s)
        return NULL;
    s[strcspn(s, "\n")] = 0;
    if (strncmp(s, "step-", 5) != 0 || strchr(s, '/')) {
        free(s);
        return NULL;
    }
    char *step = ctk_path_join(dir, s);
    char *model = ctk_path_join(step, "model");
    free(step);
    free(s);
    struct stat st;
    if (stat(model, &st) < 0 || !S_ISDIR(st.st_mode)) {
        free(model);
        return NULL;
    }
    return model;
}

void ctk_train_prune(const char *dir)
{
    char *latest = ctk_train_latest(dir);
    if (!latest)
        return;
    *strrchr(latest, '/') = 0;
    const char *keep = strrchr(latest, '/') + 1;
    DIR *dp = opendir(dir);
    struct dirent *de;
    while (dp && (de = readdir(dp)))
        if (strncmp(de->d_name, "step-", 5) == 0 && strcmp(de->d_name, keep) != 0) {
            char *p = ctk_path_join(dir, de->d_name);
            rm_rf(p);
            free(p);
        }
    if (dp)
        closedir(dp);
    free(latest);
}

/* Everything a run depends on besides the data, for the resume check. */
static uint64_t options_digest(const struct ctk_train_opts *o)
{
    char buf[1024];
    snprintf(buf, sizeof buf, "%d %.17g %.17g %d %d|%.17g %.17g %.17g %.17g %.17g %.17g|%.17g "
             "%lld|%lld %lld %lld %lld %llu %d",
             (int)o->loss.kind, o->loss.scale, o->loss.margin, (int)o->loss.distance,
             o->loss.symmetric, o->adamw.lr, o->adamw.beta1, o->adamw.beta2, o->adamw.eps,
             o->adamw.weight_decay, o->adamw.max_grad_norm, o->warmup_ratio,
             (long long)o->warmup_steps, (long long)o->batch_size, (long long)o->epochs,
             (long long)o->max_steps, (long long)o->cache_batch, (unsigned long long)o->seed,
             o->projection_head);
    return digest_bytes(0, buf, strlen(buf));
}

struct run {
    const struct ctk_train_opts *o;
    struct ctk_encoder *enc;
    struct ctk_optim *opt;
    struct ctk_projhead *head; /* or NULL */
    uint64_t digest;     /* data and options */
};

/* Write the optimizer's and head's state for step into path. */
static int save_state(const struct run *r, const char *path, int64_t step, struct ctk_err *e)
{
    struct ctk_optim *opt = r->opt;
    size_t cap = (size_t)opt->np * 3 + 4, n = 0;
    struct wt *t = xcalloc(cap, sizeof *t);
    float **scratch = xcalloc((size_t)opt->np * 2, sizeof *scratch);
    for (int i = 0; i < opt->np; i++) {
        const struct ctk_param *p = opt->p[i];
        if (p->row_len == 0) {
            t[n++] = (struct wt){.dtype = "F32", .ndim = 1, .shape = {(int64_t)p->n},
                                 .data = opt->m[i], .bytes = p->n * sizeof(float)};
            snprintf(t[n - 1].name, sizeof t[n - 1].name, "adam_m.%s", p->name);
            t[n++] = (struct wt){.dtype = "F32", .ndim = 1, .shape = {(int64_t)p->n},
                                 .data = opt->v[i], .bytes = p->n * sizeof(float)};
            snprintf(t[n - 1].name, sizeof t[n - 1].name, "adam_v.%s", p->name);
            continue;
        }
        size_t k = opt->never[i], L = p->row_len;
        float *m = scratch[2 * i] = xmallocarray(k * L + 1, sizeof(float));
        float *v = scratch[2 * i + 1] = xmallocarray(k * L + 1, sizeof(float));
        for (size_t j = 0; j < k; j++) {
            memcpy(m + j * L, opt->m[i] + opt->ever[i][j] * (int64_t)L, L * sizeof(float));
            memcpy(v + j * L, opt->v[i] + opt->ever[i][j] * (int64_t)L, L * sizeof(float));
        }
        t[n++] = (struct wt){.dtype = "I64", .ndim = 1, .shape = {(int64_t)k},
                             .data = opt->ever[i], .bytes = k * sizeof(int64_t)};
        snprintf(t[n - 1].name, sizeof t[n - 1].name, "adam_rows.%s", p->name);
        t[n++] = (struct wt){.dtype = "F32", .ndim = 2, .shape = {(int64_t)k, (int64_t)L},
                             .data = m, .bytes = k * L * sizeof(float)};
        snprintf(t[n - 1].name, sizeof t[n - 1].name, "adam_m.%s", p->name);
        t[n++] = (struct wt){.dtype = "F32", .ndim = 2, .shape = {(int64_t)k, (int64_t)L},
                             .data = v, .bytes = k * L * sizeof(float)};
        snprintf(t[n - 1].name, sizeof t[n - 1].name, "adam_v.%s", p->name);
    }
    if (r->head) {
        int64_t D = r->head->D;
        t[n++] = (struct wt){.name = "head.projection.weight", .dtype = "F32", .ndim = 2,
                             .shape = {D, D}, .data = r->head->w,
                             .bytes = (size_t)(D * D) * sizeof(float)};
        t[n++] = (struct wt){.name = "head.projection.bias", .dtype = "F32", .ndim = 1,
                             .shape = {D}, .data = r->head->b, .bytes = (size_t)D * sizeof(float)};
    }
    char s_step[32], s_t[32], s_dig[32], s_seed[32];
    snprintf(s_step, sizeof s_step, "%lld", (long long)step);
    snprintf(s_t, sizeof s_t, "%lld", (long long)opt->t);
    snprintf(s_dig, sizeof s_dig, "%016llx", (unsigned long long)r->digest);
    snprintf(s_seed, sizeof s_seed, "%llu", (unsigned long long)r->o->seed);
    json_t *meta = json_pack("{s:s,s:s,s:s,s:s,s:s}", "format", "ctk-train-state/1", "step",
                             s_step, "adam_t", s_t, "digest", s_dig, "seed", s_seed);
    int rc = state_write(path, t, n, meta, e);
    for (int i = 0; i < 2 * opt->np; i++)
        free(scratch[i]);
    free(scratch);
    free(t);
    return rc;
}

/* Restore what save_state wrote; returns the step, or -1. */
static int64_t load_state(struct run *r, const char *path, struct ctk_err *e)
{
    struct state_file sf;
    int64_t step = -1;
    if (state_open(&sf, path, e) < 0)
        goto out;
    const char *fmt = state_meta(&sf, "format"), *dig = state_meta(&sf, "digest");
    const char *st = state_meta(&sf, "step"), *at = state_meta(&sf, "adam_t");
    if (!fmt || strcmp(fmt, "ctk-train-state/1") != 0 || !dig || !st || !at) {
        ctk_err_set(e, "%s: not a ctk-train-mnrl checkpoint state", path);
        goto out;
    }
    char want[32];
    snprintf(want, sizeof want, "%016llx", (unsigned long long)r->digest);
    if (strcmp(dig, want) != 0) {
        ctk_err_set(e, "%s: this checkpoint was made from other data or other options; resume "
                    "with the same input and options, or remove the checkpoint folder to start "
                    "over", path);
        goto out;
    }
    struct ctk_optim *opt = r->opt;
    char name[300];
    for (int i = 0; i < opt->np; i++) {
        const struct ctk_param *p = opt->p[i];
        if (p->row_len == 0) {
            const void *m, *v;
            snprintf(name, sizeof name, "adam_m.%s", p->name);
            if (!(m = state_tensor(&sf, name, "F32", p->n, 4, e)))
                goto out;
            snprintf(name, sizeof name, "adam_v.%s", p->name);
            if (!(v = state_tensor(&sf, name, "F32", p->n, 4, e)))
                goto out;
            memcpy(opt->m[i], m, p->n * sizeof(float));
            memcpy(opt->v[i], v, p->n * sizeof(float));
            continue;
        }
        snprintf(name, sizeof name, "adam_rows.%s", p->name);
        json_t *tj = json_object_get(sf.hdr, name);
        json_t *shape = tj ? json_object_get(tj, "shape") : NULL;
        if (!shape || json_array_size(shape) != 1) {
            ctk_err_set(e, "%s: checkpoint state has no tensor %s", path, name);
            goto out;
        }
        size_t k = (size_t)json_integer_value(json_array_get(shape, 0)), L = p->row_len;
        size_t nrow = p->n / L;
        const unsigned char *rows, *m, *v;
        if (!(rows = state_tensor(&sf, name, "I64", k, 8, e)))
            goto out;
        snprintf(name, sizeof name, "adam_m.%s", p->name);
        if (!(m = state_tensor(&sf, name, "F32", k * L, 4, e)))
            goto out;
        snprintf(name, sizeof name, "adam_v.%s", p->name);
        if (!(v = state_tensor(&sf, name, "F32", k * L, 4, e)))
            goto out;
        for (size_t j = 0; j < k; j++) {
            int64_t row;
            memcpy(&row, rows + 8 * j, 8);
            if (row < 0 || (size_t)row >= nrow) {
                ctk_err_set(e, "%s: %s: row %lld out of range", path, name, (long long)row);
                goto out;
            }
            memcpy(opt->m[i] + row * (int64_t)L, m + 4 * j * L, L * sizeof(float));
            memcpy(opt->v[i] + row * (int64_t)L, v + 4 * j * L, L * sizeof(float));
            ctk_optim_mark_ever(opt, i, row);
        }
    }
    if (r->head) {
        int64_t D = r->head->D;
        const void *w, *b;
        if (!(w = state_tensor(&sf, "head.projection.weight", "F32", (size_t)(D * D), 4, e)) ||
            !(b = state_tensor(&sf, "head.projection.bias", "F32", (size_t)D, 4, e)))
            goto out;
        memcpy(r->head->w, w, (size_t)(D * D) * sizeof(float));
        memcpy(r->head->b, b, (size_t)D * sizeof(float));
    }
    opt->t = strtoll(at, NULL, 10);
    step = strtoll(st, NULL, 10);
out:
    state_close(&sf);
    return step;
}

/*
 * Checkpoint after step: DIR/.step-N.tmp-XXXXXX/{model,state.safetensors}
 * renamed to DIR/step-N, then DIR/latest replaced atomically, then the
 * previous step folder removed.
 */
static int checkpoint(const struct run *r, int64_t step, struct ctk_err *e)
{
    const char *dir = r->o->checkpoint_dir;
    if (ctk_mkdirs(dir, e) < 0)
        return -1;
    char name[64], tmpl[64];
    snprintf(name, sizeof name, "step-%lld", (long long)step);
    snprintf(tmpl, sizeof tmpl, ".step-%lld.tmp-XXXXXX", (long long)step);
    char *tmp = ctk_path_join(dir, tmpl), *final = ctk_path_join(dir, name);
    char *old = ctk_train_latest(dir);
    int rc = -1;
    if (!mkdtemp(tmp)) {
        ctk_err_set(e, "%s: cannot make a checkpoint folder: %s", dir, strerror(errno));
        goto out;
    }
    char *model = ctk_path_join(tmp, "model"), *state = ctk_path_join(tmp, "state.safetensors");
    int ok = r->enc->ops->save(r->enc, model, e) == 0 && save_state(r, state, step, e) == 0;
    free(model);
    free(state);
    if (!ok) {
        rm_rf(tmp);
        goto out;
    }
    rm_rf(final); /* a folder of the same step from an earlier, resumed run */
    if (rename(tmp, final) < 0) {
        ctk_err_set(e, "%s: cannot rename checkpoint to %s: %s", tmp, final, strerror(errno));
        rm_rf(tmp);
        goto out;
    }
    char *latest = ctk_path_join(dir, "latest");
    char line[80];
    int n = snprintf(line, sizeof line, "%s\n", name);
    rc = ctk_write_file_atomic(latest, line, (size_t)n, e);
    free(latest);
    if (rc == 0 && old && !r->o->resume) {
        /* old is DIR/step-M/model: remove DIR/step-M unless it is this step's. A resumed
           run keeps the folder its encoder came from (a model's save copies its files);
           ctk_train_prune() removes it at the end. */
        *strrchr(old, '/') = 0;
        if (strcmp(old, final) != 0)
            rm_rf(old);
    }
out:
    free(old);
    free(tmp);
    free(final);
    return rc;
}

/* --- the training loop --------------------------------------------------- */

/* Dropout seed of minibatch k of step s: a function of (seed, s, k) only. */
static uint64_t dropout_seed(uint64_t seed, int64_t s, int64_t k)
{
    uint64_t step = (uint64_t)s * 0x9e3779b97f4a7c15ULL + (uint64_t)k + 1;
    return ctk_splitmix64_mix(ctk_splitmix64_mix(seed ^ 0x64726f706f7574ULL) ^
                              ctk_splitmix64_mix(step));
}

/* The S = K*B sequences of a batch, packed role by role. */
struct packed {
    int32_t *ids, *type_ids;
    int64_t *off;           /* (S+1) */
    int64_t S, N, capN, capS;
    int64_t *moff;          /* (S+1) offsets rebased for one minibatch */
};

static void pack_batch(struct packed *pk, const struct ctk_train_data *d, int Kl,
                       const int64_t *rows, int64_t B)
{
    pk->S = Kl * B;
    if (pk->S + 1 > pk->capS) {
        pk->capS = pk->S + 1;
        pk->off = xreallocarray(pk->off, (size_t)pk->capS, sizeof *pk->off);
        pk->moff = xreallocarray(pk->moff, (size_t)pk->capS, sizeof *pk->moff);
    }
    int64_t N = 0;
    for (int k = 0; k < Kl; k++) {
        int r = k < d->K ? k : 0; /* simcse: the one text twice */
        for (int64_t i = 0; i < B; i++)
            N += d->off[r][rows[i] + 1] - d->off[r][rows[i]];
    }
    if (N > pk->capN) {
        pk->capN = N;
        pk->ids = xreallocarray(pk->ids, (size_t)N, sizeof *pk->ids);
        pk->type_ids = xreallocarray(pk->type_ids, (size_t)N, sizeof *pk->type_ids);
    }
    int64_t at = 0, s = 0;
    for (int k = 0; k < Kl; k++) {
        int r = k < d->K ? k : 0;
        for (int64_t i = 0; i < B; i++, s++) {
            int64_t b = d->off[r][rows[i]], n = d->off[r][rows[i] + 1] - b;
            pk->off[s] = at;
            memcpy(pk->ids + at, d->ids[r] + b, (size_t)n * sizeof(int32_t));
            if (d->type_ids[r])
                memcpy(pk->type_ids + at, d->type_ids[r] + b, (size_t)n * sizeof(int32_t));
            else
                memset(pk->type_ids + at, 0, (size_t)n * sizeof(int32_t));
            at += n;
        }
    }
    pk->off[s] = at;
    pk->N = at;
}

/* Sequences [s0, s1) as a ctk_tokens batch of their own. */
static struct ctk_tokens minibatch(struct packed *pk, int64_t s0, int64_t s1)
{
    for (int64_t s = s0; s <= s1; s++)
        pk->moff[s - s0] = pk->off[s] - pk->off[s0];
    return (struct ctk_tokens){.S = s1 - s0, .ids = pk->ids + pk->off[s0],
                               .type_ids = pk->type_ids + pk->off[s0], .offsets = pk->moff};
}

/* One training step on batch rows; returns the loss, or NAN with e set. */
static double train_step(struct run *r, const struct ctk_train_data *d, struct packed *pk,
                         const int64_t *rows, int64_t B, int64_t step, float *emb, float *demb,
                         double *embd, double *dembd, float *scratch, struct ctk_err *e)
{
    const struct ctk_train_opts *o = r->o;
    struct ctk_encoder *enc = r->enc;
    int Kl = o->loss.kind == CTK_LOSS_SIMCSE ? 2 : d->K;
    int64_t D = enc->dim;
    pack_batch(pk, d, Kl, rows, B);
    int64_t S = pk->S, M = o->cache_batch > 0 ? o->cache_batch : S;
    int64_t nmb = (S + M - 1) / M;

    /* 1. embeddings of every sequence (GradCache: activations of the last run only) */
    for (int64_t k = 0; k < nmb; k++) {
        int64_t s0 = k * M, s1 = s0 + M < S ? s0 + M : S;
        struct ctk_tokens t = minibatch(pk, s0, s1);
        if (enc->ops->forward(enc, &t, emb + s0 * D, 1, dropout_seed(o->seed, step, k), e) < 0)
            return NAN;
    }
    /* 2. loss and d(emb) on the whole batch, through the head if any */
    const float *lin = emb;
    if (r->head) {
        ctk_projhead_forward(r->head, scratch, emb, S);
        lin = scratch;
    }
    for (int64_t i = 0; i < S * D; i++)
        embd[i] = lin[i];
    double *scores = NULL;
    if (d->score) {
        scores = xmallocarray((size_t)B, sizeof *scores);
        for (int64_t i = 0; i < B; i++)
            scores[i] = d->score[rows[i]];
    }
    int32_t *labels = NULL;
    if (d->label) {
        labels = xmallocarray((size_t)B, sizeof *labels);
        for (int64_t i = 0; i < B; i++)
            labels[i] = d->label[rows[i]];
    }
    int32_t *nlabels = NULL;
    for (int k = 2; k < Kl; k++)
        if (d->role_label[k]) {
            if (!nlabels)
                nlabels = xmallocarray((size_t)((Kl - 2) * B), sizeof *nlabels);
            for (int64_t i = 0; i < B; i++)
                nlabels[(k - 2) * B + i] = d->role_label[k][rows[i]];
        }
    if (nlabels)
        for (int k = 2; k < Kl; k++)
            if (!d->role_label[k])
                for (int64_t i = 0; i < B; i++)
                    nlabels[(k - 2) * B + i] = -1;
    double loss = ctk_loss_compute_labeled(&o->loss, Kl, B, D, embd, dembd, scores, labels,
                                           nlabels);
    free(scores);
    free(labels);
    free(nlabels);
    for (int64_t i = 0; i < S * D; i++)
        demb[i] = (float)dembd[i];
    if (r->head) {
        memcpy(scratch, demb, (size_t)(S * D) * sizeof(float));
        ctk_projhead_backward(r->head, demb, scratch, S);
    }
    /* 3. backward: at once, or run by run after a second forward with the same seeds */
    if (nmb == 1) {
        enc->ops->backward(enc, demb);
        if (r->opt)
            ctk_optim_collect(r->opt);
    } else
        for (int64_t k = 0; k < nmb; k++) {
            int64_t s0 = k * M, s1 = s0 + M < S ? s0 + M : S;
            struct ctk_tokens t = minibatch(pk, s0, s1);
            if (enc->ops->forward(enc, &t, scratch, 1, dropout_seed(o->seed, step, k), e) < 0)
                return NAN;
            enc->ops->backward(enc, demb + s0 * D);
            if (r->opt)
                ctk_optim_collect(r->opt);
        }
    return loss;
}

double ctk_train_grads(struct ctk_encoder *enc, const struct ctk_train_data *d,
                       const struct ctk_train_opts *o, const int64_t *rows, int64_t B,
                       struct ctk_err *e)
{
    int Kl = o->loss.kind == CTK_LOSS_SIMCSE ? 2 : d->K;
    size_t n = (size_t)(Kl * B * enc->dim);
    float *emb = xmallocarray(n, sizeof(float)), *demb = xmallocarray(n, sizeof(float));
    float *scratch = xmallocarray(n, sizeof(float));
    double *embd = xmallocarray(n, sizeof(double)), *dembd = xmallocarray(n, sizeof(double));
    struct packed pk = {0};
    struct run r = {.o = o, .enc = enc};
    e->msg[0] = 0;
    ctk_encoder_alloc_grads(enc);
    double loss = train_step(&r, d, &pk, rows, B, 0, emb, demb, embd, dembd, scratch, e);
    free(emb);
    free(demb);
    free(scratch);
    free(embd);
    free(dembd);
    free(pk.ids);
    free(pk.type_ids);
    free(pk.off);
    free(pk.moff);
    return loss;
}

/*
 * Resuming at step: drop the log lines of steps after it (the killed run
 * may have logged steps the checkpoint does not hold), so that the log reads
 * as one run's.
 */
static int truncate_log(const char *path, int64_t step, struct ctk_err *e)
{
    size_t len;
    if (access(path, F_OK) != 0)
        return 0;
    char *text = ctk_read_file(path, &len, e);
    if (!text)
        return -1;
    size_t keep = 0;
    for (char *line = text; *line;) {
        char *nl = strchr(line, '\n');
        size_t n = nl ? (size_t)(nl - line) + 1 : strlen(line);
        char *end;
        long long s = strtoll(line, &end, 10);
        if (end != line && s > step)
            break;
        keep += n;
        line += n;
    }
    int rc = ctk_write_file_atomic(path, text, keep, e);
    free(text);
    return rc;
}

/* Test hook: CTK_TRAIN_KILL_AFTER=N ends the process with SIGKILL after step N. */
static int64_t kill_after(void)
{
    const char *s = getenv("CTK_TRAIN_KILL_AFTER");
    return s && *s ? strtoll(s, NULL, 10) : -1;
}

int ctk_train_run(struct ctk_encoder *enc, const struct ctk_train_data *d,
                  const struct ctk_train_opts *o, struct ctk_err *e)
{
    int Kl = o->loss.kind == CTK_LOSS_SIMCSE ? 2 : d->K;
    int64_t D = enc->dim, B = o->batch_size;
    e->msg[0] = 0;

    /* the batch plan of the whole run */
    struct ctk_train_plan plan = {0};
    int64_t T;
    if (o->max_steps > 0) {
        for (int64_t ep = 0; plan.nbatches < o->max_steps; ep++)
            ctk_train_plan_epoch(&plan, d, B, o->seed, ep);
        T = o->max_steps;
    } else {
        for (int64_t ep = 0; ep < o->epochs; ep++)
            ctk_train_plan_epoch(&plan, d, B, o->seed, ep);
        T = plan.nbatches;
    }
    struct ctk_adamw_opts aw = o->adamw;
    aw.total_steps = T;
    aw.warmup_steps = o->warmup_steps >= 0 ? o->warmup_steps
                                           : (int64_t)ceil(o->warmup_ratio * (double)T);

    ctk_encoder_alloc_grads(enc);
    struct ctk_projhead head, *hp = NULL;
    if (o->projection_head) {
        ctk_projhead_init(&head, D, o->seed);
        hp = &head;
    }
    int np = enc->nparams + (hp ? 2 : 0);
    struct ctk_param **ps = xmallocarray((size_t)np, sizeof *ps);
    for (int i = 0; i < enc->nparams; i++)
        ps[i] = &enc->params[i];
    if (hp) {
        ps[enc->nparams] = &hp->pw;
        ps[enc->nparams + 1] = &hp->pb;
    }
    struct run run = {.o = o, .enc = enc, .head = hp};
    run.opt = ctk_optim_new(ps, np, &aw);
    run.digest = d->digest ^ ctk_splitmix64_mix(options_digest(o) + (uint64_t)enc->dim);
    free(ps);

    int rc = -1;
    int64_t step = 0;
    FILE *log = NULL;
    float *emb = NULL, *demb = NULL, *scratch = NULL;
    double *embd = NULL, *dembd = NULL;
    struct packed pk = {0};
    if (o->resume) {
        char *latest = ctk_train_latest(o->checkpoint_dir);
        if (latest) {
            *strrchr(latest, '/') = 0; /* DIR/step-N */
            char *state = ctk_path_join(latest, "state.safetensors");
            step = load_state(&run, state, e);
            free(state);
            free(latest);
            if (step < 0)
                goto out;
        }
    }
    if (o->log_path && step > 0 && truncate_log(o->log_path, step, e) < 0)
        goto out;
    if (o->log_path) {
        log = fopen(o->log_path, step > 0 ? "a" : "w");
        if (!log) {
            ctk_err_set(e, "%s: cannot write the log: %s", o->log_path, strerror(errno));
            goto out;
        }
        if (step == 0)
            fprintf(log, "step\tepoch\tloss\tlr\tgrad_norm\texamples_per_s\n");
    }

    int64_t maxS = (int64_t)Kl * B;
    emb = xmallocarray((size_t)(maxS * D), sizeof *emb);
    demb = xmallocarray((size_t)(maxS * D), sizeof *demb);
    scratch = xmallocarray((size_t)(maxS * D), sizeof *scratch);
    embd = xmallocarray((size_t)(maxS * D), sizeof *embd);
    dembd = xmallocarray((size_t)(maxS * D), sizeof *dembd);
    int64_t kill_at = kill_after();
    double avg = 0;
    for (; step < T; step++) {
        double t0 = ctk_now();
        const int64_t *rows = plan.rows + plan.start[step];
        int64_t nb = plan.start[step + 1] - plan.start[step];
        double loss = train_step(&run, d, &pk, rows, nb, step, emb, demb, embd, dembd, scratch,
                                 e);
        if (isnan(loss)) {
            if (!e->msg[0])
                ctk_err_set(e, "step %lld: the loss is not a number; lower --lr",
                            (long long)step + 1);
            goto out;
        }
        double lr = ctk_optim_lr(&aw, step);
        double norm = ctk_optim_clip(run.opt);
        ctk_optim_step(run.opt, lr);
        ctk_optim_zero_grad(run.opt);
        if (hp) {
            memset(hp->gw, 0, (size_t)(D * D) * sizeof(float));
            memset(hp->gb, 0, (size_t)D * sizeof(float));
        }
        double dt = ctk_now() - t0;
        avg = step == 0 ? loss : 0.98 * avg + 0.02 * loss;
        if (log) {
            fprintf(log, "%lld\t%lld\t%.9g\t%.9g\t%.9g\t%.2f\n", (long long)step + 1,
                    (long long)plan.epoch[step] + 1, loss, lr, norm,
                    dt > 0 ? (double)nb / dt : 0.0);
            fflush(log);
        }
        ctk_progress("step %lld/%lld  loss %.4f  (running %.4f)  %.1f pairs/s",
                     (long long)step + 1, (long long)T, loss, avg, dt > 0 ? (double)nb / dt : 0);
        if (o->checkpoint_every > 0 && (step + 1) % o->checkpoint_every == 0 && step + 1 < T &&
            checkpoint(&run, step + 1, e) < 0)
            goto out;
        if (step + 1 == kill_at)
            raise(SIGKILL);
    }
    ctk_progress_done();
    rc = 0;
out:
    if (log && fclose(log) != 0 && rc == 0)
        rc = ctk_err_set(e, "%s: write failed: %s", o->log_path, strerror(errno));
    free(emb);
    free(demb);
    free(scratch);
    free(embd);
    free(dembd);
    free(pk.ids);
    free(pk.type_ids);
    free(pk.off);
    free(pk.moff);
    if (hp)
        ctk_projhead_free(hp);
    ctk_optim_free(run.opt);
    ctk_train_plan_free(&plan);
    return rc;
}
