/*
 * layers.h -- the layers of a BERT-family transformer, forward and backward,
 * over packed token batches (llm.c's train_gpt2.c style).
 *
 * Dimension letters, fixed here for every layer and for transformer.c:
 *   N  packed tokens of a batch (all sequences end to end, no padding)
 *   S  sequences in the batch; sequence s is tokens offsets[s] .. offsets[s+1]
 *   T  length of one sequence
 *   C  hidden size, H heads (head size C/H), I intermediate (FFN) size
 *   V  vocabulary, P positions, D output (embedding) dimension
 *
 * Conventions (STYLE.md section 4): arguments are outputs, then the buffers
 * forward saves for backward, then inputs, parameters and sizes. Forward
 * overwrites its outputs; backward ACCUMULATES (+=) into d-prefixed gradient
 * buffers, any of which may be NULL when that gradient is not wanted (the
 * input of the first layer, frozen parameters). Shapes are PyTorch's,
 * row-major: a linear weight is (OC, C).
 *
 * Dropout masks are not stored: mask element i of a call is a pure function
 * of (seed, i) (output i of lib/rng.h's splitmix64 stream from seed), so forward and backward draw
 * the same mask, whatever the threads, and a training step can be repeated
 * exactly (GradCache's second pass relies on it).
 *
 * The library is compiled in single precision. tests/unit/test_layers.c
 * compiles this same code in double precision (CTK_LAYERS_DOUBLE) for its
 * finite-difference gradient checks.
 */
#ifndef CTK_LAYERS_H
#define CTK_LAYERS_H

#include <stdint.h>

#include "model.h" /* enum ctk_pool_mode */

/* out (N,OC) = inp (N,C) · w (OC,C)ᵀ + b (OC); b may be NULL. */
void linear_forward(float *out, const float *inp, const float *w, const float *b,
                    int64_t N, int64_t C, int64_t OC);
/* The same for output columns o0 .. o1-1 only (row stride of out still OC): threads split a layer so. */
void linear_forward_cols(float *out, const float *inp, const float *w, const float *b, int64_t N,
                         int64_t C, int64_t OC, int64_t o0, int64_t o1);
/* dinp (N,C) += dout·w; dw (OC,C) += doutᵀ·inp; db (OC) += Σ_n dout. */
void linear_backward(float *dinp, float *dw, float *db, const float *dout, const float *inp,
                     const float *w, int64_t N, int64_t C, int64_t OC);
/* The part of it for input columns c0 .. c1-1 of dinp and rows o0 .. o1-1 of dw and db. */
void linear_backward_part(float *dinp, float *dw, float *db, const float *dout, const float *inp,
                          const float *w, int64_t N, int64_t C, int64_t OC, int64_t c0,
                          int64_t c1, int64_t o0, int64_t o1);

/*
 * out (N,C) = (inp - mean) * rstd * w + b over each row, saving mean (N) and
 * rstd (N) = 1/sqrt(var + eps) (biased variance, as torch.nn.LayerNorm).
 */
void layernorm_forward(float *out, float *mean, float *rstd, const float *inp, const float *w,
                       const float *b, float eps, int64_t N, int64_t C);
void layernorm_backward(float *dinp, float *dw, float *db, const float *dout, const float *inp,
                        const float *mean, const float *rstd, const float *w, int64_t N, int64_t C);

/*
 * The post-LN residual of a BERT layer in one pass over each row:
 * res (N,C) = a + b, out = LayerNorm(res). Backward: layernorm_backward on
 * res gives dres, which flows unchanged into both a and b.
 */
void residual_layernorm_forward(float *out, float *res, float *mean, float *rstd,
                                const float *a, const float *b, const float *w,
                                const float *bias, float eps, int64_t N, int64_t C);

/*
 * The same with the bias of the dense layer that made a added in the same
 * pass: res = a + abias (C, per row) + b. Inference folds the bias here
 * rather than in the sgemm (one pass over the rows fewer); backward: the
 * bias gradient is the column sum of dres.
 */
void bias_residual_layernorm_forward(float *out, float *res, float *mean, float *rstd,
                                     const float *a, const float *abias, const float *b,
                                     const float *w, const float *bias, float eps, int64_t N,
                                     int64_t C);

/* out (n) = inp + b elementwise (a residual); backward: dout flows into both. */
void residual_forward(float *out, const float *a, const float *b, int64_t n);
void residual_backward(float *da, float *db, const float *dout, int64_t n);

/* out (n) = 0.5·x·(1 + erf(x/√2)), the exact ("erf") GELU of BERT; out may be inp. */
void gelu_forward(float *out, const float *inp, int64_t n);
/*
 * The intermediate layer's bias and GELU in one pass over (N, C) rows:
 * pre = inp + b (kept for gelu_backward; may be inp), out = gelu(pre) (may
 * be pre).
 */
void bias_gelu_forward(float *out, float *pre, const float *inp, const float *b, int64_t N,
                       int64_t C);
/* dinp += dout · (Φ(x) + x·φ(x)). */
void gelu_backward(float *dinp, const float *dout, const float *inp, int64_t n);

/*
 * Dropout with rate p (inverted: kept elements scaled by 1/(1-p)). Element i
 * is dropped when u(seed, i) < p, u the top 24 bits of splitmix64
 * output i from seed as a float in [0, 1); out may be inp.
 */
void dropout_forward(float *out, const float *inp, float p, uint64_t seed, int64_t n);
/* dinp += dout · mask / (1-p), the same mask as forward for the same (p, seed). */
void dropout_backward(float *dinp, const float *dout, float p, uint64_t seed, int64_t n);
/* The same over elements i0 .. i1-1 only (the arrays still start at element 0). */
void dropout_forward_part(float *out, const float *inp, float p, uint64_t seed, int64_t i0,
                          int64_t i1);
void dropout_backward_part(float *dinp, const float *dout, float p, uint64_t seed, int64_t i0,
                           int64_t i1);

/* Softmax of each of the T rows of a (T, T), in place. */
void softmax_rows(float *a, int64_t T);

/*
 * Multi-head self-attention of one sequence of T tokens, heads h0 .. h1-1:
 * qkv (T, 3C) holds Q, K, V side by side (row stride 3C); out (T, C) gets
 * softmax(Q_h·K_hᵀ/√(C/H)) · V_h in its columns of head h (row stride C).
 * att (H, T, T) saves the softmax probabilities (before dropout) for
 * backward; with p > 0 the probabilities are dropped out with seed
 * (element index h·T·T + i·T + j) before multiplying V. scratch (T, T) is
 * working space. Every token attends to every token of its own sequence:
 * packing leaves no padding to mask. bias, unless NULL: a relative position
 * bias (MPNet) added to the scores, 2T - 1 values per head by offset j - i
 * (head h's at bias + (h - h0)·(2T - 1), offset r at index T - 1 + r).
 */
void attention_forward(float *out, float *att, const float *qkv, float *scratch, float p,
                       uint64_t seed, int64_t T, int64_t C, int64_t H, int64_t h0, int64_t h1,
                       const float *bias);
/*
 * dqkv (T, 3C) += the gradients of Q, K and V for heads h0 .. h1-1; scratch
 * (2, T, T); dbias, unless NULL, += the bias's gradient, laid out as bias.
 */
void attention_backward(float *dqkv, float *scratch, const float *dout, const float *att,
                        const float *qkv, float p, uint64_t seed, int64_t T, int64_t C,
                        int64_t H, int64_t h0, int64_t h1, float *dbias);

/*
 * Embeddings: out (N,C) = wte[ids[n]] + wpe[position] + wtt[type_ids[n]]:
 * the position pos[n], or with pos NULL the token's index in its sequence;
 * type_ids NULL: type 0; wtt NULL: no type embeddings. Ids are checked by
 * the caller. Backward adds dout's rows into the tables' gradients (each may
 * be NULL).
 */
void embeddings_forward(float *out, const int32_t *ids, const int32_t *type_ids,
                        const int32_t *pos, const int64_t *offsets, const float *wte,
                        const float *wpe, const float *wtt, int64_t S, int64_t C);
void embeddings_backward(float *dwte, float *dwpe, float *dwtt, const float *dout,
                         const int32_t *ids, const int32_t *type_ids, const int32_t *pos,
                         const int64_t *offsets, int64_t S, int64_t C);

/*
 * Pooling of token states inp (N,C) into out (S,C), as sentence-transformers'
 * Pooling module; mode is model.h's enum ctk_pool_mode (mean, cls, max,
 * mean_sqrt_len; the others are refused when the model is opened).
 */
/*
 * mean: Σ/T; cls: the first token; max: the elementwise maximum (argmax (S,C)
 * saves the winning token index for backward; may be NULL otherwise);
 * mean_sqrt_len: Σ/√T. An empty sequence pools to zeros.
 */
void pool_forward(float *out, int64_t *argmax, const float *inp, const int64_t *offsets,
                  enum ctk_pool_mode mode, int64_t S, int64_t C);
void pool_backward(float *dinp, const float *dout, const int64_t *argmax, const int64_t *offsets,
                   enum ctk_pool_mode mode, int64_t S, int64_t C);

/*
 * L2 normalisation of each row, as torch.nn.functional.normalize: out (S,D)
 * = inp / max(‖inp‖, 1e-12), saving norm (S).
 */
void normalize_forward(float *out, float *norm, const float *inp, int64_t S, int64_t D);
void normalize_backward(float *dinp, const float *dout, const float *inp, const float *norm,
                        int64_t S, int64_t D);

#endif
