/*
 * head.c -- head files: JSON, written atomically, checked on reading (see head.h).
 */
#include "head.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"

#define HEAD_FORMAT "ctk-head"
#define HEAD_VERSION 1

static json_t *real_array(const double *v, int64_t n);

void ctk_head_free(struct ctk_head *h)
{
    for (int i = 0; i < h->nlabels; i++)
        free(h->labels[i]);
    free(h->labels);
    for (int i = 0; i < h->nhistory; i++)
        free(h->history[i]);
    free(h->history);
    free(h->model);
    ctk_logreg_free(&h->lr);
    ctk_mlp_free(&h->mlp);
    memset(h, 0, sizeof *h);
}

void ctk_head_proba(struct ctk_head *h, const float *X, int64_t N, float *P)
{
    if (h->kind == CTK_HEAD_MLP)
        ctk_mlp_proba(&h->mlp, X, N, P);
    else
        ctk_logreg_proba(&h->lr, X, N, P);
}

/* A layer as {"weight": rows x cols, "bias": rows}. */
static json_t *layer_json(const double *W, const double *b, int64_t rows, int64_t cols)
{
    json_t *l = json_object(), *w = json_array();
    for (int64_t r = 0; r < rows; r++)
        json_array_append_new(w, real_array(W + r * cols, cols));
    json_object_set_new(l, "weight", w);
    json_object_set_new(l, "bias", real_array(b, rows));
    return l;
}

static json_t *real_array(const double *v, int64_t n)
{
    json_t *a = json_array();
    for (int64_t i = 0; i < n; i++)
        json_array_append_new(a, json_real(v[i]));
    return a;
}

static json_t *str_array(char *const *s, int n)
{
    json_t *a = json_array();
    for (int i = 0; i < n; i++)
        json_array_append_new(a, json_string(s[i]));
    return a;
}

int ctk_head_save(const struct ctk_head *h, const char *path, struct ctk_err *e)
{
    const struct ctk_logreg *m = &h->lr;
    const double *all = h->kind == CTK_HEAD_MLP ? h->mlp.params : m->coef;
    int64_t nall = h->kind == CTK_HEAD_MLP ? ctk_mlp_nparams(&h->mlp) : (int64_t)m->rows * m->D;
    for (int64_t t = 0; t < nall; t++)
        if (!isfinite(all[t]))
            return ctk_err_set(e, "%s: not written: weight %lld is not finite", path,
                               (long long)t);
    for (int r = 0; h->kind == CTK_HEAD_LOGREG && r < m->rows; r++)
        if (!isfinite(m->intercept[r]))
            return ctk_err_set(e, "%s: not written: intercept %d is not finite", path, r);

    json_t *o = json_object();
    json_object_set_new(o, "format", json_string(HEAD_FORMAT));
    json_object_set_new(o, "version", json_integer(HEAD_VERSION));
    json_object_set_new(o, "kind", json_string(h->kind == CTK_HEAD_MLP ? "mlp" : "logreg"));
    json_object_set_new(o, "multi_label", json_boolean(h->multilabel));
    json_object_set_new(o, "labels", str_array(h->labels, h->nlabels));
    json_object_set_new(o, "model", h->model ? json_string(h->model) : json_null());
    json_object_set_new(o, "dim", json_integer(h->dim));
    json_object_set_new(o, "normalized", h->normalized < 0 ? json_null()
                                                           : json_boolean(h->normalized));
    if (h->kind == CTK_HEAD_MLP) {
        const struct ctk_mlp *p = &h->mlp;
        json_object_set_new(o, "hidden", json_integer(p->H));
        json_object_set_new(o, "alpha", json_real(h->alpha));
        json_object_set_new(o, "seed", json_integer((json_int_t)h->seed));
        json_object_set_new(o, "class_weight", json_string(h->balanced ? "balanced" : "none"));
        json_t *layers = json_array();
        json_array_append_new(layers, layer_json(p->W1, p->b1, p->H, p->D));
        json_array_append_new(layers, layer_json(p->W2, p->b2, p->K, p->H));
        json_object_set_new(o, "layers", layers);
    } else {
        json_object_set_new(o, "C", json_real(h->C));
        json_object_set_new(o, "class_weight", json_string(h->balanced ? "balanced" : "none"));
        json_t *coef = json_array();
        for (int r = 0; r < m->rows; r++)
            json_array_append_new(coef, real_array(m->coef + (int64_t)r * m->D, m->D));
        json_object_set_new(o, "coef", coef);
        json_object_set_new(o, "intercept", real_array(m->intercept, m->rows));
    }
    json_t *fit = json_object();
    json_object_set_new(fit, "rows", json_integer(h->fit_rows));
    json_object_set_new(fit, "iterations", json_integer(h->fit.iterations));
    json_object_set_new(fit, "loss", json_real(isfinite(h->fit.loss) ? h->fit.loss : 0));
    json_object_set_new(fit, "converged", json_boolean(h->fit.converged));
    json_object_set_new(o, "fit", fit);
    json_object_set_new(o, "history", str_array(h->history, h->nhistory));
    int rc = ctk_json_save_file(o, path, e);
    json_decref(o);
    return rc;
}

/* A JSON array of n numbers into v; -1 with e set otherwise. */
static int numbers(const json_t *a, double *v, int64_t n, const char *path, const char *what,
                   struct ctk_err *e)
{
    if (!json_is_array(a) || (int64_t)json_array_size(a) != n)
        return ctk_err_set(e, "%s: %s should be an array of %lld numbers", path, what,
                           (long long)n);
    for (int64_t i = 0; i < n; i++) {
        const json_t *x = json_array_get(a, (size_t)i);
        if (!json_is_number(x) || !isfinite(json_number_value(x)))
            return ctk_err_set(e, "%s: %s[%lld] is not a finite number", path, what,
                               (long long)i);
        v[i] = json_number_value(x);
    }
    return 0;
}

static int strings(const json_t *a, char ***out, int *n, const char *path, const char *what,
                   struct ctk_err *e)
{
    if (!json_is_array(a))
        return ctk_err_set(e, "%s: %s should be an array of strings", path, what);
    *n = (int)json_array_size(a);
    *out = xcalloc(*n > 0 ? (size_t)*n : 1, sizeof **out);
    for (int i = 0; i < *n; i++) {
        const json_t *s = json_array_get(a, (size_t)i);
        if (!json_is_string(s))
            return ctk_err_set(e, "%s: %s[%d] is not a string", path, what, i);
        (*out)[i] = xstrdup(json_string_value(s));
    }
    return 0;
}

/* A layer {"weight": rows x cols, "bias": rows} into W, b. */
static int load_layer(const json_t *l, double *W, double *b, int64_t rows, int64_t cols,
                      const char *path, int index, struct ctk_err *e)
{
    char what[64];
    const json_t *w = json_object_get(l, "weight");
    if (!json_is_object(l) || !json_is_array(w) || (int64_t)json_array_size(w) != rows)
        return ctk_err_set(e, "%s: layers[%d] should have a weight of %lld rows of %lld numbers "
                           "and a bias of %lld", path, index, (long long)rows, (long long)cols,
                           (long long)rows);
    for (int64_t r = 0; r < rows; r++) {
        snprintf(what, sizeof what, "layers[%d].weight[%lld]", index, (long long)r);
        if (numbers(json_array_get(w, (size_t)r), W + r * cols, cols, path, what, e))
            return -1;
    }
    snprintf(what, sizeof what, "layers[%d].bias", index);
    return numbers(json_object_get(l, "bias"), b, rows, path, what, e);
}

static int load_mlp(struct ctk_head *h, const json_t *o, const char *path, struct ctk_err *e)
{
    int64_t hidden, seed;
    if (ctk_json_get_int(o, "hidden", 0, &hidden, path, e) ||
        ctk_json_get_num(o, "alpha", 1e-4, &h->alpha, path, e) ||
        ctk_json_get_int(o, "seed", 0, &seed, path, e))
        return -1;
    if (hidden < 1 || hidden > (1 << 20))
        return ctk_err_set(e, "%s: hidden %lld is out of range (1 to %d)", path,
                           (long long)hidden, 1 << 20);
    h->seed = (uint64_t)seed;
    ctk_mlp_init(&h->mlp, h->nlabels, h->dim, (int)hidden, h->multilabel);
    const json_t *layers = json_object_get(o, "layers");
    if (!json_is_array(layers) || json_array_size(layers) != 2)
        return ctk_err_set(e, "%s: an mlp head should have 2 layers", path);
    if (load_layer(json_array_get(layers, 0), h->mlp.W1, h->mlp.b1, hidden, h->dim, path, 0, e) ||
        load_layer(json_array_get(layers, 1), h->mlp.W2, h->mlp.b2, h->nlabels, hidden, path, 1,
                   e))
        return -1;
    return 0;
}

static int load(struct ctk_head *h, const json_t *o, const char *path, struct ctk_err *e)
{
    const char *fmt, *kind, *cw, *model;
    int64_t version, dim;
    if (!json_is_object(o))
        return ctk_err_set(e, "%s: not a ctk head file (not a JSON object)", path);
    if (ctk_json_get_str(o, "format", NULL, &fmt, path, e))
        return -1;
    if (!fmt || strcmp(fmt, HEAD_FORMAT) != 0)
        return ctk_err_set(e, "%s: not a ctk head file (no \"format\": \"%s\"); make one with "
                           "ctk-fit-head", path, HEAD_FORMAT);
    if (ctk_json_get_int(o, "version", 0, &version, path, e))
        return -1;
    if (version != HEAD_VERSION)
        return ctk_err_set(e, "%s: head file version %lld, this ctk reads version %d",
                           path, (long long)version, HEAD_VERSION);
    if (ctk_json_get_str(o, "kind", NULL, &kind, path, e))
        return -1;
    if (kind && strcmp(kind, "logreg") == 0)
        h->kind = CTK_HEAD_LOGREG;
    else if (kind && strcmp(kind, "mlp") == 0)
        h->kind = CTK_HEAD_MLP;
    else
        return ctk_err_set(e, "%s: head kind '%s' is not known (known: logreg, mlp)", path,
                           kind ? kind : "(none)");
    if (ctk_json_get_bool(o, "multi_label", 0, &h->multilabel, path, e) ||
        ctk_json_get_str(o, "model", NULL, &model, path, e) ||
        ctk_json_get_int(o, "dim", 0, &dim, path, e) ||
        ctk_json_get_num(o, "C", 1.0, &h->C, path, e) ||
        ctk_json_get_str(o, "class_weight", "none", &cw, path, e))
        return -1;
    h->model = model ? xstrdup(model) : NULL;
    h->balanced = strcmp(cw, "balanced") == 0;
    const json_t *nz = json_object_get(o, "normalized");
    h->normalized = json_is_boolean(nz) ? json_is_true(nz) : -1;
    if (strings(json_object_get(o, "labels"), &h->labels, &h->nlabels, path, "labels", e))
        return -1;
    if (h->nlabels < (h->multilabel ? 1 : 2))
        return ctk_err_set(e, "%s: a head needs at least %d labels, this one has %d", path,
                           h->multilabel ? 1 : 2, h->nlabels);
    for (int i = 0; i < h->nlabels; i++)
        for (int j = 0; j < i; j++)
            if (strcmp(h->labels[i], h->labels[j]) == 0)
                return ctk_err_set(e, "%s: label '%s' is listed twice", path, h->labels[i]);
    if (dim < 1 || dim > (1 << 24))
        return ctk_err_set(e, "%s: dim %lld is out of range (1 to %d)", path, (long long)dim,
                           1 << 24);
    h->dim = dim;
    if (h->kind == CTK_HEAD_MLP) {
        if (load_mlp(h, o, path, e))
            return -1;
    } else {
        ctk_logreg_init(&h->lr, h->nlabels, dim, h->multilabel);
        const json_t *coef = json_object_get(o, "coef");
        if (!json_is_array(coef) || (int)json_array_size(coef) != h->lr.rows)
            return ctk_err_set(e, "%s: coef should have %d rows of %lld numbers (%d labels%s)",
                               path, h->lr.rows, (long long)dim, h->nlabels,
                               h->lr.rows == 1 ? ", binary" : "");
        for (int r = 0; r < h->lr.rows; r++) {
            char what[32];
            snprintf(what, sizeof what, "coef[%d]", r);
            if (numbers(json_array_get(coef, (size_t)r), h->lr.coef + (int64_t)r * dim, dim,
                        path, what, e))
                return -1;
        }
        if (numbers(json_object_get(o, "intercept"), h->lr.intercept, h->lr.rows, path,
                    "intercept", e))
            return -1;
    }
    const json_t *fit = json_object_get(o, "fit");
    if (json_is_object(fit)) {
        int64_t rows = 0, it = 0;
        if (ctk_json_get_int(fit, "rows", 0, &rows, path, e) ||
            ctk_json_get_int(fit, "iterations", 0, &it, path, e) ||
            ctk_json_get_num(fit, "loss", 0, &h->fit.loss, path, e) ||
            ctk_json_get_bool(fit, "converged", 1, &h->fit.converged, path, e))
            return -1;
        h->fit_rows = rows;
        h->fit.iterations = (int)it;
    }
    const json_t *hist = json_object_get(o, "history");
    if (hist && strings(hist, &h->history, &h->nhistory, path, "history", e))
        return -1;
    return 0;
}

static int load_json(struct ctk_head *h, json_t *o, const char *what, struct ctk_err *e)
{
    if (!o)
        return -1;
    int rc = load(h, o, what, e);
    json_decref(o);
    if (rc)
        ctk_head_free(h);
    return rc;
}

int ctk_head_load(struct ctk_head *h, const char *path, struct ctk_err *e)
{
    memset(h, 0, sizeof *h);
    return load_json(h, ctk_json_load_file(path, e), path, e);
}

int ctk_head_load_buf(struct ctk_head *h, const char *buf, size_t len, const char *what,
                      struct ctk_err *e)
{
    memset(h, 0, sizeof *h);
    return load_json(h, ctk_json_load_buf(buf, len, what, e), what, e);
}

int ctk_head_check_meta(const struct ctk_head *h, const struct ctk_stream_meta *m,
                        const char *what, const char *head_path, struct ctk_err *e)
{
    const char *hm = h->model ? h->model : "(none)";
    const char *sm = m->model ? m->model : "(none)";
    if (strcmp(hm, sm) != 0)
        return ctk_err_set(e, "%s holds embeddings of model '%s', but the head %s was fitted on "
                           "embeddings of model '%s': encode with that model, or fit a head on "
                           "these embeddings", what, sm, head_path, hm);
    if (m->dim != 0 && m->dim != h->dim)
        return ctk_err_set(e, "%s holds embeddings of dimension %lld, but the head %s was "
                           "fitted on dimension %lld", what, (long long)m->dim, head_path,
                           (long long)h->dim);
    return 0;
}

int ctk_emb_column(const struct ctk_stream_meta *m, const char *name, const char *what,
                   int64_t *d, struct ctk_err *e)
{
    int i = ctk_meta_find(m, name);
    if (i < 0)
        return ctk_err_set(e, "%s has no '%s' column (an embedding stream from ctk-encode has "
                           "one; --emb-column names another)", what, name);
    const struct ctk_col_spec *c = &m->cols[i];
    if (c->kind != CTK_COL_DENSE || c->dtype != CTK_F32 || c->width < 1)
        return ctk_err_set(e, "%s: column '%s' is not a dense F32 embedding column (kind %d, "
                           "%s, width %lld)", what, name, (int)c->kind, ctk_dtype_name(c->dtype),
                           (long long)c->width);
    if (m->dim != 0 && m->dim != c->width)
        return ctk_err_set(e, "%s: column '%s' has width %lld but the stream says dim %lld",
                           what, name, (long long)c->width, (long long)m->dim);
    *d = c->width;
    return i;
}

void ctk_labeled_free(struct ctk_labeled *L)
{
    free(L->emb);
    free(L->text);
    free(L->off);
    ctk_meta_free(&L->meta);
    memset(L, 0, sizeof *L);
}

int ctk_labeled_read(struct ctk_labeled *L, const char *path, const char *emb_col,
                     const char *label_col, struct ctk_err *e)
{
    struct ctk_stream s;
    struct ctk_chunk c = {0};
    memset(L, 0, sizeof *L);
    if (ctk_stream_open_read(&s, path, e))
        return -1;
    const char *what = path && strcmp(path, "-") ? path : "stdin";
    int ie = ctk_emb_column(&s.meta, emb_col, what, &L->d, e);
    int il = ctk_meta_find(&s.meta, label_col);
    if (ie >= 0 && il < 0)
        ctk_err_set(e, "%s has no '%s' column: labeled embeddings need one (--label-column "
                    "names another)", what, label_col);
    else if (ie >= 0 && s.meta.cols[il].kind != CTK_COL_STRING)
        ctk_err_set(e, "%s: column '%s' is not a string column", what, label_col);
    if (ie < 0 || il < 0 || s.meta.cols[il].kind != CTK_COL_STRING) {
        ctk_stream_close(&s, NULL);
        return -1;
    }
    ctk_meta_copy(&L->meta, &s.meta);
    int64_t cap = 0;
    size_t tlen = 0, tcap = 0;
    L->off = xmallocarray(1, sizeof *L->off);
    L->off[0] = 0;
    int rc;
    while ((rc = ctk_chunk_read(&s, &c, e)) == 1) {
        if (L->n + c.rows > cap) {
            cap = (L->n + c.rows) * 2;
            L->emb = xreallocarray(L->emb, (size_t)cap, (size_t)L->d * sizeof *L->emb);
            L->off = xreallocarray(L->off, (size_t)cap + 1, sizeof *L->off);
        }
        memcpy(L->emb + L->n * L->d, c.cols[ie].data, (size_t)c.rows * L->d * sizeof *L->emb);
        for (int64_t r = 0; r < c.rows; r++) {
            int64_t len;
            const char *t = ctk_col_row(&c, &s.meta, il, r, &len);
            if (tlen + (size_t)len + 1 > tcap) {
                tcap = (tlen + (size_t)len + 1) * 2;
                L->text = xrealloc(L->text, tcap);
            }
            memcpy(L->text + tlen, t, (size_t)len);
            L->text[tlen + len] = 0;
            tlen += (size_t)len + 1;
            L->off[L->n + r + 1] = (int64_t)tlen;
        }
        L->n += c.rows;
    }
    ctk_chunk_free(&c);
    if (rc < 0) {
        ctk_stream_close(&s, NULL);
        ctk_labeled_free(L);
        return -1;
    }
    if (ctk_stream_close(&s, e)) {
        ctk_labeled_free(L);
        return -1;
    }
    if (!L->text)
        L->text = xcalloc(1, 1);
    for (int64_t t = 0; t < L->n * L->d; t++)
        if (!isfinite(L->emb[t])) {
            ctk_err_set(e, "%s: row %lld has a non-finite embedding value", what,
                        (long long)(t / L->d + 1));
            ctk_labeled_free(L);
            return -1;
        }
    return 0;
}
