/*
 * gemm.h -- the product of a linear layer over a weight packed once.
 *
 * out (M, OC) = a (M, K) · w (OC, K)ᵀ + b, w a weight as PyTorch stores it.
 * Inference multiplies the same weights again and again; a general sgemm
 * copies ("packs") the weight into its kernel's layout on every call, and
 * for the few tokens of one sentence that copy costs as much as the
 * product. Here the weight is packed once, in place, into panels of
 * CTK_GEMM_NR output columns stored k-major (panel p holds, for each k,
 * the weights of columns 32p .. 32p+31 side by side: the kernel's vector
 * loads), the last panel narrower when OC is not a multiple of 32; packing
 * is a permutation of the OC·K floats, so it needs no more memory.
 *
 * The kernel holds a tile of 14 rows × 32 columns in AVX-512 registers and
 * adds one k at a time, with the rows of a copied per block into the
 * interleaved order it reads them in. Every output is the same chain of
 * fused multiply-adds, k = 0, 1, ..., K-1, from zero, whatever M, the tile
 * or block it falls in, the columns asked for or the thread that runs it:
 * results do not depend on the rest of the batch or on the threads, to the
 * bit. On CPUs without AVX-512F (ctk_gemm_available() 0) callers keep
 * their weights unpacked and multiply with sgemm.
 */
#ifndef CTK_GEMM_H
#define CTK_GEMM_H

#include <stddef.h>
#include <stdint.h>

/* Output columns per panel of a packed weight. */
#define CTK_GEMM_NR 32

/*
 * The working space of the kernel in use (per concurrent call), in floats:
 * for ctk_gemm_packed a block of a's rows over all of K (CTK_GEMM_WORK,
 * 512 KB, or more when K is over 8,192); with AMX (kind 2), at least
 * ctk_gemm_amx_work(K) bytes.
 */
#define CTK_GEMM_WORK 131072
size_t ctk_gemm_work(int64_t K);

/*
 * The kernel this process uses: 1, AVX-512F registers on float weights,
 * wherever the CPU has AVX-512F; 0, none (callers keep sgemm on unpacked
 * weights); 2, AMX tiles on float weights split in bfloat16 pieces
 * (lib/gemm_amx.c), only when the environment's CTK_GEMM_KERNEL is "amx"
 * and the CPU and the operating system's kernel allow it. CTK_GEMM_KERNEL
 * "sgemm" asks for 0, "avx512" for 1 (the default). Fixed at the first call.
 */
int ctk_gemm_kind(void);
/* What ctk_gemm_kind() names, for people: "AVX-512 on packed weights", ... */
const char *ctk_gemm_kind_name(void);
/* ctk_gemm_kind() > 0: weights are packed for inference. */
int ctk_gemm_available(void);
/* 1 when this CPU has AVX-512F (ctk_gemm_packed), whatever the kind in use. */
int ctk_gemm_avx512(void);

/* Pack the (OC, K) weight w in place; tmp holds OC·K floats for the duration. */
void ctk_gemm_pack(float *w, int64_t OC, int64_t K, float *tmp);
/* The inverse: back to (OC, K) row-major. */
void ctk_gemm_unpack(float *w, int64_t OC, int64_t K, float *tmp);

/*
 * The linear weights of L transformer layers of width C and FFN width F, as
 * an encoder (BERT, MPNet) runs them: each array layer after layer, qkvw
 * (3C, C), attprojw (C, C), fcw (F, C), fcprojw (C, F); packed in place
 * for inference, in PyTorch's layout for training, save and whatever reads
 * the parameters; work, the working space of `threads` concurrent
 * products, allocated when first packed. Filled in by the encoder, packed
 * 0 and work NULL; ctk_gemm_layers_free frees work.
 */
struct ctk_gemm_layers {
    float *qkvw, *attprojw, *fcw, *fcprojw;
    int64_t L, C, F;
    int threads;
    int packed;
    float *work; /* (threads, ctk_gemm_work(max(C, F))) */
    void *amx;   /* kind 2: the packed pieces of the four arrays, at byte offsets amx_off */
    size_t amx_off[4];
};
/* Pack (packed 1) or unpack (0) the weights in place; nothing if they already are. */
void ctk_gemm_layers_set(struct ctk_gemm_layers *g, int packed);
void ctk_gemm_layers_free(struct ctk_gemm_layers *g);
/*
 * The packed form of w, one layer's matrix in one of the four arrays, for
 * ctk_gemm_packed_pool: w itself (packed in place) or, with AMX, its pieces.
 */
const void *ctk_gemm_layers_weight(const struct ctk_gemm_layers *g, const float *w);

/* What follows the bias. */
enum { CTK_GEMM_NONE, CTK_GEMM_GELU /* GELU (erf), as lib/layers.h's gelu_forward */ };

/*
 * out[m·ldo + n] = act(Σ_k a[m·lda + k]·w[n][k] (+ bias[n] when bias is not
 * NULL)) for m < M and n0 <= n < n1, wp packed by ctk_gemm_pack; n0 a
 * multiple of CTK_GEMM_NR, n1 one too or OC. work: ctk_gemm_work(K) floats.
 * GELU is computed in registers before the store, by the same formula as
 * gelu_forward but with a reciprocal for its division: the two agree to a
 * few float ulps.
 */
void ctk_gemm_packed(float *out, int64_t ldo, const float *a, int64_t lda, const float *wp,
                     const float *bias, int act, int64_t M, int64_t K, int64_t OC, int64_t n0,
                     int64_t n1, float *work);

/*
 * The same product for all M rows and OC columns (ldo OC, lda K) on the
 * pool's threads: many rows are split by rows (each thread copies only its
 * rows of a), few by whole panels of columns. work: pool->nthreads ·
 * ctk_gemm_work(K) floats.
 */
struct ctk_pool;
void ctk_gemm_packed_pool(struct ctk_pool *pool, float *work, float *out, const float *a,
                          const void *wp, const float *bias, int act, int64_t M, int64_t K,
                          int64_t OC);

/*
 * Attention of one sequence (T tokens) and head h for inference, no
 * dropout, the probabilities not kept: out[i, h·hs + c] = Σ_j p_ij ·
 * v[j, c], p_i = softmax_j(q_i·k_j·scale + brow[T-1 - i + j]) (brow NULL:
 * no bias; else its 2T - 1 biases by offset j - i, as MPNet's relative
 * positions). qkv: (T, 3C) rows [q | k | v], heads of hs columns; out at
 * row stride ldo. Where ctk_gemm_attention_fits(hs) (the AVX-512 kernel in
 * use, hs a multiple of 32); work: ctk_gemm_attention_work(T, hs) floats.
 */
int ctk_gemm_attention_fits(int64_t hs);
size_t ctk_gemm_attention_work(int64_t T, int64_t hs);
void ctk_gemm_attention(float *out, int64_t ldo, const float *qkv, int64_t C, int64_t hs,
                        int64_t T, int64_t h, float scale, const float *brow, float *work);

/*
 * The AMX kernel (lib/gemm_amx.c), for CPUs with AMX-BF16 and AVX512-BF16
 * whose kernel grants the tile state: a weight (OC, K) is packed, as
 * three bfloat16 pieces that sum exactly to each float, into
 * ctk_gemm_amx_size(OC, K) bytes; the product is ctk_gemm_packed's, with
 * work of ctk_gemm_amx_work(K) bytes, to within float rounding of it.
 */
int ctk_gemm_amx_available(void);
size_t ctk_gemm_amx_size(int64_t OC, int64_t K);
size_t ctk_gemm_amx_work(int64_t K);
void ctk_gemm_amx_pack(void *dst, const float *w, int64_t OC, int64_t K);
void ctk_gemm_amx_unpack(float *w, const void *src, int64_t OC, int64_t K);
void ctk_gemm_amx(float *out, int64_t ldo, const float *a, int64_t lda, const void *wp,
                  const float *bias, int act, int64_t M, int64_t K, int64_t OC, int64_t n0,
                  int64_t n1, void *work);

#endif
