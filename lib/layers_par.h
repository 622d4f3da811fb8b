/*
 * layers_par.h -- the passes of layers.h over a batch's N tokens, spread over
 * a pool of threads (lib/pool.h), as the transformer encoder
 * (transformer.c) runs them: LayerNorm with its residual sum, GELU,
 * dropout, LayerNorm's backward, and the linear layers forward and
 * backward.
 *
 * Work is cut into fixed items (rows or elements, or blocks of output
 * columns) that do not depend on the number of threads, and every sum
 * across items is added in item order: results are the same with any
 * number of threads. The linear layers run on lib/gemm.h's kernel over
 * packed weights when the encoder has packed them (inference). In training
 * the weights change at every step: with the AMX kernel (ctk_gemm_kind()
 * 2) each product packs its second operand at the call (the forward w, the
 * input gradient wᵀ, the weight gradient the input's transpose, multiplied
 * by dout's), and gradients are added from a temporary; else sgemm,
 * OpenBLAS single-threaded on blocks of columns, or with blas_threads,
 * OpenBLAS's own threads on the whole product.
 */
#ifndef CTK_LAYERS_PAR_H
#define CTK_LAYERS_PAR_H

#include <stddef.h>
#include <stdint.h>

#include "gemm.h"
#include "pool.h"

struct layers_par {
    struct ctk_pool pool;        /* the threads (pool.nthreads, the caller's included) */
    int blas_threads;            /* products threaded by OpenBLAS instead of the pool */
    struct ctk_gemm_layers *lin; /* the encoder's linear weights (packed or not) */
    int64_t C, I;                /* hidden and FFN widths */
    float eps;                   /* LayerNorm's */
    float *partial;              /* LayerNorm backward's per-block sums */
    size_t partial_cap;
    /* training on the AMX kernel: packed operand, transposes, product, kernel working space */
    void *amx_b;
    size_t amx_b_cap;
    float *ta, *tb, *tout, *work;
    size_t ta_cap, tb_cap, tout_cap, work_cap;
};

/* Start the pool of threads threads; lin and the widths are the encoder's. */
void layers_par_init(struct layers_par *P, int threads, int blas_threads,
                     struct ctk_gemm_layers *lin, int64_t C, int64_t I, float eps);
void layers_par_free(struct layers_par *P);

/* out = LayerNorm(a + abias + bb) with res = the sum (bb NULL: out = LayerNorm(a)), N rows of C. */
void par_layernorm(struct layers_par *P, float *out, float *res, float *mean, float *rstd,
                   const float *a, const float *abias, const float *bb, const float *w,
                   const float *bias, int64_t N);

/*
 * Elementwise over n elements: out = dropout(x); out += dropout's backward
 * of x; out += gelu'(y)·x; out += x.
 */
enum { EW_DROPOUT, EW_DROPOUT_BACKWARD, EW_GELU_BACKWARD, EW_ADD };
void par_ew(struct layers_par *P, int op, float *out, const float *x, const float *y, float p,
            uint64_t seed, int64_t n);

/* dinp += LayerNorm's input gradient; dw, db += its parameters' (summed in block order). */
void par_layernorm_backward(struct layers_par *P, float *dinp, float *dw, float *db,
                            const float *dout, const float *inp, const float *mean,
                            const float *rstd, const float *w, int64_t N);

/* out (N, OC) = inp (N, C)·wᵀ + bias (bias may be NULL); w one of the encoder's weights. */
void par_linear(struct layers_par *P, float *out, const float *inp, const float *w,
                const float *bias, int64_t N, int64_t C, int64_t OC);
/*
 * The FFN's first layer: pre (N, I) = inp·wᵀ + bias, out = gelu(pre); one
 * pass with out == pre when the weights are packed (pre not kept).
 */
void par_linear_gelu(struct layers_par *P, float *out, float *pre, const float *inp,
                     const float *w, const float *bias, int64_t N);
/* dinp += dout·w, dw += doutᵀ·inp, db += Σ dout (each may be NULL but dout). */
void par_linear_backward(struct layers_par *P, float *dinp, float *dw, float *db,
                         const float *dout, const float *inp, const float *w, int64_t N,
                         int64_t C, int64_t OC);

/* Seed of dropout site `site` of layer `layer`: one stream of the training seed for each. */
enum { SITE_EMB, SITE_ATT, SITE_ATTOUT, SITE_FFNOUT, NSITES };
uint64_t par_site_seed(uint64_t seed, int64_t layer, int site);

#endif
