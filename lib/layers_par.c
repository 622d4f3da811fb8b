/*
 * layers_par.c -- layers.h's passes over a batch, on a pool of threads (see
 * layers_par.h).
 */
#include <stdlib.h>
#include <string.h>

#include "blas.h"
#include "err.h"
#include "layers.h"
#include "layers_par.h"
#include "rng.h"

void layers_par_init(struct layers_par *P, int threads, int blas_threads,
                     struct ctk_gemm_layers *lin, int64_t C, int64_t I, float eps)
{
    memset(P, 0, sizeof *P);
    P->blas_threads = blas_threads;
    P->lin = lin;
    P->C = C;
    P->I = I;
    P->eps = eps;
    ctk_pool_init(&P->pool, threads);
}

void layers_par_free(struct layers_par *P)
{
    if (P->pool.tid) ctk_pool_free(&P->pool);
    free(P->partial);
    free(P->amx_b);
    free(P->ta);
    free(P->tb);
    free(P->tout);
    free(P->work);
    P->partial = P->ta = P->tb = P->tout = P->work = NULL;
    P->amx_b = NULL;
    P->partial_cap = P->amx_b_cap = P->ta_cap = P->tb_cap = P->tout_cap = P->work_cap = 0;
}

/* *buf grown to n floats at least (its contents not kept). */
static float *grow(float **buf, size_t *cap, size_t n)
{
    if (n > *cap) {
        free(*buf);
        *buf = xmallocarray(n ? n : 1, sizeof **buf);
        *cap = n;
    }
    return *buf;
}

uint64_t par_site_seed(uint64_t seed, int64_t layer, int site)
{
    uint64_t st = seed ^ ((uint64_t)(layer * NSITES + site + 1) * 0x9e3779b97f4a7c15ULL);
    return ctk_splitmix64(&st);
}

/* --- row-wise and elementwise passes -------------------------------------- */

#define ROWS_PER_ITEM 16

struct ln_job {
    float *out, *res, *mean, *rstd;
    const float *a, *abias, *bb, *w, *bias;
    float eps;
    int64_t N, C;
};

static void ln_item(void *ctx, int64_t item, int thread)
{
    (void)thread;
    struct ln_job *j = ctx;
    int64_t r0 = item * ROWS_PER_ITEM, n = j->N - r0 < ROWS_PER_ITEM ? j->N - r0 : ROWS_PER_ITEM;
    int64_t C = j->C;
    if (j->bb)
        bias_residual_layernorm_forward(j->out + r0 * C, j->res + r0 * C, j->mean + r0,
                                        j->rstd + r0, j->a + r0 * C, j->abias, j->bb + r0 * C,
                                        j->w, j->bias, j->eps, n, C);
    else
        layernorm_forward(j->out + r0 * C, j->mean + r0, j->rstd + r0, j->a + r0 * C, j->w,
                          j->bias, j->eps, n, C);
}

void par_layernorm(struct layers_par *P, float *out, float *res, float *mean, float *rstd,
                   const float *a, const float *abias, const float *bb, const float *w,
                   const float *bias, int64_t N)
{
    struct ln_job j = {out, res, mean, rstd, a, abias, bb, w, bias, P->eps, N, P->C};
    ctk_pool_run(&P->pool, (N + ROWS_PER_ITEM - 1) / ROWS_PER_ITEM, ln_item, &j);
}

struct gelu_job {
    float *out, *pre;
    const float *bias;
    int64_t N, I;
};

static void gelu_item(void *ctx, int64_t item, int thread)
{
    (void)thread;
    struct gelu_job *j = ctx;
    int64_t r0 = item * ROWS_PER_ITEM, n = j->N - r0 < ROWS_PER_ITEM ? j->N - r0 : ROWS_PER_ITEM;
    bias_gelu_forward(j->out + r0 * j->I, j->pre + r0 * j->I, j->pre + r0 * j->I, j->bias, n, j->I);
}

/* pre (N, I) += bias; out = gelu(pre) (out may be pre). */
static void par_bias_gelu(struct layers_par *P, float *out, float *pre, const float *bias, int64_t N)
{
    struct gelu_job j = {out, pre, bias, N, P->I};
    ctk_pool_run(&P->pool, (N + ROWS_PER_ITEM - 1) / ROWS_PER_ITEM, gelu_item, &j);
}

struct ew_job {
    int op;
    float *out;
    const float *a, *b;
    float p;
    uint64_t seed;
    int64_t n;
};

#define EW_PER_ITEM 32768
static void ew_item(void *ctx, int64_t item, int thread)
{
    (void)thread;
    struct ew_job *j = ctx;
    int64_t i0 = item * EW_PER_ITEM, i1 = i0 + EW_PER_ITEM < j->n ? i0 + EW_PER_ITEM : j->n;
    switch (j->op) {
    case EW_DROPOUT: dropout_forward_part(j->out, j->a, j->p, j->seed, i0, i1); break;
    case EW_DROPOUT_BACKWARD: dropout_backward_part(j->out, j->a, j->p, j->seed, i0, i1); break;
    case EW_ADD: residual_forward(j->out + i0, j->out + i0, j->a + i0, i1 - i0); break;
    default: gelu_backward(j->out + i0, j->a + i0, j->b + i0, i1 - i0); break;
    }
}

void par_ew(struct layers_par *P, int op, float *out, const float *x, const float *y, float p,
            uint64_t seed, int64_t n)
{
    struct ew_job j = {op, out, x, y, p, seed, n};
    ctk_pool_run(&P->pool, (n + EW_PER_ITEM - 1) / EW_PER_ITEM, ew_item, &j);
}

/*
 * layernorm_backward over blocks of LNB_ROWS rows: each block writes its
 * rows of dinp and its own partial dw, db; the partials are then added in
 * block order, so the sums do not depend on the threads.
 */
#define LNB_ROWS 64
struct lnb_job {
    float *dinp, *partial; /* partial: (blocks, 2, C) */
    const float *dout, *inp, *mean, *rstd, *w;
    int64_t N, C;
};

static void lnb_item(void *ctx, int64_t item, int thread)
{
    (void)thread;
    struct lnb_job *j = ctx;
    int64_t r0 = item * LNB_ROWS, n = j->N - r0 < LNB_ROWS ? j->N - r0 : LNB_ROWS, C = j->C;
    float *pw = j->partial + item * 2 * C, *pb = pw + C;
    memset(pw, 0, (size_t)(2 * C) * sizeof *pw);
    layernorm_backward(j->dinp + r0 * C, pw, pb, j->dout + r0 * C, j->inp + r0 * C, j->mean + r0,
                       j->rstd + r0, j->w, n, C);
}

void par_layernorm_backward(struct layers_par *P, float *dinp, float *dw, float *db,
                            const float *dout, const float *inp, const float *mean,
                            const float *rstd, const float *w, int64_t N)
{
    int64_t C = P->C, blocks = (N + LNB_ROWS - 1) / LNB_ROWS;
    struct lnb_job j = {dinp, grow(&P->partial, &P->partial_cap, (size_t)(blocks * 2 * C)), dout,
                        inp, mean, rstd, w, N, C};
    ctk_pool_run(&P->pool, blocks, lnb_item, &j);
    for (int64_t k = 0; k < blocks; k++) {
        const float *pw = j.partial + k * 2 * C, *pb = pw + C;
        for (int64_t i = 0; i < C; i++) {
            dw[i] += pw[i];
            db[i] += pb[i];
        }
    }
}

/* --- linear layers -------------------------------------------------------- */

/* Columns per item: a share of n for each thread, in whole 32-column panels of the kernels. */
static int64_t share(int64_t n, int threads) { return ((n + threads - 1) / threads + 31) / 32 * 32; }

struct lin_job {
    float *out;
    const float *inp, *w, *b;
    int64_t N, C, OC, per;
};

static void lin_item(void *ctx, int64_t item, int thread)
{
    (void)thread;
    struct lin_job *j = ctx;
    int64_t o0 = item * j->per, o1 = o0 + j->per < j->OC ? o0 + j->per : j->OC;
    linear_forward_cols(j->out, j->inp, j->w, j->b, j->N, j->C, j->OC, o0, o1);
}

/* --- training's products on the AMX kernel -------------------------------- */

struct tr_job {
    float *dst;
    const float *src;
    int64_t R, C; /* src (R, C) into dst (C, R) */
};

#define TR_ROWS 64
static void tr_item(void *ctx, int64_t item, int thread)
{
    (void)thread;
    struct tr_job *j = ctx;
    int64_t r0 = item * TR_ROWS, r1 = r0 + TR_ROWS < j->R ? r0 + TR_ROWS : j->R;
    for (int64_t c0 = 0; c0 < j->C; c0 += TR_ROWS) {
        int64_t c1 = c0 + TR_ROWS < j->C ? c0 + TR_ROWS : j->C;
        for (int64_t r = r0; r < r1; r++)
            for (int64_t c = c0; c < c1; c++) j->dst[c * j->R + r] = j->src[r * j->C + c];
    }
}

/* dst (C, R) = src (R, C)ᵀ, blocks of rows over the pool. */
static void par_transpose(struct layers_par *P, float *dst, const float *src, int64_t R, int64_t C)
{
    struct tr_job j = {dst, src, R, C};
    ctk_pool_run(&P->pool, (R + TR_ROWS - 1) / TR_ROWS, tr_item, &j);
}

/* out (M, N) = a (M, K) · bᵀ, b (N, K) packed now into AMX pieces. */
static void amx_product(struct layers_par *P, float *out, const float *a, const float *b,
                        const float *bias, int64_t M, int64_t K, int64_t N)
{
    size_t bytes = ctk_gemm_amx_size(N, K);
    if (bytes > P->amx_b_cap) {
        free(P->amx_b);
        P->amx_b = xmalloc(bytes);
        P->amx_b_cap = bytes;
    }
    ctk_gemm_amx_pack(P->amx_b, b, N, K);
    float *work = grow(&P->work, &P->work_cap, (size_t)P->pool.nthreads * ctk_gemm_work(K));
    ctk_gemm_packed_pool(&P->pool, work, out, a, P->amx_b, bias, CTK_GEMM_NONE, M, K, N);
}

/* Training with the AMX kernel: the weights are not packed, the kernel is AMX's. */
static int amx_training(const struct layers_par *P)
{
    return !P->lin->packed && !P->blas_threads && ctk_gemm_kind() == 2;
}

void par_linear(struct layers_par *P, float *out, const float *inp, const float *w,
                const float *bias, int64_t N, int64_t C, int64_t OC)
{
    if (P->lin->packed) {
        ctk_gemm_packed_pool(&P->pool, P->lin->work, out, inp, ctk_gemm_layers_weight(P->lin, w),
                             bias, CTK_GEMM_NONE, N, C, OC);
        return;
    }
    if (amx_training(P)) {
        amx_product(P, out, inp, w, bias, N, C, OC);
        return;
    }
    if (P->pool.nthreads == 1 || P->blas_threads) {
        linear_forward(out, inp, w, bias, N, C, OC);
        return;
    }
    struct lin_job j = {out, inp, w, bias, N, C, OC, share(OC, P->pool.nthreads)};
    ctk_pool_run(&P->pool, (OC + j.per - 1) / j.per, lin_item, &j);
}

void par_linear_gelu(struct layers_par *P, float *out, float *pre, const float *inp,
                     const float *w, const float *bias, int64_t N)
{
    if (P->lin->packed && out == pre) {
        ctk_gemm_packed_pool(&P->pool, P->lin->work, out, inp, ctk_gemm_layers_weight(P->lin, w),
                             bias, CTK_GEMM_GELU, N, P->C, P->I);
        return;
    }
    par_linear(P, pre, inp, w, NULL, N, P->C, P->I);
    par_bias_gelu(P, out, pre, bias, N);
}

struct linb_job {
    float *dinp, *dw, *db;
    const float *dout, *inp, *w;
    int64_t N, C, OC, cper, oper;
};

static void linb_item(void *ctx, int64_t item, int thread)
{
    (void)thread;
    struct linb_job *j = ctx;
    int64_t c0 = item * j->cper, c1 = c0 + j->cper < j->C ? c0 + j->cper : j->C;
    int64_t o0 = item * j->oper, o1 = o0 + j->oper < j->OC ? o0 + j->oper : j->OC;
    linear_backward_part(j->dinp, j->dw, j->db, j->dout, j->inp, j->w, j->N, j->C, j->OC,
                         c0 < j->C ? c0 : j->C, c1 < j->C ? c1 : j->C, o0 < j->OC ? o0 : j->OC,
                         o1 < j->OC ? o1 : j->OC);
}

void par_linear_backward(struct layers_par *P, float *dinp, float *dw, float *db,
                         const float *dout, const float *inp, const float *w, int64_t N,
                         int64_t C, int64_t OC)
{
    if (amx_training(P) && N > 0) {
        float *tout = grow(&P->tout, &P->tout_cap, (size_t)(N > OC ? N : OC) * (size_t)C);
        if (dinp) { /* dinp (N, C) += dout (N, OC) · w: the kernel's b is wᵀ (C, OC) */
            float *wt = grow(&P->tb, &P->tb_cap, (size_t)(OC * C));
            par_transpose(P, wt, w, OC, C);
            amx_product(P, tout, dout, wt, NULL, N, OC, C);
            par_ew(P, EW_ADD, dinp, tout, NULL, 0, 0, N * C);
        }
        if (dw) { /* dw (OC, C) += doutᵀ (OC, N) · inp: the kernel's b is inpᵀ (C, N) */
            float *dt = grow(&P->ta, &P->ta_cap, (size_t)(N * OC));
            float *it = grow(&P->tb, &P->tb_cap, (size_t)(N * C));
            par_transpose(P, dt, dout, N, OC);
            par_transpose(P, it, inp, N, C);
            amx_product(P, tout, dt, it, NULL, OC, N, C);
            par_ew(P, EW_ADD, dw, tout, NULL, 0, 0, OC * C);
        }
        dinp = dw = NULL; /* the bias's sums below */
    }
    if (P->pool.nthreads == 1 || P->blas_threads) {
        linear_backward(dinp, dw, db, dout, inp, w, N, C, OC);
        return;
    }
    struct linb_job j = {dinp, dw, db, dout, inp, w, N, C, OC, share(C, P->pool.nthreads),
                         share(OC, P->pool.nthreads)};
    ctk_pool_run(&P->pool, P->pool.nthreads, linb_item, &j);
}
