/*
 * gemm_small.h -- a linear layer's product for a few rows, without packing.
 *
 * out (M, N) = a (M, K) · w (N, K)ᵀ + b (N), w a weight as PyTorch stores
 * it. OpenBLAS's sgemm copies ("packs") the whole weight on every call
 * before it multiplies; with the few tokens of one short sentence (M of
 * 10 to 60) that copy, streaming the weight from memory, costs as much as
 * the product. This kernel reads w in place instead: each output is a dot
 * product of two contiguous rows, 3 rows of a against 8 rows of w per tile
 * in AVX-512 registers, summed across lanes once at the end, the next
 * weight rows fetched into cache meanwhile. Measured on one Zen 4 core with
 * the weights out of cache (MiniLM's shapes): 74 GFLOP/s against sgemm's 45
 * at 25 rows, even at 64, behind from 96.
 *
 * Each output is computed by the same operations whatever M, N, the tile it
 * falls in, or the thread that runs it, so results do not depend on the
 * batch's other rows or on the threads.
 */
#ifndef CTK_GEMM_SMALL_H
#define CTK_GEMM_SMALL_H

#include <stdint.h>

/*
 * Row counts up to this one go to the kernel; beyond it sgemm's packing is
 * paid back by its faster inner loop.
 */
#define CTK_GEMM_SMALL_MAX_M 64

/* 1 when this CPU runs the kernel (AVX-512F); 0: use sgemm. */
int ctk_gemm_small_available(void);

/*
 * out[m·ldo + n] = Σ_k a[m·K + k]·w[n·K + k] (+ b[n] when b is not NULL) for
 * m < M, n < N. Only call when ctk_gemm_small_available().
 */
void ctk_gemm_small(float *out, int64_t ldo, const float *a, const float *w, const float *b,
                    int64_t M, int64_t N, int64_t K);

#endif
