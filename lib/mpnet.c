/*
 * mpnet.c -- MPNet encoders (see mpnet.h): loading, the forward pass over
 * packed batches, pooling, Normalize, and the backward pass of all of it.
 *
 * The forward is Hugging Face's MPNetModel (modeling_mpnet.py):
 *   x = dropout(LayerNorm(wte[id] + wpe[pos]))       pos as RoBERTa counts it
 *   bias[h,i,j] = relb[bucket(j - i), h]                (MPNetEncoder, once)
 *   per layer:  qkv = x·Wqkvᵀ + b
 *               y = softmax(q·kᵀ/√hs + bias) · v per sequence and head
 *               h = LayerNorm(x + dropout(y·Woᵀ + bo))             (MPNetAttention)
 *               x = LayerNorm(h + dropout(gelu(h·Wiᵀ + bi)·W2ᵀ + b2))  (MPNetOutput)
 * then the Pooling module and, when the folder has one, Normalize
 * (layers.h's pool_forward, normalize_forward). backward() is that list read
 * bottom-up; the bias table's gradient is the sum of the attention score
 * gradients over every layer, sequence and (i, j) of its bucket.
 *
 * Threads: the linear layers, LayerNorm, GELU and dropout run on
 * layers_par.h's pool, attention per sequence and head on the same pool,
 * with OpenBLAS on one thread. Every reduction across items (LayerNorm's
 * and the bias table's gradients) sums fixed blocks in a fixed order, so
 * results do not depend on the number of threads.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <cblas.h>
#undef I /* complex.h's, which OpenBLAS's cblas.h pulls in: I is the FFN size here */

#include "blas.h"
#include "gemm.h"
#include "layers.h"
#include "layers_par.h"
#include "model.h"
#include "mpnet.h"
#include "pool.h"
#include "rng.h"

#define PAD_IDX 1    /* MPNetEmbeddings.padding_idx */
#define NBUCKETS 32  /* MPNetEncoder.compute_position_bias's num_buckets */
#define MAX_DISTANCE 128

int ctk_mpnet_bucket(int64_t rel)
{
    /* relative_position_bucket: n = -rel; half the buckets for each sign */
    int nb = NBUCKETS / 2, ret = 0;
    int64_t n = -rel;
    if (n < 0) ret += nb;
    n = n < 0 ? -n : n;
    int max_exact = nb / 2;
    if (n < max_exact) return ret + (int)n;
    /* float32 throughout, as torch computes it: log(n/8)/log(16)*8, truncated */
    float v = logf((float)n / (float)max_exact) / (float)log((double)MAX_DISTANCE / max_exact) *
              (float)(nb - max_exact);
    int64_t large = max_exact + (int64_t)v;
    if (large > nb - 1) large = nb - 1;
    return ret + (int)large;
}

/* ------------------------------------------------------------------------ */
/* The model                                                                 */

struct mpnet_config {
    int64_t V, P, C, H, I, L, NB; /* NB: rows of the bias table (>= NBUCKETS) */
    float eps;
    float hidden_p, att_p;
};

#define NPARAM_TENSORS 17
struct mpnet_params {
    float *wte;      /* (V, C) */
    float *wpe;      /* (P, C) */
    float *lnew;     /* (C) */
    float *lneb;     /* (C) */
    float *qkvw;     /* (L, 3C, C) attn.q, attn.k, attn.v weights of a layer, adjacent */
    float *qkvb;     /* (L, 3C) */
    float *attprojw; /* (L, C, C) attn.o */
    float *attprojb; /* (L, C) */
    float *ln1w;     /* (L, C) attention.LayerNorm */
    float *ln1b;     /* (L, C) */
    float *fcw;      /* (L, I, C) intermediate.dense */
    float *fcb;      /* (L, I) */
    float *fcprojw;  /* (L, C, I) output.dense */
    float *fcprojb;  /* (L, C) */
    float *ln2w;     /* (L, C) output.LayerNorm */
    float *ln2b;     /* (L, C) */
    float *relb;     /* (NB, H) encoder.relative_attention_bias */
};

static void mpnet_param_sizes(size_t sz[NPARAM_TENSORS], const struct mpnet_config *c)
{
    size_t C = (size_t)c->C, L = (size_t)c->L, I = (size_t)c->I;
    size_t s[NPARAM_TENSORS] = {c->V * C, c->P * C, C, C, L * 3 * C * C, L * 3 * C, L * C * C,
                                L * C, L * C, L * C, L * I * C, L * I, L * C * I, L * C, L * C,
                                L * C, (size_t)(c->NB * c->H)};
    memcpy(sz, s, sizeof s);
}

static void mpnet_point_params(struct mpnet_params *p, float *mem, const struct mpnet_config *c)
{
    size_t sz[NPARAM_TENSORS];
    mpnet_param_sizes(sz, c);
    float **ptrs[NPARAM_TENSORS] = {&p->wte, &p->wpe, &p->lnew, &p->lneb, &p->qkvw, &p->qkvb,
                                    &p->attprojw, &p->attprojb, &p->ln1w, &p->ln1b, &p->fcw,
                                    &p->fcb, &p->fcprojw, &p->fcprojb, &p->ln2w, &p->ln2b,
                                    &p->relb};
    for (int i = 0; i < NPARAM_TENSORS; i++) {
        *ptrs[i] = mem;
        mem += sz[i];
    }
}

/* Activations of one forward; in inference every layer uses layer 0's buffers. */
struct mpnet_acts {
    int64_t N, S, cap_N, cap_S, cap_att;
    int per_layer;
    float *mem;
    float *embsum;            /* (N, C) embeddings before their LayerNorm */
    float *embmean, *embrstd; /* (N) */
    float *x;                 /* (L+1, N, C) input of each layer; x[L] the last hidden state */
    float *qkv;               /* (L, N, 3C) */
    float *atty;              /* (L, N, C) attention output before attn.o */
    float *res1;              /* (L, N, C) */
    float *mean1, *rstd1;     /* (L, N) */
    float *h1;                /* (L, N, C) */
    float *ff;                /* (L, N, I) */
    float *ffg;               /* (L, N, I) */
    float *res2;              /* (L, N, C) */
    float *mean2, *rstd2;     /* (L, N) */
    float *tmp;               /* (N, C) */
    float *pooled;            /* (S, C) */
    float *norm;              /* (S) */
    float *att;               /* (L, Σ H·T²) softmax probabilities (training), else scratch */
    int64_t *att_off;         /* (S+1) */
    int64_t *argmax;          /* (S, C) */
    int32_t *pos;             /* (N) position ids */
};

struct mpnet {
    struct mpnet_config cfg;
    struct mpnet_params p;
    float *params_mem;
    size_t nparams_floats;
    struct ctk_model model; /* without weights, for save */
    float *pooler;          /* (C*C + C) or NULL */
    enum ctk_pool_mode pool;
    int threads;
    struct layers_par P;     /* the threads and the passes on them (layers_par.h) */
    struct ctk_gemm_layers lin; /* the layers' linear weights, packed in inference (lib/gemm.h) */
    float *scratch;         /* (threads, scratch_per) */
    int64_t scratch_T;
    size_t scratch_per;     /* floats per thread: 2·Tmax² (or the fused kernel's) + 2·Tmax */
    struct mpnet_acts a;
    /* the last training forward's batch */
    struct ctk_tokens t;
    int32_t *ids_copy;
    int64_t *offsets_copy;
    int trained;
    uint64_t seed;
    float *bw_mem;
    int64_t bw_cap;
};

static void free_acts(struct mpnet_acts *a)
{
    free(a->mem);
    free(a->att);
    free(a->att_off);
    free(a->argmax);
    free(a->pos);
    memset(a, 0, sizeof *a);
}

static void alloc_acts(struct mpnet *b, int64_t N, int64_t S, int64_t att_total, int train)
{
    struct mpnet_acts *a = &b->a;
    const struct mpnet_config *c = &b->cfg;
    if (a->mem && a->per_layer == train && N <= a->cap_N && S <= a->cap_S &&
        (!train || att_total <= a->cap_att)) {
        a->N = N;
        a->S = S;
        return;
    }
    int64_t capN = N > a->cap_N ? N : a->cap_N, capS = S > a->cap_S ? S : a->cap_S;
    if (a->per_layer != train) capN = N;
    if (capN < 1) capN = 1;
    if (capS < 1) capS = 1;
    int64_t capA = train ? (att_total > a->cap_att ? att_total : a->cap_att) : 0;
    free_acts(a);
    size_t C = (size_t)c->C, I = (size_t)c->I, L = train ? (size_t)c->L : 1, n = (size_t)capN;
    size_t sz[] = {n * C, n, n, (L + 1) * n * C, L * n * 3 * C, L * n * C, L * n * C, L * n, L * n,
                   L * n * C, train ? L * n * I : 0, L * n * I, L * n * C, L * n, L * n, n * C,
                   (size_t)capS * C, (size_t)capS};
    size_t total = 0;
    for (size_t i = 0; i < sizeof sz / sizeof *sz; i++) total += sz[i];
    a->mem = xbigalloc(total, sizeof(float), 0);
    float *m = a->mem;
    float **ptrs[] = {&a->embsum, &a->embmean, &a->embrstd, &a->x, &a->qkv, &a->atty, &a->res1,
                      &a->mean1, &a->rstd1, &a->h1, &a->ff, &a->ffg, &a->res2, &a->mean2,
                      &a->rstd2, &a->tmp, &a->pooled, &a->norm};
    for (size_t i = 0; i < sizeof ptrs / sizeof *ptrs; i++) {
        *ptrs[i] = m;
        m += sz[i];
    }
    if (!train) a->ff = a->ffg; /* inference: GELU in place */
    a->att = train && capA ? xmallocarray((size_t)(c->L * capA), sizeof(float)) : NULL;
    a->att_off = xmallocarray((size_t)capS + 1, sizeof(int64_t));
    a->argmax = xmallocarray((size_t)capS * C, sizeof(int64_t));
    a->pos = xmallocarray(n, sizeof(int32_t));
    a->cap_N = capN;
    a->cap_S = capS;
    a->cap_att = capA;
    a->per_layer = train;
    a->N = N;
    a->S = S;
}

#define LAYER(ptr, l, width) (b->a.per_layer ? (ptr) + (int64_t)(l) * N * (width) : (ptr))

/* ------------------------------------------------------------------------ */
/* Attention with the relative position bias                                 */

struct att_job {
    struct mpnet *b;
    float *out;          /* forward: (N, C) */
    float *dqkv;         /* backward: (N, 3C) */
    const float *dout;   /* backward: (N, C) */
    float *att;          /* this layer's probabilities (training), or NULL */
    float *drelb;        /* backward: (S·H, NBUCKETS) partials */
    const float *qkv;
    const int64_t *offsets;
    float p;
    uint64_t seed;
};

/* brow[T-1 + j - i] = relb[bucket(j - i), h]: the bias of head h by offset. */
static void bias_row(float *brow, const float *relb, int64_t H, int64_t h, int64_t T)
{
    for (int64_t r = -(T - 1); r <= T - 1; r++) brow[T - 1 + r] = relb[ctk_mpnet_bucket(r) * H + h];
}

static void att_one(struct att_job *j, int64_t item, float *scratch)
{
    struct mpnet *b = j->b;
    int64_t H = b->cfg.H, C = b->cfg.C, hs = C / H, C3 = 3 * C;
    int64_t s = item / H, h = item % H, o = j->offsets[s], T = j->offsets[s + 1] - o;
    if (T == 0) return;
    float scale = 1 / sqrtf((float)hs);
    const float *qkv = j->qkv + o * C3;
    const float *q = qkv + h * hs, *k = qkv + C + h * hs, *v = qkv + 2 * C + h * hs;
    float *s1 = scratch, *s2 = scratch + T * T, *brow = scratch + 2 * T * T;
    float *a = j->att ? j->att + b->a.att_off[s] + h * T * T : s1;
    uint64_t seed = j->seed ^ ((uint64_t)item * 0xd1b54a32d192ed03ULL);
    float p = j->p;
    if (!j->dqkv && !j->att && p == 0 && ctk_gemm_attention_fits(hs)) {
        float *bias = scratch + ctk_gemm_attention_work(T, hs);
        bias_row(bias, b->p.relb, H, h, T);
        ctk_gemm_attention(j->out + o * C, C, qkv, C, hs, T, h, scale, bias, scratch);
        return;
    }
    if (!j->dqkv) {
        /* a = softmax(q·kᵀ/√hs + bias), dropped out, times v */
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, T, T, hs, scale, q, C3, k, C3, 0, a, T);
        bias_row(brow, b->p.relb, H, h, T);
        for (int64_t i = 0; i < T; i++) {
            float *r = a + i * T;
            const float *bi = brow + T - 1 - i;
            for (int64_t jj = 0; jj < T; jj++) r[jj] += bi[jj];
        }
        softmax_rows(a, T);
        const float *ad = a;
        if (p > 0) {
            dropout_forward_part(s2, a, p, seed, 0, T * T);
            ad = s2;
        }
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, T, hs, T, 1, ad, T, v, C3, 0,
                    j->out + o * C + h * hs, C);
        return;
    }
    /*
     * forward: Z = q·kᵀ·scale + B, A = softmax(Z), A' = dropout(A), O = A'·V.
     * dA' = dO·Vᵀ, dV += A'ᵀ·dO, dA = dA'·mask/(1-p),
     * dZ = A ⊙ (dA - rowsum(dA ⊙ A)); dQ += scale·dZ·K, dK += scale·dZᵀ·Q,
     * dB[bucket(j-i), h] += dZ[i, j].
     */
    const float *dout = j->dout + o * C + h * hs;
    float *dq = j->dqkv + o * C3 + h * hs, *dk = dq + C, *dv = dq + 2 * C;
    float *da = s1;
    const float *a_used = a;
    if (p > 0) {
        dropout_forward_part(s2, a, p, seed, 0, T * T);
        a_used = s2;
    }
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, T, T, hs, 1, dout, C, v, C3, 0, da, T);
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, T, hs, T, 1, a_used, T, dout, C, 1, dv, C3);
    if (p > 0) {
        memcpy(s2, da, (size_t)(T * T) * sizeof *da);
        memset(da, 0, (size_t)(T * T) * sizeof *da);
        dropout_backward_part(da, s2, p, seed, 0, T * T);
    }
    /* brow: the sum of dZ over each offset j - i, then into the buckets */
    memset(brow, 0, (size_t)(2 * T - 1) * sizeof *brow);
    for (int64_t i = 0; i < T; i++) {
        float *d = da + i * T, dot = 0;
        const float *ar = a + i * T;
        float *bi = brow + T - 1 - i;
        for (int64_t jj = 0; jj < T; jj++) dot += d[jj] * ar[jj];
        for (int64_t jj = 0; jj < T; jj++) {
            d[jj] = ar[jj] * (d[jj] - dot);
            bi[jj] += d[jj];
        }
    }
    float *dr = j->drelb + item * NBUCKETS;
    memset(dr, 0, NBUCKETS * sizeof *dr);
    for (int64_t r = -(T - 1); r <= T - 1; r++) dr[ctk_mpnet_bucket(r)] += brow[T - 1 + r];
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, T, hs, T, scale, da, T, k, C3, 1, dq, C3);
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, T, hs, T, scale, da, T, q, C3, 1, dk, C3);
}

static void att_range(void *arg, int t, int64_t lo, int64_t hi)
{
    struct att_job *j = arg;
    struct mpnet *b = j->b;
    float *scratch = b->scratch + (size_t)t * b->scratch_per;
    for (int64_t i = lo; i < hi; i++) att_one(j, i, scratch);
}

static void par_attention(struct mpnet *b, struct att_job *j, int64_t S)
{
    ctk_pool_ranges(&b->P.pool, S * b->cfg.H, b->threads, att_range, j);
}

/* ------------------------------------------------------------------------ */
/* Forward                                                                   */

static int check_tokens(const struct mpnet *b, const struct ctk_tokens *t, struct ctk_err *e)
{
    const struct mpnet_config *c = &b->cfg;
    int64_t maxT = c->P - PAD_IDX - 1;
    if (t->offsets[0] != 0) return ctk_err_set(e, "token batch: offsets[0] is not 0");
    for (int64_t s = 0; s < t->S; s++) {
        int64_t T = t->offsets[s + 1] - t->offsets[s];
        if (T < 0) return ctk_err_set(e, "token batch: sequence %lld has negative length", (long long)s);
        if (T > maxT)
            return ctk_err_set(e, "sequence %lld has %lld tokens, more than the model's %lld "
                               "positions (max_position_embeddings - 2); tokenize with "
                               "--max-length %lld", (long long)s, (long long)T, (long long)maxT,
                               (long long)maxT);
    }
    int64_t N = t->offsets[t->S];
    for (int64_t n = 0; n < N; n++)
        if (t->ids[n] < 0 || t->ids[n] >= c->V)
            return ctk_err_set(e, "token id %d outside the model's vocabulary of %lld "
                               "(tokens made with another vocabulary?)", t->ids[n], (long long)c->V);
    return 0;
}

/* create_position_ids_from_input_ids: padding_idx + running count of non-pad tokens; pad: padding_idx. */
static void positions(int32_t *pos, const int32_t *ids, const int64_t *offsets, int64_t S)
{
    for (int64_t s = 0; s < S; s++) {
        int32_t k = 0;
        for (int64_t n = offsets[s]; n < offsets[s + 1]; n++)
            pos[n] = ids[n] == PAD_IDX ? PAD_IDX : PAD_IDX + ++k;
    }
}

static void ensure_scratch(struct mpnet *b, int64_t Tmax)
{
    if (Tmax <= b->scratch_T) return;
    size_t fused = ctk_gemm_attention_work(Tmax, b->cfg.C / b->cfg.H);
    b->scratch_per = (size_t)(2 * Tmax * Tmax) > fused ? (size_t)(2 * Tmax * Tmax) : fused;
    b->scratch_per += (size_t)(2 * Tmax); /* the bias by offset */
    free(b->scratch);
    b->scratch = xmallocarray((size_t)b->threads * b->scratch_per, sizeof(float));
    b->scratch_T = Tmax;
}

static int mpnet_forward(struct ctk_encoder *enc, const struct ctk_tokens *t, float *emb,
                         int train, uint64_t seed, struct ctk_err *e)
{
    struct mpnet *b = enc->impl;
    const struct mpnet_config *c = &b->cfg;
    const struct mpnet_params *p = &b->p;
    int64_t S = t->S, N = t->offsets[S], C = c->C, I = c->I, H = c->H;
    if (check_tokens(b, t, e) < 0) return -1;
    ctk_gemm_layers_set(&b->lin, !train && !enc->params[0].g && ctk_gemm_available());
    int64_t Tmax = 0, att_total = 0;
    for (int64_t s = 0; s < S; s++) {
        int64_t T = t->offsets[s + 1] - t->offsets[s];
        Tmax = T > Tmax ? T : Tmax;
        att_total += H * T * T;
    }
    ensure_scratch(b, Tmax);
    alloc_acts(b, N, S, att_total, train);
    struct mpnet_acts *a = &b->a;
    a->att_off[0] = 0;
    for (int64_t s = 0; s < S; s++) {
        int64_t T = t->offsets[s + 1] - t->offsets[s];
        a->att_off[s + 1] = a->att_off[s] + H * T * T;
    }
    float hp = train ? c->hidden_p : 0, ap = train ? c->att_p : 0;
    ctk_blas_set_threads(1); /* our threads split the work (see par_linear) */

    /* MPNetEmbeddings: word + position, LayerNorm, dropout */
    positions(a->pos, t->ids, t->offsets, S);
    for (int64_t n = 0; n < N; n++) {
        const float *we = p->wte + (int64_t)t->ids[n] * C, *pe = p->wpe + (int64_t)a->pos[n] * C;
        float *o = a->embsum + n * C;
        for (int64_t i = 0; i < C; i++) o[i] = we[i] + pe[i];
    }
    par_layernorm(&b->P, a->x, NULL, a->embmean, a->embrstd, a->embsum, NULL, NULL, p->lnew, p->lneb, N);
    if (hp > 0) par_ew(&b->P, EW_DROPOUT, a->x, a->x, NULL, hp, par_site_seed(seed, 0, SITE_EMB), N * C);

    for (int64_t l = 0; l < c->L; l++) {
        float *x = b->a.per_layer ? a->x + l * N * C : a->x;
        float *xo = b->a.per_layer ? a->x + (l + 1) * N * C : a->x;
        float *qkv = LAYER(a->qkv, l, 3 * C), *atty = LAYER(a->atty, l, C);
        float *res1 = LAYER(a->res1, l, C), *h1 = LAYER(a->h1, l, C);
        float *mean1 = LAYER(a->mean1, l, 1), *rstd1 = LAYER(a->rstd1, l, 1);
        float *ff = LAYER(a->ff, l, I), *ffg = LAYER(a->ffg, l, I);
        float *res2 = LAYER(a->res2, l, C);
        float *mean2 = LAYER(a->mean2, l, 1), *rstd2 = LAYER(a->rstd2, l, 1);

        par_linear(&b->P, qkv, x, p->qkvw + l * 3 * C * C, p->qkvb + l * 3 * C, N, C, 3 * C);
        struct att_job aj = {b, atty, NULL, NULL, train ? a->att + l * att_total : NULL, NULL, qkv,
                             t->offsets, ap, par_site_seed(seed, l, SITE_ATT)};
        par_attention(b, &aj, S);
        /* without dropout the dense layers' biases join the residual pass */
        const float *aob = p->attprojb + l * C, *fob = p->fcprojb + l * C;
        par_linear(&b->P, a->tmp, atty, p->attprojw + l * C * C, hp > 0 ? aob : NULL, N, C, C);
        if (hp > 0)
            par_ew(&b->P, EW_DROPOUT, a->tmp, a->tmp, NULL, hp, par_site_seed(seed, l, SITE_ATTOUT), N * C);
        par_layernorm(&b->P, h1, res1, mean1, rstd1, a->tmp, hp > 0 ? NULL : aob, x, p->ln1w + l * C,
                      p->ln1b + l * C, N);

        par_linear_gelu(&b->P, ffg, ff, h1, p->fcw + l * I * C, p->fcb + l * I, N);
        par_linear(&b->P, a->tmp, ffg, p->fcprojw + l * C * I, hp > 0 ? fob : NULL, N, I, C);
        if (hp > 0)
            par_ew(&b->P, EW_DROPOUT, a->tmp, a->tmp, NULL, hp, par_site_seed(seed, l, SITE_FFNOUT), N * C);
        par_layernorm(&b->P, xo, res2, mean2, rstd2, a->tmp, hp > 0 ? NULL : fob, h1, p->ln2w + l * C,
                      p->ln2b + l * C, N);
    }

    const float *last = b->a.per_layer ? a->x + c->L * N * C : a->x;
    pool_forward(enc->normalize ? a->pooled : emb, a->argmax, last, t->offsets, b->pool, S, C);
    if (enc->normalize) normalize_forward(emb, a->norm, a->pooled, S, C);

    b->trained = train;
    if (train) {
        b->ids_copy = xreallocarray(b->ids_copy, (size_t)(N ? N : 1), sizeof(int32_t));
        b->offsets_copy = xreallocarray(b->offsets_copy, (size_t)S + 1, sizeof(int64_t));
        memcpy(b->ids_copy, t->ids, (size_t)N * sizeof(int32_t));
        memcpy(b->offsets_copy, t->offsets, (size_t)(S + 1) * sizeof(int64_t));
        b->t = (struct ctk_tokens){S, b->ids_copy, NULL, b->offsets_copy};
        b->seed = seed;
    }
    return 0;
}

/* ------------------------------------------------------------------------ */
/* Backward                                                                  */

static void mpnet_backward(struct ctk_encoder *enc, const float *demb)
{
    struct mpnet *b = enc->impl;
    const struct mpnet_config *c = &b->cfg;
    const struct mpnet_params *p = &b->p;
    struct mpnet_acts *a = &b->a;
    if (!b->trained) ctk_die("internal error: backward without a training forward");
    if (!enc->params[0].g) ctk_die("internal error: backward before ctk_encoder_alloc_grads");
    const struct ctk_tokens *t = &b->t;
    int64_t S = t->S, N = t->offsets[S], C = c->C, I = c->I, L = c->L, H = c->H;
    int64_t att_total = a->att_off[S];
    float hp = c->hidden_p, ap = c->att_p;
    uint64_t seed = b->seed;
    ctk_blas_set_threads(1);

    struct mpnet_params g;
    mpnet_point_params(&g, enc->params[0].g, c);

    /* scratch: dx, dres, dh1, dtmp (N,C); dqkv (N,3C); dff, dffg (N,I); dpool (S,C); drelb (S·H, 32) */
    int64_t need = N * (7 * C + 2 * I) + S * C + S * H * NBUCKETS;
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
        float *x = a->x + l * N * C;
        float *qkv = LAYER(a->qkv, l, 3 * C), *atty = LAYER(a->atty, l, C);
        float *res1 = LAYER(a->res1, l, C), *h1 = LAYER(a->h1, l, C);
        float *mean1 = LAYER(a->mean1, l, 1), *rstd1 = LAYER(a->rstd1, l, 1);
        float *ff = LAYER(a->ff, l, I), *ffg = LAYER(a->ffg, l, I);
        float *res2 = LAYER(a->res2, l, C);
        float *mean2 = LAYER(a->mean2, l, 1), *rstd2 = LAYER(a->rstd2, l, 1);

        /* xo = LayerNorm(res2 = dropout(ffg·W2ᵀ + b2) + h1); dx holds dxo */
        memset(dres, 0, (size_t)(N * C) * sizeof(float));
        par_layernorm_backward(&b->P, dres, g.ln2w + l * C, g.ln2b + l * C, dx, res2, mean2, rstd2,
                               p->ln2w + l * C, N);
        memcpy(dh1, dres, (size_t)(N * C) * sizeof(float));
        memset(dtmp, 0, (size_t)(N * C) * sizeof(float));
        par_ew(&b->P, EW_DROPOUT_BACKWARD, dtmp, dres, NULL, hp, par_site_seed(seed, l, SITE_FFNOUT), N * C);
        memset(dffg, 0, (size_t)(N * I) * sizeof(float));
        par_linear_backward(&b->P, dffg, g.fcprojw + l * C * I, g.fcprojb + l * C, dtmp, ffg,
                        p->fcprojw + l * C * I, N, I, C);
        /* ffg = gelu(ff = h1·Wiᵀ + bi) */
        memset(dff, 0, (size_t)(N * I) * sizeof(float));
        par_ew(&b->P, EW_GELU_BACKWARD, dff, dffg, ff, 0, 0, N * I);
        par_linear_backward(&b->P, dh1, g.fcw + l * I * C, g.fcb + l * I, dff, h1, p->fcw + l * I * C, N, C, I);

        /* h1 = LayerNorm(res1 = dropout(atty·Woᵀ + bo) + x) */
        memset(dres, 0, (size_t)(N * C) * sizeof(float));
        par_layernorm_backward(&b->P, dres, g.ln1w + l * C, g.ln1b + l * C, dh1, res1, mean1, rstd1,
                               p->ln1w + l * C, N);
        memcpy(dx, dres, (size_t)(N * C) * sizeof(float));
        memset(dtmp, 0, (size_t)(N * C) * sizeof(float));
        par_ew(&b->P, EW_DROPOUT_BACKWARD, dtmp, dres, NULL, hp, par_site_seed(seed, l, SITE_ATTOUT), N * C);
        memset(dh1, 0, (size_t)(N * C) * sizeof(float)); /* dh1 reused as datty */
        par_linear_backward(&b->P, dh1, g.attprojw + l * C * C, g.attprojb + l * C, dtmp, atty,
                        p->attprojw + l * C * C, N, C, C);
        /* atty = attention(qkv, bias); the bias gradient summed per (sequence, head), in order */
        memset(dqkv, 0, (size_t)(N * 3 * C) * sizeof(float));
        struct att_job aj = {b, NULL, dqkv, dh1, a->att + l * att_total, drelb, qkv, t->offsets,
                             ap, par_site_seed(seed, l, SITE_ATT)};
        par_attention(b, &aj, S);
        for (int64_t it = 0; it < S * H; it++) {
            int64_t h = it % H;
            if (t->offsets[it / H + 1] == t->offsets[it / H]) continue;
            for (int64_t k = 0; k < NBUCKETS; k++) g.relb[k * H + h] += drelb[it * NBUCKETS + k];
        }
        /* qkv = x·Wqkvᵀ + bqkv */
        par_linear_backward(&b->P, dx, g.qkvw + l * 3 * C * C, g.qkvb + l * 3 * C, dqkv, x,
                        p->qkvw + l * 3 * C * C, N, C, 3 * C);
    }

    /* x0 = dropout(LayerNorm(embsum)); embsum = wte[id] + wpe[pos] */
    memset(dres, 0, (size_t)(N * C) * sizeof(float));
    par_ew(&b->P, EW_DROPOUT_BACKWARD, dres, dx, NULL, hp, par_site_seed(seed, 0, SITE_EMB), N * C);
    memset(dx, 0, (size_t)(N * C) * sizeof(float));
    par_layernorm_backward(&b->P, dx, g.lnew, g.lneb, dres, a->embsum, a->embmean, a->embrstd, p->lnew, N);
    positions(a->pos, t->ids, t->offsets, S);
    for (int64_t n = 0; n < N; n++) {
        float *we = g.wte + (int64_t)t->ids[n] * C, *pe = g.wpe + (int64_t)a->pos[n] * C;
        const float *d = dx + n * C;
        for (int64_t i = 0; i < C; i++) {
            we[i] += d[i];
            pe[i] += d[i];
        }
    }
}

/* ------------------------------------------------------------------------ */
/* Loading, saving                                                           */

static void make_params(struct ctk_encoder *enc, struct mpnet *b)
{
    const struct mpnet_config *c = &b->cfg;
    int64_t C = c->C, I = c->I, L = c->L;
    int n = 4 + 16 * (int)L + 1, k = 0;
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
    const struct mpnet_params *p = &b->p;
    ADD(xstrdup("embeddings.word_embeddings.weight"), p->wte, c->V, C, 1);
    ADD(xstrdup("embeddings.position_embeddings.weight"), p->wpe, c->P, C, 1);
    ADD(xstrdup("embeddings.LayerNorm.weight"), p->lnew, C, 0, 0);
    ADD(xstrdup("embeddings.LayerNorm.bias"), p->lneb, C, 0, 0);
    for (int64_t l = 0; l < L; l++) {
        char buf[128];
#define NM(fmt) (snprintf(buf, sizeof buf, "encoder.layer.%lld." fmt, (long long)l), xstrdup(buf))
        ADD(NM("attention.attn.q.weight"), p->qkvw + l * 3 * C * C, C, C, 1);
        ADD(NM("attention.attn.q.bias"), p->qkvb + l * 3 * C, C, 0, 0);
        ADD(NM("attention.attn.k.weight"), p->qkvw + l * 3 * C * C + C * C, C, C, 1);
        ADD(NM("attention.attn.k.bias"), p->qkvb + l * 3 * C + C, C, 0, 0);
        ADD(NM("attention.attn.v.weight"), p->qkvw + l * 3 * C * C + 2 * C * C, C, C, 1);
        ADD(NM("attention.attn.v.bias"), p->qkvb + l * 3 * C + 2 * C, C, 0, 0);
        ADD(NM("attention.attn.o.weight"), p->attprojw + l * C * C, C, C, 1);
        ADD(NM("attention.attn.o.bias"), p->attprojb + l * C, C, 0, 0);
        ADD(NM("attention.LayerNorm.weight"), p->ln1w + l * C, C, 0, 0);
        ADD(NM("attention.LayerNorm.bias"), p->ln1b + l * C, C, 0, 0);
        ADD(NM("intermediate.dense.weight"), p->fcw + l * I * C, I, C, 1);
        ADD(NM("intermediate.dense.bias"), p->fcb + l * I, I, 0, 0);
        ADD(NM("output.dense.weight"), p->fcprojw + l * C * I, C, I, 1);
        ADD(NM("output.dense.bias"), p->fcprojb + l * C, C, 0, 0);
        ADD(NM("output.LayerNorm.weight"), p->ln2w + l * C, C, 0, 0);
        ADD(NM("output.LayerNorm.bias"), p->ln2b + l * C, C, 0, 0);
#undef NM
    }
    /*
     * not decayed: sentence-transformers' fit and transformers' Trainer leave
     * out of weight decay every parameter whose name contains "bias"
     */
    ADD(xstrdup("encoder.relative_attention_bias.weight"), p->relb, c->NB, c->H, 0);
#undef ADD
    enc->params = ps;
    enc->nparams = n;
}

static int config_from(struct mpnet_config *mc, const struct ctk_model *m, struct ctk_err *e)
{
    const struct ctk_model_config *c = &m->cfg;
    const char *cfg = "config.json";
    if (strcmp(c->model_type, "mpnet") != 0)
        return ctk_err_set(e, "%s: %s: model_type \"%s\" is not \"mpnet\"", m->dir, cfg, c->model_type);
    if (strcmp(c->hidden_act, "gelu") != 0)
        return ctk_err_set(e, "%s: %s: hidden_act \"%s\" is not supported (only \"gelu\")", m->dir,
                           cfg, c->hidden_act);
    if (c->hidden_size <= 0 || c->num_attention_heads <= 0 ||
        c->hidden_size % c->num_attention_heads != 0)
        return ctk_err_set(e, "%s: %s: hidden_size %lld is not a multiple of num_attention_heads "
                           "%lld", m->dir, cfg, (long long)c->hidden_size,
                           (long long)c->num_attention_heads);
    if (c->vocab_size <= PAD_IDX || c->num_hidden_layers <= 0 || c->intermediate_size <= 0 ||
        c->max_position_embeddings <= PAD_IDX + 1)
        return ctk_err_set(e, "%s: %s: vocab_size, num_hidden_layers, intermediate_size and "
                           "max_position_embeddings must be positive (positions above %d)",
                           m->dir, cfg, PAD_IDX + 1);
    if (c->relative_attention_num_buckets < NBUCKETS)
        return ctk_err_set(e, "%s: %s: relative_attention_num_buckets %lld: MPNet uses %d buckets",
                           m->dir, cfg, (long long)c->relative_attention_num_buckets, NBUCKETS);
    if (!(c->hidden_dropout_prob >= 0 && c->hidden_dropout_prob < 1) ||
        !(c->attention_probs_dropout_prob >= 0 && c->attention_probs_dropout_prob < 1))
        return ctk_err_set(e, "%s: %s: dropout probabilities must be in [0, 1)", m->dir, cfg);
    mc->V = c->vocab_size;
    mc->P = c->max_position_embeddings;
    mc->C = c->hidden_size;
    mc->H = c->num_attention_heads;
    mc->I = c->intermediate_size;
    mc->L = c->num_hidden_layers;
    mc->NB = c->relative_attention_num_buckets;
    mc->eps = (float)c->layer_norm_eps;
    mc->hidden_p = (float)c->hidden_dropout_prob;
    mc->att_p = (float)c->attention_probs_dropout_prob;
    return 0;
}

static int mpnet_save(struct ctk_encoder *enc, const char *dir, struct ctk_err *e)
{
    struct mpnet *b = enc->impl;
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

static void mpnet_free(struct ctk_encoder *enc)
{
    struct mpnet *b = enc->impl;
    if (b) {
        layers_par_free(&b->P);
        free_acts(&b->a);
        free(b->params_mem);
        free(b->pooler);
        free(b->scratch);
        ctk_gemm_layers_free(&b->lin);
        free(b->ids_copy);
        free(b->offsets_copy);
        free(b->bw_mem);
        ctk_model_close(&b->model);
        if (enc->nparams) free(enc->params[0].g);
        free(b);
    }
    for (int i = 0; i < enc->nparams; i++) free((char *)enc->params[i].name);
    free(enc->params);
    free(enc->identity);
    free(enc);
}

void ctk_mpnet_alloc_grads(struct ctk_encoder *enc)
{
    struct mpnet *b = enc->impl;
    if (enc->params[0].g) return;
    ctk_gemm_layers_set(&b->lin, 0);
    float *g = xbigalloc(b->nparams_floats, sizeof(float), 1);
    for (int i = 0; i < enc->nparams; i++) enc->params[i].g = g + (enc->params[i].w - b->params_mem);
}

static const struct ctk_encoder_ops mpnet_ops = {mpnet_forward, mpnet_backward, mpnet_save,
                                                 mpnet_free};

int ctk_is_mpnet(const struct ctk_encoder *enc) { return enc && enc->ops == &mpnet_ops; }

static struct ctk_encoder *open_failed(struct ctk_encoder *enc, struct ctk_model *m)
{
    ctk_model_close(m);
    mpnet_free(enc);
    return NULL;
}

struct ctk_encoder *ctk_mpnet_open(const char *dir, int threads, struct ctk_err *e)
{
    struct ctk_model m;
    if (ctk_model_open(&m, dir, 0, e) < 0) return NULL;
    struct ctk_encoder *enc = xcalloc(1, sizeof *enc);
    struct mpnet *b = xcalloc(1, sizeof *b);
    enc->ops = &mpnet_ops;
    enc->kind = "mpnet";
    enc->impl = b;
    enum ctk_pool_mode mode;
    if (config_from(&b->cfg, &m, e) < 0 || ctk_model_pool_mode(&m, &mode, e) < 0)
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
    size_t sz[NPARAM_TENSORS], total = 0;
    mpnet_param_sizes(sz, &b->cfg);
    for (int i = 0; i < NPARAM_TENSORS; i++) total += sz[i];
    b->params_mem = xbigalloc(total, sizeof(float), 0);
    b->nparams_floats = total;
    mpnet_point_params(&b->p, b->params_mem, &b->cfg);
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
    int64_t maxT = b->cfg.P - PAD_IDX - 1;
    enc->max_seq_length = m.max_seq_length > 0 && m.max_seq_length < maxT ? m.max_seq_length : maxT;
    ctk_model_close(&m);
    memset(&m, 0, sizeof m);
    if (ctk_model_open(&b->model, dir, CTK_MODEL_NO_WEIGHTS, e) < 0) {
        memset(&b->model, 0, sizeof b->model);
        return open_failed(enc, &m);
    }
    b->threads = threads < 1 ? 1 : threads;
    b->lin = (struct ctk_gemm_layers){b->p.qkvw, b->p.attprojw, b->p.fcw, b->p.fcprojw, b->cfg.L,
                                      b->cfg.C, b->cfg.I, b->threads, 0, NULL, NULL, {0}};
    layers_par_init(&b->P, b->threads, 0, &b->lin, b->cfg.C, b->cfg.I, b->cfg.eps);
    return enc;
}

int ctk_mpnet_set_pooling(struct ctk_encoder *enc, const char *mode, struct ctk_err *e)
{
    if (!ctk_is_mpnet(enc)) return ctk_err_set(e, "not an MPNet encoder");
    static const enum ctk_pool_mode ok[] = {CTK_POOL_MEAN, CTK_POOL_CLS, CTK_POOL_MAX,
                                            CTK_POOL_MEAN_SQRT_LEN};
    for (size_t i = 0; i < sizeof ok / sizeof *ok; i++)
        if (strcmp(mode, ctk_pool_mode_name(ok[i])) == 0) {
            ((struct mpnet *)enc->impl)->pool = ok[i];
            return 0;
        }
    return ctk_err_set(e, "pooling mode \"%s\" is not supported (mean, cls, max, "
                       "mean_sqrt_len_tokens are)", mode);
}

int ctk_mpnet_set_dropout(struct ctk_encoder *enc, double hidden, double attention,
                          struct ctk_err *e)
{
    if (!ctk_is_mpnet(enc)) return ctk_err_set(e, "not an MPNet encoder");
    if (!(hidden >= 0 && hidden < 1) || !(attention >= 0 && attention < 1))
        return ctk_err_set(e, "dropout rates must be in [0, 1), not %g and %g", hidden, attention);
    struct mpnet *b = enc->impl;
    b->cfg.hidden_p = (float)hidden;
    b->cfg.att_p = (float)attention;
    return 0;
}

int64_t ctk_mpnet_positions(const struct ctk_encoder *enc)
{
    return ((const struct mpnet *)enc->impl)->cfg.P - PAD_IDX - 1;
}

const float *ctk_mpnet_last_hidden(const struct ctk_encoder *enc, int64_t *N, int64_t *C)
{
    const struct mpnet *b = enc->impl;
    int64_t n = b->a.N, c = b->cfg.C;
    if (N) *N = n;
    if (C) *C = c;
    if (!b->a.mem) return NULL;
    return b->a.per_layer ? b->a.x + b->cfg.L * n * c : b->a.x;
}
