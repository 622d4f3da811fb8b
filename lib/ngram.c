/*
 * ngram.c -- the built-in hashed n-gram encoder (see ngram.h for the
 * features, the hash, the model and its memory).
 *
 * Layer code after llm.c: forward saves what backward needs (the pooled bag
 * p, the activation h, its norm, the kept features), backward reads the
 * forward bottom-up and accumulates (+=) into the gradients.
 */
#include "config.h"
#include "ngram.h"

#include <cblas.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <utf8proc.h>

#include "fsutil.h"
#include "hash.h"
#include "json.h"
#include "rng.h"
#include "safetensors.h"

/* --- the hash ------------------------------------------------------------ */

static inline uint64_t fnv_start(uint64_t seed, char tag)
{
    return ctk_fnv1a64(CTK_FNV1A64_OFFSET ^ seed, &tag, 1);
}

uint64_t ctk_ngram_hash(uint64_t seed, char tag, const char *s, size_t n)
{
    return ctk_fmix64(ctk_fnv1a64(fnv_start(seed, tag), s, n));
}

/* --- configuration ------------------------------------------------------- */

void ctk_ngram_cfg_default(struct ctk_ngram_cfg *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    cfg->buckets = 1 << 18;
    cfg->dim = 256;
    cfg->word_min = 1;
    cfg->word_max = 2;
    cfg->char_min = 3;
    cfg->char_max = 5;
    cfg->hash_seed = 0;
    cfg->init_seed = 1;
    cfg->init_std = 1.0 / sqrt(256.0);
    cfg->dense = 0;
    cfg->activation = CTK_NGRAM_TANH;
    cfg->pooling = CTK_NGRAM_MEAN;
    cfg->feature_dropout = 0.1;
    cfg->max_features = 8192;
}

static int cfg_check(const struct ctk_ngram_cfg *c, const char *what, struct ctk_err *e)
{
    if (c->buckets < 1 || c->buckets > ((int64_t)1 << 31) - 1)
        return ctk_err_set(e, "%s: buckets %lld is out of range (1 to 2^31-1)", what,
                           (long long)c->buckets);
    if (c->dim < 1 || c->dim > 65536)
        return ctk_err_set(e, "%s: dim %lld is out of range (1 to 65536)", what, (long long)c->dim);
    if (c->word_min < 0 || c->word_max < c->word_min || c->word_max > 8 ||
        (c->word_min == 0 && c->word_max != 0))
        return ctk_err_set(e, "%s: word n-gram range %d-%d is invalid (0-0 or 1 <= min <= max <= 8)",
                           what, c->word_min, c->word_max);
    if (c->char_min < 0 || c->char_max < c->char_min || c->char_max > 16 ||
        (c->char_min == 0 && c->char_max != 0))
        return ctk_err_set(e, "%s: character n-gram range %d-%d is invalid (0-0 or 1 <= min <= max <= 16)",
                           what, c->char_min, c->char_max);
    if (!(c->init_std > 0 && c->init_std < 1e6))
        return ctk_err_set(e, "%s: init_std %g must be positive", what, c->init_std);
    if (!(c->feature_dropout >= 0 && c->feature_dropout < 1))
        return ctk_err_set(e, "%s: feature_dropout %g must be in [0, 1)", what, c->feature_dropout);
    if (c->max_features < 1 || c->max_features > ((int64_t)1 << 30))
        return ctk_err_set(e, "%s: max_features %lld is out of range", what, (long long)c->max_features);
    return 0;
}

static int get_range(const json_t *cfg, const char *key, int *lo, int *hi, const char *what,
                     struct ctk_err *e)
{
    json_t *v = json_object_get(cfg, key);
    if (!v || json_is_null(v))
        return 0;
    if (!json_is_array(v) || json_array_size(v) != 2 || !json_is_integer(json_array_get(v, 0)) ||
        !json_is_integer(json_array_get(v, 1)))
        return ctk_err_set(e, "%s: \"%s\" must be a list of two integers [min, max]", what, key);
    json_int_t a = json_integer_value(json_array_get(v, 0)), b = json_integer_value(json_array_get(v, 1));
    if (a < 0 || a > 64 || b < 0 || b > 64)
        return ctk_err_set(e, "%s: \"%s\" [%lld, %lld] is out of range", what, key, (long long)a,
                           (long long)b);
    *lo = (int)a;
    *hi = (int)b;
    return 0;
}

static int cfg_from_json(const json_t *j, struct ctk_ngram_cfg *c, const char *what, struct ctk_err *e)
{
    const char *s;
    int64_t v;
    int b;
    ctk_ngram_cfg_default(c);
    if (ctk_json_get_str(j, "model_type", NULL, &s, what, e) < 0) return -1;
    if (!s || strcmp(s, "ctk-ngram") != 0)
        return ctk_err_set(e, "%s: model_type is \"%s\", not \"ctk-ngram\"", what, s ? s : "(none)");
    if (ctk_json_get_int(j, "buckets", c->buckets, &c->buckets, what, e) < 0) return -1;
    if (ctk_json_get_int(j, "dim", c->dim, &c->dim, what, e) < 0) return -1;
    c->init_std = 1.0 / sqrt((double)(c->dim > 0 ? c->dim : 1));
    if (get_range(j, "word_ngrams", &c->word_min, &c->word_max, what, e) < 0) return -1;
    if (get_range(j, "char_ngrams", &c->char_min, &c->char_max, what, e) < 0) return -1;
    if (ctk_json_get_int(j, "hash_seed", 0, &v, what, e) < 0) return -1;
    c->hash_seed = (uint64_t)v;
    if (ctk_json_get_int(j, "init_seed", 1, &v, what, e) < 0) return -1;
    c->init_seed = (uint64_t)v;
    if (ctk_json_get_num(j, "init_std", c->init_std, &c->init_std, what, e) < 0) return -1;
    if (ctk_json_get_bool(j, "dense", 0, &b, what, e) < 0) return -1;
    c->dense = b;
    if (ctk_json_get_str(j, "activation", "tanh", &s, what, e) < 0) return -1;
    if (strcmp(s, "tanh") == 0) c->activation = CTK_NGRAM_TANH;
    else if (strcmp(s, "identity") == 0) c->activation = CTK_NGRAM_IDENTITY;
    else return ctk_err_set(e, "%s: activation \"%s\" is not tanh or identity", what, s);
    if (ctk_json_get_str(j, "pooling", "mean", &s, what, e) < 0) return -1;
    if (strcmp(s, "mean") == 0) c->pooling = CTK_NGRAM_MEAN;
    else if (strcmp(s, "sqrtn") == 0) c->pooling = CTK_NGRAM_SQRTN;
    else return ctk_err_set(e, "%s: pooling \"%s\" is not mean or sqrtn", what, s);
    if (ctk_json_get_num(j, "feature_dropout", c->feature_dropout, &c->feature_dropout, what, e) < 0)
        return -1;
    if (ctk_json_get_int(j, "max_features", c->max_features, &c->max_features, what, e) < 0) return -1;
    return cfg_check(c, what, e);
}

int ctk_ngram_cfg_load(const char *dir, struct ctk_ngram_cfg *cfg, struct ctk_err *e)
{
    if (!dir) {
        ctk_ngram_cfg_default(cfg);
        return 0;
    }
    char *path = ctk_path_join(dir, "config.json");
    json_t *j = ctk_json_load_file(path, e);
    int rc = j ? cfg_from_json(j, cfg, path, e) : -1;
    json_decref(j);
    free(path);
    return rc;
}

void ctk_ngram_features_name(const struct ctk_ngram_cfg *c, char *buf, size_t size)
{
    snprintf(buf, size, "ctk-ngram-features/v1 b=%lld w=%d-%d c=%d-%d seed=%llu",
             (long long)c->buckets, c->word_min, c->word_max, c->char_min, c->char_max,
             (unsigned long long)c->hash_seed);
}

/* --- the featuriser ----------------------------------------------------- */

static int is_word_cp(utf8proc_int32_t c)
{
    if (c == '_') return 1;
    switch (utf8proc_category(c)) {
    case UTF8PROC_CATEGORY_LU: case UTF8PROC_CATEGORY_LL: case UTF8PROC_CATEGORY_LT:
    case UTF8PROC_CATEGORY_LM: case UTF8PROC_CATEGORY_LO:
    case UTF8PROC_CATEGORY_MN: case UTF8PROC_CATEGORY_MC: case UTF8PROC_CATEGORY_ME:
    case UTF8PROC_CATEGORY_ND: case UTF8PROC_CATEGORY_NL: case UTF8PROC_CATEGORY_NO:
        return 1;
    default:
        return 0;
    }
}

static int is_space_cp(utf8proc_int32_t c)
{
    switch (utf8proc_category(c)) {
    case UTF8PROC_CATEGORY_ZS: case UTF8PROC_CATEGORY_ZL: case UTF8PROC_CATEGORY_ZP:
    case UTF8PROC_CATEGORY_CC: case UTF8PROC_CATEGORY_CF:
        return 1;
    default:
        return 0;
    }
}

struct feat_out {
    int32_t *ids;
    int64_t cap, n;
    uint64_t buckets;
};

static inline void emit(struct feat_out *o, uint64_t h)
{
    if (o->n < o->cap)
        o->ids[o->n] = (int32_t)(ctk_fmix64(h) % o->buckets);
    o->n++;
}

int64_t ctk_ngram_features(const struct ctk_ngram_cfg *cfg, const char *text, size_t len,
                           int32_t *ids, int64_t cap)
{
    /* Decode and lower-case into lb (UTF-8 again), cp k spanning lb[off[k]..off[k+1]). */
    char *lb = xmalloc(len * 3 + 8);  /* a lower-cased code point never needs more than 3x an input byte */
    size_t *off = xmallocarray(len + 2, sizeof *off);
    unsigned char *word = xmalloc(len + 1);
    size_t ncp = 0, nb = 0;
    const utf8proc_uint8_t *p = (const utf8proc_uint8_t *)text;
    size_t i = 0;
    while (i < len) {
        utf8proc_int32_t c;
        utf8proc_ssize_t k = utf8proc_iterate(p + i, (utf8proc_ssize_t)(len - i), &c);
        if (k < 1) {
            c = 0xFFFD;
            k = 1;
        }
        i += (size_t)k;
        c = utf8proc_tolower(c);
        off[ncp] = nb;
        word[ncp] = (unsigned char)is_word_cp(c);
        if (!word[ncp] && is_space_cp(c))
            word[ncp] = 2;
        nb += (size_t)utf8proc_encode_char(c, (utf8proc_uint8_t *)lb + nb);
        ncp++;
    }
    off[ncp] = nb;
    /* An apostrophe between two word characters stays in the word. */
    for (size_t k = 1; k + 1 < ncp; k++) {
        size_t bl = off[k + 1] - off[k];
        int apos = (bl == 1 && lb[off[k]] == '\'') ||
                   (bl == 3 && memcmp(lb + off[k], "\xe2\x80\x99", 3) == 0);
        if (apos && word[k - 1] == 1 && word[k + 1] == 1)
            word[k] = 1;
    }

    /* Tokens: [tb[t], te[t]) in code points; tw[t] = 1 for a word. */
    size_t ntok = 0;
    size_t *tb = xmallocarray(ncp + 1, sizeof *tb), *te = xmallocarray(ncp + 1, sizeof *te);
    unsigned char *tw = xmalloc(ncp + 1);
    for (size_t k = 0; k < ncp;) {
        if (word[k] == 2) {
            k++;
            continue;
        }
        size_t b = k;
        if (word[k] == 1)
            while (k < ncp && word[k] == 1) k++;
        else
            k++;
        tb[ntok] = b;
        te[ntok] = k;
        tw[ntok] = word[b] == 1;
        ntok++;
    }

    struct feat_out o = {ids, cap, 0, (uint64_t)cfg->buckets};
    for (size_t t = 0; t < ntok; t++) {
        /* word n-grams ending at t, shortest first */
        for (int n = cfg->word_min; n >= 1 && n <= cfg->word_max; n++) {
            if ((size_t)n > t + 1) break;
            uint64_t h = fnv_start(cfg->hash_seed, 'w');
            for (size_t u = t + 1 - (size_t)n; u <= t; u++) {
                if (u > t + 1 - (size_t)n) h = ctk_fnv1a64(h, " ", 1);
                h = ctk_fnv1a64(h, lb + off[tb[u]], off[te[u]] - off[tb[u]]);
            }
            emit(&o, h);
        }
        if (!tw[t] || cfg->char_min < 1) continue;
        /* character n-grams of "<word>": virtual positions 0 .. L+1 */
        size_t L = te[t] - tb[t];
        for (size_t s = 0; s < L + 2; s++) {
            uint64_t h = fnv_start(cfg->hash_seed, 'c');
            for (size_t n = 1; n <= (size_t)cfg->char_max && s + n <= L + 2; n++) {
                size_t v = s + n - 1;
                if (v == 0) h = ctk_fnv1a64(h, "<", 1);
                else if (v == L + 1) h = ctk_fnv1a64(h, ">", 1);
                else {
                    size_t cp = tb[t] + v - 1;
                    h = ctk_fnv1a64(h, lb + off[cp], off[cp + 1] - off[cp]);
                }
                if (n >= (size_t)cfg->char_min) emit(&o, h);
            }
        }
    }
    free(lb);
    free(off);
    free(word);
    free(tb);
    free(te);
    free(tw);
    return o.n;
}

/* --- initial rows ----------------------------------------------------- */

/*
 * Row r: lib/rng.h's stream r of init_seed (ctk_rng_seed_stream), D normal
 * draws (Box-Muller, rounded to float) times init_std. Only (init_seed, r)
 * matter, so rows can be made in any order, on demand.
 */
void ctk_ngram_init_row(const struct ctk_ngram_cfg *cfg, int64_t r, float *row)
{
    struct ctk_rng g;
    ctk_rng_seed_stream(&g, cfg->init_seed, (uint64_t)r);
    ctk_rng_fill_normal(&g, row, (size_t)cfg->dim, 0.0f, (float)cfg->init_std);
}

/* --- the encoder --------------------------------------------------------- */

struct ngram {
    struct ctk_ngram_cfg cfg;
    float *emb;             /* (V, D) rows made on first use */
    unsigned char *made;    /* (V) 1 once row r of emb holds a value */
    float *dense_w;         /* (D, D) PyTorch Linear layout (out, in) */
    float *dense_b;         /* (D) */
    /* saved by the last training forward */
    int64_t S, N;
    int32_t *ids;           /* (N) ids of the batch */
    int64_t *off;           /* (S+1) */
    unsigned char *keep;    /* (N) 1 when the occurrence was not dropped */
    float *scale;           /* (S) pooling factor 1/n or 1/sqrt(n) over kept features */
    float *pooled;          /* (S, D) p */
    float *act;             /* (S, D) h */
    float *out;             /* (S, D) h / |h| */
    float *norm;            /* (S) max(|h|, eps) */
    size_t cap_N, cap_S;
    /* the set of touched rows: stamp[r] == epoch */
    uint32_t *stamp;        /* (V) */
    uint32_t epoch;
    size_t touched_cap;
};

#define NORM_EPS 1e-12f

static struct ngram *impl(struct ctk_encoder *enc) { return enc->impl; }

static void ensure_row(struct ngram *m, int64_t r)
{
    if (!m->made[r]) {
        ctk_ngram_init_row(&m->cfg, r, m->emb + r * m->cfg.dim);
        m->made[r] = 1;
    }
}

static void reserve_saved(struct ngram *m, int64_t S, int64_t N)
{
    size_t D = (size_t)m->cfg.dim;
    if ((size_t)N > m->cap_N) {
        m->cap_N = (size_t)N + (size_t)N / 2 + 16;
        m->ids = xreallocarray(m->ids, m->cap_N, sizeof *m->ids);
        m->keep = xreallocarray(m->keep, m->cap_N, 1);
    }
    if ((size_t)S > m->cap_S) {
        m->cap_S = (size_t)S + (size_t)S / 2 + 4;
        m->off = xreallocarray(m->off, m->cap_S + 1, sizeof *m->off);
        m->scale = xreallocarray(m->scale, m->cap_S, sizeof *m->scale);
        m->norm = xreallocarray(m->norm, m->cap_S, sizeof *m->norm);
        m->pooled = xreallocarray(m->pooled, m->cap_S * D, sizeof(float));
        m->act = xreallocarray(m->act, m->cap_S * D, sizeof(float));
        m->out = xreallocarray(m->out, m->cap_S * D, sizeof(float));
    }
}

/* Dropout decision for occurrence k of sequence s under seed: a hash, so GradCache's replay agrees. */
static int dropped(uint64_t seed, int64_t s, int64_t k, double p)
{
    if (p <= 0) return 0;
    uint64_t x = ctk_fmix64(seed ^ ctk_fmix64(((uint64_t)s << 32) ^ (uint64_t)k ^ 0x5bd1e995ULL));
    return (double)(x >> 11) * 0x1.0p-53 < p;
}

/*
 * Bag pooling: pooled[s] = scale[s] * sum of kept rows of sequence s.
 * Rows are made here on first use.
 */
static void bag_forward(float *pooled, float *scale, unsigned char *keep, struct ngram *m,
                        const struct ctk_tokens *t, int train, uint64_t seed)
{
    int64_t D = m->cfg.dim;
    double p = train ? m->cfg.feature_dropout : 0.0;
    for (int64_t s = 0; s < t->S; s++) {
        float *ps = pooled + s * D;
        memset(ps, 0, (size_t)D * sizeof *ps);
        int64_t kept = 0;
        for (int64_t k = t->offsets[s]; k < t->offsets[s + 1]; k++) {
            int64_t r = t->ids[k];
            int kp = !dropped(seed, s, k - t->offsets[s], p);
            if (keep) keep[k - t->offsets[0]] = (unsigned char)kp;
            if (!kp) continue;
            ensure_row(m, r);
            const float *row = m->emb + r * D;
            for (int64_t j = 0; j < D; j++) ps[j] += row[j];
            kept++;
        }
        float sc = kept == 0 ? 0.0f
                 : m->cfg.pooling == CTK_NGRAM_MEAN ? 1.0f / (float)kept : 1.0f / sqrtf((float)kept);
        for (int64_t j = 0; j < D; j++) ps[j] *= sc;
        scale[s] = sc;
    }
}

/* act = f(pooled W^T + b), f tanh or identity. */
static void dense_forward(float *act, const float *pooled, const float *w, const float *b,
                          int64_t S, int64_t D, enum ctk_ngram_act f)
{
    for (int64_t s = 0; s < S; s++) memcpy(act + s * D, b, (size_t)D * sizeof *act);
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)S, (int)D, (int)D, 1.0f, pooled,
                (int)D, w, (int)D, 1.0f, act, (int)D);
    if (f == CTK_NGRAM_TANH)
        for (int64_t i = 0; i < S * D; i++) act[i] = tanhf(act[i]);
}

/* out = act / max(|act|, eps), norm = max(|act|, eps). */
static void l2norm_forward(float *out, float *norm, const float *act, int64_t S, int64_t D)
{
    for (int64_t s = 0; s < S; s++) {
        double ss = 0;
        for (int64_t j = 0; j < D; j++) ss += (double)act[s * D + j] * act[s * D + j];
        float n = (float)sqrt(ss);
        if (n < NORM_EPS) n = NORM_EPS;
        norm[s] = n;
        for (int64_t j = 0; j < D; j++) out[s * D + j] = act[s * D + j] / n;
    }
}

static int check_tokens(const struct ngram *m, const struct ctk_tokens *t, struct ctk_err *e)
{
    if (t->S < 0 || (t->S > 0 && (!t->offsets || t->offsets[0] < 0)))
        return ctk_err_set(e, "ctk-ngram: bad batch (%lld sequences)", (long long)t->S);
    for (int64_t s = 0; s < t->S; s++)
        if (t->offsets[s + 1] < t->offsets[s])
            return ctk_err_set(e, "ctk-ngram: sequence %lld has decreasing offsets", (long long)s);
    for (int64_t k = t->S ? t->offsets[0] : 0; t->S && k < t->offsets[t->S]; k++)
        if (t->ids[k] < 0 || t->ids[k] >= m->cfg.buckets)
            return ctk_err_set(e,
                               "ctk-ngram: feature id %d is out of range (the model has %lld buckets); "
                               "were the tokens made for this model? Run ctk-tok with the same -m",
                               t->ids[k], (long long)m->cfg.buckets);
    return 0;
}

static int ngram_forward(struct ctk_encoder *enc, const struct ctk_tokens *t, float *emb, int train,
                         uint64_t seed, struct ctk_err *e)
{
    struct ngram *m = impl(enc);
    int64_t D = m->cfg.dim, S = t->S;
    if (check_tokens(m, t, e) < 0) return -1;
    if (S == 0) return 0;
    int64_t N = t->offsets[S] - t->offsets[0];
    reserve_saved(m, S, N);
    bag_forward(m->pooled, m->scale, train ? m->keep : NULL, m, t, train, seed);
    const float *h = m->pooled;
    if (m->cfg.dense) {
        dense_forward(m->act, m->pooled, m->dense_w, m->dense_b, S, D, m->cfg.activation);
        h = m->act;
    }
    l2norm_forward(m->out, m->norm, h, S, D);
    memcpy(emb, m->out, (size_t)(S * D) * sizeof *emb);
    if (train) {
        m->S = S;
        m->N = N;
        memcpy(m->ids, t->ids + t->offsets[0], (size_t)N * sizeof *m->ids);
        for (int64_t s = 0; s <= S; s++) m->off[s] = t->offsets[s] - t->offsets[0];
    } else {
        m->S = 0;
    }
    return 0;
}

static void touch(struct ctk_encoder *enc, struct ngram *m, int64_t r)
{
    struct ctk_param *pe = &enc->params[0];
    if (m->stamp[r] == m->epoch) return;
    m->stamp[r] = m->epoch;
    if (pe->ntouched == m->touched_cap) {
        m->touched_cap = m->touched_cap ? 2 * m->touched_cap : 1024;
        pe->touched = xreallocarray(pe->touched, m->touched_cap, sizeof *pe->touched);
    }
    pe->touched[pe->ntouched++] = r;
}

/*
 * Backward, bottom-up through the forward:
 *   l2norm:  dh = (dout - out (out . dout)) / |h|
 *   tanh:    dz = dh * (1 - h^2)
 *   dense:   dW += dz^T p, db += sum_s dz, dp = dz W
 *   bag:     dE[x_k] += scale_s dp_s for every kept occurrence k of sequence s
 * params[0].touched lists the rows of dE this backward wrote, each once
 * (the optimizer gathers them after every backward: ctk_optim_collect).
 */
static void ngram_backward(struct ctk_encoder *enc, const float *dout)
{
    struct ngram *m = impl(enc);
    int64_t D = m->cfg.dim, S = m->S;
    if (S == 0) return;
    float *dh = xmallocarray((size_t)(S * D), sizeof *dh);
    for (int64_t s = 0; s < S; s++) {
        const float *o = m->out + s * D, *g = dout + s * D;
        double dot = 0;
        for (int64_t j = 0; j < D; j++) dot += (double)o[j] * g[j];
        for (int64_t j = 0; j < D; j++) dh[s * D + j] = (g[j] - o[j] * (float)dot) / m->norm[s];
    }
    float *dp = dh;
    if (m->cfg.dense) {
        if (m->cfg.activation == CTK_NGRAM_TANH)
            for (int64_t i = 0; i < S * D; i++) dh[i] *= 1.0f - m->act[i] * m->act[i];
        struct ctk_param *pw = &enc->params[1], *pb = &enc->params[2];
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)D, (int)D, (int)S, 1.0f, dh, (int)D,
                    m->pooled, (int)D, 1.0f, pw->g, (int)D);
        for (int64_t s = 0; s < S; s++)
            for (int64_t j = 0; j < D; j++) pb->g[j] += dh[s * D + j];
        dp = xmallocarray((size_t)(S * D), sizeof *dp);
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)S, (int)D, (int)D, 1.0f, dh, (int)D,
                    m->dense_w, (int)D, 0.0f, dp, (int)D);
    }
    /* touched lists the rows of this backward only (encoder.h) */
    struct ctk_param *pe = &enc->params[0];
    pe->ntouched = 0;
    if (++m->epoch == 0) {  /* on wrap, clear the stamps */
        memset(m->stamp, 0, (size_t)m->cfg.buckets * sizeof *m->stamp);
        m->epoch = 1;
    }
    for (int64_t s = 0; s < S; s++) {
        float sc = m->scale[s];
        const float *g = dp + s * D;
        for (int64_t k = m->off[s]; k < m->off[s + 1]; k++) {
            if (!m->keep[k]) continue;
            int64_t r = m->ids[k];
            touch(enc, m, r);
            float *gr = pe->g + r * D;
            for (int64_t j = 0; j < D; j++) gr[j] += sc * g[j];
        }
    }
    if (dp != dh) free(dp);
    free(dh);
}

/* --- saving and opening ------------------------------------------------ */

static json_t *cfg_to_json(const struct ctk_ngram_cfg *c)
{
    json_t *j = json_object();
    json_object_set_new(j, "model_type", json_string("ctk-ngram"));
    json_object_set_new(j, "architectures", json_pack("[s]", "CtkNgramEncoder"));
    json_object_set_new(j, "buckets", json_integer(c->buckets));
    json_object_set_new(j, "dim", json_integer(c->dim));
    json_object_set_new(j, "word_ngrams", json_pack("[ii]", c->word_min, c->word_max));
    json_object_set_new(j, "char_ngrams", json_pack("[ii]", c->char_min, c->char_max));
    json_object_set_new(j, "lowercase", json_true());
    json_object_set_new(j, "hash", json_string("fnv1a64+fmix64"));
    json_object_set_new(j, "hash_seed", json_integer((json_int_t)c->hash_seed));
    json_object_set_new(j, "init_seed", json_integer((json_int_t)c->init_seed));
    json_object_set_new(j, "init_std", json_real(c->init_std));
    json_object_set_new(j, "pooling", json_string(c->pooling == CTK_NGRAM_MEAN ? "mean" : "sqrtn"));
    json_object_set_new(j, "dense", json_boolean(c->dense));
    json_object_set_new(j, "activation",
                        json_string(c->activation == CTK_NGRAM_TANH ? "tanh" : "identity"));
    json_object_set_new(j, "feature_dropout", json_real(c->feature_dropout));
    json_object_set_new(j, "max_features", json_integer(c->max_features));
    json_object_set_new(j, "normalize", json_true());
    return j;
}

static int save_json(json_t *j, const char *dir, const char *name, struct ctk_err *e)
{
    char *path = ctk_path_join(dir, name);
    int rc = ctk_json_save_file(j, path, e);
    free(path);
    json_decref(j);
    return rc;
}

static int ngram_save(struct ctk_encoder *enc, const char *dir, struct ctk_err *e)
{
    struct ngram *m = impl(enc);
    int64_t D = m->cfg.dim, V = m->cfg.buckets;
    if (ctk_mkdirs(dir, e) < 0) return -1;

    /* the rows that differ from their initial value */
    float *init = xmallocarray((size_t)D, sizeof *init);
    int64_t k = 0, *rows = NULL;
    size_t cap = 0;
    for (int64_t r = 0; r < V; r++) {
        if (!m->made[r]) continue;
        ctk_ngram_init_row(&m->cfg, r, init);
        if (memcmp(init, m->emb + r * D, (size_t)D * sizeof *init) == 0) continue;
        if ((size_t)k == cap) {
            cap = cap ? 2 * cap : 1024;
            rows = xreallocarray(rows, cap, sizeof *rows);
        }
        rows[k++] = r;
    }
    free(init);
    float *vals = xmallocarray((size_t)(k ? k : 1) * (size_t)D, sizeof *vals);
    for (int64_t i = 0; i < k; i++)
        memcpy(vals + i * D, m->emb + rows[i] * D, (size_t)D * sizeof *vals);

    struct ctk_st_wtensor t[4] = {
        {.name = "embeddings.rows", .dtype = CTK_I64, .ndim = 1, .shape = {k},
         .data = rows ? (const void *)rows : (const void *)vals},
        {.name = "embeddings.values", .dtype = CTK_F32, .ndim = 2, .shape = {k, D}, .data = vals},
        {.name = "dense.weight", .dtype = CTK_F32, .ndim = 2, .shape = {D, D}, .data = m->dense_w},
        {.name = "dense.bias", .dtype = CTK_F32, .ndim = 1, .shape = {D}, .data = m->dense_b},
    };
    static const char *const meta[] = {"format", "pt", NULL};
    char *path = ctk_path_join(dir, "model.safetensors");
    int rc = ctk_st_write(path, t, m->cfg.dense ? 4 : 2, meta, e);
    free(path);
    free(rows);
    free(vals);
    if (rc < 0) return -1;

    if (save_json(cfg_to_json(&m->cfg), dir, "config.json", e) < 0) return -1;
    if (save_json(json_pack("[{s:i,s:s,s:s,s:s}]", "idx", 0, "name", "0", "path", "",
                            "type", "ctk.ngram.NgramEncoder"),
                  dir, "modules.json", e) < 0)
        return -1;
    if (save_json(json_pack("{s:I,s:b}", "max_seq_length", (json_int_t)m->cfg.max_features,
                            "do_lower_case", 1),
                  dir, "sentence_bert_config.json", e) < 0)
        return -1;
    return 0;
}

static void ngram_free(struct ctk_encoder *enc)
{
    struct ngram *m = impl(enc);
    if (m) {
        free(m->emb);
        free(m->made);
        free(m->dense_w);
        free(m->dense_b);
        free(m->ids);
        free(m->off);
        free(m->keep);
        free(m->scale);
        free(m->pooled);
        free(m->act);
        free(m->out);
        free(m->norm);
        free(m->stamp);
        free(m);
    }
    for (int i = 0; i < enc->nparams; i++) {
        free(enc->params[i].g);
        free(enc->params[i].touched);
    }
    free(enc->params);
    free(enc->identity);
    free(enc);
}

static const struct ctk_encoder_ops ngram_ops = {
    ngram_forward, ngram_backward, ngram_save, ngram_free,
};

/* The encoder around an initialised struct ngram (weights at their initial values). */
static struct ctk_encoder *wrap(struct ngram *m, const char *identity)
{
    int64_t D = m->cfg.dim, V = m->cfg.buckets;
    struct ctk_encoder *enc = xcalloc(1, sizeof *enc);
    enc->ops = &ngram_ops;
    enc->kind = "ctk-ngram";
    enc->identity = xstrdup(identity);
    enc->dim = D;
    enc->normalize = 1;
    enc->max_seq_length = m->cfg.max_features;
    enc->impl = m;
    enc->nparams = m->cfg.dense ? 3 : 1;
    enc->params = xcalloc((size_t)enc->nparams, sizeof *enc->params);
    struct ctk_param *p = enc->params;
    p[0] = (struct ctk_param){.name = "embeddings.weight", .w = m->emb, .n = (size_t)(V * D),
                              .ndim = 2, .shape = {V, D}, .decay = 0, .row_len = (size_t)D};
    if (m->cfg.dense) {
        p[1] = (struct ctk_param){.name = "dense.weight", .w = m->dense_w, .n = (size_t)(D * D),
                                  .ndim = 2, .shape = {D, D}, .decay = 1};
        p[2] = (struct ctk_param){.name = "dense.bias", .w = m->dense_b, .n = (size_t)D,
                                  .ndim = 1, .shape = {D}, .decay = 0};
    }
    return enc;
}

static struct ngram *ngram_alloc(const struct ctk_ngram_cfg *cfg)
{
    struct ngram *m = xcalloc(1, sizeof *m);
    int64_t D = cfg->dim, V = cfg->buckets;
    m->cfg = *cfg;
    /* calloc of a large block maps zero pages lazily: only rows in use cost memory */
    m->emb = xcalloc((size_t)V, (size_t)D * sizeof(float));
    m->made = xcalloc((size_t)V, 1);
    m->stamp = xcalloc((size_t)V, sizeof *m->stamp);
    if (cfg->dense) {
        m->dense_w = xcalloc((size_t)(D * D), sizeof(float));
        m->dense_b = xcalloc((size_t)D, sizeof(float));
        for (int64_t j = 0; j < D; j++) m->dense_w[j * D + j] = 1.0f;
    }
    return m;
}

struct ctk_encoder *ctk_ngram_new(const struct ctk_ngram_cfg *cfg, struct ctk_err *e)
{
    char id[256], feat[160];
    if (cfg_check(cfg, "ctk-ngram", e) < 0) return NULL;
    ctk_ngram_features_name(cfg, feat, sizeof feat);
    snprintf(id, sizeof id, "ctk-ngram-builtin/v1 d=%lld init=%llu dense=%d %s", (long long)cfg->dim,
             (unsigned long long)cfg->init_seed, cfg->dense, feat);
    return wrap(ngram_alloc(cfg), id);
}

/* Load the tensors of dir/model.safetensors into m, checking names and shapes. */
static int load_weights(struct ngram *m, const char *path, struct ctk_err *e)
{
    int64_t D = m->cfg.dim, V = m->cfg.buckets;
    struct ctk_st f;
    if (ctk_st_open(&f, path, e) < 0) return -1;
    int rc = -1;
    const struct ctk_st_tensor *tr = ctk_st_find(&f, "embeddings.rows");
    const struct ctk_st_tensor *tv = ctk_st_find(&f, "embeddings.values");
    if (!tr || !tv) {
        ctk_err_set(e, "%s: tensors embeddings.rows and embeddings.values are missing", path);
        goto out;
    }
    if (tr->dtype != CTK_I64 || tr->ndim != 1 || tv->dtype != CTK_F32 || tv->ndim != 2 ||
        tv->shape[0] != tr->shape[0] || tv->shape[1] != D) {
        ctk_err_set(e, "%s: embeddings.rows must be I64 [k] and embeddings.values F32 [k, %lld]", path,
                    (long long)D);
        goto out;
    }
    const unsigned char *rows = tr->data;
    const unsigned char *vals = tv->data;
    for (int64_t i = 0; i < tr->shape[0]; i++) {
        int64_t r;
        memcpy(&r, rows + i * 8, 8);  /* the data area need not be aligned */
        if (r < 0 || r >= V) {
            ctk_err_set(e, "%s: embeddings.rows[%lld] = %lld is out of range (0 to %lld)", path,
                        (long long)i, (long long)r, (long long)V - 1);
            goto out;
        }
        memcpy(m->emb + r * D, vals + (size_t)(i * D) * sizeof(float), (size_t)D * sizeof(float));
        m->made[r] = 1;
    }
    if (m->cfg.dense) {
        const struct ctk_st_tensor *w = ctk_st_find(&f, "dense.weight");
        const struct ctk_st_tensor *b = ctk_st_find(&f, "dense.bias");
        if (!w || !b || w->dtype != CTK_F32 || b->dtype != CTK_F32 || w->ndim != 2 ||
            w->shape[0] != D || w->shape[1] != D || b->ndim != 1 || b->shape[0] != D) {
            ctk_err_set(e, "%s: dense.weight F32 [%lld, %lld] and dense.bias F32 [%lld] are required "
                        "(config.json says dense)", path, (long long)D, (long long)D, (long long)D);
            goto out;
        }
        memcpy(m->dense_w, w->data, (size_t)(D * D) * sizeof(float));
        memcpy(m->dense_b, b->data, (size_t)D * sizeof(float));
    }
    rc = 0;
out:
    ctk_st_close(&f);
    return rc;
}

/* FNV-1a of a file's bytes, for the model's identity. */
static int file_hash(const char *path, uint64_t *h, struct ctk_err *e)
{
    size_t len;
    char *buf = ctk_read_file(path, &len, e);
    if (!buf) return -1;
    *h = ctk_fmix64(ctk_fnv1a64(CTK_FNV1A64_OFFSET, buf, len));
    free(buf);
    return 0;
}

struct ctk_encoder *ctk_ngram_open(const char *dir, int threads, struct ctk_err *e)
{
    struct ctk_ngram_cfg cfg;
    (void)threads;
    if (!dir) {
        ctk_ngram_cfg_default(&cfg);
        return ctk_ngram_new(&cfg, e);
    }
    if (ctk_ngram_cfg_load(dir, &cfg, e) < 0) return NULL;
    char *path = ctk_path_join(dir, "model.safetensors");
    if (access(path, F_OK) != 0) {
        /* config.json alone: the untrained encoder of that configuration */
        free(path);
        return ctk_ngram_new(&cfg, e);
    }
    struct ngram *m = ngram_alloc(&cfg);
    uint64_t h = 0;
    if (load_weights(m, path, e) < 0 || file_hash(path, &h, e) < 0) {
        free(path);
        struct ctk_encoder tmp = {.impl = m};
        struct ctk_encoder *t = xcalloc(1, sizeof *t);
        *t = tmp;
        ngram_free(t);
        return NULL;
    }
    free(path);
    char id[512], feat[160];
    const char *base = strrchr(dir, '/');
    base = base && base[1] ? base + 1 : dir;
    ctk_ngram_features_name(&cfg, feat, sizeof feat);
    snprintf(id, sizeof id, "ctk-ngram %s@%016llx %s", base, (unsigned long long)h, feat);
    return wrap(m, id);
}
