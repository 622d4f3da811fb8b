/*
 * transformer.c -- the encoder BERT and MPNet share (see transformer.h):
 * loading, the forward pass over packed batches, pooling, Normalize, and the
 * backward pass of all of it.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "blas.h"
#include "gemm.h"
#include "layers.h"
#include "layers_par.h"
#include "pool.h"
#include "transformer.h"

/* ------------------------------------------------------------------------ */
/* The model                                                                 */

/* Parameters: one allocation carved in this order (llm.c's ParameterTensors). */
#define NPARAM_TENSORS 18
struct params {
    float *wte;      /* (V, C) */
    float *wpe;      /* (P, C) */
    float *wtt;      /* (TT, C), or NULL */
    float *lnew;     /* (C) embeddings' LayerNorm */
    float *lneb;     /* (C) */
    float *qkvw;     /* (L, 3C, C) query, key, value weights of a layer, adjacent */
    float *qkvb;     /* (L, 3C) */
    float *attprojw; /* (L, C, C) the attention's output dense layer */
    float *attprojb; /* (L, C) */
    float *ln1w;     /* (L, C) the LayerNorm after it */
    float *ln1b;     /* (L, C) */
    float *fcw;      /* (L, I, C) intermediate.dense */
    float *fcb;      /* (L, I) */
    float *fcprojw;  /* (L, C, I) output.dense */
    float *fcprojb;  /* (L, C) */
    float *ln2w;     /* (L, C) output.LayerNorm */
    float *ln2b;     /* (L, C) */
    float *relb;     /* (NB, H) the relative position bias table, or NULL */
};

static void param_sizes(size_t sz[NPARAM_TENSORS], const struct ctk_transformer_config *c)
{
    size_t C = (size_t)c->C, L = (size_t)c->L, I = (size_t)c->I;
    size_t s[NPARAM_TENSORS] = {c->V * C, c->P * C, c->TT * C, C, C, L * 3 * C * C, L * 3 * C,
                                L * C * C, L * C, L * C, L * C, L * I * C, L * I, L * C * I,
                                L * C, L * C, L * C, (size_t)(c->NB * c->H)};
    memcpy(sz, s, sizeof s);
}

static void point_params(struct params *p, float *mem, const struct ctk_transformer_config *c)
{
    size_t sz[NPARAM_TENSORS];
    param_sizes(sz, c);
    float **ptrs[NPARAM_TENSORS] = {&p->wte, &p->wpe, &p->wtt, &p->lnew, &p->lneb, &p->qkvw,
                                    &p->qkvb, &p->attprojw, &p->attprojb, &p->ln1w, &p->ln1b,
                                    &p->fcw, &p->fcb, &p->fcprojw, &p->fcprojb, &p->ln2w,
                                    &p->ln2b, &p->relb};
    for (int i = 0; i < NPARAM_TENSORS; i++) {
        *ptrs[i] = sz[i] ? mem : NULL;
        mem += sz[i];
    }
}

/* Activations of one forward pass; in inference every layer shares layer 0's buffers. */
struct acts {
    int64_t N, S, cap_N, cap_S, cap_att; /* sizes they were allocated for */
    int per_layer;            /* 1: kept per layer for backward */
    float *mem;
    float *embsum;            /* (N, C) embeddings before their LayerNorm */
    float *embmean, *embrstd; /* (N) */
    float *x;                 /* (L+1, N, C) input of each layer; x[L] the last hidden state */
    float *qkv;               /* (L, N, 3C) */
    float *atty;              /* (L, N, C) attention output before its dense layer */
    float *res1;              /* (L, N, C) residual sum before the LayerNorm after attention */
    float *mean1, *rstd1;     /* (L, N) */
    float *h1;                /* (L, N, C) */
    float *ff;                /* (L, N, I) intermediate before GELU */
    float *ffg;               /* (L, N, I) after GELU */
    float *res2;              /* (L, N, C) */
    float *mean2, *rstd2;     /* (L, N) */
    float *tmp;               /* (N, C) dense outputs before their residual (not kept) */
    float *att;               /* (L, Σ H·T²) attention probabilities, training only */
    int64_t *att_off;         /* (S+1) offset of sequence s in a layer's att */
    float *pooled;            /* (S, C) */
    int64_t *argmax;          /* (S, C) max pooling's winners */
    float *norm;              /* (S) */
    int32_t *pos;             /* (N) position ids, when the kind has its own */
};

struct transformer {
    const struct ctk_transformer_kind *kind;
    struct ctk_transformer_config cfg;
    struct params p;
    float *params_mem;
    size_t nparams_floats;
    struct ctk_model model; /* opened without weights, for save */
    float *pooler;          /* (C*C + C) pooler.dense weight and bias, or NULL */
    enum ctk_pool_mode pool;
    struct layers_par P;        /* the threads and the passes on them */
    struct ctk_gemm_layers lin; /* the layers' linear weights, packed in inference (lib/gemm.h) */
    float *scratch;             /* (threads, scratch_per) attention working space */
    int64_t scratch_T;
    size_t scratch_per;
    /* with a bias table: each head's bias by offset r, |r| < rel_T (the batch's longest sequence) */
    float *relrow; /* (H, 2·rel_T - 1), offset r of head h at h·(2·rel_T - 1) + rel_T - 1 + r */
    int64_t rel_T;
    struct acts a;
    /* what the last forward saw, for backward */
    struct ctk_tokens t;
    int32_t *ids_copy, *types_copy;
    int64_t *offsets_copy;
    int trained; /* the last forward was a training one */
    uint64_t seed;
    /* backward scratch */
    float *bw_mem;
    int64_t bw_cap;
};

static void free_acts(struct acts *a)
{
    free(a->mem);
    free(a->att);
    free(a->att_off);
    free(a->argmax);
    free(a->pos);
    memset(a, 0, sizeof *a);
}

/* Size the activations for N tokens in S sequences (att_total = Σ H·T² per layer). */
static void alloc_acts(struct transformer *b, int64_t N, int64_t S, int64_t att_total, int train)
{
    struct acts *a = &b->a;
    const struct ctk_transformer_config *c = &b->cfg;
    if (a->mem && a->per_layer == train && N <= a->cap_N && S <= a->cap_S &&
        (!train || att_total <= a->cap_att)) {
        a->N = N;
        a->S = S;
        return;
    }
    int64_t C = c->C, I = c->I, L = train ? c->L : 1;
    int64_t capN = N > a->cap_N ? N : a->cap_N, capS = S > a->cap_S ? S : a->cap_S;
    if (a->per_layer != train) capN = N;
    if (capN < 1) capN = 1;
    if (capS < 1) capS = 1;
    free_acts(a);
    /*
     * Inference keeps one layer's working set and reuses it: qkv (3C) also
     * holds the embeddings' sum and each dense output with its residual sum;
     * atty (C) also holds h1; x (C) is each layer's input and output; GELU
     * runs in place.
     */
    size_t tr = (size_t)train, nc = (size_t)(capN * C), ln = (size_t)(L * capN);
    size_t sz[] = {
        tr * nc, (size_t)capN, (size_t)capN,                 /* embsum mean rstd */
        (size_t)(train ? c->L + 1 : 1) * nc,                 /* x */
        (size_t)L * 3 * nc, (size_t)L * nc, tr * L * nc,     /* qkv atty res1 */
        ln, ln, tr * L * nc,                                 /* mean1 rstd1 h1 */
        (size_t)(L * capN * I), tr * (size_t)(L * capN * I), /* ff ffg */
        tr * L * nc, ln, ln,                                 /* res2 mean2 rstd2 */
        tr * nc, (size_t)(capS * C), (size_t)capS,           /* tmp pooled norm */
    };
    size_t total = 0;
    for (size_t i = 0; i < sizeof sz / sizeof *sz; i++) total += sz[i];
    a->mem = xbigalloc(total, sizeof(float), 0);
    float *m = a->mem;
    float **ptrs[] = {&a->embsum, &a->embmean, &a->embrstd, &a->x, &a->qkv, &a->atty,
                      &a->res1, &a->mean1, &a->rstd1, &a->h1, &a->ff, &a->ffg, &a->res2,
                      &a->mean2, &a->rstd2, &a->tmp, &a->pooled, &a->norm};
    for (size_t i = 0; i < sizeof ptrs / sizeof *ptrs; i++) {
        *ptrs[i] = m;
        m += sz[i];
    }
    if (!train) {
        a->embsum = a->res1 = a->res2 = a->tmp = a->qkv;
        a->h1 = a->atty;
        a->ffg = a->ff;
    }
    a->cap_att = train ? att_total : 0;
    a->att = train && att_total ? xmallocarray((size_t)(c->L * att_total), sizeof(float)) : NULL;
    a->argmax = xmallocarray((size_t)(capS * C), sizeof(int64_t));
    a->att_off = xmallocarray((size_t)capS + 1, sizeof(int64_t));
    a->pos = b->kind->positions ? xmallocarray((size_t)capN, sizeof(int32_t)) : NULL;
    a->cap_N = capN;
    a->cap_S = capS;
    a->per_layer = train;
    a->N = N;
    a->S = S;
}

/* The activations of layer l (layer 0's in inference): its input x and output xo, and between. */
struct layer_acts {
    float *x, *xo, *qkv, *atty, *res1, *mean1, *rstd1, *h1, *ff, *ffg, *res2, *mean2, *rstd2;
};

static struct layer_acts layer_acts(const struct transformer *b, int64_t l)
{
    const struct acts *a = &b->a;
    int64_t N = a->N, C = b->cfg.C, I = b->cfg.I, k = a->per_layer ? l : 0;
#define AT(ptr, width) ((ptr) + k * N * (width))
    return (struct layer_acts){AT(a->x, C),     a->x + (a->per_layer ? l + 1 : 0) * N * C,
                               AT(a->qkv, 3 * C), AT(a->atty, C),
                               AT(a->res1, C),  AT(a->mean1, 1),
                               AT(a->rstd1, 1), AT(a->h1, C),
                               AT(a->ff, I),    AT(a->ffg, I),
                               AT(a->res2, C),  AT(a->mean2, 1),
                               AT(a->rstd2, 1)};
#undef AT
}

/* ------------------------------------------------------------------------ */
/* Attention, per sequence and head                                          */

struct att_job {
    struct transformer *b;
    float *out;        /* forward: (N, C) */
    float *dqkv;       /* backward: (N, 3C) */
    const float *dout; /* backward: (N, C) */
    float *att;        /* this layer's probabilities, or NULL */
    float *drelb;      /* backward with a bias table: (S·H, NB) per item */
    const float *qkv;
    const int64_t *offsets;
    float p;
    uint64_t seed;
};

/*
 * The working space of one attention item: the scores and their gradients
 * (2·T²), or the one-pass kernel's; then, with a bias table, the gradient
 * of the bias by offset (2T - 1).
 */
static void ensure_scratch(struct transformer *b, int64_t Tmax)
{
    if (Tmax <= b->scratch_T) return;
    size_t fused = ctk_gemm_attention_work(Tmax, b->cfg.C / b->cfg.H);
    b->scratch_per = (size_t)(2 * Tmax * Tmax) > fused ? (size_t)(2 * Tmax * Tmax) : fused;
    if (b->cfg.NB) b->scratch_per += (size_t)(2 * Tmax - 1);
    free(b->scratch);
    b->scratch = xmallocarray((size_t)b->P.pool.nthreads * b->scratch_per, sizeof(float));
    b->scratch_T = Tmax;
}

/*
 * The bias table's rows by offset for a batch whose longest sequence has
 * Tmax tokens, once per forward for every layer and sequence (the table is
 * shared by the layers): b->relrow, see struct transformer.
 */
static void relative_bias_rows(struct transformer *b, int64_t Tmax)
{
    int64_t H = b->cfg.H, W = 2 * Tmax - 1;
    b->rel_T = Tmax;
    if (Tmax < 1) return;
    b->relrow = xreallocarray(b->relrow, (size_t)(H * W), sizeof(float));
    for (int64_t r = -(Tmax - 1); r <= Tmax - 1; r++) {
        const float *row = b->p.relb + b->kind->bucket(r) * H;
        for (int64_t h = 0; h < H; h++) b->relrow[h * W + Tmax - 1 + r] = row[h];
    }
}

static void att_item(void *ctx, int64_t item, int thread)
{
    struct att_job *j = ctx;
    struct transformer *b = j->b;
    int64_t H = b->cfg.H, C = b->cfg.C, NB = b->cfg.NB, hs = C / H;
    int64_t s = item / H, h = item % H;
    int64_t o = j->offsets[s], T = j->offsets[s + 1] - o;
    if (T == 0) return;
    float *scratch = b->scratch + (size_t)thread * b->scratch_per;
    float *att = j->att ? j->att + b->a.att_off[s] : NULL;
    /* head h's bias by offset j - i, at index T - 1 + j - i, and its gradient */
    const float *brow = NB ? b->relrow + h * (2 * b->rel_T - 1) + b->rel_T - T : NULL;
    float *dbrow = NB ? scratch + b->scratch_per - (2 * T - 1) : NULL;
    if (!j->dqkv && !att && j->p == 0 && ctk_gemm_attention_fits(hs)) {
        ctk_gemm_attention(j->out + o * C, C, j->qkv + o * 3 * C, C, hs, T, h,
                           1 / sqrtf((float)hs), brow, scratch);
        return;
    }
    uint64_t seed = j->seed ^ ((uint64_t)s * 0xd1b54a32d192ed03ULL);
    if (!j->dqkv) {
        attention_forward(j->out + o * C, att, j->qkv + o * 3 * C, scratch, j->p, seed, T, C, H, h,
                          h + 1, brow);
        return;
    }
    if (NB) memset(dbrow, 0, (size_t)(2 * T - 1) * sizeof *dbrow);
    attention_backward(j->dqkv + o * 3 * C, scratch, j->dout + o * C, att, j->qkv + o * 3 * C,
                       j->p, seed, T, C, H, h, h + 1, dbrow);
    if (NB) { /* into the buckets: this item's partial sums, added in item order afterwards */
        float *dr = j->drelb + item * NB;
        memset(dr, 0, (size_t)NB * sizeof *dr);
        for (int64_t r = -(T - 1); r <= T - 1; r++) dr[b->kind->bucket(r)] += dbrow[T - 1 + r];
    }
}

static void par_attention(struct transformer *b, struct att_job *j, int64_t S)
{
    int threads = b->P.pool.nthreads;
    if (threads > 1 && b->P.blas_threads) ctk_blas_set_threads(1);
    ctk_pool_run(&b->P.pool, S * b->cfg.H, att_item, j);
    if (threads > 1 && b->P.blas_threads) ctk_blas_set_threads(threads);
}

/* ------------------------------------------------------------------------ */
/* Forward                                                                   */

static int check_tokens(const struct transformer *b, const struct ctk_tokens *t, struct ctk_err *e)
{
    const struct ctk_transformer_config *c = &b->cfg;
    int64_t maxT = c->P - b->kind->pos_offset;
    if (t->offsets[0] != 0) return ctk_err_set(e, "token batch: offsets[0] is not 0");
    for (int64_t s = 0; s < t->S; s++) {
        int64_t T = t->offsets[s + 1] - t->offsets[s];
        if (T < 0) return ctk_err_set(e, "token batch: sequence %lld has negative length", (long long)s);
        if (T > maxT)
            return ctk_err_set(e,
                               "sequence %lld has %lld tokens, more than the model's %lld positions "
                               "(max_position_embeddings%s); tokenize with --max-length %lld",
                               (long long)s, (long long)T, (long long)maxT,
                               b->kind->pos_offset ? " less its padding offset" : "",
                               (long long)maxT);
    }
    int64_t N = t->offsets[t->S];
    for (int64_t n = 0; n < N; n++) {
        if (t->ids[n] < 0 || t->ids[n] >= c->V)
            return ctk_err_set(e, "token id %d outside the model's vocabulary of %lld "
                               "(tokens made with another vocabulary?)",
                               t->ids[n], (long long)c->V);
        if (c->TT && t->type_ids && (t->type_ids[n] < 0 || t->type_ids[n] >= c->TT))
            return ctk_err_set(e, "token type id %d outside the model's %lld types (type_vocab_size)",
                               t->type_ids[n], (long long)c->TT);
    }
    return 0;
}

/*
 * out = LayerNorm(res = dropout(y·wᵀ + bias) + skip), y (N, K), w (C, K),
 * res kept with LayerNorm's mean and rstd for backward. Without dropout the
 * bias joins the residual pass instead of the product.
 */
static void sublayer_forward(struct transformer *b, float *out, float *res, float *mean,
                             float *rstd, const float *y, const float *w, const float *bias,
                             const float *skip, const float *lnw, const float *lnb, int64_t N,
                             int64_t K, float hp, uint64_t seed)
{
    int64_t C = b->cfg.C;
    float *tmp = b->a.tmp;
    par_linear(&b->P, tmp, y, w, hp > 0 ? bias : NULL, N, K, C);
    if (hp > 0) par_ew(&b->P, EW_DROPOUT, tmp, tmp, NULL, hp, seed, N * C);
    par_layernorm(&b->P, out, res, mean, rstd, tmp, hp > 0 ? NULL : bias, skip, lnw, lnb, N);
}

static int xf_forward(struct ctk_encoder *enc, const struct ctk_tokens *t, float *emb, int train,
                      uint64_t seed, struct ctk_err *e)
{
    struct transformer *b = enc->impl;
    const struct ctk_transformer_config *c = &b->cfg;
    const struct params *p = &b->p;
    int64_t S = t->S, N = t->offsets[S], C = c->C, I = c->I, H = c->H;
    if (check_tokens(b, t, e) < 0) return -1;
    ctk_gemm_layers_set(&b->lin,
                        !train && !enc->params[0].g && !b->P.blas_threads && ctk_gemm_available());
    int64_t Tmax = 0, att_total = 0;
    for (int64_t s = 0; s < S; s++) {
        int64_t T = t->offsets[s + 1] - t->offsets[s];
        Tmax = T > Tmax ? T : Tmax;
        att_total += H * T * T;
    }
    ensure_scratch(b, Tmax);
    if (c->NB) relative_bias_rows(b, Tmax);
    alloc_acts(b, N, S, att_total, train);
    struct acts *a = &b->a;
    a->att_off[0] = 0;
    for (int64_t s = 0; s < S; s++) {
        int64_t T = t->offsets[s + 1] - t->offsets[s];
        a->att_off[s + 1] = a->att_off[s] + H * T * T;
    }
    float hp = train ? c->hidden_p : 0, ap = train ? c->att_p : 0;
    if (!b->P.blas_threads) ctk_blas_set_threads(1); /* our threads split the work */

    /* embeddings, LayerNorm, dropout */
    if (a->pos) b->kind->positions(a->pos, t->ids, t->offsets, S);
    embeddings_forward(a->embsum, t->ids, t->type_ids, a->pos, t->offsets, p->wte, p->wpe, p->wtt,
                       S, C);
    par_layernorm(&b->P, a->x, NULL, a->embmean, a->embrstd, a->embsum, NULL, NULL, p->lnew,
                  p->lneb, N);
    if (hp > 0)
        par_ew(&b->P, EW_DROPOUT, a->x, a->x, NULL, hp, par_site_seed(seed, 0, SITE_EMB), N * C);

    for (int64_t l = 0; l < c->L; l++) {
        struct layer_acts y = layer_acts(b, l);
        par_linear(&b->P, y.qkv, y.x, p->qkvw + l * 3 * C * C, p->qkvb + l * 3 * C, N, C, 3 * C);
        struct att_job aj = {b, y.atty, NULL, NULL, train ? a->att + l * att_total : NULL, NULL,
                             y.qkv, t->offsets, ap, par_site_seed(seed, l, SITE_ATT)};
        par_attention(b, &aj, S);
        /* h1 = LayerNorm(x + dropout(atty·Woᵀ + bo)) */
        sublayer_forward(b, y.h1, y.res1, y.mean1, y.rstd1, y.atty, p->attprojw + l * C * C,
                         p->attprojb + l * C, y.x, p->ln1w + l * C, p->ln1b + l * C, N, C, hp,
                         par_site_seed(seed, l, SITE_ATTOUT));
        /* xo = LayerNorm(h1 + dropout(gelu(h1·Wiᵀ + bi)·W2ᵀ + b2)) */
        par_linear_gelu(&b->P, y.ffg, y.ff, y.h1, p->fcw + l * I * C, p->fcb + l * I, N);
        sublayer_forward(b, y.xo, y.res2, y.mean2, y.rstd2, y.ffg, p->fcprojw + l * C * I,
                         p->fcprojb + l * C, y.h1, p->ln2w + l * C, p->ln2b + l * C, N, I, hp,
                         par_site_seed(seed, l, SITE_FFNOUT));
    }

    /* Pooling, Normalize */
    float *last = layer_acts(b, c->L - 1).xo;
    pool_forward(enc->normalize ? a->pooled : emb, a->argmax, last, t->offsets, b->pool, S, C);
    if (enc->normalize) normalize_forward(emb, a->norm, a->pooled, S, C);

    b->trained = train;
    if (train) {
        /* keep the batch for backward (the caller's buffers may change) */
        b->ids_copy = xreallocarray(b->ids_copy, (size_t)(N ? N : 1), sizeof(int32_t));
        b->types_copy = xreallocarray(b->types_copy, (size_t)(N ? N : 1), sizeof(int32_t));
        b->offsets_copy = xreallocarray(b->offsets_copy, (size_t)S + 1, sizeof(int64_t));
        memcpy(b->ids_copy, t->ids, (size_t)N * sizeof(int32_t));
        if (t->type_ids) memcpy(b->types_copy, t->type_ids, (size_t)N * sizeof(int32_t));
        memcpy(b->offsets_copy, t->offsets, (size_t)(S + 1) * sizeof(int64_t));
        b->t.S = S;
        b->t.ids = b->ids_copy;
        b->t.type_ids = t->type_ids ? b->types_copy : NULL;
        b->t.offsets = b->offsets_copy;
        b->seed = seed;
    }
    return 0;
}

/* ------------------------------------------------------------------------ */
/* Backward                                                                  */

/*
 * The backward of out = LayerNorm(res = dropout(y·wᵀ + bias) + skip), out's
 * gradient in dout: dskip = res's gradient (written), dy = the dense
 * layer's input gradient (written; may be dout, which is read first); the
 * LayerNorm's and the dense layer's parameter gradients added to glnw,
 * glnb, gw, gb. y (N, K), w (C, K); dres and dtmp (N, C) scratch.
 */
static void sublayer_backward(struct transformer *b, float *dskip, float *dy, const float *dout,
                              const float *res, const float *mean, const float *rstd,
                              const float *lnw, float *glnw, float *glnb, const float *y,
                              const float *w, float *gw, float *gb, int64_t N, int64_t K, float hp,
                              uint64_t seed, float *dres, float *dtmp)
{
    int64_t C = b->cfg.C;
    memset(dres, 0, (size_t)(N * C) * sizeof(float));
    par_layernorm_backward(&b->P, dres, glnw, glnb, dout, res, mean, rstd, lnw, N);
    memcpy(dskip, dres, (size_t)(N * C) * sizeof(float)); /* the residual path */
    memset(dtmp, 0, (size_t)(N * C) * sizeof(float));
    par_ew(&b->P, EW_DROPOUT_BACKWARD, dtmp, dres, NULL, hp, seed, N * C);
    memset(dy, 0, (size_t)(N * K) * sizeof(float));
    par_linear_backward(&b->P, dy, gw, gb, dtmp, y, w, N, K, C);
}

static void xf_backward(struct ctk_encoder *enc, const float *demb)
{
    struct transformer *b = enc->impl;
    const struct ctk_transformer_config *c = &b->cfg;
    const struct params *p = &b->p;
    struct acts *a = &b->a;
    if (!b->trained) ctk_die("internal error: backward without a training forward");
    if (!enc->params[0].g) ctk_die("internal error: backward before ctk_encoder_alloc_grads");
    const struct ctk_tokens *t = &b->t;
    int64_t S = t->S, N = t->offsets[S], C = c->C, I = c->I, L = c->L, H = c->H, NB = c->NB;
    int64_t att_total = a->att_off[S];
    float hp = c->hidden_p, ap = c->att_p;
    uint64_t seed = b->seed;
    if (!b->P.blas_threads) ctk_blas_set_threads(1);

    /* gradients: the same layout as the parameters, one slab from params[0].g */
    struct params g;
    point_params(&g, enc->params[0].g, c);

    /* scratch: dx, dres, dh1, dtmp (N,C); dqkv (N,3C); dff, dffg (N,I); dpool (S,C); drelb (S·H, NB) */
    int64_t need = N * (7 * C + 2 * I) + S * C + S * H * NB;
    if (need > b->bw_cap) {
        free(b->bw_mem);
        b->bw_mem = xbigalloc((size_t)need, sizeof(float), 0);
        b->bw_cap = need;
    }
    float *dx = b->bw_mem, *dres = dx + N * C, *dh1 = dres + N * C, *dtmp = dh1 + N * C;
    float *dqkv = dtmp + N * C, *dff = dqkv + 3 * N * C, *dffg = dff + N * I, *dpool = dffg + N * I;
    float *drelb = dpool + S * C;

    /* Normalize and Pooling */
    memset(dx, 0, (size_t)(N * C) * sizeof(float));
    if (enc->normalize) {
        memset(dpool, 0, (size_t)(S * C) * sizeof(float));
        normalize_backward(dpool, demb, a->pooled, a->norm, S, C);
        pool_backward(dx, dpool, a->argmax, t->offsets, b->pool, S, C);
    } else {
        pool_backward(dx, demb, a->argmax, t->offsets, b->pool, S, C);
    }

    for (int64_t l = L - 1; l >= 0; l--) {
        struct layer_acts y = layer_acts(b, l);

        /* xo = LayerNorm(res2 = dropout(ffg·W2ᵀ + b2) + h1); dx holds dxo */
        sublayer_backward(b, dh1, dffg, dx, y.res2, y.mean2, y.rstd2, p->ln2w + l * C,
                          g.ln2w + l * C, g.ln2b + l * C, y.ffg, p->fcprojw + l * C * I,
                          g.fcprojw + l * C * I, g.fcprojb + l * C, N, I, hp,
                          par_site_seed(seed, l, SITE_FFNOUT), dres, dtmp);
        /* ffg = gelu(ff = h1·Wiᵀ + bi) */
        memset(dff, 0, (size_t)(N * I) * sizeof(float));
        par_ew(&b->P, EW_GELU_BACKWARD, dff, dffg, y.ff, 0, 0, N * I);
        par_linear_backward(&b->P, dh1, g.fcw + l * I * C, g.fcb + l * I, dff, y.h1,
                            p->fcw + l * I * C, N, C, I);

        /* h1 = LayerNorm(res1 = dropout(atty·Woᵀ + bo) + x); dh1 reused as datty */
        sublayer_backward(b, dx, dh1, dh1, y.res1, y.mean1, y.rstd1, p->ln1w + l * C,
                          g.ln1w + l * C, g.ln1b + l * C, y.atty, p->attprojw + l * C * C,
                          g.attprojw + l * C * C, g.attprojb + l * C, N, C, hp,
                          par_site_seed(seed, l, SITE_ATTOUT), dres, dtmp);
        /* atty = attention(qkv (, bias)); the bias table's gradient per item, then in item order */
        memset(dqkv, 0, (size_t)(N * 3 * C) * sizeof(float));
        struct att_job aj = {b, NULL, dqkv, dh1, a->att + l * att_total, drelb, y.qkv, t->offsets,
                             ap, par_site_seed(seed, l, SITE_ATT)};
        par_attention(b, &aj, S);
        for (int64_t it = 0; NB && it < S * H; it++) {
            int64_t h = it % H;
            if (t->offsets[it / H + 1] == t->offsets[it / H]) continue;
            for (int64_t k = 0; k < NB; k++) g.relb[k * H + h] += drelb[it * NB + k];
        }
        /* qkv = x·Wqkvᵀ + bqkv */
        par_linear_backward(&b->P, dx, g.qkvw + l * 3 * C * C, g.qkvb + l * 3 * C, dqkv, y.x,
                            p->qkvw + l * 3 * C * C, N, C, 3 * C);
    }

    /* x0 = dropout(LayerNorm(embsum)); embsum = wte[id] + wpe[pos] (+ wtt[type]) */
    memset(dres, 0, (size_t)(N * C) * sizeof(float));
    par_ew(&b->P, EW_DROPOUT_BACKWARD, dres, dx, NULL, hp, par_site_seed(seed, 0, SITE_EMB), N * C);
    memset(dx, 0, (size_t)(N * C) * sizeof(float));
    par_layernorm_backward(&b->P, dx, g.lnew, g.lneb, dres, a->embsum, a->embmean, a->embrstd,
                           p->lnew, N);
    /* a->pos: the forward's positions of this batch */
    embeddings_backward(g.wte, g.wpe, g.wtt, dx, t->ids, t->type_ids, a->pos, t->offsets, S, C);
}

/* ------------------------------------------------------------------------ */
/* Loading, saving                                                           */

/* The tensors of the parameters, by Hugging Face name, and where they live. */
static void make_params(struct ctk_encoder *enc, struct transformer *b)
{
    const struct ctk_transformer_config *c = &b->cfg;
    const struct ctk_transformer_kind *kd = b->kind;
    int64_t C = c->C, I = c->I, L = c->L;
    int n = 4 + (c->TT > 0) + 16 * (int)L + (c->NB > 0), k = 0;
    struct ctk_param *ps = xcalloc((size_t)n, sizeof *ps);
#define ADD(nm, ptr, d0, d1, dec)                                                         \
    do {                                                                                  \
        struct ctk_param *q = &ps[k++];                                                   \
        q->name = nm;                                                                     \
        q->w = (ptr);                                                                     \
        q->ndim = (d1) ? 2 : 1;                                                           \
        q->shape[0] = (d0);                                                               \
        q->shape[1] = (d1);                                                               \
        q->n = (size_t)((d0) * ((d1) ? (d1) : 1));                                        \
        q->decay = (dec);                                                                 \
    } while (0)
    const struct params *p = &b->p;
    ADD(xstrdup("embeddings.word_embeddings.weight"), p->wte, c->V, C, 1);
    ADD(xstrdup("embeddings.position_embeddings.weight"), p->wpe, c->P, C, 1);
    if (c->TT) ADD(xstrdup("embeddings.token_type_embeddings.weight"), p->wtt, c->TT, C, 1);
    ADD(xstrdup("embeddings.LayerNorm.weight"), p->lnew, C, 0, 0);
    ADD(xstrdup("embeddings.LayerNorm.bias"), p->lneb, C, 0, 0);
    for (int64_t l = 0; l < L; l++) {
        char buf[128];
#define NM(part, what)                                                                     \
    (snprintf(buf, sizeof buf, "encoder.layer.%lld.%s.%s", (long long)l, part, what), xstrdup(buf))
        ADD(NM(kd->q, "weight"), p->qkvw + l * 3 * C * C, C, C, 1);
        ADD(NM(kd->q, "bias"), p->qkvb + l * 3 * C, C, 0, 0);
        ADD(NM(kd->k, "weight"), p->qkvw + l * 3 * C * C + C * C, C, C, 1);
        ADD(NM(kd->k, "bias"), p->qkvb + l * 3 * C + C, C, 0, 0);
        ADD(NM(kd->v, "weight"), p->qkvw + l * 3 * C * C + 2 * C * C, C, C, 1);
        ADD(NM(kd->v, "bias"), p->qkvb + l * 3 * C + 2 * C, C, 0, 0);
        ADD(NM(kd->o, "weight"), p->attprojw + l * C * C, C, C, 1);
        ADD(NM(kd->o, "bias"), p->attprojb + l * C, C, 0, 0);
        ADD(NM(kd->ln1, "weight"), p->ln1w + l * C, C, 0, 0);
        ADD(NM(kd->ln1, "bias"), p->ln1b + l * C, C, 0, 0);
        ADD(NM("intermediate.dense", "weight"), p->fcw + l * I * C, I, C, 1);
        ADD(NM("intermediate.dense", "bias"), p->fcb + l * I, I, 0, 0);
        ADD(NM("output.dense", "weight"), p->fcprojw + l * C * I, C, I, 1);
        ADD(NM("output.dense", "bias"), p->fcprojb + l * C, C, 0, 0);
        ADD(NM("output.LayerNorm", "weight"), p->ln2w + l * C, C, 0, 0);
        ADD(NM("output.LayerNorm", "bias"), p->ln2b + l * C, C, 0, 0);
#undef NM
    }
    /*
     * not decayed: sentence-transformers' fit and transformers' Trainer leave
     * out of weight decay every parameter whose name contains "bias"
     */
    if (c->NB) ADD(xstrdup("encoder.relative_attention_bias.weight"), p->relb, c->NB, c->H, 0);
#undef ADD
    enc->params = ps;
    enc->nparams = n;
}

static int xf_save(struct ctk_encoder *enc, const char *dir, struct ctk_err *e)
{
    struct transformer *b = enc->impl;
    ctk_gemm_layers_set(&b->lin, 0);
    int n = enc->nparams + (b->pooler ? 2 : 0);
    struct ctk_st_wtensor *t = xcalloc((size_t)n, sizeof *t);
    for (int i = 0; i < enc->nparams; i++) {
        const struct ctk_param *q = &enc->params[i];
        t[i].name = q->name;
        t[i].dtype = CTK_F32;
        t[i].ndim = q->ndim;
        for (int d = 0; d < q->ndim; d++) t[i].shape[d] = q->shape[d];
        t[i].data = q->w;
        t[i].from_f32 = 1;
    }
    if (b->pooler) {
        int64_t C = b->cfg.C;
        t[n - 2] = (struct ctk_st_wtensor){"pooler.dense.weight", CTK_F32, 2, {C, C}, b->pooler, 1};
        t[n - 1] = (struct ctk_st_wtensor){"pooler.dense.bias", CTK_F32, 1, {C}, b->pooler + C * C, 1};
    }
    int rc = ctk_model_save(&b->model, dir, t, (size_t)n, NULL, e);
    free(t);
    return rc;
}

static void xf_free(struct ctk_encoder *enc)
{
    struct transformer *b = enc->impl;
    if (b) {
        layers_par_free(&b->P);
        free_acts(&b->a);
        free(b->params_mem);
        free(b->pooler);
        free(b->scratch);
        free(b->relrow);
        ctk_gemm_layers_free(&b->lin);
        free(b->ids_copy);
        free(b->types_copy);
        free(b->offsets_copy);
        free(b->bw_mem);
        ctk_model_close(&b->model);
        if (enc->nparams) free(enc->params[0].g); /* the gradient slab */
        free(b);
    }
    for (int i = 0; i < enc->nparams; i++) free((char *)enc->params[i].name);
    free(enc->params);
    free(enc->identity);
    free(enc);
}

void ctk_transformer_alloc_grads(struct ctk_encoder *enc)
{
    struct transformer *b = enc->impl;
    if (enc->params[0].g) return;
    ctk_gemm_layers_set(&b->lin, 0);
    float *g = xbigalloc(b->nparams_floats, sizeof(float), 1);
    for (int i = 0; i < enc->nparams; i++) enc->params[i].g = g + (enc->params[i].w - b->params_mem);
}

static const struct ctk_encoder_ops transformer_ops = {xf_forward, xf_backward, xf_save, xf_free};

int ctk_is_transformer(const struct ctk_encoder *enc) { return enc && enc->ops == &transformer_ops; }

/* Free a partly opened encoder; returns NULL. */
static struct ctk_encoder *open_failed(struct ctk_encoder *enc, struct ctk_model *m)
{
    ctk_model_close(m);
    xf_free(enc);
    return NULL;
}

/* config.json's checks and sizes common to every kind (kind->config adds its own). */
static int common_config(struct ctk_transformer_config *tc, const struct ctk_model *m,
                         const struct ctk_transformer_kind *kind, struct ctk_err *e)
{
    const struct ctk_model_config *c = &m->cfg;
    const char *cfg = "config.json";
    if (strcmp(c->model_type, kind->model_type) != 0)
        return ctk_err_set(e, "%s: %s: model_type \"%s\" is not \"%s\"", m->dir, cfg,
                           c->model_type, kind->model_type);
    if (strcmp(c->hidden_act, "gelu") != 0)
        return ctk_err_set(e, "%s: %s: hidden_act \"%s\" is not supported (only \"gelu\", the erf "
                           "GELU)", m->dir, cfg, c->hidden_act);
    if (c->hidden_size <= 0 || c->num_attention_heads <= 0 ||
        c->hidden_size % c->num_attention_heads != 0)
        return ctk_err_set(e, "%s: %s: hidden_size %lld is not a multiple of num_attention_heads "
                           "%lld", m->dir, cfg, (long long)c->hidden_size,
                           (long long)c->num_attention_heads);
    if (c->vocab_size <= 0 || c->num_hidden_layers <= 0 || c->intermediate_size <= 0 ||
        c->max_position_embeddings <= kind->pos_offset)
        return ctk_err_set(e, "%s: %s: vocab_size, num_hidden_layers and intermediate_size must be "
                           "positive, max_position_embeddings above %lld", m->dir, cfg,
                           (long long)kind->pos_offset);
    if (!(c->hidden_dropout_prob >= 0 && c->hidden_dropout_prob < 1) ||
        !(c->attention_probs_dropout_prob >= 0 && c->attention_probs_dropout_prob < 1))
        return ctk_err_set(e, "%s: %s: dropout probabilities must be in [0, 1)", m->dir, cfg);
    *tc = (struct ctk_transformer_config){
        .V = c->vocab_size,
        .P = c->max_position_embeddings,
        .C = c->hidden_size,
        .H = c->num_attention_heads,
        .I = c->intermediate_size,
        .L = c->num_hidden_layers,
        .eps = (float)c->layer_norm_eps,
        .hidden_p = (float)c->hidden_dropout_prob,
        .att_p = (float)c->attention_probs_dropout_prob,
    };
    return kind->config(tc, m, e);
}

struct ctk_encoder *ctk_transformer_open(const struct ctk_transformer_kind *kind, const char *dir,
                                         int threads, struct ctk_err *e)
{
    struct ctk_model m;
    if (ctk_model_open(&m, dir, 0, e) < 0) return NULL;
    struct ctk_encoder *enc = xcalloc(1, sizeof *enc);
    struct transformer *b = xcalloc(1, sizeof *b);
    enc->ops = &transformer_ops;
    enc->kind = kind->model_type;
    enc->impl = b;
    b->kind = kind;
    enum ctk_pool_mode mode;
    if (common_config(&b->cfg, &m, kind, e) < 0 || ctk_model_pool_mode(&m, &mode, e) < 0)
        return open_failed(enc, &m);
    if (mode != CTK_POOL_MEAN && mode != CTK_POOL_CLS && mode != CTK_POOL_MAX &&
        mode != CTK_POOL_MEAN_SQRT_LEN) {
        ctk_err_set(e, "%s: 1_Pooling/config.json: pooling mode %s is not supported (mean, cls, "
                    "max, mean_sqrt_len_tokens are)", dir, ctk_pool_mode_name(mode));
        return open_failed(enc, &m);
    }
    if (m.pool.dim && m.pool.dim != b->cfg.C) {
        ctk_err_set(e, "%s: 1_Pooling/config.json: word_embedding_dimension %lld differs from "
                    "config.json's hidden_size %lld", dir, (long long)m.pool.dim,
                    (long long)b->cfg.C);
        return open_failed(enc, &m);
    }
    b->pool = mode;

    /* parameters: one slab, read tensor by tensor (F32, F16, BF16 widened) */
    size_t sz[NPARAM_TENSORS], total = 0;
    param_sizes(sz, &b->cfg);
    for (int i = 0; i < NPARAM_TENSORS; i++) total += sz[i];
    b->params_mem = xbigalloc(total, sizeof(float), 0);
    b->nparams_floats = total;
    point_params(&b->p, b->params_mem, &b->cfg);
    make_params(enc, b);
    for (int i = 0; i < enc->nparams; i++) {
        const struct ctk_param *q = &enc->params[i];
        if (ctk_model_read(&m, q->name, q->ndim, q->shape, q->w, e) < 0) return open_failed(enc, &m);
    }
    if (ctk_model_tensor(&m, "pooler.dense.weight") && ctk_model_tensor(&m, "pooler.dense.bias")) {
        int64_t C = b->cfg.C, sw[2] = {C, C}, sb[1] = {C};
        b->pooler = xmallocarray((size_t)(C * C + C), sizeof(float));
        if (ctk_model_read(&m, "pooler.dense.weight", 2, sw, b->pooler, e) < 0 ||
            ctk_model_read(&m, "pooler.dense.bias", 1, sb, b->pooler + C * C, e) < 0)
            return open_failed(enc, &m);
    }
    enc->identity = xstrdup(m.identity);
    enc->dim = b->cfg.C;
    enc->normalize = m.normalize;
    int64_t maxT = b->cfg.P - kind->pos_offset;
    enc->max_seq_length = m.max_seq_length > 0 && m.max_seq_length < maxT ? m.max_seq_length : maxT;
    ctk_model_close(&m);
    /* keep the folder's description (not its weights, which we copied) for save */
    memset(&m, 0, sizeof m);
    if (ctk_model_open(&b->model, dir, CTK_MODEL_NO_WEIGHTS, e) < 0) {
        memset(&b->model, 0, sizeof b->model);
        return open_failed(enc, &m);
    }
    threads = threads < 1 ? 1 : threads;
    b->lin = (struct ctk_gemm_layers){b->p.qkvw, b->p.attprojw, b->p.fcw, b->p.fcprojw, b->cfg.L,
                                      b->cfg.C, b->cfg.I, threads, 0, NULL, NULL, {0}};
    int blas_threads = getenv("CTK_BERT_BLAS_THREADS") != NULL;
    layers_par_init(&b->P, threads, blas_threads, &b->lin, b->cfg.C, b->cfg.I, b->cfg.eps);
    ctk_blas_set_threads(blas_threads ? threads : 1);
    return enc;
}

int ctk_transformer_set_pooling(struct ctk_encoder *enc, const char *mode, struct ctk_err *e)
{
    if (!ctk_is_transformer(enc)) return ctk_err_set(e, "not a BERT or MPNet encoder");
    static const enum ctk_pool_mode ok[] = {CTK_POOL_MEAN, CTK_POOL_CLS, CTK_POOL_MAX,
                                            CTK_POOL_MEAN_SQRT_LEN};
    for (size_t i = 0; i < sizeof ok / sizeof *ok; i++)
        if (strcmp(mode, ctk_pool_mode_name(ok[i])) == 0) {
            ((struct transformer *)enc->impl)->pool = ok[i];
            return 0;
        }
    return ctk_err_set(e, "pooling mode \"%s\" is not supported (mean, cls, max, "
                       "mean_sqrt_len_tokens are)", mode);
}

int ctk_transformer_set_dropout(struct ctk_encoder *enc, double hidden, double attention,
                                struct ctk_err *e)
{
    if (!ctk_is_transformer(enc)) return ctk_err_set(e, "not a BERT or MPNet encoder");
    if (!(hidden >= 0 && hidden < 1) || !(attention >= 0 && attention < 1))
        return ctk_err_set(e, "dropout rates must be in [0, 1), not %g and %g", hidden, attention);
    struct transformer *b = enc->impl;
    b->cfg.hidden_p = (float)hidden;
    b->cfg.att_p = (float)attention;
    return 0;
}

int64_t ctk_transformer_positions(const struct ctk_encoder *enc)
{
    const struct transformer *b = enc->impl;
    return b->cfg.P - b->kind->pos_offset;
}

const float *ctk_transformer_last_hidden(const struct ctk_encoder *enc, int64_t *N, int64_t *C)
{
    const struct transformer *b = enc->impl;
    int64_t n = b->a.N, c = b->cfg.C;
    if (N) *N = n;
    if (C) *C = c;
    if (!b->a.mem) return NULL;
    return layer_acts(b, b->cfg.L - 1).xo;
}
